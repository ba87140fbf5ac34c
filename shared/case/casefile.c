/* shared/case/casefile.c - case trees and commits. */
#include "case/casefile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/crypto.h"
#include "store/odb.h"

#define WRAP_COLUMNS 80
#define MESSAGE_MAX (16 * 1024)

/* ---- validation ------------------------------------------------------------------------- */

int casefile_check_change(const struct casefile_change *chg)
{
	size_t i, j;
	int error;

	if (chg->nsets > SCHEMA_MAX_FIELDS)
		return err_set(ERR_TOOBIG, "too many fields in one edit");
	for (i = 0; i < chg->nsets; i++) {
		const struct schema_field *f = schema_field(chg->sets[i].name);

		if (!f)
			return err_set(ERR_NOTFOUND, "unknown field '%s'", chg->sets[i].name);
		for (j = 0; j < i; j++)
			if (strcmp(chg->sets[j].name, chg->sets[i].name) == 0)
				return err_set(ERR_INVALID, "field '%s' is set twice", f->name);
		error = schema_check_value(f, chg->sets[i].value);
		if (error)
			return error;
	}
	if (chg->narrative) {
		error = schema_check_text("the narrative", chg->narrative, chg->narrative_len,
			SCHEMA_NARRATIVE_MAX);
		if (error)
			return error;
	}
	if (chg->note) {
		if (chg->note_len == 0)
			return err_set(ERR_INVALID, "a note cannot be empty");
		error = schema_check_text("the note", chg->note, chg->note_len, SCHEMA_NOTE_MAX);
		if (error)
			return error;
	}
	if (chg->resolve && (!chg->resolve[0] || strlen(chg->resolve) > 200 ||
				    strstr(chg->resolve, "..") || chg->resolve[0] == '/'))
		return err_set(ERR_INVALID, "'%s' is not a path of a case", chg->resolve);
	if (chg->transfer && schema_check_office(chg->transfer))
		return err_set(ERR_INVALID, "'%s' is not an office code", chg->transfer);
	for (i = 0; i < chg->nfiles; i++)
		if (!chg->files[i].path || strncmp(chg->files[i].path, "evidence/", 9) ||
			strstr(chg->files[i].path, "..") || strlen(chg->files[i].path) > 200)
			return err_set(ERR_INVALID, "'%s' is not a path an edit may add",
				chg->files[i].path ? chg->files[i].path : "");
	if (chg->nsets == 0 && !chg->narrative && !chg->note && !chg->resolve && !chg->transfer &&
		!chg->nfiles)
		return err_set(ERR_INVALID, "nothing to change");
	return 0;
}

int casefile_new_id(char out[SCHEMA_CASE_ID_MAX + 1], const char *office, int64_t wall_ms)
{
	static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	char iso[HLC_STR_MAX];
	uint8_t rnd[7];
	char tail[8];
	int error, i;

	error = schema_check_office(office);
	if (error)
		return error;
	error = crypto_random(rnd, sizeof(rnd));
	if (error)
		return error;
	for (i = 0; i < 7; i++)
		tail[i] = crockford[rnd[i] & 31];
	tail[7] = '\0';
	hlc_iso8601(iso, wall_ms);
	snprintf(out, SCHEMA_CASE_ID_MAX + 1, "%s-%.2s-%s", office, iso + 2, tail);
	return 0;
}

/* ---- narrative wrapping ----------------------------------------------------------------- */

/* Greedy wrap of one sentence at WRAP_COLUMNS; a word longer than that stays whole. */
static int wrap_sentence(struct buf *out, const char *s, size_t len)
{
	size_t start = 0;
	int error = 0;

	while (start < len && !error) {
		size_t end = len, cut, keep;

		if (len - start > WRAP_COLUMNS) {
			cut = start + WRAP_COLUMNS;
			while (cut > start && s[cut] != ' ')
				cut--;
			if (cut == start) { /* one long word: break at its end */
				cut = start + WRAP_COLUMNS;
				while (cut < len && s[cut] != ' ')
					cut++;
			}
			end = cut;
		}
		/* A break inside a run of spaces leaves no trailing blank (wrapping is idempotent). */
		for (keep = end; keep > start && s[keep - 1] == ' '; keep--)
			;
		error = buf_put(out, s + start, keep - start);
		if (!error)
			error = buf_putc(out, '\n');
		start = end;
		while (start < len && s[start] == ' ')
			start++;
	}
	return error;
}

/* Split a line after sentence ends (". ", "? ", "! ") and wrap each sentence. */
static int wrap_line(struct buf *out, const char *s, size_t len)
{
	size_t start = 0, i;
	int error = 0;

	if (len == 0 || s[0] == ' ' || s[0] == '\t') { /* blank, or preformatted */
		error = buf_put(out, s, len);
		return error ? error : buf_putc(out, '\n');
	}
	for (i = 0; i + 1 < len && !error; i++) {
		if ((s[i] == '.' || s[i] == '?' || s[i] == '!') && s[i + 1] == ' ') {
			error = wrap_sentence(out, s + start, i + 1 - start);
			start = i + 1;
			while (start < len && s[start] == ' ')
				start++;
			i = start - 1;
		}
	}
	if (!error && start < len)
		error = wrap_sentence(out, s + start, len - start);
	return error;
}

int casefile_wrap(struct buf *out, const char *text, size_t len)
{
	size_t start = 0;
	int error = 0;

	while (start < len && !error) {
		size_t end = start, l;

		/* A line ends at LF, CRLF or a lone CR: what is stored has LF only. */
		while (end < len && text[end] != '\n' && text[end] != '\r')
			end++;
		for (l = end - start; l > 0 && text[start + l - 1] == ' '; l--)
			;
		error = wrap_line(out, text + start, l);
		if (end + 1 < len && text[end] == '\r' && text[end + 1] == '\n')
			end++;
		start = end + 1;
	}
	/* No trailing blank lines. */
	while (!error && out->len >= 2 && out->ptr[out->len - 1] == '\n' &&
		out->ptr[out->len - 2] == '\n')
		out->ptr[--out->len] = '\0';
	return error;
}

/* ---- building commits ------------------------------------------------------------------- */

static int add_blob(git_index *idx, git_repository *repo, const char *path, const void *data,
	size_t len)
{
	git_index_entry e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = git_blob_create_from_buffer(&e.id, repo, data, len);
	if (rc < 0)
		return odb_git_error(rc, "cannot write blob");
	e.mode = GIT_FILEMODE_BLOB;
	e.path = path;
	rc = git_index_add(idx, &e);
	if (rc < 0)
		return odb_git_error(rc, "cannot stage file");
	return 0;
}

static int remove_path(git_index *idx, const char *path)
{
	int rc = git_index_remove(idx, path, 0);

	if (rc < 0 && rc != GIT_ENOTFOUND)
		return odb_git_error(rc, "cannot unstage file");
	return 0;
}

/* Remove the kept versions of `path`, or only its version `version` (not NULL). */
static int remove_conflicts(git_index *idx, const char *path, const char *version)
{
	char dir[512];
	int rc, n;

	if (version && (strchr(version, '/') || !version[0] || !strcmp(version, "..")))
		return err_set(ERR_INVALID, "'%s' is not the name of a kept version", version);
	if (version)
		n = snprintf(dir, sizeof(dir), "conflicts/%s/%s", path, version);
	else
		n = snprintf(dir, sizeof(dir), "conflicts/%s", path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return err_set(ERR_TOOBIG, "the path '%s' is too long", path);
	if (version)
		rc = git_index_remove(idx, dir, 0);
	else
		rc = git_index_remove_directory(idx, dir, 0);
	if (version && rc == GIT_ENOTFOUND)
		return err_set(ERR_NOTFOUND, "no kept version '%s' at '%s'", version, path);
	return rc < 0 ? odb_git_error(rc, "cannot remove the kept versions") : 0;
}

void casefile_time_id(char *out, size_t size, const struct casefile_author *a)
{
	char iso[HLC_STR_MAX], compact[HLC_STR_MAX];
	size_t i, j = 0;

	hlc_iso8601(iso, a->hlc.wall_ms);
	/* 2026-11-27T18:36:59.123Z -> 20261127T183659.123Z */
	for (i = 0; iso[i] && j + 1 < sizeof(compact); i++)
		if (iso[i] != '-' && iso[i] != ':')
			compact[j++] = iso[i];
	compact[j] = '\0';
	snprintf(out, size, "%s-%04x-%.8s", compact, a->hlc.counter & 0xffff, a->device);
}

static int add_note(char id_out[CASEFILE_NOTE_ID_MAX], git_index *idx, git_repository *repo,
	const struct casefile_change *chg, const struct casefile_author *a)
{
	struct buf content = BUF_INIT(SCHEMA_NOTE_MAX + 1024), path = BUF_INIT(256);
	char iso[HLC_STR_MAX], id[CASEFILE_NOTE_ID_MAX];
	int error;

	casefile_time_id(id, sizeof(id), a);
	hlc_iso8601(iso, a->hlc.wall_ms);
	error = buf_printf(&content, "Author: %s\nDevice: %s\nTime: %s\n\n", a->user, a->device,
		iso);
	if (!error)
		error = buf_put(&content, chg->note, chg->note_len);
	if (!error && (chg->note_len == 0 || chg->note[chg->note_len - 1] != '\n'))
		error = buf_putc(&content, '\n');
	if (!error)
		error = buf_printf(&path, "notes/%s.md", id);
	if (!error)
		error = add_blob(idx, repo, path.ptr, content.ptr, content.len);
	if (!error && id_out)
		memcpy(id_out, id, sizeof(id));
	buf_wipe_release(&content);
	buf_release(&path);
	return error;
}

static int apply_fields(git_index *idx, git_repository *repo, const struct casefile_change *chg,
	int creating)
{
	char path[128];
	size_t i, k;
	int error = 0;

	for (i = 0; i < chg->nsets && !error; i++) {
		snprintf(path, sizeof(path), "fields/%s", chg->sets[i].name);
		if (chg->sets[i].value[0])
			error = add_blob(idx, repo, path, chg->sets[i].value,
				strlen(chg->sets[i].value));
		else
			error = remove_path(idx, path);
	}
	for (k = 0; creating && !error && k < schema_count(); k++) {
		const struct schema_field *f = schema_at(k);

		snprintf(path, sizeof(path), "fields/%s", f->name);
		if (git_index_get_bypath(idx, path, 0))
			continue;
		if (f->default_value)
			error = add_blob(idx, repo, path, f->default_value,
				strlen(f->default_value));
		else if (f->required)
			error = err_set(ERR_INVALID, "a new case needs field '%s'", f->name);
	}
	return error;
}

static int apply_narrative(git_index *idx, git_repository *repo, const struct casefile_change *chg)
{
	struct buf wrapped = BUF_INIT(2 * SCHEMA_NARRATIVE_MAX);
	int error;

	error = casefile_wrap(&wrapped, chg->narrative, chg->narrative_len);
	if (!error)
		error = wrapped.len ? add_blob(idx, repo, "narrative.md", wrapped.ptr, wrapped.len)
				    : remove_path(idx, "narrative.md");
	buf_wipe_release(&wrapped);
	return error;
}

/* New files of an append-only record: a path already in the case is refused. */
/*
 * 0 if a new file may stand at `path`: nothing is there, it is no folder of the case, and no
 * folder on its way is a file (a tree cannot hold both, and libgit2 leaks on the attempt).
 */
static int path_free(git_index *idx, const char *path)
{
	char prefix[4096 + 2]; /* git paths of a case are far shorter */
	size_t pos, len = strlen(path), i;

	if (len + 2 > sizeof(prefix))
		return err_set(ERR_INVALID, "the path '%.64s...' is too long", path);
	if (git_index_get_bypath(idx, path, 0))
		return err_set(ERR_EXISTS, "'%s' is already part of the case", path);
	snprintf(prefix, sizeof(prefix), "%s/", path);
	if (git_index_find_prefix(&pos, idx, prefix) == 0)
		return err_set(ERR_EXISTS, "'%s' is a folder of the case", path);
	for (i = 1; i < len; i++) {
		if (path[i] != '/')
			continue;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)i, path);
		if (git_index_get_bypath(idx, prefix, 0))
			return err_set(ERR_EXISTS, "'%s' is a file of the case, not a folder",
				prefix);
	}
	return 0;
}

static int add_files(git_index *idx, git_repository *repo, const struct casefile_change *chg)
{
	size_t i;
	int error = 0;

	for (i = 0; !error && i < chg->nfiles; i++) {
		error = path_free(idx, chg->files[i].path);
		if (error)
			return error;
		error = add_blob(idx, repo, chg->files[i].path, chg->files[i].data,
			chg->files[i].len);
	}
	return error;
}

static int build_message(struct buf *msg, const struct casefile_change *chg,
	const struct casefile_author *a, const char *action)
{
	char clock[HLC_STR_MAX];
	size_t i;
	int error;

	error = buf_printf(msg, "%s:", action);
	for (i = 0; !error && i < chg->nsets; i++)
		error = buf_printf(msg, "%s %s", i ? "," : "", chg->sets[i].name);
	if (!error && chg->narrative)
		error = buf_printf(msg, "%s narrative", chg->nsets ? "," : "");
	if (!error && chg->note)
		error = buf_printf(msg, "%s note", chg->nsets || chg->narrative ? "," : "");
	if (!error && chg->resolve)
		error = buf_printf(msg, "%s settled %s", chg->nsets || chg->narrative ? "," : "",
			chg->resolve);
	if (!error && chg->transfer)
		error = buf_printf(msg, " to office %s", chg->transfer);
	if (!error && chg->summary)
		error = buf_printf(msg, " %s", chg->summary);
	hlc_format(clock, &a->hlc);
	if (!error)
		error = buf_printf(msg,
			"\n\nFieldsync-User: %s\nFieldsync-Office: %s\nFieldsync-Device: %s\n"
			"Fieldsync-HLC: %s\n",
			a->user, a->office, a->device, clock);
	if (!error && a->role && a->role[0])
		error = buf_printf(msg, "Fieldsync-Role: %s\n", a->role);
	return error;
}

static int write_commit(git_oid *out, git_repository *repo, const git_oid *tree_id,
	git_commit *parent, const struct buf *msg, const struct casefile_author *a)
{
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	const git_commit *parents[1] = {parent};
	char email[SCHEMA_USER_MAX + 80];
	int rc, error = 0;

	snprintf(email, sizeof(email), "%s@%s", a->user, a->device);
	rc = git_signature_new(&sig, a->user, email, (git_time_t)(a->hlc.wall_ms / 1000), 0);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot make the commit signature");
		goto out;
	}
	rc = git_tree_lookup(&tree, repo, tree_id);
	if (rc >= 0)
		rc = git_commit_create(out, repo, NULL, sig, sig, NULL, msg->ptr, tree,
			parent ? 1 : 0, parents);
	if (rc < 0)
		error = odb_git_error(rc, "cannot write the commit");
out:
	git_tree_free(tree);
	git_signature_free(sig);
	return error;
}

int casefile_commit(git_oid *head_out, char note_id_out[CASEFILE_NOTE_ID_MAX],
	git_repository *repo, const git_oid *parent_id, const char *case_id,
	const struct casefile_change *chg, const struct casefile_author *a, const char *action)
{
	git_commit *parent = NULL;
	git_tree *parent_tree = NULL;
	git_index *idx = NULL;
	struct buf msg = BUF_INIT(MESSAGE_MAX);
	git_oid tree_id;
	int rc, error;

	error = casefile_check_change(chg);
	if (error)
		return error;
	rc = git_index_new(&idx);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot create index");
		goto out;
	}
	if (parent_id) {
		rc = git_commit_lookup(&parent, repo, parent_id);
		if (rc >= 0)
			rc = git_commit_tree(&parent_tree, parent);
		if (rc >= 0)
			rc = git_index_read_tree(idx, parent_tree);
		if (rc < 0) {
			error = odb_git_error(rc, "cannot read the case head");
			goto out;
		}
	} else {
		error = schema_check_case_id(case_id);
		if (!error)
			error = add_blob(idx, repo, "meta/id", case_id, strlen(case_id));
		if (!error)
			error = add_blob(idx, repo, "meta/office", a->office, strlen(a->office));
		if (error)
			goto out;
	}
	error = apply_fields(idx, repo, chg, parent_id == NULL);
	if (!error && chg->narrative)
		error = apply_narrative(idx, repo, chg);
	if (!error && chg->note)
		error = add_note(note_id_out, idx, repo, chg, a);
	if (!error && chg->resolve)
		error = remove_conflicts(idx, chg->resolve, chg->resolve_version);
	if (!error && chg->transfer)
		error = add_blob(idx, repo, "meta/office", chg->transfer, strlen(chg->transfer));
	if (!error && chg->nfiles)
		error = add_files(idx, repo, chg);
	if (error)
		goto out;
	rc = git_index_write_tree_to(&tree_id, idx, repo);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot write the case tree");
		goto out;
	}
	if (parent_tree && git_oid_equal(&tree_id, git_tree_id(parent_tree))) {
		error = err_set(ERR_CONFLICT, "no change: the case already has these values");
		goto out;
	}
	error = build_message(&msg, chg, a, action);
	if (!error)
		error = write_commit(head_out, repo, &tree_id, parent, &msg, a);
out:
	buf_release(&msg);
	git_index_free(idx);
	git_tree_free(parent_tree);
	git_commit_free(parent);
	return error;
}

/* ---- reading ---------------------------------------------------------------------------- */

int casefile_blob_text(char **out, git_repository *repo, const git_oid *id)
{
	git_blob *blob = NULL;
	size_t len;
	char *s;
	int rc = git_blob_lookup(&blob, repo, id);

	if (rc < 0)
		return odb_git_error(rc, "cannot read blob");
	len = (size_t)git_blob_rawsize(blob);
	s = malloc(len + 1);
	if (!s) {
		git_blob_free(blob);
		return err_set(ERR_NOMEM, "out of memory");
	}
	memcpy(s, git_blob_rawcontent(blob), len);
	s[len] = '\0';
	git_blob_free(blob);
	*out = s;
	return 0;
}

int casefile_path_text(char **out, git_repository *repo, git_tree *tree, const char *path)
{
	git_tree_entry *e = NULL;
	int rc = git_tree_entry_bypath(&e, tree, path), error;

	if (rc == GIT_ENOTFOUND)
		return ERR_NOTFOUND;
	if (rc < 0)
		return odb_git_error(rc, "cannot read case tree");
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		error = err_set(ERR_CORRUPT, "'%s' in the case tree is not a file", path);
	else
		error = casefile_blob_text(out, repo, git_tree_entry_id(e));
	git_tree_entry_free(e);
	return error;
}

/*
 * Split "Key: value" header lines from the body after the first blank line.  Values are
 * returned as malloc'd strings for the keys asked for; missing keys give "".
 */
int casefile_parse_headed(const char *text, const char *const *keys, char **values, size_t nkeys,
	char **body)
{
	const char *p = text, *sep = strstr(text, "\n\n");
	const char *end = sep ? sep : text + strlen(text);
	size_t k;

	for (k = 0; k < nkeys; k++)
		values[k] = NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;

		for (k = 0; k < nkeys; k++) {
			size_t kl = strlen(keys[k]);

			const char *val = p + kl + 1;

			if ((size_t)(le - p) <= kl || strncmp(p, keys[k], kl) != 0 || p[kl] != ':' ||
				values[k])
				continue;
			while (val < le && *val == ' ')
				val++;
			values[k] = strndup(val, (size_t)(le - val));
		}
		p = le + 1;
	}
	*body = strdup(sep ? sep + 2 : "");
	for (k = 0; k < nkeys; k++)
		if (!values[k])
			values[k] = strdup("");
	for (k = 0; k < nkeys; k++)
		if (!values[k])
			return err_set(ERR_NOMEM, "out of memory");
	return *body ? 0 : err_set(ERR_NOMEM, "out of memory");
}

/* Every field's value (NULL for a field not set), the fields/ folder read once. */
static int read_fields(struct casefile_view *v, git_repository *repo, git_tree *tree)
{
	const git_tree_entry *dir = git_tree_entry_byname(tree, "fields");
	git_tree *fields = NULL;
	size_t i;
	int rc, error = 0;

	if (!dir || git_tree_entry_type(dir) != GIT_OBJECT_TREE)
		return 0; /* as a path under it would not be found */
	rc = git_tree_lookup(&fields, repo, git_tree_entry_id(dir));
	if (rc < 0)
		return odb_git_error(rc, "cannot read case tree");
	for (i = 0; !error && i < schema_count(); i++) {
		const git_tree_entry *e = git_tree_entry_byname(fields, schema_at(i)->name);

		if (!e)
			continue;
		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
			error = err_set(ERR_CORRUPT, "'fields/%s' in the case tree is not a file",
				schema_at(i)->name);
		else
			error = casefile_blob_text(&v->fields[i], repo, git_tree_entry_id(e));
	}
	git_tree_free(fields);
	return error;
}

static int cmp_notes(const void *a, const void *b)
{
	return strcmp(((const struct casefile_note *)a)->id, ((const struct casefile_note *)b)->id);
}

static int read_notes(struct casefile_view *v, git_repository *repo, git_tree *tree)
{
	static const char *const keys[] = {"Author", "Device", "Time"};
	git_tree_entry *dir = NULL;
	git_tree *notes = NULL;
	size_t i, n;
	int rc, error = 0;

	rc = git_tree_entry_bypath(&dir, tree, "notes");
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc >= 0)
		rc = git_tree_lookup(&notes, repo, git_tree_entry_id(dir));
	if (rc < 0) {
		error = odb_git_error(rc, "cannot read notes");
		goto out;
	}
	n = git_tree_entrycount(notes);
	v->notes = calloc(n + 1, sizeof(*v->notes));
	if (!v->notes) {
		error = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n && !error; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(notes, i);
		struct casefile_note *note = &v->notes[v->nnotes];
		const char *name = git_tree_entry_name(e);
		char *vals[3], *text = NULL;
		size_t nl = strlen(name);

		if (nl < 4 || strcmp(name + nl - 3, ".md") != 0)
			continue;
		error = casefile_blob_text(&text, repo, git_tree_entry_id(e));
		if (!error)
			error = casefile_parse_headed(text, keys, vals, 3, &note->text);
		free(text);
		if (error)
			break;
		note->id = strndup(name, nl - 3);
		note->author = vals[0];
		note->device = vals[1];
		note->time = vals[2];
		v->nnotes++;
		if (!note->id)
			error = err_set(ERR_NOMEM, "out of memory");
	}
	qsort(v->notes, v->nnotes, sizeof(*v->notes), cmp_notes);
out:
	git_tree_free(notes);
	git_tree_entry_free(dir);
	return error;
}

struct conflict_walk {
	struct casefile_view *v;
	git_repository *repo;
	size_t cap;
	int error;
};

/* A decimal size; ERR_CORRUPT for anything else. */
static int parse_size(size_t *out, const char **p)
{
	size_t v = 0;
	int digits = 0;

	while (**p == ' ')
		(*p)++;
	for (; **p >= '0' && **p <= '9'; (*p)++, digits++) {
		if (v > (SIZE_MAX - 9) / 10)
			return err_set(ERR_CORRUPT, "a kept conflict region is malformed");
		v = v * 10 + (size_t)(**p - '0');
	}
	if (!digits)
		return err_set(ERR_CORRUPT, "a kept conflict region is malformed");
	*out = v;
	return 0;
}

/*
 * A region record (merge.h): "<line> <b> <o> <t>" and a body of b + o + t bytes; the body is
 * split into base, current and value (the other lines).
 */
static int parse_region(struct casefile_conflict *c, const char *spec)
{
	size_t lens[3], total, i;
	const char *p = spec;
	char *body = c->value;
	int error;

	error = parse_size(&c->line, &p);
	for (i = 0; i < 3 && !error; i++)
		error = parse_size(&lens[i], &p);
	if (error)
		return error;
	total = strlen(body);
	if (lens[0] > total || lens[1] > total - lens[0] ||
		lens[2] != total - lens[0] - lens[1])
		return err_set(ERR_CORRUPT, "a kept conflict region is malformed");
	c->base = strndup(body, lens[0]);
	c->current = strndup(body + lens[0], lens[1]);
	c->value = strdup(body + lens[0] + lens[1]);
	if (!c->base || !c->current || !c->value) {
		free(c->value);
		c->value = body; /* released with the view */
		return err_set(ERR_NOMEM, "out of memory");
	}
	free(body);
	c->region = 1;
	return 0;
}

static int conflict_cb(const char *root, const git_tree_entry *e, void *payload)
{
	static const char *const keys[] = {"Author", "Commit", "Current-Author", "Current-Commit",
		"Region"};
	struct conflict_walk *w = payload;
	struct casefile_conflict *c;
	char *text = NULL, *vals[5];
	size_t rl = strlen(root);

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || rl < 2)
		return 0;
	w->error = ARRAY_GROW(&w->v->conflicts, &w->cap, w->v->nconflicts + 1, ARRAY_NOMAX);
	if (w->error)
		return -1;
	c = &w->v->conflicts[w->v->nconflicts];
	memset(c, 0, sizeof(*c));
	w->error = casefile_blob_text(&text, w->repo, git_tree_entry_id(e));
	if (!w->error)
		w->error = casefile_parse_headed(text, keys, vals, 5, &c->value);
	free(text);
	if (w->error)
		return -1;
	w->v->nconflicts++;
	c->author = vals[0];
	c->commit = vals[1];
	c->current_author = vals[2];
	c->current_commit = vals[3];
	if (vals[4][0])
		w->error = parse_region(c, vals[4]);
	free(vals[4]);
	if (w->error)
		return -1;
	c->path = strndup(root, rl - 1); /* walk roots end with '/' */
	c->name = strdup(git_tree_entry_name(e));
	if (!c->path || !c->name) {
		w->error = err_set(ERR_NOMEM, "out of memory");
		return -1;
	}
	return 0;
}

static int read_conflicts(struct casefile_view *v, git_repository *repo, git_tree *tree)
{
	struct conflict_walk w = {v, repo, 0, 0};
	git_tree_entry *dir = NULL;
	git_tree *conflicts = NULL;
	int rc, error = 0;

	rc = git_tree_entry_bypath(&dir, tree, "conflicts");
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc >= 0)
		rc = git_tree_lookup(&conflicts, repo, git_tree_entry_id(dir));
	if (rc >= 0)
		rc = git_tree_walk(conflicts, GIT_TREEWALK_PRE, conflict_cb, &w);
	if (w.error)
		error = w.error;
	else if (rc < 0)
		error = odb_git_error(rc, "cannot read conflicts");
	git_tree_free(conflicts);
	git_tree_entry_free(dir);
	return error;
}

int casefile_read(struct casefile_view *out, git_repository *repo, const git_oid *head)
{
	struct casefile_view v;
	struct casefile_rev rev;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	int rc, error;

	memset(&v, 0, sizeof(v));
	memset(&rev, 0, sizeof(rev));
	rc = git_commit_lookup(&commit, repo, head);
	if (rc >= 0)
		rc = git_commit_tree(&tree, commit);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot read the case head");
		goto out;
	}
	error = casefile_path_text(&v.id, repo, tree, "meta/id");
	if (!error)
		error = casefile_path_text(&v.office, repo, tree, "meta/office");
	if (error == ERR_NOTFOUND)
		error = err_set(ERR_CORRUPT, "case tree without meta/id or meta/office");
	if (error)
		goto out;
	error = casefile_path_text(&v.narrative, repo, tree, "narrative.md");
	if (error == ERR_NOTFOUND)
		error = (v.narrative = strdup("")) ? 0 : err_set(ERR_NOMEM, "out of memory");
	if (!error)
		error = read_fields(&v, repo, tree);
	if (!error)
		error = read_notes(&v, repo, tree);
	if (!error)
		error = read_conflicts(&v, repo, tree);
	if (!error && casefile_parse_message(&rev, git_commit_message(commit)) == 0)
		v.updated_ms = rev.hlc.wall_ms;
	else if (!error)
		v.updated_ms = (int64_t)git_commit_time(commit) * 1000;
	if (error)
		goto out;
	git_oid_cpy(&v.head, head);
	*out = v;
	memset(&v, 0, sizeof(v));
out:
	casefile_rev_release(&rev);
	casefile_view_release(&v);
	git_tree_free(tree);
	git_commit_free(commit);
	return error;
}

void casefile_view_release(struct casefile_view *v)
{
	size_t i;

	if (!v)
		return;
	free(v->id);
	free(v->office);
	for (i = 0; i < SCHEMA_MAX_FIELDS; i++)
		free(v->fields[i]);
	if (v->narrative)
		crypto_wipe(v->narrative, strlen(v->narrative));
	free(v->narrative);
	for (i = 0; i < v->nnotes; i++) {
		free(v->notes[i].id);
		free(v->notes[i].author);
		free(v->notes[i].device);
		free(v->notes[i].time);
		free(v->notes[i].text);
	}
	free(v->notes);
	for (i = 0; i < v->nconflicts; i++) {
		free(v->conflicts[i].path);
		free(v->conflicts[i].name);
		free(v->conflicts[i].value);
		free(v->conflicts[i].author);
		free(v->conflicts[i].commit);
		free(v->conflicts[i].current_author);
		free(v->conflicts[i].current_commit);
		free(v->conflicts[i].base);
		free(v->conflicts[i].current);
	}
	free(v->conflicts);
	memset(v, 0, sizeof(*v));
}

/* ---- history ---------------------------------------------------------------------------- */

static char *trailer(const char *msg, const char *key)
{
	size_t kl = strlen(key);
	const char *p = msg;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);

		if (ll > kl + 2 && !strncmp(p, key, kl) && p[kl] == ':' && p[kl + 1] == ' ')
			return strndup(p + kl + 2, ll - kl - 2);
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

int casefile_parse_message(struct casefile_rev *rev, const char *msg)
{
	const char *nl = strchr(msg, '\n');
	char *clock = trailer(msg, "Fieldsync-HLC");
	int error = 0;

	rev->summary = strndup(msg, nl ? (size_t)(nl - msg) : strlen(msg));
	rev->user = trailer(msg, "Fieldsync-User");
	rev->office = trailer(msg, "Fieldsync-Office");
	rev->device = trailer(msg, "Fieldsync-Device");
	rev->role = trailer(msg, "Fieldsync-Role");
	if (!rev->summary || !rev->user || !rev->office || !rev->device || !clock)
		error = err_set(ERR_INVALID, "commit message without attribution trailers");
	else
		error = hlc_parse(&rev->hlc, clock);
	free(clock);
	return error;
}

/* Newest first: hybrid logical clock, then commit id, both descending. */
static int cmp_revs(const void *pa, const void *pb)
{
	const struct casefile_rev *a = pa, *b = pb;

	if (a->hlc.wall_ms != b->hlc.wall_ms)
		return a->hlc.wall_ms < b->hlc.wall_ms ? 1 : -1;
	if (a->hlc.counter != b->hlc.counter)
		return a->hlc.counter < b->hlc.counter ? 1 : -1;
	return -git_oid_cmp(&a->id, &b->id);
}

int casefile_history(struct casefile_rev **out, size_t *count, git_repository *repo,
	const git_oid *head, size_t max)
{
	struct casefile_rev *revs = NULL;
	git_revwalk *walk = NULL;
	size_t n = 0, cap = 0;
	git_oid id;
	int rc, error = 0;

	rc = git_revwalk_new(&walk, repo);
	if (rc >= 0)
		rc = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	if (rc >= 0)
		rc = git_revwalk_push(walk, head);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot walk the case history");
		goto out;
	}
	while ((rc = git_revwalk_next(&id, walk)) == 0) {
		git_commit *c = NULL;

		error = ARRAY_GROW(&revs, &cap, n + 1, ARRAY_NOMAX);
		if (error)
			goto out;
		memset(&revs[n], 0, sizeof(revs[n]));
		rc = git_commit_lookup(&c, repo, &id);
		if (rc < 0) {
			error = odb_git_error(rc, "cannot read a commit of the case");
			goto out;
		}
		git_oid_cpy(&revs[n].id, &id);
		revs[n].nparents = git_commit_parentcount(c);
		error = casefile_parse_message(&revs[n], git_commit_message(c));
		git_commit_free(c);
		n++;
		if (error)
			goto out;
	}
	if (rc < 0 && rc != GIT_ITEROVER) {
		error = odb_git_error(rc, "cannot walk the case history");
		goto out;
	}
	if (n)
		qsort(revs, n, sizeof(*revs), cmp_revs);
	while (n > max) {
		n--;
		free(revs[n].summary);
		free(revs[n].user);
		free(revs[n].office);
		free(revs[n].device);
	}
	*out = revs;
	*count = n;
	revs = NULL;
	n = 0;
out:
	casefile_history_free(revs, n);
	git_revwalk_free(walk);
	return error;
}

void casefile_rev_release(struct casefile_rev *rev)
{
	free(rev->summary);
	free(rev->user);
	free(rev->office);
	free(rev->device);
	free(rev->role);
}

void casefile_history_free(struct casefile_rev *revs, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		casefile_rev_release(&revs[i]);
	free(revs);
}

int casefile_find_rev(git_oid *out, const struct casefile_rev *revs, size_t count,
	const char *rev)
{
	size_t i, len = rev ? strlen(rev) : 0, found = count;
	char hex[GIT_OID_HEXSZ + 1];

	if (len < 4 || len > GIT_OID_HEXSZ || strspn(rev, "0123456789abcdefABCDEF") != len)
		return err_set(ERR_INVALID, "'%s' is not a revision (4 to 40 hex digits)",
			rev ? rev : "");
	for (i = 0; i < count; i++) {
		git_oid_tostr(hex, sizeof(hex), &revs[i].id);
		if (strncasecmp(hex, rev, len) != 0)
			continue;
		if (found != count)
			return err_set(ERR_INVALID, "revision '%s' is ambiguous: give more digits",
				rev);
		found = i;
	}
	if (found == count)
		return err_set(ERR_NOTFOUND, "no revision '%s' in the history of the case", rev);
	git_oid_cpy(out, &revs[found].id);
	return 0;
}

/* One line of a patch as "<origin><text>", with a note when the text has no final newline. */
static int unified_line(struct buf *out, const git_diff_line *l)
{
	int error = 0;

	if (l->origin == GIT_DIFF_LINE_CONTEXT || l->origin == GIT_DIFF_LINE_ADDITION ||
		l->origin == GIT_DIFF_LINE_DELETION) {
		char o = l->origin;

		error = buf_put(out, &o, 1);
		if (!error)
			error = buf_put(out, l->content, l->content_len);
		if (!error && (!l->content_len || l->content[l->content_len - 1] != '\n'))
			error = buf_put(out, "\n", 1);
	} else if (l->origin == GIT_DIFF_LINE_CONTEXT_EOFNL || l->origin == GIT_DIFF_LINE_ADD_EOFNL ||
		   l->origin == GIT_DIFF_LINE_DEL_EOFNL) {
		error = buf_puts(out, "\\ No newline at end of file\n");
	}
	return error;
}

int casefile_unified(struct buf *out, const char *a, size_t a_len, const char *b, size_t b_len,
	const char *a_label, const char *b_label, size_t context, size_t first_line)
{
	git_diff_options opts;
	git_patch *patch = NULL;
	size_t h, nh, k, nl, shift = first_line ? first_line - 1 : 0;
	int rc, error = 0;

	rc = git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	if (rc >= 0) {
		opts.context_lines = (uint32_t)context;
		opts.flags |= GIT_DIFF_FORCE_TEXT;
		rc = git_patch_from_buffers(&patch, a, a_len, NULL, b, b_len, NULL, &opts);
	}
	if (rc < 0) {
		error = odb_git_error(rc, "cannot compare two texts");
		goto out;
	}
	nh = git_patch_num_hunks(patch);
	if (nh)
		error = buf_printf(out, "--- %s\n+++ %s\n", a_label, b_label);
	for (h = 0; h < nh && !error; h++) {
		const git_diff_hunk *hunk;

		rc = git_patch_get_hunk(&hunk, &nl, patch, h);
		if (rc < 0) {
			error = odb_git_error(rc, "cannot compare two texts");
			break;
		}
		error = buf_printf(out, "@@ -%zu,%d +%zu,%d @@\n", (size_t)hunk->old_start + shift,
			hunk->old_lines, (size_t)hunk->new_start + shift, hunk->new_lines);
		for (k = 0; k < nl && !error; k++) {
			const git_diff_line *l;

			rc = git_patch_get_line_in_hunk(&l, patch, h, k);
			error = rc < 0 ? odb_git_error(rc, "cannot compare two texts")
				       : unified_line(out, l);
		}
	}
out:
	git_patch_free(patch);
	return error;
}

/* Field changes of `a` -> `b` as "  name: old -> new". */
static int diff_fields(struct buf *out, const struct casefile_view *a,
	const struct casefile_view *b)
{
	size_t i;
	int error = 0;

	for (i = 0; i < SCHEMA_MAX_FIELDS && i < schema_count() && !error; i++) {
		const char *o = a ? a->fields[i] : NULL, *n = b->fields[i];

		if ((!o && !n) || (o && n && !strcmp(o, n)))
			continue;
		error = buf_printf(out, "  %s: %s -> %s\n", schema_at(i)->name,
			o ? o : "(unset)", n ? n : "(unset)");
	}
	return error;
}

/* Notes and kept conflict versions present in one view and not the other. */
static int diff_lists(struct buf *out, const struct casefile_view *a,
	const struct casefile_view *b)
{
	size_t i, j;
	int error = 0;

	for (i = 0; i < b->nnotes && !error; i++) {
		for (j = 0; a && j < a->nnotes && strcmp(a->notes[j].id, b->notes[i].id); j++)
			;
		if (!a || j == a->nnotes)
			error = buf_printf(out, "  note added: %s by %s\n", b->notes[i].id,
				b->notes[i].author);
	}
	for (i = 0; i < b->nconflicts && !error; i++) {
		for (j = 0; a && j < a->nconflicts && (strcmp(a->conflicts[j].path,
			b->conflicts[i].path) || strcmp(a->conflicts[j].name, b->conflicts[i].name)); j++)
			;
		if (!a || j == a->nconflicts)
			error = buf_printf(out, "  conflict kept: %s (%s) by %s\n",
				b->conflicts[i].path, b->conflicts[i].name, b->conflicts[i].author);
	}
	for (i = 0; a && i < a->nconflicts && !error; i++) {
		for (j = 0; j < b->nconflicts && (strcmp(a->conflicts[i].path,
			b->conflicts[j].path) || strcmp(a->conflicts[i].name, b->conflicts[j].name)); j++)
			;
		if (j == b->nconflicts)
			error = buf_printf(out, "  conflict settled: %s (%s)\n", a->conflicts[i].path,
				a->conflicts[i].name);
	}
	return error;
}

int casefile_diff(struct buf *out, git_repository *repo, const git_oid *from, const git_oid *to)
{
	struct casefile_view a, b;
	git_commit *c = NULL;
	git_oid parent;
	int rc, have_a = 0, error;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (!from) {
		rc = git_commit_lookup(&c, repo, to);
		if (rc < 0) {
			error = odb_git_error(rc, "cannot read a revision of the case");
			goto out;
		}
		if (git_commit_parentcount(c) > 0) {
			git_oid_cpy(&parent, git_commit_parent_id(c, 0));
			from = &parent;
		}
	}
	error = casefile_read(&b, repo, to);
	if (!error && from)
		error = casefile_read(&a, repo, from);
	if (error)
		goto out;
	have_a = from != NULL;
	error = diff_fields(out, have_a ? &a : NULL, &b);
	if (!error)
		error = casefile_unified(out, have_a ? a.narrative : "",
			have_a ? strlen(a.narrative) : 0, b.narrative, strlen(b.narrative),
			"narrative.md (before)", "narrative.md (after)", 3, 1);
	if (!error)
		error = diff_lists(out, have_a ? &a : NULL, &b);
out:
	casefile_view_release(&a);
	casefile_view_release(&b);
	git_commit_free(c);
	return error;
}
