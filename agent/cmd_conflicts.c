/*
 * agent/cmd_conflicts.c - `conflicts [ID]` and `conflicts resolve`: the versions a merge kept
 * because two people changed one value, and a person's decision about them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casedb.h"
#include "commands.h"

#define N_OPTS(o) (sizeof(o) / sizeof((o)[0]))

static const char conflicts_help[] =
	"usage: fieldsync-agent conflicts [ID]\n"
	"       fieldsync-agent conflicts resolve ID PATH (--mine | --theirs | --value V)\n"
	"                                 [--version NAME]\n"
	"\n"
	"Without ID: the cases with unresolved conflicts.  With ID: each contested value (PATH,\n"
	"e.g. fields/status or narrative.md), the value in place and every kept version with its\n"
	"author.  'resolve' settles PATH: --mine keeps the value in place, --theirs takes the kept\n"
	"version (name it with --version when there are several), --value sets V; the kept\n"
	"versions of PATH are then removed.  A resolution is a new, audited edit that syncs like\n"
	"any other.\n";

struct listing {
	json_t *rows;
	int json;
	long count;
};

static int list_row(void *ctx, const struct index_row *r)
{
	struct listing *l = ctx;

	if (r->conflicts <= 0)
		return 0;
	l->count++;
	if (l->json)
		json_array_append_new(l->rows, json_pack("{s:s, s:s, s:i}", "id", r->case_id, "title",
						       r->title, "conflicts", r->conflicts));
	else
		printf("%-22s %3d  %s\n", r->case_id, r->conflicts, r->title);
	return 0;
}

static int list_all(struct cli *c, struct node *n)
{
	struct listing l = {json_array(), c->json, 0};
	int rc = CLI_EXIT_OK;

	if (casedb_list(n, NULL, list_row, &l))
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:O}", "cases", l.rows));
	else if (!l.count)
		printf("no unresolved conflicts\n");
	json_decref(l.rows);
	return rc;
}

/* The value a path holds in the case now ("" when unset). */
static const char *current_value(const struct casefile_view *v, const char *path)
{
	int k;

	if (!strcmp(path, "narrative.md"))
		return v->narrative;
	if (!strncmp(path, "fields/", 7)) {
		k = schema_index(path + 7);
		if (k >= 0 && v->fields[k])
			return v->fields[k];
	}
	return "";
}

static int show_case(struct cli *c, struct node *n, const char *id)
{
	struct casefile_view v;
	json_t *list = json_array();
	size_t i;
	int rc = CLI_EXIT_OK;

	if (casedb_view(&v, n, id)) {
		json_decref(list);
		return cli_fail(c);
	}
	for (i = 0; i < v.nconflicts; i++) {
		const struct casefile_conflict *k = &v.conflicts[i];

		if (c->json)
			json_array_append_new(list,
				json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "path", k->path, "version",
					k->name, "value", k->value, "author", k->author, "commit",
					k->commit, "current", current_value(&v, k->path)));
		else
			printf("%s\n  in place:  %s\n  kept %s by %s (commit %.12s):\n    %s\n\n",
				k->path, current_value(&v, k->path), k->name, k->author, k->commit,
				k->value);
	}
	if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:O}", "id", v.id, "conflicts", list));
	else if (!v.nconflicts)
		printf("case %s has no unresolved conflicts\n", v.id);
	json_decref(list);
	casefile_view_release(&v);
	return rc;
}

/* The kept version of `path` that --theirs means. */
static int pick_version(const char **value, const struct casefile_view *v, const char *path,
	const char *name)
{
	const char *found = NULL;
	size_t i, count = 0;

	for (i = 0; i < v->nconflicts; i++) {
		if (strcmp(v->conflicts[i].path, path))
			continue;
		count++;
		if (!name || !strcmp(v->conflicts[i].name, name))
			found = v->conflicts[i].value;
	}
	if (!count)
		return err_set(ERR_NOTFOUND, "case '%s' has no conflict at '%s'", v->id, path);
	if (name && !found)
		return err_set(ERR_NOTFOUND, "no kept version '%s' at '%s'", name, path);
	if (!name && count > 1)
		return err_set(ERR_INVALID, "'%s' has %zu kept versions: name one with --version",
			path, count);
	*value = found;
	return 0;
}

/* Build the resolving edit: the chosen value (if it changes anything) and the settled path. */
static int resolution(struct casefile_change *chg, const struct casefile_view *v,
	const char *path, const char *value)
{
	memset(chg, 0, sizeof(*chg));
	chg->resolve = path;
	if (!value)
		return 0;
	if (!strcmp(path, "narrative.md")) {
		chg->narrative = value;
		chg->narrative_len = strlen(value);
	} else if (!strncmp(path, "fields/", 7) && schema_field(path + 7)) {
		chg->sets[0].name = path + 7;
		chg->sets[0].value = value;
		chg->nsets = 1;
	} else {
		return err_set(ERR_INVALID, "'%s' can only be settled with --mine", path);
	}
	(void)v;
	return 0;
}

static int resolve(struct cli *c, struct node *n, const char *id, const char *path,
	struct cli_opt *opts, size_t nopts)
{
	static const char usage[] =
		"conflicts resolve ID PATH (--mine | --theirs | --value V) [--version NAME]";
	const char *mine = cli_opt(opts, nopts, "--mine"), *theirs = cli_opt(opts, nopts, "--theirs");
	const char *value = cli_opt(opts, nopts, "--value"), *version = cli_opt(opts, nopts, "--version");
	struct casefile_view v;
	struct casefile_change chg;
	int error;

	if ((mine != NULL) + (theirs != NULL) + (value != NULL) != 1)
		return cli_usage_error(c, usage, "give one of --mine, --theirs, --value");
	error = casedb_view(&v, n, id);
	if (error)
		return cli_fail(c);
	if (theirs)
		error = pick_version(&value, &v, path, version);
	else if (mine)
		error = pick_version(&value, &v, path, NULL) == ERR_NOTFOUND ? ERR_NOTFOUND : 0;
	if (mine)
		value = NULL;
	if (!error)
		error = resolution(&chg, &v, path, value);
	if (!error)
		error = casedb_edit(n, id, &chg, NULL);
	casefile_view_release(&v);
	if (error)
		return cli_fail(c);
	if (c->json)
		return cli_print_json(json_pack("{s:s, s:s, s:b}", "id", id, "path", path, "resolved",
			1));
	printf("%s: %s settled\n", id, path);
	return CLI_EXIT_OK;
}

int cmd_conflicts(struct cli *c)
{
	struct cli_opt opts[] = {{"--mine", 0, 0, {0}, 0}, {"--theirs", 0, 0, {0}, 0},
		{"--value", 1, 0, {0}, 0}, {"--version", 1, 0, {0}, 0}};
	struct node *n = NULL;
	const char *pos[3];
	int npos, rc;

	if (cli_help(c, conflicts_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "conflicts [ID] | conflicts resolve ID PATH ...", opts, N_OPTS(opts),
		pos, 3, &npos);
	if (rc)
		return rc;
	if (npos >= 1 && !strcmp(pos[0], "resolve") && npos != 3)
		return cli_usage_error(c, "conflicts resolve ID PATH (--mine | --theirs | --value V)",
			"resolve needs a case id and a path");
	if (npos > 1 && strcmp(pos[0], "resolve"))
		return cli_usage_error(c, "conflicts [ID]", "unexpected '%s'", pos[1]);
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (npos == 0)
		rc = list_all(c, n);
	else if (npos == 1)
		rc = show_case(c, n, pos[0]);
	else
		rc = resolve(c, n, pos[1], pos[2], opts, N_OPTS(opts));
	node_free(n);
	return rc;
}
