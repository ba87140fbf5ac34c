/* agent/web.c - the local web interface and its JSON API (see web.h). */
#define _GNU_SOURCE /* memfd_create */
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <microhttpd.h>

#include "dynlib.h"
#include "web_assets.h"

/* libmicrohttpd, loaded when the web interface starts (dynlib.h); filled as an array of pointers */
static struct {
	__typeof__(&MHD_start_daemon) start_daemon;
	__typeof__(&MHD_stop_daemon) stop_daemon;
	__typeof__(&MHD_lookup_connection_value) lookup_connection_value;
	__typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
	__typeof__(&MHD_add_response_header) add_response_header;
	__typeof__(&MHD_queue_response) queue_response;
	__typeof__(&MHD_destroy_response) destroy_response;
} mh;
static const char *const mh_names[] = {"MHD_start_daemon", "MHD_stop_daemon",
	"MHD_lookup_connection_value", "MHD_create_response_from_buffer", "MHD_add_response_header",
	"MHD_queue_response", "MHD_destroy_response"};
static struct dynlib libmicrohttpd = {"libmicrohttpd.so.12", "for the web interface", mh_names,
	(void **)&mh, sizeof(mh) / sizeof(void *), PTHREAD_ONCE_INIT, ""};

#define MHD_start_daemon mh.start_daemon
#define MHD_stop_daemon mh.stop_daemon
#define MHD_lookup_connection_value mh.lookup_connection_value
#define MHD_create_response_from_buffer mh.create_response_from_buffer
#define MHD_add_response_header mh.add_response_header
#define MHD_queue_response mh.queue_response
#define MHD_destroy_response mh.destroy_response

#define BODY_MAX (4u * 1024 * 1024) /* a request body (a narrative is at most 1 MiB) */
#define OUT_MAX (64u * 1024 * 1024) /* a command's output */
#define COOKIE "fs_session"
#define ARGS 160
#define WEB_REFUSALS_AUDITED 20 /* refusals a minute with an entry each */

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
			  "img-src 'self'; connect-src 'self'; form-action 'self'; "
			  "frame-ancestors 'none'; base-uri 'none'";

struct web {
	struct MHD_Daemon *d;
	struct service *svc;
	struct web_options opt;
	char host_ok[2][96];	/* accepted Host headers */
	char origin_ok[2][104]; /* accepted Origin headers */

	/* refusals: the first WEB_REFUSALS_AUDITED of each minute one entry each, the rest folded */
	pthread_mutex_t fold_lock;
	int64_t fold_start_ms;
	unsigned fold_seen, folded;
	char fold_last[256]; /* the detail of the last one folded */
};

/* One request's state across the calls libmicrohttpd makes for it. */
struct req {
	struct buf body;
	int too_big;
};

void web_options_init(struct web_options *w)
{
	memset(w, 0, sizeof(*w));
	w->enabled = 1;
	snprintf(w->host, sizeof(w->host), "127.0.0.1");
	w->port = WEB_DEFAULT_PORT;
	snprintf(w->display, sizeof(w->display), "127.0.0.1:%d", w->port);
}

int web_parse_listen(struct web_options *w, const char *v)
{
	const char *colon = strrchr(v, ':');
	struct in_addr a;
	char host[64];
	long port = 0;
	const char *p;

	if (!colon || colon == v || (size_t)(colon - v) >= sizeof(host))
		return err_set(ERR_INVALID, "'%s' is not HOST:PORT", v);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
	if (inet_pton(AF_INET, host, &a) != 1)
		return err_set(ERR_INVALID, "'%s' is not an IPv4 address", host);
	for (p = colon + 1; *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (*p - '0');
	if (*p || p == colon + 1 || port < 1 || port > 65535)
		return err_set(ERR_INVALID, "'%s' is not a port", colon + 1);
	snprintf(w->host, sizeof(w->host), "%s", host);
	w->port = (int)port;
	snprintf(w->display, sizeof(w->display), "%s:%d", host, w->port);
	return 0;
}

/* jansson's memory is wiped before it is freed: request bodies carry passphrases and case text. */
static void wiping_free(void *p)
{
	if (p)
		crypto_wipe(p, malloc_usable_size(p));
	free(p);
}

static void headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
}

static enum MHD_Result send_bytes(struct MHD_Connection *conn, unsigned status, const char *type,
	const void *p, size_t len, const char *cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)p,
		MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	headers(r);
	MHD_add_response_header(r, "Content-Type", type);
	if (cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON document (stolen). */
static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *doc,
	const char *cookie)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(doc);
	if (!text)
		return send_bytes(conn, 500, "application/json", "{\"error\":\"out of memory\"}",
			25, NULL);
	ret = send_bytes(conn, status, "application/json", text, strlen(text), cookie);
	wiping_free(text);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return send_json(conn, status, json_pack("{s:s}", "error", msg), NULL);
}

/* A header value fit for the audit trail: printable, at most 80 bytes. */
static void printable(char *out, size_t size, const char *v)
{
	size_t i, k = 0;

	for (i = 0; v && v[i] && k + 1 < size && k < 80; i++)
		out[k++] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
	out[k] = '\0';
}

/*
 * Close the refusal window if a minute has passed (or `now_anyway`): the folded count, if any, as
 * one entry.  Under fold_lock; the entry is written after it is released.
 */
static void fold_flush(struct web *web, int64_t now, int now_anyway)
{
	char detail[400] = "";
	unsigned folded = 0;

	pthread_mutex_lock(&web->fold_lock);
	if (now_anyway || now - web->fold_start_ms >= 60000) {
		folded = web->folded;
		if (folded)
			snprintf(detail, sizeof(detail),
				"%u more refusals within a minute, folded into this entry; the last: %s",
				folded, web->fold_last);
		web->fold_start_ms = now;
		web->fold_seen = web->folded = 0;
	}
	pthread_mutex_unlock(&web->fold_lock);
	if (folded)
		service_audit(web->svc, "", "web.refused", "(folded)", "denied", detail);
}

/* Refuse and audit (a flood folded: a hostile page cannot grow the trail without bound). */
static enum MHD_Result refuse(struct web *web, struct MHD_Connection *conn, unsigned status,
	const char *user, const char *method, const char *url, const char *why)
{
	char target[128], detail[256];
	int own_entry;

	printable(target, sizeof(target), url);
	snprintf(detail, sizeof(detail), "%s %s: %s", method, target, why);
	fold_flush(web, hlc_now_ms(), 0);
	pthread_mutex_lock(&web->fold_lock);
	own_entry = ++web->fold_seen <= WEB_REFUSALS_AUDITED;
	if (!own_entry) {
		web->folded++;
		snprintf(web->fold_last, sizeof(web->fold_last), "%s", detail);
	}
	pthread_mutex_unlock(&web->fold_lock);
	if (own_entry) {
		service_audit(web->svc, user, "web.refused", target, "denied", detail);
		service_log(web->svc, "web request refused: %s", detail);
	}
	return send_error(conn, status, why);
}

void web_sweep(struct web *web)
{
	if (web)
		fold_flush(web, hlc_now_ms(), 0);
}

static int hex_decode(uint8_t *out, size_t len, const char *hex)
{
	size_t i;

	if (!hex || strlen(hex) != 2 * len)
		return -1;
	for (i = 0; i < 2 * len; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

/* The output of one command, in memory (never a file). */
struct run {
	int rc;
	struct buf out, err;
};

static int memfd_with(int *fd_out, const char *name, const void *p, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return err_set_errno(ERR_IO, errno, "cannot create an in-memory file");
	if (len && (write(fd, p, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0)) {
		close(fd);
		return err_set(ERR_IO, "cannot fill an in-memory file");
	}
	*fd_out = fd;
	return 0;
}

static int memfd_read(struct buf *out, int fd)
{
	char chunk[65536];
	ssize_t n;
	int error = 0;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return err_set_errno(ERR_IO, errno, "cannot read back a command's output");
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && !error)
		error = buf_put(out, chunk, (size_t)n);
	crypto_wipe(chunk, sizeof(chunk));
	return error;
}

/*
 * Run `args` (a command line without the program's name, with --json added) for `user`,
 * stdin from `in`.  *need is set if the session is gone.
 */
static int run_cli(struct run *r, int *need, struct web *web, const char *user, const char **args,
	int nargs, const struct buf *in)
{
	struct service_request req;
	char *argv[ARGS + 3];
	int fds[3] = {-1, -1, -1}, i, error;

	memset(&req, 0, sizeof(req));
	buf_init(&r->out, OUT_MAX);
	buf_init(&r->err, 65536);
	argv[0] = (char *)web->svc->prog->prog;
	argv[1] = (char *)"--json";
	for (i = 0; i < nargs && i < ARGS; i++)
		argv[i + 2] = (char *)args[i];
	argv[i + 2] = NULL;
	error = memfd_with(&fds[0], "stdin", in ? in->ptr : NULL, in ? in->len : 0);
	if (!error)
		error = memfd_with(&fds[1], "stdout", NULL, 0);
	if (!error)
		error = memfd_with(&fds[2], "stderr", NULL, 0);
	if (!error) {
		req.user = user;
		req.argc = i + 2;
		req.argv = argv;
		req.fd[0] = fds[0];
		req.fd[1] = fds[1];
		req.fd[2] = fds[2];
		req.cwd_fd = -1;
		req.require_session = 1;
		r->rc = service_command(need, web->svc, &req);
		error = memfd_read(&r->out, fds[1]);
		if (!error)
			error = memfd_read(&r->err, fds[2]);
	}
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return error;
}

static void run_release(struct run *r)
{
	buf_wipe_release(&r->out);
	buf_wipe_release(&r->err);
}

/* Answer with what the command printed: its JSON, or its error. */
static enum MHD_Result send_run(struct MHD_Connection *conn, struct web *web, const char *user,
	const char **args, int nargs, const struct buf *in, unsigned ok_status)
{
	struct run r;
	enum MHD_Result ret;
	const char *msg, *prefix = "error: ";
	char *p;
	int need = 0;

	if (run_cli(&r, &need, web, user, args, nargs, in)) {
		ret = send_error(conn, 500, err_msg());
	} else if (need) {
		ret = send_error(conn, 401, "the session is locked: log on again");
	} else if (r.rc == CLI_EXIT_OK) {
		ret = r.out.len ? send_bytes(conn, ok_status, "application/json", r.out.ptr,
					  r.out.len, NULL)
				: send_json(conn, ok_status, json_pack("{s:b}", "ok", 1), NULL);
	} else {
		msg = buf_cstr(&r.err);
		p = strstr(msg, prefix);
		msg = p ? p + strlen(prefix) : msg;
		p = strchr(msg, '\n');
		if (p)
			*p = '\0';
		ret = send_error(conn,
			r.rc == CLI_EXIT_USAGE	      ? 400
			: strstr(msg, " may not do ") ? 403
						      : 422,
			msg[0] ? msg : "the command failed");
	}
	run_release(&r);
	return ret;
}

/* A case id or other word from a URL: [A-Za-z0-9._/-], not starting with '-'. */
static int word_ok(const char *w)
{
	return w && w[0] && w[0] != '-' && strlen(w) < 200 &&
	       strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/-") ==
		       strlen(w);
}

/* GET query argument, checked like a word (or NULL). */
static const char *query(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* --set NAME=VALUE for each member of `fields`, into args (strings kept in `keep`). */
static int add_fields(const char **args, int *n, json_t *fields, json_t *keep)
{
	const char *name;
	json_t *v;

	if (!fields)
		return 0;
	if (!json_is_object(fields))
		return -1;
	json_object_foreach(fields, name, v)
	{
		json_t *s;

		if (!json_is_string(v) ||
			strspn(name, "abcdefghijklmnopqrstuvwxyz_") != strlen(name) ||
			*n + 2 > ARGS)
			return -1;
		s = json_sprintf("%s=%s", name, json_string_value(v));
		if (!s || json_array_append_new(keep, s))
			return -1;
		args[(*n)++] = "--set";
		args[(*n)++] = json_string_value(s);
	}
	return 0;
}

/* POST /api/cases and POST /api/cases/ID: a new case or an edit. */
static enum MHD_Result write_case(struct MHD_Connection *conn, struct web *web, const char *user,
	const char *id, json_t *body)
{
	const char *args[ARGS];
	struct buf in = BUF_INIT(BODY_MAX);
	json_t *keep = json_array(), *narr = json_object_get(body, "narrative");
	const char *title = json_string_value(json_object_get(body, "title"));
	const char *category = json_string_value(json_object_get(body, "category"));
	enum MHD_Result ret;
	int n = 0;

	args[n++] = "case";
	args[n++] = id ? "edit" : "new";
	if (id)
		args[n++] = id;
	if (!id && (!title || !category)) {
		ret = send_error(conn, 400, "a new case needs a title and a category");
		goto out;
	}
	if (title) {
		args[n++] = "--title";
		args[n++] = title;
	}
	if (category) {
		args[n++] = "--category";
		args[n++] = category;
	}
	if (!keep || add_fields(args, &n, json_object_get(body, "fields"), keep) ||
		(narr && !json_is_string(narr))) {
		ret = send_error(conn, 400, "fields must be an object of strings");
		goto out;
	}
	if (narr) {
		args[n++] = "--narrative-file";
		args[n++] = "-";
		if (buf_put(&in, json_string_value(narr), json_string_length(narr))) {
			ret = send_error(conn, 413, "the narrative is too long");
			goto out;
		}
	}
	ret = send_run(conn, web, user, args, n, &in, id ? 200 : 201);
out:
	buf_wipe_release(&in);
	json_decref(keep);
	return ret;
}

static enum MHD_Result add_note(struct MHD_Connection *conn, struct web *web, const char *user,
	const char *id, json_t *body)
{
	const char *args[] = {"note", "add", id, "--file", "-"};
	struct buf in = BUF_INIT(BODY_MAX);
	json_t *text = json_object_get(body, "text");
	enum MHD_Result ret;

	if (!json_is_string(text) || !json_string_length(text))
		return send_error(conn, 400, "a note needs a text");
	if (buf_put(&in, json_string_value(text), json_string_length(text)))
		ret = send_error(conn, 413, "the note is too long");
	else
		ret = send_run(conn, web, user, args, 5, &in, 201);
	buf_wipe_release(&in);
	return ret;
}

static enum MHD_Result resolve(struct MHD_Connection *conn, struct web *web, const char *user,
	const char *id, json_t *body)
{
	const char *args[8];
	const char *path = json_string_value(json_object_get(body, "path"));
	const char *choice = json_string_value(json_object_get(body, "choice"));
	const char *value = json_string_value(json_object_get(body, "value"));
	const char *version = json_string_value(json_object_get(body, "version"));
	int n = 0;

	if (!word_ok(path) || !choice)
		return send_error(conn, 400, "resolve needs a path and a choice");
	args[n++] = "conflicts";
	args[n++] = "resolve";
	args[n++] = id;
	args[n++] = path;
	if (!strcmp(choice, "mine") || !strcmp(choice, "theirs")) {
		args[n++] = !strcmp(choice, "mine") ? "--mine" : "--theirs";
	} else if (!strcmp(choice, "value") && value) {
		args[n++] = "--value";
		args[n++] = value;
	} else {
		return send_error(conn, 400, "choice is mine, theirs or value (with a value)");
	}
	if (version && word_ok(version)) {
		args[n++] = "--version";
		args[n++] = version;
	}
	return send_run(conn, web, user, args, n, NULL, 200);
}

/* The unpushed count now (a quick read on a node of our own). */
static long long unpushed_now(struct service *svc, const char *user)
{
	struct node *n = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (service_node_open(&n, svc, user))
		return -1;
	if (!store_prepare(&st, n->store,
		    "SELECT count(*) FROM case_heads WHERE base IS NOT head") &&
		sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	service_node_close(svc, n);
	return v;
}

static enum MHD_Result status(struct MHD_Connection *conn, struct web *web, const char *user,
	const char *role)
{
	json_t *sync = service_sync_json(web->svc);
	long long unpushed = unpushed_now(web->svc, user);

	if (sync && unpushed >= 0)
		json_object_set_new(sync, "unpushed", json_integer(unpushed));
	return send_json(conn, 200,
		json_pack("{s:s, s:s, s:I, s:o?}", "user", user, "role", role, "idle_seconds",
			(json_int_t)(web->svc->idle_ms / 1000), "sync", sync),
		NULL);
}

/* Routes for a user with a session; `rest` is the URL after "/api/". */
static enum MHD_Result route(struct MHD_Connection *conn, struct web *web, const char *user,
	const char *role, const char *method, const char *rest, json_t *body)
{
	int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	char id[256] = "", sub[64] = "";
	const char *slash;

	if (!strncmp(rest, "cases/", 6) || !strncmp(rest, "conflicts/", 10)) {
		const char *start = strchr(rest, '/') + 1;

		slash = strchr(start, '/');
		snprintf(id, sizeof(id), "%.*s", slash ? (int)(slash - start) : (int)strlen(start),
			start);
		snprintf(sub, sizeof(sub), "%s", slash ? slash + 1 : "");
		if (!word_ok(id) || strchr(id, '/'))
			return send_error(conn, 404, "no such case");
	}
	if (get && !strcmp(rest, "status"))
		return status(conn, web, user, role);
	if (get && !strcmp(rest, "fields")) {
		const char *a[] = {"case", "fields"};

		return send_run(conn, web, user, a, 2, NULL, 200);
	}
	if (get && !strcmp(rest, "cases")) {
		const char *q = query(conn, "q"), *st = query(conn, "status");
		const char *a[4] = {"case", "list", NULL, NULL};
		int n = 2;

		if (q && q[0]) {
			a[1] = "search";
			a[n++] = q;
		} else if (st && st[0]) {
			if (!word_ok(st))
				return send_error(conn, 400, "bad status");
			a[n++] = "--status";
			a[n++] = st;
		}
		return send_run(conn, web, user, a, n, NULL, 200);
	}
	if (post && !strcmp(rest, "cases"))
		return write_case(conn, web, user, NULL, body);
	if (id[0] && !strncmp(rest, "cases/", 6)) {
		if (get && !sub[0]) {
			const char *a[] = {"case", "show", id};

			return send_run(conn, web, user, a, 3, NULL, 200);
		}
		if (post && !sub[0])
			return write_case(conn, web, user, id, body);
		if (get && !strcmp(sub, "history")) {
			const char *a[] = {"case", "history", id};

			return send_run(conn, web, user, a, 3, NULL, 200);
		}
		if (get && !strcmp(sub, "diff")) {
			const char *rev = query(conn, "rev");
			const char *a[] = {"case", "diff", id, rev};

			if (!word_ok(rev))
				return send_error(conn, 400, "diff needs ?rev=COMMIT");
			return send_run(conn, web, user, a, 4, NULL, 200);
		}
		if (post && !strcmp(sub, "notes"))
			return add_note(conn, web, user, id, body);
	}
	if (get && !strcmp(rest, "conflicts")) {
		const char *a[] = {"conflicts"};

		return send_run(conn, web, user, a, 1, NULL, 200);
	}
	if (id[0] && !strncmp(rest, "conflicts/", 10)) {
		const char *a[] = {"conflicts", id};

		if (get && !sub[0])
			return send_run(conn, web, user, a, 2, NULL, 200);
		if (post && !strcmp(sub, "resolve"))
			return resolve(conn, web, user, id, body);
	}
	if (post && !strcmp(rest, "sync")) {
		service_request_sync(web->svc);
		return send_json(conn, 202, json_pack("{s:b}", "requested", 1), NULL);
	}
	if (get && !strcmp(rest, "audit")) {
		const char *since = query(conn, "since");
		const char *a[4] = {"audit", "log", "--since", since};

		if (since && !word_ok(since))
			return send_error(conn, 400, "bad since");
		return send_run(conn, web, user, a, since ? 4 : 2, NULL, 200);
	}
	if (post && !strcmp(rest, "logoff")) {
		service_drop_session(web->svc, user, "logoff");
		return send_json(conn, 200, json_pack("{s:b}", "ok", 1),
			COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	}
	return send_error(conn, 404, "no such route");
}

static void hex(char *out, const uint8_t *p, size_t len)
{
	crypto_hex(out, p, len);
}

static enum MHD_Result logon(struct MHD_Connection *conn, struct web *web, json_t *body)
{
	uint8_t token[SERVICE_TOKEN_LEN], csrf[SERVICE_TOKEN_LEN];
	char cookie[160], th[2 * SERVICE_TOKEN_LEN + 1], ch[2 * SERVICE_TOKEN_LEN + 1], role[16];
	const char *user = json_string_value(json_object_get(body, "user"));
	json_t *pass = json_object_get(body, "passphrase");
	enum MHD_Result ret;

	if (!user || !json_is_string(pass))
		return send_error(conn, 400, "log-on needs a user and a passphrase");
	if (service_logon(token, csrf, role, sizeof(role), web->svc, user, json_string_value(pass),
		    json_string_length(pass)))
		return send_error(conn, err_code() == ERR_LOCKED ? 429 : 401, err_msg());
	hex(th, token, sizeof(token));
	hex(ch, csrf, sizeof(csrf));
	snprintf(cookie, sizeof(cookie), COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", th);
	ret = send_json(conn, 200,
		json_pack("{s:s, s:s, s:s}", "user", user, "role", role, "csrf", ch), cookie);
	crypto_wipe(token, sizeof(token));
	crypto_wipe(csrf, sizeof(csrf));
	crypto_wipe(th, sizeof(th));
	crypto_wipe(ch, sizeof(ch));
	crypto_wipe(cookie, sizeof(cookie));
	return ret;
}

static enum MHD_Result asset(struct MHD_Connection *conn, const char *url)
{
	size_t i;

	for (i = 0; i < web_nassets; i++)
		if (!strcmp(url, web_assets[i].path))
			return send_bytes(conn, 200, web_assets[i].type, web_assets[i].data,
				web_assets[i].len, NULL);
	return send_error(conn, 404, "not found");
}

/* The whole request is in: check it, then route it. */
static enum MHD_Result handle(struct web *web, struct MHD_Connection *conn, const char *url,
	const char *method, struct req *rq)
{
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE);
	const char *token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token");
	char user[SCHEMA_USER_MAX + 1], role[16], why[200], shown[96];
	uint8_t tok[SERVICE_TOKEN_LEN], csrf[SERVICE_TOKEN_LEN], given[SERVICE_TOKEN_LEN];
	int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	json_t *body = NULL;
	json_error_t jerr;
	enum MHD_Result ret;

	if (!host || !(strcmp(host, web->host_ok[0]) == 0 || strcmp(host, web->host_ok[1]) == 0)) {
		printable(shown, sizeof(shown), host ? host : "(none)");
		snprintf(why, sizeof(why), "foreign Host header '%s'", shown);
		return refuse(web, conn, 421, "", method, url, why);
	}
	if ((origin && strcmp(origin, web->origin_ok[0]) && strcmp(origin, web->origin_ok[1])) ||
		(site && strcmp(site, "same-origin") && strcmp(site, "none"))) {
		printable(shown, sizeof(shown), origin ? origin : site);
		snprintf(why, sizeof(why), "foreign Origin '%s'", shown);
		return refuse(web, conn, 403, "", method, url, why);
	}
	if (!get && !post)
		return send_error(conn, 405, "only GET and POST");
	if (strncmp(url, "/api/", 5) != 0)
		return get ? asset(conn, url) : send_error(conn, 405, "only GET here");
	if (rq->too_big)
		return send_error(conn, 413, "the request body is too large");
	if (post && rq->body.len) {
		body = json_loadb(rq->body.ptr, rq->body.len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(body)) {
			json_decref(body);
			return send_error(conn, 400, "the body is not a JSON object");
		}
	}
	if (post && !strcmp(url, "/api/logon")) {
		ret = logon(conn, web, body);
		goto out;
	}
	if (!cookie || hex_decode(tok, sizeof(tok), cookie) ||
		service_web_session(user, role, csrf, web->svc, tok)) {
		if (get && !strcmp(url, "/api/session")) {
			ret = send_json(conn, 200, json_pack("{s:n}", "user"), NULL);
			goto out;
		}
		ret = refuse(web, conn, 401, "", method, url,
			cookie ? "no open session (locked or logged off)" : "no session");
		goto out;
	}
	if (post && (!token || hex_decode(given, sizeof(given), token) ||
			    !crypto_equal(given, csrf, sizeof(csrf)))) {
		ret = refuse(web, conn, 403, user, method, url,
			token ? "wrong CSRF token" : "missing CSRF token");
		goto out;
	}
	if (get && !strcmp(url, "/api/session")) {
		char ch[2 * SERVICE_TOKEN_LEN + 1];

		hex(ch, csrf, sizeof(csrf));
		ret = send_json(conn, 200,
			json_pack("{s:s, s:s, s:s}", "user", user, "role", role, "csrf", ch), NULL);
		crypto_wipe(ch, sizeof(ch));
		goto out;
	}
	ret = route(conn, web, user, role, method, url + 5, body);
out:
	crypto_wipe(tok, sizeof(tok));
	crypto_wipe(csrf, sizeof(csrf));
	crypto_wipe(given, sizeof(given));
	json_decref(body);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload, size_t *upload_size,
	void **state)
{
	struct web *web = cls;
	struct req *rq = *state;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		buf_init(&rq->body, BODY_MAX);
		*state = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_big && buf_put(&rq->body, upload, *upload_size))
			rq->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	return handle(web, conn, url, method, rq);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **state,
	enum MHD_RequestTerminationCode code)
{
	struct req *rq = *state;

	(void)cls;
	(void)conn;
	(void)code;
	if (!rq)
		return;
	buf_wipe_release(&rq->body);
	free(rq);
	*state = NULL;
}

int web_start(struct web **out, struct service *svc, const struct web_options *w)
{
	struct sockaddr_in addr;
	struct web *web;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)w->port);
	if (inet_pton(AF_INET, w->host, &addr.sin_addr) != 1)
		return err_set(ERR_INVALID, "'%s' is not an IPv4 address", w->host);
	if ((ntohl(addr.sin_addr.s_addr) >> 24) != 127 && !w->force)
		return err_set(ERR_PERM,
			"the web interface listens on a loopback address only; '%s' is not one "
			"(--force-listen to insist)",
			w->host);
	if (dynlib_ready(&libmicrohttpd))
		return ERR_IO;
	web = calloc(1, sizeof(*web));
	if (!web)
		return err_set(ERR_NOMEM, "out of memory");
	web->svc = svc;
	web->opt = *w;
	pthread_mutex_init(&web->fold_lock, NULL);
	web->fold_start_ms = hlc_now_ms();
	snprintf(web->host_ok[0], sizeof(web->host_ok[0]), "%s:%d", w->host, w->port);
	snprintf(web->host_ok[1], sizeof(web->host_ok[1]), "localhost:%d", w->port);
	snprintf(web->origin_ok[0], sizeof(web->origin_ok[0]), "http://%s", web->host_ok[0]);
	snprintf(web->origin_ok[1], sizeof(web->origin_ok[1]), "http://%s", web->host_ok[1]);
	json_set_alloc_funcs(malloc, wiping_free);
	web->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
		on_request, web, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_NOTIFY_COMPLETED, on_done, web, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
	if (!web->d) {
		pthread_mutex_destroy(&web->fold_lock);
		free(web);
		return err_set(ERR_IO, "cannot listen on %s:%d", w->host, w->port);
	}
	*out = web;
	return 0;
}

void web_stop(struct web *web)
{
	if (!web)
		return;
	MHD_stop_daemon(web->d);
	fold_flush(web, hlc_now_ms(), 1);
	pthread_mutex_destroy(&web->fold_lock);
	free(web);
}
