/* shared/node/evidb.c - audited evidence operations (see evidb.h). */
#include "node/evidb.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/casedb.h"
#include "store/chunks.h"

#define ADD_BATCH                                                                                  \
	32 /* chunks per transaction while a file is taken in (8: 3.3 s for 256 MiB, 32: 2.7 s) */
#define LIST_MAX ((size_t)(EVIDENCE_SIZE_MAX / CHUNKS_SIZE) * EVIDENCE_CHUNK_LINE)

/* ---- intake ----------------------------------------------------------------------------- */

/* Open the file to take in: a readable regular file within the limit. */
static int open_input(int *fd_out, uint64_t *size, const char *path, uint64_t limit)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		return err_set(ERR_NOTFOUND, "no file '%s'", path);
	if (fd < 0)
		return err_set_errno(ERR_IO, errno, "cannot read '%s'", path);
	if (fstat(fd, &st) != 0) {
		close(fd);
		return err_set_errno(ERR_IO, errno, "cannot read '%s'", path);
	}
	if (S_ISDIR(st.st_mode) || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(ERR_INVALID, "'%s' is %s, not a file", path,
			S_ISDIR(st.st_mode) ? "a directory" : "a special file");
	}
	if ((uint64_t)st.st_size > limit) {
		close(fd);
		return err_set(ERR_TOOBIG,
			"'%s' is %lld bytes, over the limit of %" PRIu64 " bytes", path,
			(long long)st.st_size, limit);
	}
	*fd_out = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Read up to `want` bytes (less only at the end of the file). */
static int read_full(size_t *got, int fd, uint8_t *p, size_t want, const char *path)
{
	ssize_t r;

	*got = 0;
	while (*got < want) {
		r = read(fd, p + *got, want - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set_errno(ERR_IO, errno, "cannot read '%s'", path);
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

struct intake {
	struct node *n;
	const char *path;
	uint64_t limit;
	uint64_t size;
	uint8_t sha[CRYPTO_SHA256_LEN];
	struct buf list; /* chunk list text */
};

/*
 * Reading ahead: a thread reads the file and hashes it (the whole file, and each chunk for its
 * address) into a ring of READ_AHEAD chunk buffers while the caller's thread stores the chunks
 * before it.  Hashing costs about a fifth of storing (SHA-256 at 1.5 GB/s, SQLCipher's page
 * cipher at 0.5), and the two overlap on the two cores.  Memory stays O(chunk).
 */
#define READ_AHEAD 3

struct slot {
	uint8_t *data;
	size_t len;
	uint8_t hash[CHUNKS_HASH_LEN];
};

struct reader {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot slots[READ_AHEAD];
	size_t filled, taken; /* slots read so far, and stored (taken <= filled) */
	int fd, eof, stop, error;
	char msg[512];
	const char *path;
	struct crypto_sha256 file;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	int error = 0, eof = 0;

	while (!error && !eof) {
		struct slot *sl;

		pthread_mutex_lock(&r->lock);
		while (!r->stop && r->filled - r->taken == READ_AHEAD)
			pthread_cond_wait(&r->cond, &r->lock);
		sl = &r->slots[r->filled % READ_AHEAD];
		eof = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (eof)
			break;
		error = read_full(&sl->len, r->fd, sl->data, CHUNKS_SIZE, r->path);
		if (!error) {
			crypto_sha256_update(&r->file, sl->data, sl->len);
			crypto_sha256(sl->hash, sl->data, sl->len);
		}
		eof = error || sl->len < CHUNKS_SIZE;
		pthread_mutex_lock(&r->lock);
		if (error) {
			r->error = error;
			snprintf(r->msg, sizeof(r->msg), "%s", err_msg());
		} else if (sl->len) {
			r->filled++;
		}
		r->eof = eof;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

/* The next chunk read ahead (NULL at the end of the file), or an error of the reader's. */
static int reader_next(struct slot **out, struct reader *r)
{
	int error = 0;

	pthread_mutex_lock(&r->lock);
	while (r->filled == r->taken && !r->eof && !r->error)
		pthread_cond_wait(&r->cond, &r->lock);
	*out = r->filled > r->taken ? &r->slots[r->taken % READ_AHEAD] : NULL;
	if (!*out && r->error)
		error = err_set(r->error, "%s", r->msg);
	pthread_mutex_unlock(&r->lock);
	return error;
}

static void reader_done_with(struct reader *r)
{
	pthread_mutex_lock(&r->lock);
	r->taken++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Stream the file into the chunk store, ADD_BATCH chunks per transaction. */
static int take_in(struct intake *t, int fd, uint64_t expected, evidb_progress_fn progress,
	void *ctx)
{
	struct reader r;
	struct slot *sl = NULL;
	pthread_t th;
	uint8_t hash[CHUNKS_HASH_LEN];
	char hex[2 * CHUNKS_HASH_LEN + 1];
	size_t inbatch = 0, i;
	int error = 0, open_txn = 0, started = 0;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.cond, NULL);
	r.fd = fd;
	r.path = t->path;
	crypto_sha256_init(&r.file);
	for (i = 0; !error && i < READ_AHEAD; i++)
		if (!(r.slots[i].data = malloc(CHUNKS_SIZE)))
			error = err_set(ERR_NOMEM, "out of memory");
	if (!error && pthread_create(&th, NULL, reader_main, &r) != 0)
		error = err_set(ERR_NOMEM, "cannot start a thread to read '%s'", t->path);
	started = !error;
	while (!error) {
		error = reader_next(&sl, &r);
		if (error || !sl)
			break;
		if (t->size + sl->len > t->limit) {
			error = err_set(ERR_TOOBIG, "'%s' grew over the limit of %" PRIu64 " bytes",
				t->path, t->limit);
			break;
		}
		if (!open_txn) {
			error = store_begin(t->n->store);
			open_txn = !error;
		}
		if (!error)
			error = chunks_put_known(hash, NULL, t->n->store, sl->hash, sl->data,
				sl->len, CHUNKS_STORED);
		if (!error && ++inbatch == ADD_BATCH) {
			error = store_commit(t->n->store);
			open_txn = 0;
			inbatch = 0;
		}
		crypto_hex(hex, hash, sizeof(hash));
		if (!error)
			error = buf_printf(&t->list, "%s\n", hex);
		t->size += sl->len;
		reader_done_with(&r);
		if (progress)
			progress(ctx, t->size, expected > t->size ? expected : t->size);
	}
	if (!error && open_txn)
		error = store_commit(t->n->store);
	else if (open_txn)
		store_rollback(t->n->store);
	if (started) {
		pthread_mutex_lock(&r.lock);
		r.stop = 1;
		pthread_cond_broadcast(&r.cond);
		pthread_mutex_unlock(&r.lock);
		pthread_join(th, NULL);
	}
	crypto_sha256_final(t->sha, &r.file);
	for (i = 0; i < READ_AHEAD; i++) {
		if (r.slots[i].data)
			crypto_wipe(r.slots[i].data, CHUNKS_SIZE);
		free(r.slots[i].data);
	}
	pthread_cond_destroy(&r.cond);
	pthread_mutex_destroy(&r.lock);
	return error;
}

/* Mark the chunks of a new item for upload (inside the item's transaction). */
static int mark_pending(struct store *s, const struct buf *list)
{
	uint8_t raw[CHUNKS_HASH_LEN];
	char line[EVIDENCE_CHUNK_LINE];
	size_t i;
	int error = 0;

	for (i = 0; !error && i + EVIDENCE_CHUNK_LINE <= list->len; i += EVIDENCE_CHUNK_LINE) {
		memcpy(line, list->ptr + i, EVIDENCE_CHUNK_LINE - 1);
		line[EVIDENCE_CHUNK_LINE - 1] = '\0';
		error = crypto_unhex(raw, sizeof(raw), line);
		if (!error)
			error = chunks_raise(s, raw, CHUNKS_PENDING);
	}
	return error;
}

/* The one transaction that makes the item visible. */
static int commit_item(char id[EVIDENCE_ID_MAX], struct intake *t, const char *case_id,
	const struct evidence_intake *in)
{
	struct casefile_author a = {t->n->user, t->n->office, t->n->device, {0, 0}, t->n->role};
	struct casefile_change chg;
	struct evidence_files f;
	char detail[AUDIT_DETAIL_MAX], hex[2 * CRYPTO_SHA256_LEN + 1], summary[EVIDENCE_ID_MAX + 8];
	git_oid parent, head;
	int error;

	memset(&chg, 0, sizeof(chg));
	evidence_files_init(&f);
	error = store_begin(t->n->store);
	if (!error)
		error = casedb_head(&parent, t->n, case_id);
	if (!error)
		error = node_next_hlc(&a.hlc, t->n);
	if (!error) {
		evidence_new_id(id, &a);
		error = evidence_build_item(&f, id, id, in, t->size, t->sha, &t->list, &a);
	}
	snprintf(summary, sizeof(summary), "item %s", id);
	chg.files = f.files;
	chg.nfiles = 3;
	chg.summary = summary;
	if (!error)
		error = casefile_commit(&head, NULL, t->n->repo, &parent, case_id, &chg, &a,
			"evidence add");
	if (!error)
		error = casedb_advance(t->n, case_id, &head);
	if (!error)
		error = mark_pending(t->n->store, &t->list);
	crypto_hex(hex, t->sha, sizeof(t->sha));
	snprintf(detail, sizeof(detail), "item %s sha256 %s size %" PRIu64, id, hex, t->size);
	if (!error)
		error = node_audit(t->n, "evidence.add", case_id, "success", detail);
	if (!error)
		error = store_commit(t->n->store);
	else
		store_rollback(t->n->store);
	evidence_files_release(&f);
	return error;
}

int evidb_add(char id_out[EVIDENCE_ID_MAX], uint8_t sha_out[CRYPTO_SHA256_LEN], struct node *n,
	const char *case_id, const char *path, const struct evidence_intake *in, uint64_t limit,
	evidb_progress_fn progress, void *ctx)
{
	struct intake t;
	char id[EVIDENCE_ID_MAX] = "";
	git_oid head;
	uint64_t expected = 0;
	int fd = -1, error;

	error = node_require(n, NODE_PERM_CASE_WRITE, "evidence.add", case_id);
	if (error)
		return error;
	memset(&t, 0, sizeof(t));
	t.n = n;
	t.path = path;
	t.limit = limit;
	buf_init(&t.list, LIST_MAX);
	error = casedb_head(&head, n, case_id);
	if (!error)
		error = evidence_check_intake(in);
	if (!error)
		error = open_input(&fd, &expected, path, limit);
	if (!error)
		error = take_in(&t, fd, expected, progress, ctx);
	if (fd >= 0)
		close(fd);
	if (!error)
		error = commit_item(id, &t, case_id, in);
	buf_release(&t.list);
	if (error)
		return node_audit_failure(n, "evidence.add", case_id, error);
	memcpy(id_out, id, EVIDENCE_ID_MAX);
	memcpy(sha_out, t.sha, sizeof(t.sha));
	return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

int evidb_stream(struct node *n, const git_oid *head, const struct evidence_item *it,
	int (*fn)(void *ctx, const void *data, size_t len), void *ctx)
{
	struct buf list = BUF_INIT(LIST_MAX), chunk = BUF_INIT(CHUNKS_SIZE);
	struct crypto_sha256 h;
	uint8_t whole[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	uint64_t i, left = it->size;
	int error = evidence_read_chunks(&list, n->repo, head, it);

	crypto_sha256_init(&h);
	for (i = 0; !error && i < it->nchunks; i++) {
		size_t want = left < CHUNKS_SIZE ? (size_t)left : CHUNKS_SIZE;

		error = chunks_get(&chunk, n->store,
			(const uint8_t *)list.ptr + i * CHUNKS_HASH_LEN);
		if (!error && chunk.len != want)
			error = err_set(ERR_CORRUPT, "chunk %" PRIu64 " has the wrong size", i);
		if (error) {
			error = err_set(error == ERR_NOTFOUND ? ERR_NOTFOUND : ERR_CORRUPT,
				"evidence item '%s' is damaged at chunk %" PRIu64 ": %s", it->id, i,
				err_msg());
			break;
		}
		crypto_sha256_update(&h, chunk.ptr, chunk.len);
		left -= chunk.len;
		error = fn(ctx, chunk.ptr, chunk.len);
	}
	crypto_sha256_final(whole, &h);
	crypto_hex(hex, whole, sizeof(whole));
	if (!error && strcmp(hex, it->sha256))
		error = err_set(ERR_CORRUPT, "evidence item '%s' does not match its intake SHA-256",
			it->id);
	buf_wipe_release(&chunk);
	buf_release(&list);
	return error;
}

/* Role check, the read's head, and (for one item) the item. */
static int begin_read(git_oid *head, struct evidence_item *it, struct node *n, const char *action,
	const char *case_id, const char *item_id)
{
	int error = node_require(n, NODE_PERM_CASE_READ, action, case_id);

	if (error)
		return error;
	error = casedb_head(head, n, case_id);
	if (!error && it && item_id)
		error = evidence_read_one(it, n->repo, head, case_id, item_id);
	return error;
}

/* Record a successful read in its own transaction. */
static int record(struct node *n, const char *action, const char *case_id, const char *detail)
{
	int error = store_begin(n->store);

	if (!error)
		error = node_audit(n, action, case_id, "success", detail);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	return error;
}

int evidb_list(struct evidence_item **out, size_t *count, struct node *n, const char *case_id)
{
	struct evidence_item *items = NULL;
	char detail[64];
	size_t nitems = 0;
	git_oid head;
	int error = begin_read(&head, NULL, n, "evidence.list", case_id, NULL);

	if (error == ERR_PERM)
		return error;
	if (!error)
		error = evidence_read_all(&items, &nitems, n->repo, &head);
	snprintf(detail, sizeof(detail), "%zu items", nitems);
	if (!error)
		error = record(n, "evidence.list", case_id, detail);
	if (error) {
		evidence_items_free(items, nitems);
		return node_audit_failure(n, "evidence.list", case_id, error);
	}
	*out = items;
	*count = nitems;
	return 0;
}

int evidb_show(struct evidence_item *out, struct node *n, const char *case_id, const char *item_id)
{
	char detail[EVIDENCE_ID_MAX + 8];
	git_oid head;
	int error;

	memset(out, 0, sizeof(*out));
	if (!item_id)
		return err_set(ERR_INVALID, "no evidence item named");
	error = begin_read(&head, out, n, "evidence.view", case_id, item_id);
	if (error == ERR_PERM)
		return error;
	snprintf(detail, sizeof(detail), "item %s", item_id);
	if (!error)
		error = record(n, "evidence.view", case_id, detail);
	if (error) {
		evidence_item_release(out);
		return node_audit_failure(n, "evidence.view", case_id, error);
	}
	return 0;
}

struct writer {
	int fd;
	const char *path;
	uint64_t done, total;
	evidb_progress_fn progress;
	void *ctx;
};

static int write_piece(void *ctx, const void *data, size_t len)
{
	struct writer *w = ctx;
	const uint8_t *p = data;
	ssize_t r;

	while (len) {
		r = write(w->fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set_errno(ERR_IO, errno, "cannot write '%s'", w->path);
		p += r;
		len -= (size_t)r;
		w->done += (uint64_t)r;
	}
	if (w->progress)
		w->progress(w->ctx, w->done, w->total);
	return 0;
}

int evidb_get(struct node *n, const char *case_id, const char *item_id, const char *out_path,
	evidb_progress_fn progress, void *ctx)
{
	struct evidence_item it;
	struct writer w = {-1, out_path, 0, 0, progress, ctx};
	struct buf tmp = BUF_INIT(4096);
	char detail[EVIDENCE_ID_MAX + 96];
	struct stat st;
	git_oid head;
	int error, made = 0;

	memset(&it, 0, sizeof(it));
	error = begin_read(&head, &it, n, "evidence.get", case_id, item_id);
	if (error == ERR_PERM)
		return error;
	if (!error && lstat(out_path, &st) == 0)
		error = err_set(ERR_EXISTS, "'%s' already exists", out_path);
	if (!error)
		error = buf_printf(&tmp, "%s.XXXXXX", out_path);
	if (!error) {
		w.fd = mkstemp(tmp.ptr);
		if (w.fd < 0)
			error = err_set_errno(ERR_IO, errno, "cannot create '%s'", out_path);
		made = w.fd >= 0;
	}
	w.total = it.size;
	if (!error)
		error = evidb_stream(n, &head, &it, write_piece, &w);
	if (!error && fsync(w.fd) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot write '%s'", out_path);
	snprintf(detail, sizeof(detail), "item %s sha256 %s", item_id, it.sha256);
	if (!error)
		error = record(n, "evidence.get", case_id, detail);
	if (!error && rename(tmp.ptr, out_path) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot write '%s'", out_path);
	if (w.fd >= 0)
		close(w.fd);
	if (error && made)
		unlink(tmp.ptr);
	buf_release(&tmp);
	evidence_item_release(&it);
	if (error) {
		snprintf(detail, sizeof(detail), "%s", err_msg());
		err_set(error, "item %s: %s", item_id, detail);
		return node_audit_failure(n, "evidence.get", case_id, error);
	}
	return 0;
}

/* ---- custody and verification ----------------------------------------------------------- */

int evidb_custody(char event_out[EVIDENCE_ID_MAX], struct node *n, const char *case_id,
	const char *item_id, const char *action, const char *to, const char *location,
	const char *reason)
{
	struct casefile_author a = {n->user, n->office, n->device, {0, 0}, n->role};
	struct casefile_change chg;
	struct evidence_files f;
	struct evidence_item it;
	char id[EVIDENCE_ID_MAX] = "", detail[AUDIT_DETAIL_MAX], summary[2 * EVIDENCE_ID_MAX + 32];
	git_oid parent, head;
	int error;

	error = node_require(n, NODE_PERM_CASE_WRITE, "evidence.custody", case_id);
	if (error)
		return error;
	memset(&it, 0, sizeof(it));
	memset(&chg, 0, sizeof(chg));
	evidence_files_init(&f);
	error = evidence_check_action(action);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = casedb_head(&parent, n, case_id);
	if (!error)
		error = evidence_read_one(&it, n->repo, &parent, case_id, item_id);
	if (!error)
		error = evidence_check_transition(&it, action);
	if (!error)
		error = node_next_hlc(&a.hlc, n);
	if (!error) {
		evidence_new_id(id, &a);
		error = evidence_build_event(&f, item_id, id, action, it.custodian,
			to && to[0] ? to : n->user, location, reason, &a);
	}
	snprintf(summary, sizeof(summary), "%s of item %s", action, item_id);
	chg.files = f.files;
	chg.nfiles = 1;
	chg.summary = summary;
	if (!error)
		error = casefile_commit(&head, NULL, n->repo, &parent, case_id, &chg, &a,
			"evidence custody");
	if (!error)
		error = casedb_advance(n, case_id, &head);
	snprintf(detail, sizeof(detail), "item %s %s event %s", item_id, action, id);
	if (!error)
		error = node_audit(n, "evidence.custody", case_id, "success", detail);
	if (!error)
		error = store_commit(n->store);
	evidence_files_release(&f);
	evidence_item_release(&it);
	if (error)
		return node_audit_failure(n, "evidence.custody", case_id, error);
	memcpy(event_out, id, sizeof(id));
	return 0;
}

static int discard(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
	return 0;
}

int evidb_verify(uint64_t *nitems_out, uint64_t *bytes_out, struct node *n, const char *case_id,
	const char *item_id)
{
	struct evidence_item *items = NULL;
	char detail[AUDIT_DETAIL_MAX];
	size_t nitems = 0, i, checked = 0;
	uint64_t bytes = 0;
	git_oid head;
	int error = begin_read(&head, NULL, n, "evidence.verify", case_id, NULL);

	if (error == ERR_PERM)
		return error;
	if (!error)
		error = evidence_read_all(&items, &nitems, n->repo, &head);
	if (!error && item_id) {
		for (i = 0; i < nitems && strcmp(items[i].id, item_id); i++)
			;
		if (i == nitems)
			error = err_set(ERR_NOTFOUND, "case '%s' has no evidence item '%s'",
				case_id, item_id);
	}
	for (i = 0; !error && i < nitems; i++) {
		if (item_id && strcmp(items[i].id, item_id))
			continue;
		error = evidb_stream(n, &head, &items[i], discard, NULL);
		checked++;
		bytes += items[i].size;
	}
	if (item_id)
		snprintf(detail, sizeof(detail), "item %s: %zu items, %" PRIu64 " bytes", item_id,
			checked, bytes);
	else
		snprintf(detail, sizeof(detail), "%zu items, %" PRIu64 " bytes", checked, bytes);
	if (!error)
		error = record(n, "evidence.verify", case_id, detail);
	evidence_items_free(items, nitems);
	if (error)
		return node_audit_failure(n, "evidence.verify", case_id, error);
	*nitems_out = checked;
	*bytes_out = bytes;
	return 0;
}
