/*
 * server/commands.h - the commands of fieldsync-server, one per first word; each reads its
 * words from c->argv and returns a process exit code.  The case commands HQ staff share with
 * the agent are cli/cmd_case.h.
 */
#ifndef FIELDSYNC_SERVER_COMMANDS_H
#define FIELDSYNC_SERVER_COMMANDS_H

#include "cli.h"

/* init --org NAME [--listen HOST:PORT] [--host NAME]... (server/admin.c) */
int cmd_server_init(struct cli *c);

/* user add|passwd|remove|list: HQ staff accounts (server/admin.c) */
int cmd_server_user(struct cli *c);

/* office add|token|list|revoke, device revoke|release (server/admin.c); argv[0] is the
 * word office or device */
int cmd_server_office(struct cli *c);

/* rekey: a new database key, the key slot rewrapped (server/admin.c) */
int cmd_server_rekey(struct cli *c);

/* ca export|status|renew-server|rollover: the PKI over time (server/pkiadmin.c) */
int cmd_server_ca(struct cli *c);

/* run: the mutual-TLS service (server/serve.c) */
int cmd_server_run(struct cli *c);

/* audit log|verify|query|export (server/cmd_audit.c) */
int cmd_server_audit(struct cli *c);

/* case list|show|history|search|edit|share|transfer (server/cases.c) */
int cmd_server_case(struct cli *c);

/* intake new (server/intake.c) */
int cmd_server_intake(struct cli *c);

/* policy set-due|list: deadlines by category (server/intake.c) */
int cmd_server_policy(struct cli *c);

/* case assign|due, from cmd_server_case; `what` is the word (server/intake.c) */
int hq_case_supervise(struct cli *c, const char *what);

/* case import FILE.jsonl (server/import.c) */
int hq_case_import(struct cli *c);

/* report --from --to --table|--html (server/report.c) */
int cmd_server_report(struct cli *c);

#endif
