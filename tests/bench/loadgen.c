/*
 * tests/bench/loadgen.c - many simulated field devices against one running fieldsync-server,
 * for bench_hq_ceiling.sh: HQ's sustained sync rate, latency, CPU and memory as the number of
 * devices grows.
 *
 * Each simulated device is a real agent node, as small as one gets: its own directory with the
 * encrypted store (its device key and certificate, its audit log and seals, its copy of the
 * cases its office sees), created with the low key-derivation cost and opened per sync with the
 * database key, which stays in this process's memory only.  It enrolls with a one-time token
 * through the agent's device_enroll() and syncs with the agent's sync_background(): the same
 * libcurl TLS client, audit upload with a signed checkpoint and seal, push of signed change
 * sets, changes feed and fetch, merge.  Nothing of the protocol is imitated here; what a full
 * agent process adds (start-up, log-on with the full Argon2 cost) is left out because it is
 * the device's cost, not HQ's, and this process shares the machine with the server.
 *
 * usage: loadgen DIR URL TOKENS PHASES [OPTIONS]
 *   DIR      where the device directories go (DIR/d00000, ...), and DIR/edits.tsv at the end
 *   URL      the server, https://127.0.0.1:PORT
 *   TOKENS   one enrollment token a line (bench_hq_prep tokens); one per device
 *   PHASES   device counts, e.g. 100,1000,5000: each phase enrolls the devices it adds, gives
 *            each new one its first sync (untimed), then runs the traffic for --seconds
 * options:
 *   --seconds S      measured time per phase (default 30)
 *   --interval S     each device syncs every S seconds (default 10; "every few minutes",
 *                    scaled: at 300 s real, one simulated device stands for 300/S devices)
 *   --edits PCT      percent of syncs preceded by an edit (one field and a note) of a case the
 *                    device's office sees, its own or shared (default 3)
 *   --threads T      syncs in flight at once (default 32)
 *   --first-threads T  first syncs in flight at once (default --threads): a first sync reads
 *                    the whole changes feed, under HQ's write lock (docs/SCALING.md)
 *   --server-pid PID HQ's CPU time and RSS from /proc/PID
 *   --hq HOME        HQ's database size
 *   --metrics H:P    HQ's metrics (`run --metrics`): time per route over each phase
 * Prints one line per phase (and a table at the end); exits 1 if any sync failed or an edit
 * could not be made.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "base/crypto.h"
#include "device.h"
#include "node/casedb.h"
#include "pki/enroll.h"
#include "store/odb.h"
#include "sync.h"

#define USER "lg"
#define PASS "loadgen-device-passphrase"
#define MAX_PHASES 8
#define MAX_ERRORS_SHOWN 5
#define NROUTES 6

struct device {
	char home[4096];
	uint8_t key[CRYPTO_KEY_LEN];
	int enrolled, synced;
	int64_t due_ms;
	unsigned seed;
	long edits;
};

struct edit {
	char case_id[SCHEMA_CASE_ID_MAX + 1];
	char note[96];
};

static struct {
	const char *dir, *url, *hq, *metrics;
	char **tokens;
	long ntokens;
	struct device *dev;
	long ndev;
	double seconds, interval, edit_pct;
	int threads, first_threads, pid;
	/* the running phase */
	pthread_mutex_t lock;
	pthread_cond_t back; /* a device went back into the ring */
	long *ring, head, tail, active, next_new;
	int64_t end_ms;
	double *lat;
	long nlat, cap_lat;
	atomic_long errors, edit_errors, late, conflicts, merged, pulled, pushed, audited;
	char shown[MAX_ERRORS_SHOWN][512];
	int nshown;
	struct edit *edits;
	long nedits, cap_edits;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .back = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(int64_t t)
{
	int64_t d = t - now_ms();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = d / 1000;
	ts.tv_nsec = (d % 1000) * 1000000;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void failed(const char *what, long idx)
{
	pthread_mutex_lock(&g.lock);
	if (g.nshown < MAX_ERRORS_SHOWN)
		snprintf(g.shown[g.nshown++], sizeof(g.shown[0]), "device %ld: %s: %s", idx, what,
			err_msg());
	pthread_mutex_unlock(&g.lock);
}

/* ---- enrollment ------------------------------------------------------------------------- */

static int enroll_one(long idx)
{
	struct device *d = &g.dev[idx];
	struct node *n = NULL;
	struct enroll_token tok;
	int error;

	snprintf(d->home, sizeof(d->home), "%s/d%05ld", g.dir, idx);
	d->seed = (unsigned)idx * 2654435761u + 1;
	error = enroll_token_parse(&tok, g.tokens[idx]);
	if (!error)
		error = node_init(&n, d->home, tok.office, USER, PASS, strlen(PASS),
			&CRYPTO_KDF_LOW);
	if (!error)
		error = device_enroll(n, g.url, g.tokens[idx]);
	node_free(n);
	n = NULL;
	if (!error)
		error = node_open_keep_key(&n, d->key, d->home, USER, PASS, strlen(PASS));
	node_free(n);
	crypto_wipe(&tok, sizeof(tok));
	if (error)
		failed("enroll", idx);
	d->enrolled = !error;
	return error;
}

/* ---- one sync --------------------------------------------------------------------------- */

static void keep_edit(const char *id, const char *note)
{
	pthread_mutex_lock(&g.lock);
	if (g.nedits == g.cap_edits) {
		long cap = g.cap_edits ? 2 * g.cap_edits : 4096;
		struct edit *e = realloc(g.edits, (size_t)cap * sizeof(*e));

		if (e) {
			g.edits = e;
			g.cap_edits = cap;
		}
	}
	if (g.nedits < g.cap_edits) {
		snprintf(g.edits[g.nedits].case_id, sizeof(g.edits[0].case_id), "%s", id);
		snprintf(g.edits[g.nedits].note, sizeof(g.edits[0].note), "%s", note);
		g.nedits++;
	}
	pthread_mutex_unlock(&g.lock);
}

/* One field and a note on a case this office sees, picked at random. */
static int edit_one(struct node *n, long idx)
{
	struct device *d = &g.dev[idx];
	char id[SCHEMA_CASE_ID_MAX + 1] = "", note[96], value[96];
	struct casefile_change chg;
	sqlite3_stmt *st = NULL;
	int error = store_prepare(&st, n->store,
		"SELECT case_id FROM case_heads ORDER BY random() LIMIT 1");

	if (!error && store_next(n->store, st) > 0)
		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (error || !id[0])
		return error ? error
			     : err_set(ERR_NOTFOUND, "no case to edit at office %s", n->office);
	snprintf(note, sizeof(note), "loadgen edit %ld.%ld", idx, d->edits + 1);
	snprintf(value, sizeof(value), "summary by device %ld, edit %ld", idx, d->edits + 1);
	memset(&chg, 0, sizeof(chg));
	chg.sets[0].name = "summary";
	chg.sets[0].value = value;
	chg.nsets = 1;
	chg.note = note;
	chg.note_len = strlen(note);
	error = casedb_edit(n, id, &chg, NULL);
	if (!error) {
		d->edits++;
		keep_edit(id, note);
	}
	return error;
}

/* Open the device, maybe edit, sync; the latency is the sync's alone. */
static int sync_one(double *secs, long idx, int may_edit)
{
	struct device *d = &g.dev[idx];
	struct sync_report rep;
	struct node *n = NULL;
	double t0;
	int error = node_open_key(&n, d->home, USER, d->key);

	if (error) {
		failed("open", idx);
		return error;
	}
	if (may_edit && (double)(rand_r(&d->seed) % 10000) < g.edit_pct * 100.0 &&
		edit_one(n, idx)) {
		failed("edit", idx);
		atomic_fetch_add(&g.edit_errors, 1);
	}
	memset(&rep, 0, sizeof(rep));
	t0 = now_s();
	error = sync_background(&rep, n, NULL, NULL);
	*secs = now_s() - t0;
	if (error)
		failed("sync", idx);
	atomic_fetch_add(&g.pushed, rep.pushed);
	atomic_fetch_add(&g.pulled, rep.pulled);
	atomic_fetch_add(&g.merged, rep.merged);
	atomic_fetch_add(&g.conflicts, rep.conflicts);
	atomic_fetch_add(&g.audited, rep.audited);
	node_free(n);
	return error;
}

/* ---- the workers ------------------------------------------------------------------------ */

enum job { JOB_ENROLL, JOB_FIRST, JOB_TRAFFIC, JOB_DRAIN };
static enum job job;

static void keep_latency(double s)
{
	pthread_mutex_lock(&g.lock);
	if (g.nlat < g.cap_lat)
		g.lat[g.nlat++] = s;
	pthread_mutex_unlock(&g.lock);
}

/* Enrollment, first syncs and the drain: each device once, as fast as the threads go. */
static long take_next(long limit)
{
	long idx;

	pthread_mutex_lock(&g.lock);
	idx = g.next_new < limit ? g.next_new++ : -1;
	pthread_mutex_unlock(&g.lock);
	return idx;
}

static long once_limit;

static void *once_worker(void *arg)
{
	long idx;
	double s;

	(void)arg;
	while ((idx = take_next(once_limit)) >= 0) {
		struct device *d = &g.dev[idx];

		if (job == JOB_ENROLL) {
			if (!d->enrolled && enroll_one(idx))
				atomic_fetch_add(&g.errors, 1);
		} else if (job == JOB_FIRST) {
			if (d->enrolled && !d->synced) {
				if (sync_one(&s, idx, 0)) {
					atomic_fetch_add(&g.errors, 1);
				} else {
					d->synced = 1;
					keep_latency(s);
				}
			}
		} else if (d->enrolled && d->edits) { /* drain: once more, no edit */
			if (sync_one(&s, idx, 0))
				atomic_fetch_add(&g.errors, 1);
		}
	}
	return NULL;
}

/* The traffic: devices in due order; each syncs every --interval seconds. */
static void *traffic_worker(void *arg)
{
	(void)arg;
	for (;;) {
		long idx;
		double s;
		int64_t due;

		pthread_mutex_lock(&g.lock);
		while (g.head == g.tail) /* every device in flight */
			pthread_cond_wait(&g.back, &g.lock);
		idx = g.ring[g.head % g.active];
		due = g.dev[idx].due_ms;
		/* the measured time is over: what is due later, or late, is not started */
		if (due >= g.end_ms || now_ms() >= g.end_ms) {
			pthread_mutex_unlock(&g.lock);
			break;
		}
		g.head++;
		pthread_mutex_unlock(&g.lock);
		sleep_until(due);
		if (now_ms() - due > (int64_t)(g.interval * 1000) / 2)
			atomic_fetch_add(&g.late, 1); /* HQ (or this process) could not keep up */
		if (sync_one(&s, idx, 1))
			atomic_fetch_add(&g.errors, 1);
		else
			keep_latency(s);
		pthread_mutex_lock(&g.lock);
		g.dev[idx].due_ms = due + (int64_t)(g.interval * 1000);
		g.ring[g.tail++ % g.active] = idx;
		pthread_cond_signal(&g.back);
		pthread_mutex_unlock(&g.lock);
	}
	return NULL;
}

static void run_threads(void *(*fn)(void *), int count)
{
	pthread_t *t = calloc((size_t)count, sizeof(*t));
	int i, made = 0;

	for (i = 0; t && i < count; i++)
		if (pthread_create(&t[i], NULL, fn, NULL) == 0)
			made++;
	for (i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	free(t);
}

static double run_once(enum job j, long from, long to)
{
	double t0 = now_s();

	job = j;
	g.next_new = from;
	once_limit = to;
	run_threads(once_worker, j == JOB_FIRST ? g.first_threads : g.threads);
	return now_s() - t0;
}

/* ---- what HQ spent -------------------------------------------------------------------- */

/* HQ's CPU seconds (user + system, all threads) and RSS in MiB. */
static void hq_usage(double *cpu, double *rss_mib)
{
	char path[64], text[4096], *p;
	unsigned long ut = 0, st = 0;
	long rss = 0;
	FILE *f;
	size_t len;
	int i;

	*cpu = *rss_mib = 0;
	if (g.pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/stat", g.pid);
	f = fopen(path, "r");
	if (!f)
		return;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	p = strrchr(text, ')'); /* the command name may hold spaces */
	for (i = 0; p && i < 12; i++)
		p = strchr(p + 1, ' ');
	if (p) { /* utime and stime, fields 14 and 15 */
		char *end = NULL;

		ut = strtoul(p + 1, &end, 10);
		st = end && *end == ' ' ? strtoul(end + 1, &end, 10) : 0;
		*cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	}
	for (i = 0; p && i < 10; i++)
		p = strchr(p + 1, ' ');
	if (p) { /* rss in pages, field 24 */
		rss = strtol(p + 1, NULL, 10);
		*rss_mib = (double)rss * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
	}
}

static double file_mib(const char *name)
{
	char path[4200];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", g.hq, name);
	return stat(path, &sb) == 0 ? (double)sb.st_size / 1048576.0 : 0;
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const char *const routes[NROUTES] = {"/v1/audit/upload", "/v1/sync/changes",
	"/v1/sync/fetch", "/v1/sync/push", "/v1/enroll", "/v1/ca"};

struct route_time {
	double sum[NROUTES];
	double count[NROUTES];
};

/* The request-duration sums and counts from `run --metrics` (plain HTTP on loopback). */
static void scrape(struct route_time *rt)
{
	char host[64], req[160], *text = NULL, *p, *end = NULL;
	const char *colon;
	size_t len = 0, cap = 0;
	struct sockaddr_in sa;
	int fd = -1, port = 0, r;
	ssize_t got;

	memset(rt, 0, sizeof(*rt));
	colon = g.metrics ? strrchr(g.metrics, ':') : NULL;
	if (!colon || colon == g.metrics || (size_t)(colon - g.metrics) >= sizeof(host))
		return;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - g.metrics), g.metrics);
	port = (int)strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	snprintf(req, sizeof(req), "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", host);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *t = realloc(text, cap = cap * 2 + 65536);

			if (!t)
				goto out;
			text = t;
		}
		got = read(fd, text + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	text[len] = '\0';
	for (r = 0; r < NROUTES; r++) {
		char key[128];

		snprintf(key, sizeof(key), "fieldsync_request_duration_seconds_sum{route=\"%s\"} ",
			routes[r]);
		p = strstr(text, key);
		if (p)
			rt->sum[r] = strtod(p + strlen(key), NULL);
		snprintf(key, sizeof(key),
			"fieldsync_request_duration_seconds_count{route=\"%s\"} ", routes[r]);
		p = strstr(text, key);
		if (p)
			rt->count[r] = strtod(p + strlen(key), NULL);
	}
out:
	if (fd >= 0)
		close(fd);
	free(text);
}

/* ---- a phase -------------------------------------------------------------------------- */

struct result {
	long devices;
	double enroll_rate, first_rate, offered, syncs_s, p50, p99, hq_cpu, hq_rss, db_mib;
	double hq_ms_per_sync, gen_cpu, edits_s;
	long syncs, errors, late;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double p)
{
	long i = (long)(p * (double)(g.nlat - 1) + 0.5);

	return g.nlat ? g.lat[i] * 1000.0 : 0;
}

static int phase(struct result *r, long count)
{
	long first = 0, i, edits0;
	double t, cpu0, cpu1, rss, gen0, secs;
	struct route_time m0, m1;
	int64_t t0;

	while (first < g.ndev && g.dev[first].enrolled)
		first++;
	memset(r, 0, sizeof(*r));
	r->devices = count;
	if (count > g.ntokens || count > g.ndev)
		return fprintf(stderr, "loadgen: %ld devices but %ld tokens\n", count, g.ntokens),
		       1;
	atomic_store(&g.errors, 0);
	t = run_once(JOB_ENROLL, first, count);
	r->enroll_rate = count > first ? (double)(count - first) / t : 0;
	printf("enrolled: %ld devices, %.1f/s\n", count - first, r->enroll_rate);
	fflush(stdout);
	g.nlat = 0;
	t = run_once(JOB_FIRST, 0, count);
	r->first_rate = count > first ? (double)(count - first) / t : 0;
	qsort(g.lat, (size_t)g.nlat, sizeof(double), cmp_double);
	printf("first syncs: %ld devices, %.1f/s, p50 %.1f ms, p99 %.1f ms, errors %ld\n", g.nlat,
		r->first_rate, pct(0.50), pct(0.99), (long)atomic_load(&g.errors));
	fflush(stdout);
	if (atomic_load(&g.errors)) {
		r->errors = atomic_load(&g.errors);
		return 0; /* the table says it; the traffic needs every device */
	}
	/* the traffic: each device due at a random point of its first interval */
	g.active = count;
	g.head = 0;
	g.tail = count;
	t0 = now_ms() + 200;
	g.end_ms = t0 + (int64_t)(g.seconds * 1000);
	for (i = 0; i < count; i++) {
		g.ring[i] = i;
		g.dev[i].due_ms = t0 + (int64_t)((double)i * g.interval * 1000.0 / (double)count);
	}
	g.nlat = 0;
	atomic_store(&g.late, 0);
	edits0 = g.nedits;
	hq_usage(&cpu0, &rss);
	scrape(&m0);
	gen0 = self_cpu();
	printf("traffic: %ld devices for %.0f s, HQ database %.1f MiB\n", count, g.seconds,
		g.hq ? file_mib("fieldsync.db") + file_mib("fieldsync.db-wal") : 0.0);
	fflush(stdout);
	t = now_s();
	run_threads(traffic_worker, g.threads);
	secs = now_s() - t;
	hq_usage(&cpu1, &rss);
	scrape(&m1);
	qsort(g.lat, (size_t)g.nlat, sizeof(double), cmp_double);
	r->offered = (double)count / g.interval;
	r->syncs = g.nlat;
	r->syncs_s = (double)g.nlat / secs;
	r->p50 = pct(0.50);
	r->p99 = pct(0.99);
	r->hq_cpu = (cpu1 - cpu0) / secs * 100.0;
	r->hq_rss = rss;
	r->hq_ms_per_sync = g.nlat ? (cpu1 - cpu0) * 1000.0 / (double)g.nlat : 0;
	r->gen_cpu = (self_cpu() - gen0) / secs * 100.0;
	r->edits_s = (double)(g.nedits - edits0) / secs;
	r->db_mib = g.hq ? file_mib("fieldsync.db") + file_mib("fieldsync.db-wal") : 0;
	r->errors = atomic_load(&g.errors) + atomic_load(&g.edit_errors);
	r->late = atomic_load(&g.late);
	printf("phase %ld devices: %.0f syncs/s offered, %.1f syncs/s done (%ld in %.1f s), p50 %.1f "
	       "ms, p99 %.1f ms, HQ CPU %.0f%% (%.1f ms/sync), HQ RSS %.0f MiB, db %.0f MiB, "
	       "loadgen CPU %.0f%%, edits %.1f/s, late %ld, errors %ld\n",
		count, r->offered, r->syncs_s, r->syncs, secs, r->p50, r->p99, r->hq_cpu,
		r->hq_ms_per_sync, r->hq_rss, r->db_mib, r->gen_cpu, r->edits_s, r->late,
		r->errors);
	if (g.metrics) {
		printf("  HQ time per route over the phase (worker seconds, mean ms):");
		for (i = 0; i < NROUTES; i++) {
			double n = m1.count[i] - m0.count[i], s = m1.sum[i] - m0.sum[i];

			if (n > 0)
				printf(" %s %.1f s %.1f ms;", routes[i], s, s * 1000.0 / n);
		}
		printf("\n");
	}
	fflush(stdout);
	return 0;
}

/* ---- main ----------------------------------------------------------------------------- */

static int read_tokens(const char *path)
{
	char line[ENROLL_TOKEN_MAX + 16];
	FILE *f = fopen(path, "r");
	long cap = 0;

	if (!f)
		return fprintf(stderr, "loadgen: cannot open %s\n", path), 1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (g.ntokens == cap) {
			char **t = realloc(g.tokens, (size_t)(cap = cap * 2 + 1024) * sizeof(*t));

			if (!t)
				return fclose(f), 1;
			g.tokens = t;
		}
		g.tokens[g.ntokens++] = strdup(line);
	}
	fclose(f);
	return 0;
}

static int write_edits(void)
{
	char path[4200];
	FILE *f;
	long i;

	snprintf(path, sizeof(path), "%s/edits.tsv", g.dir);
	f = fopen(path, "w");
	if (!f)
		return fprintf(stderr, "loadgen: cannot write %s\n", path), 1;
	for (i = 0; i < g.nedits; i++)
		fprintf(f, "%s\t%s\n", g.edits[i].case_id, g.edits[i].note);
	return fclose(f) ? 1 : 0;
}

static const char usage[] =
	"usage: loadgen DIR URL TOKENS PHASES [--seconds S] [--interval S] [--edits PCT]\n"
	"               [--threads T] [--first-threads T] [--server-pid PID] [--hq HOME]\n"
	"               [--metrics HOST:PORT]\n"
	"(see tests/bench/loadgen.c)\n";

int main(int argc, char **argv)
{
	long phases[MAX_PHASES], nphases = 0, done = 0, i, total_errors = 0;
	struct result res[MAX_PHASES];
	char *p;
	int a, rc = 0;

	if (argc < 5)
		return fputs(usage, stderr), 2;
	g.dir = argv[1];
	g.url = argv[2];
	g.seconds = 30;
	g.interval = 10;
	g.edit_pct = 3;
	g.threads = 32;
	for (p = argv[4]; *p && nphases < MAX_PHASES; p += *p == ',') {
		phases[nphases] = strtol(p, &p, 10);
		if (phases[nphases] <= 0)
			return fputs(usage, stderr), 2;
		if (phases[nphases] > g.ndev)
			g.ndev = phases[nphases];
		nphases++;
	}
	for (a = 5; a + 1 < argc; a += 2) {
		if (!strcmp(argv[a], "--seconds"))
			g.seconds = strtod(argv[a + 1], NULL);
		else if (!strcmp(argv[a], "--interval"))
			g.interval = strtod(argv[a + 1], NULL);
		else if (!strcmp(argv[a], "--edits"))
			g.edit_pct = strtod(argv[a + 1], NULL);
		else if (!strcmp(argv[a], "--threads"))
			g.threads = (int)strtol(argv[a + 1], NULL, 10);
		else if (!strcmp(argv[a], "--first-threads"))
			g.first_threads = (int)strtol(argv[a + 1], NULL, 10);
		else if (!strcmp(argv[a], "--server-pid"))
			g.pid = (int)strtol(argv[a + 1], NULL, 10);
		else if (!strcmp(argv[a], "--hq"))
			g.hq = argv[a + 1];
		else if (!strcmp(argv[a], "--metrics"))
			g.metrics = argv[a + 1];
		else
			return fputs(usage, stderr), 2;
	}
	if (!g.first_threads)
		g.first_threads = g.threads;
	if (a != argc || g.seconds <= 0 || g.interval <= 0 || g.threads < 1 || g.threads > 1024 ||
		g.first_threads < 1 || g.first_threads > g.threads)
		return fputs(usage, stderr), 2;
	if (read_tokens(argv[3]) || odb_global_init())
		return 1;
	mkdir(g.dir, 0700);
	g.dev = calloc((size_t)g.ndev, sizeof(*g.dev));
	g.ring = calloc((size_t)g.ndev, sizeof(*g.ring));
	g.cap_lat = 1L << 22;
	g.lat = calloc((size_t)g.cap_lat, sizeof(double));
	if (!g.dev || !g.ring || !g.lat)
		return fputs("loadgen: out of memory\n", stderr), 1;
	printf("loadgen: %ld phase(s) up to %ld devices, %.0f s each, a sync every %.1f s per "
	       "device, %.1f%% with an edit, %d syncs in flight at most\n",
		nphases, g.ndev, g.seconds, g.interval, g.edit_pct, g.threads);
	fflush(stdout);
	for (done = 0; done < nphases && !rc; done++) {
		rc = phase(&res[done], phases[done]);
		total_errors += res[done].errors;
		if (res[done].errors) {
			done++;
			break;
		}
	}
	/* every device that edited once more: whatever a failed sync left unpushed reaches HQ
	 * before the check */
	if (!rc) {
		long drained = 0;

		for (i = 0; i < g.ndev; i++)
			drained += g.dev[i].enrolled && g.dev[i].edits;
		atomic_store(&g.errors, 0);
		run_once(JOB_DRAIN, 0, g.ndev);
		total_errors += atomic_load(&g.errors);
		printf("drain: the %ld devices that edited synced once more, %ld errors\n", drained,
			(long)atomic_load(&g.errors));
	}
	if (write_edits())
		rc = 1;
	printf("\n%8s %9s %9s %8s %8s %8s %8s %9s %8s %8s %9s %7s %6s %6s\n", "devices", "offered",
		"syncs/s", "p50 ms", "p99 ms", "HQ CPU", "ms/sync", "HQ RSS", "db MiB", "edits/s",
		"enroll/s", "gen CPU", "late", "errors");
	for (a = 0; a < done; a++)
		printf("%8ld %9.1f %9.1f %8.1f %8.1f %7.0f%% %8.2f %6.0f MiB %8.0f %8.1f %9.1f %6.0f%% "
		       "%6ld %6ld\n",
			res[a].devices, res[a].offered, res[a].syncs_s, res[a].p50, res[a].p99,
			res[a].hq_cpu, res[a].hq_ms_per_sync, res[a].hq_rss, res[a].db_mib,
			res[a].edits_s, res[a].enroll_rate, res[a].gen_cpu, res[a].late,
			res[a].errors);
	printf("edits made: %ld (kept in %s/edits.tsv), pushed %ld, pulled %ld, merged %ld, "
	       "conflicts %ld, audit entries uploaded %ld, errors %ld\n",
		g.nedits, g.dir, (long)atomic_load(&g.pushed), (long)atomic_load(&g.pulled),
		(long)atomic_load(&g.merged), (long)atomic_load(&g.conflicts),
		(long)atomic_load(&g.audited), total_errors);
	for (a = 0; a < g.nshown; a++)
		printf("error: %s\n", g.shown[a]);
	for (i = 0; i < g.ndev; i++)
		crypto_wipe(g.dev[i].key, sizeof(g.dev[i].key));
	return rc || total_errors ? 1 : 0;
}
