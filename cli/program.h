/*
 * cli/program.h - the one main() of both programs: global options taken out of argv wherever
 * they stand, --help and --version, the process hardened before anything is unlocked, then
 * the command named by the first word.  A program is a table:
 *
 *	static const struct cli_command commands[] = {{"sync", cmd_sync, 0}, ...};
 *	static const struct cli_global globals[] = {{"--user", set_user}, ...};
 *	int main(int argc, char **argv) { return cli_main(&program, argc, argv); }
 *
 * Exit codes: 0 success, 1 failure, 2 usage.
 */
#ifndef FIELDSYNC_CLI_PROGRAM_H
#define FIELDSYNC_CLI_PROGRAM_H

#include <stddef.h>

#include "cli.h"

/* A global option of one program, with a value ("--name V" or "--name=V"); --home and
 * --json are every program's and need no entry. */
struct cli_global {
	const char *name;
	/* store the value in c; nonzero for a bad value (a usage error) */
	int (*set)(struct cli *c, const char *value);
};

struct cli_command {
	const char *name;
	int (*fn)(struct cli *c);
	int keep_word; /* the command sees its own name as argv[0] (e.g. office|device) */
};

struct cli_program {
	const char *prog;    /* "fieldsync-agent" */
	const char *version; /* "0.1.0" */
	const char *help;    /* the program's --help text */
	const struct cli_global *globals;
	size_t nglobals;
	const struct cli_command *commands;
	size_t ncommands;
	/* defaults before the options are read (the key-derivation cost, the node opener) */
	void (*defaults)(struct cli *c);
	/* --user is the log-on user only before the command word; after it, it is the
	 * command's own (the server's `audit query --user U` filter) */
	int user_before_command;
	/* the configuration file's keys (cli/config.h) and its name: CONFIG_DIR/<name>.conf */
	const struct config_key *config_keys;
	size_t nconfig_keys;
	const char *config_name;
};

#define CLI_ARGS_MAX 256 /* words of one command line */

/* Run the program: returns the process exit code. */
int cli_main(const struct cli_program *p, int argc, char **argv);

/*
 * The parts of cli_main(), for a program that runs commands in a long-lived process (the
 * agent's service runs a forwarded command line with the same dispatch, so its output and exit
 * code are those of the program itself).  cli_prepare() sets c to the program's defaults.
 */
void cli_prepare(struct cli *c, const struct cli_program *p);

/*
 * Take the global options out of argv (argv[0] is the program's name) into c; the other words
 * go to rest (borrowed from argv, at most maxrest).  0, or a usage error's exit code (printed).
 */
int cli_globals(struct cli *c, const struct cli_program *p, int argc, char **argv, char **rest,
	int maxrest, int *nrest);

/*
 * Load the program's configuration into cfg (the file, the environment, the defaults, and the
 * global options c was given) and give c the global options it names (--home ...) that the
 * command line did not.  c->config = cfg.  Errors in the configuration are left in cfg
 * (cfg->nerrors); the return is nonzero only for lack of memory.
 */
int cli_config_load(struct cli *c, const struct cli_program *p, struct config *cfg) WUR;

/* The global option `name` (e.g. "--home") as given on the command line, or NULL. */
const char *cli_given(const struct cli *c, const char *name);

/* Run the command rest[0] (or --help / --version) with c: returns its exit code. */
int cli_dispatch(struct cli *c, const struct cli_program *p, char **rest, int nrest);

#endif
