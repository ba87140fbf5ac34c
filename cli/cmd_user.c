/* cli/cmd_user.c - user add|passwd|remove|list, the same on a device and at HQ. */
#include "cmd_user.h"

#include <stdio.h>
#include <string.h>

#include "node/users.h"

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
	struct buf own = BUF_INIT(NODE_PASSPHRASE_MAX + 2),
		   fresh = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	char prompt[128];
	int error;

	snprintf(prompt, sizeof(prompt), "New passphrase for %s: ", name);
	error = c->own_secret ? c->own_secret(&own, c)
			      : cli_passphrase(&own, c, "Your passphrase: ", 0);
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

int cli_user_command(struct cli *c, const char *help)
{
	static const char usage[] = "user add|passwd|remove|list [NAME] [--role ROLE]";
	struct cli_opt opts[] = {{"--role", 1, 0, {0}, 0}};
	struct node *n = NULL;
	const char *pos[2], *role, *name;
	json_t *list = NULL;
	int npos, rc, error;

	if (cli_help(c, help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 2, &npos);
	if (rc)
		return rc;
	if (npos < 1)
		return cli_usage_error(c, usage, "which user command?");
	role = cli_opt(opts, CLI_N_OPTS(opts), "--role");
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
		error = node_check_role(n, role) ? err_code()
						 : user_add_or_passwd(c, n, name, role);
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
