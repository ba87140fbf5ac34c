/*
 * tests/shared/store/test_pack.c - pack_parse() over real packs written by git, and over damaged and
 * hand-built packs that must be refused without a crash or a leak.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha1.h>
#include <zlib.h>

#include "base/buf.h"
#include "store/pack.h"

/* The repository and the packs git wrote from it, made once for all tests. */
static struct {
	char *dir;
	char *repo;
	uint8_t *ofs; /* --delta-base-offset: OFS_DELTA */
	size_t ofslen;
	uint8_t *ref; /* without it: REF_DELTA */
	size_t reflen;
	uint8_t *thin; /* --thin, the bases left out */
	size_t thinlen;
	size_t nobjects; /* what `git rev-list --objects --all` lists */
} fx;

/* What the callback saw. */
struct seen {
	struct buf lines; /* "<id> <type> <size>\n" per object, as `git cat-file --batch-check` */
	size_t n;
	size_t stop_at; /* return stop_code at this object (1-based); 0 never */
	int stop_code;
};

static int collect(void *payload, git_object_t type, const void *data, size_t len)
{
	struct seen *s = payload;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid id;

	assert_true(type >= GIT_OBJECT_COMMIT && type <= GIT_OBJECT_TAG);
	assert_int_equal(git_odb_hash(&id, data, len, type), 0);
	git_oid_tostr(hex, sizeof(hex), &id);
	assert_int_equal(
	        buf_printf(&s->lines, "%s %s %zu\n", hex, git_object_type2string(type), len), 0);
	s->n++;
	if (s->stop_at && s->n == s->stop_at)
		return s->stop_code;
	return 0;
}

static int parse(struct seen *s, const uint8_t *pack, size_t len)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->lines, 64u * 1024 * 1024);
	return pack_parse(pack, len, collect, s);
}

static void cmd(char *out, size_t outlen, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
static void cmd(char *out, size_t outlen, const char *fmt, va_list ap)
{
	int n = vsnprintf(out, outlen, fmt, ap);

	assert_true(n > 0 && (size_t)n < outlen);
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char line[8192];
	va_list ap;

	va_start(ap, fmt);
	cmd(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (system(line) != 0)
		fail_msg("command failed: %s", line);
}

/* The whole standard output of a shell command. */
static uint8_t *capture(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uint8_t *capture(size_t *len, const char *fmt, ...)
{
	struct buf out = BUF_INIT(64u * 1024 * 1024);
	char line[8192], chunk[4096];
	char *data = NULL;
	size_t n;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	cmd(line, sizeof(line), fmt, ap);
	va_end(ap);
	p = popen(line, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		assert_int_equal(buf_put(&out, chunk, n), 0);
	if (pclose(p) != 0)
		fail_msg("command failed: %s", line);
	*len = out.len;
	assert_int_equal(buf_put(&out, "", 0), 0); /* a pointer even for empty output */
	assert_int_equal(buf_detach(&data, &out), 0);
	return (uint8_t *)data;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char *path = tu_path(dir, name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(path);
}

/* A text file of 400 lines where `changed` lines differ per version, so git finds deltas. */
static void write_version(int version)
{
	struct buf text = BUF_INIT(1024 * 1024);
	int i;

	for (i = 0; i < 400; i++) {
		if (i % 50 == version)
			assert_int_equal(
			        buf_printf(&text, "line %d, changed in version %d\n", i, version),
			        0);
		else
			assert_int_equal(buf_printf(&text, "line %d of the field report\n", i), 0);
	}
	write_file(fx.repo, "report.txt", text.ptr, text.len);
	assert_int_equal(buf_printf(&text, "appendix %d\n", version), 0);
	write_file(fx.repo, "appendix.txt", text.ptr, text.len);
	buf_release(&text);
}

#define GIT "git -c user.name=t -c user.email=t@e -C"

static int group_setup(void **state)
{
	size_t len;
	uint8_t *count;
	int v;

	(void)state;
	/* keep the user's and the system's git configuration out of the packs */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	fx.dir = tu_tmpdir();
	fx.repo = tu_path(fx.dir, "repo");
	run("git init -q %s", fx.repo);
	for (v = 0; v < 6; v++) {
		write_version(v);
		run(GIT " %s add -A && " GIT " %s commit -q -m 'version %d'", fx.repo, fx.repo, v);
	}
	run(GIT " %s tag -a v1 -m 'first release'", fx.repo);
	fx.ofs = capture(&fx.ofslen,
	        "git -C %s pack-objects -q --all --stdout --window=10 --depth=50 "
	        "--delta-base-offset </dev/null",
	        fx.repo);
	fx.ref = capture(&fx.reflen,
	        "git -C %s pack-objects -q --all --stdout --window=10 --depth=50 --no-reuse-delta "
	        "</dev/null",
	        fx.repo);
	fx.thin = capture(&fx.thinlen,
	        "printf 'HEAD\\n^HEAD~1\\n' | git -C %s pack-objects -q --revs --thin --stdout "
	        "--delta-base-offset",
	        fx.repo);
	count = capture(&len, "git -C %s rev-list --objects --all | wc -l", fx.repo);
	fx.nobjects = strtoul((const char *)count, NULL, 10);
	free(count);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_rmrf(fx.dir);
	free(fx.dir);
	free(fx.repo);
	free(fx.ofs);
	free(fx.ref);
	free(fx.thin);
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* How many objects of the pack are stored as the given delta type, by git's own index. */
static size_t count_deltas(const uint8_t *pack, size_t len, int type)
{
	uint8_t *offsets;
	char *p, *end;
	size_t n = 0, olen;

	write_file(fx.dir, "check.pack", pack, len);
	run("git index-pack %s/check.pack >/dev/null", fx.dir);
	/* verify-pack -v prints the delta depth and base only for deltified objects */
	offsets = capture(
	        &olen, "git verify-pack -v %s/check.pack | awk 'NF == 7 { print $5 }'", fx.dir);
	for (p = (char *)offsets; *p; p = end) {
		unsigned long long off = strtoull(p, &end, 10);

		if (end == p)
			break;
		assert_true(off < len);
		if (((pack[off] >> 4) & 7) == type)
			n++;
	}
	free(offsets);
	run("rm -f %s/check.pack %s/check.idx", fx.dir, fx.dir);
	return n;
}

/* Parse a git-written pack and have git confirm every object's id, type and size. */
static void check_real_pack(const uint8_t *pack, size_t len, int delta_type)
{
	struct seen s;
	uint8_t *out;
	size_t outlen;

	assert_true(count_deltas(pack, len, delta_type) > 0);
	TU_OK(parse(&s, pack, len));
	assert_int_equal(s.n, be32(pack + 8));
	assert_int_equal(s.n, fx.nobjects);
	write_file(fx.dir, "ids.txt", s.lines.ptr, s.lines.len);
	/* batch-check answers "<id> <type> <size>" per id, or "<id> missing" */
	out = capture(&outlen, "cut -d' ' -f1 %s/ids.txt | git -C %s cat-file --batch-check",
	        fx.dir, fx.repo);
	assert_int_equal(outlen, s.lines.len);
	assert_memory_equal(out, s.lines.ptr, outlen);
	free(out);
	buf_release(&s.lines);
}

static void test_ofs_delta_pack(void **state)
{
	(void)state;
	check_real_pack(fx.ofs, fx.ofslen, GIT_OBJECT_OFS_DELTA);
}

static void test_ref_delta_pack(void **state)
{
	(void)state;
	check_real_pack(fx.ref, fx.reflen, GIT_OBJECT_REF_DELTA);
}

static void test_thin_pack_refused(void **state)
{
	struct seen s;

	(void)state;
	assert_int_equal(parse(&s, fx.thin, fx.thinlen), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "thin packs are not supported"));
	assert_int_equal(s.n, 0);
	buf_release(&s.lines);
}

/* Every prefix of a pack is refused, and the message names where the bytes ran out. */
static void test_truncated_everywhere(void **state)
{
	char want[64];
	struct seen s;
	size_t cut;

	(void)state;
	for (cut = 0; cut < fx.ofslen; cut++) {
		snprintf(want, sizeof(want), "pack truncated at offset %zu", cut);
		assert_int_equal(parse(&s, fx.ofs, cut), ERR_INVALID);
		assert_string_equal(err_msg(), want);
		assert_int_equal(s.n, 0);
		buf_release(&s.lines);
	}
}

/* Any single flipped byte is refused before a single object reaches the callback. */
static void test_flipped_byte_everywhere(void **state)
{
	uint8_t *copy = malloc(fx.reflen);
	struct seen s;
	size_t i;

	(void)state;
	assert_non_null(copy);
	memcpy(copy, fx.ref, fx.reflen);
	for (i = 0; i < fx.reflen; i++) {
		int error;

		copy[i] ^= 0x20;
		error = parse(&s, copy, fx.reflen);
		if (error != ERR_INVALID && error != ERR_TOOBIG)
			fail_msg("flip at %zu: %d (%s)", i, error, err_msg());
		assert_int_equal(s.n, 0);
		buf_release(&s.lines);
		copy[i] ^= 0x20;
	}
	free(copy);
}

static void test_bad_checksum(void **state)
{
	uint8_t *copy = malloc(fx.ofslen);
	struct seen s;

	(void)state;
	assert_non_null(copy);
	memcpy(copy, fx.ofs, fx.ofslen);
	copy[fx.ofslen - 7] ^= 1;
	assert_int_equal(parse(&s, copy, fx.ofslen), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "checksum mismatch"));
	assert_int_equal(s.n, 0);
	buf_release(&s.lines);
	free(copy);
}

static void fix_checksum(uint8_t *pack, size_t len)
{
	assert_int_equal(mbedtls_sha1_ret(pack, len - 20, pack + len - 20), 0);
}

/* A flipped byte inside the first object's deflate data, with a matching checksum. */
static void test_corrupt_deflate(void **state)
{
	uint8_t *copy = malloc(fx.ofslen);
	struct seen s;
	size_t i = 12;

	(void)state;
	assert_non_null(copy);
	memcpy(copy, fx.ofs, fx.ofslen);
	while (copy[i] & 0x80) /* skip the type and size */
		i++;
	copy[i + 6] ^= 0x55; /* past the two-byte zlib header, into the compressed data */
	fix_checksum(copy, fx.ofslen);
	assert_int_equal(parse(&s, copy, fx.ofslen), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "at offset 12"));
	assert_int_equal(s.n, 0);
	buf_release(&s.lines);
	free(copy);
}

/* Object counts that disagree with the objects present, the checksum made to match. */
static void test_bogus_count(void **state)
{
	static const uint32_t counts[] = {
	        0, 1, 2, 3, 1000, PACK_MAX_OBJECTS, PACK_MAX_OBJECTS + 1, 0xffffffffu};
	uint8_t *copy = malloc(fx.ofslen);
	uint32_t present = be32(fx.ofs + 8);
	struct seen s;
	size_t i;

	(void)state;
	assert_non_null(copy);
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int error;

		memcpy(copy, fx.ofs, fx.ofslen);
		copy[8] = (uint8_t)(counts[i] >> 24);
		copy[9] = (uint8_t)(counts[i] >> 16);
		copy[10] = (uint8_t)(counts[i] >> 8);
		copy[11] = (uint8_t)counts[i];
		fix_checksum(copy, fx.ofslen);
		error = parse(&s, copy, fx.ofslen);
		buf_release(&s.lines);
		assert_int_equal(s.n, 0);
		if (counts[i] > PACK_MAX_OBJECTS) {
			assert_int_equal(error, ERR_TOOBIG);
		} else if (counts[i] < present) {
			assert_int_equal(error, ERR_INVALID);
			assert_non_null(strstr(err_msg(), "unexpected data after the last object"));
		} else {
			/* the trailer is read as an object: a bad one, or one too big */
			assert_true(error == ERR_INVALID || error == ERR_TOOBIG);
		}
	}
	free(copy);
}

static void test_callback_stops(void **state)
{
	struct seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	buf_init(&s.lines, 1024 * 1024);
	s.stop_at = 3;
	s.stop_code = -42;
	assert_int_equal(pack_parse(fx.ofs, fx.ofslen, collect, &s), -42);
	assert_int_equal(s.n, 3);
	buf_release(&s.lines);
}

/* ---- hand-built packs, for what git never writes ------------------------------------------ */

static void pb_start(struct buf *b, uint32_t count)
{
	uint8_t h[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2};

	buf_init(b, 16u * 1024 * 1024);
	h[8] = (uint8_t)(count >> 24);
	h[9] = (uint8_t)(count >> 16);
	h[10] = (uint8_t)(count >> 8);
	h[11] = (uint8_t)count;
	assert_int_equal(buf_put(b, h, sizeof(h)), 0);
}

/* The type and size header of an object, as git writes it. */
static void pb_header(struct buf *b, int type, size_t size)
{
	uint8_t c = (uint8_t)(type << 4 | (size & 0x0f));

	size >>= 4;
	while (size) {
		assert_int_equal(buf_putc(b, (char)(c | 0x80)), 0);
		c = size & 0x7f;
		size >>= 7;
	}
	assert_int_equal(buf_putc(b, (char)c), 0);
}

static void pb_deflate(struct buf *b, const void *data, size_t len)
{
	uLongf zlen = compressBound(len);
	uint8_t *z = malloc(zlen);

	assert_non_null(z);
	assert_int_equal(compress2(z, &zlen, data, len, 6), Z_OK);
	assert_int_equal(buf_put(b, z, zlen), 0);
	free(z);
}

/* Append a base object; returns its offset. */
static size_t pb_base(struct buf *b, int type, const void *data, size_t len)
{
	size_t off = b->len;

	pb_header(b, type, len);
	pb_deflate(b, data, len);
	return off;
}

/* Append an OFS_DELTA against the object at `base`; returns its offset. */
static size_t pb_ofs(struct buf *b, size_t base, const void *delta, size_t len)
{
	uint8_t enc[16];
	size_t off = b->len, dist = off - base, pos = sizeof(enc) - 1;

	pb_header(b, GIT_OBJECT_OFS_DELTA, len);
	enc[pos] = dist & 0x7f;
	while (dist >>= 7)
		enc[--pos] = (uint8_t)(0x80 | (--dist & 0x7f));
	assert_int_equal(buf_put(b, enc + pos, sizeof(enc) - pos), 0);
	pb_deflate(b, delta, len);
	return off;
}

static void pb_finish(struct buf *b)
{
	uint8_t sum[20];

	assert_int_equal(mbedtls_sha1_ret((const uint8_t *)b->ptr, b->len, sum), 0);
	assert_int_equal(buf_put(b, sum, sizeof(sum)), 0);
}

static int pb_parse(struct seen *s, struct buf *b)
{
	pb_finish(b);
	return parse(s, (const uint8_t *)b->ptr, b->len);
}

static const char base_text[] = "0123456789abcdef";

/* One base and one delta over it; the parse result and the message. */
static int parse_delta(const void *delta, size_t len)
{
	struct buf b;
	struct seen s;
	size_t base;
	int error;

	pb_start(&b, 2);
	base = pb_base(&b, GIT_OBJECT_BLOB, base_text, 16);
	pb_ofs(&b, base, delta, len);
	error = pb_parse(&s, &b);
	if (error)
		assert_int_equal(s.n, 0);
	buf_release(&s.lines);
	buf_release(&b);
	return error;
}

static void test_handmade_delta(void **state)
{
	/* src 16, tgt 9: copy 4 bytes at 10, insert "xyz", copy 2 bytes at 0 */
	static const uint8_t good[] = {16, 9, 0x91, 10, 4, 3, 'x', 'y', 'z', 0x90, 2};
	static const uint8_t opcode0[] = {16, 4, 0x90, 4, 0};
	static const uint8_t past_base[] = {16, 4, 0x91, 14, 4};
	static const uint8_t past_target[] = {16, 4, 0x90, 5};
	static const uint8_t short_target[] = {16, 5, 0x90, 4};
	static const uint8_t wrong_source[] = {15, 4, 0x90, 4};
	static const uint8_t insert_past_data[] = {16, 4, 4, 'a', 'b'};
	static const uint8_t cut_copy[] = {16, 4, 0x91, 14};
	static const uint8_t huge_target[] = {16, 0x80, 0x80, 0x80, 0x80, 0x10};
	static const uint8_t endless_varint[] = {
	        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
	/* copy size 0 means 64 KiB, far more than the base */
	static const uint8_t copy_64k[] = {16, 16, 0x80};

	(void)state;
	assert_int_equal(parse_delta(good, sizeof(good)), 0);
	assert_int_equal(parse_delta(opcode0, sizeof(opcode0)), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "opcode 0"));
	assert_int_equal(parse_delta(past_base, sizeof(past_base)), ERR_INVALID);
	assert_int_equal(parse_delta(past_target, sizeof(past_target)), ERR_INVALID);
	assert_int_equal(parse_delta(short_target, sizeof(short_target)), ERR_INVALID);
	assert_int_equal(parse_delta(wrong_source, sizeof(wrong_source)), ERR_INVALID);
	assert_int_equal(parse_delta(insert_past_data, sizeof(insert_past_data)), ERR_INVALID);
	assert_int_equal(parse_delta(cut_copy, sizeof(cut_copy)), ERR_INVALID);
	assert_int_equal(parse_delta(huge_target, sizeof(huge_target)), ERR_TOOBIG);
	assert_int_equal(parse_delta(endless_varint, sizeof(endless_varint)), ERR_INVALID);
	assert_int_equal(parse_delta(copy_64k, sizeof(copy_64k)), ERR_INVALID);
}

/* The delta's result is what the delta says, with the base's type. */
static void test_handmade_delta_result(void **state)
{
	static const uint8_t delta[] = {16, 9, 0x91, 10, 4, 3, 'x', 'y', 'z', 0x90, 2};
	char want[256], hex[GIT_OID_HEXSZ + 1];
	struct buf b;
	struct seen s;
	git_oid id;
	size_t base;

	(void)state;
	pb_start(&b, 2);
	base = pb_base(&b, GIT_OBJECT_BLOB, base_text, 16);
	pb_ofs(&b, base, delta, sizeof(delta));
	TU_OK(pb_parse(&s, &b));
	assert_int_equal(s.n, 2);
	assert_int_equal(git_odb_hash(&id, "abcdxyz01", 9, GIT_OBJECT_BLOB), 0);
	/* not git_oid_tostr_s(): it needs libgit2's thread state, which needs git_libgit2_init() */
	git_oid_tostr(hex, sizeof(hex), &id);
	snprintf(want, sizeof(want), "%s blob 9\n", hex);
	assert_non_null(strstr(s.lines.ptr, want));
	buf_release(&s.lines);
	buf_release(&b);
}

/* A chain of deltas one longer than allowed; one at the limit passes. */
static void delta_chain(size_t depth, int expect)
{
	static const uint8_t copy_all[] = {16, 16, 0x90, 16};
	struct buf b;
	struct seen s;
	size_t i, prev;

	pb_start(&b, (uint32_t)depth + 1);
	prev = pb_base(&b, GIT_OBJECT_BLOB, base_text, 16);
	for (i = 0; i < depth; i++)
		prev = pb_ofs(&b, prev, copy_all, sizeof(copy_all));
	assert_int_equal(pb_parse(&s, &b), expect);
	assert_int_equal(s.n, expect ? 0 : depth + 1);
	buf_release(&s.lines);
	buf_release(&b);
}

static void test_delta_depth_limit(void **state)
{
	(void)state;
	delta_chain(PACK_MAX_DELTA_DEPTH, 0);
	delta_chain(PACK_MAX_DELTA_DEPTH + 1, ERR_TOOBIG);
}

static void test_handmade_refusals(void **state)
{
	static const uint8_t ref_header[] = {GIT_OBJECT_REF_DELTA << 4 | 4};
	static const uint8_t zeros[20];
	struct buf b;
	struct seen s;

	(void)state;
	/* a REF_DELTA as the first object has nothing to refer to */
	pb_start(&b, 1);
	assert_int_equal(buf_put(&b, ref_header, sizeof(ref_header)), 0);
	assert_int_equal(buf_put(&b, zeros, sizeof(zeros)), 0);
	pb_deflate(&b, "\x04\x04\x90\x04", 4);
	assert_int_equal(pb_parse(&s, &b), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "thin packs are not supported"));
	buf_release(&s.lines);
	buf_release(&b);

	/* an object that claims more than the per-object limit */
	pb_start(&b, 1);
	pb_header(&b, GIT_OBJECT_BLOB, PACK_MAX_OBJECT_SIZE + 1);
	pb_deflate(&b, "x", 1);
	assert_int_equal(pb_parse(&s, &b), ERR_TOOBIG);
	buf_release(&s.lines);
	buf_release(&b);

	/* a size header that never ends */
	pb_start(&b, 1);
	assert_int_equal(buf_put(&b, "\xb0\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", 12), 0);
	pb_deflate(&b, "x", 1);
	assert_int_equal(pb_parse(&s, &b), ERR_INVALID);
	buf_release(&s.lines);
	buf_release(&b);

	/* type 5 is reserved */
	pb_start(&b, 1);
	pb_base(&b, 5, "x", 1);
	assert_int_equal(pb_parse(&s, &b), ERR_INVALID);
	buf_release(&s.lines);
	buf_release(&b);

	/* an object that inflates to more than it declares */
	pb_start(&b, 1);
	pb_header(&b, GIT_OBJECT_BLOB, 3);
	pb_deflate(&b, "abcd", 4);
	assert_int_equal(pb_parse(&s, &b), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "does not inflate to 3 bytes"));
	buf_release(&s.lines);
	buf_release(&b);

	/* an OFS_DELTA whose base offset is inside another object */
	pb_start(&b, 2);
	pb_base(&b, GIT_OBJECT_BLOB, base_text, 16);
	pb_ofs(&b, 13, "\x10\x10\x90\x10", 4);
	assert_int_equal(pb_parse(&s, &b), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "no object at its base offset 13"));
	buf_release(&s.lines);
	buf_release(&b);

	/* not a pack, and a version git never wrote */
	assert_int_equal(
	        pack_parse((const uint8_t *)"PACX\0\0\0\2\0\0\0\0", 12, collect, &s), ERR_INVALID);
	assert_int_equal(
	        pack_parse((const uint8_t *)"PACK\0\0\0\4\0\0\0\0", 12, collect, &s), ERR_INVALID);
}

/* Append a REF_DELTA that copies all 16 bytes of the base with id `base`. */
static void pb_ref_copy_all(struct buf *b, const git_oid *base)
{
	pb_header(b, GIT_OBJECT_REF_DELTA, 4);
	assert_int_equal(buf_put(b, base->id, GIT_OID_RAWSZ), 0);
	pb_deflate(b, "\x10\x10\x90\x10", 4);
}

/* REF_DELTA lookups before and after the id table has grown past its first size. */
static void test_ref_delta_many_objects(void **state)
{
	enum { NBLOBS = 1500 };
	char text[17];
	git_oid first, middle;
	struct buf b;
	struct seen s;
	int i;

	(void)state;
	pb_start(&b, NBLOBS + 3);
	for (i = 0; i < NBLOBS; i++) {
		snprintf(text, sizeof(text), "blob %011d", i);
		pb_base(&b, GIT_OBJECT_BLOB, text, 16);
		if (i == 0)
			assert_int_equal(git_odb_hash(&first, text, 16, GIT_OBJECT_BLOB), 0);
		if (i == NBLOBS / 2)
			assert_int_equal(git_odb_hash(&middle, text, 16, GIT_OBJECT_BLOB), 0);
		if (i == 10)
			pb_ref_copy_all(&b, &first);
	}
	pb_ref_copy_all(&b, &middle);
	pb_ref_copy_all(&b, &first);
	TU_OK(pb_parse(&s, &b));
	assert_int_equal(s.n, NBLOBS + 3);
	buf_release(&s.lines);
	buf_release(&b);
}

static void test_empty_pack(void **state)
{
	struct buf b;
	struct seen s;

	(void)state;
	pb_start(&b, 0);
	TU_OK(pb_parse(&s, &b));
	assert_int_equal(s.n, 0);
	buf_release(&s.lines);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ofs_delta_pack),
	        cmocka_unit_test(test_ref_delta_pack),
	        cmocka_unit_test(test_thin_pack_refused),
	        cmocka_unit_test(test_truncated_everywhere),
	        cmocka_unit_test(test_flipped_byte_everywhere),
	        cmocka_unit_test(test_bad_checksum),
	        cmocka_unit_test(test_corrupt_deflate),
	        cmocka_unit_test(test_bogus_count),
	        cmocka_unit_test(test_callback_stops),
	        cmocka_unit_test(test_handmade_delta),
	        cmocka_unit_test(test_handmade_delta_result),
	        cmocka_unit_test(test_delta_depth_limit),
	        cmocka_unit_test(test_handmade_refusals),
	        cmocka_unit_test(test_ref_delta_many_objects),
	        cmocka_unit_test(test_empty_pack),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
