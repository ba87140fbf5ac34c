/* shared/store/store.c - the encrypted SQLCipher database of a node. */
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "base/crypto.h"

/* Prepared statements kept for their next use, one per slot (store_cached). */
#define STMT_CACHE 64

struct stmt_slot {
	sqlite3_stmt *st;
	const char *sql; /* the address it was asked for by */
	int busy;	 /* handed out and not yet released */
};

struct store {
	sqlite3 *db;
	char *path;
	int flags;
	struct store *evidence; /* the evidence database, opened at first use */
	int evidence_txn;	/* it has a write transaction that commits just before ours */
	int evidence_next;	/* it opened with the key a rekey cut short left as ".next" */
	struct stmt_slot cache[STMT_CACHE];
	uint64_t txn; /* counts the transactions begun and ended (store_txn_id) */
};

static int evidence_split(struct store *s);

/*
 * Schema migrations: migrations[i] takes the schema from version i to i + 1.  Never edit a
 * released step; append a new one.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the foundation */
	"CREATE TABLE node_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"

	"CREATE TABLE users ("
	"  name TEXT PRIMARY KEY, role TEXT NOT NULL, created_at TEXT NOT NULL,"
	"  created_by TEXT NOT NULL, removed_at TEXT);"

	/* git objects (odb.c) */
	/* rowid order keeps each edit's objects on the same tail pages; only the small oid
	 * index takes random inserts (measured: fewer pages written per edit than a
	 * WITHOUT ROWID table keyed by oid) */
	"CREATE TABLE objects (id INTEGER PRIMARY KEY, oid BLOB NOT NULL UNIQUE,"
	"  type INTEGER NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);"

	/* one head per case (casedb.c) */
	"CREATE TABLE case_heads (case_id TEXT PRIMARY KEY, head BLOB NOT NULL,"
	"  updated_at TEXT NOT NULL);"

	/* derived tables (index.c), rebuildable from case_heads */
	"CREATE TABLE case_index (case_id TEXT PRIMARY KEY, office TEXT NOT NULL,"
	"  title TEXT NOT NULL, category TEXT NOT NULL, status TEXT NOT NULL,"
	"  priority INTEGER, assignee TEXT, disposition TEXT, received_at TEXT,"
	"  updated_at TEXT NOT NULL, notes INTEGER NOT NULL, conflicts INTEGER NOT NULL,"
	"  head BLOB NOT NULL, fts_digest BLOB NOT NULL);"
	"CREATE INDEX case_index_status ON case_index(status, case_id);"
	"CREATE VIRTUAL TABLE case_fts USING fts4(case_id, title, body, tokenize=unicode61);"

	/* the append-only audit log (audit.c) */
	"CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, time TEXT NOT NULL,"
	"  user TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,"
	"  outcome TEXT NOT NULL, entry BLOB NOT NULL, leaf BLOB NOT NULL);"
	"CREATE INDEX audit_log_target ON audit_log(target, seq);"
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"

	/* log-on failures already moved from the sidecar into the audit log */
	"CREATE TABLE imported_failures (id TEXT PRIMARY KEY);",

	/* 1 -> 2: PKI and enrollment */
	/* keys and certificates (DER); private keys live only here, inside the encrypted store */
	"CREATE TABLE pki_material (name TEXT PRIMARY KEY, der BLOB NOT NULL);"
	/* server: offices, one-time enrollment tokens (hashes only), enrolled devices */
	"CREATE TABLE offices (code TEXT PRIMARY KEY, name TEXT NOT NULL,"
	"  created_at TEXT NOT NULL, revoked_at TEXT);"
	"CREATE TABLE enroll_tokens (hash BLOB PRIMARY KEY, office TEXT NOT NULL,"
	"  created_at TEXT NOT NULL, expires_at INTEGER NOT NULL, cert_seconds INTEGER NOT NULL,"
	"  used_at TEXT, device TEXT);"
	"CREATE TABLE devices (device TEXT PRIMARY KEY, office TEXT NOT NULL,"
	"  serial BLOB NOT NULL UNIQUE, cert BLOB NOT NULL, enrolled_at TEXT NOT NULL,"
	"  revoked_at TEXT);",

	/* 2 -> 3: sync */
	/* agent: the server head last seen (NULL: never synced); head differs = unpushed work */
	"ALTER TABLE case_heads ADD COLUMN base BLOB;"
	/* server: the change sequence a pull cursor counts in (agent: unused) */
	"ALTER TABLE case_heads ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX case_heads_seq ON case_heads(seq);"
	/* kept small so that a no-op sync costs the same with 100 or 100,000 cases */
	"CREATE INDEX case_heads_unpushed ON case_heads(case_id) WHERE base IS NOT head;"
	/* server: offices a case is shared with besides its owner */
	"CREATE TABLE case_shares (case_id TEXT NOT NULL, office TEXT NOT NULL,"
	"  shared_at TEXT NOT NULL, PRIMARY KEY (case_id, office));"
	"CREATE INDEX case_shares_office ON case_shares(office, case_id);"
	/* server: every change set received, its signed header kept as proof of origin and its
	 * result for idempotent retries */
	"CREATE TABLE bundles (id BLOB PRIMARY KEY, device TEXT NOT NULL,"
	"  received_at TEXT NOT NULL, header BLOB NOT NULL, signature BLOB NOT NULL,"
	"  result TEXT NOT NULL);",

	/* 3 -> 4: the tamper-evident audit trail */
	/* every node: the signed checkpoints of its own log and HQ's receipts for them */
	"CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL,"
	"  time TEXT NOT NULL, signature BLOB NOT NULL);"
	/* (frontier: the tree's perfect subtrees at that size, so the next upload reads only the
	 * entries added since) */
	"CREATE TABLE audit_receipts (size INTEGER PRIMARY KEY, root BLOB NOT NULL,"
	"  time TEXT NOT NULL, signature BLOB NOT NULL, server_cert BLOB NOT NULL, frontier BLOB);"
	/* server: every device's uploaded entries, append-only like the node's own log */
	/* (a released device starts a new epoch: its earlier trail stays as it was) */
	"CREATE TABLE remote_audit (device TEXT NOT NULL, epoch INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL, office TEXT NOT NULL, time TEXT NOT NULL, user TEXT NOT NULL,"
	"  action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, entry BLOB NOT NULL,"
	"  leaf BLOB NOT NULL, PRIMARY KEY (device, epoch, seq)) WITHOUT ROWID;"
	"CREATE INDEX remote_audit_target ON remote_audit(target, time);"
	"CREATE INDEX remote_audit_user ON remote_audit(user, time);"
	"CREATE INDEX remote_audit_action ON remote_audit(action, time);"
	"CREATE INDEX remote_audit_office ON remote_audit(office, time);"
	"CREATE INDEX remote_audit_time ON remote_audit(time);"
	"CREATE TRIGGER remote_audit_no_update BEFORE UPDATE ON remote_audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER remote_audit_no_delete BEFORE DELETE ON remote_audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	/* server: each device checkpoint it verified and countersigned */
	"CREATE TABLE remote_checkpoints (device TEXT NOT NULL, epoch INTEGER NOT NULL,"
	"  size INTEGER NOT NULL, root BLOB NOT NULL, time TEXT NOT NULL, signature BLOB NOT NULL,"
	"  countersignature BLOB NOT NULL, frontier BLOB, PRIMARY KEY (device, epoch, size))"
	"  WITHOUT ROWID;"
	/* server: a device whose trail failed verification is held until an admin looks; its
	 * release starts a new epoch of its trail */
	"ALTER TABLE devices ADD COLUMN held TEXT;"
	"ALTER TABLE devices ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;"
	/* server: after a renewal the previous certificate stays valid until the new one is used */
	"ALTER TABLE devices ADD COLUMN prev_serial BLOB;",

	/* 4 -> 5: forward-secure seals of device logs (docs/AUDIT.md) */
	/* device: every seal it made, append-only, with the tree's frontier at its size */
	"CREATE TABLE audit_seals (idx INTEGER PRIMARY KEY, size INTEGER NOT NULL UNIQUE,"
	"  root BLOB NOT NULL, time TEXT NOT NULL, next_key BLOB NOT NULL, signature BLOB NOT NULL,"
	"  cert BLOB, frontier BLOB NOT NULL);"
	"CREATE TRIGGER audit_seals_no_update BEFORE UPDATE ON audit_seals"
	"  BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END;"
	"CREATE TRIGGER audit_seals_no_delete BEFORE DELETE ON audit_seals"
	"  BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END;"
	/* device: the one private key that signs the next seal (replaced by every seal) */
	"CREATE TABLE audit_sealing_key (id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  idx INTEGER NOT NULL, key BLOB NOT NULL);"
	/* server: every device seal it verified, per trail epoch */
	"CREATE TABLE remote_seals (device TEXT NOT NULL, epoch INTEGER NOT NULL,"
	"  idx INTEGER NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL, time TEXT NOT NULL,"
	"  next_key BLOB NOT NULL, signature BLOB NOT NULL, cert BLOB,"
	"  PRIMARY KEY (device, epoch, idx)) WITHOUT ROWID;"
	"CREATE TRIGGER remote_seals_no_update BEFORE UPDATE ON remote_seals"
	"  BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END;"
	"CREATE TRIGGER remote_seals_no_delete BEFORE DELETE ON remote_seals"
	"  BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END;",

	/* 5 -> 6: evidence attachments (chunks.c) */
	/* content-addressed 1 MiB chunks, shared by every item and case that holds the same
	 * bytes; state: 0 stored (not yet part of a committed item), 1 part of an item this
	 * node must still upload, 2 held by HQ (or received from it) */
	"CREATE TABLE evidence_chunks (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
	"  size INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL);"
	"CREATE INDEX evidence_chunks_pending ON evidence_chunks(hash) WHERE state = 1;"
	/* server: the chunks each office has uploaded; a device is told it lacks only the
	 * chunks its office never sent, so the answer reveals nothing of other offices' files,
	 * and a chunk that arrives twice from one office is counted as re-sent */
	"CREATE TABLE evidence_receipts (office TEXT NOT NULL, hash BLOB NOT NULL,"
	"  device TEXT NOT NULL, received_at TEXT NOT NULL, PRIMARY KEY (office, hash))"
	"  WITHOUT ROWID;",

	/* 6 -> 7: a chunk's sync state in a row of its own.  SQLite rewrites a whole row on any
	 * UPDATE, so raising the state inside evidence_chunks rewrote (and re-encrypted) the
	 * 1 MiB of bytes beside it: every byte of an item was written twice on intake and again
	 * when HQ acknowledged it.  evidence_chunks.state is no longer read or written (this
	 * SQLite cannot drop a column, and rewriting every blob to drop it would cost a copy of
	 * all evidence); copying it out reads only each row's first page. */
	"CREATE TABLE evidence_chunk_state (hash BLOB PRIMARY KEY, state INTEGER NOT NULL)"
	"  WITHOUT ROWID;"
	"INSERT INTO evidence_chunk_state(hash, state) SELECT hash, state FROM evidence_chunks;"
	"DROP INDEX evidence_chunks_pending;"
	"CREATE INDEX evidence_chunk_state_by_state ON evidence_chunk_state(state, hash);",

	/* 7 -> 8: the fields HQ's consolidated views and reports filter on.  The values live in
	 * the case trees, which SQL cannot read: 'reindex' asks the next open of the node to
	 * rebuild the derived tables (node.c), in one transaction */
	"ALTER TABLE case_index ADD COLUMN subject_id TEXT;"
	"ALTER TABLE case_index ADD COLUMN due_at TEXT;"
	"ALTER TABLE case_index ADD COLUMN closed_at TEXT;"
	"CREATE INDEX case_index_office ON case_index(office, status);"
	"INSERT OR REPLACE INTO node_meta(key, value) VALUES ('reindex', '8');"
	/* server: an office that could see a case and no longer may (transfer, unshare): its
	 * devices learn it from the changes feed (seq), push what they wrote before they knew
	 * (accepted while based on `head` or earlier), then purge the case */
	"CREATE TABLE case_revocations (case_id TEXT NOT NULL, office TEXT NOT NULL,"
	"  head BLOB NOT NULL, seq INTEGER NOT NULL, revoked_at TEXT NOT NULL,"
	"  PRIMARY KEY (case_id, office)) WITHOUT ROWID;"
	"CREATE INDEX case_revocations_office ON case_revocations(office, seq);",

	/* 8 -> 9: the index on the audit log's target only for the entries looked up by target,
	 * a device's contacts with HQ (STORE_AUDIT_CONTACT; hqdb.c, metrics.c).  Every other
	 * target (a case, a user) was read only by scans (`audit log --case` also matches the
	 * searches that showed the case), yet each entry inserted at a random place in the index:
	 * a batch of 1,000 events dirtied (and encrypted into the WAL) about 1,000 index pages,
	 * and the append rate fell to a third as the log grew to 1,000,000 entries */
	"DROP INDEX audit_log_target;"
	"CREATE INDEX audit_log_contact ON audit_log(target, seq) WHERE " STORE_AUDIT_CONTACT ";",

	/* 9 -> 10: chunk bytes move to the evidence database (store_evidence; evidence_split()
	 * has copied them there before this step runs); their state stays here */
	"DROP TABLE evidence_chunks;",

	/* 10 -> 11: the full-text index as FTS3, without FTS4's per-document sizes and totals.
	 * Only ranking reads them and search orders by case id (snippet() needs the content and
	 * the positions alone), yet every change of a case's text rewrote a page of each of
	 * case_fts_docsize and case_fts_stat: two pages in 26 of a single-field edit.  The query
	 * syntax is the same.  The index is rebuilt from the case trees at the next open
	 * ('reindex', node.c) */
	"DROP TABLE case_fts;"
	"CREATE VIRTUAL TABLE case_fts USING fts3(case_id, title, body, tokenize=unicode61);"
	"INSERT OR REPLACE INTO node_meta(key, value) VALUES ('reindex', '11');",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

_Static_assert(N_MIGRATIONS == STORE_SCHEMA_VERSION, "one migration per schema version");

sqlite3 *store_db(struct store *s)
{
	return s->db;
}

const char *store_path(const struct store *s)
{
	return s->path;
}

int store_error(struct store *s, const char *what)
{
	int ext = sqlite3_extended_errcode(s->db), rc = ext & 0xff;
	int code = ERR_GENERIC;

	if (ext == SQLITE_CONSTRAINT_TRIGGER) /* the append-only triggers of the audit log */
		code = ERR_READONLY;
	else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
		code = ERR_CORRUPT;
	else if (rc == SQLITE_IOERR || rc == SQLITE_FULL || rc == SQLITE_CANTOPEN)
		code = ERR_IO;
	else if (rc == SQLITE_NOMEM)
		code = ERR_NOMEM;
	else if (rc == SQLITE_CONSTRAINT)
		code = ERR_EXISTS;
	return err_set(code, "%s: %s", what, sqlite3_errmsg(s->db));
}

int store_exec(struct store *s, const char *sql)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_error(s, "database statement failed");
	return 0;
}

int store_prepare(sqlite3_stmt **out, struct store *s, const char *sql)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
		return store_error(s, "cannot prepare statement");
	return 0;
}

int store_cached(sqlite3_stmt **out, struct store *s, const char *sql)
{
	struct stmt_slot *c = &s->cache[((uintptr_t)sql >> 3) % STMT_CACHE];
	int error;

	if (c->st && !c->busy && c->sql == sql && !strcmp(sqlite3_sql(c->st), sql)) {
		c->busy = 1;
		*out = c->st;
		return 0;
	}
	error = store_prepare(out, s, sql);
	/* a slot in use keeps its statement: this one is finalized at its release */
	if (!error && !c->busy) {
		sqlite3_finalize(c->st);
		c->st = *out;
		c->sql = sql;
		c->busy = 1;
	}
	return error;
}

void store_release(struct store *s, sqlite3_stmt *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < STMT_CACHE; i++)
		if (s->cache[i].st == st) {
			/* no read stays open, and no parameter points at the caller's memory */
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->cache[i].busy = 0;
			return;
		}
	sqlite3_finalize(st);
}

static void cache_clear(struct store *s)
{
	size_t i;

	for (i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(s->cache[i].st);
		memset(&s->cache[i], 0, sizeof(s->cache[i]));
	}
}

int store_step_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store_error(s, "database write failed");
	return 0;
}

/* The error of a failed statement, naming it by its first words. */
static int stmt_error(struct store *s, const char *sql)
{
	char what[96];

	snprintf(what, sizeof(what), "statement '%.64s%s' failed", sql,
		strlen(sql) > 64 ? "..." : "");
	return store_error(s, what);
}

static int bind_args(struct store *s, sqlite3_stmt *st, const char *sql, const char *types,
	va_list ap)
{
	size_t ntypes = strlen(types), len;
	const void *blob;
	int i, rc = SQLITE_OK;

	if ((size_t)sqlite3_bind_parameter_count(st) != ntypes)
		return err_set(ERR_INVALID, "statement '%.64s' takes %d parameters, not %zu", sql,
			sqlite3_bind_parameter_count(st), ntypes);
	for (i = 0; rc == SQLITE_OK && types[i]; i++) {
		switch (types[i]) {
		case 't':
			rc = sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1,
				SQLITE_STATIC);
			break;
		case 'i':
			rc = sqlite3_bind_int64(st, i + 1, (sqlite3_int64)va_arg(ap, int64_t));
			break;
		case 'b':
			blob = va_arg(ap, const void *);
			len = va_arg(ap, size_t);
			if (len > INT_MAX)
				return err_set(ERR_TOOBIG, "a parameter of '%.64s' is too large",
					sql);
			rc = sqlite3_bind_blob(st, i + 1, blob, (int)len, SQLITE_STATIC);
			break;
		default:
			return err_set(ERR_INVALID,
				"statement '%.64s': unknown parameter type '%c'", sql, types[i]);
		}
	}
	return rc == SQLITE_OK ? 0 : stmt_error(s, sql);
}

int store_vbind(sqlite3_stmt **out, struct store *s, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st = NULL;
	int error = 0;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		error = stmt_error(s, sql);
	if (!error)
		error = bind_args(s, st, sql, types, ap);
	if (error)
		sqlite3_finalize(st);
	else
		*out = st;
	return error;
}

/* store_vbind() from the cache: the statement goes back with store_release(). */
static int cached_vbind(sqlite3_stmt **out, struct store *s, const char *sql, const char *types,
	va_list ap)
{
	sqlite3_stmt *st = NULL;
	int error = store_cached(&st, s, sql);

	if (error)
		return stmt_error(s, sql);
	error = bind_args(s, st, sql, types, ap);
	if (error)
		store_release(s, st);
	else
		*out = st;
	return error;
}

int store_bind(sqlite3_stmt **out, struct store *s, const char *sql, const char *types, ...)
{
	va_list ap;
	int error;

	va_start(ap, types);
	error = store_vbind(out, s, sql, types, ap);
	va_end(ap);
	return error;
}

int store_next(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return stmt_error(s, sqlite3_sql(st));
}

int store_run(struct store *s, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int error;

	va_start(ap, types);
	error = cached_vbind(&st, s, sql, types, ap);
	va_end(ap);
	if (!error)
		do
			error = store_next(s, st);
		while (error > 0);
	store_release(s, st);
	return error;
}

/*
 * A one-row query: the first column of the first row into *num or appended to `bytes`
 * (whichever is not NULL).  ERR_NOTFOUND if there is no row.
 */
static int query_va(int64_t *num, struct buf *bytes, struct store *s, const char *sql,
	const char *types, va_list ap)
{
	sqlite3_stmt *st = NULL;
	int error = cached_vbind(&st, s, sql, types, ap);

	if (!error)
		error = store_next(s, st);
	if (error == 0)
		error = err_set(ERR_NOTFOUND, "no row from '%.64s'", sql);
	else if (error > 0)
		error = 0;
	if (!error && num)
		*num = (int64_t)sqlite3_column_int64(st, 0);
	if (!error && bytes && sqlite3_column_type(st, 0) != SQLITE_NULL)
		error = buf_put(bytes, sqlite3_column_blob(st, 0),
			(size_t)sqlite3_column_bytes(st, 0));
	store_release(s, st);
	return error;
}

int store_query_int64(int64_t *out, struct store *s, const char *sql, const char *types, ...)
{
	va_list ap;
	int error;

	va_start(ap, types);
	error = query_va(out, NULL, s, sql, types, ap);
	va_end(ap);
	return error;
}

int store_query_bytes(struct buf *out, struct store *s, const char *sql, const char *types, ...)
{
	va_list ap;
	int error;

	va_start(ap, types);
	error = query_va(NULL, out, s, sql, types, ap);
	va_end(ap);
	return error;
}

int store_resolve_prefix(char *out, size_t size, struct store *s, const char *sql, const char *what,
	const char *prefix)
{
	struct buf list = BUF_INIT(1024), first = BUF_INIT(256);
	sqlite3_stmt *st = NULL;
	int64_t len = (int64_t)strlen(prefix);
	int n = 0, exact = 0, error = store_bind(&st, s, sql, "ti", prefix, len);

	while (!error && (error = store_next(s, st)) > 0) {
		const char *key = (const char *)sqlite3_column_text(st, 0);

		error = 0;
		if (!key)
			continue;
		if (!strcmp(key, prefix) || n == 0) {
			exact = exact || !strcmp(key, prefix);
			first.len = 0;
			error = buf_puts(&first, key);
		}
		if (!error && n < 10)
			error = buf_printf(&list, "%s%s", n ? ", " : "", key);
		n++;
	}
	sqlite3_finalize(st);
	if (!error && n == 0)
		error = err_set(ERR_NOTFOUND, "no %s '%s' (nor one whose id starts with it)", what,
			prefix);
	else if (!error && n > 1 && !exact)
		error = err_set(ERR_CONFLICT, "%s id prefix '%s' is ambiguous: %s%s", what, prefix,
			buf_cstr(&list), n > 10 ? ", ..." : "");
	else if (!error && first.len >= size)
		error = err_set(ERR_TOOBIG, "%s id '%s' is too long", what, buf_cstr(&first));
	if (!error)
		memcpy(out, first.ptr, first.len + 1);
	buf_release(&list);
	buf_release(&first);
	return error;
}

int64_t store_changes(struct store *s)
{
	return (int64_t)sqlite3_changes(s->db);
}

/* A statement without parameters or rows, from the cache. */
static int run_cached(struct store *s, const char *sql, const char *what)
{
	sqlite3_stmt *st = NULL;
	int error = store_cached(&st, s, sql);

	if (!error && sqlite3_step(st) != SQLITE_DONE)
		error = store_error(s, what);
	store_release(s, st);
	return error;
}

int store_begin(struct store *s)
{
	s->txn++;
	return run_cached(s, "BEGIN IMMEDIATE", "cannot begin a transaction");
}

int store_begin_read(struct store *s)
{
	s->txn++;
	return run_cached(s, "BEGIN DEFERRED", "cannot begin a transaction");
}

uint64_t store_txn_id(struct store *s)
{
	return sqlite3_get_autocommit(s->db) ? 0 : s->txn;
}

int store_commit(struct store *s)
{
	/* the evidence database first: a chunk is listed here only once its bytes are durable */
	if (s->evidence_txn) {
		s->evidence_txn = 0;
		if (run_cached(s->evidence, "COMMIT", "cannot commit")) {
			int error = err_code();

			store_rollback(s->evidence);
			return error;
		}
	}
	s->txn++;
	return run_cached(s, "COMMIT", "cannot commit");
}

void store_rollback(struct store *s)
{
	if (s->evidence_txn) {
		s->evidence_txn = 0;
		store_rollback(s->evidence);
	}
	s->txn++;
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_txn(struct store *s, int (*fn)(void *ctx), void *ctx)
{
	int error = store_begin(s);

	if (error)
		return error;
	error = fn(ctx);
	if (!error)
		error = store_commit(s);
	if (error)
		store_rollback(s);
	return error;
}

int store_meta_get(struct buf *out, struct store *s, const char *key)
{
	int error = store_query_bytes(out, s, "SELECT value FROM node_meta WHERE key = ?", "t",
		key);

	if (error == ERR_NOTFOUND)
		error = err_set(ERR_NOTFOUND, "no setting '%s'", key);
	return error;
}

/* An UPDATE when the key exists: it leaves the key's index alone, where a REPLACE deletes
 * and reinserts both the row and its index entry (two pages written and encrypted, not one:
 * the clock is set so at every edit). */
int store_meta_set(struct store *s, const char *key, const char *value)
{
	int error = store_run(s, "UPDATE OR FAIL node_meta SET value = ?2 WHERE key = ?1", "tt",
		key, value);

	if (error || store_changes(s) > 0)
		return error;
	return store_run(s, "INSERT INTO node_meta(key, value) VALUES (?, ?)", "tt", key, value);
}

int store_material_get(struct buf *out, struct store *s, const char *name)
{
	int error = store_query_bytes(out, s, "SELECT der FROM pki_material WHERE name = ?", "t",
		name);

	if (error == ERR_NOTFOUND)
		error = err_set(ERR_NOTFOUND, "no '%s' in the store", name);
	return error;
}

int store_material_put(struct store *s, const char *name, const void *der, size_t len)
{
	return store_run(s, "INSERT OR REPLACE INTO pki_material(name, der) VALUES (?, ?)", "tb",
		name, der, len);
}

int store_material_del(struct store *s, const char *name)
{
	return store_run(s, "DELETE FROM pki_material WHERE name = ?", "t", name);
}

static int integrity_one(struct store *s, const char *what)
{
	sqlite3_stmt *st = NULL;
	int error, rc;

	error = store_prepare(&st, s, "PRAGMA integrity_check");
	if (error)
		return error;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		error = store_error(s, "integrity check failed");
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		error = err_set(ERR_CORRUPT, "%s integrity check: %s", what,
			(const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return error;
}

int store_integrity_check(struct store *s)
{
	struct store *e = NULL;
	int error = integrity_one(s, "database");

	if (!error)
		error = store_evidence(&e, s);
	if (!error)
		error = integrity_one(e, "evidence database");
	return error;
}

static int get_user_version(int *out, struct store *s)
{
	sqlite3_stmt *st = NULL;
	int error, rc;

	error = store_prepare(&st, s, "PRAGMA user_version");
	if (error)
		return error;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	else if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_NOTADB)
		error = err_set(ERR_AUTH, "the key does not open '%s'", s->path);
	else
		error = store_error(s, "cannot read the database");
	sqlite3_finalize(st);
	return error;
}

static int migrate(struct store *s)
{
	char sql[64];
	int version = 0, from, error;

	error = store_begin(s);
	if (error)
		return error;
	error = get_user_version(&version, s);
	if (error)
		goto out;
	if (version > (int)N_MIGRATIONS) {
		error = err_set(ERR_CORRUPT, "'%s' has schema version %d, newer than this build (%d)",
			s->path, version, (int)N_MIGRATIONS);
		goto out;
	}
	for (from = version; version < (int)N_MIGRATIONS; version++) {
		if (version == 9)
			error = evidence_split(s);
		if (!error)
			error = store_exec(s, migrations[version]);
		if (error)
			goto out;
	}
	/* Only after a migration: writing it on every open would rewrite page 1 each time. */
	if (version != from) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
		error = store_exec(s, sql);
	}
	if (!error)
		error = store_commit(s);
out:
	if (error)
		store_rollback(s);
	return error;
}

_Static_assert(STORE_KEY_LITERAL_LEN == 2 * CRYPTO_KEY_LEN + 4, "a key literal holds one key");

void store_key_literal(char lit[STORE_KEY_LITERAL_LEN], const uint8_t key[32])
{
	lit[0] = 'x';
	lit[1] = '\'';
	crypto_hex(lit + 2, key, CRYPTO_KEY_LEN);
	lit[2 + 2 * CRYPTO_KEY_LEN] = '\'';
	lit[3 + 2 * CRYPTO_KEY_LEN] = '\0';
}

static int apply_key(struct store *s, const uint8_t *key, int page_size)
{
	char lit[STORE_KEY_LITERAL_LEN], sql[64];
	int rc;

	store_key_literal(lit, key);
	rc = sqlite3_key(s->db, lit, (int)strlen(lit));
	crypto_wipe(lit, sizeof(lit));
	if (rc != SQLITE_OK)
		return store_error(s, "cannot set the database key");
	/* Must match on every open: it is part of how pages are laid out. */
	snprintf(sql, sizeof(sql), "PRAGMA cipher_page_size = %d", page_size);
	return store_exec(s, sql);
}

static const char settings[] = "PRAGMA journal_mode = WAL;"
			       "PRAGMA synchronous = FULL;"
			       "PRAGMA temp_store = MEMORY;"
			       "PRAGMA cache_size = -65536;"
			       "PRAGMA foreign_keys = ON;";

/* A new connection to `path` in *out (freed by the caller with store_free, even on error). */
static int open_connection(struct store **out, const char *path, int oflags, int flags,
	const char *what)
{
	struct store *s = calloc(1, sizeof(*s));

	*out = s;
	if (!s || !(s->path = strdup(path)))
		return err_set(ERR_NOMEM, "out of memory");
	s->flags = flags;
	if (sqlite3_open_v2(path, &s->db, oflags, NULL) != SQLITE_OK)
		return s->db ? store_error(s, what) : err_set(ERR_NOMEM, "out of memory");
	sqlite3_busy_timeout(s->db, 10000);
	sqlite3_extended_result_codes(s->db, 1);
	return 0;
}

int store_open(struct store **out, const char *path, const uint8_t *key, int flags)
{
	struct store *s = NULL;
	struct stat sb;
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	int error, version = 0;

	if (flags & STORE_CREATE) {
		if (stat(path, &sb) == 0)
			return err_set(ERR_EXISTS, "'%s' already exists", path);
		oflags |= SQLITE_OPEN_CREATE;
	} else if (stat(path, &sb) != 0) {
		return err_set_errno(ERR_NOTFOUND, errno, "cannot open '%s'", path);
	}
	if (!key && !(flags & STORE_PLAIN))
		return err_set(ERR_INVALID, "no key for '%s'", path);

	error = open_connection(&s, path, oflags, flags, "cannot open database");
	if (error)
		goto out;
	error = key ? apply_key(s, key, flags & STORE_PAGES_1K ? 1024 : 4096)
		    : store_exec(s, "PRAGMA page_size = 4096");
	if (error)
		goto out;
	/* The first read tells whether the key is right. */
	error = get_user_version(&version, s);
	if (error)
		goto out;
	error = store_exec(s, settings);
	if (error)
		goto out;
	error = migrate(s);
	if (error)
		goto out;
	if (flags & STORE_CREATE)
		chmod(path, 0600);
	*out = s;
	s = NULL;
out:
	store_free(s);
	return error;
}

/* ---- the evidence database --------------------------------------------------------------- */

char *store_evidence_path(const char *path)
{
	size_t n = strlen(path), size = n + sizeof("-evidence.db");
	int dotdb = n > 3 && !strcmp(path + n - 3, ".db");
	char *out = malloc(size);

	if (out)
		snprintf(out, size, "%.*s-evidence%s", (int)(dotdb ? n - 3 : n), path,
			dotdb ? ".db" : "");
	return out;
}

/* A rollback journal, not WAL: a new chunk's pages land past the end of the file, where
 * SQLite journals nothing, so its bytes are written once; WAL writes them twice, into the log
 * and again at the checkpoint (512 MiB of 1 MiB chunks: 2.98-3.17 s in WAL, 1.40-1.54 s so,
 * measured).  Readers wait only while a commit (or a cache spill) holds the file. */
static const char evidence_settings[] = "PRAGMA journal_mode = TRUNCATE;"
					"PRAGMA synchronous = FULL;"
					/* purged evidence leaves no bytes in freed pages */
					"PRAGMA secure_delete = ON;"
					/* chunks pass through; they are seldom read twice */
					"PRAGMA cache_size = -4096;";

static const char evidence_schema[] =
	"CREATE TABLE chunks (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
	"  size INTEGER NOT NULL, data BLOB NOT NULL);"
	"PRAGMA user_version = 1;";

void store_unlink(const char *path)
{
	char side[4200];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-journal", path);
	unlink(side);
}

/* Open (or create) the evidence database at `path` under `key` (NULL: a plain store's). */
static int evidence_open(struct store **out, const char *path, const uint8_t *key, int create)
{
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		     (create ? SQLITE_OPEN_CREATE : 0);
	struct store *e = NULL;
	struct stat sb;
	int error, version = 0;

	if (!create && stat(path, &sb) != 0)
		return err_set_errno(ERR_CORRUPT, errno, "the evidence database '%s' is missing",
			path);
	error = open_connection(&e, path, oflags, 0, "cannot open the evidence database");
	if (error)
		goto out;
	if (create)
		chmod(path, 0600);
	error = key ? apply_key(e, key, STORE_EVIDENCE_PAGE)
		    : store_exec(e, "PRAGMA page_size = 65536");
	if (!error)
		error = get_user_version(&version, e);
	if (!error && version > 1)
		error = err_set(ERR_CORRUPT, "'%s' has schema version %d, newer than this build",
			path, version);
	if (!error)
		error = store_exec(e, evidence_settings);
	if (!error && create)
		error = store_exec(e, evidence_schema);
	if (!error) {
		*out = e;
		e = NULL;
	}
out:
	store_free(e);
	return error;
}

static int evidence_key(uint8_t key[CRYPTO_KEY_LEN], struct store *s, const char *name)
{
	struct buf k = BUF_INIT(256);
	int error = store_material_get(&k, s, name);

	if (!error && k.len != CRYPTO_KEY_LEN)
		error = err_set(ERR_CORRUPT, "the evidence database key '%s' is malformed", name);
	if (!error)
		memcpy(key, k.ptr, CRYPTO_KEY_LEN);
	buf_wipe_release(&k);
	return error;
}

/* Open the evidence database with the key the store holds, or the one a rekey cut short
 * left as ".next"; *next says which did. */
static int evidence_open_keyed(struct store **out, int *next, struct store *s, const char *path)
{
	uint8_t key[CRYPTO_KEY_LEN];
	int error;

	*next = 0;
	if (s->flags & STORE_PLAIN)
		return evidence_open(out, path, NULL, 0);
	crypto_lock(key, sizeof(key));
	error = evidence_key(key, s, STORE_EVIDENCE_KEY);
	if (error == ERR_NOTFOUND)
		error = err_set(ERR_CORRUPT, "the store holds no key for its evidence database");
	if (!error)
		error = evidence_open(out, path, key, 0);
	if (error == ERR_AUTH) {
		*next = 1;
		error = evidence_key(key, s, STORE_EVIDENCE_KEY ".next");
		if (!error)
			error = evidence_open(out, path, key, 0);
		if (error)
			error = err_set(ERR_CORRUPT,
				"the evidence database '%s' does not open with the key the store "
				"holds",
				path);
	}
	crypto_wipe(key, sizeof(key));
	return error;
}

/* The material whose key opened the evidence database (it must be open). */
static const char *evidence_key_in_use(const struct store *s)
{
	return s->evidence_next ? STORE_EVIDENCE_KEY ".next" : STORE_EVIDENCE_KEY;
}

int store_evidence(struct store **out, struct store *s)
{
	char *path;
	int next, error;

	if (s->evidence) {
		*out = s->evidence;
		return 0;
	}
	path = store_evidence_path(s->path);
	if (!path)
		return err_set(ERR_NOMEM, "out of memory");
	error = evidence_open_keyed(&s->evidence, &next, s, path);
	s->evidence_next = next;
	free(path);
	if (!error)
		*out = s->evidence;
	return error;
}

int store_evidence_write(struct store **out, struct store *s)
{
	struct store *e = NULL;
	int error;

	if (sqlite3_get_autocommit(s->db))
		return err_set(ERR_INVALID,
			"evidence chunks are written only inside a transaction");
	error = store_evidence(&e, s);
	if (!error && !s->evidence_txn) {
		error = store_exec(e, "BEGIN IMMEDIATE");
		s->evidence_txn = !error;
	}
	if (!error)
		*out = e;
	return error;
}

/*
 * Migration 9 -> 10, inside the store's write transaction: a new evidence database with a new
 * key, the chunk bytes copied into it (committed there before the store drops them).  A file
 * left by a copy cut short is removed first: the key that opened it was never committed.
 */
static int evidence_split(struct store *s)
{
	uint8_t key[CRYPTO_KEY_LEN];
	char *path = store_evidence_path(s->path);
	int plain = s->flags & STORE_PLAIN, error, open_txn = 0;
	struct store *e = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = 0;

	if (!path)
		return err_set(ERR_NOMEM, "out of memory");
	crypto_lock(key, sizeof(key));
	store_unlink(path);
	error = plain ? 0 : crypto_random(key, sizeof(key));
	if (!error)
		error = evidence_open(&e, path, plain ? NULL : key, 1);
	if (!error && !plain)
		error = store_material_put(s, STORE_EVIDENCE_KEY, key, sizeof(key));
	if (!error)
		error = store_prepare(&st, s,
			"SELECT hash, size, data FROM evidence_chunks ORDER BY id");
	while (!error && (error = store_next(s, st)) > 0) {
		error = 0;
		if (!open_txn) {
			error = store_exec(e, "BEGIN IMMEDIATE");
			open_txn = !error;
		}
		if (!error)
			error = store_run(e,
				"INSERT OR REPLACE INTO chunks(hash, size, data) VALUES (?, ?, ?)",
				"bib", sqlite3_column_blob(st, 0),
				(size_t)sqlite3_column_bytes(st, 0),
				(int64_t)sqlite3_column_int64(st, 1),
				sqlite3_column_blob(st, 2) ? sqlite3_column_blob(st, 2) : "",
				(size_t)sqlite3_column_bytes(st, 2));
		if (!error && ++n % 64 == 0) {
			error = store_exec(e, "COMMIT");
			open_txn = 0;
		}
	}
	sqlite3_finalize(st);
	if (!error && open_txn)
		error = store_exec(e, "COMMIT");
	if (error && e)
		store_rollback(e);
	if (!error) {
		s->evidence = e;
		e = NULL;
	}
	store_free(e);
	if (error)
		store_unlink(path);
	crypto_wipe(key, sizeof(key));
	free(path);
	return error;
}

int store_backup(int64_t *pages, struct store *s, const char *dest_path, const uint8_t key[32])
{
	struct store dst;
	sqlite3_backup *b = NULL;
	struct stat sb;
	int rc, error = 0;

	memset(&dst, 0, sizeof(dst));
	if (stat(dest_path, &sb) == 0)
		return err_set(ERR_EXISTS, "'%s' already exists", dest_path);
	/* a bare keyed connection: the backup overwrites every page, so no schema is made, and
	 * the copy is a staging file: no journal and no fsync per page (the caller syncs what it
	 * makes of it, and a copy cut short is thrown away) */
	if (sqlite3_open_v2(dest_path, &dst.db,
		    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
		    NULL) != SQLITE_OK) {
		error = dst.db ? store_error(&dst, "cannot create the backup copy")
			       : err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	chmod(dest_path, 0600);
	error = apply_key(&dst, key, 4096);
	if (!error)
		error = store_exec(&dst, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
	if (error)
		goto out;
	b = sqlite3_backup_init(dst.db, "main", s->db, "main");
	if (!b) {
		error = store_error(&dst, "cannot start the backup");
		goto out;
	}
	/* -1: every page in one step, under one read lock of the source: a consistent snapshot
	 * that a writer elsewhere cannot make restart */
	rc = sqlite3_backup_step(b, -1);
	*pages = sqlite3_backup_pagecount(b);
	if (rc != SQLITE_DONE)
		error = err_set(rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? ERR_LOCKED : ERR_IO,
			"backup into '%s' failed: %s", dest_path, sqlite3_errstr(rc));
	rc = sqlite3_backup_finish(b);
	if (!error && rc != SQLITE_OK)
		error = store_error(&dst, "cannot finish the backup");
out:
	if (dst.db)
		sqlite3_close_v2(dst.db);
	if (error)
		unlink(dest_path);
	return error;
}

/* One listed chunk's bytes from the evidence database `e` into the copy `dst`. */
static int copy_chunk(struct store *dst, struct store *e, sqlite3_stmt *get, const void *hash,
	int hlen)
{
	int rc, error = 0;

	sqlite3_reset(get);
	if (sqlite3_bind_blob(get, 1, hash, hlen, SQLITE_STATIC) != SQLITE_OK)
		return store_error(e, "cannot look up a chunk");
	rc = sqlite3_step(get);
	if (rc == SQLITE_ROW)
		error = store_run(dst, "INSERT INTO chunks(hash, size, data) VALUES (?, ?, ?)",
			"bib", hash, (size_t)hlen, (int64_t)sqlite3_column_int64(get, 0),
			sqlite3_column_blob(get, 1) ? sqlite3_column_blob(get, 1) : "",
			(size_t)sqlite3_column_bytes(get, 1));
	else if (rc != SQLITE_DONE) /* bytes gone meanwhile: the copy's check names the chunk */
		error = store_error(e, "cannot read a chunk");
	sqlite3_reset(get); /* each read holds the file only for itself */
	return error;
}

int store_evidence_backup(int64_t *chunks, struct store *s, const char *dest_path)
{
	uint8_t key[CRYPTO_KEY_LEN];
	struct store *e = NULL, *dst = NULL;
	sqlite3_stmt *list = NULL, *get = NULL;
	int plain = s->flags & STORE_PLAIN, error, open_txn = 0, reading = 0;
	struct stat sb;

	*chunks = 0;
	if (stat(dest_path, &sb) == 0)
		return err_set(ERR_EXISTS, "'%s' already exists", dest_path);
	crypto_lock(key, sizeof(key));
	error = store_evidence(&e, s);
	if (!error && !plain)
		error = evidence_key(key, s, evidence_key_in_use(s));
	if (!error)
		error = evidence_open(&dst, dest_path, plain ? NULL : key, 1);
	crypto_wipe(key, sizeof(key));
	/* a staging file: no journal, no fsync per transaction (the caller syncs the archive) */
	if (!error)
		error = store_exec(dst, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
	/* the chunks the store lists, in one snapshot of it (writers go on: WAL); each one's
	 * bytes read by a statement of its own, so that no lock on the evidence database lasts
	 * longer than one chunk (a page-level copy would hold it for the whole backup) */
	if (!error)
		error = store_begin_read(s);
	reading = !error;
	if (!error)
		error = store_prepare(&get, e, "SELECT size, data FROM chunks WHERE hash = ?");
	if (!error)
		error = store_prepare(&list, s,
			"SELECT hash FROM evidence_chunk_state ORDER BY hash");
	while (!error && (error = store_next(s, list)) > 0) {
		error = 0;
		if (!open_txn) {
			error = store_exec(dst, "BEGIN");
			open_txn = !error;
		}
		if (!error)
			error = copy_chunk(dst, e, get, sqlite3_column_blob(list, 0),
				sqlite3_column_bytes(list, 0));
		if (!error && ++*chunks % 64 == 0) {
			error = store_exec(dst, "COMMIT");
			open_txn = 0;
		}
	}
	sqlite3_finalize(list);
	sqlite3_finalize(get);
	if (reading)
		store_rollback(s);
	if (!error && open_txn)
		error = store_exec(dst, "COMMIT");
	store_free(dst);
	if (error)
		store_unlink(dest_path);
	return error;
}

/* Put one key material (`key` NULL: none), and remove `drop` (NULL: none), in one transaction. */
static int put_material(struct store *s, const char *name, const uint8_t *key, const char *drop)
{
	int error = store_begin(s);

	if (!error && key)
		error = store_material_put(s, name, key, CRYPTO_KEY_LEN);
	if (!error && drop)
		error = store_material_del(s, drop);
	if (!error)
		error = store_commit(s);
	if (error)
		store_rollback(s);
	return error;
}

int store_evidence_rekey(int64_t *pages, struct store *s)
{
	uint8_t key[CRYPTO_KEY_LEN];
	char lit[STORE_KEY_LITERAL_LEN];
	struct store *e = NULL;
	int error, rc;

	*pages = 0;
	if (s->flags & STORE_PLAIN)
		return err_set(ERR_INVALID, "a plain store has no key");
	crypto_lock(key, sizeof(key));
	crypto_lock(lit, sizeof(lit));
	error = store_evidence(&e, s);
	/* 0: a rekey cut short after its re-encryption: its key becomes the key */
	if (!error && s->evidence_next) {
		error = evidence_key(key, s, evidence_key_in_use(s));
		if (!error)
			error = put_material(s, STORE_EVIDENCE_KEY, key,
				STORE_EVIDENCE_KEY ".next");
		s->evidence_next = error ? 1 : 0;
	}
	/* 1: the new key beside the old, so that whichever the file ends under opens it */
	if (!error)
		error = crypto_random(key, sizeof(key));
	if (!error)
		error = put_material(s, STORE_EVIDENCE_KEY ".next", key, NULL);
	if (!error)
		error = store_query_int64(pages, e, "PRAGMA page_count", "");
	/* 2: every page re-encrypted in one journaled transaction */
	if (!error) {
		store_key_literal(lit, key);
		rc = sqlite3_rekey(e->db, lit, (int)strlen(lit));
		if (rc != SQLITE_OK)
			error = store_error(e, "cannot rekey the evidence database");
		else
			s->evidence_next = 1;
	}
	/* 3: the new key is the key */
	if (!error)
		error = put_material(s, STORE_EVIDENCE_KEY, key, STORE_EVIDENCE_KEY ".next");
	if (!error)
		s->evidence_next = 0;
	crypto_wipe(lit, sizeof(lit));
	crypto_wipe(key, sizeof(key));
	return error;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	store_free(s->evidence);
	cache_clear(s);
	if (s->db)
		sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}
