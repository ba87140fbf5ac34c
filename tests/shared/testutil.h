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

/* Write a whole file (created 0600, truncated); fails the test if it cannot. */
void tu_write_file(const char *path, const void *data, size_t len);

/* Number of entries in a directory other than "." and ".."; -1 if it cannot be read. */
int tu_dir_count(const char *path);

/* 1 if the file exists. */
int tu_exists(const char *path);

/* The permission bits of a file, or -1. */
int tu_mode(const char *path);

struct store;

/* The first column of the first row of `sql` as an integer; fails the test on an error. */
long long tu_sql_int(struct store *s, const char *sql);

/*
 * A new store in a fresh temporary directory, created with a random key.  *dir_out receives
 * the directory (free it and remove it with tu_store_done()).
 */
struct store *tu_store_new(char **dir_out);

/* Close a store made by tu_store_new() and remove its directory. */
void tu_store_done(struct store *s, char *dir);

/* Assert a call returned 0, printing the fieldsync error message if not. */
#define TU_OK(expr)                                                                           \
	do {                                                                                  \
		int tu_rc_ = (expr);                                                          \
		if (tu_rc_ != 0)                                                              \
			fail_msg("%s returned %d: %s", #expr, tu_rc_, err_msg());             \
	} while (0)

#endif
