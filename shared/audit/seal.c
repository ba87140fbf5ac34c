/* shared/audit/seal.c - forward-secure seals: a one-time key per checkpoint (docs/AUDIT.md). */
#include "audit/seal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "base/crypto.h"
#include "pki/pki.h"

void seal_release(struct seal *s)
{
	if (!s)
		return;
	free(s->cert);
	s->cert = NULL;
	s->certlen = 0;
}

void seal_free_list(struct seal *list, size_t n)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		seal_release(&list[i]);
	free(list);
}

int seal_message(struct buf *out, const char *origin, const struct seal *s)
{
	char root[2 * MERKLE_HASH_LEN + 1], key[2 * SEAL_KEY_MAX + 1];

	if (strchr(origin, '\n') || strchr(s->time, '\n'))
		return err_set(ERR_INVALID, "a seal field holds a line break");
	crypto_hex(root, s->root, MERKLE_HASH_LEN);
	crypto_hex(key, s->next_key, s->next_keylen);
	return buf_printf(out, "fieldsync-seal v1\n%s\n%llu\n%llu\n%s\n%s\n%s\n", origin,
		(unsigned long long)s->index, (unsigned long long)s->size, root, s->time, key);
}

int seal_sign(struct seal *s, struct buf *next_priv, const char *origin, const uint8_t *priv,
	size_t privlen)
{
	struct buf pub = BUF_INIT(SEAL_KEY_MAX),
		   msg = BUF_INIT(CHECKPOINT_MSG_MAX + 2 * SEAL_KEY_MAX);
	struct buf sig = BUF_INIT(CHECKPOINT_SIG_MAX);
	int error = crypto_ec_keygen(next_priv);

	if (!error)
		error = crypto_ec_pubkey(&pub, (const uint8_t *)next_priv->ptr, next_priv->len);
	if (!error) {
		memcpy(s->next_key, pub.ptr, pub.len);
		s->next_keylen = pub.len;
		hlc_iso8601(s->time, hlc_now_ms());
		error = seal_message(&msg, origin, s);
	}
	if (!error)
		error = checkpoint_sign(&sig, priv, privlen, &msg);
	if (!error) {
		memcpy(s->sig, sig.ptr, sig.len);
		s->siglen = sig.len;
	}
	buf_release(&pub);
	buf_release(&msg);
	buf_release(&sig);
	return error;
}

/* The DER public key of a certificate, appended to `out`. */
static int cert_pubkey(struct buf *out, const uint8_t *cert, size_t certlen)
{
	mbedtls_x509_crt crt;
	uint8_t tmp[SEAL_KEY_MAX];
	int n, error = 0;

	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, cert, certlen))
		error = err_set(ERR_INVALID, "the certificate of seal 0 does not parse");
	n = error ? 0 : mbedtls_pk_write_pubkey_der(&crt.pk, tmp, sizeof(tmp));
	if (!error && n <= 0)
		error = err_set(ERR_INVALID, "the certificate of seal 0 holds no usable key");
	if (!error)
		error = buf_put(out, tmp + sizeof(tmp) - (size_t)n, (size_t)n);
	mbedtls_x509_crt_free(&crt);
	return error;
}

static int verifies(const uint8_t *pub, size_t publen, const uint8_t digest[CRYPTO_SHA256_LEN],
	const struct seal *s)
{
	return crypto_ec_verify(pub, publen, digest, s->sig, s->siglen) == 0;
}

/* Name the retired key that signed `s`, if one did (an error either way). */
static int retired_signer(const struct seal *chain, size_t n, const struct seal *s,
	const uint8_t digest[CRYPTO_SHA256_LEN])
{
	struct buf dev = BUF_INIT(SEAL_KEY_MAX);
	size_t i;
	int error = 0;

	for (i = 0; i + 1 < n; i++)
		if (verifies(chain[i].next_key, chain[i].next_keylen, digest, s)) {
			error = err_set(ERR_AUTH,
				"seal %llu is signed with sealing key %llu, which was retired when it "
				"signed seal %llu: it was made again from an older copy of the device's "
				"key material",
				(unsigned long long)s->index,
				(unsigned long long)chain[i].index + 1,
				(unsigned long long)chain[i].index + 1);
			goto out;
		}
	if (n && chain[0].index == 0 && chain[0].cert &&
		!cert_pubkey(&dev, chain[0].cert, chain[0].certlen) &&
		verifies((const uint8_t *)dev.ptr, dev.len, digest, s)) {
		error = err_set(ERR_AUTH,
			"seal %llu is signed with the enrolled device key, which signs only seal 0",
			(unsigned long long)s->index);
		goto out;
	}
	error = err_set(ERR_AUTH, "seal %llu is not signed by the key seal %llu named",
		(unsigned long long)s->index, (unsigned long long)chain[n - 1].index);
out:
	buf_release(&dev);
	return error;
}

/* Seal 0: its certificate chains to the CA, names the trail's device, and signed it. */
static int check_first(const struct seal *s, const char *origin, const struct buf *msg,
	const uint8_t *ca, size_t calen)
{
	char office[SCHEMA_OFFICE_MAX + 1], device[PKI_DEVICE_LEN + 1];
	char who[SCHEMA_OFFICE_MAX + PKI_DEVICE_LEN + 2];
	uint8_t serial[PKI_SERIAL_LEN];
	char why[200];
	int error;

	if (s->index != 0)
		return err_set(ERR_AUTH,
			"the seal chain starts at seal %llu: seals 0 to %llu are missing",
			(unsigned long long)s->index, (unsigned long long)s->index - 1);
	if (!s->cert)
		return err_set(ERR_AUTH, "seal 0 carries no device certificate");
	if (pki_identity(office, device, serial, s->cert, s->certlen))
		return err_set(ERR_AUTH, "seal 0 is not signed by a device certificate");
	snprintf(who, sizeof(who), "%s/%s", office, device);
	if (strcmp(who, origin))
		return err_set(ERR_AUTH, "seal 0 is signed by %s, not by the device of this trail",
			who);
	error = checkpoint_verify(s->cert, s->certlen, ca, calen, msg, s->sig, s->siglen);
	if (error) {
		snprintf(why, sizeof(why), "%s", err_msg());
		error = err_set(ERR_AUTH, "seal 0 does not verify: %s", why);
	}
	return error;
}

int seal_check_next(const struct seal *chain, size_t n, const struct seal *s, const char *origin,
	const uint8_t *ca, size_t calen)
{
	struct buf msg = BUF_INIT(CHECKPOINT_MSG_MAX + 2 * SEAL_KEY_MAX);
	uint8_t digest[CRYPTO_SHA256_LEN];
	const struct seal *prev = n ? &chain[n - 1] : NULL;
	int error = seal_message(&msg, origin, s);

	if (error)
		goto out;
	crypto_sha256(digest, msg.ptr, msg.len);
	if (!prev) {
		error = check_first(s, origin, &msg, ca, calen);
		goto out;
	}
	if (s->index != prev->index + 1) {
		error = err_set(ERR_AUTH,
			"seal %llu follows seal %llu: the chain must be consecutive",
			(unsigned long long)s->index, (unsigned long long)prev->index);
		goto out;
	}
	if (s->size <= prev->size) {
		error = err_set(ERR_AUTH,
			"seal %llu covers %llu entries, no more than seal %llu (%llu)",
			(unsigned long long)s->index, (unsigned long long)s->size,
			(unsigned long long)prev->index, (unsigned long long)prev->size);
		goto out;
	}
	if (!verifies(prev->next_key, prev->next_keylen, digest, s))
		error = retired_signer(chain, n, s, digest);
out:
	buf_release(&msg);
	return error;
}

int seal_equal(const struct seal *a, const struct seal *b)
{
	return a->index == b->index && a->size == b->size &&
	       !memcmp(a->root, b->root, MERKLE_HASH_LEN) && !strcmp(a->time, b->time) &&
	       a->next_keylen == b->next_keylen &&
	       !memcmp(a->next_key, b->next_key, a->next_keylen) && a->siglen == b->siglen &&
	       !memcmp(a->sig, b->sig, a->siglen) && a->certlen == b->certlen &&
	       (!a->certlen || !memcmp(a->cert, b->cert, a->certlen));
}

static int unhex_field(uint8_t *out, size_t *len, size_t max, const char *hex)
{
	size_t n = hex ? strlen(hex) : 0;

	if (!hex || n % 2 || n / 2 > max || crypto_unhex(out, n / 2, hex))
		return -1;
	*len = n / 2;
	return 0;
}

int seal_from_json(struct seal *s, json_t *doc)
{
	const char *time = json_string_value(json_object_get(doc, "time"));
	const char *cert = json_string_value(json_object_get(doc, "cert"));
	json_t *index = json_object_get(doc, "index"), *size = json_object_get(doc, "size");
	size_t rootlen = 0;

	memset(s, 0, sizeof(*s));
	if (!json_is_integer(index) || json_integer_value(index) < 0 || !json_is_integer(size) ||
		json_integer_value(size) < 1 || !time || strlen(time) >= sizeof(s->time) ||
		unhex_field(s->root, &rootlen, MERKLE_HASH_LEN,
			json_string_value(json_object_get(doc, "root"))) ||
		rootlen != MERKLE_HASH_LEN ||
		unhex_field(s->next_key, &s->next_keylen, SEAL_KEY_MAX,
			json_string_value(json_object_get(doc, "next_key"))) ||
		unhex_field(s->sig, &s->siglen, CHECKPOINT_SIG_MAX,
			json_string_value(json_object_get(doc, "signature"))))
		return err_set(ERR_INVALID, "a seal is malformed");
	s->index = (uint64_t)json_integer_value(index);
	s->size = (uint64_t)json_integer_value(size);
	snprintf(s->time, sizeof(s->time), "%s", time);
	if (cert) {
		s->cert = malloc(SEAL_CERT_MAX);
		if (!s->cert)
			return err_set(ERR_NOMEM, "out of memory");
		if (unhex_field(s->cert, &s->certlen, SEAL_CERT_MAX, cert)) {
			seal_release(s);
			return err_set(ERR_INVALID, "the certificate of seal %llu is malformed",
				(unsigned long long)s->index);
		}
	}
	return 0;
}

int seal_list_from_json(struct seal **out, size_t *n, json_t *array)
{
	size_t i, count = json_array_size(array);
	struct seal *list;
	int error = 0;

	if (array && !json_is_array(array))
		return err_set(ERR_INVALID, "the seals are not a list");
	list = calloc(count ? count : 1, sizeof(*list));
	if (!list)
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; !error && i < count; i++)
		error = seal_from_json(&list[i], json_array_get(array, i));
	if (error) {
		seal_free_list(list, count);
		return error;
	}
	*out = list;
	*n = count;
	return 0;
}

json_t *seal_json(const struct seal *s)
{
	char root[2 * MERKLE_HASH_LEN + 1], key[2 * SEAL_KEY_MAX + 1];
	char sig[2 * CHECKPOINT_SIG_MAX + 1], *cert = NULL;
	json_t *doc;

	crypto_hex(root, s->root, MERKLE_HASH_LEN);
	crypto_hex(key, s->next_key, s->next_keylen);
	crypto_hex(sig, s->sig, s->siglen);
	doc = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "index", (json_int_t)s->index, "size",
		(json_int_t)s->size, "root", root, "time", s->time, "next_key", key, "signature",
		sig);
	if (doc && s->cert)
		cert = malloc(2 * s->certlen + 1);
	if (cert)
		crypto_hex(cert, s->cert, s->certlen);
	if (doc && s->cert && (!cert || json_object_set_new(doc, "cert", json_string(cert)))) {
		json_decref(doc);
		doc = NULL;
	}
	free(cert);
	return doc;
}

/* One stored row (index, size, root, time, next_key, signature, cert) into *out. */
static int read_row(struct seal *out, sqlite3_stmt *st)
{
	const char *time = (const char *)sqlite3_column_text(st, 3);
	int rootlen = sqlite3_column_bytes(st, 2), keylen = sqlite3_column_bytes(st, 4);
	int siglen = sqlite3_column_bytes(st, 5), certlen = sqlite3_column_bytes(st, 6);

	memset(out, 0, sizeof(*out));
	if (rootlen != MERKLE_HASH_LEN || keylen <= 0 || keylen > SEAL_KEY_MAX || siglen <= 0 ||
		siglen > CHECKPOINT_SIG_MAX || !time || strlen(time) >= sizeof(out->time) ||
		certlen > SEAL_CERT_MAX)
		return err_set(ERR_CORRUPT, "stored seal %lld is malformed",
			(long long)sqlite3_column_int64(st, 0));
	out->index = (uint64_t)sqlite3_column_int64(st, 0);
	out->size = (uint64_t)sqlite3_column_int64(st, 1);
	memcpy(out->root, sqlite3_column_blob(st, 2), MERKLE_HASH_LEN);
	snprintf(out->time, sizeof(out->time), "%s", time);
	memcpy(out->next_key, sqlite3_column_blob(st, 4), (size_t)keylen);
	out->next_keylen = (size_t)keylen;
	memcpy(out->sig, sqlite3_column_blob(st, 5), (size_t)siglen);
	out->siglen = (size_t)siglen;
	if (certlen > 0) {
		out->cert = malloc((size_t)certlen);
		if (!out->cert)
			return err_set(ERR_NOMEM, "out of memory");
		memcpy(out->cert, sqlite3_column_blob(st, 6), (size_t)certlen);
		out->certlen = (size_t)certlen;
	}
	return 0;
}

int seal_load(struct seal **out, size_t *n, struct store *s, const char *sql, const char *types,
	...)
{
	sqlite3_stmt *st = NULL;
	struct seal *list = NULL, *grown;
	size_t count = 0, cap = 0;
	va_list ap;
	int rc = 0, error;

	va_start(ap, types);
	error = store_vbind(&st, s, sql, types, ap);
	va_end(ap);
	while (!error && (rc = store_next(s, st)) > 0) {
		if (count == cap) {
			cap = cap ? 2 * cap : 16;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				error = err_set(ERR_NOMEM, "out of memory");
				break;
			}
			list = grown;
		}
		error = read_row(&list[count], st);
		if (!error)
			count++;
	}
	if (!error && rc < 0)
		error = rc;
	sqlite3_finalize(st);
	if (error) {
		seal_free_list(list, count);
		return error;
	}
	*out = list ? list : calloc(1, sizeof(*list));
	*n = count;
	return *out ? 0 : err_set(ERR_NOMEM, "out of memory");
}

/* ---- a device's own log -------------------------------------------------------------------- */

struct own_seal {
	struct store *s;
	const char *origin;
	const uint8_t *device_key, *device_cert;
	size_t keylen, certlen;
	int made;
};

/* The newest seal's index, size and frontier (f->size 0 and *has 0 when there is none). */
static int newest_seal(int *has, uint64_t *index, struct merkle_frontier *f, struct store *s)
{
	sqlite3_stmt *st = NULL;
	int rc, error = store_bind(&st, s,
			"SELECT idx, size, frontier FROM audit_seals ORDER BY idx DESC LIMIT 1",
			"");

	*has = 0;
	merkle_frontier_init(f);
	rc = error ? error : store_next(s, st);
	if (rc > 0) {
		*has = 1;
		*index = (uint64_t)sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 2) != SQLITE_BLOB ||
			merkle_frontier_decode(f, sqlite3_column_blob(st, 2),
				(size_t)sqlite3_column_bytes(st, 2)) ||
			f->size != (uint64_t)sqlite3_column_int64(st, 1))
			error = err_set(ERR_CORRUPT, "the frontier of seal %llu is malformed",
				(unsigned long long)*index);
	} else if (rc < 0) {
		error = rc;
	}
	sqlite3_finalize(st);
	return error;
}

static int seal_txn(void *ctx)
{
	struct own_seal *o = ctx;
	struct buf leaves = BUF_INIT((size_t)1 << 36), key = BUF_INIT(8192), next = BUF_INIT(8192);
	struct buf frontier = BUF_INIT(8 + 64 * MERKLE_HASH_LEN);
	struct merkle_frontier *f = calloc(1, sizeof(*f));
	struct seal seal;
	uint64_t index = 0, count = 0, base, i;
	int64_t key_index = -1;
	int has = 0, error = f ? 0 : err_set(ERR_NOMEM, "out of memory");

	memset(&seal, 0, sizeof(seal));
	if (!error)
		error = newest_seal(&has, &index, f, o->s);
	if (!error)
		error = checkpoint_own_leaves_from(&leaves, &count, o->s, f->size);
	base = f->size;
	if (error || count == f->size)
		goto out; /* nothing new to seal */
	for (i = f->size; i < count; i++)
		merkle_frontier_add(f, (const uint8_t *)leaves.ptr + (i - base) * MERKLE_HASH_LEN);
	seal.index = has ? index + 1 : 0;
	seal.size = count;
	merkle_frontier_root(seal.root, f);
	if (has) {
		error = store_query_int64(&key_index, o->s,
			"SELECT idx FROM audit_sealing_key WHERE id = 1", "");
		if (!error)
			error = store_query_bytes(&key, o->s,
				"SELECT key FROM audit_sealing_key WHERE id = 1", "");
		if (error == ERR_NOTFOUND || (!error && (uint64_t)key_index != seal.index))
			error = err_set(ERR_CORRUPT, "the sealing key for seal %llu is missing",
				(unsigned long long)seal.index);
	} else {
		seal.cert = (uint8_t *)o->device_cert; /* borrowed: not released below */
		seal.certlen = o->certlen;
		error = buf_put(&key, o->device_key, o->keylen);
	}
	if (!error)
		error = seal_sign(&seal, &next, o->origin, (const uint8_t *)key.ptr, key.len);
	if (!error)
		error = merkle_frontier_encode(&frontier, f);
	if (!error)
		error = store_run(o->s,
			"INSERT INTO audit_seals(idx, size, root, time, next_key, signature, cert,"
			" frontier) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			"iibtbbbb", (int64_t)seal.index, (int64_t)seal.size, seal.root,
			(size_t)MERKLE_HASH_LEN, seal.time, seal.next_key, seal.next_keylen,
			seal.sig, seal.siglen, seal.cert, seal.certlen, frontier.ptr, frontier.len);
	if (!error)
		error = store_run(o->s,
			"INSERT OR REPLACE INTO audit_sealing_key(id, idx, key) VALUES (1, ?, ?)",
			"ib", (int64_t)seal.index + 1, next.ptr, next.len);
	if (!error)
		o->made = 1;
out:
	buf_release(&leaves);
	buf_wipe_release(&key);
	buf_wipe_release(&next);
	buf_release(&frontier);
	free(f);
	return error;
}

int seal_own_log(int *made, struct store *s, const char *origin, const uint8_t *device_key,
	size_t keylen, const uint8_t *device_cert, size_t certlen)
{
	struct own_seal o = {s, origin, device_key, device_cert, keylen, certlen, 0};
	int error;

	/* the retired key's row is zeroed in its page, not only unlinked */
	error = store_exec(s, "PRAGMA secure_delete = ON");
	if (!error)
		error = store_txn(s, seal_txn, &o);
	if (store_exec(s, "PRAGMA secure_delete = OFF") && !error)
		error = ERR_GENERIC;
	/* no frame of the write-ahead log keeps the page with the retired key; a reader holding
	 * the log open only delays this to the next seal */
	if (!error && o.made)
		(void)!store_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
	if (made)
		*made = o.made;
	return error;
}

int seal_check_own_key(struct store *s, const struct seal *newest)
{
	struct buf key = BUF_INIT(8192), pub = BUF_INIT(SEAL_KEY_MAX);
	int64_t index = 0;
	int error = store_query_int64(&index, s, "SELECT idx FROM audit_sealing_key WHERE id = 1",
		"");

	if (error == ERR_NOTFOUND) {
		error = newest ? err_set(ERR_CORRUPT, "the sealing key for seal %llu is missing",
					 (unsigned long long)newest->index + 1)
			       : 0;
		goto out;
	}
	if (!error)
		error = store_query_bytes(&key, s, "SELECT key FROM audit_sealing_key WHERE id = 1",
			"");
	if (!error && (!newest || (uint64_t)index != newest->index + 1))
		error = err_set(ERR_CORRUPT,
			"the stored sealing key is for seal %lld, not the next "
			"seal of the chain",
			(long long)index);
	if (!error)
		error = crypto_ec_pubkey(&pub, (const uint8_t *)key.ptr, key.len);
	if (!error &&
		(pub.len != newest->next_keylen || memcmp(pub.ptr, newest->next_key, pub.len)))
		error = err_set(ERR_CORRUPT,
			"the stored sealing key is not the one seal %llu names",
			(unsigned long long)newest->index);
out:
	buf_wipe_release(&key);
	buf_release(&pub);
	return error;
}
