/*
 * shared/audit/checkpoint.h - signed statements about an audit log (DESIGN.md section 7).
 *
 * A checkpoint says "the log of <origin> has <size> entries and this Merkle tree head", signed
 * by the node's key (a device's enrolled key; HQ's server key).  A receipt is HQ's
 * countersignature of a device checkpoint it verified and stored, signed with the server key
 * and returned to the device.  Both are plain text, so anyone can check them with standard
 * tools:
 *   fieldsync-checkpoint v1\n<origin>\n<size>\n<root hex>\n<time>\n
 *   fieldsync-receipt v1\n<origin>\n<size>\n<root hex>\n<time>\n
 * <origin> is "<office>/<device id>".  Signatures are ECDSA P-256 over SHA-256 (DER).
 * Verification takes a certificate and checks it chains to the organisation's CA; expiry is not
 * held against a signature made while the certificate was valid (old trails stay verifiable).
 */
#ifndef FIELDSYNC_CHECKPOINT_H
#define FIELDSYNC_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "audit/merkle.h"
#include "store/store.h"

#define CHECKPOINT_SIG_MAX 80
#define CHECKPOINT_MSG_MAX 256

/* The text a checkpoint ("checkpoint") or a receipt ("receipt") signs, appended to `out`. */
int checkpoint_message(struct buf *out, const char *kind, const char *origin, uint64_t size,
	const uint8_t root[MERKLE_HASH_LEN], const char *time) WUR;

/* Sign `msg` with a DER P-256 private key (borrowed). */
int checkpoint_sign(struct buf *sig, const uint8_t *key, size_t keylen, const struct buf *msg) WUR;

/*
 * Check `sig` over `msg` with the key of certificate `cert` (DER), which must chain to `ca`
 * (DER: a trust set, any of whose CAs will do).  ERR_AUTH with the reason (not issued by the CA, bad signature), ERR_INVALID if a
 * certificate does not parse.
 */
int checkpoint_verify(const uint8_t *cert, size_t certlen, const uint8_t *ca, size_t calen,
	const struct buf *msg, const uint8_t *sig, size_t siglen) WUR;

/* The leaf hashes of the node's own log in order (n * 32 bytes appended to `out`). */
int checkpoint_own_leaves(struct buf *out, uint64_t *n, struct store *s) WUR;

/* The same from entry `from` on; *n gets the size of the whole log. */
int checkpoint_own_leaves_from(struct buf *out, uint64_t *n, struct store *s, uint64_t from) WUR;

#endif
