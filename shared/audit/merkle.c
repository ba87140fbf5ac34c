/* shared/audit/merkle.c - RFC 6962 Merkle tree hashing, proofs and their RFC 9162 verification. */
#include "audit/merkle.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "base/crypto.h"

#define LEN MERKLE_HASH_LEN

/* Deepest pending-subtree stack subtree_hash() can need: one entry per bit of the leaf count. */
#define STACK_DEPTH 64

/*
 * The generators refuse more than SIZE_MAX / MERKLE_HASH_LEN leaves; staying below 2^63 keeps
 * every proof within MERKLE_MAX_PROOF hashes and every pending stack within STACK_DEPTH.
 */
_Static_assert((uint64_t)(SIZE_MAX / LEN) < (UINT64_C(1) << 63),
	"a tree could outgrow MERKLE_MAX_PROOF");

void merkle_leaf_hash(uint8_t out[MERKLE_HASH_LEN], const void *data, size_t len)
{
	struct crypto_sha256 h;
	const uint8_t prefix = 0x00;

	crypto_sha256_init(&h);
	crypto_sha256_update(&h, &prefix, 1);
	crypto_sha256_update(&h, data, len);
	crypto_sha256_final(out, &h);
}

void merkle_node_hash(uint8_t out[MERKLE_HASH_LEN], const uint8_t left[MERKLE_HASH_LEN],
	const uint8_t right[MERKLE_HASH_LEN])
{
	struct crypto_sha256 h;
	const uint8_t prefix = 0x01;

	/* Both inputs are consumed before final() writes, so out may alias either of them. */
	crypto_sha256_init(&h);
	crypto_sha256_update(&h, &prefix, 1);
	crypto_sha256_update(&h, left, LEN);
	crypto_sha256_update(&h, right, LEN);
	crypto_sha256_final(out, &h);
}

static int check_leaves(const uint8_t *leaves, uint64_t n)
{
	if (n > SIZE_MAX / LEN)
		return err_set(ERR_INVALID, "tree of %" PRIu64 " leaves is too large", n);
	if (!leaves && n > 0)
		return err_set(ERR_INVALID, "no leaf hashes for a tree of %" PRIu64 " leaves", n);
	return 0;
}

/* The largest power of two strictly below n (n >= 2): where RFC 6962 splits a tree. */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k) /* k * 2 < n, without overflow */
		k <<= 1;
	return k;
}

/*
 * MTH(D[n]) in one pass.  The stack holds the perfect subtrees completed so far, largest first,
 * one per set bit of the leaves seen: exactly the binary decomposition RFC 6962's split at the
 * largest power of two produces, so no recursion and no leaf-sized scratch memory are needed.
 */
static void subtree_hash(uint8_t out[LEN], const uint8_t *leaves, uint64_t n)
{
	uint8_t stack[STACK_DEPTH][LEN];
	unsigned int top = 0;
	uint64_t i, j;

	for (i = 0; i < n; i++) {
		assert(top < STACK_DEPTH);
		memcpy(stack[top++], leaves + i * LEN, LEN);
		/* Leaf i closes one perfect subtree per trailing one bit of i. */
		for (j = i; j & 1; j >>= 1) {
			top--;
			merkle_node_hash(stack[top - 1], stack[top - 1], stack[top]);
		}
	}
	/* The pending subtrees shrink left to right and MTH pairs each with all to its right. */
	while (top > 1) {
		top--;
		merkle_node_hash(stack[top - 1], stack[top - 1], stack[top]);
	}
	if (top == 0)
		crypto_sha256(out, "", 0);
	else
		memcpy(out, stack[0], LEN);
}

int merkle_root(uint8_t out[MERKLE_HASH_LEN], const uint8_t *leaves, uint64_t n)
{
	int error;

	error = check_leaves(leaves, n);
	if (error)
		goto out;
	subtree_hash(out, leaves, n);
out:
	return error;
}

int merkle_inclusion_proof(struct buf *out, const uint8_t *leaves, uint64_t n, uint64_t index)
{
	/* The walk down meets the siblings root first; the proof lists them leaf first. */
	uint8_t path[MERKLE_MAX_PROOF * LEN];
	size_t pos = sizeof(path);
	uint64_t lo = 0, size = n, idx = index, k;
	int error;

	error = check_leaves(leaves, n);
	if (error)
		goto out;
	if (index >= n) {
		error = err_set(ERR_INVALID, "leaf index %" PRIu64 " out of range for tree size %"
			PRIu64, index, n);
		goto out;
	}
	/* PATH(m, D[n]): descend towards the leaf, recording the subtree on the other side. */
	while (size > 1) {
		k = split_point(size);
		assert(pos >= LEN);
		pos -= LEN;
		if (idx < k) {
			subtree_hash(path + pos, leaves + (lo + k) * LEN, size - k);
			size = k;
		} else {
			subtree_hash(path + pos, leaves + lo * LEN, k);
			lo += k;
			idx -= k;
			size -= k;
		}
	}
	error = buf_put(out, path + pos, sizeof(path) - pos);
out:
	return error;
}

/* RFC 9162: right-shift fn and sn together until fn is odd or zero. */
static void skip_right_edge(uint64_t *fn, uint64_t *sn)
{
	while (*fn != 0 && (*fn & 1) == 0) {
		*fn >>= 1;
		*sn >>= 1;
	}
}

int merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index, uint64_t n,
	const uint8_t *proof, size_t proof_len, const uint8_t root[MERKLE_HASH_LEN])
{
	uint8_t r[LEN];
	uint64_t fn, sn;
	size_t i;
	int error = 0;

	if (proof_len % LEN != 0) {
		error = err_set(ERR_AUTH, "inclusion proof of %zu bytes is not a whole number of "
			"hashes", proof_len);
		goto out;
	}
	if (index >= n) {
		error = err_set(ERR_AUTH, "leaf index %" PRIu64 " out of range for tree size %"
			PRIu64, index, n);
		goto out;
	}
	/* fn is the node's index in its level, sn the last index there: they tell the side. */
	fn = index;
	sn = n - 1;
	memcpy(r, leaf, LEN);
	for (i = 0; i < proof_len; i += LEN) {
		if (sn == 0) {
			error = err_set(ERR_AUTH, "inclusion proof too long for leaf %" PRIu64
				" of tree size %" PRIu64, index, n);
			goto out;
		}
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(r, proof + i, r);
			skip_right_edge(&fn, &sn);
		} else {
			merkle_node_hash(r, r, proof + i);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		error = err_set(ERR_AUTH, "inclusion proof too short for leaf %" PRIu64
			" of tree size %" PRIu64, index, n);
	else if (!crypto_equal(r, root, LEN))
		error = err_set(ERR_AUTH, "inclusion proof for leaf %" PRIu64
			" does not lead to the root of tree size %" PRIu64, index, n);
out:
	return error;
}

int merkle_consistency_proof(struct buf *out, const uint8_t *leaves, uint64_t m, uint64_t n)
{
	/* Filled from the end, as in merkle_inclusion_proof(). */
	uint8_t path[MERKLE_MAX_PROOF * LEN];
	size_t pos = sizeof(path);
	uint64_t lo = 0, old = m, size = n, k;
	int whole = 1; /* RFC 6962's b: the old tree is still a whole subtree of the proof */
	int error;

	error = check_leaves(leaves, n);
	if (error)
		goto out;
	if (m == 0 || m > n) {
		error = err_set(ERR_INVALID, "no consistency proof from tree size %" PRIu64
			" to %" PRIu64, m, n);
		goto out;
	}
	/* SUBPROOF(m, D[n], b): descend to the subtree the old tree ends in. */
	while (old != size) {
		k = split_point(size);
		assert(pos >= LEN);
		pos -= LEN;
		if (old <= k) {
			subtree_hash(path + pos, leaves + (lo + k) * LEN, size - k);
			size = k;
		} else {
			subtree_hash(path + pos, leaves + lo * LEN, k);
			lo += k;
			old -= k;
			size -= k;
			whole = 0;
		}
	}
	/*
	 * The old tree ended inside this subtree rather than being all of it, so the verifier
	 * cannot take the subtree's hash from the old root: the proof has to carry it.
	 */
	if (!whole) {
		assert(pos >= LEN);
		pos -= LEN;
		subtree_hash(path + pos, leaves + lo * LEN, size);
	}
	error = buf_put(out, path + pos, sizeof(path) - pos);
out:
	return error;
}

/* The checks of merkle_verify_consistency() that need no hashing, and all of the m == n case. */
static int check_consistency_args(uint64_t m, uint64_t n, const uint8_t *root_m,
	const uint8_t *root_n, size_t proof_len)
{
	if (m == 0 || m > n)
		return err_set(ERR_AUTH, "no consistency between tree sizes %" PRIu64
			" and %" PRIu64, m, n);
	if (proof_len % LEN != 0)
		return err_set(ERR_AUTH, "consistency proof of %zu bytes is not a whole number of "
			"hashes", proof_len);
	if (m == n && proof_len != 0)
		return err_set(ERR_AUTH, "consistency proof too long for equal tree sizes %"
			PRIu64, n);
	if (m == n && !crypto_equal(root_m, root_n, LEN))
		return err_set(ERR_AUTH, "two different roots for tree size %" PRIu64, n);
	if (m < n && proof_len == 0)
		return err_set(ERR_AUTH, "consistency proof too short from tree size %" PRIu64
			" to %" PRIu64 " (empty)", m, n);
	return 0;
}

int merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[MERKLE_HASH_LEN],
	const uint8_t root_n[MERKLE_HASH_LEN], const uint8_t *proof, size_t proof_len)
{
	uint8_t fr[LEN], sr[LEN];
	uint64_t fn, sn;
	size_t i = 0;
	int error;

	error = check_consistency_args(m, n, root_m, root_n, proof_len);
	if (error || m == n)
		goto out;
	/* fr rebuilds the old root and sr the new one, from the old tree's last node upwards. */
	fn = m - 1;
	sn = n - 1;
	if ((m & (m - 1)) == 0) { /* a whole subtree: the proof leaves its root out */
		memcpy(fr, root_m, LEN);
	} else {
		memcpy(fr, proof, LEN);
		i = LEN;
	}
	memcpy(sr, fr, LEN);
	while (fn & 1) { /* a right child: its parent lies wholly inside the old tree */
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < proof_len; i += LEN) {
		if (sn == 0) {
			error = err_set(ERR_AUTH, "consistency proof too long from tree size %"
				PRIu64 " to %" PRIu64, m, n);
			goto out;
		}
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(fr, proof + i, fr);
			merkle_node_hash(sr, proof + i, sr);
			skip_right_edge(&fn, &sn);
		} else {
			merkle_node_hash(sr, sr, proof + i);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		error = err_set(ERR_AUTH, "consistency proof too short from tree size %" PRIu64
			" to %" PRIu64, m, n);
	else if (!crypto_equal(fr, root_m, LEN))
		error = err_set(ERR_AUTH, "consistency proof does not match the old root of size %"
			PRIu64, m);
	else if (!crypto_equal(sr, root_n, LEN))
		error = err_set(ERR_AUTH, "consistency proof does not match the new root of size %"
			PRIu64, n);
out:
	return error;
}

/* ---- the frontier: a tree of any size in at most 64 hashes -------------------------------- */

void merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

void merkle_frontier_add(struct merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_LEN])
{
	uint64_t i = f->size;

	memcpy(f->hash[f->count++], leaf, LEN);
	/* leaf number i closes one perfect subtree per trailing one bit of i */
	for (; i & 1; i >>= 1) {
		merkle_node_hash(f->hash[f->count - 2], f->hash[f->count - 2], f->hash[f->count - 1]);
		f->count--;
	}
	f->size++;
}

void merkle_frontier_root(uint8_t out[MERKLE_HASH_LEN], const struct merkle_frontier *f)
{
	int i;

	if (f->count == 0) {
		crypto_sha256(out, NULL, 0);
		return;
	}
	memcpy(out, f->hash[f->count - 1], LEN);
	for (i = f->count - 2; i >= 0; i--)
		merkle_node_hash(out, f->hash[i], out);
}

int merkle_frontier_encode(struct buf *out, const struct merkle_frontier *f)
{
	uint8_t size[8];
	int k;

	for (k = 0; k < 8; k++)
		size[k] = (uint8_t)(f->size >> (56 - 8 * k));
	if (buf_put(out, size, 8) || buf_put(out, f->hash, (size_t)f->count * LEN))
		return err_set(ERR_TOOBIG, "frontier does not fit");
	return 0;
}

int merkle_frontier_decode(struct merkle_frontier *f, const uint8_t *data, size_t len)
{
	uint64_t size = 0, bits;
	int k, count = 0;

	if (len < 8)
		return err_set(ERR_CORRUPT, "a stored frontier is malformed");
	for (k = 0; k < 8; k++)
		size = size << 8 | data[k];
	for (bits = size; bits; bits &= bits - 1)
		count++;
	if (len != 8 + (size_t)count * LEN)
		return err_set(ERR_CORRUPT, "a stored frontier is malformed");
	merkle_frontier_init(f);
	f->size = size;
	f->count = count;
	memcpy(f->hash, data + 8, (size_t)count * LEN);
	return 0;
}

/*
 * The hash of leaves [lo, lo + n): below the old size m it must be one of the old tree's
 * frontier subtrees (the only old nodes a consistency proof ever names), at or above m it is
 * made from the new leaves.
 */
static int range_hash(uint8_t out[LEN], const struct merkle_frontier *f, const uint8_t *new_leaves,
	uint64_t lo, uint64_t n)
{
	uint64_t start = 0, width;
	int i;

	if (lo >= f->size) {
		subtree_hash(out, new_leaves + (lo - f->size) * LEN, n);
		return 0;
	}
	/* walk the decomposition of f->size: subtree i covers the i-th set bit, largest first */
	start = 0;
	for (i = 0; i < f->count; i++) {
		uint64_t rest = f->size - start;

		width = (uint64_t)1 << (63 - __builtin_clzll(rest));
		if (start == lo && width == n) {
			memcpy(out, f->hash[i], LEN);
			return 0;
		}
		start += width;
	}
	return err_set(ERR_INVALID, "leaves %" PRIu64 "..%" PRIu64 " are not a subtree the old "
				    "tree's frontier holds",
		lo, lo + n);
}

int merkle_consistency_proof_frontier(struct buf *out, const struct merkle_frontier *f,
	const uint8_t *new_leaves, uint64_t n)
{
	uint8_t path[MERKLE_MAX_PROOF * LEN];
	size_t pos = sizeof(path);
	uint64_t lo = 0, old = f->size, size = n, k;
	int whole = 1, error = 0;

	if (old == 0 || old > n || (n > old && !new_leaves))
		return err_set(ERR_INVALID, "no consistency proof from tree size %" PRIu64 " to %" PRIu64,
			old, n);
	while (!error && old != size) {
		k = split_point(size);
		pos -= LEN;
		if (old <= k) {
			error = range_hash(path + pos, f, new_leaves, lo + k, size - k);
			size = k;
		} else {
			error = range_hash(path + pos, f, new_leaves, lo, k);
			lo += k;
			old -= k;
			size -= k;
			whole = 0;
		}
	}
	if (!error && !whole) {
		pos -= LEN;
		error = range_hash(path + pos, f, new_leaves, lo, size);
	}
	if (!error)
		error = buf_put(out, path + pos, sizeof(path) - pos);
	return error;
}
