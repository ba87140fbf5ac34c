/* tests/shared/store/test_store.c - the encrypted SQLCipher database. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "store/store.h"

#define MARKER "MARKER-7f3a9c-plaintext-must-not-leak"
#define SQLITE_MAGIC "SQLite format 3"

struct fixture {
	char *dir;
	char *path;
	char *wal;
	uint8_t key[CRYPTO_KEY_LEN];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->dir = tu_tmpdir();
	fx->path = tu_path(fx->dir, "node.db");
	fx->wal = tu_path(fx->dir, "node.db-wal");
	TU_OK(crypto_random(fx->key, sizeof(fx->key)));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	tu_rmrf(fx->dir);
	free(fx->dir);
	free(fx->path);
	free(fx->wal);
	free(fx);
	return 0;
}

static void meta_equal(struct store *s, const char *key, const char *want)
{
	struct buf b = BUF_INIT(1024);

	TU_OK(store_meta_get(&b, s, key));
	assert_string_equal(buf_cstr(&b), want);
	buf_release(&b);
}

static void test_create_reopen(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	assert_string_equal(store_path(s), fx->path);
	assert_int_equal(tu_mode(fx->path), 0600);
	TU_OK(store_meta_set(s, "office", "ELP"));
	store_free(s);

	s = NULL;
	TU_OK(store_open(&s, fx->path, fx->key, 0));
	meta_equal(s, "office", "ELP");
	assert_int_equal(tu_sql_int(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	TU_OK(store_integrity_check(s));
	store_free(s);
	store_free(NULL);
}

/* Opening and closing an up-to-date store writes nothing: not even page 1 is rewritten. */
static void test_open_writes_nothing(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;
	uint8_t *before, *after;
	size_t blen = 0, alen = 0;

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	TU_OK(store_meta_set(s, "office", "ELP"));
	store_free(s);
	before = tu_read_file(fx->path, &blen);
	assert_non_null(before);

	s = NULL;
	TU_OK(store_open(&s, fx->path, fx->key, 0));
	meta_equal(s, "office", "ELP");
	store_free(s);
	after = tu_read_file(fx->path, &alen);
	assert_non_null(after);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);
}

static void test_open_errors(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;
	uint8_t wrong[CRYPTO_KEY_LEN];

	assert_int_equal(store_open(&s, fx->path, fx->key, 0), ERR_NOTFOUND);
	assert_false(tu_exists(fx->path)); /* opening does not create */
	assert_int_equal(store_open(&s, fx->path, NULL, STORE_CREATE), ERR_INVALID);

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	store_free(s);
	s = NULL;

	assert_int_equal(store_open(&s, fx->path, fx->key, STORE_CREATE), ERR_EXISTS);
	memcpy(wrong, fx->key, sizeof(wrong));
	wrong[0] ^= 0x01;
	assert_int_equal(store_open(&s, fx->path, wrong, 0), ERR_AUTH);
	assert_null(s);
	/* A plain SQLite reader sees no database either. */
	assert_int_equal(store_open(&s, fx->path, NULL, STORE_PLAIN), ERR_AUTH);
	assert_null(s);
	/* And the right key still works afterwards. */
	TU_OK(store_open(&s, fx->path, fx->key, 0));
	store_free(s);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	TU_OK(store_exec(s, "PRAGMA user_version = 99"));
	store_free(s);
	s = NULL;
	assert_int_equal(store_open(&s, fx->path, fx->key, 0), ERR_CORRUPT);
	assert_null(s);
}

static void assert_no_plaintext(const char *path)
{
	assert_false(tu_file_contains(path, SQLITE_MAGIC, strlen(SQLITE_MAGIC)));
	assert_false(tu_file_contains(path, MARKER, strlen(MARKER)));
	assert_false(tu_file_contains(path, "node_meta", 9));
}

static void test_nothing_in_clear(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;
	char hex[2 * CRYPTO_KEY_LEN + 1];

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	TU_OK(store_meta_set(s, "marker", MARKER));
	/* While open, the committed page sits in the WAL. */
	assert_true(tu_exists(fx->wal));
	assert_no_plaintext(fx->wal);
	assert_no_plaintext(fx->path);
	store_free(s);
	assert_no_plaintext(fx->path);
	if (tu_exists(fx->wal))
		assert_no_plaintext(fx->wal);
	crypto_hex(hex, fx->key, sizeof(fx->key));
	assert_false(tu_file_contains(fx->path, hex, strlen(hex)));
	assert_false(tu_file_contains(fx->path, fx->key, sizeof(fx->key)));
}

/* The control for the test above: the same steps without a key do leave plaintext. */
static void test_plain_control(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;

	TU_OK(store_open(&s, fx->path, NULL, STORE_CREATE | STORE_PLAIN));
	TU_OK(store_meta_set(s, "marker", MARKER));
	assert_true(tu_file_contains(fx->wal, MARKER, strlen(MARKER)));
	store_free(s);
	assert_true(tu_file_contains(fx->path, SQLITE_MAGIC, strlen(SQLITE_MAGIC)));
	assert_true(tu_file_contains(fx->path, MARKER, strlen(MARKER)));
}

static void test_meta(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;
	struct buf b = BUF_INIT(1024);

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	assert_int_equal(store_meta_get(&b, s, "missing"), ERR_NOTFOUND);
	assert_int_equal(b.len, 0);
	TU_OK(store_meta_set(s, "k", "one"));
	TU_OK(store_meta_set(s, "k", "two"));
	meta_equal(s, "k", "two");
	TU_OK(store_meta_set(s, "empty", ""));
	meta_equal(s, "empty", "");
	assert_int_equal(tu_sql_int(s, "SELECT count(*) FROM node_meta WHERE key = 'k'"), 1);

	/* The value goes through the caller's capped buffer. */
	TU_OK(store_meta_set(s, "long", "0123456789abcdef"));
	b.max = 8;
	assert_int_equal(store_meta_get(&b, s, "long"), ERR_TOOBIG);
	buf_release(&b);
	store_free(s);
}

/* The statement cache: reuse, a slot in use, SQL built in a buffer, nothing left bound or
 * open after a release. */
static void test_cached_statements(void **state)
{
	struct fixture *fx = *state;
	static const char q[] = "SELECT ?1, (SELECT count(*) FROM node_meta)";
	sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
	struct store *s = NULL;
	char sql[64];

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	TU_OK(store_cached(&a, s, q));
	sqlite3_bind_int(a, 1, 5);
	assert_int_equal(sqlite3_step(a), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(a, 0), 5);
	/* asked again while in use: a statement of its own, finalized at its release */
	TU_OK(store_cached(&b, s, q));
	assert_ptr_not_equal(a, b);
	assert_int_equal(sqlite3_step(b), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(b, 0), SQLITE_NULL);
	store_release(s, b);
	store_release(s, a); /* mid-result: reset, so no read stays open */
	assert_false(sqlite3_stmt_busy(a));
	TU_OK(store_cached(&c, s, q));
	assert_ptr_equal(c, a); /* the cached one, with nothing bound */
	assert_int_equal(sqlite3_step(c), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(c, 0), SQLITE_NULL);
	store_release(s, c);
	/* a write between uses is seen: the statement reads the database anew */
	TU_OK(store_meta_set(s, "k", "v"));
	TU_OK(store_cached(&c, s, q));
	assert_int_equal(sqlite3_step(c), SQLITE_ROW);
	assert_true(sqlite3_column_int(c, 1) >= 1);
	store_release(s, c);

	/* the same buffer with other SQL in it is other SQL */
	snprintf(sql, sizeof(sql), "SELECT 1");
	TU_OK(store_cached(&a, s, sql));
	assert_int_equal(sqlite3_step(a), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(a, 0), 1);
	store_release(s, a);
	snprintf(sql, sizeof(sql), "SELECT 2");
	TU_OK(store_cached(&b, s, sql));
	assert_int_equal(sqlite3_step(b), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(b, 0), 2);
	store_release(s, b);
	assert_int_equal(store_cached(&a, s, "SELECT FROM nowhere"), ERR_GENERIC);
	store_release(s, NULL);
	store_free(s);
}

struct txn_ctx {
	struct store *s;
	int fail;
};

static int txn_body(void *ctx)
{
	struct txn_ctx *t = ctx;
	int error = store_meta_set(t->s, "in-txn", "yes");

	if (!error)
		error = store_exec(t->s, "INSERT INTO users(name, role, created_at, created_by)"
					 " VALUES ('zed', 'admin', 'now', 'test')");
	return error ? error : t->fail;
}

static void test_txn(void **state)
{
	struct fixture *fx = *state;
	struct txn_ctx t = {NULL, ERR_CONFLICT};
	struct buf b = BUF_INIT(64);

	TU_OK(store_open(&t.s, fx->path, fx->key, STORE_CREATE));
	assert_int_equal(store_txn(t.s, txn_body, &t), ERR_CONFLICT);
	assert_int_equal(store_meta_get(&b, t.s, "in-txn"), ERR_NOTFOUND);
	assert_int_equal(tu_sql_int(t.s, "SELECT count(*) FROM users"), 0);
	assert_true(sqlite3_get_autocommit(store_db(t.s))); /* no transaction left open */

	t.fail = 0;
	TU_OK(store_txn(t.s, txn_body, &t));
	meta_equal(t.s, "in-txn", "yes");
	assert_int_equal(tu_sql_int(t.s, "SELECT count(*) FROM users"), 1);

	/* A failing statement inside: the constraint error, and again nothing lands. */
	TU_OK(store_exec(t.s, "DELETE FROM node_meta"));
	assert_int_equal(store_txn(t.s, txn_body, &t), ERR_EXISTS);
	assert_int_equal(store_meta_get(&b, t.s, "in-txn"), ERR_NOTFOUND);

	/* begin/rollback by hand; rollback outside a transaction is harmless. */
	TU_OK(store_begin(t.s));
	TU_OK(store_meta_set(t.s, "manual", "x"));
	store_rollback(t.s);
	store_rollback(t.s);
	assert_int_equal(store_meta_get(&b, t.s, "manual"), ERR_NOTFOUND);
	buf_release(&b);
	store_free(t.s);
}

static void test_pragmas(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;
	sqlite3_stmt *st = NULL;

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	TU_OK(store_prepare(&st, s, "PRAGMA journal_mode"));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(tu_sql_int(s, "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(tu_sql_int(s, "PRAGMA cipher_page_size"), 4096);
	assert_int_equal(tu_sql_int(s, "PRAGMA temp_store"), 2); /* MEMORY */
	assert_int_equal(tu_sql_int(s, "PRAGMA foreign_keys"), 1);
	store_free(s);

	/* The settings hold on every open, not only at creation. */
	s = NULL;
	TU_OK(store_open(&s, fx->path, fx->key, 0));
	assert_int_equal(tu_sql_int(s, "PRAGMA synchronous"), 2);
	store_free(s);
}

static void test_statement_errors(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;
	sqlite3_stmt *st = NULL;

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	assert_int_equal(store_exec(s, "SELEC nonsense"), ERR_GENERIC);
	assert_true(strlen(err_msg()) > 0);
	assert_int_equal(store_prepare(&st, s, "SELECT * FROM no_such_table"), ERR_GENERIC);
	assert_non_null(strstr(err_msg(), "no_such_table"));
	TU_OK(store_exec(s, "INSERT INTO node_meta(key, value) VALUES ('x', '1')"));
	assert_int_equal(store_exec(s, "INSERT INTO node_meta(key, value) VALUES ('x', '2')"),
		ERR_EXISTS);
	store_free(s);
}

static void test_bound_statements(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;
	struct buf b = BUF_INIT(1024);
	sqlite3_stmt *st = NULL;
	const uint8_t blob[4] = {1, 0, 2, 3};
	int64_t v = -1;
	int rows = 0;

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	TU_OK(store_exec(s, "CREATE TABLE t (a TEXT, i INTEGER, b BLOB)"));
	TU_OK(store_run(s, "INSERT INTO t VALUES (?, ?, ?)", "tib", "one", (int64_t)1 << 40, blob,
		sizeof(blob)));
	TU_OK(store_run(s, "INSERT INTO t VALUES (?1, ?2, ?3)", "tib", (const char *)NULL,
		(int64_t)-7, (const void *)NULL, (size_t)0));
	assert_int_equal(store_changes(s), 1);

	TU_OK(store_query_int64(&v, s, "SELECT i FROM t WHERE a = ?", "t", "one"));
	assert_true(v == (int64_t)1 << 40);
	TU_OK(store_query_int64(&v, s, "SELECT count(*) FROM t WHERE a IS NULL AND b IS NULL", ""));
	assert_int_equal(v, 1);
	TU_OK(store_query_bytes(&b, s, "SELECT b FROM t WHERE i = ?", "i", (int64_t)1 << 40));
	assert_int_equal(b.len, sizeof(blob));
	assert_memory_equal(b.ptr, blob, sizeof(blob));
	buf_reset(&b);
	TU_OK(store_query_bytes(&b, s, "SELECT a FROM t WHERE i = ?", "i", (int64_t)-7));
	assert_int_equal(b.len, 0); /* SQL NULL appends nothing */

	/* no row: ERR_NOTFOUND, *out untouched */
	v = 42;
	assert_int_equal(store_query_int64(&v, s, "SELECT i FROM t WHERE a = ?", "t", "none"),
		ERR_NOTFOUND);
	assert_int_equal(v, 42);

	/* a parameter ?N counts as N: one letter for ?1 used twice */
	TU_OK(store_query_int64(&v, s, "SELECT count(*) FROM t WHERE a = ?1 OR a || 'x' = ?1", "t",
		"one"));
	assert_int_equal(v, 1);

	/* stepping a bound statement */
	TU_OK(store_bind(&st, s, "SELECT i FROM t WHERE i < ? ORDER BY i", "i", (int64_t)1 << 41));
	while (store_next(s, st) == 1)
		rows++;
	sqlite3_finalize(st);
	assert_int_equal(rows, 2);

	store_free(s);
	buf_release(&b);
}

/* Short ids: the one key a prefix names, the key itself, or the candidates. */
static void test_resolve_prefix(void **state)
{
	static const char sql[] =
		"SELECT k FROM ids WHERE substr(k, 1, ?2) = ?1 ORDER BY 1 LIMIT 11";
	struct fixture *fx = *state;
	struct store *s = NULL;
	char out[16] = "untouched", small[3];
	int i;

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	TU_OK(store_exec(s, "CREATE TABLE ids (k TEXT PRIMARY KEY)"));
	TU_OK(store_exec(s, "INSERT INTO ids VALUES ('abc1'), ('abc2'), ('abd'), ('x%_')"));
	TU_OK(store_resolve_prefix(out, sizeof(out), s, sql, "thing", "abd"));
	assert_string_equal(out, "abd");
	TU_OK(store_resolve_prefix(out, sizeof(out), s, sql, "thing", "abc2"));
	assert_string_equal(out, "abc2");
	TU_OK(store_resolve_prefix(out, sizeof(out), s, sql, "thing", "x%"));
	assert_string_equal(out, "x%_");
	assert_int_equal(store_resolve_prefix(out, sizeof(out), s, sql, "thing", "abc"),
		ERR_CONFLICT);
	assert_string_equal(err_msg(), "thing id prefix 'abc' is ambiguous: abc1, abc2");
	assert_int_equal(store_resolve_prefix(out, sizeof(out), s, sql, "thing", "%"),
		ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "no thing '%'"));
	assert_int_equal(store_resolve_prefix(small, sizeof(small), s, sql, "thing", "abd"),
		ERR_TOOBIG);
	assert_string_equal(out, "x%_"); /* written only on success */
	/* a key that is itself a prefix of others is that key, not ambiguous */
	TU_OK(store_exec(s, "INSERT INTO ids VALUES ('abc')"));
	TU_OK(store_resolve_prefix(out, sizeof(out), s, sql, "thing", "abc"));
	assert_string_equal(out, "abc");
	/* many candidates: ten listed, the rest elided */
	for (i = 0; i < 12; i++)
		TU_OK(store_run(s, "INSERT INTO ids VALUES ('m' || ?)", "i", (int64_t)i + 10));
	assert_int_equal(store_resolve_prefix(out, sizeof(out), s, sql, "thing", "m"),
		ERR_CONFLICT);
	assert_non_null(strstr(err_msg(), "m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, ..."));
	store_free(s);
}

static void test_bound_statement_errors(void **state)
{
	struct fixture *fx = *state;
	struct store *s = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = 5;

	TU_OK(store_open(&s, fx->path, fx->key, STORE_CREATE));
	TU_OK(store_exec(s, "CREATE TABLE t (a TEXT PRIMARY KEY, i INTEGER)"));

	/* the letters must match the parameter count, either way; nothing runs */
	assert_int_equal(store_run(s, "INSERT INTO t VALUES (?, ?)", "t", "x"), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "INSERT INTO t"));
	assert_non_null(strstr(err_msg(), "takes 2 parameters, not 1"));
	assert_int_equal(store_run(s, "INSERT INTO t VALUES (?, 1)", "ti", "x", (int64_t)1),
		ERR_INVALID);
	assert_int_equal(store_bind(&st, s, "SELECT ?", ""), ERR_INVALID);
	assert_null(st);
	assert_int_equal(store_run(s, "INSERT INTO t VALUES (?, ?)", "tx", "x", 1), ERR_INVALID);
	assert_int_equal(store_query_int64(&v, s, "SELECT count(*) FROM t", ""), 0);
	assert_int_equal(v, 0);

	/* a failing statement: the store's error code, the message names the statement */
	TU_OK(store_run(s, "INSERT INTO t VALUES (?, ?)", "ti", "x", (int64_t)1));
	assert_int_equal(store_run(s, "INSERT INTO t VALUES (?, ?)", "ti", "x", (int64_t)2),
		ERR_EXISTS);
	assert_non_null(strstr(err_msg(), "INSERT INTO t VALUES"));
	assert_non_null(strstr(err_msg(), "UNIQUE"));
	assert_int_equal(store_query_int64(&v, s, "SELECT i FROM no_such_table", ""), ERR_GENERIC);
	assert_non_null(strstr(err_msg(), "SELECT i FROM no_such_table"));
	assert_int_equal(v, 0);
	TU_OK(store_query_int64(&v, s, "SELECT i FROM t WHERE a = ?", "t", "x"));
	assert_int_equal(v, 1); /* the refused insert changed nothing */
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_in_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cached_statements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statement_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_statements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_statement_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_prefix, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
