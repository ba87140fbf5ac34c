/* cli/cmd_config.c - the configuration in the commands: options, `config`, errors. */
#include "cmd_config.h"

#include <stdio.h>
#include <string.h>

#include "config.h"

static const char config_help[] =
	"\n"
	"The configuration file: --config FILE, else FIELDSYNC_CONFIG, else the file above when\n"
	"it exists (a file named explicitly must exist).  It is INI: [section] headers and\n"
	"'key = value' lines; ';' or '#' start a comment line, ' ;' an end-of-line comment.\n"
	"Every key backs an option; the value that counts is the first of the command line, the\n"
	"environment (FIELDSYNC_...), the file and the default.  fieldsync.conf(5) has them all.\n"
	"\n"
	"  check   read the file and the environment; print every error naming the file, the\n"
	"          line and the key (a bad line, an unknown section or key, a wrong type, a key\n"
	"          given twice) and exit 1, or say it is fine and exit 0\n"
	"  show    print the value of every key and where it came from (default, FILE:LINE,\n"
	"          env VAR, command line), as a file that could be used as it is\n"
	"\n"
	"OPTIONS are the options the keys back (e.g. the service's), to see their effect; the\n"
	"global options (--home ...) count too.  Exit codes: 0 ok, 1 errors, 2 usage.\n"
	"\n"
	"Keys:\n";

int cli_config_report(const struct cli *c)
{
	const char *p = config_errors(c->config), *nl;

	while (*p) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		fprintf(stderr, "%s: error: %.*s\n", c->prog, (int)(nl - p), p);
		p = *nl ? nl + 1 : nl;
	}
	fprintf(stderr, "%s: error: the configuration has %d error%s ('%s config check')\n",
		c->prog, c->config->nerrors, c->config->nerrors == 1 ? "" : "s", c->prog);
	return CLI_EXIT_FAIL;
}

static struct cli_opt *find_opt(struct cli_opt *opts, size_t nopts, const char *name)
{
	size_t i;

	for (i = 0; i < nopts; i++)
		if (!strcmp(opts[i].name, name))
			return &opts[i];
	return NULL;
}

void cli_config_opts(const struct cli *c, const char *section, struct cli_opt *opts, size_t nopts)
{
	const struct config *cfg = c->config;
	size_t i;

	for (i = 0; cfg && i < cfg->nkeys; i++) {
		const struct config_key *k = &cfg->keys[i];
		const char *v = cfg->vals[i].value;
		struct cli_opt *o;

		if (k->global || strcmp(k->section, section) || !v)
			continue;
		o = find_opt(opts, nopts, k->option);
		if (!o || o->count)
			continue; /* the command line said */
		if (o->has_arg) {
			o->values[0] = v;
			o->count = 1;
		} else if (config_bool(v) != k->negate) {
			o->values[0] = "";
			o->count = 1;
		}
	}
}

/* Lay the options given to `config` over the keys they back. */
static void take_command_line(struct config *cfg, const struct cli_opt *opts, size_t nopts)
{
	size_t i, j;

	for (i = 0; i < nopts; i++) {
		if (!opts[i].count)
			continue;
		for (j = 0; j < cfg->nkeys; j++) {
			const struct config_key *k = &cfg->keys[j];

			if (k->global || strcmp(k->option, opts[i].name))
				continue;
			if (opts[i].has_arg)
				config_set_command_line(cfg, j, opts[i].values[0]);
			else
				config_set_command_line(cfg, j, k->negate ? "false" : "true");
		}
	}
}

static const char *source_name(enum config_source s)
{
	switch (s) {
	case CONFIG_FROM_DEFAULT:
		return "default";
	case CONFIG_FROM_FILE:
		return "file";
	case CONFIG_FROM_ENV:
		return "env";
	case CONFIG_FROM_CREDENTIAL:
		return "credential";
	case CONFIG_FROM_COMMAND_LINE:
		return "command line";
	}
	return "default";
}

static const char *type_word(enum config_type t)
{
	static const char *const words[] = {"string", "int", "bool", "duration", "address"};

	return words[t];
}

/* "default", "/etc/fieldsync/agent.conf:7", "env FIELDSYNC_IDLE", "command line --idle" */
static void where(char *out, size_t size, const struct config *cfg, size_t i)
{
	const struct config_value *v = &cfg->vals[i];

	if (v->source == CONFIG_FROM_FILE)
		snprintf(out, size, "%s:%d", cfg->path, v->line);
	else if (v->source == CONFIG_FROM_ENV)
		snprintf(out, size, "env %s", cfg->keys[i].env);
	else if (v->source == CONFIG_FROM_CREDENTIAL)
		snprintf(out, size, "systemd credential %s", cfg->keys[i].credential);
	else if (v->source == CONFIG_FROM_COMMAND_LINE)
		snprintf(out, size, "command line %s", cfg->keys[i].option);
	else
		snprintf(out, size, "default");
}

static int show_json(const struct config *cfg)
{
	json_t *keys = json_array();
	size_t i;

	for (i = 0; keys && i < cfg->nkeys; i++) {
		const struct config_key *k = &cfg->keys[i];
		const struct config_value *v = &cfg->vals[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s?, s:s, s:s?, s:s}", "section",
			k->section, "name", k->name, "type", type_word(k->type), "value", v->value,
			"source", source_name(v->source), "env", k->env, "option", k->option,
			"default", k->def, "help", k->help);

		if (o && v->source == CONFIG_FROM_FILE)
			json_object_set_new(o, "line", json_integer(v->line));
		json_array_append_new(keys, o);
	}
	return cli_print_json(json_pack("{s:s, s:b, s:o}", "file", cfg->path, "file_present",
		cfg->have_file, "keys", keys));
}

static int show_text(const struct config *cfg, const char *prog)
{
	const char *section = NULL;
	char line[4200], from[4200];
	size_t i;

	printf("; the configuration of %s: every key, its value and where it came from\n", prog);
	printf("; file %s%s\n", cfg->path, cfg->have_file ? "" : " (not there: none read)");
	for (i = 0; i < cfg->nkeys; i++) {
		const struct config_key *k = &cfg->keys[i];
		const char *v = cfg->vals[i].value;

		if (!section || strcmp(section, k->section)) {
			printf("%s[%s]\n", section ? "\n" : "", k->section);
			section = k->section;
		}
		where(from, sizeof(from), cfg, i);
		if (v)
			snprintf(line, sizeof(line), "%s = %s", k->name, v);
		else
			snprintf(line, sizeof(line), ";%s = (unset)", k->name);
		printf("%-44s ; %s\n", line, from);
	}
	return CLI_EXIT_OK;
}

static int check(const struct cli *c, const struct config *cfg)
{
	if (c->json) {
		json_t *errors = json_array();
		const char *p = config_errors(cfg), *nl;

		for (; *p; p = *nl ? nl + 1 : nl) {
			nl = strchr(p, '\n');
			if (!nl)
				nl = p + strlen(p);
			json_array_append_new(errors, json_stringn(p, (size_t)(nl - p)));
		}
		if (cli_print_json(json_pack("{s:b, s:s, s:b, s:o}", "ok", cfg->nerrors == 0,
			    "file", cfg->path, "file_present", cfg->have_file, "errors", errors)))
			return CLI_EXIT_FAIL;
		return cfg->nerrors ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	}
	if (cfg->nerrors)
		return cli_config_report(c);
	if (cfg->have_file)
		printf("configuration ok: %s\n", cfg->path);
	else
		printf("configuration ok: no file (%s is not there): the environment and the "
		       "defaults apply\n",
			cfg->path);
	return CLI_EXIT_OK;
}

static void print_help(const struct cli *c, const struct config *cfg)
{
	const char *name = strncmp(c->prog, "fieldsync-", 10) ? c->prog : c->prog + 10;
	size_t i;

	printf("usage: %s config check [OPTIONS]\n       %s config show [OPTIONS]\n\n", c->prog,
		c->prog);
	printf("File: %s/%s.conf\n", CONFIG_DIR, name);
	fputs(config_help, stdout);
	for (i = 0; cfg && i < cfg->nkeys; i++) {
		const struct config_key *k = &cfg->keys[i];

		printf("  [%s] %s (%s%s%s; %s, %s)\n      %s\n", k->section, k->name,
			type_word(k->type), k->def ? ", default " : "", k->def ? k->def : "",
			k->option, k->env, k->help);
	}
}

int cli_config_command(struct cli *c)
{
	static const char usage[] = "config check|show [OPTIONS]";
	struct cli_opt opts[CONFIG_KEYS_MAX];
	struct config *cfg = c->config;
	const char *pos[1];
	size_t nopts = 0, i;
	int npos, rc, k;

	for (k = 0; k < c->argc; k++) {
		if (!strcmp(c->argv[k], "--help") || !strcmp(c->argv[k], "-h")) {
			print_help(c, cfg);
			return CLI_EXIT_OK;
		}
	}
	if (!cfg) {
		err_set(ERR_INVALID, "this program has no configuration file");
		return cli_fail(c);
	}
	memset(opts, 0, sizeof(opts));
	for (i = 0; i < cfg->nkeys; i++) {
		const struct config_key *key = &cfg->keys[i];

		if (key->global || find_opt(opts, nopts, key->option))
			continue;
		opts[nopts].name = key->option;
		opts[nopts++].has_arg = key->type != CONFIG_BOOL;
	}
	rc = cli_parse_opts(c, usage, opts, nopts, pos, 1, &npos);
	if (rc)
		return rc;
	if (npos != 1 || (strcmp(pos[0], "check") && strcmp(pos[0], "show")))
		return cli_usage_error(c, usage, "expected 'config check' or 'config show'");
	take_command_line(cfg, opts, nopts);
	if (!strcmp(pos[0], "check"))
		return check(c, cfg);
	if (cfg->nerrors)
		return cli_config_report(c);
	return c->json ? show_json(cfg) : show_text(cfg, c->prog);
}
