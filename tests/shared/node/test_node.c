/* tests/shared/node/test_node.c - node directories, log-on, lock-out and users. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/keyslot.h"
#include "node/node.h"
#include "store/odb.h"
#include "node/users.h"

#define PA "alice passphrase 1"
#define PB "bob passphrase 22"
#define PB2 "bob passphrase new"
#define PC "carol passphrase 3"

struct fixture {
	char *dir;  /* temporary parent */
	char *home; /* the node directory inside it */
	char *db;
	char *wal;
	char *slots;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->dir = tu_tmpdir();
	fx->home = tu_path(fx->dir, "node");
	fx->db = tu_path(fx->home, NODE_DB_NAME);
	fx->wal = tu_path(fx->home, NODE_DB_NAME "-wal");
	fx->slots = tu_path(fx->home, NODE_SLOTS_NAME);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	tu_rmrf(fx->dir);
	free(fx->dir);
	free(fx->home);
	free(fx->db);
	free(fx->wal);
	free(fx->slots);
	free(fx);
	return 0;
}

static void init_node(struct fixture *fx)
{
	struct node *n = NULL;

	TU_OK(node_init(&n, fx->home, "ELP", "alice", PA, strlen(PA), &CRYPTO_KDF_LOW));
	node_free(n);
}

static int open_as(struct node **out, struct fixture *fx, const char *user, const char *pass)
{
	*out = NULL;
	return node_open(out, fx->home, user, pass, strlen(pass));
}

/* Log on, or fail the test. */
static struct node *logon(struct fixture *fx, const char *user, const char *pass)
{
	struct node *n = NULL;

	TU_OK(open_as(&n, fx, user, pass));
	return n;
}

static long long audit_count(struct node *n, const char *user, const char *action,
	const char *target, const char *outcome)
{
	sqlite3_stmt *st = NULL;
	long long v;

	TU_OK(store_prepare(&st, n->store,
		"SELECT count(*) FROM audit_log WHERE user = ? AND action = ? AND target = ?"
		" AND outcome = ?"));
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, outcome, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_init_open(void **state)
{
	struct fixture *fx = *state;
	struct node *n = NULL;
	uint64_t entries = 0;
	size_t i;

	TU_OK(node_init(&n, fx->home, "ELP", "alice", PA, strlen(PA), &CRYPTO_KDF_LOW));
	assert_string_equal(n->user, "alice");
	assert_string_equal(n->role, "admin");
	assert_string_equal(n->office, "ELP");
	assert_int_equal(strlen(n->device), NODE_DEVICE_MAX);
	for (i = 0; i < strlen(n->device); i++)
		assert_non_null(strchr("0123456789abcdef", n->device[i]));
	assert_int_equal(audit_count(n, "alice", "node.init", "ELP", "success"), 1);
	assert_int_equal(audit_count(n, "alice", "user.add", "alice", "success"), 1);
	node_free(n);

	assert_int_equal(tu_mode(fx->home), 0700);
	assert_int_equal(tu_mode(fx->db), 0600);
	assert_int_equal(tu_mode(fx->slots), 0600);

	n = logon(fx, "alice", PA);
	assert_string_equal(n->role, "admin");
	assert_int_equal(audit_count(n, "alice", "logon", "alice", "success"), 1);
	TU_OK(audit_check(&entries, n->store));
	assert_int_equal(entries, 3);
	node_free(n);
	node_free(NULL);

	/* A second init over it is refused and leaves it working. */
	assert_int_equal(node_init(&n, fx->home, "ELP", "mallory", PB, strlen(PB),
				 &CRYPTO_KDF_LOW),
		ERR_EXISTS);
	node_free(logon(fx, "alice", PA));
}

static void test_init_refuses_bad_input(void **state)
{
	struct fixture *fx = *state;
	struct node *n = NULL;

	assert_int_equal(node_init(&n, fx->home, "ELP", "alice", "short", 5, &CRYPTO_KDF_LOW),
		ERR_INVALID);
	assert_int_equal(node_init(&n, fx->home, "elp", "alice", PA, strlen(PA), &CRYPTO_KDF_LOW),
		ERR_INVALID);
	assert_int_equal(node_init(&n, fx->home, "ELP", "Alice", PA, strlen(PA), &CRYPTO_KDF_LOW),
		ERR_INVALID);
	assert_int_equal(node_init(&n, fx->home, "ELP", "alice", "nul \0 inside pass", 18,
				 &CRYPTO_KDF_LOW),
		ERR_INVALID);
	assert_null(n);
	assert_false(tu_exists(fx->home)); /* nothing created */
	assert_int_equal(open_as(&n, fx, "alice", PA), ERR_NOTFOUND);
	assert_null(n);
}

static uint8_t *snapshot(const char *path, size_t *len)
{
	uint8_t *data = tu_read_file(path, len);

	assert_non_null(data);
	return data;
}

static void assert_same_file(const char *path, const uint8_t *before, size_t len)
{
	size_t now_len = 0;
	uint8_t *now = snapshot(path, &now_len);

	assert_int_equal(now_len, len);
	assert_memory_equal(now, before, len);
	free(now);
}

static void test_wrong_passphrase(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *f = NULL;
	struct node *n = NULL;
	uint8_t *db, *slots;
	size_t dblen = 0, slotslen = 0;
	int entries;

	init_node(fx);
	db = snapshot(fx->db, &dblen);
	slots = snapshot(fx->slots, &slotslen);
	entries = tu_dir_count(fx->home);

	assert_int_equal(open_as(&n, fx, "alice", "alice passphrase 2"), ERR_AUTH);
	assert_null(n);
	assert_non_null(strstr(err_msg(), "4 attempts left"));
	assert_int_equal(open_as(&n, fx, "nobody", PA), ERR_AUTH);

	/* The database is untouched; only the sidecar counted the failures. */
	assert_same_file(fx->db, db, dblen);
	assert_false(tu_exists(fx->wal));
	assert_int_equal(tu_dir_count(fx->home), entries);
	assert_false(tu_file_contains(fx->slots, slots, slotslen));
	TU_OK(keyslot_load(&f, fx->slots));
	assert_int_equal(keyslot_find(f, "alice")->failed, 1);
	assert_int_equal(f->nfailures, 2);
	assert_string_equal(f->failures[0].reason, "wrong passphrase");
	assert_string_equal(f->failures[1].user, "nobody");
	assert_string_equal(f->failures[1].reason, "unknown user");
	keyslot_file_free(f);
	free(db);
	free(slots);

	/* The next good log-on moves them into the audit log and resets the count. */
	n = logon(fx, "alice", PA);
	assert_int_equal(audit_count(n, "alice", "logon", "alice", "failure"), 1);
	assert_int_equal(audit_count(n, "nobody", "logon", "nobody", "failure"), 1);
	node_free(n);
	TU_OK(keyslot_load(&f, fx->slots));
	assert_int_equal(keyslot_find(f, "alice")->failed, 0);
	assert_int_equal(f->nfailures, 0);
	keyslot_file_free(f);
}

/* A failed log-on under any name is recorded and audited, and breaks nothing. */
static void test_odd_user_names(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *f = NULL;
	struct node *n = NULL;

	init_node(fx);
	assert_int_equal(open_as(&n, fx, "bad\xffname", PA), ERR_AUTH);
	assert_int_equal(open_as(&n, fx, "", PA), ERR_AUTH);
	assert_int_equal(open_as(&n, fx, "esc\x1b[2Jape", PA), ERR_AUTH);
	TU_OK(keyslot_load(&f, fx->slots));
	assert_int_equal(f->nfailures, 3);
	keyslot_file_free(f);

	n = logon(fx, "alice", PA);
	assert_int_equal(audit_count(n, "bad?name", "logon", "bad?name", "failure"), 1);
	assert_int_equal(audit_count(n, "?", "logon", "?", "failure"), 1);
	assert_int_equal(audit_count(n, "esc?[2Jape", "logon", "esc?[2Jape", "failure"), 1);
	node_free(n);
}

static void test_lockout(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *f = NULL;
	struct node *n = NULL;
	uint8_t *db;
	size_t dblen = 0;
	int i;

	init_node(fx);
	db = snapshot(fx->db, &dblen);
	for (i = 0; i < KEYSLOT_LOCK_AFTER - 1; i++)
		assert_int_equal(open_as(&n, fx, "alice", "not the passphrase"), ERR_AUTH);
	assert_int_equal(open_as(&n, fx, "alice", "not the passphrase"), ERR_LOCKED);
	/* Locked: even the right passphrase is refused, and nothing is opened. */
	assert_int_equal(open_as(&n, fx, "alice", PA), ERR_LOCKED);
	assert_null(n);
	assert_non_null(strstr(err_msg(), "locked"));
	assert_same_file(fx->db, db, dblen);
	free(db);

	TU_OK(keyslot_load(&f, fx->slots));
	assert_true(keyslot_locked_for(f, "alice", (int64_t)time(NULL)) > 0);
	assert_true(keyslot_locked_for(f, "alice", (int64_t)time(NULL)) <= KEYSLOT_LOCK_SECONDS);
	assert_int_equal(f->nfailures, KEYSLOT_LOCK_AFTER + 1);
	/* Ten minutes pass. */
	keyslot_find(f, "alice")->locked_until = (int64_t)time(NULL) - 1;
	TU_OK(keyslot_save(f, fx->slots));
	keyslot_file_free(f);

	n = logon(fx, "alice", PA);
	assert_int_equal(audit_count(n, "alice", "logon", "alice", "failure"),
		KEYSLOT_LOCK_AFTER + 1);
	assert_int_equal(tu_sql_int(n->store, "SELECT count(*) FROM audit_log WHERE"
					      " action = 'logon' AND outcome = 'failure' AND"
					      " entry LIKE '%attempt while locked%'"),
		1);
	assert_int_equal(tu_sql_int(n->store, "SELECT count(*) FROM audit_log WHERE"
					      " action = 'logon' AND outcome = 'failure' AND"
					      " entry LIKE '%wrong passphrase%'"),
		KEYSLOT_LOCK_AFTER);
	node_free(n);

	/* Moved once: the next log-on adds no failure entries. */
	n = logon(fx, "alice", PA);
	assert_int_equal(audit_count(n, "alice", "logon", "alice", "failure"),
		KEYSLOT_LOCK_AFTER + 1);
	assert_int_equal(audit_count(n, "alice", "logon", "alice", "success"), 2);
	node_free(n);
	TU_OK(keyslot_load(&f, fx->slots));
	assert_int_equal(keyslot_locked_for(f, "alice", (int64_t)time(NULL)), 0);
	assert_int_equal(f->nfailures, 0);
	keyslot_file_free(f);
}

/*
 * The database file, read with the node closed (WAL checkpointed).  Re-encrypting it would
 * rewrite every page under a fresh IV; an ordinary change rewrites a few.  Page 1 holds the
 * schema and header: it changes only if the file grows or shrinks, which the few audit entries
 * of one step do not cause here.
 */
struct db_image {
	uint8_t *data;
	size_t len;
};

static void db_image(struct db_image *img, struct fixture *fx)
{
	assert_false(tu_exists(fx->wal));
	img->data = snapshot(fx->db, &img->len);
	assert_true(img->len >= 4096 && img->len % 4096 == 0);
}

static void assert_not_reencrypted(struct db_image *before, struct fixture *fx)
{
	struct db_image after;
	size_t p, changed = 0, pages;

	db_image(&after, fx);
	assert_int_equal(after.len, before->len);
	assert_memory_equal(after.data, before->data, 4096); /* page 1 */
	pages = after.len / 4096;
	for (p = 0; p < pages; p++)
		changed += memcmp(after.data + p * 4096, before->data + p * 4096, 4096) != 0;
	assert_true(changed > 0);	     /* the step did write something */
	assert_true(changed <= pages / 2); /* but rewrote few pages */
	free(after.data);
	free(before->data);
	before->data = NULL;
}

struct names {
	char list[256];
};

static int name_cb(void *ctx, const struct users_row *row)
{
	struct names *nm = ctx;
	size_t used = strlen(nm->list);

	snprintf(nm->list + used, sizeof(nm->list) - used, "%s%s:%s", used ? " " : "", row->name,
		row->role);
	return 0;
}

static void test_users_lifecycle(void **state)
{
	struct fixture *fx = *state;
	struct db_image img;
	struct node *n = NULL;
	struct names nm;

	init_node(fx);
	db_image(&img, fx);
	n = logon(fx, "alice", PA);
	TU_OK(users_add(n, PA, strlen(PA), "bob", "investigator", PB, strlen(PB),
		&CRYPTO_KDF_LOW));
	assert_int_equal(audit_count(n, "alice", "user.add", "bob", "success"), 1);
	node_free(n);
	assert_not_reencrypted(&img, fx);

	n = logon(fx, "bob", PB);
	assert_string_equal(n->role, "investigator");
	node_free(n);
	node_free(logon(fx, "alice", PA)); /* the others still open it */

	/* An admin sets bob's passphrase: the old one stops working. */
	db_image(&img, fx);
	n = logon(fx, "alice", PA);
	TU_OK(users_passwd(n, PA, strlen(PA), "bob", PB2, strlen(PB2), &CRYPTO_KDF_LOW));
	assert_int_equal(audit_count(n, "alice", "user.passwd", "bob", "success"), 1);
	node_free(n);
	assert_not_reencrypted(&img, fx);
	assert_int_equal(open_as(&n, fx, "bob", PB), ERR_AUTH);
	n = logon(fx, "bob", PB2);
	/* ...and bob sets his own, which needs his current one. */
	assert_int_equal(users_passwd(n, PB, strlen(PB), "bob", PB, strlen(PB), &CRYPTO_KDF_LOW),
		ERR_AUTH);
	TU_OK(users_passwd(n, PB2, strlen(PB2), "bob", PB, strlen(PB), &CRYPTO_KDF_LOW));
	node_free(n);
	node_free(logon(fx, "bob", PB));

	db_image(&img, fx);
	n = logon(fx, "alice", PA);
	TU_OK(users_remove(n, "bob"));
	assert_int_equal(audit_count(n, "alice", "user.remove", "bob", "success"), 1);
	node_free(n);
	assert_not_reencrypted(&img, fx);

	assert_int_equal(open_as(&n, fx, "bob", PB), ERR_AUTH);
	n = logon(fx, "alice", PA);
	memset(&nm, 0, sizeof(nm));
	TU_OK(users_foreach(n, name_cb, &nm));
	assert_string_equal(nm.list, "alice:admin");
	assert_int_equal(users_remove(n, "bob"), ERR_NOTFOUND);
	node_free(n);
}

static void test_users_add_errors(void **state)
{
	struct fixture *fx = *state;
	struct keyslot_file *f = NULL;
	struct node *n = NULL;

	init_node(fx);
	n = logon(fx, "alice", PA);
	assert_int_equal(users_add(n, PA, strlen(PA), "alice", "admin", PB, strlen(PB),
				 &CRYPTO_KDF_LOW),
		ERR_EXISTS);
	assert_int_equal(users_add(n, PA, strlen(PA), "bob", "root", PB, strlen(PB),
				 &CRYPTO_KDF_LOW),
		ERR_INVALID);
	assert_int_equal(users_add(n, PA, strlen(PA), "Bob", "admin", PB, strlen(PB),
				 &CRYPTO_KDF_LOW),
		ERR_INVALID);
	assert_int_equal(users_add(n, PA, strlen(PA), "bob", "admin", "short", 5,
				 &CRYPTO_KDF_LOW),
		ERR_INVALID);
	/* The admin's own passphrase unwraps the key: a wrong one adds nobody. */
	assert_int_equal(users_add(n, PB, strlen(PB), "bob", "admin", PB, strlen(PB),
				 &CRYPTO_KDF_LOW),
		ERR_AUTH);
	assert_int_equal(tu_sql_int(n->store, "SELECT count(*) FROM users"), 1);
	assert_int_equal(users_passwd(n, PA, strlen(PA), "nobody", PB, strlen(PB),
				 &CRYPTO_KDF_LOW),
		ERR_NOTFOUND);
	node_free(n);
	TU_OK(keyslot_load(&f, fx->slots));
	assert_int_equal(f->nslots, 1);
	keyslot_file_free(f);
}

static void test_non_admin_denied(void **state)
{
	struct fixture *fx = *state;
	struct node *n = NULL;
	struct names nm;

	init_node(fx);
	n = logon(fx, "alice", PA);
	TU_OK(users_add(n, PA, strlen(PA), "bob", "investigator", PB, strlen(PB),
		&CRYPTO_KDF_LOW));
	node_free(n);

	n = logon(fx, "bob", PB);
	assert_int_equal(users_add(n, PB, strlen(PB), "carol", "admin", PC, strlen(PC),
				 &CRYPTO_KDF_LOW),
		ERR_PERM);
	assert_int_equal(audit_count(n, "bob", "user.add", "carol", "denied"), 1);
	assert_int_equal(users_remove(n, "alice"), ERR_PERM);
	assert_int_equal(audit_count(n, "bob", "user.remove", "alice", "denied"), 1);
	assert_int_equal(users_passwd(n, PB, strlen(PB), "alice", PC, strlen(PC),
				 &CRYPTO_KDF_LOW),
		ERR_PERM);
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(users_foreach(n, name_cb, &nm), ERR_PERM);
	assert_string_equal(nm.list, "");
	assert_int_equal(tu_sql_int(n->store, "SELECT count(*) FROM users"), 2);
	node_free(n);
	assert_int_equal(open_as(&n, fx, "carol", PC), ERR_AUTH);
	node_free(logon(fx, "alice", PA)); /* alice's passphrase unchanged */
}

static void test_last_admin(void **state)
{
	struct fixture *fx = *state;
	struct node *alice = NULL, *carol = NULL;

	init_node(fx);
	alice = logon(fx, "alice", PA);
	assert_int_equal(users_remove(alice, "alice"), ERR_PERM); /* not oneself */
	TU_OK(users_add(alice, PA, strlen(PA), "carol", "admin", PC, strlen(PC),
		&CRYPTO_KDF_LOW));

	/* Two admins logged on at once; alice removes carol first. */
	carol = logon(fx, "carol", PC);
	TU_OK(users_remove(alice, "carol"));
	/* carol's session is older than her removal: she still cannot remove the last admin. */
	assert_int_equal(users_remove(carol, "alice"), ERR_PERM);
	assert_non_null(strstr(err_msg(), "last admin"));
	node_free(carol);
	node_free(alice);
	node_free(logon(fx, "alice", PA));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_passphrase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_user_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users_add_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_admin_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_admin, setup, teardown),
	};

	if (odb_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
