/* shared/pki/pki.c - the organisation's CA over the X.509 writer and parser of mbedTLS 2.28. */
#include "pki/pki.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/base64.h>
#include <mbedtls/bignum.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "base/crypto.h"
#include "pki/enroll.h"

_Static_assert(PKI_DEVICE_LEN == ENROLL_DEVICE_LEN, "enrollment carries the same device id");
_Static_assert(PKI_DER_MAX <= INT32_MAX, "DER lengths fit mbedTLS's int results");
_Static_assert(sizeof(time_t) >= 8, "validity dates past 2038 need a 64-bit time_t");

#define CA_CN_SUFFIX " fieldsync CA"
#define NAME_STR_MAX 1024 /* an mbedTLS name string: three escaped values and their tags */
#define SERIAL_MAX 20     /* RFC 5280 bound on the serials we accept from others */

/* The dates mbedTLS can write faithfully: UTCTime from 1950, GeneralizedTime to 9999. */
#define TIME_MIN (-631152000LL) /* 1950-01-01T00:00:00Z */
#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

/* Report an mbedTLS failure with its own description. */
static int mbed_fail(int code, int rc, const char *what)
{
	char text[160];

	mbedtls_strerror(rc, text, sizeof(text));
	return err_set(code, "%s (mbedtls: %s)", what, text);
}

void pki_validity_days(struct pki_validity *v, int64_t now, int days)
{
	v->not_before = now - PKI_SKEW_SECONDS;
	v->not_after = now + (int64_t)days * 86400;
}

/* "YYYYMMDDhhmmss", as mbedtls_x509write_crt_set_validity wants it. */
static int format_time(char out[16], int64_t t)
{
	time_t secs = (time_t)t;
	struct tm tm;

	if (t < TIME_MIN || t > TIME_MAX || !gmtime_r(&secs, &tm) ||
		strftime(out, 16, "%Y%m%d%H%M%S", &tm) != 14)
		return err_set(ERR_INVALID, "certificate date %lld is out of range (1950 to 9999)",
			(long long)t);
	return 0;
}

static int validity_strings(char from[16], char to[16], const struct pki_validity *v)
{
	int error;

	if (v->not_after <= v->not_before)
		return err_set(ERR_INVALID, "certificate validity ends before it starts");
	error = format_time(from, v->not_before);
	if (!error)
		error = format_time(to, v->not_after);
	return error;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (years 0 to 9999, all X.509 allows). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	/* Count years from March so that February, and its leap day, closes the year. */
	int64_t yy = m <= 2 ? y - 1 : y;
	int64_t month = (m + 9) % 12; /* March is 0 */
	int64_t day_of_year = (153 * month + 2) / 5 + d - 1;
	int64_t days = yy * 365 + yy / 4 - yy / 100 + yy / 400 + day_of_year;

	return days - 719468; /* days from 0000-03-01 to 1970-01-01 */
}

static int64_t x509_time_unix(const mbedtls_x509_time *t)
{
	return days_from_civil(t->year, t->mon, t->day) * 86400 + t->hour * 3600 + t->min * 60 +
	       t->sec;
}

int pki_cert_validity(struct pki_validity *out, const uint8_t *cert, size_t len)
{
	mbedtls_x509_crt crt;
	int error = 0;

	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, cert, len)) {
		error = err_set(ERR_INVALID, "a certificate does not parse");
	} else {
		out->not_before = x509_time_unix(&crt.valid_from);
		out->not_after = x509_time_unix(&crt.valid_to);
	}
	mbedtls_x509_crt_free(&crt);
	return error;
}

/*
 * A value for a certificate name: UTF-8 text without control characters, 1 to `max` bytes,
 * and no backslash (mbedTLS 2.28 name strings can escape a comma but nothing else).
 */
static int check_name_value(const char *what, const char *value, size_t max)
{
	size_t len = strlen(value);
	int error;

	if (len == 0 || len > max)
		return err_set(ERR_INVALID, "%s must be 1 to %zu bytes", what, max);
	error = schema_check_text(what, value, len, max);
	if (error)
		return error;
	if (strpbrk(value, "\\\n\r\t"))
		return err_set(ERR_INVALID, "%s '%s' contains a backslash or a control character",
			what, value);
	return 0;
}

/* Append "ATTR=value" to an mbedTLS name string, with a comma before all but the first. */
static int name_add(struct buf *name, const char *attr, const char *value)
{
	int error = buf_printf(name, "%s%s=", name->len ? "," : "", attr);

	for (; !error && *value; value++) {
		if (*value == ',')
			error = buf_putc(name, '\\');
		if (!error)
			error = buf_putc(name, *value);
	}
	return error;
}

/* The CA's name, both its subject and the issuer of everything it signs. */
static int ca_name(struct buf *name, const char *org)
{
	char cn[PKI_CN_MAX + 1];
	int error = 0;

	/* callers checked org against PKI_ORG_MAX, which leaves room for the suffix */
	if (snprintf(cn, sizeof(cn), "%s" CA_CN_SUFFIX, org) >= (int)sizeof(cn))
		error = err_set(ERR_INVALID, "organization name '%s' is too long", org);
	if (!error)
		error = name_add(name, "O", org);
	if (!error)
		error = name_add(name, "CN", cn);
	return error;
}

/* A device id: exactly PKI_DEVICE_LEN lowercase hex digits. */
static int check_device_id(const char *device)
{
	size_t i, len = strlen(device);

	for (i = 0; len == PKI_DEVICE_LEN && i < len; i++)
		if (!((device[i] >= '0' && device[i] <= '9') ||
			    (device[i] >= 'a' && device[i] <= 'f')))
			break;
	if (len != PKI_DEVICE_LEN || i != len)
		return err_set(ERR_INVALID, "'%s' is not a device id (%d lowercase hex digits)",
			device, PKI_DEVICE_LEN);
	return 0;
}

/* A host name for dNSName: dot-separated labels of letters, digits and inner hyphens. */
static int check_dns_name(const char *name)
{
	size_t len = strlen(name), label = 0, i;

	if (len == 0 || len > 253)
		goto bad;
	for (i = 0; i <= len; i++) {
		char c = name[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || name[i - 1] == '-')
				goto bad;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	return err_set(ERR_INVALID, "'%s' is not a valid DNS name", name);
}

/* A fresh serial: 16 random bytes, the first in 0x40..0x7f so that DER keeps all 16, positive. */
static int random_serial(mbedtls_mpi *mpi, uint8_t serial[PKI_SERIAL_LEN])
{
	int error = crypto_random(serial, PKI_SERIAL_LEN);

	if (error)
		return error;
	serial[0] = (uint8_t)((serial[0] & 0x3f) | 0x40);
	if (mbedtls_mpi_read_binary(mpi, serial, PKI_SERIAL_LEN))
		return err_set(ERR_NOMEM, "out of memory for a certificate serial");
	return 0;
}

/* An EC P-256 key, private (`priv`) or public; `what` names it in messages. */
static int check_p256(const mbedtls_pk_context *pk, const char *what)
{
	if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY ||
		mbedtls_pk_ec(*pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
		return err_set(ERR_INVALID, "%s is not an EC P-256 key", what);
	return 0;
}

static int parse_key(mbedtls_pk_context *pk, const uint8_t *der, size_t len, const char *what)
{
	int rc;

	if (len > PKI_DER_MAX)
		return err_set(ERR_TOOBIG, "%s is larger than %d bytes", what, PKI_DER_MAX);
	rc = mbedtls_pk_parse_key(pk, der, len, NULL, 0);
	if (rc)
		return err_set(ERR_INVALID, "%s is not a valid private key", what);
	return check_p256(pk, what);
}

/* Parse exactly one certificate: trailing bytes would give one certificate two fingerprints. */
static int parse_cert(mbedtls_x509_crt *crt, const uint8_t *der, size_t len, const char *what)
{
	int rc;

	if (len > PKI_DER_MAX)
		return err_set(ERR_TOOBIG, "%s is larger than %d bytes", what, PKI_DER_MAX);
	rc = mbedtls_x509_crt_parse_der(crt, der, len);
	if (rc) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%s does not parse", what);
		return mbed_fail(ERR_INVALID, rc, msg);
	}
	if (crt->raw.len != len)
		return err_set(
			ERR_INVALID, "%s has %zu bytes after its end", what, len - crt->raw.len);
	return 0;
}

/* The single value of attribute `oid` in a DN. ERR_INVALID if absent, repeated or too long. */
static int dn_value(char *out, size_t size, const mbedtls_x509_name *dn, const char *oid,
	size_t oid_len, const char *what)
{
	const mbedtls_x509_name *found = NULL;

	for (; dn; dn = dn->next) {
		if (dn->oid.len != oid_len || memcmp(dn->oid.p, oid, oid_len) != 0)
			continue;
		if (found)
			return err_set(ERR_INVALID, "the certificate names more than one %s", what);
		found = dn;
	}
	if (!found)
		return err_set(ERR_INVALID, "the certificate names no %s", what);
	if (found->val.len >= size || memchr(found->val.p, '\0', found->val.len))
		return err_set(ERR_INVALID, "the certificate's %s is not a valid name", what);
	memcpy(out, found->val.p, found->val.len);
	out[found->val.len] = '\0';
	return 0;
}

/* The CA that signs: its certificate, its key and the organization named in it. */
struct ca {
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	char org[PKI_ORG_MAX + 1];
};

static void ca_init(struct ca *ca)
{
	mbedtls_x509_crt_init(&ca->crt);
	mbedtls_pk_init(&ca->key);
	ca->org[0] = '\0';
}

static void ca_release(struct ca *ca)
{
	mbedtls_x509_crt_free(&ca->crt);
	mbedtls_pk_free(&ca->key); /* zeroizes the private scalar */
}

static int ca_load(
	struct ca *ca, const uint8_t *key, size_t key_len, const uint8_t *cert, size_t cert_len)
{
	int error;

	error = parse_cert(&ca->crt, cert, cert_len, "CA certificate");
	if (error)
		return error;
	if (!ca->crt.ca_istrue)
		return err_set(ERR_INVALID, "the CA certificate is not a CA");
	error = parse_key(&ca->key, key, key_len, "CA key");
	if (error)
		return error;
	if (mbedtls_pk_check_pair(&ca->crt.pk, &ca->key))
		return err_set(ERR_INVALID, "the CA key does not belong to the CA certificate");
	error = dn_value(ca->org, sizeof(ca->org), &ca->crt.subject, MBEDTLS_OID_AT_ORGANIZATION,
		MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION), "organization (O)");
	if (!error)
		error = check_name_value("organization name", ca->org, PKI_ORG_MAX);
	return error;
}

/* What differs between the kinds of certificate this module writes. */
struct cert_spec {
	const char *subject; /* mbedTLS name strings */
	const char *issuer;
	mbedtls_pk_context *subject_key;
	mbedtls_pk_context *issuer_key;
	int is_ca;
	unsigned int key_usage;
	const struct buf *eku; /* extension values (DER), or NULL */
	const struct buf *san;
};

static int set_extensions(mbedtls_x509write_cert *w, const struct cert_spec *s)
{
	int rc;

	/* path length 0: the CA signs end-entity certificates only */
	rc = mbedtls_x509write_crt_set_basic_constraints(w, s->is_ca, s->is_ca ? 0 : -1);
	if (!rc)
		rc = mbedtls_x509write_crt_set_subject_key_identifier(w);
	if (!rc)
		rc = mbedtls_x509write_crt_set_authority_key_identifier(w);
	if (!rc)
		rc = mbedtls_x509write_crt_set_key_usage(w, s->key_usage);
	if (!rc && s->eku)
		rc = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
			(const unsigned char *)s->eku->ptr, s->eku->len);
	if (!rc && s->san)
		rc = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_SUBJECT_ALT_NAME,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
			(const unsigned char *)s->san->ptr, s->san->len);
	return rc;
}

/* mbedTLS writers fill a scratch buffer from its end; append the `n` bytes they wrote. */
static int put_tail(struct buf *out, const struct buf *scratch, int n, const char *what)
{
	if (n <= 0)
		return mbed_fail(ERR_GENERIC, n, what);
	return buf_put(out, scratch->ptr + PKI_DER_MAX - n, (size_t)n);
}

static int write_cert(struct buf *out, uint8_t serial[PKI_SERIAL_LEN], const struct cert_spec *s,
	const struct pki_validity *v)
{
	struct buf scratch = BUF_INIT(PKI_DER_MAX);
	mbedtls_x509write_cert w;
	mbedtls_mpi mpi;
	char from[16], to[16];
	int rc, n, error;

	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&mpi);
	error = validity_strings(from, to, v);
	if (!error)
		error = random_serial(&mpi, serial);
	if (!error)
		error = buf_grow(&scratch, PKI_DER_MAX);
	if (error)
		goto out;
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, s->subject_key);
	mbedtls_x509write_crt_set_issuer_key(&w, s->issuer_key);
	rc = mbedtls_x509write_crt_set_serial(&w, &mpi);
	if (!rc)
		rc = mbedtls_x509write_crt_set_validity(&w, from, to);
	if (!rc)
		rc = mbedtls_x509write_crt_set_subject_name(&w, s->subject);
	if (!rc)
		rc = mbedtls_x509write_crt_set_issuer_name(&w, s->issuer);
	if (!rc)
		rc = set_extensions(&w, s);
	if (rc) {
		error = mbed_fail(ERR_GENERIC, rc, "cannot prepare the certificate");
		goto out;
	}
	n = mbedtls_x509write_crt_der(
		&w, (unsigned char *)scratch.ptr, PKI_DER_MAX, crypto_rng, NULL);
	error = put_tail(out, &scratch, n, "cannot sign the certificate");
out:
	mbedtls_mpi_free(&mpi);
	mbedtls_x509write_crt_free(&w);
	buf_release(&scratch);
	return error;
}

/*
 * The issuer name is rebuilt from the CA's organization rather than copied: make sure it came
 * out byte for byte as the CA's subject, or the certificate would not chain.
 */
static int check_issuer(const struct buf *cert, const struct ca *ca)
{
	mbedtls_x509_crt crt;
	int error;

	mbedtls_x509_crt_init(&crt);
	error = parse_cert(&crt, (const uint8_t *)cert->ptr, cert->len, "new certificate");
	if (!error && (crt.issuer_raw.len != ca->crt.subject_raw.len ||
			      memcmp(crt.issuer_raw.p, ca->crt.subject_raw.p, crt.issuer_raw.len)))
		error = err_set(ERR_INVALID,
			"the CA certificate's subject is not one fieldsync writes ('%s')", ca->org);
	mbedtls_x509_crt_free(&crt);
	return error;
}

/* extendedKeyUsage: SEQUENCE OF KeyPurposeId, here a single one. */
static int eku_value(struct buf *out, const char *oid, size_t oid_len)
{
	unsigned char tmp[32], *p = tmp + sizeof(tmp);
	int n, len = 0;

	n = mbedtls_asn1_write_oid(&p, tmp, oid, oid_len);
	if (n >= 0) {
		len += n;
		n = mbedtls_asn1_write_len(&p, tmp, (size_t)len);
	}
	if (n >= 0) {
		len += n;
		n = mbedtls_asn1_write_tag(
			&p, tmp, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
	}
	if (n < 0)
		return mbed_fail(ERR_GENERIC, n, "cannot encode extendedKeyUsage");
	return buf_put(out, p, (size_t)(len + n));
}

/* The names of a server certificate, checked, the IP literals in binary. */
struct san_list {
	const char *dns[PKI_SAN_MAX];
	size_t n_dns;
	uint8_t ip[PKI_SAN_MAX][16];
	size_t ip_len[PKI_SAN_MAX];
	const char *ip_text[PKI_SAN_MAX];
	size_t n_ip;
	const char *first; /* the subject's CN: the first DNS name, else the first address */
};

static int san_collect(struct san_list *s, const char *const *dns, const char *const *ips)
{
	int error = 0;

	s->n_dns = s->n_ip = 0;
	for (; !error && dns && *dns; dns++) {
		if (s->n_dns + s->n_ip == PKI_SAN_MAX)
			return err_set(ERR_INVALID, "more than %d server names", PKI_SAN_MAX);
		error = check_dns_name(*dns);
		s->dns[s->n_dns++] = *dns;
	}
	for (; !error && ips && *ips; ips++) {
		size_t i = s->n_ip;

		if (s->n_dns + s->n_ip == PKI_SAN_MAX)
			return err_set(ERR_INVALID, "more than %d server names", PKI_SAN_MAX);
		if (inet_pton(AF_INET, *ips, s->ip[i]) == 1)
			s->ip_len[i] = 4;
		else if (inet_pton(AF_INET6, *ips, s->ip[i]) == 1)
			s->ip_len[i] = 16;
		else
			error = err_set(ERR_INVALID, "'%s' is not an IPv4 or IPv6 address", *ips);
		s->ip_text[s->n_ip++] = *ips;
	}
	if (!error && s->n_dns + s->n_ip == 0)
		error = err_set(
			ERR_INVALID, "a server certificate needs a DNS name or an IP address");
	if (!error)
		s->first = s->n_dns ? s->dns[0] : s->ip_text[0];
	return error;
}

/* One GeneralName, [tag] IMPLICIT, written backwards before *p. Returns its size or < 0. */
static int general_name(
	unsigned char **p, unsigned char *start, unsigned char tag, const void *data, size_t len)
{
	int n, total;

	total = mbedtls_asn1_write_raw_buffer(p, start, data, len);
	if (total < 0)
		return total;
	n = mbedtls_asn1_write_len(p, start, len);
	if (n < 0)
		return n;
	total += n;
	n = mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag);
	return n < 0 ? n : total + n;
}

/*
 * subjectAltName: SEQUENCE OF GeneralName, dNSName [2] IA5String then iPAddress [7] OCTET
 * STRING of 4 or 16 bytes.  DER is written from the end, so the names go in reverse order.
 */
static int san_value(struct buf *out, const struct san_list *s)
{
	struct buf scratch = BUF_INIT(PKI_DER_MAX);
	unsigned char *start, *p;
	size_t i;
	int n = 0, len = 0, error;

	error = buf_grow(&scratch, PKI_DER_MAX);
	if (error)
		goto out;
	start = (unsigned char *)scratch.ptr;
	p = start + PKI_DER_MAX;
	for (i = s->n_dns + s->n_ip; i-- > 0 && n >= 0;) {
		if (i >= s->n_dns)
			n = general_name(
				&p, start, 7, s->ip[i - s->n_dns], s->ip_len[i - s->n_dns]);
		else
			n = general_name(&p, start, 2, s->dns[i], strlen(s->dns[i]));
		if (n >= 0)
			len += n;
	}
	if (n >= 0)
		n = mbedtls_asn1_write_len(&p, start, (size_t)len);
	if (n >= 0) {
		len += n;
		n = mbedtls_asn1_write_tag(
			&p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
	}
	if (n < 0) {
		error = mbed_fail(ERR_TOOBIG, n, "cannot encode subjectAltName");
		goto out;
	}
	error = buf_put(out, p, (size_t)(len + n));
out:
	buf_release(&scratch);
	return error;
}

/* A fresh P-256 key as DER (for the caller) and parsed (to sign with). */
static int new_key(struct buf *der, mbedtls_pk_context *pk)
{
	int error = crypto_ec_keygen(der);

	if (!error)
		error = parse_key(pk, (const uint8_t *)der->ptr, der->len, "new key");
	return error;
}

/* Append a key and a certificate to the caller's buffers: both or, on error, neither. */
static int hand_over(
	struct buf *key_out, struct buf *cert_out, const struct buf *key, const struct buf *cert)
{
	int error = buf_grow(key_out, key->len);

	if (!error)
		error = buf_grow(cert_out, cert->len);
	if (!error) /* cannot fail now that both have room */
		error = buf_put(key_out, key->ptr, key->len);
	if (!error)
		error = buf_put(cert_out, cert->ptr, cert->len);
	return error;
}

int pki_ca_create(
	struct buf *key_der, struct buf *cert_der, const char *org, const struct pki_validity *v)
{
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct buf name = BUF_INIT(NAME_STR_MAX);
	mbedtls_pk_context pk;
	uint8_t serial[PKI_SERIAL_LEN];
	struct cert_spec spec = {0};
	int error;

	mbedtls_pk_init(&pk);
	error = check_name_value("organization name", org, PKI_ORG_MAX);
	if (!error)
		error = ca_name(&name, org);
	if (!error)
		error = new_key(&key, &pk);
	if (error)
		goto out;
	spec.subject = spec.issuer = name.ptr;
	spec.subject_key = spec.issuer_key = &pk;
	spec.is_ca = 1;
	spec.key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN;
	error = write_cert(&cert, serial, &spec, v);
	if (!error)
		error = hand_over(key_der, cert_der, &key, &cert);
out:
	mbedtls_pk_free(&pk);
	buf_wipe_release(&key);
	buf_release(&cert);
	buf_release(&name);
	return error;
}

/* The subject "O=<org>, CN=<cn>", the issuer and serverAuth of a server certificate. */
static int server_names(struct buf *subject, struct buf *issuer, struct buf *eku,
	const struct ca *ca, const char *cn)
{
	int error = name_add(subject, "O", ca->org);

	if (!error)
		error = name_add(subject, "CN", cn);
	if (!error)
		error = ca_name(issuer, ca->org);
	if (!error)
		error = eku_value(eku, MBEDTLS_OID_SERVER_AUTH,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
	return error;
}

/* Everything a server certificate needs but the keys: its names and extension values. */
static int server_spec(struct buf *subject, struct buf *issuer, struct buf *eku, struct buf *san,
	const struct ca *ca, const char *const *dns_names, const char *const *ip_addrs)
{
	struct san_list names = {0};
	int error;

	error = san_collect(&names, dns_names, ip_addrs);
	if (!error)
		error = server_names(subject, issuer, eku, ca, names.first);
	if (!error)
		error = san_value(san, &names);
	return error;
}

/* Sign a server certificate for `pk` with the CA: the spec's names, its extensions, `v`. */
static int server_sign(struct buf *cert, const struct ca *ca, mbedtls_pk_context *pk,
	const struct buf *subject, const struct buf *issuer, const struct buf *eku,
	const struct buf *san, const struct pki_validity *v)
{
	uint8_t serial[PKI_SERIAL_LEN];
	struct cert_spec spec = {0};
	int error;

	spec.subject = subject->ptr;
	spec.issuer = issuer->ptr;
	spec.subject_key = pk;
	spec.issuer_key = (mbedtls_pk_context *)&ca->key;
	spec.key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
	spec.eku = eku;
	spec.san = san;
	error = write_cert(cert, serial, &spec, v);
	if (!error)
		error = check_issuer(cert, ca);
	return error;
}

int pki_server_cert(struct buf *key_der, struct buf *cert_der, const uint8_t *ca_key,
	size_t ca_key_len, const uint8_t *ca_cert, size_t ca_cert_len, const char *const *dns_names,
	const char *const *ip_addrs, const struct pki_validity *v)
{
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct buf subject = BUF_INIT(NAME_STR_MAX), issuer = BUF_INIT(NAME_STR_MAX);
	struct buf eku = BUF_INIT(64), san = BUF_INIT(PKI_DER_MAX);
	mbedtls_pk_context pk;
	struct ca ca;
	int error;

	ca_init(&ca);
	mbedtls_pk_init(&pk);
	error = ca_load(&ca, ca_key, ca_key_len, ca_cert, ca_cert_len);
	if (!error)
		error = server_spec(&subject, &issuer, &eku, &san, &ca, dns_names, ip_addrs);
	if (!error)
		error = new_key(&key, &pk);
	if (!error)
		error = server_sign(&cert, &ca, &pk, &subject, &issuer, &eku, &san, v);
	if (!error)
		error = hand_over(key_der, cert_der, &key, &cert);
	mbedtls_pk_free(&pk);
	ca_release(&ca);
	buf_wipe_release(&key);
	buf_release(&cert);
	buf_release(&subject);
	buf_release(&issuer);
	buf_release(&eku);
	buf_release(&san);
	return error;
}

int pki_csr_create(struct buf *csr_der, const uint8_t *key_der, size_t key_len, const char *cn)
{
	struct buf scratch = BUF_INIT(PKI_DER_MAX), name = BUF_INIT(NAME_STR_MAX);
	mbedtls_x509write_csr w;
	mbedtls_pk_context pk;
	int rc, n, error;

	mbedtls_x509write_csr_init(&w);
	mbedtls_pk_init(&pk);
	error = check_name_value("common name", cn, PKI_CN_MAX);
	if (!error)
		error = name_add(&name, "CN", cn);
	if (!error)
		error = parse_key(&pk, key_der, key_len, "device key");
	if (!error)
		error = buf_grow(&scratch, PKI_DER_MAX);
	if (error)
		goto out;
	mbedtls_x509write_csr_set_key(&w, &pk);
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	rc = mbedtls_x509write_csr_set_subject_name(&w, name.ptr);
	if (rc) {
		error = mbed_fail(ERR_INVALID, rc, "cannot use the common name");
		goto out;
	}
	n = mbedtls_x509write_csr_der(
		&w, (unsigned char *)scratch.ptr, PKI_DER_MAX, crypto_rng, NULL);
	error = put_tail(csr_der, &scratch, n, "cannot sign the certificate request");
out:
	mbedtls_x509write_csr_free(&w);
	mbedtls_pk_free(&pk);
	buf_release(&scratch);
	buf_release(&name);
	return error;
}

/*
 * Parse an untrusted certificate request and check that whoever sent it holds the private key
 * of the P-256 public key in it: the request is signed with that key.
 */
static int csr_load(mbedtls_x509_csr *csr, const uint8_t *der, size_t len)
{
	uint8_t hash[CRYPTO_SHA256_LEN];
	int rc;

	if (len > PKI_DER_MAX)
		return err_set(
			ERR_TOOBIG, "certificate request is larger than %d bytes", PKI_DER_MAX);
	rc = mbedtls_x509_csr_parse_der(csr, der, len);
	if (rc)
		return mbed_fail(ERR_INVALID, rc, "malformed certificate request");
	if (csr->raw.len != len)
		return err_set(ERR_INVALID, "certificate request has %zu bytes after its end",
			len - csr->raw.len);
	rc = check_p256(&csr->pk, "the certificate request's key");
	if (rc)
		return rc;
	if (csr->sig_pk != MBEDTLS_PK_ECDSA || csr->sig_md != MBEDTLS_MD_SHA256)
		return err_set(ERR_INVALID, "certificate request is not signed with ECDSA-SHA256");
	crypto_sha256(hash, csr->cri.p, csr->cri.len);
	if (mbedtls_pk_verify(
		    &csr->pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), csr->sig.p, csr->sig.len))
		return err_set(ERR_AUTH, "certificate request signature does not verify "
					 "(no proof of possession of its key)");
	return 0;
}

/* The subject HQ chooses for a device, and the rest of its certificate but the keys. */
static int device_spec(struct buf *subject, struct buf *issuer, struct buf *eku,
	const struct ca *ca, const char *office, const char *device)
{
	int error = name_add(subject, "O", ca->org);

	if (!error)
		error = name_add(subject, "OU", office);
	if (!error)
		error = name_add(subject, "CN", device);
	if (!error)
		error = ca_name(issuer, ca->org);
	if (!error)
		error = eku_value(
			eku, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
	return error;
}

int pki_issue_device(struct buf *cert_der, uint8_t serial_out[PKI_SERIAL_LEN],
	const uint8_t *ca_key, size_t ca_key_len, const uint8_t *ca_cert, size_t ca_cert_len,
	const uint8_t *csr, size_t csr_len, const char *office, const char *device,
	const struct pki_validity *v)
{
	struct buf cert = BUF_INIT(PKI_DER_MAX), eku = BUF_INIT(64);
	struct buf subject = BUF_INIT(NAME_STR_MAX), issuer = BUF_INIT(NAME_STR_MAX);
	uint8_t serial[PKI_SERIAL_LEN];
	struct cert_spec spec = {0};
	mbedtls_x509_csr req;
	struct ca ca;
	int error;

	ca_init(&ca);
	mbedtls_x509_csr_init(&req);
	error = schema_check_office(office);
	if (!error)
		error = check_device_id(device);
	if (!error)
		error = csr_load(&req, csr, csr_len);
	if (!error)
		error = ca_load(&ca, ca_key, ca_key_len, ca_cert, ca_cert_len);
	if (!error)
		error = device_spec(&subject, &issuer, &eku, &ca, office, device);
	if (error)
		goto out;
	spec.subject = subject.ptr;
	spec.issuer = issuer.ptr;
	spec.subject_key = &req.pk; /* the only thing taken from the request */
	spec.issuer_key = &ca.key;
	spec.key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
	spec.eku = &eku;
	error = write_cert(&cert, serial, &spec, v);
	if (!error)
		error = check_issuer(&cert, &ca);
	if (!error)
		error = buf_put(cert_der, cert.ptr, cert.len);
	if (!error)
		memcpy(serial_out, serial, PKI_SERIAL_LEN);
out:
	mbedtls_x509_csr_free(&req);
	ca_release(&ca);
	buf_release(&cert);
	buf_release(&eku);
	buf_release(&subject);
	buf_release(&issuer);
	return error;
}

void pki_fingerprint(uint8_t out[PKI_FINGERPRINT_LEN], const uint8_t *cert_der, size_t len)
{
	crypto_sha256(out, cert_der, len);
}

void pki_fingerprint_hex(char out[2 * PKI_FINGERPRINT_LEN + 1], const uint8_t *cert_der, size_t len)
{
	uint8_t fp[PKI_FINGERPRINT_LEN];

	pki_fingerprint(fp, cert_der, len);
	crypto_hex(out, fp, sizeof(fp));
}

/* Whether `crt` is valid at `now`; `what` names it in the message. */
static int check_dates(const mbedtls_x509_crt *crt, int64_t now, const char *what)
{
	const mbedtls_x509_time *from = &crt->valid_from, *to = &crt->valid_to;

	if (now < x509_time_unix(from))
		return err_set(ERR_AUTH,
			"%s not yet valid (from %04d-%02d-%02d %02d:%02d:%02d UTC)", what,
			from->year, from->mon, from->day, from->hour, from->min, from->sec);
	if (now > x509_time_unix(to))
		return err_set(ERR_AUTH, "%s expired (on %04d-%02d-%02d %02d:%02d:%02d UTC)", what,
			to->year, to->mon, to->day, to->hour, to->min, to->sec);
	return 0;
}

/* The reason for a refusal: trust first, then the dates at `now`, then mbedTLS's findings. */
static int explain(uint32_t flags, int rc, const mbedtls_x509_crt *crt,
	const mbedtls_x509_crt *anchor, int64_t now)
{
	int error;

	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return err_set(ERR_AUTH, "certificate not issued by this CA");
	error = check_dates(crt, now, "certificate");
	if (!error)
		error = check_dates(anchor, now, "CA certificate");
	if (error)
		return error;
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		return err_set(ERR_AUTH, "certificate or its CA expired by the system clock");
	if (flags & MBEDTLS_X509_BADCERT_FUTURE)
		return err_set(ERR_AUTH, "certificate or its CA not yet valid by the system clock");
	if (flags)
		return err_set(ERR_AUTH, "certificate refused (mbedtls verification flags 0x%x)",
			(unsigned)flags);
	if (rc)
		return mbed_fail(ERR_AUTH, rc, "certificate verification failed");
	return 0;
}

static int verify_one(const mbedtls_x509_crt *crt, const uint8_t *ca, size_t ca_len, int64_t now)
{
	mbedtls_x509_crt anchor;
	uint32_t flags = 0;
	int rc, error;

	mbedtls_x509_crt_init(&anchor);
	error = parse_cert(&anchor, ca, ca_len, "CA certificate");
	if (!error) {
		rc = mbedtls_x509_crt_verify((mbedtls_x509_crt *)crt, &anchor, NULL, NULL, &flags,
			NULL, NULL);
		error = explain(flags, rc, crt, &anchor, now);
	}
	mbedtls_x509_crt_free(&anchor);
	return error;
}

/* A trust set is whole certificates, one after the other, 1 to PKI_TRUST_MAX of them. */
static int trust_check(const uint8_t *set, size_t set_len)
{
	const uint8_t *one = NULL;
	size_t one_len = 0, pos = 0, n = 0;
	int more;

	while ((more = pki_trust_next(&one, &one_len, set, set_len, &pos)) > 0)
		if (++n > PKI_TRUST_MAX)
			return err_set(ERR_TOOBIG, "more than %d CA certificates", PKI_TRUST_MAX);
	if (more < 0 || n == 0)
		return err_set(ERR_INVALID, "CA certificate does not parse");
	return 0;
}

int pki_verify(const uint8_t *cert, size_t cert_len, const uint8_t *ca, size_t ca_len, int64_t now)
{
	mbedtls_x509_crt crt;
	const uint8_t *one = NULL, *first = NULL;
	size_t one_len = 0, first_len = 0, pos = 0;
	int more = 0, error;

	mbedtls_x509_crt_init(&crt);
	error = parse_cert(&crt, cert, cert_len, "certificate");
	if (!error)
		error = trust_check(ca, ca_len);
	/* each anchor on its own, so a refusal names the dates of the CA it was checked against */
	while (!error && (more = pki_trust_next(&one, &one_len, ca, ca_len, &pos)) > 0) {
		if (!first) {
			first = one;
			first_len = one_len;
		}
		if (verify_one(&crt, one, one_len, now) == 0)
			goto out;
	}
	if (!error && (more < 0 || !first))
		error = err_set(ERR_INVALID, "CA certificate does not parse");
	else if (!error) /* none issued it: the current CA's reason */
		error = verify_one(&crt, first, first_len, now);
out:
	mbedtls_x509_crt_free(&crt);
	return error;
}

int pki_trust_next(const uint8_t **cert, size_t *len, const uint8_t *set, size_t set_len,
	size_t *pos)
{
	unsigned char *p, *end;
	size_t body;

	if (*pos >= set_len)
		return 0;
	p = (unsigned char *)set + *pos;
	end = (unsigned char *)set + set_len;
	if (mbedtls_asn1_get_tag(&p, end, &body, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
		return -1;
	*cert = set + *pos;
	*len = (size_t)(p - (set + *pos)) + body;
	*pos += *len;
	return 1;
}

int pki_trust_parse(mbedtls_x509_crt *chain, const uint8_t *set, size_t set_len)
{
	const uint8_t *one = NULL;
	size_t one_len = 0, pos = 0, n = 0;
	int more, error = 0;

	mbedtls_x509_crt *last;

	error = trust_check(set, set_len);
	while (!error && (more = pki_trust_next(&one, &one_len, set, set_len, &pos)) > 0) {
		if (++n > PKI_TRUST_MAX)
			return err_set(ERR_TOOBIG, "more than %d CA certificates", PKI_TRUST_MAX);
		if (one_len > PKI_DER_MAX || mbedtls_x509_crt_parse_der(chain, one, one_len))
			return err_set(ERR_INVALID, "CA certificate %zu does not parse", n);
		for (last = chain; last->next; last = last->next)
			;
		if (last->raw.len != one_len)
			return err_set(ERR_INVALID, "CA certificate %zu does not parse", n);
	}
	return error;
}

int pki_trust_has(const uint8_t *set, size_t set_len, const uint8_t fp[PKI_FINGERPRINT_LEN])
{
	uint8_t got[PKI_FINGERPRINT_LEN];
	const uint8_t *one = NULL;
	size_t one_len = 0, pos = 0;

	while (pki_trust_next(&one, &one_len, set, set_len, &pos) > 0) {
		pki_fingerprint(got, one, one_len);
		if (!memcmp(got, fp, sizeof(got)))
			return 1;
	}
	return 0;
}

int pki_trust_get(struct buf *out, struct store *s, int retired)
{
	static const char *const names[] = {"ca_cert", "ca_next_cert", "ca_prev_certs"};
	size_t i, mark = out->len;
	int error = 0;

	for (i = 0; !error && i < (retired ? 3u : 2u); i++) {
		error = store_material_get(out, s, names[i]);
		if (error == ERR_NOTFOUND && i > 0)
			error = 0;
	}
	if (error)
		out->len = mark;
	return error;
}

/* The value of the extension `oid` of a parsed certificate, found in its signed part. */
static int find_extension(const unsigned char **val, size_t *val_len, const mbedtls_x509_crt *crt,
	const char *oid, size_t oid_len)
{
	unsigned char *p = crt->tbs.p, *end = p + crt->tbs.len, *ext_end, *one_end;
	const int seq = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
	size_t len;
	int flag;

	if (mbedtls_asn1_get_tag(&p, end, &len, seq))
		return err_set(ERR_INVALID, "the certificate does not parse");
	end = p + len;
	while (p < end) {
		unsigned char tag = *p;

		if (mbedtls_asn1_get_tag(&p, end, &len, tag))
			break;
		if (tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3)) {
			p += len;
			continue;
		}
		ext_end = p + len;
		if (mbedtls_asn1_get_tag(&p, ext_end, &len, seq))
			break;
		while (p < ext_end) {
			if (mbedtls_asn1_get_tag(&p, ext_end, &len, seq))
				break;
			one_end = p + len;
			if (mbedtls_asn1_get_tag(&p, one_end, &len, MBEDTLS_ASN1_OID))
				break;
			if (len != oid_len || memcmp(p, oid, oid_len)) {
				p = one_end;
				continue;
			}
			p += len;
			if (p < one_end && *p == MBEDTLS_ASN1_BOOLEAN &&
				mbedtls_asn1_get_bool(&p, one_end, &flag))
				break;
			if (mbedtls_asn1_get_tag(&p, one_end, &len, MBEDTLS_ASN1_OCTET_STRING))
				break;
			*val = p;
			*val_len = len;
			return 0;
		}
		break;
	}
	return err_set(ERR_INVALID, "the certificate has no readable extension of that kind");
}

int pki_server_renew(struct buf *cert_der, const uint8_t *ca_key, size_t ca_key_len,
	const uint8_t *ca_cert, size_t ca_cert_len, const uint8_t *old_cert, size_t old_len,
	const uint8_t *server_key, size_t key_len, const struct pki_validity *v)
{
	struct buf cert = BUF_INIT(PKI_DER_MAX), eku = BUF_INIT(64), san = BUF_INIT(PKI_DER_MAX);
	struct buf subject = BUF_INIT(NAME_STR_MAX), issuer = BUF_INIT(NAME_STR_MAX);
	const unsigned char *san_der = NULL;
	mbedtls_x509_crt old;
	mbedtls_pk_context pk;
	char cn[PKI_CN_MAX + 1];
	size_t san_len = 0;
	struct ca ca;
	int error;

	ca_init(&ca);
	mbedtls_pk_init(&pk);
	mbedtls_x509_crt_init(&old);
	error = ca_load(&ca, ca_key, ca_key_len, ca_cert, ca_cert_len);
	if (!error)
		error = parse_cert(&old, old_cert, old_len, "server certificate");
	if (!error)
		error = parse_key(&pk, server_key, key_len, "server key");
	if (!error && mbedtls_pk_check_pair(&old.pk, &pk))
		error = err_set(ERR_INVALID, "the server key does not belong to its certificate");
	if (!error)
		error = dn_value(cn, sizeof(cn), &old.subject, MBEDTLS_OID_AT_CN,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), "common name (CN)");
	if (!error)
		error = find_extension(&san_der, &san_len, &old, MBEDTLS_OID_SUBJECT_ALT_NAME,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME));
	if (!error)
		error = buf_put(&san, san_der, san_len);
	if (!error)
		error = server_names(&subject, &issuer, &eku, &ca, cn);
	if (!error)
		error = server_sign(&cert, &ca, &pk, &subject, &issuer, &eku, &san, v);
	if (!error)
		error = buf_put(cert_der, cert.ptr, cert.len);
	mbedtls_x509_crt_free(&old);
	mbedtls_pk_free(&pk);
	ca_release(&ca);
	buf_release(&cert);
	buf_release(&eku);
	buf_release(&san);
	buf_release(&subject);
	buf_release(&issuer);
	return error;
}

int pki_ca_cross(struct buf *cross_der, const uint8_t *old_key, size_t old_key_len,
	const uint8_t *old_ca, size_t old_ca_len, const uint8_t *new_ca, size_t new_ca_len,
	const struct pki_validity *v)
{
	struct buf cert = BUF_INIT(PKI_DER_MAX), subject = BUF_INIT(NAME_STR_MAX);
	struct buf issuer = BUF_INIT(NAME_STR_MAX);
	uint8_t serial[PKI_SERIAL_LEN];
	struct cert_spec spec = {0};
	mbedtls_x509_crt next;
	char org[PKI_ORG_MAX + 1];
	struct ca ca;
	int error;

	ca_init(&ca);
	mbedtls_x509_crt_init(&next);
	error = ca_load(&ca, old_key, old_key_len, old_ca, old_ca_len);
	if (!error)
		error = parse_cert(&next, new_ca, new_ca_len, "new CA certificate");
	if (!error && !next.ca_istrue)
		error = err_set(ERR_INVALID, "the new CA certificate is not a CA");
	if (!error)
		error = check_p256(&next.pk, "the new CA's key");
	if (!error)
		error = dn_value(org, sizeof(org), &next.subject, MBEDTLS_OID_AT_ORGANIZATION,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION), "organization (O)");
	if (!error)
		error = ca_name(&subject, org);
	if (!error)
		error = ca_name(&issuer, ca.org);
	if (error)
		goto out;
	spec.subject = subject.ptr;
	spec.issuer = issuer.ptr;
	spec.subject_key = &next.pk;
	spec.issuer_key = &ca.key;
	spec.is_ca = 1;
	spec.key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN;
	error = write_cert(&cert, serial, &spec, v);
	if (!error)
		error = check_issuer(&cert, &ca);
	if (!error)
		error = buf_put(cross_der, cert.ptr, cert.len);
out:
	mbedtls_x509_crt_free(&next);
	ca_release(&ca);
	buf_release(&cert);
	buf_release(&subject);
	buf_release(&issuer);
	return error;
}

int pki_cross_matches(const uint8_t *cross, size_t cross_len, const uint8_t *new_ca,
	size_t new_ca_len)
{
	mbedtls_x509_crt a, b;
	int error;

	mbedtls_x509_crt_init(&a);
	mbedtls_x509_crt_init(&b);
	error = parse_cert(&a, cross, cross_len, "cross certificate");
	if (!error)
		error = parse_cert(&b, new_ca, new_ca_len, "new CA certificate");
	/* the new CA must be self-signed by the key the cross certificate vouches for */
	if (!error)
		error = verify_one(&b, new_ca, new_ca_len, (int64_t)time(NULL));
	if (!error && (!a.ca_istrue || !b.ca_istrue || a.subject_raw.len != b.subject_raw.len ||
			      memcmp(a.subject_raw.p, b.subject_raw.p, a.subject_raw.len) ||
			      a.pk_raw.len != b.pk_raw.len ||
			      memcmp(a.pk_raw.p, b.pk_raw.p, a.pk_raw.len)))
		error = err_set(ERR_AUTH, "the cross certificate does not vouch for the new CA");
	else if (error && error != ERR_NOMEM)
		error = err_set(ERR_AUTH, "the new CA certificate is not valid: %s", err_msg());
	mbedtls_x509_crt_free(&a);
	mbedtls_x509_crt_free(&b);
	return error;
}

/* A certificate's serial as 16 big-endian bytes: positive and at most 16 significant bytes. */
static int serial_get(uint8_t out[PKI_SERIAL_LEN], const mbedtls_x509_buf *sn)
{
	const uint8_t *p = sn->p;
	size_t len = sn->len;

	if (len == 0 || len > SERIAL_MAX || (p[0] & 0x80))
		return err_set(ERR_INVALID, "the certificate's serial is not a positive number");
	while (len > 0 && p[0] == 0) {
		p++;
		len--;
	}
	if (len > PKI_SERIAL_LEN)
		return err_set(ERR_INVALID, "the certificate's serial is longer than %d bytes",
			PKI_SERIAL_LEN);
	memset(out, 0, PKI_SERIAL_LEN - len);
	memcpy(out + PKI_SERIAL_LEN - len, p, len);
	return 0;
}

/* A device certificate is an end entity for client authentication. */
static int check_device_cert(const mbedtls_x509_crt *crt)
{
	if (crt->ca_istrue)
		return err_set(ERR_INVALID, "a CA certificate is not a device certificate");
	if (!(crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) ||
		mbedtls_x509_crt_check_extended_key_usage(
			crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)))
		return err_set(ERR_INVALID, "the certificate is not for client authentication");
	return 0;
}

int pki_identity(char office[SCHEMA_OFFICE_MAX + 1], char device[PKI_DEVICE_LEN + 1],
	uint8_t serial[PKI_SERIAL_LEN], const uint8_t *cert, size_t len)
{
	char ou[SCHEMA_OFFICE_MAX + 1] = "", cn[PKI_DEVICE_LEN + 1] = "";
	uint8_t sn[PKI_SERIAL_LEN];
	mbedtls_x509_crt crt;
	int error;

	mbedtls_x509_crt_init(&crt);
	error = parse_cert(&crt, cert, len, "certificate");
	if (!error)
		error = check_device_cert(&crt);
	if (!error)
		error = dn_value(ou, sizeof(ou), &crt.subject, MBEDTLS_OID_AT_ORG_UNIT,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORG_UNIT), "office (OU)");
	if (!error)
		error = schema_check_office(ou);
	if (!error)
		error = dn_value(cn, sizeof(cn), &crt.subject, MBEDTLS_OID_AT_CN,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), "device (CN)");
	if (!error)
		error = check_device_id(cn);
	if (!error)
		error = serial_get(sn, &crt.serial);
	if (error)
		goto out;
	memcpy(office, ou, sizeof(ou));
	memcpy(device, cn, sizeof(cn));
	memcpy(serial, sn, sizeof(sn));
out:
	mbedtls_x509_crt_free(&crt);
	return error;
}

/* A PEM label: upper-case words, as in "EC PRIVATE KEY". */
static int check_label(const char *label)
{
	size_t len = strlen(label), i;

	for (i = 0; i < len; i++)
		if (!((label[i] >= 'A' && label[i] <= 'Z') || (label[i] == ' ' && i > 0)))
			break;
	if (len == 0 || len > 32 || i != len || label[len - 1] == ' ')
		return err_set(ERR_INVALID, "'%s' is not a PEM label", label);
	return 0;
}

int pki_der_to_pem(struct buf *out, const char *label, const uint8_t *der, size_t len)
{
	size_t start = out->len, lines = (len + 47) / 48, off, olen;
	int error;

	error = check_label(label);
	if (error)
		return error;
	if (len == 0 || len > PKI_DER_MAX)
		return err_set(ERR_INVALID, "%zu bytes of DER cannot be PEM-encoded here", len);
	/* One allocation up front: base64 of a key is as secret as the key. */
	error = buf_grow(out, 2 * (strlen(label) + 17) + 4 * ((len + 2) / 3) + lines);
	if (!error)
		error = buf_printf(out, "-----BEGIN %s-----\n", label);
	/* 48 bytes of DER make one 64-character line; each line's NUL is overwritten by '\n' */
	for (off = 0; !error && off < len; off += 48) {
		size_t n = len - off < 48 ? len - off : 48;

		if (mbedtls_base64_encode((unsigned char *)out->ptr + out->len, out->cap - out->len,
			    &olen, der + off, n))
			error = err_set(ERR_GENERIC, "cannot encode base64");
		else
			out->len += olen;
		if (!error)
			error = buf_putc(out, '\n');
	}
	if (!error)
		error = buf_printf(out, "-----END %s-----\n", label);
	if (error && out->ptr) {
		crypto_wipe(out->ptr + start, out->cap - start);
		out->len = start;
	}
	return error;
}
