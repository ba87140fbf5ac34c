/*
 * tests/shared/audit/test_merkle.c - RFC 6962 tree heads, inclusion and consistency proofs.
 *
 * The module is checked three ways: against published vectors (the Certificate Transparency
 * 8-leaf tree), against a naive recursive transcription of the RFC 6962 definitions written
 * here with plain SHA-256, and by its own RFC 9162 verifiers, which share no code with the
 * generators.  Every rejection test checks the error code and the reason in the message.
 */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/crypto.h"
#include "audit/merkle.h"

#define H MERKLE_HASH_LEN
#define MAX_N 64 /* exhaustive proof tests cover every tree size up to this */
#define PROOF_CAP (MERKLE_MAX_PROOF * H)

/* ---- the reference: RFC 6962 section 2.1 as written, recursion and all ---------------------- */

static void ref_leaf(uint8_t out[H], const void *data, size_t len)
{
	uint8_t tmp[64];

	assert_true(len < sizeof(tmp));
	tmp[0] = 0x00;
	if (len)
		memcpy(tmp + 1, data, len);
	crypto_sha256(out, tmp, len + 1);
}

static void ref_node(uint8_t out[H], const uint8_t *l, const uint8_t *r)
{
	uint8_t tmp[1 + 2 * H];

	tmp[0] = 0x01;
	memcpy(tmp + 1, l, H);
	memcpy(tmp + 1 + H, r, H);
	crypto_sha256(out, tmp, sizeof(tmp));
}

static uint64_t ref_split(uint64_t n)
{
	uint64_t k = 1;

	while (2 * k < n)
		k *= 2;
	return k;
}

static void ref_mth(uint8_t out[H], const uint8_t *d, uint64_t n)
{
	uint8_t l[H], r[H];
	uint64_t k;

	if (n == 0) {
		crypto_sha256(out, "", 0);
	} else if (n == 1) {
		memcpy(out, d, H);
	} else {
		k = ref_split(n);
		ref_mth(l, d, k);
		ref_mth(r, d + k * H, n - k);
		ref_node(out, l, r);
	}
}

static void put_mth(struct buf *out, const uint8_t *d, uint64_t n)
{
	uint8_t h[H];

	ref_mth(h, d, n);
	TU_OK(buf_put(out, h, H));
}

/* PATH(m, D[n]) */
static void ref_path(struct buf *out, uint64_t m, const uint8_t *d, uint64_t n)
{
	uint64_t k;

	if (n <= 1)
		return;
	k = ref_split(n);
	if (m < k) {
		ref_path(out, m, d, k);
		put_mth(out, d + k * H, n - k);
	} else {
		ref_path(out, m - k, d + k * H, n - k);
		put_mth(out, d, k);
	}
}

/* SUBPROOF(m, D[n], b) */
static void ref_subproof(struct buf *out, uint64_t m, const uint8_t *d, uint64_t n, int b)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			put_mth(out, d, n);
		return;
	}
	k = ref_split(n);
	if (m <= k) {
		ref_subproof(out, m, d, k, b);
		put_mth(out, d + k * H, n - k);
	} else {
		ref_subproof(out, m - k, d + k * H, n - k, 0);
		put_mth(out, d, k);
	}
}

/* ---- fixtures ------------------------------------------------------------------------------ */

/* n distinct leaf hashes: leaf i hashes the 8 bytes of i.  The caller frees. */
static uint8_t *make_leaves(uint64_t n)
{
	uint8_t *d = malloc(n ? n * H : 1);
	uint64_t i;

	assert_non_null(d);
	for (i = 0; i < n; i++)
		merkle_leaf_hash(d + i * H, &i, sizeof(i));
	return d;
}

static void unhex(uint8_t out[H], const char *hex)
{
	TU_OK(crypto_unhex(out, H, hex));
}

static uint64_t ceil_log2(uint64_t n)
{
	uint64_t bits = 0;

	while ((UINT64_C(1) << bits) < n)
		bits++;
	return bits;
}

/* Assert a verification failed with ERR_AUTH and a message naming the reason. */
#define ASSERT_REJECTED(expr, reason)                                                         \
	do {                                                                                  \
		err_clear();                                                                  \
		assert_int_equal((expr), ERR_AUTH);                                           \
		if (!strstr(err_msg(), (reason)))                                             \
			fail_msg("%s: message '%s' lacks '%s'", #expr, err_msg(), (reason));  \
	} while (0)

/* ---- known vectors ------------------------------------------------------------------------- */

static void test_known_vectors(void **state)
{
	/* The 8-leaf tree of the Certificate Transparency test data, its heads for 1..8 leaves. */
	static const char *const data_hex[8] = {"", "00", "10", "2021", "3031", "40414243",
		"5051525354555657", "606162636465666768696a6b6c6d6e6f"};
	static const char *const roots_hex[9] = {
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	uint8_t leaves[8 * H], want[H], got[H], raw[16], l[H], r[H];
	size_t i, len;

	(void)state;
	/* The empty tree and the empty leaf. */
	unhex(want, roots_hex[0]);
	TU_OK(merkle_root(got, NULL, 0));
	assert_memory_equal(got, want, H);
	unhex(want, roots_hex[1]);
	merkle_leaf_hash(got, NULL, 0);
	assert_memory_equal(got, want, H);
	merkle_leaf_hash(got, "", 0);
	assert_memory_equal(got, want, H);

	for (i = 0; i < 8; i++) {
		len = strlen(data_hex[i]) / 2;
		TU_OK(crypto_unhex(raw, len, data_hex[i]));
		merkle_leaf_hash(leaves + i * H, raw, len);
		ref_leaf(want, raw, len);
		assert_memory_equal(leaves + i * H, want, H);
	}
	for (i = 1; i <= 8; i++) {
		unhex(want, roots_hex[i]);
		TU_OK(merkle_root(got, leaves, i));
		if (memcmp(got, want, H) != 0)
			fail_msg("root of the %zu-leaf reference tree is wrong", i);
	}

	/* The node hash is SHA-256(0x01 || left || right), also when out aliases an input. */
	memcpy(l, leaves, H);
	memcpy(r, leaves + H, H);
	unhex(want, roots_hex[2]);
	merkle_node_hash(got, l, r);
	assert_memory_equal(got, want, H);
	merkle_node_hash(l, l, r);
	assert_memory_equal(l, want, H);
	memcpy(l, leaves, H);
	merkle_node_hash(r, l, r);
	assert_memory_equal(r, want, H);
}

/* Published proofs of the same 8-leaf tree. */
static void test_known_proofs(void **state)
{
	static const char *const hex[] = {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	};
	static const char *const data_hex[8] = {"", "00", "10", "2021", "3031", "40414243",
		"5051525354555657", "606162636465666768696a6b6c6d6e6f"};
	uint8_t leaves[8 * H], raw[16], want[3 * H];
	struct buf p = BUF_INIT(PROOF_CAP);
	size_t i, len;

	(void)state;
	for (i = 0; i < 8; i++) {
		len = strlen(data_hex[i]) / 2;
		TU_OK(crypto_unhex(raw, len, data_hex[i]));
		merkle_leaf_hash(leaves + i * H, raw, len);
	}
	/* Leaf 0 of 8, and the consistency proof 1 -> 8, are the same three hashes. */
	for (i = 0; i < 3; i++)
		unhex(want + i * H, hex[i]);
	TU_OK(merkle_inclusion_proof(&p, leaves, 8, 0));
	assert_int_equal(p.len, 3 * H);
	assert_memory_equal(p.ptr, want, 3 * H);
	buf_reset(&p);
	TU_OK(merkle_consistency_proof(&p, leaves, 1, 8));
	assert_int_equal(p.len, 3 * H);
	assert_memory_equal(p.ptr, want, 3 * H);

	/* 6 -> 8 */
	for (i = 0; i < 3; i++)
		unhex(want + i * H, hex[3 + i]);
	buf_reset(&p);
	TU_OK(merkle_consistency_proof(&p, leaves, 6, 8));
	assert_int_equal(p.len, 3 * H);
	assert_memory_equal(p.ptr, want, 3 * H);

	/* 2 -> 5 */
	unhex(want, hex[1]);
	unhex(want + H, hex[6]);
	buf_reset(&p);
	TU_OK(merkle_consistency_proof(&p, leaves, 2, 5));
	assert_int_equal(p.len, 2 * H);
	assert_memory_equal(p.ptr, want, 2 * H);
	buf_release(&p);
}

/* The streaming root agrees with the recursive definition, across many right-edge shapes. */
static void test_root_matches_reference(void **state)
{
	const uint64_t n_max = 1100;
	uint8_t *d = make_leaves(n_max);
	uint8_t want[H], got[H];
	uint64_t n;

	(void)state;
	for (n = 0; n <= n_max; n++) {
		ref_mth(want, d, n);
		TU_OK(merkle_root(got, d, n));
		if (memcmp(got, want, H) != 0)
			fail_msg("root of %llu leaves differs from the reference",
				(unsigned long long)n);
	}
	free(d);
}

/* ---- inclusion ----------------------------------------------------------------------------- */

static void test_inclusion_every_index(void **state)
{
	uint8_t *d = make_leaves(MAX_N);
	struct buf p = BUF_INIT(PROOF_CAP), want = BUF_INIT(PROOF_CAP);
	uint8_t root[H];
	uint64_t n, i;
	unsigned int count = 0;

	(void)state;
	for (n = 1; n <= MAX_N; n++) {
		TU_OK(merkle_root(root, d, n));
		for (i = 0; i < n; i++) {
			buf_reset(&p);
			buf_reset(&want);
			TU_OK(merkle_inclusion_proof(&p, d, n, i));
			ref_path(&want, i, d, n);
			assert_int_equal(p.len, want.len);
			assert_true(p.len <= ceil_log2(n) * H);
			if (p.len)
				assert_memory_equal(p.ptr, want.ptr, p.len);
			TU_OK(merkle_verify_inclusion(d + i * H, i, n, (const uint8_t *)p.ptr,
				p.len, root));
			count++;
		}
	}
	assert_int_equal(count, MAX_N * (MAX_N + 1) / 2);
	print_message("%u inclusion proofs made and verified\n", count);
	buf_release(&p);
	buf_release(&want);
	free(d);
}

/* Every way of spoiling one inclusion proof (index i of n) must be refused. */
static void spoil_inclusion(const uint8_t *d, uint64_t n, uint64_t i, const struct buf *p)
{
	const uint8_t *proof = (const uint8_t *)p->ptr;
	uint8_t root[H], other[H], bad[PROOF_CAP + H];
	size_t j;

	TU_OK(merkle_root(root, d, n));
	assert_true(p->len <= PROOF_CAP);
	if (p->len)
		memcpy(bad, proof, p->len);

	/* A flipped bit in each hash. */
	for (j = 0; j < p->len; j += H) {
		bad[j + (j / H) % H] ^= 0x01 << (j / H) % 8;
		ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i, n, bad, p->len, root),
			"does not lead to the root");
		memcpy(bad + j, proof + j, H);
	}
	/* Wrong index, with this leaf and with the leaf that is really there. */
	if (i + 1 < n) {
		ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i + 1, n, proof, p->len, root),
			"inclusion proof");
		ASSERT_REJECTED(merkle_verify_inclusion(d + (i + 1) * H, i + 1, n, proof, p->len,
			root), "inclusion proof");
	}
	if (i > 0)
		ASSERT_REJECTED(merkle_verify_inclusion(d + (i - 1) * H, i - 1, n, proof, p->len,
			root), "inclusion proof");
	ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, n, n, proof, p->len, root),
		"out of range");
	/* The wrong leaf at the right index. */
	ASSERT_REJECTED(merkle_verify_inclusion(d + ((i + 1) % (n + 1)) * H, i, n, proof, p->len,
		root), "does not lead to the root");
	/* Wrong size, against the true root of that size (a checkpoint of the other size). */
	TU_OK(merkle_root(other, d, n + 1));
	ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i, n + 1, proof, p->len, other),
		"inclusion proof");
	if (i < n - 1) {
		TU_OK(merkle_root(other, d, n - 1));
		ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i, n - 1, proof, p->len, other),
			"inclusion proof");
	}
	/* An extra hash (a plausible one: a real leaf), a missing first or last hash. */
	memcpy(bad + p->len, d, H);
	ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i, n, bad, p->len + H, root),
		"too long");
	if (p->len) {
		ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i, n, proof, p->len - H, root),
			"too short");
		ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i, n, proof + H, p->len - H,
			root), "too short");
		ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i, n, proof, p->len - 1, root),
			"not a whole number of hashes");
	}
	/* A wrong root. */
	memcpy(other, root, H);
	other[H - 1] ^= 0x80;
	ASSERT_REJECTED(merkle_verify_inclusion(d + i * H, i, n, proof, p->len, other),
		"does not lead to the root");
}

static void test_inclusion_rejects_spoiled(void **state)
{
	uint8_t *d = make_leaves(MAX_N + 1);
	struct buf p = BUF_INIT(PROOF_CAP);
	uint64_t n, i;

	(void)state;
	for (n = 1; n <= MAX_N; n++) {
		for (i = 0; i < n; i++) {
			buf_reset(&p);
			TU_OK(merkle_inclusion_proof(&p, d, n, i));
			spoil_inclusion(d, n, i, &p);
		}
	}
	buf_release(&p);
	free(d);
}

/* ---- consistency --------------------------------------------------------------------------- */

static void test_consistency_every_pair(void **state)
{
	uint8_t *d = make_leaves(MAX_N);
	struct buf p = BUF_INIT(PROOF_CAP), want = BUF_INIT(PROOF_CAP);
	uint8_t roots[MAX_N + 1][H];
	uint64_t m, n;
	unsigned int count = 0;

	(void)state;
	for (n = 1; n <= MAX_N; n++)
		TU_OK(merkle_root(roots[n], d, n));
	for (n = 1; n <= MAX_N; n++) {
		for (m = 1; m <= n; m++) {
			buf_reset(&p);
			buf_reset(&want);
			TU_OK(merkle_consistency_proof(&p, d, m, n));
			ref_subproof(&want, m, d, n, 1);
			assert_int_equal(p.len, want.len);
			assert_true(p.len <= (ceil_log2(n) + 1) * H);
			assert_true(m != n || p.len == 0);
			if (p.len)
				assert_memory_equal(p.ptr, want.ptr, p.len);
			TU_OK(merkle_verify_consistency(m, n, roots[m], roots[n],
				(const uint8_t *)p.ptr, p.len));
			count++;
		}
	}
	assert_int_equal(count, MAX_N * (MAX_N + 1) / 2);
	print_message("%u consistency proofs made and verified\n", count);
	buf_release(&p);
	buf_release(&want);
	free(d);
}

/* Every way of spoiling one consistency proof (m -> n) must be refused. */
static void spoil_consistency(uint8_t (*roots)[H], uint64_t m, uint64_t n, const struct buf *p)
{
	const uint8_t *proof = (const uint8_t *)p->ptr;
	uint8_t bad[PROOF_CAP + H], other[H];
	size_t j;

	assert_true(p->len <= PROOF_CAP);
	if (p->len)
		memcpy(bad, proof, p->len);

	/* A flipped bit in each hash. */
	for (j = 0; j < p->len; j += H) {
		bad[j + (j / H) % H] ^= 0x01 << (j / H) % 8;
		ASSERT_REJECTED(merkle_verify_consistency(m, n, roots[m], roots[n], bad, p->len),
			"does not match");
		memcpy(bad + j, proof + j, H);
	}
	/* Wrong sizes, each with the true root of the size claimed. */
	if (m > 1)
		ASSERT_REJECTED(merkle_verify_consistency(m - 1, n, roots[m - 1], roots[n], proof,
			p->len), "consistency");
	if (m < n) {
		ASSERT_REJECTED(merkle_verify_consistency(m + 1, n, roots[m + 1], roots[n], proof,
			p->len), "consistency");
		ASSERT_REJECTED(merkle_verify_consistency(m, n - 1, roots[m], roots[n - 1], proof,
			p->len), "consistency");
	}
	ASSERT_REJECTED(merkle_verify_consistency(m, n + 1, roots[m], roots[n + 1], proof, p->len),
		"consistency");
	/* Old and new swapped. */
	if (m != n)
		ASSERT_REJECTED(merkle_verify_consistency(n, m, roots[n], roots[m], proof, p->len),
			"no consistency between tree sizes");
	/* An extra hash, a missing first or last hash, a ragged length. */
	memcpy(bad + p->len, roots[1], H);
	ASSERT_REJECTED(merkle_verify_consistency(m, n, roots[m], roots[n], bad, p->len + H),
		"too long");
	if (p->len) {
		ASSERT_REJECTED(merkle_verify_consistency(m, n, roots[m], roots[n], proof,
			p->len - H), "too short");
		ASSERT_REJECTED(merkle_verify_consistency(m, n, roots[m], roots[n], proof + H,
			p->len - H), "too short");
		ASSERT_REJECTED(merkle_verify_consistency(m, n, roots[m], roots[n], proof,
			p->len - 1), "not a whole number of hashes");
	}
	/*
	 * A wrong old root: someone else's, and one bit off; then a wrong new root.  When m is a
	 * power of two the proof omits the old root and the verifier hashes it into the new one,
	 * so the mismatch may surface at either head.
	 */
	if (m > 1)
		ASSERT_REJECTED(merkle_verify_consistency(m, n, roots[m - 1], roots[n], proof,
			p->len), m == n ? "two different roots" : "does not match the");
	memcpy(other, roots[m], H);
	other[0] ^= 0x01;
	ASSERT_REJECTED(merkle_verify_consistency(m, n, other, roots[n], proof, p->len),
		m == n ? "two different roots" : "does not match the");
	memcpy(other, roots[n], H);
	other[H - 1] ^= 0x01;
	ASSERT_REJECTED(merkle_verify_consistency(m, n, roots[m], other, proof, p->len),
		m == n ? "two different roots" : "new root");
}

static void test_consistency_rejects_spoiled(void **state)
{
	uint8_t *d = make_leaves(MAX_N + 1);
	struct buf p = BUF_INIT(PROOF_CAP);
	uint8_t roots[MAX_N + 2][H];
	uint64_t m, n;

	(void)state;
	for (n = 0; n <= MAX_N + 1; n++)
		TU_OK(merkle_root(roots[n], d, n));
	for (n = 1; n <= MAX_N; n++) {
		for (m = 1; m <= n; m++) {
			buf_reset(&p);
			TU_OK(merkle_consistency_proof(&p, d, m, n));
			spoil_consistency(roots, m, n, &p);
		}
	}
	buf_release(&p);
	free(d);
}

/* ---- arguments and buffers ----------------------------------------------------------------- */

static void test_generator_arguments(void **state)
{
	uint8_t *d = make_leaves(8);
	struct buf p = BUF_INIT(PROOF_CAP), tiny = BUF_INIT(2 * H);
	uint8_t root[H], before[H];

	(void)state;
	/* Index or sizes out of range, no leaves, absurd counts: ERR_INVALID, nothing written. */
	assert_int_equal(merkle_inclusion_proof(&p, d, 8, 8), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "out of range"));
	assert_int_equal(merkle_inclusion_proof(&p, d, 0, 0), ERR_INVALID);
	assert_int_equal(merkle_inclusion_proof(&p, NULL, 8, 0), ERR_INVALID);
	assert_int_equal(merkle_consistency_proof(&p, d, 0, 8), ERR_INVALID);
	assert_int_equal(merkle_consistency_proof(&p, d, 5, 4), ERR_INVALID);
	assert_int_equal(merkle_consistency_proof(&p, NULL, 1, 8), ERR_INVALID);
	assert_int_equal(merkle_consistency_proof(&p, d, 1, UINT64_MAX), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "too large"));
	assert_int_equal(merkle_inclusion_proof(&p, d, UINT64_MAX, 0), ERR_INVALID);
	assert_int_equal(p.len, 0);
	memset(root, 0xaa, H);
	memcpy(before, root, H);
	assert_int_equal(merkle_root(root, NULL, 3), ERR_INVALID);
	assert_int_equal(merkle_root(root, d, UINT64_MAX), ERR_INVALID);
	assert_memory_equal(root, before, H);

	/* m == n and one-leaf trees give empty proofs. */
	TU_OK(merkle_consistency_proof(&p, d, 8, 8));
	TU_OK(merkle_inclusion_proof(&p, d, 1, 0));
	assert_int_equal(p.len, 0);

	/* A proof that does not fit the buffer: ERR_TOOBIG and nothing appended. */
	TU_OK(buf_puts(&tiny, "x"));
	assert_int_equal(merkle_inclusion_proof(&tiny, d, 8, 3), ERR_TOOBIG);
	assert_int_equal(tiny.len, 1);
	assert_int_equal(merkle_consistency_proof(&tiny, d, 3, 8), ERR_TOOBIG);
	assert_int_equal(tiny.len, 1);

	/* Proofs append after what the buffer holds. */
	TU_OK(merkle_inclusion_proof(&p, d, 8, 3));
	TU_OK(merkle_consistency_proof(&p, d, 3, 8));
	assert_int_equal(p.len, 3 * H + 4 * H);
	buf_release(&p);
	buf_release(&tiny);
	free(d);
}

static void test_verifier_arguments(void **state)
{
	uint8_t *d = make_leaves(4);
	uint8_t root[H], zero[H];
	static const uint8_t ragged[2 * H + 1];

	(void)state;
	memset(zero, 0, H);
	TU_OK(merkle_root(root, d, 1));
	/* A one-leaf tree: its root is the leaf, the proof is empty. */
	TU_OK(merkle_verify_inclusion(d, 0, 1, NULL, 0, root));
	ASSERT_REJECTED(merkle_verify_inclusion(d, 0, 0, NULL, 0, root), "out of range");
	ASSERT_REJECTED(merkle_verify_inclusion(d, UINT64_MAX, UINT64_MAX, NULL, 0, root),
		"out of range");
	ASSERT_REJECTED(merkle_verify_inclusion(d, 0, 1, ragged, sizeof(ragged), root),
		"not a whole number of hashes");
	ASSERT_REJECTED(merkle_verify_inclusion(d, 0, 1, ragged, H, root), "too long");
	/* Huge trees are walked without overflow and refuse short proofs. */
	ASSERT_REJECTED(merkle_verify_inclusion(d, UINT64_MAX - 1, UINT64_MAX, ragged, 2 * H,
		root), "too short");
	ASSERT_REJECTED(merkle_verify_consistency(UINT64_MAX - 1, UINT64_MAX, root, root, ragged,
		2 * H), "too short");

	/* Consistency sizes must be 0 < m <= n; equal sizes need an empty proof and one root. */
	ASSERT_REJECTED(merkle_verify_consistency(0, 1, zero, root, NULL, 0),
		"no consistency between tree sizes");
	ASSERT_REJECTED(merkle_verify_consistency(2, 1, root, root, NULL, 0),
		"no consistency between tree sizes");
	TU_OK(merkle_verify_consistency(1, 1, root, root, NULL, 0));
	ASSERT_REJECTED(merkle_verify_consistency(1, 1, root, root, ragged, H), "too long");
	ASSERT_REJECTED(merkle_verify_consistency(1, 1, root, zero, NULL, 0),
		"two different roots");
	ASSERT_REJECTED(merkle_verify_consistency(1, 2, root, root, NULL, 0), "empty");
	ASSERT_REJECTED(merkle_verify_consistency(3, 4, root, root, ragged, 1),
		"not a whole number of hashes");
	free(d);
}

/* ---- scale --------------------------------------------------------------------------------- */

/* The frontier gives every prefix's head, survives its stored form, and makes the same
 * consistency proofs from the old frontier and the new leaves alone, for every pair. */
static void test_frontier_heads_and_proofs(void **state)
{
	uint8_t *d = make_leaves(MAX_N);
	uint64_t m, n, i;

	(void)state;
	for (m = 1; m <= MAX_N; m++) {
		struct merkle_frontier f, g;
		struct buf enc = BUF_INIT(4096);
		uint8_t a[H], b[H];

		merkle_frontier_init(&f);
		for (i = 0; i < m; i++)
			merkle_frontier_add(&f, d + i * H);
		merkle_frontier_root(a, &f);
		assert_int_equal(merkle_root(b, d, m), 0);
		assert_memory_equal(a, b, H);
		assert_int_equal(merkle_frontier_encode(&enc, &f), 0);
		assert_int_equal(merkle_frontier_decode(&g, (uint8_t *)enc.ptr, enc.len), 0);
		merkle_frontier_root(b, &g);
		assert_memory_equal(a, b, H);
		assert_int_not_equal(merkle_frontier_decode(&g, (uint8_t *)enc.ptr, enc.len - 1), 0);
		buf_release(&enc);
		for (n = m; n <= MAX_N; n++) {
			struct buf want = BUF_INIT(4096), got = BUF_INIT(4096);

			assert_int_equal(merkle_consistency_proof(&want, d, m, n), 0);
			assert_int_equal(merkle_consistency_proof_frontier(&got, &f, d + m * H, n), 0);
			assert_int_equal(got.len, want.len);
			if (want.len)
				assert_memory_equal(got.ptr, want.ptr, want.len);
			buf_release(&want);
			buf_release(&got);
		}
	}
	free(d);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_million_leaves(void **state)
{
	const uint64_t n = 1000000, m = 654321, i = 999999;
	uint8_t *d = make_leaves(n);
	struct buf p = BUF_INIT(PROOF_CAP), ref = BUF_INIT(PROOF_CAP);
	uint8_t root[H], want[H], old[H];
	struct timespec t0;
	double secs;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	TU_OK(merkle_root(root, d, n));
	secs = seconds_since(&t0);
	print_message("merkle_root of %llu leaves: %.3f s\n", (unsigned long long)n, secs);

	ref_mth(want, d, n);
	assert_memory_equal(root, want, H);

	/* Proofs at this size, near the right edge where the shapes are irregular. */
	TU_OK(merkle_inclusion_proof(&p, d, n, i));
	ref_path(&ref, i, d, n);
	assert_int_equal(p.len, ref.len);
	assert_memory_equal(p.ptr, ref.ptr, p.len);
	TU_OK(merkle_verify_inclusion(d + i * H, i, n, (const uint8_t *)p.ptr, p.len, root));
	buf_reset(&p);
	buf_reset(&ref);
	TU_OK(merkle_root(old, d, m));
	TU_OK(merkle_consistency_proof(&p, d, m, n));
	ref_subproof(&ref, m, d, n, 1);
	assert_int_equal(p.len, ref.len);
	assert_memory_equal(p.ptr, ref.ptr, p.len);
	TU_OK(merkle_verify_consistency(m, n, old, root, (const uint8_t *)p.ptr, p.len));
	buf_release(&p);
	buf_release(&ref);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_known_proofs),
		cmocka_unit_test(test_root_matches_reference),
		cmocka_unit_test(test_inclusion_every_index),
		cmocka_unit_test(test_inclusion_rejects_spoiled),
		cmocka_unit_test(test_consistency_every_pair),
		cmocka_unit_test(test_consistency_rejects_spoiled),
		cmocka_unit_test(test_generator_arguments),
		cmocka_unit_test(test_verifier_arguments),
		cmocka_unit_test(test_frontier_heads_and_proofs),
		cmocka_unit_test(test_million_leaves),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
