/*
 * server/routes.h - the server's request handling: routing, authentication by the identity
 * the TLS handshake proved, revocation and hold checks, and the handlers.  serve.c owns the
 * sockets and TLS; this part sees only a parsed request and the peer's identity.
 */
#ifndef FIELDSYNC_SERVER_ROUTES_H
#define FIELDSYNC_SERVER_ROUTES_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "pki/http.h"
#include "node/node.h"
#include "peers.h"
#include "case/schema.h"

/* What the client's certificate proved (filled after the handshake). */
struct route_peer {
	char peer[64];	  /* address, for logs */
	int has_cert;	  /* the client sent a certificate */
	int cert_ok;	  /* ...that chains to our CA and is in its validity */
	char why[160];	  /* why it is not ok */
	char office[SCHEMA_OFFICE_MAX + 1];
	char device[NODE_DEVICE_MAX + 1];
	uint8_t serial[16];
	uint8_t pub[160]; /* the certificate's public key (DER), for change-set signatures */
	size_t publen;
};

/* What a worker brings: its own node (database connection) and the shared pieces. */
/*
 * The PKI the service loaded when it started (a CA rollover or a renewal takes effect at the
 * next start): the current CA (GET /v1/ca), the next CA of a rollover in progress and its
 * cross certificate (both empty when none), the retired CAs, and the fingerprints in hex.
 */
struct route_pki {
	struct buf ca, next, cross, retired;
	char ca_fp[65], next_fp[65]; /* next_fp "" when no rollover is in progress */
	char generation[33];	     /* of the store: new after a restore (hq_generation) */
};

/* Load it from the store; route_pki_release() frees it either way. */
int route_pki_load(struct route_pki *p, struct node *n) WUR;
void route_pki_release(struct route_pki *p);

struct route_ctx {
	struct node *node;
	const struct route_pki *pki;
	pthread_mutex_t *push_lock;  /* pushes and audit uploads one at a time */
	struct peers *peers;	     /* per-address limits; NULL: none */
};

/* Answer one request into `out` (a whole HTTP response).  Returns 0, or an error when no
 * answer could be built (the connection is then closed). */
int routes_handle(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req) WUR;

/* A JSON error response {"error": msg}. */
int routes_error(struct buf *out, int status, const char *msg, int keep_alive) WUR;

/*
 * Record a refused connection or request in the audit trail and the log.  Refusals of a
 * client without a valid certificate beyond PEERS_REFUSALS_PER_MINUTE per address are only
 * counted, and recorded together by routes_fold().
 */
void routes_refusal(const struct route_ctx *w, const struct route_peer *c, const char *action,
	const char *reason);

/* peers_flush() callback: one audit entry for the refusals of `addr` not recorded one by one;
 * ctx is the struct route_ctx. */
void routes_fold(void *ctx, const char *addr, const char *what, uint64_t count);

/* One logfmt line on stderr: ts, level, event, peer, msg. */
void serve_log(const char *level, const char *event, const char *peer, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
