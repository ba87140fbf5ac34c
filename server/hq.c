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
#include "hqdb.h"
#include "node/backup.h"
#include "keyfile.h"
#include "pki/pki.h"
#include "program.h"

int hq_key_file(struct buf *out, const struct cli *c, const char *home)
{
	const char *env = getenv("FIELDSYNC_KEY_FILE");

	if (c->key_file)
		return buf_puts(out, c->key_file);
	if (env && *env)
		return buf_puts(out, env);
	return buf_printf(out, "%s.key", home);
}

int hq_unlock_path(struct buf *out, int *credential, const struct cli *c, const char *home)
{
	int found = 0;

	*credential = 0;
	/* an operator's explicit --key-file wins; otherwise systemd's copy, then the usual file */
	if (!cli_given(c, "--key-file"))
		found = cli_credential(out, HQ_CREDENTIAL);
	if (found < 0)
		return found;
	if (found) {
		*credential = 1;
		return 0;
	}
	buf_reset(out);
	return hq_key_file(out, c, home);
}

int hq_key_hex(char hex[CLI_KEY_HEX_LEN + 1], const char **home, const struct cli *c)
{
	struct buf path = BUF_INIT(4096);
	int credential = 0, error = cli_home(home, c);

	if (!error)
		error = hq_unlock_path(&path, &credential, c, *home);
	if (!error)
		error = cli_key_file_read(hex, path.ptr);
	buf_release(&path);
	return error;
}

int hq_open(struct node **out, const struct cli *c)
{
	char hex[CLI_KEY_HEX_LEN + 1];
	const char *home = NULL;
	int error = hq_key_hex(hex, &home, c);

	if (!error)
		error = node_open(out, home, HQ_USER, hex, CLI_KEY_HEX_LEN);
	crypto_wipe(hex, sizeof(hex));
	return error;
}

int hq_open_key(struct node **out, uint8_t key[CRYPTO_KEY_LEN], const struct cli *c)
{
	char hex[CLI_KEY_HEX_LEN + 1];
	const char *home = NULL;
	int error = hq_key_hex(hex, &home, c);

	if (!error)
		error = node_open_keep_key(out, key, home, HQ_USER, hex, CLI_KEY_HEX_LEN);
	crypto_wipe(hex, sizeof(hex));
	return error;
}

const char *hq_staff_user(const struct cli *c)
{
	const char *user = c->user ? c->user : getenv("FIELDSYNC_USER");

	return user && *user && strcmp(user, HQ_USER) != 0 ? user : NULL;
}

int hq_open_user(struct node **out, const struct cli *c)
{
	struct buf pass = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	const char *home = NULL, *user = hq_staff_user(c);
	char prompt[128];
	int error;

	if (!user)
		return hq_open(out, c);
	error = cli_home(&home, c);
	snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", user);
	if (!error)
		error = cli_passphrase(&pass, c, prompt, 0);
	if (!error)
		error = node_open(out, home, user, buf_cstr(&pass), pass.len);
	buf_wipe_release(&pass);
	return error;
}

int hq_own_secret(struct buf *out, const struct cli *c)
{
	char hex[CLI_KEY_HEX_LEN + 1];
	const char *home = NULL;
	int error;

	if (hq_staff_user(c))
		return cli_passphrase(out, c, "Your passphrase: ", 0);
	error = hq_key_hex(hex, &home, c);
	if (!error)
		error = buf_put(out, hex, CLI_KEY_HEX_LEN);
	crypto_wipe(hex, sizeof(hex));
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

int hq_json_out(struct buf *out, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	int error = text ? buf_puts(out, text) : err_set(ERR_NOMEM, "out of memory");

	free(text);
	json_decref(doc);
	return error;
}

int hq_org(struct buf *out, struct node *n)
{
	return store_meta_get(out, n->store, "org");
}

int hq_advertise(struct buf *out, struct node *n)
{
	struct buf listen = BUF_INIT(512);
	const char *port;
	int error = store_meta_get(out, n->store, "advertise");

	if (error != ERR_NOTFOUND)
		goto out;
	error = store_meta_get(&listen, n->store, "listen");
	port = listen.len ? strrchr(listen.ptr, ':') : NULL;
	if (!error && (!port || !strcmp(port, ":0") || !strncmp(listen.ptr, "0.0.0.0:", 8)))
		error = err_set(ERR_NOTFOUND, "no address to advertise to devices");
	if (!error)
		error = buf_printf(out, "https://%s", listen.ptr);
out:
	buf_release(&listen);
	return error;
}

int hq_token_new(char text[ENROLL_TOKEN_MAX], struct node *n, const char *office,
	int64_t token_seconds, int64_t cert_seconds)
{
	struct buf ca = BUF_INIT(ENROLL_DER_MAX), url = BUF_INIT(ENROLL_URL_MAX + 1);
	struct enroll_token tok;
	uint8_t fp[32], hash[32];
	char now[HLC_STR_MAX];
	int exists, revoked, error;

	error = hqdb_office_state(&exists, &revoked, n->store, office);
	if (!error && (!exists || revoked))
		error = err_set(ERR_NOTFOUND, "no active office '%s'", office);
	if (!error)
		error = hq_pki_get(&ca, n, "ca_cert");
	if (!error) {
		error = hq_advertise(&url, n);
		if (error == ERR_NOTFOUND) /* a token without a URL: enroll then needs --server */
			error = buf_puts(&url, "");
	}
	if (error)
		goto out;
	pki_fingerprint(fp, (const uint8_t *)ca.ptr, ca.len);
	error = enroll_token_new(&tok, text, office, fp, url.len ? url.ptr : NULL);
	if (error)
		goto out;
	enroll_token_hash(hash, &tok);
	hlc_iso8601(now, hlc_now_ms());
	error = hqdb_token_add(n->store, hash, office, now, (int64_t)time(NULL) + token_seconds,
		cert_seconds);
	if (!error)
		error = node_audit(n, "office.token", office, "success", "one-time enrollment token");
out:
	crypto_wipe(&tok, sizeof(tok));
	buf_release(&ca);
	buf_release(&url);
	return error;
}

/* Find and burn the token: ERR_AUTH unless it exists, is unused and unexpired. */
static int burn_token(char office[SCHEMA_OFFICE_MAX + 1], int64_t *cert_seconds, struct node *n,
	const uint8_t secret[ENROLL_SECRET_LEN], const char *device)
{
	struct hqdb_token tok;
	uint8_t hash[32];
	char now[HLC_STR_MAX];
	int error;

	crypto_sha256(hash, secret, ENROLL_SECRET_LEN);
	error = hqdb_token_get(&tok, n->store, hash);
	if (error == ERR_NOTFOUND)
		error = err_set(ERR_AUTH, "unknown enrollment token");
	else if (!error && tok.used)
		error = err_set(ERR_AUTH, "enrollment token already used");
	else if (!error && tok.expires_at < (int64_t)time(NULL))
		error = err_set(ERR_AUTH, "enrollment token expired");
	if (error)
		return error;
	snprintf(office, SCHEMA_OFFICE_MAX + 1, "%s", tok.office);
	*cert_seconds = tok.cert_seconds;
	hlc_iso8601(now, hlc_now_ms());
	return hqdb_token_burn(n->store, hash, device, now);
}

static int issue(struct enroll_response *resp, struct node *n, const struct enroll_request *req,
	const char *office, int64_t cert_seconds)
{
	struct buf ca_key = BUF_INIT(ENROLL_DER_MAX);
	struct pki_validity v;
	uint8_t serial[16];
	char now[HLC_STR_MAX];
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
	hlc_iso8601(now, hlc_now_ms());
	if (!error)
		error = hqdb_device_add(n->store, req->device, office, serial,
			(const uint8_t *)resp->cert.ptr, resp->cert.len, now);
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
		error = hqdb_office_state(&exists, &revoked, n->store, office);
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
	return hqdb_serial_revoked(revoked, n->store, serial);
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

/* The CA key and certificate of fingerprint `issuer` (hex; NULL: the current CA). */
static int issuing_ca(struct buf *key, struct buf *cert, struct node *n, const char *issuer)
{
	static const char *const pairs[][2] = {{"ca_key", "ca_cert"},
		{"ca_next_key", "ca_next_cert"}};
	char hex[65];
	size_t i;
	int error = 0;

	for (i = 0; !error && i < 2; i++) {
		buf_reset(cert);
		error = hq_pki_get(cert, n, pairs[i][1]);
		if (error == ERR_NOTFOUND)
			break;
		pki_fingerprint_hex(hex, (const uint8_t *)cert->ptr, cert->len);
		if (!error && (!issuer || !strcmp(issuer, hex)))
			return hq_pki_get(key, n, pairs[i][0]);
	}
	return error && error != ERR_NOTFOUND
		       ? error
		       : err_set(ERR_NOTFOUND, "HQ holds no CA of fingerprint %.16s...", issuer);
}

int hq_renew(struct buf *cert_out, struct node *n, const char *office, const char *device,
	const uint8_t *pub, size_t publen, const uint8_t *csr, size_t csrlen, const char *issuer)
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
		error = issuing_ca(&ca_key, &ca, n, issuer);
	if (!error)
		error = pki_issue_device(cert_out, serial, (const uint8_t *)ca_key.ptr, ca_key.len,
			(const uint8_t *)ca.ptr, ca.len, csr, csrlen, office, device, &v);
	if (!error)
		error = hqdb_device_renew(n->store, device, serial, (const uint8_t *)cert_out->ptr,
			cert_out->len);
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
	return hqdb_serial_in_use(n->store, serial);
}

int hq_generation(char out[33], struct node *n)
{
	struct buf v = BUF_INIT(64);
	int error = store_meta_get(&v, n->store, NODE_GENERATION_KEY);

	if (error == ERR_NOTFOUND)
		error = node_new_generation(n);
	if (!error) {
		buf_reset(&v);
		error = store_meta_get(&v, n->store, NODE_GENERATION_KEY);
	}
	if (!error && v.len != 32)
		error = err_set(ERR_CORRUPT, "the store's generation is malformed");
	if (!error)
		memcpy(out, v.ptr, 33);
	buf_release(&v);
	return error;
}
