/* tests/shared/audit/test_audit.c - the append-only, hashed audit log. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "base/crypto.h"
#include "base/hlc.h"
#include "store/store.h"

#define JAN 1767225600000LL /* 2026-01-01T00:00:00Z */
#define FEB 1769904000000LL /* 2026-02-01T00:00:00Z */
#define MAR 1772323200000LL /* 2026-03-01T00:00:00Z */

static const struct audit_origin origin = {"0123456789abcdef", "ELP"};

struct fixture {
	char *dir;
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->s = tu_store_new(&fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	tu_store_done(fx->s, fx->dir);
	free(fx);
	return 0;
}

static uint64_t append(struct fixture *fx, const char *user, const char *action,
	const char *target, int64_t time_ms)
{
	struct audit_event ev = {user, action, target, "success", NULL, time_ms, NULL, 0, 0};
	uint64_t seq = 999;

	TU_OK(audit_append(&seq, fx->s, &origin, &ev));
	return seq;
}

static void test_encode_canonical(void **state)
{
	struct audit_event ev = {"alice", "case.view", "ELP-26-7KQ4M2X", "success", NULL, 0, NULL,
		0, 0};
	struct buf a = BUF_INIT(AUDIT_ENTRY_MAX), b = BUF_INIT(AUDIT_ENTRY_MAX);

	(void)state;
	TU_OK(audit_encode(&a, 7, "2026-01-01T00:00:00.000Z", &origin, &ev));
	TU_OK(audit_encode(&b, 7, "2026-01-01T00:00:00.000Z", &origin, &ev));
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.ptr, b.ptr, a.len);
	/* Sorted keys, no whitespace, every field present. */
	assert_string_equal(buf_cstr(&a),
		"{\"action\":\"case.view\",\"detail\":\"\",\"node\":\"0123456789abcdef\","
		"\"office\":\"ELP\",\"outcome\":\"success\",\"seq\":7,"
		"\"target\":\"ELP-26-7KQ4M2X\",\"time\":\"2026-01-01T00:00:00.000Z\","
		"\"user\":\"alice\"}");

	/* Text is escaped, never spliced in. */
	buf_reset(&a);
	ev.detail = "query \"x\"\n";
	TU_OK(audit_encode(&a, 8, "t", &origin, &ev));
	assert_non_null(strstr(buf_cstr(&a), "\"detail\":\"query \\\"x\\\"\\n\""));

	/* Bytes that are not UTF-8 cannot be encoded. */
	buf_reset(&a);
	ev.target = "bad \xff";
	assert_int_equal(audit_encode(&a, 9, "t", &origin, &ev), ERR_INVALID);
	buf_release(&a);
	buf_release(&b);
}

static void test_leaf_hash(void **state)
{
	static const char entry[] = "{\"seq\":0}";
	uint8_t prefixed[sizeof(entry)], want[32], got[32];

	(void)state;
	prefixed[0] = 0x00;
	memcpy(prefixed + 1, entry, sizeof(entry) - 1);
	crypto_sha256(want, prefixed, sizeof(prefixed));
	audit_leaf_hash(got, entry, sizeof(entry) - 1);
	assert_memory_equal(got, want, 32);
	/* ...and not the plain hash of the entry (RFC 6962 domain separation). */
	crypto_sha256(want, entry, sizeof(entry) - 1);
	assert_memory_not_equal(got, want, 32);
}

struct collected {
	uint64_t seqs[64];
	char actions[64][32];
	size_t n;
	int stop_at;
	struct store *s;
};

static int collect(void *ctx, const struct audit_record *r)
{
	struct collected *c = ctx;
	uint8_t prefixed[AUDIT_ENTRY_MAX + 1], leaf[32];
	struct audit_event ev = {r->user, r->action, r->target, r->outcome, NULL, 0, NULL, 0, 0};
	struct buf again = BUF_INIT(AUDIT_ENTRY_MAX);

	assert_true(c->n < 64);
	c->seqs[c->n] = r->seq;
	snprintf(c->actions[c->n], sizeof(c->actions[0]), "%s", r->action);
	c->n++;

	/* The stored leaf is SHA-256(0x00 || the stored entry bytes). */
	assert_true(r->entry_len <= AUDIT_ENTRY_MAX);
	prefixed[0] = 0x00;
	memcpy(prefixed + 1, r->entry, r->entry_len);
	crypto_sha256(leaf, prefixed, r->entry_len + 1);
	assert_memory_equal(r->leaf, leaf, 32);

	/* The stored entry is exactly the canonical encoding of the record. */
	TU_OK(audit_encode(&again, r->seq, r->time, &origin, &ev));
	assert_int_equal(again.len, r->entry_len);
	assert_memory_equal(again.ptr, r->entry, r->entry_len);
	buf_release(&again);
	return c->stop_at && (int)c->n == c->stop_at ? 7 : 0;
}

static void test_append_dense(void **state)
{
	struct fixture *fx = *state;
	char before[HLC_STR_MAX], after[HLC_STR_MAX];
	sqlite3_stmt *st = NULL;
	struct collected c;
	uint64_t count = 0;
	size_t i;

	memset(&c, 0, sizeof(c));
	hlc_iso8601(before, hlc_now_ms());
	assert_int_equal(append(fx, "alice", "logon", "alice", 0), 0);
	hlc_iso8601(after, hlc_now_ms());
	assert_int_equal(append(fx, "alice", "case.view", "ELP-26-7KQ4M2X", JAN), 1);
	assert_int_equal(append(fx, "", "logon", "bob", FEB), 2);
	assert_int_equal(append(fx, "bob", "case.search", "", MAR), 3);

	TU_OK(audit_foreach(fx->s, NULL, NULL, collect, &c));
	assert_int_equal(c.n, 4);
	for (i = 0; i < c.n; i++)
		assert_int_equal(c.seqs[i], i);
	assert_string_equal(c.actions[3], "case.search");
	TU_OK(audit_check(&count, fx->s));
	assert_int_equal(count, 4);

	/* Time 0 means now. */
	TU_OK(store_prepare(&st, fx->s, "SELECT time FROM audit_log WHERE seq = 0"));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_true(strcmp((const char *)sqlite3_column_text(st, 0), before) >= 0);
	assert_true(strcmp((const char *)sqlite3_column_text(st, 0), after) <= 0);
	sqlite3_finalize(st);
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM audit_log WHERE seq = 1"
					   " AND time = '2026-01-01T00:00:00.000Z'"),
		1);
}

static void test_append_in_caller_txn(void **state)
{
	struct fixture *fx = *state;
	struct audit_event big = {"alice", "case.search", "", "success", NULL, 0, NULL, 0, 0};
	char detail[AUDIT_DETAIL_MAX + 2];
	uint64_t count = 0;

	append(fx, "alice", "logon", "alice", 0);
	TU_OK(store_begin(fx->s));
	assert_int_equal(append(fx, "alice", "case.create", "x", 0), 1);
	store_rollback(fx->s); /* the caller's change failed: its event goes too */
	assert_int_equal(append(fx, "alice", "case.view", "x", 0), 1);

	memset(detail, 'd', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	big.detail = detail;
	assert_int_equal(audit_append(NULL, fx->s, &origin, &big), ERR_TOOBIG);
	TU_OK(audit_check(&count, fx->s));
	assert_int_equal(count, 2);
}

static int count_entry(void *ctx, const struct audit_record *r)
{
	(void)r;
	(*(int *)ctx)++;
	return 0;
}

/* A search lists the cases it showed; the case's entries then include it. */
static void test_search_names_cases(void **state)
{
	struct fixture *fx = *state;
	static const char *const ids[] = {"ELP-26-AAAAAAA", "ELP-26-BBBBBBB"};
	struct audit_event ev = {"alice", "case.search", "", "success", "port", 0, ids, 2, 7};
	struct buf e = BUF_INIT(AUDIT_ENTRY_MAX);
	int n = 0;

	TU_OK(audit_encode(&e, 0, "2026-01-01T00:00:00.000Z", &origin, &ev));
	assert_non_null(strstr(buf_cstr(&e),
		"\"cases\":[\"ELP-26-AAAAAAA\",\"ELP-26-BBBBBBB\"],\"cases_shown\":7,"));
	TU_OK(audit_append(NULL, fx->s, &origin, &ev));
	append(fx, "alice", "case.view", "ELP-26-BBBBBBB", 0);
	append(fx, "alice", "case.view", "ELP-26-CCCCCCC", 0);
	TU_OK(audit_foreach(fx->s, NULL, "ELP-26-BBBBBBB", count_entry, &n));
	assert_int_equal(n, 2);
	n = 0;
	TU_OK(audit_foreach(fx->s, NULL, "ELP-26-AAAAAAA", count_entry, &n));
	assert_int_equal(n, 1);
	n = 0;
	TU_OK(audit_foreach(fx->s, NULL, "ELP-26-CCCCCCC", count_entry, &n));
	assert_int_equal(n, 1);
	/* more ids than an entry holds, or more than were shown, are refused */
	ev.ncases = 2;
	ev.shown = 1;
	assert_int_equal(audit_encode(&e, 0, "2026-01-01T00:00:00.000Z", &origin, &ev),
		ERR_INVALID);
	buf_release(&e);
}

static void test_triggers_refuse_edits(void **state)
{
	struct fixture *fx = *state;
	uint64_t count = 0;

	append(fx, "alice", "logon", "alice", JAN);
	append(fx, "alice", "case.view", "ELP-26-7KQ4M2X", FEB);

	assert_int_equal(store_exec(fx->s, "UPDATE audit_log SET user = 'mallory' WHERE seq = 1"),
		ERR_READONLY);
	assert_non_null(strstr(err_msg(), "append-only"));
	assert_true(store_exec(fx->s, "DELETE FROM audit_log WHERE seq = 1") < 0);
	assert_non_null(strstr(err_msg(), "append-only"));
	assert_true(store_exec(fx->s, "DELETE FROM audit_log") < 0);
	assert_non_null(strstr(err_msg(), "append-only"));
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM audit_log WHERE user = 'alice'"),
		2);
	TU_OK(audit_check(&count, fx->s));
	assert_int_equal(count, 2);
}

/* Someone with the key who drops the triggers is still caught by the hashes. */
static void test_check_detects_tampering(void **state)
{
	struct fixture *fx = *state;
	uint64_t count = 0;

	append(fx, "alice", "logon", "alice", JAN);
	append(fx, "alice", "case.view", "ELP-26-7KQ4M2X", FEB);
	append(fx, "alice", "case.export", "ELP-26-7KQ4M2X", MAR);
	TU_OK(store_exec(fx->s, "DROP TRIGGER audit_log_no_update;"
				"DROP TRIGGER audit_log_no_delete;"));

	TU_OK(store_exec(fx->s, "UPDATE audit_log SET entry = CAST(replace(CAST(entry AS TEXT),"
				" 'case.export', 'case.viewed') AS BLOB) WHERE seq = 2"));
	count = 12345;
	assert_int_equal(audit_check(&count, fx->s), ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), "entry 2 "));
	assert_int_equal(count, 12345); /* *out only on success */

	/* Deleting an entry leaves a hole in the sequence. */
	TU_OK(store_exec(fx->s, "DELETE FROM audit_log WHERE seq = 1"));
	assert_int_equal(audit_check(&count, fx->s), ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), "entry 1 "));
}

static void test_foreach_filters(void **state)
{
	struct fixture *fx = *state;
	struct collected c;

	append(fx, "alice", "logon", "alice", JAN);
	append(fx, "alice", "case.view", "ELP-26-7KQ4M2X", FEB);
	append(fx, "bob", "case.view", "ELP-26-0000000", FEB + 1000);
	append(fx, "alice", "case.update", "ELP-26-7KQ4M2X", MAR);

	memset(&c, 0, sizeof(c));
	TU_OK(audit_foreach(fx->s, "2026-02", NULL, collect, &c));
	assert_int_equal(c.n, 3);
	assert_int_equal(c.seqs[0], 1);
	assert_int_equal(c.seqs[2], 3);

	memset(&c, 0, sizeof(c));
	TU_OK(audit_foreach(fx->s, "2026-02-01T00:00:01", NULL, collect, &c));
	assert_int_equal(c.n, 2);

	memset(&c, 0, sizeof(c));
	TU_OK(audit_foreach(fx->s, NULL, "ELP-26-7KQ4M2X", collect, &c));
	assert_int_equal(c.n, 2);
	assert_string_equal(c.actions[0], "case.view");
	assert_string_equal(c.actions[1], "case.update");

	memset(&c, 0, sizeof(c));
	TU_OK(audit_foreach(fx->s, "2026-03", "ELP-26-7KQ4M2X", collect, &c));
	assert_int_equal(c.n, 1);
	assert_int_equal(c.seqs[0], 3);

	memset(&c, 0, sizeof(c));
	TU_OK(audit_foreach(fx->s, "2027", NULL, collect, &c));
	assert_int_equal(c.n, 0);

	/* A non-zero return from the callback stops the walk and comes back. */
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	assert_int_equal(audit_foreach(fx->s, NULL, NULL, collect, &c), 7);
	assert_int_equal(c.n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_canonical),
		cmocka_unit_test(test_leaf_hash),
		cmocka_unit_test_setup_teardown(test_append_dense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_in_caller_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_names_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_triggers_refuse_edits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_detects_tampering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_filters, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
