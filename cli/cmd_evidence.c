/* cli/cmd_evidence.c - the audited evidence commands, on any node (see cmd_evidence.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/casedb.h"
#include "node/evidb.h"
#include "cmd_evidence.h"

static const char evidence_help[] =
	"usage: evidence add ID FILE --description D [--source S] [--collected-at ISO8601]\n"
	"                         [--location L] [--max-size BYTES]\n"
	"       evidence list ID\n"
	"       evidence show ID EVID\n"
	"       evidence get ID EVID --out FILE\n"
	"       evidence custody ID EVID --action ACTION [--to PERSON] --location L --reason R\n"
	"       evidence export ID [EVID...] --bag DIR\n"
	"       evidence verify ID [EVID]\n"
	"\n"
	"Evidence items are files attached to a case: split into 1 MiB chunks kept once each (by\n"
	"SHA-256) inside the encrypted store, their SHA-256 fixed at intake and re-checked on every\n"
	"read, transfer and export.  'add' prints the item's id and SHA-256 (a progress line on a\n"
	"terminal); an empty file is allowed; a file over --max-size (or FIELDSYNC_EVIDENCE_MAX,\n"
	"default 64 GiB; suffixes K, M, G) is refused.  'list' shows id, name, size, SHA-256,\n"
	"custodian and state; 'show' the metadata and the whole custody log.  'get' writes the\n"
	"original bytes to a new FILE, verified while written.  'custody' appends an event: ACTION\n"
	"is transfer, check-out, check-in, examine, release or dispose (--to defaults to you).\n"
	"'export' writes a BagIt 1.0 bag (RFC 8493) that standard tools verify, with the custody\n"
	"log, the audit entries about the items and their inclusion proof in this node's audit\n"
	"tree (custody-log.json).  'verify' re-hashes every stored chunk and item and names the\n"
	"first bad one.  Every one of these is recorded in the audit trail.  --json on all.\n";

static const char usage[] = "evidence add|list|show|get|custody|export|verify ID ...";

/* A size with an optional K, M or G suffix (powers of 1024). */
static int parse_size(uint64_t *out, const char *s)
{
	uint64_t v = 0, mult = 1;
	size_t i, n = strlen(s);

	if (n && (s[n - 1] == 'K' || s[n - 1] == 'M' || s[n - 1] == 'G')) {
		mult = s[n - 1] == 'K'	 ? 1024u
		       : s[n - 1] == 'M' ? 1024u * 1024
					 : 1024u * 1024 * 1024;
		n--;
	}
	if (!n || n > 15)
		return err_set(ERR_INVALID, "'%s' is not a size in bytes", s);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return err_set(ERR_INVALID, "'%s' is not a size in bytes", s);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v * mult;
	return 0;
}

struct progress {
	const char *what;
	int tty;
	int shown;
	int64_t last_ms;
};

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	int64_t now = hlc_now_ms();

	if (!p->tty || (now - p->last_ms < 200 && done < total))
		return;
	p->last_ms = now;
	p->shown = 1;
	fprintf(stderr, "\r%s: %.1f of %.1f MiB   ", p->what, (double)done / 1048576.0,
		(double)total / 1048576.0);
	fflush(stderr);
}

static void end_progress(const struct progress *p)
{
	if (p->shown)
		fputc('\n', stderr);
}

static json_t *event_json(const struct evidence_event *e)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", e->id,
		"action", e->action, "by", e->by, "device", e->device, "office", e->office, "time",
		e->time, "from", e->from, "to", e->to, "location", e->location, "reason",
		e->reason);
}

static json_t *item_json(const struct evidence_item *it, int with_log)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "id", it->id, "name", it->name,
		"size", (json_int_t)it->size, "sha256", it->sha256, "custodian", it->custodian,
		"state", it->state);
	json_t *log;
	size_t i;

	if (!with_log || !o)
		return o;
	log = json_array();
	for (i = 0; i < it->nevents; i++)
		json_array_append_new(log, event_json(&it->events[i]));
	json_object_set_new(o, "description", json_string(it->description));
	json_object_set_new(o, "source", json_string(it->source));
	json_object_set_new(o, "collected_at", json_string(it->collected_at));
	json_object_set_new(o, "location", json_string(it->location));
	json_object_set_new(o, "added_by", json_string(it->added_by));
	json_object_set_new(o, "device", json_string(it->device));
	json_object_set_new(o, "office", json_string(it->office));
	json_object_set_new(o, "time", json_string(it->time));
	json_object_set_new(o, "chunks", json_integer((json_int_t)it->nchunks));
	json_object_set_new(o, "chunks_sha256", json_string(it->chunks_sha256));
	json_object_set_new(o, "custody", log);
	return o;
}

static int ev_add(struct cli *c, struct node *n, const char *id, const char *file,
	const struct cli_opt *opts, size_t nopts)
{
	struct evidence_intake in;
	struct progress p = {"adding", isatty(STDERR_FILENO), 0, 0};
	char item[EVIDENCE_ID_MAX], hex[2 * CRYPTO_SHA256_LEN + 1];
	uint8_t sha[CRYPTO_SHA256_LEN];
	uint64_t limit = EVIDB_LIMIT_DEFAULT;
	const char *max = cli_opt(opts, nopts, "--max-size"), *base = strrchr(file, '/');
	int error = 0;

	if (!max)
		max = getenv("FIELDSYNC_EVIDENCE_MAX");
	if (max && max[0])
		error = parse_size(&limit, max);
	memset(&in, 0, sizeof(in));
	in.name = base ? base + 1 : file;
	in.description = cli_opt(opts, nopts, "--description");
	in.source = cli_opt(opts, nopts, "--source");
	in.collected_at = cli_opt(opts, nopts, "--collected-at");
	in.location = cli_opt(opts, nopts, "--location");
	if (!error)
		error = evidb_add(item, sha, n, id, file, &in, limit, show_progress, &p);
	end_progress(&p);
	if (error)
		return cli_fail(c);
	crypto_hex(hex, sha, sizeof(sha));
	if (c->json)
		return cli_print_json(
			json_pack("{s:s, s:s, s:s}", "case", id, "id", item, "sha256", hex));
	printf("%s %s\n", item, hex);
	return CLI_EXIT_OK;
}

static int ev_list(struct cli *c, struct node *n, const char *id)
{
	struct evidence_item *items = NULL;
	size_t count = 0, i;
	json_t *arr;

	if (evidb_list(&items, &count, n, id))
		return cli_fail(c);
	if (c->json) {
		arr = json_array();
		for (i = 0; i < count; i++)
			json_array_append_new(arr, item_json(&items[i], 0));
		evidence_items_free(items, count);
		return cli_print_json(json_pack("{s:s, s:o}", "case", id, "items", arr));
	}
	for (i = 0; i < count; i++)
		printf("%s  %-24s %12" PRIu64 "  %s  %-16s %s\n", items[i].id, items[i].name,
			items[i].size, items[i].sha256, items[i].custodian, items[i].state);
	if (!count)
		printf("case %s has no evidence items\n", id);
	evidence_items_free(items, count);
	return CLI_EXIT_OK;
}

static int ev_show(struct cli *c, struct node *n, const char *id, const char *evid)
{
	struct evidence_item it;
	size_t i;

	if (evidb_show(&it, n, id, evid))
		return cli_fail(c);
	if (c->json) {
		json_t *o = item_json(&it, 1);

		evidence_item_release(&it);
		return cli_print_json(o);
	}
	printf("Item %s of case %s\n  name          %s\n  size          %" PRIu64 " bytes (%" PRIu64
	       " chunks)\n  sha256        %s\n  description   %s\n"
	       "  source        %s\n  collected at  %s\n  location      %s\n"
	       "  added by      %s (office %s, device %.8s) at %s\n  custodian     %s\n"
	       "  state         %s\n\nCustody log (%zu events):\n",
		it.id, id, it.name, it.size, it.nchunks, it.sha256, it.description, it.source,
		it.collected_at, it.location, it.added_by, it.office, it.device, it.time,
		it.custodian, it.state, it.nevents);
	for (i = 0; i < it.nevents; i++) {
		const struct evidence_event *e = &it.events[i];

		printf("  %s  %-9s by %s (%s/%.8s): %s -> %s at %s; %s\n", e->time, e->action,
			e->by, e->office, e->device, e->from[0] ? e->from : "-", e->to, e->location,
			e->reason);
	}
	evidence_item_release(&it);
	return CLI_EXIT_OK;
}

static int ev_get(struct cli *c, struct node *n, const char *id, const char *evid, const char *out)
{
	struct progress p = {"writing", isatty(STDERR_FILENO), 0, 0};
	int error = evidb_get(n, id, evid, out, show_progress, &p);

	end_progress(&p);
	if (error)
		return cli_fail(c);
	if (c->json)
		return cli_print_json(json_pack("{s:s, s:s, s:s, s:b}", "case", id, "id", evid,
			"out", out, "verified", 1));
	printf("%s written to %s (SHA-256 verified)\n", evid, out);
	return CLI_EXIT_OK;
}

static int ev_custody(struct cli *c, struct node *n, const char *id, const char *evid,
	const struct cli_opt *opts, size_t nopts)
{
	char event[EVIDENCE_ID_MAX];

	if (evidb_custody(event, n, id, evid, cli_opt(opts, nopts, "--action"),
		    cli_opt(opts, nopts, "--to"), cli_opt(opts, nopts, "--location"),
		    cli_opt(opts, nopts, "--reason")))
		return cli_fail(c);
	if (c->json)
		return cli_print_json(
			json_pack("{s:s, s:s, s:s}", "case", id, "id", evid, "event", event));
	printf("%s custody event %s\n", evid, event);
	return CLI_EXIT_OK;
}

static int ev_export(struct cli *c, struct node *n, const char *id, const char *const *evids,
	size_t nevids, const char *dir)
{
	struct progress p = {"exporting", isatty(STDERR_FILENO), 0, 0};
	int error = evidb_export(n, id, evids, nevids, dir, show_progress, &p);

	end_progress(&p);
	if (error)
		return cli_fail(c);
	if (c->json)
		return cli_print_json(json_pack("{s:s, s:s}", "case", id, "bag", dir));
	printf("bag written to %s\n", dir);
	return CLI_EXIT_OK;
}

static int ev_verify(struct cli *c, struct node *n, const char *id, const char *evid)
{
	uint64_t items = 0, bytes = 0;

	if (evidb_verify(&items, &bytes, n, id, evid))
		return cli_fail(c);
	if (c->json)
		return cli_print_json(json_pack("{s:s, s:I, s:I, s:b}", "case", id, "items",
			(json_int_t)items, "bytes", (json_int_t)bytes, "ok", 1));
	printf("%" PRIu64 " item%s, %" PRIu64 " bytes: every chunk and item matches its SHA-256\n",
		items, items == 1 ? "" : "s", bytes);
	return CLI_EXIT_OK;
}

/* Which options each subcommand takes, and which it needs. */
static int check_words(struct cli *c, const char *sub, int npos, const struct cli_opt *opts,
	size_t nopts)
{
	static const struct {
		const char *sub;
		int minpos, maxpos;
		const char *allowed; /* option names, space separated */
		const char *needed;
	} rules[] = {
		{"add", 3, 3, "--description --source --collected-at --location --max-size",
			"--description"},
		{"list", 2, 2, "", ""},
		{"show", 3, 3, "", ""},
		{"get", 3, 3, "--out", "--out"},
		{"custody", 3, 3, "--action --to --location --reason",
			"--action --location --reason"},
		{"export", 2, 64, "--bag", "--bag"},
		{"verify", 2, 3, "", ""},
	};
	size_t r, i;

	for (r = 0; r < sizeof(rules) / sizeof(rules[0]) && strcmp(rules[r].sub, sub); r++)
		;
	if (r == sizeof(rules) / sizeof(rules[0]))
		return cli_usage_error(c, usage, "unknown evidence command '%s'", sub);
	if (npos < rules[r].minpos || npos > rules[r].maxpos)
		return cli_usage_error(c, usage, "'evidence %s' takes %s", sub,
			!strcmp(sub, "add")	 ? "a case id and a file"
			: !strcmp(sub, "list")	 ? "a case id"
			: !strcmp(sub, "export") ? "a case id and item ids"
			: !strcmp(sub, "verify") ? "a case id and perhaps an item id"
						 : "a case id and an item id");
	for (i = 0; i < nopts; i++) {
		const char *hit = opts[i].count ? strstr(rules[r].allowed, opts[i].name) : NULL;

		if (opts[i].count && !hit)
			return cli_usage_error(c, usage, "%s does not go with 'evidence %s'",
				opts[i].name, sub);
		if (!opts[i].count && strstr(rules[r].needed, opts[i].name))
			return cli_usage_error(c, usage, "'evidence %s' needs %s", sub,
				opts[i].name);
	}
	return 0;
}

int cmd_evidence(struct cli *c)
{
	struct cli_opt opts[] = {{"--description", 1, 0, {0}, 0}, {"--source", 1, 0, {0}, 0},
		{"--collected-at", 1, 0, {0}, 0}, {"--location", 1, 0, {0}, 0},
		{"--max-size", 1, 0, {0}, 0}, {"--out", 1, 0, {0}, 0}, {"--action", 1, 0, {0}, 0},
		{"--to", 1, 0, {0}, 0}, {"--reason", 1, 0, {0}, 0}, {"--bag", 1, 0, {0}, 0}};
	const size_t nopts = CLI_N_OPTS(opts);
	char id[SCHEMA_CASE_ID_MAX + 1];
	const char *pos[64], *sub;
	struct node *n = NULL;
	int npos, rc;

	if (cli_help(c, evidence_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, nopts, pos, 64, &npos);
	if (rc)
		return rc;
	if (npos < 1)
		return cli_usage_error(c, usage, "which evidence command?");
	sub = pos[0];
	rc = check_words(c, sub, npos, opts, nopts);
	if (rc)
		return rc;
	if (!strcmp(sub, "custody") && evidence_check_action(cli_opt(opts, nopts, "--action")))
		return cli_usage_error(c, usage, "%s", err_msg());
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (casedb_resolve(id, n, pos[1]))
		rc = cli_fail(c);
	else if (!strcmp(sub, "add"))
		rc = ev_add(c, n, id, pos[2], opts, nopts);
	else if (!strcmp(sub, "list"))
		rc = ev_list(c, n, id);
	else if (!strcmp(sub, "show"))
		rc = ev_show(c, n, id, pos[2]);
	else if (!strcmp(sub, "get"))
		rc = ev_get(c, n, id, pos[2], cli_opt(opts, nopts, "--out"));
	else if (!strcmp(sub, "custody"))
		rc = ev_custody(c, n, id, pos[2], opts, nopts);
	else if (!strcmp(sub, "export"))
		rc = ev_export(c, n, id, pos + 2, (size_t)(npos - 2),
			cli_opt(opts, nopts, "--bag"));
	else
		rc = ev_verify(c, n, id, npos > 2 ? pos[2] : NULL);
	node_free(n);
	return rc;
}
