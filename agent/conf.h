/* agent/conf.h - the keys of agent.conf (cli/config.h): one per option of the agent it backs. */
#ifndef FIELDSYNC_AGENT_CONF_H
#define FIELDSYNC_AGENT_CONF_H

#include <stddef.h>

#include "config.h"

extern const struct config_key agent_config_keys[];
extern const size_t agent_nconfig_keys;

#endif
