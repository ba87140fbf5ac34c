/* tests/shared/base/test_array.c - growing arrays with a cap. */
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"

/* Let a refused allocation return NULL under AddressSanitizer too, as it does in glibc. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

struct item {
	uint64_t a;
	char name[24];
};

static void test_append_keeps_contents(void **state)
{
	struct item *v = NULL;
	size_t n, cap = 0, grows = 0, last = 0;

	(void)state;
	for (n = 0; n < 1000; n++) {
		TU_OK(ARRAY_GROW(&v, &cap, n + 1, ARRAY_NOMAX));
		assert_true(cap >= n + 1);
		if (cap != last)
			grows++;
		last = cap;
		v[n].a = n;
		memset(v[n].name, (int)(n & 0x7f), sizeof(v[n].name));
	}
	for (n = 0; n < 1000; n++) {
		assert_int_equal(v[n].a, n);
		assert_int_equal(v[n].name[23], (char)(n & 0x7f));
	}
	/* doubling from ARRAY_MIN: 16, 32, ..., 1024 */
	assert_int_equal(cap, 1024);
	assert_int_equal(grows, 7);
	free(v);
}

static void test_no_growth_when_room(void **state)
{
	int *v = NULL, *first;
	size_t cap = 0;

	(void)state;
	TU_OK(ARRAY_GROW(&v, &cap, 1, 100));
	assert_int_equal(cap, ARRAY_MIN);
	first = v;
	TU_OK(ARRAY_GROW(&v, &cap, ARRAY_MIN, 100));
	TU_OK(ARRAY_GROW(&v, &cap, 0, 100));
	assert_ptr_equal(v, first);
	assert_int_equal(cap, ARRAY_MIN);

	/* a large first request is met in one step, by doubling */
	TU_OK(ARRAY_GROW(&v, &cap, 70, 100));
	assert_int_equal(cap, 100); /* 128, clipped to the cap */
	free(v);
}

static void test_cap_enforced(void **state)
{
	int *v = NULL;
	size_t cap = 0;

	(void)state;
	/* The cap bounds the allocation, even below ARRAY_MIN. */
	TU_OK(ARRAY_GROW(&v, &cap, 1, 5));
	assert_int_equal(cap, 5);
	TU_OK(ARRAY_GROW(&v, &cap, 5, 5));
	assert_int_equal(cap, 5);
	v[4] = 44;

	/* One element over the cap: refused, the array stays as it was. */
	err_clear();
	assert_int_equal(ARRAY_GROW(&v, &cap, 6, 5), ERR_TOOBIG);
	assert_int_equal(err_code(), ERR_TOOBIG);
	assert_non_null(strstr(err_msg(), "5 entries"));
	assert_int_equal(cap, 5);
	assert_int_equal(v[4], 44);
	free(v);

	/* Doubling stops at the cap instead of passing it. */
	v = NULL;
	cap = 0;
	TU_OK(ARRAY_GROW(&v, &cap, 17, 20));
	assert_int_equal(cap, 20);
	free(v);
}

static void test_overflow(void **state)
{
	struct item *v = NULL;
	size_t cap = 0, ncap = 7;

	(void)state;
	/* need * elem_size would wrap around: refused before any allocation */
	assert_int_equal(ARRAY_GROW(&v, &cap, SIZE_MAX / sizeof(*v) + 1, ARRAY_NOMAX), ERR_TOOBIG);
	assert_int_equal(ARRAY_GROW(&v, &cap, SIZE_MAX, ARRAY_NOMAX), ERR_TOOBIG);
	assert_null(v);
	assert_int_equal(cap, 0);

	/* doubling near the limit clips to the largest size that fits */
	TU_OK(array_next_cap(&ncap, SIZE_MAX / 4 + 1, SIZE_MAX / 4 + 2, 2, ARRAY_NOMAX));
	assert_int_equal(ncap, SIZE_MAX / 2);
	TU_OK(array_next_cap(&ncap, SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 2, 1, ARRAY_NOMAX));
	assert_int_equal(ncap, SIZE_MAX);
	assert_int_equal(array_next_cap(&ncap, 0, SIZE_MAX / 2 + 1, 2, ARRAY_NOMAX), ERR_TOOBIG);
	assert_int_equal(ncap, SIZE_MAX); /* not written on failure */

	assert_int_equal(array_next_cap(&ncap, 0, 1, 0, ARRAY_NOMAX), ERR_INVALID);
}

static void test_next_cap(void **state)
{
	size_t ncap = 0;

	(void)state;
	TU_OK(array_next_cap(&ncap, 0, 1, 4, ARRAY_NOMAX));
	assert_int_equal(ncap, ARRAY_MIN);
	TU_OK(array_next_cap(&ncap, 64, 65, 4, ARRAY_NOMAX));
	assert_int_equal(ncap, 128);
	TU_OK(array_next_cap(&ncap, 64, 64, 4, ARRAY_NOMAX));
	assert_int_equal(ncap, 64);
	TU_OK(array_next_cap(&ncap, 64, 1000, 4, ARRAY_NOMAX));
	assert_int_equal(ncap, 1024);
	/* powers of two stay powers of two up to a power-of-two cap (hash tables) */
	TU_OK(array_next_cap(&ncap, 512, 513, 4, 1024));
	assert_int_equal(ncap, 1024);
	assert_int_equal(array_next_cap(&ncap, 1024, 1025, 4, 1024), ERR_TOOBIG);
}

static void test_nomem_leaves_array(void **state)
{
	char *v = NULL;
	size_t cap = 0;

	(void)state;
	TU_OK(ARRAY_GROW(&v, &cap, 3, ARRAY_NOMAX));
	memcpy(v, "ab", 3);
	/* more than any allocator gives (over PTRDIFF_MAX): realloc fails, nothing changes */
	err_clear();
	assert_int_equal(ARRAY_GROW(&v, &cap, (size_t)PTRDIFF_MAX + 1, ARRAY_NOMAX), ERR_NOMEM);
	assert_int_equal(err_code(), ERR_NOMEM);
	assert_int_equal(cap, ARRAY_MIN);
	assert_string_equal(v, "ab");
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_keeps_contents),
		cmocka_unit_test(test_no_growth_when_room),
		cmocka_unit_test(test_cap_enforced),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_next_cap),
		cmocka_unit_test(test_nomem_leaves_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
