/*
 * shared/node/rekey.h - rotation of a node's database key.
 *
 * A new random key replaces the database key through SQLCipher's rekey (every page
 * re-encrypted in one transaction with a rollback journal), and every key slot that stays is
 * rewrapped around it.  A slot is rewrapped with its owner's secret (the passphrase of the
 * user rotating, the server's key file, the agent's service key file); a user whose secret is
 * not at hand cannot keep a slot of the old key (it would open an old copy of the store), so
 * rotating removes it when asked to, and an admin gives that user a new passphrase.
 *
 * Safe against a kill at any point: the rewrapped slots are written first beside the old ones
 * (keyslots.json.next), then the database is rekeyed, then the new slots replace the old.
 * The log-on (node.c) opens a store with the old key if it still can (a rekey cut short is
 * rolled back by its journal; the .next file is dropped) and otherwise with the key the .next
 * slots wrap (the rekey committed; the .next file is moved into place): the store always opens
 * with one key or the other.
 */
#ifndef FIELDSYNC_NODE_REKEY_H
#define FIELDSYNC_NODE_REKEY_H

#include <stddef.h>

#include "base/crypto.h"
#include "node/node.h"

#define NODE_SLOTS_NEXT_NAME NODE_SLOTS_NAME ".next"

/* One slot owner's secret: a passphrase or a key file's hex. */
struct node_secret {
	const char *user;
	const char *pass;
	size_t passlen;
};

struct node_rekey_report {
	size_t rewrapped, removed;
	char removed_users[512]; /* names, comma-separated (cut to fit) */
	int64_t pages;
};

/*
 * Rotate the database key of the open node `n` (opened with `old_key`, which it checks):
 * rewrap the slots of `secrets` (each must unwrap the old key), remove the other slots when
 * `remove_others`, else refuse naming them (ERR_PERM).  The database must not be open
 * elsewhere (a running service or server): ERR_LOCKED.  Audited (node.rekey).
 */
int node_rekey(struct node_rekey_report *rep, struct node *n, const uint8_t old_key[CRYPTO_KEY_LEN],
	const struct node_secret *secrets, size_t nsecrets, int remove_others) WUR;

#endif
