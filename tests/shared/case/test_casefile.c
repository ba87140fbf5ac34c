/* tests/shared/case/test_casefile.c - a case as a small git history. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/casefile.h"
#include "store/odb.h"
#include "store/store.h"

#define CASE_ID "ELP-26-7KQ4M2X"
#define T0 1764268619000LL /* 2025-11-27T18:36:59Z */

struct fixture {
	char *dir;
	struct store *s;
	git_repository *repo;
	struct casefile_author a;
	git_oid head;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->s = tu_store_new(&fx->dir);
	TU_OK(odb_repository_open(&fx->repo, fx->s));
	fx->a.user = "alice";
	fx->a.office = "ELP";
	fx->a.device = "0123456789abcdef";
	fx->a.hlc.wall_ms = T0;
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

static void set(struct casefile_change *c, const char *name, const char *value)
{
	c->sets[c->nsets].name = name;
	c->sets[c->nsets].value = value;
	c->nsets++;
}

/* Commit `c` on the fixture's head (or create the case), one tick later each time. */
static int commit(struct fixture *fx, const struct casefile_change *c, char note_id[64])
{
	int create = git_oid_is_zero(&fx->head);
	git_oid head;
	int rc;

	fx->a.hlc.wall_ms += 1000;
	rc = casefile_commit(&head, note_id, fx->repo, create ? NULL : &fx->head, CASE_ID, c,
		&fx->a, create ? "case create" : "case update");
	if (!rc)
		fx->head = head;
	return rc;
}

static void create_case(struct fixture *fx)
{
	struct casefile_change c;

	memset(&c, 0, sizeof(c));
	set(&c, "title", "Gate incident");
	set(&c, "category", "use-of-force");
	TU_OK(commit(fx, &c, NULL));
}

static const char *field_of(const struct casefile_view *v, const char *name)
{
	return v->fields[schema_index(name)];
}

static void test_create(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct casefile_view v;
	git_commit *cm = NULL;

	memset(&c, 0, sizeof(c));
	set(&c, "title", "Gate incident");
	assert_int_equal(commit(fx, &c, NULL), ERR_INVALID); /* no category */
	assert_non_null(strstr(err_msg(), "category"));
	memset(&c, 0, sizeof(c));
	set(&c, "category", "theft");
	assert_int_equal(commit(fx, &c, NULL), ERR_INVALID); /* no title */
	assert_true(git_oid_is_zero(&fx->head));

	create_case(fx);
	TU_OK(casefile_read(&v, fx->repo, &fx->head));
	assert_string_equal(v.id, CASE_ID);
	assert_string_equal(v.office, "ELP");
	assert_string_equal(field_of(&v, "title"), "Gate incident");
	assert_string_equal(field_of(&v, "category"), "use-of-force");
	assert_string_equal(field_of(&v, "status"), "intake"); /* defaults */
	assert_string_equal(field_of(&v, "priority"), "3");
	assert_null(field_of(&v, "assignee"));
	assert_string_equal(v.narrative, "");
	assert_int_equal(v.nnotes, 0);
	assert_int_equal(v.nconflicts, 0);
	assert_true(git_oid_equal(&v.head, &fx->head));
	assert_int_equal(v.updated_ms, fx->a.hlc.wall_ms);
	casefile_view_release(&v);

	assert_int_equal(git_commit_lookup(&cm, fx->repo, &fx->head), 0);
	assert_int_equal(git_commit_parentcount(cm), 0);
	git_commit_free(cm);
}

static void test_new_id(void **state)
{
	char a[SCHEMA_CASE_ID_MAX + 1], b[SCHEMA_CASE_ID_MAX + 1];

	(void)state;
	TU_OK(casefile_new_id(a, "ELP", T0));
	TU_OK(casefile_new_id(b, "ELP", T0));
	TU_OK(schema_check_case_id(a));
	TU_OK(schema_check_case_id(b));
	assert_memory_equal(a, "ELP-25-", 7); /* office and year */
	assert_string_not_equal(a, b);
	TU_OK(casefile_new_id(a, "HQ", 1767225600000LL)); /* 2026-01-01 */
	assert_memory_equal(a, "HQ-26-", 6);
	TU_OK(schema_check_case_id(a));
	assert_int_equal(casefile_new_id(a, "elp", T0), ERR_INVALID);
}

static void test_bad_create_id(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	git_oid head;

	memset(&c, 0, sizeof(c));
	set(&c, "title", "t");
	set(&c, "category", "theft");
	assert_int_equal(casefile_commit(&head, NULL, fx->repo, NULL, "not-an-id", &c, &fx->a,
				 "case create"),
		ERR_INVALID);
}

static void test_edit(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct casefile_view v;
	git_commit *cm = NULL;
	git_oid first;

	create_case(fx);
	first = fx->head;
	memset(&c, 0, sizeof(c));
	set(&c, "status", "open");
	set(&c, "assignee", "bob");
	TU_OK(commit(fx, &c, NULL));
	assert_false(git_oid_equal(&first, &fx->head));
	assert_int_equal(git_commit_lookup(&cm, fx->repo, &fx->head), 0);
	assert_int_equal(git_commit_parentcount(cm), 1);
	assert_true(git_oid_equal(git_commit_parent_id(cm, 0), &first));
	git_commit_free(cm);

	TU_OK(casefile_read(&v, fx->repo, &fx->head));
	assert_string_equal(field_of(&v, "status"), "open");
	assert_string_equal(field_of(&v, "assignee"), "bob");
	assert_string_equal(field_of(&v, "title"), "Gate incident"); /* carried over */
	casefile_view_release(&v);

	/* The old head still reads as it was. */
	TU_OK(casefile_read(&v, fx->repo, &first));
	assert_string_equal(field_of(&v, "status"), "intake");
	casefile_view_release(&v);
}

static void test_edit_errors(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	git_oid before;

	create_case(fx);
	before = fx->head;

	memset(&c, 0, sizeof(c));
	set(&c, "status", "intake"); /* already so */
	assert_int_equal(commit(fx, &c, NULL), ERR_CONFLICT);

	memset(&c, 0, sizeof(c));
	set(&c, "no_such_field", "x");
	assert_int_equal(commit(fx, &c, NULL), ERR_NOTFOUND);

	memset(&c, 0, sizeof(c));
	set(&c, "status", "open");
	set(&c, "status", "closed");
	assert_int_equal(commit(fx, &c, NULL), ERR_INVALID); /* set twice */

	memset(&c, 0, sizeof(c));
	set(&c, "status", "sleeping");
	assert_int_equal(commit(fx, &c, NULL), ERR_INVALID);

	memset(&c, 0, sizeof(c));
	assert_int_equal(commit(fx, &c, NULL), ERR_INVALID); /* nothing to change */

	memset(&c, 0, sizeof(c));
	c.note = "";
	assert_int_equal(commit(fx, &c, NULL), ERR_INVALID); /* empty note */

	memset(&c, 0, sizeof(c));
	c.narrative = "bad \x01 byte";
	c.narrative_len = strlen(c.narrative);
	assert_int_equal(commit(fx, &c, NULL), ERR_INVALID);

	assert_true(git_oid_equal(&before, &fx->head));
}

static void test_clear_field(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct casefile_view v;

	create_case(fx);
	memset(&c, 0, sizeof(c));
	set(&c, "assignee", "bob");
	set(&c, "location", "north gate");
	TU_OK(commit(fx, &c, NULL));

	memset(&c, 0, sizeof(c));
	set(&c, "assignee", "");
	TU_OK(commit(fx, &c, NULL));
	TU_OK(casefile_read(&v, fx->repo, &fx->head));
	assert_null(field_of(&v, "assignee"));
	assert_string_equal(field_of(&v, "location"), "north gate");
	casefile_view_release(&v);

	memset(&c, 0, sizeof(c));
	set(&c, "assignee", ""); /* clearing what is not set changes nothing */
	assert_int_equal(commit(fx, &c, NULL), ERR_CONFLICT);
	memset(&c, 0, sizeof(c));
	set(&c, "title", ""); /* required */
	assert_int_equal(commit(fx, &c, NULL), ERR_INVALID);
}

static char *wrap(const char *text)
{
	struct buf b = BUF_INIT(1 << 20);
	char *s = NULL;

	TU_OK(casefile_wrap(&b, text, strlen(text)));
	TU_OK(buf_detach(&s, &b));
	return s;
}

static void assert_wrapped_form(const char *w)
{
	const char *p = w;

	assert_true(strlen(w) == 0 || w[strlen(w) - 1] == '\n');
	assert_null(strchr(w, '\r'));
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p);

		/* Only a single word or a preformatted line may exceed the width. */
		if (len > 80 && p[0] != ' ' && memchr(p, ' ', len))
			fail_msg("line longer than 80 columns: '%.*s'", (int)len, p);
		p = nl + 1;
	}
}

static void test_wrap(void **state)
{
	static const char *const inputs[] = {
		"First sentence. Second one? Third!",
		"A single sentence that goes on and on well past the eightieth column of the line, "
		"so that it must be broken into several lines at the spaces between its words, "
		"which is what the wrapping does.",
		"Windows line ends.\r\nSecond line.  Two spaces before this.\r\n\r\n\r\n",
		"Paragraph one.\n\nParagraph two.\n    indented code stays as it is, however long it "
		"is, because it starts with spaces and is preformatted.\n",
		"Averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryvery"
		"longword then short words. End.",
		"A sentence with  two spaces  between words, twice, long enough to wrap at one of "
		"them  and then  some more  words to  make  sure.",
		"Stray\rcarriage\r\rreturns \r in the text.\r",
		"",
	};
	char *w, *ww, in[100];
	size_t i;

	(void)state;
	w = wrap("First sentence. Second one? Third!");
	assert_string_equal(w, "First sentence.\nSecond one?\nThird!\n");
	free(w);
	w = wrap("Windows.\r\nEnds.  \r\n\r\n\r\n");
	assert_string_equal(w, "Windows.\nEnds.\n");
	free(w);
	w = wrap("Old Mac.\rLine ends.");
	assert_string_equal(w, "Old Mac.\nLine ends.\n");
	free(w);

	/* A break at a double space leaves no trailing blank. */
	memset(in, 'x', 78);
	memcpy(in + 78, "  yyyy", 7);
	w = wrap(in);
	assert_int_equal(strlen(w), 78 + 1 + 5);
	assert_memory_equal(w + 78, "\nyyyy\n", 6);
	free(w);

	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		w = wrap(inputs[i]);
		assert_wrapped_form(w);
		ww = wrap(w);
		assert_string_equal(ww, w); /* idempotent */
		free(ww);
		free(w);
	}
	w = wrap(inputs[1]);
	assert_non_null(strchr(w, '\n'));
	assert_true(strchr(w, '\n') < w + strlen(w) - 1); /* really split */
	free(w);
}

static void test_narrative_stored_wrapped(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct casefile_view v;
	char *want;

	create_case(fx);
	memset(&c, 0, sizeof(c));
	c.narrative = "The officer arrived at 10:00. He spoke to the guard.";
	c.narrative_len = strlen(c.narrative);
	TU_OK(commit(fx, &c, NULL));
	TU_OK(casefile_read(&v, fx->repo, &fx->head));
	want = wrap(c.narrative);
	assert_string_equal(v.narrative, want);
	assert_string_equal(v.narrative, "The officer arrived at 10:00.\nHe spoke to the guard.\n");
	free(want);
	casefile_view_release(&v);

	/* The same text again, differently wrapped, is no change. */
	c.narrative = "The officer arrived at 10:00.\nHe spoke to the guard.";
	c.narrative_len = strlen(c.narrative);
	assert_int_equal(commit(fx, &c, NULL), ERR_CONFLICT);
}

static void test_notes(void **state)
{
	struct fixture *fx = *state;
	static const char *const texts[] = {"first interview", "second interview",
		"same millisecond"};
	char ids[3][CASEFILE_NOTE_ID_MAX];
	struct casefile_change c;
	struct casefile_view v;
	int i;

	create_case(fx);
	for (i = 0; i < 3; i++) {
		memset(&c, 0, sizeof(c));
		c.note = texts[i];
		c.note_len = strlen(texts[i]);
		if (i == 2) { /* same wall time, next counter: still after */
			fx->a.hlc.wall_ms -= 1000;
			fx->a.hlc.counter = 1;
		}
		TU_OK(commit(fx, &c, ids[i]));
	}
	assert_true(strcmp(ids[0], ids[1]) < 0);
	assert_true(strcmp(ids[1], ids[2]) < 0);

	TU_OK(casefile_read(&v, fx->repo, &fx->head));
	assert_int_equal(v.nnotes, 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(v.notes[i].id, ids[i]);
		assert_string_equal(v.notes[i].author, "alice");
		assert_string_equal(v.notes[i].device, "0123456789abcdef");
		assert_string_equal(v.notes[i].text,
			i == 0 ? "first interview\n" : i == 1 ? "second interview\n"
							       : "same millisecond\n");
		assert_memory_equal(v.notes[i].time, "2025-11-27T18:37:", 17);
	}
	/* The id says when and where: 20251127T183701.000Z-0000-01234567. */
	assert_string_equal(ids[0], "20251127T183701.000Z-0000-01234567");
	casefile_view_release(&v);
}

static void test_history(void **state)
{
	struct fixture *fx = *state;
	struct casefile_change c;
	struct casefile_rev *revs = NULL;
	size_t n = 0;

	create_case(fx);
	memset(&c, 0, sizeof(c));
	set(&c, "status", "open");
	fx->a.user = "bob";
	fx->a.device = "fedcba9876543210";
	TU_OK(commit(fx, &c, NULL));
	memset(&c, 0, sizeof(c));
	set(&c, "priority", "1");
	fx->a.hlc.counter = 7;
	TU_OK(commit(fx, &c, NULL));

	TU_OK(casefile_history(&revs, &n, fx->repo, &fx->head, 100));
	assert_int_equal(n, 3);
	assert_true(git_oid_equal(&revs[0].id, &fx->head)); /* newest first */
	assert_string_equal(revs[0].summary, "case update: priority");
	assert_string_equal(revs[0].user, "bob");
	assert_string_equal(revs[0].office, "ELP");
	assert_string_equal(revs[0].device, "fedcba9876543210");
	assert_int_equal(revs[0].hlc.wall_ms, T0 + 3000);
	assert_int_equal(revs[0].hlc.counter, 7);
	assert_int_equal(revs[0].nparents, 1);
	assert_string_equal(revs[1].summary, "case update: status");
	assert_string_equal(revs[2].summary, "case create: title, category");
	assert_string_equal(revs[2].user, "alice");
	assert_string_equal(revs[2].device, "0123456789abcdef");
	assert_int_equal(revs[2].nparents, 0);
	casefile_history_free(revs, n);

	TU_OK(casefile_history(&revs, &n, fx->repo, &fx->head, 2));
	assert_int_equal(n, 2);
	casefile_history_free(revs, n);
}

static void free_rev(struct casefile_rev *r)
{
	free(r->summary);
	free(r->user);
	free(r->office);
	free(r->device);
	memset(r, 0, sizeof(*r));
}

static void test_parse_message(void **state)
{
	struct casefile_rev r;

	(void)state;
	memset(&r, 0, sizeof(r));
	TU_OK(casefile_parse_message(&r, "case update: status\n\nFieldsync-User: bob\n"
					 "Fieldsync-Office: ELP\nFieldsync-Device: d1\n"
					 "Fieldsync-HLC: 1764268619000.3\n"));
	assert_string_equal(r.summary, "case update: status");
	assert_string_equal(r.user, "bob");
	assert_string_equal(r.office, "ELP");
	assert_string_equal(r.device, "d1");
	assert_int_equal(r.hlc.wall_ms, 1764268619000LL);
	assert_int_equal(r.hlc.counter, 3);
	free_rev(&r);

	assert_int_equal(casefile_parse_message(&r, "a plain git commit\n\nno trailers\n"),
		ERR_INVALID);
	free_rev(&r);
	assert_int_equal(casefile_parse_message(&r, "x\n\nFieldsync-User: bob\n"
						    "Fieldsync-Office: ELP\nFieldsync-Device: d1\n"),
		ERR_INVALID); /* no clock */
	free_rev(&r);
	assert_int_equal(casefile_parse_message(&r, "x\n\nFieldsync-User: bob\n"
						    "Fieldsync-Office: ELP\nFieldsync-Device: d1\n"
						    "Fieldsync-HLC: yesterday\n"),
		ERR_INVALID);
	free_rev(&r);
}

static void test_read_errors(void **state)
{
	struct fixture *fx = *state;
	git_treebuilder *tb = NULL;
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	struct casefile_view v;
	git_oid tid, cid, missing;

	assert_int_equal(git_oid_fromstr(&missing, "0123456789abcdef0123456789abcdef01234567"), 0);
	assert_int_equal(casefile_read(&v, fx->repo, &missing), ERR_NOTFOUND);

	/* A commit that is not a case: an empty tree. */
	assert_int_equal(git_treebuilder_new(&tb, fx->repo, NULL), 0);
	assert_int_equal(git_treebuilder_write(&tid, tb), 0);
	assert_int_equal(git_tree_lookup(&tree, fx->repo, &tid), 0);
	assert_int_equal(git_signature_new(&sig, "x", "x@y", 1700000000, 0), 0);
	assert_int_equal(git_commit_create(&cid, fx->repo, NULL, sig, sig, NULL, "x\n", tree, 0,
				 NULL),
		0);
	assert_int_equal(casefile_read(&v, fx->repo, &cid), ERR_CORRUPT);
	git_signature_free(sig);
	git_tree_free(tree);
	git_treebuilder_free(tb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test(test_new_id),
		cmocka_unit_test_setup_teardown(test_bad_create_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_field, setup, teardown),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test_setup_teardown(test_narrative_stored_wrapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history, setup, teardown),
		cmocka_unit_test(test_parse_message),
		cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
	};

	if (odb_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
