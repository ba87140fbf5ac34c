/*
 * cli/config.h - the configuration file of both programs (/etc/fieldsync/agent.conf,
 * server.conf): INI parsed with libinih, checked against a table of the keys a program knows.
 *
 * Each key backs one option the program already has (a global option such as --home, or an
 * option of one command such as `serve --idle`), has a type, a default, a help line and an
 * environment variable.  The value that counts is the first of: the command line, the
 * environment, the file, the default.  The file is --config FILE, else FIELDSYNC_CONFIG, else
 * /etc/fieldsync/<name>.conf when it exists (a file named explicitly must exist).
 *
 * Errors are collected, not stopped at: every bad line, unknown section or key, wrong type or
 * duplicate, each naming the file, the line and the key.  A program refuses to run a command
 * with a broken configuration (but `config check`, which lists the errors, and --help).
 */
#ifndef FIELDSYNC_CLI_CONFIG_H
#define FIELDSYNC_CLI_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define CONFIG_DIR "/etc/fieldsync"
#define CONFIG_MAX_BYTES (64 * 1024) /* a configuration file is small; more is a mistake */
#define CONFIG_KEYS_MAX 32

enum config_type {
	CONFIG_STRING,	 /* any non-empty text (a path) */
	CONFIG_INT,	 /* a whole number in [min, max] */
	CONFIG_BOOL,	 /* true/false, yes/no, on/off, 1/0 */
	CONFIG_DURATION, /* 500ms, 90s, 15m, 1h, or seconds; min and max in milliseconds */
	CONFIG_ADDRESS,	 /* HOST:PORT or [IPv6]:PORT, port 0 to 65535 */
};

/* Where a key's effective value came from. */
enum config_source {
	CONFIG_FROM_DEFAULT,
	CONFIG_FROM_FILE,
	CONFIG_FROM_ENV,
	CONFIG_FROM_CREDENTIAL, /* $CREDENTIALS_DIRECTORY/<credential>, from systemd */
	CONFIG_FROM_COMMAND_LINE,
};

/* One key a program knows. */
struct config_key {
	const char *section; /* "agent"/"server" for global options, else the command's name */
	const char *name;    /* "sync-every" */
	enum config_type type;
	const char *def;    /* the default, as it would be written in the file; NULL: none */
	int64_t min, max;   /* CONFIG_INT, CONFIG_DURATION (ms); both 0: no bound */
	const char *env;    /* "FIELDSYNC_SYNC_EVERY" */
	const char *option; /* the option it backs: "--sync-every" */
	int global;	    /* the option is a global one (struct cli), not the command's */
	int negate;	    /* a bool whose option turns it off (web = false is --no-web) */
	const char *help;   /* one line */
	/* a key file that systemd may hand over instead (LoadCredential=): when
	 * $CREDENTIALS_DIRECTORY/<credential> exists it comes before the environment and the
	 * file, after the command line */
	const char *credential;
};

/* One key's effective value. */
struct config_value {
	const char *value; /* NULL: unset (no default) */
	enum config_source source;
	int line; /* CONFIG_FROM_FILE: the line */
};

/* A program's configuration, loaded once per process. */
struct config {
	const struct config_key *keys;
	size_t nkeys;
	char path[4096];   /* the file read, or the default one looked for */
	int have_file;	   /* the file was there and read */
	int explicit_file; /* named by --config or FIELDSYNC_CONFIG */
	struct config_value vals[CONFIG_KEYS_MAX];
	char *owned[CONFIG_KEYS_MAX]; /* the values read from the file */
	struct buf errors;	      /* every error, one per line */
	int nerrors;
};

/*
 * Load the configuration of a program: `keys` (nkeys <= CONFIG_KEYS_MAX, borrowed for the
 * config's lifetime), the file `path` if not NULL (explicit), else FIELDSYNC_CONFIG, else
 * CONFIG_DIR/<name>.conf if present.  Values come from systemd's credentials, the
 * environment, the file and the defaults; command-line values are laid over later (config_set_command_line).  Errors in the
 * file or the environment are collected in cfg->errors (see config_errors) and are not a
 * failure of this function, which fails only for lack of memory (ERR_NOMEM).
 */
int config_load(struct config *cfg, const struct config_key *keys, size_t nkeys, const char *name,
	const char *path) WUR;

/* Free what config_load allocated (NULL-safe; the struct itself is the caller's). */
void config_release(struct config *cfg);

/* The key `name` of `section`, or NULL; its index in *idx when idx is not NULL. */
const struct config_key *config_key_find(const struct config *cfg, const char *section,
	const char *name, size_t *idx);

/* The effective value of a key ("" sections are not allowed), or NULL if unset. */
const char *config_get(const struct config *cfg, const char *section, const char *name);

/*
 * Lay a value given on the command line over key `idx` (value borrowed; for a flag "true",
 * or "false" for a negated one).  A wrong type is recorded as an error naming the option.
 */
void config_set_command_line(struct config *cfg, size_t idx, const char *value);

/* The collected errors, one per line ("" if none); cfg->nerrors counts them. */
const char *config_errors(const struct config *cfg);

/* How a type's values are described in errors and the manual ("a duration like 5m"). */
const char *config_type_name(enum config_type type);

/*
 * Check `value` against key `k`: 0, or ERR_INVALID with "expected ..., got '...'" (no subject:
 * the caller names the file and line, the variable or the option).
 */
int config_check_value(const struct config_key *k, const char *value) WUR;

/* A bool value as 0/1 (the value was checked). */
int config_bool(const char *value);

/* "90", "90s", "15m", "1h", "500ms" -> milliseconds; -1 if malformed or over 10^8 units. */
int64_t config_parse_duration(const char *value);

#endif
