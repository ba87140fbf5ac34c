/*
 * agent/web_assets.h - the web interface's static files, compiled into the binary from
 * agent/web/ by agent/web/embed.cmake (no file is read at run time, nothing from elsewhere).
 */
#ifndef FIELDSYNC_AGENT_WEB_ASSETS_H
#define FIELDSYNC_AGENT_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char *path; /* "/", "/app.js", ... */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_nassets;

#endif
