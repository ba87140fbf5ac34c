/* tests/shared/base/test_hlc.c - times typed by a person (hlc_parse_time). */
#include "testutil.h"

#include <string.h>

#include "base/hlc.h"

/* 2026-03-01T12:00:00.000Z */
#define NOW 1772366400000LL

static void assert_time(const char *text, const char *want)
{
	char out[HLC_STR_MAX] = "";

	TU_OK(hlc_parse_time(out, text, NOW));
	assert_string_equal(out, want);
}

static void test_iso_forms(void **state)
{
	(void)state;
	assert_time("2026", "2026");
	assert_time("2026-11", "2026-11");
	assert_time("2026-11-27", "2026-11-27");
	assert_time("2026-11-27Z", "2026-11-27");
	assert_time("2026-11-27T18:00", "2026-11-27T18:00");
	assert_time("2026-11-27T18:00:05Z", "2026-11-27T18:00:05");
	assert_time("2026-11-27T18:00:05.123Z", "2026-11-27T18:00:05.123Z");
	assert_time("2026-11-27T18:00:05.123", "2026-11-27T18:00:05.123Z");
}

static void test_relative(void **state)
{
	(void)state;
	assert_time("30m", "2026-03-01T11:30:00.000Z");
	assert_time("24h", "2026-02-28T12:00:00.000Z");
	assert_time("7d", "2026-02-22T12:00:00.000Z");
	assert_time("2w", "2026-02-15T12:00:00.000Z");
}

static void test_refused(void **state)
{
	static const char *const bad[] = {"", "yesterday", "24", "h", "0h", "24x", "-1d", "1.5h",
		"1234567d", "26-11-27", "2026-13-01", "2026-00-10", "2026-11-32",
		"2026-11-27 18:00", "2026-11-27T24:00", "2026-11-27T18:60", "2026-11-27T18",
		"2026-11-27T18:00:05.1", "2026-11-27ZZ", "2026-11-27T18:00:05+01:00", " 2026",
		"2026 "};
	char out[HLC_STR_MAX] = "untouched";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hlc_parse_time(out, bad[i], NOW) != ERR_INVALID)
			fail_msg("'%s' was taken", bad[i]);
		assert_non_null(strstr(err_msg(), "is not a time"));
	}
	assert_string_equal(out, "untouched");
	assert_int_equal(hlc_parse_time(out, NULL, NOW), ERR_INVALID);
}

/* hlc_day: the UTC day of a time, as certificates' and deadlines' dates are printed. */
static void test_day(void **state)
{
	char out[11];

	(void)state;
	hlc_day(out, 0);
	assert_string_equal(out, "1970-01-01");
	hlc_day(out, 1767225599); /* the last second of 2025 */
	assert_string_equal(out, "2025-12-31");
	hlc_day(out, 1767225600);
	assert_string_equal(out, "2026-01-01");
	hlc_day(out, hlc_date_ms("2027-03-01") / 1000 + 86399);
	assert_string_equal(out, "2027-03-01");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso_forms),
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_day),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
