/*
 * tests/fuzz/fuzz_trail.c - libFuzzer target for trail_verify_file(), which checks an exported
 * audit trail that anyone may hand over ("audit verify --file F --ca CA").
 *
 * Each input is verified twice: against a CA made once with pki_ca_create(), under which no
 * signature in any input can hold, and against the CA of the HQ that made the seed exports
 * (embedded below), so that mutations of real exports reach every check behind the signatures.
 * Any error is a fine answer; a crash, leak or hang is a finding, and so is an acceptance that
 * contradicts the input:
 *   - a verified trail's size is its number of entries, its head is the RFC 6962 head of the
 *     entries' bytes (hashed here with merkle_root() over the exact JSON string bytes) and its
 *     origin the file's;
 *   - under the fresh CA only a trail with no entries and no signed statements verifies.
 *
 * The seed corpus in corpus/trail/ holds real exports made with the binaries (two devices of
 * two offices after two syncs, and HQ's own trail; `fieldsync-server audit export`), the same
 * export with an entry deleted, edited, reordered or appended, a checkpoint's head, size or
 * signature forged, another device's or HQ's signature in a checkpoint, a receipt of the other
 * device or moved to another size, statements out of order, a NUL inside an entry, an empty
 * trail and files that are no export.  New real exports need the CA below to be replaced with
 * the one GET /v1/ca of their HQ returns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/crypto.h"
#include "audit/merkle.h"
#include "pki/pki.h"
#include "audit/trail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The CA certificate (DER) of the HQ that made the exports in corpus/trail/. */
static const char corpus_ca_hex[] =
        "30820241308201e6a00302010202105fdf2a13f25a2a9a9f94934a65eec576300c06082a8648ce3d04030205"
        "00306d312e302c060355040a0c254f6666696365206f662050726f66657373696f6e616c20526573706f6e73"
        "6962696c697479313b303906035504030c324f6666696365206f662050726f66657373696f6e616c20526573"
        "706f6e736962696c697479206669656c6473796e63204341301e170d3236313132373231333131305a170d33"
        "36313132343231333631305a306d312e302c060355040a0c254f6666696365206f662050726f66657373696f"
        "6e616c20526573706f6e736962696c697479313b303906035504030c324f6666696365206f662050726f6665"
        "7373696f6e616c20526573706f6e736962696c697479206669656c6473796e632043413059301306072a8648"
        "ce3d020106082a8648ce3d0301070342000422d5dfe829fc328456745cdc4fdfd5eb1500639e3eb12217e386"
        "e290bf7534994b664ea9217138bfe8b7aa00bff0522731d66bded03d52a8980b4fc5c581ec1aa36630643012"
        "0603551d130101ff040830060101ff020100301d0603551d0e04160414da3d6c5dcdb5379813784daa6bc8ac"
        "d669bdb756301f0603551d23041830168014da3d6c5dcdb5379813784daa6bc8acd669bdb756300e0603551d"
        "0f0101ff040403020106300c06082a8648ce3d0403020500034700304402203654809e7e031e8ba290cea37a"
        "42593e33407a58ddc86568074877471316a31102207b97517d1c2ecb1e238cfccf861ee0a04fc9188ed8b5e6"
        "444d3e3a0e1fd16149";

static struct buf ca_key = BUF_INIT(PKI_DER_MAX), ca_cert = BUF_INIT(PKI_DER_MAX);
static uint8_t corpus_ca[sizeof(corpus_ca_hex) / 2];

static void init(void)
{
	struct pki_validity v;

	if (ca_cert.len)
		return;
	pki_validity_days(&v, (int64_t)time(NULL), 30);
	if (pki_ca_create(&ca_key, &ca_cert, "Fuzz Org", &v) != 0 ||
	        crypto_unhex(corpus_ca, sizeof(corpus_ca), corpus_ca_hex) != 0)
		abort();
}

/* What the file must verify to, if it verifies: its entries' count and head, and its origin. */
struct truth {
	uint64_t n;
	uint8_t root[MERKLE_HASH_LEN];
	const char *origin;
	size_t statements;
};

/* 0 if the input is a JSON object with an array of strings as entries (else nothing to check). */
static int truth_of(struct truth *t, json_t *doc)
{
	json_t *entries = json_object_get(doc, "entries");
	struct buf leaves = BUF_INIT(SIZE_MAX);
	size_t i;
	int error = json_is_array(entries) ? 0 : -1;

	for (i = 0; !error && i < json_array_size(entries); i++) {
		json_t *e = json_array_get(entries, i);
		uint8_t leaf[MERKLE_HASH_LEN];

		if (!json_is_string(e))
			error = -1;
		else
			merkle_leaf_hash(leaf, json_string_value(e), json_string_length(e));
		if (!error)
			error = buf_put(&leaves, leaf, MERKLE_HASH_LEN);
	}
	if (!error) {
		t->n = json_array_size(entries);
		error = merkle_root(t->root, (const uint8_t *)leaves.ptr, t->n);
	}
	t->origin = json_string_value(json_object_get(doc, "origin"));
	t->statements = json_array_size(json_object_get(doc, "checkpoints")) +
	                json_array_size(json_object_get(doc, "receipts"));
	buf_release(&leaves);
	return error;
}

static void check(const struct truth *t, int known, int fresh_ca, const uint8_t *data, size_t size,
        const uint8_t *ca, size_t calen)
{
	uint8_t root[MERKLE_HASH_LEN];
	char origin[128];
	uint64_t n = 0;

	if (trail_verify_file(&n, root, origin, sizeof(origin), (const char *)data, size, ca, calen,
		    NULL, NULL) != 0)
		return;
	if (!known || n != t->n || memcmp(root, t->root, MERKLE_HASH_LEN) != 0 || !t->origin ||
	        strncmp(origin, t->origin, sizeof(origin) - 1) != 0)
		abort();
	if (fresh_ca && (n != 0 || t->statements != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, 0, NULL);
	struct truth t;
	int known;

	init();
	memset(&t, 0, sizeof(t));
	known = doc && truth_of(&t, doc) == 0;
	check(&t, known, 1, data, size, (const uint8_t *)ca_cert.ptr, ca_cert.len);
	check(&t, known, 0, data, size, corpus_ca, sizeof(corpus_ca));
	json_decref(doc);
	return 0;
}
