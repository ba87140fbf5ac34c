/* server/conf.h - the keys of server.conf (cli/config.h): one per option of the server. */
#ifndef FIELDSYNC_SERVER_CONF_H
#define FIELDSYNC_SERVER_CONF_H

#include <stddef.h>

#include "config.h"

extern const struct config_key server_config_keys[];
extern const size_t server_nconfig_keys;

#endif
