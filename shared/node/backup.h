/*
 * shared/node/backup.h - online backup of a node into one file, and its restore.
 *
 * A backup file is a POSIX tar archive (ustar) of exactly two members, so that `tar tvf`
 * shows what it is: keyslots.json (the key-slot sidecar: no secret in clear) and fieldsync.db
 * (a copy of the database made with SQLite's backup API, encrypted under the same database key
 * with the same page layout).  Whoever can open the node can open the backup, with the same
 * passphrase or key file, and nobody else.  The copy's node_meta names when it was taken
 * ("backup.taken_at") and of which node ("backup.of"); a restored device declares that date
 * to HQ at its next sync (node_meta "restore.pending").
 */
#ifndef FIELDSYNC_NODE_BACKUP_H
#define FIELDSYNC_NODE_BACKUP_H

#include <stdint.h>

#include "base/crypto.h"
#include "base/hlc.h"
#include "node/casedb.h"
#include "node/node.h"

struct node_backup_report {
	char taken_at[HLC_STR_MAX]; /* ISO 8601 UTC */
	int64_t bytes;		    /* the backup file's size */
	int64_t db_bytes;	    /* the database copy inside it */
	struct casedb_check_report check;
};

/*
 * Back up the open node `n` (whose database key is `key`) to `out_path`: copy the database
 * online into a staging directory beside out_path, verify the copy (opened with the key, every
 * check of casedb_check, nothing written to it), then write the archive to a temporary name
 * (mode 0600, fsync) and rename it over out_path.  Audited on `n` (node.backup, success or the
 * failure).  ERR_IO, ERR_CORRUPT (the copy failed its check), ERR_GENERIC.
 */
int node_backup(struct node_backup_report *rep, struct node *n, const uint8_t key[CRYPTO_KEY_LEN],
	const char *out_path) WUR;

/*
 * Unpack the backup `file` into `home`, which must not exist or be an empty directory
 * (ERR_EXISTS otherwise; nothing is written then).  The caller then logs on to the restored
 * node and calls node_restore_finish().  ERR_INVALID for a file that is not a backup.
 */
int node_restore_files(const char *file, const char *home) WUR;

/*
 * After node_restore_files() and a log-on: record the restore (node.restore) and, when
 * `declare` (a field device), mark it for the next sync to declare to HQ; taken_at receives
 * the backup's date.  Then verify the store like casedb_check().  ERR_CORRUPT, ERR_GENERIC.
 */
int node_restore_finish(char taken_at[HLC_STR_MAX], struct casedb_check_report *check,
	struct node *n, const char *file, int declare) WUR;

/* The date of the backup this node was restored from, when HQ has not been told yet. */
int node_restore_pending(struct buf *taken_at, struct node *n) WUR;

/* HQ acknowledged the declaration: clear it, audited (device.restore.declared). */
int node_restore_declared(struct node *n, const char *detail) WUR;

/*
 * A hub's store generation (node_meta NODE_GENERATION_KEY, 32 hex digits): a new random one.
 * A restored hub gets one, so that devices which synced after the backup was taken learn from
 * it that the hub may lack what it acknowledged.
 */
#define NODE_GENERATION_KEY "hq.generation"
int node_new_generation(struct node *n) WUR;

#endif
