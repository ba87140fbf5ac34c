/*
 * agent/main.c - fieldsync-agent: the field-office program.
 *
 * Global options are taken out of argv wherever they stand; the first word names the command,
 * which parses the rest.  Exit codes: 0 success, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "crypto.h"
#include "odb.h"

#define VERSION "0.1.0"

static const char help[] =
	"usage: fieldsync-agent [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"The field-office agent of fieldsync: encrypted offline case work.\n"
	"\n"
	"Commands:\n"
	"  init --office CODE --user NAME       create the encrypted store and its first admin\n"
	"  user add NAME --role ROLE            add a user (investigator, supervisor, auditor, admin)\n"
	"  user passwd [NAME]                   change a passphrase (yours, or anyone's as admin)\n"
	"  user remove NAME                     remove a user; their passphrase opens nothing after\n"
	"  user list                            list users and roles\n"
	"  case new --title T --category C [--set FIELD=VALUE]... [--narrative-file F]\n"
	"                                       open a case; prints its id\n"
	"  case edit ID [--set FIELD=VALUE]... [--narrative-file F]\n"
	"  case show ID                         fields, narrative, notes, conflicts\n"
	"  case list [--status S]               all cases, or those with one status\n"
	"  case search QUERY                    full-text search (words, \"phrases\", prefix*, OR)\n"
	"  case history ID                      every edit with user, device and time\n"
	"  case fields                          the case schema: fields and allowed values\n"
	"  note add ID (--text T | --file F)    add a note or interview record\n"
	"  audit log [--since TIME]             the local audit trail (auditor, admin)\n"
	"  check                                verify the store: integrity, objects, indexes, audit\n"
	"  enroll --server URL --token TOKEN    enroll this device with HQ (one-time token)\n"
	"  sync                                 push, pull and merge with HQ; prints a summary\n"
	"  conflicts [ID]                       cases with kept conflicting versions / one case's\n"
	"  conflicts resolve ID PATH (--mine | --theirs | --value V)   settle one\n"
	"  status                               identity, unpushed work, last sync, conflicts\n"
	"\n"
	"Global options:\n"
	"  --home DIR              node directory (or FIELDSYNC_HOME)\n"
	"  --user NAME             who you are (or FIELDSYNC_USER)\n"
	"  --passphrase-file F     read your passphrase from F (or FIELDSYNC_PASSPHRASE; else asked)\n"
	"  --new-passphrase-file F a new passphrase for user add/passwd (or FIELDSYNC_NEW_PASSPHRASE)\n"
	"  --json                  print one JSON document on stdout\n"
	"  --kdf-cost default|low  key-slot cost for init/user add/passwd; 'low' is for tests only\n"
	"  --help, --version\n"
	"\n"
	"Run 'fieldsync-agent COMMAND --help' for a command's options.\n";

struct command {
	const char *name;
	int (*fn)(struct cli *c);
};

static const struct command commands[] = {
	{"init", cmd_init},
	{"user", cmd_user},
	{"case", cmd_case},
	{"note", cmd_note},
	{"audit", cmd_audit},
	{"check", cmd_check},
	{"status", cmd_status},
	{"enroll", cmd_enroll},
	{"sync", cmd_sync},
	{"conflicts", cmd_conflicts},
};

/* Take a global option at argv[*i] if it is one; 1 taken, 0 not global, -1 usage error. */
static int take_global(struct cli *c, int argc, char **argv, int *i)
{
	static const char *const with_value[] = {"--home", "--user", "--passphrase-file",
		"--new-passphrase-file", "--kdf-cost"};
	const char *a = argv[*i], *val = NULL;
	size_t k, n;

	if (strcmp(a, "--json") == 0) {
		c->json = 1;
		return 1;
	}
	for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
		n = strlen(with_value[k]);
		if (strncmp(a, with_value[k], n) != 0 || (a[n] != '\0' && a[n] != '='))
			continue;
		if (a[n] == '=')
			val = a + n + 1;
		else if (*i + 1 < argc)
			val = argv[++*i];
		else
			return -1;
		if (k == 0)
			c->home = val;
		else if (k == 1)
			c->user = val;
		else if (k == 2)
			c->passphrase_file = val;
		else if (k == 3)
			c->new_passphrase_file = val;
		else if (strcmp(val, "low") == 0)
			c->kdf = &CRYPTO_KDF_LOW;
		else if (strcmp(val, "default") == 0)
			c->kdf = &CRYPTO_KDF_DEFAULT;
		else
			return -1;
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char *rest[256];
	struct cli c;
	int i, nrest = 0, taken;
	size_t k;

	memset(&c, 0, sizeof(c));
	c.prog = "fieldsync-agent";
	/* keys live in this process: no core file, no dumping (before anything is unlocked) */
	if (crypto_harden_process())
		return cli_fail(&c);
	c.kdf = &CRYPTO_KDF_DEFAULT;
	for (i = 1; i < argc; i++) {
		taken = take_global(&c, argc, argv, &i);
		if (taken < 0)
			return cli_usage_error(&c, "COMMAND [ARGS]", "bad value for option '%s'",
				argv[i]);
		if (taken)
			continue;
		if (nrest >= (int)(sizeof(rest) / sizeof(rest[0])))
			return cli_usage_error(&c, "COMMAND [ARGS]", "too many arguments");
		rest[nrest++] = argv[i];
	}
	if (nrest == 0 || strcmp(rest[0], "--help") == 0 || strcmp(rest[0], "help") == 0) {
		fputs(help, nrest == 0 ? stderr : stdout);
		return nrest == 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (strcmp(rest[0], "--version") == 0) {
		printf("fieldsync-agent %s\n", VERSION);
		return CLI_EXIT_OK;
	}
	if (odb_global_init())
		return cli_fail(&c);
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(rest[0], commands[k].name) == 0) {
			c.argc = nrest - 1;
			c.argv = rest + 1;
			return commands[k].fn(&c);
		}
	}
	return cli_usage_error(&c, "COMMAND [ARGS]", "unknown command '%s'", rest[0]);
}
