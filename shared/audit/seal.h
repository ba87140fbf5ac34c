/*
 * shared/audit/seal.h - forward-secure seals of a device's audit log (docs/AUDIT.md).
 *
 * A seal is a checkpoint signed with a one-time key: seal k states the size and tree head of a
 * prefix of the log and the public key of sealing key k+1, and is signed by sealing key k (seal
 * 0 by the enrolled device key, whose certificate it carries).  The device wipes a sealing key
 * once it has signed, so whoever takes the device later cannot re-sign what was sealed before.
 * The signed text, checkable with standard tools:
 *   fieldsync-seal v1\n<origin>\n<index>\n<size>\n<root hex>\n<time>\n<next key hex>\n
 * Signatures are ECDSA P-256 over SHA-256 (DER); keys are DER SubjectPublicKeyInfo.
 */
#ifndef FIELDSYNC_SEAL_H
#define FIELDSYNC_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/hlc.h"
#include "store/store.h"

#define SEAL_KEY_MAX 160 /* a P-256 SubjectPublicKeyInfo is 91 bytes */
#define SEAL_CERT_MAX 4096

struct seal {
	uint64_t index;
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
	char time[HLC_STR_MAX];
	uint8_t next_key[SEAL_KEY_MAX]; /* public key of sealing key index + 1 */
	size_t next_keylen;
	uint8_t sig[CHECKPOINT_SIG_MAX];
	size_t siglen;
	uint8_t *cert; /* seal 0: the device certificate whose key signed it (owned); else NULL */
	size_t certlen;
};

/* Free what a seal owns (its certificate); s may be NULL. */
void seal_release(struct seal *s);

/* Free an array of n seals. */
void seal_free_list(struct seal *list, size_t n);

/* The text seal `s` signs, appended to `out`.  ERR_INVALID for a line break in a field. */
int seal_message(struct buf *out, const char *origin, const struct seal *s) WUR;

/*
 * Finish seal `s` (index, size and root already set; cert set for seal 0): a new sealing key
 * for the next seal is generated into `next_priv` (DER; the caller stores it and wipes it with
 * buf_wipe_release), its public key written to s->next_key, the time stamped, and the seal
 * signed with `priv` (borrowed: sealing key s->index, or the device key for seal 0).
 */
int seal_sign(struct seal *s, struct buf *next_priv, const char *origin, const uint8_t *priv,
	size_t privlen) WUR;

/*
 * Check that `s` continues the chain whose seals so far are chain[0..n-1] (chain[i].index ==
 * i is not required: chain may start at any index, but it is consecutive): its index is one
 * past the last, its size larger, and it is signed by the key the last one named; with n == 0
 * it must be seal 0, signed by its own certificate, which chains to `ca` (DER) and names the
 * device of `origin`.  A signature that fails is tried against every key of the chain that was
 * already retired and the device key, and the error names the key it matches.  ERR_AUTH with
 * the reason.  Heads are not checked here: see trail_verify().
 */
int seal_check_next(const struct seal *chain, size_t n, const struct seal *s, const char *origin,
	const uint8_t *ca, size_t calen) WUR;

/* Whether two seals are the same statement, byte for byte (certificate included). */
int seal_equal(const struct seal *a, const struct seal *b);

/* Seals from JSON (export or upload): {"index","size","root","time","next_key","signature"[,
 * "cert"]}.  ERR_INVALID naming what is malformed. */
int seal_from_json(struct seal *s, json_t *doc) WUR;

/* An array of seals from JSON (NULL or missing reads as none).  Free with seal_free_list. */
int seal_list_from_json(struct seal **out, size_t *n, json_t *array) WUR;

/* The JSON of a seal; NULL when out of memory. */
json_t *seal_json(const struct seal *s);

/*
 * Load seals with `sql` (columns: index, size, root, time, next_key, signature, cert; the
 * parameters bound per `types` as in store_bind, from the variable arguments) in order.
 * Free with seal_free_list.  ERR_CORRUPT for a malformed stored seal.
 */
int seal_load(struct seal **out, size_t *n, struct store *s, const char *sql, const char *types,
	...) WUR;

/*
 * Seal a device's own log: if entries were added since its newest seal, make the next seal
 * over the whole log (signed with the stored sealing key, or with `device_key` for seal 0,
 * carrying `device_cert`), store it with the tree's frontier and replace the sealing key, in
 * one transaction; then make sure no page of the database or its write-ahead log keeps the
 * retired key.  *made (may be NULL) gets 1 if a seal was made.  A failure changes nothing.
 */
int seal_own_log(int *made, struct store *s, const char *origin, const uint8_t *device_key,
	size_t keylen, const uint8_t *device_cert, size_t certlen) WUR;

/*
 * Check a device's own sealing state after its chain verified: the stored sealing key's public
 * half is the one the newest seal names (or no key and no seal).  ERR_CORRUPT otherwise.
 */
int seal_check_own_key(struct store *s, const struct seal *newest) WUR;

#endif
