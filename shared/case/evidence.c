/* shared/case/evidence.c - evidence items and custody events in the case tree. */
#include "case/evidence.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "case/schema.h"
#include "store/odb.h"

static const char *const actions[] = {"transfer", "check-out", "check-in", "examine", "release",
	"dispose"};

static const char *const meta_keys[] = {"Name", "Size", "SHA256", "Chunks", "Chunks-SHA256",
	"Description", "Source", "Collected-At", "Location", "Added-By", "Device", "Office",
	"Time"};
#define N_META (sizeof(meta_keys) / sizeof(meta_keys[0]))

static const char *const event_keys[] = {"Action", "By", "Device", "Office", "Time", "From", "To",
	"Location", "Reason"};
#define N_EVENT (sizeof(event_keys) / sizeof(event_keys[0]))

int evidence_check_action(const char *action)
{
	size_t i;

	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (action && !strcmp(action, actions[i]))
			return 0;
	return err_set(ERR_INVALID,
		"'%s' is not a custody action (transfer, check-out, check-in, examine, release, "
		"dispose)",
		action ? action : "");
}

int evidence_check_value(const char *what, const char *value)
{
	size_t len;
	int error;

	if (!value)
		return 0;
	len = strlen(value);
	error = schema_check_text(what, value, len, EVIDENCE_VALUE_MAX);
	if (!error && (strchr(value, '\n') || strchr(value, '\r')))
		error = err_set(ERR_INVALID, "%s must be one line", what);
	return error;
}

int evidence_check_intake(const struct evidence_intake *in)
{
	int error = evidence_check_value("the name", in->name);

	if (!error)
		error = evidence_check_value("the description", in->description);
	if (!error)
		error = evidence_check_value("the source", in->source);
	if (!error)
		error = evidence_check_value("the collection time", in->collected_at);
	if (!error)
		error = evidence_check_value("the location", in->location);
	if (!error && (!in->description || !in->description[0]))
		error = err_set(ERR_INVALID, "an item needs a description");
	return error;
}

void evidence_new_id(char out[EVIDENCE_ID_MAX], const struct casefile_author *a)
{
	casefile_time_id(out, EVIDENCE_ID_MAX, a);
}

void evidence_files_init(struct evidence_files *f)
{
	memset(f, 0, sizeof(*f));
	buf_init(&f->meta, EVIDENCE_META_MAX);
	buf_init(&f->intake, EVIDENCE_META_MAX);
}

void evidence_files_release(struct evidence_files *f)
{
	if (!f)
		return;
	buf_wipe_release(&f->meta);
	buf_wipe_release(&f->intake);
}

static int put_line(struct buf *b, const char *key, const char *value)
{
	return buf_printf(b, "%s: %s\n", key, value ? value : "");
}

static int event_text(struct buf *out, const char *action, const char *from, const char *to,
	const char *location, const char *reason, const struct casefile_author *a)
{
	char iso[HLC_STR_MAX];
	const char *vals[N_EVENT];
	size_t k;
	int error = 0;

	hlc_iso8601(iso, a->hlc.wall_ms);
	vals[0] = action;
	vals[1] = a->user;
	vals[2] = a->device;
	vals[3] = a->office;
	vals[4] = iso;
	vals[5] = from;
	vals[6] = to;
	vals[7] = location;
	vals[8] = reason;
	for (k = 0; !error && k < N_EVENT; k++)
		error = put_line(out, event_keys[k], vals[k]);
	return error;
}

int evidence_build_item(struct evidence_files *out, const char *id, const char *event_id,
	const struct evidence_intake *in, uint64_t size, const uint8_t sha256[CRYPTO_SHA256_LEN],
	const struct buf *chunks, const struct casefile_author *a)
{
	char hex[2 * CRYPTO_SHA256_LEN + 1], lhex[2 * CRYPTO_SHA256_LEN + 1], iso[HLC_STR_MAX];
	char num[32], count[32];
	uint8_t lhash[CRYPTO_SHA256_LEN];
	const char *vals[N_META];
	size_t k;
	int error;

	error = evidence_check_intake(in);
	if (error)
		return error;
	crypto_hex(hex, sha256, CRYPTO_SHA256_LEN);
	crypto_sha256(lhash, chunks->ptr ? chunks->ptr : "", chunks->len);
	crypto_hex(lhex, lhash, sizeof(lhash));
	hlc_iso8601(iso, a->hlc.wall_ms);
	snprintf(num, sizeof(num), "%" PRIu64, size);
	snprintf(count, sizeof(count), "%zu", chunks->len / EVIDENCE_CHUNK_LINE);
	vals[0] = in->name;
	vals[1] = num;
	vals[2] = hex;
	vals[3] = count;
	vals[4] = lhex;
	vals[5] = in->description;
	vals[6] = in->source;
	vals[7] = in->collected_at;
	vals[8] = in->location;
	vals[9] = a->user;
	vals[10] = a->device;
	vals[11] = a->office;
	vals[12] = iso;
	for (k = 0; !error && k < N_META; k++)
		error = put_line(&out->meta, meta_keys[k], vals[k]);
	if (!error)
		error = event_text(&out->intake, "intake", in->source, a->user, in->location,
			in->description, a);
	if (error)
		return error;
	snprintf(out->paths[0], sizeof(out->paths[0]), "evidence/%s/meta", id);
	snprintf(out->paths[1], sizeof(out->paths[1]), "evidence/%s/chunks", id);
	snprintf(out->paths[2], sizeof(out->paths[2]), "evidence/%s/custody/%s", id, event_id);
	out->files[0] = (struct casefile_file){out->paths[0], out->meta.ptr, out->meta.len};
	out->files[1] = (struct casefile_file){out->paths[1], chunks->ptr ? chunks->ptr : "",
		chunks->len};
	out->files[2] = (struct casefile_file){out->paths[2], out->intake.ptr, out->intake.len};
	return 0;
}

int evidence_build_event(struct evidence_files *out, const char *item_id, const char *event_id,
	const char *action, const char *from, const char *to, const char *location,
	const char *reason, const struct casefile_author *a)
{
	int error = evidence_check_action(action);

	if (!error)
		error = evidence_check_value("the custodian", to);
	if (!error)
		error = evidence_check_value("the location", location);
	if (!error)
		error = evidence_check_value("the reason", reason);
	if (!error)
		error = event_text(&out->intake, action, from, to, location, reason, a);
	if (error)
		return error;
	snprintf(out->paths[0], sizeof(out->paths[0]), "evidence/%s/custody/%s", item_id, event_id);
	out->files[0] = (struct casefile_file){out->paths[0], out->intake.ptr, out->intake.len};
	return 0;
}

int evidence_check_transition(const struct evidence_item *it, const char *action)
{
	if (!strcmp(it->state, "disposed"))
		return err_set(ERR_INVALID, "item '%s' was disposed of: it takes no custody event",
			it->id);
	if (!strcmp(action, "check-in") && strcmp(it->state, "checked-out"))
		return err_set(ERR_INVALID, "item '%s' is not checked out", it->id);
	if (!strcmp(action, "check-out") && strcmp(it->state, "in-custody"))
		return err_set(ERR_INVALID, "item '%s' is %s, not in custody", it->id, it->state);
	return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

static void event_release(struct evidence_event *e)
{
	free(e->id);
	free(e->action);
	free(e->by);
	free(e->device);
	free(e->office);
	free(e->time);
	free(e->from);
	free(e->to);
	free(e->location);
	free(e->reason);
}

void evidence_item_release(struct evidence_item *it)
{
	size_t i;

	if (!it)
		return;
	free(it->id);
	free(it->name);
	free(it->description);
	free(it->source);
	free(it->collected_at);
	free(it->location);
	free(it->added_by);
	free(it->device);
	free(it->office);
	free(it->time);
	for (i = 0; i < it->nevents; i++)
		event_release(&it->events[i]);
	free(it->events);
	memset(it, 0, sizeof(*it));
}

void evidence_items_free(struct evidence_item *items, size_t count)
{
	size_t i;

	for (i = 0; items && i < count; i++)
		evidence_item_release(&items[i]);
	free(items);
}

/* A decimal without sign, leading zeros or overflow. */
static int parse_u64(uint64_t *out, const char *s)
{
	uint64_t v = 0;
	size_t i;

	if (!s[0] || (s[0] == '0' && s[1]) || strlen(s) > 19)
		return ERR_INVALID;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ERR_INVALID;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int is_hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Parse a meta file's text into `it` (whose id is set). */
static int parse_meta(struct evidence_item *it, const char *text)
{
	char *v[N_META], *body = NULL;
	size_t k;
	int error = casefile_parse_headed(text, meta_keys, v, N_META, &body);

	if (error)
		return error;
	if (parse_u64(&it->size, v[1]) || it->size > EVIDENCE_SIZE_MAX || !is_hex64(v[2]) ||
		parse_u64(&it->nchunks, v[3]) || !is_hex64(v[4]) ||
		it->nchunks != (it->size + CHUNKS_SIZE - 1) / CHUNKS_SIZE)
		error = err_set(ERR_CORRUPT, "evidence item '%s' has a malformed meta file",
			it->id);
	else {
		memcpy(it->sha256, v[2], 65);
		memcpy(it->chunks_sha256, v[4], 65);
	}
	it->name = v[0];
	it->description = v[5];
	it->source = v[6];
	it->collected_at = v[7];
	it->location = v[8];
	it->added_by = v[9];
	it->device = v[10];
	it->office = v[11];
	it->time = v[12];
	for (k = 1; k < 5; k++)
		free(v[k]);
	free(body);
	return error;
}

static int parse_event(struct evidence_event *e, const char *name, const char *text)
{
	char *v[N_EVENT], *body = NULL;
	int error = casefile_parse_headed(text, event_keys, v, N_EVENT, &body);

	if (error)
		return error;
	free(body);
	e->action = v[0];
	e->by = v[1];
	e->device = v[2];
	e->office = v[3];
	e->time = v[4];
	e->from = v[5];
	e->to = v[6];
	e->location = v[7];
	e->reason = v[8];
	e->id = strdup(name);
	if (!e->id)
		return err_set(ERR_NOMEM, "out of memory");
	if (strcmp(e->action, "intake") && evidence_check_action(e->action))
		return err_set(ERR_CORRUPT, "custody event '%s' has an unknown action", name);
	return 0;
}

static int cmp_events(const void *a, const void *b)
{
	return strcmp(((const struct evidence_event *)a)->id,
		((const struct evidence_event *)b)->id);
}

/* Who holds the item and in which state, by replaying its log. */
static void replay(struct evidence_item *it)
{
	size_t i;

	it->custodian = "";
	it->state = "in-custody";
	for (i = 0; i < it->nevents; i++) {
		const struct evidence_event *e = &it->events[i];

		if (e->to[0])
			it->custodian = e->to;
		if (!strcmp(e->action, "check-out"))
			it->state = "checked-out";
		else if (!strcmp(e->action, "release"))
			it->state = "released";
		else if (!strcmp(e->action, "dispose"))
			it->state = "disposed";
		else if (strcmp(e->action, "examine"))
			it->state = "in-custody";
	}
}

static int read_events(struct evidence_item *it, git_repository *repo, git_tree *dir)
{
	const git_tree_entry *ce = git_tree_entry_byname(dir, "custody");
	git_tree *custody = NULL;
	size_t i, n;
	int rc, error = 0;

	if (!ce || git_tree_entry_type(ce) != GIT_OBJECT_TREE)
		return err_set(ERR_CORRUPT, "evidence item '%s' has no custody log", it->id);
	rc = git_tree_lookup(&custody, repo, git_tree_entry_id(ce));
	if (rc < 0)
		return odb_git_error(rc, "cannot read a custody log");
	n = git_tree_entrycount(custody);
	it->events = calloc(n + 1, sizeof(*it->events));
	if (!it->events)
		error = err_set(ERR_NOMEM, "out of memory");
	for (i = 0; !error && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(custody, i);
		char *text = NULL;

		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
			error = err_set(ERR_CORRUPT, "a custody event of '%s' is not a file",
				it->id);
			break;
		}
		error = casefile_blob_text(&text, repo, git_tree_entry_id(e));
		if (!error) {
			it->nevents++;
			error = parse_event(&it->events[it->nevents - 1], git_tree_entry_name(e),
				text);
		}
		free(text);
	}
	if (!error)
		qsort(it->events, it->nevents, sizeof(*it->events), cmp_events);
	if (!error)
		replay(it);
	git_tree_free(custody);
	return error;
}

static int read_item(struct evidence_item *it, git_repository *repo, git_tree *dir, const char *id)
{
	char *text = NULL;
	int error;

	memset(it, 0, sizeof(*it));
	it->id = strdup(id);
	if (!it->id)
		return err_set(ERR_NOMEM, "out of memory");
	error = casefile_path_text(&text, repo, dir, "meta");
	if (error == ERR_NOTFOUND)
		error = err_set(ERR_CORRUPT, "evidence item '%s' has no meta file", id);
	if (!error)
		error = parse_meta(it, text);
	free(text);
	if (!error)
		error = read_events(it, repo, dir);
	return error;
}

/* The evidence/ folder of the case at `head` (*out NULL if there is none). */
static int evidence_dir(git_tree **out, git_repository *repo, const git_oid *head)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	const git_tree_entry *e;
	int rc;

	*out = NULL;
	rc = git_commit_lookup(&c, repo, head);
	if (rc >= 0)
		rc = git_commit_tree(&tree, c);
	if (rc >= 0) {
		e = git_tree_entry_byname(tree, "evidence");
		if (e && git_tree_entry_type(e) == GIT_OBJECT_TREE)
			rc = git_tree_lookup(out, repo, git_tree_entry_id(e));
	}
	git_tree_free(tree);
	git_commit_free(c);
	return rc < 0 ? odb_git_error(rc, "cannot read the case's evidence") : 0;
}

static int item_dir(git_tree **out, git_repository *repo, git_tree *ev, const git_tree_entry *e)
{
	int rc;

	if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
		return err_set(ERR_CORRUPT, "evidence/%s is not a folder", git_tree_entry_name(e));
	rc = git_tree_lookup(out, repo, git_tree_entry_id(e));
	(void)ev;
	return rc < 0 ? odb_git_error(rc, "cannot read an evidence item") : 0;
}

int evidence_read_all(struct evidence_item **out, size_t *count, git_repository *repo,
	const git_oid *head)
{
	struct evidence_item *items = NULL;
	git_tree *ev = NULL;
	size_t i, n = 0, got = 0;
	int error = evidence_dir(&ev, repo, head);

	if (!error && ev)
		n = git_tree_entrycount(ev);
	if (!error) {
		items = calloc(n + 1, sizeof(*items));
		if (!items)
			error = err_set(ERR_NOMEM, "out of memory");
	}
	for (i = 0; !error && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(ev, i);
		git_tree *dir = NULL;

		error = item_dir(&dir, repo, ev, e);
		if (!error) {
			got++;
			error = read_item(&items[got - 1], repo, dir, git_tree_entry_name(e));
		}
		git_tree_free(dir);
	}
	git_tree_free(ev);
	if (error) {
		evidence_items_free(items, got);
		return error;
	}
	*out = items;
	*count = got;
	return 0;
}

int evidence_read_one(struct evidence_item *out, git_repository *repo, const git_oid *head,
	const char *case_id, const char *item_id)
{
	git_tree *ev = NULL, *dir = NULL;
	const git_tree_entry *e = NULL;
	int error = evidence_dir(&ev, repo, head);

	if (!error && ev && strlen(item_id) < EVIDENCE_ID_MAX)
		e = git_tree_entry_byname(ev, item_id);
	if (!error && !e)
		error = err_set(ERR_NOTFOUND, "case '%s' has no evidence item '%s'", case_id,
			item_id);
	if (!error)
		error = item_dir(&dir, repo, ev, e);
	if (!error) {
		error = read_item(out, repo, dir, item_id);
		if (error)
			evidence_item_release(out);
	}
	git_tree_free(dir);
	git_tree_free(ev);
	return error;
}

/* The chunk list blob of item `id` in `ev` as raw hashes, checked against count and hash. */
static int chunk_list(struct buf *out, git_repository *repo, git_tree *dir, const char *id,
	uint64_t nchunks, const char *want_hex)
{
	const git_tree_entry *e = git_tree_entry_byname(dir, "chunks");
	git_blob *blob = NULL;
	uint8_t got[CRYPTO_SHA256_LEN], raw[CHUNKS_HASH_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1], line[EVIDENCE_CHUNK_LINE];
	const char *p;
	size_t len, i;
	int rc, error = 0;

	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return err_set(ERR_CORRUPT, "evidence item '%s' has no chunk list", id);
	rc = git_blob_lookup(&blob, repo, git_tree_entry_id(e));
	if (rc < 0)
		return odb_git_error(rc, "cannot read a chunk list");
	p = git_blob_rawcontent(blob);
	len = (size_t)git_blob_rawsize(blob);
	crypto_sha256(got, p, len);
	crypto_hex(hex, got, sizeof(got));
	if (strcmp(hex, want_hex) || len != nchunks * EVIDENCE_CHUNK_LINE)
		error = err_set(ERR_CORRUPT,
			"the chunk list of evidence item '%s' does not match "
			"its meta file",
			id);
	for (i = 0; !error && i < nchunks; i++) {
		memcpy(line, p + i * EVIDENCE_CHUNK_LINE, EVIDENCE_CHUNK_LINE);
		line[EVIDENCE_CHUNK_LINE - 1] = '\0';
		if (p[(i + 1) * EVIDENCE_CHUNK_LINE - 1] != '\n' ||
			crypto_unhex(raw, sizeof(raw), line))
			error = err_set(ERR_CORRUPT,
				"the chunk list of evidence item '%s' is "
				"malformed",
				id);
		else
			error = buf_put(out, raw, sizeof(raw));
	}
	git_blob_free(blob);
	return error;
}

int evidence_read_chunks(struct buf *out, git_repository *repo, const git_oid *head,
	const struct evidence_item *it)
{
	git_tree *ev = NULL, *dir = NULL;
	const git_tree_entry *e = NULL;
	int error = evidence_dir(&ev, repo, head);

	if (!error && ev)
		e = git_tree_entry_byname(ev, it->id);
	if (!error && !e)
		error = err_set(ERR_NOTFOUND, "no evidence item '%s'", it->id);
	if (!error)
		error = item_dir(&dir, repo, ev, e);
	if (!error)
		error = chunk_list(out, repo, dir, it->id, it->nchunks, it->chunks_sha256);
	git_tree_free(dir);
	git_tree_free(ev);
	return error;
}

/* ---- checking received trees ------------------------------------------------------------ */

static int same_entry(git_tree *a, git_tree *b, const char *name)
{
	const git_tree_entry *x = a ? git_tree_entry_byname(a, name) : NULL;
	const git_tree_entry *y = b ? git_tree_entry_byname(b, name) : NULL;

	return x && y && git_oid_equal(git_tree_entry_id(x), git_tree_entry_id(y));
}

static int check_custody(git_repository *repo, git_tree *dir, git_tree *pdir, const char *id)
{
	const git_tree_entry *ce = git_tree_entry_byname(dir, "custody");
	const git_tree_entry *pce = pdir ? git_tree_entry_byname(pdir, "custody") : NULL;
	git_tree *c = NULL, *pc = NULL;
	size_t i;
	int rc = 0, error = 0;

	if (!ce || git_tree_entry_type(ce) != GIT_OBJECT_TREE)
		return err_set(ERR_INVALID, "evidence item '%s' has no custody log", id);
	rc = git_tree_lookup(&c, repo, git_tree_entry_id(ce));
	if (rc >= 0 && pce && git_tree_entry_type(pce) == GIT_OBJECT_TREE)
		rc = git_tree_lookup(&pc, repo, git_tree_entry_id(pce));
	if (rc < 0)
		error = odb_git_error(rc, "cannot read a custody log");
	for (i = 0; !error && i < git_tree_entrycount(c); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(c, i);
		const char *name = git_tree_entry_name(e);
		struct evidence_event ev;
		char *text = NULL;

		if (same_entry(c, pc, name))
			continue;
		if (pc && git_tree_entry_byname(pc, name)) {
			error = err_set(ERR_INVALID,
				"custody event '%s' of item '%s' was rewritten: "
				"the log is append-only",
				name, id);
			break;
		}
		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || strlen(name) >= EVIDENCE_ID_MAX) {
			error = err_set(ERR_INVALID, "'%s' is not a custody event", name);
			break;
		}
		memset(&ev, 0, sizeof(ev));
		error = casefile_blob_text(&text, repo, git_tree_entry_id(e));
		if (!error && strlen(text) > EVIDENCE_META_MAX)
			error = err_set(ERR_INVALID, "custody event '%s' is too large", name);
		if (!error && parse_event(&ev, name, text))
			error = err_set(ERR_INVALID, "custody event '%s' of item '%s' is malformed",
				name, id);
		event_release(&ev);
		free(text);
	}
	for (i = 0; !error && pc && i < git_tree_entrycount(pc); i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(pc, i));

		if (!git_tree_entry_byname(c, name))
			error = err_set(ERR_INVALID,
				"custody event '%s' of item '%s' was deleted: "
				"the log is append-only",
				name, id);
	}
	git_tree_free(pc);
	git_tree_free(c);
	return error;
}

static int check_item(git_repository *repo, git_tree *dir, git_tree *pdir, const char *id)
{
	struct evidence_item it;
	struct buf chunks = BUF_INIT((size_t)(EVIDENCE_SIZE_MAX / CHUNKS_SIZE) * CHUNKS_HASH_LEN);
	char *text = NULL;
	size_t i;
	int error = 0;

	memset(&it, 0, sizeof(it));
	for (i = 0; i < git_tree_entrycount(dir); i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(dir, i));

		if (strcmp(name, "meta") && strcmp(name, "chunks") && strcmp(name, "custody"))
			return err_set(ERR_INVALID, "'evidence/%s/%s' is not part of an item", id,
				name);
	}
	if (pdir && (!same_entry(dir, pdir, "meta") || !same_entry(dir, pdir, "chunks")))
		return err_set(ERR_INVALID, "evidence item '%s' was changed: items are immutable",
			id);
	if (!pdir) {
		it.id = strdup(id);
		error = it.id ? casefile_path_text(&text, repo, dir, "meta")
			      : err_set(ERR_NOMEM, "out of memory");
		if (error == ERR_NOTFOUND)
			error = err_set(ERR_INVALID, "evidence item '%s' has no meta file", id);
		if (!error && strlen(text) > EVIDENCE_META_MAX)
			error = err_set(ERR_INVALID, "the meta file of item '%s' is too large", id);
		if (!error && parse_meta(&it, text))
			error = err_set(ERR_INVALID, "evidence item '%s' has a malformed meta file",
				id);
		if (!error && chunk_list(&chunks, repo, dir, id, it.nchunks, it.chunks_sha256))
			error = err_set(ERR_INVALID, "evidence item '%s': %s", id, err_msg());
	}
	if (!error)
		error = check_custody(repo, dir, pdir, id);
	free(text);
	buf_release(&chunks);
	evidence_item_release(&it);
	return error;
}

int evidence_check_tree(git_repository *repo, git_tree *ev, git_tree *pev, const char *case_id)
{
	size_t i;
	int rc, error = 0;

	for (i = 0; !error && i < git_tree_entrycount(ev); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(ev, i);
		const git_tree_entry *pe = pev ? git_tree_entry_byname(pev, git_tree_entry_name(e))
					       : NULL;
		const char *name = git_tree_entry_name(e);
		git_tree *dir = NULL, *pdir = NULL;

		if (pe && git_oid_equal(git_tree_entry_id(pe), git_tree_entry_id(e)))
			continue;
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE || strlen(name) >= EVIDENCE_ID_MAX)
			return err_set(ERR_INVALID, "case '%s': 'evidence/%s' is not an item",
				case_id, name);
		rc = git_tree_lookup(&dir, repo, git_tree_entry_id(e));
		if (rc >= 0 && pe && git_tree_entry_type(pe) == GIT_OBJECT_TREE)
			rc = git_tree_lookup(&pdir, repo, git_tree_entry_id(pe));
		error = rc < 0 ? odb_git_error(rc, "cannot read a received item")
			       : check_item(repo, dir, pdir, name);
		git_tree_free(pdir);
		git_tree_free(dir);
	}
	for (i = 0; !error && pev && i < git_tree_entrycount(pev); i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(pev, i));

		if (!git_tree_entry_byname(ev, name))
			error = err_set(ERR_INVALID, "case '%s': evidence item '%s' was deleted",
				case_id, name);
	}
	return error;
}

int evidence_missing_chunks(struct buf *missing, uint64_t *total, struct store *s,
	git_repository *repo, const git_oid *head)
{
	struct evidence_item *items = NULL;
	struct buf list = BUF_INIT((size_t)(EVIDENCE_SIZE_MAX / CHUNKS_SIZE) * CHUNKS_HASH_LEN);
	size_t n = 0, i, k, j;
	int has, error = evidence_read_all(&items, &n, repo, head);

	for (i = 0; !error && i < n; i++) {
		buf_reset(&list);
		error = evidence_read_chunks(&list, repo, head, &items[i]);
		for (k = 0; !error && k < list.len; k += CHUNKS_HASH_LEN) {
			const uint8_t *h = (const uint8_t *)list.ptr + k;

			if (total)
				(*total)++;
			has = chunks_has(s, h);
			if (has < 0) {
				error = has;
				break;
			}
			for (j = 0; !has && j < missing->len; j += CHUNKS_HASH_LEN)
				if (!memcmp(missing->ptr + j, h, CHUNKS_HASH_LEN))
					has = 1;
			if (!has)
				error = buf_put(missing, h, CHUNKS_HASH_LEN);
		}
	}
	buf_release(&list);
	evidence_items_free(items, n);
	return error;
}
