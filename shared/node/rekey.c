/* shared/node/rekey.c - database key rotation, safe against a kill at any point. */
#include "node/rekey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/keyslot.h"

static const struct node_secret *secret_of(const struct node_secret *s, size_t n, const char *user)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(s[i].user, user))
			return &s[i];
	return NULL;
}

/* The new slots: each kept one rewrapped around `key`, the others removed or refused. */
static int rewrap(struct node_rekey_report *rep, struct keyslot_file *f,
	const uint8_t old_key[CRYPTO_KEY_LEN], const uint8_t key[CRYPTO_KEY_LEN],
	const struct node_secret *secrets, size_t nsecrets, int remove_others)
{
	uint8_t check[CRYPTO_KEY_LEN];
	size_t i = 0, used;
	int error = 0;

	crypto_lock(check, sizeof(check));
	while (!error && i < f->nslots) {
		struct keyslot *k = &f->slots[i];
		const struct node_secret *s = secret_of(secrets, nsecrets, k->user);
		struct crypto_kdf_cost cost = k->cost;
		char user[KEYSLOT_USER_MAX + 1];

		snprintf(user, sizeof(user), "%s", k->user);
		if (!s && !remove_others) {
			error = err_set(ERR_PERM,
				"the key slot of '%s' cannot be rewrapped without their secret: give "
				"--remove-other-slots to remove it (an admin then sets a new passphrase "
				"with 'user passwd %s')",
				user, user);
			break;
		}
		if (!s) {
			error = keyslot_remove(f, user);
			used = strlen(rep->removed_users);
			snprintf(rep->removed_users + used, sizeof(rep->removed_users) - used,
				"%s%s", used ? ", " : "", user);
			rep->removed++;
			continue; /* the next slot moved into place i */
		}
		error = keyslot_unlock(check, f, user, s->pass, s->passlen);
		if (!error && !crypto_equal(check, old_key, CRYPTO_KEY_LEN))
			error = err_set(ERR_AUTH, "the slot of '%s' does not hold this store's key",
				user);
		if (!error)
			error = keyslot_set(f, user, s->pass, s->passlen, key, &cost);
		rep->rewrapped++;
		i++;
	}
	crypto_wipe(check, sizeof(check));
	return error;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return err_set_errno(ERR_IO, errno, "cannot open '%s'", dir);
	rc = fsync(fd);
	close(fd);
	return rc ? err_set_errno(ERR_IO, errno, "cannot sync '%s'", dir) : 0;
}

/* Leave WAL for a rollback journal, which only works while no other connection is open. */
static int journal_mode(struct store *s, const char *mode)
{
	struct buf now = BUF_INIT(32);
	char sql[64];
	int error;

	snprintf(sql, sizeof(sql), "PRAGMA journal_mode = %s", mode);
	error = store_query_bytes(&now, s, sql, "");
	if (!error && strcmp(buf_cstr(&now), mode) != 0)
		error = err_set(ERR_LOCKED, "the store is in use by another process (a running "
					    "service or server): stop it and rekey again");
	if (error == ERR_GENERIC || error == ERR_LOCKED)
		error = err_set(ERR_LOCKED, "the store is in use by another process (a running "
					    "service or server): stop it and rekey again");
	buf_release(&now);
	return error;
}

static int apply_rekey(struct store *s, const uint8_t key[CRYPTO_KEY_LEN])
{
	char lit[STORE_KEY_LITERAL_LEN];
	int rc;

	crypto_lock(lit, sizeof(lit));
	store_key_literal(lit, key);
	rc = sqlite3_rekey(store_db(s), lit, (int)strlen(lit));
	crypto_wipe(lit, sizeof(lit));
	return rc == SQLITE_OK ? 0 : store_error(s, "cannot rekey the database");
}

int node_rekey(struct node_rekey_report *rep, struct node *n, const uint8_t old_key[CRYPTO_KEY_LEN],
	const struct node_secret *secrets, size_t nsecrets, int remove_others)
{
	struct node_rekey_report r;
	struct keyslot_file *f = NULL;
	uint8_t key[CRYPTO_KEY_LEN];
	char *next = NULL, detail[768];
	int64_t pages = 0, evidence_pages = 0;
	int lock_fd = -1, journaled = 0, rekeyed = 0, error;
	size_t len = strlen(n->slots_path) + 8;

	memset(&r, 0, sizeof(r));
	crypto_lock(key, sizeof(key));
	error = node_require(n, NODE_PERM_USER_ADMIN, "node.rekey", "");
	if (error)
		return error;
	next = malloc(len);
	if (!next)
		return err_set(ERR_NOMEM, "out of memory");
	snprintf(next, len, "%s.next", n->slots_path);
	error = node_lock_slots(&lock_fd, n->lock_path);
	if (!error)
		error = keyslot_load(&f, n->slots_path);
	if (!error)
		error = crypto_random(key, sizeof(key));
	if (!error)
		error = rewrap(&r, f, old_key, key, secrets, nsecrets, remove_others);
	if (!error && f->nslots == 0)
		error = err_set(ERR_INVALID, "no key slot would be left");
	if (!error)
		error = store_query_int64(&pages, n->store, "PRAGMA page_count", "");
	/* 1: the new slots beside the old; a kill from here on is sorted out at log-on */
	if (!error)
		error = keyslot_save(f, next);
	if (!error)
		error = journal_mode(n->store, "delete");
	journaled = !error;
	/* the evidence database's own key, kept in the store (safe against a kill itself; no
	 * other process has it open now, since none has the store) */
	if (!error)
		error = store_evidence_rekey(&evidence_pages, n->store);
	/* 2: every page re-encrypted in one journaled transaction */
	if (!error)
		error = apply_rekey(n->store, key);
	rekeyed = !error;
	/* 3: the new slots replace the old */
	if (!error && rename(next, n->slots_path) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot move '%s' into place", next);
	if (!error)
		error = fsync_dir(n->home);
	if (!rekeyed)
		unlink(next); /* the old key stays: its slots are the only ones */
	if (journaled && journal_mode(n->store, "wal") && !error)
		error = err_code();
	if (error)
		goto out;
	r.pages = pages;
	snprintf(detail, sizeof(detail),
		"new database key (%lld pages re-encrypted, and %lld of 64 KiB in the evidence "
		"database under a new key of its own); %zu key slots rewrapped, %zu removed%s%s",
		(long long)pages, (long long)evidence_pages, r.rewrapped, r.removed,
		r.removed ? ": " : "", r.removed_users);
	error = node_audit(n, "node.rekey", "", "success", detail);
	if (!error)
		*rep = r;
out:
	crypto_wipe(key, sizeof(key));
	node_unlock_slots(lock_fd);
	keyslot_file_free(f);
	free(next);
	if (error && !rekeyed && error != ERR_PERM)
		error = node_audit_failure(n, "node.rekey", "", error);
	return error;
}
