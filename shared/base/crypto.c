/* shared/base/crypto.c - primitives over mbedTLS 2.28, libargon2 and OpenSSL (SHA-256, P-256). */
#define OPENSSL_API_COMPAT 10101 /* SHA256_Init() and friends: the fastest path for short inputs */
#include "base/crypto.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>

#include <argon2.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

/* Measured on the 2-core target: t=3, 64 MiB is about 0.2-0.3 s. */
const struct crypto_kdf_cost CRYPTO_KDF_DEFAULT = {3, 64 * 1024, 1};
const struct crypto_kdf_cost CRYPTO_KDF_LOW = {1, 64, 1};

int crypto_random(void *out, size_t len)
{
	uint8_t *p = out;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set_errno(ERR_IO, errno, "cannot read random bytes");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int crypto_rng(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	return crypto_random(out, len) ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

void crypto_sha256(uint8_t out[CRYPTO_SHA256_LEN], const void *data, size_t len)
{
	struct crypto_sha256 h;

	crypto_sha256_init(&h);
	crypto_sha256_update(&h, data, len);
	crypto_sha256_final(out, &h);
}

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct crypto_sha256 *)0)->state),
	"struct crypto_sha256 holds an OpenSSL SHA256_CTX");

void crypto_sha256_init(struct crypto_sha256 *h)
{
	(void)SHA256_Init((SHA256_CTX *)(void *)h->state);
}

void crypto_sha256_update(struct crypto_sha256 *h, const void *data, size_t len)
{
	(void)SHA256_Update((SHA256_CTX *)(void *)h->state, data, len);
}

void crypto_sha256_final(uint8_t out[CRYPTO_SHA256_LEN], struct crypto_sha256 *h)
{
	(void)SHA256_Final(out, (SHA256_CTX *)(void *)h->state);
	crypto_wipe(h->state, sizeof(h->state));
}

int crypto_hkdf(uint8_t *out, size_t outlen, const void *salt, size_t saltlen, const void *ikm,
	size_t ikmlen, const void *info, size_t infolen)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (mbedtls_hkdf(md, salt, saltlen, ikm, ikmlen, info, infolen, out, outlen))
		return err_set(ERR_INVALID, "hkdf failed (output of %zu bytes)", outlen);
	return 0;
}

int crypto_aead_seal(uint8_t *ct, uint8_t tag[CRYPTO_TAG_LEN], const uint8_t key[CRYPTO_KEY_LEN],
	const uint8_t nonce[CRYPTO_NONCE_LEN], const void *aad, size_t aadlen, const void *pt,
	size_t len)
{
	mbedtls_gcm_context gcm;
	int error = 0;

	mbedtls_gcm_init(&gcm);
	if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256) ||
		mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, nonce, CRYPTO_NONCE_LEN,
			aad, aadlen, pt, ct, CRYPTO_TAG_LEN, tag))
		error = err_set(ERR_GENERIC, "aes-gcm encryption failed");
	mbedtls_gcm_free(&gcm);
	return error;
}

int crypto_aead_open(uint8_t *pt, const uint8_t key[CRYPTO_KEY_LEN],
	const uint8_t nonce[CRYPTO_NONCE_LEN], const void *aad, size_t aadlen, const uint8_t *ct,
	size_t len, const uint8_t tag[CRYPTO_TAG_LEN])
{
	mbedtls_gcm_context gcm;
	int error = 0;

	mbedtls_gcm_init(&gcm);
	if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256)) {
		error = err_set(ERR_GENERIC, "aes-gcm key setup failed");
	} else if (mbedtls_gcm_auth_decrypt(&gcm, len, nonce, CRYPTO_NONCE_LEN, aad, aadlen, tag,
			   CRYPTO_TAG_LEN, ct, pt)) {
		crypto_wipe(pt, len);
		error = err_set(ERR_AUTH, "authentication tag does not match");
	}
	mbedtls_gcm_free(&gcm);
	return error;
}

int crypto_argon2id(uint8_t *out, size_t outlen, const void *pass, size_t passlen,
	const uint8_t *salt, size_t saltlen, const struct crypto_kdf_cost *cost)
{
	int rc;

	if (cost->t < 1 || cost->t > CRYPTO_KDF_MAX_T || cost->m_kib < 8 * cost->p ||
		cost->m_kib > CRYPTO_KDF_MAX_M_KIB || cost->p < 1 || cost->p > CRYPTO_KDF_MAX_P)
		return err_set(ERR_INVALID, "argon2id cost out of bounds (t=%u m=%u p=%u)", cost->t,
			cost->m_kib, cost->p);
	rc = argon2id_hash_raw(cost->t, cost->m_kib, cost->p, pass, passlen, salt, saltlen, out,
		outlen);
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		return err_set(ERR_NOMEM, "argon2id: out of memory");
	if (rc != ARGON2_OK)
		return err_set(ERR_GENERIC, "argon2id: %s", argon2_error_message(rc));
	return 0;
}

/*
 * P-256 keys and signatures through OpenSSL, not mbedTLS: mbedTLS 2.28's generic bignum code
 * costs about 1.4-2 ms for a key or a signature here, OpenSSL's constant-time P-256 code a
 * small fraction of that, and every sync makes a seal (a new key, a signature) and signs a
 * checkpoint, and HQ countersigns it.  The encodings are the standard ones either library
 * reads: a private key as SEC1 ECPrivateKey DER with its named curve and public key (what
 * mbedtls_pk_write_key_der wrote, so keys made before read the same), a public key as DER
 * SubjectPublicKeyInfo, a signature as DER ECDSA-Sig-Value.
 */
static int private_key(EVP_PKEY **out, const uint8_t *priv, size_t privlen)
{
	const unsigned char *p = priv;
	EVP_PKEY *key = privlen <= LONG_MAX ? d2i_AutoPrivateKey(NULL, &p, (long)privlen) : NULL;

	ERR_clear_error();
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		EVP_PKEY_free(key);
		return err_set(ERR_INVALID, "not a valid EC private key");
	}
	*out = key;
	return 0;
}

/* i2d_* of a key into `out`: the encoder's length, then the bytes. */
static int put_encoded(struct buf *out, EVP_PKEY *key, int public_only)
{
	unsigned char *der = NULL;
	int n = public_only ? i2d_PUBKEY(key, &der) : i2d_PrivateKey(key, &der);
	int error = n > 0 ? buf_put(out, der, (size_t)n)
			  : err_set(ERR_GENERIC, "cannot encode a P-256 key");

	if (der && n > 0)
		OPENSSL_clear_free(der, (size_t)n);
	ERR_clear_error();
	return error;
}

int crypto_ec_keygen(struct buf *der)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	int error = key ? put_encoded(der, key, 0)
			: err_set(ERR_GENERIC, "cannot generate a P-256 key");

	ERR_clear_error();
	EVP_PKEY_free(key);
	return error;
}

int crypto_ec_pubkey(struct buf *out, const uint8_t *priv, size_t privlen)
{
	EVP_PKEY *key = NULL;
	int error = private_key(&key, priv, privlen);

	if (!error)
		error = put_encoded(out, key, 1);
	EVP_PKEY_free(key);
	return error;
}

int crypto_ec_sign(struct buf *sig, const uint8_t *priv, size_t privlen,
	const uint8_t hash[CRYPTO_SHA256_LEN])
{
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char tmp[128];
	size_t n = sizeof(tmp);
	int error = private_key(&key, priv, privlen);

	if (!error) {
		ctx = EVP_PKEY_CTX_new(key, NULL);
		if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
			EVP_PKEY_sign(ctx, tmp, &n, hash, CRYPTO_SHA256_LEN) != 1)
			error = err_set(ERR_GENERIC, "ecdsa signature failed");
	}
	if (!error)
		error = buf_put(sig, tmp, n);
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	return error;
}

/*
 * Through OpenSSL, not mbedTLS: mbedTLS 2.28's P-256 verification costs about 1.4 ms here,
 * OpenSSL's (its constant-time P-256 code) a small fraction of that, and HQ verifies several
 * signatures at every device's sync (the checkpoint, the seals, the certificates' keys).  The
 * key must be one whole DER SubjectPublicKeyInfo of an EC key, the signature one DER
 * ECDSA-Sig-Value with nothing after it (OpenSSL re-encodes it and compares).
 */
int crypto_ec_verify(const uint8_t *pub, size_t publen, const uint8_t hash[CRYPTO_SHA256_LEN],
	const uint8_t *sig, size_t siglen)
{
	const unsigned char *p = pub;
	EVP_PKEY *key = publen <= LONG_MAX ? d2i_PUBKEY(NULL, &p, (long)publen) : NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int error = 0;

	if (!key || p != pub + publen || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		error = err_set(ERR_INVALID, "not a valid EC public key");
		goto out;
	}
	ctx = EVP_PKEY_CTX_new(key, NULL);
	if (!ctx || EVP_PKEY_verify_init(ctx) != 1)
		error = err_set(ERR_NOMEM, "cannot start a signature check");
	else if (EVP_PKEY_verify(ctx, sig, siglen, hash, CRYPTO_SHA256_LEN) != 1)
		error = err_set(ERR_AUTH, "signature does not verify");
out:
	ERR_clear_error(); /* nothing of OpenSSL's error queue outlives the call */
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	return error;
}

void crypto_wipe(void *p, size_t len)
{
	if (p && len)
		mbedtls_platform_zeroize(p, len);
}

void crypto_lock(void *p, size_t len)
{
	if (p && len)
		(void)mlock(p, len);
}

int crypto_harden_process(void)
{
	struct rlimit none = {0, 0};

	if (setrlimit(RLIMIT_CORE, &none) != 0)
		return err_set_errno(ERR_IO, errno, "cannot turn core dumps off");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return err_set_errno(ERR_IO, errno, "cannot make the process non-dumpable");
	return 0;
}

int crypto_equal(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	size_t i;

	for (i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void crypto_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int crypto_unhex(uint8_t *out, size_t outlen, const char *hex)
{
	size_t i;

	if (strlen(hex) != 2 * outlen)
		return err_set(ERR_INVALID, "expected %zu hex digits", 2 * outlen);
	for (i = 0; i < outlen; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return err_set(ERR_INVALID, "bad hex digit");
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
