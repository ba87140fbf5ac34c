/*
 * shared/node/users.h - the users of a node: roles in the database, key slots in the sidecar.
 *
 * The database is the authority on who is a user and in which role; the sidecar only holds
 * each user's wrapped copy of the database key.  Adding a user or changing a passphrase writes
 * a slot (the database is never re-encrypted); removing a user marks the row removed and
 * drops the slot, so that passphrase opens nothing any more.  Every change is audited.
 */
#ifndef FIELDSYNC_USERS_H
#define FIELDSYNC_USERS_H

#include <stddef.h>

#include "base/crypto.h"
#include "base/err.h"
#include "node/node.h"

/*
 * Add `name` with `role` and passphrase `pass` (admin only).  ERR_EXISTS, ERR_INVALID,
 * ERR_PERM.  The logged-on user must have unlocked the node (the key is taken from the open
 * store by re-unwrapping the admin's own slot with `admin_pass`).
 */
int users_add(struct node *n, const char *admin_pass, size_t admin_passlen, const char *name,
	const char *role, const char *pass, size_t passlen, const struct crypto_kdf_cost *cost) WUR;

/*
 * Set the passphrase of `name` (oneself, or anyone for an admin).  `auth_pass` is the logged-on
 * user's current passphrase, which unwraps the key to rewrap.
 */
int users_passwd(struct node *n, const char *auth_pass, size_t auth_passlen, const char *name,
	const char *pass, size_t passlen, const struct crypto_kdf_cost *cost) WUR;

/* Remove `name` (admin only; not oneself, not the last admin). ERR_NOTFOUND, ERR_PERM. */
int users_remove(struct node *n, const char *name) WUR;

/*
 * The service identity: the key slot a device key file opens (`fieldsync-agent key-file`), so
 * that the service can run unattended.  Its name is not a valid user name, and its role allows
 * no case, user or audit command: it syncs and reports status, nothing more.
 */
#define USERS_SERVICE "@service"
#define USERS_SERVICE_ROLE "service"

/*
 * Give the service identity a slot wrapped by `secret` (a key file's content; admin only).
 * ERR_EXISTS if it has one: remove it first with users_remove(n, USERS_SERVICE).
 */
int users_add_service(struct node *n, const char *admin_pass, size_t admin_passlen,
	const char *secret, size_t secretlen) WUR;

struct users_row {
	const char *name;
	const char *role;
	const char *created_at;
	const char *created_by;
	int locked; /* locked out now */
};

/* Call fn for each current user, by name. */
int users_foreach(struct node *n, int (*fn)(void *ctx, const struct users_row *row), void *ctx) WUR;

#endif
