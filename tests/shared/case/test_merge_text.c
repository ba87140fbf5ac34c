/*
 * tests/shared/case/test_merge_text.c - merge_lines against `git merge-file` on random three-way
 * inputs: where git finds no conflict our merged text is git's; where it does, our regions
 * are git's (our result rendered with diff3 markers equals `git merge-file --diff3`), so
 * every non-conflicting line is git's and every conflicting line of both sides is kept.
 * 2,000 inputs (FIELDSYNC_LONG=1: 20,000; FIELDSYNC_SAMPLE=1: 200); FIELDSYNC_SEED=N
 * replays; the seed is printed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "case/merge.h"

static const char *const words[] = {"alpha\n", "bravo\n", "charlie\n", "delta\n", "echo\n",
	"foxtrot\n", "golf\n", "hotel\n", "india\n", "juliet\n", "}\n", "\n"};

static unsigned long long rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng_state >> 33) % n);
}

static void random_base(struct buf *b)
{
	unsigned i, n = rnd(30);

	for (i = 0; i < n; i++)
		assert_int_equal(buf_puts(b, words[rnd(12)]), 0);
}

/* A random edit of `base`: lines kept, replaced, deleted or inserted. */
static void random_edit(struct buf *out, const char *base)
{
	const char *p = base;
	unsigned rate = 1 + rnd(6);

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		unsigned r = rnd(20);

		if (r < rate)
			assert_int_equal(buf_puts(out, words[rnd(12)]), 0); /* replace */
		else if (r < rate + 1)
			; /* delete */
		else
			assert_int_equal(buf_put(out, p, len), 0);
		if (rnd(20) == 0)
			assert_int_equal(buf_puts(out, words[rnd(12)]), 0); /* insert */
		p += len;
	}
	if (rnd(8) == 0)
		assert_int_equal(buf_puts(out, words[rnd(12)]), 0);
}

static void write_file(const char *path, const struct buf *b)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	if (b->len)
		assert_int_equal(fwrite(b->ptr, 1, b->len, f), b->len);
	assert_int_equal(fclose(f), 0);
}

/* `git merge-file -p --diff3` of the three files; *conflicts its exit status. */
static void run_git_merge(struct buf *out, int *conflicts, const char *dir)
{
	char cmd[1024], chunk[4096];
	size_t n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd),
		"git merge-file -p --diff3 -L in-place -L base -L other %s/o %s/b %s/t", dir, dir,
		dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		assert_int_equal(buf_put(out, chunk, n), 0);
	st = pclose(p);
	assert_true(WIFEXITED(st));
	*conflicts = WEXITSTATUS(st);
}

/* Our result with the regions between diff3 markers, as git prints it. */
static void render(struct buf *out, const struct merge_text *t)
{
	size_t i, at = 0;

	for (i = 0; i < t->nregions; i++) {
		const struct merge_region *r = &t->regions[i];

		assert_int_equal(buf_put(out, t->merged + at, r->merged_off - at), 0);
		assert_int_equal(buf_puts(out, "<<<<<<< in-place\n"), 0);
		assert_int_equal(buf_put(out, r->ours, r->ours_len), 0);
		assert_int_equal(buf_puts(out, "||||||| base\n"), 0);
		assert_int_equal(buf_put(out, r->base, r->base_len), 0);
		assert_int_equal(buf_puts(out, "=======\n"), 0);
		assert_int_equal(buf_put(out, r->theirs, r->theirs_len), 0);
		assert_int_equal(buf_puts(out, ">>>>>>> other\n"), 0);
		at = r->merged_off + r->ours_len;
	}
	assert_int_equal(buf_put(out, t->merged + at, t->merged_len - at), 0);
}

static void test_against_git(void **state)
{
	const char *env = getenv("FIELDSYNC_SEED");
	unsigned long long seed = env ? strtoull(env, NULL, 10) : (unsigned long long)time(NULL);
	int trials = getenv("FIELDSYNC_LONG") ? 20000 : getenv("FIELDSYNC_SAMPLE") ? 200 : 2000;
	char dir[] = "/tmp/fieldsync-mergetext-XXXXXX", path[128];
	int i, with_conflicts = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	printf("test_merge_text: seed %llu (FIELDSYNC_SEED=%llu replays), %d inputs\n", seed, seed,
		trials);
	rng_state = seed;
	for (i = 0; i < trials; i++) {
		struct buf b = BUF_INIT(1 << 20), o = BUF_INIT(1 << 20), t = BUF_INIT(1 << 20);
		struct buf git = BUF_INIT(1 << 22), ours = BUF_INIT(1 << 22);
		struct merge_text mt;
		int conflicts;

		random_base(&b);
		random_edit(&o, buf_cstr(&b));
		random_edit(&t, buf_cstr(&b));
		snprintf(path, sizeof(path), "%s/b", dir);
		write_file(path, &b);
		snprintf(path, sizeof(path), "%s/o", dir);
		write_file(path, &o);
		snprintf(path, sizeof(path), "%s/t", dir);
		write_file(path, &t);
		run_git_merge(&git, &conflicts, dir);
		assert_int_equal(merge_lines(&mt, buf_cstr(&b), b.len, buf_cstr(&o), o.len,
					 buf_cstr(&t), t.len),
			0);
		render(&ours, &mt);
		if (conflicts != (int)mt.nregions || strcmp(buf_cstr(&git), buf_cstr(&ours))) {
			printf("seed %llu input %d differs:\n--- base\n%s--- in-place\n%s--- other\n%s"
			       "--- git (%d)\n%s--- ours (%zu)\n%s",
				seed, i, buf_cstr(&b), buf_cstr(&o), buf_cstr(&t), conflicts,
				buf_cstr(&git), mt.nregions, buf_cstr(&ours));
			fail();
		}
		if (!conflicts)
			assert_string_equal(mt.merged, buf_cstr(&git));
		with_conflicts += conflicts > 0;
		merge_text_release(&mt);
		buf_release(&b);
		buf_release(&o);
		buf_release(&t);
		buf_release(&git);
		buf_release(&ours);
	}
	printf("test_merge_text: %d of %d inputs had conflicts\n", with_conflicts, trials);
	assert_true(with_conflicts > trials / 10 && with_conflicts < trials);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

/* A user's line that looks like a marker is text, not a marker. */
static void test_marker_lines_are_text(void **state)
{
	static const char base[] = "one\n<<<<<<< x\ntwo\n=======\nthree\n>>>>>>> y\n";
	static const char ours[] = "ONE\n<<<<<<< x\ntwo\n=======\nthree\n>>>>>>> y\n";
	static const char theirs[] = "uno\n<<<<<<< x\ntwo\n=======\nthree\n>>>>>>> y\nfour\n";
	struct merge_text mt;

	(void)state;
	assert_int_equal(merge_lines(&mt, base, strlen(base), ours, strlen(ours), theirs,
				 strlen(theirs)),
		0);
	assert_int_equal(mt.nregions, 1);
	assert_string_equal(mt.merged, "ONE\n<<<<<<< x\ntwo\n=======\nthree\n>>>>>>> y\nfour\n");
	assert_int_equal(mt.regions[0].line, 1);
	assert_int_equal(mt.regions[0].ours_len, 4);
	assert_memory_equal(mt.regions[0].theirs, "uno\n", 4);
	assert_memory_equal(mt.regions[0].base, "one\n", 4);
	merge_text_release(&mt);
}

/* The scenario of issue 10: only the line both changed conflicts. */
static void test_forty_lines(void **state)
{
	struct buf b = BUF_INIT(1 << 16), o = BUF_INIT(1 << 16), t = BUF_INIT(1 << 16);
	struct merge_text mt;
	int i;

	(void)state;
	for (i = 1; i <= 40; i++) {
		assert_int_equal(buf_printf(&b, "Line %d of the report.\n", i), 0);
		if (i == 5 || i == 10)
			assert_int_equal(buf_printf(&o, "LAPTOP %d\n", i), 0);
		else if (i != 38)
			assert_int_equal(buf_printf(&o, "Line %d of the report.\n", i), 0);
		if (i == 5 || i == 30)
			assert_int_equal(buf_printf(&t, "DESK %d\n", i), 0);
		else
			assert_int_equal(buf_printf(&t, "Line %d of the report.\n", i), 0);
		if (i == 20)
			assert_int_equal(buf_puts(&t, "DESK inserted\n"), 0);
	}
	assert_int_equal(merge_lines(&mt, b.ptr, b.len, o.ptr, o.len, t.ptr, t.len), 0);
	assert_int_equal(mt.nregions, 1);
	assert_int_equal(mt.regions[0].line, 5);
	assert_memory_equal(mt.regions[0].ours, "LAPTOP 5\n", 9);
	assert_memory_equal(mt.regions[0].theirs, "DESK 5\n", 7);
	assert_non_null(strstr(mt.merged, "LAPTOP 10\n"));
	assert_non_null(strstr(mt.merged, "DESK 30\n"));
	assert_non_null(strstr(mt.merged, "Line 20 of the report.\nDESK inserted\n"));
	assert_null(strstr(mt.merged, "Line 38 "));
	merge_text_release(&mt);
	buf_release(&b);
	buf_release(&o);
	buf_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forty_lines),
		cmocka_unit_test(test_marker_lines_are_text),
		cmocka_unit_test(test_against_git),
	};

	git_libgit2_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
