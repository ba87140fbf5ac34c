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

struct node_rekey_report;

/*
 * Print what a rekey did (node_rekey): JSON, or a line naming `slots` ("the server's key
 * slot"), or the count of slots rewrapped when `slots` is NULL.  An exit code.
 */
int cli_rekey_print(const struct cli *c, const struct node_rekey_report *rep, const char *slots);

#endif
