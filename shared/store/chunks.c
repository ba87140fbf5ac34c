/* shared/store/chunks.c - evidence chunks: bytes in the evidence database, state in the store
 * (see chunks.h). */
#include "store/chunks.h"

#include <string.h>

static void hex_of(char out[2 * CHUNKS_HASH_LEN + 1], const uint8_t hash[CHUNKS_HASH_LEN])
{
	crypto_hex(out, hash, CHUNKS_HASH_LEN);
}

int chunks_put(uint8_t hash_out[CHUNKS_HASH_LEN], int *added, struct store *s, const void *data,
	size_t len, enum chunks_state state)
{
	uint8_t hash[CHUNKS_HASH_LEN];

	if (len > CHUNKS_SIZE) /* before the hash reads `len` bytes */
		return err_set(ERR_TOOBIG, "a chunk of %zu bytes is over the %u-byte limit", len,
			CHUNKS_SIZE);
	crypto_sha256(hash, data ? data : "", len);
	return chunks_put_known(hash_out, added, s, hash, data, len, state);
}

int chunks_put_known(uint8_t hash_out[CHUNKS_HASH_LEN], int *added, struct store *s,
	const uint8_t hash[CHUNKS_HASH_LEN], const void *data, size_t len, enum chunks_state state)
{
	int has, error, own = sqlite3_get_autocommit(store_db(s));

	if (len > CHUNKS_SIZE)
		return err_set(ERR_TOOBIG, "a chunk of %zu bytes is over the %u-byte limit", len,
			CHUNKS_SIZE);
	if (own) { /* no transaction of the caller's: one of its own */
		error = store_begin(s);
		if (!error)
			error = chunks_put_known(hash_out, added, s, hash, data, len, state);
		if (!error)
			error = store_commit(s);
		if (error)
			store_rollback(s);
		return error;
	}
	has = chunks_has(s, hash);
	if (has < 0)
		return has;
	if (has) {
		error = chunks_raise(s, hash, state);
	} else {
		struct store *e = NULL;

		/* REPLACE: bytes a crash left unlisted may be there already */
		error = store_evidence_write(&e, s);
		if (!error)
			error = store_run(e,
				"INSERT OR REPLACE INTO chunks(hash, size, data) VALUES (?1, ?2, ?3)",
				"bib", hash, (size_t)CHUNKS_HASH_LEN, (int64_t)len,
				data ? data : "", len);
		if (!error)
			error = store_run(s,
				"INSERT INTO evidence_chunk_state(hash, state) VALUES (?1, ?2)",
				"bi", hash, (size_t)CHUNKS_HASH_LEN, (int64_t)state);
	}
	if (error)
		return error;
	memcpy(hash_out, hash, CHUNKS_HASH_LEN);
	if (added)
		*added = !has;
	return 0;
}

int chunks_has(struct store *s, const uint8_t hash[CHUNKS_HASH_LEN])
{
	int64_t n = 0;
	int error = store_query_int64(&n, s,
		"SELECT count(*) FROM evidence_chunk_state WHERE hash = ?", "b", hash,
		(size_t)CHUNKS_HASH_LEN);

	return error ? error : n > 0;
}

int chunks_get(struct buf *out, struct store *s, const uint8_t hash[CHUNKS_HASH_LEN])
{
	uint8_t got[CHUNKS_HASH_LEN];
	char hex[2 * CHUNKS_HASH_LEN + 1];
	struct store *e = NULL;
	int error;

	buf_reset(out);
	error = store_evidence(&e, s);
	if (!error)
		error = store_query_bytes(out, e, "SELECT data FROM chunks WHERE hash = ?", "b",
			hash, (size_t)CHUNKS_HASH_LEN);
	hex_of(hex, hash);
	if (error == ERR_NOTFOUND)
		return err_set(ERR_NOTFOUND, "chunk %s is not in this store", hex);
	if (error == ERR_TOOBIG)
		return err_set(ERR_CORRUPT, "chunk %s is larger than a chunk", hex);
	if (error)
		return error;
	crypto_sha256(got, out->ptr ? out->ptr : "", out->len);
	if (!crypto_equal(got, hash, CHUNKS_HASH_LEN))
		return err_set(ERR_CORRUPT, "chunk %s does not match its content", hex);
	return 0;
}

int chunks_raise(struct store *s, const uint8_t hash[CHUNKS_HASH_LEN], enum chunks_state state)
{
	return store_run(s,
		"UPDATE OR FAIL evidence_chunk_state SET state = ?2 WHERE hash = ?1 AND state < ?2",
		"bi", hash, (size_t)CHUNKS_HASH_LEN, (int64_t)state);
}

int chunks_foreach_state(struct store *s, enum chunks_state state,
	const uint8_t after[CHUNKS_HASH_LEN], size_t max,
	int (*fn)(void *ctx, const uint8_t hash[CHUNKS_HASH_LEN]), void *ctx)
{
	static const uint8_t zero[1] = {0};
	sqlite3_stmt *st = NULL;
	int error;

	error = store_bind(&st, s,
		"SELECT hash FROM evidence_chunk_state WHERE state = ?1 AND hash > ?2 ORDER BY hash"
		"  LIMIT ?3",
		"ibi", (int64_t)state, after ? after : zero, after ? (size_t)CHUNKS_HASH_LEN : 0,
		(int64_t)max);
	while (!error && (error = store_next(s, st)) > 0) {
		if (sqlite3_column_bytes(st, 0) != CHUNKS_HASH_LEN) {
			error = err_set(ERR_CORRUPT, "a stored chunk has a malformed hash");
			break;
		}
		error = fn(ctx, sqlite3_column_blob(st, 0));
	}
	sqlite3_finalize(st);
	return error;
}

/* Re-hash the bytes of one listed chunk (st: the evidence database's lookup by hash). */
static int check_one(int64_t *len_out, struct store *e, sqlite3_stmt *st, const uint8_t *hash)
{
	uint8_t got[CHUNKS_HASH_LEN];
	char hex[2 * CHUNKS_HASH_LEN + 1];
	int rc, error = 0;

	hex_of(hex, hash);
	sqlite3_reset(st);
	if (sqlite3_bind_blob(st, 1, hash, CHUNKS_HASH_LEN, SQLITE_STATIC) != SQLITE_OK)
		return store_error(e, "cannot look up a chunk");
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(ERR_CORRUPT, "chunk %s is listed but its bytes are missing", hex);
	if (rc != SQLITE_ROW)
		return store_error(e, "cannot read a chunk");
	*len_out = sqlite3_column_bytes(st, 1);
	crypto_sha256(got, sqlite3_column_blob(st, 1) ? sqlite3_column_blob(st, 1) : "",
		(size_t)*len_out);
	if (!crypto_equal(got, hash, CHUNKS_HASH_LEN) || sqlite3_column_int64(st, 0) != *len_out)
		error = err_set(ERR_CORRUPT, "chunk %s does not match its content", hex);
	return error;
}

int chunks_check(int64_t *count, int64_t *bytes, struct store *s)
{
	sqlite3_stmt *st = NULL, *get = NULL;
	struct store *e = NULL;
	int64_t len = 0;
	int error;

	*count = 0;
	*bytes = 0;
	error = store_evidence(&e, s);
	if (!error)
		error = store_prepare(&get, e, "SELECT size, data FROM chunks WHERE hash = ?");
	if (!error)
		error = store_prepare(&st, s,
			"SELECT hash FROM evidence_chunk_state ORDER BY hash");
	while (!error && (error = store_next(s, st)) > 0) {
		error = 0;
		if (sqlite3_column_bytes(st, 0) != CHUNKS_HASH_LEN) {
			error = err_set(ERR_CORRUPT, "a stored chunk has a malformed hash");
			break;
		}
		error = check_one(&len, e, get, sqlite3_column_blob(st, 0));
		if (error)
			break;
		(*count)++;
		*bytes += len;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(get);
	return error;
}

int chunks_sweep(int64_t *removed, struct store *s)
{
	struct buf gone = BUF_INIT((size_t)1 << 30); /* the row id of each chunk nothing lists */
	sqlite3_stmt *st = NULL;
	struct store *e = NULL;
	size_t i;
	int64_t id;
	int error, has;

	*removed = 0;
	error = store_begin(s);
	if (!error)
		error = store_evidence_write(&e, s);
	if (!error)
		error = store_prepare(&st, e, "SELECT id, hash FROM chunks");
	while (!error && (error = store_next(e, st)) > 0) {
		error = 0;
		has = sqlite3_column_bytes(st, 1) == CHUNKS_HASH_LEN
			      ? chunks_has(s, sqlite3_column_blob(st, 1))
			      : 0;
		id = sqlite3_column_int64(st, 0);
		if (has < 0)
			error = has;
		else if (!has)
			error = buf_put(&gone, &id, sizeof(id));
	}
	sqlite3_finalize(st);
	/* deleted once the walk is over, not under a statement reading the same table */
	for (i = 0; !error && i + sizeof(id) <= gone.len; i += sizeof(id)) {
		memcpy(&id, gone.ptr + i, sizeof(id));
		error = store_run(e, "DELETE FROM chunks WHERE id = ?", "i", id);
		(*removed)++;
	}
	if (!error)
		error = store_run(s, "DELETE FROM node_meta WHERE key = ?", "t", CHUNKS_SWEEP_KEY);
	if (!error)
		error = store_commit(s);
	if (error)
		store_rollback(s);
	buf_release(&gone);
	return error; /* secure_delete zeroed the pages; the truncated journal keeps none */
}

int chunks_wire_put(struct buf *out, const uint8_t hash[CHUNKS_HASH_LEN], const void *data,
	size_t len)
{
	uint8_t head[CHUNKS_WIRE_HEADER];
	int error;

	if (len > CHUNKS_SIZE)
		return err_set(ERR_TOOBIG, "a chunk of %zu bytes is over the limit", len);
	memcpy(head, hash, CHUNKS_HASH_LEN);
	head[CHUNKS_HASH_LEN] = (uint8_t)(len >> 24);
	head[CHUNKS_HASH_LEN + 1] = (uint8_t)(len >> 16);
	head[CHUNKS_HASH_LEN + 2] = (uint8_t)(len >> 8);
	head[CHUNKS_HASH_LEN + 3] = (uint8_t)len;
	error = buf_put(out, head, sizeof(head));
	if (!error && len)
		error = buf_put(out, data, len);
	return error;
}

int chunks_wire_next(const uint8_t **hash, const uint8_t **data, size_t *len, const uint8_t **p,
	size_t *left)
{
	size_t n;

	if (*left == 0)
		return 0;
	if (*left < CHUNKS_WIRE_HEADER)
		return err_set(ERR_INVALID, "a chunk record is truncated");
	n = ((size_t)(*p)[CHUNKS_HASH_LEN] << 24) | ((size_t)(*p)[CHUNKS_HASH_LEN + 1] << 16) |
	    ((size_t)(*p)[CHUNKS_HASH_LEN + 2] << 8) | (size_t)(*p)[CHUNKS_HASH_LEN + 3];
	if (n > CHUNKS_SIZE)
		return err_set(ERR_INVALID, "a chunk record is over the %u-byte limit",
			CHUNKS_SIZE);
	if (*left - CHUNKS_WIRE_HEADER < n)
		return err_set(ERR_INVALID, "a chunk record is truncated");
	*hash = *p;
	*data = *p + CHUNKS_WIRE_HEADER;
	*len = n;
	*p += CHUNKS_WIRE_HEADER + n;
	*left -= CHUNKS_WIRE_HEADER + n;
	return 1;
}
