/* cli/config.c - the configuration file, the environment and the defaults (see config.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#define LINE_MAX_LEN 1024 /* longer lines are an error: nothing legitimate is that long */

/* What the line reader and the key handler share while inih parses one file. */
struct parse {
	struct config *cfg;
	FILE *f;
	int line;	 /* the line inih is handling */
	int bad_section; /* the current section is unknown (reported once, at its header) */
	int first_line[CONFIG_KEYS_MAX]; /* where each key was set in the file */
};

static void add_error(struct config *cfg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_error(struct config *cfg, const char *fmt, ...)
{
	va_list ap;

	size_t before = cfg->errors.len;

	cfg->nerrors++;
	va_start(ap, fmt);
	/* the report has a cap, the count has not: a huge broken file still fails, and a line
	 * that does not fit is dropped whole */
	if (buf_vprintf(&cfg->errors, fmt, ap) || buf_putc(&cfg->errors, '\n')) {
		cfg->errors.len = before;
		if (cfg->errors.ptr)
			cfg->errors.ptr[before] = '\0';
	}
	va_end(ap);
}

const char *config_type_name(enum config_type type)
{
	switch (type) {
	case CONFIG_STRING:
		return "a non-empty value";
	case CONFIG_INT:
		return "a whole number";
	case CONFIG_BOOL:
		return "true or false";
	case CONFIG_DURATION:
		return "a duration like 5m";
	case CONFIG_ADDRESS:
		return "an address like 127.0.0.1:8443";
	}
	return "a value";
}

int64_t config_parse_duration(const char *v)
{
	int64_t n = 0;
	const char *p = v;

	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > 100000000)
			return -1;
	}
	if (p == v)
		return -1;
	if (!*p || !strcmp(p, "s"))
		return n * 1000;
	if (!strcmp(p, "ms"))
		return n;
	if (!strcmp(p, "m"))
		return n * 60000;
	if (!strcmp(p, "h"))
		return n * 3600000;
	return -1;
}

/* A duration in ms as the largest unit that divides it: 1800000 -> "30m". */
static void format_duration(char *out, size_t size, int64_t ms)
{
	if (ms && ms % 3600000 == 0)
		snprintf(out, size, "%lldh", (long long)(ms / 3600000));
	else if (ms && ms % 60000 == 0)
		snprintf(out, size, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(out, size, "%llds", (long long)(ms / 1000));
	else
		snprintf(out, size, "%lldms", (long long)ms);
}

int config_bool(const char *v)
{
	return !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1");
}

static int is_bool(const char *v)
{
	return config_bool(v) || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") ||
	       !strcmp(v, "0");
}

/* A whole number (optionally negative) in *out; -1 if malformed. */
static int parse_int(int64_t *out, const char *v)
{
	const char *p = v + (*v == '-');
	int64_t n = 0;

	if (!*p)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || n > 100000000000LL)
			return -1;
		n = n * 10 + (*p - '0');
	}
	*out = *v == '-' ? -n : n;
	return 0;
}

static int is_address(const char *v)
{
	const char *colon = strrchr(v, ':'), *p;
	int64_t port;

	if (!colon || colon == v || !colon[1] || strlen(colon + 1) > 5)
		return 0;
	for (p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	if (parse_int(&port, colon + 1) || port > 65535)
		return 0;
	if (v[0] == '[') /* [::1]:8443 */
		return colon[-1] == ']' && colon - v > 2;
	for (p = v; p < colon; p++)
		if (*p == ':' || *p == '[' || *p == ']' || *p == ' ' || *p == '\t')
			return 0;
	return 1;
}

/* The range part of a check: "at least 1" / "at most 30m" (value already well-formed). */
static int check_range(const struct config_key *k, int64_t n, const char *value)
{
	char lim[32];

	if (!k->min && !k->max)
		return 0;
	if (n >= k->min && n <= k->max)
		return 0;
	if (k->type == CONFIG_DURATION)
		format_duration(lim, sizeof(lim), n < k->min ? k->min : k->max);
	else
		snprintf(lim, sizeof(lim), "%lld", (long long)(n < k->min ? k->min : k->max));
	return err_set(ERR_INVALID, "%s %s, got '%s'", n < k->min ? "at least" : "at most", lim,
		value);
}

int config_check_value(const struct config_key *k, const char *value)
{
	int64_t n = 0;
	int ok = 0;

	switch (k->type) {
	case CONFIG_STRING:
		ok = value[0] != '\0';
		break;
	case CONFIG_INT:
		ok = parse_int(&n, value) == 0;
		break;
	case CONFIG_BOOL:
		ok = is_bool(value);
		break;
	case CONFIG_DURATION:
		n = config_parse_duration(value);
		ok = n >= 0;
		break;
	case CONFIG_ADDRESS:
		ok = is_address(value);
		break;
	}
	if (!ok)
		return err_set(ERR_INVALID, "expected %s, got '%s'", config_type_name(k->type),
			value);
	return k->type == CONFIG_INT || k->type == CONFIG_DURATION ? check_range(k, n, value) : 0;
}

const struct config_key *config_key_find(const struct config *cfg, const char *section,
	const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < cfg->nkeys; i++) {
		if (strcmp(cfg->keys[i].name, name) ||
			(section && strcmp(cfg->keys[i].section, section)))
			continue;
		if (idx)
			*idx = i;
		return &cfg->keys[i];
	}
	return NULL;
}

static int section_known(const struct config *cfg, const char *section)
{
	size_t i;

	for (i = 0; i < cfg->nkeys; i++)
		if (!strcmp(cfg->keys[i].section, section))
			return 1;
	return 0;
}

/* "[agent] and [serve]": the sections a file of this program may have. */
static void section_list(char *out, size_t size, const struct config *cfg)
{
	size_t i, j, len;

	out[0] = '\0';
	for (i = 0; i < cfg->nkeys; i++) {
		for (j = 0; j < i; j++)
			if (!strcmp(cfg->keys[j].section, cfg->keys[i].section))
				break;
		if (j < i)
			continue;
		len = strlen(out);
		snprintf(out + len, size - len, "%s[%s]", len ? ", " : "", cfg->keys[i].section);
	}
}

/* Trim spaces and tabs on both ends, in place. */
static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/*
 * Look at one line before inih does: count it, and flag what inih would refuse (it reports
 * only the first bad line of a file) and section headers this program does not know.
 */
static void classify_line(struct parse *ps, char *raw)
{
	struct config *cfg = ps->cfg;
	char copy[LINE_MAX_LEN + 2], sections[256], *s, *close;

	snprintf(copy, sizeof(copy), "%s", raw);
	s = trim(copy);
	if (ps->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s = trim(s + 3);
	if (!*s || *s == ';' || *s == '#')
		return;
	if (*s == '[') {
		close = strchr(s, ']');
		if (!close) {
			add_error(cfg, "%s:%d: a section header without ']': '%s'", cfg->path,
				ps->line, s);
			ps->bad_section = 1;
			return;
		}
		*close = '\0';
		s = trim(s + 1);
		ps->bad_section = !section_known(cfg, s);
		if (ps->bad_section) {
			section_list(sections, sizeof(sections), cfg);
			add_error(cfg, "%s:%d: unknown section [%s] (this file has %s)", cfg->path,
				ps->line, s, sections);
		}
		return;
	}
	if (!strpbrk(s, "=:")) {
		add_error(cfg, "%s:%d: not a 'key = value' line nor a [section]: '%s'", cfg->path,
			ps->line, s);
	}
}

/* inih's fgets: one line at a time, so that ps->line is the line of every handler call. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	char line[LINE_MAX_LEN + 2];
	size_t len;

	if (!fgets(line, sizeof(line), ps->f))
		return NULL;
	ps->line++;
	len = strlen(line);
	if ((len == sizeof(line) - 1 && line[len - 1] != '\n') || len + 1 > (size_t)num) {
		int ch;

		while ((ch = fgetc(ps->f)) != EOF && ch != '\n')
			;
		add_error(ps->cfg, "%s:%d: line too long (at most %d characters)", ps->cfg->path,
			ps->line, (num < LINE_MAX_LEN ? num : LINE_MAX_LEN) - 2);
		snprintf(str, (size_t)num, ";\n"); /* the rest of the line is not read as a line */
		return str;
	}
	classify_line(ps, line);
	memcpy(str, line, len + 1);
	return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *ps = user;
	struct config *cfg = ps->cfg;
	const struct config_key *k, *elsewhere = config_key_find(cfg, NULL, name, NULL);
	size_t idx = 0;
	char *copy;

	if (ps->bad_section)
		return 1; /* its header was reported */
	if (!section[0]) {
		if (elsewhere)
			add_error(cfg, "%s:%d: key '%s' outside a section (it belongs under [%s])",
				cfg->path, ps->line, name, elsewhere->section);
		else
			add_error(cfg, "%s:%d: unknown key '%s' outside a section", cfg->path,
				ps->line, name);
		return 1;
	}
	k = config_key_find(cfg, section, name, &idx);
	if (!k) {
		if (elsewhere)
			add_error(cfg, "%s:%d: unknown key '%s' in [%s] (it belongs under [%s])",
				cfg->path, ps->line, name, section, elsewhere->section);
		else
			add_error(cfg, "%s:%d: unknown key '%s' in [%s]", cfg->path, ps->line, name,
				section);
		return 1;
	}
	if (ps->first_line[idx]) {
		add_error(cfg, "%s:%d: key '%s' given twice in [%s] (first on line %d)", cfg->path,
			ps->line, name, section, ps->first_line[idx]);
		return 1;
	}
	ps->first_line[idx] = ps->line;
	if (config_check_value(k, value)) {
		add_error(cfg, "%s:%d: key '%s': %s", cfg->path, ps->line, name, err_msg());
		return 1;
	}
	copy = strdup(value);
	if (!copy) {
		add_error(cfg, "%s:%d: out of memory", cfg->path, ps->line);
		return 1;
	}
	free(cfg->owned[idx]);
	cfg->owned[idx] = copy;
	cfg->vals[idx].value = copy;
	cfg->vals[idx].source = CONFIG_FROM_FILE;
	cfg->vals[idx].line = ps->line;
	return 1;
}

/* Open the file: 0 and *f, 0 with *f NULL (the default file is not there), or an error. */
static void open_file(FILE **f, struct config *cfg, const char *origin)
{
	struct stat sb;

	*f = fopen(cfg->path, "re");
	if (!*f) {
		if (errno != ENOENT || cfg->explicit_file)
			add_error(cfg, "cannot read the configuration file '%s'%s: %s", cfg->path,
				origin, strerror(errno));
		return;
	}
	/* a character device is allowed: --config /dev/null reads no file at all */
	if (fstat(fileno(*f), &sb) != 0 || (!S_ISREG(sb.st_mode) && !S_ISCHR(sb.st_mode)) ||
		sb.st_size > CONFIG_MAX_BYTES) {
		add_error(cfg, "cannot read the configuration file '%s'%s: %s", cfg->path, origin,
			sb.st_size > CONFIG_MAX_BYTES ? "larger than 64 KiB"
						      : "not a regular file");
		fclose(*f);
		*f = NULL;
	}
}

static void read_file(struct config *cfg, const char *origin)
{
	struct parse ps;
	int rc;

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	open_file(&ps.f, cfg, origin);
	if (!ps.f)
		return;
	cfg->have_file = 1;
	/* an indented line is a line of its own, not the previous value continued */
	ini_allow_multiline = false;
	rc = ini_parse_stream(read_line, &ps, on_key, &ps);
	if (ferror(ps.f))
		add_error(cfg, "cannot read the configuration file '%s': %s", cfg->path,
			strerror(errno));
	/* a line inih refused that the reader did not see as bad (e.g. "name ; = value") */
	if (rc > 0) {
		char tag[sizeof(cfg->path) + 32];

		snprintf(tag, sizeof(tag), "%s:%d: ", cfg->path, rc);
		if (!strstr(buf_cstr(&cfg->errors), tag))
			add_error(cfg, "%s:%d: not a 'key = value' line nor a [section]", cfg->path,
				rc);
	}
	fclose(ps.f);
}

static void read_env(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nkeys; i++) {
		const struct config_key *k = &cfg->keys[i];
		const char *v = k->env ? getenv(k->env) : NULL;

		if (!v || !*v)
			continue;
		if (config_check_value(k, v)) {
			add_error(cfg, "environment %s (key '%s'): %s", k->env, k->name, err_msg());
			continue;
		}
		cfg->vals[i].value = v;
		cfg->vals[i].source = CONFIG_FROM_ENV;
		cfg->vals[i].line = 0;
	}
}

/* Keys that name a key file systemd hands over as a credential, when it has. */
static void read_credentials(struct config *cfg)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	struct stat sb;
	size_t i;

	for (i = 0; dir && *dir && i < cfg->nkeys; i++) {
		const struct config_key *k = &cfg->keys[i];
		size_t len;
		char *path;

		if (!k->credential)
			continue;
		len = strlen(dir) + strlen(k->credential) + 2;
		path = malloc(len);
		if (!path) {
			add_error(cfg, "out of memory");
			return;
		}
		snprintf(path, len, "%s/%s", dir, k->credential);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			free(path);
			continue;
		}
		free(cfg->owned[i]);
		cfg->owned[i] = path;
		cfg->vals[i].value = path;
		cfg->vals[i].source = CONFIG_FROM_CREDENTIAL;
		cfg->vals[i].line = 0;
	}
}

int config_load(struct config *cfg, const struct config_key *keys, size_t nkeys, const char *name,
	const char *path)
{
	const char *env = getenv("FIELDSYNC_CONFIG"), *origin = "";
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	buf_init(&cfg->errors, 64 * 1024);
	if (nkeys > CONFIG_KEYS_MAX)
		return err_set(ERR_INVALID, "too many configuration keys");
	cfg->keys = keys;
	cfg->nkeys = nkeys;
	for (i = 0; i < nkeys; i++) {
		cfg->vals[i].value = keys[i].def;
		cfg->vals[i].source = CONFIG_FROM_DEFAULT;
	}
	if (path) {
		snprintf(cfg->path, sizeof(cfg->path), "%s", path);
		cfg->explicit_file = 1;
		origin = " (named by --config)";
	} else if (env && *env) {
		snprintf(cfg->path, sizeof(cfg->path), "%s", env);
		cfg->explicit_file = 1;
		origin = " (named by FIELDSYNC_CONFIG)";
	} else {
		snprintf(cfg->path, sizeof(cfg->path), "%s/%s.conf", CONFIG_DIR, name);
	}
	read_file(cfg, origin);
	read_env(cfg);
	read_credentials(cfg);
	return 0;
}

void config_release(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < CONFIG_KEYS_MAX; i++) {
		free(cfg->owned[i]);
		cfg->owned[i] = NULL;
	}
	buf_release(&cfg->errors);
}

const char *config_get(const struct config *cfg, const char *section, const char *name)
{
	size_t idx;

	if (!cfg || !config_key_find(cfg, section, name, &idx))
		return NULL;
	return cfg->vals[idx].value;
}

void config_set_command_line(struct config *cfg, size_t idx, const char *value)
{
	if (idx >= cfg->nkeys)
		return;
	if (config_check_value(&cfg->keys[idx], value)) {
		add_error(cfg, "option '%s': %s", cfg->keys[idx].option, err_msg());
		return;
	}
	cfg->vals[idx].value = value;
	cfg->vals[idx].source = CONFIG_FROM_COMMAND_LINE;
	cfg->vals[idx].line = 0;
}

const char *config_errors(const struct config *cfg)
{
	return buf_cstr(&cfg->errors);
}
