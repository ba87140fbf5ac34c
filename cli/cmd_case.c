/* cli/cmd_case.c - the audited case and note commands, on any node (see cmd_case.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/casedb.h"
#include "cmd_case.h"

static const char case_help[] =
	"usage: fieldsync-agent case new --title T --category C [--set FIELD=VALUE]...\n"
	"                                [--narrative-file F]\n"
	"       fieldsync-agent case edit ID [--set FIELD=VALUE]... [--narrative-file F]\n"
	"       fieldsync-agent case show ID [--at REV]\n"
	"       fieldsync-agent case list [--status S] [--office O] [--category C]\n"
	"                                 [--assignee U] [--subject-id ID] [--received-from DATE]\n"
	"                                 [--received-to DATE] [--overdue]\n"
	"                                 [--sort id|received|due|updated|priority] [--csv]\n"
	"       fieldsync-agent case search QUERY\n"
	"       fieldsync-agent case history ID [--diff]\n"
	"       fieldsync-agent case diff ID REV [REV2]\n"
	"       fieldsync-agent case fields\n"
	"\n"
	"Every change is one commit in the case's history, attributed to you, this device and\n"
	"office, and recorded in the audit trail; every read is audited too.  --set FIELD= (empty)\n"
	"clears an optional field.  The narrative file ('-' for stdin) replaces the narrative; it\n"
	"is stored one sentence per line so that concurrent edits merge.  'case fields' lists the\n"
	"fields and their allowed values.\n"
	"'case history' lists the revisions newest first (by hybrid logical clock, then commit\n"
	"id); --diff adds what each changed: fields as old -> new, the narrative as a unified\n"
	"diff.  'case diff ID REV' shows what REV changed, 'case diff ID REV REV2' the changes\n"
	"from REV to REV2; 'case show ID --at REV' the case as it was at REV.  A REV is a commit\n"
	"id of the case's history or a unique prefix of one (at least 4 hex digits).  An ID may\n"
	"likewise be a unique prefix of a case id (ELP-26-7K); an ambiguous one lists the cases\n"
	"it could be.\n"
	"'case list' filters combine (all must hold): --received-from/--received-to take dates\n"
	"(YYYY-MM-DD, inclusive), --overdue keeps the cases due before today that are not closed.\n"
	"--csv prints RFC 4180 CSV with a header line (a value a spreadsheet would run as a\n"
	"formula, starting with = + - @, gets a leading ').\n";

/* Fill a change from --set, --title/--category and --narrative-file. */
static int collect_change(struct casefile_change *chg, struct buf *narrative, char **owned,
	const struct cli_opt *opts, size_t nopts)
{
	static const char *const shorthand[] = {"--title", "--category"};
	size_t i, k;
	int error;

	for (k = 0; k < 2; k++) {
		const char *v = cli_opt(opts, nopts, shorthand[k]);

		if (v && chg->nsets < SCHEMA_MAX_FIELDS) {
			chg->sets[chg->nsets].name = shorthand[k] + 2;
			chg->sets[chg->nsets++].value = v;
		}
	}
	for (i = 0; i < nopts; i++) {
		if (strcmp(opts[i].name, "--set") != 0)
			continue;
		for (k = 0; k < (size_t)opts[i].count; k++) {
			const char *eq = strchr(opts[i].values[k], '=');

			if (!eq)
				return err_set(ERR_INVALID, "--set needs FIELD=VALUE, not '%s'",
					opts[i].values[k]);
			if (chg->nsets >= SCHEMA_MAX_FIELDS)
				return err_set(ERR_TOOBIG, "too many --set options");
			owned[chg->nsets] = strndup(opts[i].values[k],
				(size_t)(eq - opts[i].values[k]));
			if (!owned[chg->nsets])
				return err_set(ERR_NOMEM, "out of memory");
			chg->sets[chg->nsets].name = owned[chg->nsets];
			chg->sets[chg->nsets++].value = eq + 1;
		}
	}
	if (cli_opt(opts, nopts, "--narrative-file")) {
		error = cli_read_file(narrative, cli_opt(opts, nopts, "--narrative-file"),
			SCHEMA_NARRATIVE_MAX);
		if (error)
			return error;
		chg->narrative = buf_cstr(narrative);
		chg->narrative_len = narrative->len;
	}
	return 0;
}

static int case_write(struct cli *c, struct node *n, const char *id, struct cli_opt *opts,
	size_t nopts)
{
	struct casefile_change chg;
	struct buf narrative = BUF_INIT(SCHEMA_NARRATIVE_MAX);
	char *owned[SCHEMA_MAX_FIELDS] = {0}, new_id[SCHEMA_CASE_ID_MAX + 1];
	size_t i;
	int error, rc = CLI_EXIT_OK;

	memset(&chg, 0, sizeof(chg));
	error = collect_change(&chg, &narrative, owned, opts, nopts);
	if (!error && id)
		error = casedb_edit(n, id, &chg, NULL);
	else if (!error)
		error = casedb_create(new_id, n, &chg);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s}", "id", id ? id : new_id));
	else
		printf("%s\n", id ? id : new_id);
	for (i = 0; i < SCHEMA_MAX_FIELDS; i++)
		free(owned[i]);
	buf_wipe_release(&narrative);
	return rc;
}

static json_t *view_json(const struct casefile_view *v)
{
	json_t *fields = json_object(), *notes = json_array(), *conflicts = json_array();
	size_t i;

	for (i = 0; i < schema_count(); i++)
		if (v->fields[i])
			json_object_set_new(fields, schema_at(i)->name, json_string(v->fields[i]));
	for (i = 0; i < v->nnotes; i++)
		json_array_append_new(notes,
			json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", v->notes[i].id, "author",
				v->notes[i].author, "device", v->notes[i].device, "time",
				v->notes[i].time, "text", v->notes[i].text));
	for (i = 0; i < v->nconflicts; i++)
		json_array_append_new(conflicts,
			json_pack("{s:s, s:s, s:s, s:s}", "path", v->conflicts[i].path, "value",
				v->conflicts[i].value, "author", v->conflicts[i].author, "commit",
				v->conflicts[i].commit));
	return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:s}", "id", v->id, "office",
		v->office, "fields", fields, "narrative", v->narrative, "notes", notes, "evidence",
		json_array(), "conflicts", conflicts, "head", git_oid_tostr_s(&v->head));
}

static void view_print(const struct casefile_view *v)
{
	size_t i;

	printf("Case %s  (office %s)\n\n", v->id, v->office);
	for (i = 0; i < schema_count(); i++)
		if (v->fields[i])
			printf("  %-14s %s\n", schema_at(i)->name, v->fields[i]);
	printf("\nNarrative:\n%s\n", v->narrative[0] ? v->narrative : "  (none)\n");
	printf("Notes (%zu):\n", v->nnotes);
	for (i = 0; i < v->nnotes; i++)
		printf("\n  [%s] %s on device %.8s\n%s", v->notes[i].time, v->notes[i].author,
			v->notes[i].device, v->notes[i].text);
	if (v->nconflicts)
		printf("\n%zu unresolved conflicts:\n", v->nconflicts);
	for (i = 0; i < v->nconflicts; i++)
		printf("  %s: '%s' by %s\n", v->conflicts[i].path, v->conflicts[i].value,
			v->conflicts[i].author);
	printf("\nhead %s\n", git_oid_tostr_s(&v->head));
}

/* The commit of case `id` that `rev` names (a full id or a unique prefix). */
static int find_rev(git_oid *out, struct node *n, const char *id, const char *rev)
{
	struct casefile_rev *revs = NULL;
	size_t count = 0;
	int error;

	error = casedb_history(&revs, &count, n, id);
	if (!error)
		error = casefile_find_rev(out, revs, count, rev);
	casefile_history_free(revs, count);
	return error;
}

static int case_show(struct cli *c, struct node *n, const char *id, const char *at)
{
	struct casefile_view v;
	git_oid rev;
	int rc = CLI_EXIT_OK;

	if (at && (find_rev(&rev, n, id, at) || casefile_read(&v, n->repo, &rev)))
		return cli_fail(c);
	if (!at && casedb_view(&v, n, id))
		return cli_fail(c);
	if (c->json)
		rc = cli_print_json(view_json(&v));
	else
		view_print(&v);
	casefile_view_release(&v);
	return rc;
}

/* How case_rows prints: a table, one JSON document (list), or CSV. */
struct rows_out {
	json_t *list;
	int csv;
};

#define CSV_HEADER                                                                                 \
	"id,office,status,category,priority,assignee,received_at,due_at,updated_at,notes,conflicts,title"

static void csv_row(const struct index_row *r)
{
	char prio[16], notes[16], conflicts[16];

	snprintf(prio, sizeof(prio), "%d", r->priority);
	snprintf(notes, sizeof(notes), "%d", r->notes);
	snprintf(conflicts, sizeof(conflicts), "%d", r->conflicts);
	cli_csv_value(r->case_id, 0);
	cli_csv_value(r->office, 0);
	cli_csv_value(r->status, 0);
	cli_csv_value(r->category, 0);
	cli_csv_value(prio, 0);
	cli_csv_value(r->assignee, 0);
	cli_csv_value(r->received_at, 0);
	cli_csv_value(r->due_at, 0);
	cli_csv_value(r->updated_at, 0);
	cli_csv_value(notes, 0);
	cli_csv_value(conflicts, 0);
	cli_csv_value(r->title, 1);
}

static int print_row(void *ctx, const struct index_row *r)
{
	struct rows_out *o = ctx;
	json_t *row;

	if (o->csv) {
		csv_row(r);
		return 0;
	}
	if (!o->list) {
		printf("%-16s %-14s %-20s P%d %-12s %s%s\n", r->case_id, r->status, r->category,
			r->priority, r->assignee[0] ? r->assignee : "-", r->title,
			r->conflicts ? "  [CONFLICTS]" : "");
		if (r->snippet)
			printf("    %s\n", r->snippet);
		return 0;
	}
	row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:s?, s:s?}", "id",
		r->case_id, "office", r->office, "title", r->title, "category", r->category,
		"status", r->status, "priority", r->priority, "assignee", r->assignee, "updated_at",
		r->updated_at, "notes", r->notes, "conflicts", r->conflicts, "received_at",
		r->received_at && r->received_at[0] ? r->received_at : NULL, "due_at",
		r->due_at && r->due_at[0] ? r->due_at : NULL);
	if (row && r->snippet)
		json_object_set_new(row, "snippet", json_string(r->snippet));
	return json_array_append_new(o->list, row) ? err_set(ERR_NOMEM, "out of memory") : 0;
}

static int case_rows(struct cli *c, struct node *n, const struct index_filter *f, int csv,
	const char *query)
{
	struct rows_out o = {c->json && !csv ? json_array() : NULL, csv};
	int error;

	if (csv)
		printf("%s\n", CSV_HEADER);
	error = query ? casedb_search(n, query, print_row, &o) : casedb_list(n, f, print_row, &o);
	if (error) {
		json_decref(o.list);
		(void)cli_fail(c);
		/* a query the index cannot read is bad input, like a bad option */
		return query && error == ERR_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	}
	return o.list ? cli_print_json(json_pack("{s:o}", "cases", o.list)) : CLI_EXIT_OK;
}

/* The list filters from the options (indexes as in cmd_case's table); -1 for a bad --sort. */
static int list_filter(struct index_filter *f, char today[11], const struct cli_opt *opts,
	size_t nopts)
{
	static const char *const sorts[] = {"id", "received", "due", "updated", "priority"};
	const char *sort = cli_opt(opts, nopts, "--sort");
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	memset(f, 0, sizeof(*f));
	f->status = cli_opt(opts, nopts, "--status");
	f->office = cli_opt(opts, nopts, "--office");
	f->category = cli_opt(opts, nopts, "--category");
	f->assignee = cli_opt(opts, nopts, "--assignee");
	f->subject_id = cli_opt(opts, nopts, "--subject-id");
	f->received_from = cli_opt(opts, nopts, "--received-from");
	f->received_to = cli_opt(opts, nopts, "--received-to");
	if (cli_flag(opts, nopts, "--overdue")) {
		gmtime_r(&now, &tm);
		strftime(today, 11, "%Y-%m-%d", &tm);
		f->overdue_on = today;
	}
	if (!sort)
		return 0;
	for (i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++)
		if (!strcmp(sort, sorts[i])) {
			f->sort = (enum index_sort)i;
			return 0;
		}
	return -1;
}

static int case_history(struct cli *c, struct node *n, const char *id, int with_diff)
{
	struct buf diff = BUF_INIT(64u * SCHEMA_NARRATIVE_MAX);
	struct casefile_rev *revs = NULL;
	json_t *list = NULL, *row;
	char when[HLC_STR_MAX];
	size_t count = 0, i;
	int error = 0, rc = CLI_EXIT_OK;

	if (casedb_history(&revs, &count, n, id))
		return cli_fail(c);
	list = c->json ? json_array() : NULL;
	for (i = 0; i < count && !error; i++) {
		hlc_iso8601(when, revs[i].hlc.wall_ms);
		buf_reset(&diff);
		if (with_diff)
			error = casefile_diff(&diff, n->repo, NULL, &revs[i].id);
		if (error)
			break;
		if (list) {
			row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "commit",
				git_oid_tostr_s(&revs[i].id), "time", when, "user", revs[i].user,
				"office", revs[i].office, "device", revs[i].device, "summary",
				revs[i].summary);
			if (row && with_diff)
				json_object_set_new(row, "diff", json_string(buf_cstr(&diff)));
			json_array_append_new(list, row);
		} else {
			printf("%s  %-12s %s/%.8s  %s  (%.12s)\n%s", when, revs[i].user,
				revs[i].office, revs[i].device, revs[i].summary,
				git_oid_tostr_s(&revs[i].id), buf_cstr(&diff));
		}
	}
	if (error)
		rc = cli_fail(c);
	else if (list)
		rc = cli_print_json(json_pack("{s:s, s:O}", "id", id, "history", list));
	json_decref(list);
	buf_wipe_release(&diff);
	casefile_history_free(revs, count);
	return rc;
}

static int case_diff(struct cli *c, struct node *n, const char *id, const char *r1,
	const char *r2)
{
	struct buf diff = BUF_INIT(64u * SCHEMA_NARRATIVE_MAX);
	git_oid a, b;
	int error, rc = CLI_EXIT_OK;

	error = find_rev(&a, n, id, r1);
	if (!error && r2)
		error = find_rev(&b, n, id, r2);
	if (!error)
		error = casefile_diff(&diff, n->repo, r2 ? &a : NULL, r2 ? &b : &a);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s?, s:s, s:s}", "id", id, "from",
			r2 ? r1 : NULL, "to", r2 ? r2 : r1, "diff", buf_cstr(&diff)));
	else
		fputs(buf_cstr(&diff), stdout);
	buf_wipe_release(&diff);
	return rc;
}

static int case_fields(struct cli *c)
{
	static const char *const kinds[] = {"line", "text", "enum", "int", "date"};
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < schema_count(); i++) {
		const struct schema_field *f = schema_at(i);
		json_t *vals = json_array();
		const char *const *p;

		for (p = f->values; p && *p; p++)
			json_array_append_new(vals, json_string(*p));
		if (!c->json) {
			printf("%-14s %-5s %s%s", f->name, kinds[f->kind], f->help,
				f->required ? " (required)" : "");
			if (f->kind == SCHEMA_INT)
				printf(" [%ld-%ld]", f->min, f->max);
			for (p = f->values; p && *p; p++)
				printf("%s%s", p == f->values ? "\n               one of: " : ", ", *p);
			printf("\n");
		}
		json_array_append_new(list,
			json_pack("{s:s, s:s, s:o, s:b, s:s?}", "name", f->name, "kind",
				kinds[f->kind], "values", vals, "required", f->required, "default",
				f->default_value));
	}
	if (c->json)
		return cli_print_json(json_pack("{s:o}", "fields", list));
	json_decref(list);
	return CLI_EXIT_OK;
}

int cmd_case(struct cli *c)
{
	static const char usage[] = "case new|edit|show|list|search|history|diff|fields ...";
	struct cli_opt opts[] = {
		{"--title", 1, 0, {0}, 0},
		{"--category", 1, 0, {0}, 0},
		{"--set", 1, 1, {0}, 0},
		{"--narrative-file", 1, 0, {0}, 0},
		{"--status", 1, 0, {0}, 0},
		{"--at", 1, 0, {0}, 0},
		{"--diff", 0, 0, {0}, 0},
		{"--office", 1, 0, {0}, 0}, /* 7.. : list filters */
		{"--assignee", 1, 0, {0}, 0},
		{"--subject-id", 1, 0, {0}, 0},
		{"--received-from", 1, 0, {0}, 0},
		{"--received-to", 1, 0, {0}, 0},
		{"--overdue", 0, 0, {0}, 0},
		{"--sort", 1, 0, {0}, 0},
		{"--csv", 0, 0, {0}, 0},
	};
	const char *pos[4], *sub;
	char id[SCHEMA_CASE_ID_MAX + 1] = "", today[11] = "";
	struct index_filter filter;
	size_t k;
	struct node *n = NULL;
	int npos, rc, want_id, writes;

	if (cli_help(c, case_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 4, &npos);
	if (rc)
		return rc;
	if (npos < 1)
		return cli_usage_error(c, usage, "which case command?");
	sub = pos[0];
	if (!strcmp(sub, "fields"))
		return case_fields(c);
	if (opts[5].count && strcmp(sub, "show"))
		return cli_usage_error(c, usage, "--at goes with 'case show'");
	if (opts[6].count && strcmp(sub, "history"))
		return cli_usage_error(c, usage, "--diff goes with 'case history'");
	if (!strcmp(sub, "diff")) {
		if (npos < 3)
			return cli_usage_error(c, "case diff ID REV [REV2]", "give a case id and a revision");
		if (cli_open_node(&n, c))
			return cli_fail(c);
		rc = casedb_resolve(id, n, pos[1])
			     ? cli_fail(c)
			     : case_diff(c, n, id, pos[2], npos > 3 ? pos[3] : NULL);
		node_free(n);
		return rc;
	}
	want_id = !strcmp(sub, "edit") || !strcmp(sub, "show") || !strcmp(sub, "history") ||
		  !strcmp(sub, "search");
	writes = !strcmp(sub, "new") || !strcmp(sub, "edit");
	if (!want_id && strcmp(sub, "new") && strcmp(sub, "list"))
		return cli_usage_error(c, usage, "unknown case command '%s'", sub);
	if (npos != (want_id ? 2 : 1))
		return cli_usage_error(c, usage, "'case %s' takes %s", sub,
			want_id ? (strcmp(sub, "search") ? "a case id" : "a query") : "no argument");
	if (!writes && (opts[0].count || (opts[1].count && strcmp(sub, "list")) || opts[2].count ||
			       opts[3].count))
		return cli_usage_error(c, usage, "'case %s' does not change a case", sub);
	for (k = 4; k < CLI_N_OPTS(opts); k++)
		if (opts[k].count && (k == 4 || k >= 7) && strcmp(sub, "list"))
			return cli_usage_error(c, usage, "%s goes with 'case list'", opts[k].name);
	if (list_filter(&filter, today, opts, CLI_N_OPTS(opts)))
		return cli_usage_error(c, usage,
			"--sort takes id, received, due, updated or priority");
	if (!strcmp(sub, "new") && (!opts[0].count || !opts[1].count))
		return cli_usage_error(c, usage, "a new case needs --title and --category");
	if (!strcmp(sub, "edit") && !opts[0].count && !opts[1].count && !opts[2].count &&
		!opts[3].count)
		return cli_usage_error(c, usage, "nothing to change: give --set or --narrative-file");
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (want_id && strcmp(sub, "search") && casedb_resolve(id, n, pos[1]))
		rc = cli_fail(c);
	else if (writes)
		rc = case_write(c, n, npos == 2 ? id : NULL, opts, CLI_N_OPTS(opts));
	else if (!strcmp(sub, "show"))
		rc = case_show(c, n, id, cli_opt(opts, CLI_N_OPTS(opts), "--at"));
	else if (!strcmp(sub, "history"))
		rc = case_history(c, n, id, opts[6].count > 0);
	else
		rc = case_rows(c, n, &filter, cli_flag(opts, CLI_N_OPTS(opts), "--csv"),
			!strcmp(sub, "search") ? pos[1] : NULL);
	node_free(n);
	return rc;
}

static const char note_help[] =
	"usage: fieldsync-agent note add ID (--text T | --file F)\n"
	"\n"
	"Append a note or interview record to a case ('-' reads the file from stdin).  Notes are\n"
	"never edited or removed; each carries its author, device and time.\n";

int cmd_note(struct cli *c)
{
	static const char usage[] = "note add ID (--text T | --file F)";
	struct cli_opt opts[] = {{"--text", 1, 0, {0}, 0}, {"--file", 1, 0, {0}, 0}};
	struct casefile_change chg;
	struct buf text = BUF_INIT(SCHEMA_NOTE_MAX);
	char note_id[CASEFILE_NOTE_ID_MAX], id[SCHEMA_CASE_ID_MAX + 1] = "";
	struct node *n = NULL;
	const char *pos[2];
	int npos, rc, error;

	if (cli_help(c, note_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 2, &npos);
	if (rc)
		return rc;
	if (npos != 2 || strcmp(pos[0], "add") != 0)
		return cli_usage_error(c, usage, "expected 'note add ID'");
	if (opts[0].count + opts[1].count != 1)
		return cli_usage_error(c, usage, "give exactly one of --text and --file");
	memset(&chg, 0, sizeof(chg));
	if (opts[0].count) {
		error = buf_puts(&text, opts[0].values[0]);
		if (error)
			error = err_set(ERR_TOOBIG, "the note is larger than the limit of %u bytes",
				SCHEMA_NOTE_MAX);
	} else {
		error = cli_read_file(&text, opts[1].values[0], SCHEMA_NOTE_MAX);
	}
	chg.note = buf_cstr(&text);
	chg.note_len = text.len;
	if (!error)
		error = cli_open_node(&n, c);
	if (!error)
		error = casedb_resolve(id, n, pos[1]);
	if (!error)
		error = casedb_edit(n, id, &chg, note_id);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s}", "id", id, "note", note_id));
	else
		printf("%s note %s\n", id, note_id);
	buf_wipe_release(&text);
	node_free(n);
	return rc;
}
