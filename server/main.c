/*
 * server/main.c - fieldsync-server: the HQ hub.
 *
 * Global options as for the agent (--home, --json); the server unlocks its store with a key
 * file (--key-file, FIELDSYNC_KEY_FILE, default "<home>.key", mode 0600) instead of a
 * passphrase.  Exit codes: 0 success, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include "hq.h"
#include "crypto.h"
#include "odb.h"

static const char help[] =
	"usage: fieldsync-server [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"The HQ hub of fieldsync: the organisation's CA, device enrollment, mutual-TLS service.\n"
	"\n"
	"Commands:\n"
	"  init --org NAME [--listen HOST:PORT] [--host NAME]...\n"
	"                           create the encrypted store, its key file, the CA and the\n"
	"                           server certificate (subjectAltNames: localhost, the listen\n"
	"                           address and every --host)\n"
	"  office add CODE --name NAME   add a field office; prints a one-time enrollment token\n"
	"  office token CODE        a new one-time token (another device of the office)\n"
	"  office list              offices with their devices\n"
	"  office revoke CODE       revoke an office and all its devices, at once\n"
	"  device revoke DEVICE     revoke one device\n"
	"  case list | show ID | history ID | search QUERY\n"
	"                           every office's cases as last synced (audited)\n"
	"  case edit ID --set FIELD=VALUE...   an HQ edit, merged into the offices' work\n"
	"  case share ID OFFICE     let another office see and edit a case\n"
	"  case transfer ID OFFICE  make another office the owner\n"
	"  audit log [--since T]    the server's audit trail\n"
	"  run [--workers N]        serve mutual TLS on the listen address (foreground; SIGTERM stops)\n"
	"\n"
	"Global options:\n"
	"  --home DIR          server directory (or FIELDSYNC_HOME)\n"
	"  --key-file F        the store's key file (or FIELDSYNC_KEY_FILE; default DIR.key)\n"
	"  --json              print one JSON document on stdout\n"
	"  --help, --version\n";

static int take_global(struct cli *c, int argc, char **argv, int *i)
{
	static const char *const with_value[] = {"--home", "--key-file"};
	const char *a = argv[*i], *val = NULL;
	size_t k, n;

	if (strcmp(a, "--json") == 0) {
		c->json = 1;
		return 1;
	}
	for (k = 0; k < 2; k++) {
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
		else
			c->passphrase_file = val; /* the key file plays the passphrase's part */
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char *rest[256];
	struct cli c;
	int i, nrest = 0, taken;

	memset(&c, 0, sizeof(c));
	c.prog = "fieldsync-server";
	/* keys live in this process: no core file, no dumping (before anything is unlocked) */
	if (crypto_harden_process())
		return cli_fail(&c);
	c.kdf = &CRYPTO_KDF_LOW; /* slots wrap with a 256-bit random key file, not a passphrase */
	c.open_node = hq_open;
	for (i = 1; i < argc; i++) {
		taken = take_global(&c, argc, argv, &i);
		if (taken < 0)
			return cli_usage_error(&c, "COMMAND [ARGS]", "option '%s' needs a value",
				argv[i]);
		if (taken)
			continue;
		if (nrest >= (int)(sizeof(rest) / sizeof(rest[0])))
			return cli_usage_error(&c, "COMMAND [ARGS]", "too many arguments");
		rest[nrest++] = argv[i];
	}
	if (nrest == 0 || !strcmp(rest[0], "--help") || !strcmp(rest[0], "help")) {
		fputs(help, nrest == 0 ? stderr : stdout);
		return nrest == 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (!strcmp(rest[0], "--version")) {
		printf("fieldsync-server 0.1.0\n");
		return CLI_EXIT_OK;
	}
	if (odb_global_init())
		return cli_fail(&c);
	c.argc = nrest - 1;
	c.argv = rest + 1;
	if (!strcmp(rest[0], "init"))
		return cmd_server_init(&c);
	if (!strcmp(rest[0], "office") || !strcmp(rest[0], "device")) {
		c.argc = nrest; /* the command keeps its first word: office or device */
		c.argv = rest;
		return cmd_server_office(&c);
	}
	if (!strcmp(rest[0], "run"))
		return cmd_server_run(&c);
	if (!strcmp(rest[0], "audit"))
		return cmd_server_audit(&c);
	if (!strcmp(rest[0], "case"))
		return cmd_server_case(&c);
	return cli_usage_error(&c, "COMMAND [ARGS]", "unknown command '%s'", rest[0]);
}
