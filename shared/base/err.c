/* shared/base/err.c - thread-local last error. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_MAX 1024

static _Thread_local char last_msg[ERR_MSG_MAX];
static _Thread_local int last_code;

__attribute__((format(printf, 3, 0))) static int set_va(int code, int errnum, const char *fmt,
	va_list ap)
{
	int n = vsnprintf(last_msg, sizeof(last_msg), fmt, ap);

	if (n < 0)
		last_msg[0] = '\0';
	if (errnum) {
		size_t len = strlen(last_msg);

		snprintf(last_msg + len, sizeof(last_msg) - len, ": %s", strerror(errnum));
	}
	last_code = code;
	return code;
}

int err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_va(code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int err_set_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_va(code, errnum, fmt, ap);
	va_end(ap);
	return code;
}

const char *err_msg(void)
{
	return last_msg;
}

int err_code(void)
{
	return last_code;
}

void err_clear(void)
{
	last_msg[0] = '\0';
	last_code = 0;
}

const char *err_name(int code)
{
	switch (code) {
	case ERR_OK:
		return "ok";
	case ERR_NOMEM:
		return "out of memory";
	case ERR_NOTFOUND:
		return "not found";
	case ERR_EXISTS:
		return "exists";
	case ERR_AUTH:
		return "authentication failed";
	case ERR_LOCKED:
		return "locked";
	case ERR_INVALID:
		return "invalid";
	case ERR_TOOBIG:
		return "too big";
	case ERR_CORRUPT:
		return "corrupt";
	case ERR_PERM:
		return "permission denied";
	case ERR_IO:
		return "i/o error";
	case ERR_CONFLICT:
		return "conflict";
	case ERR_READONLY:
		return "read-only";
	case ERR_BUSY:
		return "busy";
	default:
		return "error";
	}
}
