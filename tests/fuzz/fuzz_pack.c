/*
 * tests/fuzz/fuzz_pack.c - libFuzzer target for pack_parse(), the parser of packs received from
 * peers.
 *
 * An input that starts with "PACK" is parsed as it is.  Mutations of it rarely get past zlib
 * and never past the SHA-1 trailer, so any other input is read as a list of objects that this
 * harness deflates and checksums itself: that lets the fuzzer write delta instructions and
 * object headers directly, and reach the callback.  Each record is
 *
 *	kind (low 3 bits: the pack type; bit 3: declare a wrong size), base (which earlier object
 *	an OFS_DELTA or REF_DELTA uses), length (2 bytes, little-endian), payload
 *
 * The seed corpus in corpus/pack/ holds packs written by git (OFS_DELTA, REF_DELTA, thin),
 * hand-made broken ones and a few records files.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/sha1.h>
#include <zlib.h>

#include "base/buf.h"
#include "store/pack.h"

#define MAX_RECORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every byte handed out, so that ASan sees any object that points outside its buffer. */
static int touch(void *payload, git_object_t type, const void *data, size_t len)
{
	const volatile uint8_t *p = data;
	uint8_t *sum = payload;
	size_t i;

	if (type < GIT_OBJECT_COMMIT || type > GIT_OBJECT_TAG)
		__builtin_trap(); /* pack.h promises base types only */
	for (i = 0; i < len; i++)
		*sum ^= p[i];
	return 0;
}

static int put_header(struct buf *b, unsigned int type, size_t size)
{
	uint8_t c = (uint8_t)(type << 4 | (size & 0x0f));
	int error = 0;

	for (size >>= 4; size && !error; size >>= 7) {
		error = buf_putc(b, (char)(c | 0x80));
		c = size & 0x7f;
	}
	return error ? error : buf_putc(b, (char)c);
}

static int put_ofs(struct buf *b, size_t dist)
{
	uint8_t enc[16];
	size_t pos = sizeof(enc) - 1;

	enc[pos] = dist & 0x7f;
	while (dist >>= 7)
		enc[--pos] = (uint8_t)(0x80 | (--dist & 0x7f));
	return buf_put(b, enc + pos, sizeof(enc) - pos);
}

static int put_deflated(struct buf *b, const uint8_t *data, size_t len)
{
	uLongf zlen = compressBound(len);
	int error = buf_grow(b, zlen);

	if (error)
		return error;
	if (compress2((Bytef *)b->ptr + b->len, &zlen, data, len, 1) != Z_OK)
		return ERR_GENERIC;
	b->len += zlen;
	return 0;
}

/* Turn records into a pack with a valid trailer; a payload longer than the input is cut short. */
static int build_pack(struct buf *pack, const uint8_t *data, size_t size)
{
	size_t offs[MAX_RECORDS], pos = 0, n;
	git_oid ids[MAX_RECORDS];
	uint8_t sum[20];
	int error = buf_put(pack, "PACK\0\0\0\2\0\0\0\0", 12);

	for (n = 0; !error && n < MAX_RECORDS && size - pos >= 4; n++) {
		unsigned int kind = data[pos] & 7, base = data[pos + 1];
		size_t declared, len;

		len = (size_t)data[pos + 2] | (size_t)data[pos + 3] << 8;
		pos += 4;
		if (len > size - pos)
			len = size - pos;
		declared = data[pos - 4] & 8 ? len + base % 3 - 1 : len;
		/* ids of deltas would need resolving them; a REF_DELTA to one is then thin */
		memset(&ids[n], 0, sizeof(ids[n]));
		if (kind >= GIT_OBJECT_COMMIT && kind <= GIT_OBJECT_TAG &&
		        git_odb_hash(&ids[n], data + pos, len, (git_object_t)kind) < 0)
			memset(&ids[n], 0, sizeof(ids[n]));
		offs[n] = pack->len;
		error = put_header(pack, kind, declared);
		if (!error && kind == GIT_OBJECT_OFS_DELTA)
			error = put_ofs(pack, n ? offs[n] - offs[n - 1 - base % n] : base + 1);
		if (!error && kind == GIT_OBJECT_REF_DELTA)
			error = buf_put(pack, ids[n ? n - 1 - base % n : 0].id, 20);
		if (!error)
			error = put_deflated(pack, data + pos, len);
		pos += len;
	}
	if (error)
		return error;
	pack->ptr[11] = (char)n;
	if (mbedtls_sha1_ret((const uint8_t *)pack->ptr, pack->len, sum) != 0)
		return ERR_GENERIC;
	return buf_put(pack, sum, sizeof(sum));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf pack = BUF_INIT(16u * 1024 * 1024);
	uint8_t sum = 0;
	int error;

	/* any error is a fine answer to garbage; only a crash, leak or hang is a finding */
	if (size >= 4 && !memcmp(data, "PACK", 4))
		error = pack_parse(data, size, touch, &sum);
	else if (!build_pack(&pack, data, size))
		error = pack_parse((const uint8_t *)pack.ptr, pack.len, touch, &sum);
	else
		error = 0;
	(void)error;
	buf_release(&pack);
	return 0;
}
