/*
 * agent/service.h - `fieldsync-agent serve`: one process per device holding the unlocked store.
 *
 * The service is unlocked once at start by its operator (a user's passphrase, the usual key
 * slot and lock-out rules); it keeps the database key in a locked page, wiped at exit.  Users
 * act through per-user sessions, opened with their own passphrase (node_open(): the same log-on,
 * lock-out and audit entry as a command of their own) and locked after an idle time.  Every act
 * of a session is one command line of the program, run by service_command() with the same
 * dispatch as the program's main() on a node opened with the kept key: the command-line client
 * (agent/client.c), the web interface (agent/web.c) and nothing else, so output, exit codes and
 * audit entries are those of the program by construction.  One command runs at a time (it owns
 * file descriptors 0-2 and the working directory while it runs); the background sync
 * (agent/bgsync.c) runs beside it on its own connection and never twice at once.
 */
#ifndef FIELDSYNC_AGENT_SERVICE_H
#define FIELDSYNC_AGENT_SERVICE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "base/crypto.h"
#include "base/hlc.h"
#include "case/schema.h"
#include "node/node.h"
#include "program.h"
#include "sync.h"

#define SERVICE_SOCKET_NAME "serve.sock"
/* The systemd credential that holds the device key file (LoadCredential= in fieldsync-agent.service). */
#define SERVICE_CREDENTIAL "fieldsync-agent.key"
#define SERVICE_SESSIONS_MAX 16
#define SERVICE_TOKEN_LEN 32
#define SERVICE_IDLE_DEFAULT_S (15 * 60)
#define SERVICE_IDLE_MAX_S (30 * 60) /* CJIS 5.5.5 */
#define SERVICE_SEAL_QUIET_MS 200    /* a seal waits for a pause in the commands... */
#define SERVICE_SEAL_WAIT_MS 2000    /* ...but never longer than this */

/* One user's session: who, since when idle, and the web interface's tokens. */
struct service_session {
	int used;
	char user[SCHEMA_USER_MAX + 1];
	char role[16];
	int64_t last_ms;		      /* last use */
	uint8_t web_token[SERVICE_TOKEN_LEN]; /* the cookie's value; all zero: no web log-on */
	uint8_t csrf[SERVICE_TOKEN_LEN];      /* the token every state-changing request carries */
	int web;
};

/* Everything secret the service holds, in one locked region wiped at exit. */
struct service_secrets {
	uint8_t key[CRYPTO_KEY_LEN];
	struct service_session sessions[SERVICE_SESSIONS_MAX];
};

/* The state of the background sync, as status and the web page show it. */
struct service_sync_state {
	int running;
	char phase[48]; /* what a running sync is doing */
	long done, total;
	char last_success[HLC_STR_MAX];
	char last_attempt[HLC_STR_MAX];
	char last_error[512]; /* reason of the last failure; "" after a success */
	int failures;	      /* consecutive */
	int64_t next_ms;      /* when the next sync is due */
	long long unpushed;
	struct sync_report last;
	long runs;
};

struct service {
	const struct cli_program *prog;
	char *home;
	char operator_user[SCHEMA_USER_MAX + 1]; /* the background sync acts as them */
	struct service_secrets *secrets;	 /* locked */
	int64_t idle_ms;
	int64_t sync_every_ms, debounce_ms, backoff_min_ms, backoff_max_ms;
	FILE *log; /* the service log: never a secret, never case text */

	pthread_mutex_t lock;	   /* sessions and the sync state */
	pthread_cond_t wake;	   /* the sync thread waits on it */
	pthread_mutex_t cmd_lock;  /* one command at a time */
	pthread_mutex_t sync_lock; /* one sync at a time */
	int saved_fd[3], saved_cwd;

	struct service_sync_state sync;
	int sync_requested;
	int64_t dirty_ms; /* a local change not yet synced since (0: none) */
	int64_t seal_due_ms,
		last_use_ms; /* an unsealed entry since (0: none); the last node closed */
	volatile int stopping;
};

/* The service this process runs, or NULL (a plain command): status adds its state. */
extern struct service *service_current;

/* The program whose commands the service runs (set by main()). */
extern const struct cli_program *service_program;

/* One command line to run for a session (service_command). */
struct service_request {
	const char *user;
	int argc;
	char **argv;	  /* argv[0] is the program's name */
	int fd[3];	  /* stdin, stdout, stderr of the command */
	int cwd_fd;	  /* its working directory, or -1 */
	const char *pass; /* the user's passphrase when no session is open, or NULL */
	size_t passlen;
	int require_session; /* never log on here (the web interface checked its cookie) */
};

/*
 * Set up `svc` for the program `prog` in `home`; the caller fills the options and unlocks
 * (service_unlock).  ERR_NOMEM.
 */
int service_init(struct service *svc, const struct cli_program *prog, const char *home) WUR;

/* Wipe every secret, drop every session, free. */
void service_release(struct service *svc);

/*
 * Unlock the node at start as `user` with `pass`: the usual log-on (audited), the key kept
 * in the locked region, and a session opened for that user -- except for USERS_SERVICE (a
 * device key file), which opens no session: users still log on with their passphrases.
 * ERR_AUTH, ERR_LOCKED, ...
 */
int service_unlock(struct service *svc, const char *user, const char *pass, size_t passlen) WUR;

/*
 * Run one command line for req->user.  With an open session (not idle past the limit) the
 * command runs on a node opened with the kept key; without one, a passphrase logs the user on
 * first (node_open, which counts failures), else *need_pass is set and nothing runs.  Returns
 * the command's exit code (its output went to req->fd).
 */
int service_command(int *need_pass, struct service *svc, const struct service_request *req);

/*
 * Log a user on for the web interface: node_open() with the passphrase; on success fills the
 * session's tokens (copied to token_out and csrf_out).  ERR_AUTH, ERR_LOCKED, ERR_BUSY (no
 * free session), ...
 */
int service_logon(uint8_t token_out[SERVICE_TOKEN_LEN], uint8_t csrf_out[SERVICE_TOKEN_LEN],
	char *role_out, size_t role_size, struct service *svc, const char *user, const char *pass,
	size_t passlen) WUR;

/*
 * The session whose web token is `token`, if open and not idle past the limit: copies its user,
 * role and CSRF token and counts this as use.  ERR_AUTH if none.
 */
int service_web_session(char user_out[SCHEMA_USER_MAX + 1], char role_out[16],
	uint8_t csrf_out[SERVICE_TOKEN_LEN], struct service *svc,
	const uint8_t token[SERVICE_TOKEN_LEN]) WUR;

/*
 * Drop the session of `user` (log off), audited as `why` ("logoff" or "idle").  1 if there was
 * one, 0 if not.
 */
int service_drop_session(struct service *svc, const char *user, const char *why);

/* Lock every session idle past the limit (called about once a second). */
void service_sweep(struct service *svc);

/*
 * A node on the kept key for `user`, closed with service_node_close().  Its audit entries are
 * sealed by service_seal() shortly after, off the path of the request (docs/AUDIT.md, "The
 * service").  ERR_AUTH for a user who no longer exists; the errors of node_open_key().
 */
int service_node_open(struct node **out, struct service *svc, const char *user) WUR;

/* Free a node of service_node_open() (NULL is fine) and note that a seal is due. */
void service_node_close(struct service *svc, struct node *n);

/*
 * Seal the log if a seal is due and the node has been quiet for SERVICE_SEAL_QUIET_MS (or the
 * seal has waited SERVICE_SEAL_WAIT_MS), or at once if `now_anyway`.  Failures are logged.
 */
void service_seal(struct service *svc, int now_anyway);

/* Record an event on the node's audit trail as `user` ("" for a request with no session). */
void service_audit(struct service *svc, const char *user, const char *action, const char *target,
	const char *outcome, const char *detail);

/* A line in the service log (time-stamped). */
void service_log(struct service *svc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ask the background sync to run now / note a local change (debounced). */
void service_request_sync(struct service *svc);
void service_note_change(struct service *svc);

/* The background sync's state as JSON (new reference), with the unpushed count read now. */
json_t *service_sync_json(struct service *svc);

/* The service's lines of `status` (text): the background sync's state. */
void service_print_status(struct service *svc);

/* The background sync thread (agent/bgsync.c). */
void *service_sync_thread(void *arg);

#endif
