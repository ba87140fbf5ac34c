/*
 * shared/audit/merkle.h - RFC 6962 Merkle tree hashing and proofs over SHA-256.
 *
 * The audit log (audit.h) stores each entry with its leaf hash; this module turns a run of leaf
 * hashes into the tree head a checkpoint signs, and makes and checks the two proofs sync is
 * built on: an inclusion proof (this entry is in the log of that size) and a consistency proof
 * (the log of size n extends the log of size m, so nothing was rolled back or rewritten).
 *
 * Hashing is RFC 6962 section 2.1: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left
 * || right), the tree of n leaves splits at the largest power of two below n, and the empty
 * tree's hash is SHA-256 of nothing.  Proofs are plain concatenations of 32-byte hashes in the
 * RFC order, so they can be stored and sent as they are.  Verification follows RFC 9162 sections
 * 2.1.3.2 and 2.1.4.2.
 *
 * Leaf sets are passed as `n` consecutive 32-byte leaf hashes (`n * MERKLE_HASH_LEN` bytes), not
 * as `uint8_t (*)[32]`: ISO C before C23 will not pass a non-const array-of-arrays where a const
 * one is expected, which would force a cast on every caller.
 */
#ifndef FIELDSYNC_MERKLE_H
#define FIELDSYNC_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define MERKLE_HASH_LEN 32

/*
 * The longest proof, in hashes, that the generators below produce.  They accept at most
 * SIZE_MAX / MERKLE_HASH_LEN leaves (a larger array cannot exist), far below the 2^63 leaves a
 * 64-hash consistency proof needs.  The verifiers need no cap: the RFC 9162 walk consumes at
 * least one bit of the tree size per hash and refuses a proof once the bits run out.
 */
#define MERKLE_MAX_PROOF 64

/* RFC 6962 leaf hash SHA-256(0x00 || data) of `len` bytes (data may be NULL if len is 0). */
void merkle_leaf_hash(uint8_t out[MERKLE_HASH_LEN], const void *data, size_t len);

/* RFC 6962 interior node hash SHA-256(0x01 || left || right); `out` may alias either input. */
void merkle_node_hash(uint8_t out[MERKLE_HASH_LEN], const uint8_t left[MERKLE_HASH_LEN],
	const uint8_t right[MERKLE_HASH_LEN]);

/*
 * The tree head MTH(D[n]) of `n` leaf hashes at `leaves` (borrowed; NULL only if n is 0).  The
 * empty tree hashes to SHA-256 of the empty string.  O(n) time, a fixed 2 KiB of stack.
 * Returns 0, or ERR_INVALID for a NULL array or a count no array can hold (out is then
 * untouched).
 */
int merkle_root(uint8_t out[MERKLE_HASH_LEN], const uint8_t *leaves, uint64_t n) WUR;

/*
 * Append to `out` the audit path PATH(index, D[n]) of RFC 6962 section 2.1.1: the sibling
 * hashes from the leaf up to the root, concatenated (at most MERKLE_MAX_PROOF of them; none
 * for a one-leaf tree).  `leaves` is borrowed as for merkle_root().  O(n) time.  Returns 0,
 * ERR_INVALID if index >= n or the leaves are unusable, or ERR_TOOBIG/ERR_NOMEM from the buffer;
 * on failure nothing is appended.
 */
int merkle_inclusion_proof(struct buf *out, const uint8_t *leaves, uint64_t n, uint64_t index) WUR;

/*
 * Check that `leaf` is leaf number `index` of the tree of size `n` whose head is `root`, given
 * the audit path in `proof` (proof_len bytes; may be NULL if proof_len is 0).  The proof does
 * not bind n (a smaller tree's proof can check out against that tree's root under a larger n),
 * so the caller must take n and root from the same signed checkpoint.  Returns 0,
 * or ERR_AUTH with a message naming the reason (a length that is not whole hashes, an index out
 * of range, a proof too long or too short for index and n, or a root mismatch).
 */
int merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index, uint64_t n,
	const uint8_t *proof, size_t proof_len, const uint8_t root[MERKLE_HASH_LEN]) WUR;

/*
 * Append to `out` the consistency proof PROOF(m, D[n]) of RFC 6962 section 2.1.2 between the
 * first m leaves and all n (SUBPROOF with b = true; empty if m == n).  `leaves` is borrowed as
 * for merkle_root().  O(n) time.  Returns 0, ERR_INVALID unless 0 < m <= n and the leaves are
 * usable, or ERR_TOOBIG/ERR_NOMEM from the buffer; on failure nothing is appended.
 */
int merkle_consistency_proof(struct buf *out, const uint8_t *leaves, uint64_t m, uint64_t n) WUR;

/*
 * Check that the tree of size n with head root_n extends the tree of size m with head root_m,
 * given the proof (proof_len bytes; may be NULL if proof_len is 0).  For m == n the proof must
 * be empty and the heads equal.  As for inclusion, sizes and heads must come from signed
 * checkpoints.  Returns 0, or ERR_AUTH with a message naming the reason (sizes not 0 < m <= n,
 * a length that is not whole hashes, a proof too long or too short for m and n, or a head
 * that does not match; when m is a power of two the old head is hashed into the new one, so a
 * wrong old head shows as a new-head mismatch).
 */
int merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[MERKLE_HASH_LEN],
	const uint8_t root_n[MERKLE_HASH_LEN], const uint8_t *proof, size_t proof_len) WUR;

/*
 * The frontier of a tree: the hashes of its perfect subtrees, one per set bit of its size,
 * largest first.  It gives the head of the tree and extends by one leaf at a time, so a log
 * that keeps the frontier of its last checkpoint never rereads its old leaves.
 */
struct merkle_frontier {
	uint64_t size;
	int count;
	uint8_t hash[64][MERKLE_HASH_LEN];
};

void merkle_frontier_init(struct merkle_frontier *f);
void merkle_frontier_add(struct merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_LEN]);
void merkle_frontier_root(uint8_t out[MERKLE_HASH_LEN], const struct merkle_frontier *f);

/* Stored form: the size (8 bytes, big-endian) and the hashes.  ERR_CORRUPT when malformed. */
int merkle_frontier_encode(struct buf *out, const struct merkle_frontier *f) WUR;
int merkle_frontier_decode(struct merkle_frontier *f, const uint8_t *data, size_t len) WUR;

/*
 * The same proof as merkle_consistency_proof() from the old tree (its frontier `f`, size m) to
 * the tree of n leaves, given only the n - m leaves added since: a consistency proof names
 * no old node but the old frontier's.  ERR_INVALID as for merkle_consistency_proof().
 */
int merkle_consistency_proof_frontier(struct buf *out, const struct merkle_frontier *f,
	const uint8_t *new_leaves, uint64_t n) WUR;

#endif
