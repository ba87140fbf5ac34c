/* shared/sync/changeset.c - encoding and strict decoding of change sets. */
#include "sync/changeset.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/array.h"
#include "base/crypto.h"

static const uint8_t MAGIC[4] = {'F', 'S', 'C', 'S'};
#define FLAG_SIGNED 1u
#define RECORD_HEAD (1 + GIT_OID_RAWSZ + 4)

/*
 * A preset zlib dictionary (part of format version 1): the strings every small change set
 * repeats — commit headers and trailers, tree modes, case paths and field names.  Measured on a
 * single-field edit it takes the push body under a kilobyte.  Never change it within a version.
 */
static const char DICTIONARY[] =
	"100644 category100644 complainant_name100644 external_ref100644 location"
	"100644 priority100644 received_at100644 referred_to100644 source100644 status"
	"100644 subject_id100644 subject_name100644 subject_unit100644 summary100644 title"
	"100644 assignee100644 disposition100644 opened_at100644 closed_at"
	"100644 id100644 office100644 narrative.md40000 conflicts40000 fields40000 meta40000 notes"
	" +0000\ncommitter  +0000\n\ncase merge\n\ncase update: note add: note\n\n"
	"Fieldsync-User: \nFieldsync-Office: \nFieldsync-Device: \nFieldsync-HLC: "
	"tree parent author ";

struct changeset_writer {
	z_stream z;
	int z_ready;
	struct buf packed; /* the compressed objects */
	struct oidset added;
	size_t nobjects;
	size_t inflated;
	struct changeset_case *cases;
	size_t ncases, cap;
	int finished;
};

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int type_code(git_object_t type)
{
	return type == GIT_OBJECT_COMMIT ? 1 : type == GIT_OBJECT_TREE ? 2 : type == GIT_OBJECT_BLOB ? 3 : 0;
}

int changeset_writer_new(struct changeset_writer **out)
{
	struct changeset_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return err_set(ERR_NOMEM, "out of memory");
	buf_init(&w->packed, CHANGESET_ENCODED_MAX);
	/* level 6: the records are small and similar; higher levels gained nothing measurable */
	if (deflateInit(&w->z, 6) != Z_OK) {
		free(w);
		return err_set(ERR_NOMEM, "cannot start the compressor");
	}
	if (deflateSetDictionary(&w->z, (const Bytef *)DICTIONARY, sizeof(DICTIONARY) - 1) != Z_OK) {
		deflateEnd(&w->z);
		free(w);
		return err_set(ERR_GENERIC, "cannot set the compression dictionary");
	}
	w->z_ready = 1;
	*out = w;
	return 0;
}

void changeset_writer_free(struct changeset_writer *w)
{
	if (!w)
		return;
	if (w->z_ready)
		deflateEnd(&w->z);
	buf_release(&w->packed);
	oidset_release(&w->added);
	free(w->cases);
	free(w);
}

/* Run the compressor over `data` (flush: Z_NO_FLUSH or Z_FINISH). */
static int deflate_into(struct changeset_writer *w, const void *data, size_t len, int flush)
{
	int rc;

	w->z.next_in = (Bytef *)(uintptr_t)data;
	w->z.avail_in = (uInt)len;
	do {
		int error = buf_grow(&w->packed, 64 * 1024);

		if (error)
			return err_set(ERR_TOOBIG, "change set larger than %u bytes",
				CHANGESET_ENCODED_MAX);
		w->z.next_out = (Bytef *)w->packed.ptr + w->packed.len;
		w->z.avail_out = (uInt)(w->packed.cap - w->packed.len - 1);
		rc = deflate(&w->z, flush);
		w->packed.len = (size_t)((char *)w->z.next_out - w->packed.ptr);
		if (rc == Z_STREAM_ERROR)
			return err_set(ERR_GENERIC, "compressor failed");
	} while (w->z.avail_in || (flush == Z_FINISH && rc != Z_STREAM_END));
	return 0;
}

int changeset_writer_add_object(struct changeset_writer *w, git_object_t type, const git_oid *id,
	const void *data, size_t len)
{
	uint8_t head[RECORD_HEAD];
	int added = 0, error;

	if (w->finished || !type_code(type))
		return err_set(ERR_INVALID, "cannot add this object to the change set");
	if (changeset_writer_has(w, id))
		return 0;
	if (len > CHANGESET_OBJECT_MAX)
		return err_set(ERR_TOOBIG, "object %.12s is larger than %u bytes", git_oid_tostr_s(id),
			CHANGESET_OBJECT_MAX);
	if (w->nobjects >= CHANGESET_OBJECTS_MAX ||
		w->inflated + RECORD_HEAD + len > CHANGESET_INFLATED_MAX)
		return err_set(ERR_TOOBIG, "too many objects for one change set");
	error = oidset_add(&added, &w->added, id, (uint32_t)w->nobjects);
	if (error)
		return error;
	head[0] = (uint8_t)type_code(type);
	memcpy(head + 1, id->id, GIT_OID_RAWSZ);
	put_u32(head + 1 + GIT_OID_RAWSZ, (uint32_t)len);
	error = deflate_into(w, head, sizeof(head), Z_NO_FLUSH);
	if (!error && len)
		error = deflate_into(w, data, len, Z_NO_FLUSH);
	if (error) {
		w->finished = 1; /* a record may be half in the stream: this writer is done */
		return error;
	}
	w->nobjects++;
	w->inflated += RECORD_HEAD + len;
	return 0;
}

int changeset_writer_has(const struct changeset_writer *w, const git_oid *id)
{
	return oidset_get(&w->added, id, NULL);
}

size_t changeset_writer_size(const struct changeset_writer *w)
{
	return w->inflated;
}

size_t changeset_writer_cases(const struct changeset_writer *w)
{
	return w->ncases;
}

int changeset_writer_add_case(struct changeset_writer *w, const struct changeset_case *c)
{
	int error;

	if (w->finished || schema_check_case_id(c->id) || (c->office[0] && schema_check_office(c->office)))
		return err_set(ERR_INVALID, "cannot add case '%s' to the change set", c->id);
	if (w->ncases >= CHANGESET_CASES_MAX)
		return err_set(ERR_TOOBIG, "more than %u cases in one change set", CHANGESET_CASES_MAX);
	error = ARRAY_GROW(&w->cases, &w->cap, w->ncases + 1, CHANGESET_CASES_MAX);
	if (error)
		return error;
	w->cases[w->ncases++] = *c;
	return 0;
}

static int put_str(struct buf *b, const char *s)
{
	size_t len = strlen(s);
	uint8_t l = (uint8_t)len;

	if (len > 255)
		return err_set(ERR_INVALID, "string too long for a change set");
	return buf_put(b, &l, 1) || buf_put(b, s, len) ? err_set(ERR_TOOBIG, "header too large")
						       : 0;
}

static int put_u32b(struct buf *b, uint32_t v)
{
	uint8_t p[4];

	put_u32(p, v);
	return buf_put(b, p, 4);
}

static int encode_header(struct buf *h, const struct changeset_writer *w,
	const uint8_t bundle[CHANGESET_BUNDLE_LEN], const char *device, const char *office,
	uint64_t cursor, int more, int sign)
{
	uint8_t top[6] = {'F', 'S', 'C', 'S', CHANGESET_VERSION, 0}, c8[8], digest[32];
	size_t i, start;
	int error, k;

	top[5] = sign ? FLAG_SIGNED : 0;
	for (k = 0; k < 8; k++)
		c8[k] = (uint8_t)(cursor >> (56 - 8 * k));
	crypto_sha256(digest, w->packed.ptr, w->packed.len);
	error = buf_put(h, top, sizeof(top)) || put_u32b(h, 0);
	start = h->len;
	if (!error)
		error = buf_put(h, bundle, CHANGESET_BUNDLE_LEN) || put_str(h, device) ||
			put_str(h, office) || buf_put(h, c8, 8) || buf_putc(h, more ? 1 : 0) ||
			put_u32b(h, (uint32_t)w->ncases);
	for (i = 0; !error && i < w->ncases; i++) {
		const struct changeset_case *c = &w->cases[i];
		uint8_t zero[GIT_OID_RAWSZ] = {0};

		error = put_str(h, c->id) || buf_putc(h, c->has_base ? 1 : 0) ||
			buf_put(h, c->has_base ? c->base.id : zero, GIT_OID_RAWSZ) ||
			buf_put(h, c->head.id, GIT_OID_RAWSZ) || put_str(h, c->office);
	}
	if (!error)
		error = put_u32b(h, (uint32_t)w->nobjects) || buf_put(h, digest, sizeof(digest));
	if (error)
		return err_set(ERR_TOOBIG, "change set header too large");
	put_u32((uint8_t *)h->ptr + start - 4, (uint32_t)(h->len - start));
	return 0;
}

int changeset_writer_finish(struct buf *out, struct changeset_writer *w,
	const uint8_t bundle[CHANGESET_BUNDLE_LEN], const char *device, const char *office,
	uint64_t cursor, int more, const uint8_t *key_der, size_t key_len)
{
	struct buf h = BUF_INIT(CHANGESET_HEADER_MAX), sig = BUF_INIT(CHANGESET_SIG_MAX);
	uint8_t digest[32], l2[2], l4[4];
	int error;

	if (w->finished)
		return err_set(ERR_INVALID, "change set already finished");
	/* what the decoder would refuse is not sent */
	if (strlen(device) > CHANGESET_DEVICE_MAX || (office[0] && schema_check_office(office)))
		return err_set(ERR_INVALID, "cannot write a change set for device '%s' of office '%s'",
			device, office);
	error = deflate_into(w, NULL, 0, Z_FINISH);
	w->finished = 1;
	if (!error)
		error = encode_header(&h, w, bundle, device, office, cursor, more, key_der != NULL);
	if (!error && key_der) {
		crypto_sha256(digest, h.ptr, h.len);
		error = crypto_ec_sign(&sig, key_der, key_len, digest);
	}
	l2[0] = (uint8_t)(sig.len >> 8);
	l2[1] = (uint8_t)sig.len;
	put_u32(l4, (uint32_t)w->packed.len);
	if (!error && (buf_put(out, h.ptr, h.len) || buf_put(out, l2, 2) ||
			      buf_put(out, sig.ptr, sig.len) || buf_put(out, l4, 4) ||
			      buf_put(out, w->packed.ptr, w->packed.len)))
		error = err_set(ERR_TOOBIG, "change set larger than the buffer allows");
	buf_release(&h);
	buf_release(&sig);
	return error;
}

/* A cursor over untrusted bytes. */
struct reader {
	const uint8_t *p;
	size_t len, off;
	int bad;
};

static const uint8_t *take(struct reader *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->len - r->off) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint32_t take_u32(struct reader *r)
{
	const uint8_t *p = take(r, 4);

	return p ? get_u32(p) : 0;
}

static void take_str(struct reader *r, char *out, size_t size)
{
	const uint8_t *l = take(r, 1), *s;

	out[0] = '\0';
	if (!l)
		return;
	s = take(r, *l);
	if (!s || *l >= size || memchr(s, '\0', *l)) {
		r->bad = 1;
		return;
	}
	memcpy(out, s, *l);
	out[*l] = '\0';
}

static int decode_cases(struct changeset *cs, struct reader *r)
{
	uint32_t n = take_u32(r), i;

	if (n > CHANGESET_CASES_MAX)
		return err_set(ERR_TOOBIG, "change set names %u cases (at most %u)", n,
			CHANGESET_CASES_MAX);
	if (n && !r->bad) {
		cs->cases = calloc(n, sizeof(*cs->cases));
		if (!cs->cases)
			return err_set(ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < n && !r->bad; i++) {
		struct changeset_case *c = &cs->cases[i];
		const uint8_t *flag, *base, *head;

		take_str(r, c->id, sizeof(c->id));
		flag = take(r, 1);
		base = take(r, GIT_OID_RAWSZ);
		head = take(r, GIT_OID_RAWSZ);
		take_str(r, c->office, sizeof(c->office));
		if (r->bad)
			break;
		if (*flag > 1 || schema_check_case_id(c->id) ||
			(c->office[0] && schema_check_office(c->office)))
			return err_set(ERR_INVALID, "change set names a malformed case (entry %u)", i);
		c->has_base = *flag;
		git_oid_fromraw(&c->base, base);
		git_oid_fromraw(&c->head, head);
		cs->ncases = i + 1;
	}
	return 0;
}

static int decode_header(struct changeset *cs, struct reader *r, uint32_t *nobjects,
	uint8_t digest[32], int *is_signed)
{
	const uint8_t *top = take(r, 6), *bundle, *c8, *more, *d;
	uint32_t hlen = take_u32(r);
	size_t end;
	int k, error;

	if (!top || memcmp(top, MAGIC, 4) != 0)
		return err_set(ERR_INVALID, "not a change set");
	if (top[4] != CHANGESET_VERSION || (top[5] & ~FLAG_SIGNED))
		return err_set(ERR_INVALID, "change set version %u is not supported", top[4]);
	*is_signed = top[5] & FLAG_SIGNED;
	if (hlen > CHANGESET_HEADER_MAX)
		return err_set(ERR_TOOBIG, "change set header larger than %u bytes",
			CHANGESET_HEADER_MAX);
	end = r->off + hlen;
	bundle = take(r, CHANGESET_BUNDLE_LEN);
	take_str(r, cs->device, sizeof(cs->device));
	take_str(r, cs->office, sizeof(cs->office));
	c8 = take(r, 8);
	more = take(r, 1);
	if (r->bad)
		return err_set(ERR_INVALID, "truncated change set header");
	memcpy(cs->bundle, bundle, CHANGESET_BUNDLE_LEN);
	for (k = 0; k < 8; k++)
		cs->cursor = cs->cursor << 8 | c8[k];
	cs->more = *more != 0;
	error = decode_cases(cs, r);
	if (error)
		return error;
	*nobjects = take_u32(r);
	d = take(r, 32);
	if (r->bad || r->off != end)
		return err_set(ERR_INVALID, "malformed change set header");
	if (*more > 1 || (cs->office[0] && schema_check_office(cs->office)))
		return err_set(ERR_INVALID, "malformed change set header");
	memcpy(digest, d, 32);
	return 0;
}

static int inflate_all(uint8_t **out, size_t *outlen, const uint8_t *p, size_t len)
{
	z_stream z;
	size_t cap = len * 4 + 4096, used = 0;
	uint8_t *buf = NULL;
	int rc = Z_OK, error = 0;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return err_set(ERR_NOMEM, "cannot start the decompressor");
	if (cap > CHANGESET_INFLATED_MAX)
		cap = CHANGESET_INFLATED_MAX;
	buf = malloc(cap);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)len;
	while (buf && rc != Z_STREAM_END) {
		if (used == cap && cap >= CHANGESET_INFLATED_MAX) {
			error = err_set(ERR_TOOBIG, "change set objects inflate past %u bytes",
				CHANGESET_INFLATED_MAX);
			goto out;
		}
		error = ARRAY_GROW(&buf, &cap, used + 1, CHANGESET_INFLATED_MAX);
		if (error)
			goto out;
		z.next_out = buf + used;
		z.avail_out = (uInt)(cap - used);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc == Z_NEED_DICT &&
			inflateSetDictionary(&z, (const Bytef *)DICTIONARY, sizeof(DICTIONARY) - 1) == Z_OK)
			rc = inflate(&z, Z_NO_FLUSH);
		used = cap - z.avail_out;
		if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && used == cap)) {
			error = err_set(ERR_INVALID, "change set objects are not a valid zlib stream");
			goto out;
		}
	}
	if (!buf) {
		error = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (z.avail_in) {
		error = err_set(ERR_INVALID, "bytes after the change set objects");
		goto out;
	}
	*out = buf;
	*outlen = used;
	buf = NULL;
out:
	free(buf);
	inflateEnd(&z);
	return error;
}

static int decode_objects(struct changeset *cs, const uint8_t *data, size_t len, uint32_t count)
{
	struct reader r = {data, len, 0, 0};
	size_t i;
	int error;

	if (count > CHANGESET_OBJECTS_MAX)
		return err_set(ERR_TOOBIG, "change set holds %u objects (at most %u)", count,
			CHANGESET_OBJECTS_MAX);
	if (count > len / RECORD_HEAD) /* before allocating for a count the bytes cannot hold */
		return err_set(ERR_INVALID, "change set names %u objects but holds fewer", count);
	cs->objects = calloc(count ? count : 1, sizeof(*cs->objects));
	if (!cs->objects)
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		struct changeset_object *o = &cs->objects[i];
		const uint8_t *head = take(&r, RECORD_HEAD);
		git_oid computed;
		int added = 0;

		if (!head)
			return err_set(ERR_INVALID, "change set truncated at object %zu", i);
		o->type = head[0] == 1 ? GIT_OBJECT_COMMIT : head[0] == 2 ? GIT_OBJECT_TREE
				     : head[0] == 3 ? GIT_OBJECT_BLOB : GIT_OBJECT_INVALID;
		git_oid_fromraw(&o->id, head + 1);
		o->len = get_u32(head + 1 + GIT_OID_RAWSZ);
		if (o->type == GIT_OBJECT_INVALID)
			return err_set(ERR_INVALID, "object %zu has an unknown type", i);
		if (o->len > CHANGESET_OBJECT_MAX)
			return err_set(ERR_TOOBIG, "object %.12s is larger than %u bytes",
				git_oid_tostr_s(&o->id), CHANGESET_OBJECT_MAX);
		o->data = take(&r, o->len);
		if (!o->data)
			return err_set(ERR_INVALID, "change set truncated in object %zu", i);
		if (git_odb_hash(&computed, o->data, o->len, o->type) < 0 ||
			git_oid_cmp(&computed, &o->id) != 0)
			return err_set(ERR_INVALID, "object %.12s does not hash to its id",
				git_oid_tostr_s(&o->id));
		error = oidset_add(&added, &cs->index, &o->id, (uint32_t)i);
		if (error)
			return error;
		if (!added)
			return err_set(ERR_INVALID, "object %.12s is sent twice", git_oid_tostr_s(&o->id));
		cs->nobjects = i + 1;
	}
	if (r.off != len)
		return err_set(ERR_INVALID, "bytes after the last object");
	return 0;
}

int changeset_decode(struct changeset *cs, const uint8_t *data, size_t len)
{
	struct reader r = {data, len, 0, 0};
	uint8_t digest[32], actual[32];
	const uint8_t *l2, *sig, *packed;
	uint32_t nobjects = 0, plen;
	size_t inflated_len = 0, sig_len;
	int is_signed = 0, error;

	memset(cs, 0, sizeof(*cs));
	if (len > CHANGESET_ENCODED_MAX)
		return err_set(ERR_TOOBIG, "change set larger than %u bytes", CHANGESET_ENCODED_MAX);
	error = decode_header(cs, &r, &nobjects, digest, &is_signed);
	if (error)
		return error;
	cs->signed_len = r.off;
	l2 = take(&r, 2);
	sig_len = l2 ? (size_t)l2[0] << 8 | l2[1] : 0;
	if (sig_len > CHANGESET_SIG_MAX || (is_signed != 0) != (sig_len != 0))
		return err_set(ERR_INVALID, "malformed change set signature");
	sig = take(&r, sig_len);
	plen = take_u32(&r);
	packed = take(&r, plen);
	if (r.bad)
		return err_set(ERR_INVALID, "truncated change set");
	if (r.off != len)
		return err_set(ERR_INVALID, "bytes after the change set");
	crypto_sha256(actual, packed, plen);
	if (!crypto_equal(actual, digest, 32))
		return err_set(ERR_INVALID, "change set objects do not match their header");
	cs->signed_part = malloc(cs->signed_len);
	cs->sig = malloc(sig_len ? sig_len : 1);
	if (!cs->signed_part || !cs->sig)
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(cs->signed_part, data, cs->signed_len);
	memcpy(cs->sig, sig, sig_len);
	cs->sig_len = sig_len;
	error = inflate_all(&cs->inflated, &inflated_len, packed, plen);
	if (!error)
		error = decode_objects(cs, cs->inflated, inflated_len, nobjects);
	return error;
}

int changeset_verify(const struct changeset *cs, const uint8_t *pub, size_t publen)
{
	uint8_t digest[32];

	if (!cs->sig_len)
		return err_set(ERR_AUTH, "the change set is not signed");
	crypto_sha256(digest, cs->signed_part, cs->signed_len);
	if (crypto_ec_verify(pub, publen, digest, cs->sig, cs->sig_len))
		return err_set(ERR_AUTH, "the change set signature does not match the device key");
	return 0;
}

const struct changeset_object *changeset_object(const struct changeset *cs, const git_oid *id)
{
	uint32_t i;

	return oidset_get(&cs->index, id, &i) ? &cs->objects[i] : NULL;
}

void changeset_release(struct changeset *cs)
{
	if (!cs)
		return;
	free(cs->cases);
	free(cs->objects);
	oidset_release(&cs->index);
	free(cs->signed_part);
	free(cs->sig);
	free(cs->inflated);
	memset(cs, 0, sizeof(*cs));
}
