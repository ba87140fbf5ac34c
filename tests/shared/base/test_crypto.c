/* tests/shared/base/test_crypto.c - hashes, HKDF, AES-GCM, Argon2id, ECDSA, hex. */
#include "testutil.h"

#include <string.h>

#include "base/crypto.h"

#include <mbedtls/pk.h>

static void unhex(uint8_t *out, size_t len, const char *hex)
{
	TU_OK(crypto_unhex(out, len, hex));
}

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
	char hex[2 * 128 + 1];

	assert_true(len <= 128);
	crypto_hex(hex, got, len);
	assert_string_equal(hex, want);
}

static void test_sha256_vectors(void **state)
{
	struct crypto_sha256 h;
	uint8_t d[CRYPTO_SHA256_LEN];

	(void)state;
	crypto_sha256(d, "", 0);
	assert_hex(d, sizeof(d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	crypto_sha256(d, "abc", 3);
	assert_hex(d, sizeof(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

	/* Incremental hashing gives the same digest. */
	crypto_sha256_init(&h);
	crypto_sha256_update(&h, "a", 1);
	crypto_sha256_update(&h, "", 0);
	crypto_sha256_update(&h, "bc", 2);
	crypto_sha256_final(d, &h);
	assert_hex(d, sizeof(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hkdf_rfc5869_case1(void **state)
{
	uint8_t ikm[22], salt[13], info[10], okm[42];
	size_t i;

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	TU_OK(crypto_hkdf(okm, sizeof(okm), salt, sizeof(salt), ikm, sizeof(ikm), info,
		sizeof(info)));
	assert_hex(okm, sizeof(okm),
		"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

static void test_hkdf_too_long(void **state)
{
	static uint8_t okm[255 * 32 + 1];

	(void)state;
	assert_int_equal(crypto_hkdf(okm, sizeof(okm), "s", 1, "k", 1, "i", 1), ERR_INVALID);
	TU_OK(crypto_hkdf(okm, 255 * 32, "s", 1, "k", 1, "i", 1));
}

/* AES-256-GCM with an all-zero key and nonce (McGrew & Viega test cases 13 and 14). */
static void test_aead_known_answer(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN] = {0}, nonce[CRYPTO_NONCE_LEN] = {0};
	uint8_t pt[16] = {0}, ct[16], tag[CRYPTO_TAG_LEN];

	(void)state;
	TU_OK(crypto_aead_seal(ct, tag, key, nonce, NULL, 0, pt, sizeof(pt)));
	assert_hex(ct, sizeof(ct), "cea7403d4d606b6e074ec5d3baf39d18");
	assert_hex(tag, sizeof(tag), "d0d1c8a799996bf0265b98b5d48ab919");
	TU_OK(crypto_aead_seal(ct, tag, key, nonce, NULL, 0, pt, 0));
	assert_hex(tag, sizeof(tag), "530f8afbc74536b9a963b4f1c4cb738b");
}

struct sealed {
	uint8_t key[CRYPTO_KEY_LEN];
	uint8_t nonce[CRYPTO_NONCE_LEN];
	uint8_t aad[8];
	uint8_t ct[40];
	uint8_t tag[CRYPTO_TAG_LEN];
};

static const char plain[40] = "the database key and some more bytes...";

static void seal(struct sealed *s)
{
	TU_OK(crypto_random(s->key, sizeof(s->key)));
	TU_OK(crypto_random(s->nonce, sizeof(s->nonce)));
	memcpy(s->aad, "db-id-01", 8);
	TU_OK(crypto_aead_seal(s->ct, s->tag, s->key, s->nonce, s->aad, sizeof(s->aad), plain,
		sizeof(plain)));
	assert_memory_not_equal(s->ct, plain, sizeof(plain));
}

static int open_sealed(const struct sealed *s, uint8_t pt[40])
{
	memset(pt, 0x55, 40);
	return crypto_aead_open(pt, s->key, s->nonce, s->aad, sizeof(s->aad), s->ct, sizeof(s->ct),
		s->tag);
}

static void assert_refused(const struct sealed *s)
{
	static const uint8_t zero[40] = {0};
	uint8_t pt[40];

	assert_int_equal(open_sealed(s, pt), ERR_AUTH);
	assert_memory_equal(pt, zero, sizeof(pt)); /* no unauthenticated plaintext leaks */
}

static void test_aead_round_trip(void **state)
{
	struct sealed s;
	uint8_t pt[40];

	(void)state;
	seal(&s);
	TU_OK(open_sealed(&s, pt));
	assert_memory_equal(pt, plain, sizeof(plain));
}

static void test_aead_tamper(void **state)
{
	struct sealed s, t;

	(void)state;
	seal(&s);

	t = s;
	t.ct[17] ^= 0x01; /* a ciphertext bit */
	assert_refused(&t);

	t = s;
	t.tag[15] ^= 0x80; /* a tag bit */
	assert_refused(&t);

	t = s;
	t.aad[0] ^= 0x01; /* the associated data */
	assert_refused(&t);

	t = s;
	t.nonce[0] ^= 0x01;
	assert_refused(&t);

	t = s;
	t.key[31] ^= 0x01;
	assert_refused(&t);
}

static void test_argon2id(void **state)
{
	static const uint8_t salt[16] = "saltsaltsaltsalt";
	const struct crypto_kdf_cost cost = {1, 64, 1};
	uint8_t a[32], b[32], c[32];

	(void)state;
	TU_OK(crypto_argon2id(a, sizeof(a), "password", 8, salt, sizeof(salt), &cost));
	TU_OK(crypto_argon2id(b, sizeof(b), "password", 8, salt, sizeof(salt), &cost));
	assert_memory_equal(a, b, sizeof(a));
	/* Known answer from an independent implementation (OpenSSL's Argon2id, version 0x13). */
	assert_hex(a, sizeof(a), "59bf4338b29483094be5f8da77db5f08f534481028d0f118fdebc9461c2d511d");

	TU_OK(crypto_argon2id(c, sizeof(c), "passwore", 8, salt, sizeof(salt), &cost));
	assert_memory_not_equal(a, c, sizeof(a));
	TU_OK(crypto_argon2id(c, sizeof(c), "password", 8, (const uint8_t *)"saltsaltsaltsalu",
		16, &cost));
	assert_memory_not_equal(a, c, sizeof(a));
	TU_OK(crypto_argon2id(c, sizeof(c), "password", 8, salt, sizeof(salt), &CRYPTO_KDF_LOW));
}

static void test_argon2id_cost_bounds(void **state)
{
	static const struct crypto_kdf_cost bad[] = {
		{0, 64, 1},				 /* no iteration */
		{CRYPTO_KDF_MAX_T + 1, 64, 1},		 /* too many iterations */
		{1, 7, 1},				 /* below 8 KiB per lane */
		{1, 63, 8},				 /* below 8 KiB per lane */
		{1, CRYPTO_KDF_MAX_M_KIB + 1, 1},	 /* too much memory */
		{1, 64, 0},				 /* no lane */
		{1, 1024, CRYPTO_KDF_MAX_P + 1},	 /* too many lanes */
		{UINT32_MAX, UINT32_MAX, UINT32_MAX},	 /* a hostile sidecar */
	};
	uint8_t out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(crypto_argon2id(out, sizeof(out), "pw", 2,
					 (const uint8_t *)"saltsaltsaltsalt", 16, &bad[i]),
			ERR_INVALID);
	}
	/* The production cost is inside the bounds. */
	assert_true(CRYPTO_KDF_DEFAULT.t <= CRYPTO_KDF_MAX_T);
	assert_true(CRYPTO_KDF_DEFAULT.m_kib <= CRYPTO_KDF_MAX_M_KIB);
	assert_true(CRYPTO_KDF_LOW.m_kib < CRYPTO_KDF_DEFAULT.m_kib);
}

static void test_ecdsa(void **state)
{
	struct buf priv = BUF_INIT(512), priv2 = BUF_INIT(512), pub = BUF_INIT(512);
	struct buf pub2 = BUF_INIT(512), sig = BUF_INIT(256);
	uint8_t hash[32], other[32];

	(void)state;
	crypto_sha256(hash, "change set header", 17);
	crypto_sha256(other, "change set header!", 18);
	TU_OK(crypto_ec_keygen(&priv));
	TU_OK(crypto_ec_keygen(&priv2));
	assert_true(priv.len > 0);
	assert_false(priv.len == priv2.len && !memcmp(priv.ptr, priv2.ptr, priv.len));
	TU_OK(crypto_ec_pubkey(&pub, (uint8_t *)priv.ptr, priv.len));
	TU_OK(crypto_ec_pubkey(&pub2, (uint8_t *)priv2.ptr, priv2.len));
	TU_OK(crypto_ec_sign(&sig, (uint8_t *)priv.ptr, priv.len, hash));

	TU_OK(crypto_ec_verify((uint8_t *)pub.ptr, pub.len, hash, (uint8_t *)sig.ptr, sig.len));
	assert_int_equal(crypto_ec_verify((uint8_t *)pub.ptr, pub.len, other, (uint8_t *)sig.ptr,
				 sig.len),
		ERR_AUTH);
	assert_int_equal(crypto_ec_verify((uint8_t *)pub2.ptr, pub2.len, hash,
				 (uint8_t *)sig.ptr, sig.len),
		ERR_AUTH);

	/* A flipped bit in s (the last byte keeps the DER structure intact). */
	sig.ptr[sig.len - 1] ^= 0x01;
	assert_int_equal(crypto_ec_verify((uint8_t *)pub.ptr, pub.len, hash, (uint8_t *)sig.ptr,
				 sig.len),
		ERR_AUTH);
	sig.ptr[sig.len - 1] ^= 0x01;
	TU_OK(crypto_ec_verify((uint8_t *)pub.ptr, pub.len, hash, (uint8_t *)sig.ptr, sig.len));
	/* A truncated signature. */
	assert_int_equal(crypto_ec_verify((uint8_t *)pub.ptr, pub.len, hash, (uint8_t *)sig.ptr,
				 sig.len - 1),
		ERR_AUTH);

	/* A byte after the signature, or after the key, is no longer it. */
	TU_OK(buf_putc(&sig, 0));
	assert_int_equal(
		crypto_ec_verify((uint8_t *)pub.ptr, pub.len, hash, (uint8_t *)sig.ptr, sig.len),
		ERR_AUTH);
	sig.len--;
	TU_OK(buf_putc(&pub, 0));
	assert_int_equal(
		crypto_ec_verify((uint8_t *)pub.ptr, pub.len, hash, (uint8_t *)sig.ptr, sig.len),
		ERR_INVALID);
	pub.len--;
	TU_OK(crypto_ec_verify((uint8_t *)pub.ptr, pub.len, hash, (uint8_t *)sig.ptr, sig.len));

	/* Garbage keys are refused as such. */
	assert_int_equal(crypto_ec_verify((const uint8_t *)"not a key", 9, hash,
				 (uint8_t *)sig.ptr, sig.len),
		ERR_INVALID);
	assert_int_equal(crypto_ec_pubkey(&pub2, (const uint8_t *)"not a key", 9), ERR_INVALID);
	assert_int_equal(crypto_ec_sign(&sig, (const uint8_t *)"not a key", 9, hash), ERR_INVALID);

	buf_wipe_release(&priv);
	buf_wipe_release(&priv2);
	buf_release(&pub);
	buf_release(&pub2);
	buf_release(&sig);
}

/*
 * Keys made before the P-256 code moved from mbedTLS to OpenSSL: a private key as
 * mbedtls_pk_write_key_der wrote it and the public key mbedtls_pk_write_pubkey_der wrote for
 * it.  The same public key bytes must come out (a seal commits to its successor's public key
 * byte for byte), the key must still sign, and a new key must still parse in mbedTLS (which
 * makes the CSRs and certificates).
 */
static void test_ecdsa_keys_from_mbedtls(void **state)
{
	static const char key_hex[] =
		"3077020101042017bd5c86e289d2653fb17c75e6ac290b4aab122c0396bec012"
		"41d3d40ed45ba0a00a06082a8648ce3d030107a1440342000460463085392a6c"
		"de56fdf8535b45e7cab16a0ce88ca4f9bc0f62f91ab94db95ff4d18ee0e014cf"
		"0feaddd80703e9a31fd2ad84661ac4ad75f4546bcdd1df25a9";
	static const char pub_hex[] =
		"3059301306072a8648ce3d020106082a8648ce3d030107034200046046308539"
		"2a6cde56fdf8535b45e7cab16a0ce88ca4f9bc0f62f91ab94db95ff4d18ee0e0"
		"14cf0feaddd80703e9a31fd2ad84661ac4ad75f4546bcdd1df25a9";
	uint8_t key[121], want[91], hash[CRYPTO_SHA256_LEN] = {7};
	struct buf pub = BUF_INIT(256), sig = BUF_INIT(256), fresh = BUF_INIT(256);
	mbedtls_pk_context pk;

	(void)state;
	TU_OK(crypto_unhex(key, sizeof(key), key_hex));
	TU_OK(crypto_unhex(want, sizeof(want), pub_hex));
	TU_OK(crypto_ec_pubkey(&pub, key, sizeof(key)));
	assert_int_equal(pub.len, sizeof(want));
	assert_memory_equal(pub.ptr, want, sizeof(want));
	TU_OK(crypto_ec_sign(&sig, key, sizeof(key), hash));
	TU_OK(crypto_ec_verify(want, sizeof(want), hash, (uint8_t *)sig.ptr, sig.len));
	TU_OK(crypto_ec_keygen(&fresh));
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_pk_parse_key(&pk, (uint8_t *)fresh.ptr, fresh.len, NULL, 0), 0);
	assert_int_equal(mbedtls_pk_get_type(&pk), MBEDTLS_PK_ECKEY);
	mbedtls_pk_free(&pk);
	buf_release(&pub);
	buf_release(&sig);
	buf_wipe_release(&fresh);
}

static void test_hex(void **state)
{
	static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	uint8_t back[6];
	char hex[13];

	(void)state;
	crypto_hex(hex, bytes, sizeof(bytes));
	assert_string_equal(hex, "00017f80abff");
	unhex(back, sizeof(back), hex);
	assert_memory_equal(back, bytes, sizeof(bytes));
	unhex(back, sizeof(back), "00017F80ABFF"); /* upper case is accepted */
	assert_memory_equal(back, bytes, sizeof(bytes));
	crypto_hex(hex, bytes, 0);
	assert_string_equal(hex, "");

	assert_int_equal(crypto_unhex(back, sizeof(back), "00017f80abf"), ERR_INVALID);
	assert_int_equal(crypto_unhex(back, sizeof(back), "00017f80abfff0"), ERR_INVALID);
	assert_int_equal(crypto_unhex(back, sizeof(back), "00017f80abfg"), ERR_INVALID);
	assert_int_equal(crypto_unhex(back, sizeof(back), "0x017f80abff"), ERR_INVALID);
	assert_int_equal(crypto_unhex(back, sizeof(back), " 0017f80abff"), ERR_INVALID);
	assert_int_equal(crypto_unhex(back, sizeof(back), ""), ERR_INVALID);
}

static void test_random_equal_wipe(void **state)
{
	uint8_t a[32], b[32], zero[32] = {0};

	(void)state;
	TU_OK(crypto_random(a, sizeof(a)));
	TU_OK(crypto_random(b, sizeof(b)));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));

	memcpy(b, a, sizeof(a));
	assert_true(crypto_equal(a, b, sizeof(a)));
	b[31] ^= 0x40;
	assert_false(crypto_equal(a, b, sizeof(a)));
	assert_true(crypto_equal(a, b, 31));

	crypto_wipe(a, sizeof(a));
	assert_memory_equal(a, zero, sizeof(a));
	crypto_wipe(NULL, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_hkdf_rfc5869_case1),
		cmocka_unit_test(test_hkdf_too_long),
		cmocka_unit_test(test_aead_known_answer),
		cmocka_unit_test(test_aead_round_trip),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_argon2id),
		cmocka_unit_test(test_argon2id_cost_bounds),
		cmocka_unit_test(test_ecdsa),
		cmocka_unit_test(test_ecdsa_keys_from_mbedtls),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_random_equal_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
