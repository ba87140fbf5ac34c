/* shared/node/node.c - node directory, log-on and identity. */
#include "node/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/seal.h"
#include "base/buf.h"
#include "case/index.h"
#include "store/chunks.h"
#include "store/keyslot.h"
#include "store/odb.h"
#include "pki/pki.h"

_Static_assert(PKI_DEVICE_LEN == NODE_DEVICE_MAX, "a device id fills node.device");

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int node_alloc(struct node **out, const char *home)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return err_set(ERR_NOMEM, "out of memory");
	n->home = strdup(home);
	n->db_path = join(home, NODE_DB_NAME);
	n->slots_path = join(home, NODE_SLOTS_NAME);
	n->lock_path = join(home, NODE_LOCK_NAME);
	n->origin.node = n->device;
	n->origin.office = n->office;
	if (!n->home || !n->db_path || !n->slots_path || !n->lock_path) {
		node_free(n);
		return err_set(ERR_NOMEM, "out of memory");
	}
	*out = n;
	return 0;
}

int node_seal(int *made, struct node *n)
{
	struct buf key = BUF_INIT(8192), cert = BUF_INIT(8192);
	char origin[SCHEMA_OFFICE_MAX + NODE_DEVICE_MAX + 2];
	int error = store_material_get(&key, n->store, "device_key");

	if (made)
		*made = 0;
	if (!error)
		error = store_material_get(&cert, n->store, "device_cert");
	if (error == ERR_NOTFOUND) { /* HQ, or a device not yet enrolled */
		error = 0;
		goto out;
	}
	snprintf(origin, sizeof(origin), "%s/%s", n->office, n->device);
	if (!error)
		error = seal_own_log(made, n->store, origin, (const uint8_t *)key.ptr, key.len,
			(const uint8_t *)cert.ptr, cert.len);
out:
	buf_wipe_release(&key);
	buf_release(&cert);
	return error;
}

/* Seal on close without touching the error the caller may still print. */
static void seal_quietly(struct node *n)
{
	char msg[1024];
	int code = err_code();

	snprintf(msg, sizeof(msg), "%s", err_msg());
	(void)!node_seal(NULL, n);
	if (code)
		err_set(code, "%s", msg);
	else
		err_clear();
}

void node_free(struct node *n)
{
	if (!n)
		return;
	if (n->store && n->seal_on_close)
		seal_quietly(n);
	git_repository_free(n->repo);
	store_free(n->store);
	free(n->home);
	free(n->db_path);
	free(n->slots_path);
	free(n->lock_path);
	free(n);
}

int node_lock_slots(int *fd_out, const char *lock_path)
{
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return err_set_errno(ERR_IO, errno, "cannot open '%s'", lock_path);
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(fd);
			return err_set_errno(ERR_IO, errno, "cannot lock '%s'", lock_path);
		}
	}
	*fd_out = fd;
	return 0;
}

void node_unlock_slots(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

int node_check_passphrase(const char *pass, size_t len)
{
	if (len < NODE_PASSPHRASE_MIN)
		return err_set(ERR_INVALID, "a passphrase needs at least %d characters",
			NODE_PASSPHRASE_MIN);
	if (len > NODE_PASSPHRASE_MAX)
		return err_set(ERR_TOOBIG, "a passphrase may have at most %d characters",
			NODE_PASSPHRASE_MAX);
	if (memchr(pass, '\0', len))
		return err_set(ERR_INVALID, "a passphrase cannot contain a NUL byte");
	return 0;
}

int node_audit(struct node *n, const char *action, const char *target, const char *outcome,
	const char *detail)
{
	struct audit_event ev = {n->user, action, target, outcome, detail, 0, NULL, 0, 0};

	return audit_append(NULL, n->store, &n->origin, &ev);
}

int node_audit_cases(struct node *n, const char *action, const char *detail,
	const char *const *cases, size_t ncases, uint64_t shown)
{
	static const char *const none[1] = {NULL};
	struct audit_event ev = {n->user, action, "", "success", detail, 0, cases ? cases : none,
		ncases, shown};

	return audit_append(NULL, n->store, &n->origin, &ev);
}

int node_audit_failure(struct node *n, const char *action, const char *target, int code)
{
	char msg[AUDIT_DETAIL_MAX];

	snprintf(msg, sizeof(msg), "%s", err_msg());
	store_rollback(n->store);
	/* A denial was audited where it was decided. */
	if (code != ERR_PERM && node_audit(n, action, target, "failure", msg))
		return err_code();
	return err_set(code, "%s", msg);
}

int node_next_hlc(struct hlc *out, struct node *n)
{
	struct buf cur = BUF_INIT(64);
	char text[HLC_STR_MAX];
	struct hlc last = {0, 0}, next;
	int error;

	error = store_meta_get(&cur, n->store, "hlc");
	if (!error)
		error = hlc_parse(&last, cur.ptr);
	if (error == ERR_NOTFOUND)
		error = 0;
	if (!error) {
		hlc_next(&next, &last, hlc_now_ms());
		hlc_format(text, &next);
		error = store_meta_set(n->store, "hlc", text);
	}
	if (!error)
		*out = next;
	buf_release(&cur);
	return error;
}

/* Each role's permissions; hq marks the roles of HQ's node, device those of a device. */
static const struct role_perms {
	const char *role;
	unsigned perms;
	unsigned char hq, device;
} roles[] = {
	{"admin", ~0u, 1, 1},
	{"investigator", NODE_PERM_CASE_READ | NODE_PERM_CASE_WRITE | NODE_PERM_SYNC, 1, 1},
	{"supervisor",
		NODE_PERM_CASE_READ | NODE_PERM_CASE_WRITE | NODE_PERM_SUPERVISE | NODE_PERM_SYNC |
			NODE_PERM_CLOSE | NODE_PERM_REPORT,
		1, 1},
	{"auditor", NODE_PERM_AUDIT_READ, 1, 1},
	{"service", NODE_PERM_SYNC, 0, 1},
	{"hq-admin", NODE_PERM_USER_ADMIN | NODE_PERM_OFFICE_ADMIN, 1, 0},
	{"intake", NODE_PERM_INTAKE, 1, 0},
	{"analyst", NODE_PERM_REPORT, 1, 0},
};

int node_is_hq(const struct node *n)
{
	return strcmp(n->office, NODE_HQ_OFFICE) == 0;
}

int node_check_role(const struct node *n, const char *role)
{
	return node_is_hq(n) ? schema_check_hq_role(role) : schema_check_role(role);
}

static const struct role_perms *role_find(const struct node *n, const char *role)
{
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(roles[i].role, role) && (node_is_hq(n) ? roles[i].hq : roles[i].device))
			return &roles[i];
	return NULL;
}

/* "supervisor or investigator": the roles of n's kind but admin that have `perm`. */
static void roles_with(char *out, size_t size, const struct node *n, enum node_perm perm)
{
	size_t i, len = 0;
	int k = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]) && len < size; i++) {
		if (!strcmp(roles[i].role, "admin") || !(roles[i].perms & (unsigned)perm) ||
			!(node_is_hq(n) ? roles[i].hq : roles[i].device))
			continue;
		len += (size_t)snprintf(out + len, size - len, "%s%s", k++ ? " or " : "",
			roles[i].role);
	}
}

int node_require(struct node *n, enum node_perm perm, const char *action, const char *target)
{
	const struct role_perms *r = role_find(n, n->role);
	char detail[64], needs[96];

	if (r && (r->perms & (unsigned)perm))
		return 0;
	snprintf(detail, sizeof(detail), "role %s", n->role);
	if (node_audit(n, action, target, "denied", detail))
		return err_code();
	roles_with(needs, sizeof(needs), n, perm);
	return err_set(ERR_PERM, "user '%s' (role %s) may not do '%s': it needs the role %s%s",
		n->user, n->role, action, needs[0] ? needs : "admin",
		!needs[0]	? ""
		: node_is_hq(n) ? " (or the server's key file)"
				: " or admin");
}

/* Office and device from node_meta, the user's role from users. */
static int load_identity(struct node *n, const char *user)
{
	struct buf office = BUF_INIT(64), device = BUF_INIT(64);
	sqlite3_stmt *st = NULL;
	int error, rc;

	error = store_meta_get(&office, n->store, "office");
	if (!error)
		error = store_meta_get(&device, n->store, "device");
	if (error || office.len > SCHEMA_OFFICE_MAX || device.len > NODE_DEVICE_MAX) {
		error = err_set(ERR_CORRUPT, "node identity is missing from '%s'", n->db_path);
		goto out;
	}
	memcpy(n->office, office.ptr, office.len + 1);
	memcpy(n->device, device.ptr, device.len + 1);
	error = store_prepare(&st, n->store,
		"SELECT role FROM users WHERE name = ? AND removed_at IS NULL");
	if (error)
		goto out;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(n->role, sizeof(n->role), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(n->user, sizeof(n->user), "%s", user);
	} else if (rc == SQLITE_DONE) {
		error = err_set(ERR_AUTH, "unknown user '%s'", user);
	} else {
		error = store_error(n->store, "cannot read users");
	}
out:
	sqlite3_finalize(st);
	buf_release(&office);
	buf_release(&device);
	return error;
}

/* Move failed log-ons counted in the sidecar into the audit log (once each). */
static int import_failures(struct node *n, const struct keyslot_file *f)
{
	sqlite3_stmt *st = NULL;
	char detail[128];
	size_t i;
	int error;

	error = store_prepare(&st, n->store, "INSERT OR IGNORE INTO imported_failures(id) VALUES (?)");
	for (i = 0; !error && i < f->nfailures; i++) {
		const struct keyslot_failure *r = &f->failures[i];
		struct audit_event ev = {r->user, "logon", r->user, "failure", detail,
			r->time * 1000, NULL, 0, 0};

		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		error = store_step_done(n->store, st);
		if (error || sqlite3_changes(store_db(n->store)) == 0)
			continue;
		snprintf(detail, sizeof(detail), "%s (recorded before unlock)", r->reason);
		error = audit_append(NULL, n->store, &n->origin, &ev);
	}
	if (!error && f->dropped) {
		snprintf(detail, sizeof(detail), "%llu failed log-on records dropped at the cap",
			(unsigned long long)f->dropped);
		error = node_audit(n, "logon", "", "failure", detail);
	}
	sqlite3_finalize(st);
	return error;
}

/*
 * A migration that adds derived columns leaves 'reindex' in node_meta (store.c): rebuild the
 * derived tables from the case heads once, in one transaction.  The flag is read again
 * inside it, so of several processes opening at once only the first rebuilds.
 */
static int reindex_if_asked(struct node *n)
{
	struct buf v = BUF_INIT(16);
	int error = store_meta_get(&v, n->store, "reindex");

	if (error == ERR_NOTFOUND) {
		buf_release(&v);
		return 0;
	}
	if (!error)
		error = store_begin(n->store);
	if (!error) {
		buf_reset(&v);
		error = store_meta_get(&v, n->store, "reindex");
		if (!error)
			error = index_rebuild(n->store, n->repo);
		if (!error)
			error = store_exec(n->store, "DELETE FROM node_meta WHERE key = 'reindex'");
		if (error == ERR_NOTFOUND) /* another process did it meanwhile */
			error = 0;
		if (!error)
			error = store_commit(n->store);
		else
			store_rollback(n->store);
	}
	buf_release(&v);
	return error;
}

/* A purge killed between dropping chunks from the store and removing their bytes. */
static int sweep_if_asked(struct node *n)
{
	struct buf v = BUF_INIT(16);
	int64_t removed = 0;
	int error = store_meta_get(&v, n->store, CHUNKS_SWEEP_KEY);

	buf_release(&v);
	if (error == ERR_NOTFOUND) {
		err_clear();
		return 0;
	}
	return error ? error : chunks_sweep(&removed, n->store);
}

static int open_store_and_repo(struct node *n, const uint8_t key[CRYPTO_KEY_LEN], int flags)
{
	int error = store_open(&n->store, n->db_path, key, flags);

	if (!error)
		error = odb_repository_open(&n->repo, n->store);
	if (!error)
		error = reindex_if_asked(n);
	if (!error)
		error = sweep_if_asked(n);
	return error;
}

static int logon_failed(struct keyslot_file *f, const char *slots_path, const char *user,
	const char *reason)
{
	int code = err_code();
	char msg[512];
	struct keyslot *k;

	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (keyslot_record_failure(f, user, (int64_t)time(NULL), reason) ||
		keyslot_save(f, slots_path))
		return err_code();
	k = keyslot_find(f, user);
	if (k && k->locked_until)
		return err_set(ERR_LOCKED, "%s: user '%s' is now locked for %d minutes", msg, user,
			KEYSLOT_LOCK_SECONDS / 60);
	if (k)
		return err_set(ERR_AUTH, "%s (%d attempts left before a %d-minute lock)", msg,
			KEYSLOT_LOCK_AFTER - k->failed, KEYSLOT_LOCK_SECONDS / 60);
	return err_set(code == ERR_NOTFOUND ? ERR_AUTH : code, "%s", msg);
}

/* node_alloc() for the node already in `home`: ERR_NOTFOUND if there is none. */
static int node_alloc_existing(struct node **out, const char *home)
{
	int error = node_alloc(out, home);

	if (!error && access((*out)->db_path, F_OK) != 0) {
		error = err_set(ERR_NOTFOUND, "no fieldsync node in '%s' (run init first)", home);
		node_free(*out);
		*out = NULL;
	}
	return error;
}

/*
 * A key rotation killed half-way (shared/node/rekey.h) leaves keyslots.json.next beside the
 * slots.  `opened` is how the store took the old key: it opened (0: the rekey never committed,
 * its journal rolled it back) and the new slots are dropped; or it did not (ERR_AUTH: the rekey
 * committed) and the key the new slots wrap opens it, and they replace the old ones.  Without
 * a .next file, `opened` is the answer.
 */
static int finish_rotation(struct keyslot_file **f, struct node *n, uint8_t key[CRYPTO_KEY_LEN],
	const char *user, const char *pass, size_t passlen, int opened)
{
	struct keyslot_file *next = NULL;
	char path[4200];
	int error;

	snprintf(path, sizeof(path), "%s.next", n->slots_path);
	if (access(path, F_OK) != 0)
		return opened;
	if (!opened) {
		if (unlink(path) != 0)
			return err_set_errno(ERR_IO, errno, "cannot remove '%s'", path);
		return 0;
	}
	error = keyslot_load(&next, path);
	if (!error)
		error = keyslot_unlock(key, next, user, pass, passlen);
	if (!error)
		error = open_store_and_repo(n, key, 0);
	if (!error && rename(path, n->slots_path) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot move '%s' into place", path);
	if (!error) {
		keyslot_file_free(*f);
		*f = next;
		next = NULL;
	} else {
		error = err_set(ERR_AUTH,
			"the store opens neither with the key of its slots nor with "
			"the key of an interrupted rotation (%s)",
			err_msg());
	}
	keyslot_file_free(next);
	return error;
}

/* node_open(); with key_out non-NULL the unwrapped database key is also handed out. */
static int logon(struct node **out, uint8_t *key_out, const char *home, const char *user,
	const char *pass, size_t passlen)
{
	struct keyslot_file *f = NULL, *before;
	struct node *n = NULL;
	uint8_t key[CRYPTO_KEY_LEN];
	int64_t locked;
	int lock_fd = -1, changed, error;

	crypto_lock(key, sizeof(key));
	error = node_alloc_existing(&n, home);
	if (error)
		return error;
	error = node_lock_slots(&lock_fd, n->lock_path);
	if (!error)
		error = keyslot_load(&f, n->slots_path);
	if (error)
		goto out;
	locked = keyslot_locked_for(f, user, (int64_t)time(NULL));
	if (locked > 0) {
		error = err_set(ERR_LOCKED,
			"user '%s' is locked after %d failed log-ons; try again in %lld minutes", user,
			KEYSLOT_LOCK_AFTER, (long long)(locked + 59) / 60);
		if (keyslot_record_failure(f, user, (int64_t)time(NULL), "attempt while locked") ||
			keyslot_save(f, n->slots_path))
			error = err_code();
		goto out;
	}
	error = keyslot_unlock(key, f, user, pass, passlen);
	if (error) {
		error = logon_failed(f, n->slots_path,
			user, error == ERR_NOTFOUND ? "unknown user" : "wrong passphrase");
		goto out;
	}
	error = open_store_and_repo(n, key, 0);
	before = f;
	if (error == ERR_AUTH || !error)
		error = finish_rotation(&f, n, key, user, pass, passlen, error);
	if (!error)
		error = load_identity(n, user);
	if (error == ERR_AUTH) {
		error = logon_failed(f, n->slots_path, user, "removed user");
		goto out;
	}
	if (error)
		goto out;
	error = store_begin(n->store);
	if (!error)
		error = import_failures(n, f);
	if (!error)
		error = node_audit(n, "logon", n->user, "success", NULL);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		store_rollback(n->store);
		goto out;
	}
	/* The slots are rewritten (and fsync'd twice) only if this changed them: a log-on with no
	 * failures to forget costs no write outside the store */
	changed = keyslot_reset_failures(f, user);
	changed |= keyslot_clear_failures(f);
	if (changed || f != before)
		error = keyslot_save(f, n->slots_path);
	if (error)
		goto out;
	if (key_out)
		memcpy(key_out, key, sizeof(key));
	n->seal_on_close = 1;
	*out = n;
	n = NULL;
out:
	crypto_wipe(key, sizeof(key));
	node_unlock_slots(lock_fd);
	keyslot_file_free(f);
	node_free(n);
	return error;
}

int node_open(struct node **out, const char *home, const char *user, const char *pass,
	size_t passlen)
{
	return logon(out, NULL, home, user, pass, passlen);
}

int node_open_keep_key(struct node **out, uint8_t key_out[CRYPTO_KEY_LEN], const char *home,
	const char *user, const char *pass, size_t passlen)
{
	return logon(out, key_out, home, user, pass, passlen);
}

int node_open_key(struct node **out, const char *home, const char *user,
	const uint8_t key[CRYPTO_KEY_LEN])
{
	struct node *n = NULL;
	int error;

	error = node_alloc_existing(&n, home);
	if (error)
		return error;
	error = open_store_and_repo(n, key, 0);
	if (!error)
		error = load_identity(n, user);
	if (error)
		goto out;
	n->seal_on_close = 1; /* a command run by the service seals like one run on its own */
	*out = n;
	n = NULL;
out:
	node_free(n);
	return error;
}

static int make_home(const char *home)
{
	struct stat sb;

	if (mkdir(home, 0700) != 0 && errno != EEXIST)
		return err_set_errno(ERR_IO, errno, "cannot create '%s'", home);
	if (stat(home, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return err_set(ERR_IO, "'%s' is not a directory", home);
	if (chmod(home, 0700) != 0)
		return err_set_errno(ERR_IO, errno, "cannot restrict '%s'", home);
	return 0;
}

static int write_identity(struct node *n, const char *office, const char *user)
{
	sqlite3_stmt *st = NULL;
	char now[HLC_STR_MAX];
	int error;

	hlc_iso8601(now, hlc_now_ms());
	error = store_begin(n->store);
	if (!error)
		error = store_meta_set(n->store, "office", office);
	if (!error)
		error = store_meta_set(n->store, "device", n->device);
	if (!error)
		error = store_meta_set(n->store, "created_at", now);
	if (!error)
		error = store_prepare(&st, n->store,
			"INSERT INTO users(name, role, created_at, created_by) VALUES (?, 'admin', ?, ?)");
	if (!error) {
		sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
		error = store_step_done(n->store, st);
	}
	if (!error)
		error = node_audit(n, "node.init", office, "success", NULL);
	if (!error)
		error = node_audit(n, "user.add", user, "success", "role admin");
	if (!error)
		error = store_commit(n->store);
	if (error)
		store_rollback(n->store);
	sqlite3_finalize(st);
	return error;
}

static void remove_node_files(const struct node *n)
{
	char *evidence = store_evidence_path(n->db_path);

	store_unlink(n->db_path);
	if (evidence)
		store_unlink(evidence);
	free(evidence);
	unlink(n->slots_path);
}

int node_init(struct node **out, const char *home, const char *office, const char *user,
	const char *pass, size_t passlen, const struct crypto_kdf_cost *cost)
{
	struct keyslot_file *f = NULL;
	struct node *n = NULL;
	uint8_t key[CRYPTO_KEY_LEN], dev[NODE_DEVICE_MAX / 2];
	int lock_fd = -1, created = 0, error;

	crypto_lock(key, sizeof(key));
	error = schema_check_office(office);
	if (!error)
		error = schema_check_user(user);
	if (!error)
		error = node_check_passphrase(pass, passlen);
	if (!error)
		error = node_alloc(&n, home);
	if (!error)
		error = make_home(home);
	if (error)
		goto out;
	if (access(n->db_path, F_OK) == 0 || access(n->slots_path, F_OK) == 0) {
		error = err_set(ERR_EXISTS, "'%s' already holds a fieldsync node", home);
		goto out;
	}
	error = node_lock_slots(&lock_fd, n->lock_path);
	if (!error)
		error = crypto_random(key, sizeof(key));
	if (!error)
		error = crypto_random(dev, sizeof(dev));
	if (error)
		goto out;
	crypto_hex(n->device, dev, sizeof(dev));
	snprintf(n->office, sizeof(n->office), "%s", office);
	snprintf(n->user, sizeof(n->user), "%s", user);
	snprintf(n->role, sizeof(n->role), "admin");
	error = keyslot_file_new(&f);
	if (!error)
		error = keyslot_set(f, user, pass, passlen, key, cost);
	if (error)
		goto out;
	created = 1;
	error = open_store_and_repo(n, key, STORE_CREATE);
	if (!error)
		error = write_identity(n, office, user);
	if (!error)
		error = keyslot_save(f, n->slots_path);
	if (error)
		goto out;
	*out = n;
	n = NULL;
out:
	crypto_wipe(key, sizeof(key));
	if (error && created && n) {
		git_repository_free(n->repo);
		n->repo = NULL;
		store_free(n->store);
		n->store = NULL;
		remove_node_files(n);
	}
	node_unlock_slots(lock_fd);
	keyslot_file_free(f);
	node_free(n);
	return error;
}
