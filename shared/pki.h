/*
 * shared/pki.h - the organisation's own PKI over mbedTLS 2.28.
 *
 * HQ holds a CA (EC P-256) and issues itself a server certificate and every field device a
 * client certificate.  A device proves possession of its key with a CSR, but the certificate's
 * subject is chosen by HQ ("CN=<device>,OU=<office>,O=<org>"), never taken from the CSR.
 * Keys and certificates are DER in buffers (private keys in wiped ones).  mbedTLS 2.28 has no
 * writer for subjectAltName or extendedKeyUsage: both are encoded here.
 */
#ifndef FIELDSYNC_PKI_H
#define FIELDSYNC_PKI_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "node.h"
#include "schema.h"

#define PKI_SERIAL_LEN 16
#define PKI_CSR_MAX 4096

struct pki_validity {
	int64_t not_before; /* UTC seconds */
	int64_t not_after;
};

/* From now (minus five minutes of clock skew) for `days` days. */
void pki_validity_days(struct pki_validity *v, int64_t now, int days);

/* A new CA: P-256 key and self-signed certificate "CN=<org> fieldsync CA,O=<org>". */
int pki_ca_create(struct buf *key_der, struct buf *cert_der, const char *org,
	const struct pki_validity *v) WUR;

/*
 * A new server key and certificate signed by the CA, with subjectAltNames for every DNS name
 * and IP literal given (NULL-terminated lists; ERR_INVALID for a bad IP literal).
 */
int pki_server_cert(struct buf *key_der, struct buf *cert_der, const uint8_t *ca_key,
	size_t ca_key_len, const uint8_t *ca_cert, size_t ca_cert_len, const char *const *dns_names,
	const char *const *ip_addrs, const struct pki_validity *v) WUR;

/* A CSR for a P-256 key (the subject is a hint only: the CA ignores it). */
int pki_csr_create(struct buf *csr_der, const uint8_t *key_der, size_t key_len, const char *cn) WUR;

/*
 * Issue a device certificate from an untrusted CSR: ERR_INVALID (malformed, not P-256),
 * ERR_AUTH (the CSR's signature does not verify).  serial_out receives the serial.
 */
int pki_issue_device(struct buf *cert_der, uint8_t serial_out[PKI_SERIAL_LEN],
	const uint8_t *ca_key, size_t ca_key_len, const uint8_t *ca_cert, size_t ca_cert_len,
	const uint8_t *csr, size_t csr_len, const char *office, const char *device,
	const struct pki_validity *v) WUR;

/* SHA-256 of a certificate's DER. */
void pki_fingerprint(uint8_t out[32], const uint8_t *cert_der, size_t len);

/* Chain check against exactly this CA and validity at `now`: 0 or ERR_AUTH with the reason. */
int pki_verify(const uint8_t *cert, size_t cert_len, const uint8_t *ca, size_t ca_len,
	int64_t now) WUR;

/* Office (OU), device (CN) and serial of a device certificate. ERR_INVALID. */
int pki_identity(char office[SCHEMA_OFFICE_MAX + 1], char device[NODE_DEVICE_MAX + 1],
	uint8_t serial[PKI_SERIAL_LEN], const uint8_t *cert, size_t len) WUR;

/* PEM armour ("CERTIFICATE", "EC PRIVATE KEY"), as libcurl's blobs want it. */
int pki_der_to_pem(struct buf *out, const char *label, const uint8_t *der, size_t len) WUR;

#endif
