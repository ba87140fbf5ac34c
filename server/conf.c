/*
 * server/conf.c - the keys of /etc/fieldsync/server.conf.  Each backs an option the server
 * has; the defaults are those the options have without the file (fieldsync.conf(5) lists
 * them, and tests/integration/test_config.py checks that the manual and this table agree).
 */
#include "conf.h"

const struct config_key server_config_keys[] = {
	{"server", "home", CONFIG_STRING, "/var/lib/fieldsync/server", 0, 0, "FIELDSYNC_HOME",
		"--home", 1, 0, "the server directory: the encrypted store of HQ", NULL},
	{"server", "key-file", CONFIG_STRING, NULL, 0, 0, "FIELDSYNC_KEY_FILE", "--key-file", 1, 0,
		"the store's key file (unset: the server directory's path with .key appended; "
		"the systemd credential fieldsync-server.key comes first when there is one)",
		"fieldsync-server.key"},
	{"run", "listen", CONFIG_ADDRESS, NULL, 0, 0, "FIELDSYNC_LISTEN", "--listen", 0, 0,
		"the mutual-TLS address (unset: the one given at init; port 0 picks a free one)",
		NULL},
	{"run", "workers", CONFIG_INT, "8", 1, 64, "FIELDSYNC_WORKERS", "--workers", 0, 0,
		"threads that handle requests, each with its own database connection", NULL},
	{"run", "max-connections", CONFIG_INT, "4096", 1, 1 << 20, "FIELDSYNC_MAX_CONNECTIONS",
		"--max-connections", 0, 0,
		"connections held open at once (bounded by the open file limit)", NULL},
	{"run", "peer-limit", CONFIG_INT, "32", 1, 1 << 20, "FIELDSYNC_PEER_LIMIT", "--peer-limit",
		0, 0, "connections one address may hold before it has proved a device identity",
		NULL},
	{"run", "metrics", CONFIG_ADDRESS, NULL, 0, 0, "FIELDSYNC_METRICS", "--metrics", 0, 0,
		"the loopback address of the Prometheus metrics listener (unset: none)", NULL},
	{"run", "silent-days", CONFIG_INT, NULL, 0, 3650, "FIELDSYNC_SILENT_DAYS", "--silent-days",
		0, 0,
		"the metrics' devices_silent gauge counts devices not heard from for more than N "
		"days (unset: 7)",
		NULL},
};

const size_t server_nconfig_keys = sizeof(server_config_keys) / sizeof(server_config_keys[0]);
