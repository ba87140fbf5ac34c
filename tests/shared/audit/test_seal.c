/*
 * tests/shared/audit/test_seal.c - forward-secure seals (seal.c, docs/AUDIT.md).
 *
 * A real store and real keys: a device log is sealed as the device seals it, then the chain is
 * checked as HQ and the offline verifier check it.  The attacks keep a copy of an old sealing
 * key, as an attacker who took an earlier copy of the device would, and use it after the device
 * has moved on: each forgery must be refused, naming the retired key.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "audit/seal.h"
#include "audit/trail.h"
#include "base/crypto.h"
#include "pki/pki.h"
#include "store/store.h"

#define DEV_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ORIGIN_A "ELP/" DEV_A
#define H MERKLE_HASH_LEN

static struct {
	struct buf ca_key, ca_cert, key_a, cert_a, key_b, cert_b;
} P;

struct fixture {
	struct store *s;
	char *dir;
	uint64_t next_seq;
};

static const uint8_t *u8(const struct buf *b)
{
	return (const uint8_t *)b->ptr;
}

static void issue(struct buf *key, struct buf *cert, const char *device,
	const struct pki_validity *v)
{
	struct buf csr = BUF_INIT(PKI_DER_MAX);
	uint8_t serial[PKI_SERIAL_LEN];

	TU_OK(crypto_ec_keygen(key));
	TU_OK(pki_csr_create(&csr, u8(key), key->len, device));
	TU_OK(pki_issue_device(cert, serial, u8(&P.ca_key), P.ca_key.len, u8(&P.ca_cert),
		P.ca_cert.len, u8(&csr), csr.len, "ELP", device, v));
	buf_release(&csr);
}

static int group_setup(void **state)
{
	struct pki_validity v;

	(void)state;
	pki_validity_days(&v, (int64_t)time(NULL), 30);
	buf_init(&P.ca_key, PKI_DER_MAX);
	buf_init(&P.ca_cert, PKI_DER_MAX);
	buf_init(&P.key_a, PKI_DER_MAX);
	buf_init(&P.cert_a, PKI_DER_MAX);
	buf_init(&P.key_b, PKI_DER_MAX);
	buf_init(&P.cert_b, PKI_DER_MAX);
	TU_OK(pki_ca_create(&P.ca_key, &P.ca_cert, "Test Org", &v));
	issue(&P.key_a, &P.cert_a, DEV_A, &v);
	issue(&P.key_b, &P.cert_b, DEV_B, &v);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	buf_wipe_release(&P.ca_key);
	buf_release(&P.ca_cert);
	buf_wipe_release(&P.key_a);
	buf_release(&P.cert_a);
	buf_wipe_release(&P.key_b);
	buf_release(&P.cert_b);
	return 0;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->s = tu_store_new(&fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	tu_store_done(fx->s, fx->dir);
	free(fx);
	return 0;
}

static void append(struct fixture *fx, int n)
{
	static const struct audit_origin origin = {DEV_A, "ELP"};
	struct audit_event ev = {"alice", "case.view", "ELP-26-7KQ4M2X", "success", NULL, 0, NULL,
		0, 0};
	int i;

	for (i = 0; i < n; i++) {
		TU_OK(audit_append(NULL, fx->s, &origin, &ev));
		fx->next_seq++;
	}
}

static int seal(struct fixture *fx)
{
	int made = -1;

	TU_OK(seal_own_log(&made, fx->s, ORIGIN_A, u8(&P.key_a), P.key_a.len, u8(&P.cert_a),
		P.cert_a.len));
	return made;
}

static void load(struct seal **out, size_t *n, struct fixture *fx)
{
	TU_OK(seal_load(out, n, fx->s,
		"SELECT idx, size, root, time, next_key, signature, cert FROM audit_seals ORDER BY idx",
		""));
}

/* The sealing key the device holds now (what an attacker copies). */
static void current_key(struct buf *out, int64_t *index, struct fixture *fx)
{
	TU_OK(store_query_int64(index, fx->s, "SELECT idx FROM audit_sealing_key", ""));
	TU_OK(store_query_bytes(out, fx->s, "SELECT key FROM audit_sealing_key", ""));
}

static void assert_error(int got, int code, const char *fragment)
{
	if (got != code)
		fail_msg("expected code %d, got %d (%s)", code, got, got ? err_msg() : "success");
	if (!strstr(err_msg(), fragment))
		fail_msg("'%s' is not in the message '%s'", fragment, err_msg());
}

/* The whole log's leaves and a trail_input over them with `seals`. */
static void trail_of(struct trail_input *in, struct buf *leaves, struct fixture *fx,
	const struct seal *seals, size_t n)
{
	uint64_t count = 0;

	TU_OK(checkpoint_own_leaves(leaves, &count, fx->s));
	memset(in, 0, sizeof(*in));
	in->origin = ORIGIN_A;
	in->leaves = u8(leaves);
	in->n = count;
	in->seals = seals;
	in->nseals = n;
	in->ca = u8(&P.ca_cert);
	in->calen = P.ca_cert.len;
}

/* A seal over the first `size` entries, signed with `key` (borrowed DER). */
static void forge(struct seal *out, struct fixture *fx, uint64_t index, uint64_t size,
	const struct buf *key)
{
	struct buf leaves = BUF_INIT((size_t)1 << 30), next = BUF_INIT(PKI_DER_MAX);
	uint64_t count = 0;

	TU_OK(checkpoint_own_leaves(&leaves, &count, fx->s));
	assert_true(size <= count);
	memset(out, 0, sizeof(*out));
	out->index = index;
	out->size = size;
	TU_OK(merkle_root(out->root, u8(&leaves), size));
	TU_OK(seal_sign(out, &next, ORIGIN_A, u8(key), key->len));
	buf_wipe_release(&next);
	buf_release(&leaves);
}

/* ---- the device side -------------------------------------------------------------------- */

static void test_seals_follow_the_log(void **state)
{
	struct fixture *fx = *state;
	struct buf leaves = BUF_INIT((size_t)1 << 30), key = BUF_INIT(PKI_DER_MAX);
	struct trail_input in;
	struct seal *seals = NULL;
	uint8_t root[H], head[H];
	size_t n = 0;
	int64_t index = -1;

	/* nothing to seal in an empty log, nor twice over the same entries */
	assert_int_equal(seal(fx), 0);
	TU_OK(seal_check_own_key(fx->s, NULL));
	append(fx, 3);
	assert_int_equal(seal(fx), 1);
	assert_int_equal(seal(fx), 0);
	append(fx, 2);
	assert_int_equal(seal(fx), 1);
	append(fx, 40);
	assert_int_equal(seal(fx), 1);

	load(&seals, &n, fx);
	assert_int_equal(n, 3);
	assert_int_equal(seals[0].index, 0);
	assert_int_equal(seals[0].size, 3);
	assert_int_equal(seals[1].size, 5);
	assert_int_equal(seals[2].size, 45);
	/* seal 0 carries the device certificate, the others none */
	assert_int_equal(seals[0].certlen, P.cert_a.len);
	assert_null(seals[1].cert);
	/* each head is the head of its prefix: the frontier kept with a seal is right */
	trail_of(&in, &leaves, fx, seals, n);
	TU_OK(trail_verify(root, &in));
	TU_OK(merkle_root(head, u8(&leaves), 45));
	assert_memory_equal(root, head, H);
	TU_OK(merkle_root(head, u8(&leaves), 5));
	assert_memory_equal(seals[1].root, head, H);
	/* one sealing key is kept: the next one, whose public half seal 2 names */
	assert_int_equal(tu_sql_int(fx->s, "SELECT count(*) FROM audit_sealing_key"), 1);
	current_key(&key, &index, fx);
	assert_int_equal(index, 3);
	TU_OK(seal_check_own_key(fx->s, &seals[2]));
	assert_error(seal_check_own_key(fx->s, &seals[1]), ERR_CORRUPT, "not the next seal");
	/* seals are append-only, like the log */
	assert_int_not_equal(store_exec(fx->s, "DELETE FROM audit_seals WHERE idx = 2"), 0);
	assert_int_not_equal(store_exec(fx->s, "UPDATE audit_seals SET size = 4 WHERE idx = 1"), 0);
	seal_free_list(seals, n);
	buf_wipe_release(&key);
	buf_release(&leaves);
}

static void test_a_replaced_sealing_key_is_found(void **state)
{
	struct fixture *fx = *state;
	struct buf other = BUF_INIT(PKI_DER_MAX);
	struct seal *seals = NULL;
	size_t n = 0;

	append(fx, 4);
	assert_int_equal(seal(fx), 1);
	load(&seals, &n, fx);
	TU_OK(crypto_ec_keygen(&other));
	TU_OK(store_run(fx->s, "UPDATE audit_sealing_key SET key = ?", "b", other.ptr, other.len));
	assert_error(seal_check_own_key(fx->s, &seals[0]), ERR_CORRUPT, "not the one seal 0 names");
	seal_free_list(seals, n);
	buf_wipe_release(&other);
}

/* ---- forgeries with old key material ---------------------------------------------------- */

static void test_old_key_after_evolution(void **state)
{
	struct fixture *fx = *state;
	struct buf old = BUF_INIT(PKI_DER_MAX), leaves = BUF_INIT((size_t)1 << 30);
	struct seal *seals = NULL, forged, *chain;
	struct trail_input in;
	uint8_t root[H];
	size_t n = 0;
	int64_t old_index = -1;

	append(fx, 3);
	assert_int_equal(seal(fx), 1);
	/* the attacker's copy: sealing key 1 */
	current_key(&old, &old_index, fx);
	assert_int_equal(old_index, 1);
	append(fx, 3);
	assert_int_equal(seal(fx), 1); /* seal 1: key 1 used and retired */
	append(fx, 3);
	assert_int_equal(seal(fx), 1); /* seal 2 */
	load(&seals, &n, fx);
	assert_int_equal(n, 3);

	/* a seal 3 made with key 1: refused, naming the retired key */
	append(fx, 3);
	forge(&forged, fx, 3, 12, &old);
	assert_error(seal_check_next(seals, n, &forged, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len),
		ERR_AUTH, "signed with sealing key 1, which was retired when it signed seal 1");
	/* ... and the same where the offline verifier meets it, appended to the trail */
	chain = calloc(n + 1, sizeof(*chain));
	assert_non_null(chain);
	memcpy(chain, seals, n * sizeof(*chain));
	chain[n] = forged;
	trail_of(&in, &leaves, fx, chain, n + 1);
	assert_error(trail_verify(root, &in), ERR_AUTH, "sealing key 1, which was retired");

	/* seal 1 made again with key 1: its signature holds (key 1 is the key seal 0 named), so
	 * HQ, which holds seal 1, refuses it as a second use of key 1 (seal_equal); in a trail,
	 * the real seal 2 no longer follows it */
	forge(&forged, fx, 1, 5, &old);
	assert_false(seal_equal(&forged, &seals[1]));
	TU_OK(seal_check_next(seals, 1, &forged, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len));
	chain[1] = forged;
	chain[2] = seals[2];
	trail_of(&in, &leaves, fx, chain, 3);
	assert_error(trail_verify(root, &in), ERR_AUTH, "seal 2 is not signed by the key seal 1");

	/* the enrolled device key signs only seal 0 */
	forge(&forged, fx, 3, 12, &P.key_a);
	assert_error(seal_check_next(seals, n, &forged, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len),
		ERR_AUTH, "signed with the enrolled device key, which signs only seal 0");
	/* a chain must be consecutive, and grow */
	forge(&forged, fx, 4, 12, &old);
	assert_error(seal_check_next(seals, n, &forged, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len),
		ERR_AUTH, "seal 4 follows seal 2");
	forge(&forged, fx, 3, 9, &old);
	assert_error(seal_check_next(seals, n, &forged, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len),
		ERR_AUTH, "no more than seal 2");
	free(chain);
	seal_free_list(seals, n);
	buf_wipe_release(&old);
	buf_release(&leaves);
}

static void test_seal_zero(void **state)
{
	struct fixture *fx = *state;
	struct seal *seals = NULL, s;
	size_t n = 0;
	uint8_t byte;

	append(fx, 2);
	assert_int_equal(seal(fx), 1);
	load(&seals, &n, fx);
	TU_OK(seal_check_next(NULL, 0, &seals[0], ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len));
	/* another device's certificate and signature */
	s = seals[0];
	forge(&s, fx, 0, 2, &P.key_b);
	s.cert = (uint8_t *)P.cert_b.ptr;
	s.certlen = P.cert_b.len;
	assert_error(seal_check_next(NULL, 0, &s, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len),
		ERR_AUTH, "signed by ELP/" DEV_B);
	/* the right certificate under a flipped signature */
	s = seals[0];
	byte = s.sig[s.siglen - 1];
	s.sig[s.siglen - 1] ^= 1;
	assert_error(seal_check_next(NULL, 0, &s, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len),
		ERR_AUTH, "seal 0 does not verify");
	s.sig[s.siglen - 1] = byte;
	/* no certificate, or a chain that does not start at 0 */
	s.cert = NULL;
	assert_error(seal_check_next(NULL, 0, &s, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len),
		ERR_AUTH, "carries no device certificate");
	s = seals[0];
	s.index = 2;
	assert_error(seal_check_next(NULL, 0, &s, ORIGIN_A, u8(&P.ca_cert), P.ca_cert.len),
		ERR_AUTH, "seals 0 to 1 are missing");
	seal_free_list(seals, n);
}

static void test_json(void **state)
{
	struct fixture *fx = *state;
	struct seal *seals = NULL, back;
	json_t *doc;
	size_t n = 0, i;

	append(fx, 2);
	assert_int_equal(seal(fx), 1);
	append(fx, 1);
	assert_int_equal(seal(fx), 1);
	load(&seals, &n, fx);
	for (i = 0; i < n; i++) {
		doc = seal_json(&seals[i]);
		assert_non_null(doc);
		TU_OK(seal_from_json(&back, doc));
		assert_true(seal_equal(&back, &seals[i]));
		seal_release(&back);
		/* every field is required and checked */
		json_object_set_new(doc, "root", json_string("abc"));
		assert_error(seal_from_json(&back, doc), ERR_INVALID, "malformed");
		json_object_set_new(doc, "root", json_string("00"));
		json_object_del(doc, "next_key");
		assert_error(seal_from_json(&back, doc), ERR_INVALID, "malformed");
		json_decref(doc);
	}
	doc = json_pack("{s:i}", "index", -1);
	assert_error(seal_from_json(&back, doc), ERR_INVALID, "malformed");
	json_decref(doc);
	seal_free_list(seals, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seals_follow_the_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_replaced_sealing_key_is_found, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_old_key_after_evolution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
