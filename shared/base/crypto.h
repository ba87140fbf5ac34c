/*
 * shared/base/crypto.h - the cryptographic primitives fieldsync uses, over mbedTLS and libargon2.
 *
 * Random bytes come from the kernel (getrandom).  AEAD is AES-256-GCM with 96-bit nonces.
 * Passphrases are stretched with Argon2id; the cost is a parameter stored next to its output.
 * EC keys are P-256, passed around as DER (private keys in wiped buffers only).
 */
#ifndef FIELDSYNC_CRYPTO_H
#define FIELDSYNC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define CRYPTO_KEY_LEN 32
#define CRYPTO_NONCE_LEN 12
#define CRYPTO_TAG_LEN 16
#define CRYPTO_SHA256_LEN 32

/* Fill `out` with `len` random bytes from the kernel. ERR_IO if the kernel refuses. */
int crypto_random(void *out, size_t len) WUR;

/* The same as an mbedTLS f_rng callback (ctx unused). Returns 0 or an mbedTLS error. */
int crypto_rng(void *ctx, unsigned char *out, size_t len);

/* SHA-256 of one buffer. */
void crypto_sha256(uint8_t out[CRYPTO_SHA256_LEN], const void *data, size_t len);

/*
 * Incremental SHA-256.  OpenSSL's, which uses the CPU's SHA instructions (about 1.3 GB/s on
 * x86-64 with SHA-NI, against 0.14 GB/s for mbedTLS 2.28): evidence intake and verification
 * hash every byte twice, the audit trail hashes every entry.  The state is opaque here so
 * that only crypto.c sees OpenSSL.
 */
struct crypto_sha256 {
	_Alignas(8) unsigned char state[112]; /* OpenSSL's SHA256_CTX (checked in crypto.c) */
};
void crypto_sha256_init(struct crypto_sha256 *h);
void crypto_sha256_update(struct crypto_sha256 *h, const void *data, size_t len);
void crypto_sha256_final(uint8_t out[CRYPTO_SHA256_LEN], struct crypto_sha256 *h);

/* HKDF-SHA-256 (RFC 5869). ERR_INVALID if outlen is too large. */
int crypto_hkdf(uint8_t *out, size_t outlen, const void *salt, size_t saltlen, const void *ikm,
	size_t ikmlen, const void *info, size_t infolen) WUR;

/* AES-256-GCM encryption of `len` bytes; `ct` receives `len` bytes and `tag` 16. */
int crypto_aead_seal(uint8_t *ct, uint8_t tag[CRYPTO_TAG_LEN], const uint8_t key[CRYPTO_KEY_LEN],
	const uint8_t nonce[CRYPTO_NONCE_LEN], const void *aad, size_t aadlen, const void *pt,
	size_t len) WUR;

/* AES-256-GCM decryption; ERR_AUTH if the tag does not verify (pt is then wiped). */
int crypto_aead_open(uint8_t *pt, const uint8_t key[CRYPTO_KEY_LEN],
	const uint8_t nonce[CRYPTO_NONCE_LEN], const void *aad, size_t aadlen, const uint8_t *ct,
	size_t len, const uint8_t tag[CRYPTO_TAG_LEN]) WUR;

/* Argon2id cost: iterations, memory in KiB, lanes. */
struct crypto_kdf_cost {
	uint32_t t;
	uint32_t m_kib;
	uint32_t p;
};

/* The production cost (about a quarter of a second here) and a cheap one for tests only. */
extern const struct crypto_kdf_cost CRYPTO_KDF_DEFAULT;
extern const struct crypto_kdf_cost CRYPTO_KDF_LOW;

/* Costs outside these bounds are refused (a sidecar is outside input). */
#define CRYPTO_KDF_MAX_T 64
#define CRYPTO_KDF_MAX_M_KIB (4u * 1024 * 1024)
#define CRYPTO_KDF_MAX_P 16

/* Argon2id of a passphrase. ERR_INVALID for a cost out of bounds, ERR_NOMEM. */
int crypto_argon2id(uint8_t *out, size_t outlen, const void *pass, size_t passlen,
	const uint8_t *salt, size_t saltlen, const struct crypto_kdf_cost *cost) WUR;

/* A new P-256 private key, DER-encoded into `der` (wipe it with buf_wipe_release). */
int crypto_ec_keygen(struct buf *der) WUR;

/* The DER SubjectPublicKeyInfo of a DER private key. ERR_INVALID for a bad key. */
int crypto_ec_pubkey(struct buf *out, const uint8_t *priv, size_t privlen) WUR;

/* ECDSA-SHA256 signature (DER) of a 32-byte digest. */
int crypto_ec_sign(struct buf *sig, const uint8_t *priv, size_t privlen,
	const uint8_t hash[CRYPTO_SHA256_LEN]) WUR;

/* Verify an ECDSA signature with a DER public key: 0, or ERR_AUTH. */
int crypto_ec_verify(const uint8_t *pub, size_t publen, const uint8_t hash[CRYPTO_SHA256_LEN],
	const uint8_t *sig, size_t siglen) WUR;

/* Wipe memory in a way the compiler keeps. */
void crypto_wipe(void *p, size_t len);

/*
 * Keep the pages holding `len` bytes at p out of swap (mlock).  Best effort: a memory-lock
 * limit may refuse it, and the bytes are still wiped by their owner; cannot fail.  The pages
 * stay locked until the process ends (a lock is per page, not per holder).
 */
void crypto_lock(void *p, size_t len);

/*
 * For a process that holds keys, first thing in main(): no core file may be written
 * (RLIMIT_CORE 0, soft and hard) and the process is not dumpable (PR_SET_DUMPABLE 0: no
 * core, no ptrace or /proc/PID/mem by other processes of the same user).  ERR_IO.
 */
int crypto_harden_process(void) WUR;

/* Constant-time comparison: 1 if equal. */
int crypto_equal(const void *a, const void *b, size_t len);

/* Lowercase hex of `len` bytes into `out` (2*len+1 bytes with the NUL). */
void crypto_hex(char *out, const uint8_t *in, size_t len);

/* Decode exactly `outlen` bytes of hex. ERR_INVALID on a bad digit or the wrong length. */
int crypto_unhex(uint8_t *out, size_t outlen, const char *hex) WUR;

#endif
