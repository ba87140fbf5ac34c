/* tests/shared/sync/test_changeset.c - the change-set wire format: round trips and a strict decoder. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sync/changeset.h"
#include "base/crypto.h"
#include "store/odb.h"

#define CASE_A "ELP-26-7KQ4M2X"
#define CASE_B "HQ-26-0000001"
#define CURSOR 0x0102030405060708ULL

static const uint8_t BUNDLE[CHANGESET_BUNDLE_LEN] = {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Three objects, one of each type, with their true ids. */
struct objects {
	git_oid blob, tree, commit;
	char tree_data[64];
	size_t tree_len;
	char commit_data[256];
	size_t commit_len;
};

static const char BLOB[] = "open\n";

static void make_objects(struct objects *o)
{
	char hex[GIT_OID_HEXSZ + 1];
	int n;

	assert_int_equal(git_odb_hash(&o->blob, BLOB, strlen(BLOB), GIT_OBJECT_BLOB), 0);
	memcpy(o->tree_data, "100644 status", 13);
	o->tree_data[13] = '\0';
	memcpy(o->tree_data + 14, o->blob.id, GIT_OID_RAWSZ);
	o->tree_len = 14 + GIT_OID_RAWSZ;
	assert_int_equal(git_odb_hash(&o->tree, o->tree_data, o->tree_len, GIT_OBJECT_TREE), 0);
	git_oid_tostr(hex, sizeof(hex), &o->tree);
	n = snprintf(o->commit_data, sizeof(o->commit_data),
	        "tree %s\nauthor a <a@b> 1700000000 +0000\ncommitter a <a@b> 1700000000 "
	        "+0000\n\nx\n",
	        hex);
	assert_true(n > 0 && (size_t)n < sizeof(o->commit_data));
	o->commit_len = (size_t)n;
	assert_int_equal(
	        git_odb_hash(&o->commit, o->commit_data, o->commit_len, GIT_OBJECT_COMMIT), 0);
}

static void add_objects(struct changeset_writer *w, const struct objects *o)
{
	TU_OK(changeset_writer_add_object(
	        w, GIT_OBJECT_COMMIT, &o->commit, o->commit_data, o->commit_len));
	TU_OK(changeset_writer_add_object(w, GIT_OBJECT_TREE, &o->tree, o->tree_data, o->tree_len));
	TU_OK(changeset_writer_add_object(w, GIT_OBJECT_BLOB, &o->blob, BLOB, strlen(BLOB)));
}

static void make_case(struct changeset_case *c, const char *id, const char *office,
        const git_oid *base, const git_oid *head)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->office, sizeof(c->office), "%s", office);
	c->has_base = base != NULL;
	if (base)
		c->base = *base;
	c->head = *head;
}

/* A small valid change set: three objects, two cases (with and without base). */
static void encode_small(
        struct buf *out, const struct objects *o, const uint8_t *key, size_t keylen)
{
	struct changeset_writer *w = NULL;
	struct changeset_case c;

	TU_OK(changeset_writer_new(&w));
	add_objects(w, o);
	make_case(&c, CASE_A, "", &o->tree, &o->commit); /* base: any id will do here */
	TU_OK(changeset_writer_add_case(w, &c));
	make_case(&c, CASE_B, "HQ", NULL, &o->commit);
	TU_OK(changeset_writer_add_case(w, &c));
	assert_int_equal(changeset_writer_cases(w), 2);
	TU_OK(changeset_writer_finish(
	        out, w, BUNDLE, "0123456789abcdef", "ELP", CURSOR, 1, key, keylen));
	changeset_writer_free(w);
}

static void check_small(const struct changeset *cs, const struct objects *o)
{
	const struct changeset_object *co;
	git_oid other;

	assert_memory_equal(cs->bundle, BUNDLE, CHANGESET_BUNDLE_LEN);
	assert_string_equal(cs->device, "0123456789abcdef");
	assert_string_equal(cs->office, "ELP");
	assert_true(cs->cursor == CURSOR);
	assert_int_equal(cs->more, 1);
	assert_int_equal(cs->ncases, 2);
	assert_string_equal(cs->cases[0].id, CASE_A);
	assert_string_equal(cs->cases[0].office, "");
	assert_int_equal(cs->cases[0].has_base, 1);
	assert_true(git_oid_equal(&cs->cases[0].base, &o->tree));
	assert_true(git_oid_equal(&cs->cases[0].head, &o->commit));
	assert_string_equal(cs->cases[1].id, CASE_B);
	assert_string_equal(cs->cases[1].office, "HQ");
	assert_int_equal(cs->cases[1].has_base, 0);
	assert_true(git_oid_is_zero(&cs->cases[1].base));
	assert_true(git_oid_equal(&cs->cases[1].head, &o->commit));
	assert_int_equal(cs->nobjects, 3);

	co = changeset_object(cs, &o->commit);
	assert_non_null(co);
	assert_int_equal(co->type, GIT_OBJECT_COMMIT);
	assert_int_equal(co->len, o->commit_len);
	assert_memory_equal(co->data, o->commit_data, o->commit_len);
	co = changeset_object(cs, &o->tree);
	assert_non_null(co);
	assert_int_equal(co->type, GIT_OBJECT_TREE);
	assert_int_equal(co->len, o->tree_len);
	assert_memory_equal(co->data, o->tree_data, o->tree_len);
	co = changeset_object(cs, &o->blob);
	assert_non_null(co);
	assert_int_equal(co->type, GIT_OBJECT_BLOB);
	assert_int_equal(co->len, strlen(BLOB));
	assert_memory_equal(co->data, BLOB, strlen(BLOB));
	assert_int_equal(git_oid_fromstr(&other, "0123456789abcdef0123456789abcdef01234567"), 0);
	assert_null(changeset_object(cs, &other));
}

static void test_roundtrip_unsigned(void **state)
{
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	struct objects o;

	(void)state;
	make_objects(&o);
	encode_small(&enc, &o, NULL, 0);
	assert_int_equal(enc.ptr[5], 0); /* flags: unsigned */
	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	check_small(&cs, &o);
	assert_int_equal(cs.sig_len, 0);
	assert_int_equal(changeset_verify(&cs, (const uint8_t *)"x", 1), ERR_AUTH);
	changeset_release(&cs);
	changeset_release(&cs); /* released twice: still fine */
	changeset_release(NULL);
	buf_release(&enc);
}

static void test_roundtrip_empty(void **state)
{
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset_writer *w = NULL;
	struct changeset cs;

	(void)state;
	TU_OK(changeset_writer_new(&w));
	assert_int_equal(changeset_writer_size(w), 0);
	TU_OK(changeset_writer_finish(&enc, w, BUNDLE, "", "", 0, 0, NULL, 0));
	/* finished: nothing can be added, and it cannot be finished again */
	assert_int_equal(
	        changeset_writer_finish(&enc, w, BUNDLE, "", "", 0, 0, NULL, 0), ERR_INVALID);
	changeset_writer_free(w);
	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	assert_int_equal(cs.ncases, 0);
	assert_int_equal(cs.nobjects, 0);
	assert_int_equal(cs.more, 0);
	assert_true(cs.cursor == 0);
	assert_string_equal(cs.device, "");
	changeset_release(&cs);
	buf_release(&enc);
	changeset_writer_free(NULL);
}

/* The writer refuses what the decoder would refuse, rather than send it. */
static void test_writer_header_limits(void **state)
{
	static const char long_device[] = "0123456789abcdef0123456789abcdef0"; /* 33 bytes */
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset_writer *w = NULL;
	struct changeset cs;

	(void)state;
	TU_OK(changeset_writer_new(&w));
	assert_int_equal(
	        changeset_writer_finish(&enc, w, BUNDLE, long_device, "ELP", 0, 0, NULL, 0),
	        ERR_INVALID);
	assert_int_equal(
	        changeset_writer_finish(&enc, w, BUNDLE, "d", "elp", 0, 0, NULL, 0), ERR_INVALID);
	assert_int_equal(enc.len, 0);
	/* the longest device id is fine */
	TU_OK(changeset_writer_finish(&enc, w, BUNDLE, long_device + 1, "ELP", 0, 0, NULL, 0));
	changeset_writer_free(w);
	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	assert_string_equal(cs.device, long_device + 1);
	changeset_release(&cs);
	buf_release(&enc);
}

static void test_roundtrip_signed(void **state)
{
	struct buf key = BUF_INIT(4096), pub = BUF_INIT(4096), key2 = BUF_INIT(4096),
	           pub2 = BUF_INIT(4096), enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	struct objects o;
	size_t i;

	(void)state;
	make_objects(&o);
	TU_OK(crypto_ec_keygen(&key));
	TU_OK(crypto_ec_pubkey(&pub, (const uint8_t *)key.ptr, key.len));
	TU_OK(crypto_ec_keygen(&key2));
	TU_OK(crypto_ec_pubkey(&pub2, (const uint8_t *)key2.ptr, key2.len));
	encode_small(&enc, &o, (const uint8_t *)key.ptr, key.len);
	assert_int_equal(enc.ptr[5], 1); /* flags: signed */
	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	check_small(&cs, &o);
	assert_true(cs.sig_len > 0 && cs.sig_len <= CHANGESET_SIG_MAX);
	assert_true(cs.signed_len > 6 && cs.signed_len < enc.len);
	assert_memory_equal(cs.signed_part, enc.ptr, cs.signed_len);
	TU_OK(changeset_verify(&cs, (const uint8_t *)pub.ptr, pub.len));
	assert_int_equal(changeset_verify(&cs, (const uint8_t *)pub2.ptr, pub2.len), ERR_AUTH);

	/* any flipped byte of what the signature covers breaks it */
	for (i = 0; i < cs.signed_len; i++) {
		cs.signed_part[i] ^= 0x01;
		assert_int_equal(
		        changeset_verify(&cs, (const uint8_t *)pub.ptr, pub.len), ERR_AUTH);
		cs.signed_part[i] ^= 0x01;
	}
	TU_OK(changeset_verify(&cs, (const uint8_t *)pub.ptr, pub.len));
	changeset_release(&cs);

	buf_wipe_release(&key);
	buf_wipe_release(&key2);
	buf_release(&pub);
	buf_release(&pub2);
	buf_release(&enc);
}

/* The signed part of the encoded change set is refused or fails to verify, byte by byte. */
static void test_signed_header_flips(void **state)
{
	struct buf key = BUF_INIT(4096), pub = BUF_INIT(4096),
	           enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	struct objects o;
	size_t i, signed_len, decoded = 0;

	(void)state;
	make_objects(&o);
	TU_OK(crypto_ec_keygen(&key));
	TU_OK(crypto_ec_pubkey(&pub, (const uint8_t *)key.ptr, key.len));
	encode_small(&enc, &o, (const uint8_t *)key.ptr, key.len);
	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	signed_len = cs.signed_len;
	changeset_release(&cs);
	for (i = 0; i < signed_len; i++) {
		int rc;

		enc.ptr[i] ^= 0x20;
		rc = changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len);
		if (rc == 0) {
			decoded++;
			assert_int_equal(
			        changeset_verify(&cs, (const uint8_t *)pub.ptr, pub.len), ERR_AUTH);
		} else {
			assert_true(rc == ERR_INVALID || rc == ERR_TOOBIG);
		}
		changeset_release(&cs);
		enc.ptr[i] ^= 0x20;
	}
	assert_true(decoded > 0); /* e.g. the bundle id, the cursor: decodes, does not verify */
	buf_wipe_release(&key);
	buf_release(&pub);
	buf_release(&enc);
}

static void test_truncated(void **state)
{
	struct buf key = BUF_INIT(4096), enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	struct objects o;
	size_t n;
	int pass;

	(void)state;
	make_objects(&o);
	TU_OK(crypto_ec_keygen(&key));
	for (pass = 0; pass < 2; pass++) {
		buf_reset(&enc);
		encode_small(&enc, &o, pass ? (const uint8_t *)key.ptr : NULL, pass ? key.len : 0);
		TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
		changeset_release(&cs);
		/* a copy of exactly n bytes, so that ASan sees any read past the end */
		for (n = 0; n < enc.len; n++) {
			uint8_t *cut = malloc(n ? n : 1);

			assert_non_null(cut);
			memcpy(cut, enc.ptr, n);
			assert_int_equal(changeset_decode(&cs, cut, n), ERR_INVALID);
			changeset_release(&cs);
			free(cut);
		}
	}
	buf_wipe_release(&key);
	buf_release(&enc);
}

static void test_trailing_and_magic(void **state)
{
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	struct objects o;

	(void)state;
	make_objects(&o);
	encode_small(&enc, &o, NULL, 0);

	TU_OK(buf_putc(&enc, 0));
	assert_int_equal(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "bytes after"));
	changeset_release(&cs);
	enc.len--;

	enc.ptr[0] = 'X';
	assert_int_equal(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "not a change set"));
	changeset_release(&cs);
	enc.ptr[0] = 'F';

	enc.ptr[4] = CHANGESET_VERSION + 1;
	assert_int_equal(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "version"));
	changeset_release(&cs);
	enc.ptr[4] = 0;
	assert_int_equal(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len), ERR_INVALID);
	changeset_release(&cs);
	enc.ptr[4] = CHANGESET_VERSION;

	enc.ptr[5] = 2; /* an unknown flag */
	assert_int_equal(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len), ERR_INVALID);
	changeset_release(&cs);
	enc.ptr[5] = 1; /* says signed, carries no signature */
	assert_int_equal(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len), ERR_INVALID);
	changeset_release(&cs);
	enc.ptr[5] = 0;

	/* the last byte of the compressed objects: the header's hash no longer matches */
	enc.ptr[enc.len - 1] ^= 0x01;
	assert_int_equal(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "do not match their header"));
	changeset_release(&cs);
	enc.ptr[enc.len - 1] ^= 0x01;

	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	changeset_release(&cs);
	buf_release(&enc);
}

/* ---- change sets written by hand, to say what the writer never would ---------------------- */

struct raw {
	uint8_t version, flags;
	const char *device, *office;
	uint8_t more;
	struct buf cases;
	uint32_t ncases;
	struct buf records;
	uint32_t nobjects;
	const uint8_t *packed; /* NULL: compress `records` */
	size_t packed_len;
	int bad_digest;
};

static void raw_init(struct raw *r)
{
	memset(r, 0, sizeof(*r));
	r->version = CHANGESET_VERSION;
	r->device = "dev";
	r->office = "ELP";
	buf_init(&r->cases, CHANGESET_HEADER_MAX);
	buf_init(&r->records, 16u * 1024 * 1024);
}

static void raw_release(struct raw *r)
{
	buf_release(&r->cases);
	buf_release(&r->records);
}

static void be32(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_str(struct buf *b, const char *s)
{
	TU_OK(buf_putc(b, (char)strlen(s)));
	TU_OK(buf_puts(b, s));
}

static void raw_case(struct raw *r, const char *id, uint8_t has_base)
{
	uint8_t oid[GIT_OID_RAWSZ];

	memset(oid, 0xab, sizeof(oid));
	put_str(&r->cases, id);
	TU_OK(buf_putc(&r->cases, (char)has_base));
	TU_OK(buf_put(&r->cases, oid, sizeof(oid)));
	TU_OK(buf_put(&r->cases, oid, sizeof(oid)));
	put_str(&r->cases, "");
	r->ncases++;
}

/* A record with the given type code; `id` NULL: the true id of the bytes. */
static void raw_object(
        struct raw *r, uint8_t code, const git_oid *id, const void *data, uint32_t len)
{
	uint8_t head[1 + GIT_OID_RAWSZ + 4];
	git_oid true_id;

	if (!id) {
		assert_int_equal(git_odb_hash(&true_id, data, len,
		                         code == 1   ? GIT_OBJECT_COMMIT
		                         : code == 2 ? GIT_OBJECT_TREE
		                                     : GIT_OBJECT_BLOB),
		        0);
		id = &true_id;
	}
	head[0] = code;
	memcpy(head + 1, id->id, GIT_OID_RAWSZ);
	be32(head + 1 + GIT_OID_RAWSZ, len);
	TU_OK(buf_put(&r->records, head, sizeof(head)));
	TU_OK(buf_put(&r->records, data, len));
	r->nobjects++;
}

static void raw_encode(struct buf *out, const struct raw *r)
{
	struct buf h = BUF_INIT(2 * CHANGESET_HEADER_MAX);
	uLongf zlen = compressBound(r->records.len);
	uint8_t *z = malloc(zlen), digest[32], l4[4], top[6] = {'F', 'S', 'C', 'S', 0, 0};
	const uint8_t *packed = r->packed;
	size_t plen = r->packed_len;

	assert_non_null(z);
	if (!packed) {
		assert_int_equal(
		        compress2(z, &zlen, (const Bytef *)(r->records.ptr ? r->records.ptr : ""),
		                r->records.len, 6),
		        Z_OK);
		packed = z;
		plen = zlen;
	}
	crypto_sha256(digest, packed, plen);
	if (r->bad_digest)
		digest[0] ^= 1;
	TU_OK(buf_put(&h, BUNDLE, CHANGESET_BUNDLE_LEN));
	put_str(&h, r->device);
	put_str(&h, r->office);
	TU_OK(buf_put(&h, "\0\0\0\0\0\0\0\x2a", 8));
	TU_OK(buf_putc(&h, (char)r->more));
	be32(l4, r->ncases);
	TU_OK(buf_put(&h, l4, 4));
	TU_OK(buf_put(&h, r->cases.ptr ? r->cases.ptr : "", r->cases.len));
	be32(l4, r->nobjects);
	TU_OK(buf_put(&h, l4, 4));
	TU_OK(buf_put(&h, digest, 32));

	top[4] = r->version;
	top[5] = r->flags;
	TU_OK(buf_put(out, top, 6));
	be32(l4, (uint32_t)h.len);
	TU_OK(buf_put(out, l4, 4));
	TU_OK(buf_put(out, h.ptr, h.len));
	TU_OK(buf_put(out, "\0\0", 2)); /* no signature */
	be32(l4, (uint32_t)plen);
	TU_OK(buf_put(out, l4, 4));
	TU_OK(buf_put(out, packed, plen));
	free(z);
	buf_release(&h);
}

/* Decode a hand-made change set: the result code (and the message in err_msg()). */
static int raw_decode(const struct raw *r)
{
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset cs;
	int rc;

	raw_encode(&enc, r);
	rc = changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len);
	changeset_release(&cs);
	buf_release(&enc);
	return rc;
}

static void test_raw_valid(void **state)
{
	struct raw r;
	struct objects o;

	(void)state;
	make_objects(&o);
	raw_init(&r);
	raw_case(&r, CASE_A, 1);
	raw_object(&r, 3, NULL, BLOB, (uint32_t)strlen(BLOB));
	raw_object(&r, 2, NULL, o.tree_data, (uint32_t)o.tree_len);
	TU_OK(raw_decode(&r)); /* the hand encoder agrees with the decoder */

	r.more = 2;
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	r.more = 0;
	r.office = "elp";
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	r.office = "ELP";
	r.device = "0123456789abcdef0123456789abcdef0"; /* 33 bytes */
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	r.device = "0123456789abcdef0123456789abcdef";
	TU_OK(raw_decode(&r));
	r.bad_digest = 1;
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "do not match their header"));
	raw_release(&r);

	raw_init(&r);
	raw_case(&r, CASE_A, 2); /* has-base is 0 or 1 */
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	raw_release(&r);
}

static void test_raw_objects(void **state)
{
	struct raw r;
	struct objects o;

	(void)state;
	make_objects(&o);

	/* an id that is not the hash of the bytes */
	raw_init(&r);
	raw_object(&r, 3, &o.tree, BLOB, (uint32_t)strlen(BLOB));
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "does not hash to its id"));
	raw_release(&r);

	/* the right bytes under the wrong type: the id is a hash of type and bytes */
	raw_init(&r);
	raw_object(&r, 2, &o.blob, BLOB, (uint32_t)strlen(BLOB));
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	raw_release(&r);

	/* an unknown type (4 is a tag in git, not in a change set) */
	raw_init(&r);
	raw_object(&r, 4, &o.blob, BLOB, (uint32_t)strlen(BLOB));
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	raw_release(&r);

	/* the same object twice */
	raw_init(&r);
	raw_object(&r, 3, NULL, BLOB, (uint32_t)strlen(BLOB));
	raw_object(&r, 2, NULL, o.tree_data, (uint32_t)o.tree_len);
	raw_object(&r, 3, NULL, BLOB, (uint32_t)strlen(BLOB));
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "twice"));
	raw_release(&r);

	/* fewer objects than the header says, and more */
	raw_init(&r);
	raw_object(&r, 3, NULL, BLOB, (uint32_t)strlen(BLOB));
	r.nobjects = 2;
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	r.nobjects = 0;
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	r.nobjects = CHANGESET_OBJECTS_MAX + 1;
	assert_int_equal(raw_decode(&r), ERR_TOOBIG);
	r.nobjects = 1;
	TU_OK(raw_decode(&r));
	/* a record cut short inside the stream */
	r.records.len -= 2;
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	raw_release(&r);
}

static void test_object_too_big(void **state)
{
	size_t len = CHANGESET_OBJECT_MAX + 1;
	uint8_t *data = calloc(1, len);
	struct changeset_writer *w = NULL;
	git_oid id;
	struct raw r;

	(void)state;
	assert_non_null(data);
	memset(data, 'a', len);
	assert_int_equal(git_odb_hash(&id, data, len, GIT_OBJECT_BLOB), 0);

	raw_init(&r);
	raw_object(&r, 3, &id, data, (uint32_t)len);
	assert_int_equal(raw_decode(&r), ERR_TOOBIG);
	raw_release(&r);

	/* exactly the limit is fine */
	assert_int_equal(git_odb_hash(&id, data, len - 1, GIT_OBJECT_BLOB), 0);
	raw_init(&r);
	raw_object(&r, 3, &id, data, (uint32_t)(len - 1));
	TU_OK(raw_decode(&r));
	raw_release(&r);

	TU_OK(changeset_writer_new(&w));
	assert_int_equal(git_odb_hash(&id, data, len, GIT_OBJECT_BLOB), 0);
	assert_int_equal(
	        changeset_writer_add_object(w, GIT_OBJECT_BLOB, &id, data, len), ERR_TOOBIG);
	assert_int_equal(changeset_writer_has(w, &id), 0);
	assert_int_equal(changeset_writer_add_object(w, GIT_OBJECT_TAG, &id, data, 1), ERR_INVALID);
	changeset_writer_free(w);
	free(data);
}

static void test_not_zlib(void **state)
{
	static const uint8_t junk[] = "these bytes are not a zlib stream";
	uint8_t z[64];
	uLongf zlen = sizeof(z);
	struct raw r;

	(void)state;
	raw_init(&r);
	r.packed = junk;
	r.packed_len = sizeof(junk) - 1;
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "zlib"));

	r.packed_len = 0; /* not even an empty stream */
	assert_int_equal(raw_decode(&r), ERR_INVALID);

	/* a valid stream cut short, and one followed by junk */
	assert_int_equal(compress2(z, &zlen, (const Bytef *)"", 0, 6), Z_OK);
	r.packed = z;
	r.packed_len = zlen;
	TU_OK(raw_decode(&r));
	r.packed_len = zlen - 1;
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	assert_true(zlen + 3 <= sizeof(z));
	memcpy(z + zlen, "abc", 3);
	r.packed_len = zlen + 3;
	assert_int_equal(raw_decode(&r), ERR_INVALID);

	/* a stream that asks for another preset dictionary than the change-set one */
	{
		static const char other[] = "not the change-set dictionary";
		uint8_t d[128];
		z_stream zs;

		memset(&zs, 0, sizeof(zs));
		assert_int_equal(deflateInit(&zs, 6), Z_OK);
		assert_int_equal(
		        deflateSetDictionary(&zs, (const Bytef *)other, sizeof(other) - 1), Z_OK);
		zs.next_in = (Bytef *)(uintptr_t) "";
		zs.avail_in = 0;
		zs.next_out = d;
		zs.avail_out = sizeof(d);
		assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
		r.packed = d;
		r.packed_len = sizeof(d) - zs.avail_out;
		assert_int_equal(deflateEnd(&zs), Z_OK);
		assert_int_equal(raw_decode(&r), ERR_INVALID);
	}
	raw_release(&r);
}

static void test_cases_limit(void **state)
{
	struct changeset_writer *w = NULL;
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset_case c;
	struct changeset cs;
	git_oid head;
	struct raw r;
	size_t i;

	(void)state;
	memset(&head, 0x11, sizeof(head));
	make_case(&c, CASE_A, "", NULL, &head);

	/* the writer takes exactly the limit, and the decoder reads it */
	TU_OK(changeset_writer_new(&w));
	for (i = 0; i < CHANGESET_CASES_MAX; i++)
		TU_OK(changeset_writer_add_case(w, &c));
	assert_int_equal(changeset_writer_add_case(w, &c), ERR_TOOBIG);
	TU_OK(changeset_writer_finish(&enc, w, BUNDLE, "d", "ELP", 0, 0, NULL, 0));
	changeset_writer_free(w);
	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	assert_int_equal(cs.ncases, CHANGESET_CASES_MAX);
	changeset_release(&cs);
	buf_release(&enc);

	/* one more, written by hand */
	raw_init(&r);
	for (i = 0; i <= CHANGESET_CASES_MAX; i++)
		raw_case(&r, CASE_A, 0);
	assert_int_equal(raw_decode(&r), ERR_TOOBIG);
	/* a count larger than what follows */
	r.ncases = 0xffffffffu;
	assert_int_equal(raw_decode(&r), ERR_TOOBIG);
	r.ncases = 3;
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	raw_release(&r);
}

static void test_bad_case_id(void **state)
{
	static const char *const bad[] = {"elp-26-7KQ4M2X", "ELP-26-7KQ4M2", "ELP-2X-7KQ4M2X",
	        "ELP-26-7KQ4M2U", "", "ELP267KQ4M2XAB", "ELP-26-7KQ4M2X\n"};
	struct changeset_writer *w = NULL;
	struct changeset_case c;
	git_oid head;
	struct raw r;
	size_t i;

	(void)state;
	memset(&head, 0x11, sizeof(head));
	TU_OK(changeset_writer_new(&w));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_init(&r);
		raw_case(&r, CASE_A, 0);
		raw_case(&r, bad[i], 0);
		assert_int_equal(raw_decode(&r), ERR_INVALID);
		raw_release(&r);

		make_case(&c, bad[i], "", NULL, &head);
		assert_int_equal(changeset_writer_add_case(w, &c), ERR_INVALID);
	}
	make_case(&c, CASE_A, "elp", NULL, &head); /* a bad office */
	assert_int_equal(changeset_writer_add_case(w, &c), ERR_INVALID);
	assert_int_equal(changeset_writer_cases(w), 0);
	changeset_writer_free(w);

	/* a NUL inside a string */
	raw_init(&r);
	raw_case(&r, CASE_A, 0);
	r.cases.ptr[3] = '\0';
	assert_int_equal(raw_decode(&r), ERR_INVALID);
	raw_release(&r);
}

static void test_writer_dedupes(void **state)
{
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset_writer *w = NULL;
	struct changeset cs;
	struct objects o;
	size_t size;

	(void)state;
	make_objects(&o);
	TU_OK(changeset_writer_new(&w));
	assert_int_equal(changeset_writer_has(w, &o.blob), 0);
	add_objects(w, &o);
	size = changeset_writer_size(w);
	assert_true(size > 0);
	assert_int_equal(changeset_writer_has(w, &o.blob), 1);
	assert_int_equal(changeset_writer_has(w, &o.tree), 1);
	assert_int_equal(changeset_writer_has(w, &o.commit), 1);
	add_objects(w, &o);
	TU_OK(changeset_writer_add_object(w, GIT_OBJECT_BLOB, &o.blob, BLOB, strlen(BLOB)));
	assert_int_equal(changeset_writer_size(w), size);
	TU_OK(changeset_writer_finish(&enc, w, BUNDLE, "d", "ELP", 0, 0, NULL, 0));
	assert_int_equal(changeset_writer_add_object(w, GIT_OBJECT_BLOB, &o.tree, "x", 1),
	        ERR_INVALID); /* finished */
	changeset_writer_free(w);
	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	assert_int_equal(cs.nobjects, 3);
	changeset_release(&cs);
	buf_release(&enc);
}

/* Many objects: the id index grows past its first size and finds each one. */
static void test_many_objects(void **state)
{
	struct buf enc = BUF_INIT(CHANGESET_ENCODED_MAX);
	struct changeset_writer *w = NULL;
	struct changeset cs;
	git_oid ids[500];
	char text[32];
	size_t i;

	(void)state;
	TU_OK(changeset_writer_new(&w));
	for (i = 0; i < 500; i++) {
		int n = snprintf(text, sizeof(text), "value %zu\n", i);

		assert_int_equal(git_odb_hash(&ids[i], text, (size_t)n, GIT_OBJECT_BLOB), 0);
		TU_OK(changeset_writer_add_object(w, GIT_OBJECT_BLOB, &ids[i], text, (size_t)n));
	}
	TU_OK(changeset_writer_finish(&enc, w, BUNDLE, "d", "ELP", 0, 0, NULL, 0));
	changeset_writer_free(w);
	TU_OK(changeset_decode(&cs, (const uint8_t *)enc.ptr, enc.len));
	assert_int_equal(cs.nobjects, 500);
	for (i = 0; i < 500; i++) {
		const struct changeset_object *co = changeset_object(&cs, &ids[i]);

		assert_non_null(co);
		assert_true(git_oid_equal(&co->id, &ids[i]));
	}
	changeset_release(&cs);
	buf_release(&enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_roundtrip_unsigned),
	        cmocka_unit_test(test_roundtrip_empty),
	        cmocka_unit_test(test_writer_header_limits),
	        cmocka_unit_test(test_roundtrip_signed),
	        cmocka_unit_test(test_signed_header_flips),
	        cmocka_unit_test(test_truncated),
	        cmocka_unit_test(test_trailing_and_magic),
	        cmocka_unit_test(test_raw_valid),
	        cmocka_unit_test(test_raw_objects),
	        cmocka_unit_test(test_object_too_big),
	        cmocka_unit_test(test_not_zlib),
	        cmocka_unit_test(test_cases_limit),
	        cmocka_unit_test(test_bad_case_id),
	        cmocka_unit_test(test_writer_dedupes),
	        cmocka_unit_test(test_many_objects),
	};

	if (odb_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
