/*
 * server/peers.h - what the server remembers of each client address, so that nobody outside
 * can exhaust it: how many connections an address holds open without a proven identity (a
 * cap per address), its failed enrollments (back-off after a few), and refusals beyond a few
 * a minute, which are counted and written to the audit trail as one entry instead of one each.
 *
 * One table for the whole process, shared by the connection handling (serve.c) and the
 * request handling (routes.c); every function is thread-safe.  The table is bounded: when it
 * is full, the oldest address without open connections is forgotten.
 */
#ifndef FIELDSYNC_SERVER_PEERS_H
#define FIELDSYNC_SERVER_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct peers;

/* Failed enrollments an address may make before it must wait, and the longest wait. */
#define PEERS_ENROLL_FREE 5
#define PEERS_ENROLL_BACKOFF_S 10
#define PEERS_ENROLL_BACKOFF_MAX_S 300
/* Refusals of unauthenticated clients recorded one by one per address and minute. */
#define PEERS_REFUSALS_PER_MINUTE 10
#define PEERS_MAX 16384

/* A table allowing `unauth_max` unauthenticated connections per address. */
int peers_new(struct peers **out, unsigned unauth_max) WUR;
void peers_free(struct peers *p);

/*
 * A new connection from `addr` that has not proved an identity yet.  Returns 0 and counts it,
 * or ERR_BUSY when the address already holds its cap (the connection is to be closed).  A NULL
 * table allows everything.
 */
int peers_conn_open(struct peers *p, const char *addr) WUR;

/* The connection counted by peers_conn_open() proved an identity or closed: uncount it. */
void peers_conn_release(struct peers *p, const char *addr);

/*
 * Before an enrollment from `addr`: 0 when it may go ahead, or ERR_BUSY with *retry_after_s
 * set while the address is backing off.  *first_refusal is 1 for the first refusal of a
 * back-off (the caller records that one).
 */
int peers_enroll_check(unsigned *retry_after_s, int *first_refusal, struct peers *p,
	const char *addr);

/* The result of an enrollment that went ahead: a failure lengthens the back-off. */
void peers_enroll_result(struct peers *p, const char *addr, int failed);

/*
 * A refusal of an unauthenticated client: 1 when it is to be recorded on its own, 0 when it
 * is only counted (beyond PEERS_REFUSALS_PER_MINUTE in the current minute).
 */
int peers_refusal_record(struct peers *p, const char *addr);

/*
 * Take the counts of refusals that were not recorded one by one and whose period is over
 * (all of them with `all`): calls fn(ctx, addr, what, count) for each, then forgets them.
 * `what` is "enroll" (every attempt refused during a back-off, the first included: it was
 * recorded on its own when the back-off began; none for a back-off with just that one) or
 * "refusal" (refusals beyond the minute's allowance).  fn runs without the
 * table's lock held.
 */
void peers_flush(struct peers *p, int all,
	void (*fn)(void *ctx, const char *addr, const char *what, uint64_t count), void *ctx);

#endif
