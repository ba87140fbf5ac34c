/* tests/shared/testutil.c - helpers shared by the unit tests. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crypto.h"
#include "store/store.h"

char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	char *dir;

	snprintf(tmpl, sizeof(tmpl), "%s/fieldsync-test-XXXXXX", base && *base ? base : "/tmp");
	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	return strdup(dir);
}

char *tu_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

void tu_rmrf(const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &sb) != 0)
		return;
	if (S_ISDIR(sb.st_mode)) {
		d = opendir(path);
		while (d && (e = readdir(d)) != NULL) {
			char *child;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			child = tu_path(path, e->d_name);
			tu_rmrf(child);
			free(child);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
		free(data);
		data = NULL;
	}
	fclose(f);
	if (data)
		*len = (size_t)n;
	return data;
}

int tu_file_contains(const char *path, const void *needle, size_t len)
{
	size_t n = 0, i;
	uint8_t *data = tu_read_file(path, &n);
	int found = 0;

	if (!data)
		return 0;
	for (i = 0; !found && len <= n && i <= n - len; i++)
		found = memcmp(data + i, needle, len) == 0;
	free(data);
	return found;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

int tu_dir_count(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int tu_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

int tu_mode(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return -1;
	return (int)(sb.st_mode & 07777);
}

long long tu_sql_int(struct store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v;

	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("cannot prepare '%s': %s", sql, sqlite3_errmsg(store_db(s)));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("no row from '%s': %s", sql, sqlite3_errmsg(store_db(s)));
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

struct store *tu_store_new(char **dir_out)
{
	uint8_t key[CRYPTO_KEY_LEN];
	struct store *s = NULL;
	char *dir = tu_tmpdir();
	char *path = tu_path(dir, "test.db");

	TU_OK(crypto_random(key, sizeof(key)));
	TU_OK(store_open(&s, path, key, STORE_CREATE));
	crypto_wipe(key, sizeof(key));
	free(path);
	*dir_out = dir;
	return s;
}

void tu_store_done(struct store *s, char *dir)
{
	store_free(s);
	tu_rmrf(dir);
	free(dir);
}
