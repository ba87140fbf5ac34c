/* cli/cli.c - option parsing, passphrases, files and output for both programs' commands. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "node/casedb.h"

int cli_usage_error(const struct cli *c, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s %s\n(see '%s --help')\n", c->prog, usage, c->prog);
	return CLI_EXIT_USAGE;
}

int cli_help(const struct cli *c, const char *help)
{
	int i;

	for (i = 0; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--help") == 0 || strcmp(c->argv[i], "-h") == 0) {
			fputs(help, stdout);
			return 1;
		}
	}
	return 0;
}

int cli_fail(const struct cli *c)
{
	const char *msg = err_msg();

	fprintf(stderr, "%s: error: %s\n", c->prog, msg[0] ? msg : "operation failed");
	return CLI_EXIT_FAIL;
}

static struct cli_opt *find_opt(struct cli_opt *opts, size_t nopts, const char *name)
{
	size_t i;

	for (i = 0; i < nopts; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

int cli_parse_opts(struct cli *c, const char *usage, struct cli_opt *opts, size_t nopts,
	const char **pos, int maxpos, int *npos)
{
	int i;

	*npos = 0;
	for (i = 0; i < c->argc; i++) {
		const char *a = c->argv[i];
		struct cli_opt *o;
		const char *eq, *val = NULL;
		char name[64];

		if (a[0] != '-' || a[1] != '-' || strcmp(a, "--") == 0) {
			if (strcmp(a, "--") == 0 && ++i >= c->argc)
				break;
			if (*npos >= maxpos)
				return cli_usage_error(c, usage, "unexpected argument '%s'",
					c->argv[i]);
			pos[(*npos)++] = c->argv[i];
			continue;
		}
		eq = strchr(a, '=');
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
		o = find_opt(opts, nopts, name);
		if (!o)
			return cli_usage_error(c, usage, "unknown option '%s'", name);
		if (o->has_arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < c->argc)
				val = c->argv[++i];
			else
				return cli_usage_error(c, usage, "option '%s' needs a value", name);
		} else if (eq) {
			return cli_usage_error(c, usage, "option '%s' takes no value", name);
		}
		if (o->count >= (o->repeat ? 64 : 1))
			return cli_usage_error(c, usage, "option '%s' given too often", name);
		o->values[o->count++] = val ? val : "";
	}
	return 0;
}

const char *cli_opt(const struct cli_opt *opts, size_t nopts, const char *name)
{
	size_t i;

	for (i = 0; i < nopts; i++)
		if (strcmp(opts[i].name, name) == 0 && opts[i].count)
			return opts[i].values[0];
	return NULL;
}

int cli_flag(const struct cli_opt *opts, size_t nopts, const char *name)
{
	size_t i;

	for (i = 0; i < nopts; i++)
		if (strcmp(opts[i].name, name) == 0)
			return opts[i].count > 0;
	return 0;
}

int cli_user(const char **out, const struct cli *c)
{
	const char *u = c->user ? c->user : getenv("FIELDSYNC_USER");

	if (!u || !*u)
		return err_set(ERR_INVALID, "no user given (use --user NAME or FIELDSYNC_USER)");
	*out = u;
	return 0;
}

int cli_home(const char **out, const struct cli *c)
{
	const char *h = c->home ? c->home : getenv("FIELDSYNC_HOME");

	if (!h || !*h)
		return err_set(ERR_INVALID, "no node directory given (use --home DIR or FIELDSYNC_HOME)");
	*out = h;
	return 0;
}

int cli_read_file(struct buf *out, const char *path, size_t max)
{
	char chunk[65536];
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	size_t saved = out->max;
	int error = 0;

	if (fd < 0)
		return err_set_errno(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno,
			"cannot read '%s'", path);
	out->max = max;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = err_set_errno(ERR_IO, errno, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		if (buf_put(out, chunk, (size_t)n)) {
			error = err_set(ERR_TOOBIG, "'%s' is larger than the limit of %zu bytes", path,
				max);
			break;
		}
	}
	crypto_wipe(chunk, sizeof(chunk));
	out->max = saved;
	if (fd > 0)
		close(fd);
	return error;
}

/* Strip one trailing newline (and CR) from a passphrase read from a file or a terminal. */
static void chomp(struct buf *b)
{
	if (b->len && b->ptr[b->len - 1] == '\n')
		b->ptr[--b->len] = '\0';
	if (b->len && b->ptr[b->len - 1] == '\r')
		b->ptr[--b->len] = '\0';
}

static int prompt_tty(struct buf *out, const char *prompt)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), error = 0;
	char ch;

	if (fd < 0)
		return err_set(ERR_INVALID, "no passphrase given and no terminal to ask on (use "
					    "--passphrase-file FILE or FIELDSYNC_PASSPHRASE)");
	if (write(fd, prompt, strlen(prompt)) < 0 || tcgetattr(fd, &old) != 0) {
		close(fd);
		return err_set_errno(ERR_IO, errno, "cannot prompt on the terminal");
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	for (;;) {
		ssize_t n = read(fd, &ch, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || ch == '\n')
			break;
		error = buf_putc(out, ch);
		if (error)
			break;
	}
	ch = 0;
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0)
		error = error ? error : err_set(ERR_IO, "cannot write to the terminal");
	close(fd);
	return error;
}

static int get_secret(struct buf *out, const char *file, const char *env, const char *prompt,
	int confirm)
{
	struct buf again = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	const char *value = getenv(env);
	int error;

	out->max = NODE_PASSPHRASE_MAX + 2;
	if (file) {
		error = cli_read_file(out, file, NODE_PASSPHRASE_MAX + 2);
		chomp(out);
		return error;
	}
	if (value)
		return buf_puts(out, value);
	error = prompt_tty(out, prompt);
	if (!error && confirm) {
		error = prompt_tty(&again, "Repeat it: ");
		if (!error && (again.len != out->len || memcmp(again.ptr, out->ptr, out->len) != 0))
			error = err_set(ERR_INVALID, "the passphrases do not match");
	}
	buf_wipe_release(&again);
	return error;
}

int cli_passphrase(struct buf *out, const struct cli *c, const char *prompt, int confirm)
{
	return get_secret(out, c->passphrase_file, "FIELDSYNC_PASSPHRASE", prompt, confirm);
}

int cli_new_passphrase(struct buf *out, const struct cli *c, const char *prompt)
{
	return get_secret(out, c->new_passphrase_file, "FIELDSYNC_NEW_PASSPHRASE", prompt, 1);
}

/* Log the user on with their passphrase; with `key`, also hand back the database key. */
static int open_with_passphrase(struct node **out, uint8_t *key, const struct cli *c)
{
	struct buf pass = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	const char *home = NULL, *user = NULL;
	char prompt[128];
	int error;

	error = cli_home(&home, c);
	if (!error)
		error = cli_user(&user, c);
	if (error)
		return error;
	snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", user);
	error = cli_passphrase(&pass, c, prompt, 0);
	if (!error)
		error = key ? node_open_keep_key(out, key, home, user, buf_cstr(&pass), pass.len)
			    : node_open(out, home, user, buf_cstr(&pass), pass.len);
	buf_wipe_release(&pass);
	return error;
}

int cli_open_node(struct node **out, const struct cli *c)
{
	return c->open_node ? c->open_node(out, c) : open_with_passphrase(out, NULL, c);
}

int cli_open_node_key(struct node **out, uint8_t key[CRYPTO_KEY_LEN], const struct cli *c)
{
	return c->open_node_key ? c->open_node_key(out, key, c) : open_with_passphrase(out, key, c);
}

const char *cli_json_str(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

int cli_print_json(json_t *doc)
{
	int rc;

	if (!doc) {
		fprintf(stderr, "error: cannot build the JSON output\n");
		return CLI_EXIT_FAIL;
	}
	rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

void cli_shown_cases(char *out, size_t size, json_t *entry)
{
	json_t *cases = json_object_get(entry, "cases");
	json_int_t shown = json_integer_value(json_object_get(entry, "cases_shown"));
	size_t i, len;

	out[0] = '\0';
	if (!json_is_array(cases) || !size)
		return;
	snprintf(out, size, " [shown:");
	for (i = 0; i < json_array_size(cases); i++) {
		len = strlen(out);
		snprintf(out + len, size - len, " %s", json_string_value(json_array_get(cases, i)));
	}
	len = strlen(out);
	if (shown > (json_int_t)json_array_size(cases))
		snprintf(out + len, size - len, " (+%lld more)",
			(long long)(shown - (json_int_t)json_array_size(cases)));
	len = strlen(out);
	snprintf(out + len, size - len, "]");
}

/* What `audit log` prints, and the log-on it holds back under --group-logons. */
struct log_view {
	json_t *list; /* --json */
	int group;
	int has_held;
	struct audit_record held; /* a successful log-on not printed yet; owns its bytes */
	uint8_t held_leaf[32];
};

static void log_view_drop(struct log_view *v)
{
	if (!v->has_held)
		return;
	free((void *)v->held.time);
	free((void *)v->held.user);
	free((void *)v->held.action);
	free((void *)v->held.target);
	free((void *)v->held.outcome);
	free((void *)v->held.entry);
	memset(&v->held, 0, sizeof(v->held));
	v->has_held = 0;
}

static int log_view_hold(struct log_view *v, const struct audit_record *r)
{
	uint8_t *entry = malloc(r->entry_len ? r->entry_len : 1);

	v->held.seq = r->seq;
	v->held.time = strdup(r->time);
	v->held.user = strdup(r->user);
	v->held.action = strdup(r->action);
	v->held.target = strdup(r->target);
	v->held.outcome = strdup(r->outcome);
	if (entry)
		memcpy(entry, r->entry, r->entry_len);
	v->held.entry = entry;
	v->held.entry_len = r->entry_len;
	memcpy(v->held_leaf, r->leaf, sizeof(v->held_leaf));
	v->held.leaf = v->held_leaf;
	v->has_held = 1;
	if (!entry || !v->held.time || !v->held.user || !v->held.action || !v->held.target ||
		!v->held.outcome) {
		log_view_drop(v);
		return err_set(ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* One entry; `opened`: a log-on was folded into it (--group-logons). */
static int print_audit_entry(const struct log_view *v, const struct audit_record *r, int opened)
{
	json_t *doc;
	json_error_t jerr;
	char hex[2 * AUDIT_ENTRY_MAX + 1], shown[AUDIT_ENTRY_MAX];

	doc = json_loadb((const char *)r->entry, r->entry_len, 0, &jerr);
	if (!doc)
		return err_set(ERR_CORRUPT, "audit entry %llu is not valid JSON",
			(unsigned long long)r->seq);
	if (v->list) {
		crypto_hex(hex, r->entry, r->entry_len);
		json_object_set_new(doc, "leaf", json_string(hex));
		crypto_hex(hex, r->leaf, 32);
		json_object_set_new(doc, "leaf_hash", json_string(hex));
		if (v->group)
			json_object_set_new(doc, "logon", json_boolean(opened));
		json_array_append_new(v->list, doc);
		return 0;
	}
	cli_shown_cases(shown, sizeof(shown), doc);
	printf("%6llu  %s  %-12s %-14s %-16s %-8s %s%s%s\n", (unsigned long long)r->seq, r->time,
		r->user[0] ? r->user : "-", r->action, r->target[0] ? r->target : "-", r->outcome,
		json_string_value(json_object_get(doc, "detail")), shown,
		opened ? " (after log-on)" : "");
	json_decref(doc);
	return 0;
}

/*
 * --group-logons, as on HQ's `audit query`: a successful log-on whose very next entry is by
 * the same user (and not another log-on) is folded into that entry; nothing logged changes.
 */
static int view_entry(void *ctx, const struct audit_record *r)
{
	struct log_view *v = ctx;
	int opened = 0, error = 0;

	if (!v->group)
		return print_audit_entry(v, r, 0);
	if (v->has_held) {
		opened = r->seq == v->held.seq + 1 && !strcmp(r->user, v->held.user) &&
			 strcmp(r->action, "logon");
		if (!opened)
			error = print_audit_entry(v, &v->held, 0);
		log_view_drop(v);
	}
	if (!error && !strcmp(r->action, "logon") && !strcmp(r->outcome, "success"))
		return log_view_hold(v, r);
	return error ? error : print_audit_entry(v, r, opened);
}

static int audit_log(const struct cli *c, struct node *n, const char *since, const char *case_id,
	int group)
{
	struct log_view v;
	int error;

	memset(&v, 0, sizeof(v));
	v.group = group;
	error = node_require(n, NODE_PERM_AUDIT_READ, "audit.read", "");
	/* Reading the log is an event in it, recorded before the read so the output shows it. */
	if (!error)
		error = node_audit(n, "audit.read", "", "success", since);
	if (!error) {
		v.list = c->json ? json_array() : NULL;
		error = audit_foreach(n->store, since, case_id, view_entry, &v);
	}
	if (!error && v.has_held) /* a log-on nothing followed still shows */
		error = print_audit_entry(&v, &v.held, 0);
	log_view_drop(&v);
	if (error) {
		json_decref(v.list);
		return cli_fail(c);
	}
	return v.list ? cli_print_json(json_pack("{s:o}", "entries", v.list)) : CLI_EXIT_OK;
}

int cli_audit_command(struct cli *c, const char *help)
{
	static const char usage[] = "audit log [--since TIME] [--case ID] [--group-logons]";
	struct cli_opt opts[] = {{"--since", 1, 0, {0}, 0}, {"--case", 1, 0, {0}, 0},
		{"--group-logons", 0, 0, {0}, 0}};
	struct node *n = NULL;
	const char *pos[1], *since, *case_id;
	char when[HLC_STR_MAX], full[SCHEMA_CASE_ID_MAX + 1];
	int npos, rc;

	if (cli_help(c, help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 1, &npos);
	if (rc)
		return rc;
	if (npos != 1 || strcmp(pos[0], "log") != 0)
		return cli_usage_error(c, usage, "expected 'audit log'");
	since = cli_opt(opts, CLI_N_OPTS(opts), "--since");
	case_id = cli_opt(opts, CLI_N_OPTS(opts), "--case");
	if (case_id && schema_check_case_id(case_id) &&
		strspn(case_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(case_id))
		return cli_usage_error(c, usage,
			"--case: '%s' is not a case id nor the start of one", case_id);
	if (since && hlc_parse_time(when, since, hlc_now_ms()))
		return cli_usage_error(c, usage, "--since: %s", err_msg());
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (case_id && casedb_resolve(full, n, case_id))
		rc = cli_fail(c);
	else
		rc = audit_log(c, n, since ? when : NULL, case_id ? full : NULL,
			cli_opt(opts, CLI_N_OPTS(opts), "--group-logons") != NULL);
	node_free(n);
	return rc;
}

void cli_csv_value(const char *v, int last)
{
	int quote = v && strpbrk(v, ",\"\r\n") != NULL;

	if (!v)
		v = "";
	if (quote)
		putchar('"');
	if (v[0] && strchr("=+-@", v[0]))
		putchar('\''); /* a spreadsheet would run it as a formula */
	for (; *v; v++) {
		if (*v == '"')
			putchar('"');
		putchar(*v);
	}
	if (quote)
		putchar('"');
	putchar(last ? '\n' : ',');
}
