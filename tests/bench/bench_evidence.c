/*
 * tests/bench/bench_evidence.c - the baselines of `evidence add`: where the bytes of an item
 * could go, each measured on the same file in one run.
 *
 *   sha256      - SHA-256 of the file in this process (our crypto_sha256, 1 MiB reads);
 *   db-enc      - the file's 1 MiB pieces as blobs into a fresh encrypted store (SQLCipher,
 *                 the product's settings), one durable transaction per piece, no hashing: the
 *                 "raw write into the store" that `evidence add` does plus hashing and
 *                 bookkeeping;
 *   db-plain    - the same into plain SQLite (same library, no key);
 *   db-evidence - the pieces into the evidence database of a fresh store (store_evidence:
 *                 where `evidence add` puts the bytes; 64 KiB pages, a rollback journal), 32
 *                 per durable transaction as `evidence add` commits them, no hashing;
 *   files-gcm   - each piece sealed with AES-256-GCM into its own file, fsynced, then the
 *                 directory fsynced: the design of separately encrypted chunk files.
 *
 * Each line: "NAME MiB/s SECONDS".  bench_evidence.py runs it beside sha256sum(1) and the
 * real `fieldsync-agent evidence add`.
 *
 * usage: bench_evidence FILE WORKDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "store/store.h"

#define PIECE (1024u * 1024)
#define EVIDENCE_BATCH 32 /* ADD_BATCH of shared/node/evidb.c */

static uint8_t piece[PIECE], sealed[PIECE];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_evidence: %s: %s\n", what,
		err_msg()[0] ? err_msg() : strerror(errno));
	exit(1);
}

/* Read the next piece of fd: its length (0 at the end). */
static size_t next_piece(int fd)
{
	size_t got = 0;

	while (got < PIECE) {
		ssize_t n = read(fd, piece + got, PIECE - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static int open_input(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die(file);
	return fd;
}

static void report(const char *name, uint64_t bytes, double secs)
{
	printf("%s %.1f %.3f\n", name, (double)bytes / (1024.0 * 1024.0) / secs, secs);
	fflush(stdout);
}

static void bench_sha256(const char *file)
{
	uint8_t hash[CRYPTO_SHA256_LEN];
	struct crypto_sha256 h;
	uint64_t total = 0;
	size_t n;
	double t0 = now_s();
	int fd = open_input(file);

	crypto_sha256_init(&h);
	while ((n = next_piece(fd)) > 0) {
		crypto_sha256_update(&h, piece, n);
		total += n;
	}
	crypto_sha256_final(hash, &h);
	close(fd);
	report("sha256", total, now_s() - t0);
}

static void bench_db(const char *file, const char *dir, int plain)
{
	uint8_t key[CRYPTO_KEY_LEN];
	struct store *s = NULL;
	char path[4096];
	uint64_t total = 0;
	int64_t seq = 0;
	size_t n;
	double t0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s.db", dir, plain ? "plain" : "enc");
	if (crypto_random(key, sizeof(key)))
		die("random");
	if (store_open(&s, path, plain ? NULL : key, STORE_CREATE | (plain ? STORE_PLAIN : 0)) ||
		store_exec(s, "CREATE TABLE raw(n INTEGER PRIMARY KEY, data BLOB NOT NULL)"))
		die("store");
	crypto_wipe(key, sizeof(key));
	fd = open_input(file);
	t0 = now_s();
	while ((n = next_piece(fd)) > 0) {
		if (store_begin(s) ||
			store_run(s, "INSERT INTO raw(n, data) VALUES (?, ?)", "ib", ++seq, piece,
				n) ||
			store_commit(s))
			die("insert");
		total += n;
	}
	store_free(s); /* the checkpoint is part of getting the bytes into the database */
	report(plain ? "db-plain" : "db-enc", total, now_s() - t0);
	close(fd);
}

static void bench_evidence_db(const char *file, const char *dir)
{
	uint8_t key[CRYPTO_KEY_LEN], h[32] = {0};
	struct store *s = NULL, *e = NULL;
	char path[4096];
	uint64_t total = 0, seq = 0;
	size_t n;
	double t0;
	int fd;

	snprintf(path, sizeof(path), "%s/ev.db", dir);
	if (crypto_random(key, sizeof(key)) || store_open(&s, path, key, STORE_CREATE) ||
		store_evidence(&e, s))
		die("store");
	crypto_wipe(key, sizeof(key));
	fd = open_input(file);
	t0 = now_s();
	while ((n = next_piece(fd)) > 0) {
		memcpy(h, &seq, sizeof(seq)); /* a distinct key per piece, no hashing */
		seq++;
		if ((seq % EVIDENCE_BATCH == 1 && store_exec(e, "BEGIN IMMEDIATE")) ||
			store_run(e, "INSERT INTO chunks(hash, size, data) VALUES (?, ?, ?)", "bib",
				h, sizeof(h), (int64_t)n, piece, n) ||
			(seq % EVIDENCE_BATCH == 0 && store_exec(e, "COMMIT")))
			die("insert");
		total += n;
	}
	if (seq % EVIDENCE_BATCH && store_exec(e, "COMMIT"))
		die("commit");
	store_free(s);
	report("db-evidence", total, now_s() - t0);
	close(fd);
}

static void bench_files(const char *file, const char *dir)
{
	uint8_t key[CRYPTO_KEY_LEN], nonce[CRYPTO_NONCE_LEN], tag[CRYPTO_TAG_LEN];
	char sub[4096], path[4200];
	uint64_t total = 0, seq = 0;
	size_t n;
	double t0;
	int fd, dfd;

	snprintf(sub, sizeof(sub), "%s/chunks", dir);
	if (mkdir(sub, 0700) != 0 || crypto_random(key, sizeof(key)))
		die("chunk directory");
	fd = open_input(file);
	t0 = now_s();
	while ((n = next_piece(fd)) > 0) {
		int out;

		if (crypto_random(nonce, sizeof(nonce)) ||
			crypto_aead_seal(sealed, tag, key, nonce, NULL, 0, piece, n))
			die("seal");
		snprintf(path, sizeof(path), "%s/%08llx", sub, (unsigned long long)seq++);
		out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0 || write(out, nonce, sizeof(nonce)) != (ssize_t)sizeof(nonce) ||
			write(out, sealed, n) != (ssize_t)n ||
			write(out, tag, sizeof(tag)) != (ssize_t)sizeof(tag) || fsync(out) != 0)
			die(path);
		close(out);
		total += n;
	}
	dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		die("fsync directory");
	close(dfd);
	report("files-gcm", total, now_s() - t0);
	crypto_wipe(key, sizeof(key));
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench_evidence FILE WORKDIR\n");
		return 2;
	}
	/* each from a clean page cache: the dirty pages of one would slow the next */
	bench_sha256(argv[1]);
	sync();
	bench_evidence_db(argv[1], argv[2]);
	sync();
	bench_db(argv[1], argv[2], 0);
	sync();
	bench_db(argv[1], argv[2], 1);
	sync();
	bench_files(argv[1], argv[2]);
	return 0;
}
