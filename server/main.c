/*
 * server/main.c - fieldsync-server: the HQ hub.
 *
 * Global options as for the agent (--home, --user, --json, --config, ...).  The server's own
 * identity unlocks the store with a key file (--key-file, else the systemd credential
 * fieldsync-server.key, else FIELDSYNC_KEY_FILE or key-file in server.conf, default
 * "<home>.key", mode 0600); HQ staff log on with --user and their passphrase, each in a key
 * slot of their own.  Exit codes: 0 success, 1 failure, 2 usage.
 */
#include "base/crypto.h"
#include "cmd_config.h"
#include "cmd_evidence.h"
#include "cmd_store.h"
#include "commands.h"
#include "conf.h"
#include "hq.h"
#include "program.h"

static const char help[] =
	"usage: fieldsync-server [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"The HQ hub of fieldsync: the organisation's CA, device enrollment, mutual-TLS service.\n"
	"Run 'fieldsync-server COMMAND --help' for a command's options.\n"
	"\n"
	"Commands:\n"
	"  init --org NAME [--listen HOST:PORT] [--host NAME]... [--advertise URL]\n"
	"                           the encrypted store, its key file, the CA and the server\n"
	"                           certificate; port 0 picks a free port and keeps it\n"
	"  user add NAME --role ROLE | passwd [NAME] | remove NAME | list\n"
	"                           HQ staff accounts (hq-admin, intake, supervisor, investigator,\n"
	"                           auditor, analyst), each with a passphrase of its own\n"
	"  office add CODE --name NAME | token CODE | list | revoke CODE\n"
	"                           field offices and their one-time enrollment tokens\n"
	"  device list [--silent-days N] | revoke DEVICE | release DEVICE\n"
	"                           devices: last sync, receipts, certificates; a held one freed\n"
	"  case list [--office O --status S --overdue --csv ...] | show ID | history ID |\n"
	"       search QUERY       every office's cases as last synced (audited)\n"
	"  case edit ID --set FIELD=VALUE...   an HQ edit, merged into the offices' work\n"
	"  case share|unshare ID OFFICE | transfer ID OFFICE [--keep-shares]\n"
	"                           who sees a case; an office that loses it removes it\n"
	"  case assign ID --to USER | due ID DATE | import FILE.jsonl\n"
	"  intake new --category C --summary S --office O [...]   a new allegation\n"
	"  policy set-due --category C --days N | list   deadlines by category\n"
	"  report --from DATE --to DATE --table T [--csv] | --html FILE   the annual tables\n"
	"  evidence add|list|show|get|custody|export|verify ID ...   evidence and its custody\n"
	"  audit log | head | verify | query | export   the trails HQ holds\n"
	"  ca export | status | renew-server | rollover [--finish]   the CA (PEM for 'audit\n"
	"                           verify --file'), server certificate renewal, CA rollover\n"
	"  check                    verify the store: integrity, objects, indexes, audit\n"
	"  backup --out FILE        an online, encrypted, verified backup of the store\n"
	"  restore FILE --node DIR  a backup into an empty directory\n"
	"  rekey [--remove-other-slots]   a new database key (stop 'run' first)\n"
	"  run [--workers N] [--metrics 127.0.0.1:PORT] ...   serve mutual TLS (SIGTERM stops)\n"
	"  config check | show      server.conf: its errors, or every key and its source\n"
	"\n"
	"Global options:\n"
	"  --home DIR          server directory (or FIELDSYNC_HOME, or home in server.conf;\n"
	"                      default /var/lib/fieldsync/server)\n"
	"  --config FILE       the configuration file (or FIELDSYNC_CONFIG; default\n"
	"                      /etc/fieldsync/server.conf when it exists; fieldsync.conf(5))\n"
	"  --key-file F        the key file of the server's own identity, 'server', which has\n"
	"                      every role (or FIELDSYNC_KEY_FILE; default DIR.key; under systemd\n"
	"                      the credential fieldsync-server.key); init and run always use it\n"
	"  --user NAME         log on as HQ staff user NAME (or FIELDSYNC_USER), before the\n"
	"                      command word; --passphrase-file F (or FIELDSYNC_PASSPHRASE)\n"
	"  --new-passphrase-file F   for user add/passwd (or FIELDSYNC_NEW_PASSPHRASE)\n"
	"  --kdf-cost default|low    staff key-slot cost; 'low' is for tests only\n"
	"  --json              print one JSON document on stdout\n"
	"  --help, --version\n";

static int set_key_file(struct cli *c, const char *v)
{
	c->key_file = v;
	return 0;
}

static void defaults(struct cli *c)
{
	c->open_node = hq_open_user;
	c->own_secret = hq_own_secret;
	c->open_node_key = hq_open_key;
}

static const struct cli_global globals[] = {{"--key-file", set_key_file}};

static const struct cli_command commands[] = {
	{"init", cmd_server_init, 0},
	{"user", cmd_server_user, 0},
	{"office", cmd_server_office, 1},
	{"device", cmd_server_office, 1},
	{"run", cmd_server_run, 0},
	{"audit", cmd_server_audit, 0},
	{"case", cmd_server_case, 0},
	{"intake", cmd_server_intake, 0},
	{"policy", cmd_server_policy, 0},
	{"report", cmd_server_report, 0},
	{"evidence", cmd_evidence, 0},
	{"ca", cmd_server_ca, 0},
	{"check", cmd_check, 0},
	{"backup", cmd_backup, 0},
	{"restore", cmd_restore_hq, 0},
	{"rekey", cmd_server_rekey, 0},
	{"config", cli_config_command, 0},
};

static struct cli_program server = {"fieldsync-server", "0.1.0", help, globals,
	sizeof(globals) / sizeof(globals[0]), commands, sizeof(commands) / sizeof(commands[0]),
	defaults, 1, server_config_keys, 0, "server"};

int main(int argc, char **argv)
{
	server.nconfig_keys = server_nconfig_keys; /* server/conf.c */
	return cli_main(&server, argc, argv);
}
