/*
 * shared/pki/pki.h - the organisation's own certificate authority (DESIGN.md section 5).
 *
 * `fieldsync-server init` makes a self-signed CA (EC P-256, path length 0) and a server
 * certificate; enrollment turns a device's certificate request into a client certificate whose
 * subject (office code, device id) the server chooses: nothing in the request but its public key
 * is used, and the request must prove possession of that key.  Both ends then check certificates
 * against exactly this CA and read a device's identity from its verified certificate.
 *
 * Certificates, requests and keys travel as DER in struct buf (private keys only in buffers the
 * caller releases with buf_wipe_release).  Every certificate gets a fresh random 16-byte
 * positive serial and is signed with ECDSA-SHA256.  Subjects are written most significant
 * attribute first: O, then OU, then CN.  Output buffers are appended to, and only on success.
 */
#ifndef FIELDSYNC_PKI_H
#define FIELDSYNC_PKI_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "base/buf.h"
#include "base/err.h"
#include "case/schema.h"
#include "store/store.h"

#define PKI_DER_MAX 8192 /* any certificate, request or key handled here */
#define PKI_SERIAL_LEN 16
#define PKI_FINGERPRINT_LEN 32
#define PKI_CN_MAX 64        /* bytes: the X.520 upper bound of a common name */
#define PKI_ORG_MAX 51       /* bytes: "<org> fieldsync CA" must fit in PKI_CN_MAX */
#define PKI_SAN_MAX 32       /* DNS names plus IP addresses in a server certificate */
#define PKI_DEVICE_LEN 32    /* a device id: lowercase hex */
#define PKI_SKEW_SECONDS 300 /* not_before is back-dated by this much */

/* A validity period in UTC seconds since the epoch, both ends included. */
struct pki_validity {
	int64_t not_before;
	int64_t not_after;
};

/* From `now` - PKI_SKEW_SECONDS (clocks of field devices drift) to `now` + `days` days. */
void pki_validity_days(struct pki_validity *v, int64_t now, int days);

/*
 * Make a new CA: a fresh P-256 key (appended to `key_der`, which the caller wipes) and its
 * self-signed certificate (appended to `cert_der`), subject "O=<org>, CN=<org> fieldsync CA",
 * basicConstraints CA:TRUE with path length 0, keyUsage keyCertSign and cRLSign, subject and
 * authority key identifiers.  `org` is 1 to PKI_ORG_MAX bytes of UTF-8 without control
 * characters or backslashes.  Returns 0, ERR_INVALID (bad org or validity), ERR_NOMEM,
 * ERR_GENERIC.
 */
int pki_ca_create(struct buf *key_der, struct buf *cert_der, const char *org,
	const struct pki_validity *v) WUR;

/*
 * Make the server's key (appended to `key_der`, wipe it) and certificate (`cert_der`) issued
 * by the CA (`ca_key`, `ca_cert`: DER, borrowed).  `dns_names` and `ip_addrs` are
 * NULL-terminated arrays (either may be NULL) of host names and IPv4/IPv6 literals, together
 * 1 to PKI_SAN_MAX entries; all go into subjectAltName.  Subject "O=<org of the CA>, CN=<first
 * DNS name, or first IP if none>"; extendedKeyUsage serverAuth, keyUsage digitalSignature, not
 * a CA.  Returns 0, ERR_INVALID (a bad name or address, a CA key that does not match the CA
 * certificate, a CA certificate that is not a CA, bad validity), ERR_TOOBIG, ERR_NOMEM,
 * ERR_GENERIC.
 */
int pki_server_cert(struct buf *key_der, struct buf *cert_der, const uint8_t *ca_key,
	size_t ca_key_len, const uint8_t *ca_cert, size_t ca_cert_len, const char *const *dns_names,
	const char *const *ip_addrs, const struct pki_validity *v) WUR;

/*
 * A certificate request (PKCS#10, appended to `csr_der`) for the P-256 private key `key_der`
 * (borrowed), subject "CN=<cn>", signed with that key.  `cn` is 1 to PKI_CN_MAX bytes (a device id
 * in practice); the issuer ignores it.  Returns 0, ERR_INVALID (not a P-256 key, bad cn),
 * ERR_TOOBIG, ERR_NOMEM, ERR_GENERIC.
 */
int pki_csr_create(struct buf *csr_der, const uint8_t *key_der, size_t key_len, const char *cn) WUR;

/*
 * Issue a device certificate (appended to `cert_der`; its serial in `serial_out`) for the key
 * in `csr`, an untrusted request of at most PKI_DER_MAX bytes.  The request must parse, hold an
 * EC P-256 key and carry a valid ECDSA-SHA256 self-signature (proof of possession); its subject
 * and extensions are ignored.  Subject "O=<org of the CA>, OU=<office>, CN=<device>";
 * extendedKeyUsage clientAuth, keyUsage digitalSignature, not a CA.  `office` must pass
 * schema_check_office(), `device` is PKI_DEVICE_LEN lowercase hex digits.  Returns 0,
 * ERR_INVALID (malformed request, wrong key type, bad office or device, CA problems as for
 * pki_server_cert), ERR_TOOBIG (request over the cap), ERR_AUTH (the signature does not
 * verify), ERR_NOMEM, ERR_GENERIC.
 */
int pki_issue_device(struct buf *cert_der, uint8_t serial_out[PKI_SERIAL_LEN],
	const uint8_t *ca_key, size_t ca_key_len, const uint8_t *ca_cert, size_t ca_cert_len,
	const uint8_t *csr, size_t csr_len, const char *office, const char *device,
	const struct pki_validity *v) WUR;

/* SHA-256 of a certificate's DER: what enrollment tokens pin. */
void pki_fingerprint(uint8_t out[PKI_FINGERPRINT_LEN], const uint8_t *cert_der, size_t len);

/* The same in lowercase hex, as HQ and devices name CAs to each other. */
void pki_fingerprint_hex(char out[2 * PKI_FINGERPRINT_LEN + 1], const uint8_t *cert_der,
	size_t len);

/*
 * Check that `cert` was issued by `ca` (both DER, borrowed; `cert` may be a CA itself) and that
 * both are valid at `now` (UTC seconds) and by the system clock, which mbedTLS consults on its
 * own.  `ca` is a trust set (below): one certificate, or several during a CA rollover; the
 * reasons given are the first one's (the current CA) when none issued `cert`.  Returns 0; ERR_AUTH with the reason ("certificate
 * not issued by this CA", "certificate expired ...", "certificate not yet valid ...", "CA
 * certificate expired ..."); ERR_INVALID if either does not parse; ERR_TOOBIG over the cap.
 */
int pki_verify(
	const uint8_t *cert, size_t cert_len, const uint8_t *ca, size_t ca_len, int64_t now) WUR;

/*
 * Read the office code (OU), the device id (CN) and the serial of a device certificate (DER,
 * borrowed; verify it first with pki_verify or the TLS handshake: this function trusts it).
 * Returns 0; ERR_INVALID if it does not parse, is a CA, is not for client authentication, or
 * its subject lacks a single valid OU and CN, or its serial is not a positive number of at most
 * 16 bytes; ERR_TOOBIG over the cap.  The outputs are written only on success.
 */
int pki_identity(char office[SCHEMA_OFFICE_MAX + 1], char device[PKI_DEVICE_LEN + 1],
	uint8_t serial[PKI_SERIAL_LEN], const uint8_t *cert, size_t len) WUR;

/* The validity period of a certificate (DER, borrowed).  ERR_INVALID if it does not parse. */
int pki_cert_validity(struct pki_validity *out, const uint8_t *cert, size_t len) WUR;

/*
 * Append the PEM form of `der` with the given label ("CERTIFICATE", "EC PRIVATE KEY"; upper
 * case letters and spaces) to `out`: libcurl's *_BLOB options want PEM.  The buffer is grown
 * once, before anything is written, so a key is never left behind by a reallocation; wipe `out`
 * after use if `der` is secret.  Returns 0, ERR_INVALID (bad label), ERR_TOOBIG, ERR_NOMEM.
 */
int pki_der_to_pem(struct buf *out, const char *label, const uint8_t *der, size_t len) WUR;

/*
 * A renewed server certificate (appended to `cert_der`): the same key `server_key` (borrowed;
 * it must belong to `old_cert`), the same names as `old_cert`, issued by the CA `ca_key` /
 * `ca_cert` (which may be a newer CA than the one that issued `old_cert`), valid for `v`.
 * Keeping the key keeps every signature the server made verifiable.  Returns 0, ERR_INVALID
 * (a certificate or key that does not parse or match, no subjectAltName), ERR_NOMEM,
 * ERR_GENERIC.
 */
int pki_server_renew(struct buf *cert_der, const uint8_t *ca_key, size_t ca_key_len,
	const uint8_t *ca_cert, size_t ca_cert_len, const uint8_t *old_cert, size_t old_len,
	const uint8_t *server_key, size_t key_len, const struct pki_validity *v) WUR;

/*
 * A cross certificate for a CA rollover (appended to `cross_der`): the subject and public key
 * of the new CA certificate `new_ca`, issued by the old CA (`old_key`, `old_ca`), a CA with
 * path length 0 like the others, valid for `v`.  A device that trusts only the old CA checks
 * it (pki_verify against the old CA, pki_cross_matches) before it trusts the new one.
 */
int pki_ca_cross(struct buf *cross_der, const uint8_t *old_key, size_t old_key_len,
	const uint8_t *old_ca, size_t old_ca_len, const uint8_t *new_ca, size_t new_ca_len,
	const struct pki_validity *v) WUR;

/* 0 if `cross` certifies the subject and public key of the self-signed CA `new_ca`, else ERR_AUTH. */
int pki_cross_matches(const uint8_t *cross, size_t cross_len, const uint8_t *new_ca,
	size_t new_ca_len) WUR;

/*
 * A trust set: CA certificates (DER) one after the other, the current CA first.  The store
 * keeps the current CA as material "ca_cert", the next one of a rollover in progress as
 * "ca_next_cert" and the retired ones as "ca_prev_certs" (itself a trust set): retired CAs no
 * longer admit anyone, but what they certified stays verifiable (audit signatures, receipts).
 */
#define PKI_TRUST_MAX 16 /* certificates in one trust set */

/* Append to `out` the store's trust set: current and next, and with `retired` the retired. */
int pki_trust_get(struct buf *out, struct store *s, int retired) WUR;

/*
 * Step through a trust set: set `cert` and `len` to the certificate at `pos` (an offset into `set`)
 * and advance `pos`.  Returns 1 for a certificate, 0 at the end, or -1 for bytes that
 * are not a DER certificate's outer sequence.
 */
int pki_trust_next(const uint8_t **cert, size_t *len, const uint8_t *set, size_t set_len,
	size_t *pos);

/* Parse every certificate of a trust set into `chain` (initialised by the caller). */
int pki_trust_parse(mbedtls_x509_crt *chain, const uint8_t *set, size_t set_len) WUR;

/* Whether the set holds the certificate of fingerprint `fp` (1) or not (0). */
int pki_trust_has(const uint8_t *set, size_t set_len, const uint8_t fp[PKI_FINGERPRINT_LEN]);

#endif
