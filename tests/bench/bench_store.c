/*
 * tests/bench/bench_store.c - the encrypted case store beside plain SQLite, in one run.
 *
 * The same code (casedb: commit objects, move the head, update derived tables, append the
 * audit entry, one durable WAL transaction per change) runs against three stores:
 *   encrypted  - SQLCipher with our settings (4 KiB pages, 64 MiB cache), the product;
 *   plain      - the same SQLCipher library opened without a key: plain SQLite, same settings;
 *   enc-1k     - SQLCipher with its 3.4.1 default of 1 KiB pages (same 64 MiB cache), to
 *                compare page sizes.
 * It prints case creations/s, durable single-field edits/s (median and p99 latency), the time
 * to list 10,000 cases and to search them, the rate of non-durable bulk creation (the page
 * and CPU cost without fsyncs), and the ratio of each to the plain baseline.
 *
 * usage: bench_store [CASES_FOR_LIST_AND_SEARCH]   (default 10000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/casedb.h"
#include "store/odb.h"

#define CREATES 1000
#define EDITS 2000
#define REPEATS 15

static const char *const words[] = {"port", "courier", "cash", "vehicle", "inspection",
	"secondary", "night", "shift", "supervisor", "lane", "manifest", "cargo", "smuggling",
	"bribe", "report", "witness", "footage", "badge", "checkpoint", "radio", "overtime",
	"database", "query", "record", "plate", "crossing", "informant", "account", "transfer"};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t)(p * (double)(n - 1))];
}

struct result {
	const char *name;
	double create_rate, create_median_ms;
	double edit_rate, edit_median_ms, edit_p99_ms;
	double list_ms, search_ms, bulk_rate;
	long long db_bytes;
};

static void die(const char *what)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, err_msg());
	exit(1);
}

static struct node *open_bench_node(const char *dir, int flags)
{
	struct node *n = calloc(1, sizeof(*n));
	uint8_t key[CRYPTO_KEY_LEN];
	char path[4096];

	if (!n)
		die("calloc");
	snprintf(path, sizeof(path), "%s/bench.db", dir);
	if (crypto_random(key, sizeof(key)))
		die("random");
	if (store_open(&n->store, path, (flags & STORE_PLAIN) ? NULL : key, STORE_CREATE | flags))
		die("store_open");
	crypto_wipe(key, sizeof(key));
	if (odb_repository_open(&n->repo, n->store))
		die("odb_repository_open");
	snprintf(n->office, sizeof(n->office), "ELP");
	snprintf(n->device, sizeof(n->device), "0123456789abcdef0123456789abcdef");
	snprintf(n->user, sizeof(n->user), "bench");
	snprintf(n->role, sizeof(n->role), "admin");
	n->origin.node = n->device;
	n->origin.office = n->office;
	n->db_path = strdup(path);
	return n;
}

/*
 * Case-like text: mostly words from a 4,000-word synthetic vocabulary, with 1% of real words,
 * so that a query for a real word matches a few percent of the cases, as real searches do.
 */
static void text(char *out, size_t size, unsigned *seed, int nwords)
{
	size_t used = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < nwords && used + 24 < size; i++) {
		const char *sep = i % 12 == 11 ? ". " : " ";
		unsigned r = (unsigned)rand_r(seed);

		if (r % 100 == 0)
			used += (size_t)snprintf(out + used, size - used, "%s%s",
				words[(r / 100) % NWORDS], sep);
		else
			used += (size_t)snprintf(out + used, size - used, "w%c%c%c%s",
				'a' + (r / 100) % 26, 'a' + (r / 2600) % 26, 'a' + (r / 67600) % 6, sep);
	}
}

static void create_cases(struct node *n, char (*ids)[SCHEMA_CASE_ID_MAX + 1], size_t count,
	double *lat, unsigned *seed)
{
	struct casefile_change chg;
	char title[120], narrative[2048];
	size_t i;

	for (i = 0; i < count; i++) {
		double t0;

		memset(&chg, 0, sizeof(chg));
		text(title, sizeof(title), seed, 6);
		text(narrative, sizeof(narrative), seed, 120);
		chg.sets[0].name = "title";
		chg.sets[0].value = title;
		chg.sets[1].name = "category";
		chg.sets[1].value = "smuggling";
		chg.nsets = 2;
		chg.narrative = narrative;
		chg.narrative_len = strlen(narrative);
		t0 = now_s();
		if (casedb_create(ids[i], n, &chg))
			die("casedb_create");
		if (lat)
			lat[i] = now_s() - t0;
	}
}

static int count_row(void *ctx, const struct index_row *r)
{
	(void)r;
	(*(long *)ctx)++;
	return 0;
}

/* One store under measurement, from its creation to its removal. */
struct bench {
	struct result res;
	char dir[32];
	char (*ids)[SCHEMA_CASE_ID_MAX + 1];
	double *lat;
	size_t nids;
	unsigned seed;
	struct node *n;
};

static void bench_open(struct bench *b, const char *name, int flags, size_t list_cases)
{
	double t0, total;

	memset(b, 0, sizeof(*b));
	b->res.name = name;
	snprintf(b->dir, sizeof(b->dir), "/tmp/fieldsync-bench-XXXXXX");
	if (!mkdtemp(b->dir))
		die("mkdtemp");
	b->n = open_bench_node(b->dir, flags);
	b->nids = list_cases > CREATES ? list_cases : CREATES;
	b->ids = calloc(b->nids, sizeof(*b->ids));
	b->lat = calloc(EDITS > b->nids ? EDITS : b->nids, sizeof(*b->lat));
	if (!b->ids || !b->lat)
		die("calloc");
	b->seed = 42;
	t0 = now_s();
	create_cases(b->n, b->ids, CREATES, b->lat, &b->seed);
	total = now_s() - t0;
	b->res.create_rate = CREATES / total;
	b->res.create_median_ms = percentile(b->lat, CREATES, 0.5) * 1e3;
}

/* The i-th durable single-field edit, the same one in every store. */
static void bench_edit(struct bench *b, size_t i)
{
	struct casefile_change chg;
	char value[64];
	double t0;

	memset(&chg, 0, sizeof(chg));
	snprintf(value, sizeof(value), "revised title %zu", i);
	chg.sets[0].name = "title";
	chg.sets[0].value = value;
	chg.nsets = 1;
	t0 = now_s();
	if (casedb_edit(b->n, b->ids[(size_t)rand_r(&b->seed) % CREATES], &chg, NULL))
		die("casedb_edit");
	b->lat[i] = now_s() - t0;
}

static void bench_finish(struct bench *b, size_t list_cases)
{
	struct result *res = &b->res;
	struct node *n = b->n;
	double t0, total = 0;
	char path[4200], *evidence;
	long rows;
	size_t i;
	FILE *f;

	for (i = 0; i < EDITS; i++)
		total += b->lat[i];
	res->edit_rate = EDITS / total;
	res->edit_median_ms = percentile(b->lat, EDITS, 0.5) * 1e3;
	res->edit_p99_ms = percentile(b->lat, EDITS, 0.99) * 1e3;

	if (list_cases > CREATES) {
		/* Not durable: the CPU and page cost of writing, without the fsyncs. */
		if (store_exec(n->store, "PRAGMA synchronous = OFF"))
			die("pragma");
		t0 = now_s();
		create_cases(n, b->ids + CREATES, list_cases - CREATES, NULL, &b->seed);
		res->bulk_rate = (double)(list_cases - CREATES) / (now_s() - t0);
		if (store_exec(n->store, "PRAGMA synchronous = FULL"))
			die("pragma");
	}
	for (i = 0; i < REPEATS; i++) {
		rows = 0;
		t0 = now_s();
		if (index_list(n->store, NULL, count_row, &rows))
			die("index_list");
		b->lat[i] = now_s() - t0;
		if ((size_t)rows != b->nids)
			die("list count");
	}
	res->list_ms = percentile(b->lat, REPEATS, 0.5) * 1e3;
	for (i = 0; i < REPEATS; i++) {
		static const char *const queries[] = {"courier", "insp*", "\"night shift\"",
			"informant OR footage", "cargo manifest"};

		rows = 0;
		t0 = now_s();
		if (index_search(n->store, queries[i % 5], count_row, &rows))
			die("index_search");
		b->lat[i] = now_s() - t0;
	}
	res->search_ms = percentile(b->lat, REPEATS, 0.5) * 1e3;

	git_repository_free(n->repo);
	store_free(n->store);
	snprintf(path, sizeof(path), "%s/bench.db", b->dir);
	f = fopen(path, "rb");
	if (f) {
		fseek(f, 0, SEEK_END);
		res->db_bytes = ftell(f);
		fclose(f);
	}
	store_unlink(path);
	evidence = store_evidence_path(path);
	if (evidence)
		store_unlink(evidence);
	free(evidence);
	rmdir(b->dir);
	free(n->db_path);
	free(n);
	free(b->ids);
	free(b->lat);
}

static void print_row(const struct result *r, const struct result *base)
{
	printf("%-10s %9.0f %8.3f %9.0f %8.3f %8.3f %9.2f %9.2f %9.0f %8.1f\n", r->name,
		r->create_rate, r->create_median_ms, r->edit_rate, r->edit_median_ms, r->edit_p99_ms,
		r->list_ms, r->search_ms, r->bulk_rate, (double)r->db_bytes / 1048576.0);
	if (base && base != r)
		printf("%-10s %9.2fx %7.2fx %9.2fx %7.2fx %7.2fx %8.2fx %8.2fx %8.2fx\n", "  vs plain",
			base->create_rate / r->create_rate, r->create_median_ms / base->create_median_ms,
			base->edit_rate / r->edit_rate, r->edit_median_ms / base->edit_median_ms,
			r->edit_p99_ms / base->edit_p99_ms, r->list_ms / base->list_ms,
			r->search_ms / base->search_ms, base->bulk_rate / r->bulk_rate);
}

int main(int argc, char **argv)
{
	size_t list_cases = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000, i;
	static struct bench b[3];
	static const char *const names[] = {"plain", "encrypted", "enc-1k"};
	static const int flags[] = {STORE_PLAIN, 0, STORE_PAGES_1K};
	const struct result *plain = &b[0].res, *enc = &b[1].res;
	int k;

	if (odb_global_init())
		die("init");
	if (list_cases < CREATES)
		list_cases = CREATES;
	printf("fieldsync store benchmark: %d creations, %d durable single-field edits, "
	       "list/search over %zu cases\n(one WAL transaction per change, synchronous=FULL; "
	       "ratios are slowdowns against plain SQLite in this run; the three stores' edits\n"
	       "are interleaved, one edit in each in turn, so a change in the machine's load or\n"
	       "its disk's latency falls on all three alike)\n\n",
		CREATES, EDITS, list_cases);
	for (k = 0; k < 3; k++)
		bench_open(&b[k], names[k], flags[k], list_cases);
	for (i = 0; i < EDITS; i++)
		for (k = 0; k < 3; k++)
			bench_edit(&b[(i + (size_t)k) % 3], i); /* each store first in turn */
	for (k = 0; k < 3; k++)
		bench_finish(&b[k], list_cases);
	printf("%-10s %9s %8s %9s %8s %8s %9s %9s %9s %8s\n", "store", "create/s", "med ms",
		"edit/s", "med ms", "p99 ms", "list ms", "search ms", "bulk/s", "db MiB");
	for (k = 0; k < 3; k++)
		print_row(&b[k].res, k ? plain : NULL);
	printf("\ntargets: encrypted edit at most 1.3x plain; median durable edit <= 1 ms;\n"
	       "list of %zu cases <= 100 ms; full-text search <= 50 ms\n", list_cases);
	printf("encrypted edit ratio %.2fx, median edit %.3f ms, list %.1f ms, search %.1f ms\n",
		plain->edit_rate / enc->edit_rate, enc->edit_median_ms, enc->list_ms,
		enc->search_ms);
	return 0;
}
