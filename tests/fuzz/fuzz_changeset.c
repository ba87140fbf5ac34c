/*
 * tests/fuzz/fuzz_changeset.c - libFuzzer target for changeset_decode(), the parser of change
 * sets pushed by devices (at HQ) and of fetch answers (on a device).
 *
 * Decoding must never crash, leak or read out of bounds; what decodes must be consistent: every
 * object re-hashes to its id and is found by id, every case id and office passes the schema.
 *
 * Mutations rarely get past the SHA-256 of the objects part, zlib and the SHA-1 of each object,
 * so an input that starts with "fscs" (lower case) is a change set whose objects part is given
 * inflated, with ids that need not match: the harness gives each record it can walk its true id,
 * deflates the records, writes their digest into the header and the magic in capitals.  That
 * lets the fuzzer write object records (types, lengths, duplicates, counts) directly.
 *
 * The seed corpus in corpus/changeset/ holds change sets written by changeset_writer (signed and
 * unsigned, with and without cases and objects), "fscs" forms of some, and a few broken ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sync/changeset.h"
#include "base/crypto.h"
#include "store/odb.h"
#include "case/schema.h"

#define RECORD_HEAD (1 + GIT_OID_RAWSZ + 4)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The "fscs" form turned into a change set whose hashes hold; -1 if it cannot be walked. */
static int fix_up(struct buf *out, const uint8_t *data, size_t size)
{
	size_t hlen, sig_end, off = 0, rlen;
	uLongf zlen;
	uint8_t *rec = NULL, *z = NULL, *hdr, l4[4];
	int error = -1;

	if (size < 10)
		return -1;
	hlen = get_u32(data + 6);
	if (hlen < 32 || hlen > size - 10 || size - 10 - hlen < 2)
		return -1;
	sig_end = 10 + hlen + 2 + ((size_t)data[10 + hlen] << 8 | data[11 + hlen]);
	if (sig_end > size || size - sig_end < 4)
		return -1;
	rlen = size - sig_end - 4;
	rec = malloc(rlen ? rlen : 1);
	zlen = compressBound(rlen);
	z = malloc(zlen);
	if (!rec || !z)
		goto out;
	memcpy(rec, data + sig_end + 4, rlen);
	while (rlen - off >= RECORD_HEAD) {
		uint32_t len = get_u32(rec + off + 1 + GIT_OID_RAWSZ);
		git_oid id;

		if (len > rlen - off - RECORD_HEAD)
			break;
		if (rec[off] >= 1 && rec[off] <= 3 &&
		        git_odb_hash(&id, rec + off + RECORD_HEAD, len,
		                rec[off] == 1   ? GIT_OBJECT_COMMIT
		                : rec[off] == 2 ? GIT_OBJECT_TREE
		                                : GIT_OBJECT_BLOB) == 0)
			memcpy(rec + off + 1, id.id, GIT_OID_RAWSZ);
		off += RECORD_HEAD + len;
	}
	if (compress2(z, &zlen, rec, rlen, 1) != Z_OK)
		goto out;
	l4[0] = (uint8_t)(zlen >> 24);
	l4[1] = (uint8_t)(zlen >> 16);
	l4[2] = (uint8_t)(zlen >> 8);
	l4[3] = (uint8_t)zlen;
	if (buf_put(out, "FSCS", 4) || buf_put(out, data + 4, sig_end - 4) || buf_put(out, l4, 4) ||
	        buf_put(out, z, zlen))
		goto out;
	hdr = (uint8_t *)out->ptr + 10;
	crypto_sha256(hdr + hlen - 32, z, zlen);
	error = 0;
out:
	free(rec);
	free(z);
	return error;
}

/* Decode one input and check what decodes. */
static void decode(const uint8_t *data, size_t size)
{
	struct changeset cs;
	size_t i;

	if (changeset_decode(&cs, data, size) == 0) {
		for (i = 0; i < cs.ncases; i++) {
			const struct changeset_object *o = changeset_object(&cs, &cs.cases[i].head);

			if (schema_check_case_id(cs.cases[i].id) != 0 ||
			        (cs.cases[i].office[0] &&
			                schema_check_office(cs.cases[i].office) != 0))
				abort();
			if (o && !git_oid_equal(&o->id, &cs.cases[i].head))
				abort();
		}
		for (i = 0; i < cs.nobjects; i++) {
			const struct changeset_object *o = &cs.objects[i];
			git_oid id;

			if (changeset_object(&cs, &o->id) != o)
				abort();
			if (git_odb_hash(&id, o->data, o->len, o->type) != 0 ||
			        !git_oid_equal(&id, &o->id))
				abort();
		}
		if (cs.signed_len > size || memcmp(cs.signed_part, data, cs.signed_len) != 0)
			abort();
	}
	changeset_release(&cs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf fixed = BUF_INIT(CHANGESET_ENCODED_MAX);

	/* libgit2's thread state holds the text of object ids in error messages */
	if (odb_global_init() != 0)
		abort();
	if (size >= 4 && !memcmp(data, "fscs", 4) && fix_up(&fixed, data, size) == 0)
		decode((const uint8_t *)fixed.ptr, fixed.len);
	else
		decode(data, size);
	buf_release(&fixed);
	return 0;
}
