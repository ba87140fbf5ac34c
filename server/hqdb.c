/* server/hqdb.c - the server's own tables: offices, tokens, devices, bundles. */
#include "hqdb.h"

#include <stdio.h>
#include <string.h>

/* ---- offices ---------------------------------------------------------------------------- */

int hqdb_office_state(int *exists, int *revoked, struct store *s, const char *code)
{
	int64_t r = 0;
	int error = store_query_int64(&r, s,
		"SELECT revoked_at IS NOT NULL FROM offices WHERE code = ?", "t", code);

	*exists = error == 0;
	*revoked = error == 0 && r;
	return error == ERR_NOTFOUND ? 0 : error;
}

int hqdb_office_add(struct store *s, const char *code, const char *name, const char *now)
{
	int error = store_run(s, "INSERT INTO offices(code, name, created_at) VALUES (?, ?, ?)",
		"ttt", code, name, now);

	if (error == ERR_EXISTS)
		error = err_set(ERR_EXISTS, "office '%s' already exists", code);
	return error;
}

/* Revoke one row by `sql` (?1 the time, ?2 the key); ERR_NOTFOUND "no active <what>". */
static int revoke(struct store *s, const char *sql, const char *what, const char *id,
	const char *now)
{
	int error = store_run(s, sql, "tt", now, id);

	if (!error && store_changes(s) == 0)
		error = err_set(ERR_NOTFOUND, "no active %s '%s'", what, id);
	return error;
}

int hqdb_office_revoke(struct store *s, const char *code, const char *now)
{
	return revoke(s,
		"UPDATE offices SET revoked_at = ?1 WHERE code = ?2 AND revoked_at IS NULL",
		"office", code, now);
}

/* A device's newest contact: the audit upload that opens every sync, a push or a pull. */
#define LAST_CONTACT                                                                               \
	"(SELECT max(a.time) FROM audit_log a WHERE a.target = d.device"                           \
	" AND a." STORE_AUDIT_CONTACT ")"

int hqdb_device_status_foreach(struct store *s, const char *office,
	int (*fn)(void *ctx, const struct hqdb_device_status *d), void *ctx)
{
	sqlite3_stmt *st = NULL;
	struct hqdb_device_status d;
	int error = store_prepare(&st, s,
		"SELECT d.device, d.office, d.enrolled_at, d.revoked_at, d.held, " LAST_CONTACT ","
		" (SELECT c.size FROM remote_checkpoints c WHERE c.device = d.device"
		"   AND c.epoch = d.epoch ORDER BY c.size DESC LIMIT 1),"
		" (SELECT c.time FROM remote_checkpoints c WHERE c.device = d.device"
		"   AND c.epoch = d.epoch ORDER BY c.size DESC LIMIT 1),"
		" d.cert,"
		" (SELECT count(*) FROM case_index i WHERE i.office = d.office AND i.conflicts > 0)"
		" FROM devices d WHERE ?1 IS NULL OR d.office = ?1 ORDER BY d.office, d.device");

	if (!error)
		sqlite3_bind_text(st, 1, office, -1, SQLITE_STATIC);
	while (!error && (error = store_next(s, st)) > 0) {
		d.device = (const char *)sqlite3_column_text(st, 0);
		d.office = (const char *)sqlite3_column_text(st, 1);
		d.enrolled_at = (const char *)sqlite3_column_text(st, 2);
		d.revoked_at = (const char *)sqlite3_column_text(st, 3);
		d.held = (const char *)sqlite3_column_text(st, 4);
		d.last_sync = (const char *)sqlite3_column_text(st, 5);
		d.receipt_size = sqlite3_column_int64(st, 6);
		d.receipt_time = (const char *)sqlite3_column_text(st, 7);
		d.cert = sqlite3_column_blob(st, 8);
		d.certlen = (size_t)sqlite3_column_bytes(st, 8);
		d.office_conflicts = sqlite3_column_int64(st, 9);
		error = fn(ctx, &d);
	}
	sqlite3_finalize(st);
	return error;
}

int hqdb_office_foreach(struct store *s, int (*fn)(void *ctx, const struct hqdb_office *o),
	void *ctx)
{
	sqlite3_stmt *st = NULL;
	struct hqdb_office o;
	int error = store_bind(&st, s,
		"SELECT o.code, o.name, o.revoked_at IS NOT NULL,"
		" (SELECT count(*) FROM devices d WHERE d.office = o.code AND d.revoked_at IS NULL),"
		" (SELECT count(*) FROM case_index i WHERE i.office = o.code),"
		" (SELECT count(*) FROM case_index i WHERE i.office = o.code AND i.conflicts > 0),"
		" (SELECT max(" LAST_CONTACT ") FROM devices d WHERE d.office = o.code)"
		" FROM offices o ORDER BY o.code",
		"");

	while (!error && (error = store_next(s, st)) > 0) {
		o.code = (const char *)sqlite3_column_text(st, 0);
		o.name = (const char *)sqlite3_column_text(st, 1);
		o.revoked = sqlite3_column_int(st, 2);
		o.devices = sqlite3_column_int(st, 3);
		o.cases = sqlite3_column_int64(st, 4);
		o.conflicts = sqlite3_column_int64(st, 5);
		o.last_sync = (const char *)sqlite3_column_text(st, 6);
		error = fn(ctx, &o);
	}
	sqlite3_finalize(st);
	return error;
}

/* ---- enrollment tokens ------------------------------------------------------------------ */

int hqdb_token_add(struct store *s, const uint8_t hash[32], const char *office, const char *now,
	int64_t expires_at, int64_t cert_seconds)
{
	return store_run(s,
		"INSERT INTO enroll_tokens(hash, office, created_at, expires_at, cert_seconds)"
		" VALUES (?, ?, ?, ?, ?)",
		"bttii", hash, (size_t)32, office, now, expires_at, cert_seconds);
}

int hqdb_token_get(struct hqdb_token *out, struct store *s, const uint8_t hash[32])
{
	sqlite3_stmt *st = NULL;
	int rc, error = store_bind(&st, s,
			"SELECT office, expires_at, used_at IS NOT NULL, cert_seconds FROM enroll_tokens"
			" WHERE hash = ?",
			"b", hash, (size_t)32);

	rc = error ? error : store_next(s, st);
	if (rc == 0)
		error = err_set(ERR_NOTFOUND, "unknown enrollment token");
	else if (rc < 0)
		error = rc;
	if (!error) {
		snprintf(out->office, sizeof(out->office), "%s",
			(const char *)sqlite3_column_text(st, 0));
		out->expires_at = sqlite3_column_int64(st, 1);
		out->used = sqlite3_column_int(st, 2);
		out->cert_seconds = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	return error;
}

int hqdb_token_burn(struct store *s, const uint8_t hash[32], const char *device, const char *now)
{
	return store_run(s, "UPDATE enroll_tokens SET used_at = ?, device = ? WHERE hash = ?",
		"ttb", now, device, hash, (size_t)32);
}

/* ---- devices ---------------------------------------------------------------------------- */

int hqdb_device_add(struct store *s, const char *device, const char *office,
	const uint8_t serial[16], const uint8_t *cert, size_t certlen, const char *now)
{
	int error = store_run(s,
		"INSERT INTO devices(device, office, serial, cert, enrolled_at) VALUES (?, ?, ?, ?, ?)",
		"ttbbt", device, office, serial, (size_t)16, cert, certlen, now);

	if (error == ERR_EXISTS)
		error = err_set(ERR_EXISTS, "device '%s' is already enrolled", device);
	return error;
}

int hqdb_device_renew(struct store *s, const char *device, const uint8_t serial[16],
	const uint8_t *cert, size_t certlen)
{
	int error = store_run(s,
		"UPDATE devices SET prev_serial = serial, serial = ?, cert = ? WHERE device = ?"
		" AND revoked_at IS NULL",
		"bbt", serial, (size_t)16, cert, certlen, device);

	if (!error && store_changes(s) != 1)
		error = err_set(ERR_AUTH, "device %s is not enrolled or is revoked", device);
	return error;
}

int hqdb_serial_revoked(int *revoked, struct store *s, const uint8_t serial[16])
{
	int64_t r = 1;
	int error = store_query_int64(&r, s,
		"SELECT d.revoked_at IS NOT NULL OR o.revoked_at IS NOT NULL"
		" FROM devices d JOIN offices o ON o.code = d.office"
		" WHERE d.serial = ?1 OR d.prev_serial = ?1",
		"b", serial, (size_t)16);

	if (error == ERR_NOTFOUND) /* a certificate the server has no record of */
		error = 0;
	if (!error)
		*revoked = r != 0;
	return error;
}

int hqdb_serial_in_use(struct store *s, const uint8_t serial[16])
{
	int64_t pending = 0;
	int error;

	/* a read first: the write happens once per renewal, not on every request */
	error = store_query_int64(&pending, s,
		"SELECT 1 FROM devices WHERE serial = ? AND prev_serial IS NOT NULL", "b", serial,
		(size_t)16);
	if (error == ERR_NOTFOUND)
		return 0;
	if (!error)
		error = store_run(s,
			"UPDATE devices SET prev_serial = NULL WHERE serial = ? AND prev_serial IS NOT NULL",
			"b", serial, (size_t)16);
	return error;
}

int hqdb_device_revoke(struct store *s, const char *device, const char *now)
{
	return revoke(s,
		"UPDATE devices SET revoked_at = ?1 WHERE device = ?2 AND revoked_at IS NULL",
		"device", device, now);
}

int hqdb_device_hold(struct store *s, const char *device, const char *reason)
{
	return store_run(s, "UPDATE devices SET held = ? WHERE device = ?", "tt", reason, device);
}

int hqdb_device_release(struct store *s, const char *device)
{
	int error = store_run(s,
		"UPDATE devices SET held = NULL, epoch = epoch + 1 WHERE device = ? AND held IS NOT NULL",
		"t", device);

	if (!error && store_changes(s) == 0)
		error = err_set(ERR_NOTFOUND, "no held device '%s'", device);
	return error;
}

int hqdb_device_held(struct buf *out, struct store *s, const char *device)
{
	int error = store_query_bytes(out, s, "SELECT held FROM devices WHERE device = ?", "t",
		device);

	return error == ERR_NOTFOUND ? 0 : error;
}

int hqdb_device_get(char office[SCHEMA_OFFICE_MAX + 1], struct buf *cert, int64_t *epoch,
	struct store *s, const char *device)
{
	sqlite3_stmt *st = NULL;
	int rc, error = store_bind(&st, s,
			"SELECT office, cert, epoch FROM devices WHERE device = ?", "t", device);

	rc = error ? error : store_next(s, st);
	if (rc == 0)
		error = err_set(ERR_NOTFOUND, "no device '%s'", device);
	else if (rc < 0)
		error = rc;
	if (!error && cert)
		error = buf_put(cert, sqlite3_column_blob(st, 1),
			(size_t)sqlite3_column_bytes(st, 1));
	if (!error && office)
		snprintf(office, SCHEMA_OFFICE_MAX + 1, "%s",
			(const char *)sqlite3_column_text(st, 0));
	if (!error && epoch)
		*epoch = sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	return error;
}

static int device_rows(struct store *s, const char *sql,
	int (*fn)(void *ctx, const struct hqdb_device *d), void *ctx)
{
	sqlite3_stmt *st = NULL;
	struct hqdb_device d;
	int error = store_bind(&st, s, sql, "");

	while (!error && (error = store_next(s, st)) > 0) {
		d.device = (const char *)sqlite3_column_text(st, 0);
		d.office = (const char *)sqlite3_column_text(st, 1);
		d.cert = sqlite3_column_blob(st, 2);
		d.certlen = (size_t)sqlite3_column_bytes(st, 2);
		d.epoch = sqlite3_column_int64(st, 3);
		error = fn(ctx, &d);
	}
	sqlite3_finalize(st);
	return error;
}

int hqdb_device_foreach(struct store *s, int (*fn)(void *ctx, const struct hqdb_device *d),
	void *ctx)
{
	return device_rows(s,
		"SELECT device, office, cert, epoch FROM devices ORDER BY office, device", fn, ctx);
}

int hqdb_device_active_foreach(struct store *s, int (*fn)(void *ctx, const struct hqdb_device *d),
	void *ctx)
{
	return device_rows(s,
		"SELECT device, office, cert, epoch FROM devices WHERE revoked_at IS NULL AND office"
		" NOT IN (SELECT code FROM offices WHERE revoked_at IS NOT NULL)"
		" ORDER BY office, device",
		fn, ctx);
}

int hqdb_token_void_unused(int64_t *n, struct store *s)
{
	int error = store_run(s, "DELETE FROM enroll_tokens WHERE used_at IS NULL", "");

	*n = error ? 0 : store_changes(s);
	return error;
}

/* ---- case access ------------------------------------------------------------------------ */

int hqdb_case_share(struct store *s, const char *case_id, const char *office, const char *now)
{
	int error = store_run(s,
		"INSERT OR IGNORE INTO case_shares(case_id, office, shared_at) VALUES (?, ?, ?)",
		"ttt", case_id, office, now);

	/* seen again: the office is sent the case as any other */
	if (!error)
		error = store_run(s,
			"DELETE FROM case_revocations WHERE case_id = ? AND office = ?", "tt",
			case_id, office);

	if (!error)
		error = store_run(s,
			"UPDATE case_heads SET seq = (SELECT max(seq) + 1 FROM case_heads)"
			" WHERE case_id = ?",
			"t", case_id);
	return error;
}

int hqdb_case_revoke(struct store *s, const char *case_id, const char *office, const char *now)
{
	int error = store_run(s, "DELETE FROM case_shares WHERE case_id = ? AND office = ?", "tt",
		case_id, office);

	if (!error)
		error = store_run(s,
			"UPDATE case_heads SET seq = (SELECT max(seq) + 1 FROM case_heads)"
			" WHERE case_id = ?",
			"t", case_id);
	if (!error)
		error = store_run(s,
			"INSERT OR REPLACE INTO case_revocations(case_id, office, head, seq, revoked_at)"
			" SELECT case_id, ?2, head, seq, ?3 FROM case_heads WHERE case_id = ?1",
			"ttt", case_id, office, now);
	return error;
}

int hqdb_case_revoked_head(git_oid *out, int *found, struct store *s, const char *case_id,
	const char *office)
{
	struct buf head = BUF_INIT(GIT_OID_RAWSZ);
	int error = store_query_bytes(&head, s,
		"SELECT head FROM case_revocations WHERE case_id = ? AND office = ?", "tt", case_id,
		office);

	*found = 0;
	if (error == ERR_NOTFOUND) {
		error = 0;
	} else if (!error && head.len != GIT_OID_RAWSZ) {
		error = err_set(ERR_CORRUPT, "the revocation of case '%s' is malformed", case_id);
	} else if (!error) {
		git_oid_fromraw(out, (const unsigned char *)head.ptr);
		*found = 1;
	}
	buf_release(&head);
	return error;
}

int hqdb_case_shares(struct store *s, const char *case_id, int (*fn)(void *ctx, const char *office),
	void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, error = store_bind(&st, s,
			    "SELECT office FROM case_shares WHERE case_id = ? ORDER BY office", "t",
			    case_id);

	while (!error && (rc = store_next(s, st)) > 0)
		error = fn(ctx, (const char *)sqlite3_column_text(st, 0));
	if (!error && rc < 0)
		error = rc;
	sqlite3_finalize(st);
	return error;
}

/* ---- bundles ---------------------------------------------------------------------------- */

int hqdb_bundle_result(int *found, struct buf *out, struct store *s,
	const uint8_t id[CHANGESET_BUNDLE_LEN])
{
	int error = store_query_bytes(out, s, "SELECT result FROM bundles WHERE id = ?", "b", id,
		(size_t)CHANGESET_BUNDLE_LEN);

	*found = error == 0;
	return error == ERR_NOTFOUND ? 0 : error;
}

int hqdb_bundle_add(struct store *s, const uint8_t id[CHANGESET_BUNDLE_LEN], const char *device,
	const char *now, const uint8_t *header, size_t headerlen, const uint8_t *sig, size_t siglen,
	const char *result)
{
	return store_run(s,
		"INSERT INTO bundles(id, device, received_at, header, signature, result)"
		" VALUES (?, ?, ?, ?, ?, ?)",
		"bttbbt", id, (size_t)CHANGESET_BUNDLE_LEN, device, now, header, headerlen, sig,
		siglen, result);
}

int hqdb_device_resolve(char out[PKI_DEVICE_LEN + 1], struct store *s, const char *prefix)
{
	size_t len = strlen(prefix);

	if (len < 4 || len > PKI_DEVICE_LEN || strspn(prefix, "0123456789abcdef") != len)
		return err_set(ERR_INVALID,
			"'%s' is not a device id nor its start (4 to %d lowercase hex digits)",
			prefix, PKI_DEVICE_LEN);
	if (len == PKI_DEVICE_LEN) { /* a whole id as it is: the command says if it is known */
		memcpy(out, prefix, len + 1);
		return 0;
	}
	return store_resolve_prefix(out, PKI_DEVICE_LEN + 1, s,
		"SELECT device FROM devices WHERE substr(device, 1, ?2) = ?1 ORDER BY 1 LIMIT 11",
		"device", prefix);
}

int hqdb_office_active(struct store *s, const char *office)
{
	int exists = 0, revoked = 0, error;

	if (schema_check_office(office))
		return err_set(ERR_INVALID, "'%s' is not an office code", office);
	error = hqdb_office_state(&exists, &revoked, s, office);
	if (!error && !exists)
		error = err_set(ERR_NOTFOUND, "no office '%s'", office);
	else if (!error && revoked)
		error = err_set(ERR_PERM, "office '%s' is revoked", office);
	return error;
}
