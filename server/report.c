/*
 * server/report.c - `fieldsync-server report`: the tables of the annual Report on Internal
 * Investigations and Employee Accountability, computed over HQ's consolidated case index:
 * counts and durations only, never a narrative or a name beyond what a table names.
 * `--html FILE` writes one self-contained page with every table and a bar chart of each
 * (inline SVG, no script, no network).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "hq.h"

static const char report_help[] =
	"usage: fieldsync-server report --from DATE --to DATE --table T [--min N] [--csv]\n"
	"       fieldsync-server report --from DATE --to DATE --html FILE [--min N]\n"
	"\n"
	"Tables over every office's cases as HQ holds them (dates YYYY-MM-DD, both inclusive):\n"
	"  received    office,category,received: cases received in the period\n"
	"  closed      office,disposition,closed: cases closed in the period\n"
	"  timeliness  office,closed,median_days,p90_days: days from received to closed of the\n"
	"              cases closed in the period (percentiles by nearest rank)\n"
	"  caseload    office,assignee,open: cases open at the end of the period\n"
	"  overdue     office,id,assignee,due_at,days_overdue: open at the end of the period\n"
	"              and due before it\n"
	"  subjects    subject_id,allegations,offices: subjects of at least --min N (default 3)\n"
	"              allegations received in the period, across all offices\n"
	"Prints a table, --csv, or --json.  --html FILE writes one page with every table and a\n"
	"bar chart of each, for reading in a browser without a network.  Reports are an\n"
	"analyst's or a supervisor's; each is audited.\n";

enum table { T_RECEIVED, T_CLOSED, T_TIMELINESS, T_CASELOAD, T_OVERDUE, T_SUBJECTS, T_COUNT };

static const struct table_def {
	const char *name;
	const char *title;
	const char *columns[5];
	int chart_col; /* the numeric column the chart sums per first column */
} tables[T_COUNT] = {
	{"received", "Allegations received", {"office", "category", "received"}, 2},
	{"closed", "Cases closed", {"office", "disposition", "closed"}, 2},
	{"timeliness", "Days to closure", {"office", "closed", "median_days", "p90_days"}, 2},
	{"caseload", "Open caseload at the end of the period", {"office", "assignee", "open"}, 2},
	{"overdue", "Overdue cases", {"office", "id", "assignee", "due_at", "days_overdue"}, -1},
	{"subjects", "Subjects of repeated allegations", {"subject_id", "allegations", "offices"},
		1},
};

#define IN_PERIOD(col) "substr(" col ", 1, 10) BETWEEN ?1 AND ?2"
#define OPEN_AT_END                                                                                \
	"received_at <> '' AND substr(received_at, 1, 10) <= ?2 AND NOT (status = 'closed'"        \
	" AND closed_at <> '' AND substr(closed_at, 1, 10) <= ?2)"

/* The rows of a table whose SQL gives them whole. */
static const char *const table_sql[T_COUNT] = {
	"SELECT office, category, count(*) FROM case_index WHERE " IN_PERIOD(
		"received_at") " GROUP BY office, category ORDER BY office, category",
	"SELECT office, disposition, count(*) FROM case_index WHERE status = 'closed' AND " IN_PERIOD(
		"closed_at") " GROUP BY office, disposition ORDER BY office, disposition",
	"SELECT office, CAST(julianday(substr(closed_at, 1, 10)) -"
	" julianday(substr(received_at, 1, 10)) AS INTEGER) AS d FROM case_index"
	" WHERE status = 'closed' AND received_at <> '' AND " IN_PERIOD(
		"closed_at") " ORDER BY office, d",
	"SELECT office, coalesce(assignee, ''), count(*) FROM case_index WHERE " OPEN_AT_END
	" GROUP BY office, coalesce(assignee, '') ORDER BY office, coalesce(assignee, '')",
	"SELECT office, case_id, coalesce(assignee, ''), due_at,"
	" CAST(julianday(?2) - julianday(substr(due_at, 1, 10)) AS INTEGER) AS late"
	" FROM case_index WHERE " OPEN_AT_END " AND due_at <> '' AND substr(due_at, 1, 10) < ?2"
	" ORDER BY office, late DESC, case_id",
	"SELECT subject_id, office, count(*) FROM case_index WHERE subject_id <> '' AND " IN_PERIOD(
		"received_at") " GROUP BY subject_id, office ORDER BY subject_id, office",
};

/* The nearest-rank percentile of sorted values: the ceil(p * n)-th smallest. */
static int64_t nearest_rank(const int64_t *v, size_t n, int percent)
{
	size_t rank = (n * (size_t)percent + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

static int add_row(json_t *rows, json_t *row)
{
	return !row || json_array_append_new(rows, row) ? err_set(ERR_NOMEM, "out of memory") : 0;
}

/* office,closed,median_days,p90_days from (office, days) rows sorted by office and days. */
static int timeliness(json_t *rows, struct store *s, sqlite3_stmt *st)
{
	int64_t *days = NULL, *grown;
	size_t n = 0, cap = 0;
	char office[SCHEMA_OFFICE_MAX + 1] = "";
	int rc, error = 0;

	while (!error && (rc = store_next(s, st)) >= 0) {
		const char *o = rc ? (const char *)sqlite3_column_text(st, 0) : "";

		if (n && (rc == 0 || strcmp(o, office)))
			error = add_row(rows,
				json_pack("{s:s, s:I, s:I, s:I}", "office", office, "closed",
					(json_int_t)n, "median_days",
					(json_int_t)nearest_rank(days, n, 50), "p90_days",
					(json_int_t)nearest_rank(days, n, 90)));
		if (rc == 0)
			break;
		if (strcmp(o, office)) {
			snprintf(office, sizeof(office), "%s", o);
			n = 0;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			grown = realloc(days, cap * sizeof(*days));
			if (!grown) {
				error = err_set(ERR_NOMEM, "out of memory");
				break;
			}
			days = grown;
		}
		days[n++] = sqlite3_column_int64(st, 1);
	}
	if (!error && rc < 0)
		error = rc;
	free(days);
	return error;
}

/* subject_id,allegations,offices from (subject, office, count) rows, at least `min`. */
static int subjects(json_t *rows, struct store *s, sqlite3_stmt *st, int64_t min)
{
	struct buf offices = BUF_INIT(4096);
	char subject[SCHEMA_USER_MAX + 1] = "";
	int64_t count = 0;
	int rc, error = 0;

	while (!error && (rc = store_next(s, st)) >= 0) {
		const char *subj = rc ? (const char *)sqlite3_column_text(st, 0) : "";

		if (subject[0] && (rc == 0 || strcmp(subj, subject)) && count >= min)
			error = add_row(rows,
				json_pack("{s:s, s:I, s:s}", "subject_id", subject, "allegations",
					(json_int_t)count, "offices", buf_cstr(&offices)));
		if (rc == 0)
			break;
		if (strcmp(subj, subject)) {
			snprintf(subject, sizeof(subject), "%s", subj);
			count = 0;
			buf_reset(&offices);
		}
		count += sqlite3_column_int64(st, 2);
		if (!error)
			error = buf_printf(&offices, "%s%s", offices.len ? ";" : "",
				(const char *)sqlite3_column_text(st, 1));
	}
	if (!error && rc < 0)
		error = rc;
	buf_release(&offices);
	return error;
}

static int cmp_allegations(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t nx = json_integer_value(json_object_get(x, "allegations"));
	json_int_t ny = json_integer_value(json_object_get(y, "allegations"));

	if (nx != ny)
		return nx < ny ? 1 : -1;
	return strcmp(json_string_value(json_object_get(x, "subject_id")),
		json_string_value(json_object_get(y, "subject_id")));
}

/* Most allegations first, then by subject id. */
static int sort_subjects(json_t *rows)
{
	size_t n = json_array_size(rows), i;
	json_t **v = n ? malloc(n * sizeof(*v)) : NULL;

	if (!n)
		return 0;
	if (!v)
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(rows, i));
	qsort(v, n, sizeof(*v), cmp_allegations);
	json_array_clear(rows);
	for (i = 0; i < n; i++)
		json_array_append_new(rows, v[i]);
	free(v);
	return 0;
}

/* The rows of table t for the period, as JSON objects named by the table's columns. */
static int table_rows(json_t *rows, struct node *n, enum table t, const char *from, const char *to,
	int64_t min)
{
	const struct table_def *d = &tables[t];
	sqlite3_stmt *st = NULL;
	int rc = 0, error = store_bind(&st, n->store, table_sql[t], "tt", from, to);
	size_t k;

	if (!error && t == T_TIMELINESS)
		error = timeliness(rows, n->store, st);
	else if (!error && t == T_SUBJECTS)
		error = subjects(rows, n->store, st, min);
	while (!error && t != T_TIMELINESS && t != T_SUBJECTS &&
		(rc = store_next(n->store, st)) > 0) {
		json_t *row = json_object();

		for (k = 0; row && k < 5 && d->columns[k]; k++)
			json_object_set_new(row, d->columns[k],
				sqlite3_column_type(st, (int)k) == SQLITE_INTEGER
					? json_integer(sqlite3_column_int64(st, (int)k))
					: json_string(
						  (const char *)sqlite3_column_text(st, (int)k)));
		error = add_row(rows, row);
	}
	if (!error && rc < 0)
		error = rc;
	sqlite3_finalize(st);
	if (!error && t == T_SUBJECTS)
		error = sort_subjects(rows);
	return error;
}

/* A value as text: strings as they are, numbers in decimal. */
static void cell(char *out, size_t size, json_t *v)
{
	if (json_is_integer(v))
		snprintf(out, size, "%lld", (long long)json_integer_value(v));
	else
		snprintf(out, size, "%s", json_string_value(v) ? json_string_value(v) : "");
}

static void print_table(enum table t, json_t *rows, int csv)
{
	const struct table_def *d = &tables[t];
	char text[512];
	size_t i, k, ncol = 0;

	while (ncol < 5 && d->columns[ncol])
		ncol++;
	for (k = 0; k < ncol; k++) {
		if (csv)
			cli_csv_value(d->columns[k], k + 1 == ncol);
		else
			printf("%-*s%s", k + 1 == ncol ? 0 : 16, d->columns[k],
				k + 1 == ncol ? "\n" : " ");
	}
	for (i = 0; i < json_array_size(rows); i++)
		for (k = 0; k < ncol; k++) {
			cell(text, sizeof(text),
				json_object_get(json_array_get(rows, i), d->columns[k]));
			if (csv)
				cli_csv_value(text, k + 1 == ncol);
			else
				printf("%-*s%s", k + 1 == ncol ? 0 : 16, text,
					k + 1 == ncol ? "\n" : " ");
		}
}

/* ---- the page --------------------------------------------------------------------------- */

static void html_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

#define CHART_BARS 30

/* The chart of a table: its numeric column summed per value of its first column (the
 * overdue table: cases per office), the largest CHART_BARS bars, as inline SVG. */
static void html_chart(FILE *f, enum table t, json_t *rows)
{
	const struct table_def *d = &tables[t];
	const char *labels[CHART_BARS];
	int64_t values[CHART_BARS], max = 1;
	size_t nbars = 0, i, k;

	for (i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		const char *label = json_string_value(json_object_get(row, d->columns[0]));
		int64_t v = d->chart_col < 0 ? 1
					     : json_integer_value(json_object_get(row,
						       d->columns[d->chart_col]));

		for (k = 0; k < nbars && strcmp(labels[k], label); k++)
			;
		if (k == nbars && nbars == CHART_BARS)
			continue;
		if (k == nbars) {
			labels[nbars] = label;
			values[nbars++] = 0;
		}
		values[k] += v;
	}
	for (k = 0; k < nbars; k++)
		if (values[k] > max)
			max = values[k];
	fprintf(f,
		"<svg class=\"chart\" role=\"img\" width=\"720\" height=\"%zu\" "
		"viewBox=\"0 0 720 %zu\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		nbars * 20 + 10, nbars * 20 + 10);
	fprintf(f, "<title>");
	html_text(f, d->title);
	fprintf(f, " (%s per %s)</title>\n", d->chart_col < 0 ? "cases" : d->columns[d->chart_col],
		d->columns[0]);
	for (k = 0; k < nbars; k++) {
		fprintf(f, "<text x=\"0\" y=\"%zu\" font-size=\"12\">", k * 20 + 17);
		html_text(f, labels[k]);
		fprintf(f,
			"</text><rect x=\"120\" y=\"%zu\" height=\"14\" width=\"%lld\" "
			"fill=\"#3b6ea5\"/><text x=\"%lld\" y=\"%zu\" font-size=\"12\">%lld</text>\n",
			k * 20 + 6, (long long)(values[k] * 500 / max),
			(long long)(values[k] * 500 / max) + 126, k * 20 + 17,
			(long long)values[k]);
	}
	fputs("</svg>\n", f);
}

static void html_table(FILE *f, enum table t, json_t *rows)
{
	const struct table_def *d = &tables[t];
	char text[512];
	size_t i, k;

	fprintf(f, "<section id=\"%s\"><h2>", d->name);
	html_text(f, d->title);
	fprintf(f, "</h2>\n<p>%zu rows</p>\n", json_array_size(rows));
	html_chart(f, t, rows);
	fputs("<table><thead><tr>", f);
	for (k = 0; k < 5 && d->columns[k]; k++)
		fprintf(f, "<th>%s</th>", d->columns[k]);
	fputs("</tr></thead><tbody>\n", f);
	for (i = 0; i < json_array_size(rows); i++) {
		fputs("<tr>", f);
		for (k = 0; k < 5 && d->columns[k]; k++) {
			cell(text, sizeof(text),
				json_object_get(json_array_get(rows, i), d->columns[k]));
			fputs("<td>", f);
			html_text(f, text);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table></section>\n", f);
}

static int write_html(struct node *n, const char *path, const char *from, const char *to,
	int64_t min)
{
	struct buf org = BUF_INIT(256), tmp = BUF_INIT(4096);
	FILE *f = NULL;
	int error = hq_org(&org, n), t;

	if (!error)
		error = buf_printf(&tmp, "%s.tmp", path);
	if (!error) {
		/* subject ids and assignees are personal data: the page is the user's alone */
		int fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f) {
			if (fd >= 0)
				close(fd);
			error = err_set(ERR_IO, "cannot write '%s'", path);
		}
	}
	if (!error) {
		fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		      "style-src 'unsafe-inline'; img-src data:\">\n<title>",
			f);
		html_text(f, buf_cstr(&org));
		fprintf(f, ": internal investigations %s to %s</title>\n", from, to);
		fputs("<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
		      "table{border-collapse:collapse;margin:1em 0 2em}"
		      "td,th{border:1px solid #bbb;padding:2px 8px;text-align:left}"
		      "th{background:#eee}</style></head><body>\n<h1>",
			f);
		html_text(f, buf_cstr(&org));
		fprintf(f,
			"</h1>\n<p>Report on internal investigations and employee accountability, "
			"%s to %s.</p>\n",
			from, to);
	}
	for (t = 0; !error && t < T_COUNT; t++) {
		json_t *rows = json_array();

		error = rows ? table_rows(rows, n, (enum table)t, from, to, min)
			     : err_set(ERR_NOMEM, "out of memory");
		if (!error)
			html_table(f, (enum table)t, rows);
		json_decref(rows);
	}
	if (f) {
		fputs("</body></html>\n", f);
		if (fclose(f) && !error)
			error = err_set(ERR_IO, "cannot write '%s'", path);
	}
	if (!error && rename(buf_cstr(&tmp), path))
		error = err_set(ERR_IO, "cannot write '%s'", path);
	if (error && tmp.len)
		remove(buf_cstr(&tmp));
	buf_release(&org);
	buf_release(&tmp);
	return error;
}

int cmd_server_report(struct cli *c)
{
	static const char usage[] = "report --from DATE --to DATE (--table T | --html FILE)";
	struct cli_opt opts[] = {{"--from", 1, 0, {0}, 0}, {"--to", 1, 0, {0}, 0},
		{"--table", 1, 0, {0}, 0}, {"--html", 1, 0, {0}, 0}, {"--min", 1, 0, {0}, 0},
		{"--csv", 0, 0, {0}, 0}};
	const char *pos[1], *from, *to, *name, *html, *min_text;
	const struct schema_field *date = schema_field("received_at");
	struct node *n = NULL;
	json_t *rows = NULL;
	char detail[128], *end = NULL;
	int64_t min = 3;
	int npos, rc, t = -1, error;

	if (cli_help(c, report_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 0, &npos);
	if (rc)
		return rc;
	from = cli_opt(opts, CLI_N_OPTS(opts), "--from");
	to = cli_opt(opts, CLI_N_OPTS(opts), "--to");
	name = cli_opt(opts, CLI_N_OPTS(opts), "--table");
	html = cli_opt(opts, CLI_N_OPTS(opts), "--html");
	min_text = cli_opt(opts, CLI_N_OPTS(opts), "--min");
	if (!from || !to || !!name == !!html)
		return cli_usage_error(c, usage,
			"report needs --from, --to and one of --table, --html");
	for (t = 0; name && t < T_COUNT && strcmp(tables[t].name, name); t++)
		;
	if (name && t == T_COUNT)
		return cli_usage_error(c, usage,
			"unknown table '%s' (received, closed, timeliness, "
			"caseload, overdue, subjects)",
			name);
	if (schema_check_value(date, from) || schema_check_value(date, to) || strlen(from) != 10 ||
		strlen(to) != 10)
		return cli_usage_error(c, usage,
			"--from and --to take dates (YYYY-MM-DD): '%s', '%s'", from, to);
	if (strcmp(from, to) > 0)
		return cli_usage_error(c, usage, "--from %s is after --to %s", from, to);
	if (min_text) {
		min = strtoll(min_text, &end, 10);
		if (!end || *end || end == min_text || min < 1)
			return cli_usage_error(c, usage, "--min takes a number of at least 1");
	}
	error = cli_open_node(&n, c);
	snprintf(detail, sizeof(detail), "%s to %s%s", from, to, html ? ", every table" : "");
	if (!error)
		error = node_require(n, NODE_PERM_REPORT, "report", html ? "html" : name);
	if (!error)
		error = store_begin(n->store); /* one snapshot for every table */
	if (!error && html) {
		error = write_html(n, html, from, to, min);
	} else if (!error) {
		rows = json_array();
		error = rows ? table_rows(rows, n, (enum table)t, from, to, min)
			     : err_set(ERR_NOMEM, "out of memory");
	}
	if (!error)
		error = node_audit(n, "report", html ? "html" : name, "success", detail);
	if (!error)
		error = store_commit(n->store);
	else if (n)
		store_rollback(n->store);
	if (error)
		rc = cli_fail(c);
	else if (html)
		rc = c->json ? cli_print_json(json_pack("{s:s, s:s, s:s}", "html", html, "from",
				       from, "to", to))
			     : (printf("wrote %s\n", html), CLI_EXIT_OK);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:O}", "table", name, "from", from,
			"to", to, "rows", rows));
	else
		print_table((enum table)t, rows, cli_flag(opts, CLI_N_OPTS(opts), "--csv"));
	json_decref(rows);
	node_free(n);
	return rc;
}
