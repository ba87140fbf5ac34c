/* tests/shared/case/test_merge.c - the deterministic three-way merge of case histories. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/casefile.h"
#include "case/merge.h"
#include "store/odb.h"
#include "store/store.h"

#define CASE_ID "ELP-26-7KQ4M2X"
#define OTHER_CASE_ID "ELP-26-9ZZ4M2X"
#define T0 1764268619000LL /* 2025-11-27T18:36:59Z */
#define BOB "bob (ELP/fedcba9876543210)"
#define ALICE "alice (ELP/0123456789abcdef)"

struct fixture {
	char *dir;
	struct store *s;
	git_repository *repo;
	struct casefile_author alice, bob, hq; /* hq merges */
	int64_t clock;			       /* every commit one second later */
	git_oid base;			       /* the case as created */
};

static void set(struct casefile_change *c, const char *name, const char *value)
{
	c->sets[c->nsets].name = name;
	c->sets[c->nsets].value = value;
	c->nsets++;
}

/* Commit `c` by `who` on `parent` (NULL: create the case `id`). */
static git_oid commit_as(struct fixture *fx, struct casefile_author *who, const git_oid *parent,
	const char *id, const struct casefile_change *c)
{
	git_oid head;

	fx->clock += 1000;
	who->hlc.wall_ms = fx->clock;
	TU_OK(casefile_commit(&head, NULL, fx->repo, parent, id, c, who,
		parent ? "case update" : "case create"));
	return head;
}

static git_oid set_field(struct fixture *fx, struct casefile_author *who, const git_oid *parent,
	const char *name, const char *value)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	set(&c, name, value);
	return commit_as(fx, who, parent, CASE_ID, &c);
}

static git_oid set_narrative(struct fixture *fx, struct casefile_author *who,
	const git_oid *parent, const char *text)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	c.narrative = text;
	c.narrative_len = strlen(text);
	return commit_as(fx, who, parent, CASE_ID, &c);
}

static git_oid add_note(struct fixture *fx, struct casefile_author *who, const git_oid *parent,
	const char *text)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	c.note = text;
	c.note_len = strlen(text);
	return commit_as(fx, who, parent, CASE_ID, &c);
}

static git_oid create(struct fixture *fx, struct casefile_author *who, const char *id,
	const char *title)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	set(&c, "title", title);
	set(&c, "category", "use-of-force");
	return commit_as(fx, who, NULL, id, &c);
}

static void author_init(struct casefile_author *a, const char *user, const char *office,
	const char *device)
{
	a->user = user;
	a->office = office;
	a->device = device;
	a->hlc.wall_ms = T0;
	a->hlc.counter = 0;
	a->role = NULL;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->s = tu_store_new(&fx->dir);
	TU_OK(odb_repository_open(&fx->repo, fx->s));
	author_init(&fx->alice, "alice", "ELP", "0123456789abcdef");
	author_init(&fx->bob, "bob", "ELP", "fedcba9876543210");
	author_init(&fx->hq, "server", "HQ", "hq-node-1");
	fx->clock = T0;
	fx->base = create(fx, &fx->alice, CASE_ID, "Gate incident");
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

/* merge_commits with the fixture's merger, one second after the last commit. */
static struct merge_result merge(struct fixture *fx, const git_oid *ours, const git_oid *theirs)
{
	struct merge_result r;

	memset(&r, 0xff, sizeof(r));
	fx->hq.hlc.wall_ms = fx->clock + 1000;
	TU_OK(merge_commits(&r, fx->repo, CASE_ID, ours, theirs, &fx->hq));
	return r;
}

static struct casefile_view view(struct fixture *fx, const git_oid *head)
{
	struct casefile_view v;

	TU_OK(casefile_read(&v, fx->repo, head));
	return v;
}

static const char *field_of(const struct casefile_view *v, const char *name)
{
	return v->fields[schema_index(name)];
}

static void oid_hex(char out[GIT_OID_HEXSZ + 1], const git_oid *id)
{
	git_oid_tostr(out, GIT_OID_HEXSZ + 1, id);
}

/* The name of the conflict version of a losing value: 12 hex digits of its blob id. */
static void conflict_name(char out[13], const char *value)
{
	git_oid id;

	assert_int_equal(git_odb_hash(&id, value, strlen(value), GIT_OBJECT_BLOB), 0);
	git_oid_tostr(out, 13, &id);
}

static git_oid tree_of_commit(struct fixture *fx, const git_oid *commit)
{
	git_commit *c = NULL;
	git_oid id;

	assert_int_equal(git_commit_lookup(&c, fx->repo, commit), 0);
	git_oid_cpy(&id, git_commit_tree_id(c));
	git_commit_free(c);
	return id;
}

/* The bytes of the file at `path` in the tree of commit `head` (malloc'd), or NULL. */
static char *file_at(struct fixture *fx, const git_oid *head, const char *path)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	char *s = NULL;

	assert_int_equal(git_commit_lookup(&c, fx->repo, head), 0);
	assert_int_equal(git_commit_tree(&tree, c), 0);
	if (git_tree_entry_bypath(&e, tree, path) == 0) {
		assert_int_equal(git_blob_lookup(&blob, fx->repo, git_tree_entry_id(e)), 0);
		s = strndup(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
		assert_non_null(s);
	}
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(c);
	return s;
}

/* A tree of the given files: pairs of path and content, ended by NULL. */
static git_oid make_tree(struct fixture *fx, const char *const *files)
{
	git_index *idx = NULL;
	git_index_entry e;
	git_oid id;

	assert_int_equal(git_index_new(&idx), 0);
	for (; files[0]; files += 2) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(git_blob_create_from_buffer(&e.id, fx->repo, files[1],
					 strlen(files[1])),
			0);
		e.mode = GIT_FILEMODE_BLOB;
		e.path = files[0];
		assert_int_equal(git_index_add(idx, &e), 0);
	}
	assert_int_equal(git_index_write_tree_to(&id, idx, fx->repo), 0);
	git_index_free(idx);
	return id;
}

/* A person resolving: commit the tree of `parent` without `path`, by alice. */
static git_oid remove_file(struct fixture *fx, const git_oid *parent, const char *path)
{
	static const char msg[] = "case resolve: conflict\n\nFieldsync-User: alice\n"
				  "Fieldsync-Office: ELP\nFieldsync-Device: 0123456789abcdef\n"
				  "Fieldsync-HLC: 1764268700000.0\n";
	git_commit *pc = NULL;
	git_tree *tree = NULL;
	git_index *idx = NULL;
	git_signature *sig = NULL;
	const git_commit *parents[1];
	git_oid tid, cid;

	assert_int_equal(git_commit_lookup(&pc, fx->repo, parent), 0);
	assert_int_equal(git_commit_tree(&tree, pc), 0);
	assert_int_equal(git_index_new(&idx), 0);
	assert_int_equal(git_index_read_tree(idx, tree), 0);
	assert_int_equal(git_index_remove(idx, path, 0), 0);
	assert_int_equal(git_index_write_tree_to(&tid, idx, fx->repo), 0);
	git_tree_free(tree);
	tree = NULL;
	assert_int_equal(git_tree_lookup(&tree, fx->repo, &tid), 0);
	fx->clock += 1000;
	assert_int_equal(git_signature_new(&sig, "alice", "alice@0123456789abcdef",
				 (git_time_t)(fx->clock / 1000), 0),
		0);
	parents[0] = pc;
	assert_int_equal(git_commit_create(&cid, fx->repo, NULL, sig, sig, NULL, msg, tree, 1,
				 parents),
		0);
	git_signature_free(sig);
	git_index_free(idx);
	git_tree_free(tree);
	git_commit_free(pc);
	return cid;
}

/* ---- per-path rules --------------------------------------------------------------------- */

static void test_different_fields(void **state)
{
	struct fixture *fx = *state;
	git_oid ours = set_field(fx, &fx->alice, &fx->base, "status", "open");
	git_oid theirs = set_field(fx, &fx->bob, &fx->base, "priority", "1");
	struct merge_result r = merge(fx, &ours, &theirs);
	struct casefile_view v;

	assert_int_equal(r.kind, MERGE_MERGED);
	assert_int_equal(r.conflicts, 0);
	assert_int_equal(r.text_merges, 0);
	v = view(fx, &r.head);
	assert_string_equal(field_of(&v, "status"), "open");
	assert_string_equal(field_of(&v, "priority"), "1");
	assert_string_equal(field_of(&v, "title"), "Gate incident");
	assert_int_equal(v.nconflicts, 0);
	casefile_view_release(&v);
}

static void test_same_field_conflict(void **state)
{
	struct fixture *fx = *state;
	git_oid ours = set_field(fx, &fx->alice, &fx->base, "status", "open");
	git_oid theirs = set_field(fx, &fx->bob, &fx->base, "status", "closed");
	struct merge_result r = merge(fx, &ours, &theirs);
	char name[13], hex[GIT_OID_HEXSZ + 1], ohex[GIT_OID_HEXSZ + 1], path[64], want[512];
	struct casefile_view v;
	char *raw;

	assert_int_equal(r.kind, MERGE_MERGED);
	assert_int_equal(r.conflicts, 1);
	v = view(fx, &r.head);
	assert_string_equal(field_of(&v, "status"), "open"); /* ours stays */
	assert_int_equal(v.nconflicts, 1);
	conflict_name(name, "closed");
	oid_hex(hex, &theirs);
	assert_string_equal(v.conflicts[0].path, "fields/status");
	assert_string_equal(v.conflicts[0].name, name);
	assert_string_equal(v.conflicts[0].value, "closed");
	assert_string_equal(v.conflicts[0].author, BOB);
	assert_string_equal(v.conflicts[0].commit, hex);
	assert_string_equal(v.conflicts[0].current_author, ALICE); /* who wrote the one in place */
	assert_int_equal(v.conflicts[0].region, 0);
	casefile_view_release(&v);

	/* The exact blob format. */
	snprintf(path, sizeof(path), "conflicts/fields/status/%s", name);
	oid_hex(ohex, &ours);
	snprintf(want, sizeof(want),
		"Author: %s\nCommit: %s\nCurrent-Author: %s\nCurrent-Commit: %s\n\nclosed", BOB, hex,
		ALICE, ohex);
	raw = file_at(fx, &r.head, path);
	assert_non_null(raw);
	assert_string_equal(raw, want);
	free(raw);
}

static void test_same_change_both_sides(void **state)
{
	struct fixture *fx = *state;
	git_oid ours = set_field(fx, &fx->alice, &fx->base, "status", "open");
	git_oid theirs = set_field(fx, &fx->bob, &fx->base, "status", "open");
	struct merge_result r = merge(fx, &ours, &theirs);
	git_oid t1, t2;
	struct casefile_view v;

	assert_int_equal(r.kind, MERGE_MERGED);
	assert_int_equal(r.conflicts, 0);
	v = view(fx, &r.head);
	assert_string_equal(field_of(&v, "status"), "open");
	assert_int_equal(v.nconflicts, 0);
	casefile_view_release(&v);
	t1 = tree_of_commit(fx, &r.head);
	t2 = tree_of_commit(fx, &ours);
	assert_true(git_oid_equal(&t1, &t2));
}

#define NARRATIVE                                                                             \
	"The officer arrived at ten.\nHe spoke to the guard.\nThe gate was open.\n"             \
	"Nobody was hurt.\nThe report was filed.\n"

static void test_narrative_line_merge(void **state)
{
	struct fixture *fx = *state;
	git_oid base = set_narrative(fx, &fx->alice, &fx->base, NARRATIVE);
	git_oid ours = set_narrative(fx, &fx->alice, &base,
		"The officer arrived at eleven.\nHe spoke to the guard.\nThe gate was open.\n"
		"Nobody was hurt.\nThe report was filed.\n");
	git_oid theirs = set_narrative(fx, &fx->bob, &base,
		"The officer arrived at ten.\nHe spoke to the guard.\nThe gate was open.\n"
		"Nobody was hurt.\nThe report was filed late.\n");
	struct merge_result r = merge(fx, &ours, &theirs);
	struct casefile_view v;

	assert_int_equal(r.kind, MERGE_MERGED);
	assert_int_equal(r.text_merges, 1);
	assert_int_equal(r.conflicts, 0);
	v = view(fx, &r.head);
	assert_string_equal(v.narrative,
		"The officer arrived at eleven.\nHe spoke to the guard.\nThe gate was open.\n"
		"Nobody was hurt.\nThe report was filed late.\n");
	assert_int_equal(v.nconflicts, 0);
	casefile_view_release(&v);
}

static void test_narrative_same_line(void **state)
{
	struct fixture *fx = *state;
	static const char ours_text[] = "The officer arrived at ten.\nHe spoke to the warden.\n"
					"The gate was open.\nNobody was hurt.\n"
					"The report was filed.\n";
	static const char theirs_text[] = "The officer arrived at ten.\nHe spoke to the driver.\n"
					  "The gate was open.\nNobody was hurt.\n"
					  "The report was filed.\n";
	git_oid base = set_narrative(fx, &fx->alice, &fx->base, NARRATIVE);
	git_oid ours = set_narrative(fx, &fx->alice, &base, ours_text);
	git_oid theirs = set_narrative(fx, &fx->bob, &base, theirs_text);
	struct merge_result r = merge(fx, &ours, &theirs);
	struct casefile_view v;
	char name[13];

	assert_int_equal(r.kind, MERGE_MERGED);
	assert_int_equal(r.text_merges, 0);
	assert_int_equal(r.conflicts, 1);
	v = view(fx, &r.head);
	assert_string_equal(v.narrative, ours_text); /* no conflict markers */
	assert_null(strstr(v.narrative, "<<<<"));
	assert_int_equal(v.nconflicts, 1);
	(void)name;
	assert_string_equal(v.conflicts[0].path, "narrative.md");
	assert_int_equal(strlen(v.conflicts[0].name), 12);
	assert_int_equal(v.conflicts[0].region, 1); /* just the region, not the whole text */
	assert_int_equal(v.conflicts[0].line, 2);
	assert_string_equal(v.conflicts[0].base, "He spoke to the guard.\n");
	assert_string_equal(v.conflicts[0].current, "He spoke to the warden.\n");
	assert_string_equal(v.conflicts[0].value, "He spoke to the driver.\n");
	assert_string_equal(v.conflicts[0].author, BOB);
	assert_string_equal(v.conflicts[0].current_author, ALICE);
	casefile_view_release(&v);
}

static void test_notes_union(void **state)
{
	struct fixture *fx = *state;
	git_oid ours = add_note(fx, &fx->alice, &fx->base, "interview with the guard");
	git_oid theirs = add_note(fx, &fx->bob, &fx->base, "interview with the driver");
	struct merge_result r = merge(fx, &ours, &theirs);
	struct casefile_view v;

	assert_int_equal(r.conflicts, 0);
	v = view(fx, &r.head);
	assert_int_equal(v.nnotes, 2);
	assert_string_equal(v.notes[0].text, "interview with the guard\n");
	assert_string_equal(v.notes[0].author, "alice");
	assert_string_equal(v.notes[1].text, "interview with the driver\n");
	assert_string_equal(v.notes[1].author, "bob");
	assert_int_equal(v.nconflicts, 0);
	casefile_view_release(&v);
}

static void test_modify_vs_delete(void **state)
{
	struct fixture *fx = *state;
	git_oid base = set_field(fx, &fx->alice, &fx->base, "assignee", "carol");
	git_oid cleared = set_field(fx, &fx->alice, &base, "assignee", "");
	git_oid changed = set_field(fx, &fx->bob, &base, "assignee", "dave");
	struct merge_result r;
	struct casefile_view v;

	/* Ours deleted, theirs modified. */
	r = merge(fx, &cleared, &changed);
	assert_int_equal(r.conflicts, 0);
	v = view(fx, &r.head);
	assert_non_null(field_of(&v, "assignee"));
	assert_string_equal(field_of(&v, "assignee"), "dave");
	assert_int_equal(v.nconflicts, 0);
	casefile_view_release(&v);

	/* Ours modified, theirs deleted. */
	r = merge(fx, &changed, &cleared);
	assert_int_equal(r.conflicts, 0);
	v = view(fx, &r.head);
	assert_non_null(field_of(&v, "assignee"));
	assert_string_equal(field_of(&v, "assignee"), "dave");
	assert_int_equal(v.nconflicts, 0);
	casefile_view_release(&v);
}

static void test_narrative_modify_vs_delete(void **state)
{
	struct fixture *fx = *state;
	git_oid base = set_narrative(fx, &fx->alice, &fx->base, NARRATIVE);
	git_oid cleared = set_narrative(fx, &fx->alice, &base, "");
	git_oid edited = set_narrative(fx, &fx->bob, &base, "Rewritten.\n");
	struct merge_result r = merge(fx, &cleared, &edited);
	struct casefile_view v;

	assert_int_equal(r.conflicts, 0);
	assert_int_equal(r.text_merges, 0);
	v = view(fx, &r.head);
	assert_string_equal(v.narrative, "Rewritten.\n");
	casefile_view_release(&v);
}

static void test_resolution_stays_deleted(void **state)
{
	struct fixture *fx = *state;
	git_oid ours = set_field(fx, &fx->alice, &fx->base, "status", "open");
	git_oid theirs = set_field(fx, &fx->bob, &fx->base, "status", "closed");
	struct merge_result m = merge(fx, &ours, &theirs), r;
	git_oid resolved, other;
	struct casefile_view v;
	char name[13], path[64];

	conflict_name(name, "closed");
	snprintf(path, sizeof(path), "conflicts/fields/status/%s", name);
	resolved = remove_file(fx, &m.head, path);
	other = set_field(fx, &fx->bob, &m.head, "priority", "2"); /* leaves the conflict */

	r = merge(fx, &resolved, &other);
	assert_int_equal(r.kind, MERGE_MERGED);
	assert_int_equal(r.conflicts, 0);
	v = view(fx, &r.head);
	assert_int_equal(v.nconflicts, 0);
	assert_string_equal(field_of(&v, "priority"), "2");
	casefile_view_release(&v);

	r = merge(fx, &other, &resolved); /* either side */
	v = view(fx, &r.head);
	assert_int_equal(v.nconflicts, 0);
	assert_string_equal(field_of(&v, "priority"), "2");
	casefile_view_release(&v);
}

static void test_same_losing_value_once(void **state)
{
	struct fixture *fx = *state;
	git_oid ours = set_field(fx, &fx->alice, &fx->base, "status", "open");
	git_oid theirs1 = set_field(fx, &fx->bob, &fx->base, "status", "closed");
	git_oid theirs2 = set_field(fx, &fx->bob, &fx->base, "status", "closed");
	struct merge_result m1 = merge(fx, &ours, &theirs1), m2;
	struct casefile_view v;
	char hex[GIT_OID_HEXSZ + 1];

	assert_false(git_oid_equal(&theirs1, &theirs2)); /* two commits, one value */
	assert_int_equal(m1.conflicts, 1);
	m2 = merge(fx, &m1.head, &theirs2);
	assert_int_equal(m2.kind, MERGE_MERGED);
	assert_int_equal(m2.conflicts, 0); /* nothing added */
	v = view(fx, &m2.head);
	assert_string_equal(field_of(&v, "status"), "open");
	assert_int_equal(v.nconflicts, 1);
	oid_hex(hex, &theirs1);
	assert_string_equal(v.conflicts[0].commit, hex); /* the first one kept stays */
	casefile_view_release(&v);
}

static void test_conflict_entry_added_twice(void **state)
{
	struct fixture *fx = *state;
	static const char *const ours_files[] = {"meta/id", CASE_ID, "conflicts/fields/x/abc",
		"Author: a\nCommit: 1\n\nv", NULL};
	static const char *const theirs_files[] = {"meta/id", CASE_ID, "conflicts/fields/x/abc",
		"Author: b\nCommit: 2\n\nv", NULL};
	git_oid ours = make_tree(fx, ours_files), theirs = make_tree(fx, theirs_files), tree;
	git_oid commit;
	git_tree *t = NULL;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	size_t conflicts = 99;

	memset(&commit, 0x11, sizeof(commit));
	TU_OK(merge_trees(&tree, &conflicts, NULL, fx->repo, NULL, &ours, &theirs, &commit, BOB));
	assert_int_equal(conflicts, 0);
	assert_int_equal(git_tree_lookup(&t, fx->repo, &tree), 0);
	assert_int_equal(git_tree_entry_bypath(&e, t, "conflicts/fields/x/abc"), 0);
	assert_int_equal(git_blob_lookup(&blob, fx->repo, git_tree_entry_id(e)), 0);
	assert_int_equal(git_blob_rawsize(blob), strlen(ours_files[3]));
	assert_memory_equal(git_blob_rawcontent(blob), ours_files[3], strlen(ours_files[3]));
	git_blob_free(blob);
	git_tree_entry_free(e);
	e = NULL;
	/* No conflict version of a conflict version. */
	assert_int_equal(git_tree_entry_bypath(&e, t, "conflicts/conflicts"), GIT_ENOTFOUND);
	git_tree_free(t);
}

static void test_file_folder_clash(void **state)
{
	struct fixture *fx = *state;
	static const char *const ours_files[] = {"meta/id", CASE_ID, "fields/x", "a file", NULL};
	static const char *const theirs_files[] = {"meta/id", CASE_ID, "fields/x/y", "in a folder",
		NULL};
	git_oid ours = make_tree(fx, ours_files), theirs = make_tree(fx, theirs_files), tree;
	git_oid commit, before;

	memset(&commit, 0x11, sizeof(commit));
	memset(&tree, 0x22, sizeof(tree));
	before = tree;
	assert_int_equal(merge_trees(&tree, NULL, NULL, fx->repo, NULL, &ours, &theirs, &commit,
				 BOB),
		ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), "fields/x"));
	assert_true(git_oid_equal(&tree, &before)); /* not written on failure */
	assert_int_equal(merge_trees(&tree, NULL, NULL, fx->repo, NULL, &theirs, &ours, &commit,
				 BOB),
		ERR_CORRUPT);
}

static void test_missing_objects(void **state)
{
	struct fixture *fx = *state;
	struct merge_result r;
	git_oid missing, tree, ours = tree_of_commit(fx, &fx->base);

	assert_int_equal(git_oid_fromstr(&missing, "0123456789abcdef0123456789abcdef01234567"), 0);
	assert_int_equal(merge_trees(&tree, NULL, NULL, fx->repo, NULL, &ours, &missing,
				 &fx->base, BOB),
		ERR_NOTFOUND);
	assert_int_equal(merge_trees(&tree, NULL, NULL, fx->repo, &missing, &ours, &ours,
				 &fx->base, BOB),
		ERR_NOTFOUND);
	assert_int_equal(merge_commits(&r, fx->repo, CASE_ID, &fx->base, &missing, &fx->hq),
		ERR_NOTFOUND);
}

/* ---- determinism ------------------------------------------------------------------------ */

static void test_determinism(void **state)
{
	struct fixture *fx = *state;
	git_oid base = set_narrative(fx, &fx->alice, &fx->base, NARRATIVE);
	git_oid ours = set_field(fx, &fx->alice, &base, "status", "open");
	git_oid theirs = set_field(fx, &fx->bob, &base, "status", "closed");
	git_oid bt = tree_of_commit(fx, &base), ot, tt, t1, t2;
	struct merge_result r1, r2;
	size_t c1 = 0, c2 = 0, m1 = 9, m2 = 9;

	ours = set_narrative(fx, &fx->alice, &ours,
		"The officer arrived at eleven.\nHe spoke to the guard.\nThe gate was open.\n"
		"Nobody was hurt.\nThe report was filed.\n");
	theirs = add_note(fx, &fx->bob, &theirs, "a note");
	theirs = set_narrative(fx, &fx->bob, &theirs,
		"The officer arrived at ten.\nHe spoke to the guard.\nThe gate was open.\n"
		"Nobody was hurt.\nThe report was filed late.\n");
	ot = tree_of_commit(fx, &ours);
	tt = tree_of_commit(fx, &theirs);

	TU_OK(merge_trees(&t1, &c1, &m1, fx->repo, &bt, &ot, &tt, &theirs, BOB));
	TU_OK(merge_trees(&t2, &c2, &m2, fx->repo, &bt, &ot, &tt, &theirs, BOB));
	assert_true(git_oid_equal(&t1, &t2));
	assert_int_equal(c1, 1);
	assert_int_equal(c2, 1); /* counted again: the first tree is not an input */
	assert_int_equal(m1, 1);
	assert_int_equal(m2, 1);

	fx->hq.hlc.wall_ms = T0 + 100000;
	TU_OK(merge_commits(&r1, fx->repo, CASE_ID, &ours, &theirs, &fx->hq));
	TU_OK(merge_commits(&r2, fx->repo, CASE_ID, &ours, &theirs, &fx->hq));
	assert_true(git_oid_equal(&r1.head, &r2.head));
	/* merge_commits labels the version in place too (merge_trees cannot): its own tree */
	t1 = tree_of_commit(fx, &r1.head);

	/* Another merger: another commit, the same tree. */
	TU_OK(merge_commits(&r2, fx->repo, CASE_ID, &ours, &theirs, &fx->alice));
	assert_false(git_oid_equal(&r1.head, &r2.head));
	t2 = tree_of_commit(fx, &r2.head);
	assert_true(git_oid_equal(&t1, &t2));
}

/* ---- merge_commits kinds ---------------------------------------------------------------- */

static void test_up_to_date(void **state)
{
	struct fixture *fx = *state;
	git_oid newer = set_field(fx, &fx->alice, &fx->base, "status", "open");
	struct merge_result r;

	r = merge(fx, &newer, &newer);
	assert_int_equal(r.kind, MERGE_UP_TO_DATE);
	assert_true(git_oid_equal(&r.head, &newer));
	assert_int_equal(r.conflicts, 0);
	assert_int_equal(r.text_merges, 0);

	r = merge(fx, &newer, &fx->base); /* theirs is behind ours */
	assert_int_equal(r.kind, MERGE_UP_TO_DATE);
	assert_true(git_oid_equal(&r.head, &newer));
	assert_int_equal(r.conflicts, 0);
}

static void test_fast_forward(void **state)
{
	struct fixture *fx = *state;
	git_oid mid = set_field(fx, &fx->bob, &fx->base, "status", "open");
	git_oid newer = set_field(fx, &fx->bob, &mid, "priority", "1");
	struct merge_result r = merge(fx, &fx->base, &newer);

	assert_int_equal(r.kind, MERGE_FAST_FORWARD);
	assert_true(git_oid_equal(&r.head, &newer)); /* no new commit */
	assert_int_equal(r.conflicts, 0);
	assert_int_equal(r.text_merges, 0);
}

static void test_merged_commit(void **state)
{
	struct fixture *fx = *state;
	git_oid ours = set_field(fx, &fx->alice, &fx->base, "status", "open");
	git_oid theirs = set_field(fx, &fx->bob, &fx->base, "priority", "1");
	struct merge_result r = merge(fx, &ours, &theirs);
	struct casefile_rev rev;
	git_commit *c = NULL;

	assert_int_equal(r.kind, MERGE_MERGED);
	assert_false(git_oid_equal(&r.head, &ours));
	assert_false(git_oid_equal(&r.head, &theirs));
	assert_int_equal(git_commit_lookup(&c, fx->repo, &r.head), 0);
	assert_int_equal(git_commit_parentcount(c), 2);
	assert_true(git_oid_equal(git_commit_parent_id(c, 0), &ours));
	assert_true(git_oid_equal(git_commit_parent_id(c, 1), &theirs));
	assert_int_equal(git_commit_time(c), fx->hq.hlc.wall_ms / 1000);
	assert_string_equal(git_commit_author(c)->name, "server");
	assert_string_equal(git_commit_author(c)->email, "server@hq-node-1");

	memset(&rev, 0, sizeof(rev));
	TU_OK(casefile_parse_message(&rev, git_commit_message(c)));
	assert_string_equal(rev.summary, "case merge");
	assert_string_equal(rev.user, "server");
	assert_string_equal(rev.office, "HQ");
	assert_string_equal(rev.device, "hq-node-1");
	assert_int_equal(rev.hlc.wall_ms, fx->hq.hlc.wall_ms);
	free(rev.summary);
	free(rev.user);
	free(rev.office);
	free(rev.device);
	git_commit_free(c);
}

static void test_no_common_ancestor(void **state)
{
	struct fixture *fx = *state;
	git_oid other = create(fx, &fx->bob, CASE_ID, "Gate incident at night");
	struct merge_result r = merge(fx, &fx->base, &other);
	struct casefile_view v;
	git_commit *c = NULL;

	assert_int_equal(r.kind, MERGE_MERGED);
	assert_int_equal(r.conflicts, 1); /* the two titles; the rest is the same */
	assert_int_equal(git_commit_lookup(&c, fx->repo, &r.head), 0);
	assert_int_equal(git_commit_parentcount(c), 2);
	git_commit_free(c);
	v = view(fx, &r.head);
	assert_string_equal(field_of(&v, "title"), "Gate incident");
	assert_string_equal(field_of(&v, "category"), "use-of-force");
	assert_int_equal(v.nconflicts, 1);
	assert_string_equal(v.conflicts[0].path, "fields/title");
	assert_string_equal(v.conflicts[0].value, "Gate incident at night");
	casefile_view_release(&v);
}

static void test_other_case_refused(void **state)
{
	struct fixture *fx = *state;
	git_oid other = create(fx, &fx->bob, OTHER_CASE_ID, "Another incident");
	struct merge_result r;

	memset(&r, 0, sizeof(r));
	assert_int_equal(merge_commits(&r, fx->repo, CASE_ID, &fx->base, &other, &fx->hq),
		ERR_CORRUPT);
	assert_true(git_oid_is_zero(&r.head)); /* *out untouched */
}

static void test_theirs_without_trailers(void **state)
{
	struct fixture *fx = *state;
	git_oid ours = set_field(fx, &fx->alice, &fx->base, "status", "open");
	git_oid edited = set_field(fx, &fx->bob, &fx->base, "status", "closed");
	git_signature *sig = NULL;
	git_commit *parent = NULL, *src = NULL;
	git_tree *tree = NULL;
	const git_commit *parents[1];
	struct merge_result r;
	git_oid plain;

	/* The same change as `edited`, committed without attribution. */
	assert_int_equal(git_commit_lookup(&parent, fx->repo, &fx->base), 0);
	assert_int_equal(git_commit_lookup(&src, fx->repo, &edited), 0);
	assert_int_equal(git_commit_tree(&tree, src), 0);
	assert_int_equal(git_signature_new(&sig, "x", "x@y", 1700000000, 0), 0);
	parents[0] = parent;
	assert_int_equal(
		git_commit_create(&plain, fx->repo, NULL, sig, sig, NULL, "x\n", tree, 1, parents),
		0);
	assert_int_equal(merge_commits(&r, fx->repo, CASE_ID, &ours, &plain, &fx->hq),
		ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), "attribution"));
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(src);
	git_commit_free(parent);
}

static void test_bad_arguments(void **state)
{
	struct fixture *fx = *state;
	git_oid t = tree_of_commit(fx, &fx->base), out;
	struct merge_result r;

	assert_int_equal(merge_trees(&out, NULL, NULL, fx->repo, NULL, &t, &t, &fx->base,
				 "bob\nCommit: forged"),
		ERR_INVALID);
	assert_int_equal(merge_trees(&out, NULL, NULL, fx->repo, NULL, &t, &t, &fx->base, NULL),
		ERR_INVALID);
	assert_int_equal(merge_commits(&r, fx->repo, CASE_ID, &fx->base, &fx->base, NULL),
		ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_different_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_field_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_change_both_sides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_narrative_line_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_narrative_same_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notes_union, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modify_vs_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_narrative_modify_vs_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolution_stays_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_losing_value_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_entry_added_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_folder_clash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
		cmocka_unit_test_setup_teardown(test_up_to_date, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merged_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_common_ancestor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_case_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_theirs_without_trailers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};

	if (odb_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
