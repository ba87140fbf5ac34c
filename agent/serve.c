/*
 * agent/serve.c - `fieldsync-agent serve`: unlock once, then serve the command line over the
 * node directory's unix socket, the web interface on 127.0.0.1 and the background sync, until
 * SIGTERM or SIGINT.  See agent/service.h for the design.
 */
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd_config.h"
#include "commands.h"
#include "config.h"
#include "keyfile.h"
#include "notify.h"
#include "node/node.h"
#include "node/users.h"
#include "service.h"
#include "web.h"
#include "wire.h"

#define CLIENTS_MAX 32 /* command-line connections at once */

static const char serve_help[] =
	"usage: fieldsync-agent serve [--listen 127.0.0.1:PORT | --no-web] [--force-listen]\n"
	"                             [--idle DURATION] [--sync-every DURATION]\n"
	"                             [--sync-debounce DURATION] [--backoff-min DURATION]\n"
	"                             [--backoff-max DURATION] [--log FILE] [--key-file FILE]\n"
	"\n"
	"Run this device's service: unlock the store once (your passphrase, as for any command,\n"
	"or --key-file: the device key file made by `fieldsync-agent key-file create`, for a\n"
	"service that starts unattended), then keep it open until SIGTERM or SIGINT.  While it\n"
	"runs:\n"
	"  - the command line talks to it over serve.sock in the node directory (mode 0600, same\n"
	"    user only): a user with an open session runs commands without a key derivation; the\n"
	"    first command of a user logs them on with their passphrase.  FIELDSYNC_NO_SERVICE=1\n"
	"    makes a command run on its own as before;\n"
	"  - the web interface listens on --listen (default 127.0.0.1:8470; only a loopback\n"
	"    address unless --force-listen);\n"
	"  - a background sync runs at start, every --sync-every (default 5m), --sync-debounce\n"
	"    (default 10s) after a change made through the service, and on demand; while HQ cannot\n"
	"    be reached it backs off from --backoff-min (5s) doubling up to --backoff-max (5m),\n"
	"    with jitter.  `status` shows its state.\n"
	"Sessions lock after --idle (default 15m, at most 30m) without use.  DURATION is a number\n"
	"of seconds or with a unit: 500ms, 90s, 15m, 1h.  The log (--log, else stderr) holds no secret.\n"
	"Each option may also be set in the [serve] section of agent.conf or with its FIELDSYNC_...\n"
	"variable (fieldsync.conf(5); `fieldsync-agent config show`).  Under systemd, with no\n"
	"--key-file, the credential fieldsync-agent.key ($CREDENTIALS_DIRECTORY) unlocks the\n"
	"store; READY=1 is sent once it serves, STOPPING=1 at SIGTERM.\n";

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/* Options into svc; a usage error's exit code, or 0. */
static int read_options(struct service *svc, struct web_options *w, struct cli *c,
	struct cli_opt *opts, size_t nopts, const char **log_path)
{
	static const char usage[] = "serve [--listen 127.0.0.1:PORT] [OPTIONS]";
	struct {
		const char *name;
		int64_t *into;
		int64_t min;
	} durs[] = {{"--idle", &svc->idle_ms, 1000}, {"--sync-every", &svc->sync_every_ms, 1000},
		{"--sync-debounce", &svc->debounce_ms, 0},
		{"--backoff-min", &svc->backoff_min_ms, 100},
		{"--backoff-max", &svc->backoff_max_ms, 100}};
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		v = cli_opt(opts, nopts, durs[i].name);
		if (!v)
			continue;
		*durs[i].into = config_parse_duration(v);
		if (*durs[i].into < durs[i].min)
			return cli_usage_error(c, usage, "%s: '%s' is not a duration (90s, 15m)",
				durs[i].name, v);
	}
	if (svc->idle_ms > SERVICE_IDLE_MAX_S * 1000LL)
		return cli_usage_error(c, usage, "--idle: at most 30m (CJIS 5.5.5)");
	if (svc->backoff_max_ms < svc->backoff_min_ms)
		return cli_usage_error(c, usage, "--backoff-max is less than --backoff-min");
	w->force = cli_opt(opts, nopts, "--force-listen") != NULL;
	w->enabled = cli_opt(opts, nopts, "--no-web") == NULL;
	v = cli_opt(opts, nopts, "--listen");
	if (v && web_parse_listen(w, v))
		return cli_usage_error(c, usage, "--listen: %s", err_msg());
	*log_path = cli_opt(opts, nopts, "--log");
	return 0;
}

/* Wipe FIELDSYNC_PASSPHRASE from the environment: commands run here never read it. */
static void forget_env_secrets(void)
{
	static const char *const names[] = {"FIELDSYNC_PASSPHRASE", "FIELDSYNC_NEW_PASSPHRASE"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *v = getenv(names[i]);

		if (v)
			crypto_wipe(v, strlen(v));
		unsetenv(names[i]);
	}
}

/* Take the node's service lock (one service per device) and bind serve.sock. */
static int listen_unix(int *fd_out, int *lock_out, const char *home)
{
	struct sockaddr_un addr;
	char lock_path[4096];
	mode_t old;
	int fd = -1, lock = -1, error = 0, n;

	snprintf(lock_path, sizeof(lock_path), "%s/serve.lock", home);
	lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0)
		return err_set_errno(ERR_IO, errno, "cannot open '%s'", lock_path);
	if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
		error = err_set(ERR_BUSY, "a service already runs for '%s'", home);
		goto out;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", home, SERVICE_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		error = err_set(ERR_INVALID, "the node directory's path is too long for a socket");
		goto out;
	}
	unlink(addr.sun_path); /* left by a service that was killed: we hold the lock */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	old = umask(0177);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
		chmod(addr.sun_path, 0600) != 0 || listen(fd, 16) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot listen on '%s'", addr.sun_path);
	umask(old);
out:
	if (error) {
		if (fd >= 0)
			close(fd);
		close(lock);
		return error;
	}
	*fd_out = fd;
	*lock_out = lock;
	return 0;
}

static int read_full(int fd, void *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* The header and the descriptors; -1 if malformed. */
static int read_header(struct wire_request *h, int fds[WIRE_FDS], int fd)
{
	char ctl[CMSG_SPACE(sizeof(int) * WIRE_FDS)];
	struct iovec iov = {h, sizeof(*h)};
	struct msghdr msg;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			cm->cmsg_len == CMSG_LEN(sizeof(int) * WIRE_FDS))
			memcpy(fds, CMSG_DATA(cm), sizeof(int) * WIRE_FDS);
	if (n < 0 || (msg.msg_flags & MSG_CTRUNC))
		return -1;
	if ((size_t)n < sizeof(*h) && read_full(fd, (char *)h + n, sizeof(*h) - (size_t)n))
		return -1;
	if (h->magic != WIRE_MAGIC || h->argc < 1 || h->argc > CLI_ARGS_MAX ||
		h->strings_len > WIRE_MAX || h->passlen > NODE_PASSPHRASE_MAX + 2)
		return -1;
	return fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0 && fds[3] >= 0 ? 0 : -1;
}

/* Split the strings into the user and argv; -1 if they do not add up. */
static int split_strings(const char **user, char **argv, char *s, size_t len, uint32_t argc)
{
	size_t at = 0, k;

	for (k = 0; k <= argc; k++) {
		const char *end = memchr(s + at, '\0', len - at);

		if (!end)
			return -1;
		if (k == 0)
			*user = s + at;
		else
			argv[k - 1] = s + at;
		at = (size_t)(end - s) + 1;
	}
	argv[argc] = NULL;
	return at == len && (*user)[0] ? 0 : -1;
}

struct client {
	struct service *svc;
	int fd;
};

static int active_clients;

/* One command-line connection: one request, one reply. */
static void *client_thread(void *arg)
{
	struct client *cl = arg;
	struct service *svc = cl->svc;
	struct service_request req;
	struct wire_request h;
	struct wire_reply r = {WIRE_MAGIC, WIRE_REFUSED, 0};
	struct buf body = BUF_INIT(WIRE_MAX + NODE_PASSPHRASE_MAX + 2);
	char *argv[CLI_ARGS_MAX + 1];
	int fds[WIRE_FDS] = {-1, -1, -1, -1}, need_pass = 0, i;

	memset(&req, 0, sizeof(req));
	if (read_header(&h, fds, cl->fd) ||
		buf_grow(&body, (size_t)h.strings_len + h.passlen + 1) ||
		read_full(cl->fd, body.ptr, (size_t)h.strings_len + h.passlen) ||
		split_strings(&req.user, argv, body.ptr, h.strings_len, h.argc)) {
		service_log(svc, "a malformed request on the socket was refused");
		goto reply;
	}
	body.len = (size_t)h.strings_len + h.passlen;
	req.argc = (int)h.argc;
	req.argv = argv;
	for (i = 0; i < 3; i++)
		req.fd[i] = fds[i];
	req.cwd_fd = fds[3];
	req.pass = h.passlen ? body.ptr + h.strings_len : NULL;
	req.passlen = h.passlen;
	r.code = service_command(&need_pass, svc, &req);
	r.kind = need_pass ? WIRE_NEED_PASS : WIRE_DONE;
reply:
	if (write(cl->fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		service_log(svc, "a client went away before its reply");
	for (i = 0; i < WIRE_FDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	buf_wipe_release(&body);
	close(cl->fd);
	free(cl);
	__atomic_sub_fetch(&active_clients, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Accept one connection: same user only, a thread for it. */
static void accept_client(struct service *svc, int lfd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval tv = {30, 0};
	struct client *cl;
	pthread_attr_t attr;
	pthread_t t;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
		service_log(svc, "refused a connection from uid %ld (not this service's user)",
			(long)cred.uid);
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl || __atomic_add_fetch(&active_clients, 1, __ATOMIC_SEQ_CST) > CLIENTS_MAX) {
		if (cl)
			__atomic_sub_fetch(&active_clients, 1, __ATOMIC_SEQ_CST);
		free(cl);
		close(fd);
		return;
	}
	/* a silent client cannot hold a thread for long (the command itself is not bounded) */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cl->svc = svc;
	cl->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, client_thread, cl) != 0) {
		__atomic_sub_fetch(&active_clients, 1, __ATOMIC_SEQ_CST);
		close(fd);
		free(cl);
	}
	pthread_attr_destroy(&attr);
}

/* The main loop: accept, sweep idle sessions, until a signal. */
static void serve_loop(struct service *svc, struct web *web, int lfd)
{
	struct pollfd p = {lfd, POLLIN, 0};

	while (!stop_signal) {
		int n = poll(&p, 1, SERVICE_SEAL_QUIET_MS);

		if (n > 0 && (p.revents & POLLIN))
			accept_client(svc, lfd);
		service_sweep(svc);
		web_sweep(web);
		service_seal(svc, 0);
	}
}

static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		return err_set_errno(ERR_IO, errno, "cannot install signal handlers");
	/* a client that goes away mid-output must not end the service */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Unlock, start everything, serve, stop.  Returns an exit code. */
static int run(struct service *svc, struct cli *c, struct web_options *w, const char *key_file)
{
	struct buf pass = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	struct web *web = NULL;
	const char *user = NULL;
	char prompt[128], status[4200];
	pthread_t sync_thread;
	int lfd = -1, lock = -1, started = 0, rc = CLI_EXIT_FAIL, error;

	error = key_file ? 0 : cli_user(&user, c);
	if (!error)
		error = listen_unix(&lfd, &lock, svc->home);
	if (!error && key_file) {
		char hex[CLI_KEY_HEX_LEN + 1];

		user = USERS_SERVICE;
		error = cli_key_file_read(hex, key_file);
		if (!error)
			error = buf_put(&pass, hex, CLI_KEY_HEX_LEN);
		crypto_wipe(hex, sizeof(hex));
	} else if (!error) {
		snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", user);
		error = cli_passphrase(&pass, c, prompt, 0);
	}
	if (!error)
		error = service_unlock(svc, user, buf_cstr(&pass), pass.len);
	buf_wipe_release(&pass);
	forget_env_secrets();
	if (!error)
		error = install_signals();
	if (!error && w->enabled)
		error = web_start(&web, svc, w);
	if (!error)
		error = pthread_create(&sync_thread, NULL, service_sync_thread, svc) == 0
				? 0
				: err_set(ERR_NOMEM, "cannot start the sync thread");
	if (error) {
		rc = cli_fail(c);
		goto out;
	}
	started = 1;
	service_current = svc;
	if (key_file)
		service_log(svc, "unlocked from the device key file %s", key_file);
	else
		service_log(svc, "unlocked by '%s'", svc->operator_user);
	service_log(svc, "listening on %s/%s%s%s", svc->home, SERVICE_SOCKET_NAME,
		web ? " and http://" : "", web ? w->display : "");
	snprintf(status, sizeof(status), "serving %s%s%s", svc->home, web ? ", web on " : "",
		web ? w->display : "");
	cli_notify_ready(status);
	serve_loop(svc, web, lfd);
	cli_notify_stopping("stopping: the key is wiped after the running command");
	service_log(svc, "stopping (signal %d)", (int)stop_signal);
	rc = CLI_EXIT_OK;
out:
	web_stop(web);
	if (started) {
		pthread_mutex_lock(&svc->lock);
		svc->stopping = 1;
		pthread_cond_broadcast(&svc->wake);
		pthread_mutex_unlock(&svc->lock);
		pthread_join(sync_thread, NULL);
		/* a command still running finishes before the key goes, and its entries are sealed */
		pthread_mutex_lock(&svc->cmd_lock);
		service_seal(svc, 1);
	}
	if (lfd >= 0) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", svc->home, SERVICE_SOCKET_NAME);
		unlink(path);
		close(lfd);
	}
	if (lock >= 0)
		close(lock);
	return rc;
}

int cmd_serve(struct cli *c)
{
	struct cli_opt opts[] = {{"--listen", 1, 0, {0}, 0}, {"--no-web", 0, 0, {0}, 0},
		{"--force-listen", 0, 0, {0}, 0}, {"--idle", 1, 0, {0}, 0},
		{"--sync-every", 1, 0, {0}, 0}, {"--sync-debounce", 1, 0, {0}, 0},
		{"--backoff-min", 1, 0, {0}, 0}, {"--backoff-max", 1, 0, {0}, 0},
		{"--log", 1, 0, {0}, 0}, {"--key-file", 1, 0, {0}, 0}};
	static struct service svc;
	struct buf credential = BUF_INIT(4096);
	struct web_options w;
	const char *pos[1], *home = NULL, *log_path = NULL, *key_file;
	int npos, rc, found;

	if (cli_help(c, serve_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "serve [OPTIONS]", opts, CLI_N_OPTS(opts), pos, 0, &npos);
	if (rc)
		return rc;
	cli_config_opts(c, "serve", opts, CLI_N_OPTS(opts)); /* agent.conf, FIELDSYNC_... */
	if (cli_home(&home, c) || service_init(&svc, service_program, home))
		return cli_fail(c);
	web_options_init(&w);
	rc = read_options(&svc, &w, c, opts, CLI_N_OPTS(opts), &log_path);
	if (!rc) {
		svc.log = log_path ? fopen(log_path, "ae") : fdopen(dup(STDERR_FILENO), "w");
		if (!svc.log)
			rc = cli_fail(c);
	}
	key_file = cli_opt(opts, CLI_N_OPTS(opts), "--key-file");
	/* run by systemd with LoadCredential=fieldsync-agent.key:FILE: that is the key file */
	found = rc || key_file ? 0 : cli_credential(&credential, SERVICE_CREDENTIAL);
	if (found < 0)
		rc = cli_fail(c);
	if (found > 0)
		key_file = credential.ptr;
	if (!rc)
		rc = run(&svc, c, &w, key_file);
	if (svc.log)
		fclose(svc.log);
	service_release(&svc);
	buf_release(&credential);
	return rc;
}

static const char logon_help[] =
	"usage: fieldsync-agent logon\n"
	"       fieldsync-agent logoff\n"
	"\n"
	"With `fieldsync-agent serve` running on this node: 'logon' opens your session (asking your\n"
	"passphrase if none is open) so that the next commands run without a key derivation;\n"
	"'logoff' ends it at once (the session also locks by itself after the service's --idle\n"
	"time).  Both are audited.  With no service running every command logs on by itself, and\n"
	"these two have nothing to do: they say so and exit 1.\n";

/* The service running this command, or NULL after an error naming what to do. */
static struct service *in_service(void)
{
	if (!service_current)
		err_set(ERR_NOTFOUND,
			"no service runs on this node: start `fieldsync-agent serve` to keep a "
			"session (on its own every command logs on by itself)");
	return service_current;
}

int cmd_logon(struct cli *c)
{
	struct service *svc;
	struct node *n = NULL;
	const char *pos[1];
	int rc, npos;

	if (cli_help(c, logon_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "logon", NULL, 0, pos, 0, &npos);
	if (rc)
		return rc;
	svc = in_service();
	/* the service's opener: the open session, or a log-on with the passphrase that opens one */
	if (!svc || cli_open_node(&n, c))
		return cli_fail(c);
	if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:I}", "user", n->user, "idle_lock_s",
			(json_int_t)(svc->idle_ms / 1000)));
	else
		printf("logged on as %s; the session locks after %lld minutes without use\n",
			n->user, (long long)(svc->idle_ms / 60000));
	service_node_close(svc, n);
	return rc;
}

int cmd_logoff(struct cli *c)
{
	struct service *svc;
	const char *user = NULL, *pos[1];
	int rc, npos;

	if (cli_help(c, logon_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "logoff", NULL, 0, pos, 0, &npos);
	if (rc)
		return rc;
	svc = in_service();
	if (!svc || cli_user(&user, c))
		return cli_fail(c);
	if (!service_drop_session(svc, user, "logoff")) {
		err_set(ERR_NOTFOUND, "no open session for '%s'", user);
		return cli_fail(c);
	}
	if (c->json)
		return cli_print_json(json_pack("{s:s}", "logged_off", user));
	printf("logged off %s\n", user);
	return CLI_EXIT_OK;
}

static const char key_file_help[] =
	"usage: fieldsync-agent key-file create FILE\n"
	"       fieldsync-agent key-file remove\n"
	"\n"
	"A device key file lets `fieldsync-agent serve --key-file FILE` unlock this node with no\n"
	"passphrase typed, so that the service (and its background sync) starts unattended, e.g.\n"
	"from systemd.  'create' (admin; your passphrase) writes a fresh random key to FILE (mode\n"
	"0600, created new, never inside the node directory) and wraps the store's key for the\n"
	"service identity '" USERS_SERVICE
	"' with it.  That identity syncs and shows status, nothing\n"
	"else: investigators still log on with their own passphrases.  Anyone holding FILE and the\n"
	"node directory can decrypt the store, so keep FILE where only the service can read it (a\n"
	"systemd credential, a token) and never beside the node.  'remove' drops the slot at once:\n"
	"the file unlocks nothing any more.  Both are audited.\n";

/* Refuse a key file inside the node directory: the two together would unlock the store. */
static int check_outside(const char *file, const char *home)
{
	char dir[4096], real_home[4096], real_dir[4096];
	const char *slash = strrchr(file, '/');
	size_t n;

	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash == file ? 1 : slash - file), file);
	else
		snprintf(dir, sizeof(dir), ".");
	if (!realpath(dir, real_dir))
		return err_set_errno(ERR_NOTFOUND, errno, "cannot create the key file '%s'", file);
	if (!realpath(home, real_home))
		return err_set_errno(ERR_NOTFOUND, errno, "cannot read the node directory '%s'",
			home);
	n = strlen(real_home);
	if (!strncmp(real_dir, real_home, n) && (real_dir[n] == '\0' || real_dir[n] == '/'))
		return err_set(ERR_INVALID,
			"the key file '%s' would be inside the node directory: beside the store it "
			"would unlock it for anyone who copies the directory",
			file);
	return 0;
}

static int key_file_create(struct cli *c, struct node *n, const char *file)
{
	struct buf own = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	char hex[CLI_KEY_HEX_LEN + 1];
	int error;

	error = check_outside(file, n->home);
	if (!error)
		error = cli_passphrase(&own, c, "Your passphrase: ", 0);
	if (!error)
		error = cli_key_file_create(hex, file);
	if (!error) {
		error = users_add_service(n, buf_cstr(&own), own.len, hex, CLI_KEY_HEX_LEN);
		if (error)
			unlink(file);
	}
	crypto_wipe(hex, sizeof(hex));
	buf_wipe_release(&own);
	return error;
}

int cmd_key_file(struct cli *c)
{
	static const char usage[] = "key-file create FILE | key-file remove";
	struct node *n = NULL;
	const char *pos[2];
	int rc, npos, error;

	if (cli_help(c, key_file_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, NULL, 0, pos, 2, &npos);
	if (rc)
		return rc;
	if (npos < 1)
		return cli_usage_error(c, usage, "which key-file command?");
	if (!(npos == 2 && !strcmp(pos[0], "create")) && !(npos == 1 && !strcmp(pos[0], "remove")))
		return cli_usage_error(c, usage, "'key-file %s' takes %s", pos[0],
			!strcmp(pos[0], "create")   ? "one FILE"
			: !strcmp(pos[0], "remove") ? "no argument"
						    : "create or remove");
	if (cli_open_node(&n, c))
		return cli_fail(c);
	error = npos == 2 ? key_file_create(c, n, pos[1]) : users_remove(n, USERS_SERVICE);
	if (error == ERR_NOTFOUND && npos == 1)
		error = err_set(ERR_NOTFOUND, "this node has no device key file");
	if (error) {
		rc = cli_fail(c);
	} else if (c->json) {
		rc = npos == 2 ? cli_print_json(json_pack("{s:s}", "key_file", pos[1]))
			       : cli_print_json(json_pack("{s:b}", "removed", 1));
	} else {
		if (npos == 2)
			printf("created the device key file %s: `fieldsync-agent serve --key-file %s`\n"
			       "unlocks this node unattended; keep the file where only the service can "
			       "read it\n",
				pos[1], pos[1]);
		else
			printf("removed the device key file's slot: the file unlocks nothing any more\n");
		rc = CLI_EXIT_OK;
	}
	node_free(n);
	return rc;
}
