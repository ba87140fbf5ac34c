/* shared/case/index.c - derived case tables and full-text index. */
#include "case/index.h"

#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "base/hlc.h"

#define BODY_MAX (8u * 1024 * 1024)

static const char *field(const struct casefile_view *v, const char *name)
{
	int i = schema_index(name);

	return i >= 0 && v->fields[i] ? v->fields[i] : "";
}

/* The searchable text of a case: searchable fields, the narrative, every note. */
static int fts_body(struct buf *out, const struct casefile_view *v)
{
	size_t i;
	int error = 0;

	for (i = 0; i < schema_count() && !error; i++)
		if (schema_at(i)->searchable && strcmp(schema_at(i)->name, "title") != 0 &&
			v->fields[i])
			error = buf_printf(out, "%s\n", v->fields[i]);
	if (!error)
		error = buf_printf(out, "%s\n", v->narrative);
	for (i = 0; i < v->nnotes && !error; i++)
		error = buf_printf(out, "%s\n", v->notes[i].text);
	return error;
}

/* The row's values, bound to a statement whose parameters 1..17 follow this order. */
static void bind_row(sqlite3_stmt *st, const struct casefile_view *v, const char *updated,
	const uint8_t digest[CRYPTO_SHA256_LEN])
{
	const char *prio = field(v, "priority");

	sqlite3_bind_text(st, 1, v->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v->office, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field(v, "title"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, field(v, "category"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, field(v, "status"), -1, SQLITE_STATIC);
	if (prio[0])
		sqlite3_bind_int(st, 6, prio[0] - '0');
	sqlite3_bind_text(st, 7, field(v, "assignee"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, field(v, "disposition"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, field(v, "received_at"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, updated, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, (int)v->nnotes);
	sqlite3_bind_int(st, 12, (int)v->nconflicts);
	sqlite3_bind_blob(st, 13, v->head.id, GIT_OID_RAWSZ, SQLITE_STATIC);
	sqlite3_bind_blob(st, 14, digest, CRYPTO_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 15, field(v, "subject_id"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 16, field(v, "due_at"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 17, field(v, "closed_at"), -1, SQLITE_STATIC);
}

/* The existing row of a case: its rowid, the digest of its full-text document, and whether
 * the indexed columns office and status would change. */
struct old_row {
	sqlite3_int64 rowid;
	uint8_t digest[CRYPTO_SHA256_LEN];
	int keys_changed;
};

static int find_row(struct old_row *old, struct store *s, const struct casefile_view *v)
{
	sqlite3_stmt *st = NULL;
	int rc, error;

	error = store_cached(&st, s,
		"SELECT rowid, fts_digest, office IS NOT ?2 OR status IS NOT ?3 FROM case_index"
		" WHERE case_id = ?1");
	if (error)
		return error;
	sqlite3_bind_text(st, 1, v->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v->office, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field(v, "status"), -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		old->rowid = sqlite3_column_int64(st, 0);
		memset(old->digest, 0, CRYPTO_SHA256_LEN);
		if (sqlite3_column_bytes(st, 1) == CRYPTO_SHA256_LEN)
			memcpy(old->digest, sqlite3_column_blob(st, 1), CRYPTO_SHA256_LEN);
		old->keys_changed = sqlite3_column_int(st, 2);
	} else if (rc == SQLITE_DONE) {
		error = ERR_NOTFOUND;
	} else {
		error = store_error(s, "cannot read the case index");
	}
	store_release(s, st);
	return error;
}

/* The row's columns after case_id, set in place when the row exists (its rowid is the
 * full-text docid).  SQLite rewrites the entry of every index whose column an UPDATE sets,
 * changed or not: office and status are set only when they change, so an edit of any other
 * field writes (and encrypts) the table's page alone, not also the pages of three indexes. */
#define SET_FIELDS                                                                                 \
	" title = ?3, category = ?4, priority = ?6, assignee = ?7, disposition = ?8,"              \
	" received_at = ?9, updated_at = ?10, notes = ?11, conflicts = ?12, head = ?13,"           \
	" fts_digest = ?14, subject_id = ?15, due_at = ?16, closed_at = ?17 WHERE rowid = ?18"

static int write_row(struct old_row *old, struct store *s, const struct casefile_view *v,
	const uint8_t digest[CRYPTO_SHA256_LEN], int exists)
{
	char updated[HLC_STR_MAX];
	sqlite3_stmt *st = NULL;
	int error;

	hlc_iso8601(updated, v->updated_ms);
	error = store_cached(&st, s,
		!exists ? "INSERT INTO case_index(case_id, office, title, category, status,"
			  " priority, assignee, disposition, received_at, updated_at, notes,"
			  " conflicts, head, fts_digest, subject_id, due_at, closed_at)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
			  " ?14, ?15, ?16, ?17)"
		: old->keys_changed
			? "UPDATE OR FAIL case_index SET office = ?2, status = ?5," SET_FIELDS
			: "UPDATE OR FAIL case_index SET" SET_FIELDS);
	if (error)
		return error;
	bind_row(st, v, updated, digest);
	if (exists)
		sqlite3_bind_int64(st, 18, old->rowid);
	error = store_step_done(s, st);
	if (!error && !exists)
		old->rowid = sqlite3_last_insert_rowid(store_db(s));
	store_release(s, st);
	return error;
}

static int write_fts(struct store *s, sqlite3_int64 rowid, const struct casefile_view *v,
	const struct buf *body, int exists)
{
	sqlite3_stmt *st = NULL;
	int error;

	error = store_cached(&st, s,
		exists ? "UPDATE case_fts SET case_id = ?2, title = ?3, body = ?4 WHERE docid = ?1"
		       : "INSERT INTO case_fts(docid, case_id, title, body) VALUES (?1, ?2, ?3, ?4)");
	if (error)
		return error;
	sqlite3_bind_int64(st, 1, rowid);
	sqlite3_bind_text(st, 2, v->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field(v, "title"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, buf_cstr(body), (int)body->len, SQLITE_STATIC);
	error = store_step_done(s, st);
	store_release(s, st);
	return error;
}

/* Digest of what the full-text index holds for a case: title, then body. */
static void fts_digest(uint8_t out[CRYPTO_SHA256_LEN], const struct casefile_view *v,
	const struct buf *body)
{
	struct crypto_sha256 h;
	const char *title = field(v, "title");

	crypto_sha256_init(&h);
	crypto_sha256_update(&h, title, strlen(title) + 1);
	crypto_sha256_update(&h, buf_cstr(body), body->len);
	crypto_sha256_final(out, &h);
}

int index_update(struct store *s, const struct casefile_view *v)
{
	struct buf body = BUF_INIT(BODY_MAX);
	uint8_t digest[CRYPTO_SHA256_LEN];
	struct old_row old = {0};
	int error, exists;

	error = find_row(&old, s, v);
	exists = error == 0;
	if (error == ERR_NOTFOUND)
		error = 0;
	if (!error)
		error = fts_body(&body, v);
	if (error)
		goto out;
	fts_digest(digest, v, &body);
	error = write_row(&old, s, v, digest, exists);
	/* Most edits (status, priority, dates) leave the searchable text as it was. */
	if (!error && !(exists && crypto_equal(digest, old.digest, CRYPTO_SHA256_LEN)))
		error = write_fts(s, old.rowid, v, &body, exists);
out:
	buf_wipe_release(&body);
	return error;
}

/* Call fn(ctx, case_id, head) for each row of case_heads. */
static int foreach_head(struct store *s,
	int (*fn)(void *ctx, const char *case_id, const git_oid *head), void *ctx)
{
	sqlite3_stmt *st = NULL;
	git_oid head;
	int rc, error;

	error = store_prepare(&st, s, "SELECT case_id, head FROM case_heads ORDER BY case_id");
	if (error)
		return error;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 1) != GIT_OID_RAWSZ) {
			error = err_set(ERR_CORRUPT, "case '%s' has a malformed head",
				(const char *)sqlite3_column_text(st, 0));
			break;
		}
		git_oid_fromraw(&head, sqlite3_column_blob(st, 1));
		error = fn(ctx, (const char *)sqlite3_column_text(st, 0), &head);
		if (error)
			break;
	}
	if (!error && rc != SQLITE_DONE)
		error = store_error(s, "cannot read case heads");
	sqlite3_finalize(st);
	return error;
}

struct walk_ctx {
	struct store *s;
	git_repository *repo;
};

static int rebuild_one(void *ctx, const char *case_id, const git_oid *head)
{
	struct walk_ctx *w = ctx;
	struct casefile_view v;
	int error = casefile_read(&v, w->repo, head);

	(void)case_id;
	if (error)
		return error;
	error = index_update(w->s, &v);
	casefile_view_release(&v);
	return error;
}

int index_rebuild(struct store *s, git_repository *repo)
{
	struct walk_ctx w = {s, repo};
	int error = store_exec(s, "DELETE FROM case_fts; DELETE FROM case_index;");

	if (!error)
		error = foreach_head(s, rebuild_one, &w);
	return error;
}

static int text_differs(sqlite3_stmt *st, int col, const char *want)
{
	const char *got = (const char *)sqlite3_column_text(st, col);

	return strcmp(got ? got : "", want) != 0;
}

static int check_row(struct store *s, const struct casefile_view *v)
{
	struct buf body = BUF_INIT(BODY_MAX);
	const char *prio = field(v, "priority");
	char updated[HLC_STR_MAX];
	uint8_t digest[CRYPTO_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	int error, bad;

	hlc_iso8601(updated, v->updated_ms);
	error = fts_body(&body, v);
	if (!error)
		fts_digest(digest, v, &body);
	if (!error)
		error = store_prepare(&st, s,
			"SELECT ci.office, ci.title, ci.category, ci.status, ci.priority, ci.assignee,"
			" ci.disposition, ci.received_at, ci.updated_at, ci.notes, ci.conflicts,"
			" ci.head, f.title, f.body, ci.fts_digest, ci.subject_id, ci.due_at,"
			" ci.closed_at FROM case_index ci"
			" LEFT JOIN case_fts f ON f.docid = ci.rowid WHERE ci.case_id = ?");
	if (error)
		goto out;
	sqlite3_bind_text(st, 1, v->id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		error = err_set(ERR_CORRUPT, "case '%s' is missing from the derived tables", v->id);
		goto out;
	}
	bad = text_differs(st, 0, v->office) || text_differs(st, 1, field(v, "title")) ||
	      text_differs(st, 2, field(v, "category")) ||
	      text_differs(st, 3, field(v, "status")) ||
	      sqlite3_column_int(st, 4) != (prio[0] ? prio[0] - '0' : 0) ||
	      text_differs(st, 5, field(v, "assignee")) ||
	      text_differs(st, 6, field(v, "disposition")) ||
	      text_differs(st, 7, field(v, "received_at")) || text_differs(st, 8, updated) ||
	      sqlite3_column_int(st, 9) != (int)v->nnotes ||
	      sqlite3_column_int(st, 10) != (int)v->nconflicts ||
	      sqlite3_column_bytes(st, 11) != GIT_OID_RAWSZ ||
	      memcmp(sqlite3_column_blob(st, 11), v->head.id, GIT_OID_RAWSZ) != 0 ||
	      text_differs(st, 12, field(v, "title")) || text_differs(st, 13, buf_cstr(&body)) ||
	      sqlite3_column_bytes(st, 14) != CRYPTO_SHA256_LEN ||
	      memcmp(sqlite3_column_blob(st, 14), digest, CRYPTO_SHA256_LEN) != 0 ||
	      text_differs(st, 15, field(v, "subject_id")) ||
	      text_differs(st, 16, field(v, "due_at")) ||
	      text_differs(st, 17, field(v, "closed_at"));
	if (bad)
		error = err_set(ERR_CORRUPT, "derived tables of case '%s' do not match its head",
			v->id);
out:
	sqlite3_finalize(st);
	buf_wipe_release(&body);
	return error;
}

static int check_one(void *ctx, const char *case_id, const git_oid *head)
{
	struct walk_ctx *w = ctx;
	struct casefile_view v;
	int error = casefile_read(&v, w->repo, head);

	if (error)
		return err_set(error, "case '%s': %s", case_id, err_msg());
	if (strcmp(v.id, case_id) != 0)
		error = err_set(ERR_CORRUPT, "case '%s' has a head of case '%s'", case_id, v.id);
	else
		error = check_row(w->s, &v);
	casefile_view_release(&v);
	return error;
}

static int count_rows(long long *out, struct store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int error = store_prepare(&st, s, sql);

	if (error)
		return error;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		error = store_error(s, "cannot count rows");
	sqlite3_finalize(st);
	return error;
}

int index_check(struct store *s, git_repository *repo)
{
	struct walk_ctx w = {s, repo};
	long long heads = 0, rows = 0, docs = 0;
	int error;

	error = foreach_head(s, check_one, &w);
	if (!error)
		error = count_rows(&heads, s, "SELECT count(*) FROM case_heads");
	if (!error)
		error = count_rows(&rows, s, "SELECT count(*) FROM case_index");
	if (!error)
		error = count_rows(&docs, s, "SELECT count(*) FROM case_fts");
	if (!error && (rows != heads || docs != heads))
		error = err_set(ERR_CORRUPT,
			"derived tables hold %lld rows and %lld documents for %lld cases", rows, docs,
			heads);
	return error;
}

static void read_row(struct index_row *r, sqlite3_stmt *st)
{
	r->case_id = (const char *)sqlite3_column_text(st, 0);
	r->office = (const char *)sqlite3_column_text(st, 1);
	r->title = (const char *)sqlite3_column_text(st, 2);
	r->category = (const char *)sqlite3_column_text(st, 3);
	r->status = (const char *)sqlite3_column_text(st, 4);
	r->priority = sqlite3_column_int(st, 5);
	r->assignee = (const char *)sqlite3_column_text(st, 6);
	r->updated_at = (const char *)sqlite3_column_text(st, 7);
	r->notes = sqlite3_column_int(st, 8);
	r->conflicts = sqlite3_column_int(st, 9);
	r->received_at = (const char *)sqlite3_column_text(st, 10);
	r->due_at = (const char *)sqlite3_column_text(st, 11);
	r->subject_id = (const char *)sqlite3_column_text(st, 12);
	r->snippet = sqlite3_column_count(st) > 13 ? (const char *)sqlite3_column_text(st, 13)
						   : NULL;
}

static int run_rows(struct store *s, sqlite3_stmt *st,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx, const char *what)
{
	struct index_row r;
	int rc, error = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(&r, st);
		error = fn(ctx, &r);
		if (error)
			return error;
	}
	if (rc != SQLITE_DONE) {
		const char *msg = sqlite3_errmsg(store_db(s));

		/* SQLite's words ("malformed MATCH expression") tell a user nothing */
		if (strstr(msg, "MATCH") || strstr(msg, "fts"))
			return err_set(ERR_INVALID, "%s", INDEX_QUERY_SYNTAX);
		return store_error(s, what);
	}
	return 0;
}

#define ROW_COLUMNS                                                                                \
	"ci.case_id, ci.office, ci.title, ci.category, ci.status, ci.priority, ci.assignee,"       \
	" ci.updated_at, ci.notes, ci.conflicts, ci.received_at, ci.due_at, ci.subject_id"

/* ORDER BY clauses of enum index_sort, in its order; the case id breaks ties. */
static const char *const sort_sql[] = {
	" ORDER BY ci.case_id",
	" ORDER BY ci.received_at IS NULL, ci.received_at, ci.case_id",
	" ORDER BY ci.due_at IS NULL, ci.due_at, ci.case_id",
	" ORDER BY ci.updated_at DESC, ci.case_id",
	" ORDER BY ci.priority IS NULL, ci.priority, ci.case_id",
};

int index_list(struct store *s, const struct index_filter *f,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx)
{
	static const struct index_filter none;
	struct buf sql = BUF_INIT(2048);
	sqlite3_stmt *st = NULL;
	int error;

	if (!f)
		f = &none;
	if ((unsigned)f->sort >= sizeof(sort_sql) / sizeof(sort_sql[0]))
		return err_set(ERR_INVALID, "unknown sort order %d", (int)f->sort);
	/* every filter is a parameter: NULL leaves it out */
	error = buf_printf(&sql,
		"SELECT " ROW_COLUMNS " FROM case_index ci"
		" WHERE (?1 IS NULL OR ci.status = ?1) AND (?2 IS NULL OR ci.office = ?2)"
		" AND (?3 IS NULL OR ci.category = ?3) AND (?4 IS NULL OR ci.assignee = ?4)"
		" AND (?5 IS NULL OR ci.subject_id = ?5)"
		" AND (?6 IS NULL OR ci.received_at >= ?6) AND (?7 IS NULL OR ci.received_at <= ?7)"
		" AND (?8 IS NULL OR (ci.due_at IS NOT NULL AND ci.due_at <> '' AND ci.due_at < ?8"
		"  AND ci.status <> 'closed'))%s",
		sort_sql[f->sort]);
	if (!error)
		error = store_prepare(&st, s, buf_cstr(&sql));
	if (error)
		goto out;
	sqlite3_bind_text(st, 1, f->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->office, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, f->category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, f->assignee, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f->subject_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, f->received_from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, f->received_to, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, f->overdue_on, -1, SQLITE_STATIC);
	error = run_rows(s, st, fn, ctx, "cannot list cases");
out:
	sqlite3_finalize(st);
	buf_release(&sql);
	return error;
}

int index_search(struct store *s, const char *query,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx)
{
	sqlite3_stmt *st = NULL;
	int error;

	if (strlen(query) == 0)
		return err_set(ERR_INVALID, "empty search query");
	if (strlen(query) > INDEX_QUERY_MAX)
		return err_set(ERR_TOOBIG, "search query longer than %d bytes", INDEX_QUERY_MAX);
	error = store_prepare(&st, s,
		"SELECT " ROW_COLUMNS ", snippet(case_fts, '[', ']', '...', -1, 12)"
		" FROM case_fts JOIN case_index ci ON ci.rowid = case_fts.docid"
		" WHERE case_fts MATCH ? ORDER BY ci.case_id");
	if (error)
		return error;
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	error = run_rows(s, st, fn, ctx, "cannot search cases");
	sqlite3_finalize(st);
	return error;
}
