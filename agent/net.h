/*
 * agent/net.h - HTTPS requests to the HQ server over libcurl, with every secret in memory.
 *
 * The CA certificate, the device certificate and its private key are handed to libcurl as
 * memory blobs (never files); the system CA store is switched off so that only the
 * organisation's CA is trusted.  Responses are capped.
 */
#ifndef FIELDSYNC_AGENT_NET_H
#define FIELDSYNC_AGENT_NET_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define NET_RESPONSE_MAX (48u * 1024 * 1024) /* the largest change set */

struct net_tls {
	const struct buf *ca_pem;   /* NULL: do not verify the server (only to fetch the CA) */
	const struct buf *cert_pem; /* client certificate, or NULL */
	const struct buf *key_pem;  /* its private key, or NULL */
};

/*
 * One request.  *status gets the HTTP status; the body is appended to `resp`.  ERR_IO for a
 * network failure (message says what: connect, TLS, timeout), 0 otherwise (check the status).
 */
int net_request(long *status, struct buf *resp, const char *url, const char *method,
	const char *body, size_t len, const struct net_tls *tls) WUR;

/*
 * A connection kept open across requests (keep-alive, one TLS handshake).  `tls` is borrowed
 * and must outlive it.  A transfer that moves less than a byte a second for 30 s is abandoned
 * as stalled, so a sync never hangs silently.
 */
struct net;

/*
 * Start loading libcurl (about 40 libraries, some 7 ms) on a thread of its own, so that it
 * overlaps the log-on of a command that will connect; net_open() waits for it if it is not
 * done.  net_preload_end() joins that thread (call it before the command returns).
 */
void net_preload(void);
void net_preload_end(void);

int net_open(struct net **out, const struct net_tls *tls) WUR;
void net_close(struct net *n);

/* Like net_request(), on the open connection; `content_type` for a body ("application/json"). */
int net_call(long *status, struct buf *resp, struct net *n, const char *url, const char *method,
	const char *content_type, const void *body, size_t len) WUR;

/* Body bytes sent and received by the calls so far (no headers, before TLS). */
void net_counts(const struct net *n, double *sent, double *received);

/* The "error" member of a JSON error body, or the whole body, for messages. */
const char *net_error_text(const struct buf *resp);

#endif
