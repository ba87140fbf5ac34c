/* agent/cmd_node.c - init, user, audit, check and status. */
#include <stdio.h>
#include <string.h>

#include "casedb.h"
#include "commands.h"
#include "users.h"

#define N_OPTS(o) (sizeof(o) / sizeof((o)[0]))

static const char init_help[] =
	"usage: fieldsync-agent init --office CODE --user NAME [--home DIR]\n"
	"\n"
	"Create this device's encrypted store in the node directory, with NAME as its first\n"
	"admin.  The passphrase (at least 12 characters) is asked twice, or read from\n"
	"--passphrase-file / FIELDSYNC_PASSPHRASE.  The database key is random and exists on disk\n"
	"only wrapped under each user's passphrase (Argon2id + AES-256-GCM).\n";

int cmd_init(struct cli *c)
{
	struct cli_opt opts[] = {{"--office", 1, 0, {0}, 0}};
	struct buf pass = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	struct node *n = NULL;
	const char *pos[1], *home = NULL, *user = NULL, *office;
	int npos, rc;

	if (cli_help(c, init_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "init --office CODE --user NAME", opts, N_OPTS(opts), pos, 0, &npos);
	if (rc)
		return rc;
	office = cli_opt(opts, N_OPTS(opts), "--office");
	if (!office || !c->user)
		return cli_usage_error(c, "init --office CODE --user NAME",
			"init needs --office and --user");
	if (cli_home(&home, c) || cli_user(&user, c) ||
		cli_passphrase(&pass, c, "New passphrase for the admin: ", 1) ||
		node_init(&n, home, office, user, buf_cstr(&pass), pass.len, c->kdf)) {
		buf_wipe_release(&pass);
		return cli_fail(c);
	}
	buf_wipe_release(&pass);
	if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "home", home, "office",
			n->office, "device", n->device, "admin", n->user));
	else
		printf("initialised node for office %s in %s\ndevice %s, admin %s\n", n->office,
			home, n->device, n->user);
	node_free(n);
	return rc;
}

static const char user_help[] =
	"usage: fieldsync-agent user add NAME --role ROLE\n"
	"       fieldsync-agent user passwd [NAME]\n"
	"       fieldsync-agent user remove NAME\n"
	"       fieldsync-agent user list\n"
	"\n"
	"Roles: investigator and supervisor work cases; auditor reads the audit log; admin does\n"
	"everything, including managing users.  The new passphrase comes from\n"
	"--new-passphrase-file / FIELDSYNC_NEW_PASSPHRASE or is asked twice; your own passphrase\n"
	"(to unwrap the key for the new slot) as usual.  Adding a user, removing one or changing a\n"
	"passphrase rewrites one key slot; the database is not re-encrypted.\n";

static int print_user(void *ctx, const struct users_row *r)
{
	json_t *list = ctx;

	if (list)
		return json_array_append_new(list,
			       json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", r->name, "role",
				       r->role, "created_at", r->created_at, "created_by",
				       r->created_by, "locked", r->locked))
			? err_set(ERR_NOMEM, "out of memory")
			: 0;
	printf("%-20s %-13s %s by %s%s\n", r->name, r->role, r->created_at, r->created_by,
		r->locked ? "  LOCKED" : "");
	return 0;
}

static int user_add_or_passwd(struct cli *c, struct node *n, const char *name, const char *role)
{
	struct buf own = BUF_INIT(NODE_PASSPHRASE_MAX + 2), fresh = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	char prompt[128];
	int error;

	snprintf(prompt, sizeof(prompt), "New passphrase for %s: ", name);
	error = cli_passphrase(&own, c, "Your passphrase: ", 0);
	if (!error)
		error = cli_new_passphrase(&fresh, c, prompt);
	if (!error && role)
		error = users_add(n, buf_cstr(&own), own.len, name, role, buf_cstr(&fresh),
			fresh.len, c->kdf);
	else if (!error)
		error = users_passwd(n, buf_cstr(&own), own.len, name, buf_cstr(&fresh), fresh.len,
			c->kdf);
	buf_wipe_release(&own);
	buf_wipe_release(&fresh);
	return error;
}

int cmd_user(struct cli *c)
{
	static const char usage[] = "user add|passwd|remove|list [NAME] [--role ROLE]";
	struct cli_opt opts[] = {{"--role", 1, 0, {0}, 0}};
	struct node *n = NULL;
	const char *pos[2], *role, *name;
	json_t *list = NULL;
	int npos, rc, error;

	if (cli_help(c, user_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, N_OPTS(opts), pos, 2, &npos);
	if (rc)
		return rc;
	if (npos < 1)
		return cli_usage_error(c, usage, "which user command?");
	role = cli_opt(opts, N_OPTS(opts), "--role");
	if (!strcmp(pos[0], "add") && (npos != 2 || !role))
		return cli_usage_error(c, usage, "user add needs NAME and --role");
	if ((!strcmp(pos[0], "remove") && npos != 2) || (!strcmp(pos[0], "list") && npos != 1) ||
		(!strcmp(pos[0], "passwd") && npos > 2))
		return cli_usage_error(c, usage, "wrong number of arguments for 'user %s'", pos[0]);
	if (strcmp(pos[0], "add") && strcmp(pos[0], "remove") && strcmp(pos[0], "list") &&
		strcmp(pos[0], "passwd"))
		return cli_usage_error(c, usage, "unknown user command '%s'", pos[0]);
	if (cli_open_node(&n, c))
		return cli_fail(c);
	name = npos == 2 ? pos[1] : n->user;
	if (!strcmp(pos[0], "add"))
		error = user_add_or_passwd(c, n, name, role);
	else if (!strcmp(pos[0], "passwd"))
		error = user_add_or_passwd(c, n, name, NULL);
	else if (!strcmp(pos[0], "remove"))
		error = users_remove(n, name);
	else {
		list = c->json ? json_array() : NULL;
		error = users_foreach(n, print_user, list);
	}
	if (error) {
		json_decref(list);
		rc = cli_fail(c);
	} else if (list) {
		rc = cli_print_json(json_pack("{s:o}", "users", list));
	} else if (strcmp(pos[0], "list") != 0) {
		if (c->json)
			rc = cli_print_json(json_pack("{s:s, s:s}", "user", name, "done", pos[0]));
		else
			printf("user %s: %s done\n", name, pos[0]);
	}
	node_free(n);
	return rc;
}

static const char audit_help[] =
	"usage: fieldsync-agent audit log [--since TIME]\n"
	"\n"
	"Print this node's audit trail (auditor or admin): sequence, UTC time, user, action,\n"
	"target, outcome and detail.  TIME is an ISO 8601 prefix such as 2026-11-27 or\n"
	"2026-11-27T18:00.  With --json each entry carries 'leaf', the hex of the exact bytes\n"
	"hashed for its RFC 6962 leaf, so anyone can recompute the tree.  Reading the log is itself\n"
	"audited.\n";

static int print_entry(void *ctx, const struct audit_record *r)
{
	json_t *list = ctx, *doc;
	json_error_t jerr;
	char hex[2 * AUDIT_ENTRY_MAX + 1];

	doc = json_loadb((const char *)r->entry, r->entry_len, 0, &jerr);
	if (!doc)
		return err_set(ERR_CORRUPT, "audit entry %llu is not valid JSON",
			(unsigned long long)r->seq);
	if (list) {
		crypto_hex(hex, r->entry, r->entry_len);
		json_object_set_new(doc, "leaf", json_string(hex));
		crypto_hex(hex, r->leaf, 32);
		json_object_set_new(doc, "leaf_hash", json_string(hex));
		json_array_append_new(list, doc);
		return 0;
	}
	printf("%6llu  %s  %-12s %-14s %-16s %-8s %s\n", (unsigned long long)r->seq, r->time,
		r->user[0] ? r->user : "-", r->action, r->target[0] ? r->target : "-", r->outcome,
		json_string_value(json_object_get(doc, "detail")));
	json_decref(doc);
	return 0;
}

int cmd_audit(struct cli *c)
{
	static const char usage[] = "audit log [--since TIME]";
	struct cli_opt opts[] = {{"--since", 1, 0, {0}, 0}};
	struct node *n = NULL;
	const char *pos[1], *since;
	json_t *list = NULL;
	int npos, rc, error;

	if (cli_help(c, audit_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, N_OPTS(opts), pos, 1, &npos);
	if (rc)
		return rc;
	if (npos != 1 || strcmp(pos[0], "log") != 0)
		return cli_usage_error(c, usage, "expected 'audit log'");
	since = cli_opt(opts, N_OPTS(opts), "--since");
	if (since && (strlen(since) > 32 || schema_check_text("--since", since, strlen(since), 32)))
		return cli_usage_error(c, usage, "bad --since value");
	if (cli_open_node(&n, c))
		return cli_fail(c);
	error = node_require(n, NODE_PERM_AUDIT_READ, "audit.read", "");
	/* Reading the log is an event in it, recorded before the read so the output shows it. */
	if (!error)
		error = node_audit(n, "audit.read", "", "success", since ? since : NULL);
	if (!error) {
		list = c->json ? json_array() : NULL;
		error = audit_foreach(n->store, since, NULL, print_entry, list);
	}
	if (error) {
		json_decref(list);
		rc = cli_fail(c);
	} else if (list) {
		rc = cli_print_json(json_pack("{s:o}", "entries", list));
	}
	node_free(n);
	return rc;
}

static const char check_help[] =
	"usage: fieldsync-agent check\n"
	"\n"
	"Verify the store: SQLite integrity, every object re-hashed, every object reachable from\n"
	"a case head present, derived tables equal to the heads, audit leaves.  Exits 1 naming\n"
	"the first problem.\n";

int cmd_check(struct cli *c)
{
	struct casedb_check_report rep;
	struct node *n = NULL;
	const char *pos[1];
	int npos, rc;

	if (cli_help(c, check_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "check", NULL, 0, pos, 0, &npos);
	if (rc)
		return rc;
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (casedb_check(&rep, n)) {
		rc = cli_fail(c);
	} else if (c->json) {
		rc = cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I}", "ok", 1, "cases",
			(json_int_t)rep.cases, "objects", (json_int_t)rep.objects, "commits",
			(json_int_t)rep.commits, "audit_entries", (json_int_t)rep.audit_entries));
	} else {
		printf("ok: %lld cases, %lld commits, %lld objects, %llu audit entries\n", rep.cases,
			rep.commits, rep.objects, (unsigned long long)rep.audit_entries);
	}
	node_free(n);
	return rc;
}

static const char status_help[] =
	"usage: fieldsync-agent status\n"
	"\n"
	"Show this node's identity (office, device), the logged-on user and role, the number of\n"
	"cases and unresolved conflicts, and the sync state.\n";

static int count(long long *out, struct node *n, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int error = store_prepare(&st, n->store, sql);

	if (error)
		return error;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		error = store_error(n->store, "cannot count");
	sqlite3_finalize(st);
	return error;
}

int cmd_status(struct cli *c)
{
	struct node *n = NULL;
	const char *pos[1];
	long long cases = 0, conflicts = 0;
	int npos, rc;

	if (cli_help(c, status_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "status", NULL, 0, pos, 0, &npos);
	if (rc)
		return rc;
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (count(&cases, n, "SELECT count(*) FROM case_heads") ||
		count(&conflicts, n, "SELECT COALESCE(SUM(conflicts), 0) FROM case_index") ||
		node_audit(n, "node.status", "", "success", NULL)) {
		rc = cli_fail(c);
	} else if (c->json) {
		rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "office",
			n->office, "device", n->device, "user", n->user, "role", n->role, "cases",
			(json_int_t)cases, "conflicts", (json_int_t)conflicts, "sync", "not enrolled"));
	} else {
		printf("office     %s\ndevice     %s\nuser       %s (%s)\ncases      %lld\n"
		       "conflicts  %lld unresolved\nsync       not enrolled with a server\n",
			n->office, n->device, n->user, n->role, cases, conflicts);
	}
	node_free(n);
	return rc;
}
