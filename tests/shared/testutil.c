/* tests/shared/testutil.c - helpers shared by the unit tests. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
