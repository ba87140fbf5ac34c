/*
 * server/intake.c - HQ's intake and supervision: new allegations routed to an office, the
 * deadline policy by category, assignment and due dates.  Each is an audited operation on
 * the server node; a case made or changed here reaches the office's devices at their next
 * sync like any HQ edit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/casedb.h"
#include "commands.h"
#include "hq.h"
#include "hqdb.h"

#define POLICY_KEY "due_days:" /* node_meta key prefix: days to the deadline, by category */
#define POLICY_DAYS_MAX 3650

static const char intake_help[] =
	"usage: fieldsync-server intake new --category C --summary S --office O [--title T]\n"
	"                                   [--subject-name N] [--subject-id ID]\n"
	"                                   [--received-at DATE] [--source S]\n"
	"\n"
	"Record a new allegation as a case owned by office O (role intake).  The case starts in\n"
	"status 'intake'; its title is --title or the summary's first 80 characters; received_at\n"
	"defaults to today (UTC); when the category has a deadline policy ('policy set-due') the\n"
	"case is due that many days after it was received.  The office's devices receive the case\n"
	"at their next sync; no other office sees it.  Prints the new case id.\n";

static const char policy_help[] =
	"usage: fieldsync-server policy set-due --category C --days N\n"
	"       fieldsync-server policy list\n"
	"\n"
	"The deadline of each category, in days from received_at, applied at intake (role\n"
	"supervisor).  --days 0 removes a category's deadline.  Changing a policy does not move\n"
	"the due dates of cases already taken in; 'case due' does.\n";

/* The title of an intake: the summary's first line, cut at a word within 80 bytes. */
static void intake_title(char *out, size_t size, const char *summary)
{
	size_t len = strcspn(summary, "\r\n"), cut;

	if (len >= size)
		len = size - 1;
	if (len > 80) {
		for (cut = 80; cut > 40 && summary[cut] != ' '; cut--)
			;
		len = cut > 40 ? cut : 80;
	}
	/* never end inside a UTF-8 sequence */
	while (len > 0 && len < strlen(summary) && ((unsigned char)summary[len] & 0xC0) == 0x80)
		len--;
	snprintf(out, size, "%.*s", (int)len, summary);
}

/* The policy's days for `category`: 0 if none. */
static int policy_days(long *days, struct node *n, const char *category)
{
	struct buf key = BUF_INIT(64), v = BUF_INIT(32);
	char *end = NULL;
	int error = buf_printf(&key, POLICY_KEY "%s", category);

	*days = 0;
	if (!error)
		error = store_meta_get(&v, n->store, buf_cstr(&key));
	if (error == ERR_NOTFOUND) {
		error = 0;
	} else if (!error) {
		*days = strtol(buf_cstr(&v), &end, 10);
		if (!end || *end || *days < 0 || *days > POLICY_DAYS_MAX)
			error = err_set(ERR_CORRUPT, "the deadline policy of '%s' is unreadable",
				category);
	}
	buf_release(&key);
	buf_release(&v);
	return error;
}

/* out = the date `days` after `date` (YYYY-MM-DD, or its first ten characters). */
static void date_plus(char out[11], const char *date, long days)
{
	char day[11];

	snprintf(day, sizeof(day), "%s", date); /* the date alone, from its noon */
	hlc_day(out, hlc_date_ms(day) / 1000 + 12 * 3600 + (int64_t)days * 86400);
}

static void today(char out[11])
{
	hlc_day(out, (int64_t)time(NULL));
}

static void set(struct casefile_change *chg, const char *name, const char *value)
{
	if (!value)
		return;
	chg->sets[chg->nsets].name = name;
	chg->sets[chg->nsets].value = value;
	chg->nsets++;
}

int cmd_server_intake(struct cli *c)
{
	static const char usage[] = "intake new --category C --summary S --office O [...]";
	struct cli_opt opts[] = {{"--category", 1, 0, {0}, 0}, {"--summary", 1, 0, {0}, 0},
		{"--office", 1, 0, {0}, 0}, {"--title", 1, 0, {0}, 0},
		{"--subject-name", 1, 0, {0}, 0}, {"--subject-id", 1, 0, {0}, 0},
		{"--received-at", 1, 0, {0}, 0}, {"--source", 1, 0, {0}, 0}};
	char id[SCHEMA_CASE_ID_MAX + 1], title[256], received[11], due[11] = "";
	const char *pos[1], *category, *summary, *office, *received_at;
	struct casefile_change chg;
	struct node *n = NULL;
	long days = 0;
	int npos, rc, error;

	if (cli_help(c, intake_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 1, &npos);
	if (rc)
		return rc;
	category = cli_opt(opts, CLI_N_OPTS(opts), "--category");
	summary = cli_opt(opts, CLI_N_OPTS(opts), "--summary");
	office = cli_opt(opts, CLI_N_OPTS(opts), "--office");
	if (npos != 1 || strcmp(pos[0], "new"))
		return cli_usage_error(c, usage, "expected 'intake new'");
	if (!category || !summary || !office)
		return cli_usage_error(c, usage,
			"intake new needs --category, --summary and --office");
	received_at = cli_opt(opts, CLI_N_OPTS(opts), "--received-at");
	if (!received_at) {
		today(received);
		received_at = received;
	}
	intake_title(title, sizeof(title),
		cli_opt(opts, CLI_N_OPTS(opts), "--title")
			? cli_opt(opts, CLI_N_OPTS(opts), "--title")
			: summary);
	memset(&chg, 0, sizeof(chg));
	set(&chg, "title", title);
	set(&chg, "category", category);
	set(&chg, "summary", summary);
	set(&chg, "received_at", received_at);
	set(&chg, "subject_name", cli_opt(opts, CLI_N_OPTS(opts), "--subject-name"));
	set(&chg, "subject_id", cli_opt(opts, CLI_N_OPTS(opts), "--subject-id"));
	set(&chg, "source", cli_opt(opts, CLI_N_OPTS(opts), "--source"));
	/* the values first, so that a bad date or category is named before anything is read */
	error = casefile_check_change(&chg);
	if (!error)
		error = cli_open_node(&n, c);
	if (!error)
		error = node_require(n, NODE_PERM_INTAKE, "case.intake", office);
	if (!error)
		error = hqdb_office_active(n->store, office);
	if (!error)
		error = policy_days(&days, n, category);
	if (!error && days > 0) {
		date_plus(due, received_at, days);
		set(&chg, "due_at", due);
	}
	if (!error)
		error = casedb_intake(id, n, office, &chg);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:s?}", "id", id, "office", office,
			"received_at", received_at, "due_at", due[0] ? due : NULL));
	else
		printf("%s\n", id);
	node_free(n);
	return rc;
}

static int policy_set(struct node *n, const char *category, long days)
{
	struct buf key = BUF_INIT(64);
	char value[16], detail[64];
	int error = buf_printf(&key, POLICY_KEY "%s", category);

	snprintf(value, sizeof(value), "%ld", days);
	snprintf(detail, sizeof(detail), days ? "%ld days" : "no deadline", days);
	if (!error)
		error = store_begin(n->store);
	if (!error && days)
		error = store_meta_set(n->store, buf_cstr(&key), value);
	else if (!error)
		error = store_run(n->store, "DELETE FROM node_meta WHERE key = ?", "t",
			buf_cstr(&key));
	if (!error)
		error = node_audit(n, "policy.set-due", category, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error)
		store_rollback(n->store);
	buf_release(&key);
	return error;
}

static int policy_list(struct cli *c, struct node *n)
{
	json_t *list = c->json ? json_object() : NULL;
	const char *cat;
	long days;
	size_t i;
	int error = 0;

	for (i = 0; !error && (cat = schema_field("category")->values[i]); i++) {
		error = policy_days(&days, n, cat);
		if (error || !days)
			continue;
		if (list)
			json_object_set_new(list, cat, json_integer(days));
		else
			printf("%-24s %ld days\n", cat, days);
	}
	if (!error)
		error = node_audit(n, "policy.list", "", "success", NULL);
	if (error) {
		json_decref(list);
		return cli_fail(c);
	}
	return list ? cli_print_json(json_pack("{s:o}", "due_days", list)) : CLI_EXIT_OK;
}

int cmd_server_policy(struct cli *c)
{
	static const char usage[] = "policy set-due --category C --days N | policy list";
	struct cli_opt opts[] = {{"--category", 1, 0, {0}, 0}, {"--days", 1, 0, {0}, 0}};
	const char *pos[1], *category, *days_text;
	struct node *n = NULL;
	char *end = NULL;
	long days = 0;
	int npos, rc, error;

	if (cli_help(c, policy_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 1, &npos);
	if (rc)
		return rc;
	category = cli_opt(opts, CLI_N_OPTS(opts), "--category");
	days_text = cli_opt(opts, CLI_N_OPTS(opts), "--days");
	if (npos != 1 || (strcmp(pos[0], "set-due") && strcmp(pos[0], "list")))
		return cli_usage_error(c, usage, "expected 'policy set-due' or 'policy list'");
	if (!strcmp(pos[0], "set-due")) {
		if (!category || !days_text)
			return cli_usage_error(c, usage,
				"policy set-due needs --category and --days");
		days = strtol(days_text, &end, 10);
		if (!end || *end || end == days_text || days < 0 || days > POLICY_DAYS_MAX)
			return cli_usage_error(c, usage, "--days takes a number from 0 to %d",
				POLICY_DAYS_MAX);
		if (schema_check_value(schema_field("category"), category))
			return cli_fail(c);
	}
	if (cli_open_node(&n, c))
		return cli_fail(c);
	error = node_require(n, NODE_PERM_SUPERVISE,
		!strcmp(pos[0], "list") ? "policy.list" : "policy.set-due",
		category ? category : "");
	if (error)
		rc = cli_fail(c);
	else if (!strcmp(pos[0], "list"))
		rc = policy_list(c, n);
	else if (policy_set(n, category, days))
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(
			json_pack("{s:s, s:i}", "category", category, "days", (int)days));
	else
		printf("deadline of %s: %s\n", category, days ? days_text : "none");
	node_free(n);
	return rc;
}

int hq_case_supervise(struct cli *c, const char *what)
{
	static const char usage[] = "case assign ID --to USER | case due ID DATE";
	struct cli_opt opts[] = {{"--to", 1, 0, {0}, 0}};
	char id[SCHEMA_CASE_ID_MAX + 1] = "", action[16];
	struct casefile_change chg;
	const char *pos[3], *value;
	struct node *n = NULL;
	int npos, rc, assign = !strcmp(what, "assign"), error;

	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 3, &npos);
	if (rc)
		return rc;
	value = assign ? cli_opt(opts, CLI_N_OPTS(opts), "--to") : npos == 3 ? pos[2] : NULL;
	if (npos != (assign ? 2 : 3) || !value)
		return cli_usage_error(c, usage,
			assign ? "case assign needs ID and --to USER"
			       : "case due needs ID and DATE");
	memset(&chg, 0, sizeof(chg));
	set(&chg, assign ? "assignee" : "due_at", value);
	if (assign && value[0] && schema_check_user(value))
		return cli_fail(c);
	if (casefile_check_change(&chg))
		return cli_fail(c);
	snprintf(action, sizeof(action), "case.%s", what);
	error = cli_open_node(&n, c);
	if (!error)
		error = node_require(n, NODE_PERM_SUPERVISE, action, pos[1]);
	if (!error)
		error = casedb_resolve(id, n, pos[1]);
	if (!error)
		error = casedb_edit(n, id, &chg, NULL);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(
			json_pack("{s:s, s:s}", "id", id, assign ? "assignee" : "due_at", value));
	else
		printf("case %s %s %s\n", id, assign ? "assigned to" : "due",
			value[0] ? value : "-");
	node_free(n);
	return rc;
}
