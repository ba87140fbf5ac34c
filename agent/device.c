/* agent/device.c - enrollment and the device's TLS identity. */
#include "device.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "base/crypto.h"
#include "pki/enroll.h"
#include "pki/pki.h"

void device_tls_init(struct device_tls *d)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->url, 2048);
	buf_init(&d->ca_pem, 16384);
	buf_init(&d->cert_pem, 16384);
	buf_init(&d->key_pem, 16384);
}

void device_tls_release(struct device_tls *d)
{
	buf_release(&d->url);
	buf_release(&d->ca_pem);
	buf_release(&d->cert_pem);
	buf_wipe_release(&d->key_pem);
}

/* Device material; "not enrolled" when it is missing. */
static int material_get(struct buf *out, struct node *n, const char *name)
{
	int error = store_material_get(out, n->store, name);

	if (error == ERR_NOTFOUND)
		error = err_set(ERR_NOTFOUND, "this device is not enrolled (run 'enroll' first)");
	return error;
}

static int material_put(struct node *n, const char *name, const struct buf *der)
{
	return store_material_put(n->store, name, der->ptr, der->len);
}

/* Every certificate of a trust set as PEM, one after the other (libcurl's CA blob). */
static int trust_pem(struct buf *out, const struct buf *set)
{
	const uint8_t *one = NULL;
	size_t len = 0, pos = 0;
	int more, error = 0;

	while (!error &&
		(more = pki_trust_next(&one, &len, (const uint8_t *)set->ptr, set->len, &pos)) > 0)
		error = pki_der_to_pem(out, "CERTIFICATE", one, len);
	return error;
}

int device_tls_load(struct device_tls *d, struct node *n)
{
	struct buf der = BUF_INIT(8192);
	int error;

	error = store_meta_get(&d->url, n->store, "server_url");
	if (error == ERR_NOTFOUND)
		error = err_set(ERR_NOTFOUND, "this device is not enrolled (run 'enroll' first)");
	if (!error) /* the current CA, and the next one of a rollover: HQ may move to it */
		error = pki_trust_get(&der, n->store, 0);
	if (!error)
		error = trust_pem(&d->ca_pem, &der);
	buf_reset(&der);
	if (!error)
		error = material_get(&der, n, "device_cert");
	if (!error)
		error = pki_der_to_pem(&d->cert_pem, "CERTIFICATE", (const uint8_t *)der.ptr,
			der.len);
	buf_reset(&der);
	if (!error)
		error = material_get(&der, n, "device_key");
	if (!error)
		error = pki_der_to_pem(&d->key_pem, "EC PRIVATE KEY", (const uint8_t *)der.ptr,
			der.len);
	if (!error)
		crypto_lock(d->key_pem.ptr, d->key_pem.cap); /* held for the whole sync */
	buf_wipe_release(&der);
	d->tls.ca_pem = &d->ca_pem;
	d->tls.cert_pem = &d->cert_pem;
	d->tls.key_pem = &d->key_pem;
	return error;
}

/* GET /v1/ca without trust, then trust it only if it matches the token's fingerprint. */
static int fetch_pinned_ca(struct buf *ca_der, const char *url, const struct enroll_token *tok)
{
	struct net_tls none = {NULL, NULL, NULL};
	struct buf resp = BUF_INIT(65536), full = BUF_INIT(4096);
	json_t *doc = NULL;
	uint8_t fp[32];
	long status = 0;
	int error;

	error = buf_printf(&full, "%s/v1/ca", url);
	if (!error)
		error = net_request(&status, &resp, full.ptr, "GET", NULL, 0, &none);
	if (!error && status != 200)
		error = err_set(ERR_IO, "the server answered %ld to the CA request", status);
	if (!error) {
		doc = json_loadb(resp.ptr, resp.len, 0, NULL);
		error = json_string_value(json_object_get(doc, "ca"))
				? enroll_b64_decode(ca_der, json_string_value(json_object_get(doc, "ca")))
				: err_set(ERR_INVALID, "the server sent no CA certificate");
	}
	if (!error) {
		pki_fingerprint(fp, (const uint8_t *)ca_der->ptr, ca_der->len);
		if (!crypto_equal(fp, tok->ca_fingerprint, 32))
			error = err_set(ERR_AUTH, "the server's CA does not match the token's "
						  "fingerprint: refusing to talk to it");
	}
	json_decref(doc);
	buf_release(&resp);
	buf_release(&full);
	return error;
}

static int post_enroll(struct enroll_response *resp, struct node *n, const char *url,
	const struct enroll_token *tok, const struct buf *ca_der, const struct buf *key)
{
	struct enroll_request req;
	struct buf body = BUF_INIT(ENROLL_BODY_MAX), ca_pem = BUF_INIT(16384);
	struct buf answer = BUF_INIT(65536), full = BUF_INIT(4096);
	struct net_tls tls = {&ca_pem, NULL, NULL};
	long status = 0;
	int error;

	enroll_request_init(&req);
	memcpy(req.secret, tok->secret, ENROLL_SECRET_LEN);
	snprintf(req.office, sizeof(req.office), "%s", n->office);
	snprintf(req.device, sizeof(req.device), "%s", n->device);
	error = pki_csr_create(&req.csr, (const uint8_t *)key->ptr, key->len, n->device);
	if (!error)
		error = enroll_request_encode(&body, &req);
	if (!error)
		error = pki_der_to_pem(&ca_pem, "CERTIFICATE", (const uint8_t *)ca_der->ptr,
			ca_der->len);
	if (!error)
		error = buf_printf(&full, "%s/v1/enroll", url);
	if (!error)
		error = net_request(&status, &answer, full.ptr, "POST", body.ptr, body.len, &tls);
	if (!error && status != 200)
		error = err_set(status == 403 ? ERR_AUTH : ERR_GENERIC,
			"the server refused the enrollment (%ld): %s", status, net_error_text(&answer));
	if (!error)
		error = enroll_response_decode(resp, answer.ptr, answer.len);
	enroll_request_release(&req);
	buf_wipe_release(&body);
	buf_release(&ca_pem);
	buf_release(&answer);
	buf_release(&full);
	return error;
}

/* The issued certificate must chain to the pinned CA and name this office and device. */
static int check_issued(const struct enroll_response *resp, struct node *n,
	const struct buf *ca_der)
{
	char office[SCHEMA_OFFICE_MAX + 1], device[NODE_DEVICE_MAX + 1];
	uint8_t serial[16];
	int error;

	error = pki_verify((const uint8_t *)resp->cert.ptr, resp->cert.len,
		(const uint8_t *)ca_der->ptr, ca_der->len, (int64_t)time(NULL));
	if (!error)
		error = pki_identity(office, device, serial, (const uint8_t *)resp->cert.ptr,
			resp->cert.len);
	if (!error && (strcmp(office, n->office) || strcmp(device, n->device)))
		error = err_set(ERR_AUTH, "the certificate names %s/%s, not this device", office,
			device);
	return error;
}

int device_enroll(struct node *n, const char *url, const char *token)
{
	struct enroll_token tok;
	struct enroll_response resp;
	struct buf key = BUF_INIT(4096), ca_der = BUF_INIT(ENROLL_DER_MAX), probe = BUF_INIT(16);
	char detail[ENROLL_URL_MAX + 1200];
	int error;

	enroll_response_init(&resp);
	error = node_require(n, NODE_PERM_USER_ADMIN, "device.enroll", url ? url : "");
	if (!error)
		error = enroll_token_parse(&tok, token);
	if (!error && !url && !tok.server[0])
		error = err_set(ERR_INVALID, "the token names no server: give --server URL");
	if (!error && !url)
		url = tok.server;
	if (!error && strcmp(tok.office, n->office) != 0)
		error = err_set(ERR_INVALID, "the token is for office '%s'; this device belongs to '%s'",
			tok.office, n->office);
	if (!error && store_meta_get(&probe, n->store, "server_url") == 0)
		error = err_set(ERR_EXISTS, "this device is already enrolled with %s", probe.ptr);
	if (!error && (strncmp(url, "https://", 8) != 0 || strlen(url) > 1024))
		error = err_set(ERR_INVALID, "the server URL must start with https://");
	if (!error)
		error = crypto_ec_keygen(&key);
	if (!error)
		error = fetch_pinned_ca(&ca_der, url, &tok);
	if (!error)
		error = post_enroll(&resp, n, url, &tok, &ca_der, &key);
	if (!error)
		error = check_issued(&resp, n, &ca_der);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = material_put(n, "device_key", &key);
	if (!error)
		error = material_put(n, "device_cert", &resp.cert);
	if (!error)
		error = material_put(n, "ca_cert", &ca_der);
	if (!error)
		error = store_meta_set(n->store, "server_url", url);
	snprintf(detail, sizeof(detail), "enrolled with %s", url);
	if (!error)
		error = node_audit(n, "device.enroll", n->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error && error != ERR_PERM)
		error = node_audit_failure(n, "device.enroll", n->device, error);
	crypto_wipe(&tok, sizeof(tok));
	buf_wipe_release(&key);
	buf_release(&ca_der);
	buf_release(&probe);
	enroll_response_release(&resp);
	return error;
}

int device_repoint(struct node *n, const char *url)
{
	struct device_tls d;
	struct buf resp = BUF_INIT(65536), full = BUF_INIT(ENROLL_URL_MAX + 32);
	char detail[ENROLL_URL_MAX * 2 + 64];
	long status = 0;
	int error;

	device_tls_init(&d);
	error = node_require(n, NODE_PERM_USER_ADMIN, "device.server", url);
	if (!error)
		error = enroll_check_url("the server URL", url);
	if (!error)
		error = device_tls_load(&d, n);
	if (!error)
		error = buf_printf(&full, "%s/v1/health", url);
	/*
	 * libcurl verifies the chain against the pinned CA only and the name against the URL's
	 * host; any HTTP answer after that handshake proves it is our HQ (a held device may get a
	 * refusal and still needs the new address to be released).
	 */
	if (!error && net_request(&status, &resp, full.ptr, "GET", NULL, 0, &d.tls)) {
		char why[512];

		snprintf(why, sizeof(why), "%s", err_msg());
		error = err_set(ERR_AUTH,
			"'%s' is not this device's HQ (checked against the pinned CA): %s", url,
			why);
	}
	snprintf(detail, sizeof(detail), "%s -> %s", d.url.len ? d.url.ptr : "?", url);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = store_meta_set(n->store, "server_url", url);
	if (!error)
		error = node_audit(n, "device.server", n->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	if (error && error != ERR_PERM)
		error = node_audit_failure(n, "device.server", url, error);
	device_tls_release(&d);
	buf_release(&resp);
	buf_release(&full);
	return error;
}

int device_cert_expiry(int64_t *not_after, struct node *n)
{
	struct buf der = BUF_INIT(ENROLL_DER_MAX);
	struct pki_validity v;
	int error = material_get(&der, n, "device_cert");

	if (!error && pki_cert_validity(&v, (const uint8_t *)der.ptr, der.len))
		error = err_set(ERR_CORRUPT, "this device's certificate does not parse");
	if (!error)
		*not_after = v.not_after;
	buf_release(&der);
	return error;
}

/* The public key (DER) of a certificate. */
static int cert_pubkey(struct buf *out, const struct buf *der)
{
	mbedtls_x509_crt crt;
	unsigned char tmp[256];
	int len, error = 0;

	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, (const unsigned char *)der->ptr, der->len))
		error = err_set(ERR_INVALID, "the renewed certificate does not parse");
	else if ((len = mbedtls_pk_write_pubkey_der(&crt.pk, tmp, sizeof(tmp))) <= 0)
		error = err_set(ERR_INVALID, "the renewed certificate holds no usable key");
	else
		error = buf_put(out, tmp + sizeof(tmp) - len, (size_t)len);
	mbedtls_x509_crt_free(&crt);
	return error;
}

/* Ask HQ for the new certificate of our key. */
static int post_renew(struct enroll_response *resp, struct net *net, const char *url,
	const struct buf *key, struct node *n, const char *issuer)
{
	struct buf csr = BUF_INIT(ENROLL_DER_MAX), b64 = BUF_INIT(2 * ENROLL_DER_MAX);
	struct buf body = BUF_INIT(4 * ENROLL_DER_MAX), answer = BUF_INIT(4 * ENROLL_DER_MAX);
	struct buf full = BUF_INIT(2048);
	json_t *doc = NULL;
	long status = 0;
	int error;

	error = pki_csr_create(&csr, (const uint8_t *)key->ptr, key->len, n->device);
	if (!error)
		error = enroll_b64_encode(&b64, (const uint8_t *)csr.ptr, csr.len);
	if (!error && issuer)
		error = buf_printf(&body, "{\"csr\":\"%s\",\"issuer\":\"%s\"}", b64.ptr, issuer);
	else if (!error)
		error = buf_printf(&body, "{\"csr\":\"%s\"}", b64.ptr);
	if (!error)
		error = buf_printf(&full, "%s/v1/renew", url);
	if (!error)
		error = net_call(&status, &answer, net, full.ptr, "POST", "application/json", body.ptr,
			body.len);
	if (!error && status != 200)
		error = err_set(status == 403 ? ERR_AUTH : ERR_IO, "HQ refused the renewal: %s",
			net_error_text(&answer));
	if (!error) {
		doc = json_loadb(answer.ptr, answer.len, 0, NULL);
		error = json_string_value(json_object_get(doc, "certificate"))
				? enroll_b64_decode(&resp->cert,
					  json_string_value(json_object_get(doc, "certificate")))
				: err_set(ERR_INVALID, "HQ's renewal answer is malformed");
	}
	json_decref(doc);
	buf_release(&csr);
	buf_release(&b64);
	buf_release(&body);
	buf_release(&answer);
	buf_release(&full);
	return error;
}

int device_renew_if_due(int *renewed, struct node *n, struct net *net, const char *url)
{
	struct enroll_response resp;
	struct buf cert = BUF_INIT(ENROLL_DER_MAX), key = BUF_INIT(4096), ca = BUF_INIT(ENROLL_DER_MAX);
	struct buf mine = BUF_INIT(256), theirs = BUF_INIT(256), next = BUF_INIT(ENROLL_DER_MAX);
	int64_t from = 0, to = 0, now = (int64_t)time(NULL);
	char issuer[2 * PKI_FINGERPRINT_LEN + 1] = "";
	struct pki_validity v;
	int error;

	*renewed = 0;
	enroll_response_init(&resp);
	error = material_get(&cert, n, "device_cert");
	if (!error && pki_cert_validity(&v, (const uint8_t *)cert.ptr, cert.len))
		error = err_set(ERR_CORRUPT, "this device's certificate does not parse");
	if (!error) {
		from = v.not_before;
		to = v.not_after;
	}
	/* a CA rollover in progress: a certificate of the next CA before the old one retires */
	if (!error && material_get(&next, n, "ca_next_cert") == 0 &&
		pki_verify((const uint8_t *)cert.ptr, cert.len, (const uint8_t *)next.ptr, next.len,
			now) != 0) {
		pki_fingerprint_hex(issuer, (const uint8_t *)next.ptr, next.len);
	}
	/* renew in the last third of the lifetime: months of margin for a device long offline */
	if (error || (!issuer[0] && to - now > (to - from) / 3))
		goto out;
	error = material_get(&key, n, "device_key");
	if (!error)
		error = pki_trust_get(&ca, n->store, 0);
	if (!error)
		error = post_renew(&resp, net, url, &key, n, issuer[0] ? issuer : NULL);
	if (!error)
		error = check_issued(&resp, n, &ca);
	if (!error)
		error = crypto_ec_pubkey(&mine, (const uint8_t *)key.ptr, key.len);
	if (!error)
		error = cert_pubkey(&theirs, &resp.cert);
	if (!error && (mine.len != theirs.len || memcmp(mine.ptr, theirs.ptr, mine.len)))
		error = err_set(ERR_AUTH, "the renewed certificate is not for this device's key");
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = material_put(n, "device_cert", &resp.cert);
	if (!error)
		error = node_audit(n, "device.renew", n->device, "success",
			issuer[0] ? "under the next CA of a rollover" : url);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	*renewed = !error;
out:
	enroll_response_release(&resp);
	buf_release(&cert);
	buf_wipe_release(&key);
	buf_release(&ca);
	buf_release(&next);
	buf_release(&mine);
	buf_release(&theirs);
	return error;
}

/* The hex fingerprint of material `name`, "" when the device holds none. */
static int material_fp(char out[2 * PKI_FINGERPRINT_LEN + 1], struct buf *der, struct node *n,
	const char *name)
{
	int error = material_get(der, n, name);

	out[0] = '\0';
	if (error == ERR_NOTFOUND)
		return 0;
	if (!error)
		pki_fingerprint_hex(out, (const uint8_t *)der->ptr, der->len);
	return error;
}

/* GET /v1/pki: the next CA and the cross certificate the current CA signed for it. */
static int fetch_next(struct buf *next, struct buf *cross, struct net *net, const char *url)
{
	struct buf full = BUF_INIT(2048), answer = BUF_INIT(64 * ENROLL_DER_MAX);
	json_t *doc = NULL;
	const char *n64, *c64;
	long status = 0;
	int error = buf_printf(&full, "%s/v1/pki", url);

	if (!error)
		error = net_call(&status, &answer, net, full.ptr, "GET", NULL, NULL, 0);
	if (!error && status != 200)
		error = err_set(ERR_IO, "HQ did not give its CAs: %s", net_error_text(&answer));
	if (!error) {
		doc = json_loadb(answer.ptr, answer.len, 0, NULL);
		n64 = json_string_value(json_object_get(doc, "next"));
		c64 = json_string_value(json_object_get(doc, "cross"));
		error = n64 && c64
				? enroll_b64_decode(next, n64)
				: err_set(ERR_INVALID, "HQ names a next CA but does not give it");
		if (!error)
			error = enroll_b64_decode(cross, c64);
	}
	json_decref(doc);
	buf_release(&full);
	buf_release(&answer);
	return error;
}

/* Learn the next CA: vouched for by the CA this device trusts, or refused. */
static int learn_next(struct node *n, struct net *net, const char *url, const char *want,
	const struct buf *ca)
{
	struct buf next = BUF_INIT(ENROLL_DER_MAX), cross = BUF_INIT(ENROLL_DER_MAX);
	char hex[2 * PKI_FINGERPRINT_LEN + 1];
	int error = fetch_next(&next, &cross, net, url);

	if (!error) {
		pki_fingerprint_hex(hex, (const uint8_t *)next.ptr, next.len);
		if (strcmp(hex, want))
			error = err_set(ERR_AUTH, "HQ's next CA is not the one its feed names");
	}
	if (!error)
		error = pki_verify((const uint8_t *)cross.ptr, cross.len, (const uint8_t *)ca->ptr,
			ca->len, (int64_t)time(NULL));
	if (!error)
		error = pki_cross_matches((const uint8_t *)cross.ptr, cross.len,
			(const uint8_t *)next.ptr, next.len);
	if (error) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err_msg());
		error = err_set(error,
			"the next CA HQ offers is not vouched for by this device's CA (%s): refused",
			why);
	}
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = material_put(n, "ca_next_cert", &next);
	if (!error)
		error = node_audit(n, "pki.trust", hex, "success",
			"the next CA of a rollover, vouched for by the current CA");
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	buf_release(&next);
	buf_release(&cross);
	return error ? node_audit_failure(n, "pki.trust", want, error) : 0;
}

/* HQ finished the rollover: the next CA becomes this device's CA, the old one retires. */
static int promote_next(struct node *n, const struct buf *ca, const struct buf *next,
	const char *fp)
{
	struct buf prev = BUF_INIT(PKI_TRUST_MAX * ENROLL_DER_MAX);
	int error = material_get(&prev, n, "ca_prev_certs");

	if (error == ERR_NOTFOUND)
		error = 0;
	if (!error)
		error = buf_put(&prev, ca->ptr, ca->len);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = material_put(n, "ca_prev_certs", &prev);
	if (!error)
		error = material_put(n, "ca_cert", next);
	if (!error)
		error = store_material_del(n->store, "ca_next_cert");
	if (!error)
		error = node_audit(n, "pki.trust", fp, "success",
			"the next CA is now the CA; the old one is retired");
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	buf_release(&prev);
	return error;
}

int device_pki_update(int *changed, struct node *n, struct net *net, const char *url,
	const json_t *pki)
{
	struct buf ca = BUF_INIT(ENROLL_DER_MAX), next = BUF_INIT(ENROLL_DER_MAX);
	const char *hq_ca = json_string_value(json_object_get(pki, "ca"));
	const char *hq_next = json_string_value(json_object_get(pki, "next"));
	char own_ca[2 * PKI_FINGERPRINT_LEN + 1], own_next[2 * PKI_FINGERPRINT_LEN + 1];
	int error;

	*changed = 0;
	error = material_fp(own_ca, &ca, n, "ca_cert");
	if (!error)
		error = material_fp(own_next, &next, n, "ca_next_cert");
	if (error || !hq_ca)
		goto out;
	if (strcmp(hq_ca, own_ca) && !strcmp(hq_ca, own_next)) {
		error = promote_next(n, &ca, &next, own_next);
		*changed = !error;
	} else if (strcmp(hq_ca, own_ca)) {
		error = err_set(ERR_AUTH,
			"HQ's CA is now %.16s..., which this device never learned: "
			"it must enroll again",
			hq_ca);
	} else if (hq_next && strcmp(hq_next, own_next)) {
		error = learn_next(n, net, url, hq_next, &ca);
		*changed = !error;
	}
out:
	buf_release(&ca);
	buf_release(&next);
	return error;
}
