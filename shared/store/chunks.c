/* shared/store/chunks.c - evidence chunks in the encrypted database (see chunks.h). */
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
	int has, error;

	if (len > CHUNKS_SIZE)
		return err_set(ERR_TOOBIG, "a chunk of %zu bytes is over the %u-byte limit", len,
			CHUNKS_SIZE);
	crypto_sha256(hash, data ? data : "", len);
	has = chunks_has(s, hash);
	if (has < 0)
		return has;
	if (has) {
		error = chunks_raise(s, hash, state);
	} else {
		error = store_run(s,
			"INSERT INTO evidence_chunks(hash, size, data) VALUES (?1, ?2, ?3)", "bib",
			hash, (size_t)CHUNKS_HASH_LEN, (int64_t)len, data ? data : "", len);
		if (!error)
			error = store_run(s,
				"INSERT INTO evidence_chunk_state(hash, state) VALUES (?1, ?2)",
				"bi", hash, (size_t)CHUNKS_HASH_LEN, (int64_t)state);
	}
	if (error)
		return error;
	memcpy(hash_out, hash, sizeof(hash));
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
	int error;

	buf_reset(out);
	error = store_query_bytes(out, s, "SELECT data FROM evidence_chunks WHERE hash = ?", "b",
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
		"UPDATE evidence_chunk_state SET state = ?2 WHERE hash = ?1 AND state < ?2", "bi",
		hash, (size_t)CHUNKS_HASH_LEN, (int64_t)state);
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

int chunks_check(int64_t *count, int64_t *bytes, struct store *s)
{
	sqlite3_stmt *st = NULL;
	uint8_t got[CHUNKS_HASH_LEN];
	char hex[2 * CHUNKS_HASH_LEN + 1];
	int error;

	*count = 0;
	*bytes = 0;
	error = store_prepare(&st, s, "SELECT hash, size, data FROM evidence_chunks ORDER BY id");
	while (!error && (error = store_next(s, st)) > 0) {
		const void *data = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);

		error = 0;
		if (sqlite3_column_bytes(st, 0) != CHUNKS_HASH_LEN) {
			error = err_set(ERR_CORRUPT, "a stored chunk has a malformed hash");
			break;
		}
		hex_of(hex, sqlite3_column_blob(st, 0));
		crypto_sha256(got, data ? data : "", len);
		if (!crypto_equal(got, sqlite3_column_blob(st, 0), CHUNKS_HASH_LEN) ||
			(size_t)sqlite3_column_int64(st, 1) != len) {
			error = err_set(ERR_CORRUPT, "chunk %s does not match its content", hex);
			break;
		}
		(*count)++;
		*bytes += (int64_t)len;
	}
	sqlite3_finalize(st);
	return error;
}

void chunks_stream_cache(struct store *s)
{
	/* 4 MiB: large blobs pass through overflow pages that are never read again */
	if (store_exec(s, "PRAGMA cache_size = -4096"))
		err_clear(); /* a larger cache only costs memory */
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
