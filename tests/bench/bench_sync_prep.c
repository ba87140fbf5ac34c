/*
 * tests/bench/bench_sync_prep.c - puts workload W (../shared/bench) into an agent node, for
 * bench_sync.sh: the untimed part of the sync benchmark (offline case work), done in-process
 * with the same casedb calls the agent's commands make (one audited transaction and one
 * commit per change), because 11,000 process starts would measure process starts.
 *
 * The node is the one in FIELDSYNC_HOME, logged on as FIELDSYNC_USER with FIELDSYNC_PASSPHRASE.
 *   bench_sync_prep base BASE.TSV MAP       create W's 1,000 cases (10 one-line fields each);
 *                                           MAP receives "W-case-number<TAB>case-id" lines
 *   bench_sync_prep edits EDITS.TSV MAP [N] make the first N (default all) single-field edits
 *   bench_sync_prep filler N                create N more small cases (the no-op sync at scale)
 * W's ten fields map onto the ten one-line text fields of the case schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/casedb.h"
#include "store/odb.h"

#define W_CASES 1000
#define W_FIELDS 10

static const char *const field_names[W_FIELDS] = {"title", "assignee", "location",
	"subject_name", "subject_id", "summary", "subject_unit", "complainant_name", "external_ref",
	"referred_to"};

static char ids[W_CASES][SCHEMA_CASE_ID_MAX + 1];

static int die(const char *what)
{
	fprintf(stderr, "bench_sync_prep: %s: %s\n", what, err_msg());
	return 1;
}

static long num(const char *s)
{
	return strtol(s, NULL, 10);
}

/* Split a TSV line in place into at most n fields; returns the count. */
static int split(char *line, char **f, int n)
{
	int k = 0;

	line[strcspn(line, "\n")] = '\0';
	while (k < n) {
		f[k++] = line;
		line = strchr(line, '\t');
		if (!line)
			break;
		*line++ = '\0';
	}
	return k;
}

static int load_base(struct node *n, const char *tsv, const char *map)
{
	static char values[W_CASES][W_FIELDS][128];
	char line[512], *f[3];
	FILE *in = fopen(tsv, "r"), *out = fopen(map, "w");
	int c, k;

	if (!in || !out)
		return fprintf(stderr, "bench_sync_prep: cannot open %s or %s\n", tsv, map), 1;
	while (fgets(line, sizeof(line), in))
		if (split(line, f, 3) == 3 && num(f[0]) < W_CASES && num(f[1]) < W_FIELDS)
			snprintf(values[num(f[0])][num(f[1])], 128, "%s", f[2]);
	fclose(in);
	for (c = 0; c < W_CASES; c++) {
		struct casefile_change chg;

		memset(&chg, 0, sizeof(chg));
		for (k = 0; k < W_FIELDS; k++) {
			chg.sets[k].name = field_names[k];
			chg.sets[k].value = values[c][k];
		}
		chg.sets[W_FIELDS].name = "category";
		chg.sets[W_FIELDS].value = "other";
		chg.nsets = W_FIELDS + 1;
		if (casedb_create(ids[c], n, &chg))
			return die("case new");
		fprintf(out, "%d\t%s\n", c, ids[c]);
	}
	fclose(out);
	return 0;
}

static int load_map(const char *map)
{
	char line[128], *f[2];
	FILE *in = fopen(map, "r");

	if (!in)
		return fprintf(stderr, "bench_sync_prep: cannot open %s\n", map), 1;
	while (fgets(line, sizeof(line), in))
		if (split(line, f, 2) == 2 && num(f[0]) < W_CASES)
			snprintf(ids[num(f[0])], sizeof(ids[0]), "%s", f[1]);
	fclose(in);
	return 0;
}

static int make_edits(struct node *n, const char *tsv, const char *map, long limit)
{
	char line[512], *f[4];
	FILE *in;
	long done = 0;

	if (load_map(map))
		return 1;
	in = fopen(tsv, "r");
	if (!in)
		return fprintf(stderr, "bench_sync_prep: cannot open %s\n", tsv), 1;
	while (done < limit && fgets(line, sizeof(line), in)) {
		struct casefile_change chg;

		if (split(line, f, 4) != 4 || num(f[1]) >= W_CASES || num(f[2]) >= W_FIELDS)
			continue;
		memset(&chg, 0, sizeof(chg));
		chg.sets[0].name = field_names[num(f[2])];
		chg.sets[0].value = f[3];
		chg.nsets = 1;
		if (casedb_edit(n, ids[num(f[1])], &chg, NULL))
			return die("case edit");
		done++;
	}
	fclose(in);
	return 0;
}

static int filler(struct node *n, long count)
{
	char id[SCHEMA_CASE_ID_MAX + 1], title[64];
	long i;

	for (i = 0; i < count; i++) {
		struct casefile_change chg;

		memset(&chg, 0, sizeof(chg));
		snprintf(title, sizeof(title), "filler case %ld", i);
		chg.sets[0].name = "title";
		chg.sets[0].value = title;
		chg.sets[1].name = "category";
		chg.sets[1].value = "other";
		chg.nsets = 2;
		if (casedb_create(id, n, &chg))
			return die("case new");
		/* the commands these stand for each sealed the log: HQ refuses a trail that runs
		 * more than 20,000 entries past its newest seal */
		if (i % 5000 == 4999 && node_seal(NULL, n))
			return die("seal");
		if (i % 10000 == 9999)
			fprintf(stderr, "bench_sync_prep: %ld cases\n", i + 1);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *home = getenv("FIELDSYNC_HOME"), *user = getenv("FIELDSYNC_USER");
	const char *pass = getenv("FIELDSYNC_PASSPHRASE");
	struct node *n = NULL;
	int rc = 2;

	if (argc < 3 || !home || !user || !pass) {
		fprintf(stderr, "usage: bench_sync_prep base|edits|filler ... (see the source)\n");
		return 2;
	}
	if (odb_global_init() || node_open(&n, home, user, pass, strlen(pass)))
		return die("log on");
	if (!strcmp(argv[1], "base") && argc == 4)
		rc = load_base(n, argv[2], argv[3]);
	else if (!strcmp(argv[1], "edits") && argc >= 4)
		rc = make_edits(n, argv[2], argv[3], argc > 4 ? num(argv[4]) : 1L << 30);
	else if (!strcmp(argv[1], "filler"))
		rc = filler(n, num(argv[2]));
	node_free(n);
	return rc;
}
