/* server/peers.c - per-address limits: unauthenticated connections, enrollment back-off,
 * folded refusals. */
#include "peers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/array.h"

#define BUCKETS 4096
#define ADDR_MAX 64

struct peer {
	struct peer *next;	    /* in its bucket */
	struct peer *newer, *older; /* in the table's order of last use */
	char addr[ADDR_MAX];
	unsigned unauth;	     /* open connections without a proven identity */
	unsigned enroll_failures;    /* since the last success */
	int64_t enroll_until_ms;     /* backing off until then */
	uint64_t enroll_suppressed;  /* attempts refused while backing off, not yet recorded */
	int64_t refusal_minute;	     /* the minute the refusal count is for */
	unsigned refusals;	     /* refusals in that minute */
	uint64_t refusals_suppressed; /* beyond the per-minute allowance, not yet recorded */
};

struct peers {
	pthread_mutex_t lock;
	struct peer *bucket[BUCKETS];
	struct peer *newest, *oldest; /* last use: find() moves an entry to the front */
	size_t count;
	unsigned unauth_max;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % BUCKETS;
}

static int idle(const struct peer *e)
{
	return !e->unauth && !e->enroll_suppressed && !e->refusals_suppressed;
}

static void lru_unlink(struct peers *p, struct peer *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		p->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		p->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push(struct peers *p, struct peer *e)
{
	e->older = p->newest;
	e->newer = NULL;
	if (p->newest)
		p->newest->newer = e;
	p->newest = e;
	if (!p->oldest)
		p->oldest = e;
}

/*
 * Forget the least recently seen address that holds nothing (the table is full): from the
 * old end of the use order, past at most the addresses that hold something (open
 * connections or counts waiting for a flush), not the whole table.
 */
static void evict_one(struct peers *p)
{
	struct peer *e, **pp;

	for (e = p->oldest; e && !idle(e); e = e->newer)
		;
	if (!e)
		return;
	for (pp = &p->bucket[hash(e->addr)]; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	lru_unlink(p, e);
	free(e);
	p->count--;
}

/* The entry of addr, made if needed; NULL when the table is full of busy addresses. */
static struct peer *find(struct peers *p, const char *addr)
{
	unsigned h = hash(addr);
	struct peer *e;

	for (e = p->bucket[h]; e; e = e->next)
		if (!strcmp(e->addr, addr))
			goto found;
	if (p->count >= PEERS_MAX)
		evict_one(p);
	if (p->count >= PEERS_MAX)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	snprintf(e->addr, sizeof(e->addr), "%s", addr);
	e->next = p->bucket[h];
	p->bucket[h] = e;
	p->count++;
	lru_push(p, e);
found:
	if (p->newest != e) {
		lru_unlink(p, e);
		lru_push(p, e);
	}
	return e;
}

int peers_new(struct peers **out, unsigned unauth_max)
{
	struct peers *p = calloc(1, sizeof(*p));

	if (!p)
		return err_set(ERR_NOMEM, "out of memory for the peer table");
	pthread_mutex_init(&p->lock, NULL);
	p->unauth_max = unauth_max;
	*out = p;
	return 0;
}

void peers_free(struct peers *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < BUCKETS; i++) {
		struct peer *e = p->bucket[i];

		while (e) {
			struct peer *next = e->next;

			free(e);
			e = next;
		}
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int peers_conn_open(struct peers *p, const char *addr)
{
	struct peer *e;
	int error = 0;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	e = find(p, addr);
	if (!e)
		error = err_set(ERR_BUSY, "too many client addresses");
	else if (e->unauth >= p->unauth_max)
		error = err_set(ERR_BUSY, "%u unauthenticated connections from %s already",
			e->unauth, addr);
	else
		e->unauth++;
	pthread_mutex_unlock(&p->lock);
	return error;
}

void peers_conn_release(struct peers *p, const char *addr)
{
	struct peer *e;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	e = find(p, addr);
	if (e && e->unauth)
		e->unauth--;
	pthread_mutex_unlock(&p->lock);
}

int peers_enroll_check(unsigned *retry_after_s, int *first_refusal, struct peers *p,
	const char *addr)
{
	struct peer *e;
	int64_t now = now_ms();
	int error = 0;

	*first_refusal = 0;
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	e = find(p, addr);
	if (!e) {
		*retry_after_s = 1;
		error = err_set(ERR_BUSY, "too many client addresses");
	} else if (e->enroll_until_ms > now) {
		*retry_after_s = (unsigned)((e->enroll_until_ms - now + 999) / 1000);
		*first_refusal = e->enroll_suppressed == 0;
		if (!*first_refusal)
			e->enroll_suppressed++;
		else
			e->enroll_suppressed = 1;
		error = err_set(ERR_BUSY,
			"too many failed enrollments from %s: try again in %u s", addr,
			*retry_after_s);
	}
	pthread_mutex_unlock(&p->lock);
	return error;
}

void peers_enroll_result(struct peers *p, const char *addr, int failed)
{
	struct peer *e;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	e = find(p, addr);
	if (e && !failed) {
		e->enroll_failures = 0;
	} else if (e) {
		e->enroll_failures++;
		if (e->enroll_failures >= PEERS_ENROLL_FREE) {
			/* PEERS_ENROLL_BACKOFF_S once the allowance is spent, doubling up to the
			 * longest wait */
			unsigned shift = e->enroll_failures - PEERS_ENROLL_FREE;
			int64_t wait_s = shift >= 9 ? PEERS_ENROLL_BACKOFF_MAX_S
						    : (int64_t)PEERS_ENROLL_BACKOFF_S << shift;

			if (wait_s > PEERS_ENROLL_BACKOFF_MAX_S)
				wait_s = PEERS_ENROLL_BACKOFF_MAX_S;
			e->enroll_until_ms = now_ms() + wait_s * 1000;
		}
	}
	pthread_mutex_unlock(&p->lock);
}

int peers_refusal_record(struct peers *p, const char *addr)
{
	struct peer *e;
	int64_t minute = now_ms() / 60000;
	int record = 1;

	if (!p)
		return 1;
	pthread_mutex_lock(&p->lock);
	e = find(p, addr);
	if (e) {
		if (e->refusal_minute != minute) {
			e->refusal_minute = minute;
			e->refusals = 0;
		}
		if (e->refusals >= PEERS_REFUSALS_PER_MINUTE) {
			e->refusals_suppressed++;
			record = 0;
		} else {
			e->refusals++;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return record;
}

struct folded {
	char addr[ADDR_MAX];
	const char *what;
	uint64_t count;
};

void peers_flush(struct peers *p, int all,
	void (*fn)(void *ctx, const char *addr, const char *what, uint64_t count), void *ctx)
{
	struct folded *list = NULL;
	size_t n = 0, cap = 0, i;
	int64_t now = now_ms();

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < BUCKETS; i++) {
		struct peer *e;

		for (e = p->bucket[i]; e; e = e->next) {
			int enroll = e->enroll_suppressed > 1 && (all || e->enroll_until_ms <= now);
			int refusal = e->refusals_suppressed &&
				      (all || e->refusal_minute != now / 60000);

			/* a back-off whose only refusal was recorded on its own leaves nothing
			 * to fold */
			if (e->enroll_suppressed == 1 && (all || e->enroll_until_ms <= now))
				e->enroll_suppressed = 0;
			if (!enroll && !refusal)
				continue;
			/* two entries at most per address */
			if (ARRAY_GROW(&list, &cap, n + 2, 2 * (size_t)PEERS_MAX))
				goto unlock; /* counts stay for the next flush */
			if (enroll) {
				snprintf(list[n].addr, ADDR_MAX, "%s", e->addr);
				list[n].what = "enroll";
				/* all of the back-off's refusals, the first (recorded on its own
				 * when the back-off began) included */
				list[n++].count = e->enroll_suppressed;
				e->enroll_suppressed = 0;
			}
			if (refusal) {
				snprintf(list[n].addr, ADDR_MAX, "%s", e->addr);
				list[n].what = "refusal";
				list[n++].count = e->refusals_suppressed;
				e->refusals_suppressed = 0;
			}
		}
	}
unlock:
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < n; i++)
		fn(ctx, list[i].addr, list[i].what, list[i].count);
	free(list);
}
