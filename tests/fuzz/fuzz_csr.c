/*
 * tests/fuzz/fuzz_csr.c - libFuzzer target for pki_issue_device(), which HQ runs on a
 * certificate request sent by a device that is enrolling (untrusted DER).
 *
 * The CA is made once.  Any error is a fine answer to garbage; a crash, leak or hang is a
 * finding, and so is a certificate issued for a request that pki.h says must be refused: what is
 * issued must verify against the CA and carry the office and device HQ chose, whatever the
 * request said.  The seed corpus in corpus/csr/ holds a request made by pki_csr_create(), the
 * same request cut short at several places, and one with its signature broken.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "pki/pki.h"

#define OFFICE "ELP"
#define DEVICE "0123456789abcdef0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct buf ca_key = BUF_INIT(PKI_DER_MAX), ca_cert = BUF_INIT(PKI_DER_MAX);
static int64_t now;

static void make_ca(void)
{
	struct pki_validity v;

	if (ca_cert.len)
		return;
	now = (int64_t)time(NULL);
	pki_validity_days(&v, now, 30);
	if (pki_ca_create(&ca_key, &ca_cert, "Fuzz Org", &v) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf cert = BUF_INIT(PKI_DER_MAX);
	uint8_t serial[PKI_SERIAL_LEN], serial2[PKI_SERIAL_LEN];
	char office[SCHEMA_OFFICE_MAX + 1], device[PKI_DEVICE_LEN + 1];
	struct pki_validity v;

	make_ca();
	pki_validity_days(&v, now, 1);
	if (pki_issue_device(&cert, serial, (const uint8_t *)ca_key.ptr, ca_key.len,
	            (const uint8_t *)ca_cert.ptr, ca_cert.len, data, size, OFFICE, DEVICE,
	            &v) == 0) {
		if (pki_verify((const uint8_t *)cert.ptr, cert.len, (const uint8_t *)ca_cert.ptr,
		            ca_cert.len, now) != 0)
			abort();
		if (pki_identity(office, device, serial2, (const uint8_t *)cert.ptr, cert.len) !=
		                0 ||
		        strcmp(office, OFFICE) != 0 || strcmp(device, DEVICE) != 0 ||
		        memcmp(serial, serial2, PKI_SERIAL_LEN) != 0)
			abort();
	} else if (cert.len != 0) {
		abort(); /* output only on success */
	}
	buf_release(&cert);
	return 0;
}
