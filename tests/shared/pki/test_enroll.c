/* tests/shared/pki/test_enroll.c - enrollment token and messages. */
#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "pki/enroll.h"
#include "testutil.h"

static void test_token_round_trip(void **state)
{
	struct enroll_token tok, back;
	char text[ENROLL_TOKEN_MAX];
	uint8_t fp[32], h1[32], h2[32];

	(void)state;
	memset(fp, 0xab, sizeof(fp));
	TU_OK(enroll_token_new(&tok, text, "ELP", fp, NULL));
	assert_int_equal(strncmp(text, "fse1.ELP.", 9), 0);
	TU_OK(enroll_token_parse(&back, text));
	assert_string_equal(back.office, "ELP");
	assert_memory_equal(back.secret, tok.secret, ENROLL_SECRET_LEN);
	assert_memory_equal(back.ca_fingerprint, fp, 32);
	enroll_token_hash(h1, &tok);
	crypto_sha256(h2, tok.secret, ENROLL_SECRET_LEN);
	assert_memory_equal(h1, h2, 32);
	assert_string_equal(back.server, "");
	assert_int_equal(enroll_token_new(&tok, text, "elp", fp, NULL), ERR_INVALID);
}

static void test_token_carries_server_url(void **state)
{
	static const char *const urls[] = {"https://hq.example.org:8443",
		"https://127.0.0.1:40123/", "https://[::1]:8443", "https://hq"};
	static const char *const bad[] = {"http://hq:8443", "https://hq:0", "https://hq:70000",
		"https://:8443", "https://hq:", "https://h q:1", "https://"};
	struct enroll_token tok, back;
	char text[ENROLL_TOKEN_MAX], big[ENROLL_URL_MAX + 16];
	uint8_t fp[32];
	size_t i;

	(void)state;
	memset(fp, 0x5c, sizeof(fp));
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		TU_OK(enroll_token_new(&tok, text, "ELP", fp, urls[i]));
		assert_null(strchr(strrchr(text, '.') + 1, '='));
		TU_OK(enroll_token_parse(&back, text));
		assert_string_equal(back.server, urls[i]);
		assert_memory_equal(back.ca_fingerprint, fp, 32);
		text[strlen(text) - 1] = '!'; /* not base64url */
		assert_int_equal(enroll_token_parse(&back, text), ERR_INVALID);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(enroll_token_new(&tok, text, "ELP", fp, bad[i]), ERR_INVALID);
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "https://", 8);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(enroll_token_new(&tok, text, "ELP", fp, big), ERR_INVALID);
}

static void test_token_rejects(void **state)
{
	static const char *const bad[] = {"", "fse1.", "fse2.ELP.00.11", "fse1.ELP",
		"fse1.elp.0000000000000000000000000000000000000000000000000000000000000000."
		"0000000000000000000000000000000000000000000000000000000000000000",
		"fse1.ELP.000000000000000000000000000000000000000000000000000000000000000."
		"0000000000000000000000000000000000000000000000000000000000000000",
		"fse1.ELP.zz00000000000000000000000000000000000000000000000000000000000000."
		"0000000000000000000000000000000000000000000000000000000000000000",
		"fse1.ELP.0000000000000000000000000000000000000000000000000000000000000000."
		"00000000000000000000000000000000000000000000000000000000000000"};
	struct enroll_token tok;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(enroll_token_parse(&tok, bad[i]), ERR_INVALID);
}

static void test_request_round_trip(void **state)
{
	struct enroll_request req, back;
	struct buf body = BUF_INIT(ENROLL_BODY_MAX);

	(void)state;
	enroll_request_init(&req);
	enroll_request_init(&back);
	memset(req.secret, 7, sizeof(req.secret));
	snprintf(req.office, sizeof(req.office), "SDG");
	snprintf(req.device, sizeof(req.device), "0123456789abcdef0123456789abcdef");
	TU_OK(buf_put(&req.csr, "\x30\x82\x01\x00csr-bytes", 13));
	TU_OK(enroll_request_encode(&body, &req));
	TU_OK(enroll_request_decode(&back, body.ptr, body.len));
	assert_memory_equal(back.secret, req.secret, ENROLL_SECRET_LEN);
	assert_string_equal(back.office, "SDG");
	assert_string_equal(back.device, req.device);
	assert_int_equal(back.csr.len, 13);
	assert_memory_equal(back.csr.ptr, req.csr.ptr, 13);
	enroll_request_release(&req);
	enroll_request_release(&back);
	buf_release(&body);
}

static void test_request_rejects(void **state)
{
	static const char *const bad[] = {"", "[]", "{\"token\":1}",
		"{\"token\":\"00\",\"office\":\"ELP\",\"device\":\"0123456789abcdef0123456789abcdef\","
		"\"csr\":\"AAAA\"}",
		"{\"token\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"office\":\"elp\",\"device\":\"0123456789abcdef0123456789abcdef\",\"csr\":\"AAAA\"}",
		"{\"token\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"office\":\"ELP\",\"device\":\"0123456789ABCDEF0123456789abcdef\",\"csr\":\"AAAA\"}",
		"{\"token\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"office\":\"ELP\",\"device\":\"0123456789abcdef0123456789abcdef\",\"csr\":\"!!!\"}",
		"{\"token\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"token\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"office\":\"ELP\",\"device\":\"0123456789abcdef0123456789abcdef\",\"csr\":\"AAAA\"}"};
	struct enroll_request req;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enroll_request_init(&req);
		assert_true(enroll_request_decode(&req, bad[i], strlen(bad[i])) < 0);
		enroll_request_release(&req);
	}
}

static void test_size_caps(void **state)
{
	struct enroll_request req;
	struct buf big = BUF_INIT(4 * ENROLL_BODY_MAX);
	uint8_t der[ENROLL_DER_MAX + 1];

	(void)state;
	enroll_request_init(&req);
	TU_OK(buf_putc(&big, '{'));
	while (big.len < ENROLL_BODY_MAX + 10)
		TU_OK(buf_puts(&big, "\"x\":1,"));
	assert_int_equal(enroll_request_decode(&req, big.ptr, big.len), ERR_TOOBIG);
	buf_reset(&big);
	memset(der, 1, sizeof(der));
	assert_int_equal(enroll_b64_encode(&big, der, sizeof(der)), ERR_TOOBIG);
	enroll_request_release(&req);
	buf_release(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_round_trip),
		cmocka_unit_test(test_token_rejects),
		cmocka_unit_test(test_token_carries_server_url),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_rejects),
		cmocka_unit_test(test_size_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
