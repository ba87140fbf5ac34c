/*
 * cli/cli.h - command-line plumbing shared by both programs' commands: options, passphrases,
 * input files, output (text or one JSON document) and error reporting.
 */
#ifndef FIELDSYNC_CLI_CLI_H
#define FIELDSYNC_CLI_CLI_H

#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/crypto.h"
#include "base/err.h"
#include "node/node.h"

/* The number of entries of an option table. */
#define CLI_N_OPTS(o) (sizeof(o) / sizeof((o)[0]))

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

struct config;

#define CLI_GIVEN_MAX 16

/* Options every command understands. */
struct cli {
	const char *prog;
	const char *home;
	const char *user;
	const char *passphrase_file;
	const char *new_passphrase_file;
	int json;
	const struct crypto_kdf_cost *kdf;
	/* how cli_open_node() unlocks the node: NULL for a user's passphrase (the agent); the
	 * server sets its key-file opener */
	int (*open_node)(struct node **out, const struct cli *c);
	/* the same, also handing back the database key (backup, rekey); NULL: the passphrase */
	int (*open_node_key)(struct node **out, uint8_t key[CRYPTO_KEY_LEN], const struct cli *c);
	/* the logged-on identity's own secret, to unwrap the key for a new key slot: NULL for
	 * cli_passphrase(); the server reads its key file for its own identity */
	int (*own_secret)(struct buf *out, const struct cli *c);
	const char *key_file; /* the server's --key-file */
	/* positional words and per-command options, after the global ones are taken out */
	int argc;
	char **argv;
	/* the configuration (cli/config.h), NULL for a command the agent's service runs for a
	 * client: the service's own settings were taken when it started */
	struct config *config;
	const char *config_path; /* --config FILE */
	/* the global options given on the command line (name, value), for the configuration */
	struct {
		const char *name, *value;
	} given[CLI_GIVEN_MAX];
	int ngiven;
};

/* One per-command option: "--name" with a value (has_arg) or a flag. */
struct cli_opt {
	const char *name;
	int has_arg;
	int repeat;	     /* may be given more than once (values collected in order) */
	const char *values[64]; /* filled by cli_parse_opts */
	int count;
};

/*
 * Split argv into per-command options (matched against opts) and positional words.  Returns
 * 0, or prints a usage error and returns CLI_EXIT_USAGE.
 */
int cli_parse_opts(struct cli *c, const char *usage, struct cli_opt *opts, size_t nopts,
	const char **pos, int maxpos, int *npos);

/* The value of an option given once, or NULL. */
const char *cli_opt(const struct cli_opt *opts, size_t nopts, const char *name);

/*
 * Print one RFC 4180 CSV value (NULL as empty) and then a comma, or a newline when `last`:
 * quoted when it holds a comma, quote or line break; a leading =, +, - or @ gets an
 * apostrophe before it, so that a spreadsheet shows the value instead of running it.
 */
void cli_csv_value(const char *v, int last);

/* 1 if the flag (an option without a value) `name` was given. */
int cli_flag(const struct cli_opt *opts, size_t nopts, const char *name);

/* 1 if the command's words include --help (then its help text was printed on stdout). */
int cli_help(const struct cli *c, const char *help);

/* Report a usage error (exit 2). */
int cli_usage_error(const struct cli *c, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Report the last fieldsync error (exit 1). */
int cli_fail(const struct cli *c);

/* The user name: --user or FIELDSYNC_USER. ERR_INVALID if neither. */
int cli_user(const char **out, const struct cli *c) WUR;

/* The node directory: --home or FIELDSYNC_HOME. */
int cli_home(const char **out, const struct cli *c) WUR;

/*
 * The logged-on user's passphrase: --passphrase-file, FIELDSYNC_PASSPHRASE, or a prompt on the
 * terminal (asked twice when `confirm`).  The caller wipes it with buf_wipe_release().
 */
int cli_passphrase(struct buf *out, const struct cli *c, const char *prompt, int confirm) WUR;

/* A new user's passphrase: --new-passphrase-file, FIELDSYNC_NEW_PASSPHRASE or a prompt. */
int cli_new_passphrase(struct buf *out, const struct cli *c, const char *prompt) WUR;

/* Read a whole file ("-" for stdin) into out, at most max bytes. ERR_NOTFOUND, ERR_TOOBIG. */
int cli_read_file(struct buf *out, const char *path, size_t max) WUR;

/* Open the node: c->open_node if set, else log on with user, passphrase and node_open. */
int cli_open_node(struct node **out, const struct cli *c) WUR;

/*
 * cli_open_node() that also copies the database key into `key` (c->open_node_key, else the
 * passphrase and node_open_keep_key); the caller locks and wipes it.
 */
int cli_open_node_key(struct node **out, uint8_t key[CRYPTO_KEY_LEN], const struct cli *c) WUR;

/*
 * The "audit log [--since TIME] [--case ID]" command of either program: open the node
 * (cli_open_node), print its audit trail (entries at or after TIME, hlc_parse_time(); of
 * the case ID and the searches and lists that showed it) as a table or, with
 * --json, with each entry's hashed bytes in hex; the read itself is audited first.  Returns
 * an exit code.
 */
int cli_audit_command(struct cli *c, const char *help);

/*
 * The cases an audit entry (parsed) says a search or list showed, for a table: " [shown: ID
 * ID ... (+N more)]", or "" when it names none.  Cut to fit `size`.
 */
void cli_shown_cases(char *out, size_t size, json_t *entry);

/* The string member `key` of a JSON object, or "" (never NULL). */
const char *cli_json_str(json_t *doc, const char *key);

/* Print a JSON document on stdout (steals the reference). */
int cli_print_json(json_t *doc);

#endif
