/* server/metrics.c - counters of the running server and their Prometheus exposition. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/hlc.h"

enum {
	R_CA,
	R_ENROLL,
	R_HEALTH,
	R_RENEW,
	R_PUSH,
	R_CHANGES,
	R_FETCH,
	R_AUDIT,
	R_EV_LACK,
	R_EV_UPLOAD,
	R_EV_DOWNLOAD,
	R_RESTORED,
	R_OTHER,
	R_N
};

static const char *const route_names[R_N] = {"/v1/ca", "/v1/enroll", "/v1/health", "/v1/renew",
	"/v1/sync/push", "/v1/sync/changes", "/v1/sync/fetch", "/v1/audit/upload",
	"/v1/evidence/lack", "/v1/evidence/upload", "/v1/evidence/download", "/v1/device/restored",
	"other"};

enum { F_CERT, F_REVOKED, F_HELD, F_TLS, F_DEADLINE, F_ENROLL, F_THROTTLED, F_REQUEST, F_N };

static const char *const refusal_names[F_N] = {"certificate", "revoked", "held", "tls", "deadline",
	"enroll", "throttled", "bad_request"};

#define NBUCKETS 12
static const double bounds[NBUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
	10};

#define NSTATUS 600

static struct {
	pthread_mutex_t lock;
	uint64_t requests[R_N][NSTATUS];
	uint64_t buckets[R_N][NBUCKETS]; /* not cumulative; summed when written */
	double seconds[R_N];
	uint64_t syncs;
	uint64_t refusals[F_N];
} m = {PTHREAD_MUTEX_INITIALIZER, {{0}}, {{0}}, {0}, 0, {0}};

static _Atomic uint64_t bytes_in, bytes_out;

static int route_of(const char *url)
{
	size_t len = strcspn(url, "?");
	int i;

	for (i = 0; i < R_OTHER; i++)
		if (strlen(route_names[i]) == len && !strncmp(url, route_names[i], len))
			return i;
	return R_OTHER;
}

void metrics_request(const char *url, int status, double seconds)
{
	int r = route_of(url ? url : ""), b = 0;

	while (b < NBUCKETS - 1 && seconds > bounds[b])
		b++;
	if (status < 0 || status >= NSTATUS)
		status = 0;
	pthread_mutex_lock(&m.lock);
	m.requests[r][status]++;
	m.buckets[r][b]++;
	m.seconds[r] += seconds;
	if (r == R_AUDIT && status == 200)
		m.syncs++;
	pthread_mutex_unlock(&m.lock);
}

void metrics_refusal(const char *action, const char *reason)
{
	int f = F_REQUEST;

	if (!strcmp(action, "device.enroll"))
		f = strstr(reason, "throttl") || strstr(reason, "back off") ? F_THROTTLED
									    : F_ENROLL;
	else if (strstr(reason, "held"))
		f = F_HELD;
	else if (strstr(reason, "revoked"))
		f = F_REVOKED;
	else if (strstr(reason, "deadline"))
		f = F_DEADLINE;
	else if (!strcmp(action, "tls.refused"))
		f = F_TLS;
	else if (strstr(reason, "certificate"))
		f = F_CERT;
	pthread_mutex_lock(&m.lock);
	m.refusals[f]++;
	pthread_mutex_unlock(&m.lock);
}

void metrics_bytes_in(uint64_t n)
{
	atomic_fetch_add_explicit(&bytes_in, n, memory_order_relaxed);
}

void metrics_bytes_out(uint64_t n)
{
	atomic_fetch_add_explicit(&bytes_out, n, memory_order_relaxed);
}

static int counters(struct buf *out)
{
	uint64_t cum;
	int r, s, b, error;

	pthread_mutex_lock(&m.lock);
	error = buf_puts(out, "# HELP fieldsync_requests_total Requests answered, by route and "
			      "HTTP status.\n# TYPE fieldsync_requests_total counter\n");
	for (r = 0; !error && r < R_N; r++)
		for (s = 0; !error && s < NSTATUS; s++)
			if (m.requests[r][s])
				error = buf_printf(out,
					"fieldsync_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
					route_names[r], s, (unsigned long long)m.requests[r][s]);
	if (!error)
		error = buf_puts(out, "# HELP fieldsync_request_duration_seconds Time from a whole "
				      "request to its answer, by route.\n"
				      "# TYPE fieldsync_request_duration_seconds histogram\n");
	for (r = 0; !error && r < R_N; r++) {
		for (b = 0, cum = 0; b < NBUCKETS; b++)
			cum += m.buckets[r][b];
		if (!cum)
			continue;
		for (b = 0, cum = 0; !error && b < NBUCKETS; b++) {
			cum += m.buckets[r][b];
			if (b < NBUCKETS - 1)
				error = buf_printf(out,
					"fieldsync_request_duration_seconds_bucket{route=\"%s\","
					"le=\"%g\"} %llu\n",
					route_names[r], bounds[b], (unsigned long long)cum);
			else
				error = buf_printf(out,
					"fieldsync_request_duration_seconds_bucket{route=\"%s\","
					"le=\"+Inf\"} %llu\n"
					"fieldsync_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
					"fieldsync_request_duration_seconds_count{route=\"%s\"} %llu\n",
					route_names[r], (unsigned long long)cum, route_names[r],
					m.seconds[r], route_names[r], (unsigned long long)cum);
		}
	}
	if (!error)
		error = buf_printf(out,
			"# HELP fieldsync_syncs_total Device syncs (each opens with an audit upload "
			"HQ accepted).\n# TYPE fieldsync_syncs_total counter\n"
			"fieldsync_syncs_total %llu\n"
			"# HELP fieldsync_refusals_total Refused connections and requests, by "
			"reason.\n# TYPE fieldsync_refusals_total counter\n",
			(unsigned long long)m.syncs);
	for (r = 0; !error && r < F_N; r++)
		error = buf_printf(out, "fieldsync_refusals_total{reason=\"%s\"} %llu\n",
			refusal_names[r], (unsigned long long)m.refusals[r]);
	pthread_mutex_unlock(&m.lock);
	if (!error)
		error = buf_printf(out,
			"# HELP fieldsync_received_bytes_total Bytes received on client connections "
			"(TLS records).\n# TYPE fieldsync_received_bytes_total counter\n"
			"fieldsync_received_bytes_total %llu\n"
			"# HELP fieldsync_sent_bytes_total Bytes sent on client connections (TLS "
			"records).\n# TYPE fieldsync_sent_bytes_total counter\n"
			"fieldsync_sent_bytes_total %llu\n",
			(unsigned long long)atomic_load(&bytes_in),
			(unsigned long long)atomic_load(&bytes_out));
	return error;
}

static int gauges(struct buf *out, struct node *n, int silent_days, unsigned connections)
{
	char cutoff[HLC_STR_MAX];
	int64_t devices = 0, silent = 0, own = 0, remote = 0;
	int error;

	hlc_iso8601(cutoff, hlc_now_ms() - (int64_t)silent_days * 86400 * 1000);
	error = store_query_int64(&devices, n->store,
		"SELECT count(*) FROM devices WHERE revoked_at IS NULL", "");
	if (!error)
		error = store_query_int64(&silent, n->store,
			"SELECT count(*) FROM devices d WHERE d.revoked_at IS NULL AND coalesce("
			" (SELECT a.time FROM audit_log a WHERE a.target = d.device"
			"   AND a." STORE_AUDIT_CONTACT " AND a.action = 'audit.upload'"
			"   AND a.outcome = 'success'"
			"   ORDER BY a.seq DESC LIMIT 1), d.enrolled_at) < ?",
			"t", cutoff);
	if (!error)
		error = store_query_int64(&own, n->store,
			"SELECT coalesce(max(seq) + 1, 0) FROM audit_log", "");
	if (!error)
		error = store_query_int64(&remote, n->store, "SELECT count(*) FROM remote_audit",
			"");
	if (!error)
		error = buf_printf(out,
			"# HELP fieldsync_devices Enrolled devices, not revoked.\n"
			"# TYPE fieldsync_devices gauge\nfieldsync_devices %lld\n"
			"# HELP fieldsync_devices_silent Devices with no sync HQ accepted for more than "
			"the given days (or since enrollment).\n"
			"# TYPE fieldsync_devices_silent gauge\n"
			"fieldsync_devices_silent{days=\"%d\"} %lld\n"
			"# HELP fieldsync_audit_entries Entries of the audit trails HQ holds: its own "
			"and every device's (every epoch).\n"
			"# TYPE fieldsync_audit_entries gauge\n"
			"fieldsync_audit_entries{trail=\"server\"} %lld\n"
			"fieldsync_audit_entries{trail=\"devices\"} %lld\n"
			"# HELP fieldsync_connections Client connections open now.\n"
			"# TYPE fieldsync_connections gauge\nfieldsync_connections %u\n",
			(long long)devices, silent_days, (long long)silent, (long long)own,
			(long long)remote, connections);
	return error;
}

int metrics_render(struct buf *out, struct node *n, int silent_days, unsigned connections)
{
	int error = counters(out);

	if (!error)
		error = gauges(out, n, silent_days, connections);
	return error;
}
