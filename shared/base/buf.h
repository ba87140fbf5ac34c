/*
 * shared/base/buf.h - a growable byte buffer with a hard size cap.
 *
 * Every buffer that holds outside input is a struct buf with a maximum size: growing past it
 * fails with ERR_TOOBIG instead of eating memory.  The contents are always followed by a NUL
 * byte (not counted in len), so a buffer of text can be used as a C string.
 *
 *	struct buf b = BUF_INIT(64 * 1024);
 *	error = buf_printf(&b, "case %s", id);
 *	...
 *	buf_release(&b);
 */
#ifndef FIELDSYNC_BUF_H
#define FIELDSYNC_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct buf {
	char *ptr;  /* NULL until the first write */
	size_t len; /* bytes in use, not counting the trailing NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* hard cap on len */
};

#define BUF_INIT(maxlen) {NULL, 0, 0, (maxlen)}

/* Set up an empty buffer with the given cap; cannot fail. */
void buf_init(struct buf *b, size_t max);

/* Make room for `extra` more bytes. ERR_TOOBIG past the cap, ERR_NOMEM. */
int buf_grow(struct buf *b, size_t extra) WUR;

/* Append bytes / a C string / one byte / formatted text. ERR_TOOBIG, ERR_NOMEM. */
int buf_put(struct buf *b, const void *data, size_t len) WUR;
int buf_puts(struct buf *b, const char *s) WUR;
int buf_putc(struct buf *b, char c) WUR;
int buf_printf(struct buf *b, const char *fmt, ...) WUR __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) WUR
	__attribute__((format(printf, 2, 0)));

/* The contents as a C string ("" for an empty buffer, never NULL). */
const char *buf_cstr(const struct buf *b);

/* Forget the contents, keep the allocation. */
void buf_reset(struct buf *b);

/* Free the contents (accepts a buffer never written to). */
void buf_release(struct buf *b);

/* Wipe the whole allocation, then free it: for buffers that held secrets or case text. */
void buf_wipe_release(struct buf *b);

/*
 * Hand the allocation to the caller: *out becomes a NUL-terminated malloc'd string the caller
 * frees, the buffer is left empty.  ERR_NOMEM only if the buffer was never written.
 */
int buf_detach(char **out, struct buf *b) WUR;

#endif
