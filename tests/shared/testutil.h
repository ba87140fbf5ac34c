/* tests/shared/testutil.h - helpers shared by the unit tests. */
#ifndef FIELDSYNC_TESTUTIL_H
#define FIELDSYNC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* A fresh private directory under $TMPDIR (or /tmp); the caller frees the string. */
char *tu_tmpdir(void);

/* Remove a directory tree (best effort). */
void tu_rmrf(const char *path);

/* Join a directory and a name into a static-free malloc'd path. */
char *tu_path(const char *dir, const char *name);

/* Read a whole file into a malloc'd buffer; NULL if it cannot. */
uint8_t *tu_read_file(const char *path, size_t *len);

/* 1 if `needle` occurs in the file (binary search through the bytes). */
int tu_file_contains(const char *path, const void *needle, size_t len);

/* Assert a call returned 0, printing the fieldsync error message if not. */
#define TU_OK(expr)                                                                           \
	do {                                                                                  \
		int tu_rc_ = (expr);                                                          \
		if (tu_rc_ != 0)                                                              \
			fail_msg("%s returned %d: %s", #expr, tu_rc_, err_msg());             \
	} while (0)

#endif
