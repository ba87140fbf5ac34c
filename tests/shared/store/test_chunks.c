/* tests/shared/store/test_chunks.c - the evidence chunk store and its wire form. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "store/chunks.h"

#define MARKER "CHUNK-MARKER-91c3-plaintext-must-not-leak"

static struct store *evidence_db(struct store *s)
{
	struct store *e = NULL;

	TU_OK(store_evidence(&e, s));
	return e;
}

static void test_put_get_dedup(void **state)
{
	char *dir = NULL;
	struct store *s = tu_store_new(&dir);
	struct buf out = BUF_INIT(CHUNKS_SIZE);
	uint8_t h1[CHUNKS_HASH_LEN], h2[CHUNKS_HASH_LEN], want[CHUNKS_HASH_LEN];
	char *data = malloc(CHUNKS_SIZE);
	int added = -1;

	(void)state;
	assert_non_null(data);
	memset(data, 'x', CHUNKS_SIZE);
	memcpy(data + 5000, MARKER, strlen(MARKER));
	TU_OK(chunks_put(h1, &added, s, data, CHUNKS_SIZE, CHUNKS_STORED));
	assert_int_equal(added, 1);
	crypto_sha256(want, data, CHUNKS_SIZE);
	assert_memory_equal(h1, want, sizeof(want));
	/* the same bytes again: one row, the state moves up, never down */
	TU_OK(chunks_put(h2, &added, s, data, CHUNKS_SIZE, CHUNKS_HELD));
	assert_int_equal(added, 0);
	TU_OK(chunks_put(h2, &added, s, data, CHUNKS_SIZE, CHUNKS_STORED));
	assert_int_equal(tu_sql_int(evidence_db(s), "SELECT count(*) FROM chunks"), 1);
	assert_int_equal(tu_sql_int(s, "SELECT state FROM evidence_chunk_state"), CHUNKS_HELD);
	assert_int_equal(chunks_has(s, h1), 1);
	TU_OK(chunks_get(&out, s, h1));
	assert_int_equal(out.len, CHUNKS_SIZE);
	assert_memory_equal(out.ptr, data, CHUNKS_SIZE);
	/* an empty chunk and an unknown one */
	TU_OK(chunks_put(h2, NULL, s, NULL, 0, CHUNKS_STORED));
	crypto_sha256(want, "", 0);
	assert_memory_equal(h2, want, sizeof(want));
	want[0] ^= 0xff;
	assert_int_equal(chunks_has(s, want), 0);
	assert_int_equal(chunks_get(&out, s, want), ERR_NOTFOUND);
	/* over the size limit */
	assert_int_equal(chunks_put(h2, NULL, s, data, CHUNKS_SIZE + 1, CHUNKS_STORED), ERR_TOOBIG);
	/* the marker is nowhere on disk in clear, and the bytes are in the evidence database */
	assert_false(tu_file_contains(store_path(s), MARKER, strlen(MARKER)));
	assert_false(tu_file_contains(store_path(evidence_db(s)), MARKER, strlen(MARKER)));
	assert_int_equal(tu_sql_int(evidence_db(s), "PRAGMA page_size"), STORE_EVIDENCE_PAGE);
	buf_release(&out);
	free(data);
	tu_store_done(s, dir);
}

static void test_altered_chunk_detected(void **state)
{
	char *dir = NULL;
	struct store *s = tu_store_new(&dir);
	struct buf out = BUF_INIT(CHUNKS_SIZE);
	uint8_t h[CHUNKS_HASH_LEN];
	int64_t count = 0, bytes = 0;

	(void)state;
	TU_OK(chunks_put(h, NULL, s, "evidence bytes", 14, CHUNKS_STORED));
	TU_OK(chunks_check(&count, &bytes, s));
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 14);
	TU_OK(store_run(evidence_db(s), "UPDATE chunks SET data = ?", "b", "evidence bytez",
		(size_t)14));
	assert_int_equal(chunks_get(&out, s, h), ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), "does not match"));
	assert_int_equal(chunks_check(&count, &bytes, s), ERR_CORRUPT);
	buf_release(&out);
	tu_store_done(s, dir);
}

/* Bytes listed in the store but gone from the evidence database: `check` names the chunk. */
static void test_missing_bytes_detected(void **state)
{
	char *dir = NULL;
	struct store *s = tu_store_new(&dir);
	uint8_t h[CHUNKS_HASH_LEN];
	int64_t count = 0, bytes = 0;

	(void)state;
	TU_OK(chunks_put(h, NULL, s, "listed bytes", 12, CHUNKS_STORED));
	TU_OK(store_run(evidence_db(s), "DELETE FROM chunks", ""));
	assert_int_equal(chunks_check(&count, &bytes, s), ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), "bytes are missing"));
	tu_store_done(s, dir);
}

/*
 * The order of the two commits: a chunk put in a transaction that rolls back leaves nothing;
 * bytes committed without their state row (a crash between the two commits) are invisible,
 * accepted by check, replaced by the next put of the same chunk and removed by a sweep.
 */
static void test_two_databases(void **state)
{
	char *dir = NULL;
	struct store *s = tu_store_new(&dir);
	struct buf out = BUF_INIT(CHUNKS_SIZE);
	uint8_t h[CHUNKS_HASH_LEN], orphan[CHUNKS_HASH_LEN];
	int64_t count = 0, bytes = 0, removed = 0;

	(void)state;
	TU_OK(store_begin(s));
	TU_OK(chunks_put(h, NULL, s, "rolled back", 11, CHUNKS_STORED));
	store_rollback(s);
	assert_int_equal(tu_sql_int(evidence_db(s), "SELECT count(*) FROM chunks"), 0);
	assert_int_equal(chunks_has(s, h), 0);
	/* a chunk that stays, and the orphan a crash would leave */
	TU_OK(chunks_put(h, NULL, s, "kept", 4, CHUNKS_HELD));
	crypto_sha256(orphan, "orphan", 6);
	TU_OK(store_run(evidence_db(s), "INSERT INTO chunks(hash, size, data) VALUES (?, 5, ?)",
		"bb", orphan, sizeof(orphan), "wrong", (size_t)5));
	assert_int_equal(chunks_has(s, orphan), 0);
	assert_int_equal(chunks_get(&out, s, orphan), ERR_CORRUPT); /* bytes not its own */
	TU_OK(chunks_check(&count, &bytes, s));
	assert_int_equal(count, 1);
	TU_OK(chunks_sweep(&removed, s));
	assert_int_equal(removed, 1);
	assert_int_equal(tu_sql_int(evidence_db(s), "SELECT count(*) FROM chunks"), 1);
	TU_OK(chunks_get(&out, s, h));
	/* an orphan with the same hash as a new chunk is replaced by its true bytes */
	TU_OK(store_run(evidence_db(s), "INSERT INTO chunks(hash, size, data) VALUES (?, 5, ?)",
		"bb", orphan, sizeof(orphan), "wrong", (size_t)5));
	TU_OK(chunks_put(orphan, NULL, s, "orphan", 6, CHUNKS_STORED));
	TU_OK(chunks_get(&out, s, orphan));
	assert_memory_equal(out.ptr, "orphan", 6);
	buf_release(&out);
	tu_store_done(s, dir);
}

/*
 * A store of schema 9 kept chunk bytes in its own table evidence_chunks: opening it moves
 * them into a new evidence database (under a new key the store keeps) and drops the table.
 * A copy cut short earlier left a file, which is replaced.
 */
static void test_migration_from_schema_9(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN], h[CHUNKS_HASH_LEN];
	char *dir = tu_tmpdir(), *path = tu_path(dir, "old.db"), *ev = store_evidence_path(path);
	struct buf out = BUF_INIT(CHUNKS_SIZE), k = BUF_INIT(64);
	struct store *s = NULL;
	int64_t count = 0, bytes = 0;
	FILE *f;

	(void)state;
	TU_OK(crypto_random(key, sizeof(key)));
	TU_OK(store_open(&s, path, key, STORE_CREATE));
	/* back to schema 9: the chunk table, one chunk listed, no evidence database */
	crypto_sha256(h, MARKER, strlen(MARKER));
	TU_OK(store_exec(s, "CREATE TABLE evidence_chunks (id INTEGER PRIMARY KEY, hash BLOB NOT "
			    "NULL UNIQUE, size INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
			    " data BLOB NOT NULL);"
			    "PRAGMA user_version = 9"));
	TU_OK(store_run(s, "INSERT INTO evidence_chunks(hash, size, data) VALUES (?, ?, ?)", "bib",
		h, sizeof(h), (int64_t)strlen(MARKER), MARKER, strlen(MARKER)));
	TU_OK(store_run(s, "INSERT INTO evidence_chunk_state(hash, state) VALUES (?, 2)", "b", h,
		sizeof(h)));
	TU_OK(store_material_del(s, STORE_EVIDENCE_KEY));
	store_free(s);
	s = NULL;
	f = fopen(ev, "w"); /* what a migration killed half-way leaves */
	assert_non_null(f);
	fputs("half a copy", f);
	fclose(f);

	TU_OK(store_open(&s, path, key, 0));
	assert_int_equal(tu_sql_int(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(tu_sql_int(s, "SELECT count(*) FROM sqlite_master WHERE name = "
				       "'evidence_chunks'"),
		0);
	TU_OK(store_material_get(&k, s, STORE_EVIDENCE_KEY));
	assert_int_equal(k.len, CRYPTO_KEY_LEN);
	assert_int_equal(chunks_has(s, h), 1);
	TU_OK(chunks_get(&out, s, h));
	assert_memory_equal(out.ptr, MARKER, strlen(MARKER));
	TU_OK(chunks_check(&count, &bytes, s));
	assert_int_equal(count, 1);
	assert_false(tu_file_contains(ev, MARKER, strlen(MARKER)));
	store_free(s);
	crypto_wipe(key, sizeof(key));
	buf_wipe_release(&k);
	buf_release(&out);
	free(ev);
	free(path);
	tu_rmrf(dir);
	free(dir);
}

/*
 * The evidence database's own key rotation, and a rotation cut short after the re-encryption
 * (the new key only under ".next"): the store still opens its evidence by that key, and the
 * next rotation makes a key of its own the key again.
 */
static void test_evidence_rekey_cut_short(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN], next[CRYPTO_KEY_LEN], h[CHUNKS_HASH_LEN];
	char *dir = tu_tmpdir(), *path = tu_path(dir, "rk.db");
	char lit[STORE_KEY_LITERAL_LEN];
	struct buf out = BUF_INIT(CHUNKS_SIZE), k0 = BUF_INIT(64), k1 = BUF_INIT(64);
	struct store *s = NULL;
	int64_t pages = 0;

	(void)state;
	TU_OK(crypto_random(key, sizeof(key)));
	TU_OK(store_open(&s, path, key, STORE_CREATE));
	TU_OK(chunks_put(h, NULL, s, MARKER, strlen(MARKER), CHUNKS_HELD));
	TU_OK(store_material_get(&k0, s, STORE_EVIDENCE_KEY));
	TU_OK(store_evidence_rekey(&pages, s));
	assert_true(pages > 0);
	TU_OK(store_material_get(&k1, s, STORE_EVIDENCE_KEY));
	assert_false(k0.len == k1.len && !memcmp(k0.ptr, k1.ptr, k0.len));
	assert_int_equal(store_material_get(&out, s, STORE_EVIDENCE_KEY ".next"), ERR_NOTFOUND);
	/* cut short: the file re-encrypted under a key that is only ".next" */
	TU_OK(crypto_random(next, sizeof(next)));
	TU_OK(store_material_put(s, STORE_EVIDENCE_KEY ".next", next, sizeof(next)));
	store_key_literal(lit, next);
	assert_int_equal(sqlite3_rekey(store_db(evidence_db(s)), lit, (int)strlen(lit)), SQLITE_OK);
	store_free(s);
	s = NULL;
	TU_OK(store_open(&s, path, key, 0));
	TU_OK(chunks_get(&out, s, h));
	assert_memory_equal(out.ptr, MARKER, strlen(MARKER));
	TU_OK(store_evidence_rekey(&pages, s));
	assert_int_equal(store_material_get(&out, s, STORE_EVIDENCE_KEY ".next"), ERR_NOTFOUND);
	store_free(s);
	s = NULL;
	TU_OK(store_open(&s, path, key, 0));
	TU_OK(chunks_get(&out, s, h));
	assert_memory_equal(out.ptr, MARKER, strlen(MARKER));
	store_free(s);
	crypto_wipe(key, sizeof(key));
	crypto_wipe(next, sizeof(next));
	crypto_wipe(lit, sizeof(lit));
	buf_release(&out);
	buf_wipe_release(&k0);
	buf_wipe_release(&k1);
	free(path);
	tu_rmrf(dir);
	free(dir);
}

static int collect(void *ctx, const uint8_t hash[CHUNKS_HASH_LEN])
{
	(void)hash;
	(*(int *)ctx)++;
	return 0;
}

static void test_states(void **state)
{
	char *dir = NULL;
	struct store *s = tu_store_new(&dir);
	uint8_t h[3][CHUNKS_HASH_LEN];
	int n = 0;

	(void)state;
	TU_OK(chunks_put(h[0], NULL, s, "a", 1, CHUNKS_STORED));
	TU_OK(chunks_put(h[1], NULL, s, "b", 1, CHUNKS_STORED));
	TU_OK(chunks_put(h[2], NULL, s, "c", 1, CHUNKS_HELD));
	TU_OK(chunks_raise(s, h[0], CHUNKS_PENDING));
	TU_OK(chunks_raise(s, h[2], CHUNKS_PENDING)); /* never down */
	TU_OK(chunks_foreach_state(s, CHUNKS_PENDING, NULL, 10, collect, &n));
	assert_int_equal(n, 1);
	n = 0;
	TU_OK(chunks_foreach_state(s, CHUNKS_HELD, NULL, 10, collect, &n));
	assert_int_equal(n, 1);
	tu_store_done(s, dir);
}

static void test_wire(void **state)
{
	struct buf b = BUF_INIT(1024);
	uint8_t h1[CHUNKS_HASH_LEN] = {1}, h2[CHUNKS_HASH_LEN] = {2};
	const uint8_t *p, *hash, *data;
	size_t left, len;

	(void)state;
	TU_OK(chunks_wire_put(&b, h1, "abc", 3));
	TU_OK(chunks_wire_put(&b, h2, NULL, 0));
	p = (const uint8_t *)b.ptr;
	left = b.len;
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), 1);
	assert_memory_equal(hash, h1, CHUNKS_HASH_LEN);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "abc", 3);
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), 1);
	assert_int_equal(len, 0);
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), 0);
	/* truncated, and a length over the limit */
	p = (const uint8_t *)b.ptr;
	left = CHUNKS_WIRE_HEADER + 2;
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), ERR_INVALID);
	b.ptr[CHUNKS_HASH_LEN] = 0x7f;
	p = (const uint8_t *)b.ptr;
	left = b.len;
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), ERR_INVALID);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_dedup),
		cmocka_unit_test(test_altered_chunk_detected),
		cmocka_unit_test(test_missing_bytes_detected),
		cmocka_unit_test(test_two_databases),
		cmocka_unit_test(test_migration_from_schema_9),
		cmocka_unit_test(test_evidence_rekey_cut_short),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
