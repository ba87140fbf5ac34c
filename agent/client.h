/*
 * agent/client.h - run a command line through the running service (agent/wire.h), if any.
 */
#ifndef FIELDSYNC_AGENT_CLIENT_H
#define FIELDSYNC_AGENT_CLIENT_H

#include "program.h"

/*
 * If a service runs for the node this command line names, and the command is one it runs
 * (not init, user, enroll, serve, nor an --edit in a terminal editor), run it there: *rc gets
 * its exit code and 1 is returned.  Without an open session of the user there, the passphrase
 * is read as the command would (--passphrase-file, FIELDSYNC_PASSPHRASE or the terminal) and
 * sent to log on.  Returns 0 (nothing done) when the command is to run in this process: no
 * service, FIELDSYNC_NO_SERVICE set (not "0"), or anything doubtful about the command line.
 */
int client_forward(int *rc, const struct cli_program *p, int argc, char **argv);

#endif
