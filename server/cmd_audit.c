/*
 * server/cmd_audit.c - `fieldsync-server audit`: the consolidated trail for security staff.
 * log (the server's own), verify (every trail HQ holds, or an export file), query (every
 * office's events and HQ's), export (one trail, checkable by anyone with the CA certificate).
 * Receiving and countersigning uploads is server/hqaudit.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/checkpoint.h"
#include "audit/seal.h"
#include "audit/trail.h"
#include "auditverify.h"
#include "base/crypto.h"
#include "commands.h"
#include "hq.h"
#include "hqaudit.h"
#include "hqdb.h"
#include "node/casedb.h"
#include "pki/pki.h"

/* ---- the consolidated trail: verify, query, export -------------------------------------- */

static const char audit_help[] =
	"usage: fieldsync-server audit log [--since TIME]\n"
	"       fieldsync-server audit head [--device D]\n"
	"       fieldsync-server audit verify [--file F [--ca CA]]\n"
	"                            [--expect-size N --expect-head HEX | --expect-receipt FILE]\n"
	"       fieldsync-server audit query [--case ID] [--user U] [--office O] [--device D]\n"
	"                                    [--action A] [--since T] [--until T] [--limit N]\n"
	"                                    [--csv] [--group-logons]\n"
	"       fieldsync-server audit export (--device D [--epoch N] | --hq) --out FILE\n"
	"\n"
	"log: the server's own trail.  verify: signs a checkpoint of the server's own log, then\n"
	"recomputes every leaf, tree head, checkpoint signature and countersignature of the\n"
	"server's log and of every device's trail held here; prints OK per trail with its size and\n"
	"head, or the first bad entry and why (exit 1).  --file verifies an export with only the CA\n"
	"certificate.  query: every office's events and HQ's own, newest last, as a table, --csv or\n"
	"--json (with 'cases' on searches and lists); --case ID also lists every search or list\n"
	"that showed the case; T is ISO 8601 UTC (2026-11-27, 2026-11-27T18:00Z) or a time before\n"
	"now (30m, 24h, 7d, 2w); a value that is not a time, case id, user, office, device id or\n"
	"action is refused naming its option (exit 2).  A device (D) or case (ID) may be given\n"
	"by a unique prefix of its id, here and in export and head.  --group-logons folds each\n"
	"successful log-on into the command it opened (the next entry of that trail, by the same\n"
	"user; marked '(after log-on)', or \"logon\": true in JSON); failed log-ons still show, and\n"
	"the trail itself is unchanged.  export: one trail (entries, checkpoints, receipts and\n"
	"the certificates that signed them) as a file anyone can check with 'audit verify --file F\n"
	"--ca CA.pem'; a device released after an alert starts a new epoch of its trail at HQ (the\n"
	"earlier one is kept: --epoch picks it; default the current one).  Every use is itself\n"
	"audited.\n"
	"\n"
	"head: a signed head to keep or hand over (JSON: origin, size, tree head, time, signature,\n"
	"certificate): a checkpoint HQ signs now of its own log, or with --device the newest\n"
	"receipt HQ countersigned for that device.  'audit verify --expect-receipt FILE' (or\n"
	"--expect-size N --expect-head HEX) checks it against the CA and proves with a consistency\n"
	"proof that the trail (--file, or HQ's own log) extends it; a trail cut back below it or\n"
	"diverging from it fails, naming both heads.\n";

/* Sign a checkpoint of HQ's own log as it stands. */
static int hq_checkpoint(struct node *n, const char *origin)
{
	struct buf leaves = BUF_INIT((size_t)1 << 36), key = BUF_INIT(8192);
	struct buf msg = BUF_INIT(CHECKPOINT_MSG_MAX), sig = BUF_INIT(CHECKPOINT_SIG_MAX);
	uint8_t root[MERKLE_HASH_LEN];
	char now[HLC_STR_MAX];
	uint64_t count = 0;
	int error;

	hlc_iso8601(now, hlc_now_ms());
	error = store_begin(n->store);
	if (!error)
		error = checkpoint_own_leaves(&leaves, &count, n->store);
	if (!error)
		error = merkle_root(root, (const uint8_t *)leaves.ptr, count);
	if (!error)
		error = store_material_get(&key, n->store, "server_key");
	if (!error)
		error = checkpoint_message(&msg, "checkpoint", origin, count, root, now);
	if (!error)
		error = checkpoint_sign(&sig, (const uint8_t *)key.ptr, key.len, &msg);
	if (!error)
		error = store_run(n->store,
			"INSERT OR IGNORE INTO audit_checkpoints(size, root, time, signature)"
			" VALUES (?, ?, ?, ?)",
			"ibtb", (int64_t)count, root, (size_t)MERKLE_HASH_LEN, now, sig.ptr,
			sig.len);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	buf_release(&leaves);
	buf_wipe_release(&key);
	buf_release(&msg);
	buf_release(&sig);
	return error;
}

/* Entries of a device held at HQ, each checked against its stored leaf. */
static int device_entries(struct buf *leaves, json_t *texts, struct node *n, const char *device,
	int64_t epoch)
{
	sqlite3_stmt *st = NULL;
	uint64_t next = 0;
	int error = store_bind(&st, n->store,
		"SELECT seq, entry, leaf FROM remote_audit WHERE device = ? AND epoch = ? ORDER BY seq",
		"ti", device, epoch);

	while (!error && (error = store_next(n->store, st)) > 0) {
		uint8_t leaf[MERKLE_HASH_LEN];

		if ((uint64_t)sqlite3_column_int64(st, 0) != next ||
			sqlite3_column_bytes(st, 2) != MERKLE_HASH_LEN) {
			error = err_set(ERR_CORRUPT, "entry %llu of device %s is missing",
				(unsigned long long)next, device);
			break;
		}
		error = trail_check_entry(leaf, sqlite3_column_blob(st, 1),
			(size_t)sqlite3_column_bytes(st, 1), next, sqlite3_column_blob(st, 2));
		if (!error && leaves)
			error = buf_put(leaves, leaf, MERKLE_HASH_LEN);
		if (!error && texts)
			json_array_append_new(texts,
				json_stringn((const char *)sqlite3_column_blob(st, 1),
					(size_t)sqlite3_column_bytes(st, 1)));
		next++;
	}
	sqlite3_finalize(st);
	return error;
}

/* Everything needed to check or export one trail. */
struct trail_set {
	struct trail_input in;
	struct buf leaves;
	struct trail_sig *cps, *rcs;
	size_t ncp, nrc;
	struct seal *seals;
	size_t nseals;
	char origin[64];
};

static void trail_set_release(struct trail_set *t)
{
	trail_statements_free(t->cps, t->ncp);
	trail_statements_free(t->rcs, t->nrc);
	seal_free_list(t->seals, t->nseals);
	buf_release(&t->leaves);
}

static int load_device_trail(struct trail_set *t, json_t *texts, struct node *n,
	const char *device, int64_t epoch, const char *office, const struct buf *dev_cert,
	const struct buf *server_cert, const struct buf *ca)
{
	char sql[2][200];
	int error;

	memset(t, 0, sizeof(*t));
	buf_init(&t->leaves, (size_t)1 << 36);
	snprintf(t->origin, sizeof(t->origin), "%s/%s", office, device);
	snprintf(sql[0], sizeof(sql[0]),
		"SELECT size, root, time, signature FROM remote_checkpoints WHERE device = ?"
		" AND epoch = %lld ORDER BY size",
		(long long)epoch);
	snprintf(sql[1], sizeof(sql[1]),
		"SELECT size, root, time, countersignature FROM remote_checkpoints WHERE device = ?"
		" AND epoch = %lld ORDER BY size",
		(long long)epoch);
	error = device_entries(&t->leaves, texts, n, device, epoch);
	if (!error)
		error = trail_load_statements(&t->cps, &t->ncp, n->store, sql[0], device,
			(const uint8_t *)dev_cert->ptr, dev_cert->len);
	if (!error)
		error = trail_load_statements(&t->rcs, &t->nrc, n->store, sql[1], device,
			(const uint8_t *)server_cert->ptr, server_cert->len);
	if (!error)
		error = seal_load(&t->seals, &t->nseals, n->store,
			"SELECT idx, size, root, time, next_key, signature, cert FROM remote_seals"
			" WHERE device = ? AND epoch = ? ORDER BY idx",
			"ti", device, epoch);
	t->in.origin = t->origin;
	t->in.seals = t->seals;
	t->in.nseals = t->nseals;
	t->in.leaves = (const uint8_t *)t->leaves.ptr;
	t->in.n = t->leaves.len / MERKLE_HASH_LEN;
	t->in.checkpoints = t->cps;
	t->in.ncheckpoints = t->ncp;
	t->in.receipts = t->rcs;
	t->in.nreceipts = t->nrc;
	t->in.ca = (const uint8_t *)ca->ptr;
	t->in.calen = ca->len;
	return error;
}

struct pki3 {
	struct buf server_cert, ca;
};

static int pki3_load(struct pki3 *p, struct node *n)
{
	int error;

	buf_init(&p->server_cert, 8192);
	buf_init(&p->ca, 8192);
	error = store_material_get(&p->server_cert, n->store, "server_cert");
	if (!error)
		error = pki_trust_get(&p->ca, n->store, 1); /* older signatures: retired CAs */
	return error;
}

static void pki3_release(struct pki3 *p)
{
	buf_release(&p->server_cert);
	buf_release(&p->ca);
}

/* Verify one device's trail; a line (or a JSON object) either way.  Returns 0 or the error. */
static int verify_device(json_t *list, const struct cli *c, struct node *n, const char *device,
	int64_t epoch, const char *office, const struct buf *cert, const struct pki3 *p)
{
	struct trail_set t;
	uint8_t root[MERKLE_HASH_LEN];
	char hex[2 * MERKLE_HASH_LEN + 1] = "";
	int error = load_device_trail(&t, NULL, n, device, epoch, office, cert, &p->server_cert,
		&p->ca);

	if (!error)
		error = trail_verify(root, &t.in);
	if (!error)
		crypto_hex(hex, root, MERKLE_HASH_LEN);
	if (c->json)
		json_array_append_new(list,
			error ? json_pack("{s:s, s:I, s:s, s:s, s:s}", "device", device, "epoch",
					(json_int_t)epoch, "office", office, "status", "failed", "error",
					err_msg())
			      : json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:I}", "device", device,
					"epoch", (json_int_t)epoch, "office", office, "status", "ok",
					"size", (json_int_t)t.in.n, "root", hex, "countersigned",
					(json_int_t)(t.nrc ? t.rcs[t.nrc - 1].size : 0)));
	else if (error)
		printf("FAILED  %s (epoch %lld): %s\n", t.origin, (long long)epoch, err_msg());
	else
		printf("OK  %s%s: %llu entries, tree head %s, %zu checkpoints countersigned\n",
			t.origin, epoch ? " (after a release)" : "", (unsigned long long)t.in.n, hex,
			t.nrc);
	trail_set_release(&t);
	return error;
}

struct verify_ctx {
	int *failed;
	json_t *list;
	const struct cli *c;
	struct node *n;
	const struct pki3 *p;
};

/* Every epoch of one device's trail. */
static int verify_epochs(void *ctx, const struct hqdb_device *d)
{
	struct verify_ctx *v = ctx;
	struct buf cert = BUF_INIT(8192);
	char device[64], office[16];
	int64_t epoch;
	int error;

	snprintf(device, sizeof(device), "%s", d->device);
	snprintf(office, sizeof(office), "%s", d->office);
	error = buf_put(&cert, d->cert, d->certlen);
	for (epoch = 0; !error && epoch <= d->epoch; epoch++)
		if (verify_device(v->list, v->c, v->n, device, epoch, office, &cert, v->p))
			*v->failed = 1;
	buf_release(&cert);
	return error;
}

static int verify_devices(int *failed, json_t *list, const struct cli *c, struct node *n,
	const struct pki3 *p)
{
	struct verify_ctx v = {failed, list, c, n, p};

	return hqdb_device_foreach(n->store, verify_epochs, &v);
}

static int verify_all(struct cli *c, struct auditverify_expect *x)
{
	struct node *n = NULL;
	struct pki3 p;
	struct trail_report r;
	json_t *devices = json_array();
	char origin[64], hex[2 * MERKLE_HASH_LEN + 1];
	int failed = 0, rc = CLI_EXIT_OK, error;

	memset(&p, 0, sizeof(p));
	if (cli_open_node(&n, c)) {
		json_decref(devices);
		return cli_fail(c);
	}
	snprintf(origin, sizeof(origin), "%s/%s", n->office, n->device);
	error = node_require(n, NODE_PERM_AUDIT_READ, "audit.verify", "");
	if (!error)
		error = pki3_load(&p, n);
	if (!error)
		error = node_audit(n, "audit.verify", "", "success", "every trail");
	if (!error)
		error = hq_checkpoint(n, origin);
	if (!error)
		error = trail_verify_node(&r, n->store, origin, (const uint8_t *)p.server_cert.ptr,
			p.server_cert.len, (const uint8_t *)p.ca.ptr, p.ca.len,
			auditverify_expected(x), &x->proof);
	if (error) {
		rc = cli_fail(c);
		goto out;
	}
	crypto_hex(hex, r.root, MERKLE_HASH_LEN);
	if (!c->json)
		printf("OK  %s (HQ): %llu entries, tree head %s, %zu signed checkpoints\n", origin,
			(unsigned long long)r.size, hex, r.checkpoints);
	if (!c->json && x->given)
		printf("    extends the head you hold: %llu entries (consistency proof of %zu hashes)\n",
			(unsigned long long)x->e.size, x->proof.len / MERKLE_HASH_LEN);
	error = verify_devices(&failed, devices, c, n, &p);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:I, s:s, s:I, s:O}", "status",
			failed ? "failed" : "ok", "size", (json_int_t)r.size, "root", hex,
			"checkpoints", (json_int_t)r.checkpoints, "devices", devices));
	if (!error && failed) {
		fprintf(stderr, "fieldsync-server: error: a device trail failed verification\n");
		rc = CLI_EXIT_FAIL;
	}
out:
	json_decref(devices);
	pki3_release(&p);
	node_free(n);
	return rc;
}

/* ---- query ---------------------------------------------------------------------------- */

struct filter {
	const char *column;
	const char *option;
	const char *op;
};

static const struct filter filters[] = {
	{"target", "--case", "="}, {"user", "--user", "="}, {"office", "--office", "="},
	{"device", "--device", "="}, {"action", "--action", "="}, {"time", "--since", ">="},
	{"time", "--until", "<"},
};
#define N_FILTERS (sizeof(filters) / sizeof(filters[0]))
/* --case (filters[0], so parameter ?1): the case's own events and the searches that showed it */
#define CASE_SQL AUDIT_SQL_NAMES_CASE("1")

/*
 * A device id as typed at HQ: a device of an office (hqdb_device_resolve) or HQ's own node.
 * ERR_INVALID, ERR_NOTFOUND, ERR_CONFLICT listing the candidates.
 */
static int resolve_device(char out[PKI_DEVICE_LEN + 1], struct node *n, const char *prefix)
{
	int hq = !strncmp(n->device, prefix, strlen(prefix));
	int error = hqdb_device_resolve(out, n->store, prefix);

	if (error == ERR_NOTFOUND && hq) {
		snprintf(out, PKI_DEVICE_LEN + 1, "%s", n->device);
		return 0;
	}
	if (!error && hq && strcmp(n->device, prefix))
		return err_set(ERR_CONFLICT, "device id prefix '%s' is ambiguous: %s, %s (HQ)",
			prefix, out, n->device);
	return error;
}

/* 1 if s is 1 to max characters, each in `set`. */
static int only(const char *s, const char *set, size_t max)
{
	size_t len = strlen(s);

	return len >= 1 && len <= max && strspn(s, set) == len;
}

/*
 * Check one filter's value and give the form that is bound: times made absolute.  ERR_INVALID
 * with the reason; the caller names the option.
 */
static int filter_value(char *out, size_t size, const char *option, const char *v)
{
	int error = 0;

	if (!strcmp(option, "--since") || !strcmp(option, "--until"))
		return size >= HLC_STR_MAX ? hlc_parse_time(out, v, hlc_now_ms())
					   : err_set(ERR_INVALID, "no room");
	if (!strcmp(option, "--case") && schema_check_case_id(v) &&
		!only(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", SCHEMA_CASE_ID_MAX))
		error = err_set(ERR_INVALID, "'%s' is not a case id nor the start of one", v);
	else if (!strcmp(option, "--user"))
		error = schema_check_user(v);
	else if (!strcmp(option, "--office"))
		error = strcmp(v, "HQ") ? schema_check_office(v) : 0;
	else if (!strcmp(option, "--device") &&
		 (strlen(v) < 4 || !only(v, "0123456789abcdef", PKI_DEVICE_LEN)))
		error = err_set(ERR_INVALID,
			"'%s' is not a device id nor its start (4 to %d lowercase hex digits)", v,
			PKI_DEVICE_LEN);
	else if (!strcmp(option, "--action") && !only(v, "abcdefghijklmnopqrstuvwxyz._-", 32))
		error = err_set(ERR_INVALID, "'%s' is not an action (such as case.view or logon)",
			v);
	if (!error)
		snprintf(out, size, "%s", v);
	return error;
}

/*
 * --group-logons: every CLI command logs its user on first (a "logon" entry), then does its
 * work.  A successful log-on whose very next entry in the same trail is by the same user is
 * folded into that entry (LOGON_FOLDED drops it, LOGON_OPENED marks the entry it opened);
 * failed log-ons and log-ons nothing followed still show.  Nothing logged changes.
 * Formats of two strings: the table, then what else ties two entries of one trail.
 */
#define LOGON_NEXT(dir)                                                                            \
	"EXISTS (SELECT 1 FROM %s o WHERE o.seq = t.seq " dir " 1 AND o.user = t.user%s"
#define LOGON_FOLDED                                                                               \
	" NOT (t.action = 'logon' AND t.outcome = 'success' AND " LOGON_NEXT(                      \
		"+") " AND o.action <> 'logon'))"
#define LOGON_OPENED                                                                               \
	"(t.action <> 'logon' AND " LOGON_NEXT("-") " AND o.action = 'logon'"                      \
						    " AND o.outcome = 'success'))"
#define REMOTE_TIE " AND o.device = t.device AND o.epoch = t.epoch"

static int query_sql(struct buf *sql, const struct cli_opt *opts, size_t nopts,
	const char *hq_device, int group)
{
	size_t i;
	int error, first = 1;

	/* one arm per table so that each uses its own indexes; filters go into both arms */
	/* DISTINCT: after a release the device's trail is held twice (two epochs); an event
	 * both hold is one event, while entries that differ between them all show */
	error = buf_puts(sql,
		"SELECT * FROM (SELECT DISTINCT device, seq, office, time, user, action,"
		" target, outcome, entry, ");
	if (!error)
		error = group ? buf_printf(sql, LOGON_OPENED, "remote_audit", REMOTE_TIE)
			      : buf_puts(sql, "0");
	if (!error)
		error = buf_puts(sql, " FROM remote_audit t");
	if (!error && group) {
		error = buf_printf(sql, " WHERE" LOGON_FOLDED, "remote_audit", REMOTE_TIE);
		first = 0;
	}
	for (i = 0; !error && i < N_FILTERS; i++)
		if (cli_opt(opts, nopts, filters[i].option)) {
			error = i == 0 ? buf_printf(sql, " %s %s", first ? "WHERE" : "AND",
						 CASE_SQL)
				       : buf_printf(sql, " %s %s %s ?%zu", first ? "WHERE" : "AND",
						 filters[i].column, filters[i].op, i + 1);
			first = 0;
		}
	if (!error)
		error = buf_printf(sql,
			" UNION ALL SELECT '%s', seq, 'HQ', time, user, action,"
			" target, outcome, entry, ",
			hq_device);
	if (!error)
		error = group ? buf_printf(sql, LOGON_OPENED, "audit_log", "") : buf_puts(sql, "0");
	if (!error)
		error = buf_puts(sql, " FROM audit_log t");
	first = 1;
	if (!error && group) {
		error = buf_printf(sql, " WHERE" LOGON_FOLDED, "audit_log", "");
		first = 0;
	}
	for (i = 0; !error && i < N_FILTERS; i++) {
		const char *col = filters[i].column;

		if (!cli_opt(opts, nopts, filters[i].option))
			continue;
		if (i == 0)
			error = buf_printf(sql, " %s %s", first ? "WHERE" : "AND", CASE_SQL);
		else if (!strcmp(col, "office"))
			error = buf_printf(sql, " %s 'HQ' = ?%zu", first ? "WHERE" : "AND", i + 1);
		else if (!strcmp(col, "device"))
			error = buf_printf(sql, " %s '%s' = ?%zu", first ? "WHERE" : "AND", hq_device,
				i + 1);
		else
			error = buf_printf(sql, " %s %s %s ?%zu", first ? "WHERE" : "AND", col,
				filters[i].op, i + 1);
		first = 0;
	}
	if (!error)
		error = buf_printf(sql, ") ORDER BY time, device, seq LIMIT ?%zu", N_FILTERS + 1);
	return error;
}

static void csv_field(const char *s, int last)
{
	int quote = strpbrk(s, ",\"\n\r") != NULL;

	if (quote) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	putchar(last ? '\n' : ',');
}

/* One event; `group`: column 9 says a log-on was folded into it (--group-logons). */
static int print_event(const struct cli *c, int csv, int group, json_t *list, sqlite3_stmt *st)
{
	int opened = group && sqlite3_column_int(st, 9);
	json_t *entry = json_loadb((const char *)sqlite3_column_blob(st, 8),
		(size_t)sqlite3_column_bytes(st, 8), 0, NULL);
	const char *cols[8];
	char shown[AUDIT_ENTRY_MAX];
	json_t *cases = json_object_get(entry, "cases"), *row;
	int k;

	for (k = 0; k < 8; k++)
		cols[k] = sqlite3_column_text(st, k) ? (const char *)sqlite3_column_text(st, k) : "";
	cli_shown_cases(shown, sizeof(shown), entry);
	if (c->json) {
		row = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "time", cols[3],
			"office", cols[2], "device", cols[0], "seq",
			(json_int_t)sqlite3_column_int64(st, 1), "user", cols[4], "action", cols[5],
			"target", cols[6], "outcome", cols[7], "detail",
			cli_json_str(entry, "detail"));
		if (row && json_is_array(cases))
			json_object_set(row, "cases", cases);
		if (row && group)
			json_object_set_new(row, "logon", json_boolean(opened));
		json_array_append_new(list, row);
	} else if (csv) {
		csv_field(cols[3], 0);
		csv_field(cols[2], 0);
		csv_field(cols[0], 0);
		csv_field(cols[4], 0);
		csv_field(cols[5], 0);
		csv_field(cols[6], 0);
		csv_field(cols[7], 0);
		csv_field(cli_json_str(entry, "detail"), 1);
	} else {
		printf("%-24s %-4s %.8s  %-10s %-16s %-20s %-8s %s%s%s\n", cols[3], cols[2],
			cols[0], cols[4], cols[5], cols[6], cols[7], cli_json_str(entry, "detail"),
			shown, opened ? " (after log-on)" : "");
	}
	json_decref(entry);
	return 0;
}

static int audit_query(struct cli *c)
{
	static const char usage[] = "audit query [--case ID] [--user U] [--office O] [--device D] "
				    "[--action A] [--since T] [--until T] [--limit N] [--csv] "
				    "[--group-logons]";
	struct cli_opt opts[] = {{"--case", 1, 0, {0}, 0}, {"--user", 1, 0, {0}, 0},
		{"--office", 1, 0, {0}, 0}, {"--device", 1, 0, {0}, 0}, {"--action", 1, 0, {0}, 0},
		{"--since", 1, 0, {0}, 0}, {"--until", 1, 0, {0}, 0}, {"--limit", 1, 0, {0}, 0},
		{"--csv", 0, 0, {0}, 0}, {"--group-logons", 0, 0, {0}, 0}};
	struct buf sql = BUF_INIT(8192), detail = BUF_INIT(AUDIT_DETAIL_MAX);
	char vals[N_FILTERS][PKI_DEVICE_LEN + HLC_STR_MAX + 80];
	struct node *n = NULL;
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();
	const char *pos[2], *lim = NULL;
	long limit = 1000;
	size_t i;
	int npos, rc, error, csv, group, rows = 0;

	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 1, &npos);
	if (rc) {
		json_decref(list);
		return rc;
	}
	lim = cli_opt(opts, CLI_N_OPTS(opts), "--limit");
	if (lim) {
		char *end = NULL;

		limit = strtol(lim, &end, 10);
		if (!end || *end || limit < 1 || limit > 10000000) {
			json_decref(list);
			return cli_usage_error(c, usage, "--limit: '%s' is not 1 to 10000000", lim);
		}
	}
	for (i = 0; i < N_FILTERS; i++) {
		const char *v = cli_opt(opts, CLI_N_OPTS(opts), filters[i].option);

		if (v && filter_value(vals[i], sizeof(vals[i]), filters[i].option, v)) {
			json_decref(list);
			return cli_usage_error(c, usage, "%s: %s", filters[i].option, err_msg());
		}
	}
	csv = cli_opt(opts, CLI_N_OPTS(opts), "--csv") != NULL;
	group = cli_opt(opts, CLI_N_OPTS(opts), "--group-logons") != NULL;
	if (cli_open_node(&n, c)) {
		json_decref(list);
		return cli_fail(c);
	}
	error = 0;
	for (i = 0; !error && i < N_FILTERS; i++)
		if (cli_opt(opts, CLI_N_OPTS(opts), filters[i].option))
			error = buf_printf(&detail, "%s%s=%s", detail.len ? " " : "",
				filters[i].option + 2, cli_opt(opts, CLI_N_OPTS(opts), filters[i].option));
	if (!error)
		error = node_require(n, NODE_PERM_AUDIT_READ, "audit.query", "");
	if (!error && cli_opt(opts, CLI_N_OPTS(opts), "--case"))
		error = casedb_resolve(vals[0], n, cli_opt(opts, CLI_N_OPTS(opts), "--case"));
	if (!error && cli_opt(opts, CLI_N_OPTS(opts), "--device"))
		error = resolve_device(vals[3], n, cli_opt(opts, CLI_N_OPTS(opts), "--device"));
	if (!error)
		error = node_audit(n, "audit.query", "", "success", detail.len ? detail.ptr : NULL);
	if (!error)
		error = query_sql(&sql, opts, CLI_N_OPTS(opts), n->device, group);
	if (!error)
		error = store_prepare(&st, n->store, sql.ptr);
	for (i = 0; !error && i < N_FILTERS; i++)
		if (cli_opt(opts, CLI_N_OPTS(opts), filters[i].option))
			sqlite3_bind_text(st, (int)i + 1, vals[i], -1, SQLITE_STATIC);
	if (!error)
		sqlite3_bind_int64(st, (int)N_FILTERS + 1, limit);
	if (!error && csv)
		printf("time,office,device,user,action,target,outcome,detail\n");
	while (!error && (error = store_next(n->store, st)) > 0) {
		error = print_event(c, csv, group, list, st);
		rows++;
	}
	sqlite3_finalize(st);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:O, s:i}", "events", list, "count", rows));
	else
		rc = CLI_EXIT_OK;
	json_decref(list);
	buf_release(&sql);
	buf_release(&detail);
	node_free(n);
	return rc;
}

/* ---- head ----------------------------------------------------------------------------- */

/*
 * The start of `audit head` and `audit export` on one trail (*device, a short id made whole
 * in dev, or NULL for HQ's own): the role, the PKI material, the audit entry.
 */
static int start_trail_command(const char **device, char dev[PKI_DEVICE_LEN + 1], struct pki3 *p,
	struct node *n, const char *action, const char *detail)
{
	int error = node_require(n, NODE_PERM_AUDIT_READ, action, *device ? *device : "HQ");

	if (!error && *device)
		error = hqdb_device_resolve(dev, n->store, *device);
	if (!error && *device)
		*device = dev;
	if (!error)
		error = pki3_load(p, n);
	if (!error)
		error = node_audit(n, action, *device ? *device : "HQ", "success", detail);
	return error;
}

/* The newest signed head of HQ's own log (checkpointed now) or of one device's trail. */
static int print_head(struct node *n, const char *device, const struct pki3 *p)
{
	struct buf cert = BUF_INIT(8192);
	char origin[64], office[SCHEMA_OFFICE_MAX + 1] = "", sql[200];
	int64_t epoch = 0;
	int error = 0;

	if (!device) {
		snprintf(origin, sizeof(origin), "%s/%s", n->office, n->device);
		error = hq_checkpoint(n, origin);
		if (!error)
			error = auditverify_print_head(n, "checkpoint", origin,
				"SELECT size, root, time, signature FROM audit_checkpoints"
				" ORDER BY size DESC LIMIT 1",
				NULL, &p->server_cert);
		return error;
	}
	error = hqdb_device_get(office, &cert, &epoch, n->store, device);
	snprintf(origin, sizeof(origin), "%s/%s", office, device);
	snprintf(sql, sizeof(sql),
		"SELECT size, root, time, countersignature FROM remote_checkpoints"
		" WHERE device = ? AND epoch = %lld ORDER BY size DESC LIMIT 1",
		(long long)epoch);
	if (!error)
		error = auditverify_print_head(n, "receipt", origin, sql, device, &p->server_cert);
	buf_release(&cert);
	return error;
}

static int audit_head(struct cli *c)
{
	static const char usage[] = "audit head [--device D]";
	struct cli_opt opts[] = {{"--device", 1, 0, {0}, 0}};
	const char *pos[2], *device;
	char dev[PKI_DEVICE_LEN + 1];
	struct node *n = NULL;
	struct pki3 p;
	int npos, rc, error;

	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 1, &npos);
	if (rc)
		return rc;
	device = cli_opt(opts, CLI_N_OPTS(opts), "--device");
	memset(&p, 0, sizeof(p));
	if (cli_open_node(&n, c))
		return cli_fail(c);
	error = start_trail_command(&device, dev, &p, n, "audit.head", NULL);
	if (!error)
		error = print_head(n, device, &p);
	rc = error ? cli_fail(c) : CLI_EXIT_OK;
	pki3_release(&p);
	node_free(n);
	return rc;
}

/* ---- export --------------------------------------------------------------------------- */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wx");
	int error = 0;

	if (!f)
		return err_set(ERR_IO, "cannot create '%s' (it must not exist yet)", path);
	if (fputs(text, f) < 0 || fputc('\n', f) < 0)
		error = err_set(ERR_IO, "cannot write '%s'", path);
	if (fclose(f) && !error)
		error = err_set(ERR_IO, "cannot write '%s'", path);
	return error;
}

static json_t *seals_json(const struct seal *s, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, seal_json(&s[i]));
	return a;
}

static json_t *sigs_json(const struct trail_sig *s, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, trail_sig_json(&s[i]));
	return a;
}

static int own_entries(void *ctx, const struct audit_record *r)
{
	return json_array_append_new(ctx, json_stringn((const char *)r->entry, r->entry_len))
		       ? err_set(ERR_NOMEM, "out of memory")
		       : 0;
}

/* The export document of HQ's own log or of one device's trail. */
static int export_doc(json_t **out, struct node *n, const char *device, int64_t epoch,
	const struct pki3 *p)
{
	struct trail_set t;
	json_t *texts = json_array();
	char origin[64];
	int error = 0;

	memset(&t, 0, sizeof(t));
	buf_init(&t.leaves, 64);
	if (!device) {
		snprintf(origin, sizeof(origin), "%s/%s", n->office, n->device);
		error = hq_checkpoint(n, origin);
		/* one snapshot for entries and statements; entries logged after the newest
		 * checkpoint (by other commands meanwhile) wait for the next export */
		if (!error)
			error = store_begin(n->store);
		if (!error)
			error = audit_foreach(n->store, NULL, NULL, own_entries, texts);
		if (!error)
			error = trail_load_statements(&t.cps, &t.ncp, n->store,
				"SELECT size, root, time, signature FROM audit_checkpoints ORDER BY size",
				NULL, (const uint8_t *)p->server_cert.ptr, p->server_cert.len);
		if (!error)
			error = store_commit(n->store);
		else
			store_rollback(n->store);
		while (!error && t.ncp && json_array_size(texts) > t.cps[t.ncp - 1].size)
			json_array_remove(texts, json_array_size(texts) - 1);
	} else {
		struct buf cert = BUF_INIT(8192);
		char office[SCHEMA_OFFICE_MAX + 1] = "";
		int64_t current = 0;

		error = hqdb_device_get(office, &cert, &current, n->store, device);
		if (epoch < 0)
			epoch = current;
		buf_release(&t.leaves);
		if (!error)
			error = load_device_trail(&t, texts, n, device, epoch, office, &cert,
				&p->server_cert, &p->ca);
		snprintf(origin, sizeof(origin), "%s/%s", office, device);
		buf_release(&cert);
	}
	if (!error)
		*out = json_pack("{s:s, s:s, s:O, s:o, s:o, s:o}", "format", "fieldsync-audit-1",
			"origin", origin, "entries", texts, "checkpoints", sigs_json(t.cps, t.ncp),
			"receipts", sigs_json(t.rcs, t.nrc), "seals",
			seals_json(t.seals, t.nseals));
	json_decref(texts);
	trail_set_release(&t);
	return error;
}

static int audit_export(struct cli *c)
{
	static const char usage[] = "audit export (--device D [--epoch N] | --hq) --out FILE";
	struct cli_opt opts[] = {{"--device", 1, 0, {0}, 0}, {"--hq", 0, 0, {0}, 0},
		{"--out", 1, 0, {0}, 0}, {"--epoch", 1, 0, {0}, 0}};
	int64_t epoch = -1;
	const char *pos[2], *device, *path;
	char dev[PKI_DEVICE_LEN + 1];
	struct node *n = NULL;
	struct pki3 p;
	json_t *doc = NULL;
	char *text = NULL;
	int npos, rc, error;

	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 1, &npos);
	if (rc)
		return rc;
	device = cli_opt(opts, CLI_N_OPTS(opts), "--device");
	path = cli_opt(opts, CLI_N_OPTS(opts), "--out");
	if (!path || (!device) == !cli_opt(opts, CLI_N_OPTS(opts), "--hq"))
		return cli_usage_error(c, usage, "give --out and one of --device or --hq");
	if (cli_opt(opts, CLI_N_OPTS(opts), "--epoch")) {
		char *end = NULL;

		epoch = strtoll(cli_opt(opts, CLI_N_OPTS(opts), "--epoch"), &end, 10);
		if (!end || *end || epoch < 0)
			return cli_usage_error(c, usage, "--epoch takes a number");
	}
	memset(&p, 0, sizeof(p));
	if (cli_open_node(&n, c))
		return cli_fail(c);
	error = start_trail_command(&device, dev, &p, n, "audit.export", path);
	if (!error)
		error = export_doc(&doc, n, device, epoch, &p);
	text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	if (!error && !text)
		error = err_set(ERR_NOMEM, "out of memory");
	if (!error)
		error = write_file(path, text);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:I}", "file", path, "entries",
			(json_int_t)json_array_size(json_object_get(doc, "entries"))));
	else
		printf("wrote %zu entries, %zu checkpoints, %zu receipts to %s\n",
			json_array_size(json_object_get(doc, "entries")),
			json_array_size(json_object_get(doc, "checkpoints")),
			json_array_size(json_object_get(doc, "receipts")), path);
	free(text);
	json_decref(doc);
	pki3_release(&p);
	node_free(n);
	return rc;
}

int cmd_server_audit(struct cli *c)
{
	if (cli_help(c, audit_help))
		return CLI_EXIT_OK;
	if (c->argc > 0 && !strcmp(c->argv[0], "verify"))
		return auditverify_command(c, verify_all);
	if (c->argc > 0 && !strcmp(c->argv[0], "query"))
		return audit_query(c);
	if (c->argc > 0 && !strcmp(c->argv[0], "head"))
		return audit_head(c);
	if (c->argc > 0 && !strcmp(c->argv[0], "export"))
		return audit_export(c);
	return cli_audit_command(c, audit_help);
}
