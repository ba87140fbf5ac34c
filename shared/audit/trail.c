/* shared/audit/trail.c - verifying audit trails and exported trail files. */
#include "audit/trail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "audit/audit.h"
#include "base/array.h"
#include "audit/checkpoint.h"
#include "base/hlc.h"
#include "base/crypto.h"
#include "pki/pki.h"

#define TRAIL_FORMAT "fieldsync-audit-1"
#define TRAIL_CERT_MAX 4096
#define HLC_TIME_MAX HLC_STR_MAX

/* 1 if `cert` (DER) is a server certificate: an end entity for TLS server authentication. */
static int is_server_cert(const uint8_t *cert, size_t len)
{
	mbedtls_x509_crt crt;
	int yes;

	mbedtls_x509_crt_init(&crt);
	yes = mbedtls_x509_crt_parse_der(&crt, cert, len) == 0 && !crt.ca_istrue &&
	      (crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) &&
	      mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
		      MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0;
	mbedtls_x509_crt_free(&crt);
	return yes;
}

/*
 * A certificate of the CA is not enough: it must be the signer's.  Otherwise one enrolled
 * device could sign another's checkpoints, or countersign them in HQ's place, and an export
 * file (which carries its own certificates) would prove nothing.  A checkpoint is signed by the
 * device of the origin (the office and device of its certificate) or, for HQ's own log, by the
 * server; a receipt only by the server.
 */
static int check_signer(const char *origin, const char *kind, const struct trail_sig *s)
{
	char office[SCHEMA_OFFICE_MAX + 1], device[PKI_DEVICE_LEN + 1];
	char who[SCHEMA_OFFICE_MAX + PKI_DEVICE_LEN + 2];
	uint8_t serial[PKI_SERIAL_LEN];
	int server = is_server_cert(s->cert, s->certlen);

	if (!strcmp(kind, "receipt"))
		return server ? 0 : err_set(ERR_AUTH, "a receipt must be signed by HQ's server key");
	if (server && !strncmp(origin, "HQ/", 3))
		return 0;
	if (pki_identity(office, device, serial, s->cert, s->certlen))
		return err_set(ERR_AUTH, "it is not signed by a device certificate");
	snprintf(who, sizeof(who), "%s/%s", office, device);
	if (strcmp(who, origin))
		return err_set(ERR_AUTH, "it is signed by %s, not by the device of this trail", who);
	return 0;
}

static int check_sig(const struct trail_input *in, const char *kind, const struct trail_sig *s)
{
	struct buf msg = BUF_INIT(CHECKPOINT_MSG_MAX);
	char why[200];
	int error = checkpoint_message(&msg, kind, in->origin, s->size, s->root, s->time);

	if (!error)
		error = checkpoint_verify(s->cert, s->certlen, in->ca, in->calen, &msg, s->sig,
			s->siglen);
	if (!error)
		error = check_signer(in->origin, kind, s);
	if (error) {
		snprintf(why, sizeof(why), "%s", err_msg());
		error = err_set(ERR_AUTH, "the %s of %s at size %llu does not verify: %s", kind,
			in->origin, (unsigned long long)s->size, why);
	}
	buf_release(&msg);
	return error;
}

/* Check every statement of one kind whose size is `size`, with the head of that prefix. */
static int check_at(size_t *next, const struct trail_input *in, const char *kind,
	const struct trail_sig *list, size_t count, uint64_t size, const uint8_t head[MERKLE_HASH_LEN])
{
	int error = 0;

	while (!error && *next < count && list[*next].size == size) {
		if (!crypto_equal(list[*next].root, head, MERKLE_HASH_LEN))
			return err_set(ERR_CORRUPT,
				"the %s of %s at size %llu names a tree head the entries do not have: "
				"an entry below it was changed, removed, inserted or reordered",
				kind, in->origin, (unsigned long long)size);
		error = check_sig(in, kind, &list[*next]);
		(*next)++;
	}
	if (!error && *next < count && list[*next].size < size)
		error = err_set(ERR_CORRUPT, "the %ss of %s are out of order", kind, in->origin);
	return error;
}

int trail_verify(uint8_t root_out[MERKLE_HASH_LEN], const struct trail_input *in)
{
	struct merkle_frontier *f = calloc(1, sizeof(*f));
	uint8_t head[MERKLE_HASH_LEN];
	size_t nc = 0, nr = 0, ns = 0;
	uint64_t i;
	int error = f ? 0 : err_set(ERR_NOMEM, "out of memory");

	for (i = 0; !error && i < in->nseals; i++)
		error = seal_check_next(in->seals, i, &in->seals[i], in->origin, in->ca, in->calen);
	for (i = 0; !error && i <= in->n; i++) {
		if ((nc < in->ncheckpoints && in->checkpoints[nc].size == i) ||
			(nr < in->nreceipts && in->receipts[nr].size == i) ||
			(ns < in->nseals && in->seals[ns].size == i)) {
			merkle_frontier_root(head, f);
			error = check_at(&nc, in, "checkpoint", in->checkpoints, in->ncheckpoints, i,
				head);
			if (!error)
				error = check_at(&nr, in, "receipt", in->receipts, in->nreceipts, i,
					head);
			if (!error && ns < in->nseals && in->seals[ns].size == i &&
				!crypto_equal(in->seals[ns].root, head, MERKLE_HASH_LEN))
				error = err_set(ERR_CORRUPT,
					"seal %llu of %s at size %llu names a tree head the entries do "
					"not have: an entry below it was changed, removed, inserted or "
					"reordered",
					(unsigned long long)in->seals[ns].index, in->origin,
					(unsigned long long)i);
			if (!error && ns < in->nseals && in->seals[ns].size == i)
				ns++;
		}
		if (i < in->n)
			merkle_frontier_add(f, in->leaves + i * MERKLE_HASH_LEN);
	}
	if (!error && (nc < in->ncheckpoints || nr < in->nreceipts || ns < in->nseals))
		error = err_set(ERR_CORRUPT,
			"a signed statement of %s names more entries than the trail holds (%llu): "
			"entries were removed",
			in->origin, (unsigned long long)in->n);
	if (!error)
		merkle_frontier_root(root_out, f);
	free(f);
	return error;
}

/* ---- what the auditor holds ---------------------------------------------------------- */

int trail_check_expect(struct buf *proof, const struct trail_input *in,
	const uint8_t root[MERKLE_HASH_LEN], const struct trail_expect *e)
{
	struct buf p = BUF_INIT((size_t)(MERKLE_MAX_PROOF + 1) * MERKLE_HASH_LEN);
	char have[2 * MERKLE_HASH_LEN + 1], want[2 * MERKLE_HASH_LEN + 1];
	int error = 0;

	crypto_hex(have, root, MERKLE_HASH_LEN);
	crypto_hex(want, e->root, MERKLE_HASH_LEN);
	if (e->size == 0)
		return err_set(ERR_INVALID, "the expected head must name at least one entry");
	if (e->sig && strcmp(e->origin ? e->origin : "", in->origin))
		return err_set(ERR_AUTH, "the expected %s is of %s, not of this trail (%s)",
			e->kind, e->origin ? e->origin : "?", in->origin);
	if (e->sig)
		error = check_sig(in, e->kind, e->sig);
	if (!error && e->size > in->n)
		error = err_set(ERR_CORRUPT,
			"the trail of %s is shorter than the head you hold: it has %llu entries (tree "
			"head %s), the expected head names %llu (tree head %s): it was cut back",
			in->origin, (unsigned long long)in->n, have, (unsigned long long)e->size,
			want);
	if (!error)
		error = merkle_consistency_proof(&p, in->leaves, e->size, in->n);
	if (!error && merkle_verify_consistency(e->size, in->n, e->root, root,
			      (const uint8_t *)p.ptr, p.len))
		error = err_set(ERR_CORRUPT,
			"the trail of %s diverges from the head you hold: its %llu entries (tree head "
			"%s) do not extend the expected %llu (tree head %s)",
			in->origin, (unsigned long long)in->n, have, (unsigned long long)e->size,
			want);
	if (!error && proof)
		error = buf_put(proof, p.ptr, p.len);
	buf_release(&p);
	return error;
}

/*
 * The "seq" member of an entry's canonical JSON, found without parsing the whole entry (a
 * third of the time of verifying a million entries went to the parser).  A key is preceded by
 * '{' or ',' outside any string, and a string cannot hold an unescaped quote, so the first
 * '{"seq":' or ',"seq":' is the member.  -1 if there is none.
 */
static int64_t entry_seq(const uint8_t *entry, size_t len)
{
	static const char key[] = "\"seq\":";
	const size_t kl = sizeof(key) - 1;
	size_t i;
	int64_t v = -1;

	for (i = 1; i + kl <= len; i++) {
		if ((entry[i - 1] != ',' && entry[i - 1] != '{') || memcmp(entry + i, key, kl))
			continue;
		for (i += kl, v = 0; i < len && entry[i] >= '0' && entry[i] <= '9'; i++) {
			if (v > (INT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (entry[i] - '0');
		}
		return i < len && (entry[i] == ',' || entry[i] == '}') ? v : -1;
	}
	return -1;
}

int trail_check_entry(uint8_t leaf_out[MERKLE_HASH_LEN], const uint8_t *entry, size_t len,
	uint64_t seq, const uint8_t *leaf)
{
	int ok = entry_seq(entry, len) == (int64_t)seq;

	merkle_leaf_hash(leaf_out, entry, len);
	if (!ok)
		return err_set(ERR_CORRUPT, "audit entry %llu is not the entry with that sequence "
					    "number (entries removed, inserted or reordered)",
			(unsigned long long)seq);
	if (leaf && !crypto_equal(leaf, leaf_out, MERKLE_HASH_LEN))
		return err_set(ERR_CORRUPT, "audit entry %llu does not hash to its stored leaf: it was "
					    "edited",
			(unsigned long long)seq);
	return 0;
}

static char *hex_of(const uint8_t *p, size_t len)
{
	char *s = malloc(2 * len + 1);

	if (s)
		crypto_hex(s, p, len);
	return s;
}

json_t *trail_sig_json(const struct trail_sig *s)
{
	char root[2 * MERKLE_HASH_LEN + 1];
	char *sig = hex_of(s->sig, s->siglen), *cert = hex_of(s->cert, s->certlen);
	json_t *j = NULL;

	crypto_hex(root, s->root, MERKLE_HASH_LEN);
	if (sig && cert)
		j = json_pack("{s:I, s:s, s:s, s:s, s:s}", "size", (json_int_t)s->size, "root", root,
			"time", s->time, "signature", sig, "cert", cert);
	free(sig);
	free(cert);
	return j;
}

#define TRAIL_HEAD_FORMAT "fieldsync-head-1"

json_t *trail_head_json(const char *kind, const char *origin, const struct trail_sig *s)
{
	json_t *j = trail_sig_json(s);

	if (j && (json_object_set_new(j, "format", json_string(TRAIL_HEAD_FORMAT)) ||
			 json_object_set_new(j, "kind", json_string(kind)) ||
			 json_object_set_new(j, "origin", json_string(origin)))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Decode "<hex>" of at most max bytes into a malloc'd buffer. */
static int unhex_alloc(uint8_t **out, size_t *len, const char *hex, size_t max)
{
	size_t n = hex ? strlen(hex) : 1;

	if (n % 2 || n / 2 > max || n == 0)
		return err_set(ERR_INVALID, "malformed hex in the trail file");
	*out = malloc(n / 2);
	if (!*out)
		return err_set(ERR_NOMEM, "out of memory");
	*len = n / 2;
	return crypto_unhex(*out, n / 2, hex);
}

static int parse_sigs(struct trail_sig **out, size_t *count, json_t *list)
{
	struct trail_sig *sigs;
	size_t i, n = json_array_size(list);
	int error = 0;

	if (!json_is_array(list))
		return err_set(ERR_INVALID, "the trail file lacks its signed statements");
	sigs = calloc(n ? n : 1, sizeof(*sigs));
	if (!sigs)
		return err_set(ERR_NOMEM, "out of memory");
	*out = sigs;
	*count = n;
	for (i = 0; !error && i < n; i++) {
		json_t *j = json_array_get(list, i);
		const char *root = json_string_value(json_object_get(j, "root"));
		size_t rl = 0;
		uint8_t *r = NULL;

		sigs[i].size = (uint64_t)json_integer_value(json_object_get(j, "size"));
		sigs[i].time = json_string_value(json_object_get(j, "time"));
		error = !sigs[i].time || json_integer_value(json_object_get(j, "size")) < 0
				? err_set(ERR_INVALID, "a signed statement is malformed")
				: unhex_alloc(&r, &rl, root, MERKLE_HASH_LEN);
		if (!error && rl != MERKLE_HASH_LEN)
			error = err_set(ERR_INVALID, "a signed statement names a malformed head");
		if (!error)
			memcpy(sigs[i].root, r, MERKLE_HASH_LEN);
		free(r);
		if (!error)
			error = unhex_alloc((uint8_t **)&sigs[i].sig, &sigs[i].siglen,
				json_string_value(json_object_get(j, "signature")), CHECKPOINT_SIG_MAX);
		if (!error)
			error = unhex_alloc((uint8_t **)&sigs[i].cert, &sigs[i].certlen,
				json_string_value(json_object_get(j, "cert")), TRAIL_CERT_MAX);
	}
	return error;
}

static void free_sigs(struct trail_sig *s, size_t n)
{
	size_t i;

	for (i = 0; s && i < n; i++) {
		free((void *)s[i].sig);
		free((void *)s[i].cert);
	}
	free(s);
}

int trail_head_parse(struct trail_head *h, const char *text, size_t len)
{
	json_t *doc = json_loadb(text, len, 0, NULL), *list = json_array();
	const char *format = json_string_value(json_object_get(doc, "format"));
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	const char *origin = json_string_value(json_object_get(doc, "origin"));
	struct trail_sig *sigs = NULL;
	size_t n = 0;
	int error = 0;

	memset(h, 0, sizeof(*h));
	if (!doc || !format || strcmp(format, TRAIL_HEAD_FORMAT) || !kind || !origin ||
		(strcmp(kind, "receipt") && strcmp(kind, "checkpoint")) ||
		strlen(origin) >= sizeof(h->origin))
		error = err_set(ERR_INVALID, "not a fieldsync signed head (%s)", TRAIL_HEAD_FORMAT);
	if (!error && json_array_append(list, doc))
		error = err_set(ERR_NOMEM, "out of memory");
	if (!error)
		error = parse_sigs(&sigs, &n, list);
	if (!error && strlen(sigs[0].time) >= sizeof(h->time))
		error = err_set(ERR_INVALID, "a signed statement is malformed");
	if (!error) {
		snprintf(h->kind, sizeof(h->kind), "%s", kind);
		snprintf(h->origin, sizeof(h->origin), "%s", origin);
		snprintf(h->time, sizeof(h->time), "%s", sigs[0].time);
		h->sig = sigs[0];
		h->sig.time = h->time;
		sigs[0].sig = NULL;
		sigs[0].cert = NULL;
	}
	free_sigs(sigs, n);
	json_decref(list);
	json_decref(doc);
	return error;
}

void trail_head_release(struct trail_head *h)
{
	if (!h)
		return;
	free((void *)h->sig.sig);
	free((void *)h->sig.cert);
	memset(h, 0, sizeof(*h));
}

void trail_head_expect(struct trail_expect *e, const struct trail_head *h)
{
	memset(e, 0, sizeof(*e));
	e->size = h->sig.size;
	memcpy(e->root, h->sig.root, MERKLE_HASH_LEN);
	e->kind = h->kind;
	e->sig = &h->sig;
	e->origin = h->origin;
}

static int file_leaves(struct buf *leaves, json_t *entries)
{
	size_t i;
	int error = 0;

	if (!json_is_array(entries))
		return err_set(ERR_INVALID, "the trail file lacks its entries");
	for (i = 0; !error && i < json_array_size(entries); i++) {
		const char *e = json_string_value(json_array_get(entries, i));
		uint8_t leaf[MERKLE_HASH_LEN];

		error = e ? trail_check_entry(leaf, (const uint8_t *)e, strlen(e), i, NULL)
			  : err_set(ERR_INVALID, "entry %zu of the trail file is not a string", i);
		if (!error)
			error = buf_put(leaves, leaf, MERKLE_HASH_LEN);
	}
	return error;
}

int trail_verify_file(uint64_t *size_out, uint8_t root_out[MERKLE_HASH_LEN], char *origin,
	size_t origin_size, const char *text, size_t len, const uint8_t *ca, size_t calen,
	const struct trail_expect *expect, struct buf *proof)
{
	json_t *doc = json_loadb(text, len, 0, NULL);
	struct buf leaves = BUF_INIT((size_t)64 * 1024 * 1024 * MERKLE_HASH_LEN);
	struct trail_input in;
	struct trail_sig *cps = NULL, *rcs = NULL;
	struct seal *seals = NULL;
	size_t ncp = 0, nrc = 0, nseals = 0;
	const char *o = json_string_value(json_object_get(doc, "origin"));
	int error = 0;

	memset(&in, 0, sizeof(in));
	if (!doc || !o || !json_is_string(json_object_get(doc, "format")) ||
		strcmp(json_string_value(json_object_get(doc, "format")), TRAIL_FORMAT))
		error = err_set(ERR_INVALID, "not a fieldsync audit export (%s)", TRAIL_FORMAT);
	if (!error)
		error = file_leaves(&leaves, json_object_get(doc, "entries"));
	if (!error)
		error = parse_sigs(&cps, &ncp, json_object_get(doc, "checkpoints"));
	if (!error)
		error = parse_sigs(&rcs, &nrc, json_object_get(doc, "receipts"));
	if (!error)
		error = seal_list_from_json(&seals, &nseals, json_object_get(doc, "seals"));
	if (!error) {
		in.origin = o;
		in.seals = seals;
		in.nseals = nseals;
		in.leaves = (const uint8_t *)leaves.ptr;
		in.n = leaves.len / MERKLE_HASH_LEN;
		in.checkpoints = cps;
		in.ncheckpoints = ncp;
		in.receipts = rcs;
		in.nreceipts = nrc;
		in.ca = ca;
		in.calen = calen;
		error = trail_verify(root_out, &in);
	}
	/* An export holds only signed entries: any past the newest checkpoint were added later. */
	if (!error && in.n > (ncp ? cps[ncp - 1].size : 0))
		error = err_set(ERR_CORRUPT,
			"audit entries from %llu on (%llu of them) are covered by no signed checkpoint of "
			"%s: they were added to the file after it was signed",
			(unsigned long long)(ncp ? cps[ncp - 1].size : 0),
			(unsigned long long)(in.n - (ncp ? cps[ncp - 1].size : 0)), o);
	if (!error && expect)
		error = trail_check_expect(proof, &in, root_out, expect);
	if (!error) {
		*size_out = in.n;
		snprintf(origin, origin_size, "%s", o);
	}
	free_sigs(cps, ncp);
	free_sigs(rcs, nrc);
	seal_free_list(seals, nseals);
	buf_release(&leaves);
	json_decref(doc);
	return error;
}

/* ---- a node's own log -------------------------------------------------------------------- */

struct own_ctx {
	struct buf *leaves;
	uint64_t next;
};

static int own_entry(void *ctx, const struct audit_record *r)
{
	struct own_ctx *c = ctx;
	uint8_t leaf[MERKLE_HASH_LEN];
	int error;

	if (r->seq != c->next)
		return err_set(ERR_CORRUPT, "audit entry %llu is missing (found %llu next)",
			(unsigned long long)c->next, (unsigned long long)r->seq);
	/* a blanked leaf would read as "nothing stored to compare with" */
	if (!r->leaf)
		return err_set(ERR_CORRUPT, "audit entry %llu has lost its stored leaf hash",
			(unsigned long long)r->seq);
	error = trail_check_entry(leaf, r->entry, r->entry_len, r->seq, r->leaf);
	if (!error)
		error = buf_put(c->leaves, leaf, MERKLE_HASH_LEN);
	c->next++;
	return error;
}

int trail_load_statements(struct trail_sig **out, size_t *count, struct store *s,
	const char *sql, const char *param, const uint8_t *cert, size_t certlen)
{
	sqlite3_stmt *st = NULL;
	struct trail_sig *list = NULL;
	size_t n = 0, cap = 0;
	int rc, error = store_prepare(&st, s, sql);

	if (!error && param)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);

	while (!error && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct trail_sig *t;
		size_t siglen = (size_t)sqlite3_column_bytes(st, 3);
		size_t cl = cert ? certlen : (size_t)sqlite3_column_bytes(st, 4);
		uint8_t *mem;

		error = ARRAY_GROW(&list, &cap, n + 1, ARRAY_NOMAX);
		if (error)
			break;
		t = &list[n];
		memset(t, 0, sizeof(*t));
		mem = malloc(siglen + cl + HLC_TIME_MAX + 1);
		if (!mem || sqlite3_column_bytes(st, 1) != MERKLE_HASH_LEN) {
			free(mem);
			error = mem ? err_set(ERR_CORRUPT, "a stored checkpoint is malformed")
				    : err_set(ERR_NOMEM, "out of memory");
			break;
		}
		t->size = (uint64_t)sqlite3_column_int64(st, 0);
		memcpy(t->root, sqlite3_column_blob(st, 1), MERKLE_HASH_LEN);
		snprintf((char *)mem, HLC_TIME_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 2));
		t->time = (const char *)mem;
		memcpy(mem + HLC_TIME_MAX + 1, sqlite3_column_blob(st, 3), siglen);
		t->sig = mem + HLC_TIME_MAX + 1;
		t->siglen = siglen;
		memcpy(mem + HLC_TIME_MAX + 1 + siglen, cert ? cert : sqlite3_column_blob(st, 4), cl);
		t->cert = mem + HLC_TIME_MAX + 1 + siglen;
		t->certlen = cl;
		n++;
	}
	if (!error && rc != SQLITE_DONE)
		error = store_error(s, "cannot read checkpoints");
	sqlite3_finalize(st);
	*out = list;
	*count = n;
	return error;
}

void trail_statements_free(struct trail_sig *list, size_t n)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		free((void *)list[i].time); /* one block per statement */
	free(list);
}

int trail_verify_node(struct trail_report *out, struct store *s, const char *origin,
	const uint8_t *signer, size_t signerlen, const uint8_t *ca, size_t calen,
	const struct trail_expect *expect, struct buf *proof)
{
	struct buf leaves = BUF_INIT((size_t)1 << 36);
	struct own_ctx c = {&leaves, 0};
	struct trail_input in;
	struct trail_sig *cps = NULL, *rcs = NULL;
	struct seal *seals = NULL;
	size_t ncp = 0, nrc = 0, nseals = 0;
	int error;

	memset(&in, 0, sizeof(in));
	/* one snapshot for every read: a seal made meanwhile (the service seals off the request's
	 * path) would otherwise pair the old chain with the new sealing key */
	error = store_exec(s, "SAVEPOINT trail_verify_node");
	if (error)
		return error;
	error = audit_foreach(s, NULL, NULL, own_entry, &c);
	if (!error)
		error = seal_load(&seals, &nseals, s,
			"SELECT idx, size, root, time, next_key, signature, cert FROM audit_seals"
			" ORDER BY idx",
			"");
	if (!error)
		error = trail_load_statements(&cps, &ncp, s,
			"SELECT size, root, time, signature FROM audit_checkpoints ORDER BY size", NULL,
			signer, signerlen);
	if (!error)
		error = trail_load_statements(&rcs, &nrc, s,
			"SELECT size, root, time, signature, server_cert FROM audit_receipts ORDER BY size",
			NULL, NULL, 0);
	if (!error && (ncp || nrc) && !ca)
		error = err_set(ERR_NOTFOUND, "no CA certificate to check the signatures with");
	if (!error && ncp && !signer)
		error = err_set(ERR_NOTFOUND, "no certificate of this node to check its checkpoints");
	if (!error && nseals && !ca)
		error = err_set(ERR_NOTFOUND, "no CA certificate to check the seals with");
	in.origin = origin;
	in.seals = seals;
	in.nseals = nseals;
	in.leaves = (const uint8_t *)leaves.ptr;
	in.n = c.next;
	in.checkpoints = cps;
	in.ncheckpoints = ncp;
	in.receipts = rcs;
	in.nreceipts = nrc;
	in.ca = ca;
	in.calen = calen;
	if (!error)
		error = trail_verify(out->root, &in);
	if (!error)
		error = seal_check_own_key(s, nseals ? &seals[nseals - 1] : NULL);
	if (!error && expect)
		error = trail_check_expect(proof, &in, out->root, expect);
	if (!error) {
		out->size = c.next;
		out->seals = nseals;
		out->sealed = nseals ? seals[nseals - 1].size : 0;
		out->checkpoints = ncp;
		out->receipts = nrc;
		out->countersigned = nrc ? rcs[nrc - 1].size : 0;
	}
	if (store_exec(s, "RELEASE trail_verify_node") && !error)
		error = err_code();
	trail_statements_free(cps, ncp);
	trail_statements_free(rcs, nrc);
	seal_free_list(seals, nseals);
	buf_release(&leaves);
	return error;
}
