/*
 * shared/store/pack.c - parse a git pack held in memory and resolve its deltas.
 *
 * Every object is inflated and resolved in pack order and kept in memory, because a later
 * OFS_DELTA or REF_DELTA may use any earlier object as its base.  Objects reach the callback
 * only after the trailing checksum matched, so a corrupt pack stores nothing.  No recursion:
 * a base always precedes its delta (git and libgit2 write packs that way), so it is resolved
 * already when the delta is met, and a chain's depth is its base's depth plus one.
 */
#include "store/pack.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha1.h>
#include <zlib.h>

#include "base/buf.h"

#define PACK_HEADER_LEN 12
#define PACK_TRAILER_LEN 20
#define PACK_OID_LEN 20

struct obj {
	size_t off;    /* where the object's header starts in the pack */
	uint8_t *data; /* the resolved (inflated, undeltified) contents */
	size_t len;
	git_object_t type;  /* a base type, never a delta */
	unsigned int depth; /* delta chain length, 0 for a stored base object */
	git_oid id;         /* valid for the first `nhashed` objects only */
};

struct parser {
	const uint8_t *pack;
	size_t len;
	size_t pos;       /* next byte to read */
	struct buf arr;   /* holds objs, growing as the pack proves it has them */
	struct obj *objs; /* arr's contents, in pack order, so offsets are ascending */
	size_t nobjs;
	size_t total;    /* inflated bytes held by objs */
	uint32_t *slots; /* id hash table: index + 1 into objs, 0 for empty */
	size_t nslots;   /* a power of two, or 0 before the first REF_DELTA */
	size_t nhashed;  /* objs[0..nhashed) have ids and sit in the table */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int truncated(const struct parser *ps)
{
	return err_set(ERR_INVALID, "pack truncated at offset %zu", ps->len);
}

static int read_byte(uint8_t *out, struct parser *ps)
{
	if (ps->pos >= ps->len)
		return truncated(ps);
	*out = ps->pack[ps->pos++];
	return 0;
}

/* The type and inflated size at the start of each object: 3 type bits, then size bits. */
static int read_obj_header(int *type, size_t *size, struct parser *ps, size_t off)
{
	uint64_t val;
	unsigned int shift = 4;
	uint8_t c = 0, first;
	int error;

	error = read_byte(&c, ps);
	if (error)
		return error;
	first = c;
	val = c & 0x0f;
	while (c & 0x80) {
		error = read_byte(&c, ps);
		if (error)
			return error;
		/* a size past the cap is refused below; only the shift must stay defined */
		if (shift > 57)
			return err_set(ERR_INVALID, "object size too long at offset %zu", off);
		val |= (uint64_t)(c & 0x7f) << shift;
		shift += 7;
	}
	if (val > PACK_MAX_OBJECT_SIZE)
		return err_set(ERR_TOOBIG, "object at offset %zu is larger than %u bytes", off,
		        PACK_MAX_OBJECT_SIZE);
	*type = (first >> 4) & 7;
	*size = (size_t)val;
	return 0;
}

/* Inflate one zlib stream at ps->pos into exactly `size` bytes; ps->pos moves past it. */
static int inflate_obj(uint8_t **out, struct parser *ps, size_t size, size_t off)
{
	z_stream zs;
	uint8_t *data;
	size_t left = ps->len - ps->pos;
	int rc, error = 0;

	/* one spare byte so that a stream longer than declared is seen, not cut */
	data = malloc(size + 1);
	if (!data)
		return err_set(ERR_NOMEM, "out of memory (%zu bytes)", size + 1);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK) {
		error = ERR_NOMEM; /* a literal code, as the analyzer cannot see inside err_set() */
		err_set(error, "cannot start inflating object at offset %zu", off);
		goto out;
	}
	zs.next_out = data;
	zs.avail_out = (uInt)(size + 1);
	do {
		if (zs.avail_in == 0 && left) {
			zs.next_in = (Bytef *)(ps->pack + ps->len - left);
			zs.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
			left -= zs.avail_in;
		}
		rc = inflate(&zs, Z_NO_FLUSH);
	} while (rc == Z_OK && zs.avail_out);

	if (rc == Z_MEM_ERROR)
		error = err_set(ERR_NOMEM, "out of memory inflating object at offset %zu", off);
	else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT)
		error = err_set(ERR_INVALID, "corrupt deflate data in object at offset %zu", off);
	else if (rc != Z_STREAM_END && zs.avail_out && !zs.avail_in && !left)
		error = truncated(ps);
	else if (rc != Z_STREAM_END || zs.total_out != size)
		error = err_set(ERR_INVALID, "object at offset %zu does not inflate to %zu bytes",
		        off, size);
	if (!error)
		ps->pos += zs.total_in;
	inflateEnd(&zs);
out:
	if (error)
		free(data);
	else
		*out = data;
	return error;
}

/* A delta's base by negative offset: the distance back from this object's own start. */
static int find_ofs_base(const struct obj **base, struct parser *ps, size_t off)
{
	size_t dist, lo = 0, hi = ps->nobjs;
	uint8_t c = 0;
	int error;

	error = read_byte(&c, ps);
	if (error)
		return error;
	dist = c & 0x7f;
	while (c & 0x80) {
		error = read_byte(&c, ps);
		if (error)
			return error;
		/* the next dist is at least (dist + 1) * 128: past `off` it points before the pack
		 */
		if (dist >= off >> 7)
			return err_set(
			        ERR_INVALID, "delta base offset out of range at offset %zu", off);
		dist = ((dist + 1) << 7) | (c & 0x7f);
	}
	if (dist > off)
		return err_set(ERR_INVALID, "delta base offset out of range at offset %zu", off);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ps->objs[mid].off == off - dist) {
			*base = &ps->objs[mid];
			return 0;
		}
		if (ps->objs[mid].off < off - dist)
			lo = mid + 1;
		else
			hi = mid;
	}
	return err_set(ERR_INVALID, "delta at offset %zu has no object at its base offset %zu", off,
	        off - dist);
}

static size_t slot_of(const git_oid *id, size_t nslots)
{
	/* ids are SHA-1 output, so their leading bytes are already well spread */
	return (size_t)be32(id->id) & (nslots - 1);
}

static void table_insert(uint32_t *slots, size_t nslots, const struct obj *objs, uint32_t i)
{
	size_t s = slot_of(&objs[i].id, nslots);

	while (slots[s])
		s = (s + 1) & (nslots - 1);
	slots[s] = i + 1;
}

/* Keep the id table at most half full, so that every probe ends at an empty slot. */
static int grow_table(struct parser *ps)
{
	size_t i, n = ps->nslots ? ps->nslots : 1024;
	uint32_t *slots;

	if (ps->nobjs * 2 < ps->nslots)
		return 0;
	while (n <= ps->nobjs * 2)
		n *= 2;
	slots = calloc(n, sizeof(*slots));
	if (!slots) {
		/* a literal code, as the analyzer cannot see inside err_set() */
		err_set(ERR_NOMEM, "out of memory (object id table)");
		return ERR_NOMEM;
	}
	for (i = 0; i < ps->nhashed; i++)
		table_insert(slots, n, ps->objs, (uint32_t)i);
	free(ps->slots);
	ps->slots = slots;
	ps->nslots = n;
	return 0;
}

/*
 * Give ids to all objects so far and put them in the table.  Done only when a REF_DELTA needs
 * them, since the ODB hashes every object again when storing it.
 */
static int hash_objects(struct parser *ps)
{
	int error = grow_table(ps);

	for (; !error && ps->nhashed < ps->nobjs; ps->nhashed++) {
		struct obj *o = &ps->objs[ps->nhashed];

		if (git_odb_hash(&o->id, o->data, o->len, o->type) < 0)
			return err_set(ERR_GENERIC, "cannot hash object at offset %zu", o->off);
		table_insert(ps->slots, ps->nslots, ps->objs, (uint32_t)ps->nhashed);
	}
	return error;
}

/* A delta's base by object id, which must be an earlier object of this pack. */
static int find_ref_base(const struct obj **base, struct parser *ps, size_t off)
{
	git_oid id;
	size_t s;
	int error;

	if (ps->len - ps->pos < PACK_OID_LEN)
		return truncated(ps);
	memcpy(id.id, ps->pack + ps->pos, PACK_OID_LEN);
	ps->pos += PACK_OID_LEN;
	error = hash_objects(ps);
	if (error)
		return error;
	for (s = slot_of(&id, ps->nslots); ps->slots[s]; s = (s + 1) & (ps->nslots - 1)) {
		const struct obj *o = &ps->objs[ps->slots[s] - 1];

		if (!memcmp(o->id.id, id.id, PACK_OID_LEN)) {
			*base = o;
			return 0;
		}
	}
	return err_set(ERR_INVALID, "thin packs are not supported (delta at offset %zu)", off);
}

/* A size in a delta's header: 7 bits a byte, least significant first. */
static int delta_varint(size_t *out, const uint8_t **p, const uint8_t *end, size_t off)
{
	uint64_t val = 0;
	unsigned int shift = 0;
	uint8_t c;

	do {
		if (*p >= end || shift > 57)
			return err_set(
			        ERR_INVALID, "bad delta header in object at offset %zu", off);
		c = *(*p)++;
		val |= (uint64_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	if (val > PACK_MAX_OBJECT_SIZE)
		return err_set(ERR_TOOBIG, "delta at offset %zu yields more than %u bytes", off,
		        PACK_MAX_OBJECT_SIZE);
	*out = (size_t)val;
	return 0;
}

/* Read one copy instruction's offset and size; `op` says which bytes are present. */
static int copy_args(size_t *cpoff, size_t *cpsize, uint8_t op, const uint8_t **p,
        const uint8_t *end, size_t off)
{
	uint32_t val[2] = {0, 0};
	unsigned int bit;

	for (bit = 0; bit < 7; bit++) {
		uint32_t byte;

		if (!(op & (1u << bit)))
			continue;
		if (*p >= end)
			return err_set(ERR_INVALID, "delta at offset %zu ends inside a copy", off);
		byte = *(*p)++;
		val[bit >= 4] |= byte << (8 * (bit & 3)); /* bits 0-3 offset, 4-6 size */
	}
	*cpoff = val[0];
	*cpsize = val[1] ? val[1] : 0x10000; /* git encodes 64 KiB as size 0 */
	return 0;
}

/* Run a delta's instructions into `res`, which must come out exactly `tgtlen` bytes long. */
static int run_delta(uint8_t *res, size_t tgtlen, const struct obj *base, const uint8_t *p,
        const uint8_t *end, size_t off)
{
	size_t n = 0, cpoff = 0, cpsize = 0;
	int error;

	while (p < end) {
		uint8_t op = *p++;

		if (op & 0x80) {
			error = copy_args(&cpoff, &cpsize, op, &p, end, off);
			if (error)
				return error;
			if (cpoff > base->len || cpsize > base->len - cpoff || cpsize > tgtlen - n)
				return err_set(ERR_INVALID,
				        "delta at offset %zu copies outside its base or target",
				        off);
			memcpy(res + n, base->data + cpoff, cpsize);
		} else if (op) {
			cpsize = op;
			if (cpsize > (size_t)(end - p) || cpsize > tgtlen - n)
				return err_set(ERR_INVALID,
				        "delta at offset %zu inserts past its data or target", off);
			memcpy(res + n, p, cpsize);
			p += cpsize;
		} else {
			/* reserved by git; accepting it would let two packs disagree on meaning */
			return err_set(ERR_INVALID, "delta at offset %zu has opcode 0", off);
		}
		n += cpsize;
	}
	if (n != tgtlen)
		return err_set(ERR_INVALID, "delta at offset %zu yields %zu bytes, not %zu", off, n,
		        tgtlen);
	return 0;
}

/* Apply git's delta format to `base`; `room` is what the total limit has left. */
static int apply_delta(uint8_t **out, size_t *outlen, const struct obj *base, const uint8_t *delta,
        size_t dlen, size_t room, size_t off)
{
	const uint8_t *p = delta, *end = delta + dlen;
	size_t srclen = 0, tgtlen = 0;
	uint8_t *res = NULL;
	int error;

	error = delta_varint(&srclen, &p, end, off);
	if (!error)
		error = delta_varint(&tgtlen, &p, end, off);
	if (error)
		goto out;
	if (srclen != base->len) {
		error = err_set(ERR_INVALID, "delta at offset %zu expects a %zu-byte base, not %zu",
		        off, srclen, base->len);
		goto out;
	}
	if (tgtlen > room) {
		error = err_set(ERR_TOOBIG, "pack inflates to more than %u bytes", PACK_MAX_TOTAL);
		goto out;
	}
	res = malloc(tgtlen ? tgtlen : 1);
	if (!res) {
		error = err_set(ERR_NOMEM, "out of memory (%zu bytes)", tgtlen);
		goto out;
	}
	error = run_delta(res, tgtlen, base, p, end, off);
out:
	if (error) {
		free(res);
	} else {
		*out = res;
		*outlen = tgtlen;
	}
	return error;
}

/* Read, inflate and resolve the object at ps->pos, appending it to ps->objs. */
static int parse_object(struct parser *ps)
{
	struct obj o = {ps->pos, NULL, 0, GIT_OBJECT_INVALID, 0, {{0}}};
	const struct obj *base = NULL;
	uint8_t *raw = NULL;
	size_t size = 0;
	int type = 0, error;

	error = read_obj_header(&type, &size, ps, o.off);
	if (error)
		goto out;
	if (type == GIT_OBJECT_OFS_DELTA)
		error = find_ofs_base(&base, ps, o.off);
	else if (type == GIT_OBJECT_REF_DELTA)
		error = find_ref_base(&base, ps, o.off);
	else if (type < GIT_OBJECT_COMMIT || type > GIT_OBJECT_TAG)
		error = err_set(ERR_INVALID, "object at offset %zu has bad type %d", o.off, type);
	if (error)
		goto out;
	if (base && base->depth >= PACK_MAX_DELTA_DEPTH) {
		error = err_set(ERR_TOOBIG, "delta chain at offset %zu is deeper than %d", o.off,
		        PACK_MAX_DELTA_DEPTH);
		goto out;
	}
	if (!base && size > PACK_MAX_TOTAL - ps->total) {
		error = err_set(ERR_TOOBIG, "pack inflates to more than %u bytes", PACK_MAX_TOTAL);
		goto out;
	}
	error = inflate_obj(&raw, ps, size, o.off);
	if (error)
		goto out;
	if (!base) {
		o.type = (git_object_t)type;
		o.data = raw;
		o.len = size;
		raw = NULL;
	} else {
		o.type = base->type;
		o.depth = base->depth + 1;
		error = apply_delta(
		        &o.data, &o.len, base, raw, size, PACK_MAX_TOTAL - ps->total, o.off);
		if (error)
			goto out;
	}
	error = buf_put(&ps->arr, &o, sizeof(o));
	if (error)
		goto out;
	ps->objs = (struct obj *)ps->arr.ptr; /* it may have moved */
	ps->nobjs++;
	ps->total += o.len;
	o.data = NULL;
out:
	free(o.data);
	free(raw);
	return error;
}

static int check_trailer(const struct parser *ps)
{
	uint8_t sum[PACK_TRAILER_LEN];

	if (ps->len - ps->pos < PACK_TRAILER_LEN)
		return truncated(ps);
	if (ps->len - ps->pos > PACK_TRAILER_LEN)
		return err_set(ERR_INVALID, "unexpected data after the last object at offset %zu",
		        ps->pos);
	if (mbedtls_sha1_ret(ps->pack, ps->pos, sum) != 0)
		return err_set(ERR_GENERIC, "cannot compute the pack checksum");
	if (memcmp(sum, ps->pack + ps->pos, PACK_TRAILER_LEN))
		return err_set(ERR_INVALID, "pack checksum mismatch at offset %zu", ps->pos);
	return 0;
}

int pack_parse(const uint8_t *pack, size_t len, pack_object_cb cb, void *payload)
{
	struct parser ps = {.pack = pack,
	        .len = len,
	        .pos = PACK_HEADER_LEN,
	        .arr = BUF_INIT(PACK_MAX_OBJECTS * sizeof(struct obj))};
	uint32_t version, count = 0;
	size_t i;
	int error = 0;

	if (!pack || !cb) {
		error = err_set(ERR_INVALID, "no pack to parse");
		goto out;
	}
	if (len < PACK_HEADER_LEN) {
		error = truncated(&ps);
		goto out;
	}
	version = be32(pack + 4);
	count = be32(pack + 8);
	if (memcmp(pack, "PACK", 4) || (version != 2 && version != 3)) {
		error = err_set(ERR_INVALID, "not a version 2 or 3 pack");
		goto out;
	}
	if (count > PACK_MAX_OBJECTS) {
		error = err_set(
		        ERR_TOOBIG, "pack has %u objects, more than %u", count, PACK_MAX_OBJECTS);
		goto out;
	}
	for (i = 0; i < count && !error; i++)
		error = parse_object(&ps);
	if (!error)
		error = check_trailer(&ps);
	for (i = 0; i < ps.nobjs && !error; i++)
		error = cb(payload, ps.objs[i].type, ps.objs[i].data, ps.objs[i].len);
out:
	for (i = 0; i < ps.nobjs; i++)
		free(ps.objs[i].data);
	buf_release(&ps.arr);
	free(ps.slots);
	return error;
}
