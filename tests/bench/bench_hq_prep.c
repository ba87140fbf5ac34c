/*
 * tests/bench/bench_hq_prep.c - fills an HQ store for bench_hq_ceiling.sh: the untimed part of
 * the ceiling benchmark, done in-process through the server's own functions (hqdb_office_add,
 * casedb_import, casedb_intake, hqdb_case_share, hq_token_new) in big transactions, because
 * `case import` of 1,000,000 cases at its 1,000-line batches takes a quarter of an hour.
 *
 * The HQ node is the one in HOME, unlocked with HOME.key as `fieldsync-server` does.
 *   bench_hq_prep HOME offices PREFIX COUNT         offices PREFIX01..PREFIXnn
 *   bench_hq_prep HOME archive PREFIX OFFICES COUNT COUNT closed cases spread over the offices
 *                                                   PREFIX01.. (casedb_import, as `case import`)
 *   bench_hq_prep HOME work PREFIX OFFICES PER SHARED  PER open cases in each office PREFIXnn
 *                                                   (casedb_intake); SHARED of them in all are
 *                                                   each shared with the next two offices
 *   bench_hq_prep HOME tokens PREFIX OFFICES COUNT OUT  COUNT one-time enrollment tokens, round
 *                                                   robin over the offices; OUT gets one token
 *                                                   a line
 * Progress goes to stderr; a failure names what failed and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hq.h"
#include "hqdb.h"
#include "keyfile.h"
#include "node/casedb.h"
#include "store/odb.h"

#define BATCH 20000 /* cases per transaction */

static int die(const char *what)
{
	fprintf(stderr, "bench_hq_prep: %s: %s\n", what, err_msg());
	return 1;
}

static long num(const char *s)
{
	return strtol(s, NULL, 10);
}

static void office_code(char out[SCHEMA_OFFICE_MAX + 1], const char *prefix, long i)
{
	snprintf(out, SCHEMA_OFFICE_MAX + 1, "%.6s%02d", prefix, (int)((i + 1) % 100));
}

static int offices(struct node *n, const char *prefix, long count)
{
	char code[SCHEMA_OFFICE_MAX + 1], now[HLC_STR_MAX];
	long i;
	int error;

	hlc_iso8601(now, hlc_now_ms());
	error = store_begin(n->store);
	for (i = 0; !error && i < count; i++) {
		office_code(code, prefix, i);
		error = hqdb_office_add(n->store, code, code, now);
	}
	if (!error)
		error = node_audit(n, "office.add", prefix, "success", "bench_hq_prep");
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	return error ? die("office add") : 0;
}

/* A closed case of some years ago, as `case import` stores one. */
static int archive(struct node *n, const char *prefix, long noffices, long count)
{
	char id[SCHEMA_CASE_ID_MAX + 1], code[SCHEMA_OFFICE_MAX + 1], title[96], summary[160];
	const char *note = "closed after review; no further action";
	int64_t now = hlc_now_ms(), year = 365LL * 86400 * 1000;
	long i;
	int error = 0;

	for (i = 0; !error && i < count; i++) {
		struct casefile_change chg;

		if (i % BATCH == 0)
			error = store_begin(n->store);
		memset(&chg, 0, sizeof(chg));
		office_code(code, prefix, i % noffices);
		snprintf(title, sizeof(title), "archived matter %ld", i);
		snprintf(summary, sizeof(summary),
			"record %ld brought over from the previous system; outcome on file", i);
		chg.sets[0].name = "title";
		chg.sets[0].value = title;
		chg.sets[1].name = "category";
		chg.sets[1].value = "other";
		chg.sets[2].name = "summary";
		chg.sets[2].value = summary;
		chg.sets[3].name = "status";
		chg.sets[3].value = "closed";
		chg.nsets = 4;
		if (!error)
			error = casedb_import(id, n, code, &chg, &note, 1,
				now - (1 + i % 8) * year);
		if (!error && (i % BATCH == BATCH - 1 || i == count - 1)) {
			error = node_audit(n, "case.import", "", "success",
				"bench_hq_prep archive");
			if (!error)
				error = store_commit(n->store);
			if (!error)
				fprintf(stderr, "bench_hq_prep: %ld cases\n", i + 1);
		}
	}
	if (error)
		store_rollback(n->store);
	return error ? die("case import") : 0;
}

/* The open cases the devices work on; some shared with other offices. */
static int work(struct node *n, const char *prefix, long noffices, long per, long shared)
{
	char id[SCHEMA_CASE_ID_MAX + 1], code[SCHEMA_OFFICE_MAX + 1], other[SCHEMA_OFFICE_MAX + 1];
	char title[96], now[HLC_STR_MAX];
	long o, k, made = 0;
	int error = 0;

	hlc_iso8601(now, hlc_now_ms());
	for (k = 0; !error && k < per; k++)
		for (o = 0; !error && o < noffices; o++, made++) {
			struct casefile_change chg;

			memset(&chg, 0, sizeof(chg));
			office_code(code, prefix, o);
			snprintf(title, sizeof(title), "open matter %ld of %s", k, code);
			chg.sets[0].name = "title";
			chg.sets[0].value = title;
			chg.sets[1].name = "category";
			chg.sets[1].value = "other";
			chg.nsets = 2;
			error = casedb_intake(id, n, code, &chg);
			if (!error && made < shared) {
				/* like `case share`: a share row and its audit entry, one transaction */
				error = store_begin(n->store);
				for (long s = 1; !error && s <= 2 && s < noffices; s++) {
					office_code(other, prefix, (o + s) % noffices);
					error = hqdb_case_share(n->store, id, other, now);
					if (!error)
						error = node_audit(n, "case.share", id, "success",
							other);
				}
				if (!error)
					error = store_commit(n->store);
				else
					store_rollback(n->store);
			}
		}
	return error ? die("case intake") : 0;
}

static int tokens(struct node *n, const char *prefix, long noffices, long count, const char *path)
{
	char token[ENROLL_TOKEN_MAX], code[SCHEMA_OFFICE_MAX + 1];
	FILE *out = fopen(path, "w");
	long i;
	int error = out ? 0 : err_set(ERR_IO, "cannot write '%s'", path);

	for (i = 0; !error && i < count; i++) {
		office_code(code, prefix, i % noffices);
		error = hq_token_new(token, n, code, 72 * 3600, HQ_CERT_SECONDS);
		if (!error && fprintf(out, "%s\n", token) < 0)
			error = err_set(ERR_IO, "cannot write '%s'", path);
		crypto_wipe(token, sizeof(token));
	}
	if (out && fclose(out) && !error)
		error = err_set(ERR_IO, "cannot write '%s'", path);
	return error ? die("office token") : 0;
}

int main(int argc, char **argv)
{
	char hex[CLI_KEY_HEX_LEN + 1], path[4096];
	struct node *n = NULL;
	int rc = 2;

	if (argc < 5) {
		fprintf(stderr,
			"usage: bench_hq_prep HOME offices|archive|work|tokens PREFIX ... (see "
			"the source)\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s.key", argv[1]);
	if (odb_global_init() || cli_key_file_read(hex, path) ||
		node_open(&n, argv[1], HQ_USER, hex, CLI_KEY_HEX_LEN))
		return crypto_wipe(hex, sizeof(hex)), die("unlock");
	crypto_wipe(hex, sizeof(hex));
	if (!strcmp(argv[2], "offices") && argc == 5)
		rc = offices(n, argv[3], num(argv[4]));
	else if (!strcmp(argv[2], "archive") && argc == 6)
		rc = archive(n, argv[3], num(argv[4]), num(argv[5]));
	else if (!strcmp(argv[2], "work") && argc == 7)
		rc = work(n, argv[3], num(argv[4]), num(argv[5]), num(argv[6]));
	else if (!strcmp(argv[2], "tokens") && argc == 7)
		rc = tokens(n, argv[3], num(argv[4]), num(argv[5]), argv[6]);
	else
		fprintf(stderr, "bench_hq_prep: bad arguments (see the source)\n");
	node_free(n);
	return rc;
}
