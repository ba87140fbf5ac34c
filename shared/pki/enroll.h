/*
 * shared/pki/enroll.h - device enrollment: the one-time token and the enrollment messages.
 *
 * `fieldsync-server office add` prints a token "fse1.<OFFICE>.<secret>.<ca-fingerprint>[.<url>]":
 * the office it enrolls into, 32 random bytes (the server keeps only their SHA-256), the SHA-256
 * of the CA certificate, which the agent pins before it trusts the server, and the URL the
 * server advertises to devices (base64url, so that its dots do not split the token; absent
 * from tokens of older servers).  The agent then
 * sends an enrollment request (JSON: the token secret, its office and device id, a CSR for the
 * key it generated inside its store); the server answers with the device certificate, whose
 * subject it chooses itself.  Both messages are parsed here with strict limits: the request is
 * untrusted input on the server, the response on the agent.
 */
#ifndef FIELDSYNC_ENROLL_H
#define FIELDSYNC_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "case/schema.h"

#define ENROLL_SECRET_LEN 32
#define ENROLL_URL_MAX 256 /* an advertised server URL */
#define ENROLL_TOKEN_MAX 512
#define ENROLL_DER_MAX 4096
#define ENROLL_BODY_MAX 16384
#define ENROLL_DEVICE_LEN 32 /* hex characters */

struct enroll_token {
	char office[SCHEMA_OFFICE_MAX + 1];
	uint8_t secret[ENROLL_SECRET_LEN];
	uint8_t ca_fingerprint[32];
	char server[ENROLL_URL_MAX + 1]; /* the advertised URL, "" if the token has none */
};

/*
 * Make a token for `office` with a fresh secret; `text` receives its printable form.  `server`
 * (NULL for none) is the URL devices reach HQ at: https://, at most ENROLL_URL_MAX bytes.
 */
int enroll_token_new(struct enroll_token *tok, char text[ENROLL_TOKEN_MAX], const char *office,
	const uint8_t ca_fingerprint[32], const char *server) WUR;

/* ERR_INVALID unless `url` is an https:// URL a device can use (no port 0), naming `what`. */
int enroll_check_url(const char *what, const char *url) WUR;

/* Parse a token typed by a person. ERR_INVALID with what is wrong. */
int enroll_token_parse(struct enroll_token *tok, const char *text) WUR;

/* SHA-256 of the secret: what the server stores and looks up. */
void enroll_token_hash(uint8_t out[32], const struct enroll_token *tok);

struct enroll_request {
	uint8_t secret[ENROLL_SECRET_LEN];
	char office[SCHEMA_OFFICE_MAX + 1];
	char device[ENROLL_DEVICE_LEN + 1];
	struct buf csr; /* DER */
};

void enroll_request_init(struct enroll_request *req);
void enroll_request_release(struct enroll_request *req);

int enroll_request_encode(struct buf *out, const struct enroll_request *req) WUR;

/* Parse an enrollment request body. ERR_INVALID / ERR_TOOBIG naming the bad part. */
int enroll_request_decode(struct enroll_request *req, const char *body, size_t len) WUR;

struct enroll_response {
	char office[SCHEMA_OFFICE_MAX + 1];
	char device[ENROLL_DEVICE_LEN + 1];
	struct buf cert; /* DER */
	struct buf ca;	 /* DER */
};

void enroll_response_init(struct enroll_response *resp);
void enroll_response_release(struct enroll_response *resp);
int enroll_response_encode(struct buf *out, const struct enroll_response *resp) WUR;
int enroll_response_decode(struct enroll_response *resp, const char *body, size_t len) WUR;

/* Standard base64 of DER into a JSON-ready string and back (capped at ENROLL_DER_MAX). */
int enroll_b64_encode(struct buf *out, const uint8_t *der, size_t len) WUR;
int enroll_b64_decode(struct buf *out, const char *text) WUR;

#endif
