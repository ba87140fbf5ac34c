/*
 * shared/store/store.h - the node's one encrypted database (SQLCipher, WAL).
 *
 * A node keeps all of its state in one SQLCipher file.  The database key is 32 random bytes,
 * handed to SQLCipher as a raw key (its own PBKDF2 is bypassed); it comes from a key slot (see
 * keyslot.h) and is never written anywhere in clear.  Pages are 4 KiB with a 64 MiB cache (the
 * measured sweet spot for SQLCipher 3.4.1), temp tables stay in memory, and anything committed
 * is durable (synchronous=FULL): an acknowledged change survives kill -9 and power loss.
 *
 * The schema is versioned (PRAGMA user_version) and migrated forward on open.  Every
 * user-visible change is one transaction: store_begin() ... store_commit(), or store_txn().
 */
#ifndef FIELDSYNC_STORE_H
#define FIELDSYNC_STORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "base/buf.h"
#include "base/err.h"

struct store;

enum {
	STORE_CREATE = 1, /* create a new database; ERR_EXISTS if the file is there */
	STORE_PLAIN = 2,  /* no key: a plain SQLite file, only for benchmark baselines */
	STORE_PAGES_1K = 4, /* SQLCipher 3.4.1's default 1 KiB pages: only for the benchmark
			       that compares page sizes */
};

/* The newest schema version this build knows. */
#define STORE_SCHEMA_VERSION 11

/*
 * The audit log's entries indexed by target (audit_log_contact): a device's contacts with HQ.
 * A query by target uses that index only if its WHERE clause holds this very term (SQLite's
 * rule for partial indexes), so every such query writes it out with this macro.
 */
#define STORE_AUDIT_CONTACT "action IN ('audit.upload', 'sync.push', 'sync.changes')"

/*
 * Open (or with STORE_CREATE create) the database at `path` with a 32-byte raw key.  The key is
 * copied only into SQLCipher; the caller still owns and wipes its copy.  Returns ERR_AUTH if the
 * key does not open the file, ERR_NOTFOUND if it does not exist, ERR_EXISTS when creating over
 * an existing file, ERR_CORRUPT for a file newer than this build, ERR_GENERIC otherwise.
 */
int store_open(struct store **out, const char *path, const uint8_t *key, int flags) WUR;

#define STORE_KEY_LITERAL_LEN (2 * 32 + 4) /* x'<64 hex>' and its NUL */

/*
 * SQLCipher's form of a raw 256-bit key, x'<hex>', into `lit` (the caller locks and wipes
 * it): what sqlite3_key and sqlite3_rekey take so that no passphrase derivation runs.
 */
void store_key_literal(char lit[STORE_KEY_LITERAL_LEN], const uint8_t key[32]);

/* Close the database (checkpoints the WAL). Accepts NULL. */
void store_free(struct store *s);

/* The SQLite handle, for modules that run their own statements on it. */
sqlite3 *store_db(struct store *s);

/* The file the store was opened from. */
const char *store_path(const struct store *s);

/* Translate the connection's last SQLite error into err_set(); returns the code. */
int store_error(struct store *s, const char *what);

/* Run SQL without results. */
int store_exec(struct store *s, const char *sql) WUR;

/* Prepare one statement; on failure the error names the statement. */
int store_prepare(sqlite3_stmt **out, struct store *s, const char *sql) WUR;

/*
 * A statement from the connection's cache of prepared statements, for SQL run again and
 * again (an edit runs a dozen statements, and preparing them was an eighth of its time): as
 * a new one, with no parameter bound.  Give it back with store_release(), never finalize it.
 * The cache is keyed by the SQL's address and checked against its text, so SQL built in a
 * buffer is correct too (and only cached while that buffer holds the same text).
 */
int store_cached(sqlite3_stmt **out, struct store *s, const char *sql) WUR;

/* Reset a statement from store_cached() for its next use (a statement from elsewhere is
 * finalized).  Accepts NULL. */
void store_release(struct store *s, sqlite3_stmt *st);

/*
 * Which transaction the connection is in: a number that changes whenever one begins, commits
 * or is rolled back through this module, 0 outside any.  For caches that must not outlive
 * what they read from (odb.c).
 */
uint64_t store_txn_id(struct store *s);

/* Step a statement that returns no row (INSERT/UPDATE/DELETE). */
int store_step_done(struct store *s, sqlite3_stmt *st) WUR;

/*
 * Bound statements.  `types` names each parameter of `sql` in order, one letter each:
 *   't'  text: a const char * (NULL binds SQL NULL)
 *   'i'  integer: an int64_t (cast it: a plain int or size_t is not one)
 *   'b'  blob: a const void * and then its size_t length (a NULL pointer binds SQL NULL)
 * The letters must match the statement's parameter count (for ?N, the highest N), else
 * ERR_INVALID.  Arguments are bound without a copy: they must outlive the statement.  A failing
 * statement's error comes from store_error() and names the statement.
 */

/*
 * Prepare `sql` and bind the arguments; the caller steps with store_next() and finalizes
 * *out (sqlite3_finalize).  *out is written only on success.
 */
int store_bind(sqlite3_stmt **out, struct store *s, const char *sql, const char *types, ...) WUR;

/* store_bind() with the arguments as a va_list, for functions that pass theirs on. */
int store_vbind(sqlite3_stmt **out, struct store *s, const char *sql, const char *types,
	va_list ap) WUR;

/* Step a statement: 1 for a row, 0 when it is done, or a negative error naming it. */
int store_next(struct store *s, sqlite3_stmt *st) WUR;

/*
 * Bind, step to the end (rows are discarded) and reset one statement from the cache.
 *
 * The hot writes that change one row by its key say UPDATE OR FAIL (INSERT OR FAIL): inside
 * a transaction, a statement that may abort keeps the image of every page it touches in a
 * statement journal, and SQLCipher 3.4.1 encrypts each of them (measured: a fifth of the
 * encryption of a single-field edit).  OR FAIL needs no journal, and loses nothing: its
 * constraints are checked before the row is written, and every caller rolls the whole
 * transaction back on an error.
 */
int store_run(struct store *s, const char *sql, const char *types, ...) WUR;

/*
 * The first column of the first row: as an integer (SQL NULL reads 0), or its bytes, text or
 * blob, appended to `out` (SQL NULL appends nothing).  ERR_NOTFOUND if there is no row.
 */
int store_query_int64(int64_t *out, struct store *s, const char *sql, const char *types, ...) WUR;

/*
 * A short id, git-style: the one key of `sql` (a statement whose first column is the key,
 * with ?1 the prefix and ?2 its length, e.g. "SELECT device FROM devices WHERE substr(device,
 * 1, ?2) = ?1 ORDER BY 1 LIMIT 11") that starts with `prefix`, or the key equal to it, written
 * to out (size bytes).  `what` names the kind in messages ("case", "device").  ERR_NOTFOUND if
 * none, ERR_CONFLICT listing the candidates (up to ten) if several, ERR_TOOBIG if the key does
 * not fit.
 */
int store_resolve_prefix(char *out, size_t size, struct store *s, const char *sql, const char *what,
	const char *prefix) WUR;
int store_query_bytes(struct buf *out, struct store *s, const char *sql, const char *types,
	...) WUR;

/* Rows changed by the newest INSERT, UPDATE or DELETE on this store. */
int64_t store_changes(struct store *s);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK.  Rollback never fails from the caller's view. */
int store_begin(struct store *s) WUR;
/* A read transaction: one consistent snapshot without the write lock (end it with
 * store_commit or store_rollback). */
int store_begin_read(struct store *s) WUR;
int store_commit(struct store *s) WUR;
void store_rollback(struct store *s);

/* Run fn(ctx) in one transaction: committed if it returns 0, rolled back otherwise. */
int store_txn(struct store *s, int (*fn)(void *ctx), void *ctx) WUR;

/* Small key/value settings of the node (table node_meta). ERR_NOTFOUND for a missing key. */
int store_meta_get(struct buf *out, struct store *s, const char *key) WUR;
int store_meta_set(struct store *s, const char *key, const char *value) WUR;

/*
 * Keys and certificates of the node (table pki_material, DER).  ERR_NOTFOUND for a missing
 * name.  Private keys are only ever stored here, inside the encrypted database.
 */
int store_material_get(struct buf *out, struct store *s, const char *name) WUR;
int store_material_put(struct store *s, const char *name, const void *der, size_t len) WUR;
/* Remove a material; a missing one is not an error. */
int store_material_del(struct store *s, const char *name) WUR;

/*
 * Copy the whole database online into a new file `dest_path` (ERR_EXISTS if it is there)
 * through SQLite's backup API: one step over a read transaction, so writers of other
 * connections go on (WAL) and the copy is one consistent snapshot.  The copy is encrypted
 * under the same raw `key` with the same page layout.  *pages gets the pages copied.
 */
int store_backup(int64_t *pages, struct store *s, const char *dest_path, const uint8_t key[32]) WUR;

/* PRAGMA integrity_check of the store and its evidence database; ERR_CORRUPT with the first
 * problem it reports. */
int store_integrity_check(struct store *s) WUR;

/*
 * The evidence database: the bytes of evidence chunks (chunks.c) live in a SQLCipher file of
 * their own beside the store (`fieldsync.db` -> `fieldsync-evidence.db`), with 64 KiB pages and
 * a rollback journal (see evidence_settings in store.c):
 * SQLCipher encrypts and authenticates page by page, and a 1 MiB chunk in 4 KiB pages cost
 * 256 rounds of cipher and HMAC set-up (evidence intake at 118-141 MiB/s; 278-280 MiB/s with
 * 64 KiB pages, measured), while small rows (an edit) stay in the store's 4 KiB pages.  Its
 * key is 32 random bytes kept in the store (material STORE_EVIDENCE_KEY), so it opens with
 * whatever key opens the store.  Only chunk bytes live there; which chunks a node holds, and
 * their sync state, stay in the store, so that a chunk counts as held only once its bytes are
 * durable: the evidence database commits first (store_commit), and a crash in between leaves
 * at most bytes nothing lists, removed by chunks_sweep().
 */
#define STORE_EVIDENCE_KEY "evidence_db_key"
#define STORE_EVIDENCE_PAGE 65536

/* Remove a database file and what SQLite keeps beside it (-wal, -shm, -journal). */
void store_unlink(const char *path);

/* The evidence database's file for a store at `path` (the caller frees it), or NULL. */
char *store_evidence_path(const char *path);

/* The open evidence database of `s` (opened at first use; owned by `s`). */
int store_evidence(struct store **out, struct store *s) WUR;

/*
 * The evidence database inside the write transaction of `s` (store_begin): its own write
 * transaction begins with the first call and commits in store_commit(s), just before that of
 * `s`, or rolls back with it.  ERR_INVALID outside a transaction of `s`.
 */
int store_evidence_write(struct store **out, struct store *s) WUR;

/*
 * Copy the evidence database online into a new file `dest_path` (ERR_EXISTS if it is there),
 * under its own key (which a copy of the store holds): the bytes of every chunk the store lists
 * in one snapshot, each read by a statement of its own, so that intake and sync go on beside
 * the copy; bytes nothing lists stay behind.  *chunks gets the chunks copied.
 */
int store_evidence_backup(int64_t *chunks, struct store *s, const char *dest_path) WUR;

/*
 * A new key for the evidence database: every page re-encrypted in one journaled transaction
 * (the caller makes sure no other process has the store open), the new key written to the
 * store first as STORE_EVIDENCE_KEY ".next", so that a kill at any point leaves a key that
 * opens it.
 * *pages gets the pages re-encrypted.
 */
int store_evidence_rekey(int64_t *pages, struct store *s) WUR;

#endif
