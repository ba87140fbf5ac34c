/*
 * cli/cmd_case.h - the audited case commands that run on any node: the agent's `case` and
 * `note`, and the read and edit commands HQ staff run on the server's store.  Each reads its
 * words from c->argv and returns a process exit code.
 */
#ifndef FIELDSYNC_CLI_CMD_CASE_H
#define FIELDSYNC_CLI_CMD_CASE_H

#include "cli.h"

/* case new|edit|show|list|search|history|diff|fields ... */
int cmd_case(struct cli *c);

/* note add ID (--text T | --file F) */
int cmd_note(struct cli *c);

#endif
