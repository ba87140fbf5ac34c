/*
 * shared/node/evbag.c - evidb_export(): evidence items as a BagIt 1.0 bag (RFC 8493) that a
 * reviewer checks with standard tools (sha256sum -c on both manifests), with the custody log
 * and the audit entries about the items, each with its RFC 6962 inclusion proof in this node's
 * audit tree.
 */
#include "node/evidb.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/merkle.h"
#include "node/casedb.h"

#define BAG_FILES_MAX 4096 /* items in one bag (each one file under data/) */

struct bag {
	struct node *n;
	const char *dir;
	char **made; /* every path created, to take back on failure */
	size_t nmade;
	struct buf manifest, tagmanifest;
	uint64_t oxum_bytes, oxum_count, done, total;
	evidb_progress_fn progress;
	void *ctx;
	int fd;
	const char *path;
};

static int remember(struct bag *b, const char *path)
{
	char **m = realloc(b->made, (b->nmade + 1) * sizeof(*m));

	if (!m)
		return err_set(ERR_NOMEM, "out of memory");
	b->made = m;
	b->made[b->nmade] = strdup(path);
	if (!b->made[b->nmade])
		return err_set(ERR_NOMEM, "out of memory");
	b->nmade++;
	return 0;
}

static int make_dir(struct bag *b, const char *path)
{
	if (mkdir(path, 0700) != 0)
		return errno == EEXIST ? err_set(ERR_EXISTS, "'%s' already exists", path)
				       : err_set_errno(ERR_IO, errno, "cannot create '%s'", path);
	return remember(b, path);
}

static int open_new(struct bag *b, const char *path)
{
	b->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (b->fd < 0)
		return err_set_errno(ERR_IO, errno, "cannot create '%s'", path);
	b->path = path;
	return remember(b, path);
}

static int put_bytes(void *ctx, const void *data, size_t len)
{
	struct bag *b = ctx;
	const uint8_t *p = data;
	ssize_t r;

	while (len) {
		r = write(b->fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set_errno(ERR_IO, errno, "cannot write '%s'", b->path);
		p += r;
		len -= (size_t)r;
		b->done += (uint64_t)r;
	}
	if (b->progress)
		b->progress(b->ctx, b->done, b->total);
	return 0;
}

static int close_file(struct bag *b)
{
	int error = 0;

	if (b->fd >= 0 && fsync(b->fd) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot write '%s'", b->path);
	if (b->fd >= 0 && close(b->fd) != 0 && !error)
		error = err_set_errno(ERR_IO, errno, "cannot write '%s'", b->path);
	b->fd = -1;
	return error;
}

/* A tag file with its line in the tag manifest. */
static int tag_file(struct bag *b, const char *name, const char *text, size_t len)
{
	struct buf path = BUF_INIT(4096);
	uint8_t sha[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	int error = buf_printf(&path, "%s/%s", b->dir, name);

	if (!error)
		error = open_new(b, path.ptr);
	if (!error)
		error = put_bytes(b, text, len);
	if (b->fd >= 0 && close_file(b) && !error)
		error = err_code();
	crypto_sha256(sha, text, len);
	crypto_hex(hex, sha, sizeof(sha));
	if (!error && strcmp(name, "tagmanifest-sha256.txt"))
		error = buf_printf(&b->tagmanifest, "%s  %s\n", hex, name);
	buf_release(&path);
	return error;
}

/* A payload file name: the item id and its name, with only portable characters. */
static int payload_name(struct buf *out, const struct evidence_item *it)
{
	size_t i;
	int error = buf_printf(out, "data/%s_", it->id);

	for (i = 0; !error && it->name[i] && i < 120; i++) {
		char ch = it->name[i];

		error = buf_putc(out, (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
						      (ch >= '0' && ch <= '9') || ch == '.' ||
						      ch == '-' || ch == '_'
					      ? ch
					      : '_');
	}
	return error;
}

static int payload(struct bag *b, const git_oid *head, const struct evidence_item *it)
{
	struct buf rel = BUF_INIT(512), path = BUF_INIT(4096);
	int error = payload_name(&rel, it);

	if (!error)
		error = buf_printf(&path, "%s/%s", b->dir, rel.ptr);
	if (!error)
		error = open_new(b, path.ptr);
	if (!error)
		error = evidb_stream(b->n, head, it, put_bytes, b);
	if (b->fd >= 0 && close_file(b) && !error)
		error = err_code();
	/* the intake hash, which the stream has just matched byte for byte */
	if (!error)
		error = buf_printf(&b->manifest, "%s  %s\n", it->sha256, rel.ptr);
	b->oxum_bytes += it->size;
	b->oxum_count++;
	buf_release(&rel);
	buf_release(&path);
	return error;
}

/* ---- the custody tag file ---------------------------------------------------------------- */

struct audit_pick {
	const struct evidence_item *items;
	size_t nitems;
	const char *const *names;
	size_t nnames;
	json_t *entries;
};

/* An evidence entry of the case that names one of the exported items, or none at all. */
static int pick_entry(void *ctx, const struct audit_record *r)
{
	struct audit_pick *p = ctx;
	const char *item = NULL;
	char *text;
	size_t i;
	int mine = 0;

	if (strncmp(r->action, "evidence.", 9) || !r->leaf)
		return 0;
	text = strndup((const char *)r->entry, r->entry_len);
	if (!text)
		return err_set(ERR_NOMEM, "out of memory");
	item = strstr(text, "\"detail\":\"item ");
	for (i = 0; item && i < p->nitems; i++)
		if (!strncmp(item + 15, p->items[i].id, strlen(p->items[i].id)))
			mine = 1;
	if (!item || mine)
		json_array_append_new(p->entries,
			json_pack("{s:I, s:s, s:s}", "seq", (json_int_t)r->seq, "entry", text,
				"leaf_sha256", ""));
	free(text);
	return 0;
}

/* The node's audit leaves, the tree head, and an inclusion proof for each picked entry. */
static int prove_entries(json_t *audit, struct node *n, json_t *entries)
{
	struct buf leaves = BUF_INIT((size_t)1 << 31), proof = BUF_INIT(MERKLE_MAX_PROOF * 32);
	sqlite3_stmt *st = NULL;
	uint8_t root[MERKLE_HASH_LEN];
	char hex[2 * MERKLE_HASH_LEN + 1];
	uint64_t size;
	size_t i, k;
	int error = store_prepare(&st, n->store, "SELECT leaf FROM audit_log ORDER BY seq");

	while (!error && (error = store_next(n->store, st)) > 0)
		error = sqlite3_column_bytes(st, 0) == MERKLE_HASH_LEN
				? buf_put(&leaves, sqlite3_column_blob(st, 0), MERKLE_HASH_LEN)
				: err_set(ERR_CORRUPT, "an audit entry has a malformed leaf hash");
	sqlite3_finalize(st);
	size = leaves.len / MERKLE_HASH_LEN;
	if (!error)
		error = merkle_root(root, (const uint8_t *)leaves.ptr, size);
	crypto_hex(hex, root, sizeof(root));
	json_object_set_new(audit, "tree_size", json_integer((json_int_t)size));
	json_object_set_new(audit, "root_sha256", json_string(hex));
	for (i = 0; !error && i < json_array_size(entries); i++) {
		json_t *e = json_array_get(entries, i), *path = json_array();
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));

		buf_reset(&proof);
		error = seq < size ? merkle_inclusion_proof(&proof, (const uint8_t *)leaves.ptr,
					     size, seq)
				   : err_set(ERR_CORRUPT, "audit entry %" PRIu64 " is past the log",
					     seq);
		for (k = 0; !error && k < proof.len; k += MERKLE_HASH_LEN) {
			crypto_hex(hex, (const uint8_t *)proof.ptr + k, MERKLE_HASH_LEN);
			json_array_append_new(path, json_string(hex));
		}
		crypto_hex(hex, (const uint8_t *)leaves.ptr + seq * MERKLE_HASH_LEN,
			MERKLE_HASH_LEN);
		if (!error)
			json_object_set_new(e, "leaf_sha256", json_string(hex));
		json_object_set_new(e, "inclusion_proof", path);
	}
	buf_release(&proof);
	buf_release(&leaves);
	return error;
}

static json_t *event_json(const struct evidence_event *e)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", e->id,
		"action", e->action, "by", e->by, "device", e->device, "office", e->office, "time",
		e->time, "from", e->from, "to", e->to, "location", e->location, "reason",
		e->reason);
}

static int custody_log(struct buf *out, struct bag *b, const char *case_id,
	const struct evidence_item *items, size_t nitems)
{
	struct audit_pick p = {items, nitems, NULL, 0, json_array()};
	json_t *doc = json_object(), *arr = json_array(), *audit = json_object();
	char *text = NULL;
	size_t i, k;
	int error;

	for (i = 0; i < nitems; i++) {
		const struct evidence_item *it = &items[i];
		json_t *log = json_array();

		for (k = 0; k < it->nevents; k++)
			json_array_append_new(log, event_json(&it->events[k]));
		json_array_append_new(arr,
			json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
				  "s:s, s:s, s:s, s:o}",
				"id", it->id, "name", it->name, "size", (json_int_t)it->size,
				"sha256", it->sha256, "chunks", (json_int_t)it->nchunks,
				"chunks_sha256", it->chunks_sha256, "description", it->description,
				"source", it->source, "collected_at", it->collected_at, "location",
				it->location, "added_by", it->added_by, "office", it->office,
				"device", it->device, "time", it->time, "custodian", it->custodian,
				"custody", log));
	}
	error = audit_foreach(b->n->store, NULL, case_id, pick_entry, &p);
	if (!error)
		error = prove_entries(audit, b->n, p.entries);
	json_object_set_new(audit, "hashing",
		json_string("RFC 6962: leaf = SHA-256(0x00 || entry bytes), node = SHA-256(0x01 || "
			    "left || right); entry bytes are the UTF-8 of \"entry\"; "
			    "inclusion_proof is the audit path of RFC 6962 section 2.1.1"));
	json_object_set_new(audit, "node", json_string(b->n->device));
	json_object_set_new(audit, "office", json_string(b->n->office));
	json_object_set_new(audit, "entries", p.entries);
	json_object_set_new(doc, "case", json_string(case_id));
	json_object_set_new(doc, "items", arr);
	json_object_set_new(doc, "audit", audit);
	if (!error) {
		text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
		error = text ? buf_printf(out, "%s\n", text) : err_set(ERR_NOMEM, "out of memory");
	}
	free(text);
	json_decref(doc);
	return error;
}

/* ---- the bag ---------------------------------------------------------------------------- */

static void human_size(char *out, size_t size, uint64_t bytes)
{
	if (bytes >= (1ull << 30))
		snprintf(out, size, "%.1f GiB", (double)bytes / (double)(1ull << 30));
	else if (bytes >= (1ull << 20))
		snprintf(out, size, "%.1f MiB", (double)bytes / (double)(1ull << 20));
	else if (bytes >= 1024)
		snprintf(out, size, "%.1f KiB", (double)bytes / 1024.0);
	else
		snprintf(out, size, "%" PRIu64 " bytes", bytes);
}

static int bag_info(struct buf *out, struct bag *b, const char *case_id)
{
	struct buf org = BUF_INIT(1024);
	char date[16], bag_size[32];
	time_t now = time(NULL);
	struct tm tm;
	int error = store_meta_get(&org, b->n->store, "org");

	if (error == ERR_NOTFOUND) {
		err_clear();
		error = buf_printf(&org, "office %s", b->n->office);
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	human_size(bag_size, sizeof(bag_size), b->oxum_bytes);
	if (!error)
		error = buf_printf(out,
			"Source-Organization: %s\nBagging-Date: %s\nPayload-Oxum: %" PRIu64
			".%" PRIu64 "\nExternal-Identifier: %s\nBag-Size: %s\n"
			"Internal-Sender-Description: evidence of case %s with its chain of custody "
			"(custody-log.json), exported by %s on device %s of office %s\n",
			buf_cstr(&org), date, b->oxum_bytes, b->oxum_count, case_id, bag_size,
			case_id, b->n->user, b->n->device, b->n->office);
	buf_release(&org);
	return error;
}

/* The items to export: all of them, or those named (each must exist, once). */
static int choose(struct evidence_item *all, size_t nall, const char *const *names, size_t nnames,
	const char *case_id, size_t *count)
{
	size_t i, k, kept = 0;

	if (!nnames) {
		*count = nall;
		return 0;
	}
	for (k = 0; k < nnames; k++) {
		for (i = kept; i < nall && strcmp(all[i].id, names[k]); i++)
			;
		if (i == nall)
			return err_set(ERR_NOTFOUND,
				"case '%s' has no evidence item '%s' (or it is "
				"named twice)",
				case_id, names[k]);
		if (i != kept) {
			struct evidence_item t = all[kept];

			all[kept] = all[i];
			all[i] = t;
		}
		kept++;
	}
	*count = kept;
	return 0;
}

static void take_back(struct bag *b)
{
	size_t i;

	for (i = b->nmade; i-- > 0;)
		if (unlink(b->made[i]) != 0)
			(void)rmdir(b->made[i]);
}

static int write_bag(struct bag *b, const char *case_id, const git_oid *head,
	const struct evidence_item *items, size_t count)
{
	static const char bagit[] = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
	struct buf path = BUF_INIT(4096), text = BUF_INIT((size_t)256 << 20);
	size_t i;
	int error = make_dir(b, b->dir);

	if (!error)
		error = buf_printf(&path, "%s/data", b->dir);
	if (!error)
		error = make_dir(b, path.ptr);
	for (i = 0; i < count; i++)
		b->total += items[i].size;
	for (i = 0; !error && i < count; i++)
		error = payload(b, head, &items[i]);
	if (!error)
		error = tag_file(b, "bagit.txt", bagit, strlen(bagit));
	if (!error)
		error = tag_file(b, "manifest-sha256.txt", b->manifest.ptr ? b->manifest.ptr : "",
			b->manifest.len);
	if (!error)
		error = bag_info(&text, b, case_id);
	if (!error)
		error = tag_file(b, "bag-info.txt", text.ptr, text.len);
	buf_reset(&text);
	if (!error)
		error = custody_log(&text, b, case_id, items, count);
	if (!error)
		error = tag_file(b, "custody-log.json", text.ptr, text.len);
	if (!error)
		error = tag_file(b, "tagmanifest-sha256.txt", b->tagmanifest.ptr,
			b->tagmanifest.len);
	buf_wipe_release(&text);
	buf_release(&path);
	return error;
}

int evidb_export(struct node *n, const char *case_id, const char *const *names, size_t nnames,
	const char *dir, evidb_progress_fn progress, void *ctx)
{
	struct evidence_item *items = NULL;
	struct bag b;
	char detail[AUDIT_DETAIL_MAX];
	size_t nall = 0, count = 0, i, used;
	git_oid head;
	int error = node_require(n, NODE_PERM_CASE_READ, "evidence.export", case_id);

	if (error)
		return error;
	memset(&b, 0, sizeof(b));
	b.n = n;
	b.dir = dir;
	b.fd = -1;
	b.progress = progress;
	b.ctx = ctx;
	buf_init(&b.manifest, (size_t)BAG_FILES_MAX * 1024);
	buf_init(&b.tagmanifest, 4096);
	error = casedb_head(&head, n, case_id);
	if (!error)
		error = evidence_read_all(&items, &nall, n->repo, &head);
	if (!error)
		error = choose(items, nall, names, nnames, case_id, &count);
	if (!error && count > BAG_FILES_MAX)
		error = err_set(ERR_TOOBIG, "more than %d items in one bag", BAG_FILES_MAX);
	if (!error && !count)
		error = err_set(ERR_NOTFOUND, "case '%s' has no evidence items to export", case_id);
	if (!error)
		error = write_bag(&b, case_id, &head, items, count);
	used = (size_t)snprintf(detail, sizeof(detail), "bag of %zu items:", count);
	for (i = 0; i < count && used < sizeof(detail); i++)
		used += (size_t)snprintf(detail + used, sizeof(detail) - used, " item %s",
			items[i].id);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = node_audit(n, "evidence.export", case_id, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (b.fd >= 0)
		close(b.fd);
	if (error)
		take_back(&b);
	for (i = 0; i < b.nmade; i++)
		free(b.made[i]);
	free(b.made);
	buf_release(&b.manifest);
	buf_release(&b.tagmanifest);
	evidence_items_free(items, nall);
	return error ? node_audit_failure(n, "evidence.export", case_id, error) : 0;
}
