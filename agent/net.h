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

#include "buf.h"
#include "err.h"

#define NET_RESPONSE_MAX (8u * 1024 * 1024)

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

/* The "error" member of a JSON error body, or the whole body, for messages. */
const char *net_error_text(const struct buf *resp);

#endif
