/*
 * tests/fuzz/replay.c - runs a libFuzzer target's entry point over every file of a corpus
 * directory, so that ctest replays each corpus with any compiler (and under ASan+UBSan).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long len;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	data = malloc((size_t)len + 1);
	if (!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)len);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	d = opendir(argv[1]);
	if (!d) {
		fprintf(stderr, "replay: cannot open corpus '%s'\n", argv[1]);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat sb;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (run_file(path) != 0) {
			fprintf(stderr, "replay: cannot read '%s'\n", path);
			closedir(d);
			return 1;
		}
		n++;
	}
	closedir(d);
	if (n == 0) {
		fprintf(stderr, "replay: corpus '%s' is empty\n", argv[1]);
		return 1;
	}
	printf("replayed %d inputs from %s\n", n, argv[1]);
	return 0;
}
