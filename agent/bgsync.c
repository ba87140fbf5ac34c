/*
 * agent/bgsync.c - the service's background sync: the sync of agent/sync.c, run every N
 * minutes, after local changes (debounced) and on demand; exponential back-off with jitter
 * while HQ cannot be reached; one at a time (svc->sync_lock, also taken by a `sync` command).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "notify.h"
#include "service.h"
#include "store/store.h"

/* When the next sync is due, under svc->lock. */
static int64_t due_at(const struct service *svc)
{
	int64_t due = svc->sync.next_ms;

	if (svc->dirty_ms && svc->dirty_ms + svc->debounce_ms < due)
		due = svc->dirty_ms + svc->debounce_ms;
	/* while HQ is unreachable the back-off decides, a change does not shorten it */
	if (svc->sync.failures && svc->sync.next_ms > due)
		due = svc->sync.next_ms;
	return due;
}

/* The wait after `failures` failed syncs in a row: doubling from the minimum up to the maximum,
 * then a random half of it to three halves, so that devices coming back do not all call at once
 * ("full jitter" would also allow waits near zero, which hammers a server that just came up). */
static int64_t backoff_ms(const struct service *svc, int failures)
{
	int64_t wait = svc->backoff_min_ms;
	uint32_t r = 0;
	int i;

	for (i = 1; i < failures && wait < svc->backoff_max_ms; i++)
		wait *= 2;
	if (wait > svc->backoff_max_ms)
		wait = svc->backoff_max_ms;
	if (crypto_random(&r, sizeof(r)))
		r = (uint32_t)hlc_now_ms();
	return wait / 2 + (int64_t)((double)wait * ((double)r / 4294967296.0));
}

static void on_progress(void *ctx, const char *what, long done, long total)
{
	struct service *svc = ctx;

	pthread_mutex_lock(&svc->lock);
	snprintf(svc->sync.phase, sizeof(svc->sync.phase), "%s", what);
	svc->sync.done = done;
	svc->sync.total = total;
	pthread_mutex_unlock(&svc->lock);
}

static int count_unpushed(long long *out, struct node *n)
{
	sqlite3_stmt *st = NULL;
	int error = store_prepare(&st, n->store,
		"SELECT count(*) FROM case_heads WHERE base IS NOT head");

	if (!error && sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (!error)
		error = store_error(n->store, "cannot count unpushed cases");
	sqlite3_finalize(st);
	return error;
}

/* One sync as the operator, its outcome in svc->sync. */
static void sync_once(struct service *svc)
{
	struct sync_report rep;
	struct node *n = NULL;
	char now[HLC_STR_MAX], why[512] = "";
	long long unpushed = -1;
	int error;

	memset(&rep, 0, sizeof(rep));
	pthread_mutex_lock(&svc->sync_lock);
	pthread_mutex_lock(&svc->lock);
	svc->sync.running = 1;
	svc->sync.done = svc->sync.total = 0;
	snprintf(svc->sync.phase, sizeof(svc->sync.phase), "connecting");
	svc->sync_requested = 0;
	svc->dirty_ms = 0;
	pthread_mutex_unlock(&svc->lock);

	error = service_node_open(&n, svc, svc->operator_user);
	if (!error)
		error = sync_background(&rep, n, on_progress, svc);
	if (error)
		snprintf(why, sizeof(why), "%s", err_msg()[0] ? err_msg() : "sync failed");
	if (n && count_unpushed(&unpushed, n))
		unpushed = -1;
	service_node_close(svc, n);

	hlc_iso8601(now, hlc_now_ms());
	pthread_mutex_lock(&svc->lock);
	svc->sync.running = 0;
	svc->sync.phase[0] = '\0';
	svc->sync.runs++;
	svc->sync.last = rep;
	snprintf(svc->sync.last_attempt, sizeof(svc->sync.last_attempt), "%s", now);
	if (unpushed >= 0)
		svc->sync.unpushed = unpushed;
	if (error) {
		svc->sync.failures++;
		snprintf(svc->sync.last_error, sizeof(svc->sync.last_error), "%s", why);
		svc->sync.next_ms = hlc_now_ms() + backoff_ms(svc, svc->sync.failures);
	} else {
		svc->sync.failures = 0;
		svc->sync.last_error[0] = '\0';
		snprintf(svc->sync.last_success, sizeof(svc->sync.last_success), "%s", now);
		svc->sync.next_ms = hlc_now_ms() + svc->sync_every_ms;
	}
	pthread_mutex_unlock(&svc->lock);
	pthread_mutex_unlock(&svc->sync_lock);
	if (error) {
		service_log(svc, "background sync failed (%d in a row): %s", svc->sync.failures,
			why);
		cli_notify_status("serving; sync failed at %s (%d in a row): %s", now,
			svc->sync.failures, why);
	} else {
		service_log(svc,
			"background sync: pushed %ld, pulled %ld, merged %ld, conflicts %ld",
			rep.pushed, rep.pulled, rep.merged, rep.conflicts);
		cli_notify_status("serving; synced at %s: pushed %ld, pulled %ld, conflicts %ld",
			now, rep.pushed, rep.pulled, rep.conflicts);
	}
}

void *service_sync_thread(void *arg)
{
	struct service *svc = arg;
	struct timespec until;
	int64_t due, now;

	pthread_mutex_lock(&svc->lock);
	svc->sync.next_ms = hlc_now_ms(); /* once at start */
	while (!svc->stopping) {
		now = hlc_now_ms();
		due = due_at(svc);
		if (!svc->sync_requested && now < due) {
			if (due - now > 1000)
				due = now + 1000; /* wake each second: stopping, a changed plan */
			until.tv_sec = (time_t)(due / 1000);
			until.tv_nsec = (long)(due % 1000) * 1000000L;
			pthread_cond_timedwait(&svc->wake, &svc->lock, &until);
			continue;
		}
		pthread_mutex_unlock(&svc->lock);
		sync_once(svc);
		pthread_mutex_lock(&svc->lock);
	}
	pthread_mutex_unlock(&svc->lock);
	return NULL;
}

json_t *service_sync_json(struct service *svc)
{
	json_t *doc;
	int64_t next;

	pthread_mutex_lock(&svc->lock);
	next = svc->sync.next_ms - hlc_now_ms();
	doc = json_pack("{s:b, s:s, s:I, s:I, s:s?, s:s?, s:s?, s:i, s:I, s:I, s:I, s:{s:I, s:I, "
			"s:I, s:I, s:I}}",
		"running", svc->sync.running, "phase", svc->sync.phase, "done",
		(json_int_t)svc->sync.done, "total", (json_int_t)svc->sync.total, "last_success",
		svc->sync.last_success[0] ? svc->sync.last_success : NULL, "last_attempt",
		svc->sync.last_attempt[0] ? svc->sync.last_attempt : NULL, "last_error",
		svc->sync.last_error[0] ? svc->sync.last_error : NULL, "failures",
		svc->sync.failures, "next_in_seconds", (json_int_t)(next > 0 ? next / 1000 : 0),
		"unpushed", (json_int_t)svc->sync.unpushed, "runs", (json_int_t)svc->sync.runs,
		"last", "pushed", (json_int_t)svc->sync.last.pushed, "pulled",
		(json_int_t)svc->sync.last.pulled, "merged", (json_int_t)svc->sync.last.merged,
		"conflicts", (json_int_t)svc->sync.last.conflicts, "refused",
		(json_int_t)svc->sync.last.refused);
	pthread_mutex_unlock(&svc->lock);
	return doc;
}

void service_print_status(struct service *svc)
{
	struct service_sync_state st;
	int64_t next;

	pthread_mutex_lock(&svc->lock);
	st = svc->sync;
	pthread_mutex_unlock(&svc->lock);
	next = st.next_ms - hlc_now_ms();
	if (st.running)
		printf("service    syncing now: %s %ld%s%.0ld\n", st.phase, st.done,
			st.total ? " of " : "", st.total);
	else
		printf("service    running; next background sync in %llds\n",
			(long long)(next > 0 ? next / 1000 : 0));
	printf("bg sync    last success %s, %d failure%s since%s%s\n",
		st.last_success[0] ? st.last_success : "never", st.failures,
		st.failures == 1 ? "" : "s", st.last_error[0] ? ": " : "", st.last_error);
}
