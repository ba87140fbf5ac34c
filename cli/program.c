/* cli/program.c - global options and command dispatch, the same for both programs. */
#include "program.h"

#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "cmd_config.h"
#include "config.h"
#include "store/odb.h"

static int set_home(struct cli *c, const char *value)
{
	c->home = value;
	return 0;
}

static int set_user(struct cli *c, const char *v)
{
	c->user = v;
	return 0;
}

static int set_passphrase_file(struct cli *c, const char *v)
{
	c->passphrase_file = v;
	return 0;
}

static int set_new_passphrase_file(struct cli *c, const char *v)
{
	c->new_passphrase_file = v;
	return 0;
}

static int set_kdf_cost(struct cli *c, const char *v)
{
	if (!strcmp(v, "low"))
		c->kdf = &CRYPTO_KDF_LOW;
	else if (!strcmp(v, "default"))
		c->kdf = &CRYPTO_KDF_DEFAULT;
	else
		return -1;
	return 0;
}

/* The options of both programs: where the node is, who logs on, and the new slots' cost. */
static int set_config(struct cli *c, const char *value)
{
	c->config_path = value;
	return 0;
}

static const struct cli_global common[] = {
	{"--home", set_home},
	{"--config", set_config},
	{"--user", set_user},
	{"--passphrase-file", set_passphrase_file},
	{"--new-passphrase-file", set_new_passphrase_file},
	{"--kdf-cost", set_kdf_cost},
};

/* The global option `a` names, from `list`, or NULL; *inline_value points past '='. */
static const struct cli_global *match(const struct cli_global *list, size_t n, const char *a,
	const char **inline_value)
{
	size_t k;

	for (k = 0; k < n; k++) {
		size_t len = strlen(list[k].name);

		if (strncmp(a, list[k].name, len) || (a[len] != '\0' && a[len] != '='))
			continue;
		*inline_value = a[len] == '=' ? a + len + 1 : NULL;
		return &list[k];
	}
	return NULL;
}

/*
 * Take the global option at argv[*i] if it is one: 1 taken, 0 not a global option, or a usage
 * error's exit code.
 */
static int take_global(struct cli *c, const struct cli_program *p, int argc, char **argv, int *i,
	int after_command)
{
	const struct cli_global *g;
	const char *a = argv[*i], *val = NULL;

	if (!strcmp(a, "--json")) {
		c->json = 1;
		return 1;
	}
	g = match(common, sizeof(common) / sizeof(common[0]), a, &val);
	if (!g)
		g = match(p->globals, p->nglobals, a, &val);
	if (!g || (g->set == set_user && after_command && p->user_before_command))
		return 0;
	if (!val && *i + 1 >= argc)
		return cli_usage_error(c, "COMMAND [ARGS]", "option '%s' needs a value", g->name);
	if (!val)
		val = argv[++*i];
	if (g->set(c, val))
		return cli_usage_error(c, "COMMAND [ARGS]", "bad value '%s' for option '%s'", val,
			g->name);
	if (c->ngiven < CLI_GIVEN_MAX) {
		c->given[c->ngiven].name = g->name;
		c->given[c->ngiven++].value = val;
	}
	return 1;
}

const char *cli_given(const struct cli *c, const char *name)
{
	const char *v = NULL;
	int i;

	for (i = 0; i < c->ngiven; i++) /* the last one counts, as for the setter */
		if (!strcmp(c->given[i].name, name))
			v = c->given[i].value;
	return v;
}

/* The global option `name` of program p (or a common one), or NULL. */
static const struct cli_global *find_global(const struct cli_program *p, const char *name)
{
	const char *val;
	const struct cli_global *g = match(common, sizeof(common) / sizeof(common[0]), name, &val);

	return g ? g : match(p->globals, p->nglobals, name, &val);
}

int cli_config_load(struct cli *c, const struct cli_program *p, struct config *cfg)
{
	size_t i;
	int error;

	error = config_load(cfg, p->config_keys, p->nconfig_keys, p->config_name, c->config_path);
	if (error)
		return error;
	c->config = cfg;
	for (i = 0; i < cfg->nkeys; i++) {
		const struct config_key *k = &cfg->keys[i];
		const struct cli_global *g = k->global ? find_global(p, k->option) : NULL;
		const char *given = k->global ? cli_given(c, k->option) : NULL;

		if (given)
			config_set_command_line(cfg, i, given);
		else if (g && cfg->vals[i].value && g->set(c, cfg->vals[i].value))
			return err_set(ERR_INVALID, "bad value '%s' for '%s'", cfg->vals[i].value,
				k->name);
	}
	return 0;
}

/* A command that runs whatever the configuration says: it reports on it, or prints help. */
static int ignores_config(char **rest, int nrest)
{
	int i;

	if (!strcmp(rest[0], "config") || !strcmp(rest[0], "help") || !strcmp(rest[0], "--version"))
		return 1;
	for (i = 0; i < nrest; i++)
		if (!strcmp(rest[i], "--help") || !strcmp(rest[i], "-h"))
			return 1;
	return 0;
}

void cli_prepare(struct cli *c, const struct cli_program *p)
{
	memset(c, 0, sizeof(*c));
	c->prog = p->prog;
	c->kdf = &CRYPTO_KDF_DEFAULT;
	if (p->defaults)
		p->defaults(c);
}

int cli_globals(struct cli *c, const struct cli_program *p, int argc, char **argv, char **rest,
	int maxrest, int *nrest)
{
	int i, taken;

	*nrest = 0;
	for (i = 1; i < argc; i++) {
		taken = take_global(c, p, argc, argv, &i, *nrest > 0);
		if (taken == 1)
			continue;
		if (taken)
			return taken;
		if (*nrest >= maxrest)
			return cli_usage_error(c, "COMMAND [ARGS]", "too many arguments");
		rest[(*nrest)++] = argv[i];
	}
	return 0;
}

int cli_dispatch(struct cli *c, const struct cli_program *p, char **rest, int nrest)
{
	size_t k;

	if (nrest == 0 || !strcmp(rest[0], "--help") || !strcmp(rest[0], "help")) {
		fputs(p->help, nrest == 0 ? stderr : stdout);
		return nrest == 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (!strcmp(rest[0], "--version")) {
		printf("%s %s\n", p->prog, p->version);
		return CLI_EXIT_OK;
	}
	if (odb_global_init())
		return cli_fail(c);
	for (k = 0; k < p->ncommands; k++) {
		if (strcmp(rest[0], p->commands[k].name))
			continue;
		c->argc = p->commands[k].keep_word ? nrest : nrest - 1;
		c->argv = p->commands[k].keep_word ? rest : rest + 1;
		return p->commands[k].fn(c);
	}
	return cli_usage_error(c, "COMMAND [ARGS]", "unknown command '%s'", rest[0]);
}

int cli_main(const struct cli_program *p, int argc, char **argv)
{
	static char *rest[CLI_ARGS_MAX];
	static struct config cfg;
	struct cli c;
	int nrest = 0, rc;

	cli_prepare(&c, p);
	/* keys live in this process: no core file, no dumping (before anything is unlocked) */
	if (crypto_harden_process())
		return cli_fail(&c);
	rc = cli_globals(&c, p, argc, argv, rest, CLI_ARGS_MAX, &nrest);
	if (rc)
		return rc;
	if (p->config_keys && cli_config_load(&c, p, &cfg)) {
		rc = cli_fail(&c);
		goto out;
	}
	if (c.config && c.config->nerrors && nrest && !ignores_config(rest, nrest)) {
		rc = cli_config_report(&c); /* every error, then exit 1 */
		goto out;
	}
	rc = cli_dispatch(&c, p, rest, nrest);
out:
	config_release(&cfg);
	return rc;
}
