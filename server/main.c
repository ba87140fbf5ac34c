/*
 * server/main.c - fieldsync-server: the HQ hub.
 *
 * Global options as for the agent (--home, --json, --config); the server unlocks its store
 * with a key file (--key-file, else the systemd credential fieldsync-server.key, else
 * FIELDSYNC_KEY_FILE or key-file in server.conf, default "<home>.key", mode 0600) instead of
 * a passphrase.  Exit codes: 0 success, 1 failure, 2 usage.
 */
#include "base/crypto.h"
#include "cmd_ca.h"
#include "cmd_config.h"
#include "cmd_evidence.h"
#include "commands.h"
#include "conf.h"
#include "hq.h"
#include "program.h"

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
	"  device revoke DEVICE     revoke one device (DEVICE: its id or a unique prefix)\n"
	"  device release DEVICE    let a device held after an audit alert sync again\n"
	"  case list | show ID | history ID | search QUERY\n"
	"                           every office's cases as last synced (audited)\n"
	"  case edit ID --set FIELD=VALUE...   an HQ edit, merged into the offices' work\n"
	"  case share ID OFFICE     let another office see and edit a case\n"
	"  case transfer ID OFFICE  make another office the owner\n"
	"  evidence add|list|show|get|custody|export|verify ID ...\n"
	"                           evidence items and their chain of custody at HQ\n"
	"  audit log [--since T]    the server's audit trail\n"
	"  audit head | verify | query | export   checkpoints and every trail HQ holds\n"
	"                           ('fieldsync-server audit --help')\n"
	"  ca export [--out FILE]   the CA certificate (PEM): all 'audit verify --file' needs\n"
	"  run [--workers N] [--max-connections N] [--peer-limit N]\n"
	"                           serve mutual TLS on the listen address (foreground; SIGTERM\n"
	"                           stops); 'run --help' for the limits on hostile clients\n"
	"  config check | show      the configuration file (server.conf): its errors, or every\n"
	"                           key's value and where it came from\n"
	"\n"
	"Global options:\n"
	"  --home DIR          server directory (or FIELDSYNC_HOME, or home in server.conf;\n"
	"                      default /var/lib/fieldsync/server)\n"
	"  --key-file F        the store's key file (or FIELDSYNC_KEY_FILE; default DIR.key; run by\n"
	"                      systemd, the credential fieldsync-server.key comes first)\n"
	"  --config FILE       the configuration file (or FIELDSYNC_CONFIG; default\n"
	"                      /etc/fieldsync/server.conf when it exists; fieldsync.conf(5))\n"
	"  --json              print one JSON document on stdout\n"
	"  --help, --version\n";

static int set_key_file(struct cli *c, const char *v)
{
	c->passphrase_file = v; /* the key file plays the passphrase's part */
	return 0;
}

static void defaults(struct cli *c)
{
	c->kdf = &CRYPTO_KDF_LOW; /* slots wrap with a 256-bit random key file, not a passphrase */
	c->open_node = hq_open;
}

static const struct cli_global globals[] = {{"--key-file", set_key_file}};

static const struct cli_command commands[] = {
	{"init", cmd_server_init, 0},
	{"office", cmd_server_office, 1},
	{"device", cmd_server_office, 1},
	{"run", cmd_server_run, 0},
	{"audit", cmd_server_audit, 0},
	{"case", cmd_server_case, 0},
	{"evidence", cmd_evidence, 0},
	{"ca", cmd_ca, 0},
	{"config", cli_config_command, 0},
};

static struct cli_program server = {"fieldsync-server", "0.1.0", help, globals,
	sizeof(globals) / sizeof(globals[0]), commands, sizeof(commands) / sizeof(commands[0]),
	defaults, server_config_keys, 0, "server"};

int main(int argc, char **argv)
{
	server.nconfig_keys = server_nconfig_keys; /* server/conf.c */
	return cli_main(&server, argc, argv);
}
