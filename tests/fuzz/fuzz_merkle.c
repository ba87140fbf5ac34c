/*
 * tests/fuzz/fuzz_merkle.c - libFuzzer target for merkle_verify_inclusion() and
 * merkle_verify_consistency(), which check proofs and checkpoints received from peers.
 *
 * The input picks a tree, the index and sizes a peer would claim and the proof bytes.  The
 * harness knows the tree, so it knows the truth: it aborts if a verifier accepts anything but
 * the true proof of what was claimed (a forgery would need a SHA-256 collision), or refuses
 * the true proof.  Raw proofs alone would almost never come near a valid one, so a proof can
 * also be a real proof, of the claimed or of other parameters, cut short and XORed with input
 * bytes.  The layout:
 *
 *	flags	bit 0: consistency (else inclusion)
 *		bit 1: the proof is the base parameters' true proof, its last `cut` bytes dropped,
 *		       XORed with the rest of the input, which also extends it (else the rest, raw)
 *		bit 2: the leaf (inclusion) or the old root (consistency) is read from the input
 *		bit 3: the base parameters are read from the input (else they are the claimed ones);
 *		       the leaf or old root is the base's, as when a real proof is passed off as
 *		       another
 *	seed	which tree of TREE leaves: leaf i hashes the bytes (seed, i)
 *	a, b	the claimed index and size, or old and new size: one byte 0..127, or a byte with
 *		bit 7 set and 8 bytes little-endian for any 64-bit value
 *	ba, bb	(bit 3) base parameters, one byte each, modulo TREE + 1
 *	32	(bit 2) the leaf or old root; also read whenever an index or size over TREE leaves
 *		the harness without a true one (first the leaf or old root, then the new root)
 *	cut	(bit 1) one byte
 *	rest	the proof, or the XOR mask and extension
 *
 * Missing bytes read as zero.  The seed corpus in corpus/merkle/ covers both proofs, each bit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "audit/merkle.h"

#define H MERKLE_HASH_LEN
#define TREE 64

#define F_CONSISTENCY 0x01
#define F_FROM_TRUE 0x02
#define F_INPUT_HASH 0x04
#define F_BASE 0x08

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t take_byte(struct input *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static void take(uint8_t *out, struct input *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = take_byte(in);
}

static uint64_t take_param(struct input *in)
{
	uint8_t b = take_byte(in);
	uint64_t v = 0;
	int i;

	if (!(b & 0x80))
		return b;
	for (i = 0; i < 8; i++)
		v |= (uint64_t)take_byte(in) << (8 * i);
	return v;
}

/* The leaves of tree `seed`, rebuilt only when the seed changes. */
static const uint8_t *tree_leaves(uint8_t seed)
{
	static uint8_t leaves[TREE * H];
	static int have = -1;
	uint8_t in[2];
	size_t i;

	if (have != seed) {
		for (i = 0; i < TREE; i++) {
			in[0] = seed;
			in[1] = (uint8_t)i;
			merkle_leaf_hash(leaves + i * H, in, sizeof(in));
		}
		have = seed;
	}
	return leaves;
}

/* The true proof of (a, b): an index and size, or two sizes; empty when there is none. */
static void true_proof(struct buf *out, const uint8_t *leaves, int consistency, uint64_t a,
	uint64_t b)
{
	int error;

	buf_reset(out);
	if (b > TREE)
		return;
	if (consistency)
		error = merkle_consistency_proof(out, leaves, a, b);
	else
		error = merkle_inclusion_proof(out, leaves, b, a);
	if (error)
		buf_reset(out);
}

/* The proof as the input describes it, in an exactly sized allocation so ASan sees overreads. */
static uint8_t *build_proof(size_t *len_out, struct input *in, struct buf *base, int from_true)
{
	uint8_t *proof;
	size_t len, i, cut;

	if (!from_true) {
		len = in->left;
		proof = malloc(len ? len : 1);
		if (proof && len)
			memcpy(proof, in->p, len);
		*len_out = len;
		return proof;
	}
	cut = take_byte(in);
	len = base->len > cut ? base->len - cut : 0;
	if (in->left > len)
		len = in->left;
	proof = calloc(len ? len : 1, 1);
	if (!proof)
		return NULL;
	if (base->len > cut)
		memcpy(proof, base->ptr, base->len - cut);
	for (i = 0; i < in->left; i++)
		proof[i] ^= in->p[i];
	*len_out = len;
	return proof;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct buf base = BUF_INIT(MERKLE_MAX_PROOF * H), truth = BUF_INIT(MERKLE_MAX_PROOF * H);
	uint8_t flags, leaf[H], root_m[H], root_n[H];
	const uint8_t *leaves;
	uint64_t a, b, ba, bb;
	uint8_t *proof = NULL;
	size_t len = 0;
	int consistency, valid, honest, rc;

	flags = take_byte(&in);
	consistency = flags & F_CONSISTENCY;
	leaves = tree_leaves(take_byte(&in));
	a = take_param(&in);
	b = take_param(&in);
	ba = flags & F_BASE ? take_byte(&in) % (TREE + 1) : a;
	bb = flags & F_BASE ? take_byte(&in) % (TREE + 1) : b;

	/*
	 * The leaf or old root under test: the base parameters' (a real proof presented for other
	 * parameters), or given, or where the tree has none, read; then the true new root.
	 */
	if (consistency && ((flags & F_INPUT_HASH) || ba > TREE))
		take(root_m, &in, H);
	else if (consistency && merkle_root(root_m, leaves, ba) != 0)
		abort();
	if (!consistency && ((flags & F_INPUT_HASH) || ba >= TREE))
		take(leaf, &in, H);
	else if (!consistency)
		memcpy(leaf, leaves + ba * H, H);
	if (b > TREE)
		take(root_n, &in, H);
	else if (merkle_root(root_n, leaves, b) != 0)
		abort();

	true_proof(&base, leaves, consistency, ba, bb);
	proof = build_proof(&len, &in, &base, flags & F_FROM_TRUE);
	if (!proof)
		goto out;

	err_clear();
	if (consistency)
		rc = merkle_verify_consistency(a, b, root_m, root_n, proof, len);
	else
		rc = merkle_verify_inclusion(leaf, a, b, proof, len, root_n);
	if (rc != 0 && (rc != ERR_AUTH || err_msg()[0] == '\0'))
		abort();

	/* With a true new root, accepted exactly when everything matches the real tree. */
	if (b > TREE)
		goto out;
	valid = consistency ? a > 0 && a <= b : a < b;
	if (!valid) {
		if (rc == 0)
			abort();
		goto out;
	}
	true_proof(&truth, leaves, consistency, a, b);
	honest = len == truth.len && (len == 0 || memcmp(proof, truth.ptr, len) == 0);
	if (consistency) {
		uint8_t real[H];

		if (merkle_root(real, leaves, a) != 0)
			abort();
		honest = honest && memcmp(root_m, real, H) == 0;
	} else {
		honest = honest && memcmp(leaf, leaves + a * H, H) == 0;
	}
	if ((rc == 0) != honest)
		abort();
out:
	free(proof);
	buf_release(&base);
	buf_release(&truth);
	return 0;
}
