/* tests/shared/case/test_index.c - the derived case tables and the full-text index. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/casefile.h"
#include "case/index.h"
#include "store/odb.h"
#include "store/store.h"

#define CASE_A "ELP-26-AAAAAAA"
#define CASE_B "ELP-26-BBBBBBB"
#define CASE_C "ELP-26-CCCCCCC"

struct fixture {
	char *dir;
	struct store *s;
	git_repository *repo;
	struct casefile_author a;
};

/* Commit a change to a case, move its head and update the derived rows, as casedb does. */
static void put(struct fixture *fx, const char *id, const struct casefile_change *c)
{
	struct casefile_view v;
	sqlite3_stmt *st = NULL;
	git_oid parent, head;
	int exists;

	TU_OK(store_prepare(&st, fx->s, "SELECT head FROM case_heads WHERE case_id = ?"));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	exists = sqlite3_step(st) == SQLITE_ROW;
	if (exists)
		git_oid_fromraw(&parent, sqlite3_column_blob(st, 0));
	sqlite3_finalize(st);

	fx->a.hlc.wall_ms += 1000;
	TU_OK(store_begin(fx->s));
	TU_OK(casefile_commit(&head, NULL, fx->repo, exists ? &parent : NULL, id, c, &fx->a,
		"test"));
	TU_OK(store_prepare(&st, fx->s,
		"INSERT OR REPLACE INTO case_heads(case_id, head, updated_at) VALUES (?, ?, 'now')"));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, head.id, GIT_OID_RAWSZ, SQLITE_STATIC);
	TU_OK(store_step_done(fx->s, st));
	sqlite3_finalize(st);
	TU_OK(casefile_read(&v, fx->repo, &head));
	TU_OK(index_update(fx->s, &v));
	casefile_view_release(&v);
	TU_OK(store_commit(fx->s));
}

static void set(struct casefile_change *c, const char *name, const char *value)
{
	c->sets[c->nsets].name = name;
	c->sets[c->nsets].value = value;
	c->nsets++;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct casefile_change c;

	assert_non_null(fx);
	fx->s = tu_store_new(&fx->dir);
	TU_OK(odb_repository_open(&fx->repo, fx->s));
	fx->a.user = "alice";
	fx->a.office = "ELP";
	fx->a.device = "0123456789abcdef";
	fx->a.hlc.wall_ms = 1767225600000LL;

	memset(&c, 0, sizeof(c));
	set(&c, "title", "Bribery at the port");
	set(&c, "category", "bribery");
	set(&c, "subject_id", "EMP12345"); /* PII, not searchable */
	c.narrative = "The blue car was parked near the gate. Investigators interviewed the driver.";
	c.narrative_len = strlen(c.narrative);
	put(fx, CASE_A, &c);

	memset(&c, 0, sizeof(c));
	set(&c, "title", "Missing evidence locker");
	set(&c, "category", "theft");
	set(&c, "status", "open");
	set(&c, "priority", "1");
	c.narrative = "A car, painted blue, was seen leaving.";
	c.narrative_len = strlen(c.narrative);
	put(fx, CASE_B, &c);

	memset(&c, 0, sizeof(c));
	set(&c, "title", "Overtime fraud");
	set(&c, "category", "ethics");
	set(&c, "status", "open");
	set(&c, "assignee", "bob");
	put(fx, CASE_C, &c);
	memset(&c, 0, sizeof(c));
	c.note = "Interview with the supervisor about the investigations.";
	c.note_len = strlen(c.note);
	put(fx, CASE_C, &c);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	git_repository_free(fx->repo);
	tu_store_done(fx->s, fx->dir);
	free(fx);
	return 0;
}

/* Rows as one line of text each, to compare listings. */
struct rows {
	struct buf text;
	int n;
	int snippets;
	int stop_at;
};

static int row_cb(void *ctx, const struct index_row *r)
{
	struct rows *rs = ctx;

	rs->n++;
	rs->snippets += r->snippet != NULL;
	TU_OK(buf_printf(&rs->text, "%s|%s|%s|%s|%s|%d|%s|%s|%d|%d\n", r->case_id, r->office,
		r->title, r->category, r->status, r->priority, r->assignee ? r->assignee : "",
		r->updated_at, r->notes, r->conflicts));
	return rs->stop_at && rs->n == rs->stop_at ? 99 : 0;
}

static void rows_init(struct rows *rs)
{
	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->text, 1 << 20);
}

static char *list_f(struct fixture *fx, const struct index_filter *f, int *n)
{
	struct rows rs;
	char *s = NULL;

	rows_init(&rs);
	TU_OK(index_list(fx->s, f, row_cb, &rs));
	assert_int_equal(rs.snippets, 0);
	*n = rs.n;
	TU_OK(buf_detach(&s, &rs.text));
	return s;
}

static char *list(struct fixture *fx, const char *status, int *n)
{
	struct index_filter f = {0};

	f.status = status;
	return list_f(fx, &f, n);
}

/* The case ids a filter lists, in its order, space-separated. */
static void expect_ids(struct fixture *fx, const struct index_filter *f, const char *want)
{
	struct buf ids = BUF_INIT(4096);
	char *text, *line, *save = NULL;
	int n;

	text = list_f(fx, f, &n);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		TU_OK(buf_printf(&ids, "%s%.*s", ids.len ? " " : "", (int)strcspn(line, "|"),
			line));
	assert_string_equal(buf_cstr(&ids), want);
	free(text);
	buf_release(&ids);
}

/* Every filter and order of the consolidated list, alone and combined. */
static void test_list_filters(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct index_filter f;

	memset(&c, 0, sizeof(c));
	set(&c, "received_at", "2026-03-01");
	set(&c, "due_at", "2026-04-01");
	put(fx, CASE_A, &c);
	memset(&c, 0, sizeof(c));
	set(&c, "received_at", "2026-02-01");
	set(&c, "due_at", "2026-09-01");
	put(fx, CASE_B, &c);
	memset(&c, 0, sizeof(c));
	set(&c, "received_at", "2026-05-01");
	set(&c, "due_at", "2026-01-15");
	set(&c, "status", "closed");
	put(fx, CASE_C, &c);

	memset(&f, 0, sizeof(f));
	expect_ids(fx, &f, CASE_A " " CASE_B " " CASE_C);
	f.category = "theft";
	expect_ids(fx, &f, CASE_B);
	memset(&f, 0, sizeof(f));
	f.assignee = "bob";
	expect_ids(fx, &f, CASE_C);
	memset(&f, 0, sizeof(f));
	f.subject_id = "EMP12345";
	expect_ids(fx, &f, CASE_A);
	memset(&f, 0, sizeof(f));
	f.office = "SDG";
	expect_ids(fx, &f, "");
	f.office = "ELP";
	f.received_from = "2026-02-01"; /* inclusive at both ends */
	f.received_to = "2026-03-01";
	expect_ids(fx, &f, CASE_A " " CASE_B);
	memset(&f, 0, sizeof(f));
	f.overdue_on = "2026-06-01"; /* C is due earlier but closed */
	expect_ids(fx, &f, CASE_A);
	memset(&f, 0, sizeof(f));
	f.sort = INDEX_SORT_RECEIVED;
	expect_ids(fx, &f, CASE_B " " CASE_A " " CASE_C);
	f.sort = INDEX_SORT_DUE;
	expect_ids(fx, &f, CASE_C " " CASE_A " " CASE_B);
	f.sort = INDEX_SORT_UPDATED;
	expect_ids(fx, &f, CASE_C " " CASE_B " " CASE_A);
	f.sort = INDEX_SORT_PRIORITY;
	f.status = "open";
	expect_ids(fx, &f, CASE_B);
	f.sort = (enum index_sort)99;
	assert_int_equal(index_list(fx->s, &f, row_cb, NULL), ERR_INVALID);
	TU_OK(index_check(fx->s, fx->repo));
}

/* The case ids a query finds, space-separated. */
static char *search(struct fixture *fx, const char *query)
{
	struct rows rs;
	struct buf ids = BUF_INIT(4096);
	const char *p;
	char *s = NULL;

	rows_init(&rs);
	TU_OK(index_search(fx->s, query, row_cb, &rs));
	assert_int_equal(rs.snippets, rs.n);
	for (p = buf_cstr(&rs.text); *p; p = strchr(p, '\n') + 1)
		TU_OK(buf_printf(&ids, "%s%.14s", ids.len ? " " : "", p));
	buf_release(&rs.text);
	TU_OK(buf_detach(&s, &ids));
	return s;
}

static void test_list(void **state)
{
	struct fixture *fx = *state;
	char *s;
	int n;

	s = list(fx, NULL, &n);
	assert_int_equal(n, 3);
	assert_string_equal(s,
		CASE_A "|ELP|Bribery at the port|bribery|intake|3||2026-01-01T00:00:01.000Z|0|0\n"
		CASE_B "|ELP|Missing evidence locker|theft|open|1||2026-01-01T00:00:02.000Z|0|0\n"
		CASE_C "|ELP|Overtime fraud|ethics|open|3|bob|2026-01-01T00:00:04.000Z|1|0\n");
	free(s);

	s = list(fx, "open", &n);
	assert_int_equal(n, 2);
	assert_null(strstr(s, CASE_A));
	free(s);
	s = list(fx, "closed", &n);
	assert_int_equal(n, 0);
	free(s);
}

static void test_update_moves_rows(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	char *s;
	int n;

	memset(&c, 0, sizeof(c));
	set(&c, "status", "open");
	set(&c, "title", "Bribery at the harbour");
	put(fx, CASE_A, &c);
	s = list(fx, "open", &n);
	assert_int_equal(n, 3);
	free(s);
	s = list(fx, "intake", &n);
	assert_int_equal(n, 0);
	free(s);
	/* The full text follows: the old word is gone, the new one found, one row per case. */
	s = search(fx, "port");
	assert_string_equal(s, "");
	free(s);
	s = search(fx, "harbour");
	assert_string_equal(s, CASE_A);
	free(s);
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM case_fts"), 3);
	TU_OK(index_check(fx->s, fx->repo));
}

static void test_search(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *query, *want;
	} cases[] = {
		{"bribery", CASE_A},			     /* title */
		{"driver", CASE_A},			     /* narrative */
		{"supervisor", CASE_C},			     /* note */
		{"bob", CASE_C},			     /* assignee */
		{"investig*", CASE_A " " CASE_C},	     /* prefix */
		{"blue car", CASE_A " " CASE_B},	     /* both words */
		{"\"blue car\"", CASE_A},		     /* the phrase */
		{"blue -driver", CASE_B},		     /* not */
		{"locker OR fraud", CASE_B " " CASE_C},	     /* or */
		{"EMP12345", ""},			     /* not a searchable field */
		{"nothing", ""},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = search(fx, cases[i].query);

		if (strcmp(s, cases[i].want) != 0)
			fail_msg("search '%s' found '%s', expected '%s'", cases[i].query, s,
				cases[i].want);
		free(s);
	}
}

static void test_bad_queries(void **state)
{
	struct fixture *fx = *state;
	char longq[INDEX_QUERY_MAX + 2];
	struct rows rs;

	rows_init(&rs);
	assert_int_equal(index_search(fx->s, "\"blue car", row_cb, &rs), ERR_INVALID);
	assert_int_equal(index_search(fx->s, "car OR", row_cb, &rs), ERR_INVALID);
	assert_int_equal(index_search(fx->s, "-car", row_cb, &rs), ERR_INVALID);
	assert_int_equal(index_search(fx->s, "", row_cb, &rs), ERR_INVALID);
	memset(longq, 'a', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	assert_int_equal(index_search(fx->s, longq, row_cb, &rs), ERR_TOOBIG);
	assert_int_equal(rs.n, 0);

	/* A callback's non-zero return stops the listing and comes back. */
	rs.stop_at = 1;
	assert_int_equal(index_list(fx->s, NULL, row_cb, &rs), 99);
	assert_int_equal(rs.n, 1);
	buf_release(&rs.text);
}

static void test_rebuild(void **state)
{
	struct fixture *fx = *state;
	char *before, *after, *sb, *sa;
	int n;

	before = list(fx, NULL, &n);
	sb = search(fx, "blue OR supervisor");
	TU_OK(index_check(fx->s, fx->repo));

	TU_OK(store_exec(fx->s, "DELETE FROM case_index; DELETE FROM case_fts;"));
	after = list(fx, NULL, &n);
	assert_int_equal(n, 0);
	free(after);

	TU_OK(index_rebuild(fx->s, fx->repo));
	after = list(fx, NULL, &n);
	sa = search(fx, "blue OR supervisor");
	assert_string_equal(after, before);
	assert_string_equal(sa, sb);
	assert_string_equal(sa, CASE_A " " CASE_B " " CASE_C);
	TU_OK(index_check(fx->s, fx->repo));
	free(before);
	free(after);
	free(sb);
	free(sa);
}

static void test_check_detects_tampering(void **state)
{
	struct fixture *fx = *state;

	TU_OK(index_check(fx->s, fx->repo));
	TU_OK(store_exec(fx->s, "UPDATE case_index SET title = 'Nothing here'"
				" WHERE case_id = '" CASE_B "'"));
	assert_int_equal(index_check(fx->s, fx->repo), ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), CASE_B));
	TU_OK(index_rebuild(fx->s, fx->repo));
	TU_OK(index_check(fx->s, fx->repo));

	TU_OK(store_exec(fx->s, "UPDATE case_fts SET body = 'forged' WHERE case_id = '" CASE_C "'"));
	assert_int_equal(index_check(fx->s, fx->repo), ERR_CORRUPT);
	TU_OK(index_rebuild(fx->s, fx->repo));

	TU_OK(store_exec(fx->s, "UPDATE case_index SET status = 'closed'"
				" WHERE case_id = '" CASE_A "'"));
	assert_int_equal(index_check(fx->s, fx->repo), ERR_CORRUPT);
	TU_OK(index_rebuild(fx->s, fx->repo));

	TU_OK(store_exec(fx->s, "DELETE FROM case_index WHERE case_id = '" CASE_A "'"));
	assert_int_equal(index_check(fx->s, fx->repo), ERR_CORRUPT);
	TU_OK(index_rebuild(fx->s, fx->repo));

	/* A stray row for a case that has no head. */
	TU_OK(store_exec(fx->s, "INSERT INTO case_fts(case_id, title, body)"
				" VALUES ('ELP-26-ZZZZZZZ', 'x', 'y')"));
	assert_int_equal(index_check(fx->s, fx->repo), ERR_CORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_moves_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_detects_tampering, setup, teardown),
	};

	if (odb_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
