/*
 * shared/base/err.h - error codes and the thread-local last error message.
 *
 * Every fallible function returns 0 on success or a negative ERR_* code.  The human message is
 * set once, where the failure is detected, with err_set(); callers up the stack return the code
 * unchanged and the program's main() prints err_msg().  Messages are lowercase, without a
 * trailing period, with the subject quoted.
 */
#ifndef FIELDSYNC_ERR_H
#define FIELDSYNC_ERR_H

#define WUR __attribute__((warn_unused_result))

enum {
	ERR_OK = 0,
	ERR_GENERIC = -1,  /* anything without a more specific code */
	ERR_NOMEM = -2,	   /* allocation failed */
	ERR_NOTFOUND = -3, /* no such case, user, field, object */
	ERR_EXISTS = -4,   /* already there */
	ERR_AUTH = -5,	   /* wrong passphrase, bad tag, failed verification */
	ERR_LOCKED = -6,   /* user locked out after failed log-ons */
	ERR_INVALID = -7,  /* input outside the schema or malformed */
	ERR_TOOBIG = -8,   /* input over a size cap */
	ERR_CORRUPT = -9,  /* stored data fails a consistency check */
	ERR_PERM = -10,	   /* the user's role does not allow it */
	ERR_IO = -11,	   /* a file or system call failed */
	ERR_CONFLICT = -12,
	ERR_READONLY = -13,
	ERR_BUSY = -14, /* over a rate or concurrency limit: try again later */
};

/*
 * Record the last error of this thread and return `code`, so that a failure site can write
 * `return err_set(ERR_INVALID, "unknown field '%s'", name);`.
 */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_set(), but appends ": <strerror(errnum)>". */
int err_set_errno(int code, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The last message of this thread ("" if none); valid until the next err_set() or err_clear(). */
const char *err_msg(void);

/* The code passed to the last err_set() of this thread, 0 if none. */
int err_code(void);

void err_clear(void);

/* A short name for an error code ("not found"), for logs and JSON error bodies. */
const char *err_name(int code);

#endif
