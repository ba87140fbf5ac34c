/*
 * server/metrics.h - what the running server counts, in the Prometheus text format (0.0.4).
 *
 * Counters (since the process started): requests by route and status, request latency by
 * route (a histogram), syncs (a device's sync opens with its audit upload: each one answered
 * 200 counts), refusals by reason, bytes received and sent on the wire (TLS records, handshakes
 * included).  Gauges read from the store at each scrape: enrolled devices, devices silent for
 * more than N days (no audit upload HQ took since, or since enrollment), the audit trails'
 * sizes.  `fieldsync-server run --metrics HOST:PORT` serves them on a listener of their own
 * (serve.c); the counting is always on and costs a lock per request.
 */
#ifndef FIELDSYNC_SERVER_METRICS_H
#define FIELDSYNC_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "node/node.h"

/* One answered request: its URL (the route is its path), HTTP status and time taken. */
void metrics_request(const char *url, int status, double seconds);

/* One refused connection or request; `action` and `reason` as routes_refusal() records them. */
void metrics_refusal(const char *action, const char *reason);

/* Bytes moved on a connection's socket. */
void metrics_bytes_in(uint64_t n);
void metrics_bytes_out(uint64_t n);

/*
 * The whole exposition into `out`: the counters, and the gauges read from `n` (devices silent
 * for more than `silent_days` days; `connections` open now).
 */
int metrics_render(struct buf *out, struct node *n, int silent_days, unsigned connections) WUR;

#endif
