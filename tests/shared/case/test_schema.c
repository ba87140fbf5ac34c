/* tests/shared/case/test_schema.c - the case schema and the identifier validators. */
#include "testutil.h"

#include <string.h>

#include "case/schema.h"

static const struct schema_field *field(const char *name)
{
	const struct schema_field *f = schema_field(name);

	if (!f)
		fail_msg("no field '%s' in the schema", name);
	return f;
}

static void ok(const char *name, const char *value)
{
	int rc = schema_check_value(field(name), value);

	if (rc != 0)
		fail_msg("%s='%s' refused (%d): %s", name, value, rc, err_msg());
}

static void bad(const char *name, const char *value, int code)
{
	int rc = schema_check_value(field(name), value);

	if (rc != code)
		fail_msg("%s='%s' gave %d, expected %d", name, value, rc, code);
	assert_true(strlen(err_msg()) > 0);
}

static void test_table(void **state)
{
	size_t i;

	(void)state;
	assert_true(schema_count() > 0);
	assert_true(schema_count() <= SCHEMA_MAX_FIELDS);
	for (i = 0; i < schema_count(); i++) {
		const struct schema_field *f = schema_at(i);

		assert_non_null(f);
		assert_ptr_equal(schema_field(f->name), f);
		assert_int_equal(schema_index(f->name), (int)i);
		/* A default must itself be valid. */
		if (f->default_value)
			ok(f->name, f->default_value);
	}
	assert_null(schema_at(schema_count()));
	assert_null(schema_field("no-such-field"));
	assert_int_equal(schema_index("no-such-field"), -1);
	assert_int_equal(schema_index("Title"), -1);

	/* DESIGN.md section 3: what a new case must have and gets by default. */
	assert_true(field("title")->required);
	assert_true(field("category")->required);
	assert_string_equal(field("status")->default_value, "intake");
	assert_string_equal(field("priority")->default_value, "3");
}

static void test_enums(void **state)
{
	static const char *const statuses[] = {"intake", "open", "investigation", "review",
		"referred", "closed"};
	size_t i, nenums = 0;

	(void)state;
	for (i = 0; i < schema_count(); i++) {
		const struct schema_field *f = schema_at(i);
		const char *const *v;

		if (f->kind != SCHEMA_ENUM)
			continue;
		nenums++;
		for (v = f->values; *v; v++)
			ok(f->name, *v);
		bad(f->name, "bogus", ERR_INVALID);
		bad(f->name, "Open", ERR_INVALID);
		bad(f->name, "other ", ERR_INVALID);
	}
	assert_true(nenums >= 3);

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		ok("status", statuses[i]);
	bad("status", "reopened", ERR_INVALID);
	ok("category", "use-of-force");
	ok("category", "lack-of-candor");
	bad("category", "use of force", ERR_INVALID);
	ok("disposition", "not-sustained");
	bad("disposition", "guilty", ERR_INVALID);
	/* The refusal lists what is allowed. */
	bad("status", "bogus", ERR_INVALID);
	assert_non_null(strstr(err_msg(), "investigation"));
}

static void test_priority(void **state)
{
	(void)state;
	ok("priority", "1");
	ok("priority", "4");
	ok("priority", ""); /* optional: clears it */
	bad("priority", "0", ERR_INVALID);
	bad("priority", "5", ERR_INVALID);
	bad("priority", "01", ERR_INVALID);
	bad("priority", "x", ERR_INVALID);
	bad("priority", "-1", ERR_INVALID);
	bad("priority", "1.0", ERR_INVALID);
	bad("priority", " 1", ERR_INVALID);
}

static void test_dates(void **state)
{
	(void)state;
	ok("received_at", "2024-02-29");
	ok("received_at", "2000-02-29");
	ok("received_at", "2024-12-31");
	ok("received_at", "2024-02-29T23:59:59Z");
	ok("closed_at", "2026-01-01T00:00:00Z");
	bad("received_at", "2023-02-29", ERR_INVALID);
	bad("received_at", "1900-02-29", ERR_INVALID);
	bad("received_at", "2024-04-31", ERR_INVALID);
	bad("received_at", "2024-13-01", ERR_INVALID);
	bad("received_at", "2024-00-10", ERR_INVALID);
	bad("received_at", "2024-01-00", ERR_INVALID);
	bad("received_at", "2024-1-01", ERR_INVALID);
	bad("received_at", "2024/01/01", ERR_INVALID);
	bad("received_at", "24-01-2024", ERR_INVALID);
	bad("received_at", "2024-02-29T24:00:00Z", ERR_INVALID);
	bad("received_at", "2024-02-29T12:60:00Z", ERR_INVALID);
	bad("received_at", "2024-02-29 12:00:00Z", ERR_INVALID);
	bad("received_at", "2024-02-29T12:00:00+", ERR_INVALID);
	bad("received_at", "2024-02-29T12:00:0Z", ERR_INVALID);
	bad("received_at", "yesterday", ERR_INVALID);
}

static void test_lines_and_text(void **state)
{
	char longtitle[202];

	(void)state;
	ok("title", "Use of force at the north gate");
	bad("title", "two\nlines", ERR_INVALID);
	bad("title", "carriage\rreturn", ERR_INVALID);
	bad("title", "", ERR_INVALID);	  /* required: cannot be cleared */
	bad("category", "", ERR_INVALID); /* required */
	ok("assignee", "");		  /* optional: cleared */
	ok("summary", "first line\nsecond line\twith a tab");

	memset(longtitle, 'a', sizeof(longtitle) - 1);
	longtitle[sizeof(longtitle) - 1] = '\0';
	bad("title", longtitle, ERR_TOOBIG); /* 201 bytes */
	longtitle[200] = '\0';
	ok("title", longtitle);

	/* Free text: UTF-8 only, no control characters but newline and tab. */
	ok("title", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e");
	bad("title", "bad \xff byte", ERR_INVALID);
	bad("title", "overlong \xc0\xaf", ERR_INVALID);
	bad("title", "surrogate \xed\xa0\x80", ERR_INVALID);
	bad("title", "truncated \xe2\x82", ERR_INVALID);
	bad("title", "beyond \xf4\x90\x80\x80", ERR_INVALID);
	bad("title", "bell \x07", ERR_INVALID);
	bad("title", "escape \x1b[2J", ERR_INVALID);
	bad("title", "delete \x7f", ERR_INVALID);
	bad("summary", "escape \x1b[31m", ERR_INVALID);

	TU_OK(schema_check_text("the note", "a\nb\tc", 5, 100));
	assert_int_equal(schema_check_text("the note", "a\0b", 3, 100), ERR_INVALID);
	assert_int_equal(schema_check_text("the note", "abcdef", 6, 5), ERR_TOOBIG);
	assert_non_null(strstr(err_msg(), "the note"));
	assert_int_equal(schema_check_text("the note", "\xe2\x82\xac", 2, 100), ERR_INVALID);
}

static void test_office(void **state)
{
	(void)state;
	TU_OK(schema_check_office("ELP"));
	TU_OK(schema_check_office("AB"));
	TU_OK(schema_check_office("HQ2"));
	TU_OK(schema_check_office("ABCDEFGH"));
	assert_int_equal(schema_check_office("A"), ERR_INVALID);
	assert_int_equal(schema_check_office(""), ERR_INVALID);
	assert_int_equal(schema_check_office("ABCDEFGHI"), ERR_INVALID);
	assert_int_equal(schema_check_office("elp"), ERR_INVALID);
	assert_int_equal(schema_check_office("1EL"), ERR_INVALID);
	assert_int_equal(schema_check_office("EL-P"), ERR_INVALID);
	assert_int_equal(schema_check_office("EL P"), ERR_INVALID);
}

static void test_user(void **state)
{
	char name[66];

	(void)state;
	TU_OK(schema_check_user("alice"));
	TU_OK(schema_check_user("a"));
	TU_OK(schema_check_user("j.doe_2-x"));
	assert_int_equal(schema_check_user(""), ERR_INVALID);
	assert_int_equal(schema_check_user("Alice"), ERR_INVALID);
	assert_int_equal(schema_check_user("1alice"), ERR_INVALID);
	assert_int_equal(schema_check_user(".alice"), ERR_INVALID);
	assert_int_equal(schema_check_user("al ice"), ERR_INVALID);
	assert_int_equal(schema_check_user("alice/../x"), ERR_INVALID);
	assert_int_equal(schema_check_user("al\xc3\xa9"), ERR_INVALID);
	memset(name, 'a', 64);
	name[64] = '\0';
	TU_OK(schema_check_user(name));
	name[64] = 'a';
	name[65] = '\0';
	assert_int_equal(schema_check_user(name), ERR_INVALID);
}

static void test_case_id(void **state)
{
	(void)state;
	TU_OK(schema_check_case_id("ELP-26-7KQ4M2X"));
	TU_OK(schema_check_case_id("AB-00-0000000"));
	TU_OK(schema_check_case_id("ABCDEFGH-99-ZZZZZZZ"));
	assert_int_equal(schema_check_case_id("ELP-26-7KQ4M2"), ERR_INVALID);   /* short */
	assert_int_equal(schema_check_case_id("ELP-26-7KQ4M2XX"), ERR_INVALID); /* long */
	assert_int_equal(schema_check_case_id("ELP-26-7KQ4M2I"), ERR_INVALID);  /* not base32 */
	assert_int_equal(schema_check_case_id("ELP-26-7KQ4M2U"), ERR_INVALID);
	assert_int_equal(schema_check_case_id("ELP-26-7kq4m2x"), ERR_INVALID);
	assert_int_equal(schema_check_case_id("ELP-2A-7KQ4M2X"), ERR_INVALID);
	assert_int_equal(schema_check_case_id("ELP-26_7KQ4M2X"), ERR_INVALID);
	assert_int_equal(schema_check_case_id("elp-26-7KQ4M2X"), ERR_INVALID);
	assert_int_equal(schema_check_case_id("E-26-7KQ4M2X"), ERR_INVALID);
	assert_int_equal(schema_check_case_id("ABCDEFGHI-26-7KQ4M2X"), ERR_INVALID);
	assert_int_equal(schema_check_case_id("ELP267KQ4M2X"), ERR_INVALID);
	assert_int_equal(schema_check_case_id("../../etc/pwd"), ERR_INVALID);
	assert_int_equal(schema_check_case_id(""), ERR_INVALID);
}

static void test_role(void **state)
{
	(void)state;
	TU_OK(schema_check_role("investigator"));
	TU_OK(schema_check_role("supervisor"));
	TU_OK(schema_check_role("auditor"));
	TU_OK(schema_check_role("admin"));
	assert_int_equal(schema_check_role("Admin"), ERR_INVALID);
	assert_int_equal(schema_check_role("root"), ERR_INVALID);
	assert_int_equal(schema_check_role(""), ERR_INVALID);
	assert_int_equal(schema_check_role("admin "), ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_lines_and_text),
		cmocka_unit_test(test_office),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_case_id),
		cmocka_unit_test(test_role),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
