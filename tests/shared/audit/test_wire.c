/*
 * tests/shared/audit/test_wire.c - the audit upload's compressed body: it inflates to the very
 * bytes packed, is much smaller than the JSON for a real upload, and bad input is refused with
 * the reason (not a stream, truncated, bytes after it, a bomb past the bound), leaving `out`
 * as it was.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "audit/wire.h"
#include "base/buf.h"

/* An upload of `n` entries as auditsync.c makes it (entries are JSON strings in JSON). */
static void upload_json(struct buf *b, int n)
{
	int i;

	TU_OK(buf_puts(b,
		"{\"from\":0,\"size\":2,\"root\":\"ab\",\"time\":\"2026-12-03T10:00:00.000Z\","
		"\"signature\":\"3045022100aa\",\"proof\":\"\",\"entries\":["));
	for (i = 0; i < n; i++)
		TU_OK(buf_printf(b,
			"%s\"{\\\"action\\\":\\\"case.update\\\",\\\"detail\\\":\\\"fields location\\\","
			"\\\"node\\\":\\\"0123456789abcdef0123456789abcdef\\\",\\\"office\\\":\\\"ELP\\\","
			"\\\"outcome\\\":\\\"success\\\",\\\"seq\\\":%d,\\\"target\\\":\\\"ELP-26-%07d\\\","
			"\\\"time\\\":\\\"2026-12-03T10:%02d:%02d.%03dZ\\\",\\\"user\\\":\\\"alice\\\"}\"",
			i ? "," : "", 1000 + i, i * 7919 % 10000, i / 60 % 60, i % 60,
			i * 37 % 1000));
	TU_OK(buf_puts(b, "],\"seals\":[]}"));
}

static void test_round_trip(void **state)
{
	static const int sizes[] = {0, 1, 2, 100, 5000};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct buf json = BUF_INIT(AUDIT_WIRE_INFLATED_MAX),
			   packed = BUF_INIT(AUDIT_WIRE_INFLATED_MAX),
			   back = BUF_INIT(AUDIT_WIRE_INFLATED_MAX);

		upload_json(&json, sizes[i]);
		TU_OK(audit_wire_pack(&packed, json.ptr, json.len));
		TU_OK(audit_wire_unpack(&back, packed.ptr, packed.len));
		assert_int_equal(back.len, json.len);
		assert_memory_equal(back.ptr, json.ptr, json.len);
		assert_int_equal(back.ptr[back.len], '\0');
		/* the dictionary makes even one entry small; many entries are a fraction */
		if (sizes[i] == 1)
			assert_true(packed.len * 2 < json.len);
		if (sizes[i] == 5000)
			assert_true(packed.len * 5 < json.len);
		buf_release(&json);
		buf_release(&packed);
		buf_release(&back);
	}
}

static void expect_refused(const void *in, size_t len, int code, const char *reason)
{
	struct buf out = BUF_INIT(AUDIT_WIRE_INFLATED_MAX);

	TU_OK(buf_puts(&out, "kept"));
	assert_int_equal(audit_wire_unpack(&out, in, len), code);
	assert_non_null(strstr(err_msg(), reason));
	assert_int_equal(out.len, 4);
	buf_release(&out);
}

static void test_bad_input(void **state)
{
	struct buf json = BUF_INIT(1 << 20), packed = BUF_INIT(1 << 20);
	uint8_t plain[64];
	uLongf plainlen = sizeof(plain);

	(void)state;
	upload_json(&json, 3);
	TU_OK(audit_wire_pack(&packed, json.ptr, json.len));
	expect_refused(json.ptr, json.len, ERR_INVALID, "not a valid zlib stream");
	expect_refused(packed.ptr, packed.len / 2, ERR_INVALID, "truncated");
	expect_refused(packed.ptr, 0, ERR_INVALID, "truncated");
	TU_OK(buf_puts(&packed, "x"));
	expect_refused(packed.ptr, packed.len, ERR_INVALID, "bytes after");
	/* a stream without the dictionary is fine zlib, but not this format's: still valid data */
	assert_int_equal(compress(plain, &plainlen, (const Bytef *)"{}", 2), Z_OK);
	{
		struct buf out = BUF_INIT(64);

		TU_OK(audit_wire_unpack(&out, plain, plainlen));
		assert_string_equal(out.ptr, "{}");
		buf_release(&out);
	}
	buf_release(&json);
	buf_release(&packed);
}

static void test_bomb_bounded(void **state)
{
	size_t n = AUDIT_WIRE_INFLATED_MAX + 4096;
	char *zeros = calloc(1, n);
	struct buf packed = BUF_INIT((size_t)1 << 27);

	(void)state;
	assert_non_null(zeros);
	TU_OK(audit_wire_pack(&packed, zeros, n));
	assert_true(packed.len < 100000); /* a few KiB that would inflate past the bound */
	expect_refused(packed.ptr, packed.len, ERR_TOOBIG, "inflates past");
	free(zeros);
	buf_release(&packed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_bomb_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
