/* tests/shared/node/test_evidb.c - evidence intake, custody, reads and the received-tree checks. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/evidence.h"
#include "node/casedb.h"
#include "node/evidb.h"
#include "node/node.h"
#include "store/chunks.h"

#define PA "alice passphrase 1"

struct fixture {
	char *dir;
	char *file;
	struct node *n;
	char case_id[SCHEMA_CASE_ID_MAX + 1];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct casefile_change c;
	char *home;
	uint8_t *data = malloc(3 * CHUNKS_SIZE + 10);
	size_t i;

	assert_non_null(fx);
	assert_non_null(data);
	fx->dir = tu_tmpdir();
	home = tu_path(fx->dir, "node");
	TU_OK(node_init(&fx->n, home, "ELP", "alice", PA, strlen(PA), &CRYPTO_KDF_LOW));
	free(home);
	memset(&c, 0, sizeof(c));
	c.sets[0] = (struct casefile_set){"title", "Evidence"};
	c.sets[1] = (struct casefile_set){"category", "theft"};
	c.nsets = 2;
	TU_OK(casedb_create(fx->case_id, fx->n, &c));
	for (i = 0; i < 3 * CHUNKS_SIZE + 10; i++)
		data[i] = (uint8_t)(i * 7 + i / 1000);
	fx->file = tu_path(fx->dir, "scan.pdf");
	tu_write_file(fx->file, data, 3 * CHUNKS_SIZE + 10);
	free(data);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	node_free(fx->n);
	tu_rmrf(fx->dir);
	free(fx->dir);
	free(fx->file);
	free(fx);
	return 0;
}

static void add(struct fixture *fx, const char *case_id, char id[EVIDENCE_ID_MAX])
{
	struct evidence_intake in = {"scan.pdf", "signed statement", "witness", NULL, "ELP"};
	uint8_t sha[CRYPTO_SHA256_LEN];

	TU_OK(evidb_add(id, sha, fx->n, case_id, fx->file, &in, EVIDB_LIMIT_DEFAULT, NULL, NULL));
}

/* The chunk bytes the evidence database holds. */
static long long chunk_rows(struct fixture *fx)
{
	struct store *e = NULL;

	TU_OK(store_evidence(&e, fx->n->store));
	return tu_sql_int(e, "SELECT count(*) FROM chunks");
}

/*
 * A purge killed after it dropped a chunk from the store and before it removed the bytes: the
 * next open of the node removes them.  And the name backup and restore use for the evidence
 * database is the one the store opens.
 */
static void test_sweep_at_open(void **state)
{
	struct fixture *fx = *state;
	char id[EVIDENCE_ID_MAX], *home = tu_path(fx->dir, "node"), *ev;
	char *want = tu_path(home, NODE_EVIDENCE_NAME);

	ev = store_evidence_path(fx->n->db_path);
	assert_string_equal(ev, want);
	add(fx, fx->case_id, id);
	assert_int_equal(chunk_rows(fx), 4);
	TU_OK(store_begin(fx->n->store));
	TU_OK(store_run(fx->n->store,
		"DELETE FROM evidence_chunk_state WHERE hash ="
		" (SELECT hash FROM evidence_chunk_state LIMIT 1)",
		""));
	TU_OK(store_meta_set(fx->n->store, CHUNKS_SWEEP_KEY, "1"));
	TU_OK(store_commit(fx->n->store));
	node_free(fx->n);
	fx->n = NULL;
	TU_OK(node_open(&fx->n, home, "alice", PA, strlen(PA)));
	assert_int_equal(chunk_rows(fx), 3);
	assert_int_equal(tu_sql_int(fx->n->store,
				 "SELECT count(*) FROM node_meta WHERE key = '" CHUNKS_SWEEP_KEY
				 "'"),
		0);
	free(ev);
	free(want);
	free(home);
}

static void test_add_list_get(void **state)
{
	struct fixture *fx = *state;
	struct evidence_item *items = NULL;
	struct evidence_intake in = {"x", "d", NULL, NULL, NULL};
	char id[EVIDENCE_ID_MAX], *out = tu_path(fx->dir, "out.pdf");
	uint8_t sha[CRYPTO_SHA256_LEN];
	uint64_t nitems = 0, bytes = 0;
	size_t count = 0, len = 0, flen = 0;
	uint8_t *got, *want;

	add(fx, fx->case_id, id);
	assert_int_equal(chunk_rows(fx), 4);
	assert_int_equal(tu_sql_int(fx->n->store,
				 "SELECT count(*) FROM evidence_chunk_state WHERE state = 1"),
		4);
	TU_OK(evidb_list(&items, &count, fx->n, fx->case_id));
	assert_int_equal(count, 1);
	assert_string_equal(items[0].id, id);
	assert_int_equal(items[0].size, 3 * CHUNKS_SIZE + 10);
	assert_int_equal(items[0].nchunks, 4);
	assert_string_equal(items[0].state, "in-custody");
	assert_string_equal(items[0].custodian, "alice");
	evidence_items_free(items, count);
	TU_OK(evidb_get(fx->n, fx->case_id, id, out, NULL, NULL));
	got = tu_read_file(out, &len);
	want = tu_read_file(fx->file, &flen);
	assert_int_equal(len, flen);
	assert_memory_equal(got, want, len);
	free(got);
	free(want);
	TU_OK(evidb_verify(&nitems, &bytes, fx->n, fx->case_id, id));
	assert_int_equal(nitems, 1);
	assert_int_equal(bytes, 3 * CHUNKS_SIZE + 10);
	/* over the limit: refused before any chunk is stored */
	assert_int_equal(evidb_add(id, sha, fx->n, fx->case_id, fx->file, &in, 1000, NULL, NULL),
		ERR_TOOBIG);
	assert_int_equal(chunk_rows(fx), 4);
	assert_int_equal(evidb_add(id, sha, fx->n, fx->case_id, fx->dir, &in, 1u << 30, NULL, NULL),
		ERR_INVALID);
	free(out);
}

static void test_dedup_and_custody(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct evidence_item it;
	char other[SCHEMA_CASE_ID_MAX + 1], id[EVIDENCE_ID_MAX], id2[EVIDENCE_ID_MAX];
	char ev[EVIDENCE_ID_MAX];

	add(fx, fx->case_id, id);
	memset(&c, 0, sizeof(c));
	c.sets[0] = (struct casefile_set){"title", "Other"};
	c.sets[1] = (struct casefile_set){"category", "ethics"};
	c.nsets = 2;
	TU_OK(casedb_create(other, fx->n, &c));
	add(fx, other, id2);
	assert_int_equal(chunk_rows(fx), 4);
	TU_OK(evidb_custody(ev, fx->n, fx->case_id, id, "check-out", "lab", "lab", "imaging"));
	assert_int_equal(evidb_custody(ev, fx->n, fx->case_id, id, "check-out", "x", "y", "z"),
		ERR_INVALID);
	assert_int_equal(evidb_custody(ev, fx->n, fx->case_id, id, "misplace", "x", "y", "z"),
		ERR_INVALID);
	TU_OK(evidb_custody(ev, fx->n, fx->case_id, id, "dispose", "", "incinerator", "closed"));
	assert_int_equal(evidb_custody(ev, fx->n, fx->case_id, id, "examine", "x", "y", "z"),
		ERR_INVALID);
	TU_OK(evidb_show(&it, fx->n, fx->case_id, id));
	assert_int_equal(it.nevents, 3);
	assert_string_equal(it.events[0].action, "intake");
	assert_string_equal(it.events[1].from, "alice");
	assert_string_equal(it.events[1].to, "lab");
	assert_string_equal(it.state, "disposed");
	evidence_item_release(&it);
	assert_int_equal(evidb_show(&it, fx->n, fx->case_id, "nosuch"), ERR_NOTFOUND);
}

/* A tree holding one blob at `path` on top of `base` (NULL: empty). */
static void tree_with(git_oid *out, git_repository *repo, const git_oid *base, const char *path,
	const char *text)
{
	git_index *idx = NULL;
	git_tree *t = NULL;
	git_index_entry e;

	assert_int_equal(git_index_new(&idx), 0);
	if (base) {
		assert_int_equal(git_tree_lookup(&t, repo, base), 0);
		assert_int_equal(git_index_read_tree(idx, t), 0);
		git_tree_free(t);
	}
	memset(&e, 0, sizeof(e));
	assert_int_equal(git_blob_create_from_buffer(&e.id, repo, text, strlen(text)), 0);
	e.mode = GIT_FILEMODE_BLOB;
	e.path = path;
	assert_int_equal(git_index_add(idx, &e), 0);
	assert_int_equal(git_index_write_tree_to(out, idx, repo), 0);
	git_index_free(idx);
}

static int check(git_repository *repo, const git_oid *now, const git_oid *before)
{
	git_tree *a = NULL, *b = NULL, *ea = NULL, *eb = NULL;
	int error;

	assert_int_equal(git_tree_lookup(&a, repo, now), 0);
	assert_int_equal(
		git_tree_lookup(&ea, repo, git_tree_entry_id(git_tree_entry_byname(a, "evidence"))),
		0);
	if (before) {
		assert_int_equal(git_tree_lookup(&b, repo, before), 0);
		assert_int_equal(git_tree_lookup(&eb, repo,
					 git_tree_entry_id(git_tree_entry_byname(b, "evidence"))),
			0);
	}
	error = evidence_check_tree(repo, ea, eb, "ELP-26-TEST");
	git_tree_free(a);
	git_tree_free(b);
	git_tree_free(ea);
	git_tree_free(eb);
	return error;
}

static void test_received_trees(void **state)
{
	struct fixture *fx = *state;
	git_repository *repo = fx->n->repo;
	struct evidence_item *items = NULL;
	size_t count = 0;
	char id[EVIDENCE_ID_MAX], path[256];
	git_oid head, tree, t2, t3;
	git_commit *c = NULL;

	add(fx, fx->case_id, id);
	TU_OK(casedb_head(&head, fx->n, fx->case_id));
	TU_OK(evidence_read_all(&items, &count, repo, &head));
	evidence_items_free(items, count);
	assert_int_equal(git_commit_lookup(&c, repo, &head), 0);
	git_oid_cpy(&tree, git_commit_tree_id(c));
	git_commit_free(c);
	TU_OK(check(repo, &tree, NULL));
	/* a new custody event: fine; a rewritten meta or event, a deleted item: refused */
	snprintf(path, sizeof(path), "evidence/%s/custody/20991231T000000.000Z-0000-abcdef12", id);
	tree_with(&t2, repo, &tree, path, "Action: examine\nBy: bob\n");
	TU_OK(check(repo, &t2, &tree));
	snprintf(path, sizeof(path), "evidence/%s/meta", id);
	tree_with(&t3, repo, &tree, path, "Name: other\n");
	assert_int_equal(check(repo, &t3, &tree), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "immutable"));
	snprintf(path, sizeof(path), "evidence/%s/custody/%s", id, id);
	tree_with(&t3, repo, &tree, path, "Action: intake\nBy: mallory\n");
	assert_int_equal(check(repo, &t3, &tree), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "append-only"));
	tree_with(&t3, repo, NULL, "evidence/20991231T000000.000Z-0000-abcdef12/meta", "Size: 1\n");
	assert_int_equal(check(repo, &t3, &tree), ERR_INVALID);
	snprintf(path, sizeof(path), "evidence/%s/extra", id);
	tree_with(&t3, repo, &tree, path, "x");
	assert_int_equal(check(repo, &t3, &tree), ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_list_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_and_custody, setup, teardown),
		cmocka_unit_test_setup_teardown(test_received_trees, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
