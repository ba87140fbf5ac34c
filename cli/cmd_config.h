/*
 * cli/cmd_config.h - the configuration (cli/config.h) as both programs use it: the values it
 * gives a command's options, the `config check|show` command, and the report of a broken file.
 */
#ifndef FIELDSYNC_CLI_CMD_CONFIG_H
#define FIELDSYNC_CLI_CMD_CONFIG_H

#include "cli.h"

/*
 * Give the options of command `section` that the command line left out the configuration's
 * values (environment, file or default), after cli_parse_opts(): a flag is set when its key
 * says so (a negated one, --no-web, when its key is false).  Nothing happens without a
 * configuration (c->config NULL).  The values stay valid while c->config does.
 */
void cli_config_opts(const struct cli *c, const char *section, struct cli_opt *opts, size_t nopts);

/* Print every configuration error on stderr ("PROG: error: FILE:LINE: ..."): exit code 1. */
int cli_config_report(const struct cli *c);

/* `config check|show [OPTIONS]`: returns an exit code. */
int cli_config_command(struct cli *c);

#endif
