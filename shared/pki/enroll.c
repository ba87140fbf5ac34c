/* shared/pki/enroll.c - enrollment token and messages. */
#include "pki/enroll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <mbedtls/base64.h>

#include "base/crypto.h"

#define TOKEN_PREFIX "fse1."

int enroll_check_url(const char *what, const char *url)
{
	const char *auth, *end, *colon;
	size_t i, len = strlen(url);
	long port;

	if (strncmp(url, "https://", 8) != 0 || len > ENROLL_URL_MAX)
		return err_set(ERR_INVALID, "%s '%.64s' is not an https:// URL of at most %d bytes",
			what, url, ENROLL_URL_MAX);
	for (i = 0; i < len; i++)
		if (url[i] <= ' ' || url[i] > '~')
			return err_set(ERR_INVALID, "%s '%.64s' has a space or a control character",
				what, url);
	auth = url + 8;
	end = auth + strcspn(auth, "/?#");
	for (colon = end; colon > auth && colon[-1] != ':' && colon[-1] != ']'; colon--)
		;
	colon = colon > auth && colon[-1] == ':' ? colon - 1 : NULL; /* not [::1] with no port */
	if (end == auth || colon == auth)
		return err_set(ERR_INVALID, "%s '%.64s' names no host", what, url);
	if (colon) {
		char digits[8] = "";
		char *stop = NULL;

		if (end - colon - 1 < 1 || end - colon - 1 > 5)
			return err_set(ERR_INVALID, "%s '%.64s' has a bad port", what, url);
		memcpy(digits, colon + 1, (size_t)(end - colon - 1));
		port = strtol(digits, &stop, 10);
		if (!stop || *stop || port < 1 || port > 65535)
			return err_set(ERR_INVALID, "%s '%.64s' has a bad port (1 to 65535)", what,
				url);
	}
	return 0;
}

/* base64url without padding (RFC 4648 section 5): a URL inside a dot-separated token. */
static int b64url_encode(char *out, size_t size, const char *in)
{
	size_t olen = 0, i;

	if (mbedtls_base64_encode((unsigned char *)out, size, &olen, (const unsigned char *)in,
		    strlen(in)))
		return err_set(ERR_TOOBIG, "server URL too long for a token");
	while (olen && out[olen - 1] == '=')
		olen--;
	out[olen] = '\0';
	for (i = 0; i < olen; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return 0;
}

static int b64url_decode(char *out, size_t size, const char *in)
{
	char tmp[ENROLL_TOKEN_MAX + 4];
	size_t len = strlen(in), olen = 0, i;

	if (len + 4 > sizeof(tmp) || len % 4 == 1)
		return err_set(ERR_INVALID, "malformed enrollment token (server URL)");
	for (i = 0; i < len; i++) {
		if (in[i] == '+' || in[i] == '/' || in[i] == '=')
			return err_set(ERR_INVALID, "malformed enrollment token (server URL)");
		tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	}
	while (len % 4)
		tmp[len++] = '=';
	tmp[len] = '\0';
	if (mbedtls_base64_decode((unsigned char *)out, size - 1, &olen, (unsigned char *)tmp,
		    len) ||
		memchr(out, '\0', olen))
		return err_set(ERR_INVALID, "malformed enrollment token (server URL)");
	out[olen] = '\0';
	return enroll_check_url("the token's server URL", out);
}

int enroll_token_new(struct enroll_token *tok, char text[ENROLL_TOKEN_MAX], const char *office,
	const uint8_t ca_fingerprint[32], const char *server)
{
	char secret_hex[2 * ENROLL_SECRET_LEN + 1], fp_hex[65], url64[ENROLL_URL_MAX * 2] = "";
	int error = schema_check_office(office);

	if (!error && server)
		error = enroll_check_url("the server URL", server);
	if (!error && server)
		error = b64url_encode(url64, sizeof(url64), server);
	if (!error)
		error = crypto_random(tok->secret, sizeof(tok->secret));
	if (error)
		return error;
	snprintf(tok->office, sizeof(tok->office), "%s", office);
	snprintf(tok->server, sizeof(tok->server), "%s", server ? server : "");
	memcpy(tok->ca_fingerprint, ca_fingerprint, 32);
	crypto_hex(secret_hex, tok->secret, sizeof(tok->secret));
	crypto_hex(fp_hex, ca_fingerprint, 32);
	snprintf(text, ENROLL_TOKEN_MAX, TOKEN_PREFIX "%s.%s.%s%s%s", office, secret_hex, fp_hex,
		url64[0] ? "." : "", url64);
	crypto_wipe(secret_hex, sizeof(secret_hex));
	return 0;
}

int enroll_token_parse(struct enroll_token *tok, const char *text)
{
	const char *office, *secret, *fp, *url;
	char office_buf[SCHEMA_OFFICE_MAX + 1], secret_hex[2 * ENROLL_SECRET_LEN + 1], fp_hex[65];
	char server[ENROLL_URL_MAX + 1] = "";
	size_t olen, fplen;
	int error;

	if (strlen(text) >= ENROLL_TOKEN_MAX || strncmp(text, TOKEN_PREFIX, 5) != 0)
		return err_set(ERR_INVALID, "not an enrollment token (it starts with '%s')",
			TOKEN_PREFIX);
	office = text + 5;
	secret = strchr(office, '.');
	if (!secret || (olen = (size_t)(secret - office)) > SCHEMA_OFFICE_MAX)
		return err_set(ERR_INVALID, "malformed enrollment token");
	secret++;
	fp = strchr(secret, '.');
	if (!fp || (size_t)(fp - secret) != 2 * ENROLL_SECRET_LEN)
		return err_set(ERR_INVALID, "malformed enrollment token");
	fp++;
	url = strchr(fp, '.');
	fplen = url ? (size_t)(url - fp) : strlen(fp);
	if (fplen != 64)
		return err_set(ERR_INVALID, "malformed enrollment token");
	memcpy(fp_hex, fp, 64);
	fp_hex[64] = '\0';
	memcpy(office_buf, office, olen);
	office_buf[olen] = '\0';
	memcpy(secret_hex, secret, 2 * ENROLL_SECRET_LEN);
	secret_hex[2 * ENROLL_SECRET_LEN] = '\0';
	error = schema_check_office(office_buf);
	if (!error && (crypto_unhex(tok->secret, ENROLL_SECRET_LEN, secret_hex) ||
			      crypto_unhex(tok->ca_fingerprint, 32, fp_hex)))
		error = err_set(ERR_INVALID, "malformed enrollment token (bad hex)");
	if (!error && url)
		error = b64url_decode(server, sizeof(server), url + 1);
	if (!error) {
		memcpy(tok->office, office_buf, olen + 1);
		memcpy(tok->server, server, sizeof(server));
	}
	crypto_wipe(secret_hex, sizeof(secret_hex));
	return error;
}

void enroll_token_hash(uint8_t out[32], const struct enroll_token *tok)
{
	crypto_sha256(out, tok->secret, sizeof(tok->secret));
}

int enroll_b64_encode(struct buf *out, const uint8_t *der, size_t len)
{
	size_t need = 0;
	int error;

	if (len > ENROLL_DER_MAX)
		return err_set(ERR_TOOBIG, "certificate data larger than %d bytes", ENROLL_DER_MAX);
	mbedtls_base64_encode(NULL, 0, &need, der, len);
	error = buf_grow(out, need);
	if (error)
		return error;
	if (mbedtls_base64_encode((unsigned char *)out->ptr + out->len, need, &need, der, len))
		return err_set(ERR_GENERIC, "base64 encoding failed");
	out->len += need;
	out->ptr[out->len] = '\0';
	return 0;
}

int enroll_b64_decode(struct buf *out, const char *text)
{
	size_t need = 0, len = strlen(text);
	int rc, error;

	if (len > (ENROLL_DER_MAX / 3 + 1) * 4)
		return err_set(ERR_TOOBIG, "certificate data larger than %d bytes", ENROLL_DER_MAX);
	rc = mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)text, len);
	if (rc == MBEDTLS_ERR_BASE64_INVALID_CHARACTER || need == 0)
		return err_set(ERR_INVALID, "invalid base64");
	error = buf_grow(out, need);
	if (error)
		return error;
	if (mbedtls_base64_decode((unsigned char *)out->ptr + out->len, need, &need,
		    (const unsigned char *)text, len))
		return err_set(ERR_INVALID, "invalid base64");
	out->len += need;
	out->ptr[out->len] = '\0';
	return 0;
}

void enroll_request_init(struct enroll_request *req)
{
	memset(req, 0, sizeof(*req));
	buf_init(&req->csr, ENROLL_DER_MAX);
}

void enroll_request_release(struct enroll_request *req)
{
	crypto_wipe(req->secret, sizeof(req->secret));
	buf_release(&req->csr);
}

void enroll_response_init(struct enroll_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->cert, ENROLL_DER_MAX);
	buf_init(&resp->ca, ENROLL_DER_MAX);
}

void enroll_response_release(struct enroll_response *resp)
{
	buf_release(&resp->cert);
	buf_release(&resp->ca);
}

static int dump(struct buf *out, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int error = text ? buf_puts(out, text) : err_set(ERR_NOMEM, "out of memory");

	if (text) {
		crypto_wipe(text, strlen(text));
		free(text);
	}
	json_decref(doc);
	return error;
}

int enroll_request_encode(struct buf *out, const struct enroll_request *req)
{
	struct buf csr = BUF_INIT(2 * ENROLL_DER_MAX);
	char secret[2 * ENROLL_SECRET_LEN + 1];
	int error;

	crypto_hex(secret, req->secret, sizeof(req->secret));
	error = enroll_b64_encode(&csr, (const uint8_t *)req->csr.ptr, req->csr.len);
	if (!error)
		error = dump(out, json_pack("{s:s, s:s, s:s, s:s}", "token", secret, "office",
					  req->office, "device", req->device, "csr", buf_cstr(&csr)));
	crypto_wipe(secret, sizeof(secret));
	buf_release(&csr);
	return error;
}

/* A string member of at most max bytes (ERR_INVALID naming it otherwise). */
static int member(const char **out, json_t *o, const char *name, size_t max)
{
	const char *s = json_string_value(json_object_get(o, name));

	if (!s || strlen(s) == 0 || strlen(s) > max)
		return err_set(ERR_INVALID, "enrollment message: '%s' missing or malformed", name);
	*out = s;
	return 0;
}

static int check_device(const char *device)
{
	size_t i;

	if (strlen(device) != ENROLL_DEVICE_LEN)
		goto bad;
	for (i = 0; i < ENROLL_DEVICE_LEN; i++)
		if (!((device[i] >= '0' && device[i] <= '9') || (device[i] >= 'a' && device[i] <= 'f')))
			goto bad;
	return 0;
bad:
	return err_set(ERR_INVALID, "'%.40s' is not a device id (32 lowercase hex digits)", device);
}

static json_t *load(const char *body, size_t len, int *error)
{
	json_error_t jerr;
	json_t *o;

	*error = 0;
	if (len > ENROLL_BODY_MAX) {
		*error = err_set(ERR_TOOBIG, "enrollment message larger than %d bytes",
			ENROLL_BODY_MAX);
		return NULL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		*error = err_set(ERR_INVALID, "enrollment message is not a JSON object");
		json_decref(o);
		return NULL;
	}
	return o;
}

int enroll_request_decode(struct enroll_request *req, const char *body, size_t len)
{
	const char *secret = NULL, *office = NULL, *device = NULL, *csr = NULL;
	int error;
	json_t *o = load(body, len, &error);

	if (!o)
		return error;
	error = member(&secret, o, "token", 2 * ENROLL_SECRET_LEN);
	if (!error)
		error = member(&office, o, "office", SCHEMA_OFFICE_MAX);
	if (!error)
		error = member(&device, o, "device", ENROLL_DEVICE_LEN);
	if (!error)
		error = member(&csr, o, "csr", 2 * ENROLL_DER_MAX);
	if (!error && crypto_unhex(req->secret, ENROLL_SECRET_LEN, secret))
		error = err_set(ERR_INVALID, "enrollment message: malformed token");
	if (!error)
		error = schema_check_office(office);
	if (!error)
		error = check_device(device);
	if (!error)
		error = enroll_b64_decode(&req->csr, csr);
	if (!error) {
		memcpy(req->office, office, strlen(office) + 1);
		memcpy(req->device, device, strlen(device) + 1);
	}
	json_decref(o);
	return error;
}

int enroll_response_encode(struct buf *out, const struct enroll_response *resp)
{
	struct buf cert = BUF_INIT(2 * ENROLL_DER_MAX), ca = BUF_INIT(2 * ENROLL_DER_MAX);
	int error;

	error = enroll_b64_encode(&cert, (const uint8_t *)resp->cert.ptr, resp->cert.len);
	if (!error)
		error = enroll_b64_encode(&ca, (const uint8_t *)resp->ca.ptr, resp->ca.len);
	if (!error)
		error = dump(out, json_pack("{s:s, s:s, s:s, s:s}", "office", resp->office, "device",
					  resp->device, "certificate", buf_cstr(&cert), "ca",
					  buf_cstr(&ca)));
	buf_release(&cert);
	buf_release(&ca);
	return error;
}

int enroll_response_decode(struct enroll_response *resp, const char *body, size_t len)
{
	const char *office = NULL, *device = NULL, *cert = NULL, *ca = NULL;
	int error;
	json_t *o = load(body, len, &error);

	if (!o)
		return error;
	error = member(&office, o, "office", SCHEMA_OFFICE_MAX);
	if (!error)
		error = member(&device, o, "device", ENROLL_DEVICE_LEN);
	if (!error)
		error = member(&cert, o, "certificate", 2 * ENROLL_DER_MAX);
	if (!error)
		error = member(&ca, o, "ca", 2 * ENROLL_DER_MAX);
	if (!error)
		error = schema_check_office(office);
	if (!error)
		error = check_device(device);
	if (!error)
		error = enroll_b64_decode(&resp->cert, cert);
	if (!error)
		error = enroll_b64_decode(&resp->ca, ca);
	if (!error) {
		memcpy(resp->office, office, strlen(office) + 1);
		memcpy(resp->device, device, strlen(device) + 1);
	}
	json_decref(o);
	return error;
}
