/*
 * cli/cmd_ca.h - `ca export` of either program: the organisation's CA certificate as PEM.
 */
#ifndef FIELDSYNC_CLI_CMD_CA_H
#define FIELDSYNC_CLI_CMD_CA_H

#include "cli.h"

/* ca export [--out FILE]: open the node, print or write its CA certificate; an exit code. */
int cmd_ca(struct cli *c);

#endif
