/*
 * shared/store/keyslot.h - the key-slot sidecar next to a node's database.
 *
 * The database key exists on disk only wrapped: one slot per user holds it encrypted with
 * AES-256-GCM under a key derived from that user's passphrase with Argon2id (cost stored in the
 * slot).  Adding a user, removing one or changing a passphrase rewrites a slot, never the
 * database.  The sidecar also counts failed log-ons (it is the only thing writable without the
 * key): five failures lock a user for ten minutes, and the failure records wait here until the
 * next successful log-on moves them into the audit log.
 *
 * The file is JSON with hex fields and holds no secret in clear: a user name, KDF parameters,
 * salt, nonce, ciphertext and tag per slot.  It is replaced atomically (write, fsync, rename).
 * The caller serialises access across processes (node.c holds a lock file around every
 * load-modify-save).
 */
#ifndef FIELDSYNC_KEYSLOT_H
#define FIELDSYNC_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/err.h"

#define KEYSLOT_USER_MAX 64
#define KEYSLOT_MAX_SLOTS 1024
#define KEYSLOT_MAX_FAILURES 1000
#define KEYSLOT_LOCK_AFTER 5
#define KEYSLOT_LOCK_SECONDS 600
#define KEYSLOT_FILE_MAX (1024 * 1024)

struct keyslot {
	char user[KEYSLOT_USER_MAX + 1];
	struct crypto_kdf_cost cost;
	uint8_t salt[16];
	uint8_t nonce[CRYPTO_NONCE_LEN];
	uint8_t wrapped[CRYPTO_KEY_LEN];
	uint8_t tag[CRYPTO_TAG_LEN];
	int failed;	      /* consecutive failed log-ons */
	int64_t locked_until; /* UTC seconds; 0 if not locked */
};

struct keyslot_failure {
	char id[33]; /* random, so an import into the audit log happens once */
	char user[KEYSLOT_USER_MAX + 1];
	int64_t time;
	char reason[48];
};

struct keyslot_file {
	uint8_t db_id[16]; /* binds slots to this database */
	struct keyslot *slots;
	size_t nslots;
	struct keyslot_failure *failures;
	size_t nfailures;
	uint64_t dropped; /* failure records dropped at the cap, reported at import */
};

/* A new, empty sidecar with a random database id. */
int keyslot_file_new(struct keyslot_file **out) WUR;

/* Read a sidecar. ERR_NOTFOUND if absent, ERR_CORRUPT if malformed, ERR_TOOBIG past the cap. */
int keyslot_load(struct keyslot_file **out, const char *path) WUR;

/* Write it atomically (temporary file, fsync, rename, fsync of the directory). */
int keyslot_save(const struct keyslot_file *f, const char *path) WUR;

void keyslot_file_free(struct keyslot_file *f);

/* The slot of `user`, or NULL. */
struct keyslot *keyslot_find(struct keyslot_file *f, const char *user);

/*
 * Wrap `key` for `user` under `pass` with a fresh salt and nonce, replacing the user's slot if
 * there is one.  Resets that user's failure count.
 */
int keyslot_set(struct keyslot_file *f, const char *user, const char *pass, size_t passlen,
	const uint8_t key[CRYPTO_KEY_LEN], const struct crypto_kdf_cost *cost) WUR;

/*
 * Unwrap the database key with `user`'s passphrase into key_out.  ERR_NOTFOUND (no such
 * user), ERR_AUTH (wrong passphrase).  Does not touch the failure counters.
 */
int keyslot_unlock(uint8_t key_out[CRYPTO_KEY_LEN], const struct keyslot_file *f,
	const char *user, const char *pass, size_t passlen) WUR;

/* Drop `user`'s slot. ERR_NOTFOUND if there is none. */
int keyslot_remove(struct keyslot_file *f, const char *user) WUR;

/*
 * Count a failed log-on at time `now`: bumps the user's slot (locking it for ten minutes at
 * the fifth) and appends a failure record for the audit log.
 */
int keyslot_record_failure(struct keyslot_file *f, const char *user, int64_t now,
	const char *reason) WUR;

/* Seconds `user` stays locked at time `now` (0 if not locked). */
int64_t keyslot_locked_for(const struct keyslot_file *f, const char *user, int64_t now);

/* After a successful log-on: forget the user's consecutive failures.  1 if there were any. */
int keyslot_reset_failures(struct keyslot_file *f, const char *user);

/* After the failure records were moved into the audit log.  1 if there were any. */
int keyslot_clear_failures(struct keyslot_file *f);

#endif
