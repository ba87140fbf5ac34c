/* shared/audit/checkpoint.c - signed checkpoints and receipts of audit logs. */
#include "audit/checkpoint.h"

#include <pthread.h>
#include <string.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "base/crypto.h"
#include "pki/pki.h"

int checkpoint_message(struct buf *out, const char *kind, const char *origin, uint64_t size,
	const uint8_t root[MERKLE_HASH_LEN], const char *time)
{
	char hex[2 * MERKLE_HASH_LEN + 1];

	if (strchr(origin, '\n') || strchr(time, '\n'))
		return err_set(ERR_INVALID, "a checkpoint field holds a line break");
	crypto_hex(hex, root, MERKLE_HASH_LEN);
	return buf_printf(out, "fieldsync-%s v1\n%s\n%llu\n%s\n%s\n", kind, origin,
		(unsigned long long)size, hex, time);
}

int checkpoint_sign(struct buf *sig, const uint8_t *key, size_t keylen, const struct buf *msg)
{
	uint8_t digest[CRYPTO_SHA256_LEN];

	crypto_sha256(digest, msg->ptr, msg->len);
	return crypto_ec_sign(sig, key, keylen, digest);
}

/*
 * The (certificate, CA) pairs whose chain check passed, by the hash of both: HQ checks the same
 * device certificate for the checkpoint and every seal of each upload, at about 1.4 ms of
 * mbedTLS's P-256 each.  With the expiry ignored (below) the outcome depends on the two DER
 * encodings alone, so a pair seen to pass passes again; failures are not kept.
 */
#define CHAIN_CACHE 64

static pthread_mutex_t chain_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t chain_ok[CHAIN_CACHE][CRYPTO_SHA256_LEN];
static size_t chain_used, chain_next;

static void chain_key(uint8_t out[CRYPTO_SHA256_LEN], const uint8_t *cert, size_t certlen,
	const uint8_t *ca, size_t calen)
{
	uint8_t both[2 * CRYPTO_SHA256_LEN];

	crypto_sha256(both, cert, certlen);
	crypto_sha256(both + CRYPTO_SHA256_LEN, ca, calen);
	crypto_sha256(out, both, sizeof(both));
}

static int chain_known(const uint8_t key[CRYPTO_SHA256_LEN])
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&chain_lock);
	for (i = 0; i < chain_used && !found; i++)
		found = !memcmp(chain_ok[i], key, CRYPTO_SHA256_LEN);
	pthread_mutex_unlock(&chain_lock);
	return found;
}

static void chain_remember(const uint8_t key[CRYPTO_SHA256_LEN])
{
	pthread_mutex_lock(&chain_lock);
	memcpy(chain_ok[chain_next], key, CRYPTO_SHA256_LEN);
	chain_next = (chain_next + 1) % CHAIN_CACHE;
	if (chain_used < CHAIN_CACHE)
		chain_used++;
	pthread_mutex_unlock(&chain_lock);
}

int checkpoint_verify(const uint8_t *cert, size_t certlen, const uint8_t *ca, size_t calen,
	const struct buf *msg, const uint8_t *sig, size_t siglen)
{
	mbedtls_x509_crt crt, anchor;
	uint8_t digest[CRYPTO_SHA256_LEN], pair[CRYPTO_SHA256_LEN];
	uint32_t flags = 0;
	int error = 0;

	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&anchor);
	if (mbedtls_x509_crt_parse_der(&crt, cert, certlen) ||
		pki_trust_parse(&anchor, ca, calen)) { /* the CAs of every rollover */
		error = err_set(ERR_INVALID, "a certificate of the trail does not parse");
		goto out;
	}
	chain_key(pair, cert, certlen, ca, calen);
	/* A signature made while the certificate was valid stays valid after it expires. */
	if (!chain_known(pair)) {
		mbedtls_x509_crt_verify(&crt, &anchor, NULL, NULL, &flags, NULL, NULL);
		if (flags &
			~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)) {
			error = err_set(ERR_AUTH,
				"the signing certificate was not issued by this CA");
			goto out;
		}
		chain_remember(pair);
	}
	crypto_sha256(digest, msg->ptr, msg->len);
	/* the certificate's own key (its SubjectPublicKeyInfo), checked by crypto_ec_verify() */
	if (crypto_ec_verify(crt.pk_raw.p, crt.pk_raw.len, digest, sig, siglen))
		error = err_set(ERR_AUTH, "the signature does not match");
out:
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&anchor);
	return error;
}

int checkpoint_own_leaves(struct buf *out, uint64_t *n, struct store *s)
{
	return checkpoint_own_leaves_from(out, n, s, 0);
}

int checkpoint_own_leaves_from(struct buf *out, uint64_t *n, struct store *s, uint64_t from)
{
	sqlite3_stmt *st = NULL;
	uint64_t count = from;
	int rc, error;

	error = store_prepare(&st, s, "SELECT seq, leaf FROM audit_log WHERE seq >= ? ORDER BY seq");
	if (!error)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
	while (!error && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(st, 0) != count ||
			sqlite3_column_bytes(st, 1) != MERKLE_HASH_LEN) {
			error = err_set(ERR_CORRUPT, "audit entry %llu is missing or malformed",
				(unsigned long long)count);
			break;
		}
		error = buf_put(out, sqlite3_column_blob(st, 1), MERKLE_HASH_LEN);
		count++;
	}
	if (!error && rc != SQLITE_DONE)
		error = store_error(s, "cannot read the audit log");
	sqlite3_finalize(st);
	if (!error)
		*n = count;
	return error;
}
