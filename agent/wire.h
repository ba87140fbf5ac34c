/*
 * agent/wire.h - the command line's way to the running service: a unix stream socket in the
 * node directory (mode 0600; both ends check the other's uid with SO_PEERCRED).
 *
 * The client sends one request: a header, then the user's name and the command line as
 * NUL-terminated strings, then (only when the service asked for it) the passphrase; its
 * stdin, stdout, stderr and working directory travel with the first byte as SCM_RIGHTS.  The
 * service answers with one reply: the command's exit code, or "log on first".
 */
#ifndef FIELDSYNC_AGENT_WIRE_H
#define FIELDSYNC_AGENT_WIRE_H

#include <stdint.h>

#define WIRE_MAGIC 0x46535631u /* "FSV1" */
#define WIRE_MAX (1u << 20)    /* strings and passphrase of one request */
#define WIRE_FDS 4	       /* stdin, stdout, stderr, working directory */

enum wire_kind {
	WIRE_DONE = 0,	    /* code: the exit code */
	WIRE_NEED_PASS = 1, /* no open session: send the passphrase */
	WIRE_REFUSED = 2,   /* a malformed request */
};

struct wire_request {
	uint32_t magic;
	uint32_t argc;	      /* words of the command line, argv[0] included */
	uint32_t strings_len; /* user + argv, each NUL-terminated */
	uint32_t passlen;     /* passphrase bytes after the strings */
};

struct wire_reply {
	uint32_t magic;
	int32_t kind;
	int32_t code;
};

#endif
