/*
 * tests/bench/bench_audit.c - the audit trail's costs beside their targets (DESIGN.md section 7).
 *
 * Every store is the product's: SQLCipher with a raw key, 4 KiB pages, WAL, synchronous=FULL,
 * the schema of store.c.  Measured, each beside a baseline from the same run:
 *   append   - audit_append() (canonical JSON, leaf hash, insert) with 1,000 events per
 *              transaction and with one durable transaction per event; baselines: the same
 *              into plain SQLite, and bare INSERTs of the same pre-encoded rows;
 *   verify   - trail_verify_node() over EVENTS entries (default 1,000,000) with a signed
 *              checkpoint and HQ receipt every 5,000 entries (one per upload, as sync makes
 *              them), after reopening the store; baselines: reading the rows alone, and
 *              merkle_root() over the leaf hashes alone;
 *   query    - the statement `fieldsync-server audit query --case ID` runs, over EVENTS rows
 *              of remote_audit with 10,000 distinct targets (and 10,000 rows of HQ's own
 *              log), median of 51 cases; baseline: the same without the target indexes;
 *   seal     - the forward-secure seal each command ends with, on that log: per command, beside
 *              the same command's entries without it;
 *   proofs   - inclusion and consistency proof sizes (and the time to make them) at EVENTS.
 *
 * usage: bench_audit [EVENTS [append]]   (default 1000000; the stores live in $TMPDIR and are
 *        removed).  With "append", only the batched append: on an empty log, then after filling
 *        the log to EVENTS entries and reopening it (what the verify section also reports), the
 *        short run to profile the append at size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "base/crypto.h"
#include "base/hlc.h"
#include "audit/merkle.h"
#include "audit/seal.h"
#include "pki/pki.h"
#include "store/store.h"
#include "audit/trail.h"

#define BATCH 1000
#define APPEND_BATCHES 20
#define APPEND_SINGLE 300
#define UPLOAD 5000 /* AUDITSYNC_BATCH: entries per upload, one checkpoint each */
#define TARGETS 10000
#define QUERIES 51
#define HQ_EVENTS 10000
#define SEAL_COMMANDS 200

#define DEVICE "0123456789abcdef0123456789abcdef"
#define ORIGIN "ELP/" DEVICE

static const struct audit_origin origin = {DEVICE, "ELP"};
static const char *const users[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
static const char *const actions[] = {
        "case.view", "case.update", "case.search", "logon", "case.create", "evidence.view"};

static char tmpdir[4096];
static volatile size_t sink; /* keeps the reads of the query loop */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, err_msg());
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void target_of(char *out, size_t size, uint64_t i)
{
	snprintf(out, size, "ELP-26-%07llu", (unsigned long long)(i * 7919 % TARGETS));
}

static void event_of(struct audit_event *ev, char *target, size_t size, uint64_t i)
{
	memset(ev, 0, sizeof(*ev)); /* no "cases": only searches and lists name the cases shown */
	target_of(target, size, i);
	ev->user = users[i % 6];
	ev->action = actions[i / 6 % 6];
	ev->target = target;
	ev->outcome = "success";
	ev->detail = i % 10 == 0 ? "fields status,priority" : NULL;
	ev->time_ms = 1772366400000LL + (int64_t)i * 10;
}

static char *path_of(const char *name)
{
	char *p = malloc(strlen(tmpdir) + strlen(name) + 2);

	if (!p)
		die("malloc");
	snprintf(p, strlen(tmpdir) + strlen(name) + 2, "%s/%s", tmpdir, name);
	return p;
}

static void remove_db(const char *path)
{
	char *evidence = store_evidence_path(path);

	store_unlink(path);
	if (evidence)
		store_unlink(evidence);
	free(evidence);
}

static struct store *open_db(const char *path, const uint8_t *key, int create)
{
	struct store *s = NULL;

	if (store_open(&s, path, key, (create ? STORE_CREATE : 0) | (key ? 0 : STORE_PLAIN)))
		die("store_open");
	return s;
}

/* ---- append ------------------------------------------------------------------------------ */

static double append_batched(struct store *s, uint64_t first, uint64_t batches)
{
	char target[32];
	double t0 = now_s();
	uint64_t b, i;

	for (b = 0; b < batches; b++) {
		if (store_begin(s))
			die("begin");
		for (i = 0; i < BATCH; i++) {
			struct audit_event ev;

			event_of(&ev, target, sizeof(target), first + b * BATCH + i);
			if (audit_append(NULL, s, &origin, &ev))
				die("audit_append");
		}
		if (store_commit(s))
			die("commit");
	}
	return (double)(batches * BATCH) / (now_s() - t0);
}

static double append_single(struct store *s, uint64_t first, uint64_t count)
{
	char target[32];
	double t0 = now_s();
	uint64_t i;

	for (i = 0; i < count; i++) {
		struct audit_event ev;

		event_of(&ev, target, sizeof(target), first + i);
		if (audit_append(NULL, s, &origin, &ev)) /* its own durable transaction */
			die("audit_append");
	}
	return (double)count / (now_s() - t0);
}

/* The same rows, encoded and hashed beforehand: what SQLite alone costs. */
static double insert_raw(struct store *s, uint64_t batches)
{
	struct buf *entries = calloc(batches * BATCH, sizeof(*entries));
	uint8_t(*leaves)[32] = malloc(batches * BATCH * 32);
	char target[32], when[HLC_STR_MAX];
	sqlite3_stmt *st = NULL;
	double t0;
	uint64_t i, b;

	if (!entries || !leaves)
		die("malloc");
	for (i = 0; i < batches * BATCH; i++) {
		struct audit_event ev;

		event_of(&ev, target, sizeof(target), i);
		hlc_iso8601(when, ev.time_ms);
		buf_init(&entries[i], AUDIT_ENTRY_MAX);
		if (audit_encode(&entries[i], i, when, &origin, &ev))
			die("audit_encode");
		audit_leaf_hash(leaves[i], entries[i].ptr, entries[i].len);
	}
	if (store_prepare(&st, s,
	            "INSERT INTO audit_log(seq, time, user, action, target, outcome, entry, leaf)"
	            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
		die("prepare");
	t0 = now_s();
	for (b = 0; b < batches; b++) {
		if (store_begin(s))
			die("begin");
		for (i = b * BATCH; i < (b + 1) * BATCH; i++) {
			struct audit_event ev;

			event_of(&ev, target, sizeof(target), i);
			hlc_iso8601(when, ev.time_ms);
			sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
			sqlite3_bind_text(st, 2, when, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 3, ev.user, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, ev.action, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, target, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 6, ev.outcome, -1, SQLITE_STATIC);
			sqlite3_bind_blob(
			        st, 7, entries[i].ptr, (int)entries[i].len, SQLITE_STATIC);
			sqlite3_bind_blob(st, 8, leaves[i], 32, SQLITE_STATIC);
			if (store_step_done(s, st))
				die("insert");
			sqlite3_reset(st);
		}
		if (store_commit(s))
			die("commit");
	}
	t0 = now_s() - t0;
	sqlite3_finalize(st);
	for (i = 0; i < batches * BATCH; i++)
		buf_release(&entries[i]);
	free(entries);
	free(leaves);
	return (double)(batches * BATCH) / t0;
}

static void bench_append(void)
{
	uint8_t key[CRYPTO_KEY_LEN];
	char *enc = path_of("append-enc.db"), *plain = path_of("append-plain.db");
	char *raw = path_of("append-raw.db");
	struct store *s;
	double enc_b, enc_1, plain_b, plain_1, raw_b;

	if (crypto_random(key, sizeof(key)))
		die("random");
	s = open_db(enc, key, 1);
	enc_b = append_batched(s, 0, APPEND_BATCHES);
	enc_1 = append_single(s, APPEND_BATCHES * BATCH, APPEND_SINGLE);
	store_free(s);
	s = open_db(plain, NULL, 1);
	plain_b = append_batched(s, 0, APPEND_BATCHES);
	plain_1 = append_single(s, APPEND_BATCHES * BATCH, APPEND_SINGLE);
	store_free(s);
	s = open_db(raw, NULL, 1);
	raw_b = insert_raw(s, APPEND_BATCHES);
	store_free(s);
	crypto_wipe(key, sizeof(key));

	printf("-- append: audit_append(), %d events per transaction and one durable transaction "
	       "per event\n",
	        BATCH);
	printf("  %-44s %10.0f events/s   target >= 20,000  %s\n",
	        "encrypted, 1,000 per transaction", enc_b, enc_b >= 20000 ? "OK" : "MISSED");
	printf("  %-44s %10.0f events/s   (%.2f ms each, an fsync'd commit)\n",
	        "encrypted, one transaction per event", enc_1, 1000.0 / enc_1);
	printf("  %-44s %10.0f events/s   baseline (encrypted / plain %.2fx)\n",
	        "plain SQLite, 1,000 per transaction", plain_b, plain_b / enc_b);
	printf("  %-44s %10.0f events/s   baseline\n", "plain SQLite, one transaction per event",
	        plain_1);
	printf("  %-44s %10.0f events/s   baseline: SQLite alone (no encoding or hashing)\n",
	        "plain SQLite, bare INSERT of the same rows", raw_b);
	remove_db(enc);
	remove_db(plain);
	remove_db(raw);
	free(enc);
	free(plain);
	free(raw);
}

/* ---- verify ------------------------------------------------------------------------------ */

struct pki {
	struct buf ca_key, ca, dev_key, dev, srv_key, srv;
};

static void pki_make(struct pki *p)
{
	static const char *const dns[] = {"hq.example.org", NULL};
	struct buf csr = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v;
	uint8_t serial[PKI_SERIAL_LEN];

	buf_init(&p->ca_key, PKI_DER_MAX);
	buf_init(&p->ca, PKI_DER_MAX);
	buf_init(&p->dev_key, PKI_DER_MAX);
	buf_init(&p->dev, PKI_DER_MAX);
	buf_init(&p->srv_key, PKI_DER_MAX);
	buf_init(&p->srv, PKI_DER_MAX);
	pki_validity_days(&v, (int64_t)time(NULL), 30);
	if (pki_ca_create(&p->ca_key, &p->ca, "Bench Org", &v) || crypto_ec_keygen(&p->dev_key) ||
	        pki_csr_create(&csr, (const uint8_t *)p->dev_key.ptr, p->dev_key.len, DEVICE) ||
	        pki_issue_device(&p->dev, serial, (const uint8_t *)p->ca_key.ptr, p->ca_key.len,
	                (const uint8_t *)p->ca.ptr, p->ca.len, (const uint8_t *)csr.ptr, csr.len,
	                "ELP", DEVICE, &v) ||
	        pki_server_cert(&p->srv_key, &p->srv, (const uint8_t *)p->ca_key.ptr, p->ca_key.len,
	                (const uint8_t *)p->ca.ptr, p->ca.len, dns, NULL, &v))
		die("pki");
	buf_release(&csr);
}

static void pki_release(struct pki *p)
{
	buf_wipe_release(&p->ca_key);
	buf_release(&p->ca);
	buf_wipe_release(&p->dev_key);
	buf_release(&p->dev);
	buf_wipe_release(&p->srv_key);
	buf_release(&p->srv);
}

static void put_statement(struct store *s, int receipt, uint64_t size, const uint8_t root[32],
        const struct buf *key, const struct buf *cert)
{
	struct buf msg = BUF_INIT(CHECKPOINT_MSG_MAX), sig = BUF_INIT(CHECKPOINT_SIG_MAX);
	sqlite3_stmt *st = NULL;
	const char *when = "2026-03-01T12:00:00.000Z";

	if (checkpoint_message(
	            &msg, receipt ? "receipt" : "checkpoint", ORIGIN, size, root, when) ||
	        checkpoint_sign(&sig, (const uint8_t *)key->ptr, key->len, &msg) ||
	        store_prepare(&st, s,
	                receipt ? "INSERT INTO audit_receipts(size, root, time, signature, "
	                          "server_cert)"
	                          " VALUES (?, ?, ?, ?, ?)"
	                        : "INSERT INTO audit_checkpoints(size, root, time, signature)"
	                          " VALUES (?, ?, ?, ?)"))
		die("sign");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	sqlite3_bind_blob(st, 2, root, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, when, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, sig.ptr, (int)sig.len, SQLITE_STATIC);
	if (receipt)
		sqlite3_bind_blob(st, 5, cert->ptr, (int)cert->len, SQLITE_STATIC);
	if (store_step_done(s, st))
		die("insert statement");
	sqlite3_finalize(st);
	buf_release(&msg);
	buf_release(&sig);
}

/* Also hands back the n leaf hashes (malloc'd) for the proofs. */
static void append_entries(struct store *s, uint64_t first, uint64_t count)
{
	char target[32];
	uint64_t i;

	for (i = 0; i < count; i++) {
		struct audit_event ev;

		event_of(&ev, target, sizeof(target), first + i);
		if (audit_append(NULL, s, &origin, &ev))
			die("audit_append");
	}
}

/* One command's worth of the log: a log-on and the event it opened, in one transaction. */
static void command_entries(struct store *s, uint64_t first)
{
	if (store_begin(s))
		die("begin");
	append_entries(s, first, 2);
	if (store_commit(s))
		die("commit");
}

/*
 * seal: what sealing at the end of every command adds (docs/AUDIT.md), on the log of `n`
 * entries: the first seal (which reads the whole log once), then SEAL_COMMANDS commands of two
 * entries each, sealed and not; baseline: the same commands without the seal.
 */
static void bench_seal(struct store *s, const struct pki *p, uint64_t n)
{
	double first, sealed, plain, t0;
	uint64_t at = n;
	int made = 0, i;

	t0 = now_s();
	if (seal_own_log(&made, s, ORIGIN, (const uint8_t *)p->dev_key.ptr, p->dev_key.len,
		    (const uint8_t *)p->dev.ptr, p->dev.len) ||
		!made)
		die("first seal");
	first = now_s() - t0;
	t0 = now_s();
	for (i = 0; i < SEAL_COMMANDS; i++, at += 2)
		command_entries(s, at);
	plain = (now_s() - t0) / SEAL_COMMANDS;
	t0 = now_s();
	for (i = 0; i < SEAL_COMMANDS; i++, at += 2) {
		command_entries(s, at);
		if (seal_own_log(&made, s, ORIGIN, (const uint8_t *)p->dev_key.ptr, p->dev_key.len,
			    (const uint8_t *)p->dev.ptr, p->dev.len) ||
			!made)
			die("seal");
	}
	sealed = (now_s() - t0) / SEAL_COMMANDS;
	printf("\n-- seal: seal_own_log() at the end of each command, log of %llu entries\n",
		(unsigned long long)n);
	printf("  %-44s %10.2f ms\n", "first seal (reads the whole log once)", first * 1e3);
	printf("  %-44s %10.2f ms         %.2f ms per seal\n", "a command's 2 entries, then a seal",
		sealed * 1e3, (sealed - plain) * 1e3);
	printf("  %-44s %10.2f ms         baseline\n", "a command's 2 entries, no seal",
		plain * 1e3);
}

static void bench_verify(uint8_t **leaves_out, uint64_t n)
{
	uint8_t key[CRYPTO_KEY_LEN], root[32];
	char *path = path_of("verify-enc.db");
	struct buf leaves = BUF_INIT((size_t)1 << 36);
	struct trail_report r;
	struct pki p;
	struct store *s;
	sqlite3_stmt *st = NULL;
	double fill, at_n, t_verify, t_scan, t_check, t_root, t0;
	uint64_t got = 0, size, rows = 0;
	size_t bytes = 0;

	if (crypto_random(key, sizeof(key)))
		die("random");
	s = open_db(path, key, 1);
	t0 = now_s();
	fill = append_batched(s, 0, n / BATCH);
	t0 = now_s() - t0;
	pki_make(&p);
	if (checkpoint_own_leaves(&leaves, &got, s) || got != n)
		die("leaves");
	if (store_begin(s))
		die("begin");
	for (size = UPLOAD; size <= n; size += UPLOAD) {
		if (merkle_root(root, (const uint8_t *)leaves.ptr, size))
			die("merkle_root");
		put_statement(s, 0, size, root, &p.dev_key, NULL);
		put_statement(s, 1, size, root, &p.srv_key, &p.srv);
	}
	if (store_commit(s))
		die("commit");
	store_free(s);

	/* reopened: nothing of the log in SQLite's cache (the OS may still hold the file) */
	s = open_db(path, key, 0);
	t_verify = now_s();
	if (trail_verify_node(&r, s, ORIGIN, (const uint8_t *)p.dev.ptr, p.dev.len,
		    (const uint8_t *)p.ca.ptr, p.ca.len, NULL, NULL))
		die("trail_verify_node");
	t_verify = now_s() - t_verify;
	if (r.size != n || r.checkpoints != n / UPLOAD || r.countersigned != n / UPLOAD * UPLOAD)
		die("unexpected report");
	store_free(s);

	s = open_db(path, key, 0);
	t_scan = now_s();
	if (store_prepare(&st, s, "SELECT entry, leaf FROM audit_log ORDER BY seq"))
		die("prepare");
	while (sqlite3_step(st) == SQLITE_ROW) {
		bytes += (size_t)sqlite3_column_bytes(st, 0);
		rows++;
	}
	sqlite3_finalize(st);
	t_scan = now_s() - t_scan;
	t_check = now_s();
	if (audit_check(&got, s) || got != n)
		die("audit_check");
	t_check = now_s() - t_check;
	/* the append rate once the log is this long: the target index has grown */
	at_n = append_batched(s, n, APPEND_BATCHES);
	store_free(s);
	t_root = now_s();
	if (merkle_root(root, (const uint8_t *)leaves.ptr, n))
		die("merkle_root");
	t_root = now_s() - t_root;
	if (rows != n || memcmp(root, r.root, 32))
		die("scan");

	printf("\n-- verify: trail_verify_node() over %llu entries, %llu checkpoints and "
	       "receipts\n",
	        (unsigned long long)n, (unsigned long long)(n / UPLOAD));
	printf("  %-44s %10.2f s          target <= 10 s  %s\n", "verify every entry and signature",
	        t_verify, t_verify <= 10.0 ? "OK" : "MISSED");
	printf("  %-44s %10.2f s          baseline: the reads alone (%.0f MB of entries)\n",
	        "read every entry (SELECT entry, leaf)", t_scan, (double)bytes / 1e6);
	printf("  %-44s %10.2f s          baseline: reads and leaf hashes, no JSON or tree\n",
	        "audit_check() (recompute every leaf)", t_check);
	printf("  %-44s %10.2f s          baseline: the tree hashing alone\n",
	        "merkle_root() of the stored leaf hashes", t_root);
	printf("  %-44s %10.0f events/s   target >= 20,000  %s\n",
	        "append, 1,000 per transaction, at this size", at_n,
	        at_n >= 20000 ? "OK" : "MISSED");
	printf("  (filling the log: %.1f s, %.0f events/s on average; each event names one of %d\n"
	       "   cases at random; only contacts with HQ enter the index on target)\n",
		t0, fill, TARGETS);
	*leaves_out = malloc(n * 32);
	if (!*leaves_out)
		die("malloc");
	memcpy(*leaves_out, leaves.ptr, n * 32);
	buf_release(&leaves);
	s = open_db(path, key, 0);
	bench_seal(s, &p, n + APPEND_BATCHES * BATCH);
	store_free(s);
	pki_release(&p);
	crypto_wipe(key, sizeof(key));
	remove_db(path);
	free(path);
}

/* ---- query ------------------------------------------------------------------------------- */

/* `audit query --case ID` as server/hqaudit.c builds it: both arms, HQ's device inlined. */
static const char query_sql[] =
        "SELECT * FROM (SELECT device, seq, office, time, user, action, target, outcome, entry"
        " FROM remote_audit WHERE target = ?1 UNION ALL SELECT '" DEVICE "', seq, 'HQ', time,"
        " user, action, target, outcome, entry FROM audit_log WHERE target = ?1)"
        " ORDER BY time, device, seq LIMIT ?8";

static void fill_remote(struct store *s, uint64_t n)
{
	static const char *const offices[] = {
	        "ELP", "SDG", "TUC", "LRD", "MIA", "NYC", "DET", "SEA", "BUF", "HOU"};
	char target[32], when[HLC_STR_MAX], device[40];
	struct buf entry = BUF_INIT(AUDIT_ENTRY_MAX);
	sqlite3_stmt *st = NULL;
	uint64_t i;

	if (store_prepare(&st, s,
	            "INSERT INTO remote_audit(device, epoch, seq, office, time, user, action, "
	            "target,"
	            " outcome, entry, leaf) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
		die("prepare");
	for (i = 0; i < n; i++) {
		struct audit_event ev;
		struct audit_origin o;
		uint8_t leaf[32];
		uint64_t dev = i % 100, seq = i / 100;

		if (i % 10000 == 0 && store_begin(s))
			die("begin");
		event_of(&ev, target, sizeof(target), i);
		hlc_iso8601(when, ev.time_ms);
		snprintf(device, sizeof(device), "%032llx", (unsigned long long)(dev + 1));
		o.node = device;
		o.office = offices[dev % 10];
		buf_reset(&entry);
		if (audit_encode(&entry, seq, when, &o, &ev))
			die("audit_encode");
		audit_leaf_hash(leaf, entry.ptr, entry.len);
		sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
		sqlite3_bind_text(st, 3, o.office, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, when, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, ev.user, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, ev.action, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, target, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 8, ev.outcome, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 9, entry.ptr, (int)entry.len, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 10, leaf, 32, SQLITE_TRANSIENT);
		if (store_step_done(s, st))
			die("insert");
		sqlite3_reset(st);
		if ((i % 10000 == 9999 || i == n - 1) && store_commit(s))
			die("commit");
	}
	sqlite3_finalize(st);
	buf_release(&entry);
}

/* One query as the command runs it: prepare, bind, read every row's columns.  Returns ms. */
static double run_query(struct store *s, const char *target, long *rows)
{
	sqlite3_stmt *st = NULL;
	double t0 = now_s();
	size_t bytes = 0;
	int k;

	*rows = 0;
	if (store_prepare(&st, s, query_sql))
		die("prepare query");
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, 1000);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (k = 0; k < 8; k++)
			bytes += (size_t)sqlite3_column_bytes(st, k);
		bytes += (size_t)sqlite3_column_bytes(st, 8);
		(*rows)++;
	}
	sqlite3_finalize(st);
	sink += bytes;
	return (now_s() - t0) * 1000.0;
}

static double median_query(struct store *s, int repeats, long *rows_out)
{
	double *ms = calloc((size_t)repeats, sizeof(*ms)), med;
	char target[32];
	long rows = 0;
	int i;

	if (!ms)
		die("calloc");
	*rows_out = 0;
	for (i = 0; i < repeats; i++) {
		target_of(target, sizeof(target), (uint64_t)i * 104729 + 17);
		ms[i] = run_query(s, target, &rows);
		*rows_out += rows;
	}
	qsort(ms, (size_t)repeats, sizeof(*ms), cmp_double);
	med = ms[repeats / 2];
	free(ms);
	*rows_out /= repeats;
	return med;
}

static void bench_query(uint64_t n)
{
	uint8_t key[CRYPTO_KEY_LEN];
	char *path = path_of("query-enc.db");
	struct store *s;
	double fill, with_index, without;
	long rows_with = 0, rows_without = 0;

	if (crypto_random(key, sizeof(key)))
		die("random");
	s = open_db(path, key, 1);
	fill = now_s();
	fill_remote(s, n);
	append_batched(s, n, HQ_EVENTS / BATCH); /* HQ's own log, the query's second arm */
	fill = now_s() - fill;
	store_free(s);
	s = open_db(path, key, 0);
	run_query(s, "ELP-26-0000001", &rows_with); /* the schema and the first pages */
	with_index = median_query(s, QUERIES, &rows_with);
	if (store_exec(s, "DROP INDEX remote_audit_target")) /* HQ's own arm scans anyway */
		die("drop index");
	without = median_query(s, 3, &rows_without);
	store_free(s);
	if (rows_with != rows_without || rows_with == 0)
		die("the two plans disagree");

	printf("\n-- query: `audit query --case ID` over %llu rows of remote_audit (%d targets) "
	       "and %d of HQ's log\n",
	        (unsigned long long)n, TARGETS, HQ_EVENTS);
	printf("  %-44s %10.2f ms         target <= 100 ms  %s\n",
	        "median of 51 cases (index on target)", with_index,
	        with_index <= 100.0 ? "OK" : "MISSED");
	printf("  %-44s %10.2f ms         baseline: full scan (%.0fx)\n",
	        "median of 3 cases without the indexes", without, without / with_index);
	printf("  (%ld rows per case; filling the table: %.1f s)\n", rows_with, fill);
	crypto_wipe(key, sizeof(key));
	remove_db(path);
	free(path);
}

/* ---- proofs ------------------------------------------------------------------------------ */

static void bench_proofs(const uint8_t *leaves, uint64_t n)
{
	const uint64_t at[] = {0, n / 2, n - 1};
	const uint64_t from[] = {n - UPLOAD, n / 2, 1};
	uint8_t root[32], old[32];
	struct buf proof = BUF_INIT(MERKLE_MAX_PROOF * MERKLE_HASH_LEN);
	double t;
	size_t i;

	if (merkle_root(root, leaves, n))
		die("merkle_root");
	printf("\n-- proofs at n = %llu (RFC 6962, 32-byte hashes)\n", (unsigned long long)n);
	for (i = 0; i < 3; i++) {
		buf_reset(&proof);
		t = now_s();
		if (merkle_inclusion_proof(&proof, leaves, n, at[i]))
			die("inclusion proof");
		t = now_s() - t;
		if (merkle_verify_inclusion(leaves + at[i] * 32, at[i], n,
		            (const uint8_t *)proof.ptr, proof.len, root))
			die("verify inclusion");
		printf("  inclusion of entry %-25llu %10zu bytes      (%zu hashes; made in %.0f "
		       "ms)\n",
		        (unsigned long long)at[i], proof.len, proof.len / 32, t * 1000);
	}
	for (i = 0; i < 3; i++) {
		buf_reset(&proof);
		t = now_s();
		if (merkle_consistency_proof(&proof, leaves, from[i], n))
			die("consistency proof");
		t = now_s() - t;
		if (merkle_root(old, leaves, from[i]) ||
		        merkle_verify_consistency(
		                from[i], n, old, root, (const uint8_t *)proof.ptr, proof.len))
			die("verify consistency");
		printf("  consistency from %-27llu %10zu bytes      (%zu hashes; made in %.0f "
		       "ms)%s\n",
		        (unsigned long long)from[i], proof.len, proof.len / 32, t * 1000,
		        i == 0 ? "  <- one upload" : "");
	}
	buf_release(&proof);
}

/* The batched append on an empty log (the baseline) and on a log of n entries, reopened. */
static void bench_append_at(uint64_t n)
{
	uint8_t key[CRYPTO_KEY_LEN];
	char *path = path_of("append-at.db"), *empty = path_of("append-empty.db");
	struct store *s;
	double fill, at_n, at_0, t0;

	if (crypto_random(key, sizeof(key)))
		die("random");
	s = open_db(empty, key, 1);
	at_0 = append_batched(s, 0, APPEND_BATCHES);
	store_free(s);
	s = open_db(path, key, 1);
	t0 = now_s();
	fill = append_batched(s, 0, n / BATCH);
	t0 = now_s() - t0;
	store_free(s);
	s = open_db(path, key, 0);
	at_n = append_batched(s, n, APPEND_BATCHES);
	store_free(s);
	crypto_wipe(key, sizeof(key));
	printf("-- append: audit_append(), %d events per transaction\n", BATCH);
	printf("  %-44s %10.0f events/s   baseline: the same run's young log\n",
		"encrypted, empty log", at_0);
	printf("  %-44s %10.0f events/s   target >= 20,000  %s (%.2fx the young log)\n",
		"encrypted, log reopened at this size", at_n, at_n >= 20000 ? "OK" : "MISSED",
		at_n / at_0);
	printf("  (filling the log to %llu: %.1f s, %.0f events/s on average)\n",
		(unsigned long long)n, t0, fill);
	remove_db(path);
	remove_db(empty);
	free(path);
	free(empty);
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	uint8_t *leaves = NULL;

	if (n < 2 * UPLOAD || n % UPLOAD) {
		fprintf(stderr,
		        "usage: bench_audit [EVENTS]   (a multiple of %d, default 1000000)\n",
		        UPLOAD);
		return 2;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/fieldsync-bench-audit.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("bench_audit: mkdtemp");
		return 1;
	}
	if (argc > 2 && !strcmp(argv[2], "append")) {
		bench_append_at(n);
		rmdir(tmpdir);
		return 0;
	}
	bench_append();
	bench_verify(&leaves, n);
	bench_query(n);
	bench_proofs(leaves, n);
	free(leaves);
	rmdir(tmpdir);
	return 0;
}
