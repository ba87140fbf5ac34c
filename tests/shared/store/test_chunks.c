/* tests/shared/store/test_chunks.c - the evidence chunk store and its wire form. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "store/chunks.h"

#define MARKER "CHUNK-MARKER-91c3-plaintext-must-not-leak"

static void test_put_get_dedup(void **state)
{
	char *dir = NULL;
	struct store *s = tu_store_new(&dir);
	struct buf out = BUF_INIT(CHUNKS_SIZE);
	uint8_t h1[CHUNKS_HASH_LEN], h2[CHUNKS_HASH_LEN], want[CHUNKS_HASH_LEN];
	char *data = malloc(CHUNKS_SIZE);
	int added = -1;

	(void)state;
	assert_non_null(data);
	memset(data, 'x', CHUNKS_SIZE);
	memcpy(data + 5000, MARKER, strlen(MARKER));
	TU_OK(chunks_put(h1, &added, s, data, CHUNKS_SIZE, CHUNKS_STORED));
	assert_int_equal(added, 1);
	crypto_sha256(want, data, CHUNKS_SIZE);
	assert_memory_equal(h1, want, sizeof(want));
	/* the same bytes again: one row, the state moves up, never down */
	TU_OK(chunks_put(h2, &added, s, data, CHUNKS_SIZE, CHUNKS_HELD));
	assert_int_equal(added, 0);
	TU_OK(chunks_put(h2, &added, s, data, CHUNKS_SIZE, CHUNKS_STORED));
	assert_int_equal(tu_sql_int(s, "SELECT count(*) FROM evidence_chunks"), 1);
	assert_int_equal(tu_sql_int(s, "SELECT state FROM evidence_chunk_state"), CHUNKS_HELD);
	assert_int_equal(chunks_has(s, h1), 1);
	TU_OK(chunks_get(&out, s, h1));
	assert_int_equal(out.len, CHUNKS_SIZE);
	assert_memory_equal(out.ptr, data, CHUNKS_SIZE);
	/* an empty chunk and an unknown one */
	TU_OK(chunks_put(h2, NULL, s, NULL, 0, CHUNKS_STORED));
	crypto_sha256(want, "", 0);
	assert_memory_equal(h2, want, sizeof(want));
	want[0] ^= 0xff;
	assert_int_equal(chunks_has(s, want), 0);
	assert_int_equal(chunks_get(&out, s, want), ERR_NOTFOUND);
	/* over the size limit */
	assert_int_equal(chunks_put(h2, NULL, s, data, CHUNKS_SIZE + 1, CHUNKS_STORED), ERR_TOOBIG);
	/* the marker is nowhere on disk in clear */
	assert_false(tu_file_contains(store_path(s), MARKER, strlen(MARKER)));
	buf_release(&out);
	free(data);
	tu_store_done(s, dir);
}

static void test_altered_chunk_detected(void **state)
{
	char *dir = NULL;
	struct store *s = tu_store_new(&dir);
	struct buf out = BUF_INIT(CHUNKS_SIZE);
	uint8_t h[CHUNKS_HASH_LEN];
	int64_t count = 0, bytes = 0;

	(void)state;
	TU_OK(chunks_put(h, NULL, s, "evidence bytes", 14, CHUNKS_STORED));
	TU_OK(chunks_check(&count, &bytes, s));
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 14);
	TU_OK(store_run(s, "UPDATE evidence_chunks SET data = ?", "b", "evidence bytez",
		(size_t)14));
	assert_int_equal(chunks_get(&out, s, h), ERR_CORRUPT);
	assert_non_null(strstr(err_msg(), "does not match"));
	assert_int_equal(chunks_check(&count, &bytes, s), ERR_CORRUPT);
	buf_release(&out);
	tu_store_done(s, dir);
}

static int collect(void *ctx, const uint8_t hash[CHUNKS_HASH_LEN])
{
	(void)hash;
	(*(int *)ctx)++;
	return 0;
}

static void test_states(void **state)
{
	char *dir = NULL;
	struct store *s = tu_store_new(&dir);
	uint8_t h[3][CHUNKS_HASH_LEN];
	int n = 0;

	(void)state;
	TU_OK(chunks_put(h[0], NULL, s, "a", 1, CHUNKS_STORED));
	TU_OK(chunks_put(h[1], NULL, s, "b", 1, CHUNKS_STORED));
	TU_OK(chunks_put(h[2], NULL, s, "c", 1, CHUNKS_HELD));
	TU_OK(chunks_raise(s, h[0], CHUNKS_PENDING));
	TU_OK(chunks_raise(s, h[2], CHUNKS_PENDING)); /* never down */
	TU_OK(chunks_foreach_state(s, CHUNKS_PENDING, NULL, 10, collect, &n));
	assert_int_equal(n, 1);
	n = 0;
	TU_OK(chunks_foreach_state(s, CHUNKS_HELD, NULL, 10, collect, &n));
	assert_int_equal(n, 1);
	tu_store_done(s, dir);
}

static void test_wire(void **state)
{
	struct buf b = BUF_INIT(1024);
	uint8_t h1[CHUNKS_HASH_LEN] = {1}, h2[CHUNKS_HASH_LEN] = {2};
	const uint8_t *p, *hash, *data;
	size_t left, len;

	(void)state;
	TU_OK(chunks_wire_put(&b, h1, "abc", 3));
	TU_OK(chunks_wire_put(&b, h2, NULL, 0));
	p = (const uint8_t *)b.ptr;
	left = b.len;
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), 1);
	assert_memory_equal(hash, h1, CHUNKS_HASH_LEN);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "abc", 3);
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), 1);
	assert_int_equal(len, 0);
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), 0);
	/* truncated, and a length over the limit */
	p = (const uint8_t *)b.ptr;
	left = CHUNKS_WIRE_HEADER + 2;
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), ERR_INVALID);
	b.ptr[CHUNKS_HASH_LEN] = 0x7f;
	p = (const uint8_t *)b.ptr;
	left = b.len;
	assert_int_equal(chunks_wire_next(&hash, &data, &len, &p, &left), ERR_INVALID);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_dedup),
		cmocka_unit_test(test_altered_chunk_detected),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
