/* shared/pki.c - CA, server and device certificates over mbedTLS 2.28. */
#include "pki.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/bignum.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "crypto.h"

#define CERT_MAX 4096
#define NAME_MAX_ 512

/* extendedKeyUsage values: SEQUENCE { OID id-kp-serverAuth / id-kp-clientAuth } */
static const uint8_t eku_server[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07,
	0x03, 0x01};
static const uint8_t eku_client[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07,
	0x03, 0x02};

void pki_validity_days(struct pki_validity *v, int64_t now, int days)
{
	v->not_before = now - 300;
	v->not_after = now + (int64_t)days * 86400;
}

static void x509_time(char out[16], int64_t t)
{
	time_t secs = (time_t)t;
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

static int mbed_fail(int rc, const char *what)
{
	return err_set(ERR_GENERIC, "%s (mbedtls -0x%04x)", what, (unsigned)-rc);
}

static int parse_key(mbedtls_pk_context *pk, const uint8_t *der, size_t len)
{
	if (mbedtls_pk_parse_key(pk, der, len, NULL, 0) != 0 ||
		mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
		return err_set(ERR_INVALID, "not a valid EC private key");
	return 0;
}

static int parse_cert(mbedtls_x509_crt *crt, const uint8_t *der, size_t len)
{
	if (len > CERT_MAX || mbedtls_x509_crt_parse_der(crt, der, len) != 0)
		return err_set(ERR_INVALID, "not a valid certificate");
	return 0;
}

/* The value of one attribute (by OID) of a distinguished name, or "" if absent. */
static void dn_get(char *out, size_t size, const mbedtls_x509_name *name, const char *oid,
	size_t oid_len)
{
	out[0] = '\0';
	for (; name; name = name->next) {
		if (name->oid.len == oid_len && memcmp(name->oid.p, oid, oid_len) == 0) {
			if (name->val.len < size) {
				memcpy(out, name->val.p, name->val.len);
				out[name->val.len] = '\0';
			}
			return;
		}
	}
}

/* Names go into "CN=...,O=..." strings: refuse the characters that would split them. */
static int check_name_value(const char *what, const char *v)
{
	if (!*v || strlen(v) > 128 || strpbrk(v, ",=+\\\"<>;#"))
		return err_set(ERR_INVALID, "%s '%s' cannot be used in a certificate name", what, v);
	return 0;
}

static int random_serial(mbedtls_mpi *serial, uint8_t out[PKI_SERIAL_LEN])
{
	int error = crypto_random(out, PKI_SERIAL_LEN);

	if (error)
		return error;
	/* positive and exactly 16 bytes in DER: first byte in 0x01..0x7f */
	out[0] = (uint8_t)((out[0] & 0x7f) | 0x01);
	if (mbedtls_mpi_read_binary(serial, out, PKI_SERIAL_LEN))
		return err_set(ERR_NOMEM, "cannot set the serial");
	return 0;
}

/* Fill the parts of a certificate every issuer writes the same way, then sign it. */
static int write_cert(struct buf *out, mbedtls_x509write_cert *w, mbedtls_pk_context *subject,
	mbedtls_pk_context *issuer, const char *subject_name, const char *issuer_name,
	const struct pki_validity *v, uint8_t serial_out[PKI_SERIAL_LEN])
{
	uint8_t serial_bytes[PKI_SERIAL_LEN], tmp[CERT_MAX];
	char from[16], to[16];
	mbedtls_mpi serial;
	int rc, error;

	mbedtls_mpi_init(&serial);
	error = random_serial(&serial, serial_bytes);
	if (error)
		goto out;
	x509_time(from, v->not_before);
	x509_time(to, v->not_after);
	mbedtls_x509write_crt_set_version(w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(w, subject);
	mbedtls_x509write_crt_set_issuer_key(w, issuer);
	rc = mbedtls_x509write_crt_set_serial(w, &serial);
	if (!rc)
		rc = mbedtls_x509write_crt_set_validity(w, from, to);
	if (!rc)
		rc = mbedtls_x509write_crt_set_subject_name(w, subject_name);
	if (!rc)
		rc = mbedtls_x509write_crt_set_issuer_name(w, issuer_name);
	if (!rc)
		rc = mbedtls_x509write_crt_set_subject_key_identifier(w);
	if (!rc)
		rc = mbedtls_x509write_crt_set_authority_key_identifier(w);
	if (rc) {
		error = mbed_fail(rc, "cannot fill the certificate");
		goto out;
	}
	rc = mbedtls_x509write_crt_der(w, tmp, sizeof(tmp), crypto_rng, NULL);
	if (rc <= 0) {
		error = mbed_fail(rc, "cannot sign the certificate");
		goto out;
	}
	error = buf_put(out, tmp + sizeof(tmp) - (size_t)rc, (size_t)rc);
	if (!error && serial_out)
		memcpy(serial_out, serial_bytes, PKI_SERIAL_LEN);
out:
	mbedtls_mpi_free(&serial);
	return error;
}

static int new_key(struct buf *der, mbedtls_pk_context *pk)
{
	int error = crypto_ec_keygen(der);

	return error ? error : parse_key(pk, (const uint8_t *)der->ptr, der->len);
}

int pki_ca_create(struct buf *key_der, struct buf *cert_der, const char *org,
	const struct pki_validity *v)
{
	mbedtls_x509write_cert w;
	mbedtls_pk_context pk;
	char name[NAME_MAX_];
	int rc, error;

	mbedtls_x509write_crt_init(&w);
	mbedtls_pk_init(&pk);
	error = check_name_value("organisation name", org);
	if (!error)
		error = new_key(key_der, &pk);
	if (error)
		goto out;
	snprintf(name, sizeof(name), "CN=%s fieldsync CA,O=%s", org, org);
	rc = mbedtls_x509write_crt_set_basic_constraints(&w, 1, 0);
	if (!rc)
		rc = mbedtls_x509write_crt_set_key_usage(&w,
			MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
	if (rc) {
		error = mbed_fail(rc, "cannot set CA extensions");
		goto out;
	}
	error = write_cert(cert_der, &w, &pk, &pk, name, name, v, NULL);
out:
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&pk);
	return error;
}

/* DER length octets. */
static int put_len(struct buf *b, size_t len)
{
	uint8_t l[3];

	if (len < 128)
		return buf_putc(b, (char)len);
	if (len < 256) {
		l[0] = 0x81;
		l[1] = (uint8_t)len;
		return buf_put(b, l, 2);
	}
	l[0] = 0x82;
	l[1] = (uint8_t)(len >> 8);
	l[2] = (uint8_t)len;
	return buf_put(b, l, 3);
}

/* SEQUENCE OF GeneralName: [2] dNSName, [7] iPAddress. */
static int san_der(struct buf *out, const char *const *dns, const char *const *ips)
{
	struct buf names = BUF_INIT(4096);
	uint8_t addr[16];
	size_t i;
	int error = 0;

	for (i = 0; !error && dns && dns[i]; i++) {
		error = buf_putc(&names, (char)0x82);
		if (!error)
			error = put_len(&names, strlen(dns[i]));
		if (!error)
			error = buf_puts(&names, dns[i]);
	}
	for (i = 0; !error && ips && ips[i]; i++) {
		size_t n = inet_pton(AF_INET, ips[i], addr) == 1	? 4
			   : inet_pton(AF_INET6, ips[i], addr) == 1 ? 16
								    : 0;

		if (!n) {
			error = err_set(ERR_INVALID, "'%s' is not an IP address", ips[i]);
			break;
		}
		error = buf_putc(&names, (char)0x87);
		if (!error)
			error = put_len(&names, n);
		if (!error)
			error = buf_put(&names, addr, n);
	}
	if (!error)
		error = buf_putc(out, 0x30);
	if (!error)
		error = put_len(out, names.len);
	if (!error)
		error = buf_put(out, names.ptr, names.len);
	buf_release(&names);
	return error;
}

static int issuer_of(mbedtls_pk_context *key, mbedtls_x509_crt *crt, char *name, size_t size,
	char *org, size_t orgsize, const uint8_t *ca_key, size_t ca_key_len, const uint8_t *ca_cert,
	size_t ca_cert_len)
{
	int error = parse_key(key, ca_key, ca_key_len);

	if (!error)
		error = parse_cert(crt, ca_cert, ca_cert_len);
	if (!error && mbedtls_x509_dn_gets(name, size, &crt->subject) < 0)
		error = err_set(ERR_INVALID, "cannot read the CA's name");
	if (!error)
		dn_get(org, orgsize, &crt->subject, MBEDTLS_OID_AT_ORGANIZATION,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION));
	return error;
}

int pki_server_cert(struct buf *key_der, struct buf *cert_der, const uint8_t *ca_key,
	size_t ca_key_len, const uint8_t *ca_cert, size_t ca_cert_len, const char *const *dns_names,
	const char *const *ip_addrs, const struct pki_validity *v)
{
	mbedtls_x509write_cert w;
	mbedtls_pk_context pk, ca_pk;
	mbedtls_x509_crt ca;
	struct buf san = BUF_INIT(8192);
	char issuer[NAME_MAX_], subject[NAME_MAX_], org[256];
	const char *cn = dns_names && dns_names[0] ? dns_names[0] : ip_addrs ? ip_addrs[0] : NULL;
	int rc, error;

	mbedtls_x509write_crt_init(&w);
	mbedtls_pk_init(&pk);
	mbedtls_pk_init(&ca_pk);
	mbedtls_x509_crt_init(&ca);
	error = cn ? check_name_value("server name", cn)
		   : err_set(ERR_INVALID, "a server certificate needs a name");
	if (!error)
		error = issuer_of(&ca_pk, &ca, issuer, sizeof(issuer), org, sizeof(org), ca_key,
			ca_key_len, ca_cert, ca_cert_len);
	if (!error)
		error = san_der(&san, dns_names, ip_addrs);
	if (!error)
		error = new_key(key_der, &pk);
	if (error)
		goto out;
	snprintf(subject, sizeof(subject), "CN=%s,O=%s", cn, org);
	rc = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1);
	if (!rc)
		rc = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	if (!rc)
		rc = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, (const uint8_t *)san.ptr,
			san.len);
	if (!rc)
		rc = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku_server,
			sizeof(eku_server));
	if (rc) {
		error = mbed_fail(rc, "cannot set server certificate extensions");
		goto out;
	}
	error = write_cert(cert_der, &w, &pk, &ca_pk, subject, issuer, v, NULL);
out:
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&pk);
	mbedtls_pk_free(&ca_pk);
	mbedtls_x509_crt_free(&ca);
	buf_release(&san);
	return error;
}

int pki_csr_create(struct buf *csr_der, const uint8_t *key_der, size_t key_len, const char *cn)
{
	mbedtls_x509write_csr w;
	mbedtls_pk_context pk;
	uint8_t tmp[PKI_CSR_MAX];
	char name[NAME_MAX_];
	int rc, error;

	mbedtls_x509write_csr_init(&w);
	mbedtls_pk_init(&pk);
	error = parse_key(&pk, key_der, key_len);
	if (!error)
		error = check_name_value("CSR name", cn);
	if (error)
		goto out;
	snprintf(name, sizeof(name), "CN=%s", cn);
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_csr_set_key(&w, &pk);
	rc = mbedtls_x509write_csr_set_subject_name(&w, name);
	if (!rc)
		rc = mbedtls_x509write_csr_der(&w, tmp, sizeof(tmp), crypto_rng, NULL);
	if (rc <= 0) {
		error = mbed_fail(rc, "cannot write the CSR");
		goto out;
	}
	error = buf_put(csr_der, tmp + sizeof(tmp) - (size_t)rc, (size_t)rc);
out:
	mbedtls_x509write_csr_free(&w);
	mbedtls_pk_free(&pk);
	return error;
}

/* The CSR's self-signature: proof that the requester holds the key. */
static int check_csr(mbedtls_x509_csr *csr, const uint8_t *der, size_t len)
{
	const mbedtls_md_info_t *md;
	uint8_t hash[MBEDTLS_MD_MAX_SIZE];

	if (len > PKI_CSR_MAX || mbedtls_x509_csr_parse_der(csr, der, len) != 0)
		return err_set(ERR_INVALID, "the certificate request is malformed");
	if (mbedtls_pk_get_type(&csr->pk) != MBEDTLS_PK_ECKEY ||
		mbedtls_pk_ec(csr->pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
		return err_set(ERR_INVALID, "the certificate request is not for a P-256 key");
	md = mbedtls_md_info_from_type(csr->sig_md);
	if (!md || mbedtls_md(md, csr->cri.p, csr->cri.len, hash) != 0 ||
		mbedtls_pk_verify_ext(csr->sig_pk, csr->sig_opts, &csr->pk, csr->sig_md, hash,
			mbedtls_md_get_size(md), csr->sig.p, csr->sig.len) != 0)
		return err_set(ERR_AUTH, "the certificate request's signature does not verify");
	return 0;
}

int pki_issue_device(struct buf *cert_der, uint8_t serial_out[PKI_SERIAL_LEN],
	const uint8_t *ca_key, size_t ca_key_len, const uint8_t *ca_cert, size_t ca_cert_len,
	const uint8_t *csr_der, size_t csr_len, const char *office, const char *device,
	const struct pki_validity *v)
{
	mbedtls_x509write_cert w;
	mbedtls_pk_context ca_pk;
	mbedtls_x509_crt ca;
	mbedtls_x509_csr csr;
	char issuer[NAME_MAX_], subject[NAME_MAX_], org[256];
	int rc, error;

	mbedtls_x509write_crt_init(&w);
	mbedtls_pk_init(&ca_pk);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_csr_init(&csr);
	error = schema_check_office(office);
	if (!error)
		error = check_name_value("device id", device);
	if (!error)
		error = check_csr(&csr, csr_der, csr_len);
	if (!error)
		error = issuer_of(&ca_pk, &ca, issuer, sizeof(issuer), org, sizeof(org), ca_key,
			ca_key_len, ca_cert, ca_cert_len);
	if (error)
		goto out;
	/* The subject is ours to choose: nothing of the CSR's name or extensions is used. */
	snprintf(subject, sizeof(subject), "CN=%s,OU=%s,O=%s", device, office, org);
	rc = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1);
	if (!rc)
		rc = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	if (!rc)
		rc = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku_client,
			sizeof(eku_client));
	if (rc) {
		error = mbed_fail(rc, "cannot set device certificate extensions");
		goto out;
	}
	error = write_cert(cert_der, &w, &csr.pk, &ca_pk, subject, issuer, v, serial_out);
out:
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&ca_pk);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_csr_free(&csr);
	return error;
}

void pki_fingerprint(uint8_t out[32], const uint8_t *cert_der, size_t len)
{
	crypto_sha256(out, cert_der, len);
}

static int64_t to_epoch(const mbedtls_x509_time *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return (int64_t)timegm(&tm);
}

int pki_verify(const uint8_t *cert, size_t cert_len, const uint8_t *ca, size_t ca_len,
	int64_t now)
{
	mbedtls_x509_crt crt, anchor;
	uint32_t flags = 0;
	int error;

	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&anchor);
	error = parse_cert(&crt, cert, cert_len);
	if (!error)
		error = parse_cert(&anchor, ca, ca_len);
	if (error)
		goto out;
	if (now < to_epoch(&crt.valid_from))
		error = err_set(ERR_AUTH, "certificate not yet valid");
	else if (now > to_epoch(&crt.valid_to))
		error = err_set(ERR_AUTH, "certificate expired");
	else if (mbedtls_x509_crt_verify(&crt, &anchor, NULL, NULL, &flags, NULL, NULL) != 0 &&
		 (flags & ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)))
		error = err_set(ERR_AUTH, "not issued by this CA (flags 0x%x)", (unsigned)flags);
out:
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&anchor);
	return error;
}

int pki_identity(char office[SCHEMA_OFFICE_MAX + 1], char device[NODE_DEVICE_MAX + 1],
	uint8_t serial[PKI_SERIAL_LEN], const uint8_t *cert, size_t len)
{
	mbedtls_x509_crt crt;
	char ou[64], cn[64];
	size_t i;
	int error;

	mbedtls_x509_crt_init(&crt);
	error = parse_cert(&crt, cert, len);
	if (error)
		goto out;
	dn_get(ou, sizeof(ou), &crt.subject, MBEDTLS_OID_AT_ORG_UNIT,
		MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORG_UNIT));
	dn_get(cn, sizeof(cn), &crt.subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN));
	if (schema_check_office(ou) || strlen(cn) != NODE_DEVICE_MAX ||
		crt.serial.len != PKI_SERIAL_LEN) {
		error = err_set(ERR_INVALID, "not a fieldsync device certificate");
		goto out;
	}
	for (i = 0; i < NODE_DEVICE_MAX; i++)
		if (!((cn[i] >= '0' && cn[i] <= '9') || (cn[i] >= 'a' && cn[i] <= 'f'))) {
			error = err_set(ERR_INVALID, "not a fieldsync device certificate");
			goto out;
		}
	memcpy(office, ou, strlen(ou) + 1);
	memcpy(device, cn, NODE_DEVICE_MAX + 1);
	memcpy(serial, crt.serial.p, PKI_SERIAL_LEN);
out:
	mbedtls_x509_crt_free(&crt);
	return error;
}

int pki_der_to_pem(struct buf *out, const char *label, const uint8_t *der, size_t len)
{
	char head[64], foot[64];
	size_t olen = 0;
	int error;

	snprintf(head, sizeof(head), "-----BEGIN %s-----\n", label);
	snprintf(foot, sizeof(foot), "-----END %s-----\n", label);
	mbedtls_pem_write_buffer(head, foot, der, len, NULL, 0, &olen);
	error = buf_grow(out, olen);
	if (error)
		return error;
	if (mbedtls_pem_write_buffer(head, foot, der, len, (unsigned char *)out->ptr + out->len,
		    olen, &olen))
		return err_set(ERR_GENERIC, "cannot write PEM");
	out->len += olen - 1; /* olen counts the NUL */
	out->ptr[out->len] = '\0';
	return 0;
}
