/* tests/shared/node/test_casedb.c - case operations as single audited transactions. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/casedb.h"
#include "node/node.h"
#include "store/odb.h"
#include "node/users.h"

#define PA "alice passphrase 1"
#define PQ "quinn passphrase 22"
#define TITLE "Gate incident at Zephyrhills"

struct fixture {
	char *dir;
	struct node *n;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char *home;

	assert_non_null(fx);
	fx->dir = tu_tmpdir();
	home = tu_path(fx->dir, "node");
	TU_OK(node_init(&fx->n, home, "ELP", "alice", PA, strlen(PA), &CRYPTO_KDF_LOW));
	free(home);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	node_free(fx->n);
	tu_rmrf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static void set(struct casefile_change *c, const char *name, const char *value)
{
	c->sets[c->nsets].name = name;
	c->sets[c->nsets].value = value;
	c->nsets++;
}

/* Count audit entries; `detail` (if not NULL) must occur in the entry. */
static long long audited(struct node *n, const char *action, const char *target,
	const char *outcome, const char *detail)
{
	sqlite3_stmt *st = NULL;
	long long v;

	TU_OK(store_prepare(&st, n->store,
		"SELECT count(*) FROM audit_log WHERE user = ? AND action = ? AND target = ?"
		" AND outcome = ? AND (?5 IS NULL OR instr(CAST(entry AS TEXT), ?5) > 0)"));
	sqlite3_bind_text(st, 1, n->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, outcome, -1, SQLITE_STATIC);
	if (detail)
		sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void create(struct fixture *fx, char id[SCHEMA_CASE_ID_MAX + 1])
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	set(&c, "title", TITLE);
	set(&c, "category", "use-of-force");
	c.narrative = "The guard was pushed. Nobody was hurt.";
	c.narrative_len = strlen(c.narrative);
	TU_OK(casedb_create(id, fx->n, &c));
}

struct ids {
	char list[256];
};

static int id_cb(void *ctx, const struct index_row *r)
{
	struct ids *ids = ctx;
	size_t used = strlen(ids->list);

	snprintf(ids->list + used, sizeof(ids->list) - used, "%s%s", used ? " " : "", r->case_id);
	return 0;
}

static void test_create_edit_view(void **state)
{
	struct fixture *fx = *state;
	char id[SCHEMA_CASE_ID_MAX + 1], note[CASEFILE_NOTE_ID_MAX];
	struct casefile_change c;
	struct casefile_view v;
	git_oid h1, h2;

	create(fx, id);
	TU_OK(schema_check_case_id(id));
	assert_memory_equal(id, "ELP-", 4);
	assert_int_equal(audited(fx->n, "case.create", id, "success", "fields title,category"),
		1);
	TU_OK(casedb_head(&h1, fx->n, id));

	memset(&c, 0, sizeof(c));
	set(&c, "status", "open");
	TU_OK(casedb_edit(fx->n, id, &c, NULL));
	assert_int_equal(audited(fx->n, "case.update", id, "success", "fields status"), 1);
	TU_OK(casedb_head(&h2, fx->n, id));
	assert_false(git_oid_equal(&h1, &h2));

	memset(&c, 0, sizeof(c));
	c.note = "Interviewed the guard.";
	c.note_len = strlen(c.note);
	TU_OK(casedb_edit(fx->n, id, &c, note));
	assert_int_equal(audited(fx->n, "note.add", id, "success", note), 1);

	TU_OK(casedb_view(&v, fx->n, id));
	assert_string_equal(v.id, id);
	assert_string_equal(v.fields[schema_index("status")], "open");
	assert_string_equal(v.narrative, "The guard was pushed.\nNobody was hurt.\n");
	assert_int_equal(v.nnotes, 1);
	assert_string_equal(v.notes[0].id, note);
	assert_string_equal(v.notes[0].author, "alice");
	assert_string_equal(v.notes[0].device, fx->n->device);
	casefile_view_release(&v);
	assert_int_equal(audited(fx->n, "case.view", id, "success", NULL), 1);

	/* No case text in the audit log: names and ids only. */
	assert_int_equal(tu_sql_int(fx->n->store, "SELECT count(*) FROM audit_log WHERE"
						  " instr(CAST(entry AS TEXT), 'Zephyrhills') > 0"
						  " OR instr(CAST(entry AS TEXT), 'guard') > 0"),
		0);
}

static void test_history_list_search(void **state)
{
	struct fixture *fx = *state;
	char a[SCHEMA_CASE_ID_MAX + 1], b[SCHEMA_CASE_ID_MAX + 1];
	struct casefile_change c;
	struct casefile_rev *revs = NULL;
	struct ids ids;
	struct index_filter filter = {0};
	char quoted[64], full[SCHEMA_CASE_ID_MAX + 1], prefix[SCHEMA_CASE_ID_MAX + 1];
	size_t n = 0, len;

	create(fx, a);
	create(fx, b);
	memset(&c, 0, sizeof(c));
	set(&c, "status", "review");
	c.narrative = "The locker was found open.";
	c.narrative_len = strlen(c.narrative);
	TU_OK(casedb_edit(fx->n, b, &c, NULL));

	TU_OK(casedb_history(&revs, &n, fx->n, b));
	assert_int_equal(n, 2);
	assert_string_equal(revs[0].summary, "case update: status, narrative");
	assert_string_equal(revs[0].user, "alice");
	assert_string_equal(revs[0].office, "ELP");
	assert_string_equal(revs[0].device, fx->n->device);
	assert_true(revs[0].hlc.wall_ms > revs[1].hlc.wall_ms ||
		    (revs[0].hlc.wall_ms == revs[1].hlc.wall_ms &&
			    revs[0].hlc.counter > revs[1].hlc.counter));
	casefile_history_free(revs, n);
	assert_int_equal(audited(fx->n, "case.history", b, "success", NULL), 1);

	memset(&ids, 0, sizeof(ids));
	filter.status = "review";
	TU_OK(casedb_list(fx->n, &filter, id_cb, &ids));
	assert_string_equal(ids.list, b);
	assert_int_equal(audited(fx->n, "case.list", "", "success", "status=review"), 1);
	memset(&ids, 0, sizeof(ids));
	filter.status = "sleeping";
	assert_int_equal(casedb_list(fx->n, &filter, id_cb, &ids), ERR_INVALID);
	filter.status = NULL;
	filter.received_from = "yesterday";
	assert_int_equal(casedb_list(fx->n, &filter, id_cb, &ids), ERR_INVALID);
	filter.received_from = NULL;
	filter.office = "not an office";
	assert_int_equal(casedb_list(fx->n, &filter, id_cb, &ids), ERR_INVALID);
	filter.office = NULL;

	memset(&ids, 0, sizeof(ids));
	TU_OK(casedb_search(fx->n, "locker", id_cb, &ids));
	assert_string_equal(ids.list, b);
	assert_int_equal(audited(fx->n, "case.search", "", "success", "locker"), 1);
	assert_int_equal(casedb_search(fx->n, "\"locker", id_cb, &ids), ERR_INVALID);
	assert_int_equal(audited(fx->n, "case.search", "", "failure", NULL), 1);
	assert_non_null(strstr(err_msg(), "the search query cannot be read"));

	/* each entry names the cases it showed */
	snprintf(quoted, sizeof(quoted), "\"cases\":[\"%s\"],\"cases_shown\":1,", b);
	assert_int_equal(audited(fx->n, "case.search", "", "success", quoted), 1);
	assert_int_equal(audited(fx->n, "case.list", "", "success", quoted), 1);

	/* short ids: a full id as it is, a unique prefix made whole, an ambiguous one refused */
	TU_OK(casedb_resolve(full, fx->n, a));
	assert_string_equal(full, a);
	TU_OK(casedb_resolve(full, fx->n, "ELP-26-ZZZZZZZ")); /* full: its own failure later */
	for (len = 8; len < strlen(a) && !strncmp(a, b, len); len++)
		;
	snprintf(prefix, sizeof(prefix), "%.*s", (int)len, b);
	TU_OK(casedb_resolve(full, fx->n, prefix));
	assert_string_equal(full, b);
	assert_int_equal(casedb_resolve(full, fx->n, "ELP-"), ERR_CONFLICT);
	assert_non_null(strstr(err_msg(), a));
	assert_non_null(strstr(err_msg(), b));
	assert_int_equal(casedb_resolve(full, fx->n, "SDG-"), ERR_NOTFOUND);
	assert_int_equal(casedb_resolve(full, fx->n, "elp 26"), ERR_INVALID);
}

static void test_failed_edits_change_nothing(void **state)
{
	struct fixture *fx = *state;
	char id[SCHEMA_CASE_ID_MAX + 1];
	struct casefile_change c;
	long long objects;
	git_oid before, after;

	create(fx, id);
	TU_OK(casedb_head(&before, fx->n, id));
	objects = tu_sql_int(fx->n->store, "SELECT count(*) FROM objects");

	memset(&c, 0, sizeof(c));
	set(&c, "status", "intake"); /* already so */
	assert_int_equal(casedb_edit(fx->n, id, &c, NULL), ERR_CONFLICT);
	assert_int_equal(audited(fx->n, "case.update", id, "failure", "no change"), 1);
	memset(&c, 0, sizeof(c));
	set(&c, "priority", "9");
	assert_int_equal(casedb_edit(fx->n, id, &c, NULL), ERR_INVALID);
	memset(&c, 0, sizeof(c));
	set(&c, "status", "open");
	assert_int_equal(casedb_edit(fx->n, "ELP-26-0000000", &c, NULL), ERR_NOTFOUND);
	assert_int_equal(casedb_head(&after, fx->n, "ELP-26-0000000"), ERR_NOTFOUND);

	TU_OK(casedb_head(&after, fx->n, id));
	assert_true(git_oid_equal(&before, &after));
	/* The no-op edit's objects were rolled back with it. */
	assert_int_equal(tu_sql_int(fx->n->store, "SELECT count(*) FROM objects"), objects);
	assert_true(sqlite3_get_autocommit(store_db(fx->n->store)));
}

static void test_roles(void **state)
{
	struct fixture *fx = *state;
	char id[SCHEMA_CASE_ID_MAX + 1], id2[SCHEMA_CASE_ID_MAX + 1];
	struct casefile_change c;
	struct casefile_view v;
	struct node *q = NULL;
	char *home = tu_path(fx->dir, "node");

	create(fx, id);
	TU_OK(users_add(fx->n, PA, strlen(PA), "quinn", "auditor", PQ, strlen(PQ),
		&CRYPTO_KDF_LOW));
	TU_OK(node_open(&q, home, "quinn", PQ, strlen(PQ)));
	memset(&c, 0, sizeof(c));
	set(&c, "title", "t");
	set(&c, "category", "theft");
	assert_int_equal(casedb_create(id2, q, &c), ERR_PERM);
	assert_int_equal(audited(q, "case.create", "", "denied", "role auditor"), 1);
	assert_int_equal(casedb_view(&v, q, id), ERR_PERM);
	assert_int_equal(audited(q, "case.view", id, "denied", NULL), 1);
	assert_int_equal(tu_sql_int(q->store, "SELECT count(*) FROM case_heads"), 1);
	node_free(q);
	free(home);
}

static void test_check(void **state)
{
	struct fixture *fx = *state;
	char id[SCHEMA_CASE_ID_MAX + 1];
	struct casedb_check_report rep;
	struct casefile_change c;
	uint64_t entries = 0;

	create(fx, id);
	create(fx, id);
	memset(&c, 0, sizeof(c));
	set(&c, "status", "open");
	TU_OK(casedb_edit(fx->n, id, &c, NULL));

	TU_OK(casedb_check(&rep, fx->n));
	assert_int_equal(rep.cases, 2);
	assert_int_equal(rep.commits, 3);
	assert_int_equal(rep.objects, tu_sql_int(fx->n->store, "SELECT count(*) FROM objects"));
	TU_OK(audit_check(&entries, fx->n->store));
	assert_int_equal(rep.audit_entries + 1, entries); /* + the check's own entry */
	assert_int_equal(audited(fx->n, "node.check", "", "success", NULL), 1);

	/* One object's bytes changed behind libgit2's back. */
	TU_OK(store_exec(fx->n->store,
		"UPDATE objects SET data = CAST('tampered' AS BLOB) WHERE oid ="
		" (SELECT oid FROM objects WHERE type = 3 ORDER BY oid LIMIT 1)"));
	memset(&rep, 0xff, sizeof(rep));
	assert_int_equal(casedb_check(&rep, fx->n), ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), "does not match"));
	assert_int_equal(rep.cases, -1); /* report untouched on failure */
	assert_int_equal(audited(fx->n, "node.check", "", "failure", NULL), 1);
}

static void delete_object(struct fixture *fx, const git_oid *id)
{
	char sql[256], hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(sql, sizeof(sql), "DELETE FROM objects WHERE hex(oid) = upper('%s')", hex);
	TU_OK(store_exec(fx->n->store, sql));
	assert_true(sqlite3_changes(store_db(fx->n->store)) == 1);
}

static void test_check_missing_object(void **state)
{
	struct fixture *fx = *state;
	struct casedb_check_report rep;
	char id[SCHEMA_CASE_ID_MAX + 1], hex[GIT_OID_HEXSZ + 1];
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	git_oid head, blob;

	create(fx, id);
	TU_OK(casedb_head(&head, fx->n, id));
	assert_int_equal(git_commit_lookup(&commit, fx->n->repo, &head), 0);
	assert_int_equal(git_commit_tree(&tree, commit), 0);
	assert_int_equal(git_tree_entry_bypath(&e, tree, "narrative.md"), 0);
	git_oid_cpy(&blob, git_tree_entry_id(e));
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(commit);

	/* A file of the case is gone. */
	delete_object(fx, &blob);
	assert_int_equal(casedb_check(&rep, fx->n), ERR_CORRUPT);
	git_oid_tostr(hex, sizeof(hex), &blob);
	assert_non_null(strstr(err_msg(), hex));

	/* The head commit itself is gone. */
	delete_object(fx, &head);
	assert_int_equal(casedb_check(&rep, fx->n), ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), id)); /* names the broken case */
}

/* A migration that adds derived columns asks the next open to rebuild them (schema 7 -> 8). */
static void test_reindex_after_migration(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct index_filter filter = {0};
	struct ids ids;
	char id[SCHEMA_CASE_ID_MAX + 1], *home = tu_path(fx->dir, "node");

	memset(&c, 0, sizeof(c));
	set(&c, "title", TITLE);
	set(&c, "category", "theft");
	set(&c, "subject_id", "EMP-4711");
	set(&c, "due_at", "2026-02-01");
	TU_OK(casedb_create(id, fx->n, &c));
	/* as a store of schema 7 leaves it: the new columns empty, the flag set */
	TU_OK(store_exec(fx->n->store,
		"UPDATE case_index SET subject_id = NULL, due_at = NULL;"
		"INSERT INTO node_meta(key, value) VALUES ('reindex', '8');"));
	assert_int_equal(index_check(fx->n->store, fx->n->repo), ERR_CORRUPT);
	node_free(fx->n);
	TU_OK(node_open(&fx->n, home, "alice", PA, strlen(PA)));
	TU_OK(index_check(fx->n->store, fx->n->repo));
	filter.subject_id = "EMP-4711";
	memset(&ids, 0, sizeof(ids));
	TU_OK(casedb_list(fx->n, &filter, id_cb, &ids));
	assert_string_equal(ids.list, id);
	memset(&filter, 0, sizeof(filter));
	filter.overdue_on = "2026-03-01";
	memset(&ids, 0, sizeof(ids));
	TU_OK(casedb_list(fx->n, &filter, id_cb, &ids));
	assert_string_equal(ids.list, id);
	free(home);
}

struct snippets {
	char ids[256], snippet[256];
};

static int snippet_cb(void *ctx, const struct index_row *r)
{
	struct snippets *sn = ctx;

	snprintf(sn->ids, sizeof(sn->ids), "%s", r->case_id);
	snprintf(sn->snippet, sizeof(sn->snippet), "%s", r->snippet ? r->snippet : "");
	return 0;
}

static long long fts4_tables(struct store *s)
{
	return tu_sql_int(s,
		"SELECT count(*) FROM sqlite_master WHERE name IN ('case_fts_docsize', 'case_fts_stat')");
}

/*
 * An edit that leaves office and status as they were updates the row without touching their
 * indexes, and one that changes status moves it in them; schema 10 -> 11 rebuilds the
 * full-text index as FTS3, without FTS4's per-document sizes and totals, and search (with its
 * snippets) still finds the case.
 */
static void test_index_update_and_fts_migration(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct index_filter filter = {0};
	struct ids ids;
	struct snippets sn;
	char id[SCHEMA_CASE_ID_MAX + 1], *home = tu_path(fx->dir, "node");

	memset(&c, 0, sizeof(c));
	set(&c, "title", TITLE);
	set(&c, "category", "theft");
	TU_OK(casedb_create(id, fx->n, &c));
	memset(&c, 0, sizeof(c));
	set(&c, "status", "review");
	TU_OK(casedb_edit(fx->n, id, &c, NULL));
	memset(&c, 0, sizeof(c));
	set(&c, "title", "Gate incident at Wauchula");
	TU_OK(casedb_edit(fx->n, id, &c, NULL));
	TU_OK(index_check(fx->n->store, fx->n->repo));
	filter.status = "review";
	memset(&ids, 0, sizeof(ids));
	TU_OK(casedb_list(fx->n, &filter, id_cb, &ids));
	assert_string_equal(ids.list, id);
	filter.status = "open";
	memset(&ids, 0, sizeof(ids));
	TU_OK(casedb_list(fx->n, &filter, id_cb, &ids));
	assert_string_equal(ids.list, "");
	assert_int_equal(fts4_tables(fx->n->store), 0);
	/* a device serves no pull: its edits leave the change sequence (and its index) alone */
	assert_int_equal(tu_sql_int(fx->n->store, "SELECT max(seq) FROM case_heads"), 0);

	/* as schema 10 left it: the full-text index with its document sizes */
	TU_OK(store_exec(fx->n->store,
		"DROP TABLE case_fts;"
		"CREATE VIRTUAL TABLE case_fts USING fts4(case_id, title, body, tokenize=unicode61);"
		"PRAGMA user_version = 10;"));
	TU_OK(index_rebuild(fx->n->store, fx->n->repo));
	assert_int_equal(fts4_tables(fx->n->store), 2);
	node_free(fx->n);
	TU_OK(node_open(&fx->n, home, "alice", PA, strlen(PA)));
	assert_int_equal(tu_sql_int(fx->n->store, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(fts4_tables(fx->n->store), 0);
	assert_int_equal(tu_sql_int(fx->n->store, "SELECT count(*) FROM node_meta"
						  " WHERE key = 'reindex'"),
		0);
	TU_OK(index_check(fx->n->store, fx->n->repo));
	memset(&sn, 0, sizeof(sn));
	TU_OK(casedb_search(fx->n, "wauchula", snippet_cb, &sn));
	assert_string_equal(sn.ids, id);
	assert_non_null(strstr(sn.snippet, "[Wauchula]"));
	memset(&sn, 0, sizeof(sn));
	TU_OK(casedb_search(fx->n, "zephyrhills", snippet_cb, &sn));
	assert_string_equal(sn.ids, ""); /* the old title is gone from the index */
	free(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reindex_after_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_update_and_fts_migration, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_create_edit_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_list_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_edits_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_missing_object, setup, teardown),
	};

	if (odb_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
