/*
 * server/import.c - `fieldsync-server case import FILE.jsonl`: existing records brought in,
 * one case per line.  Each line is checked against the case schema and stored whole or
 * refused with its number and reason; lines are committed a batch at a time, each batch with
 * one audit entry naming the file, its lines and its counts, so that an interrupted import
 * leaves whole batches, each on record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "node/casedb.h"
#include "commands.h"
#include "hq.h"
#include "hqdb.h"

#define IMPORT_BATCH 1000				   /* lines per transaction */
#define IMPORT_LINE_MAX (SCHEMA_NARRATIVE_MAX * 2 + 65536) /* JSON escapes double at most */
#define IMPORT_NOTES_MAX 256
#define IMPORT_REFUSED_MAX 100 /* refusals kept for --json; all are printed */

static const char import_help[] =
	"usage: fieldsync-server case import FILE.jsonl\n"
	"\n"
	"Bring existing records in, one case per line ('-' reads stdin):\n"
	"  {\"office\": \"ELP\", \"fields\": {\"title\": \"...\", \"category\": \"theft\", ...},\n"
	"   \"narrative\": \"...\", \"notes\": [\"...\", ...]}\n"
	"Fields are those of 'fieldsync-agent case fields' (title and category required; dates\n"
	"YYYY-MM-DD).  Each line is stored whole as a case of its office (which must exist) or\n"
	"refused with its line number and reason; nothing of a refused line is stored.  Lines are\n"
	"committed 1000 at a time, each batch audited as one case.import entry with its counts.\n"
	"A progress line is shown on a terminal.  Exits 1 if any line was refused.  Importing the\n"
	"same file twice makes the cases twice.\n";

struct import {
	struct cli *c;
	struct node *n;
	const char *file;
	uint64_t line, stored, refused;
	uint64_t batch_first, batch_stored, batch_refused;
	json_t *refusals; /* the first IMPORT_REFUSED_MAX: [{"line", "reason"}] */
	int tty;
	int64_t t0;
};

/*
 * The next line of `f` into `out` (without its newline).  *too_long when it passed the cap
 * (the rest of it is skipped).  Returns 1 for a line, 0 at the end.
 */
static int read_line(struct buf *out, int *too_long, FILE *f)
{
	char chunk[65536];
	int any = 0;

	buf_reset(out);
	*too_long = 0;
	while (fgets(chunk, sizeof(chunk), f)) {
		size_t len = strlen(chunk);
		int end = len && chunk[len - 1] == '\n';

		any = 1;
		if (end)
			chunk[--len] = '\0';
		if (!*too_long && buf_put(out, chunk, len))
			*too_long = 1;
		if (end)
			break;
	}
	return any;
}

/* One record into `chg`/`notes` (borrowing from `doc`), checked; ERR_INVALID says why not. */
static int parse_record(struct casefile_change *chg, const char **office, const char **notes,
	size_t *nnotes, int64_t *id_ms, json_t *doc)
{
	json_t *fields = json_object_get(doc, "fields"), *narr = json_object_get(doc, "narrative");
	json_t *list = json_object_get(doc, "notes"), *v;
	const char *key, *received = NULL;
	size_t i;

	memset(chg, 0, sizeof(*chg));
	*nnotes = 0;
	if (!json_is_object(doc))
		return err_set(ERR_INVALID, "not a JSON object");
	json_object_foreach(doc, key, v) if (strcmp(key, "office") && strcmp(key, "fields") &&
					     strcmp(key, "narrative") &&
					     strcmp(key, "notes")) return err_set(ERR_INVALID,
		"unknown key '%s' (office, fields, narrative, "
		"notes)",
		key);
	*office = json_string_value(json_object_get(doc, "office"));
	if (!*office)
		return err_set(ERR_INVALID, "no \"office\"");
	if (!json_is_object(fields))
		return err_set(ERR_INVALID, "no \"fields\" object");
	json_object_foreach(fields, key, v)
	{
		if (!json_is_string(v))
			return err_set(ERR_INVALID, "field '%s' is not a string", key);
		if (chg->nsets == SCHEMA_MAX_FIELDS)
			return err_set(ERR_INVALID, "too many fields");
		chg->sets[chg->nsets].name = key;
		chg->sets[chg->nsets].value = json_string_value(v);
		chg->nsets++;
		if (!strcmp(key, "received_at"))
			received = json_string_value(v);
	}
	if (narr && !json_is_string(narr))
		return err_set(ERR_INVALID, "\"narrative\" is not a string");
	if (narr) {
		chg->narrative = json_string_value(narr);
		chg->narrative_len = json_string_length(narr);
	}
	if (list && !json_is_array(list))
		return err_set(ERR_INVALID, "\"notes\" is not an array");
	for (i = 0; list && i < json_array_size(list); i++) {
		v = json_array_get(list, i);
		if (!json_is_string(v) || !json_string_length(v))
			return err_set(ERR_INVALID, "note %zu is not a non-empty string", i + 1);
		if (json_string_length(v) > SCHEMA_NOTE_MAX)
			return err_set(ERR_TOOBIG, "note %zu is larger than %u bytes", i + 1,
				SCHEMA_NOTE_MAX);
		if (*nnotes == IMPORT_NOTES_MAX)
			return err_set(ERR_INVALID, "more than %d notes", IMPORT_NOTES_MAX);
		notes[(*nnotes)++] = json_string_value(v);
	}
	if (casefile_check_change(chg))
		return err_code();
	*id_ms = received ? hlc_date_ms(received) : (int64_t)time(NULL) * 1000;
	return 0;
}

static void refuse(struct import *im, const char *reason)
{
	im->refused++;
	im->batch_refused++;
	fprintf(stderr, "%s: %s: line %llu: %s\n", im->c->prog, im->file,
		(unsigned long long)im->line, reason);
	if (json_array_size(im->refusals) < IMPORT_REFUSED_MAX)
		json_array_append_new(im->refusals,
			json_pack("{s:I, s:s}", "line", (json_int_t)im->line, "reason", reason));
}

/* One line in its own savepoint: stored whole, or refused and nothing of it kept. */
static int import_line(struct import *im, const struct buf *line)
{
	const char *notes[IMPORT_NOTES_MAX], *office = NULL;
	struct casefile_change chg;
	char id[SCHEMA_CASE_ID_MAX + 1];
	json_error_t jerr;
	json_t *doc = json_loadb(line->ptr, line->len, JSON_REJECT_DUPLICATES, &jerr);
	size_t nnotes = 0;
	int64_t id_ms = 0;
	char reason[256];
	int error;

	if (!doc) {
		snprintf(reason, sizeof(reason), "not JSON: %s (column %d)", jerr.text,
			jerr.column);
		refuse(im, reason);
		return 0;
	}
	error = parse_record(&chg, &office, notes, &nnotes, &id_ms, doc);
	if (!error)
		error = hqdb_office_active(im->n->store, office);
	if (!error)
		error = store_exec(im->n->store, "SAVEPOINT import_line");
	if (!error) {
		error = casedb_import(id, im->n, office, &chg, notes, nnotes, id_ms);
		if (error) {
			int code = error;
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", err_msg());
			(void)!store_exec(im->n->store,
				"ROLLBACK TO import_line; RELEASE import_line");
			error = err_set(code, "%s", msg);
		} else {
			error = store_exec(im->n->store, "RELEASE import_line");
		}
	}
	json_decref(doc);
	if (error == ERR_NOMEM || error == ERR_IO || error == ERR_GENERIC || error == ERR_CORRUPT)
		return error;
	if (error) {
		refuse(im, err_msg());
		return 0;
	}
	im->stored++;
	im->batch_stored++;
	return 0;
}

/* Close the open batch: its audit entry, then the commit. */
static int end_batch(struct import *im)
{
	char detail[AUDIT_DETAIL_MAX];
	int error;

	if (im->line < im->batch_first)
		return 0;
	snprintf(detail, sizeof(detail), "%s lines %llu-%llu: %llu stored, %llu refused", im->file,
		(unsigned long long)im->batch_first, (unsigned long long)im->line,
		(unsigned long long)im->batch_stored, (unsigned long long)im->batch_refused);
	error = node_audit(im->n, "case.import", "", "success", detail);
	if (!error)
		error = store_commit(im->n->store);
	im->batch_first = im->line + 1;
	im->batch_stored = im->batch_refused = 0;
	if (!error && im->tty) {
		double secs = (double)(hlc_now_ms() - im->t0) / 1000.0;

		fprintf(stderr, "\rimport: %llu lines, %llu stored, %llu refused, %.0f lines/s   ",
			(unsigned long long)im->line, (unsigned long long)im->stored,
			(unsigned long long)im->refused, secs > 0 ? (double)im->line / secs : 0.0);
	}
	return error;
}

static int import_file(struct import *im, FILE *f)
{
	struct buf line = BUF_INIT(IMPORT_LINE_MAX);
	int too_long, error = 0;

	im->batch_first = 1;
	while (!error && read_line(&line, &too_long, f)) {
		im->line++;
		if (im->line == im->batch_first)
			error = store_begin(im->n->store);
		if (error)
			break;
		if (too_long)
			refuse(im, "longer than the limit of a record");
		else if (line.len == 0)
			refuse(im, "empty line");
		else
			error = import_line(im, &line);
		if (!error && im->line - im->batch_first + 1 == IMPORT_BATCH)
			error = end_batch(im);
	}
	if (!error && ferror(f))
		error = err_set(ERR_IO, "cannot read '%s'", im->file);
	if (!error)
		error = end_batch(im);
	if (error)
		store_rollback(im->n->store);
	if (im->tty)
		fputc('\n', stderr);
	buf_release(&line);
	return error;
}

int hq_case_import(struct cli *c)
{
	static const char usage[] = "case import FILE.jsonl";
	struct import im;
	const char *pos[2];
	FILE *f = NULL;
	int npos, rc, error;

	if (cli_help(c, import_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, NULL, 0, pos, 2, &npos);
	if (rc)
		return rc;
	if (npos != 2)
		return cli_usage_error(c, usage, "case import needs a FILE");
	memset(&im, 0, sizeof(im));
	im.c = c;
	im.file = pos[1];
	im.tty = isatty(STDERR_FILENO);
	im.refusals = json_array();
	im.t0 = hlc_now_ms();
	f = strcmp(pos[1], "-") ? fopen(pos[1], "r") : stdin;
	error = f ? 0 : err_set(ERR_NOTFOUND, "cannot open '%s'", pos[1]);
	if (!error)
		error = cli_open_node(&im.n, c);
	if (!error)
		error = node_require(im.n, NODE_PERM_INTAKE, "case.import", pos[1]);
	if (!error)
		error = import_file(&im, f);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:I, s:I, s:I, s:O}", "lines", (json_int_t)im.line,
			"stored", (json_int_t)im.stored, "refused", (json_int_t)im.refused,
			"refusals", im.refusals));
	else
		printf("%llu lines: %llu cases stored, %llu lines refused\n",
			(unsigned long long)im.line, (unsigned long long)im.stored,
			(unsigned long long)im.refused);
	if (rc == CLI_EXIT_OK && im.refused)
		rc = CLI_EXIT_FAIL;
	if (f && f != stdin)
		fclose(f);
	json_decref(im.refusals);
	node_free(im.n);
	return rc;
}
