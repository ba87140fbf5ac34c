/*
 * agent/main.c - fieldsync-agent: the field-office program.
 *
 * A table over cli_main() (cli/program.h): the agent's global options and commands.
 */
#include <string.h>

#include "base/crypto.h"
#include "client.h"
#include "cmd_ca.h"
#include "cmd_config.h"
#include "cmd_case.h"
#include "cmd_evidence.h"
#include "cmd_store.h"
#include "commands.h"
#include "conf.h"
#include "program.h"
#include "service.h"

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
	"  evidence add|list|show|get|custody|export|verify ID ...\n"
	"                                       evidence items and their chain of custody\n"
	"  audit log [--since TIME]             the local audit trail (auditor, admin)\n"
	"  audit head                           the last HQ receipt, to keep or hand over (JSON)\n"
	"  audit verify [--file F --ca CA] [--expect-size N --expect-head H | --expect-receipt R]\n"
	"                                       recompute this device's trail, or check an export\n"
	"  ca export [--out FILE]               the CA certificate pinned at enrollment (PEM)\n"
	"  check                                verify the store: integrity, objects, indexes, audit\n"
	"  backup --out FILE                    an online, encrypted, verified backup (admin)\n"
	"  restore FILE --node DIR              restore a backup into an empty directory; HQ\n"
	"                                       holds the device until it is released\n"
	"  rekey [--service-key-file F] [--remove-other-slots]\n"
	"                                       a new database key, every key slot rewrapped\n"
	"  enroll [--server URL] --token TOKEN  enroll this device with HQ (one-time token)\n"
	"  server show | set URL                the HQ address; set checks it against the pinned CA\n"
	"  sync                                 push, pull and merge with HQ; prints a summary\n"
	"  conflicts [ID]                       cases with kept conflicting versions / one case's\n"
	"  conflicts resolve ID PATH (--mine | --theirs | --value V)   settle one\n"
	"  status                               identity, unpushed work, last sync, conflicts\n"
	"  serve [--listen 127.0.0.1:PORT]      unlock once: background sync, the web interface,\n"
	"                                       commands without their own log-on\n"
	"  logon | logoff                       open / end your session in the running service\n"
	"  key-file create FILE | remove        a device key file: `serve --key-file` unattended\n"
	"  config check | show                  the configuration file (agent.conf): its errors, or\n"
	"                                       every key's value and where it came from\n"
	"\n"
	"Global options:\n"
	"  --home DIR              node directory (or FIELDSYNC_HOME, or home in agent.conf;\n"
	"                          default /var/lib/fieldsync/agent)\n"
	"  --config FILE           the configuration file (or FIELDSYNC_CONFIG; default\n"
	"                          /etc/fieldsync/agent.conf when it exists; fieldsync.conf(5))\n"
	"  --user NAME             who you are (or FIELDSYNC_USER)\n"
	"  --passphrase-file F     read your passphrase from F (or FIELDSYNC_PASSPHRASE; else asked)\n"
	"  --new-passphrase-file F a new passphrase for user add/passwd (or FIELDSYNC_NEW_PASSPHRASE)\n"
	"  --json                  print one JSON document on stdout\n"
	"  --kdf-cost default|low  key-slot cost for init/user add/passwd; 'low' is for tests only\n"
	"  --help, --version\n"
	"\n"
	"Run 'fieldsync-agent COMMAND --help' for a command's options.\n";

static const struct cli_command commands[] = {
	{"init", cmd_init, 0},
	{"user", cmd_user, 0},
	{"case", cmd_case, 0},
	{"note", cmd_note, 0},
	{"evidence", cmd_evidence, 0},
	{"audit", cmd_audit, 0},
	{"check", cmd_check, 0},
	{"backup", cmd_backup, 0},
	{"restore", cmd_restore_device, 0},
	{"rekey", cmd_rekey, 0},
	{"status", cmd_status, 0},
	{"enroll", cmd_enroll, 0},
	{"server", cmd_server, 0},
	{"sync", cmd_sync, 0},
	{"conflicts", cmd_conflicts, 0},
	{"ca", cmd_ca, 0},
	{"serve", cmd_serve, 0},
	{"logon", cmd_logon, 0},
	{"logoff", cmd_logoff, 0},
	{"key-file", cmd_key_file, 0},
	{"config", cli_config_command, 0},
};

static struct cli_program agent = {"fieldsync-agent", VERSION, help, NULL, 0, commands,
	sizeof(commands) / sizeof(commands[0]), NULL, 0, agent_config_keys, 0, "agent"};

int main(int argc, char **argv)
{
	int rc;

	agent.nconfig_keys = agent_nconfig_keys; /* agent/conf.c */
	/* with a service running, the command runs there (agent/client.h) */
	if (client_forward(&rc, &agent, argc, argv))
		return rc;
	service_program = &agent;
	return cli_main(&agent, argc, argv);
}
