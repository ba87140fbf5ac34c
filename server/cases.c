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

static const char case_help[] =
	"usage: fieldsync-server case list [--status S] [--office O] [--category C] [--assignee U]\n"
	"                                  [--subject-id ID] [--received-from DATE]\n"
	"                                  [--received-to DATE] [--overdue]\n"
	"                                  [--sort id|received|due|updated|priority] [--csv]\n"
	"       fieldsync-server case show ID | history ID | search QUERY\n"
	"       fieldsync-server case edit ID [--set FIELD=VALUE]... [--narrative-file F]\n"
	"       fieldsync-server case share ID OFFICE\n"
	"       fieldsync-server case transfer ID OFFICE\n"
	"       fieldsync-server case assign ID --to USER\n"
	"       fieldsync-server case due ID DATE\n"
	"\n"
	"HQ's view of every office's cases as last synced, and HQ's own work on them; every read\n"
	"and change is audited.  An HQ edit is a commit like any other: offices receive it at\n"
	"their next sync and it merges with their work.  'share' lets OFFICE see and edit the\n"
	"case besides its owner; 'transfer' makes OFFICE the owner (the old owner no longer\n"
	"receives it unless it is shared back).  'assign' names the office user who works the\n"
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

static int transfer(struct node *n, const char *id, const char *office)
{
	struct casefile_change chg;
	int error = hqdb_office_active(n->store, office);

	memset(&chg, 0, sizeof(chg));
	chg.transfer = office;
	if (error)
		return node_audit_failure(n, "case.transfer", id, error);
	return casedb_edit(n, id, &chg, NULL);
}

static int share_or_transfer(struct cli *c, const char *what)
{
	struct node *n = NULL;
	char id[SCHEMA_CASE_ID_MAX + 1] = "", action[16];
	int rc = CLI_EXIT_OK, error;

	if (c->argc != 3)
		return cli_usage_error(c, "case share|transfer ID OFFICE", "%s needs ID and OFFICE",
			what);
	if (cli_open_node(&n, c))
		return cli_fail(c);
	snprintf(action, sizeof(action), "case.%s", what);
	error = node_require(n, NODE_PERM_SUPERVISE, action, c->argv[1]);
	if (!error)
		error = casedb_resolve(id, n, c->argv[1]);
	if (!error)
		error = !strcmp(what, "share") ? share(n, id, c->argv[2])
					       : transfer(n, id, c->argv[2]);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(
			json_pack("{s:s, s:s, s:s}", "id", id, what, c->argv[2], "status", "ok"));
	else
		printf("case %s %s %s\n", id,
			!strcmp(what, "share") ? "shared with" : "transferred to", c->argv[2]);
	node_free(n);
	return rc;
}

int cmd_server_case(struct cli *c)
{
	if (c->argc == 0 || cli_help(c, case_help)) {
		if (c->argc == 0)
			return cli_usage_error(c,
				"case list|show|edit|history|search|share|transfer|assign|due",
				"which case command?");
		return CLI_EXIT_OK;
	}
	if (!strcmp(c->argv[0], "share") || !strcmp(c->argv[0], "transfer"))
		return share_or_transfer(c, c->argv[0]);
	if (!strcmp(c->argv[0], "assign") || !strcmp(c->argv[0], "due"))
		return hq_case_supervise(c, c->argv[0]);
	if (strcmp(c->argv[0], "list") && strcmp(c->argv[0], "show") &&
		strcmp(c->argv[0], "edit") && strcmp(c->argv[0], "history") &&
		strcmp(c->argv[0], "search"))
		return cli_usage_error(c,
			"case list|show|edit|history|search|share|transfer|assign|due",
			"unknown case command '%s'", c->argv[0]);
	return cmd_case(c);
}
