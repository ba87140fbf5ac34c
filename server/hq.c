/* server/hq.c - HQ server state: key file, PKI material, offices, tokens, enrollment. */
#include "hq.h"

#include <mbedtls/pk.h>
#include <mbedtls/x509_csr.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "pki/pki.h"

#define KEY_HEX_LEN (2 * CRYPTO_KEY_LEN)

int hq_key_file(struct buf *out, const struct cli *c, const char *home)
{
	const char *env = getenv("FIELDSYNC_KEY_FILE");

	if (c->passphrase_file)
		return buf_puts(out, c->passphrase_file);
	if (env && *env)
		return buf_puts(out, env);
	return buf_printf(out, "%s.key", home);
}

static int read_key_file(char hex[KEY_HEX_LEN + 1], const char *path)
{
	struct buf text = BUF_INIT(KEY_HEX_LEN + 2);
	struct stat sb;
	int error;

	if (stat(path, &sb) != 0)
		return err_set_errno(ERR_NOTFOUND, errno, "cannot read the key file '%s'", path);
	if (sb.st_mode & 077)
		return err_set(ERR_PERM, "the key file '%s' is readable by others (chmod 600 it)",
			path);
	error = cli_read_file(&text, path, KEY_HEX_LEN + 2);
	if (!error && text.len && text.ptr[text.len - 1] == '\n')
		text.ptr[--text.len] = '\0';
	if (!error && text.len != KEY_HEX_LEN)
		error = err_set(ERR_INVALID, "the key file '%s' is malformed", path);
	if (!error)
		memcpy(hex, text.ptr, KEY_HEX_LEN + 1);
	buf_wipe_release(&text);
	return error;
}

int hq_open(struct node **out, const struct cli *c)
{
	struct buf path = BUF_INIT(4096);
	char hex[KEY_HEX_LEN + 1];
	const char *home = NULL;
	int error;

	error = cli_home(&home, c);
	if (!error)
		error = hq_key_file(&path, c, home);
	if (!error)
		error = read_key_file(hex, path.ptr);
	if (!error)
		error = node_open(out, home, HQ_USER, hex, KEY_HEX_LEN);
	crypto_wipe(hex, sizeof(hex));
	buf_release(&path);
	return error;
}

int hq_pki_get(struct buf *out, struct node *n, const char *name)
{
	return store_material_get(out, n->store, name);
}

int hq_pki_put(struct node *n, const char *name, const uint8_t *der, size_t len)
{
	return store_material_put(n->store, name, der, len);
}

int hq_org(struct buf *out, struct node *n)
{
	return store_meta_get(out, n->store, "org");
}

static int office_state(int *exists, int *revoked, struct node *n, const char *office)
{
	sqlite3_stmt *st = NULL;
	int rc, error;

	*exists = *revoked = 0;
	error = store_prepare(&st, n->store, "SELECT revoked_at FROM offices WHERE code = ?");
	if (error)
		return error;
	sqlite3_bind_text(st, 1, office, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*exists = 1;
		*revoked = sqlite3_column_type(st, 0) != SQLITE_NULL;
	} else if (rc != SQLITE_DONE) {
		error = store_error(n->store, "cannot read offices");
	}
	sqlite3_finalize(st);
	return error;
}

int hq_token_new(char text[ENROLL_TOKEN_MAX], struct node *n, const char *office,
	int64_t token_seconds, int64_t cert_seconds)
{
	struct buf ca = BUF_INIT(ENROLL_DER_MAX);
	struct enroll_token tok;
	sqlite3_stmt *st = NULL;
	uint8_t fp[32], hash[32];
	char now[HLC_STR_MAX];
	int exists, revoked, error;

	error = office_state(&exists, &revoked, n, office);
	if (!error && (!exists || revoked))
		error = err_set(ERR_NOTFOUND, "no active office '%s'", office);
	if (!error)
		error = hq_pki_get(&ca, n, "ca_cert");
	if (error)
		goto out;
	pki_fingerprint(fp, (const uint8_t *)ca.ptr, ca.len);
	error = enroll_token_new(&tok, text, office, fp);
	if (error)
		goto out;
	enroll_token_hash(hash, &tok);
	hlc_iso8601(now, hlc_now_ms());
	error = store_prepare(&st, n->store,
		"INSERT INTO enroll_tokens(hash, office, created_at, expires_at, cert_seconds)"
		" VALUES (?, ?, ?, ?, ?)");
	if (!error) {
		sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, office, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)(time(NULL) + token_seconds));
		sqlite3_bind_int64(st, 5, (sqlite3_int64)cert_seconds);
		error = store_step_done(n->store, st);
	}
	if (!error)
		error = node_audit(n, "office.token", office, "success", "one-time enrollment token");
out:
	crypto_wipe(&tok, sizeof(tok));
	sqlite3_finalize(st);
	buf_release(&ca);
	return error;
}

/* Find and burn the token: ERR_AUTH unless it exists, is unused and unexpired. */
static int burn_token(char office[SCHEMA_OFFICE_MAX + 1], int64_t *cert_seconds, struct node *n,
	const uint8_t secret[ENROLL_SECRET_LEN], const char *device)
{
	sqlite3_stmt *st = NULL;
	uint8_t hash[32];
	char now[HLC_STR_MAX];
	int rc, error;

	crypto_sha256(hash, secret, ENROLL_SECRET_LEN);
	error = store_prepare(&st, n->store,
		"SELECT office, expires_at, used_at, cert_seconds FROM enroll_tokens WHERE hash = ?");
	if (error)
		return error;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		error = rc == SQLITE_DONE ? err_set(ERR_AUTH, "unknown enrollment token")
					  : store_error(n->store, "cannot read tokens");
	else if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		error = err_set(ERR_AUTH, "enrollment token already used");
	else if (sqlite3_column_int64(st, 1) < (sqlite3_int64)time(NULL))
		error = err_set(ERR_AUTH, "enrollment token expired");
	else {
		snprintf(office, SCHEMA_OFFICE_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		*cert_seconds = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (error)
		return error;
	hlc_iso8601(now, hlc_now_ms());
	error = store_prepare(&st, n->store,
		"UPDATE enroll_tokens SET used_at = ?, device = ? WHERE hash = ?");
	if (!error) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
		error = store_step_done(n->store, st);
	}
	sqlite3_finalize(st);
	return error;
}

static int record_device(struct node *n, const char *device, const char *office,
	const uint8_t serial[16], const struct buf *cert)
{
	sqlite3_stmt *st = NULL;
	char now[HLC_STR_MAX];
	int error;

	hlc_iso8601(now, hlc_now_ms());
	error = store_prepare(&st, n->store,
		"INSERT INTO devices(device, office, serial, cert, enrolled_at) VALUES (?, ?, ?, ?, ?)");
	if (error)
		return error;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, office, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, serial, 16, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, cert->ptr, (int)cert->len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
	error = store_step_done(n->store, st);
	if (error == ERR_EXISTS)
		error = err_set(ERR_EXISTS, "device '%s' is already enrolled", device);
	sqlite3_finalize(st);
	return error;
}

static int issue(struct enroll_response *resp, struct node *n, const struct enroll_request *req,
	const char *office, int64_t cert_seconds)
{
	struct buf ca_key = BUF_INIT(ENROLL_DER_MAX);
	struct pki_validity v;
	uint8_t serial[16];
	int error;

	error = hq_pki_get(&ca_key, n, "ca_key");
	if (!error)
		error = hq_pki_get(&resp->ca, n, "ca_cert");
	pki_validity_days(&v, (int64_t)time(NULL), 0);
	v.not_after = (int64_t)time(NULL) + cert_seconds;
	if (!error)
		error = pki_issue_device(&resp->cert, serial, (const uint8_t *)ca_key.ptr, ca_key.len,
			(const uint8_t *)resp->ca.ptr, resp->ca.len, (const uint8_t *)req->csr.ptr,
			req->csr.len, office, req->device, &v);
	if (!error)
		error = record_device(n, req->device, office, serial, &resp->cert);
	if (!error) {
		snprintf(resp->office, sizeof(resp->office), "%s", office);
		snprintf(resp->device, sizeof(resp->device), "%s", req->device);
	}
	buf_wipe_release(&ca_key);
	return error;
}

int hq_enroll(struct enroll_response *resp, struct node *n, const struct enroll_request *req,
	const char *peer)
{
	char office[SCHEMA_OFFICE_MAX + 1] = "", detail[128];
	int64_t cert_seconds = HQ_CERT_SECONDS;
	int exists, revoked, error;

	snprintf(detail, sizeof(detail), "device %s from %s", req->device, peer);
	error = store_begin(n->store);
	if (!error)
		error = burn_token(office, &cert_seconds, n, req->secret, req->device);
	if (!error && strcmp(office, req->office) != 0)
		error = err_set(ERR_AUTH, "the token is for office '%s', not '%s'", office,
			req->office);
	if (!error)
		error = office_state(&exists, &revoked, n, office);
	if (!error && (!exists || revoked))
		error = err_set(ERR_AUTH, "office '%s' is revoked", office);
	if (!error)
		error = issue(resp, n, req, office, cert_seconds);
	if (!error)
		error = node_audit(n, "device.enroll", req->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error)
		return node_audit_failure(n, "device.enroll", req->device, error);
	return 0;
}

int hq_serial_revoked(int *revoked, struct node *n, const uint8_t serial[16])
{
	sqlite3_stmt *st = NULL;
	int rc, error;

	error = store_prepare(&st, n->store,
		"SELECT d.revoked_at IS NOT NULL OR o.revoked_at IS NOT NULL"
		" FROM devices d JOIN offices o ON o.code = d.office"
		" WHERE d.serial = ?1 OR d.prev_serial = ?1");
	if (error)
		return error;
	sqlite3_bind_blob(st, 1, serial, 16, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*revoked = sqlite3_column_int(st, 0);
	else if (rc == SQLITE_DONE)
		*revoked = 1; /* a certificate the server has no record of */
	else
		error = store_error(n->store, "cannot check revocation");
	sqlite3_finalize(st);
	return error;
}

/* The public key (DER) of a CSR, to hold a renewal to the key the device already has. */
static int csr_pubkey(struct buf *out, const uint8_t *csr, size_t len)
{
	mbedtls_x509_csr req;
	unsigned char tmp[256];
	int n, error = 0;

	mbedtls_x509_csr_init(&req);
	if (mbedtls_x509_csr_parse_der(&req, csr, len)) {
		error = err_set(ERR_INVALID, "the renewal request is not a CSR");
	} else {
		n = mbedtls_pk_write_pubkey_der(&req.pk, tmp, sizeof(tmp));
		error = n <= 0 ? err_set(ERR_INVALID, "the renewal request holds no usable key")
			       : buf_put(out, tmp + sizeof(tmp) - n, (size_t)n);
	}
	mbedtls_x509_csr_free(&req);
	return error;
}

static int record_renewal(struct node *n, const char *device, const uint8_t serial[16],
	const struct buf *cert)
{
	sqlite3_stmt *st = NULL;
	int error = store_prepare(&st, n->store,
		"UPDATE devices SET prev_serial = serial, serial = ?, cert = ? WHERE device = ?"
		" AND revoked_at IS NULL");

	if (error)
		return error;
	sqlite3_bind_blob(st, 1, serial, 16, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, cert->ptr, (int)cert->len, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, device, -1, SQLITE_STATIC);
	error = store_step_done(n->store, st);
	if (!error && sqlite3_changes(store_db(n->store)) != 1)
		error = err_set(ERR_AUTH, "device %s is not enrolled or is revoked", device);
	sqlite3_finalize(st);
	return error;
}

int hq_renew(struct buf *cert_out, struct node *n, const char *office, const char *device,
	const uint8_t *pub, size_t publen, const uint8_t *csr, size_t csrlen)
{
	struct buf ca_key = BUF_INIT(ENROLL_DER_MAX), ca = BUF_INIT(ENROLL_DER_MAX);
	struct buf key = BUF_INIT(256);
	struct pki_validity v;
	uint8_t serial[16];
	int error;

	pki_validity_days(&v, (int64_t)time(NULL), 0);
	v.not_after = (int64_t)time(NULL) + HQ_CERT_SECONDS;
	error = csr_pubkey(&key, csr, csrlen);
	if (!error && (key.len != publen || memcmp(key.ptr, pub, publen)))
		error = err_set(ERR_AUTH, "a renewal keeps the device's key: the request names another");
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = hq_pki_get(&ca_key, n, "ca_key");
	if (!error)
		error = hq_pki_get(&ca, n, "ca_cert");
	if (!error)
		error = pki_issue_device(cert_out, serial, (const uint8_t *)ca_key.ptr, ca_key.len,
			(const uint8_t *)ca.ptr, ca.len, csr, csrlen, office, device, &v);
	if (!error)
		error = record_renewal(n, device, serial, cert_out);
	if (!error)
		error = node_audit(n, "device.renew", device, "success", office);
	if (!error)
		error = store_commit(n->store);
	buf_wipe_release(&ca_key);
	buf_release(&ca);
	buf_release(&key);
	if (error) {
		store_rollback(n->store);
		return node_audit_failure(n, "device.renew", device, error);
	}
	return 0;
}

int hq_serial_in_use(struct node *n, const uint8_t serial[16])
{
	sqlite3_stmt *st = NULL;
	int pending, error;

	/* a read first: the write happens once per renewal, not on every request */
	error = store_prepare(&st, n->store,
		"SELECT 1 FROM devices WHERE serial = ? AND prev_serial IS NOT NULL");
	if (error)
		return error;
	sqlite3_bind_blob(st, 1, serial, 16, SQLITE_STATIC);
	pending = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!pending)
		return 0;
	error = store_prepare(&st, n->store,
		"UPDATE devices SET prev_serial = NULL WHERE serial = ? AND prev_serial IS NOT NULL");
	if (error)
		return error;
	sqlite3_bind_blob(st, 1, serial, 16, SQLITE_STATIC);
	error = store_step_done(n->store, st);
	sqlite3_finalize(st);
	return error;
}
