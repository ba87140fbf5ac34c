/* tests/shared/base/test_buf.c - the capped growable buffer. */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

static void test_cap_enforced(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	TU_OK(buf_puts(&b, "12345678"));
	assert_int_equal(b.len, 8);

	/* One byte over the cap: refused, the contents stay as they were. */
	assert_int_equal(buf_putc(&b, 'x'), ERR_TOOBIG);
	assert_int_equal(err_code(), ERR_TOOBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(buf_cstr(&b), "12345678");

	assert_int_equal(buf_printf(&b, "%d", 1), ERR_TOOBIG);
	assert_int_equal(buf_put(&b, "ab", 2), ERR_TOOBIG);
	assert_string_equal(buf_cstr(&b), "12345678");

	/* Size arithmetic does not wrap around. */
	assert_int_equal(buf_grow(&b, SIZE_MAX), ERR_TOOBIG);
	assert_int_equal(buf_grow(&b, SIZE_MAX - 4), ERR_TOOBIG);
	assert_int_equal(b.len, 8);

	/* Never more allocated than the cap needs (cap + the NUL). */
	assert_true(b.cap <= b.max + 1);
	buf_release(&b);
}

static void test_cap_on_empty_buffer(void **state)
{
	struct buf b = BUF_INIT(4);

	(void)state;
	assert_int_equal(buf_puts(&b, "12345"), ERR_TOOBIG);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	TU_OK(buf_puts(&b, "1234"));
	assert_string_equal(buf_cstr(&b), "1234");
	buf_release(&b);
}

static void test_nul_terminated(void **state)
{
	struct buf b = BUF_INIT(1024);
	static const char bin[] = {'a', '\0', 'b'};

	(void)state;
	/* An empty buffer is a valid empty string, never NULL. */
	assert_non_null(buf_cstr(&b));
	assert_string_equal(buf_cstr(&b), "");

	TU_OK(buf_put(&b, "abc", 3)); /* no NUL in the input */
	assert_int_equal(b.len, 3);
	assert_int_equal(b.ptr[3], '\0');
	assert_string_equal(buf_cstr(&b), "abc");

	/* Embedded NUL bytes count in len. */
	TU_OK(buf_put(&b, bin, sizeof(bin)));
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.ptr, "abca\0b", 6);
	assert_int_equal(b.ptr[6], '\0');

	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.ptr); /* the allocation is kept */
	assert_string_equal(buf_cstr(&b), "");
	TU_OK(buf_putc(&b, 'z'));
	assert_string_equal(buf_cstr(&b), "z");
	buf_release(&b);
}

static void test_printf_growth(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	char expect[64];
	size_t want = 0;
	int i;

	(void)state;
	/* Far past the first allocation, in many small steps. */
	for (i = 0; i < 2000; i++) {
		TU_OK(buf_printf(&b, "line %04d %s\n", i, i % 2 ? "odd" : "even"));
		want += strlen(i % 2 ? "odd" : "even") + 11;
		assert_int_equal(b.len, want);
		assert_int_equal(b.ptr[b.len], '\0');
	}
	assert_true(b.cap > b.len);
	assert_memory_equal(b.ptr, "line 0000 even\nline 0001 odd\n", 29);
	snprintf(expect, sizeof(expect), "line %04d odd\n", 1999);
	assert_string_equal(b.ptr + b.len - strlen(expect), expect);

	/* One formatted piece larger than everything so far. */
	buf_reset(&b);
	TU_OK(buf_printf(&b, "%0*d", 100000, 7));
	assert_int_equal(b.len, 100000);
	assert_int_equal(b.ptr[0], '0');
	assert_int_equal(b.ptr[99999], '7');
	assert_int_equal(b.ptr[100000], '\0');
	buf_release(&b);
}

static void test_detach(void **state)
{
	struct buf b = BUF_INIT(64);
	char *s = NULL;

	(void)state;
	TU_OK(buf_puts(&b, "hello"));
	TU_OK(buf_detach(&s, &b));
	assert_string_equal(s, "hello");
	assert_null(b.ptr);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 64); /* still usable with the same cap */
	TU_OK(buf_puts(&b, "again"));
	assert_string_equal(buf_cstr(&b), "again");
	assert_ptr_not_equal(b.ptr, s);
	free(s);
	buf_release(&b);

	/* A never-written buffer detaches as an allocated empty string. */
	s = NULL;
	TU_OK(buf_detach(&s, &b));
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

static void test_release_never_written(void **state)
{
	struct buf b = BUF_INIT(16), w = BUF_INIT(16), i;

	(void)state;
	buf_release(&b);
	assert_null(b.ptr);
	assert_int_equal(b.len, 0);
	buf_release(&b); /* twice is fine */
	buf_wipe_release(&w);
	assert_null(w.ptr);
	buf_release(NULL);
	buf_wipe_release(NULL);

	buf_init(&i, 32);
	assert_null(i.ptr);
	assert_int_equal(i.len, 0);
	assert_int_equal(i.cap, 0);
	assert_int_equal(i.max, 32);
	assert_string_equal(buf_cstr(&i), "");
	buf_release(&i);
}

static void test_wipe_release_written(void **state)
{
	struct buf b = BUF_INIT(64);

	(void)state;
	TU_OK(buf_puts(&b, "secret passphrase"));
	buf_wipe_release(&b);
	assert_null(b.ptr);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_enforced),
		cmocka_unit_test(test_cap_on_empty_buffer),
		cmocka_unit_test(test_nul_terminated),
		cmocka_unit_test(test_printf_growth),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_release_never_written),
		cmocka_unit_test(test_wipe_release_written),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
