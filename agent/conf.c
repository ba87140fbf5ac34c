/*
 * agent/conf.c - the keys of /etc/fieldsync/agent.conf.  Each backs an option the agent has;
 * the defaults are those the options have without the file (fieldsync.conf(5) lists them, and
 * tests/integration/test_config.py checks that the manual and this table agree).
 */
#include "conf.h"

#include <stdint.h>

#define S 1000LL
#define M (60 * S)
#define H (60 * M)

const struct config_key agent_config_keys[] = {
	{"agent", "home", CONFIG_STRING, "/var/lib/fieldsync/agent", 0, 0, "FIELDSYNC_HOME",
		"--home", 1, 0, "the node directory: the encrypted store of this device", NULL},
	{"serve", "listen", CONFIG_ADDRESS, "127.0.0.1:8470", 0, 0, "FIELDSYNC_LISTEN", "--listen",
		0, 0, "the web interface's address (a loopback address unless force-listen)", NULL},
	{"serve", "web", CONFIG_BOOL, "true", 0, 0, "FIELDSYNC_WEB", "--no-web", 0, 1,
		"serve the web interface (false: the command line and the sync only)", NULL},
	{"serve", "force-listen", CONFIG_BOOL, "false", 0, 0, "FIELDSYNC_FORCE_LISTEN",
		"--force-listen", 0, 0,
		"let the web interface listen on an address that is not loopback", NULL},
	{"serve", "idle", CONFIG_DURATION, "15m", 1 * S, 30 * M, "FIELDSYNC_IDLE", "--idle", 0, 0,
		"a session locks after this long without use (at most 30m)", NULL},
	{"serve", "sync-every", CONFIG_DURATION, "5m", 1 * S, INT64_MAX, "FIELDSYNC_SYNC_EVERY",
		"--sync-every", 0, 0, "the background sync runs this often", NULL},
	{"serve", "sync-debounce", CONFIG_DURATION, "10s", 0, INT64_MAX, "FIELDSYNC_SYNC_DEBOUNCE",
		"--sync-debounce", 0, 0, "and this long after a change made through the service",
		NULL},
	{"serve", "backoff-min", CONFIG_DURATION, "5s", 100, INT64_MAX, "FIELDSYNC_BACKOFF_MIN",
		"--backoff-min", 0, 0, "the first wait before a retry while HQ cannot be reached",
		NULL},
	{"serve", "backoff-max", CONFIG_DURATION, "5m", 100, INT64_MAX, "FIELDSYNC_BACKOFF_MAX",
		"--backoff-max", 0, 0,
		"the longest wait between retries (the wait doubles up to it)", NULL},
	{"serve", "log", CONFIG_STRING, NULL, 0, 0, "FIELDSYNC_LOG", "--log", 0, 0,
		"append the service's log to this file (unset: standard error, e.g. the journal)",
		NULL},
	{"serve", "key-file", CONFIG_STRING, NULL, 0, 0, "FIELDSYNC_KEY_FILE", "--key-file", 0, 0,
		"unlock with this device key file, unattended (unset: the passphrase of the user; "
		"the systemd credential fieldsync-agent.key comes first when there is one)",
		"fieldsync-agent.key"},
};

const size_t agent_nconfig_keys = sizeof(agent_config_keys) / sizeof(agent_config_keys[0]);
