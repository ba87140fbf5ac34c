/*
 * shared/node/node.h - one node (a field device or HQ): its directory, unlocked store, identity and
 * the logged-on user.
 *
 * A node directory holds the encrypted database (fieldsync.db and its WAL), the key-slot
 * sidecar (keyslots.json) and a lock file.  node_init() creates all of it; node_open() logs a
 * user on: lock-out check, passphrase, unwrap of the database key, failed-attempt import into
 * the audit log, and the log-on event.  Nothing is written in clear.
 */
#ifndef FIELDSYNC_NODE_H
#define FIELDSYNC_NODE_H

#include <stddef.h>

#include <git2.h>

#include "audit/audit.h"
#include "base/crypto.h"
#include "base/err.h"
#include "base/hlc.h"
#include "case/schema.h"
#include "store/store.h"

#define NODE_DB_NAME "fieldsync.db"
#define NODE_EVIDENCE_NAME "fieldsync-evidence.db" /* store_evidence_path(NODE_DB_NAME) */
#define NODE_SLOTS_NAME "keyslots.json"
#define NODE_LOCK_NAME "lock"
#define NODE_DEVICE_MAX 32
#define NODE_PASSPHRASE_MIN 12
#define NODE_PASSPHRASE_MAX 1024
#define NODE_HQ_OFFICE "HQ" /* the office code of headquarters' own node */

struct node {
	char *home;
	char *db_path;
	char *slots_path;
	char *lock_path;
	struct store *store;
	git_repository *repo;
	char office[SCHEMA_OFFICE_MAX + 1];
	char device[NODE_DEVICE_MAX + 1]; /* random hex id of this device */
	char user[SCHEMA_USER_MAX + 1];	  /* the logged-on user */
	char role[16];
	struct audit_origin origin; /* points into office/device */
	int seal_on_close;	    /* node_free() seals the log (a device opened by node_open) */
};

/*
 * What a role may do.  On a device: investigator and supervisor work cases and sync, auditor
 * reads the audit log, admin does everything, the service identity only syncs.  At HQ (the
 * node of office NODE_HQ_OFFICE): hq-admin manages offices, devices and users; intake records
 * new allegations; investigator and supervisor work cases, and only a supervisor shares,
 * transfers, assigns a case or sets deadlines; auditor reads the audit trails; analyst has
 * none of these (reports are its own).  The
 * key file's identity at HQ is 'admin': whoever holds the key file can read the whole store
 * anyway, so refusing it a command would protect nothing.
 */
enum node_perm {
	NODE_PERM_CASE_READ = 1 << 0,
	NODE_PERM_CASE_WRITE = 1 << 1,
	NODE_PERM_USER_ADMIN = 1 << 2,
	NODE_PERM_AUDIT_READ = 1 << 3,
	NODE_PERM_SYNC =
		1 << 4, /* exchange change sets with HQ: case workers, admins, the service */
	NODE_PERM_OFFICE_ADMIN = 1 << 5, /* offices, tokens, devices (HQ) */
	NODE_PERM_SUPERVISE = 1 << 6,	 /* share, transfer, assign, deadlines (HQ) */
	NODE_PERM_INTAKE = 1 << 7,	 /* new allegations, routed to an office (HQ) */
	NODE_PERM_CLOSE = 1 << 8,	 /* set status closed: a supervisor's approval */
	NODE_PERM_REPORT = 1 << 9,	 /* aggregate reports, no case text (HQ) */
};

/* 1 if `n` is headquarters' node. */
int node_is_hq(const struct node *n);

/* Check `role` is one of the node's kind (a device's or HQ's roles). ERR_INVALID. */
int node_check_role(const struct node *n, const char *role) WUR;

/*
 * Create a node in `home` (created 0700 if missing; ERR_EXISTS if it already holds a node) for
 * `office`, with `user` as its first admin.  On success the user is logged on.
 */
int node_init(struct node **out, const char *home, const char *office, const char *user,
	const char *pass, size_t passlen, const struct crypto_kdf_cost *cost) WUR;

/*
 * Log `user` on to the node in `home`.  ERR_NOTFOUND (no node there), ERR_AUTH (unknown user or
 * wrong passphrase: counted, five lock the user), ERR_LOCKED (locked out), ERR_GENERIC.
 */
int node_open(struct node **out, const char *home, const char *user, const char *pass,
	size_t passlen) WUR;

/*
 * node_open() that also copies the unwrapped database key into key_out (the caller keeps it in
 * locked memory and wipes it), for a service that unlocks the node once.
 */
int node_open_keep_key(struct node **out, uint8_t key_out[CRYPTO_KEY_LEN], const char *home,
	const char *user, const char *pass, size_t passlen) WUR;

/*
 * Open the node in `home` with the database key itself, acting for `user`, who must be a
 * current user (ERR_AUTH otherwise: a removed user's session opens nothing).  No key slot is
 * read and no log-on is recorded: the caller (a service holding a session of that user, opened
 * with node_open()) has authenticated the user.  ERR_NOTFOUND, ERR_GENERIC.
 */
int node_open_key(struct node **out, const char *home, const char *user,
	const uint8_t key[CRYPTO_KEY_LEN]) WUR;

/*
 * Close everything.  Accepts NULL.  A node opened with node_open() or node_open_key() is
 * sealed first (node_seal): a failure there leaves the new entries for the next seal.
 */
void node_free(struct node *n);

/*
 * Seal the node's audit log with its forward-secure sealing key (docs/AUDIT.md) if it is an
 * enrolled device and entries were added since the newest seal; *made (may be NULL) gets 1 if
 * a seal was made.  Nothing to do on HQ or a device not yet enrolled.
 */
int node_seal(int *made, struct node *n) WUR;

/* Record an event by the logged-on user (in the open transaction, if any). */
int node_audit(struct node *n, const char *action, const char *target, const char *outcome,
	const char *detail) WUR;

/*
 * Record a search or list that showed `shown` cases, the first ncases of them (at most
 * AUDIT_CASES_MAX) by id in `cases` (borrowed), so that the case's audit trail lists it.
 */
int node_audit_cases(struct node *n, const char *action, const char *detail,
	const char *const *cases, size_t ncases, uint64_t shown) WUR;

/*
 * After a failed operation (already rolled back): record `action` on `target` as a failure
 * with the error's message as the reason.  Returns `code` with the original message kept.
 */
int node_audit_failure(struct node *n, const char *action, const char *target, int code);

/*
 * Check the logged-on user's role allows `perm`.  If not: a "denied" audit event for
 * `action` on `target`, and ERR_PERM with a message naming the roles that may.  Call it
 * outside a transaction that a refusal rolls back, or the refusal's entry goes with it.
 */
int node_require(struct node *n, enum node_perm perm, const char *action, const char *target) WUR;

/* The next hybrid logical clock value of this node (inside the caller's transaction). */
int node_next_hlc(struct hlc *out, struct node *n) WUR;

/* Check a new passphrase: length limits. ERR_INVALID. */
int node_check_passphrase(const char *pass, size_t len) WUR;

/* Take / release the node's lock file around key-slot sidecar updates. */
int node_lock_slots(int *fd_out, const char *lock_path) WUR;
void node_unlock_slots(int fd);

#endif
