/* tests/shared/sync/test_sync.c - what a sender puts in a change set, and how a receiver takes it. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/casefile.h"
#include "sync/changeset.h"
#include "store/odb.h"
#include "store/store.h"
#include "sync/sync.h"

#define CASE_ID "ELP-26-7KQ4M2X"
#define OTHER_CASE "ELP-26-0000001"
#define DEVICE "0123456789abcdef0123456789abcdef"
#define T0 1764268619000LL

static const uint8_t BUNDLE[CHANGESET_BUNDLE_LEN] = {7};

/* One node: a store and its repository. */
struct node {
	char *dir;
	struct store *s;
	git_repository *repo;
};

struct fixture {
	struct node a, b; /* a sender and a fresh receiver */
	struct casefile_author author;
};

static void node_open(struct node *n)
{
	n->s = tu_store_new(&n->dir);
	TU_OK(odb_repository_open(&n->repo, n->s));
}

static void node_close(struct node *n)
{
	git_repository_free(n->repo);
	tu_store_done(n->s, n->dir);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	node_open(&fx->a);
	node_open(&fx->b);
	fx->author.user = "alice";
	fx->author.office = "ELP";
	fx->author.device = DEVICE;
	fx->author.hlc.wall_ms = T0;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	node_close(&fx->a);
	node_close(&fx->b);
	free(fx);
	return 0;
}

/* ---- making case history ------------------------------------------------------------------ */

/* Commit a change on `parent` (NULL: create the case) in node a, one second later each time. */
static void commit_change(
        struct fixture *fx, git_oid *out, const git_oid *parent, const struct casefile_change *c)
{
	fx->author.hlc.wall_ms += 1000;
	TU_OK(casefile_commit(out, NULL, fx->a.repo, parent, CASE_ID, c, &fx->author,
	        parent ? "case update" : "case create"));
}

static void create_case(struct fixture *fx, git_oid *out)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	c.sets[0].name = "title";
	c.sets[0].value = "Gate incident";
	c.sets[1].name = "category";
	c.sets[1].value = "use-of-force";
	c.nsets = 2;
	commit_change(fx, out, NULL, &c);
}

static void set_field(struct fixture *fx, git_oid *out, const git_oid *parent, const char *name,
        const char *value)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	c.sets[0].name = name;
	c.sets[0].value = value;
	c.nsets = 1;
	commit_change(fx, out, parent, &c);
}

static void add_note(struct fixture *fx, git_oid *out, const git_oid *parent, const char *text)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	c.note = text;
	c.note_len = strlen(text);
	commit_change(fx, out, parent, &c);
}

static void set_narrative(struct fixture *fx, git_oid *out, const git_oid *parent, const char *text)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	c.narrative = text;
	c.narrative_len = strlen(text);
	commit_change(fx, out, parent, &c);
}

/* ---- moving it ------------------------------------------------------------------------------ */

/* Collect `head` for a receiver holding `haves` into an encoded change set. */
static void collect(struct buf *enc, git_repository *repo, const git_oid *head,
        const git_oid *haves, size_t nhaves)
{
	struct changeset_writer *w = NULL;
	struct changeset_case c;

	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", CASE_ID);
	c.head = *head;
	c.has_base = nhaves > 0;
	if (nhaves)
		c.base = haves[0];
	TU_OK(changeset_writer_new(&w));
	TU_OK(sync_collect(w, repo, head, haves, nhaves));
	TU_OK(changeset_writer_add_case(w, &c));
	TU_OK(changeset_writer_finish(enc, w, BUNDLE, DEVICE, "ELP", 0, 0, NULL, 0));
	changeset_writer_free(w);
}

static void collect_decoded(struct changeset *cs, struct buf *enc, git_repository *repo,
        const git_oid *head, const git_oid *haves, size_t nhaves)
{
	collect(enc, repo, head, haves, nhaves);
	TU_OK(changeset_decode(cs, (const uint8_t *)enc->ptr, enc->len));
}

/*
 * Ingest `head` of `cs` into node n inside a transaction, committed on success and rolled back
 * on failure (as the agent and the server do).  Returns the result; the new commits go to
 * *commits (freed by the caller) when not NULL.
 */
static int ingest(struct node *n, const struct changeset *cs, const git_oid *head,
        git_oid **commits, size_t *ncommits)
{
	git_oid *list = NULL;
	size_t count = 0;
	int rc;

	TU_OK(store_begin(n->s));
	rc = sync_ingest(&list, &count, n->repo, cs, head);
	if (rc) {
		store_rollback(n->s);
		return rc;
	}
	TU_OK(store_commit(n->s));
	if (commits) {
		*commits = list;
		*ncommits = count;
	} else {
		free(list);
	}
	return 0;
}

/* Move `head` from a to b for a receiver holding `haves`, and expect success. */
static void transfer(struct fixture *fx, const git_oid *head, const git_oid *haves, size_t nhaves)
{
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;

	collect_decoded(&cs, &enc, fx->a.repo, head, haves, nhaves);
	TU_OK(ingest(&fx->b, &cs, head, NULL, NULL));
	changeset_release(&cs);
	buf_release(&enc);
}

static int has_object(struct node *n, const git_oid *id)
{
	git_odb *odb = NULL;
	int yes;

	assert_int_equal(git_repository_odb(&odb, n->repo), 0);
	yes = git_odb_exists(odb, id);
	git_odb_free(odb);
	return yes;
}

static void assert_same_case(struct fixture *fx, const git_oid *head)
{
	struct casefile_view va, vb;
	size_t i;

	TU_OK(casefile_read(&va, fx->a.repo, head));
	TU_OK(casefile_read(&vb, fx->b.repo, head));
	assert_string_equal(va.id, vb.id);
	assert_string_equal(va.office, vb.office);
	for (i = 0; i < schema_count(); i++) {
		if (!va.fields[i])
			assert_null(vb.fields[i]);
		else
			assert_string_equal(va.fields[i], vb.fields[i]);
	}
	assert_string_equal(va.narrative, vb.narrative);
	assert_int_equal(va.nnotes, vb.nnotes);
	for (i = 0; i < va.nnotes; i++) {
		assert_string_equal(va.notes[i].id, vb.notes[i].id);
		assert_string_equal(va.notes[i].text, vb.notes[i].text);
	}
	assert_true(git_oid_equal(&va.head, &vb.head));
	casefile_view_release(&va);
	casefile_view_release(&vb);
}

static int contains(const git_oid *list, size_t n, const git_oid *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (git_oid_equal(&list[i], id))
			return 1;
	return 0;
}

static void test_collect_ingest(void **state)
{
	struct fixture *fx = *state;
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	git_oid c1, c2, c3, c4, c5, *commits = NULL;
	size_t ncommits = 0, i;
	struct sync_rules rules = {CASE_ID, DEVICE, "ELP", 0};

	create_case(fx, &c1);
	set_field(fx, &c2, &c1, "status", "open");
	set_narrative(fx, &c3, &c2, "The gate was left open.\nNobody saw who did it.\n");
	add_note(fx, &c4, &c3, "Interviewed the guard.");
	set_field(fx, &c5, &c4, "priority", "1");

	/* the receiver first gets the case up to c2 */
	collect_decoded(&cs, &enc, fx->a.repo, &c2, NULL, 0);
	TU_OK(ingest(&fx->b, &cs, &c2, &commits, &ncommits));
	assert_int_equal(ncommits, 2);
	assert_true(contains(commits, ncommits, &c1) && contains(commits, ncommits, &c2));
	free(commits);
	changeset_release(&cs);
	buf_reset(&enc);
	assert_same_case(fx, &c2);

	/* then what it lacks on top of c2: commits c3, c4 and c5 only */
	collect_decoded(&cs, &enc, fx->a.repo, &c5, &c2, 1);
	assert_null(changeset_object(&cs, &c1));
	assert_null(changeset_object(&cs, &c2));
	assert_non_null(changeset_object(&cs, &c3));
	assert_non_null(changeset_object(&cs, &c5));
	assert_false(has_object(&fx->b, &c5));
	TU_OK(ingest(&fx->b, &cs, &c5, &commits, &ncommits));
	assert_int_equal(ncommits, 3);
	assert_true(contains(commits, ncommits, &c3) && contains(commits, ncommits, &c4) &&
	            contains(commits, ncommits, &c5));
	for (i = 0; i < ncommits; i++)
		TU_OK(sync_check_commit(fx->b.repo, &commits[i], &rules));
	free(commits);
	assert_same_case(fx, &c5);

	/* ingesting again stores nothing new */
	TU_OK(ingest(&fx->b, &cs, &c5, &commits, &ncommits));
	assert_int_equal(ncommits, 0);
	free(commits);
	changeset_release(&cs);
	buf_release(&enc);

	/* haves the sender does not know are ignored: the whole history is sent */
	{
		git_oid unknown;

		memset(&unknown, 0x5a, sizeof(unknown));
		collect_decoded(&cs, &enc, fx->a.repo, &c5, &unknown, 1);
		assert_non_null(changeset_object(&cs, &c1));
		changeset_release(&cs);
		buf_release(&enc);
	}
}

/* A single-field edit on a known base: commit, root tree, fields tree, blob. */
static void test_single_edit(void **state)
{
	struct fixture *fx = *state;
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	git_oid base, head;
	size_t i, types[4] = {0};

	create_case(fx, &base);
	transfer(fx, &base, NULL, 0);
	set_field(fx, &head, &base, "status", "investigation");
	collect_decoded(&cs, &enc, fx->a.repo, &head, &base, 1);
	assert_int_equal(cs.nobjects, 4);
	for (i = 0; i < cs.nobjects; i++)
		types[cs.objects[i].type]++;
	assert_int_equal(types[GIT_OBJECT_COMMIT], 1);
	assert_int_equal(types[GIT_OBJECT_TREE], 2);
	assert_int_equal(types[GIT_OBJECT_BLOB], 1);
	assert_non_null(changeset_object(&cs, &head));
	TU_OK(ingest(&fx->b, &cs, &head, NULL, NULL));
	assert_same_case(fx, &head);
	changeset_release(&cs);
	buf_release(&enc);
}

/*
 * A tree that comes back: c3 has exactly the tree of c1, while status set in c1 stayed through
 * c2.  Everything the receiver (holding c0) lacks must be sent, whatever the walk order.
 */
static void test_tree_comes_back(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	git_oid c0, c1, c2, c3;
	git_commit *k1 = NULL, *k3 = NULL;

	create_case(fx, &c0);
	transfer(fx, &c0, NULL, 0);
	memset(&c, 0, sizeof(c));
	c.sets[0].name = "status";
	c.sets[0].value = "open";
	c.sets[1].name = "assignee";
	c.sets[1].value = "bob";
	c.nsets = 2;
	commit_change(fx, &c1, &c0, &c);
	set_field(fx, &c2, &c1, "assignee", "carol");
	set_field(fx, &c3, &c2, "assignee", "bob");
	assert_int_equal(git_commit_lookup(&k1, fx->a.repo, &c1), 0);
	assert_int_equal(git_commit_lookup(&k3, fx->a.repo, &c3), 0);
	assert_true(git_oid_equal(git_commit_tree_id(k1), git_commit_tree_id(k3)));
	git_commit_free(k1);
	git_commit_free(k3);

	transfer(fx, &c3, &c0, 1);
	assert_same_case(fx, &c3);
}

/* Re-encode the objects of `cs` but the one at `skip` (SIZE_MAX: keep all). */
static void reencode_without(struct buf *out, const struct changeset *cs, size_t skip)
{
	struct changeset_writer *w = NULL;
	size_t i;

	TU_OK(changeset_writer_new(&w));
	for (i = 0; i < cs->nobjects; i++)
		if (i != skip)
			TU_OK(changeset_writer_add_object(w, cs->objects[i].type,
			        &cs->objects[i].id, cs->objects[i].data, cs->objects[i].len));
	for (i = 0; i < cs->ncases; i++)
		TU_OK(changeset_writer_add_case(w, &cs->cases[i]));
	TU_OK(changeset_writer_finish(out, w, BUNDLE, DEVICE, "ELP", 0, 0, NULL, 0));
	changeset_writer_free(w);
}

static void test_ingest_missing(void **state)
{
	struct fixture *fx = *state;
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX), cut = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs, partial;
	git_oid c0, c1, c2;
	size_t k;

	create_case(fx, &c0);
	transfer(fx, &c0, NULL, 0);
	set_field(fx, &c1, &c0, "status", "open");
	add_note(fx, &c2, &c1, "A note.");
	collect_decoded(&cs, &enc, fx->a.repo, &c2, &c0, 1);
	assert_true(cs.nobjects >= 7);

	/* every object of the delta is needed: without any one of them the case is refused */
	for (k = 0; k < cs.nobjects; k++) {
		buf_reset(&cut);
		reencode_without(&cut, &cs, k);
		TU_OK(changeset_decode(&partial, (const uint8_t *)cut.ptr, cut.len));
		assert_int_equal(partial.nobjects, cs.nobjects - 1);
		assert_int_equal(ingest(&fx->b, &partial, &c2, NULL, NULL), ERR_INVALID);
		assert_non_null(strstr(err_msg(), "not sent"));
		assert_false(has_object(&fx->b, &c2));
		changeset_release(&partial);
	}

	/* all of them: accepted */
	buf_reset(&cut);
	reencode_without(&cut, &cs, SIZE_MAX);
	TU_OK(changeset_decode(&partial, (const uint8_t *)cut.ptr, cut.len));
	TU_OK(ingest(&fx->b, &partial, &c2, NULL, NULL));
	assert_same_case(fx, &c2);
	changeset_release(&partial);
	changeset_release(&cs);
	buf_release(&enc);
	buf_release(&cut);

	/* a head that is nowhere */
	{
		git_oid nowhere;

		memset(&nowhere, 0x42, sizeof(nowhere));
		collect_decoded(&cs, &enc, fx->a.repo, &c2, &c0, 1);
		assert_int_equal(ingest(&fx->b, &cs, &nowhere, NULL, NULL), ERR_INVALID);
		changeset_release(&cs);
		buf_release(&enc);
	}
}

/* ---- hand-made objects ---------------------------------------------------------------------- */

/* Append a tree entry "<mode> <name>\0<id>" to raw tree bytes. */
static void tree_entry(struct buf *t, const char *mode, const char *name, const git_oid *id)
{
	TU_OK(buf_printf(t, "%s %s", mode, name));
	TU_OK(buf_putc(t, '\0'));
	TU_OK(buf_put(t, id->id, GIT_OID_RAWSZ));
}

static void commit_bytes(struct buf *c, const git_oid *tree)
{
	TU_OK(buf_printf(c,
	        "tree %s\nauthor alice <alice@d> 1764268620 +0000\n"
	        "committer alice <alice@d> 1764268620 +0000\n\ncase update: x\n\n"
	        "Fieldsync-User: alice\nFieldsync-Office: ELP\nFieldsync-Device: " DEVICE "\n"
	        "Fieldsync-HLC: 1764268620000.0\n",
	        git_oid_tostr_s(tree)));
}

/* Add raw bytes to a writer under their true id. */
static void add_raw(struct changeset_writer *w, git_oid *id, git_object_t type, const struct buf *b)
{
	assert_int_equal(git_odb_hash(id, b->ptr, b->len, type), 0);
	TU_OK(changeset_writer_add_object(w, type, id, b->ptr, b->len));
}

/*
 * A change set whose root tree names one subtree (a folder holding one blob) twice: as "a"
 * with mode `mode_a` and as "b" with mode `mode_b`.  *head_out is its commit.
 */
static void lying_changeset(struct buf *enc, git_oid *head_out, const char *mode_a,
        const char *mode_b, const git_oid *sub_override)
{
	struct changeset_writer *w = NULL;
	struct buf blob = BUF_INIT(64), sub = BUF_INIT(256), root = BUF_INIT(256),
	           commit = BUF_INIT(1024);
	struct changeset_case c;
	git_oid blob_id, sub_id, root_id;

	TU_OK(changeset_writer_new(&w));
	TU_OK(buf_puts(&blob, "lying"));
	add_raw(w, &blob_id, GIT_OBJECT_BLOB, &blob);
	tree_entry(&sub, "100644", "x", &blob_id);
	add_raw(w, &sub_id, GIT_OBJECT_TREE, &sub);
	if (sub_override)
		sub_id = *sub_override;
	tree_entry(&root, mode_a, "a", &sub_id);
	tree_entry(&root, mode_b, "b", &sub_id);
	add_raw(w, &root_id, GIT_OBJECT_TREE, &root);
	commit_bytes(&commit, &root_id);
	add_raw(w, head_out, GIT_OBJECT_COMMIT, &commit);
	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", CASE_ID);
	c.head = *head_out;
	TU_OK(changeset_writer_add_case(w, &c));
	TU_OK(changeset_writer_finish(enc, w, BUNDLE, DEVICE, "ELP", 0, 0, NULL, 0));
	changeset_writer_free(w);
	buf_release(&blob);
	buf_release(&sub);
	buf_release(&root);
	buf_release(&commit);
}

static int ingest_encoded(struct node *n, const struct buf *enc, const git_oid *head)
{
	struct changeset cs;
	int rc;

	TU_OK(changeset_decode(&cs, (const uint8_t *)enc->ptr, enc->len));
	rc = ingest(n, &cs, head, NULL, NULL);
	changeset_release(&cs);
	return rc;
}

static void test_ingest_type_lies(void **state)
{
	struct fixture *fx = *state;
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	git_oid head, c0, tree0;
	git_commit *k = NULL;

	/* honest: both entries are folders */
	lying_changeset(&enc, &head, "40000", "40000", NULL);
	TU_OK(ingest_encoded(&fx->b, &enc, &head));
	buf_reset(&enc);

	/* a folder announced as a file, whichever entry the walk meets first */
	lying_changeset(&enc, &head, "40000", "100644", NULL);
	assert_int_equal(ingest_encoded(&fx->a, &enc, &head), ERR_INVALID);
	assert_false(has_object(&fx->a, &head));
	buf_reset(&enc);
	lying_changeset(&enc, &head, "100644", "40000", NULL);
	assert_int_equal(ingest_encoded(&fx->a, &enc, &head), ERR_INVALID);
	assert_false(has_object(&fx->a, &head));
	buf_reset(&enc);

	/* a tree the receiver already has, announced as a file */
	create_case(fx, &c0);
	assert_int_equal(git_commit_lookup(&k, fx->a.repo, &c0), 0);
	tree0 = *git_commit_tree_id(k);
	git_commit_free(k);
	lying_changeset(&enc, &head, "100644", "100644", &tree0);
	assert_int_equal(ingest_encoded(&fx->a, &enc, &head), ERR_INVALID);
	assert_false(has_object(&fx->a, &head));
	buf_reset(&enc);

	/* a commit announced as a tree (the head itself) */
	lying_changeset(&enc, &head, "40000", "40000", &c0);
	assert_int_equal(ingest_encoded(&fx->a, &enc, &head), ERR_INVALID);
	buf_release(&enc);
}

/* The id of the entry `name` of the tree of commit `c` in node a. */
static void entry_of(git_oid *out, struct fixture *fx, const git_oid *c, const char *name)
{
	git_commit *k = NULL;
	git_tree *t = NULL;
	const git_tree_entry *e;

	assert_int_equal(git_commit_lookup(&k, fx->a.repo, c), 0);
	assert_int_equal(git_commit_tree(&t, k), 0);
	e = git_tree_entry_byname(t, name);
	assert_non_null(e);
	*out = *git_tree_entry_id(e);
	git_tree_free(t);
	git_commit_free(k);
}

/*
 * A commit on `parent` whose root tree is given raw (`root`, already holding its entries); the
 * change set carries the root, the commit and `extra` (a tree object) with its blobs already
 * stored in the receiver.
 */
static void raw_root_changeset(struct buf *enc, git_oid *head_out, const git_oid *parent,
        const struct buf *root, const struct buf *extra)
{
	struct changeset_writer *w = NULL;
	struct buf commit = BUF_INIT(1024);
	struct changeset_case c;
	git_oid root_id, extra_id;

	TU_OK(changeset_writer_new(&w));
	add_raw(w, &root_id, GIT_OBJECT_TREE, root);
	if (extra)
		add_raw(w, &extra_id, GIT_OBJECT_TREE, extra);
	TU_OK(buf_printf(&commit, "tree %s\n", git_oid_tostr_s(&root_id)));
	TU_OK(buf_printf(&commit, "parent %s\n", git_oid_tostr_s(parent)));
	TU_OK(buf_puts(&commit,
	        "author alice <alice@d> 1764268620 +0000\n"
	        "committer alice <alice@d> 1764268620 +0000\n\ncase update: x\n\n"
	        "Fieldsync-User: alice\nFieldsync-Office: ELP\nFieldsync-Device: " DEVICE "\n"
	        "Fieldsync-HLC: 1764268620000.0\n"));
	add_raw(w, head_out, GIT_OBJECT_COMMIT, &commit);
	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", CASE_ID);
	c.head = *head_out;
	TU_OK(changeset_writer_add_case(w, &c));
	TU_OK(changeset_writer_finish(enc, w, BUNDLE, DEVICE, "ELP", 0, 0, NULL, 0));
	changeset_writer_free(w);
	buf_release(&commit);
}

/*
 * Trees out of git's order or with a name twice: lookups by name would then see another entry
 * than the one validated.  Here a second "fields" folder holds status "bogus".
 */
static void test_ingest_tree_order(void **state)
{
	struct fixture *fx = *state;
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX), root = BUF_INIT(1024),
	           bad = BUF_INIT(1024);
	git_oid c0, fields, meta, bogus, bad_id, head;
	git_tree *ft = NULL;
	git_treebuilder *tb = NULL;

	create_case(fx, &c0);
	transfer(fx, &c0, NULL, 0);
	entry_of(&fields, fx, &c0, "fields");
	entry_of(&meta, fx, &c0, "meta");

	/* fields with status "bogus", its blob stored in the receiver already */
	assert_int_equal(git_tree_lookup(&ft, fx->a.repo, &fields), 0);
	assert_int_equal(git_treebuilder_new(&tb, fx->a.repo, ft), 0);
	assert_int_equal(git_blob_create_from_buffer(&bogus, fx->b.repo, "bogus", 5), 0);
	assert_int_equal(git_blob_create_from_buffer(&bogus, fx->a.repo, "bogus", 5), 0);
	assert_int_equal(git_treebuilder_insert(NULL, tb, "status", &bogus, GIT_FILEMODE_BLOB), 0);
	assert_int_equal(git_treebuilder_write(&bad_id, tb), 0);
	git_treebuilder_free(tb);
	git_tree_free(ft);
	{
		git_odb *odb = NULL;
		git_odb_object *o = NULL;

		assert_int_equal(git_repository_odb(&odb, fx->a.repo), 0);
		assert_int_equal(git_odb_read(&o, odb, &bad_id), 0);
		TU_OK(buf_put(&bad, git_odb_object_data(o), git_odb_object_size(o)));
		git_odb_object_free(o);
		git_odb_free(odb);
	}

	/* the honest form of that tree is refused by the check */
	tree_entry(&root, "40000", "fields", &bad_id);
	tree_entry(&root, "40000", "meta", &meta);
	raw_root_changeset(&enc, &head, &c0, &root, &bad);
	TU_OK(ingest_encoded(&fx->b, &enc, &head));
	assert_int_equal(sync_check_commit(fx->b.repo, &head,
	                         &(struct sync_rules){CASE_ID, DEVICE, "ELP", 0}),
	        ERR_INVALID);
	buf_reset(&enc);
	buf_reset(&root);

	/* the same name twice */
	tree_entry(&root, "40000", "fields", &fields);
	tree_entry(&root, "40000", "fields", &bad_id);
	tree_entry(&root, "40000", "meta", &meta);
	raw_root_changeset(&enc, &head, &c0, &root, &bad);
	assert_int_equal(ingest_encoded(&fx->b, &enc, &head), ERR_INVALID);
	assert_false(has_object(&fx->b, &head));
	buf_reset(&enc);
	buf_reset(&root);

	/* a file and a folder of the same name */
	tree_entry(&root, "100644", "fields", &bogus);
	tree_entry(&root, "40000", "fields", &fields);
	tree_entry(&root, "40000", "meta", &meta);
	raw_root_changeset(&enc, &head, &c0, &root, NULL);
	assert_int_equal(ingest_encoded(&fx->b, &enc, &head), ERR_INVALID);
	buf_reset(&enc);
	buf_reset(&root);

	/* out of order */
	tree_entry(&root, "40000", "meta", &meta);
	tree_entry(&root, "40000", "fields", &bad_id);
	raw_root_changeset(&enc, &head, &c0, &root, &bad);
	assert_int_equal(ingest_encoded(&fx->b, &enc, &head), ERR_INVALID);
	assert_false(has_object(&fx->b, &head));
	buf_reset(&enc);
	buf_reset(&root);

	/* git's order puts a folder "a" after a file "a.b" ('/' > '.'): accepted */
	tree_entry(&root, "40000", "fields", &fields);
	tree_entry(&root, "100644", "meta.b", &bogus);
	tree_entry(&root, "40000", "meta", &meta);
	raw_root_changeset(&enc, &head, &c0, &root, NULL);
	TU_OK(ingest_encoded(&fx->b, &enc, &head));
	buf_release(&enc);
	buf_release(&root);
	buf_release(&bad);
}

/* ---- sync_check_commit ---------------------------------------------------------------------- */

/* The tree of `parent` with `path` set to `content` (NULL: removed). */
static void edit_tree(git_oid *out, git_repository *repo, const git_oid *parent, const char *path,
        const char *content)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_index *idx = NULL;
	git_index_entry e;

	assert_int_equal(git_commit_lookup(&c, repo, parent), 0);
	assert_int_equal(git_commit_tree(&tree, c), 0);
	assert_int_equal(git_index_new(&idx), 0);
	assert_int_equal(git_index_read_tree(idx, tree), 0);
	if (content) {
		memset(&e, 0, sizeof(e));
		e.mode = GIT_FILEMODE_BLOB;
		e.path = path;
		assert_int_equal(
		        git_blob_create_from_buffer(&e.id, repo, content, strlen(content)), 0);
		assert_int_equal(git_index_add(idx, &e), 0);
	} else {
		assert_int_equal(git_index_remove(idx, path, 0), 0);
	}
	assert_int_equal(git_index_write_tree_to(out, idx, repo), 0);
	git_index_free(idx);
	git_tree_free(tree);
	git_commit_free(c);
}

/* A commit of `tree` on `parent` attributed to `device` of `office`. */
static void make_commit(git_oid *out, git_repository *repo, const git_oid *parent,
        const git_oid *tree_id, const char *device, const char *office)
{
	struct buf msg = BUF_INIT(1024);
	git_signature *sig = NULL;
	git_commit *p = NULL;
	git_tree *tree = NULL;
	const git_commit *parents[1];

	TU_OK(buf_printf(&msg,
	        "case update: x\n\nFieldsync-User: mallory\nFieldsync-Office: %s\n"
	        "Fieldsync-Device: %s\nFieldsync-HLC: 1764268690000.0\n",
	        office, device));
	assert_int_equal(git_signature_new(&sig, "mallory", "mallory@d", 1764268690, 0), 0);
	assert_int_equal(git_tree_lookup(&tree, repo, tree_id), 0);
	assert_int_equal(git_commit_lookup(&p, repo, parent), 0);
	parents[0] = p;
	assert_int_equal(
	        git_commit_create(out, repo, NULL, sig, sig, NULL, msg.ptr, tree, 1, parents), 0);
	git_commit_free(p);
	git_tree_free(tree);
	git_signature_free(sig);
	buf_release(&msg);
}

/* Commit `path` = `content` (NULL: removed) on `parent` and check it with `rules`. */
static int check_edit(struct fixture *fx, const git_oid *parent, const char *path,
        const char *content, const struct sync_rules *rules)
{
	git_oid tree, commit;

	edit_tree(&tree, fx->a.repo, parent, path, content);
	make_commit(&commit, fx->a.repo, parent, &tree, DEVICE, "ELP");
	return sync_check_commit(fx->a.repo, &commit, rules);
}

static void test_check_commit(void **state)
{
	struct fixture *fx = *state;
	struct sync_rules rules = {CASE_ID, DEVICE, "ELP", 0};
	struct sync_rules any = {CASE_ID, NULL, NULL, 0};
	git_oid c0, c1, c2, tree, commit;

	create_case(fx, &c0);
	set_field(fx, &c1, &c0, "status", "open");
	TU_OK(sync_check_commit(fx->a.repo, &c0, &rules)); /* a new case */
	TU_OK(sync_check_commit(fx->a.repo, &c1, &rules));
	TU_OK(sync_check_commit(fx->a.repo, &c1, &any));

	/* attributed to another device, another office */
	rules.device = "ffffffffffffffffffffffffffffffff";
	assert_int_equal(sync_check_commit(fx->a.repo, &c1, &rules), ERR_PERM);
	rules.device = DEVICE;
	rules.office = "HQ";
	assert_int_equal(sync_check_commit(fx->a.repo, &c1, &rules), ERR_PERM);
	rules.office = "ELP";

	/* a hand-written tree: the same edit is fine, a value outside the schema is not */
	TU_OK(check_edit(fx, &c1, "fields/status", "review", &rules));
	assert_int_equal(check_edit(fx, &c1, "fields/status", "bogus", &rules), ERR_INVALID);
	assert_int_equal(check_edit(fx, &c1, "fields/priority", "9", &rules), ERR_INVALID);
	assert_int_equal(check_edit(fx, &c1, "fields/nosuchfield", "x", &rules), ERR_INVALID);

	/* paths outside a case */
	assert_int_equal(check_edit(fx, &c1, "evil.sh", "rm -rf /\n", &rules), ERR_INVALID);
	assert_int_equal(check_edit(fx, &c1, "persons2/x", "y", &rules), ERR_INVALID);
	assert_int_equal(check_edit(fx, &c1, "meta/extra", "y", &rules), ERR_INVALID);

	/* meta/id naming another case */
	assert_int_equal(check_edit(fx, &c1, "meta/id", OTHER_CASE, &rules), ERR_INVALID);

	/* a transfer: only when allowed (a pull from HQ) */
	assert_int_equal(check_edit(fx, &c1, "meta/office", "XYZ", &rules), ERR_PERM);
	rules.allow_transfer = 1;
	TU_OK(check_edit(fx, &c1, "meta/office", "XYZ", &rules));
	assert_int_equal(check_edit(fx, &c1, "meta/office", "xyz!", &rules), ERR_INVALID);
	rules.allow_transfer = 0;

	/* notes are append-only */
	add_note(fx, &c2, &c1, "The guard saw nothing.");
	TU_OK(sync_check_commit(fx->a.repo, &c2, &rules));
	{
		git_commit *k = NULL;
		git_tree *t = NULL, *notes = NULL;
		const git_tree_entry *e;
		char path[128];

		assert_int_equal(git_commit_lookup(&k, fx->a.repo, &c2), 0);
		assert_int_equal(git_commit_tree(&t, k), 0);
		e = git_tree_entry_byname(t, "notes");
		assert_non_null(e);
		assert_int_equal(git_tree_lookup(&notes, fx->a.repo, git_tree_entry_id(e)), 0);
		assert_int_equal(git_tree_entrycount(notes), 1);
		snprintf(path, sizeof(path), "notes/%s",
		        git_tree_entry_name(git_tree_entry_byindex(notes, 0)));
		git_tree_free(notes);
		git_tree_free(t);
		git_commit_free(k);

		assert_int_equal(
		        check_edit(fx, &c2, path, "Author: x\n\nThe guard saw it all.\n", &rules),
		        ERR_INVALID);
		assert_non_null(strstr(err_msg(), "rewritten"));
		/* a new note beside it is fine; a file that is not a note is not */
		TU_OK(check_edit(
		        fx, &c2, "notes/20251127T183800Z-0001-x.md", "Another.\n", &rules));
		assert_int_equal(
		        check_edit(fx, &c2, "notes/readme.txt", "x\n", &rules), ERR_INVALID);
	}

	/* a commit without attribution trailers */
	edit_tree(&tree, fx->a.repo, &c1, "fields/status", "review");
	{
		git_signature *sig = NULL;
		git_tree *t = NULL;
		git_commit *p = NULL;
		const git_commit *parents[1];

		assert_int_equal(git_signature_new(&sig, "x", "x@y", 1764268690, 0), 0);
		assert_int_equal(git_tree_lookup(&t, fx->a.repo, &tree), 0);
		assert_int_equal(git_commit_lookup(&p, fx->a.repo, &c1), 0);
		parents[0] = p;
		assert_int_equal(git_commit_create(&commit, fx->a.repo, NULL, sig, sig, NULL,
		                         "plain git\n", t, 1, parents),
		        0);
		assert_int_equal(sync_check_commit(fx->a.repo, &commit, &any), ERR_INVALID);
		git_commit_free(p);
		git_tree_free(t);
		git_signature_free(sig);
	}

	/* the head names its office */
	{
		char office[SCHEMA_OFFICE_MAX + 1];

		TU_OK(sync_head_office(office, fx->a.repo, &c2));
		assert_string_equal(office, "ELP");
	}
}

/* A history checked as one list, newest first (each commit's parent read once): every commit
 * is still checked, the one reused from the commit before included. */
static void test_check_commits_list(void **state)
{
	struct fixture *fx = *state;
	struct sync_rules rules = {CASE_ID, DEVICE, "ELP", 0};
	git_oid c[5], bad_tree, bad, good_tree, good, list[3];

	create_case(fx, &c[0]);
	set_field(fx, &c[1], &c[0], "status", "open");
	set_narrative(fx, &c[2], &c[1], "The gate was left open.\n");
	add_note(fx, &c[3], &c[2], "Interviewed the guard.");
	set_field(fx, &c[4], &c[3], "priority", "1");
	list[0] = c[4];
	list[1] = c[3];
	list[2] = c[2];
	TU_OK(sync_check_commits(fx->a.repo, list, 3, &rules));
	list[0] = c[1]; /* not a chain: each read on its own */
	list[1] = c[4];
	list[2] = c[0];
	TU_OK(sync_check_commits(fx->a.repo, list, 3, &rules));

	/* a value outside the schema, then a valid edit on top of it: the top alone passes, the
	 * list fails on the bad one, which it reaches as the top's parent */
	edit_tree(&bad_tree, fx->a.repo, &c[1], "fields/status", "bogus");
	make_commit(&bad, fx->a.repo, &c[1], &bad_tree, DEVICE, "ELP");
	edit_tree(&good_tree, fx->a.repo, &bad, "fields/priority", "2");
	make_commit(&good, fx->a.repo, &bad, &good_tree, DEVICE, "ELP");
	TU_OK(sync_check_commits(fx->a.repo, &good, 1, &rules));
	list[0] = good;
	list[1] = bad;
	list[2] = c[1];
	assert_int_equal(sync_check_commits(fx->a.repo, list, 3, &rules), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "status"));
	memset(&list[1], 0x5a, sizeof(list[1])); /* a missing commit fails, it is not skipped */
	assert_int_not_equal(sync_check_commits(fx->a.repo, list, 2, &rules), 0);
}

/* A change set that carries objects the receiver holds (its whole history, sent again): the
 * held trees and blobs are walked and stored again without harm, only the new commit is
 * listed (a held commit stops the walk). */
static void test_ingest_sent_again(void **state)
{
	struct fixture *fx = *state;
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	git_oid c1, c2, c3, *commits = NULL;
	size_t ncommits = 0;

	create_case(fx, &c1);
	set_field(fx, &c2, &c1, "status", "open");
	set_field(fx, &c3, &c2, "status", "closed");
	collect_decoded(&cs, &enc, fx->a.repo, &c2, NULL, 0);
	TU_OK(ingest(&fx->b, &cs, &c2, &commits, &ncommits));
	assert_int_equal(ncommits, 2);
	free(commits);
	changeset_release(&cs);
	buf_reset(&enc);

	collect_decoded(&cs, &enc, fx->a.repo, &c3, NULL, 0);
	assert_non_null(changeset_object(&cs, &c1)); /* everything again */
	TU_OK(ingest(&fx->b, &cs, &c3, &commits, &ncommits));
	assert_int_equal(ncommits, 1);
	assert_true(git_oid_equal(&commits[0], &c3));
	free(commits);
	assert_same_case(fx, &c3);
	TU_OK(ingest(&fx->b, &cs, &c3, &commits, &ncommits));
	assert_int_equal(ncommits, 0);
	free(commits);
	changeset_release(&cs);
	buf_release(&enc);
}

/* sync_extends: a received commit that names HQ's head as its parent proves a fast-forward. */
static void test_extends(void **state)
{
	struct fixture *fx = *state;
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	git_oid c1, c2, c3, c4, *commits = NULL, unknown;
	size_t ncommits = 0;

	create_case(fx, &c1);
	set_field(fx, &c2, &c1, "status", "open");
	set_field(fx, &c3, &c2, "priority", "1");
	set_field(fx, &c4, &c3, "priority", "2");
	collect_decoded(&cs, &enc, fx->a.repo, &c2, NULL, 0);
	TU_OK(ingest(&fx->b, &cs, &c2, &commits, &ncommits));
	free(commits);
	changeset_release(&cs);
	buf_reset(&enc);

	collect_decoded(&cs, &enc, fx->a.repo, &c4, &c2, 1);
	TU_OK(ingest(&fx->b, &cs, &c4, &commits, &ncommits));
	assert_int_equal(ncommits, 2);
	assert_int_equal(sync_extends(&cs, commits, ncommits, &c2), 1);
	assert_int_equal(sync_extends(&cs, commits, ncommits, &c3), 1);
	/* an older ancestor, the head itself, an unknown id: not shown by the parents */
	assert_int_equal(sync_extends(&cs, commits, ncommits, &c1), 0);
	assert_int_equal(sync_extends(&cs, commits, ncommits, &c4), 0);
	memset(&unknown, 0x5a, sizeof(unknown));
	assert_int_equal(sync_extends(&cs, commits, ncommits, &unknown), 0);
	assert_int_equal(sync_extends(&cs, commits, 0, &c2), 0);
	free(commits);
	changeset_release(&cs);
	buf_release(&enc);
}

/* Deleting what may not be deleted. */
static void test_check_deletions(void **state)
{
	struct fixture *fx = *state;
	struct sync_rules rules = {CASE_ID, DEVICE, "ELP", 0};
	git_oid c0, c1, c2, tree, commit;
	git_commit *k = NULL;
	git_tree *t = NULL, *notes = NULL;
	char path[128];

	create_case(fx, &c0);
	set_field(fx, &c1, &c0, "assignee", "bob");
	add_note(fx, &c2, &c1, "Kept forever.");

	/* clearing an optional field is an ordinary edit */
	TU_OK(check_edit(fx, &c2, "fields/assignee", NULL, &rules));

	assert_int_equal(git_commit_lookup(&k, fx->a.repo, &c2), 0);
	assert_int_equal(git_commit_tree(&t, k), 0);
	assert_int_equal(git_tree_lookup(&notes, fx->a.repo,
	                         git_tree_entry_id(git_tree_entry_byname(t, "notes"))),
	        0);
	snprintf(path, sizeof(path), "notes/%s",
	        git_tree_entry_name(git_tree_entry_byindex(notes, 0)));
	git_tree_free(notes);
	git_tree_free(t);
	git_commit_free(k);

	/* a note removed (here the only one, so notes/ goes too) */
	assert_int_equal(check_edit(fx, &c2, path, NULL, &rules), ERR_INVALID);
	/* one of two notes removed */
	edit_tree(&tree, fx->a.repo, &c2, "notes/20251127T183800Z-0001-x.md", "Another.\n");
	make_commit(&commit, fx->a.repo, &c2, &tree, DEVICE, "ELP");
	TU_OK(sync_check_commit(fx->a.repo, &commit, &rules));
	assert_int_equal(check_edit(fx, &commit, path, NULL, &rules), ERR_INVALID);

	/* a required field removed */
	assert_int_equal(check_edit(fx, &c2, "fields/title", NULL, &rules), ERR_INVALID);
	/* meta/ or fields/ gone */
	assert_int_equal(check_edit(fx, &c2, "meta/office", NULL, &rules), ERR_INVALID);
}

/* A commit of `tree` with parents `a` and (if not NULL) `b`, attributed to this device. */
static void make_commit2(git_oid *out, git_repository *repo, const git_oid *a, const git_oid *b,
        const git_oid *tree_id)
{
	git_signature *sig = NULL;
	git_commit *p[2] = {NULL, NULL};
	git_tree *tree = NULL;
	const git_commit *parents[2];

	assert_int_equal(git_signature_new(&sig, "alice", "alice@d", 1764268690, 0), 0);
	assert_int_equal(git_tree_lookup(&tree, repo, tree_id), 0);
	assert_int_equal(git_commit_lookup(&p[0], repo, a), 0);
	if (b)
		assert_int_equal(git_commit_lookup(&p[1], repo, b), 0);
	parents[0] = p[0];
	parents[1] = p[1];
	assert_int_equal(git_commit_create(out, repo, NULL, sig, sig, NULL,
	                         "case merge\n\nFieldsync-User: alice\nFieldsync-Office: ELP\n"
	                         "Fieldsync-Device: " DEVICE "\nFieldsync-HLC: 1764268690000.0\n",
	                         tree, b ? 2 : 1, parents),
	        0);
	git_commit_free(p[0]);
	git_commit_free(p[1]);
	git_tree_free(tree);
	git_signature_free(sig);
}

/*
 * A commit must descend from its own case only: a parent from another case would bring that
 * case's whole history (perhaps another office's) along with this one, to everyone who may see
 * this case.
 */
static void test_check_lineage(void **state)
{
	struct fixture *fx = *state;
	struct sync_rules rules = {CASE_ID, DEVICE, "ELP", 0};
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct casefile_author other = {"olga", "XYZ", "ffffffffffffffffffffffffffffffff", {T0, 0},
		NULL};
	struct casefile_change c;
	struct changeset cs;
	git_oid a0, a1, b0, tree, merge, graft;
	git_commit *k = NULL;

	create_case(fx, &a0);
	set_field(fx, &a1, &a0, "status", "open");
	memset(&c, 0, sizeof(c));
	c.sets[0].name = "title";
	c.sets[0].value = "Another office's secret";
	c.sets[1].name = "category";
	c.sets[1].value = "corruption";
	c.nsets = 2;
	TU_OK(casefile_commit(&b0, NULL, fx->a.repo, NULL, "XYZ-26-0000001", &c, &other,
	        "case create"));

	assert_int_equal(git_commit_lookup(&k, fx->a.repo, &a1), 0);
	tree = *git_commit_tree_id(k);
	git_commit_free(k);

	/* a merge of two commits of the case: fine */
	make_commit2(&merge, fx->a.repo, &a1, &a0, &tree);
	TU_OK(sync_check_commit(fx->a.repo, &merge, &rules));

	/* the tree of case A, and case B as a second parent */
	make_commit2(&merge, fx->a.repo, &a1, &b0, &tree);
	collect_decoded(&cs, &enc, fx->a.repo, &merge, &a1, 1);
	assert_non_null(changeset_object(&cs, &b0)); /* what would travel with case A */
	changeset_release(&cs);
	buf_release(&enc);
	assert_int_equal(sync_check_commit(fx->a.repo, &merge, &rules), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "XYZ-26-0000001"));

	/* case B as the only parent */
	make_commit2(&graft, fx->a.repo, &b0, NULL, &tree);
	assert_int_equal(sync_check_commit(fx->a.repo, &graft, &rules), ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_collect_ingest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_edit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_comes_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_type_lies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_tree_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_deletions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_lineage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_commits_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_sent_again, setup, teardown),
	};

	if (odb_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
