/*
 * cli/cmd_store.h - the store commands of either program: check, backup, restore.
 */
#ifndef FIELDSYNC_CLI_CMD_STORE_H
#define FIELDSYNC_CLI_CMD_STORE_H

#include "cli.h"

/* check: verify the store (casedb_check); an exit code. */
int cmd_check(struct cli *c);

/* backup --out FILE: an online, verified backup (node_backup); an exit code. */
int cmd_backup(struct cli *c);

/*
 * restore FILE --node DIR: unpack a backup into an empty directory, log on to it, verify it.
 * The device's restore is declared to HQ at its next sync; HQ's is not (it is HQ).
 */
int cmd_restore_device(struct cli *c);
int cmd_restore_hq(struct cli *c);

#endif
