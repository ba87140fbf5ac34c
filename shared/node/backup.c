/* shared/node/backup.c - online backup into one tar file, and restore into an empty directory. */
#include "node/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/keyslot.h"

#define TAR_BLOCK 512
#define DB_MEMBER NODE_DB_NAME
#define SLOTS_MEMBER NODE_SLOTS_NAME
#define EVIDENCE_MEMBER NODE_EVIDENCE_NAME

/* ---- files ------------------------------------------------------------------------------ */

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t w = write(fd, c, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		len -= (size_t)w;
	}
	return 0;
}

static int read_exact(int fd, void *p, size_t len)
{
	char *c = p;

	while (len) {
		ssize_t r = read(fd, c, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Copy len bytes from in (at *off) to out (at its position), in the kernel. */
static int copy_range(int out, int in, off_t *off, int64_t len)
{
	while (len > 0) {
		ssize_t n = sendfile(out, in, off, len > (1 << 30) ? (size_t)1 << 30 : (size_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len -= n;
	}
	return 0;
}

static int fsync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(ERR_IO, errno, "cannot open '%s'", dir);
	rc = fsync(fd);
	close(fd);
	return rc ? err_set_errno(ERR_IO, errno, "cannot sync '%s'", dir) : 0;
}

static int read_small(struct buf *out, const char *path, size_t max)
{
	char chunk[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC), error = 0;
	ssize_t r;

	if (fd < 0)
		return err_set_errno(ERR_IO, errno, "cannot open '%s'", path);
	while (!error && (r = read(fd, chunk, sizeof(chunk))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			error = err_set_errno(ERR_IO, errno, "cannot read '%s'", path);
		else if (out->len + (size_t)r > max)
			error = err_set(ERR_TOOBIG, "'%s' is larger than %zu bytes", path, max);
		else
			error = buf_put(out, chunk, (size_t)r);
	}
	close(fd);
	return error;
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* ---- tar (POSIX ustar) ------------------------------------------------------------------ */

static unsigned header_sum(const unsigned char *h)
{
	unsigned sum = 0;
	int i;

	for (i = 0; i < TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return sum;
}

/* Sizes past the 11 octal digits (8 GiB) in the base-256 form GNU and POSIX readers take. */
static void put_size(unsigned char *field, int64_t size)
{
	int i;

	if (size < 077777777777LL) {
		snprintf((char *)field, 12, "%011llo", (unsigned long long)size);
		return;
	}
	memset(field, 0, 12);
	field[0] = 0x80;
	for (i = 11; i > 0; i--, size >>= 8)
		field[i] = (unsigned char)(size & 0xff);
}

static int get_size(int64_t *out, const unsigned char *field)
{
	int64_t v = 0;
	int i;

	if (field[0] & 0x80) {
		for (i = 1; i < 12; i++) {
			if (v > (INT64_MAX >> 8))
				return -1;
			v = v << 8 | field[i];
		}
	} else {
		for (i = 0; i < 12 && field[i] >= '0' && field[i] <= '7'; i++)
			v = v * 8 + (field[i] - '0');
		if (i == 0 || (i < 12 && field[i] != '\0' && field[i] != ' '))
			return -1;
	}
	*out = v;
	return 0;
}

static int tar_header(int fd, const char *name, int64_t size, int64_t mtime)
{
	unsigned char h[TAR_BLOCK];

	memset(h, 0, sizeof(h));
	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000600", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	put_size(h + 124, size);
	snprintf((char *)h + 136, 12, "%011llo", (unsigned long long)mtime);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	snprintf((char *)h + 148, 8, "%06o", header_sum(h));
	h[155] = ' ';
	return write_all(fd, h, sizeof(h));
}

static int tar_pad(int fd, int64_t size)
{
	static const unsigned char zero[TAR_BLOCK];
	size_t pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);

	return write_all(fd, zero, pad);
}

/* Read one member header: its name must be `name`; *size gets its size. */
static int tar_expect(int64_t *size, int fd, const char *file, const char *name)
{
	unsigned char h[TAR_BLOCK];
	unsigned stored = 0;
	int i;

	if (read_exact(fd, h, sizeof(h)))
		return err_set(ERR_INVALID, "'%s' is not a fieldsync backup (too short)", file);
	for (i = 148; i < 156 && h[i] >= '0' && h[i] <= '7'; i++)
		stored = stored * 8 + (unsigned)(h[i] - '0');
	if (memcmp(h + 257, "ustar", 5) != 0 || stored != header_sum(h))
		return err_set(ERR_INVALID, "'%s' is not a fieldsync backup (no tar header)", file);
	if (strncmp((const char *)h, name, 100) != 0 || (h[156] != '0' && h[156] != '\0') ||
		get_size(size, h + 124) || *size <= 0)
		return err_set(ERR_INVALID, "'%s' is not a fieldsync backup (expected member '%s')",
			file, name);
	return 0;
}

static int tar_skip_pad(int fd, int64_t size)
{
	unsigned char pad[TAR_BLOCK];
	size_t n = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);

	return n ? read_exact(fd, pad, n) : 0;
}

/* ---- backup ----------------------------------------------------------------------------- */

struct staging {
	char dir[4096];
	char *db, *slots, *evidence;
};

static void staging_remove(struct staging *st)
{
	char p[4200];

	if (st->db)
		store_unlink(st->db);
	if (st->evidence)
		store_unlink(st->evidence);
	if (st->slots)
		unlink(st->slots);
	snprintf(p, sizeof(p), "%s/%s", st->dir, NODE_LOCK_NAME);
	unlink(p);
	if (st->dir[0])
		rmdir(st->dir);
	free(st->db);
	free(st->slots);
	free(st->evidence);
}

/* The key slots as they are now, read under the node's lock (a passwd may be rewriting them). */
static int copy_slots(struct node *n, const char *to)
{
	struct buf text = BUF_INIT(KEYSLOT_FILE_MAX);
	int lock = -1, fd = -1, error = node_lock_slots(&lock, n->lock_path);

	if (!error)
		error = read_small(&text, n->slots_path, KEYSLOT_FILE_MAX);
	node_unlock_slots(lock);
	if (!error) {
		fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write_all(fd, text.ptr, text.len) || fsync(fd))
			error = err_set_errno(ERR_IO, errno, "cannot write '%s'", to);
	}
	if (fd >= 0)
		close(fd);
	buf_release(&text);
	return error;
}

/* Stamp the copy with its date and verify it without recording anything in it. */
static int stamp_and_verify(struct casedb_check_report *rep, struct node *n,
	const uint8_t key[CRYPTO_KEY_LEN], const char *dir, const char *taken_at)
{
	struct node *copy = NULL;
	int error = node_open_key(&copy, dir, n->user, key);

	if (!error)
		copy->seal_on_close = 0; /* the copy's log stays the source's, entry for entry */
	if (!error)
		error = store_meta_set(copy->store, "backup.taken_at", taken_at);
	if (!error)
		error = store_meta_set(copy->store, "backup.of", n->device);
	if (!error) {
		error = casedb_verify(rep, copy);
		if (error)
			error = err_set(ERR_CORRUPT, "the backup copy failed its check: %s",
				err_msg());
	}
	node_free(copy);
	return error;
}

/* One file of the staging directory as a member of the archive; *bytes grows by its blocks. */
static int write_member(int64_t *bytes, int out, const char *path, const char *name, int64_t mtime)
{
	struct stat sb;
	off_t off = 0;
	int in, error = 0;

	if (stat(path, &sb))
		return err_set_errno(ERR_IO, errno, "cannot stat the backup copy");
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || tar_header(out, name, sb.st_size, mtime) ||
		copy_range(out, in, &off, sb.st_size) || tar_pad(out, sb.st_size))
		error = err_set_errno(ERR_IO, errno, "cannot write the backup");
	if (in >= 0)
		close(in);
	*bytes += TAR_BLOCK + (sb.st_size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
	return error;
}

static int write_archive(int64_t *bytes, const struct staging *st, const char *tmp, int64_t mtime)
{
	static const unsigned char zero[2 * TAR_BLOCK]; /* two zero blocks end an archive */
	int64_t n = sizeof(zero);
	int out, error;

	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return err_set_errno(ERR_IO, errno, "cannot create '%s'", tmp);
	error = write_member(&n, out, st->slots, SLOTS_MEMBER, mtime);
	if (!error)
		error = write_member(&n, out, st->db, DB_MEMBER, mtime);
	if (!error)
		error = write_member(&n, out, st->evidence, EVIDENCE_MEMBER, mtime);
	if (!error && (write_all(out, zero, sizeof(zero)) || fsync(out)))
		error = err_set_errno(ERR_IO, errno, "cannot write '%s'", tmp);
	if (close(out) && !error)
		error = err_set_errno(ERR_IO, errno, "cannot write '%s'", tmp);
	if (!error)
		*bytes = n;
	return error;
}

int node_backup(struct node_backup_report *rep, struct node *n, const uint8_t key[CRYPTO_KEY_LEN],
	const char *out_path)
{
	struct node_backup_report r;
	struct staging st;
	char tmp[4200], detail[512];
	int64_t pages = 0, evidence_chunks = 0, now_ms = hlc_now_ms();
	struct stat sb;
	int error = 0;

	memset(&r, 0, sizeof(r));
	memset(&st, 0, sizeof(st));
	hlc_iso8601(r.taken_at, now_ms);
	if (strlen(out_path) > 4000)
		return err_set(ERR_INVALID, "backup path too long");
	if (stat(out_path, &sb) == 0 && !S_ISREG(sb.st_mode))
		return err_set(ERR_INVALID, "'%s' is not a regular file", out_path);
	snprintf(st.dir, sizeof(st.dir), "%s.tmp%ld.d", out_path, (long)getpid());
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", out_path, (long)getpid());
	if (mkdir(st.dir, 0700) != 0) {
		st.dir[0] = '\0';
		error = err_set_errno(ERR_IO, errno,
			"cannot create a staging directory beside '%s'", out_path);
		goto out;
	}
	st.db = path_join(st.dir, NODE_DB_NAME);
	st.slots = path_join(st.dir, NODE_SLOTS_NAME);
	st.evidence = path_join(st.dir, NODE_EVIDENCE_NAME);
	if (!st.db || !st.slots || !st.evidence) {
		error = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	error = copy_slots(n, st.slots);
	if (!error)
		error = store_backup(&pages, n->store, st.db, key);
	/* after the store: every chunk its copy lists had its bytes committed before */
	if (!error)
		error = store_evidence_backup(&evidence_chunks, n->store, st.evidence);
	if (!error)
		error = stamp_and_verify(&r.check, n, key, st.dir, r.taken_at);
	if (!error && stat(st.db, &sb) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot stat '%s'", st.db);
	r.db_bytes = sb.st_size;
	if (!error)
		error = write_archive(&r.bytes, &st, tmp, now_ms / 1000);
	if (!error && rename(tmp, out_path) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot rename '%s' to '%s'", tmp, out_path);
	if (!error)
		error = fsync_dir(out_path);
out:
	if (error)
		unlink(tmp);
	staging_remove(&st);
	if (error)
		return node_audit_failure(n, "node.backup", out_path, error);
	snprintf(detail, sizeof(detail),
		"taken at %s: %lld bytes (%lld pages, %lld evidence chunks), checked: %lld cases, "
		"%lld objects, %llu audit entries",
		r.taken_at, (long long)r.bytes, (long long)pages, (long long)evidence_chunks,
		r.check.cases, r.check.objects, (unsigned long long)r.check.audit_entries);
	error = node_audit(n, "node.backup", out_path, "success", detail);
	if (!error)
		*rep = r;
	return error;
}

/* ---- restore ---------------------------------------------------------------------------- */

/* `home` absent (created, *made = 1) or an empty directory. */
static int empty_home(int *made, const char *home)
{
	struct dirent *e;
	DIR *d = opendir(home);
	int error = 0;

	*made = 0;
	if (!d && errno == ENOENT) {
		if (mkdir(home, 0700) != 0)
			return err_set_errno(ERR_IO, errno, "cannot create '%s'", home);
		*made = 1;
		return 0;
	}
	if (!d)
		return err_set_errno(ERR_IO, errno, "cannot open '%s'", home);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			error = err_set(ERR_EXISTS,
				"'%s' is not empty (it holds '%s'): restore only into an empty node "
				"directory",
				home, e->d_name);
			break;
		}
	closedir(d);
	return error;
}

/* One member of the archive at fd's position into `to` (created 0600). */
static int unpack_member(int fd, const char *file, const char *name, int64_t max, const char *to)
{
	int64_t size = 0;
	off_t off;
	int out = -1, error = tar_expect(&size, fd, file, name);

	if (!error && size > max)
		error = err_set(ERR_INVALID, "'%s': member '%s' is too large", file, name);
	if (error)
		return error;
	errno = 0;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	off = lseek(fd, 0, SEEK_CUR);
	if (out < 0 || off < 0 || copy_range(out, fd, &off, size) ||
		lseek(fd, off, SEEK_SET) != off || fsync(out))
		error = errno ? err_set_errno(ERR_IO, errno, "cannot unpack '%s' from '%s'", name,
					file)
			      : err_set(ERR_INVALID, "'%s' is cut short in '%s'", file, name);
	if (!error && tar_skip_pad(fd, size))
		error = err_set(ERR_INVALID, "'%s' is cut short after '%s'", file, name);
	if (out >= 0)
		close(out);
	return error;
}

/* Whether a member header (not the zero blocks of the end) follows; fd stays where it was. */
static int next_is_member(int fd)
{
	unsigned char h[TAR_BLOCK];
	off_t at = lseek(fd, 0, SEEK_CUR);
	int i, any = 0;

	if (at < 0 || read_exact(fd, h, sizeof(h)))
		any = 0;
	else
		for (i = 0; i < TAR_BLOCK && !any; i++)
			any = h[i] != 0;
	if (at >= 0)
		lseek(fd, at, SEEK_SET);
	return any;
}

int node_restore_files(const char *file, const char *home)
{
	struct keyslot_file *slots = NULL;
	char *db = path_join(home, NODE_DB_NAME), *sl = path_join(home, NODE_SLOTS_NAME);
	char *ev = path_join(home, NODE_EVIDENCE_NAME);
	unsigned char end[TAR_BLOCK];
	int fd = -1, made = 0, written = 0, error = 0, i, k;

	if (!db || !sl || !ev) {
		error = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error = err_set_errno(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno,
			"cannot open '%s'", file);
		goto out;
	}
	error = empty_home(&made, home);
	if (error)
		goto out;
	written = 1;
	error = unpack_member(fd, file, SLOTS_MEMBER, KEYSLOT_FILE_MAX, sl);
	if (!error && keyslot_load(&slots, sl))
		error = err_set(ERR_INVALID, "'%s' is not a fieldsync backup (its key slots: %s)",
			file, err_msg());
	if (!error)
		error = unpack_member(fd, file, DB_MEMBER, INT64_MAX, db);
	/* the evidence database (a backup made before it existed has none: the store's own
	 * migration makes it from the chunks the store still holds) */
	if (!error && next_is_member(fd))
		error = unpack_member(fd, file, EVIDENCE_MEMBER, INT64_MAX, ev);
	/* two zero blocks end the archive, and nothing may follow them */
	for (k = 0; !error && k < 2; k++) {
		if (read_exact(fd, end, sizeof(end)))
			error = err_set(ERR_INVALID, "'%s' is cut short (no end of archive)", file);
		for (i = 0; !error && i < TAR_BLOCK; i++)
			if (end[i])
				error = err_set(ERR_INVALID,
					"'%s' holds more than a fieldsync backup", file);
	}
	if (!error && read(fd, end, 1) != 0)
		error = err_set(ERR_INVALID, "'%s' holds more than a fieldsync backup", file);
	if (!error)
		error = fsync_dir(db);
out:
	if (error && written) {
		unlink(db);
		unlink(sl);
		unlink(ev);
		if (made)
			rmdir(home);
	}
	if (fd >= 0)
		close(fd);
	keyslot_file_free(slots);
	free(db);
	free(sl);
	free(ev);
	return error;
}

int node_restore_finish(char taken_at[HLC_STR_MAX], struct casedb_check_report *check,
	struct node *n, const char *file, int declare)
{
	struct buf when = BUF_INIT(HLC_STR_MAX), of = BUF_INIT(64);
	char detail[256];
	int error = store_meta_get(&when, n->store, "backup.taken_at");

	if (error == ERR_NOTFOUND)
		error = err_set(ERR_INVALID,
			"the database in '%s' is not a backup (it names no date)", file);
	if (!error && when.len >= HLC_STR_MAX)
		error = err_set(ERR_CORRUPT, "the backup's date is malformed");
	if (!error && store_meta_get(&of, n->store, "backup.of"))
		error = buf_puts(&of, "?");
	if (!error)
		error = store_begin(n->store);
	if (!error && declare)
		error = store_meta_set(n->store, "restore.pending", when.ptr);
	if (!error && !declare) /* a hub: its devices learn of it and offer everything again */
		error = node_new_generation(n);
	snprintf(detail, sizeof(detail), "restored from a backup of %s (of node %s)%s",
		when.len ? when.ptr : "?", of.len ? of.ptr : "?",
		declare ? "; declared to HQ at the next sync" : "");
	if (!error)
		error = node_audit(n, "node.restore", file, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error)
		store_rollback(n->store);
	if (!error)
		error = casedb_check(check, n);
	if (!error)
		snprintf(taken_at, HLC_STR_MAX, "%s", when.ptr);
	buf_release(&when);
	buf_release(&of);
	return error;
}

int node_restore_pending(struct buf *taken_at, struct node *n)
{
	return store_meta_get(taken_at, n->store, "restore.pending");
}

int node_restore_declared(struct node *n, const char *detail)
{
	int error = store_begin(n->store);

	if (!error)
		error = store_run(n->store, "DELETE FROM node_meta WHERE key = 'restore.pending'",
			"");
	if (!error)
		error = node_audit(n, "device.restore.declared", n->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error)
		store_rollback(n->store);
	return error;
}

int node_new_generation(struct node *n)
{
	uint8_t raw[16];
	char hex[33];
	int error = crypto_random(raw, sizeof(raw));

	if (!error) {
		crypto_hex(hex, raw, sizeof(raw));
		error = store_meta_set(n->store, NODE_GENERATION_KEY, hex);
	}
	return error;
}
