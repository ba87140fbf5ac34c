/* tests/shared/store/test_keyslot.c - wrapped keys and failure counters in the sidecar. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/keyslot.h"

#define PASS "correct horse battery"
#define PASS2 "another long passphrase"

struct fixture {
	char *dir;
	char *path;
	uint8_t key[CRYPTO_KEY_LEN];
	struct keyslot_file *f;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->dir = tu_tmpdir();
	fx->path = tu_path(fx->dir, "keyslots.json");
	TU_OK(crypto_random(fx->key, sizeof(fx->key)));
	TU_OK(keyslot_file_new(&fx->f));
	TU_OK(keyslot_set(fx->f, "alice", PASS, strlen(PASS), fx->key, &CRYPTO_KDF_LOW));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	keyslot_file_free(fx->f);
	tu_rmrf(fx->dir);
	free(fx->dir);
	free(fx->path);
	free(fx);
	return 0;
}

static int unlock(struct keyslot_file *f, const char *user, const char *pass)
{
	uint8_t key[CRYPTO_KEY_LEN];
	int rc;

	memset(key, 0xaa, sizeof(key));
	rc = keyslot_unlock(key, f, user, pass, strlen(pass));
	if (rc) {
		uint8_t untouched[CRYPTO_KEY_LEN];

		memset(untouched, 0xaa, sizeof(untouched));
		assert_memory_equal(key, untouched, sizeof(key)); /* *out only on success */
	}
	return rc;
}

static void test_set_unlock(void **state)
{
	struct fixture *fx = *state;
	uint8_t key[CRYPTO_KEY_LEN];

	TU_OK(keyslot_unlock(key, fx->f, "alice", PASS, strlen(PASS)));
	assert_memory_equal(key, fx->key, sizeof(key));
	assert_int_equal(unlock(fx->f, "alice", "correct horse battery!"), ERR_AUTH);
	assert_int_equal(unlock(fx->f, "alice", ""), ERR_AUTH);
	assert_int_equal(unlock(fx->f, "mallory", PASS), ERR_NOTFOUND);

	/* Setting again replaces the slot: the old passphrase stops working. */
	TU_OK(keyslot_set(fx->f, "alice", PASS2, strlen(PASS2), fx->key, &CRYPTO_KDF_LOW));
	assert_int_equal(fx->f->nslots, 1);
	assert_int_equal(unlock(fx->f, "alice", PASS), ERR_AUTH);
	TU_OK(unlock(fx->f, "alice", PASS2));

	assert_int_equal(keyslot_set(fx->f, "", PASS, strlen(PASS), fx->key, &CRYPTO_KDF_LOW),
		ERR_INVALID);
}

static void assert_slot_equal(const struct keyslot *a, const struct keyslot *b)
{
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->user, b->user);
	assert_int_equal(a->cost.t, b->cost.t);
	assert_int_equal(a->cost.m_kib, b->cost.m_kib);
	assert_int_equal(a->cost.p, b->cost.p);
	assert_memory_equal(a->salt, b->salt, sizeof(a->salt));
	assert_memory_equal(a->nonce, b->nonce, sizeof(a->nonce));
	assert_memory_equal(a->wrapped, b->wrapped, sizeof(a->wrapped));
	assert_memory_equal(a->tag, b->tag, sizeof(a->tag));
	assert_int_equal(a->failed, b->failed);
	assert_int_equal(a->locked_until, b->locked_until);
}

static void test_save_load(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *g = NULL;
	char hex[2 * CRYPTO_KEY_LEN + 1];
	uint8_t key[CRYPTO_KEY_LEN];

	TU_OK(keyslot_set(fx->f, "bob", PASS2, strlen(PASS2), fx->key, &CRYPTO_KDF_LOW));
	TU_OK(keyslot_save(fx->f, fx->path));
	assert_int_equal(tu_mode(fx->path), 0600);

	/* No secret in the file: neither the key (raw or hex) nor a passphrase. */
	crypto_hex(hex, fx->key, sizeof(fx->key));
	assert_false(tu_file_contains(fx->path, fx->key, sizeof(fx->key)));
	assert_false(tu_file_contains(fx->path, hex, strlen(hex)));
	assert_false(tu_file_contains(fx->path, PASS, strlen(PASS)));
	assert_false(tu_file_contains(fx->path, PASS2, strlen(PASS2)));
	/* ...but the method does find what is there. */
	assert_true(tu_file_contains(fx->path, "alice", 5));
	crypto_hex(hex, fx->f->db_id, sizeof(fx->f->db_id));
	assert_true(tu_file_contains(fx->path, hex, strlen(hex)));

	TU_OK(keyslot_load(&g, fx->path));
	assert_memory_equal(g->db_id, fx->f->db_id, sizeof(g->db_id));
	assert_int_equal(g->nslots, 2);
	assert_slot_equal(keyslot_find(g, "bob"), keyslot_find(fx->f, "bob"));
	TU_OK(keyslot_unlock(key, g, "alice", PASS, strlen(PASS)));
	assert_memory_equal(key, fx->key, sizeof(key));
	TU_OK(keyslot_unlock(key, g, "bob", PASS2, strlen(PASS2)));
	assert_memory_equal(key, fx->key, sizeof(key));
	keyslot_file_free(g);

	g = NULL;
	assert_int_equal(keyslot_load(&g, "/nonexistent/keyslots.json"), ERR_NOTFOUND);
	assert_null(g);
}

static void test_slot_bound_to_database(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *other = NULL;

	/* The same slot bytes under another database id do not unwrap. */
	TU_OK(keyslot_file_new(&other));
	assert_memory_not_equal(other->db_id, fx->f->db_id, sizeof(other->db_id));
	other->slots = calloc(1, sizeof(*other->slots));
	assert_non_null(other->slots);
	other->slots[0] = fx->f->slots[0];
	other->nslots = 1;
	assert_int_equal(unlock(other, "alice", PASS), ERR_AUTH);
	memcpy(other->db_id, fx->f->db_id, sizeof(other->db_id));
	TU_OK(unlock(other, "alice", PASS)); /* the control: same bytes, right id */

	/* Nor under another user's name, nor with other KDF parameters (no downgrade). */
	snprintf(other->slots[0].user, sizeof(other->slots[0].user), "mallory");
	assert_int_equal(unlock(other, "mallory", PASS), ERR_AUTH);
	other->slots[0] = fx->f->slots[0];
	other->slots[0].cost.t = 2;
	assert_int_equal(unlock(other, "alice", PASS), ERR_AUTH);
	keyslot_file_free(other);
}

/* Load the saved sidecar as JSON, let `edit` change it, write it back, then load it. */
static int load_edited(struct fixture *fx, void (*edit)(json_t *root))
{
	struct keyslot_file *g = NULL;
	json_error_t jerr;
	json_t *root;
	int rc;

	TU_OK(keyslot_save(fx->f, fx->path));
	root = json_load_file(fx->path, 0, &jerr);
	assert_non_null(root);
	edit(root);
	assert_int_equal(json_dump_file(root, fx->path, JSON_INDENT(1)), 0);
	json_decref(root);
	rc = keyslot_load(&g, fx->path);
	keyslot_file_free(g);
	return rc;
}

static json_t *slot0(json_t *root)
{
	return json_array_get(json_object_get(root, "slots"), 0);
}

static void edit_nothing(json_t *root)
{
	(void)root;
}

static void edit_bad_hex(json_t *root)
{
	json_object_set_new(slot0(root), "salt", json_string("zz112233445566778899aabbccddeeff"));
}

static void edit_short_tag(json_t *root)
{
	json_object_set_new(slot0(root), "tag", json_string("00112233"));
}

static void edit_missing_field(json_t *root)
{
	json_object_del(slot0(root), "wrapped");
}

static void edit_huge_memory(json_t *root)
{
	json_object_set_new(slot0(root), "m", json_integer((json_int_t)1 << 40));
}

static void edit_huge_time(json_t *root)
{
	json_object_set_new(slot0(root), "t", json_integer(1000000));
}

static void edit_zero_lanes(json_t *root)
{
	json_object_set_new(slot0(root), "p", json_integer(0));
}

static void edit_cost_as_string(json_t *root)
{
	json_object_set_new(slot0(root), "t", json_string("1"));
}

static void edit_format(json_t *root)
{
	json_object_set_new(root, "format", json_string("something-else"));
}

static void edit_version(json_t *root)
{
	json_object_set_new(root, "version", json_integer(2));
}

static void edit_duplicate_user(json_t *root)
{
	json_array_append_new(json_object_get(root, "slots"), json_deep_copy(slot0(root)));
}

static void edit_slots_not_array(json_t *root)
{
	json_object_set_new(root, "slots", json_object());
}

static void edit_db_id(json_t *root)
{
	json_object_set_new(root, "db_id", json_string("00"));
}

static void test_tampered_file(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(load_edited(fx, edit_nothing), 0); /* the control */
	assert_int_equal(load_edited(fx, edit_bad_hex), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_short_tag), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_missing_field), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_huge_memory), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_huge_time), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_zero_lanes), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_cost_as_string), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_format), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_version), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_duplicate_user), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_slots_not_array), ERR_CORRUPT);
	assert_int_equal(load_edited(fx, edit_db_id), ERR_CORRUPT);
}

static void test_malformed_files(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *g = NULL;
	char *big;

	tu_write_file(fx->path, "{\"format\": ", 11);
	assert_int_equal(keyslot_load(&g, fx->path), ERR_CORRUPT);
	tu_write_file(fx->path, "[]", 2);
	assert_int_equal(keyslot_load(&g, fx->path), ERR_CORRUPT);
	tu_write_file(fx->path, "", 0);
	assert_int_equal(keyslot_load(&g, fx->path), ERR_CORRUPT);

	big = calloc(1, KEYSLOT_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', KEYSLOT_FILE_MAX + 1);
	tu_write_file(fx->path, big, KEYSLOT_FILE_MAX + 1);
	free(big);
	assert_int_equal(keyslot_load(&g, fx->path), ERR_TOOBIG);
	assert_null(g);
}

static void test_lockout(void **state)
{
	struct fixture *fx = *state;
	const int64_t now = 1800000000;
	struct keyslot_file *g = NULL;
	int i;

	for (i = 0; i < KEYSLOT_LOCK_AFTER - 1; i++)
		TU_OK(keyslot_record_failure(fx->f, "alice", now + i, "wrong passphrase"));
	assert_int_equal(keyslot_locked_for(fx->f, "alice", now + 4), 0);
	assert_int_equal(keyslot_find(fx->f, "alice")->failed, KEYSLOT_LOCK_AFTER - 1);

	TU_OK(keyslot_record_failure(fx->f, "alice", now + 10, "wrong passphrase"));
	assert_int_equal(keyslot_locked_for(fx->f, "alice", now + 10), KEYSLOT_LOCK_SECONDS);
	assert_int_equal(keyslot_locked_for(fx->f, "alice", now + 70), KEYSLOT_LOCK_SECONDS - 60);
	assert_int_equal(keyslot_locked_for(fx->f, "alice", now + 10 + KEYSLOT_LOCK_SECONDS), 0);
	assert_int_equal(keyslot_locked_for(fx->f, "bob", now), 0);
	assert_int_equal(fx->f->nfailures, KEYSLOT_LOCK_AFTER);
	assert_string_equal(fx->f->failures[0].user, "alice");
	assert_string_equal(fx->f->failures[0].reason, "wrong passphrase");
	assert_int_equal(fx->f->failures[4].time, now + 10);
	assert_string_not_equal(fx->f->failures[0].id, fx->f->failures[1].id);

	/* The lock survives a save and a load. */
	TU_OK(keyslot_save(fx->f, fx->path));
	TU_OK(keyslot_load(&g, fx->path));
	assert_int_equal(keyslot_locked_for(g, "alice", now + 10), KEYSLOT_LOCK_SECONDS);
	assert_int_equal(g->nfailures, KEYSLOT_LOCK_AFTER);
	assert_string_equal(g->failures[2].id, fx->f->failures[2].id);
	keyslot_file_free(g);

	/* each says whether it changed anything: log-on rewrites the file only then */
	assert_int_equal(keyslot_reset_failures(fx->f, "alice"), 1);
	assert_int_equal(keyslot_locked_for(fx->f, "alice", now + 10), 0);
	assert_int_equal(keyslot_find(fx->f, "alice")->failed, 0);
	assert_int_equal(fx->f->nfailures, KEYSLOT_LOCK_AFTER); /* records wait for the audit log */
	assert_int_equal(keyslot_reset_failures(fx->f, "alice"), 0);
	assert_int_equal(keyslot_reset_failures(fx->f, "nobody"), 0);
	assert_int_equal(keyslot_clear_failures(fx->f), 1);
	assert_int_equal(fx->f->nfailures, 0);
	assert_int_equal(keyslot_clear_failures(fx->f), 0);
	/* a file saved without failures loads without any */
	TU_OK(keyslot_save(fx->f, fx->path));
	TU_OK(keyslot_load(&g, fx->path));
	assert_int_equal(keyslot_clear_failures(g), 0);
	assert_int_equal(keyslot_reset_failures(g, "alice"), 0);
	keyslot_file_free(g);
}

static void test_failure_records_capped(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *g = NULL;
	int i;

	/* An unknown user has no slot to lock but still leaves records. */
	for (i = 0; i < KEYSLOT_MAX_FAILURES + 7; i++)
		TU_OK(keyslot_record_failure(fx->f, "mallory", 1000 + i, "unknown user"));
	assert_int_equal(fx->f->nfailures, KEYSLOT_MAX_FAILURES);
	assert_int_equal(fx->f->dropped, 7);
	/* The oldest were dropped, the newest kept. */
	assert_int_equal(fx->f->failures[0].time, 1000 + 7);
	assert_int_equal(fx->f->failures[KEYSLOT_MAX_FAILURES - 1].time,
		1000 + KEYSLOT_MAX_FAILURES + 6);
	assert_int_equal(keyslot_find(fx->f, "alice")->failed, 0);

	TU_OK(keyslot_save(fx->f, fx->path));
	TU_OK(keyslot_load(&g, fx->path));
	assert_int_equal(g->nfailures, KEYSLOT_MAX_FAILURES);
	assert_int_equal(g->dropped, 7);
	keyslot_file_free(g);

	keyslot_clear_failures(fx->f);
	assert_int_equal(fx->f->nfailures, 0);
	assert_int_equal(fx->f->dropped, 0);
}

/* Whatever was typed as a name, the record survives a save and a load. */
static void test_failure_names_kept(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *g = NULL;
	char longname[200];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	longname[KEYSLOT_USER_MAX - 1] = '\xc3'; /* a character cut in two by the cap */
	longname[KEYSLOT_USER_MAX] = '\xa9';
	TU_OK(keyslot_record_failure(fx->f, "bad\xff\xfename", 1, "unknown user"));
	TU_OK(keyslot_record_failure(fx->f, "\x1b[31mred", 2, "unknown user"));
	TU_OK(keyslot_record_failure(fx->f, "", 3, "unknown user"));
	TU_OK(keyslot_record_failure(fx->f, longname, 4, "unknown user"));
	TU_OK(keyslot_save(fx->f, fx->path));
	TU_OK(keyslot_load(&g, fx->path));
	assert_int_equal(g->nfailures, 4);
	assert_string_equal(g->failures[0].user, "bad??name");
	assert_string_equal(g->failures[1].user, "?[31mred");
	assert_string_equal(g->failures[2].user, "?");
	assert_int_equal(strlen(g->failures[3].user), KEYSLOT_USER_MAX);
	assert_int_equal(g->failures[3].user[KEYSLOT_USER_MAX - 1], '?');
	assert_int_equal(g->failures[3].time, 4);
	keyslot_file_free(g);
}

static void test_remove(void **state)
{
	struct fixture *fx = *state;

	TU_OK(keyslot_set(fx->f, "bob", PASS2, strlen(PASS2), fx->key, &CRYPTO_KDF_LOW));
	TU_OK(keyslot_set(fx->f, "carol", PASS2, strlen(PASS2), fx->key, &CRYPTO_KDF_LOW));
	TU_OK(keyslot_remove(fx->f, "bob"));
	assert_int_equal(fx->f->nslots, 2);
	assert_null(keyslot_find(fx->f, "bob"));
	assert_int_equal(unlock(fx->f, "bob", PASS2), ERR_NOTFOUND);
	assert_int_equal(keyslot_remove(fx->f, "bob"), ERR_NOTFOUND);
	/* The others are intact (the array was compacted, not corrupted). */
	TU_OK(unlock(fx->f, "alice", PASS));
	TU_OK(unlock(fx->f, "carol", PASS2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_unlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_bound_to_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_records_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_names_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
