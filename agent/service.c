/* agent/service.c - the service's sessions and its one way of acting: a command line. */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "node/node.h"
#include "node/users.h"

struct service *service_current;
const struct cli_program *service_program;

/* What the opener of the command now running needs (set under cmd_lock). */
static struct {
	struct service *svc;
	const struct service_request *req;
	int have_session;
	int opened; /* a node was opened: the command acted as the session's user */
} running;

void service_log(struct service *svc, const char *fmt, ...)
{
	char when[HLC_STR_MAX];
	va_list ap;

	if (!svc->log)
		return;
	hlc_iso8601(when, hlc_now_ms());
	fprintf(svc->log, "%s fieldsync-agent serve: ", when);
	va_start(ap, fmt);
	vfprintf(svc->log, fmt, ap);
	va_end(ap);
	fputc('\n', svc->log);
	fflush(svc->log);
}

int service_init(struct service *svc, const struct cli_program *prog, const char *home)
{
	void *page;
	int error = 0;

	memset(svc, 0, sizeof(*svc));
	svc->prog = prog;
	svc->idle_ms = SERVICE_IDLE_DEFAULT_S * 1000LL;
	svc->sync_every_ms = 5 * 60 * 1000LL;
	svc->debounce_ms = 10 * 1000LL;
	svc->backoff_min_ms = 5 * 1000LL;
	svc->backoff_max_ms = 5 * 60 * 1000LL;
	svc->saved_cwd = -1;
	svc->saved_fd[0] = svc->saved_fd[1] = svc->saved_fd[2] = -1;
	svc->home = strdup(home);
	/* its own pages: locked, left out of any dump, wiped at exit */
	page = mmap(NULL, sizeof(struct service_secrets), PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!svc->home || page == MAP_FAILED) {
		error = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	madvise(page, sizeof(struct service_secrets), MADV_DONTDUMP);
	crypto_lock(page, sizeof(struct service_secrets));
	svc->secrets = page;
	pthread_mutex_init(&svc->lock, NULL);
	pthread_mutex_init(&svc->cmd_lock, NULL);
	pthread_mutex_init(&svc->sync_lock, NULL);
	pthread_cond_init(&svc->wake, NULL);
out:
	if (error && page != MAP_FAILED && page)
		munmap(page, sizeof(struct service_secrets));
	return error;
}

void service_release(struct service *svc)
{
	if (!svc)
		return;
	if (svc->secrets) {
		crypto_wipe(svc->secrets, sizeof(*svc->secrets));
		munmap(svc->secrets, sizeof(*svc->secrets));
		svc->secrets = NULL;
	}
	free(svc->home);
	svc->home = NULL;
}

/* The session of `user`, or NULL.  Under svc->lock. */
static struct service_session *find_session(struct service *svc, const char *user)
{
	size_t i;

	for (i = 0; i < SERVICE_SESSIONS_MAX; i++)
		if (svc->secrets->sessions[i].used && !strcmp(svc->secrets->sessions[i].user, user))
			return &svc->secrets->sessions[i];
	return NULL;
}

static int idle_past(const struct service *svc, const struct service_session *s, int64_t now)
{
	return now - s->last_ms >= svc->idle_ms;
}

/* A session for `user` (new or the existing one, reset).  Under svc->lock.  ERR_BUSY. */
static int open_session(struct service_session **out, struct service *svc, const char *user,
	const char *role)
{
	struct service_session *s = find_session(svc, user);
	size_t i;

	for (i = 0; !s && i < SERVICE_SESSIONS_MAX; i++)
		if (!svc->secrets->sessions[i].used)
			s = &svc->secrets->sessions[i];
	if (!s)
		return err_set(ERR_BUSY, "too many open sessions (%d); log someone off first",
			SERVICE_SESSIONS_MAX);
	crypto_wipe(s, sizeof(*s));
	s->used = 1;
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->role, sizeof(s->role), "%s", role);
	s->last_ms = hlc_now_ms();
	*out = s;
	return 0;
}

int service_node_open(struct node **out, struct service *svc, const char *user)
{
	int error = node_open_key(out, svc->home, user, svc->secrets->key);

	if (!error)
		(*out)->seal_on_close = 0; /* service_seal() makes it, off the request's path */
	return error;
}

/* Note that the log has entries a seal must cover. */
static void seal_due(struct service *svc)
{
	int64_t now = hlc_now_ms();

	pthread_mutex_lock(&svc->lock);
	if (!svc->seal_due_ms)
		svc->seal_due_ms = now;
	svc->last_use_ms = now;
	pthread_mutex_unlock(&svc->lock);
}

void service_node_close(struct service *svc, struct node *n)
{
	if (!n)
		return;
	node_free(n);
	seal_due(svc);
}

void service_seal(struct service *svc, int now_anyway)
{
	struct node *n = NULL;
	int64_t now = hlc_now_ms();
	int due;

	pthread_mutex_lock(&svc->lock);
	due = svc->seal_due_ms && (now_anyway || now - svc->last_use_ms >= SERVICE_SEAL_QUIET_MS ||
					  now - svc->seal_due_ms >= SERVICE_SEAL_WAIT_MS);
	if (due)
		svc->seal_due_ms = 0;
	pthread_mutex_unlock(&svc->lock);
	if (!due)
		return;
	if (node_open_key(&n, svc->home, svc->operator_user, svc->secrets->key) ||
		node_seal(NULL, n)) {
		service_log(svc, "cannot seal the audit log: %s", err_msg());
		seal_due(svc); /* tried again at the next sweep */
	}
	if (n)
		n->seal_on_close = 0;
	node_free(n);
}

void service_audit(struct service *svc, const char *user, const char *action, const char *target,
	const char *outcome, const char *detail)
{
	struct node *n = NULL;

	if (service_node_open(&n, svc, svc->operator_user)) {
		service_log(svc, "cannot record %s: %s", action, err_msg());
		return;
	}
	/* the act is the named user's (or nobody's); the node is only the way to the trail */
	snprintf(n->user, sizeof(n->user), "%s", user);
	if (node_audit(n, action, target, outcome, detail))
		service_log(svc, "cannot record %s: %s", action, err_msg());
	service_node_close(svc, n);
}

int service_unlock(struct service *svc, const char *user, const char *pass, size_t passlen)
{
	struct service_session *s = NULL;
	struct node *n = NULL;
	int error;

	error = node_open_keep_key(&n, svc->secrets->key, svc->home, user, pass, passlen);
	if (error)
		return error;
	snprintf(svc->operator_user, sizeof(svc->operator_user), "%s", user);
	/* the service identity of a key file holds the key but is nobody's session */
	if (strcmp(user, USERS_SERVICE) != 0) {
		pthread_mutex_lock(&svc->lock);
		error = open_session(&s, svc, n->user, n->role);
		pthread_mutex_unlock(&svc->lock);
	}
	node_free(n);
	return error;
}

/* The opener of a command run by the service: the kept key, or a log-on that opens a session. */
static int service_open_node(struct node **out, const struct cli *c)
{
	struct service *svc = running.svc;
	const struct service_request *req = running.req;
	struct service_session *s = NULL;
	struct node *n = NULL;
	int error;

	(void)c;
	if (running.have_session) {
		error = service_node_open(&n, svc, req->user);
	} else if (req->pass && !req->require_session) {
		error = node_open(&n, svc->home, req->user, req->pass, req->passlen);
		if (!error) {
			n->seal_on_close = 0;
			pthread_mutex_lock(&svc->lock);
			error = open_session(&s, svc, n->user, n->role);
			pthread_mutex_unlock(&svc->lock);
			if (!error)
				service_log(svc, "session opened for '%s' (command line)", n->user);
		}
	} else {
		error = err_set(ERR_AUTH, "no open session for '%s'", req->user);
	}
	if (error) {
		node_free(n);
		return error;
	}
	running.opened = 1;
	*out = n;
	return 0;
}

/* Whether `user` holds a session not idle past the limit; counts as use.  Drops an idle one. */
static int session_live(struct service *svc, const char *user)
{
	struct service_session *s;
	int live = 0, idle = 0;
	int64_t now = hlc_now_ms();

	pthread_mutex_lock(&svc->lock);
	s = find_session(svc, user);
	if (s && idle_past(svc, s, now)) {
		idle = 1;
	} else if (s) {
		s->last_ms = now;
		live = 1;
	}
	pthread_mutex_unlock(&svc->lock);
	if (idle)
		service_drop_session(svc, user, "idle");
	return live;
}

/* Point fds 0-2 and the working directory at the request's.  0 or ERR_IO. */
static int redirect(struct service *svc, const struct service_request *req)
{
	int i;

	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 3; i++) {
		if (svc->saved_fd[i] < 0)
			svc->saved_fd[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
		if (svc->saved_fd[i] < 0 || dup2(req->fd[i], i) < 0)
			return err_set_errno(ERR_IO, errno, "cannot take the client's descriptors");
	}
	if (svc->saved_cwd < 0)
		svc->saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (req->cwd_fd >= 0 && fchdir(req->cwd_fd) != 0)
		return err_set_errno(ERR_IO, errno, "cannot enter the client's directory");
	clearerr(stdin);
	return 0;
}

static void restore(struct service *svc)
{
	int i;

	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 3; i++)
		if (svc->saved_fd[i] >= 0)
			dup2(svc->saved_fd[i], i);
	if (svc->saved_cwd >= 0 && fchdir(svc->saved_cwd) != 0)
		service_log(svc, "cannot return to the service's directory");
	clearerr(stdin);
	clearerr(stdout);
	clearerr(stderr);
}

/* A command line that changes cases (the background sync follows it, debounced). */
static int changes_cases(int nrest, char **rest)
{
	if (nrest >= 2 && !strcmp(rest[0], "case"))
		return !strcmp(rest[1], "new") || !strcmp(rest[1], "edit");
	if (nrest >= 2 && !strcmp(rest[0], "conflicts"))
		return !strcmp(rest[1], "resolve");
	return nrest >= 1 && !strcmp(rest[0], "note");
}

int service_command(int *need_pass, struct service *svc, const struct service_request *req)
{
	static char *rest[CLI_ARGS_MAX];
	struct cli c;
	int nrest = 0, rc, is_sync = 0;

	*need_pass = 0;
	pthread_mutex_lock(&svc->cmd_lock);
	running.svc = svc;
	running.req = req;
	running.opened = 0;
	if (redirect(svc, req)) {
		restore(svc);
		service_log(svc, "%s", err_msg());
		rc = CLI_EXIT_FAIL;
		goto unlock;
	}
	cli_prepare(&c, svc->prog);
	rc = cli_globals(&c, svc->prog, req->argc, req->argv, rest, CLI_ARGS_MAX, &nrest);
	/* every command needs the user's session, but the one that ends it */
	running.have_session = session_live(svc, req->user);
	if (!rc && !running.have_session && (!req->pass || req->require_session) &&
		!(nrest >= 1 && !strcmp(rest[0], "logoff"))) {
		restore(svc);
		*need_pass = 1;
		rc = CLI_EXIT_FAIL;
		goto unlock;
	}
	if (!rc) {
		/* the service's node and the session's user, whatever the command line said */
		c.home = svc->home;
		c.user = req->user;
		c.open_node = service_open_node;
		is_sync = nrest >= 1 && !strcmp(rest[0], "sync");
		if (is_sync)
			pthread_mutex_lock(&svc->sync_lock);
		rc = cli_dispatch(&c, svc->prog, rest, nrest);
		if (is_sync)
			pthread_mutex_unlock(&svc->sync_lock);
	}
	restore(svc);
	if (running.opened)
		seal_due(svc);
	if (rc == CLI_EXIT_OK && changes_cases(nrest, rest))
		service_note_change(svc);
unlock:
	running.req = NULL;
	pthread_mutex_unlock(&svc->cmd_lock);
	return rc;
}

int service_logon(uint8_t token_out[SERVICE_TOKEN_LEN], uint8_t csrf_out[SERVICE_TOKEN_LEN],
	char *role_out, size_t role_size, struct service *svc, const char *user, const char *pass,
	size_t passlen)
{
	struct service_session *s = NULL;
	struct node *n = NULL;
	int error;

	/* one log-on at a time, like one command at a time: the key-slot file is shared */
	pthread_mutex_lock(&svc->cmd_lock);
	error = node_open(&n, svc->home, user, pass, passlen);
	if (!error)
		n->seal_on_close = 0;
	pthread_mutex_unlock(&svc->cmd_lock);
	if (error)
		return error;
	pthread_mutex_lock(&svc->lock);
	error = open_session(&s, svc, n->user, n->role);
	if (!error)
		error = crypto_random(s->web_token, SERVICE_TOKEN_LEN);
	if (!error)
		error = crypto_random(s->csrf, SERVICE_TOKEN_LEN);
	if (!error) {
		s->web = 1;
		memcpy(token_out, s->web_token, SERVICE_TOKEN_LEN);
		memcpy(csrf_out, s->csrf, SERVICE_TOKEN_LEN);
		snprintf(role_out, role_size, "%s", s->role);
	}
	pthread_mutex_unlock(&svc->lock);
	if (!error)
		service_log(svc, "session opened for '%s' (web)", n->user);
	n->seal_on_close = 0;
	service_node_close(svc, n);
	return error;
}

int service_web_session(char user_out[SCHEMA_USER_MAX + 1], char role_out[16],
	uint8_t csrf_out[SERVICE_TOKEN_LEN], struct service *svc,
	const uint8_t token[SERVICE_TOKEN_LEN])
{
	struct service_session *s, *found = NULL;
	char idle_user[SCHEMA_USER_MAX + 1] = "";
	int64_t now = hlc_now_ms();
	int error = 0;
	size_t i;

	pthread_mutex_lock(&svc->lock);
	for (i = 0; i < SERVICE_SESSIONS_MAX; i++) {
		s = &svc->secrets->sessions[i];
		if (s->used && s->web && crypto_equal(s->web_token, token, SERVICE_TOKEN_LEN))
			found = s;
	}
	if (found && idle_past(svc, found, now)) {
		snprintf(idle_user, sizeof(idle_user), "%s", found->user);
		error = err_set(ERR_AUTH, "the session was locked after %lld minutes idle",
			(long long)(svc->idle_ms / 60000));
	} else if (!found) {
		error = err_set(ERR_AUTH, "no session: log on first");
	} else {
		found->last_ms = now;
		snprintf(user_out, SCHEMA_USER_MAX + 1, "%s", found->user);
		snprintf(role_out, 16, "%s", found->role);
		memcpy(csrf_out, found->csrf, SERVICE_TOKEN_LEN);
	}
	pthread_mutex_unlock(&svc->lock);
	if (idle_user[0])
		service_drop_session(svc, idle_user, "idle");
	return error;
}

int service_drop_session(struct service *svc, const char *user, const char *why)
{
	struct service_session *s;
	int dropped = 0;

	pthread_mutex_lock(&svc->lock);
	s = find_session(svc, user);
	if (s) {
		crypto_wipe(s, sizeof(*s));
		dropped = 1;
	}
	pthread_mutex_unlock(&svc->lock);
	if (!dropped)
		return 0;
	service_log(svc, "session of '%s' %s", user,
		!strcmp(why, "idle") ? "locked (idle)" : "closed");
	service_audit(svc, user, !strcmp(why, "idle") ? "session.lock" : "logoff", user, "success",
		!strcmp(why, "idle") ? "idle past the limit" : NULL);
	return 1;
}

void service_sweep(struct service *svc)
{
	char idle[SERVICE_SESSIONS_MAX][SCHEMA_USER_MAX + 1];
	int64_t now = hlc_now_ms();
	size_t i, n = 0;

	pthread_mutex_lock(&svc->lock);
	for (i = 0; i < SERVICE_SESSIONS_MAX; i++) {
		struct service_session *s = &svc->secrets->sessions[i];

		if (s->used && idle_past(svc, s, now))
			snprintf(idle[n++], sizeof(idle[0]), "%s", s->user);
	}
	pthread_mutex_unlock(&svc->lock);
	for (i = 0; i < n; i++)
		service_drop_session(svc, idle[i], "idle");
}

void service_request_sync(struct service *svc)
{
	pthread_mutex_lock(&svc->lock);
	svc->sync_requested = 1;
	pthread_cond_signal(&svc->wake);
	pthread_mutex_unlock(&svc->lock);
}

void service_note_change(struct service *svc)
{
	pthread_mutex_lock(&svc->lock);
	svc->dirty_ms = hlc_now_ms(); /* debounced: the sync follows the last of a burst */
	pthread_cond_signal(&svc->wake);
	pthread_mutex_unlock(&svc->lock);
}
