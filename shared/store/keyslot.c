/* shared/store/keyslot.c - wrapped database keys and failed log-on counters in a JSON sidecar. */
#include "store/keyslot.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"

#define FORMAT_NAME "fieldsync-keyslots"
#define FORMAT_VERSION 1

int keyslot_file_new(struct keyslot_file **out)
{
	struct keyslot_file *f = calloc(1, sizeof(*f));
	int error;

	if (!f)
		return err_set(ERR_NOMEM, "out of memory");
	error = crypto_random(f->db_id, sizeof(f->db_id));
	if (error) {
		free(f);
		return error;
	}
	*out = f;
	return 0;
}

void keyslot_file_free(struct keyslot_file *f)
{
	if (!f)
		return;
	crypto_wipe(f->slots, f->nslots * sizeof(*f->slots));
	free(f->slots);
	free(f->failures);
	free(f);
}

/* The AAD binds a slot to this database, this user and these KDF parameters. */
static void slot_aad(struct buf *aad, const uint8_t db_id[16], const struct keyslot *k)
{
	uint8_t params[12];
	uint32_t v[3] = {k->cost.t, k->cost.m_kib, k->cost.p};
	int i;

	for (i = 0; i < 3; i++) {
		params[4 * i] = (uint8_t)(v[i] >> 24);
		params[4 * i + 1] = (uint8_t)(v[i] >> 16);
		params[4 * i + 2] = (uint8_t)(v[i] >> 8);
		params[4 * i + 3] = (uint8_t)v[i];
	}
	/* The cap is far above what these few fields need: no failure is possible. */
	(void)!buf_put(aad, "fieldsync keyslot v1", 21);
	(void)!buf_put(aad, db_id, 16);
	(void)!buf_put(aad, k->user, strlen(k->user) + 1);
	(void)!buf_put(aad, params, sizeof(params));
}

static int derive_kek(uint8_t kek[CRYPTO_KEY_LEN], const struct keyslot *k, const char *pass,
	size_t passlen)
{
	return crypto_argon2id(kek, CRYPTO_KEY_LEN, pass, passlen, k->salt, sizeof(k->salt),
		&k->cost);
}

struct keyslot *keyslot_find(struct keyslot_file *f, const char *user)
{
	size_t i;

	for (i = 0; i < f->nslots; i++)
		if (strcmp(f->slots[i].user, user) == 0)
			return &f->slots[i];
	return NULL;
}

int keyslot_set(struct keyslot_file *f, const char *user, const char *pass, size_t passlen,
	const uint8_t key[CRYPTO_KEY_LEN], const struct crypto_kdf_cost *cost)
{
	struct keyslot k, *slot;
	struct buf aad = BUF_INIT(256);
	uint8_t kek[CRYPTO_KEY_LEN];
	int error;

	memset(&k, 0, sizeof(k));
	if (strlen(user) == 0 || strlen(user) > KEYSLOT_USER_MAX)
		return err_set(ERR_INVALID, "user name must be 1 to %d characters", KEYSLOT_USER_MAX);
	memcpy(k.user, user, strlen(user) + 1);
	k.cost = *cost;
	error = crypto_random(k.salt, sizeof(k.salt));
	if (!error)
		error = crypto_random(k.nonce, sizeof(k.nonce));
	if (!error)
		error = derive_kek(kek, &k, pass, passlen);
	if (error)
		goto out;
	slot_aad(&aad, f->db_id, &k);
	error = crypto_aead_seal(k.wrapped, k.tag, kek, k.nonce, aad.ptr, aad.len, key,
		CRYPTO_KEY_LEN);
	if (error)
		goto out;

	slot = keyslot_find(f, user);
	if (!slot) {
		struct keyslot *grown;

		if (f->nslots >= KEYSLOT_MAX_SLOTS) {
			error = err_set(ERR_TOOBIG, "too many key slots (%d)", KEYSLOT_MAX_SLOTS);
			goto out;
		}
		grown = realloc(f->slots, (f->nslots + 1) * sizeof(*grown));
		if (!grown) {
			error = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		f->slots = grown;
		slot = &f->slots[f->nslots++];
	}
	*slot = k;
out:
	crypto_wipe(kek, sizeof(kek));
	crypto_wipe(&k, sizeof(k));
	buf_release(&aad);
	return error;
}

int keyslot_unlock(uint8_t key_out[CRYPTO_KEY_LEN], const struct keyslot_file *f,
	const char *user, const char *pass, size_t passlen)
{
	const struct keyslot *k = keyslot_find((struct keyslot_file *)f, user);
	struct buf aad = BUF_INIT(256);
	uint8_t kek[CRYPTO_KEY_LEN], key[CRYPTO_KEY_LEN];
	int error;

	if (!k)
		return err_set(ERR_NOTFOUND, "unknown user '%s'", user);
	error = derive_kek(kek, k, pass, passlen);
	if (error)
		goto out;
	slot_aad(&aad, f->db_id, k);
	error = crypto_aead_open(key, kek, k->nonce, aad.ptr, aad.len, k->wrapped, CRYPTO_KEY_LEN,
		k->tag);
	if (error) {
		error = err_set(ERR_AUTH, "wrong passphrase for user '%s'", user);
		goto out;
	}
	memcpy(key_out, key, CRYPTO_KEY_LEN);
out:
	crypto_wipe(kek, sizeof(kek));
	crypto_wipe(key, sizeof(key));
	buf_release(&aad);
	return error;
}

int keyslot_remove(struct keyslot_file *f, const char *user)
{
	struct keyslot *k = keyslot_find(f, user);
	size_t i;

	if (!k)
		return err_set(ERR_NOTFOUND, "no key slot for user '%s'", user);
	i = (size_t)(k - f->slots);
	crypto_wipe(k, sizeof(*k));
	memmove(&f->slots[i], &f->slots[i + 1], (f->nslots - i - 1) * sizeof(*k));
	f->nslots--;
	return 0;
}

/*
 * A name as typed at a failed log-on may be any bytes: keep it as printable ASCII and never
 * empty, so that the record can always be saved and loaded and later become an audit entry
 * (instead of silently vanishing from the file, or making it unreadable).
 */
static void copy_printable(char *out, size_t size, const char *in)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < size; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (i == 0 && size > 1)
		out[i++] = '?';
	out[i] = '\0';
}

int keyslot_record_failure(struct keyslot_file *f, const char *user, int64_t now,
	const char *reason)
{
	struct keyslot *k = keyslot_find(f, user);
	struct keyslot_failure *rec;
	uint8_t id[16];
	int error;

	if (k) {
		k->failed++;
		if (k->failed >= KEYSLOT_LOCK_AFTER) {
			k->locked_until = now + KEYSLOT_LOCK_SECONDS;
			k->failed = 0;
		}
	}
	if (f->nfailures >= KEYSLOT_MAX_FAILURES) {
		/* Keep the newest records; count what was dropped so the audit log says so. */
		memmove(f->failures, f->failures + 1, (f->nfailures - 1) * sizeof(*rec));
		f->nfailures--;
		f->dropped++;
	} else {
		rec = realloc(f->failures, (f->nfailures + 1) * sizeof(*rec));
		if (!rec)
			return err_set(ERR_NOMEM, "out of memory");
		f->failures = rec;
	}
	error = crypto_random(id, sizeof(id));
	if (error)
		return error;
	rec = &f->failures[f->nfailures++];
	memset(rec, 0, sizeof(*rec));
	crypto_hex(rec->id, id, sizeof(id));
	copy_printable(rec->user, sizeof(rec->user), user);
	copy_printable(rec->reason, sizeof(rec->reason), reason);
	rec->time = now;
	return 0;
}

int64_t keyslot_locked_for(const struct keyslot_file *f, const char *user, int64_t now)
{
	const struct keyslot *k = keyslot_find((struct keyslot_file *)f, user);

	if (!k || k->locked_until <= now)
		return 0;
	return k->locked_until - now;
}

int keyslot_reset_failures(struct keyslot_file *f, const char *user)
{
	struct keyslot *k = keyslot_find(f, user);
	int had = k && (k->failed || k->locked_until);

	if (k) {
		k->failed = 0;
		k->locked_until = 0;
	}
	return had;
}

int keyslot_clear_failures(struct keyslot_file *f)
{
	int had = f->nfailures || f->dropped;

	free(f->failures);
	f->failures = NULL;
	f->nfailures = 0;
	f->dropped = 0;
	return had;
}

/* ---- JSON (de)serialisation ------------------------------------------------------------- */

static json_t *hex_json(const uint8_t *p, size_t len)
{
	char hex[2 * 64 + 1];

	crypto_hex(hex, p, len);
	return json_string(hex);
}

static int get_hex(uint8_t *out, size_t len, json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	if (!s || crypto_unhex(out, len, s))
		return err_set(ERR_CORRUPT, "key slot field '%s' is malformed", name);
	return 0;
}

static int get_int(int64_t *out, json_t *obj, const char *name, int64_t lo, int64_t hi)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return err_set(ERR_CORRUPT, "key slot field '%s' is malformed", name);
	*out = json_integer_value(v);
	return 0;
}

static int get_str(char *out, size_t size, json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	if (!s || strlen(s) == 0 || strlen(s) >= size)
		return err_set(ERR_CORRUPT, "key slot field '%s' is malformed", name);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int parse_slot(struct keyslot *k, json_t *o)
{
	int64_t t = 0, m = 0, p = 0, failed = 0, until = 0;
	int error;

	error = get_str(k->user, sizeof(k->user), o, "user");
	if (!error)
		error = get_int(&t, o, "t", 1, CRYPTO_KDF_MAX_T);
	if (!error)
		error = get_int(&m, o, "m", 8, CRYPTO_KDF_MAX_M_KIB);
	if (!error)
		error = get_int(&p, o, "p", 1, CRYPTO_KDF_MAX_P);
	if (!error)
		error = get_int(&failed, o, "failed", 0, KEYSLOT_LOCK_AFTER);
	if (!error)
		error = get_int(&until, o, "locked_until", 0, INT64_MAX);
	if (!error)
		error = get_hex(k->salt, sizeof(k->salt), o, "salt");
	if (!error)
		error = get_hex(k->nonce, sizeof(k->nonce), o, "nonce");
	if (!error)
		error = get_hex(k->wrapped, sizeof(k->wrapped), o, "wrapped");
	if (!error)
		error = get_hex(k->tag, sizeof(k->tag), o, "tag");
	if (error)
		return error;
	k->cost.t = (uint32_t)t;
	k->cost.m_kib = (uint32_t)m;
	k->cost.p = (uint32_t)p;
	k->failed = (int)failed;
	k->locked_until = until;
	return 0;
}

static int parse_failure(struct keyslot_failure *r, json_t *o)
{
	int error = get_str(r->id, sizeof(r->id), o, "id");

	if (!error)
		error = get_str(r->user, sizeof(r->user), o, "user");
	if (!error)
		error = get_str(r->reason, sizeof(r->reason), o, "reason");
	if (!error)
		error = get_int(&r->time, o, "time", 0, INT64_MAX);
	return error;
}

static int parse_file(struct keyslot_file *f, json_t *root)
{
	json_t *slots, *fails, *v;
	int64_t version = 0, dropped = 0;
	size_t i;
	int error;
	const char *format = json_string_value(json_object_get(root, "format"));

	if (!json_is_object(root) || !format || strcmp(format, FORMAT_NAME) != 0)
		return err_set(ERR_CORRUPT, "not a fieldsync key-slot file");
	error = get_int(&version, root, "version", FORMAT_VERSION, FORMAT_VERSION);
	if (!error)
		error = get_hex(f->db_id, sizeof(f->db_id), root, "db_id");
	if (!error)
		error = get_int(&dropped, root, "dropped", 0, INT64_MAX);
	if (error)
		return error;
	f->dropped = (uint64_t)dropped;
	slots = json_object_get(root, "slots");
	fails = json_object_get(root, "failures");
	if (!json_is_array(slots) || json_array_size(slots) > KEYSLOT_MAX_SLOTS ||
		!json_is_array(fails) || json_array_size(fails) > KEYSLOT_MAX_FAILURES)
		return err_set(ERR_CORRUPT, "key-slot file lists are malformed");
	f->slots = calloc(json_array_size(slots) + 1, sizeof(*f->slots));
	f->failures = calloc(json_array_size(fails) + 1, sizeof(*f->failures));
	if (!f->slots || !f->failures)
		return err_set(ERR_NOMEM, "out of memory");
	json_array_foreach(slots, i, v)
	{
		error = parse_slot(&f->slots[f->nslots], v);
		if (error)
			return error;
		if (keyslot_find(f, f->slots[f->nslots].user))
			return err_set(ERR_CORRUPT, "two key slots for user '%s'",
				f->slots[f->nslots].user);
		f->nslots++;
	}
	json_array_foreach(fails, i, v)
	{
		error = parse_failure(&f->failures[f->nfailures], v);
		if (error)
			return error;
		f->nfailures++;
	}
	return 0;
}

int keyslot_load(struct keyslot_file **out, const char *path)
{
	struct keyslot_file *f = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	struct stat sb;
	int error;

	if (stat(path, &sb) != 0)
		return err_set_errno(ERR_NOTFOUND, errno, "cannot read '%s'", path);
	if (sb.st_size > KEYSLOT_FILE_MAX)
		return err_set(ERR_TOOBIG, "'%s' is larger than %d bytes", path, KEYSLOT_FILE_MAX);
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return err_set(ERR_CORRUPT, "'%s' is not valid JSON: %s", path, jerr.text);
	f = calloc(1, sizeof(*f));
	if (!f) {
		error = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	error = parse_file(f, root);
	if (error)
		goto out;
	*out = f;
	f = NULL;
out:
	keyslot_file_free(f);
	json_decref(root);
	return error;
}

static json_t *slot_json(const struct keyslot *k)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:i, s:I}", "user", k->user,
		"kdf", "argon2id", "t", (json_int_t)k->cost.t, "m", (json_int_t)k->cost.m_kib, "p",
		(json_int_t)k->cost.p, "salt", hex_json(k->salt, sizeof(k->salt)), "nonce",
		hex_json(k->nonce, sizeof(k->nonce)), "wrapped",
		hex_json(k->wrapped, sizeof(k->wrapped)), "tag", hex_json(k->tag, sizeof(k->tag)),
		"failed", k->failed, "locked_until", (json_int_t)k->locked_until);
}

static json_t *file_json(const struct keyslot_file *f)
{
	json_t *root, *slots = json_array(), *fails = json_array();
	size_t i;

	for (i = 0; i < f->nslots; i++)
		json_array_append_new(slots, slot_json(&f->slots[i]));
	for (i = 0; i < f->nfailures; i++)
		json_array_append_new(fails,
			json_pack("{s:s, s:s, s:I, s:s}", "id", f->failures[i].id, "user",
				f->failures[i].user, "time", (json_int_t)f->failures[i].time,
				"reason", f->failures[i].reason));
	root = json_pack("{s:s, s:i, s:o, s:o, s:o, s:I}", "format", FORMAT_NAME, "version",
		FORMAT_VERSION, "db_id", hex_json(f->db_id, sizeof(f->db_id)), "slots", slots,
		"failures", fails, "dropped", (json_int_t)f->dropped);
	return root;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, error = 0;

	if (!copy)
		return err_set(ERR_NOMEM, "out of memory");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot sync directory of '%s'", path);
	if (fd >= 0)
		close(fd);
	free(copy);
	return error;
}

int keyslot_save(const struct keyslot_file *f, const char *path)
{
	struct buf tmp = BUF_INIT(4096);
	json_t *root = file_json(f);
	char *text = NULL;
	int fd = -1, error;

	if (!root || !(text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS))) {
		error = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	error = buf_printf(&tmp, "%s.tmp", path);
	if (error)
		goto out;
	fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1) || fsync(fd)) {
		error = err_set_errno(ERR_IO, errno, "cannot write '%s'", tmp.ptr);
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp.ptr, path) != 0) {
		error = err_set_errno(ERR_IO, errno, "cannot replace '%s'", path);
		goto out;
	}
	error = fsync_dir_of(path);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp.ptr);
	}
	free(text);
	json_decref(root);
	buf_release(&tmp);
	return error;
}
