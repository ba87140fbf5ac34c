/*
 * agent/web.h - the service's local web interface (libmicrohttpd): the page's static assets,
 * compiled into the binary (agent/web/), and the JSON API under /api/ that the page uses.
 *
 * Every act is a command line run for the session's user by service_command(), so the API
 * answers with the JSON the command prints with --json and leaves the same audit entries.
 * Defences: a loopback address only (unless forced); the Host header must name the address
 * the service listens on and an Origin, when sent, must be that same origin (DNS rebinding);
 * a session cookie (HttpOnly, SameSite=Strict); an X-CSRF-Token header on every POST; a strict
 * Content-Security-Policy with no inline script; Cache-Control: no-store on every response.
 * Refusals are audited (`web.refused`).
 */
#ifndef FIELDSYNC_AGENT_WEB_H
#define FIELDSYNC_AGENT_WEB_H

#include "service.h"

#define WEB_DEFAULT_PORT 8470

struct web_options {
	int enabled;
	int force;     /* bind a non-loopback address */
	char host[64]; /* IPv4 literal */
	int port;
	char display[96]; /* "127.0.0.1:8470" */
};

struct web;

/* Defaults: enabled, 127.0.0.1:8470. */
void web_options_init(struct web_options *w);

/* "HOST:PORT" (an IPv4 literal) into w.  ERR_INVALID with the reason. */
int web_parse_listen(struct web_options *w, const char *v) WUR;

/*
 * Start serving (a thread of libmicrohttpd's).  ERR_PERM for a non-loopback address without
 * w->force, ERR_IO if the address cannot be bound.
 */
int web_start(struct web **out, struct service *svc, const struct web_options *w) WUR;

/* Stop and free; accepts NULL. */
void web_stop(struct web *web);

/*
 * Write the entry of refusals folded in a window that has ended (called about once a second).
 * Past WEB_REFUSALS_AUDITED refusals in a minute, the others are counted and written as one
 * entry naming their number and the last of them.
 */
void web_sweep(struct web *web);

#endif
