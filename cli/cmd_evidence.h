/*
 * cli/cmd_evidence.h - the evidence commands of both programs: intake, list, show, get, custody,
 * export as a BagIt bag, verify.  Reads its words from c->argv; returns a process exit code.
 */
#ifndef FIELDSYNC_CLI_CMD_EVIDENCE_H
#define FIELDSYNC_CLI_CMD_EVIDENCE_H

#include "cli.h"

/* evidence add|list|show|get|custody|export|verify ... */
int cmd_evidence(struct cli *c);

#endif
