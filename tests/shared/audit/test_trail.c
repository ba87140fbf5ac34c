/*
 * tests/shared/audit/test_trail.c - verifying audit trails (trail.c) and their signed statements
 * (checkpoint.c).
 *
 * The prefix heads the verifier computes in one pass are checked against merkle_root() for
 * every size up to 300.  Statements are signed for real, with a CA, device and server
 * certificates made by pki.h, so every refusal below is the verifier's own.  Each way of
 * tampering with a trail has its own test, which checks the code and the reason, and shows
 * what catches it: the entry check (sequence and stored leaf) or the signed tree heads (when
 * the attacker renumbers and rehashes to get past the first).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "base/crypto.h"
#include "audit/merkle.h"
#include "pki/pki.h"
#include "store/store.h"
#include "audit/trail.h"

#define H MERKLE_HASH_LEN
#define DEV_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ORIGIN_A "ELP/" DEV_A
#define ORIGIN_B "ELP/" DEV_B
#define STAMP "2026-03-01T12:00:00.000Z"
#define MAX_PREFIX 300

/* A key and its certificate (DER). */
struct signer {
	struct buf key, cert;
};

/* The PKI every test shares: made once, it is the slow part. */
static struct {
	struct buf ca_key, ca_cert;
	struct signer dev_a, dev_b, server;
	struct signer foreign; /* device A's identity, issued by another CA */
} P;

static const uint8_t *u8(const struct buf *b)
{
	return (const uint8_t *)b->ptr;
}

static void signer_init(struct signer *s)
{
	buf_init(&s->key, PKI_DER_MAX);
	buf_init(&s->cert, PKI_DER_MAX);
}

static void signer_release(struct signer *s)
{
	buf_wipe_release(&s->key);
	buf_release(&s->cert);
}

static void issue_device(struct signer *out, const struct buf *ca_key, const struct buf *ca_cert,
        const char *device, const struct pki_validity *v)
{
	struct buf csr = BUF_INIT(PKI_DER_MAX);
	uint8_t serial[PKI_SERIAL_LEN];

	TU_OK(crypto_ec_keygen(&out->key));
	TU_OK(pki_csr_create(&csr, u8(&out->key), out->key.len, device));
	TU_OK(pki_issue_device(&out->cert, serial, u8(ca_key), ca_key->len, u8(ca_cert),
	        ca_cert->len, u8(&csr), csr.len, "ELP", device, v));
	buf_release(&csr);
}

static int group_setup(void **state)
{
	static const char *const dns[] = {"hq.example.org", NULL};
	struct buf other_key = BUF_INIT(PKI_DER_MAX), other_cert = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v;

	(void)state;
	pki_validity_days(&v, (int64_t)time(NULL), 30);
	buf_init(&P.ca_key, PKI_DER_MAX);
	buf_init(&P.ca_cert, PKI_DER_MAX);
	signer_init(&P.dev_a);
	signer_init(&P.dev_b);
	signer_init(&P.server);
	signer_init(&P.foreign);
	TU_OK(pki_ca_create(&P.ca_key, &P.ca_cert, "Test Org", &v));
	issue_device(&P.dev_a, &P.ca_key, &P.ca_cert, DEV_A, &v);
	issue_device(&P.dev_b, &P.ca_key, &P.ca_cert, DEV_B, &v);
	TU_OK(pki_server_cert(&P.server.key, &P.server.cert, u8(&P.ca_key), P.ca_key.len,
	        u8(&P.ca_cert), P.ca_cert.len, dns, NULL, &v));
	TU_OK(pki_ca_create(&other_key, &other_cert, "Test Org", &v));
	issue_device(&P.foreign, &other_key, &other_cert, DEV_A, &v);
	buf_wipe_release(&other_key);
	buf_release(&other_cert);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	buf_wipe_release(&P.ca_key);
	buf_release(&P.ca_cert);
	signer_release(&P.dev_a);
	signer_release(&P.dev_b);
	signer_release(&P.server);
	signer_release(&P.foreign);
	return 0;
}

/* A signed statement; `mem` (CHECKPOINT_SIG_MAX bytes) holds the signature. */
static void make_sig(struct trail_sig *out, uint8_t *mem, const char *kind, const char *origin,
        uint64_t size, const uint8_t root[H], const struct signer *by)
{
	struct buf msg = BUF_INIT(CHECKPOINT_MSG_MAX), sig = BUF_INIT(CHECKPOINT_SIG_MAX);

	TU_OK(checkpoint_message(&msg, kind, origin, size, root, STAMP));
	TU_OK(checkpoint_sign(&sig, u8(&by->key), by->key.len, &msg));
	memcpy(mem, sig.ptr, sig.len);
	memset(out, 0, sizeof(*out));
	out->size = size;
	memcpy(out->root, root, H);
	out->time = STAMP;
	out->sig = mem;
	out->siglen = sig.len;
	out->cert = u8(&by->cert);
	out->certlen = by->cert.len;
	buf_release(&msg);
	buf_release(&sig);
}

static void assert_error(int got, int code, const char *fragment)
{
	if (got != code)
		fail_msg("expected code %d, got %d (%s)", code, got, got ? err_msg() : "success");
	if (!strstr(err_msg(), fragment))
		fail_msg("'%s' is not in the message '%s'", fragment, err_msg());
}

/* ---- prefix heads ------------------------------------------------------------------------- */

static void test_prefix_heads(void **state)
{
	static uint8_t cpmem[MAX_PREFIX + 1][CHECKPOINT_SIG_MAX];
	static uint8_t rcmem[MAX_PREFIX + 1][CHECKPOINT_SIG_MAX];
	uint8_t *leaves = malloc(MAX_PREFIX * H), head[H], root[H];
	struct trail_sig *cps = calloc(MAX_PREFIX + 1, sizeof(*cps));
	struct trail_sig *rcs = calloc(MAX_PREFIX + 1, sizeof(*rcs));
	struct trail_input in;
	uint64_t i, n;

	(void)state;
	assert_non_null(leaves);
	assert_non_null(cps);
	assert_non_null(rcs);
	for (i = 0; i < MAX_PREFIX; i++)
		merkle_leaf_hash(leaves + i * H, &i, sizeof(i));
	/* one checkpoint and one receipt at every size, each over the head merkle_root() gives */
	for (i = 0; i <= MAX_PREFIX; i++) {
		TU_OK(merkle_root(head, leaves, i));
		make_sig(&cps[i], cpmem[i], "checkpoint", ORIGIN_A, i, head, &P.dev_a);
		make_sig(&rcs[i], rcmem[i], "receipt", ORIGIN_A, i, head, &P.server);
	}

	memset(&in, 0, sizeof(in));
	in.origin = ORIGIN_A;
	in.leaves = leaves;
	in.ca = u8(&P.ca_cert);
	in.calen = P.ca_cert.len;
	for (n = 0; n <= MAX_PREFIX; n++) {
		/* no statements: the head of all n */
		in.n = n;
		in.ncheckpoints = in.nreceipts = 0;
		memset(root, 0, H);
		TU_OK(trail_verify(root, &in));
		TU_OK(merkle_root(head, leaves, n));
		assert_memory_equal(root, head, H);
		/* a checkpoint over all n and a receipt over half of it */
		in.checkpoints = &cps[n];
		in.ncheckpoints = 1;
		in.receipts = &rcs[n / 2];
		in.nreceipts = 1;
		TU_OK(trail_verify(root, &in));
		assert_memory_equal(root, head, H);
	}

	/* statements at every size of the longest trail: every prefix head is checked */
	in.n = MAX_PREFIX;
	in.checkpoints = cps;
	in.ncheckpoints = MAX_PREFIX + 1;
	in.receipts = rcs;
	in.nreceipts = MAX_PREFIX + 1;
	TU_OK(trail_verify(root, &in));

	/* and a head that is off at one size is named */
	cps[150].root[0] ^= 1;
	assert_error(
	        trail_verify(root, &in), ERR_CORRUPT, "checkpoint of " ORIGIN_A " at size 150");
	cps[150].root[0] ^= 1;
	rcs[299].root[31] ^= 0x80;
	assert_error(trail_verify(root, &in), ERR_CORRUPT, "receipt of " ORIGIN_A " at size 299");
	free(leaves);
	free(cps);
	free(rcs);
}

/* ---- checkpoint messages and signatures ----------------------------------------------------- */

static void test_checkpoint_sign_verify(void **state)
{
	struct buf msg = BUF_INIT(CHECKPOINT_MSG_MAX), other = BUF_INIT(CHECKPOINT_MSG_MAX);
	struct buf sig = BUF_INIT(CHECKPOINT_SIG_MAX), fsig = BUF_INIT(CHECKPOINT_SIG_MAX);
	uint8_t root[H], root2[H];
	char expect[256], hex[2 * H + 1];

	(void)state;
	crypto_sha256(root, "abc", 3);
	crypto_sha256(root2, "abd", 3);
	TU_OK(checkpoint_message(&msg, "checkpoint", ORIGIN_A, 42, root, STAMP));
	crypto_hex(hex, root, H);
	snprintf(expect, sizeof(expect), "fieldsync-checkpoint v1\n%s\n42\n%s\n%s\n", ORIGIN_A, hex,
	        STAMP);
	assert_string_equal(buf_cstr(&msg), expect);

	TU_OK(checkpoint_sign(&sig, u8(&P.dev_a.key), P.dev_a.key.len, &msg));
	assert_true(sig.len > 0 && sig.len <= CHECKPOINT_SIG_MAX);
	TU_OK(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.ca_cert), P.ca_cert.len,
	        &msg, u8(&sig), sig.len));

	/* the same signature over another size, another root, another origin or kind */
	TU_OK(checkpoint_message(&other, "checkpoint", ORIGIN_A, 43, root, STAMP));
	assert_error(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.ca_cert),
	                     P.ca_cert.len, &other, u8(&sig), sig.len),
	        ERR_AUTH, "signature does not match");
	buf_reset(&other);
	TU_OK(checkpoint_message(&other, "checkpoint", ORIGIN_A, 42, root2, STAMP));
	assert_error(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.ca_cert),
	                     P.ca_cert.len, &other, u8(&sig), sig.len),
	        ERR_AUTH, "signature does not match");
	buf_reset(&other);
	TU_OK(checkpoint_message(&other, "checkpoint", ORIGIN_B, 42, root, STAMP));
	assert_error(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.ca_cert),
	                     P.ca_cert.len, &other, u8(&sig), sig.len),
	        ERR_AUTH, "signature does not match");
	buf_reset(&other);
	TU_OK(checkpoint_message(&other, "receipt", ORIGIN_A, 42, root, STAMP));
	assert_error(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.ca_cert),
	                     P.ca_cert.len, &other, u8(&sig), sig.len),
	        ERR_AUTH, "signature does not match");

	/* another key behind the same certificate */
	TU_OK(checkpoint_sign(&fsig, u8(&P.dev_b.key), P.dev_b.key.len, &msg));
	assert_error(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.ca_cert),
	                     P.ca_cert.len, &msg, u8(&fsig), fsig.len),
	        ERR_AUTH, "signature does not match");

	/* a certificate of another CA, even with its own key's valid signature */
	buf_reset(&fsig);
	TU_OK(checkpoint_sign(&fsig, u8(&P.foreign.key), P.foreign.key.len, &msg));
	assert_error(checkpoint_verify(u8(&P.foreign.cert), P.foreign.cert.len, u8(&P.ca_cert),
	                     P.ca_cert.len, &msg, u8(&fsig), fsig.len),
	        ERR_AUTH, "not issued by this CA");
	/* passed chains are remembered (checkpoint.c), refused ones are not, and a pair is the
	 * certificate with its CA: device A's certificate is no CA's issue under another anchor */
	assert_error(checkpoint_verify(u8(&P.foreign.cert), P.foreign.cert.len, u8(&P.ca_cert),
			     P.ca_cert.len, &msg, u8(&fsig), fsig.len),
		ERR_AUTH, "not issued by this CA");
	assert_error(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.foreign.cert),
			     P.foreign.cert.len, &msg, u8(&sig), sig.len),
		ERR_AUTH, "not issued by this CA");
	TU_OK(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.ca_cert), P.ca_cert.len,
		&msg, u8(&sig), sig.len));

	/* garbage in place of a certificate; a truncated signature */
	assert_error(checkpoint_verify(u8(&sig), sig.len, u8(&P.ca_cert), P.ca_cert.len, &msg,
	                     u8(&sig), sig.len),
	        ERR_INVALID, "does not parse");
	assert_error(checkpoint_verify(u8(&P.dev_a.cert), P.dev_a.cert.len, u8(&P.ca_cert),
	                     P.ca_cert.len, &msg, u8(&sig), sig.len - 1),
	        ERR_AUTH, "signature does not match");

	/* a line break would let one field pose as the next */
	buf_reset(&other);
	assert_error(checkpoint_message(&other, "checkpoint", "ELP/x\n42", 1, root, STAMP),
	        ERR_INVALID, "line break");
	buf_release(&msg);
	buf_release(&other);
	buf_release(&sig);
	buf_release(&fsig);
}

/* ---- a trail in memory, and the ways it is tampered with ----------------------------------- */

#define N_ENTRIES 20
#define N_SIGNED 3
static const uint64_t signed_at[N_SIGNED] = {5, 12, 20};

struct trail {
	struct buf entry[N_ENTRIES + 2];
	size_t n;
	uint8_t leaves[(N_ENTRIES + 2) * H];
	struct trail_sig cps[N_SIGNED + 1], rcs[N_SIGNED + 1];
	uint8_t cpmem[N_SIGNED + 1][CHECKPOINT_SIG_MAX], rcmem[N_SIGNED + 1][CHECKPOINT_SIG_MAX];
	struct trail_input in;
};

static void encode(struct buf *out, uint64_t seq, const char *user, const char *action)
{
	static const struct audit_origin origin = {DEV_A, "ELP"};
	struct audit_event ev = {user, action, "ELP-26-7KQ4M2X", "success", NULL, 0, NULL, 0, 0};
	char when[32];

	buf_reset(out);
	snprintf(when, sizeof(when), "2026-03-01T12:00:%02u.000Z", (unsigned)(seq % 60));
	TU_OK(audit_encode(out, seq, when, &origin, &ev));
}

/* Leaf hashes of the entries as they stand, with no entry check (as an attacker would have it). */
static void rehash(struct trail *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		merkle_leaf_hash(t->leaves + i * H, t->entry[i].ptr, t->entry[i].len);
	t->in.n = t->n;
}

/* The first entry the entry check refuses, or -1; its stored leaf is `stored` (may be NULL). */
static long first_bad_entry(const struct trail *t, const uint8_t *stored)
{
	uint8_t leaf[H];
	size_t i;

	for (i = 0; i < t->n; i++)
		if (trail_check_entry(leaf, (const uint8_t *)t->entry[i].ptr, t->entry[i].len, i,
		            stored ? stored + i * H : NULL))
			return (long)i;
	return -1;
}

static int trail_setup(void **state)
{
	struct trail *t = calloc(1, sizeof(*t));
	uint8_t head[H];
	size_t i;

	assert_non_null(t);
	for (i = 0; i < N_ENTRIES + 2; i++)
		buf_init(&t->entry[i], AUDIT_ENTRY_MAX);
	t->n = N_ENTRIES;
	for (i = 0; i < N_ENTRIES; i++) {
		uint8_t leaf[H];

		encode(&t->entry[i], i, i % 3 ? "alice" : "bob",
		        i % 2 ? "case.view" : "case.update");
		TU_OK(trail_check_entry(
		        leaf, (const uint8_t *)t->entry[i].ptr, t->entry[i].len, i, NULL));
		memcpy(t->leaves + i * H, leaf, H);
	}
	for (i = 0; i < N_SIGNED; i++) {
		TU_OK(merkle_root(head, t->leaves, signed_at[i]));
		make_sig(&t->cps[i], t->cpmem[i], "checkpoint", ORIGIN_A, signed_at[i], head,
		        &P.dev_a);
		make_sig(&t->rcs[i], t->rcmem[i], "receipt", ORIGIN_A, signed_at[i], head,
		        &P.server);
	}
	t->in.origin = ORIGIN_A;
	t->in.leaves = t->leaves;
	t->in.n = t->n;
	t->in.checkpoints = t->cps;
	t->in.ncheckpoints = N_SIGNED;
	t->in.receipts = t->rcs;
	t->in.nreceipts = N_SIGNED;
	t->in.ca = u8(&P.ca_cert);
	t->in.calen = P.ca_cert.len;
	*state = t;
	return 0;
}

static int trail_teardown(void **state)
{
	struct trail *t = *state;
	size_t i;

	for (i = 0; i < N_ENTRIES + 2; i++)
		buf_release(&t->entry[i]);
	free(t);
	return 0;
}

static void test_intact_trail(void **state)
{
	struct trail *t = *state;
	uint8_t root[H], head[H];

	TU_OK(trail_verify(root, &t->in));
	TU_OK(merkle_root(head, t->leaves, N_ENTRIES));
	assert_memory_equal(root, head, H);
	assert_int_equal(first_bad_entry(t, t->leaves), -1);
	/* entries after the newest statement are not signed yet, and that is not an error */
	t->in.ncheckpoints = t->in.nreceipts = 2;
	TU_OK(trail_verify(root, &t->in));
	assert_memory_equal(root, head, H);
}

static void test_edited_entry(void **state)
{
	struct trail *t = *state;
	uint8_t stored[(N_ENTRIES + 2) * H], leaf[H], root[H];

	memcpy(stored, t->leaves, sizeof(stored));
	encode(&t->entry[7], 7, "mallory", "case.view");
	/* against its stored leaf, the entry names itself */
	assert_error(trail_check_entry(leaf, (const uint8_t *)t->entry[7].ptr, t->entry[7].len, 7,
	                     stored + 7 * H),
	        ERR_CORRUPT, "audit entry 7 does not hash to its stored leaf: it was edited");
	assert_int_equal(first_bad_entry(t, stored), 7);
	/* rehashed, the first signed head above it gives it away */
	rehash(t);
	assert_int_equal(first_bad_entry(t, t->leaves), -1);
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "the checkpoint of " ORIGIN_A
	        " at size 12 names a tree head the entries do not have");
}

static void test_deleted_entry(void **state)
{
	struct trail *t = *state;
	uint8_t root[H];
	size_t i;

	/* entry 7 removed: entry 8 now stands where 7 was */
	for (i = 7; i + 1 < t->n; i++) {
		buf_reset(&t->entry[i]);
		TU_OK(buf_put(&t->entry[i], t->entry[i + 1].ptr, t->entry[i + 1].len));
	}
	t->n--;
	assert_int_equal(first_bad_entry(t, NULL), 7);
	assert_error(
	        trail_check_entry(root, (const uint8_t *)t->entry[7].ptr, t->entry[7].len, 7, NULL),
	        ERR_CORRUPT, "audit entry 7 is not the entry with that sequence number");
	rehash(t);
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT, "at size 12 names a tree head");

	/* renumbered to close the gap: the sequence checks out, the signed heads do not */
	for (i = 7; i < t->n; i++)
		encode(&t->entry[i], i, (i + 1) % 3 ? "alice" : "bob",
		        (i + 1) % 2 ? "case.view" : "case.update");
	rehash(t);
	assert_int_equal(first_bad_entry(t, NULL), -1);
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "the checkpoint of " ORIGIN_A " at size 12 names a tree head");
}

static void test_deleted_last_entry(void **state)
{
	struct trail *t = *state;
	uint8_t root[H];

	t->n--;
	rehash(t);
	assert_int_equal(first_bad_entry(t, NULL), -1);
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "a signed statement of " ORIGIN_A " names more entries than the trail holds (19)");
}

static void test_reordered_entries(void **state)
{
	struct trail *t = *state;
	struct buf tmp = t->entry[3];
	uint8_t root[H];

	t->entry[3] = t->entry[4];
	t->entry[4] = tmp;
	assert_int_equal(first_bad_entry(t, NULL), 3);
	rehash(t);
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "the checkpoint of " ORIGIN_A " at size 5 names a tree head");

	/* the two events swapped and renumbered, so the sequence is dense again */
	encode(&t->entry[3], 3, "alice", "case.update"); /* entry 4's event */
	encode(&t->entry[4], 4, "bob", "case.view");     /* entry 3's event */
	rehash(t);
	assert_int_equal(first_bad_entry(t, NULL), -1);
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT, "at size 5 names a tree head");
}

static void test_inserted_entry(void **state)
{
	struct trail *t = *state;
	uint8_t root[H];
	size_t i;

	for (i = t->n; i > 7; i--) {
		buf_reset(&t->entry[i]);
		TU_OK(buf_put(&t->entry[i], t->entry[i - 1].ptr, t->entry[i - 1].len));
	}
	encode(&t->entry[7], 7, "mallory", "case.view");
	t->n++;
	/* the new entry takes number 7; the old entry 7 now stands at 8 */
	assert_int_equal(first_bad_entry(t, NULL), 8);
	rehash(t);
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "the checkpoint of " ORIGIN_A " at size 12 names a tree head");

	/* an entry appended after the newest statement is not covered by any signature */
	t->n = N_ENTRIES;
	for (i = 7; i < N_ENTRIES; i++)
		encode(&t->entry[i], i, i % 3 ? "alice" : "bob",
		        i % 2 ? "case.view" : "case.update");
	encode(&t->entry[N_ENTRIES], N_ENTRIES, "mallory", "case.view");
	t->n++;
	rehash(t);
	TU_OK(trail_verify(root, &t->in));
}

static void test_forged_checkpoint(void **state)
{
	struct trail *t = *state;
	struct trail_sig saved = t->cps[1];
	uint8_t root[H], mem[CHECKPOINT_SIG_MAX];

	/* signed with another key, presented with the device's certificate */
	make_sig(&t->cps[1], mem, "checkpoint", ORIGIN_A, 12, saved.root, &P.dev_b);
	t->cps[1].cert = saved.cert;
	t->cps[1].certlen = saved.certlen;
	assert_error(trail_verify(root, &t->in), ERR_AUTH,
	        "the checkpoint of " ORIGIN_A " at size 12 does not verify: the signature does not "
	        "match");

	/* a key of another CA, with its certificate */
	make_sig(&t->cps[1], mem, "checkpoint", ORIGIN_A, 12, saved.root, &P.foreign);
	assert_error(trail_verify(root, &t->in), ERR_AUTH,
	        "at size 12 does not verify: the signing certificate was not issued by this CA");

	/* the real signature over a head the entries do not have */
	t->cps[1] = saved;
	t->cps[1].root[5] ^= 0x20;
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "the checkpoint of " ORIGIN_A
	        " at size 12 names a tree head the entries do not have");

	/* the real signature, its size changed to one whose head the forger put in */
	t->cps[1] = saved;
	t->cps[1].size = 13;
	TU_OK(merkle_root(t->cps[1].root, t->leaves, 13));
	assert_error(trail_verify(root, &t->in), ERR_AUTH,
	        "the checkpoint of " ORIGIN_A " at size 13 does not verify");

	/* statements out of order */
	t->cps[1] = t->cps[0];
	t->cps[0] = saved;
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "checkpoints of " ORIGIN_A " are out of order");
}

/* A checkpoint must be signed by the device it speaks for, a receipt by HQ. */
static void test_signer_must_match_origin(void **state)
{
	struct trail *t = *state;
	struct trail_sig saved_cp = t->cps[2], saved_rc = t->rcs[2];
	uint8_t root[H], mem[CHECKPOINT_SIG_MAX];

	/* another device of the same CA signs device A's checkpoint with its own certificate */
	make_sig(&t->cps[2], mem, "checkpoint", ORIGIN_A, 20, saved_cp.root, &P.dev_b);
	assert_error(trail_verify(root, &t->in), ERR_AUTH,
	        "the checkpoint of " ORIGIN_A
	        " at size 20 does not verify: it is signed by " ORIGIN_B
	        ", not by the device of this trail");
	/* HQ's server key is not the device's either */
	make_sig(&t->cps[2], mem, "checkpoint", ORIGIN_A, 20, saved_cp.root, &P.server);
	assert_error(trail_verify(root, &t->in), ERR_AUTH,
	        "the checkpoint of " ORIGIN_A " at size 20 does not verify: it is not signed by a "
	        "device certificate");
	t->cps[2] = saved_cp;

	/* a device cannot countersign, not even its own checkpoint */
	make_sig(&t->rcs[2], mem, "receipt", ORIGIN_A, 20, saved_rc.root, &P.dev_a);
	assert_error(trail_verify(root, &t->in), ERR_AUTH,
	        "the receipt of " ORIGIN_A
	        " at size 20 does not verify: a receipt must be signed by "
	        "HQ's server key");
	make_sig(&t->rcs[2], mem, "receipt", ORIGIN_A, 20, saved_rc.root, &P.dev_b);
	assert_error(trail_verify(root, &t->in), ERR_AUTH, "a receipt must be signed by HQ");

	/* HQ signs the checkpoints of its own log */
	t->rcs[2] = saved_rc;
	make_sig(&t->cps[2], mem, "checkpoint", "HQ/" DEV_B, 20, saved_cp.root, &P.server);
	t->in.origin = "HQ/" DEV_B;
	t->in.ncheckpoints = t->in.nreceipts = 0;
	TU_OK(trail_verify(root, &t->in));
	t->in.checkpoints = &t->cps[2];
	t->in.ncheckpoints = 1;
	TU_OK(trail_verify(root, &t->in));
	t->in.origin = ORIGIN_A;
	t->in.checkpoints = t->cps;
	t->in.ncheckpoints = t->in.nreceipts = N_SIGNED;
	t->cps[2] = saved_cp;
	t->rcs[2] = saved_rc;
	TU_OK(trail_verify(root, &t->in));
}

static void test_replayed_receipt(void **state)
{
	struct trail *t = *state;
	struct trail_sig saved = t->rcs[2], cps_b[N_SIGNED];
	uint8_t root[H], mem[N_SIGNED][CHECKPOINT_SIG_MAX];
	size_t i;

	/* device B's trail with the very same entries and its own checkpoints, but A's receipts */
	for (i = 0; i < N_SIGNED; i++)
		make_sig(&cps_b[i], mem[i], "checkpoint", ORIGIN_B, signed_at[i], t->cps[i].root,
		        &P.dev_b);
	t->in.origin = ORIGIN_B;
	t->in.checkpoints = cps_b;
	t->in.nreceipts = 0;
	TU_OK(trail_verify(root, &t->in));
	t->in.nreceipts = N_SIGNED;
	assert_error(trail_verify(root, &t->in), ERR_AUTH,
	        "the receipt of " ORIGIN_B
	        " at size 5 does not verify: the signature does not match");
	t->in.origin = ORIGIN_A;
	t->in.checkpoints = t->cps;

	/* the receipt for 12 passed off as one for 20, with 20's head */
	t->rcs[2] = t->rcs[1];
	t->rcs[2].size = 20;
	memcpy(t->rcs[2].root, saved.root, H);
	assert_error(trail_verify(root, &t->in), ERR_AUTH,
	        "the receipt of " ORIGIN_A
	        " at size 20 does not verify: the signature does not match");
	/* ... or keeping its own head, which is not 20's */
	t->rcs[2] = t->rcs[1];
	t->rcs[2].size = 20;
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "the receipt of " ORIGIN_A " at size 20 names a tree head");
}

static void test_statement_beyond_trail(void **state)
{
	struct trail *t = *state;
	uint8_t root[H], head[H];

	TU_OK(merkle_root(head, t->leaves, N_ENTRIES));
	make_sig(&t->cps[N_SIGNED], t->cpmem[N_SIGNED], "checkpoint", ORIGIN_A, 25, head, &P.dev_a);
	t->in.ncheckpoints = N_SIGNED + 1;
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT,
	        "a signed statement of " ORIGIN_A " names more entries than the trail holds (20)");
	t->in.ncheckpoints = N_SIGNED;
	make_sig(&t->rcs[N_SIGNED], t->rcmem[N_SIGNED], "receipt", ORIGIN_A, 21, head, &P.server);
	t->in.nreceipts = N_SIGNED + 1;
	assert_error(trail_verify(root, &t->in), ERR_CORRUPT, "names more entries than the trail");
}

/* ---- the head an auditor holds (audit verify --expect-*) -------------------------------- */

static void test_expect_head(void **state)
{
	struct trail *t = *state;
	struct buf proof = BUF_INIT((MERKLE_MAX_PROOF + 1) * H);
	struct trail_expect e;
	struct trail_head h, none;
	uint8_t root[H], root5[H];
	json_t *doc;
	char *text;

	TU_OK(trail_verify(root, &t->in));
	/* a bare size and head of a prefix: shown by a proof anyone can check again */
	memset(&e, 0, sizeof(e));
	e.size = 12;
	memcpy(e.root, t->rcs[1].root, H);
	TU_OK(trail_check_expect(&proof, &t->in, root, &e));
	assert_true(proof.len > 0 && proof.len % H == 0);
	TU_OK(merkle_verify_consistency(12, N_ENTRIES, e.root, root, u8(&proof), proof.len));
	e.root[0] ^= 1;
	assert_error(trail_check_expect(NULL, &t->in, root, &e), ERR_CORRUPT, "diverges");
	e.size = 0;
	assert_error(trail_check_expect(NULL, &t->in, root, &e), ERR_INVALID, "at least one");

	/* the receipt at 12 as the document `audit head` prints, read back */
	doc = trail_head_json("receipt", ORIGIN_A, &t->rcs[1]);
	assert_non_null(doc);
	text = json_dumps(doc, 0);
	json_decref(doc);
	assert_non_null(text);
	TU_OK(trail_head_parse(&h, text, strlen(text)));
	free(text);
	trail_head_expect(&e, &h);
	assert_int_equal(e.size, 12);
	TU_OK(trail_check_expect(NULL, &t->in, root, &e));
	/* the trail cut back to the checkpoint at 5 fails it, naming both sizes */
	TU_OK(merkle_root(root5, t->leaves, 5));
	t->in.n = 5;
	assert_error(trail_check_expect(NULL, &t->in, root5, &e), ERR_CORRUPT, "it has 5 entries");
	assert_error(trail_check_expect(NULL, &t->in, root5, &e), ERR_CORRUPT,
		"the expected head names 12");
	t->in.n = N_ENTRIES;
	/* a receipt for another trail, or one whose head was changed */
	t->in.origin = ORIGIN_B;
	assert_error(trail_check_expect(NULL, &t->in, root, &e), ERR_AUTH, "not of this trail");
	t->in.origin = ORIGIN_A;
	h.sig.root[0] ^= 1;
	trail_head_expect(&e, &h);
	assert_error(trail_check_expect(NULL, &t->in, root, &e), ERR_AUTH, "does not verify");
	trail_head_release(&h);
	assert_error(trail_head_parse(&none, "{}", 2), ERR_INVALID, "not a fieldsync signed head");
	trail_head_release(&none);
	buf_release(&proof);
}

/* ---- export files ------------------------------------------------------------------------- */

static char *export_text(const struct trail *t, size_t ncp, size_t nrc)
{
	json_t *entries = json_array(), *cps = json_array(), *rcs = json_array(), *doc;
	char *text;
	size_t i;

	for (i = 0; i < t->n; i++)
		json_array_append_new(entries, json_stringn(t->entry[i].ptr, t->entry[i].len));
	for (i = 0; i < ncp; i++)
		json_array_append_new(cps, trail_sig_json(&t->cps[i]));
	for (i = 0; i < nrc; i++)
		json_array_append_new(rcs, trail_sig_json(&t->rcs[i]));
	doc = json_pack("{s:s, s:s, s:o, s:o, s:o}", "format", "fieldsync-audit-1", "origin",
	        t->in.origin, "entries", entries, "checkpoints", cps, "receipts", rcs);
	assert_non_null(doc);
	text = json_dumps(doc, JSON_INDENT(1));
	assert_non_null(text);
	json_decref(doc);
	return text;
}

static void test_export_file(void **state)
{
	struct trail *t = *state;
	uint8_t root[H], head[H];
	char origin[128] = "", *text;
	uint64_t size = 0;

	text = export_text(t, N_SIGNED, N_SIGNED);
	TU_OK(trail_verify_file(&size, root, origin, sizeof(origin), text, strlen(text),
		u8(&P.ca_cert), P.ca_cert.len, NULL, NULL));
	TU_OK(merkle_root(head, t->leaves, N_ENTRIES));
	assert_int_equal(size, N_ENTRIES);
	assert_memory_equal(root, head, H);
	assert_string_equal(origin, ORIGIN_A);
	/* with only the CA of another organisation */
	assert_error(trail_verify_file(&size, root, origin, sizeof(origin), text, strlen(text),
			     u8(&P.foreign.cert), P.foreign.cert.len, NULL, NULL),
		ERR_AUTH, "does not verify");
	free(text);

	/* entries past the newest signed statement are not vouched for by anyone */
	encode(&t->entry[N_ENTRIES], N_ENTRIES, "mallory", "case.view");
	t->n++;
	text = export_text(t, N_SIGNED, N_SIGNED);
	assert_error(trail_verify_file(&size, root, origin, sizeof(origin), text, strlen(text),
			     u8(&P.ca_cert), P.ca_cert.len, NULL, NULL),
		ERR_CORRUPT,
		"audit entries from 20 on (1 of them) are covered by no signed checkpoint");
	free(text);

	/* not an export at all */
	assert_error(trail_verify_file(&size, root, origin, sizeof(origin), "{}", 2, u8(&P.ca_cert),
			     P.ca_cert.len, NULL, NULL),
		ERR_INVALID, "not a fieldsync audit export");
}

/* ---- a node's own log in its database ------------------------------------------------------- */

#define DB_ENTRIES 10

struct db {
	char *dir;
	struct store *s;
};

static void put_statement(
        struct store *s, const char *sql, const struct trail_sig *t, const struct buf *cert)
{
	sqlite3_stmt *st = NULL;

	TU_OK(store_prepare(&st, s, sql));
	sqlite3_bind_int64(st, 1, (sqlite3_int64)t->size);
	sqlite3_bind_blob(st, 2, t->root, H, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->time, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, t->sig, (int)t->siglen, SQLITE_STATIC);
	if (cert)
		sqlite3_bind_blob(st, 5, cert->ptr, (int)cert->len, SQLITE_STATIC);
	TU_OK(store_step_done(s, st));
	sqlite3_finalize(st);
}

/* A store with DB_ENTRIES events, a checkpoint of them and HQ's receipt. */
static int db_setup(void **state)
{
	static const struct audit_origin origin = {DEV_A, "ELP"};
	struct db *d = calloc(1, sizeof(*d));
	struct buf leaves = BUF_INIT(1 << 20);
	struct trail_sig cp, rc;
	uint8_t root[H], cpmem[CHECKPOINT_SIG_MAX], rcmem[CHECKPOINT_SIG_MAX];
	uint64_t n = 0, i;

	assert_non_null(d);
	d->s = tu_store_new(&d->dir);
	for (i = 0; i < DB_ENTRIES; i++) {
		struct audit_event ev = {"alice", i % 2 ? "case.view" : "logon", "ELP-26-7KQ4M2X",
			"success", NULL, 1772366400000LL + (int64_t)i * 1000, NULL, 0, 0};

		TU_OK(audit_append(NULL, d->s, &origin, &ev));
	}
	TU_OK(checkpoint_own_leaves(&leaves, &n, d->s));
	assert_int_equal(n, DB_ENTRIES);
	TU_OK(merkle_root(root, u8(&leaves), n));
	make_sig(&cp, cpmem, "checkpoint", ORIGIN_A, n, root, &P.dev_a);
	make_sig(&rc, rcmem, "receipt", ORIGIN_A, n, root, &P.server);
	put_statement(d->s,
	        "INSERT INTO audit_checkpoints(size, root, time, signature)"
	        " VALUES (?, ?, ?, ?)",
	        &cp, NULL);
	put_statement(d->s,
	        "INSERT INTO audit_receipts(size, root, time, signature, server_cert)"
	        " VALUES (?, ?, ?, ?, ?)",
	        &rc, &P.server.cert);
	buf_release(&leaves);
	*state = d;
	return 0;
}

static int db_teardown(void **state)
{
	struct db *d = *state;

	tu_store_done(d->s, d->dir);
	free(d);
	return 0;
}

static int verify_node(struct trail_report *r, struct db *d)
{
	return trail_verify_node(r, d->s, ORIGIN_A, u8(&P.dev_a.cert), P.dev_a.cert.len,
		u8(&P.ca_cert), P.ca_cert.len, NULL, NULL);
}

static void test_node_intact(void **state)
{
	struct db *d = *state;
	struct trail_report r;
	uint64_t count = 0;

	memset(&r, 0, sizeof(r));
	TU_OK(verify_node(&r, d));
	assert_int_equal(r.size, DB_ENTRIES);
	assert_int_equal(r.checkpoints, 1);
	assert_int_equal(r.receipts, 1);
	assert_int_equal(r.countersigned, DB_ENTRIES);
	TU_OK(audit_check(&count, d->s));
	assert_int_equal(count, DB_ENTRIES);
	/* the triggers stand in the way of the edits below */
	assert_int_equal(
	        store_exec(d->s, "UPDATE audit_log SET user = 'x' WHERE seq = 4"), ERR_READONLY);
	assert_int_equal(store_exec(d->s, "DELETE FROM audit_log WHERE seq = 4"), ERR_READONLY);
	/* without a CA the signed statements cannot be checked */
	assert_error(trail_verify_node(&r, d->s, ORIGIN_A, u8(&P.dev_a.cert), P.dev_a.cert.len,
			     NULL, 0, NULL, NULL),
		ERR_NOTFOUND, "no CA certificate");
}

static void test_node_updated_row(void **state)
{
	struct db *d = *state;
	struct trail_report r;
	uint64_t count = 0;

	TU_OK(store_exec(d->s, "DROP TRIGGER audit_log_no_update"));
	TU_OK(store_exec(d->s, "UPDATE audit_log SET entry = CAST(replace(CAST(entry AS TEXT),"
	                       " 'alice', 'bob') AS BLOB), user = 'bob' WHERE seq = 4"));
	assert_error(verify_node(&r, d), ERR_CORRUPT,
	        "audit entry 4 does not hash to its stored leaf: it was edited");
	assert_error(audit_check(&count, d->s), ERR_CORRUPT, "audit entry 4 does not match");
}

static void test_node_updated_row_and_leaf(void **state)
{
	struct db *d = *state;
	struct trail_report r;
	sqlite3_stmt *st = NULL;
	uint64_t count = 0;
	uint8_t leaf[H];
	const char *edited;

	TU_OK(store_exec(d->s, "DROP TRIGGER audit_log_no_update"));
	TU_OK(store_exec(d->s, "UPDATE audit_log SET entry = CAST(replace(CAST(entry AS TEXT),"
	                       " 'alice', 'bob') AS BLOB), user = 'bob' WHERE seq = 4"));
	TU_OK(store_prepare(&st, d->s, "SELECT entry FROM audit_log WHERE seq = 4"));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	edited = sqlite3_column_blob(st, 0);
	assert_non_null(strstr(edited, "\"user\":\"bob\""));
	merkle_leaf_hash(leaf, edited, (size_t)sqlite3_column_bytes(st, 0));
	sqlite3_finalize(st);
	TU_OK(store_prepare(&st, d->s, "UPDATE audit_log SET leaf = ? WHERE seq = 4"));
	sqlite3_bind_blob(st, 1, leaf, H, SQLITE_STATIC);
	TU_OK(store_step_done(d->s, st));
	sqlite3_finalize(st);
	/* every row is self-consistent now: only the signed checkpoint knows */
	TU_OK(audit_check(&count, d->s));
	assert_error(verify_node(&r, d), ERR_CORRUPT,
	        "the checkpoint of " ORIGIN_A
	        " at size 10 names a tree head the entries do not have");
}

static void test_node_blanked_leaf(void **state)
{
	struct db *d = *state;
	struct trail_report r;
	uint64_t count = 0;

	TU_OK(store_exec(d->s, "DROP TRIGGER audit_log_no_update"));
	TU_OK(store_exec(d->s, "UPDATE audit_log SET leaf = X'' WHERE seq = 6"));
	assert_error(
	        verify_node(&r, d), ERR_CORRUPT, "audit entry 6 has lost its stored leaf hash");
	assert_error(audit_check(&count, d->s), ERR_CORRUPT, "audit entry 6 does not match");
}

static void test_node_deleted_row(void **state)
{
	struct db *d = *state;
	struct trail_report r;
	uint64_t count = 0;

	TU_OK(store_exec(d->s, "DROP TRIGGER audit_log_no_delete"));
	TU_OK(store_exec(d->s, "DELETE FROM audit_log WHERE seq = 4"));
	assert_error(verify_node(&r, d), ERR_CORRUPT, "audit entry 4 is missing (found 5 next)");
	assert_error(audit_check(&count, d->s), ERR_CORRUPT, "audit entry 4 is missing");

	/* the last entries gone: the sequence is dense, the checkpoint names more */
	TU_OK(store_exec(d->s, "DELETE FROM audit_log WHERE seq >= 4"));
	TU_OK(audit_check(&count, d->s));
	assert_int_equal(count, 4);
	assert_error(
	        verify_node(&r, d), ERR_CORRUPT, "names more entries than the trail holds (4)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_heads),
		cmocka_unit_test(test_checkpoint_sign_verify),
		cmocka_unit_test_setup_teardown(test_intact_trail, trail_setup, trail_teardown),
		cmocka_unit_test_setup_teardown(test_edited_entry, trail_setup, trail_teardown),
		cmocka_unit_test_setup_teardown(test_deleted_entry, trail_setup, trail_teardown),
		cmocka_unit_test_setup_teardown(test_deleted_last_entry, trail_setup,
			trail_teardown),
		cmocka_unit_test_setup_teardown(test_reordered_entries, trail_setup,
			trail_teardown),
		cmocka_unit_test_setup_teardown(test_inserted_entry, trail_setup, trail_teardown),
		cmocka_unit_test_setup_teardown(test_forged_checkpoint, trail_setup,
			trail_teardown),
		cmocka_unit_test_setup_teardown(test_signer_must_match_origin, trail_setup,
			trail_teardown),
		cmocka_unit_test_setup_teardown(test_replayed_receipt, trail_setup, trail_teardown),
		cmocka_unit_test_setup_teardown(test_statement_beyond_trail, trail_setup,
			trail_teardown),
		cmocka_unit_test_setup_teardown(test_export_file, trail_setup, trail_teardown),
		cmocka_unit_test_setup_teardown(test_expect_head, trail_setup, trail_teardown),
		cmocka_unit_test_setup_teardown(test_node_intact, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_node_updated_row, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_node_updated_row_and_leaf, db_setup,
			db_teardown),
		cmocka_unit_test_setup_teardown(test_node_blanked_leaf, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_node_deleted_row, db_setup, db_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
