/*
 * cli/cmd_user.h - the user command both programs share: a device's users and HQ's staff
 * accounts, each with a key slot of its own (shared/node/users.h).
 */
#ifndef FIELDSYNC_CLI_CMD_USER_H
#define FIELDSYNC_CLI_CMD_USER_H

#include "cli.h"

/*
 * user add NAME --role ROLE | passwd [NAME] | remove NAME | list, with the program's `help`
 * text.  The roles are the node's kind's (node_check_role).  Returns an exit code.
 */
int cli_user_command(struct cli *c, const char *help);

#endif
