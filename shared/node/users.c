/* shared/node/users.c - node users: roles in SQL, key slots in the sidecar. */
#include "node/users.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/keyslot.h"

/* The database key, unwrapped again with the logged-on user's passphrase. */
static int unwrap_own(uint8_t key[CRYPTO_KEY_LEN], const struct keyslot_file *f,
	const struct node *n, const char *pass, size_t passlen)
{
	int error = keyslot_unlock(key, f, n->user, pass, passlen);

	if (error == ERR_AUTH)
		return err_set(ERR_AUTH, "wrong passphrase for user '%s'", n->user);
	return error;
}

/*
 * Under the slot lock: unwrap the key with the logged-on user's passphrase and save a new slot
 * for `name`.  *f and *lock_fd are set even on failure, for the caller to release.
 */
static int write_slot(struct keyslot_file **f, int *lock_fd, struct node *n, const char *auth_pass,
	size_t auth_passlen, const char *name, const char *pass, size_t passlen,
	const struct crypto_kdf_cost *cost)
{
	uint8_t key[CRYPTO_KEY_LEN];
	int error;

	error = node_lock_slots(lock_fd, n->lock_path);
	if (!error)
		error = keyslot_load(f, n->slots_path);
	if (!error)
		error = unwrap_own(key, *f, n, auth_pass, auth_passlen);
	if (!error)
		error = keyslot_set(*f, name, pass, passlen, key, cost);
	crypto_wipe(key, sizeof(key));
	if (!error)
		error = keyslot_save(*f, n->slots_path);
	return error;
}

static int user_state(int *exists, int *removed, char role[16], struct node *n, const char *name)
{
	sqlite3_stmt *st = NULL;
	int rc, error;

	*exists = 0;
	*removed = 0;
	error = store_prepare(&st, n->store, "SELECT role, removed_at FROM users WHERE name = ?");
	if (error)
		return error;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*exists = 1;
		*removed = sqlite3_column_type(st, 1) != SQLITE_NULL;
		if (role)
			snprintf(role, 16, "%s", (const char *)sqlite3_column_text(st, 0));
	} else if (rc != SQLITE_DONE) {
		error = store_error(n->store, "cannot read users");
	}
	sqlite3_finalize(st);
	return error;
}

static int insert_user(struct node *n, const char *name, const char *role)
{
	sqlite3_stmt *st = NULL;
	char now[HLC_STR_MAX];
	int error;

	hlc_iso8601(now, hlc_now_ms());
	error = store_prepare(&st, n->store,
		"INSERT OR REPLACE INTO users(name, role, created_at, created_by, removed_at)"
		" VALUES (?, ?, ?, ?, NULL)");
	if (error)
		return error;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, n->user, -1, SQLITE_STATIC);
	error = store_step_done(n->store, st);
	sqlite3_finalize(st);
	return error;
}

/* Add identity `name` with `role` and slot passphrase `pass`, audited as `action`. */
static int add_identity(struct node *n, const char *admin_pass, size_t admin_passlen,
	const char *name, const char *role, const char *pass, size_t passlen,
	const struct crypto_kdf_cost *cost, const char *action)
{
	struct keyslot_file *f = NULL;
	char detail[64];
	int lock_fd = -1, exists, removed, error;

	error = user_state(&exists, &removed, NULL, n, name);
	if (!error && exists && !removed)
		error = err_set(ERR_EXISTS, "%s '%s' already exists",
			strcmp(name, USERS_SERVICE) ? "user" : "the service identity", name);
	if (error)
		return error;
	/* The slot first: a crash before the row leaves a slot nobody can log on with. */
	error = write_slot(&f, &lock_fd, n, admin_pass, admin_passlen, name, pass, passlen, cost);
	if (error)
		goto out;
	snprintf(detail, sizeof(detail), "role %s", role);
	error = store_begin(n->store);
	if (!error)
		error = insert_user(n, name, role);
	if (!error)
		error = node_audit(n, action, name, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		store_rollback(n->store);
		if (!keyslot_remove(f, name))
			(void)!keyslot_save(f, n->slots_path);
	}
out:
	node_unlock_slots(lock_fd);
	keyslot_file_free(f);
	return error;
}

int users_add(struct node *n, const char *admin_pass, size_t admin_passlen, const char *name,
	const char *role, const char *pass, size_t passlen, const struct crypto_kdf_cost *cost)
{
	int error = node_require(n, NODE_PERM_USER_ADMIN, "user.add", name);

	if (!error)
		error = schema_check_user(name);
	if (!error)
		error = node_check_role(n, role);
	if (!error)
		error = node_check_passphrase(pass, passlen);
	if (error)
		return error;
	return add_identity(n, admin_pass, admin_passlen, name, role, pass, passlen, cost,
		"user.add");
}

int users_add_service(struct node *n, const char *admin_pass, size_t admin_passlen,
	const char *secret, size_t secretlen)
{
	int error = node_require(n, NODE_PERM_USER_ADMIN, "keyfile.create", USERS_SERVICE);

	if (error)
		return error;
	/* a random 256-bit secret needs no costly derivation to resist guessing */
	return add_identity(n, admin_pass, admin_passlen, USERS_SERVICE, USERS_SERVICE_ROLE, secret,
		secretlen, &CRYPTO_KDF_LOW, "keyfile.create");
}

int users_passwd(struct node *n, const char *auth_pass, size_t auth_passlen, const char *name,
	const char *pass, size_t passlen, const struct crypto_kdf_cost *cost)
{
	struct keyslot_file *f = NULL;
	char role[16] = "";
	int lock_fd = -1, exists, removed, error = 0;

	if (strcmp(name, n->user) != 0)
		error = node_require(n, NODE_PERM_USER_ADMIN, "user.passwd", name);
	if (!error)
		error = node_check_passphrase(pass, passlen);
	if (!error)
		error = user_state(&exists, &removed, role, n, name);
	if (!error && (!exists || removed))
		error = err_set(ERR_NOTFOUND, "no user '%s'", name);
	/* HQ's own identity is unlocked by the key file that `run` reads, never by a passphrase */
	if (!error && node_is_hq(n) && !strcmp(role, "admin"))
		error = err_set(ERR_PERM,
			"'%s' is unlocked by the server's key file, not a passphrase", name);
	if (error)
		return error;
	error = write_slot(&f, &lock_fd, n, auth_pass, auth_passlen, name, pass, passlen, cost);
	if (!error)
		error = node_audit(n, "user.passwd", name, "success", NULL);
	node_unlock_slots(lock_fd);
	keyslot_file_free(f);
	return error;
}

static int count_admins(int *out, struct node *n)
{
	sqlite3_stmt *st = NULL;
	int error = store_prepare(&st, n->store,
		"SELECT count(*) FROM users WHERE role = 'admin' AND removed_at IS NULL");

	if (error)
		return error;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	else
		error = store_error(n->store, "cannot count admins");
	sqlite3_finalize(st);
	return error;
}

static int mark_removed(struct node *n, const char *name)
{
	sqlite3_stmt *st = NULL;
	char now[HLC_STR_MAX];
	int error;

	hlc_iso8601(now, hlc_now_ms());
	error = store_prepare(&st, n->store, "UPDATE users SET removed_at = ? WHERE name = ?");
	if (error)
		return error;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	error = store_step_done(n->store, st);
	sqlite3_finalize(st);
	return error;
}

int users_remove(struct node *n, const char *name)
{
	struct keyslot_file *f = NULL;
	char role[16] = "";
	int lock_fd = -1, exists, removed, admins = 0, error;

	error = node_require(n, NODE_PERM_USER_ADMIN, "user.remove", name);
	if (!error)
		error = user_state(&exists, &removed, role, n, name);
	if (!error && (!exists || removed))
		error = err_set(ERR_NOTFOUND, "no user '%s'", name);
	if (!error && strcmp(name, n->user) == 0)
		error = err_set(ERR_PERM, "you cannot remove yourself");
	if (!error && strcmp(role, "admin") == 0)
		error = count_admins(&admins, n);
	if (!error && strcmp(role, "admin") == 0 && admins < 2)
		error = err_set(ERR_PERM, "'%s' is the last admin", name);
	if (error)
		return error;
	/* The row first: once it is marked removed, a leftover slot no longer logs anyone on. */
	error = store_begin(n->store);
	if (!error)
		error = mark_removed(n, name);
	if (!error)
		error = node_audit(n, "user.remove", name, "success", NULL);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		store_rollback(n->store);
		return error;
	}
	error = node_lock_slots(&lock_fd, n->lock_path);
	if (!error)
		error = keyslot_load(&f, n->slots_path);
	if (!error && keyslot_find(f, name)) {
		error = keyslot_remove(f, name);
		if (!error)
			error = keyslot_save(f, n->slots_path);
	}
	node_unlock_slots(lock_fd);
	keyslot_file_free(f);
	return error;
}

int users_foreach(struct node *n, int (*fn)(void *ctx, const struct users_row *row), void *ctx)
{
	struct keyslot_file *f = NULL;
	sqlite3_stmt *st = NULL;
	struct users_row row;
	int rc, error;

	error = node_require(n, NODE_PERM_USER_ADMIN, "user.list", "");
	if (!error)
		error = keyslot_load(&f, n->slots_path);
	if (!error)
		error = store_prepare(&st, n->store,
			"SELECT name, role, created_at, created_by FROM users"
			" WHERE removed_at IS NULL ORDER BY name");
	if (error)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row.name = (const char *)sqlite3_column_text(st, 0);
		row.role = (const char *)sqlite3_column_text(st, 1);
		row.created_at = (const char *)sqlite3_column_text(st, 2);
		row.created_by = (const char *)sqlite3_column_text(st, 3);
		row.locked = keyslot_locked_for(f, row.name, (int64_t)time(NULL)) > 0;
		error = fn(ctx, &row);
		if (error)
			break;
	}
	if (!error && rc != SQLITE_DONE)
		error = store_error(n->store, "cannot list users");
	if (!error)
		error = node_audit(n, "user.list", "", "success", NULL);
out:
	sqlite3_finalize(st);
	keyslot_file_free(f);
	return error;
}
