/*
 * server/cases.c - `fieldsync-server case ...`: HQ's consolidated view of every office's cases
 * and HQ's own edits, sharing and transfers.  Reading and editing run the agent's case
 * commands on the server node (the same audited operations); sharing and transfer are HQ's.
 */
#include <stdio.h>
#include <string.h>

#include "node/casedb.h"
#include "cmd_case.h"
#include "commands.h"
#include "hq.h"
#include "hqdb.h"
#include "hqsync.h"

static const char case_help[] =
	"usage: fieldsync-server case list [--status S] [--office O] [--category C] [--assignee U]\n"
	"                                  [--subject-id ID] [--received-from DATE]\n"
	"                                  [--received-to DATE] [--overdue]\n"
	"                                  [--sort id|received|due|updated|priority] [--csv]\n"
	"       fieldsync-server case show ID | history ID | search QUERY\n"
	"       fieldsync-server case edit ID [--set FIELD=VALUE]... [--narrative-file F]\n"
	"       fieldsync-server case share ID OFFICE\n"
	"       fieldsync-server case unshare ID OFFICE\n"
	"       fieldsync-server case transfer ID OFFICE [--keep-shares]\n"
	"       fieldsync-server case assign ID --to USER\n"
	"       fieldsync-server case due ID DATE\n"
	"\n"
	"HQ's view of every office's cases as last synced, and HQ's own work on them; every read\n"
	"and change is audited.  An HQ edit is a commit like any other: offices receive it at\n"
	"their next sync and it merges with their work.  'share' lets OFFICE see and edit the\n"
	"case besides its owner, 'unshare' ends that; 'transfer' makes OFFICE the owner and ends\n"
	"the old owner's access and every share (--keep-shares keeps the shares).  An office\n"
	"that loses a case has its devices push what they wrote on it before they knew, then\n"
	"remove it (objects, index, full text, evidence) at their next sync.  'assign' names the office user who works the\n"
	"case (--to '' clears it), 'due' sets its deadline (YYYY-MM-DD); share, transfer, assign\n"
	"and due are a supervisor's.  'case list' filters combine; 'fieldsync-agent case --help'\n"
	"describes them.  Use --json for one JSON document, --csv on 'case list' for CSV.\n";

/* Share: a row in case_shares and a new change sequence, so the office's next pull sees it. */
static int share(struct node *n, const char *id, const char *office)
{
	char now[HLC_STR_MAX];
	git_oid head;
	int error;

	hlc_iso8601(now, hlc_now_ms());
	error = store_begin(n->store);
	if (!error)
		error = hqdb_office_active(n->store, office);
	if (!error)
		error = casedb_head(&head, n, id);
	if (!error)
		error = hqdb_case_share(n->store, id, office, now);
	if (!error)
		error = node_audit(n, "case.share", id, "success", office);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		store_rollback(n->store);
		return node_audit_failure(n, "case.share", id, error);
	}
	return 0;
}

/* What a transfer ends, in the transfer's own transaction. */
struct transfer {
	const char *id;
	const char *to;
	char from[SCHEMA_OFFICE_MAX + 1];
	int keep_shares;
	char now[HLC_STR_MAX];
	char ended[8][SCHEMA_OFFICE_MAX + 1]; /* offices whose share ended (for the message) */
	size_t nended;
};

static int end_share(void *ctx, const char *office)
{
	struct transfer *t = ctx;

	if (!strcmp(office, t->to) || t->keep_shares || t->nended == 8)
		return 0;
	snprintf(t->ended[t->nended++], SCHEMA_OFFICE_MAX + 1, "%s", office);
	return 0;
}

/*
 * After the head moved: the old owner loses the case, and so does every office it was shared
 * with unless the shares are kept; each learns it at its next pull (hqdb_case_revoke).
 */
static int end_access(void *ctx, struct node *n)
{
	struct transfer *t = ctx;
	size_t i;
	int error = store_run(n->store, "DELETE FROM case_shares WHERE case_id = ? AND office = ?",
		"tt", t->id, t->to);

	if (!error && strcmp(t->from, t->to))
		error = hqdb_case_revoke(n->store, t->id, t->from, t->now);
	if (!error)
		error = hqdb_case_shares(n->store, t->id, end_share, t);
	for (i = 0; !error && i < t->nended; i++)
		error = hqdb_case_revoke(n->store, t->id, t->ended[i], t->now);
	return error;
}

static int transfer(struct transfer *t, struct node *n)
{
	struct casefile_change chg;
	int visible, error = hqdb_office_active(n->store, t->to);

	memset(&chg, 0, sizeof(chg));
	chg.transfer = t->to;
	hlc_iso8601(t->now, hlc_now_ms());
	if (!error)
		error = hq_case_visible(&visible, t->from, n, t->id, t->to);
	if (error)
		return node_audit_failure(n, "case.transfer", t->id, error);
	return casedb_edit_then(n, t->id, &chg, NULL, end_access, t);
}

/* Unshare: the office no longer sees the case; its devices purge it at their next sync. */
static int unshare(struct node *n, const char *id, const char *office)
{
	char now[HLC_STR_MAX], owner[SCHEMA_OFFICE_MAX + 1];
	int64_t shared = 0;
	int visible, error;

	hlc_iso8601(now, hlc_now_ms());
	error = schema_check_office(office)
			? err_set(ERR_INVALID, "'%s' is not an office code", office)
			: store_begin(n->store);
	if (!error)
		error = hq_case_visible(&visible, owner, n, id, office);
	if (!error && !strcmp(owner, office))
		error = err_set(ERR_INVALID, "office %s owns case '%s': transfer it instead",
			office, id);
	if (!error)
		error = store_query_int64(&shared, n->store,
			"SELECT count(*) FROM case_shares WHERE case_id = ? AND office = ?", "tt",
			id, office);
	if (!error && !shared)
		error = err_set(ERR_NOTFOUND, "case '%s' is not shared with office %s", id, office);
	if (!error)
		error = hqdb_case_revoke(n->store, id, office, now);
	if (!error)
		error = node_audit(n, "case.unshare", id, "success", office);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		store_rollback(n->store);
		return node_audit_failure(n, "case.unshare", id, error);
	}
	return 0;
}

static int share_or_transfer(struct cli *c, const char *what)
{
	static const char usage[] = "case share|unshare ID OFFICE | case transfer ID OFFICE "
				    "[--keep-shares]";
	struct cli_opt opts[] = {{"--keep-shares", 0, 0, {0}, 0}};
	struct transfer t;
	struct node *n = NULL;
	char id[SCHEMA_CASE_ID_MAX + 1] = "", action[16];
	const char *pos[3];
	int npos, rc, error;

	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 3, &npos);
	if (rc)
		return rc;
	if (npos != 3)
		return cli_usage_error(c, usage, "%s needs ID and OFFICE", what);
	if (opts[0].count && strcmp(what, "transfer"))
		return cli_usage_error(c, usage, "--keep-shares goes with 'case transfer'");
	if (cli_open_node(&n, c))
		return cli_fail(c);
	snprintf(action, sizeof(action), "case.%s", what);
	memset(&t, 0, sizeof(t));
	error = node_require(n, NODE_PERM_SUPERVISE, action, pos[1]);
	if (!error)
		error = casedb_resolve(id, n, pos[1]);
	t.id = id;
	t.to = pos[2];
	t.keep_shares = opts[0].count > 0;
	if (!error && !strcmp(what, "share"))
		error = share(n, id, pos[2]);
	else if (!error && !strcmp(what, "unshare"))
		error = unshare(n, id, pos[2]);
	else if (!error)
		error = transfer(&t, n);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(
			json_pack("{s:s, s:s, s:s}", "id", id, what, pos[2], "status", "ok"));
	else
		printf("case %s %s %s\n", id,
			!strcmp(what, "share")	   ? "shared with"
			: !strcmp(what, "unshare") ? "no longer shared with"
						   : "transferred to",
			pos[2]);
	for (size_t i = 0; !error && i < t.nended; i++)
		if (!c->json)
			printf("share with %s ended (kept with --keep-shares)\n", t.ended[i]);
	node_free(n);
	return rc;
}

int cmd_server_case(struct cli *c)
{
	if (c->argc == 0 || cli_help(c, case_help)) {
		if (c->argc == 0)
			return cli_usage_error(c,
				"case list|show|edit|history|search|share|unshare|transfer|assign|due",
				"which case command?");
		return CLI_EXIT_OK;
	}
	if (!strcmp(c->argv[0], "share") || !strcmp(c->argv[0], "unshare") ||
		!strcmp(c->argv[0], "transfer"))
		return share_or_transfer(c, c->argv[0]);
	if (!strcmp(c->argv[0], "assign") || !strcmp(c->argv[0], "due"))
		return hq_case_supervise(c, c->argv[0]);
	if (strcmp(c->argv[0], "list") && strcmp(c->argv[0], "show") &&
		strcmp(c->argv[0], "edit") && strcmp(c->argv[0], "history") &&
		strcmp(c->argv[0], "search"))
		return cli_usage_error(c,
			"case list|show|edit|history|search|share|unshare|transfer|assign|due",
			"unknown case command '%s'", c->argv[0]);
	return cmd_case(c);
}
