/* tests/shared/store/test_odb.c - git objects inside the encrypted store. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/odb.h"
#include "store/store.h"

struct fixture {
	char *dir;
	struct store *s;
	git_repository *repo;
	git_odb *odb;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->s = tu_store_new(&fx->dir);
	TU_OK(odb_repository_open(&fx->repo, fx->s));
	assert_int_equal(git_repository_odb(&fx->odb, fx->repo), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	git_odb_free(fx->odb);
	git_repository_free(fx->repo);
	tu_store_done(fx->s, fx->dir);
	free(fx);
	return 0;
}

static git_oid blob(struct fixture *fx, const char *text)
{
	git_oid id;

	assert_int_equal(git_blob_create_from_buffer(&id, fx->repo, text, strlen(text)), 0);
	return id;
}

static void test_write_read(void **state)
{
	struct fixture *fx = *state;
	static const char text[] = "narrative text\n";
	git_odb_object *obj = NULL;
	git_object_t type = GIT_OBJECT_INVALID;
	git_oid id, want, missing;
	size_t len = 0;

	id = blob(fx, text);
	assert_int_equal(git_odb_hash(&want, text, strlen(text), GIT_OBJECT_BLOB), 0);
	assert_true(git_oid_equal(&id, &want));
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM objects"), 1);

	assert_true(git_odb_exists(fx->odb, &id));
	assert_int_equal(git_odb_read(&obj, fx->odb, &id), 0);
	assert_int_equal(git_odb_object_type(obj), GIT_OBJECT_BLOB);
	assert_int_equal(git_odb_object_size(obj), strlen(text));
	assert_memory_equal(git_odb_object_data(obj), text, strlen(text));
	git_odb_object_free(obj);
	assert_int_equal(git_odb_read_header(&len, &type, fx->odb, &id), 0);
	assert_int_equal(len, strlen(text));
	assert_int_equal(type, GIT_OBJECT_BLOB);

	/* Writing the same content again is a no-op. */
	blob(fx, text);
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM objects"), 1);

	/* An empty object is an object too. */
	id = blob(fx, "");
	assert_int_equal(git_odb_read(&obj, fx->odb, &id), 0);
	assert_int_equal(git_odb_object_size(obj), 0);
	git_odb_object_free(obj);

	assert_int_equal(git_oid_fromstr(&missing, "0123456789abcdef0123456789abcdef01234567"), 0);
	assert_false(git_odb_exists(fx->odb, &missing));
	assert_int_equal(git_odb_read(&obj, fx->odb, &missing), GIT_ENOTFOUND);
	assert_int_equal(git_odb_read_header(&len, &type, fx->odb, &missing), GIT_ENOTFOUND);
}

static void test_object_cap(void **state)
{
	struct fixture *fx = *state;
	char *big = calloc(1, ODB_OBJECT_MAX + 1);
	git_oid id;

	assert_non_null(big);
	assert_true(git_blob_create_from_buffer(&id, fx->repo, big, ODB_OBJECT_MAX + 1) < 0);
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM objects"), 0);
	assert_int_equal(git_blob_create_from_buffer(&id, fx->repo, big, ODB_OBJECT_MAX), 0);
	free(big);
}

static void test_prefix(void **state)
{
	struct fixture *fx = *state;
	git_oid id, shortid, found;
	git_odb_object *obj = NULL;
	char hex[GIT_OID_HEXSZ + 1];

	id = blob(fx, "only object");
	git_oid_tostr(hex, sizeof(hex), &id);
	hex[7] = '\0';
	assert_int_equal(git_oid_fromstrn(&shortid, hex, 7), 0);
	assert_int_equal(git_odb_exists_prefix(&found, fx->odb, &shortid, 7), 0);
	assert_true(git_oid_equal(&found, &id));
	assert_int_equal(git_odb_read_prefix(&obj, fx->odb, &shortid, 7), 0);
	assert_true(git_oid_equal(git_odb_object_id(obj), &id));
	assert_memory_equal(git_odb_object_data(obj), "only object", 11);
	git_odb_object_free(obj);

	/* A prefix that matches nothing: flip its last digit. */
	hex[6] = hex[6] == '0' ? '1' : '0';
	assert_int_equal(git_oid_fromstrn(&shortid, hex, 7), 0);
	assert_int_equal(git_odb_exists_prefix(&found, fx->odb, &shortid, 7), GIT_ENOTFOUND);
	assert_int_equal(git_odb_read_prefix(&obj, fx->odb, &shortid, 7), GIT_ENOTFOUND);
}

static void test_ambiguous_prefix(void **state)
{
	struct fixture *fx = *state;
	static int first[65536];
	char text[2][32], ha[GIT_OID_HEXSZ + 1], hb[GIT_OID_HEXSZ + 1];
	git_oid a, b, shortid, found;
	git_odb_object *obj = NULL;
	size_t d;
	int i, other = -1;

	/* Hash candidate blobs until two share their first four hex digits. */
	memset(first, 0xff, sizeof(first));
	for (i = 0; other < 0 && i < 100000; i++) {
		char t[32];
		int k;

		snprintf(t, sizeof(t), "candidate %d", i);
		assert_int_equal(git_odb_hash(&a, t, strlen(t), GIT_OBJECT_BLOB), 0);
		k = a.id[0] << 8 | a.id[1];
		if (first[k] >= 0)
			other = first[k];
		else
			first[k] = i;
	}
	assert_true(other >= 0);
	snprintf(text[0], sizeof(text[0]), "candidate %d", other);
	snprintf(text[1], sizeof(text[1]), "candidate %d", i - 1);
	a = blob(fx, text[0]);
	b = blob(fx, text[1]);
	blob(fx, "a bystander");
	git_oid_tostr(ha, sizeof(ha), &a);
	git_oid_tostr(hb, sizeof(hb), &b);
	assert_memory_equal(ha, hb, 4);

	assert_int_equal(git_oid_fromstrn(&shortid, ha, 4), 0);
	assert_int_equal(git_odb_exists_prefix(&found, fx->odb, &shortid, 4), GIT_EAMBIGUOUS);
	assert_int_equal(git_odb_read_prefix(&obj, fx->odb, &shortid, 4), GIT_EAMBIGUOUS);

	/* One more digit than they share picks each of them (odd lengths included). */
	for (d = 4; ha[d] == hb[d]; d++)
		;
	assert_int_equal(git_oid_fromstrn(&shortid, ha, d + 1), 0);
	assert_int_equal(git_odb_exists_prefix(&found, fx->odb, &shortid, d + 1), 0);
	assert_true(git_oid_equal(&found, &a));
	assert_int_equal(git_oid_fromstrn(&shortid, hb, d + 1), 0);
	assert_int_equal(git_odb_read_prefix(&obj, fx->odb, &shortid, d + 1), 0);
	assert_true(git_oid_equal(git_odb_object_id(obj), &b));
	assert_memory_equal(git_odb_object_data(obj), text[1], strlen(text[1]));
	git_odb_object_free(obj);
}

struct visit {
	git_oid ids[64];
	size_t n;
	size_t stop_after;
};

static int visit_cb(const git_oid *id, void *payload)
{
	struct visit *v = payload;

	assert_true(v->n < 64);
	git_oid_cpy(&v->ids[v->n++], id);
	return v->stop_after && v->n == v->stop_after ? 42 : 0;
}

static void test_foreach(void **state)
{
	struct fixture *fx = *state;
	struct visit v;
	git_oid ids[20];
	char text[32];
	size_t i, j;

	memset(&v, 0, sizeof(v));
	assert_int_equal(git_odb_foreach(fx->odb, visit_cb, &v), 0);
	assert_int_equal(v.n, 0);

	for (i = 0; i < 20; i++) {
		snprintf(text, sizeof(text), "object %zu", i);
		ids[i] = blob(fx, text);
	}
	assert_int_equal(git_odb_foreach(fx->odb, visit_cb, &v), 0);
	assert_int_equal(v.n, 20);
	for (i = 0; i < 20; i++) {
		int seen = 0;

		for (j = 0; j < v.n; j++)
			seen += git_oid_equal(&ids[i], &v.ids[j]);
		assert_int_equal(seen, 1); /* each object exactly once */
	}

	/* A non-zero return from the callback stops the walk and comes back. */
	memset(&v, 0, sizeof(v));
	v.stop_after = 3;
	assert_int_equal(git_odb_foreach(fx->odb, visit_cb, &v), 42);
	assert_int_equal(v.n, 3);
}

/* A commit over a one-file tree, through libgit2's ordinary calls. */
static git_oid make_commit(struct fixture *fx, const char *content)
{
	git_treebuilder *tb = NULL;
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_oid bid, tid, cid;

	bid = blob(fx, content);
	assert_int_equal(git_treebuilder_new(&tb, fx->repo, NULL), 0);
	assert_int_equal(git_treebuilder_insert(NULL, tb, "file", &bid, GIT_FILEMODE_BLOB), 0);
	assert_int_equal(git_treebuilder_write(&tid, tb), 0);
	assert_int_equal(git_tree_lookup(&tree, fx->repo, &tid), 0);
	assert_int_equal(git_signature_new(&sig, "t", "t@x", 1700000000, 0), 0);
	assert_int_equal(git_commit_create(&cid, fx->repo, NULL, sig, sig, NULL, "m\n", tree, 0,
				 NULL),
		0);
	git_signature_free(sig);
	git_tree_free(tree);
	git_treebuilder_free(tb);
	return cid;
}

static void test_rollback(void **state)
{
	struct fixture *fx = *state;
	git_commit *c = NULL;
	git_oid kept, gone, cid;

	TU_OK(store_begin(fx->s));
	kept = blob(fx, "committed");
	TU_OK(store_commit(fx->s));

	TU_OK(store_begin(fx->s));
	gone = blob(fx, "rolled back");
	assert_true(git_odb_exists(fx->odb, &gone)); /* visible inside the transaction */
	cid = make_commit(fx, "rolled back too");
	assert_int_equal(git_commit_lookup(&c, fx->repo, &cid), 0); /* read while it exists */
	git_commit_free(c);
	c = NULL;
	store_rollback(fx->s);

	assert_true(git_odb_exists(fx->odb, &kept));
	assert_false(git_odb_exists(fx->odb, &gone));
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM objects"), 1);
	/* Not even through the object cache: the commit was read before the rollback. */
	assert_false(git_odb_exists(fx->odb, &cid));
	assert_int_equal(git_commit_lookup(&c, fx->repo, &cid), GIT_ENOTFOUND);
}

/*
 * The objects read or written in a transaction are kept for it alone: a row gone from the
 * table is still read inside it (its bytes are fixed by its id), never after it; exists()
 * always asks the table, so an object a savepoint rolled back is written again.
 */
static void test_transaction_cache(void **state)
{
	struct fixture *fx = *state;
	static const char text[] = "cached text";
	git_odb_object *obj = NULL;
	git_object_t type;
	git_oid id, want;
	size_t len;

	assert_int_equal(git_odb_hash(&want, text, strlen(text), GIT_OBJECT_BLOB), 0);
	TU_OK(store_begin(fx->s));
	/* a miss, then the write: the row is there */
	assert_int_equal(git_odb_read_header(&len, &type, fx->odb, &want), GIT_ENOTFOUND);
	id = blob(fx, text);
	assert_true(git_oid_equal(&id, &want));
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM objects"), 1);
	TU_OK(store_exec(fx->s, "DELETE FROM objects"));
	assert_int_equal(git_odb_read(&obj, fx->odb, &id), 0); /* this transaction wrote it */
	assert_int_equal(git_odb_object_size(obj), strlen(text));
	git_odb_object_free(obj);
	obj = NULL;
	assert_false(git_odb_exists(fx->odb, &id));
	TU_OK(store_commit(fx->s));
	TU_OK(store_begin_read(fx->s));
	assert_int_equal(git_odb_read(&obj, fx->odb, &id), GIT_ENOTFOUND);
	assert_int_equal(git_odb_read_header(&len, &type, fx->odb, &id), GIT_ENOTFOUND);
	store_rollback(fx->s);

	/* rolled back to a savepoint, and written again in the same transaction */
	TU_OK(store_begin(fx->s));
	TU_OK(store_exec(fx->s, "SAVEPOINT t"));
	id = blob(fx, text);
	assert_int_equal(git_odb_read(&obj, fx->odb, &id), 0);
	git_odb_object_free(obj);
	obj = NULL;
	TU_OK(store_exec(fx->s, "ROLLBACK TO t; RELEASE t"));
	assert_false(git_odb_exists(fx->odb, &id));
	id = blob(fx, text);
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM objects"), 1);
	TU_OK(store_commit(fx->s));
	assert_true(git_odb_exists(fx->odb, &id));
}

/*
 * Nothing git does through this repository touches the file system: no HEAD or refs/ in the
 * current directory, and no ~/.gitconfig read (a broken one would make the merge fail).
 */
static void test_no_files(void **state)
{
	struct fixture *fx = *state;
	char *cwd = tu_tmpdir(), *home = tu_tmpdir(), *cfg = tu_path(home, ".gitconfig");
	git_buf old_global = GIT_BUF_INIT;
	git_reference *ref = NULL;
	git_commit *c1 = NULL, *c2 = NULL;
	git_index *merged = NULL;
	char oldcwd[4096];
	git_oid a, b;

	assert_non_null(getcwd(oldcwd, sizeof(oldcwd)));
	assert_int_equal(chdir(cwd), 0);
	tu_write_file(cfg, "[broken\n", 8);
	assert_int_equal(git_libgit2_opts(GIT_OPT_GET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL,
				 &old_global),
		0);
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, home),
		0);

	a = make_commit(fx, "one\n");
	b = make_commit(fx, "two\n");
	/* Ref calls go to the empty in-memory refdb, not to ./HEAD or ./refs. */
	(void)git_reference_create(&ref, fx->repo, "refs/heads/main", &a, 0, NULL);
	git_reference_free(ref);
	(void)git_repository_set_head(fx->repo, "refs/heads/main");
	assert_int_equal(git_commit_lookup(&c1, fx->repo, &a), 0);
	assert_int_equal(git_commit_lookup(&c2, fx->repo, &b), 0);
	if (git_merge_commits(&merged, fx->repo, c1, c2, NULL) != 0)
		fail_msg("merge failed: %s", git_error_last() ? git_error_last()->message : "?");
	git_index_free(merged);
	git_commit_free(c1);
	git_commit_free(c2);
	assert_true(git_repository_is_bare(fx->repo));
	assert_null(git_repository_workdir(fx->repo));

	assert_int_equal(tu_dir_count(cwd), 0);
	assert_int_equal(tu_dir_count(home), 1); /* only the .gitconfig put there */

	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL,
				 old_global.ptr),
		0);
	git_buf_dispose(&old_global);
	assert_int_equal(chdir(oldcwd), 0);
	tu_rmrf(cwd);
	tu_rmrf(home);
	free(cwd);
	free(home);
	free(cfg);
}

static void run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fail_msg("'%s' failed (%d)", cmd, rc);
}

/* A small repository made with the git CLI, its pack, and the ids of what is in it. */
static char *make_git_pack(const char *dir, const char *pack_flags)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		"set -e; export HOME='%s' GIT_CONFIG_NOSYSTEM=1; cd '%s';"
		" git init -q src; cd src;"
		" seq 1 400 | sed 's/$/ a line of the narrative/' > big.txt;"
		" printf 'hello pack\\n' > small.txt;"
		" git add .; git -c user.name=t -c user.email=t@x commit -q -m one;"
		" sed -i 's/^200 .*/200 changed/' big.txt;"
		" git -c user.name=t -c user.email=t@x commit -q -am two;"
		" git rev-list --objects --all | git pack-objects -q --stdout %s > ../p.pack;"
		" git rev-list --objects --all | cut -c1-40 > ../ids;"
		" git rev-parse HEAD:small.txt > ../small.id",
		dir, dir, pack_flags);
	run(cmd);
	return tu_path(dir, "p.pack");
}

static int ingest(struct fixture *fx, const uint8_t *pack, size_t len)
{
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	int rc;

	memset(&stats, 0, sizeof(stats));
	assert_int_equal(git_odb_write_pack(&wp, fx->odb, NULL, NULL), 0);
	/* In two pieces, as a network transfer would hand it over. */
	rc = wp->append(wp, pack, len / 2, &stats);
	if (!rc)
		rc = wp->append(wp, pack + len / 2, len - len / 2, &stats);
	if (!rc)
		rc = wp->commit(wp, &stats);
	wp->free(wp);
	return rc;
}

static void check_pack(struct fixture *fx, const char *flags)
{
	char *tmp = tu_tmpdir(), *packpath = make_git_pack(tmp, flags);
	char *idspath = tu_path(tmp, "ids"), *smallpath = tu_path(tmp, "small.id");
	uint8_t *pack, *ids, *small;
	size_t len = 0, idslen = 0, smalllen = 0, off, n = 0;
	git_odb_object *obj = NULL;
	git_oid id;

	pack = tu_read_file(packpath, &len);
	ids = tu_read_file(idspath, &idslen);
	small = tu_read_file(smallpath, &smalllen);
	assert_non_null(pack);
	assert_non_null(ids);
	assert_non_null(small);

	/* A corrupt pack (bad trailing checksum) stores nothing. */
	pack[len - 1] ^= 0x01;
	assert_true(ingest(fx, pack, len) < 0);
	if (strstr(err_msg(), "stub"))
		skip(); /* pack_parse is not written yet */
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM objects"), 0);
	pack[len - 1] ^= 0x01;

	if (ingest(fx, pack, len) < 0)
		fail_msg("pack ingest failed: %s", err_msg());
	for (off = 0; off + 40 <= idslen; off += 41, n++) {
		assert_int_equal(git_oid_fromstrn(&id, (const char *)ids + off, 40), 0);
		if (!git_odb_exists(fx->odb, &id))
			fail_msg("object %.40s from the pack is missing", (const char *)ids + off);
	}
	assert_int_equal(n, 7); /* 2 commits, 2 trees, 3 blobs */
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM objects"), 7);

	assert_int_equal(git_oid_fromstrn(&id, (const char *)small, 40), 0);
	assert_int_equal(git_odb_read(&obj, fx->odb, &id), 0);
	assert_int_equal(git_odb_object_size(obj), 11);
	assert_memory_equal(git_odb_object_data(obj), "hello pack\n", 11);
	git_odb_object_free(obj);

	free(pack);
	free(ids);
	free(small);
	free(packpath);
	free(idspath);
	free(smallpath);
	tu_rmrf(tmp);
	free(tmp);
}

static void test_writepack_ofs_delta(void **state)
{
	check_pack(*state, "--delta-base-offset");
}

static void test_writepack_ref_delta(void **state)
{
	check_pack(*state, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ambiguous_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writepack_ofs_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writepack_ref_delta, setup, teardown),
	};

	if (odb_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
