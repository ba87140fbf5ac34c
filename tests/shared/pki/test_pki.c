/*
 * tests/shared/pki/test_pki.c - the organisation's CA: CA, server and device certificates, CSR
 * checks, verification, identity, fingerprints and PEM, cross-checked with the openssl CLI.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "base/crypto.h"
#include "pki/pki.h"

#define ORG "Example Org"
#define DEVICE "0123456789abcdef0123456789abcdef"
#define OTHER_DEVICE "fedcba9876543210fedcba9876543210"
#define DAY 86400

/* Every test gets a temporary directory and a fresh CA. */
struct fx {
	char *dir;
	struct buf ca_key;
	struct buf ca_cert;
	int64_t now;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct pki_validity v;

	assert_non_null(f);
	f->dir = tu_tmpdir();
	buf_init(&f->ca_key, PKI_DER_MAX);
	buf_init(&f->ca_cert, PKI_DER_MAX);
	f->now = (int64_t)time(NULL);
	pki_validity_days(&v, f->now, 30);
	TU_OK(pki_ca_create(&f->ca_key, &f->ca_cert, ORG, &v));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	buf_wipe_release(&f->ca_key);
	buf_release(&f->ca_cert);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const uint8_t *u8(const struct buf *b)
{
	return (const uint8_t *)b->ptr;
}

/* Run a shell command; its stdout and stderr in a malloc'd string, its exit status in *status. */
static char *run(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *run(int *status, const char *fmt, ...)
{
	struct buf out = BUF_INIT(1024 * 1024), cmd = BUF_INIT(8192);
	char chunk[4096], *text = NULL;
	va_list ap;
	size_t n;
	FILE *p;
	int rc;

	va_start(ap, fmt);
	TU_OK(buf_puts(&cmd, "("));
	TU_OK(buf_vprintf(&cmd, fmt, ap));
	va_end(ap);
	TU_OK(buf_puts(&cmd, ") 2>&1"));
	p = popen(cmd.ptr, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		TU_OK(buf_put(&out, chunk, n));
	rc = pclose(p);
	*status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
	TU_OK(buf_detach(&text, &out));
	buf_release(&cmd);
	return text;
}

/* Run a command that must succeed; its output (free it). */
static char *run_ok(const char *cmd)
{
	int status;
	char *out = run(&status, "%s", cmd);

	if (status != 0)
		fail_msg("'%s' exited with %d: %s", cmd, status, out);
	return out;
}

static void need_openssl(void)
{
	int status;
	char *out = run(&status, "openssl version");

	free(out);
	if (status != 0)
		fail_msg("the openssl CLI is needed to cross-check certificates");
}

/* Write DER as a PEM file in the fixture's directory; the path (free it). */
static char *write_pem(
	const struct fx *f, const char *name, const char *label, const struct buf *der)
{
	struct buf pem = BUF_INIT(4 * PKI_DER_MAX);
	char *path = tu_path(f->dir, name);

	TU_OK(pki_der_to_pem(&pem, label, u8(der), der->len));
	tu_write_file(path, pem.ptr, pem.len);
	buf_wipe_release(&pem);
	return path;
}

static char *write_der(const struct fx *f, const char *name, const struct buf *der)
{
	char *path = tu_path(f->dir, name);

	tu_write_file(path, der->ptr, der->len);
	return path;
}

/* Read a file the openssl CLI wrote into a buffer. */
static void read_into(struct buf *b, const char *path)
{
	size_t len = 0;
	uint8_t *data = tu_read_file(path, &len);

	assert_non_null(data);
	TU_OK(buf_put(b, data, len));
	free(data);
}

/* The first occurrence of `needle` in a buffer, or NULL. */
static char *find(const struct buf *b, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; n <= b->len && i <= b->len - n; i++)
		if (memcmp(b->ptr + i, needle, n) == 0)
			return b->ptr + i;
	return NULL;
}

static void parse(mbedtls_x509_crt *crt, const struct buf *der)
{
	mbedtls_x509_crt_init(crt);
	assert_int_equal(mbedtls_x509_crt_parse_der(crt, u8(der), der->len), 0);
}

static void dn_string(char *out, size_t size, const mbedtls_x509_name *dn)
{
	assert_true(mbedtls_x509_dn_gets(out, size, dn) > 0);
}

/* 1 if the certificate lists `usage` in an extendedKeyUsage extension. */
static int has_eku(const mbedtls_x509_crt *crt, const char *usage, size_t len)
{
	return (crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) &&
	       mbedtls_x509_crt_check_extended_key_usage(crt, usage, len) == 0;
}

/* A device key and a CSR for it made by pki_csr_create. */
static void device_csr(struct buf *key, struct buf *csr, const char *cn)
{
	TU_OK(crypto_ec_keygen(key));
	TU_OK(pki_csr_create(csr, u8(key), key->len, cn));
}

static int issue(struct buf *cert, uint8_t serial[PKI_SERIAL_LEN], const struct fx *f,
	const struct buf *csr, const char *office, const char *device)
{
	struct pki_validity v;

	pki_validity_days(&v, f->now, 365);
	return pki_issue_device(cert, serial, u8(&f->ca_key), f->ca_key.len, u8(&f->ca_cert),
		f->ca_cert.len, u8(csr), csr->len, office, device, &v);
}

static int server_cert(struct buf *key, struct buf *cert, const struct buf *ca_key,
	const struct buf *ca_cert, const char *const *dns, const char *const *ips,
	const struct pki_validity *v)
{
	return pki_server_cert(
		key, cert, u8(ca_key), ca_key->len, u8(ca_cert), ca_cert->len, dns, ips, v);
}

static void test_validity_days(void **state)
{
	struct pki_validity v;

	(void)state;
	pki_validity_days(&v, 1700000000, 365);
	assert_int_equal(v.not_before, 1700000000 - 300);
	assert_int_equal(v.not_after, 1700000000 + 365 * (int64_t)DAY);
}

static void test_ca_round_trip(void **state)
{
	struct fx *f = *state;
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	char dn[512], *pem, *out, cmd[1024];

	need_openssl();
	parse(&crt, &f->ca_cert);
	assert_int_equal(crt.version, 3);
	assert_int_equal(crt.ca_istrue, 1);
	assert_int_equal(crt.max_pathlen, 1); /* mbedTLS stores pathlen + 1 */
	assert_int_equal(crt.key_usage, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
	assert_int_equal(crt.serial.len, PKI_SERIAL_LEN);
	assert_int_equal(crt.serial.p[0] & 0x80, 0);
	dn_string(dn, sizeof(dn), &crt.subject);
	assert_string_equal(dn, "O=" ORG ", CN=" ORG " fieldsync CA");
	assert_int_equal(crt.issuer_raw.len, crt.subject_raw.len);
	assert_memory_equal(crt.issuer_raw.p, crt.subject_raw.p, crt.subject_raw.len);

	/* the key is the certificate's */
	mbedtls_pk_init(&key);
	assert_int_equal(mbedtls_pk_parse_key(&key, u8(&f->ca_key), f->ca_key.len, NULL, 0), 0);
	assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &key), 0);
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&crt);

	TU_OK(pki_verify(u8(&f->ca_cert), f->ca_cert.len, u8(&f->ca_cert), f->ca_cert.len, f->now));

	/* openssl agrees, with RFC 5280 strictness on */
	pem = write_pem(f, "ca.pem", "CERTIFICATE", &f->ca_cert);
	snprintf(cmd, sizeof(cmd), "openssl verify -x509_strict -CAfile '%s' '%s'", pem, pem);
	free(run_ok(cmd));
	snprintf(cmd, sizeof(cmd),
		"openssl x509 -noout -ext basicConstraints,keyUsage,subjectKeyIdentifier,"
		"authorityKeyIdentifier -in '%s'",
		pem);
	out = run_ok(cmd);
	assert_non_null(strstr(out, "CA:TRUE, pathlen:0"));
	assert_non_null(strstr(out, "Certificate Sign, CRL Sign"));
	assert_non_null(strstr(out, "X509v3 Subject Key Identifier"));
	assert_non_null(strstr(out, "X509v3 Authority Key Identifier"));
	free(out);
	free(pem);
}

static void test_ca_serials_differ(void **state)
{
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v;
	mbedtls_x509_crt a, b;

	pki_validity_days(&v, f->now, 1);
	TU_OK(pki_ca_create(&key, &cert, ORG, &v));
	parse(&a, &f->ca_cert);
	parse(&b, &cert);
	assert_int_equal(b.serial.len, PKI_SERIAL_LEN);
	assert_memory_not_equal(a.serial.p, b.serial.p, PKI_SERIAL_LEN);
	assert_memory_not_equal(
		f->ca_key.ptr, key.ptr, key.len < f->ca_key.len ? key.len : f->ca_key.len);
	mbedtls_x509_crt_free(&a);
	mbedtls_x509_crt_free(&b);
	buf_wipe_release(&key);
	buf_release(&cert);
}

static void test_ca_org_names(void **state)
{
	static const char *const bad[] = {"", "back\\slash", "tab\there", "new\nline", "\xff\xfe",
		"123456789012345678901234567890123456789012345678901234567890"};
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct buf skey = BUF_INIT(PKI_DER_MAX), scert = BUF_INIT(PKI_DER_MAX);
	const char *dns[] = {"hq.example.org", NULL};
	struct pki_validity v;
	mbedtls_x509_crt crt;
	char dn[512];
	size_t i;

	/* a comma must be escaped in mbedTLS's name strings, '=' and '+' need not (dn_gets
	 * escapes all three when it prints) */
	pki_validity_days(&v, f->now, 1);
	TU_OK(pki_ca_create(&key, &cert, "Acme, Inc. a=b+c", &v));
	parse(&crt, &cert);
	dn_string(dn, sizeof(dn), &crt.subject);
	assert_string_equal(dn, "O=Acme\\, Inc. a\\=b\\+c, CN=Acme\\, Inc. a\\=b\\+c fieldsync CA");
	mbedtls_x509_crt_free(&crt);

	/* and what it issues chains, with the same O */
	TU_OK(server_cert(&skey, &scert, &key, &cert, dns, NULL, &v));
	TU_OK(pki_verify(u8(&scert), scert.len, u8(&cert), cert.len, f->now));
	parse(&crt, &scert);
	dn_string(dn, sizeof(dn), &crt.subject);
	assert_string_equal(dn, "O=Acme\\, Inc. a\\=b\\+c, CN=hq.example.org");
	mbedtls_x509_crt_free(&crt);

	buf_wipe_release(&key);
	buf_release(&cert);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pki_ca_create(&key, &cert, bad[i], &v), ERR_INVALID);
		assert_int_equal(key.len, 0);
		assert_int_equal(cert.len, 0);
	}
	/* the longest org still fits the CN's 64 bytes */
	TU_OK(pki_ca_create(
		&key, &cert, "123456789012345678901234567890123456789012345678901", &v));
	buf_wipe_release(&key);
	buf_wipe_release(&skey);
	buf_release(&cert);
	buf_release(&scert);
}

static void test_ca_bad_validity(void **state)
{
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v;

	v.not_before = f->now;
	v.not_after = f->now;
	assert_int_equal(pki_ca_create(&key, &cert, ORG, &v), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "validity"));
	v.not_before = -2208988800LL; /* 1900: UTCTime would read it as 2000 */
	assert_int_equal(pki_ca_create(&key, &cert, ORG, &v), ERR_INVALID);
	v.not_before = f->now;
	v.not_after = 253402300800LL; /* year 10000 */
	assert_int_equal(pki_ca_create(&key, &cert, ORG, &v), ERR_INVALID);
	assert_int_equal(key.len, 0);
	assert_int_equal(cert.len, 0);

	/* a date past 2049 is written as GeneralizedTime and read back exactly */
	v.not_after = 4102444800LL; /* 2100-01-01 */
	TU_OK(pki_ca_create(&key, &cert, ORG, &v));
	TU_OK(pki_verify(u8(&cert), cert.len, u8(&cert), cert.len, 4102444800LL - 1));
	assert_int_equal(
		pki_verify(u8(&cert), cert.len, u8(&cert), cert.len, 4102444800LL + 1), ERR_AUTH);
	buf_wipe_release(&key);
	buf_release(&cert);
}

/* The GeneralNames of a certificate's subjectAltName, as read by mbedTLS. */
static int san_has(const mbedtls_x509_crt *crt, unsigned char tag, const void *data, size_t len)
{
	const mbedtls_x509_sequence *s;

	for (s = &crt->subject_alt_names; s && s->buf.p; s = s->next)
		if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag) && s->buf.len == len &&
			memcmp(s->buf.p, data, len) == 0)
			return 1;
	return 0;
}

static size_t san_count(const mbedtls_x509_crt *crt)
{
	const mbedtls_x509_sequence *s;
	size_t n = 0;

	for (s = &crt->subject_alt_names; s && s->buf.p; s = s->next)
		n++;
	return n;
}

static void test_server_cert(void **state)
{
	static const uint8_t v4[4] = {127, 0, 0, 1}, v4b[4] = {10, 1, 2, 3};
	static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	const char *dns[] = {"localhost", "hq.example.org", NULL};
	const char *ips[] = {"127.0.0.1", "::1", "10.1.2.3", NULL};
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v;
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	char dn[512], cmd[2048], *ca_pem, *srv_pem, *out;

	need_openssl();
	pki_validity_days(&v, f->now, 825);
	TU_OK(server_cert(&key, &cert, &f->ca_key, &f->ca_cert, dns, ips, &v));
	TU_OK(pki_verify(u8(&cert), cert.len, u8(&f->ca_cert), f->ca_cert.len, f->now));

	parse(&crt, &cert);
	assert_int_equal(crt.ca_istrue, 0);
	assert_int_equal(crt.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	assert_true(
		has_eku(&crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
	assert_false(
		has_eku(&crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
	dn_string(dn, sizeof(dn), &crt.subject);
	assert_string_equal(dn, "O=" ORG ", CN=localhost");
	assert_int_equal(san_count(&crt), 5);
	assert_true(san_has(&crt, 2, "localhost", 9));
	assert_true(san_has(&crt, 2, "hq.example.org", 14));
	assert_true(san_has(&crt, 7, v4, sizeof(v4)));
	assert_true(san_has(&crt, 7, v6, sizeof(v6)));
	assert_true(san_has(&crt, 7, v4b, sizeof(v4b)));
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_pk_parse_key(&pk, u8(&key), key.len, NULL, 0), 0);
	assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &pk), 0);
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);

	ca_pem = write_pem(f, "ca.pem", "CERTIFICATE", &f->ca_cert);
	srv_pem = write_pem(f, "server.pem", "CERTIFICATE", &cert);
	snprintf(cmd, sizeof(cmd),
		"openssl verify -x509_strict -purpose sslserver -CAfile '%s' '%s'", ca_pem,
		srv_pem);
	free(run_ok(cmd));
	snprintf(cmd, sizeof(cmd),
		"openssl verify -CAfile '%s' -verify_hostname hq.example.org "
		"-verify_ip 10.1.2.3 '%s'",
		ca_pem, srv_pem);
	free(run_ok(cmd));
	snprintf(cmd, sizeof(cmd),
		"openssl x509 -noout -ext subjectAltName,extendedKeyUsage -in '%s'", srv_pem);
	out = run_ok(cmd);
	assert_non_null(strstr(out, "DNS:localhost"));
	assert_non_null(strstr(out, "DNS:hq.example.org"));
	assert_non_null(strstr(out, "IP Address:127.0.0.1"));
	assert_non_null(strstr(out, "IP Address:0:0:0:0:0:0:0:1"));
	assert_non_null(strstr(out, "IP Address:10.1.2.3"));
	assert_non_null(strstr(out, "TLS Web Server Authentication"));
	assert_null(strstr(out, "Client"));
	free(out);
	free(ca_pem);
	free(srv_pem);
	buf_wipe_release(&key);
	buf_release(&cert);
}

static void test_server_cert_ip_only(void **state)
{
	static const uint8_t v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
	const char *ips[] = {"fd00::42", NULL};
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v;
	mbedtls_x509_crt crt;
	char dn[512];

	pki_validity_days(&v, f->now, 1);
	TU_OK(server_cert(&key, &cert, &f->ca_key, &f->ca_cert, NULL, ips, &v));
	parse(&crt, &cert);
	dn_string(dn, sizeof(dn), &crt.subject);
	assert_string_equal(dn, "O=" ORG ", CN=fd00::42");
	assert_int_equal(san_count(&crt), 1);
	assert_true(san_has(&crt, 7, v6, sizeof(v6)));
	mbedtls_x509_crt_free(&crt);
	buf_wipe_release(&key);
	buf_release(&cert);
}

static void test_server_cert_rejects(void **state)
{
	static const char *const bad_ips[] = {
		"127.0.0.256", "1.2.3", "::g", "", "localhost", "127.0.0.1 ", "[::1]"};
	static const char *const bad_dns[] = {"", "a,b", "-x.org", "x-.org", "x..org", ".x", "x.",
		"under_score.org", "sp ace", "caf\xc3\xa9.org"};
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct buf k2 = BUF_INIT(PKI_DER_MAX), c2 = BUF_INIT(PKI_DER_MAX);
	const char *dns[PKI_SAN_MAX + 2] = {"localhost", NULL}, *ips[2] = {NULL, NULL};
	const char *none[] = {NULL};
	struct pki_validity v;
	size_t i;

	pki_validity_days(&v, f->now, 1);
	for (i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
		ips[0] = bad_ips[i];
		assert_int_equal(server_cert(&key, &cert, &f->ca_key, &f->ca_cert, dns, ips, &v),
			ERR_INVALID);
		assert_non_null(strstr(err_msg(), "address"));
	}
	for (i = 0; i < sizeof(bad_dns) / sizeof(bad_dns[0]); i++) {
		dns[0] = bad_dns[i];
		assert_int_equal(server_cert(&key, &cert, &f->ca_key, &f->ca_cert, dns, NULL, &v),
			ERR_INVALID);
	}
	assert_int_equal(
		server_cert(&key, &cert, &f->ca_key, &f->ca_cert, NULL, NULL, &v), ERR_INVALID);
	assert_int_equal(
		server_cert(&key, &cert, &f->ca_key, &f->ca_cert, none, none, &v), ERR_INVALID);
	for (i = 0; i < PKI_SAN_MAX + 1; i++)
		dns[i] = "localhost";
	dns[PKI_SAN_MAX + 1] = NULL;
	assert_int_equal(
		server_cert(&key, &cert, &f->ca_key, &f->ca_cert, dns, NULL, &v), ERR_INVALID);
	dns[PKI_SAN_MAX] = NULL; /* exactly the maximum is fine */
	TU_OK(server_cert(&k2, &c2, &f->ca_key, &f->ca_cert, dns, NULL, &v));
	dns[1] = NULL;

	/* a CA key that is not the CA certificate's; a certificate that is no CA */
	buf_wipe_release(&k2);
	buf_release(&c2);
	TU_OK(pki_ca_create(&k2, &c2, ORG, &v));
	assert_int_equal(server_cert(&key, &cert, &k2, &f->ca_cert, dns, NULL, &v), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "does not belong"));
	buf_wipe_release(&k2);
	buf_release(&c2);
	TU_OK(server_cert(&k2, &c2, &f->ca_key, &f->ca_cert, dns, NULL, &v));
	assert_int_equal(server_cert(&key, &cert, &k2, &c2, dns, NULL, &v), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "not a CA"));
	assert_int_equal(server_cert(&key, &cert, &f->ca_key, &f->ca_cert, dns, NULL, &v), 0);
	assert_true(key.len > 0 && cert.len > 0);
	buf_wipe_release(&k2);
	buf_release(&c2);
	buf_wipe_release(&key);
	buf_release(&cert);
}

/* A failed call leaves the caller's buffers and serial as they were. */
static void test_outputs_untouched_on_error(void **state)
{
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct buf dkey = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);
	const char *ips[] = {"300.1.1.1", NULL};
	uint8_t serial[PKI_SERIAL_LEN], zero[PKI_SERIAL_LEN] = {0};
	struct pki_validity v;

	pki_validity_days(&v, f->now, 1);
	assert_int_equal(
		server_cert(&key, &cert, &f->ca_key, &f->ca_cert, NULL, ips, &v), ERR_INVALID);
	assert_int_equal(key.len + cert.len, 0);
	device_csr(&dkey, &csr, DEVICE);
	memset(serial, 0, sizeof(serial));
	assert_int_equal(issue(&cert, serial, f, &csr, "elp", DEVICE), ERR_INVALID);
	assert_int_equal(cert.len, 0);
	assert_memory_equal(serial, zero, sizeof(zero));
	buf_wipe_release(&dkey);
	buf_release(&csr);
	buf_release(&key);
	buf_release(&cert);
}

static void test_device_issue(void **state)
{
	struct fx *f = *state;
	struct buf dkey = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);
	struct buf cert = BUF_INIT(PKI_DER_MAX), cert2 = BUF_INIT(PKI_DER_MAX);
	uint8_t serial[PKI_SERIAL_LEN], serial2[PKI_SERIAL_LEN], id_serial[PKI_SERIAL_LEN];
	char office[SCHEMA_OFFICE_MAX + 1], device[PKI_DEVICE_LEN + 1], dn[512], cmd[2048];
	char *ca_pem, *dev_pem, *out;
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;

	need_openssl();
	device_csr(&dkey, &csr, DEVICE);
	TU_OK(issue(&cert, serial, f, &csr, "ELP", DEVICE));
	TU_OK(pki_verify(u8(&cert), cert.len, u8(&f->ca_cert), f->ca_cert.len, f->now));
	TU_OK(pki_identity(office, device, id_serial, u8(&cert), cert.len));
	assert_string_equal(office, "ELP");
	assert_string_equal(device, DEVICE);
	assert_memory_equal(id_serial, serial, PKI_SERIAL_LEN);

	parse(&crt, &cert);
	assert_int_equal(crt.ca_istrue, 0);
	assert_int_equal(crt.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	assert_true(
		has_eku(&crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
	assert_false(
		has_eku(&crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
	assert_int_equal(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME, 0);
	assert_int_equal(crt.serial.len, PKI_SERIAL_LEN);
	assert_memory_equal(crt.serial.p, serial, PKI_SERIAL_LEN);
	dn_string(dn, sizeof(dn), &crt.subject);
	assert_string_equal(dn, "O=" ORG ", OU=ELP, CN=" DEVICE);
	mbedtls_pk_init(&pk); /* the certified key is the device's */
	assert_int_equal(mbedtls_pk_parse_key(&pk, u8(&dkey), dkey.len, NULL, 0), 0);
	assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &pk), 0);
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);

	/* every certificate has its own serial */
	TU_OK(issue(&cert2, serial2, f, &csr, "ELP", OTHER_DEVICE));
	assert_memory_not_equal(serial, serial2, PKI_SERIAL_LEN);

	ca_pem = write_pem(f, "ca.pem", "CERTIFICATE", &f->ca_cert);
	dev_pem = write_pem(f, "device.pem", "CERTIFICATE", &cert);
	snprintf(cmd, sizeof(cmd),
		"openssl verify -x509_strict -purpose sslclient -CAfile '%s' '%s'", ca_pem,
		dev_pem);
	free(run_ok(cmd));
	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -subject -ext extendedKeyUsage -in '%s'",
		dev_pem);
	out = run_ok(cmd);
	assert_non_null(strstr(out, "subject=O = " ORG ", OU = ELP, CN = " DEVICE));
	assert_non_null(strstr(out, "TLS Web Client Authentication"));
	free(out);
	free(ca_pem);
	free(dev_pem);
	buf_wipe_release(&dkey);
	buf_release(&csr);
	buf_release(&cert);
	buf_release(&cert2);
}

/* An openssl-made CSR that asks for another identity and for CA powers gets neither. */
static void test_device_ignores_csr_subject(void **state)
{
	struct fx *f = *state;
	struct buf csr = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	char office[SCHEMA_OFFICE_MAX + 1], device[PKI_DEVICE_LEN + 1], dn[512], cmd[2048];
	char *csr_path = tu_path(f->dir, "evil.csr"), *key_path = tu_path(f->dir, "evil.key");
	char *ca_pem, *dev_pem, *out;
	uint8_t serial[PKI_SERIAL_LEN], id_serial[PKI_SERIAL_LEN];
	mbedtls_x509_crt crt;

	need_openssl();
	snprintf(cmd, sizeof(cmd),
		"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' "
		"-subj '/O=Evil/OU=OTHER/CN=ATTACKER' -addext 'basicConstraints=critical,CA:TRUE' "
		"-addext 'subjectAltName=DNS:evil.example' -addext 'extendedKeyUsage=serverAuth' "
		"-outform DER -out '%s'",
		key_path, csr_path);
	free(run_ok(cmd));
	read_into(&csr, csr_path);

	TU_OK(issue(&cert, serial, f, &csr, "SDG", DEVICE));
	TU_OK(pki_identity(office, device, id_serial, u8(&cert), cert.len));
	assert_string_equal(office, "SDG");
	assert_string_equal(device, DEVICE);
	parse(&crt, &cert);
	dn_string(dn, sizeof(dn), &crt.subject);
	assert_string_equal(dn, "O=" ORG ", OU=SDG, CN=" DEVICE);
	assert_int_equal(crt.ca_istrue, 0);
	assert_int_equal(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME, 0);
	assert_false(
		has_eku(&crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
	mbedtls_x509_crt_free(&crt);

	ca_pem = write_pem(f, "ca.pem", "CERTIFICATE", &f->ca_cert);
	dev_pem = write_pem(f, "device.pem", "CERTIFICATE", &cert);
	snprintf(cmd, sizeof(cmd), "openssl verify -purpose sslclient -CAfile '%s' '%s'", ca_pem,
		dev_pem);
	free(run_ok(cmd));
	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -text -in '%s'", dev_pem);
	out = run_ok(cmd);
	assert_null(strstr(out, "ATTACKER"));
	assert_null(strstr(out, "OTHER"));
	assert_null(strstr(out, "Evil"));
	assert_null(strstr(out, "evil.example"));
	assert_null(strstr(out, "CA:TRUE"));
	free(out);
	free(ca_pem);
	free(dev_pem);
	free(csr_path);
	free(key_path);
	buf_release(&csr);
	buf_release(&cert);
}

static void test_csr_tampered(void **state)
{
	struct fx *f = *state;
	struct buf dkey = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);
	struct buf cert = BUF_INIT(PKI_DER_MAX);
	uint8_t serial[PKI_SERIAL_LEN];
	char *cn;

	device_csr(&dkey, &csr, DEVICE);

	/* the last byte belongs to the signature */
	csr.ptr[csr.len - 1] ^= 0x01;
	assert_int_equal(issue(&cert, serial, f, &csr, "ELP", DEVICE), ERR_AUTH);
	assert_non_null(strstr(err_msg(), "proof of possession"));
	csr.ptr[csr.len - 1] ^= 0x01;
	TU_OK(issue(&cert, serial, f, &csr, "ELP", DEVICE));
	buf_reset(&cert);

	/* a signed byte: one digit of the requested common name, still valid text */
	cn = find(&csr, DEVICE);
	assert_non_null(cn);
	cn[0] = '1';
	assert_int_equal(issue(&cert, serial, f, &csr, "ELP", DEVICE), ERR_AUTH);
	assert_int_equal(cert.len, 0);
	buf_wipe_release(&dkey);
	buf_release(&csr);
	buf_release(&cert);
}

static void test_csr_malformed(void **state)
{
	struct fx *f = *state;
	struct buf dkey = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);
	struct buf cert = BUF_INIT(PKI_DER_MAX), junk = BUF_INIT(2 * PKI_DER_MAX);
	uint8_t serial[PKI_SERIAL_LEN], noise[512];
	size_t n;

	device_csr(&dkey, &csr, DEVICE);

	/* every truncation */
	for (n = 0; n < csr.len; n++) {
		struct buf part = BUF_INIT(PKI_DER_MAX);

		TU_OK(buf_put(&part, csr.ptr, n));
		assert_int_equal(issue(&cert, serial, f, &part, "ELP", DEVICE), ERR_INVALID);
		assert_non_null(strstr(err_msg(), "certificate request"));
		buf_release(&part);
	}

	/* trailing bytes */
	TU_OK(buf_put(&junk, csr.ptr, csr.len));
	TU_OK(buf_putc(&junk, 0));
	assert_int_equal(issue(&cert, serial, f, &junk, "ELP", DEVICE), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "certificate request"));

	/* random bytes, with and without a plausible SEQUENCE header */
	TU_OK(crypto_random(noise, sizeof(noise)));
	buf_reset(&junk);
	TU_OK(buf_put(&junk, noise, sizeof(noise)));
	assert_int_equal(issue(&cert, serial, f, &junk, "ELP", DEVICE), ERR_INVALID);
	noise[0] = 0x30;
	noise[1] = 0x82;
	noise[2] = 0x01;
	noise[3] = 0xfc;
	buf_reset(&junk);
	TU_OK(buf_put(&junk, noise, sizeof(noise)));
	assert_int_equal(issue(&cert, serial, f, &junk, "ELP", DEVICE), ERR_INVALID);

	/* a certificate is not a request */
	assert_int_equal(issue(&cert, serial, f, &f->ca_cert, "ELP", DEVICE), ERR_INVALID);

	/* over the cap */
	buf_reset(&junk);
	for (n = 0; n <= PKI_DER_MAX; n++)
		TU_OK(buf_putc(&junk, 0x30));
	assert_int_equal(issue(&cert, serial, f, &junk, "ELP", DEVICE), ERR_TOOBIG);
	assert_int_equal(cert.len, 0);

	buf_wipe_release(&dkey);
	buf_release(&csr);
	buf_release(&cert);
	buf_release(&junk);
}

/* A CSR for a key of another kind, made by openssl: refused. */
static void refuse_openssl_csr(const struct fx *f, const char *newkey)
{
	struct buf csr = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	char cmd[1024], *csr_path = tu_path(f->dir, "other.csr");
	uint8_t serial[PKI_SERIAL_LEN];

	snprintf(cmd, sizeof(cmd),
		"openssl req -new %s -nodes -keyout /dev/null -subj /CN=x -outform DER -out '%s'",
		newkey, csr_path);
	free(run_ok(cmd));
	read_into(&csr, csr_path);
	assert_int_equal(issue(&cert, serial, f, &csr, "ELP", DEVICE), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "P-256"));
	assert_int_equal(cert.len, 0);
	free(csr_path);
	buf_release(&csr);
	buf_release(&cert);
}

static void test_csr_wrong_key_type(void **state)
{
	struct fx *f = *state;
	struct buf rsa = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);
	char cmd[1024], *key_path = tu_path(f->dir, "rsa.der");

	need_openssl();
	refuse_openssl_csr(f, "-newkey rsa:2048");
	refuse_openssl_csr(f, "-newkey ec -pkeyopt ec_paramgen_curve:P-384");

	/* and no request is made for such a key */
	snprintf(cmd, sizeof(cmd),
		"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -outform DER -out "
		"'%s'",
		key_path);
	free(run_ok(cmd));
	read_into(&rsa, key_path);
	assert_int_equal(pki_csr_create(&csr, u8(&rsa), rsa.len, DEVICE), ERR_INVALID);
	assert_int_equal(csr.len, 0);
	free(key_path);
	buf_wipe_release(&rsa);
}

static void test_csr_create_checks(void **state)
{
	struct buf key = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);

	(void)state;
	TU_OK(crypto_ec_keygen(&key));
	assert_int_equal(pki_csr_create(&csr, u8(&key), key.len, ""), ERR_INVALID);
	assert_int_equal(pki_csr_create(&csr, u8(&key), key.len, "a\\b"), ERR_INVALID);
	assert_int_equal(pki_csr_create(&csr, (const uint8_t *)"junk", 4, DEVICE), ERR_INVALID);
	assert_int_equal(csr.len, 0);
	/* a comma in the common name is escaped, not a second attribute */
	TU_OK(pki_csr_create(&csr, u8(&key), key.len, "a,O=b"));
	assert_non_null(find(&csr, "a,O=b"));
	buf_wipe_release(&key);
	buf_release(&csr);
}

static void test_issue_rejects_names(void **state)
{
	static const char *const bad_offices[] = {"elp", "E", "TOOLONGOF", "1AB", "E-P", ""};
	static const char *const bad_devices[] = {"", "0123456789ABCDEF0123456789ABCDEF",
		"0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
		"0123456789abcdef0123456789abcdeg", "ATTACKER"};
	struct fx *f = *state;
	struct buf dkey = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);
	struct buf cert = BUF_INIT(PKI_DER_MAX);
	uint8_t serial[PKI_SERIAL_LEN];
	size_t i;

	device_csr(&dkey, &csr, DEVICE);
	for (i = 0; i < sizeof(bad_offices) / sizeof(bad_offices[0]); i++)
		assert_int_equal(
			issue(&cert, serial, f, &csr, bad_offices[i], DEVICE), ERR_INVALID);
	for (i = 0; i < sizeof(bad_devices) / sizeof(bad_devices[0]); i++)
		assert_int_equal(issue(&cert, serial, f, &csr, "ELP", bad_devices[i]), ERR_INVALID);
	assert_int_equal(cert.len, 0);
	buf_wipe_release(&dkey);
	buf_release(&csr);
}

static void test_verify_other_ca(void **state)
{
	struct fx *f = *state;
	struct buf k2 = BUF_INIT(PKI_DER_MAX), c2 = BUF_INIT(PKI_DER_MAX);
	struct buf k3 = BUF_INIT(PKI_DER_MAX), c3 = BUF_INIT(PKI_DER_MAX);
	struct buf skey = BUF_INIT(PKI_DER_MAX), scert = BUF_INIT(PKI_DER_MAX);
	struct buf dkey = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);
	struct buf dcert = BUF_INIT(PKI_DER_MAX);
	const char *dns[] = {"localhost", NULL};
	uint8_t serial[PKI_SERIAL_LEN];
	struct pki_validity v;
	char cmd[2048], *ca_pem, *other_pem, *out;
	int status;

	need_openssl();
	pki_validity_days(&v, f->now, 30);
	/* same organization name, so the same subject: only the signature tells them apart */
	TU_OK(pki_ca_create(&k2, &c2, ORG, &v));
	TU_OK(pki_ca_create(&k3, &c3, "Other Org", &v));

	TU_OK(server_cert(&skey, &scert, &k2, &c2, dns, NULL, &v));
	TU_OK(pki_verify(u8(&scert), scert.len, u8(&c2), c2.len, f->now));
	assert_int_equal(pki_verify(u8(&scert), scert.len, u8(&f->ca_cert), f->ca_cert.len, f->now),
		ERR_AUTH);
	assert_string_equal(err_msg(), "certificate not issued by this CA");

	device_csr(&dkey, &csr, DEVICE);
	TU_OK(pki_issue_device(&dcert, serial, u8(&k3), k3.len, u8(&c3), c3.len, u8(&csr), csr.len,
		"ELP", DEVICE, &v));
	assert_int_equal(pki_verify(u8(&dcert), dcert.len, u8(&f->ca_cert), f->ca_cert.len, f->now),
		ERR_AUTH);
	assert_non_null(strstr(err_msg(), "not issued by this CA"));

	/* another CA itself is not trusted either */
	assert_int_equal(
		pki_verify(u8(&c2), c2.len, u8(&f->ca_cert), f->ca_cert.len, f->now), ERR_AUTH);
	assert_non_null(strstr(err_msg(), "not issued by this CA"));

	/* and openssl agrees */
	ca_pem = write_pem(f, "ca.pem", "CERTIFICATE", &f->ca_cert);
	other_pem = write_pem(f, "other.pem", "CERTIFICATE", &scert);
	snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s' '%s'", ca_pem, other_pem);
	out = run(&status, "%s", cmd);
	assert_int_not_equal(status, 0);
	free(out);
	free(ca_pem);
	free(other_pem);
	buf_wipe_release(&k2);
	buf_wipe_release(&k3);
	buf_wipe_release(&skey);
	buf_wipe_release(&dkey);
	buf_release(&c2);
	buf_release(&c3);
	buf_release(&scert);
	buf_release(&csr);
	buf_release(&dcert);
}

static void server_with(
	struct buf *key, struct buf *cert, const struct fx *f, int64_t from, int64_t to)
{
	const char *dns[] = {"localhost", NULL};
	struct pki_validity v = {from, to};

	TU_OK(server_cert(key, cert, &f->ca_key, &f->ca_cert, dns, NULL, &v));
}

static void test_verify_dates(void **state)
{
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct buf k2 = BUF_INIT(PKI_DER_MAX), c2 = BUF_INIT(PKI_DER_MAX);
	const uint8_t *ca = u8(&f->ca_cert);
	size_t ca_len = f->ca_cert.len;
	struct pki_validity v;
	int64_t now = f->now;

	/* entirely in the past */
	server_with(&key, &cert, f, now - 20 * DAY, now - 10 * DAY);
	assert_int_equal(pki_verify(u8(&cert), cert.len, ca, ca_len, now), ERR_AUTH);
	assert_non_null(strstr(err_msg(), "certificate expired"));
	buf_wipe_release(&key);
	buf_release(&cert);

	/* entirely in the future */
	server_with(&key, &cert, f, now + 10 * DAY, now + 20 * DAY);
	assert_int_equal(pki_verify(u8(&cert), cert.len, ca, ca_len, now), ERR_AUTH);
	assert_non_null(strstr(err_msg(), "certificate not yet valid"));
	buf_wipe_release(&key);
	buf_release(&cert);

	/* `now` decides, not only the system clock; both ends are included */
	server_with(&key, &cert, f, now - 100, now + DAY);
	TU_OK(pki_verify(u8(&cert), cert.len, ca, ca_len, now - 100));
	TU_OK(pki_verify(u8(&cert), cert.len, ca, ca_len, now + DAY));
	assert_int_equal(pki_verify(u8(&cert), cert.len, ca, ca_len, now + DAY + 1), ERR_AUTH);
	assert_non_null(strstr(err_msg(), "expired"));
	assert_int_equal(pki_verify(u8(&cert), cert.len, ca, ca_len, now - 101), ERR_AUTH);
	assert_non_null(strstr(err_msg(), "not yet valid"));

	/* the CA's own dates count too: valid certificate, CA expired at `now` */
	assert_int_equal(pki_verify(u8(&cert), cert.len, ca, ca_len, now + 31 * DAY), ERR_AUTH);
	assert_non_null(strstr(err_msg(), "expired"));

	/* an expired CA */
	v.not_before = now - 20 * DAY;
	v.not_after = now - DAY;
	TU_OK(pki_ca_create(&k2, &c2, ORG, &v));
	assert_int_equal(pki_verify(u8(&c2), c2.len, u8(&c2), c2.len, now), ERR_AUTH);
	assert_non_null(strstr(err_msg(), "expired"));

	buf_wipe_release(&key);
	buf_wipe_release(&k2);
	buf_release(&cert);
	buf_release(&c2);
}

static void test_verify_malformed(void **state)
{
	struct fx *f = *state;
	struct buf junk = BUF_INIT(2 * PKI_DER_MAX);
	const uint8_t *ca = u8(&f->ca_cert);
	size_t ca_len = f->ca_cert.len, n;

	TU_OK(buf_put(&junk, ca, ca_len));
	TU_OK(buf_putc(&junk, 0));
	assert_int_equal(pki_verify(u8(&junk), junk.len, ca, ca_len, f->now), ERR_INVALID);
	assert_int_equal(pki_verify(ca, ca_len, u8(&junk), junk.len, f->now), ERR_INVALID);
	assert_int_equal(pki_verify(ca, ca_len - 1, ca, ca_len, f->now), ERR_INVALID);
	assert_int_equal(pki_verify((const uint8_t *)"", 0, ca, ca_len, f->now), ERR_INVALID);
	buf_reset(&junk);
	for (n = 0; n <= PKI_DER_MAX; n++)
		TU_OK(buf_putc(&junk, 0x30));
	assert_int_equal(pki_verify(u8(&junk), junk.len, ca, ca_len, f->now), ERR_TOOBIG);

	/* a flipped signature bit */
	buf_reset(&junk);
	TU_OK(buf_put(&junk, ca, ca_len));
	junk.ptr[junk.len - 1] ^= 0x01;
	assert_int_equal(pki_verify(u8(&junk), junk.len, ca, ca_len, f->now), ERR_AUTH);
	buf_release(&junk);
}

static void test_identity_rejects(void **state)
{
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	char office[SCHEMA_OFFICE_MAX + 1] = "KEEP", device[PKI_DEVICE_LEN + 1] = "keep";
	uint8_t serial[PKI_SERIAL_LEN], zero[PKI_SERIAL_LEN] = {0};

	memset(serial, 0, sizeof(serial));
	server_with(&key, &cert, f, f->now, f->now + DAY);
	assert_int_equal(pki_identity(office, device, serial, u8(&cert), cert.len), ERR_INVALID);
	assert_int_equal(
		pki_identity(office, device, serial, u8(&f->ca_cert), f->ca_cert.len), ERR_INVALID);
	assert_int_equal(
		pki_identity(office, device, serial, (const uint8_t *)"\x30\x03\x02\x01\x01", 5),
		ERR_INVALID);
	assert_string_equal(office, "KEEP");
	assert_string_equal(device, "keep");
	assert_memory_equal(serial, zero, sizeof(zero));
	buf_wipe_release(&key);
	buf_release(&cert);
}

/*
 * Certificates openssl signs with our CA key: a correct device certificate is read (a one-byte
 * serial padded to 16), one with a bad office code or two OUs is not.
 */
static void openssl_device_cert(struct buf *out, const struct fx *f, const char *subj, int serial)
{
	char cmd[4096], *ca_pem = write_pem(f, "ca.pem", "CERTIFICATE", &f->ca_cert);
	char *key_pem = write_pem(f, "ca.key", "EC PRIVATE KEY", &f->ca_key);
	char *ext = tu_path(f->dir, "ext.cnf"), *der = tu_path(f->dir, "ossl.der");
	static const char ext_text[] = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
				       "extendedKeyUsage=clientAuth\n";

	tu_write_file(ext, ext_text, strlen(ext_text));
	snprintf(cmd, sizeof(cmd),
		"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
		"/dev/null -subj '%s' | openssl x509 -req -CA '%s' -CAkey '%s' -set_serial %d "
		"-days 1 -extfile '%s' -outform DER -out '%s'",
		subj, ca_pem, key_pem, serial, ext, der);
	free(run_ok(cmd));
	buf_reset(out);
	read_into(out, der);
	/* openssl starts the validity at its own now, later than the fixture's */
	TU_OK(pki_verify(u8(out), out->len, u8(&f->ca_cert), f->ca_cert.len, (int64_t)time(NULL)));
	free(ca_pem);
	free(key_pem);
	free(ext);
	free(der);
}

static void test_identity_openssl_issued(void **state)
{
	struct fx *f = *state;
	struct buf cert = BUF_INIT(PKI_DER_MAX);
	char office[SCHEMA_OFFICE_MAX + 1], device[PKI_DEVICE_LEN + 1];
	uint8_t serial[PKI_SERIAL_LEN], want[PKI_SERIAL_LEN] = {0};

	need_openssl();
	openssl_device_cert(&cert, f, "/O=" ORG "/OU=HQ2/CN=" DEVICE, 5);
	TU_OK(pki_identity(office, device, serial, u8(&cert), cert.len));
	assert_string_equal(office, "HQ2");
	assert_string_equal(device, DEVICE);
	want[PKI_SERIAL_LEN - 1] = 5;
	assert_memory_equal(serial, want, PKI_SERIAL_LEN);

	openssl_device_cert(&cert, f, "/O=" ORG "/OU=hq2/CN=" DEVICE, 6);
	assert_int_equal(pki_identity(office, device, serial, u8(&cert), cert.len), ERR_INVALID);
	openssl_device_cert(&cert, f, "/O=" ORG "/OU=HQ2/OU=ELP/CN=" DEVICE, 7);
	assert_int_equal(pki_identity(office, device, serial, u8(&cert), cert.len), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "more than one"));
	openssl_device_cert(&cert, f, "/O=" ORG "/OU=HQ2/CN=ATTACKER", 8);
	assert_int_equal(pki_identity(office, device, serial, u8(&cert), cert.len), ERR_INVALID);
	openssl_device_cert(&cert, f, "/O=" ORG "/CN=" DEVICE, 9);
	assert_int_equal(pki_identity(office, device, serial, u8(&cert), cert.len), ERR_INVALID);
	buf_release(&cert);
}

static void test_fingerprint_openssl(void **state)
{
	struct fx *f = *state;
	uint8_t fp[PKI_FINGERPRINT_LEN];
	char hex[2 * PKI_FINGERPRINT_LEN + 1], norm[128], cmd[1024], *out, *p, *path;
	size_t n = 0;

	need_openssl();
	path = write_der(f, "ca.der", &f->ca_cert);
	snprintf(cmd, sizeof(cmd), "openssl x509 -inform DER -in '%s' -noout -fingerprint -sha256",
		path);
	out = run_ok(cmd);
	p = strchr(out, '=');
	assert_non_null(p);
	for (p++; *p && *p != '\n' && n + 1 < sizeof(norm); p++)
		if (*p != ':')
			norm[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	norm[n] = '\0';
	pki_fingerprint(fp, u8(&f->ca_cert), f->ca_cert.len);
	crypto_hex(hex, fp, sizeof(fp));
	assert_string_equal(norm, hex);
	free(out);
	free(path);
}

static void test_pem(void **state)
{
	struct fx *f = *state;
	struct buf pem = BUF_INIT(4 * PKI_DER_MAX), small = BUF_INIT(16);
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	const char *line;
	char cmd[1024], *path;

	need_openssl();
	TU_OK(pki_der_to_pem(&pem, "CERTIFICATE", u8(&f->ca_cert), f->ca_cert.len));
	assert_int_equal(strncmp(pem.ptr, "-----BEGIN CERTIFICATE-----\n", 28), 0);
	assert_non_null(strstr(pem.ptr, "\n-----END CERTIFICATE-----\n"));
	assert_int_equal(strlen(pem.ptr), pem.len);
	for (line = pem.ptr; *line; line = strchr(line, '\n') + 1)
		assert_true(strchr(line, '\n') - line <= 64);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse(&crt, u8(&pem), pem.len + 1), 0);
	assert_int_equal(crt.raw.len, f->ca_cert.len);
	assert_memory_equal(crt.raw.p, f->ca_cert.ptr, f->ca_cert.len);
	mbedtls_x509_crt_free(&crt);

	/* appended, not replaced */
	TU_OK(pki_der_to_pem(&pem, "EC PRIVATE KEY", u8(&f->ca_key), f->ca_key.len));
	line = strstr(pem.ptr, "-----BEGIN EC PRIVATE KEY-----\n");
	assert_non_null(line);
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_pk_parse_key(&pk, (const uint8_t *)line,
				 pem.len - (size_t)(line - pem.ptr) + 1, NULL, 0),
		0);
	mbedtls_pk_free(&pk);
	path = tu_path(f->dir, "key.pem");
	tu_write_file(path, line, strlen(line));
	snprintf(cmd, sizeof(cmd), "openssl pkey -in '%s' -noout", path);
	free(run_ok(cmd));
	free(path);

	assert_int_equal(
		pki_der_to_pem(&small, "CERTIFICATE", u8(&f->ca_cert), f->ca_cert.len), ERR_TOOBIG);
	assert_int_equal(small.len, 0);
	assert_int_equal(
		pki_der_to_pem(&small, "certificate", (const uint8_t *)"x", 1), ERR_INVALID);
	assert_int_equal(pki_der_to_pem(&small, "A-B", (const uint8_t *)"x", 1), ERR_INVALID);
	assert_int_equal(pki_der_to_pem(&small, "", (const uint8_t *)"x", 1), ERR_INVALID);
	buf_wipe_release(&pem);
	buf_release(&small);
}

/* Every length across line boundaries decodes back to the same bytes. */
static void test_pem_lengths(void **state)
{
	uint8_t data[200];
	size_t len;

	(void)state;
	TU_OK(crypto_random(data, sizeof(data)));
	for (len = 1; len <= sizeof(data); len++) {
		struct buf pem = BUF_INIT(1024);
		mbedtls_pem_context ctx;
		size_t used = 0;

		TU_OK(pki_der_to_pem(&pem, "TEST DATA", data, len));
		mbedtls_pem_init(&ctx);
		assert_int_equal(mbedtls_pem_read_buffer(&ctx, "-----BEGIN TEST DATA-----",
					 "-----END TEST DATA-----", u8(&pem), NULL, 0, &used),
			0);
		assert_int_equal(used, pem.len);
		assert_int_equal(ctx.buflen, len);
		assert_memory_equal(ctx.buf, data, len);
		mbedtls_pem_free(&ctx);
		buf_release(&pem);
	}
}

/* A renewed server certificate: same key, same names, new serial; also under a new CA. */
static void test_server_renew(void **state)
{
	struct fx *f = *state;
	struct buf key = BUF_INIT(PKI_DER_MAX), cert = BUF_INIT(PKI_DER_MAX);
	struct buf renewed = BUF_INIT(PKI_DER_MAX), other = BUF_INIT(PKI_DER_MAX);
	struct buf key2 = BUF_INIT(PKI_DER_MAX), ca2_key = BUF_INIT(PKI_DER_MAX);
	struct buf ca2 = BUF_INIT(PKI_DER_MAX), both = BUF_INIT(2 * PKI_DER_MAX);
	const char *dns[] = {"localhost", "hq.example.org", NULL};
	const char *ips[] = {"127.0.0.1", "10.1.2.3", NULL};
	const uint8_t v4b[] = {10, 1, 2, 3};
	struct pki_validity v;
	mbedtls_x509_crt a, b;
	char *ca_pem, *srv_pem, *out, cmd[2048];

	pki_validity_days(&v, f->now, 2);
	TU_OK(server_cert(&key, &cert, &f->ca_key, &f->ca_cert, dns, ips, &v));
	pki_validity_days(&v, f->now, 20);
	TU_OK(pki_server_renew(&renewed, u8(&f->ca_key), f->ca_key.len, u8(&f->ca_cert),
		f->ca_cert.len, u8(&cert), cert.len, u8(&key), key.len, &v));
	TU_OK(pki_verify(u8(&renewed), renewed.len, u8(&f->ca_cert), f->ca_cert.len, f->now));
	parse(&a, &cert);
	parse(&b, &renewed);
	assert_int_equal(a.pk_raw.len, b.pk_raw.len); /* the same key */
	assert_memory_equal(a.pk_raw.p, b.pk_raw.p, a.pk_raw.len);
	assert_int_equal(a.subject_raw.len, b.subject_raw.len);
	assert_memory_equal(a.subject_raw.p, b.subject_raw.p, a.subject_raw.len);
	assert_false(a.serial.len == b.serial.len && !memcmp(a.serial.p, b.serial.p, a.serial.len));
	assert_true(b.valid_to.year * 400 + b.valid_to.mon * 31 + b.valid_to.day >
		    a.valid_to.year * 400 + a.valid_to.mon * 31 + a.valid_to.day);
	assert_int_equal(san_count(&b), 4);
	assert_true(san_has(&b, 2, "hq.example.org", 14));
	assert_true(san_has(&b, 7, v4b, sizeof(v4b)));
	mbedtls_x509_crt_free(&a);
	mbedtls_x509_crt_free(&b);
	ca_pem = write_pem(f, "ca.pem", "CERTIFICATE", &f->ca_cert);
	srv_pem = write_pem(f, "renewed.pem", "CERTIFICATE", &renewed);
	snprintf(cmd, sizeof(cmd),
		"openssl verify -x509_strict -purpose sslserver -CAfile '%s' -verify_ip 10.1.2.3 "
		"'%s'",
		ca_pem, srv_pem);
	out = run_ok(cmd);
	free(out);

	/* a key that is not the certificate's is refused */
	TU_OK(crypto_ec_keygen(&key2));
	assert_int_equal(pki_server_renew(&other, u8(&f->ca_key), f->ca_key.len, u8(&f->ca_cert),
				 f->ca_cert.len, u8(&cert), cert.len, u8(&key2), key2.len, &v),
		ERR_INVALID);
	assert_int_equal(other.len, 0);

	/* under another CA: it chains to that one, and to a trust set holding both */
	TU_OK(pki_ca_create(&ca2_key, &ca2, ORG, &v));
	TU_OK(pki_server_renew(&other, u8(&ca2_key), ca2_key.len, u8(&ca2), ca2.len, u8(&cert),
		cert.len, u8(&key), key.len, &v));
	assert_int_equal(pki_verify(u8(&other), other.len, u8(&f->ca_cert), f->ca_cert.len, f->now),
		ERR_AUTH);
	TU_OK(pki_verify(u8(&other), other.len, u8(&ca2), ca2.len, f->now));
	TU_OK(buf_put(&both, f->ca_cert.ptr, f->ca_cert.len));
	TU_OK(buf_put(&both, ca2.ptr, ca2.len));
	TU_OK(pki_verify(u8(&other), other.len, u8(&both), both.len, f->now));
	TU_OK(pki_verify(u8(&renewed), renewed.len, u8(&both), both.len, f->now));
	free(ca_pem);
	free(srv_pem);
	buf_wipe_release(&key);
	buf_wipe_release(&key2);
	buf_wipe_release(&ca2_key);
	buf_release(&cert);
	buf_release(&renewed);
	buf_release(&other);
	buf_release(&ca2);
	buf_release(&both);
}

/* A CA rollover: the cross certificate vouches for the new CA and nothing else. */
static void test_ca_cross(void **state)
{
	struct fx *f = *state;
	struct buf k2 = BUF_INIT(PKI_DER_MAX), ca2 = BUF_INIT(PKI_DER_MAX);
	struct buf k3 = BUF_INIT(PKI_DER_MAX), ca3 = BUF_INIT(PKI_DER_MAX);
	struct buf cross = BUF_INIT(PKI_DER_MAX), set = BUF_INIT(3 * PKI_DER_MAX);
	struct buf dkey = BUF_INIT(PKI_DER_MAX), csr = BUF_INIT(PKI_DER_MAX);
	struct buf dcert = BUF_INIT(PKI_DER_MAX);
	uint8_t serial[PKI_SERIAL_LEN], fp[PKI_FINGERPRINT_LEN];
	const uint8_t *one;
	size_t len, pos = 0;
	struct pki_validity v;
	mbedtls_x509_crt chain;
	int n = 0;

	pki_validity_days(&v, f->now, 20);
	TU_OK(pki_ca_create(&k2, &ca2, ORG, &v));
	TU_OK(pki_ca_create(&k3, &ca3, ORG, &v));
	TU_OK(pki_ca_cross(&cross, u8(&f->ca_key), f->ca_key.len, u8(&f->ca_cert), f->ca_cert.len,
		u8(&ca2), ca2.len, &v));
	TU_OK(pki_verify(u8(&cross), cross.len, u8(&f->ca_cert), f->ca_cert.len, f->now));
	TU_OK(pki_cross_matches(u8(&cross), cross.len, u8(&ca2), ca2.len));
	assert_int_equal(pki_cross_matches(u8(&cross), cross.len, u8(&ca3), ca3.len), ERR_AUTH);
	assert_int_equal(pki_verify(u8(&cross), cross.len, u8(&ca3), ca3.len, f->now), ERR_AUTH);
	/* signed with the wrong CA key: refused when the key does not match */
	assert_int_equal(pki_ca_cross(&set, u8(&k2), k2.len, u8(&f->ca_cert), f->ca_cert.len,
				 u8(&ca2), ca2.len, &v),
		ERR_INVALID);
	assert_int_equal(set.len, 0);

	/* a trust set: stepped through, parsed, searched */
	TU_OK(buf_put(&set, f->ca_cert.ptr, f->ca_cert.len));
	TU_OK(buf_put(&set, ca2.ptr, ca2.len));
	while (pki_trust_next(&one, &len, u8(&set), set.len, &pos) > 0)
		n++;
	assert_int_equal(n, 2);
	mbedtls_x509_crt_init(&chain);
	TU_OK(pki_trust_parse(&chain, u8(&set), set.len));
	assert_non_null(chain.next);
	mbedtls_x509_crt_free(&chain);
	pki_fingerprint(fp, u8(&ca2), ca2.len);
	assert_true(pki_trust_has(u8(&set), set.len, fp));
	pki_fingerprint(fp, u8(&ca3), ca3.len);
	assert_false(pki_trust_has(u8(&set), set.len, fp));
	/* a device certificate of the new CA passes the set, and not the old CA alone */
	device_csr(&dkey, &csr, DEVICE);
	TU_OK(pki_issue_device(&dcert, serial, u8(&k2), k2.len, u8(&ca2), ca2.len, u8(&csr),
		csr.len, "HQ", DEVICE, &v));
	TU_OK(pki_verify(u8(&dcert), dcert.len, u8(&set), set.len, f->now));
	assert_int_equal(pki_verify(u8(&dcert), dcert.len, u8(&f->ca_cert), f->ca_cert.len, f->now),
		ERR_AUTH);
	assert_non_null(strstr(err_msg(), "not issued by this CA"));
	/* junk after a set, or a set of nothing, is refused */
	TU_OK(buf_put(&set, "\x01\x02", 2));
	mbedtls_x509_crt_init(&chain);
	assert_int_not_equal(pki_trust_parse(&chain, u8(&set), set.len), 0);
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_init(&chain);
	assert_int_equal(pki_trust_parse(&chain, u8(&set), 0), ERR_INVALID);
	mbedtls_x509_crt_free(&chain);
	assert_int_equal(pki_verify(u8(&dcert), dcert.len, u8(&set), 0, f->now), ERR_INVALID);
	buf_wipe_release(&k2);
	buf_wipe_release(&k3);
	buf_wipe_release(&dkey);
	buf_release(&ca2);
	buf_release(&ca3);
	buf_release(&cross);
	buf_release(&set);
	buf_release(&csr);
	buf_release(&dcert);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validity_days),
		cmocka_unit_test_setup_teardown(test_ca_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_serials_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_org_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_bad_validity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_cert_ip_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_cert_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outputs_untouched_on_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_issue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_ignores_csr_subject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csr_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csr_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csr_wrong_key_type, setup, teardown),
		cmocka_unit_test(test_csr_create_checks),
		cmocka_unit_test_setup_teardown(test_issue_rejects_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_other_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_dates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_openssl_issued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fingerprint_openssl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_renew, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_cross, setup, teardown),
		cmocka_unit_test(test_pem_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
