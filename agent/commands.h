/* agent/commands.h - the agent's own commands (the case commands are cli/cmd_case.h); each
 * returns a process exit code. */
#ifndef FIELDSYNC_AGENT_COMMANDS_H
#define FIELDSYNC_AGENT_COMMANDS_H

#include "cli.h"

int cmd_init(struct cli *c);
int cmd_user(struct cli *c);
int cmd_audit(struct cli *c);
int cmd_status(struct cli *c);
int cmd_enroll(struct cli *c);
int cmd_server(struct cli *c);
int cmd_rekey(struct cli *c);
int cmd_sync(struct cli *c);
int cmd_conflicts(struct cli *c);
int cmd_serve(struct cli *c);
int cmd_logon(struct cli *c);
int cmd_logoff(struct cli *c);
int cmd_key_file(struct cli *c);

#endif
