/* shared/store/odb.c - a libgit2 ODB backend over an SQLCipher table. */
#include "store/odb.h"

#include <stdlib.h>
#include <string.h>

#include <git2/sys/config.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/refdb_backend.h>
#include <git2/sys/repository.h>

#include "base/crypto.h"
#include "store/pack.h"

/*
 * The objects read or written in the current transaction, so that the checks that follow a
 * write (the sync's checks of each received commit, the index's read of the new head) do not
 * look each one up in the table again: at HQ a fifth of the time of a push.  libgit2's own
 * cache stays off (odb_global_init): this one is emptied whenever the transaction changes
 * (store_txn_id), so a rolled-back transaction leaves nothing behind and another process's
 * changes (a purge) are never hidden.  Inside one transaction a savepoint rolled back may
 * leave an object here that the table no longer holds; a read of it returns its bytes, which
 * the id fixes, and exists() always asks the table, so nothing is ever left unwritten.
 */
#define CACHE_BUCKETS 16384
#define CACHE_MAX_BYTES (16u << 20)

struct cached {
	struct cached *next;
	git_oid id;
	git_object_t type;
	size_t len;
	unsigned char data[];
};

struct sql_backend {
	git_odb_backend parent;
	struct store *store;
	sqlite3_stmt *st_read;
	sqlite3_stmt *st_header;
	sqlite3_stmt *st_exists;
	sqlite3_stmt *st_write;
	sqlite3_stmt *st_prefix;
	struct cached *cache[CACHE_BUCKETS];
	size_t cache_bytes, cache_count;
	uint64_t cache_txn;
	/* the last id a read found missing, in transaction cache_txn: the sync looks each
	 * received object up before it writes it, and libgit2's write asks exists() again */
	git_oid missing;
	int has_missing;
};

static void cache_clear(struct sql_backend *b)
{
	size_t i;

	for (i = 0; i < CACHE_BUCKETS && b->cache_count; i++)
		while (b->cache[i]) {
			struct cached *e = b->cache[i];

			b->cache[i] = e->next;
			crypto_wipe(e->data, e->len); /* case text */
			free(e);
			b->cache_count--;
		}
	b->cache_bytes = 0;
}

/* The bucket list of `id`, after emptying the cache if the transaction changed; NULL outside
 * any transaction (nothing is cached then). */
static struct cached **cache_bucket(struct sql_backend *b, const git_oid *id)
{
	uint64_t txn = store_txn_id(b->store);

	if (txn != b->cache_txn) {
		cache_clear(b);
		b->cache_txn = txn;
		b->has_missing = 0;
	}
	if (!txn)
		return NULL;
	return &b->cache[(((unsigned)id->id[0] << 8 | id->id[1]) << 4 | id->id[2] >> 4) %
			 CACHE_BUCKETS];
}

/* `id` was found missing in this transaction, by the last read that missed. */
static int known_missing(struct sql_backend *b, const git_oid *id)
{
	if (!b->has_missing || !cache_bucket(b, id)) /* cache_bucket: still that transaction */
		return 0;
	return b->has_missing && git_oid_equal(&b->missing, id);
}

static const struct cached *cache_find(struct sql_backend *b, const git_oid *id)
{
	struct cached **bucket = cache_bucket(b, id), *e;

	for (e = bucket ? *bucket : NULL; e; e = e->next)
		if (git_oid_equal(&e->id, id))
			return e;
	return NULL;
}

static void cache_add(struct sql_backend *b, const git_oid *id, git_object_t type, const void *data,
	size_t len)
{
	struct cached **bucket = cache_bucket(b, id), *e;

	if (!bucket || b->cache_bytes + len > CACHE_MAX_BYTES || cache_find(b, id))
		return;
	e = malloc(sizeof(*e) + len);
	if (!e)
		return; /* only a cache */
	git_oid_cpy(&e->id, id);
	e->type = type;
	e->len = len;
	if (len)
		memcpy(e->data, data, len);
	e->next = *bucket;
	*bucket = e;
	b->cache_bytes += len;
	b->cache_count++;
}

int odb_git_error(int rc, const char *what)
{
	const git_error *e = git_error_last();

	if (rc == GIT_ENOTFOUND)
		return err_set(ERR_NOTFOUND, "%s: not found", what);
	return err_set(ERR_GENERIC, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

static int sql_fail(struct sql_backend *b, const char *what)
{
	git_error_set_str(GIT_ERROR_ODB, sqlite3_errmsg(store_db(b->store)));
	store_error(b->store, what);
	return -1;
}

static int reset_bind_oid(sqlite3_stmt *st, const git_oid *oid)
{
	sqlite3_reset(st);
	return sqlite3_bind_blob(st, 1, oid->id, GIT_OID_RAWSZ, SQLITE_STATIC);
}

static int copy_data(void **out, size_t *len_out, struct sql_backend *b, sqlite3_stmt *st, int col)
{
	const void *data = sqlite3_column_blob(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);
	void *p = git_odb_backend_data_alloc(&b->parent, len ? len : 1);

	if (!p) {
		git_error_set_oom();
		return -1;
	}
	if (len)
		memcpy(p, data, len);
	*out = p;
	*len_out = len;
	return 0;
}

static int be_read(void **out, size_t *len_out, git_object_t *type_out, git_odb_backend *be,
	const git_oid *oid)
{
	struct sql_backend *b = (struct sql_backend *)be;
	const struct cached *e = cache_find(b, oid);
	int rc, error;

	if (e) {
		void *p = git_odb_backend_data_alloc(&b->parent, e->len ? e->len : 1);

		if (!p) {
			git_error_set_oom();
			return -1;
		}
		memcpy(p, e->data, e->len);
		*out = p;
		*len_out = e->len;
		*type_out = e->type;
		return 0;
	}
	reset_bind_oid(b->st_read, oid);
	rc = sqlite3_step(b->st_read);
	if (rc == SQLITE_DONE)
		error = GIT_ENOTFOUND;
	else if (rc != SQLITE_ROW)
		error = sql_fail(b, "cannot read object");
	else {
		*type_out = (git_object_t)sqlite3_column_int(b->st_read, 0);
		error = copy_data(out, len_out, b, b->st_read, 1);
		if (!error)
			cache_add(b, oid, *type_out, *out, *len_out);
	}
	sqlite3_reset(b->st_read);
	return error;
}

static int be_read_header(size_t *len_out, git_object_t *type_out, git_odb_backend *be,
	const git_oid *oid)
{
	struct sql_backend *b = (struct sql_backend *)be;
	const struct cached *e = cache_find(b, oid);
	int rc, error = 0;

	if (e) {
		*type_out = e->type;
		*len_out = e->len;
		return 0;
	}
	reset_bind_oid(b->st_header, oid);
	rc = sqlite3_step(b->st_header);
	if (rc == SQLITE_DONE) {
		error = GIT_ENOTFOUND;
		/* nothing else writes while this transaction lasts, and a rollback only removes */
		if (store_txn_id(b->store)) {
			git_oid_cpy(&b->missing, oid);
			b->has_missing = 1;
		}
	} else if (rc != SQLITE_ROW)
		error = sql_fail(b, "cannot read object header");
	else {
		*type_out = (git_object_t)sqlite3_column_int(b->st_header, 0);
		*len_out = (size_t)sqlite3_column_int64(b->st_header, 1);
	}
	sqlite3_reset(b->st_header);
	return error;
}

static int be_exists(git_odb_backend *be, const git_oid *oid)
{
	struct sql_backend *b = (struct sql_backend *)be;
	int rc;

	if (known_missing(b, oid))
		return 0;
	reset_bind_oid(b->st_exists, oid);
	rc = sqlite3_step(b->st_exists);
	sqlite3_reset(b->st_exists);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(b, "cannot look up object");
	return rc == SQLITE_ROW;
}

static int be_write(git_odb_backend *be, const git_oid *oid, const void *data, size_t len,
	git_object_t type)
{
	struct sql_backend *b = (struct sql_backend *)be;
	sqlite3_stmt *st = b->st_write;
	int rc;

	if (len > ODB_OBJECT_MAX) {
		git_error_set_str(GIT_ERROR_ODB, "object larger than the limit");
		err_set(ERR_TOOBIG, "object of %zu bytes is larger than the limit of %u", len,
			ODB_OBJECT_MAX);
		return -1;
	}
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, oid->id, GIT_OID_RAWSZ, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)type);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)len);
	sqlite3_bind_blob(st, 4, len ? data : "", (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sql_fail(b, "cannot write object");
	if (b->has_missing && git_oid_equal(&b->missing, oid))
		b->has_missing = 0;
	cache_add(b, oid, type, data, len);
	return 0;
}

int odb_write_known(git_odb *odb, const git_oid *id, const void *data, size_t len,
	git_object_t type)
{
	git_odb_backend *be = NULL;
	git_oid written;
	int rc;

	if (git_odb_num_backends(odb) == 1 && git_odb_get_backend(&be, odb, 0) == 0 &&
		be->write == be_write)
		rc = be_write(be, id, data, len, type);
	else
		rc = git_odb_write(&written, odb, data, len, type);
	return rc < 0 ? odb_git_error(rc, "cannot store a received object") : 0;
}

/* The range of raw ids that start with the first `len` hex digits of `short_id`. */
static void prefix_range(git_oid *lo, git_oid *hi, const git_oid *short_id, size_t len)
{
	size_t i;

	for (i = 0; i < GIT_OID_RAWSZ; i++) {
		size_t bit0 = i * 2; /* hex digit index of this byte's high nibble */
		uint8_t mask;

		if (bit0 + 2 <= len)
			mask = 0xff;
		else if (bit0 + 1 == len)
			mask = 0xf0;
		else
			mask = 0x00;
		lo->id[i] = short_id->id[i] & mask;
		hi->id[i] = (uint8_t)(lo->id[i] | (uint8_t)~mask);
	}
}

static int find_prefix(git_oid *out, struct sql_backend *b, const git_oid *short_id, size_t len)
{
	sqlite3_stmt *st = b->st_prefix;
	git_oid lo, hi;
	int rc, found = 0, error = 0;

	prefix_range(&lo, &hi, short_id, len);
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, lo.id, GIT_OID_RAWSZ, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, hi.id, GIT_OID_RAWSZ, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != GIT_OID_RAWSZ)
			continue;
		if (++found > 1)
			break;
		memcpy(out->id, sqlite3_column_blob(st, 0), GIT_OID_RAWSZ);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		error = sql_fail(b, "cannot search objects");
	else if (found == 0)
		error = GIT_ENOTFOUND;
	else if (found > 1) {
		git_error_set_str(GIT_ERROR_ODB, "ambiguous object id prefix");
		error = GIT_EAMBIGUOUS;
	}
	sqlite3_reset(st);
	return error;
}

static int be_exists_prefix(git_oid *out, git_odb_backend *be, const git_oid *short_id,
	size_t len)
{
	return find_prefix(out, (struct sql_backend *)be, short_id, len);
}

static int be_read_prefix(git_oid *out, void **data_out, size_t *len_out, git_object_t *type_out,
	git_odb_backend *be, const git_oid *short_id, size_t len)
{
	git_oid full;
	int error = find_prefix(&full, (struct sql_backend *)be, short_id, len);

	if (error)
		return error;
	error = be_read(data_out, len_out, type_out, be, &full);
	if (!error)
		git_oid_cpy(out, &full);
	return error;
}

static int be_foreach(git_odb_backend *be, git_odb_foreach_cb cb, void *payload)
{
	struct sql_backend *b = (struct sql_backend *)be;
	sqlite3_stmt *st = NULL;
	git_oid oid;
	int rc, error = 0;

	if (!cb) {
		git_error_set_str(GIT_ERROR_INVALID, "no callback for foreach");
		return -1;
	}
	if (store_prepare(&st, b->store, "SELECT oid FROM objects ORDER BY oid"))
		return sql_fail(b, "cannot list objects");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != GIT_OID_RAWSZ)
			continue;
		memcpy(oid.id, sqlite3_column_blob(st, 0), GIT_OID_RAWSZ);
		error = cb(&oid, payload);
		if (error)
			break;
	}
	if (!error && rc != SQLITE_DONE)
		error = sql_fail(b, "cannot list objects");
	sqlite3_finalize(st);
	return error;
}

/* ---- in-memory writepack: the pack is parsed from memory, never written to a file ------ */

struct mem_writepack {
	git_odb_writepack parent;
	struct sql_backend *backend;
	struct buf pack;
	git_indexer_progress_cb progress_cb;
	void *progress_payload;
	git_indexer_progress stats;
};

static int wp_append(git_odb_writepack *w, const void *data, size_t size,
	git_indexer_progress *stats)
{
	struct mem_writepack *wp = (struct mem_writepack *)w;

	if (buf_put(&wp->pack, data, size)) {
		git_error_set_str(GIT_ERROR_ODB, err_msg());
		return -1;
	}
	wp->stats.received_bytes = wp->pack.len;
	if (stats)
		*stats = wp->stats;
	return 0;
}

static int wp_store_object(void *payload, git_object_t type, const void *data, size_t len)
{
	struct mem_writepack *wp = payload;
	git_oid oid;
	int exists;

	if (git_odb_hash(&oid, data, len, type) < 0)
		return err_set(ERR_INVALID, "cannot hash a pack object");
	exists = be_exists(&wp->backend->parent, &oid);
	if (exists < 0)
		return ERR_GENERIC;
	if (!exists && be_write(&wp->backend->parent, &oid, data, len, type) < 0)
		return ERR_GENERIC;
	wp->stats.indexed_objects++;
	wp->stats.received_objects++;
	if (wp->progress_cb && wp->progress_cb(&wp->stats, wp->progress_payload))
		return err_set(ERR_GENERIC, "pack ingest cancelled");
	return 0;
}

static int wp_commit(git_odb_writepack *w, git_indexer_progress *stats)
{
	struct mem_writepack *wp = (struct mem_writepack *)w;
	int error;

	error = pack_parse((const uint8_t *)wp->pack.ptr, wp->pack.len, wp_store_object, wp);
	if (stats)
		*stats = wp->stats;
	if (error) {
		git_error_set_str(GIT_ERROR_ODB, err_msg());
		return -1;
	}
	return 0;
}

static void wp_free(git_odb_writepack *w)
{
	struct mem_writepack *wp = (struct mem_writepack *)w;

	if (!wp)
		return;
	buf_wipe_release(&wp->pack);
	free(wp);
}

static int be_writepack(git_odb_writepack **out, git_odb_backend *be, git_odb *odb,
	git_indexer_progress_cb progress_cb, void *progress_payload)
{
	struct mem_writepack *wp = calloc(1, sizeof(*wp));

	(void)odb;
	if (!wp) {
		git_error_set_oom();
		return -1;
	}
	wp->parent.backend = be;
	wp->parent.append = wp_append;
	wp->parent.commit = wp_commit;
	wp->parent.free = wp_free;
	wp->backend = (struct sql_backend *)be;
	buf_init(&wp->pack, ODB_PACK_MAX);
	wp->progress_cb = progress_cb;
	wp->progress_payload = progress_payload;
	*out = &wp->parent;
	return 0;
}

static void be_free(git_odb_backend *be)
{
	struct sql_backend *b = (struct sql_backend *)be;

	if (!b)
		return;
	sqlite3_finalize(b->st_read);
	sqlite3_finalize(b->st_header);
	sqlite3_finalize(b->st_exists);
	sqlite3_finalize(b->st_write);
	sqlite3_finalize(b->st_prefix);
	cache_clear(b);
	free(b);
}

int odb_backend_new(git_odb_backend **out, struct store *store)
{
	struct sql_backend *b = calloc(1, sizeof(*b));
	int error;

	if (!b)
		return err_set(ERR_NOMEM, "out of memory");
	git_odb_init_backend(&b->parent, GIT_ODB_BACKEND_VERSION);
	b->store = store;
	error = store_prepare(&b->st_read, store, "SELECT type, data FROM objects WHERE oid = ?");
	if (!error)
		error = store_prepare(&b->st_header, store,
			"SELECT type, size FROM objects WHERE oid = ?");
	if (!error)
		error = store_prepare(&b->st_exists, store, "SELECT 1 FROM objects WHERE oid = ?");
	if (!error)
		error = store_prepare(&b->st_write, store,
			"INSERT OR IGNORE INTO objects(oid, type, size, data) VALUES (?, ?, ?, ?)");
	if (!error)
		error = store_prepare(&b->st_prefix, store,
			"SELECT oid FROM objects WHERE oid BETWEEN ? AND ? LIMIT 2");
	if (error) {
		be_free(&b->parent);
		return error;
	}
	b->parent.read = be_read;
	b->parent.read_header = be_read_header;
	b->parent.read_prefix = be_read_prefix;
	b->parent.write = be_write;
	b->parent.exists = be_exists;
	b->parent.exists_prefix = be_exists_prefix;
	b->parent.foreach = be_foreach;
	b->parent.writepack = be_writepack;
	b->parent.free = be_free;
	*out = &b->parent;
	return 0;
}

int odb_global_init(void)
{
	static int done;
	int rc;

	if (done)
		return 0;
	rc = git_libgit2_init();
	if (rc < 0)
		return odb_git_error(rc, "cannot initialise libgit2");
	/*
	 * No object cache at all (it is 256 MiB by default): it does not know about SQL
	 * transactions, so a commit or tree read inside one that is rolled back would stay
	 * visible to git_*_lookup() afterwards.  Reads come from SQLite's page cache instead.
	 */
	git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 0);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1);
	done = 1;
	return 0;
}

int odb_repository_open(git_repository **out, struct store *store)
{
	git_repository *repo = NULL;
	git_odb_backend *backend = NULL;
	git_odb *odb = NULL;
	git_refdb *refdb = NULL;
	git_config *config = NULL;
	int rc, error;

	error = odb_global_init();
	if (error)
		return error;
	error = odb_backend_new(&backend, store);
	if (error)
		return error;
	rc = git_odb_new(&odb);
	if (rc < 0)
		goto git_fail;
	rc = git_odb_add_backend(odb, backend, 1);
	if (rc < 0)
		goto git_fail;
	backend = NULL; /* owned by the odb now */
	rc = git_repository_new(&repo);
	if (rc < 0)
		goto git_fail;
	git_repository_set_odb(repo, odb);
	/* Without an explicit refdb, ref calls would write HEAD and refs/ into the cwd. */
	rc = git_refdb_new(&refdb, repo);
	if (rc < 0)
		goto git_fail;
	git_repository_set_refdb(repo, refdb);
	/* Without an explicit config, merges would read ~/.gitconfig. */
	rc = git_config_new(&config);
	if (rc < 0)
		goto git_fail;
	git_repository_set_config(repo, config);
	*out = repo;
	repo = NULL;
	goto out;
git_fail:
	error = odb_git_error(rc, "cannot set up the object database");
out:
	if (backend)
		backend->free(backend);
	git_config_free(config);
	git_refdb_free(refdb);
	git_odb_free(odb);
	git_repository_free(repo);
	return error;
}
