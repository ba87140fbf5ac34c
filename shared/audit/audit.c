/* shared/audit/audit.c - the append-only audit log. */
#include "audit/audit.h"

#include <string.h>

#include <jansson.h>

#include "base/crypto.h"
#include "base/hlc.h"
#include "audit/merkle.h"

void audit_leaf_hash(uint8_t out[32], const void *entry, size_t len)
{
	merkle_leaf_hash(out, entry, len);
}

/* "cases": the ids a search or list showed (at most AUDIT_CASES_MAX), "cases_shown": all. */
static int add_cases(json_t *o, const struct audit_event *ev)
{
	json_t *list = json_array();
	size_t i;
	int bad = !list || ev->ncases > AUDIT_CASES_MAX || ev->ncases > ev->shown;

	for (i = 0; !bad && i < ev->ncases; i++)
		bad = json_array_append_new(list, json_string(ev->cases[i])) != 0;
	if (!bad)
		bad = json_object_set_new(o, "cases", list) ||
		      json_object_set_new(o, "cases_shown", json_integer((json_int_t)ev->shown));
	else
		json_decref(list);
	return bad ? err_set(ERR_INVALID, "audit event with invalid case ids") : 0;
}

int audit_encode(struct buf *out, uint64_t seq, const char *time,
	const struct audit_origin *origin, const struct audit_event *ev)
{
	json_t *o;
	char *text = NULL;
	int error = 0;

	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)seq,
		"time", time, "node", origin->node, "office", origin->office, "user",
		ev->user ? ev->user : "", "action", ev->action, "target",
		ev->target ? ev->target : "", "outcome", ev->outcome, "detail",
		ev->detail ? ev->detail : "");
	if (!o)
		return err_set(ERR_INVALID, "audit event with invalid text");
	if (ev->cases)
		error = add_cases(o, ev);
	if (error) {
		json_decref(o);
		return error;
	}
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		error = err_set(ERR_NOMEM, "out of memory");
	else if (strlen(text) > AUDIT_ENTRY_MAX)
		error = err_set(ERR_TOOBIG, "audit entry larger than %d bytes", AUDIT_ENTRY_MAX);
	else
		error = buf_puts(out, text);
	free(text);
	json_decref(o);
	return error;
}

static int next_seq(uint64_t *out, struct store *s)
{
	sqlite3_stmt *st = NULL;
	int error;

	error = store_cached(&st, s, "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_log");
	if (error)
		return error;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	else
		error = store_error(s, "cannot read the audit log");
	store_release(s, st);
	return error;
}

static int insert_entry(struct store *s, uint64_t seq, const char *time,
	const struct audit_event *ev, const struct buf *entry, const uint8_t leaf[32])
{
	sqlite3_stmt *st = NULL;
	int error;

	error = store_cached(&st, s,
		"INSERT INTO audit_log(seq, time, user, action, target, outcome, entry, leaf)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (error)
		return error;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	sqlite3_bind_text(st, 2, time, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->user ? ev->user : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ev->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, ev->target ? ev->target : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ev->outcome, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, entry->ptr, (int)entry->len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, leaf, 32, SQLITE_STATIC);
	error = store_step_done(s, st);
	store_release(s, st);
	return error;
}

int audit_append(uint64_t *seq_out, struct store *s, const struct audit_origin *origin,
	const struct audit_event *ev)
{
	struct buf entry = BUF_INIT(AUDIT_ENTRY_MAX);
	char time[HLC_STR_MAX];
	uint8_t leaf[32];
	uint64_t seq = 0;
	int own_txn = sqlite3_get_autocommit(store_db(s)), error;

	if (ev->detail && strlen(ev->detail) > AUDIT_DETAIL_MAX)
		return err_set(ERR_TOOBIG, "audit detail larger than %d bytes", AUDIT_DETAIL_MAX);
	if (own_txn) {
		error = store_begin(s);
		if (error)
			return error;
	}
	hlc_iso8601(time, ev->time_ms ? ev->time_ms : hlc_now_ms());
	error = next_seq(&seq, s);
	if (!error)
		error = audit_encode(&entry, seq, time, origin, ev);
	if (error)
		goto out;
	audit_leaf_hash(leaf, entry.ptr, entry.len);
	error = insert_entry(s, seq, time, ev, &entry, leaf);
	if (!error && own_txn)
		error = store_commit(s);
	if (!error && seq_out)
		*seq_out = seq;
out:
	if (error && own_txn)
		store_rollback(s);
	buf_release(&entry);
	return error;
}

int audit_foreach(struct store *s, const char *since, const char *target,
	int (*fn)(void *ctx, const struct audit_record *rec), void *ctx)
{
	sqlite3_stmt *st = NULL;
	struct audit_record r;
	int rc, error;

	error = store_prepare(&st, s,
		"SELECT seq, time, user, action, target, outcome, entry, leaf FROM audit_log"
		" WHERE (?1 IS NULL OR time >= ?1) AND (?2 IS NULL OR " AUDIT_SQL_NAMES_CASE(
			"2") ") ORDER BY seq");
	if (error)
		return error;
	if (since)
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
	if (target)
		sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.seq = (uint64_t)sqlite3_column_int64(st, 0);
		r.time = (const char *)sqlite3_column_text(st, 1);
		r.user = (const char *)sqlite3_column_text(st, 2);
		r.action = (const char *)sqlite3_column_text(st, 3);
		r.target = (const char *)sqlite3_column_text(st, 4);
		r.outcome = (const char *)sqlite3_column_text(st, 5);
		r.entry = sqlite3_column_blob(st, 6);
		r.entry_len = (size_t)sqlite3_column_bytes(st, 6);
		/* a leaf of another length is no leaf: readers compare 32 bytes */
		r.leaf = sqlite3_column_bytes(st, 7) == 32 ? sqlite3_column_blob(st, 7) : NULL;
		error = fn(ctx, &r);
		if (error)
			break;
	}
	if (!error && rc != SQLITE_DONE)
		error = store_error(s, "cannot read the audit log");
	sqlite3_finalize(st);
	return error;
}

struct check_ctx {
	uint64_t expect;
};

static int check_one(void *ctx, const struct audit_record *r)
{
	struct check_ctx *c = ctx;
	uint8_t leaf[32];

	if (r->seq != c->expect)
		return err_set(ERR_CORRUPT, "audit entry %llu is missing (found %llu next)",
			(unsigned long long)c->expect, (unsigned long long)r->seq);
	audit_leaf_hash(leaf, r->entry, r->entry_len);
	if (!r->leaf || !crypto_equal(leaf, r->leaf, 32))
		return err_set(ERR_CORRUPT, "audit entry %llu does not match its leaf hash",
			(unsigned long long)r->seq);
	c->expect++;
	return 0;
}

int audit_check(uint64_t *count_out, struct store *s)
{
	struct check_ctx c = {0};
	int error = audit_foreach(s, NULL, NULL, check_one, &c);

	if (!error)
		*count_out = c.expect;
	return error;
}
