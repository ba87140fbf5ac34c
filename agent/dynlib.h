/*
 * agent/dynlib.h - libraries loaded when first needed, not at every start of the program.
 *
 * libcurl (talking to HQ) and libmicrohttpd (the web interface) pull in some forty libraries
 * between them (TLS stacks, LDAP, Kerberos, SSH, GnuTLS and its helpers) whose loading and
 * initialisers cost about 7 ms at every start of fieldsync-agent, while most commands use
 * neither: a `case show` should not pay for them.  Each is loaded once, by its soname (the
 * library's ABI), on first use, and kept for the life of the process.
 */
#ifndef FIELDSYNC_AGENT_DYNLIB_H
#define FIELDSYNC_AGENT_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

#include "base/err.h"

/* One library: its soname, what it is needed for, and the symbols to resolve. */
struct dynlib {
	const char *soname;
	const char *purpose;	  /* "to reach HQ": for the error message */
	const char *const *names; /* symbol names, `n` of them */
	void **syms;		  /* filled in the same order */
	size_t n;
	pthread_once_t once;
	char error[256]; /* why it could not be loaded; "" once loaded */
};

/*
 * Load `lib` (once; thread-safe) and resolve every symbol.  ERR_IO naming the library, what it is
 * needed for and what is missing.
 */
int dynlib_ready(struct dynlib *lib) WUR;

#endif
