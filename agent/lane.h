/*
 * agent/lane.h - one HTTPS request in flight on a connection of its own, on a thread of its
 * own, while the caller prepares the next or stores the last.
 *
 * Evidence moves in requests of a few MiB.  One at a time, the device reads its chunks, then
 * HQ decrypts the TLS records, then HQ writes the chunks, then the device records the receipt:
 * each side idles while the other works.  With two lanes, HQ receives one request while it
 * stores the one before, and the device reads (or stores) a third.  Each lane owns its body
 * and response buffers, so the memory is bounded by two requests.  A push's rounds go the same
 * way on a lane that borrows the sync's own connection (lane_borrow): one round at HQ while
 * the next is built.
 *
 *	lane_start(l, url, "application/octet-stream", &body);  // body is now the lane's
 *	...prepare the next...
 *	error = lane_wait(&status, l);  // l->resp holds the answer until the next start
 */
#ifndef FIELDSYNC_AGENT_LANE_H
#define FIELDSYNC_AGENT_LANE_H

#include <pthread.h>

#include "base/buf.h"
#include "base/err.h"
#include "net.h"

struct lane {
	struct net *net;
	int borrowed; /* net is the caller's: not closed or counted here */
	pthread_t thread;
	int busy;
	char url[4096];
	const char *type;
	struct buf body; /* the request being sent */
	struct buf resp; /* its answer, after lane_wait() */
	long status;
	int error;
	char msg[1024]; /* the error's message, carried over to the waiting thread */
};

/* A lane on its own connection to the server `tls` names (borrowed: outlives the lane). */
int lane_open(struct lane **out, const struct net_tls *tls, size_t resp_max) WUR;

/* A lane on the caller's connection `net` (borrowed: the caller must not use it while the lane
 * is busy, and counts its bytes itself). */
int lane_borrow(struct lane **out, struct net *net, size_t resp_max) WUR;

/* Send `body` (its buffer moves into the lane; *body is left empty) to `url` on the lane's
 * thread.  The lane must not be busy. */
int lane_start(struct lane *l, const char *url, const char *type, struct buf *body) WUR;

/* Wait for the request: 0 with *status and l->resp, or the network error (its message set in
 * this thread).  A lane that is not busy returns 0 with status 0. */
int lane_wait(long *status, struct lane *l) WUR;

/* Wait if busy, close the connection, wipe and free the buffers.  Accepts NULL. */
void lane_close(struct lane *l);

/* Body bytes sent and received on the lane's connection so far (0 for a borrowed one). */
void lane_counts(const struct lane *l, double *sent, double *received);

#endif
