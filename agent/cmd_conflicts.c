/*
 * agent/cmd_conflicts.c - `conflicts [ID]` and `conflicts resolve`: the versions a merge kept
 * because two people changed one value (or the same lines of a narrative), and a person's
 * decision about them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node/casedb.h"
#include "commands.h"
#include "base/crypto.h"

/* Lines of narrative shown around a region. */
#define CONTEXT_LINES 3

static const char conflicts_help[] =
	"usage: fieldsync-agent conflicts [ID]\n"
	"       fieldsync-agent conflicts resolve ID PATH (--mine | --theirs | --keep-current |\n"
	"                                 --take N | --value V | --edit) [--version NAME|N]\n"
	"\n"
	"Without ID: the cases with unresolved conflicts.  With ID: every kept version, numbered\n"
	"[1], [2], ...: a field (PATH fields/NAME) with the value in place and the kept value, or\n"
	"one conflicting region of the narrative (PATH narrative.md) as a unified diff of the\n"
	"version in place and of the kept version against the base, with a few lines of context,\n"
	"and who wrote each.  Edits of a narrative that did not overlap are already merged.\n"
	"\n"
	"'resolve' settles PATH (the version named by --version NAME or its number, when PATH\n"
	"has several):\n"
	"  --mine          the version written on this device (else by you): the kept one if it\n"
	"                  was written here, the one in place if that was\n"
	"  --theirs        the version not written here: the kept one unless it is yours\n"
	"  --keep-current  the version in place, whoever wrote it\n"
	"  --take N        kept version number N (as listed by 'conflicts ID')\n"
	"  --value V       V (for a narrative region: V replaces the region's lines)\n"
	"  --edit          opens $EDITOR on the narrative with both versions of the region\n"
	"                  between conflict markers; the saved file, markers removed, is the\n"
	"                  new narrative\n"
	"A field's kept versions are all settled at once; a narrative region alone (the other\n"
	"regions stay).  A resolution is a new, audited edit that syncs like any other.\n";

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

/* Byte offset of the start of 1-based line `line` of `text` (its end if shorter). */
static size_t line_offset(const char *text, size_t line)
{
	const char *p = text;

	while (line > 1 && *p) {
		const char *nl = strchr(p, '\n');

		p = nl ? nl + 1 : p + strlen(p);
		line--;
	}
	return (size_t)(p - text);
}

static size_t line_of(const char *text, size_t off)
{
	size_t i, line = 1;

	for (i = 0; i < off && text[i]; i++)
		line += text[i] == '\n';
	return line;
}

/*
 * Where a region's lines in place stand in the narrative now: the occurrence at a line start
 * nearest the line it was kept at (edits since may have moved it).  0 when they are gone.
 */
static int locate(size_t *off, size_t *line, const char *narrative,
	const struct casefile_conflict *k)
{
	size_t want = line_offset(narrative, k->line), len = strlen(k->current), best = 0;
	size_t dist = (size_t)-1;
	const char *p;

	if (!len) { /* nothing in place: the region is a point */
		*off = want;
		*line = line_of(narrative, want);
		return 1;
	}
	for (p = narrative; (p = strstr(p, k->current)) != NULL; p++) {
		size_t o = (size_t)(p - narrative), d = o > want ? o - want : want - o;

		if ((o == 0 || narrative[o - 1] == '\n') && d < dist) {
			dist = d;
			best = o;
		}
	}
	if (dist == (size_t)-1)
		return 0;
	*off = best;
	*line = line_of(narrative, best);
	return 1;
}

/* The narrative with the region at `off` (its current lines) replaced by `text`. */
static int splice(struct buf *out, const char *narrative, size_t off, size_t cur_len,
	const char *text, size_t text_len)
{
	int error = buf_put(out, narrative, off);

	if (!error)
		error = buf_put(out, text, text_len);
	if (!error && text_len && text[text_len - 1] != '\n' && narrative[off + cur_len])
		error = buf_put(out, "\n", 1);
	if (!error)
		error = buf_puts(out, narrative + off + cur_len);
	return error;
}

/* Up to CONTEXT_LINES lines before `off` and after `end` in `text`, as offsets. */
static void context_of(size_t *from, size_t *to, const char *text, size_t off, size_t end)
{
	size_t n, len = strlen(text);

	for (*from = off, n = 0; *from > 0 && n < CONTEXT_LINES; n++) {
		--*from; /* the newline that ends the line before */
		while (*from > 0 && text[*from - 1] != '\n')
			--*from;
	}
	for (*to = end, n = 0; *to < len && n < CONTEXT_LINES; ++*to)
		n += text[*to] == '\n';
}

/* base -> version of one region, inside the narrative's context lines. */
static int region_diff(struct buf *out, const char *narrative, size_t off, size_t cur_len,
	const char *base, const char *version, const char *label)
{
	struct buf a = BUF_INIT(2 * SCHEMA_NARRATIVE_MAX), b = BUF_INIT(2 * SCHEMA_NARRATIVE_MAX);
	size_t from, to;
	int error;

	context_of(&from, &to, narrative, off, off + cur_len);
	error = buf_put(&a, narrative + from, off - from);
	if (!error)
		error = buf_puts(&a, base);
	if (!error)
		error = buf_put(&a, narrative + off + cur_len, to - off - cur_len);
	if (!error)
		error = buf_put(&b, narrative + from, off - from);
	if (!error)
		error = buf_puts(&b, version);
	if (!error)
		error = buf_put(&b, narrative + off + cur_len, to - off - cur_len);
	if (!error)
		error = casefile_unified(out, a.ptr ? a.ptr : "", a.len, b.ptr ? b.ptr : "", b.len,
			"base", label, CONTEXT_LINES, line_of(narrative, from));
	buf_wipe_release(&a);
	buf_wipe_release(&b);
	return error;
}

/* 2: written on this device, 1: by this user elsewhere, 0: neither (or unknown). */
static int written_here(const char *author, const struct node *n)
{
	const char *open = strstr(author, " ("), *slash = strrchr(author, '/');
	size_t dl = strlen(n->device), ul = strlen(n->user);

	if (!open || !slash || slash < open)
		return 0;
	if (!strncmp(slash + 1, n->device, dl) && slash[1 + dl] == ')')
		return 2;
	return (size_t)(open - author) == ul && !strncmp(author, n->user, ul);
}

/* "kept", "current" or NULL: which version --mine means for record `k`. */
static const char *mine_of(const struct casefile_conflict *k, const struct node *n)
{
	int kept = written_here(k->author, n), cur = written_here(k->current_author, n);

	if (kept > cur)
		return "kept";
	if (cur > kept || (cur && cur == kept))
		return "current";
	return NULL;
}

static json_t *region_json(const struct casefile_conflict *k, size_t line, const char *diff)
{
	return json_pack("{s:i, s:s, s:s, s:s, s:s}", "line", (json_int_t)line, "base", k->base,
		"in_place", k->current, "other", k->value, "diff", diff);
}

static int show_one(struct buf *out, json_t *list, size_t num, const struct casefile_view *v,
	const struct casefile_conflict *k, const struct node *n)
{
	const char *mine = mine_of(k, n), *cur = current_value(v, k->path);
	size_t off = 0, line = k->line;
	int found = k->region && locate(&off, &line, v->narrative, k), error = 0;
	struct buf diff = BUF_INIT(8 * SCHEMA_NARRATIVE_MAX);
	json_t *row;

	if (found)
		error = region_diff(&diff, v->narrative, off, strlen(k->current), k->base,
			k->current, "in place");
	if (found && !error)
		error = region_diff(&diff, v->narrative, off, strlen(k->current), k->base,
			k->value, "kept");
	if (error)
		goto out;
	row = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:b}", "number",
		(json_int_t)num, "path", k->path, "version", k->name, "value", k->value, "author",
		k->author, "commit", k->commit, "current", k->region ? k->current : cur,
		"current_author", k->current_author, "mine", mine, "region", k->region);
	if (row && k->region)
		json_object_set_new(row, "region", region_json(k, line, buf_cstr(&diff)));
	json_array_append_new(list, row);
	if (!k->region) {
		error = buf_printf(out, "[%zu] %s (version %s)\n  in place: %s%s%s\n  kept:     %s"
			" by %s (commit %.12s)\n\n", num, k->path, k->name, cur,
			k->current_author[0] ? " by " : "", k->current_author, k->value, k->author,
			k->commit);
		goto out;
	}
	error = buf_printf(out, "[%zu] %s line %zu (version %s)%s\n  in place by %s\n"
		"  kept     by %s (commit %.12s)\n", num, k->path, line, k->name,
		found ? "" : " (its lines in place have changed since)",
		k->current_author[0] ? k->current_author : "(not recorded)", k->author, k->commit);
	if (!error)
		error = buf_printf(out, "%s\n", buf_cstr(&diff));
out:
	buf_wipe_release(&diff);
	return error;
}

static int show_case(struct cli *c, struct node *n, const char *id)
{
	struct buf out = BUF_INIT(64u * SCHEMA_NARRATIVE_MAX);
	struct casefile_view v;
	json_t *list = json_array();
	size_t i;
	int error = 0, rc = CLI_EXIT_OK;

	if (casedb_view(&v, n, id)) {
		json_decref(list);
		return cli_fail(c);
	}
	for (i = 0; i < v.nconflicts && !error; i++)
		error = show_one(&out, list, i + 1, &v, &v.conflicts[i], n);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:O}", "id", v.id, "conflicts", list));
	else if (!v.nconflicts)
		printf("case %s has no unresolved conflicts\n", v.id);
	else
		fputs(buf_cstr(&out), stdout);
	json_decref(list);
	buf_wipe_release(&out);
	casefile_view_release(&v);
	return rc;
}

/* A number 1..max, or 0. */
static size_t parse_number(const char *s, size_t max)
{
	size_t v = 0;

	if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 6)
		return 0;
	for (; *s; s++)
		v = v * 10 + (size_t)(*s - '0');
	return v <= max ? v : 0;
}

/* The kept version of `path` meant: --take N, --version NAME|N, or the only one. */
static int pick(const struct casefile_conflict **out, const struct casefile_view *v,
	const char *path, const char *version, const char *take)
{
	const struct casefile_conflict *found = NULL;
	size_t i, count = 0, num;

	if (take || version) {
		const char *sel = take ? take : version;

		num = parse_number(sel, v->nconflicts);
		for (i = 0; i < v->nconflicts && !found; i++)
			if (num == i + 1 || (!take && !strcmp(v->conflicts[i].name, sel)))
				found = &v->conflicts[i];
		if (!found)
			return err_set(ERR_NOTFOUND, "case '%s' has no kept version '%s'", v->id, sel);
		if (strcmp(found->path, path))
			return err_set(ERR_INVALID, "kept version '%s' is of '%s', not '%s'", sel,
				found->path, path);
		*out = found;
		return 0;
	}
	for (i = 0; i < v->nconflicts; i++) {
		if (strcmp(v->conflicts[i].path, path))
			continue;
		count++;
		found = &v->conflicts[i];
	}
	if (!count)
		return err_set(ERR_NOTFOUND, "case '%s' has no conflict at '%s'", v->id, path);
	if (count > 1)
		return err_set(ERR_INVALID,
			"'%s' has %zu kept versions: name one with --version NAME or its number",
			path, count);
	*out = found;
	return 0;
}

/* Run $EDITOR on `file`. */
static int run_editor(const char *file)
{
	const char *editor = getenv("EDITOR");
	pid_t pid;
	int status = 0;

	if (!editor || !*editor)
		return err_set(ERR_INVALID, "--edit needs the EDITOR environment variable");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return err_set(ERR_GENERIC, "cannot start the editor");
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "$EDITOR \"$1\"", "sh", file, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(ERR_GENERIC, "the editor '%s' failed", editor);
	return 0;
}

static int has_marker(const char *text)
{
	static const char *const m[] = {"<<<<<<<", "|||||||", "=======", ">>>>>>>"};
	const char *p = text;
	size_t i;

	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		for (i = 0; i < 4; i++)
			if (!strncmp(p, m[i], 7))
				return 1;
	return 0;
}

/* The narrative edited by a person, starting from both versions of the region between markers. */
static int edit_region(struct buf *out, const char *narrative, size_t off,
	const struct casefile_conflict *k)
{
	struct buf draft = BUF_INIT(4 * SCHEMA_NARRATIVE_MAX);
	char file[] = "/tmp/fieldsync-resolve-XXXXXX";
	size_t cur = strlen(k->current);
	FILE *f = NULL;
	int fd, error;

	error = buf_put(&draft, narrative, off);
	if (!error)
		error = buf_printf(&draft, "<<<<<<< in place (%s)\n%s||||||| base\n%s=======\n%s"
			">>>>>>> kept (%s)\n", k->current_author, k->current, k->base, k->value,
			k->author);
	if (!error)
		error = buf_puts(&draft, narrative + off + cur);
	if (error)
		return error;
	fd = mkstemp(file);
	if (fd < 0) {
		error = err_set(ERR_GENERIC, "cannot create a file to edit");
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f || fwrite(draft.ptr, 1, draft.len, f) != draft.len || fclose(f) != 0) {
		if (!f)
			close(fd);
		error = err_set(ERR_GENERIC, "cannot write '%s'", file);
		goto out;
	}
	error = run_editor(file);
	if (!error)
		error = cli_read_file(out, file, SCHEMA_NARRATIVE_MAX);
	if (!error && has_marker(buf_cstr(out)))
		error = err_set(ERR_INVALID, "the edited narrative still holds conflict markers");
out:
	if (fd >= 0) {
		/* overwrite the case text before the file goes */
		f = fopen(file, "r+");
		if (f) {
			size_t i;

			for (i = 0; i < draft.len + out->len; i++)
				fputc(0, f);
			fclose(f);
		}
		unlink(file);
	}
	buf_wipe_release(&draft);
	return error;
}

/* The options of a resolution. */
struct choice {
	const char *mine, *theirs, *keep, *take, *value, *edit, *version;
};

/* The text that settles record `k` (NULL: the version in place). */
static int chosen_text(const char **text, const struct casefile_conflict *k,
	const struct choice *ch, const struct node *n)
{
	const char *mine = mine_of(k, n);

	*text = NULL;
	if (ch->value)
		*text = ch->value;
	else if (ch->take)
		*text = k->value;
	else if (ch->mine || ch->theirs) {
		if (!mine)
			return err_set(ERR_INVALID,
				"neither version of '%s' was written on this device or by '%s': "
				"choose with --keep-current, --take N or --value", k->path, n->user);
		if (!strcmp(mine, ch->mine ? "kept" : "current"))
			*text = k->value;
	}
	return 0;
}

/* Build the resolving edit of record `k` into *chg (texts in `narrative`). */
static int resolution(struct casefile_change *chg, struct buf *narrative,
	const struct casefile_view *v, const struct casefile_conflict *k, const struct choice *ch,
	const struct node *n)
{
	const char *text = NULL;
	size_t off = 0, line = 0;
	int error;

	memset(chg, 0, sizeof(*chg));
	chg->resolve = k->path;
	if (strcmp(k->path, "narrative.md")) {
		if (ch->edit)
			return err_set(ERR_INVALID, "--edit is for narratives; use --value");
		error = chosen_text(&text, k, ch, n);
		if (error || !text)
			return error;
		if (strncmp(k->path, "fields/", 7) || !schema_field(k->path + 7))
			return err_set(ERR_INVALID, "'%s' can only be settled with --keep-current",
				k->path);
		chg->sets[0].name = k->path + 7;
		chg->sets[0].value = text;
		chg->nsets = 1;
		return 0;
	}
	chg->resolve_version = k->name; /* one region (or one whole version) only */
	if (k->region && !locate(&off, &line, v->narrative, k) && !ch->keep)
		return err_set(ERR_CONFLICT,
			"the lines of region %s changed since it was kept: use --edit or edit the "
			"narrative, then --keep-current", k->name);
	if (ch->edit && !k->region)
		return err_set(ERR_INVALID, "this kept narrative is whole: use --take or --value");
	if (ch->edit)
		error = edit_region(narrative, v->narrative, off, k);
	else
		error = chosen_text(&text, k, ch, n);
	if (error || (!ch->edit && !text))
		return error;
	if (!ch->edit && k->region)
		error = splice(narrative, v->narrative, off, strlen(k->current), text,
			strlen(text));
	else if (!ch->edit)
		error = buf_puts(narrative, text);
	if (error)
		return error;
	chg->narrative = buf_cstr(narrative);
	chg->narrative_len = narrative->len;
	return 0;
}

static int resolve(struct cli *c, struct node *n, const char *id, const char *path,
	const struct choice *ch)
{
	static const char usage[] = "conflicts resolve ID PATH (--mine | --theirs | "
				    "--keep-current | --take N | --value V | --edit)";
	struct buf narrative = BUF_INIT(4 * SCHEMA_NARRATIVE_MAX);
	const struct casefile_conflict *k = NULL;
	struct casefile_view v;
	struct casefile_change chg;
	int error, rc = CLI_EXIT_OK;

	if ((ch->mine != NULL) + (ch->theirs != NULL) + (ch->keep != NULL) + (ch->take != NULL) +
			(ch->value != NULL) + (ch->edit != NULL) != 1)
		return cli_usage_error(c, usage, "give one of --mine, --theirs, --keep-current, "
						 "--take, --value, --edit");
	if (ch->take && ch->version)
		return cli_usage_error(c, usage, "--take names the version: no --version");
	error = casedb_view(&v, n, id);
	if (error)
		return cli_fail(c);
	if (ch->keep && !ch->version && strcmp(path, "narrative.md"))
		error = pick(&k, &v, path, NULL, NULL) == ERR_NOTFOUND ? ERR_NOTFOUND : 0;
	else
		error = pick(&k, &v, path, ch->version, ch->take);
	if (!error && !k) { /* --keep-current of a field with several versions: all of them */
		memset(&chg, 0, sizeof(chg));
		chg.resolve = path;
	} else if (!error) {
		error = resolution(&chg, &narrative, &v, k, ch, n);
	}
	if (!error)
		error = casedb_edit(n, id, &chg, NULL);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:s?, s:b}", "id", id, "path", path,
			"version", k ? k->name : NULL, "resolved", 1));
	else
		printf("%s: %s%s%s settled\n", id, path, k ? " version " : "", k ? k->name : "");
	casefile_view_release(&v);
	buf_wipe_release(&narrative);
	return rc;
}

int cmd_conflicts(struct cli *c)
{
	struct cli_opt opts[] = {{"--mine", 0, 0, {0}, 0}, {"--theirs", 0, 0, {0}, 0},
		{"--value", 1, 0, {0}, 0}, {"--version", 1, 0, {0}, 0},
		{"--keep-current", 0, 0, {0}, 0}, {"--take", 1, 0, {0}, 0}, {"--edit", 0, 0, {0}, 0}};
	struct choice ch;
	struct node *n = NULL;
	const char *pos[3];
	int npos, rc;

	if (cli_help(c, conflicts_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "conflicts [ID] | conflicts resolve ID PATH ...", opts, CLI_N_OPTS(opts),
		pos, 3, &npos);
	if (rc)
		return rc;
	if (npos >= 1 && !strcmp(pos[0], "resolve") && npos != 3)
		return cli_usage_error(c, "conflicts resolve ID PATH (--mine | --theirs | ...)",
			"resolve needs a case id and a path");
	if (npos > 1 && strcmp(pos[0], "resolve"))
		return cli_usage_error(c, "conflicts [ID]", "unexpected '%s'", pos[1]);
	ch.mine = opts[0].count ? "" : NULL;
	ch.theirs = opts[1].count ? "" : NULL;
	ch.value = cli_opt(opts, CLI_N_OPTS(opts), "--value");
	ch.version = cli_opt(opts, CLI_N_OPTS(opts), "--version");
	ch.keep = opts[4].count ? "" : NULL;
	ch.take = cli_opt(opts, CLI_N_OPTS(opts), "--take");
	ch.edit = opts[6].count ? "" : NULL;
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (npos == 0)
		rc = list_all(c, n);
	else if (npos == 1)
		rc = show_case(c, n, pos[0]);
	else
		rc = resolve(c, n, pos[1], pos[2], &ch);
	node_free(n);
	return rc;
}
