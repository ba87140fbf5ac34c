/* shared/node/casedb.c - case operations as single audited transactions. */
#include "node/casedb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/evidence.h"
#include "store/chunks.h"
#include "store/odb.h"

int casedb_head(git_oid *out, struct node *n, const char *case_id)
{
	uint8_t raw[GIT_OID_RAWSZ];
	struct buf head = BUF_INIT(GIT_OID_RAWSZ);
	int error = store_query_bytes(&head, n->store,
		"SELECT head FROM case_heads WHERE case_id = ?", "t", case_id);

	if (error == ERR_NOTFOUND)
		error = err_set(ERR_NOTFOUND, "no case '%s'", case_id);
	else if (error == ERR_TOOBIG || (!error && head.len != GIT_OID_RAWSZ))
		error = err_set(ERR_CORRUPT, "case '%s' has a malformed head", case_id);
	if (!error) {
		memcpy(raw, head.ptr, GIT_OID_RAWSZ);
		git_oid_fromraw(out, raw);
	}
	buf_release(&head);
	return error;
}

/*
 * Move a case head (keeping the agent's sync base).  At HQ the case also takes the next change
 * sequence, which pull cursors count in; a device serves no pull, so its heads keep theirs and
 * an edit leaves the sequence's index alone (a tenth of the pages an edit wrote).
 */
static int set_head(struct node *n, const char *case_id, const git_oid *head)
{
	char now[HLC_STR_MAX];
	int error, i, hq = node_is_hq(n);
	static const char *const sql[2][2] = {
		{"UPDATE OR FAIL case_heads SET head = ?2, updated_at = ?3 WHERE case_id = ?1",
			"INSERT OR FAIL INTO case_heads(case_id, head, updated_at) VALUES (?1, ?2, ?3)"},
		{"UPDATE OR FAIL case_heads SET head = ?2, updated_at = ?3,"
		 "  seq = (SELECT coalesce(max(seq), 0) + 1 FROM case_heads) WHERE case_id = ?1",
			"INSERT OR FAIL INTO case_heads(case_id, head, updated_at, seq)"
			"  SELECT ?1, ?2, ?3, coalesce(max(seq), 0) + 1 FROM case_heads"},
	};

	hlc_iso8601(now, hlc_now_ms());
	for (i = 0; i < 2; i++) {
		error = store_run(n->store, sql[hq][i], "tbt", case_id, head->id,
			(size_t)GIT_OID_RAWSZ, now);
		if (error || store_changes(n->store) > 0)
			return error;
	}
	return 0;
}

int casedb_advance(struct node *n, const char *case_id, const git_oid *head)
{
	struct casefile_view v;
	int error = set_head(n, case_id, head);

	if (error)
		return error;
	error = casefile_read(&v, n->repo, head);
	if (error)
		return error;
	error = index_update(n->store, &v);
	casefile_view_release(&v);
	return error;
}

/* Which fields an edit names, for the audit detail (names only: no case text). */
static void change_detail(char *out, size_t size, const struct casefile_change *chg,
	const char *note_id)
{
	size_t used = 0, i;

	out[0] = '\0';
	for (i = 0; i < chg->nsets && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "," : "fields ",
			chg->sets[i].name);
	if (chg->narrative && used < size)
		used += (size_t)snprintf(out + used, size - used, "%snarrative", used ? "; " : "");
	if (note_id && note_id[0] && used < size)
		used += (size_t)snprintf(out + used, size - used, "%snote %s", used ? "; " : "",
			note_id);
	if (chg->resolve && used < size)
		used += (size_t)snprintf(out + used, size - used, "%ssettled %s", used ? "; " : "",
			chg->resolve);
	if (chg->transfer && used < size)
		snprintf(out + used, size - used, "%sto office %s", used ? "; " : "", chg->transfer);
}

static int case_exists(int *out, struct node *n, const char *case_id)
{
	git_oid head;
	int error = casedb_head(&head, n, case_id);

	*out = error == 0;
	return error == ERR_NOTFOUND ? 0 : error;
}

/*
 * 1 if `chg` sets status closed: that needs a supervisor's approval (NODE_PERM_CLOSE), and HQ
 * checks it again on every commit it receives (sync_check_commit).
 */
static int closes(const struct casefile_change *chg)
{
	size_t i;

	for (i = 0; i < chg->nsets; i++)
		if (!strcmp(chg->sets[i].name, "status") && chg->sets[i].value &&
			!strcmp(chg->sets[i].value, "closed"))
			return 1;
	return 0;
}

/* A new case of `office` (chg->transfer names it when it is not the node's own). */
static int create(char id_out[SCHEMA_CASE_ID_MAX + 1], struct node *n, const char *office,
	const struct casefile_change *chg, enum node_perm perm, const char *action)
{
	struct casefile_author a = {n->user, n->office, n->device, {0, 0}, n->role};
	char id[SCHEMA_CASE_ID_MAX + 1], detail[AUDIT_DETAIL_MAX];
	git_oid head;
	int exists = 1, tries, error;

	error = node_require(n, perm, action, chg->transfer ? office : "");
	if (!error && closes(chg))
		error = node_require(n, NODE_PERM_CLOSE, "case.close", "");
	if (error)
		return error;
	error = casefile_check_change(chg);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = node_next_hlc(&a.hlc, n);
	/* Ids are random; a local collision is astronomically rare but cheap to rule out. */
	for (tries = 0; !error && exists && tries < 8; tries++) {
		error = casefile_new_id(id, office, a.hlc.wall_ms);
		if (!error)
			error = case_exists(&exists, n, id);
	}
	if (!error && exists)
		error = err_set(ERR_EXISTS, "cannot find a free case id");
	if (!error)
		error = casefile_commit(&head, NULL, n->repo, NULL, id, chg, &a,
			chg->transfer ? "case intake" : "case create");
	if (!error)
		error = casedb_advance(n, id, &head);
	change_detail(detail, sizeof(detail), chg, NULL);
	if (!error)
		error = node_audit(n, action, id, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error)
		return node_audit_failure(n, action, "", error);
	memcpy(id_out, id, sizeof(id));
	return 0;
}

int casedb_create(char id_out[SCHEMA_CASE_ID_MAX + 1], struct node *n,
	const struct casefile_change *chg)
{
	struct casefile_change own = *chg;

	own.transfer = NULL;
	return create(id_out, n, n->office, &own, NODE_PERM_CASE_WRITE, "case.create");
}

int casedb_intake(char id_out[SCHEMA_CASE_ID_MAX + 1], struct node *n, const char *office,
	const struct casefile_change *chg)
{
	struct casefile_change routed = *chg;
	int error = schema_check_office(office);

	if (error)
		return error;
	routed.transfer = office;
	return create(id_out, n, office, &routed, NODE_PERM_INTAKE, "case.intake");
}

int casedb_import(char id_out[SCHEMA_CASE_ID_MAX + 1], struct node *n, const char *office,
	const struct casefile_change *chg, const char *const *notes, size_t nnotes, int64_t id_ms)
{
	struct casefile_author a = {n->user, n->office, n->device, {0, 0}, n->role};
	struct casefile_change routed = *chg, note;
	char id[SCHEMA_CASE_ID_MAX + 1];
	git_oid head, parent;
	size_t i;
	int exists = 1, tries, error = casefile_check_change(chg);

	routed.transfer = strcmp(office, n->office) ? office : NULL;
	for (tries = 0; !error && exists && tries < 8; tries++) {
		error = casefile_new_id(id, office, id_ms);
		if (!error)
			error = case_exists(&exists, n, id);
	}
	if (!error && exists)
		error = err_set(ERR_EXISTS, "cannot find a free case id");
	if (!error)
		error = node_next_hlc(&a.hlc, n);
	if (!error)
		error = casefile_commit(&head, NULL, n->repo, NULL, id, &routed, &a, "case import");
	for (i = 0; !error && i < nnotes; i++) {
		memset(&note, 0, sizeof(note));
		note.note = notes[i];
		note.note_len = strlen(notes[i]);
		parent = head;
		error = node_next_hlc(&a.hlc, n);
		if (!error)
			error = casefile_commit(&head, NULL, n->repo, &parent, id, &note, &a,
				"note import");
	}
	if (!error)
		error = casedb_advance(n, id, &head);
	if (!error)
		memcpy(id_out, id, sizeof(id));
	return error;
}

int casedb_edit(struct node *n, const char *case_id, const struct casefile_change *chg,
	char note_id_out[CASEFILE_NOTE_ID_MAX])
{
	return casedb_edit_then(n, case_id, chg, note_id_out, NULL, NULL);
}

int casedb_edit_then(struct node *n, const char *case_id, const struct casefile_change *chg,
	char note_id_out[CASEFILE_NOTE_ID_MAX], int (*then)(void *ctx, struct node *n), void *ctx)
{
	struct casefile_author a = {n->user, n->office, n->device, {0, 0}, n->role};
	char note_id[CASEFILE_NOTE_ID_MAX] = "", detail[AUDIT_DETAIL_MAX];
	const char *action = chg->transfer ? "case.transfer"
			     : chg->resolve ? "conflict.resolve"
			     : chg->note && !chg->nsets && !chg->narrative ? "note.add"
									  : "case.update";
	git_oid head, parent;
	int error;

	error = node_require(n, NODE_PERM_CASE_WRITE, action, case_id);
	if (!error && closes(chg))
		error = node_require(n, NODE_PERM_CLOSE, "case.close", case_id);
	if (error)
		return error;
	error = casefile_check_change(chg);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = casedb_head(&parent, n, case_id);
	if (!error)
		error = node_next_hlc(&a.hlc, n);
	if (!error)
		error = casefile_commit(&head, note_id, n->repo, &parent, case_id, chg, &a,
			chg->transfer ? "case transfer" : chg->resolve ? "conflict resolve"
			: chg->note && !chg->nsets && !chg->narrative ? "note add" : "case update");
	if (!error)
		error = casedb_advance(n, case_id, &head);
	if (!error && then)
		error = then(ctx, n);
	change_detail(detail, sizeof(detail), chg, note_id);
	if (!error)
		error = node_audit(n, action, case_id, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error)
		return node_audit_failure(n, action, case_id, error);
	if (note_id_out)
		memcpy(note_id_out, note_id, sizeof(note_id));
	return 0;
}

/* Check the reader's role, open the read's transaction (it records the audit event) and find
 * the head.  ERR_PERM is already audited; other errors leave the transaction for the caller. */
static int begin_read(git_oid *head, struct node *n, const char *action, const char *case_id)
{
	int error = node_require(n, NODE_PERM_CASE_READ, action, case_id);

	if (error)
		return error;
	error = store_begin(n->store);
	if (!error)
		error = casedb_head(head, n, case_id);
	return error;
}

int casedb_view(struct casefile_view *out, struct node *n, const char *case_id)
{
	git_oid head;
	int error;

	memset(out, 0, sizeof(*out));
	error = begin_read(&head, n, "case.view", case_id);
	if (error == ERR_PERM)
		return error;
	if (!error)
		error = casefile_read(out, n->repo, &head);
	if (!error)
		error = node_audit(n, "case.view", case_id, "success", NULL);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		casefile_view_release(out);
		return node_audit_failure(n, "case.view", case_id, error);
	}
	return 0;
}

int casedb_history(struct casefile_rev **out, size_t *count, struct node *n, const char *case_id)
{
	struct casefile_rev *revs = NULL;
	size_t nrevs = 0;
	git_oid head;
	int error;

	error = begin_read(&head, n, "case.history", case_id);
	if (error == ERR_PERM)
		return error;
	if (!error)
		error = casefile_history(&revs, &nrevs, n->repo, &head, SIZE_MAX);
	if (!error)
		error = node_audit(n, "case.history", case_id, "success", NULL);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		casefile_history_free(revs, nrevs);
		return node_audit_failure(n, "case.history", case_id, error);
	}
	*out = revs;
	*count = nrevs;
	return 0;
}

int casedb_resolve(char out[SCHEMA_CASE_ID_MAX + 1], struct node *n, const char *id)
{
	size_t len = strlen(id);

	if (!schema_check_case_id(id)) {
		memcpy(out, id, len + 1);
		return 0;
	}
	if (!len || len > SCHEMA_CASE_ID_MAX ||
		strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != len)
		return err_set(ERR_INVALID, "'%s' is not a case id nor the start of one", id);
	return store_resolve_prefix(out, SCHEMA_CASE_ID_MAX + 1, n->store,
		"SELECT case_id FROM case_heads WHERE substr(case_id, 1, ?2) = ?1 ORDER BY 1 LIMIT 11",
		"case", id);
}

/* The cases a list or search handed to its caller: the first AUDIT_CASES_MAX ids and a count. */
struct shown {
	int (*fn)(void *ctx, const struct index_row *row);
	void *ctx;
	char ids[AUDIT_CASES_MAX][SCHEMA_CASE_ID_MAX + 1];
	const char *ptrs[AUDIT_CASES_MAX];
	size_t n;
	uint64_t count;
};

static int note_shown(void *ctx, const struct index_row *row)
{
	struct shown *s = ctx;
	int error = s->fn(s->ctx, row);

	if (!error && s->n < AUDIT_CASES_MAX) {
		snprintf(s->ids[s->n], sizeof(s->ids[s->n]), "%s", row->case_id);
		s->ptrs[s->n] = s->ids[s->n];
		s->n++;
	}
	if (!error)
		s->count++;
	return error;
}

/* Each filter given must be a valid value of its field. */
static int check_filter(const struct index_filter *f)
{
	const struct {
		const char *field, *value;
	} checks[] = {{"status", f->status}, {"category", f->category}, {"assignee", f->assignee},
		{"subject_id", f->subject_id}, {"received_at", f->received_from},
		{"received_at", f->received_to}, {"received_at", f->overdue_on}};
	size_t i;
	int error = f->office ? schema_check_office(f->office) : 0;

	for (i = 0; !error && i < sizeof(checks) / sizeof(checks[0]); i++)
		if (checks[i].value)
			error = schema_check_value(schema_field(checks[i].field), checks[i].value);
	return error;
}

/* The audit detail of a list: its filters as NAME=VALUE words. */
static void filter_detail(char *out, size_t size, const struct index_filter *f)
{
	const struct {
		const char *name, *value;
	} words[] = {{"status", f->status}, {"office", f->office}, {"category", f->category},
		{"assignee", f->assignee}, {"subject_id", f->subject_id},
		{"received_from", f->received_from}, {"received_to", f->received_to},
		{"overdue_on", f->overdue_on}};
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(words) / sizeof(words[0]) && len < size; i++)
		if (words[i].value)
			len += (size_t)snprintf(out + len, size - len, "%s%s=%s", len ? " " : "",
				words[i].name, words[i].value);
}

int casedb_list(struct node *n, const struct index_filter *f,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx)
{
	static const struct index_filter none;
	struct shown *s = calloc(1, sizeof(*s));
	char detail[AUDIT_DETAIL_MAX];
	int error = s ? node_require(n, NODE_PERM_CASE_READ, "case.list", "")
		      : err_set(ERR_NOMEM, "out of memory");

	if (error) {
		free(s);
		return error;
	}
	if (!f)
		f = &none;
	s->fn = fn;
	s->ctx = ctx;
	filter_detail(detail, sizeof(detail), f);
	error = check_filter(f);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = index_list(n->store, f, note_shown, s);
	if (!error)
		error = node_audit_cases(n, "case.list", detail[0] ? detail : NULL, s->ptrs, s->n,
			s->count);
	free(s);
	if (!error)
		error = store_commit(n->store);
	return error ? node_audit_failure(n, "case.list", "", error) : 0;
}

int casedb_search(struct node *n, const char *query,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx)
{
	struct shown *s = calloc(1, sizeof(*s));
	int error = s ? node_require(n, NODE_PERM_CASE_READ, "case.search", "")
		      : err_set(ERR_NOMEM, "out of memory");

	if (error) {
		free(s);
		return error;
	}
	s->fn = fn;
	s->ctx = ctx;
	error = schema_check_text("the query", query, strlen(query), INDEX_QUERY_MAX);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = index_search(n->store, query, note_shown, s);
	if (!error)
		error = node_audit_cases(n, "case.search", query, s->ptrs, s->n, s->count);
	free(s);
	if (!error)
		error = store_commit(n->store);
	return error ? node_audit_failure(n, "case.search", "", error) : 0;
}

/* ---- check ------------------------------------------------------------------------------ */

static int rehash_objects(long long *count, struct node *n)
{
	sqlite3_stmt *st = NULL;
	git_oid want, got;
	int rc, error;

	error = store_prepare(&st, n->store, "SELECT oid, type, data FROM objects");
	if (error)
		return error;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *data = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);

		if (sqlite3_column_bytes(st, 0) != GIT_OID_RAWSZ) {
			error = err_set(ERR_CORRUPT, "an object has a malformed id");
			break;
		}
		git_oid_fromraw(&want, sqlite3_column_blob(st, 0));
		if (git_odb_hash(&got, data ? data : "", len,
			    (git_object_t)sqlite3_column_int(st, 1)) < 0 ||
			!git_oid_equal(&want, &got)) {
			error = err_set(ERR_CORRUPT, "object %s does not match its content",
				git_oid_tostr_s(&want));
			break;
		}
		(*count)++;
	}
	if (!error && rc != SQLITE_DONE)
		error = store_error(n->store, "cannot read objects");
	sqlite3_finalize(st);
	return error;
}

struct reach {
	struct node *n;
	sqlite3_stmt *seen;
	long long commits;
	int error;
};

/* 1 if the id was seen before (and records it), 0 if new, <0 on error. */
static int seen_before(struct reach *r, const git_oid *id)
{
	int rc;

	sqlite3_reset(r->seen);
	sqlite3_bind_blob(r->seen, 1, id->id, GIT_OID_RAWSZ, SQLITE_TRANSIENT);
	rc = sqlite3_step(r->seen);
	if (rc != SQLITE_DONE)
		return store_error(r->n->store, "cannot track visited objects");
	return store_changes(r->n->store) == 0;
}

static int reach_entry(const char *root, const git_tree_entry *e, void *payload)
{
	struct reach *r = payload;
	git_odb *odb = NULL;
	int seen;

	(void)root;
	seen = seen_before(r, git_tree_entry_id(e));
	if (seen < 0) {
		r->error = seen;
		return -1;
	}
	if (seen)
		return git_tree_entry_type(e) == GIT_OBJECT_TREE ? 1 : 0; /* skip subtree */
	if (git_repository_odb(&odb, r->n->repo) < 0 || !git_odb_exists(odb, git_tree_entry_id(e))) {
		r->error = err_set(ERR_CORRUPT, "object %s (%s) is missing",
			git_oid_tostr_s(git_tree_entry_id(e)), git_tree_entry_name(e));
		git_odb_free(odb);
		return -1;
	}
	git_odb_free(odb);
	return 0;
}

static int reach_commit(struct reach *r, const git_oid *id)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	int rc, error = 0;

	rc = git_commit_lookup(&c, r->n->repo, id);
	if (rc >= 0)
		rc = git_commit_tree(&tree, c);
	if (rc < 0) {
		error = err_set(ERR_CORRUPT, "commit %s or its tree is missing", git_oid_tostr_s(id));
		goto out;
	}
	r->commits++;
	if (seen_before(r, git_tree_id(tree)) == 0) {
		rc = git_tree_walk(tree, GIT_TREEWALK_PRE, reach_entry, r);
		if (r->error)
			error = r->error;
		else if (rc < 0)
			error = err_set(ERR_CORRUPT, "a tree of commit %s cannot be read",
				git_oid_tostr_s(id));
	}
out:
	git_tree_free(tree);
	git_commit_free(c);
	return error;
}

static int reach_case(struct reach *r, const char *case_id, const git_oid *head)
{
	git_revwalk *walk = NULL;
	git_oid id;
	int rc, error = 0;

	rc = git_revwalk_new(&walk, r->n->repo);
	if (rc >= 0)
		rc = git_revwalk_push(walk, head);
	while (rc >= 0 && !error && (rc = git_revwalk_next(&id, walk)) == 0)
		error = reach_commit(r, &id);
	if (!error && rc < 0 && rc != GIT_ITEROVER)
		error = err_set(ERR_CORRUPT, "history of case '%s' is broken", case_id);
	git_revwalk_free(walk);
	return error;
}

static int check_reachability(long long *cases, long long *commits, struct node *n)
{
	struct reach r = {n, NULL, 0, 0};
	sqlite3_stmt *st = NULL;
	git_oid head;
	int rc, error;

	error = store_exec(n->store, "CREATE TEMP TABLE IF NOT EXISTS check_seen"
				     " (oid BLOB PRIMARY KEY) WITHOUT ROWID;"
				     "DELETE FROM temp.check_seen;");
	if (!error)
		error = store_prepare(&r.seen, n->store,
			"INSERT OR IGNORE INTO temp.check_seen(oid) VALUES (?)");
	if (!error)
		error = store_prepare(&st, n->store, "SELECT case_id, head FROM case_heads");
	while (!error && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 1) != GIT_OID_RAWSZ) {
			error = err_set(ERR_CORRUPT, "case '%s' has a malformed head",
				(const char *)sqlite3_column_text(st, 0));
			break;
		}
		git_oid_fromraw(&head, sqlite3_column_blob(st, 1));
		error = reach_case(&r, (const char *)sqlite3_column_text(st, 0), &head);
		(*cases)++;
	}
	*commits = r.commits;
	sqlite3_finalize(st);
	sqlite3_finalize(r.seen);
	return error;
}

/* Every chunk an item of a case lists is held (chunks arrive before the item that lists them). */
static int check_evidence(struct node *n)
{
	struct buf missing = BUF_INIT((size_t)64 << 20);
	sqlite3_stmt *st = NULL;
	char hex[2 * CHUNKS_HASH_LEN + 1];
	git_oid head;
	int error = store_prepare(&st, n->store, "SELECT case_id, head FROM case_heads");

	while (!error && (error = store_next(n->store, st)) > 0) {
		error = 0;
		if (sqlite3_column_bytes(st, 1) != GIT_OID_RAWSZ)
			continue; /* check_reachability names it */
		git_oid_fromraw(&head, sqlite3_column_blob(st, 1));
		buf_reset(&missing);
		error = evidence_missing_chunks(&missing, NULL, n->store, n->repo, &head);
		if (!error && missing.len) {
			crypto_hex(hex, (const uint8_t *)missing.ptr, CHUNKS_HASH_LEN);
			error = err_set(ERR_CORRUPT,
				"case '%s': an evidence item lists chunk %s, "
				"which is not in the store",
				(const char *)sqlite3_column_text(st, 0), hex);
		}
	}
	sqlite3_finalize(st);
	buf_release(&missing);
	return error;
}

/* The checks of casedb_check(), in one transaction, recording nothing. */
static int verify(struct casedb_check_report *rep, struct node *n)
{
	int error = store_integrity_check(n->store);

	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = rehash_objects(&rep->objects, n);
	if (!error)
		error = check_reachability(&rep->cases, &rep->commits, n);
	if (!error)
		error = index_check(n->store, n->repo);
	if (!error)
		error = chunks_check(&rep->chunks, &rep->chunk_bytes, n->store);
	if (!error)
		error = check_evidence(n);
	if (!error)
		error = audit_check(&rep->audit_entries, n->store);
	return error;
}

int casedb_check(struct casedb_check_report *out, struct node *n)
{
	struct casedb_check_report rep;
	int error;

	memset(&rep, 0, sizeof(rep));
	error = node_require(n, NODE_PERM_CASE_READ, "node.check", "");
	if (error)
		return error;
	error = verify(&rep, n);
	if (!error)
		error = node_audit(n, "node.check", "", "success", NULL);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		store_rollback(n->store);
		return node_audit_failure(n, "node.check", "", error);
	}
	*out = rep;
	return 0;
}

int casedb_verify(struct casedb_check_report *out, struct node *n)
{
	struct casedb_check_report rep;
	int error;

	memset(&rep, 0, sizeof(rep));
	error = verify(&rep, n);
	store_rollback(n->store); /* nothing was written: the check only read */
	if (!error)
		*out = rep;
	return error;
}

int casedb_set_base(struct node *n, const char *case_id, const git_oid *base)
{
	return store_run(n->store, "UPDATE OR FAIL case_heads SET base = ? WHERE case_id = ?", "bt",
		base->id, (size_t)GIT_OID_RAWSZ, case_id);
}

int casedb_unpushed(struct node *n, const char *after, size_t max,
	int (*fn)(void *ctx, const char *case_id, const git_oid *head, const git_oid *base),
	void *ctx)
{
	sqlite3_stmt *st = NULL;
	int own = sqlite3_get_autocommit(store_db(n->store)), error = 0;

	/* one read transaction: one snapshot for the whole list, and the objects the callback
	 * reads (a push reads each tree twice, as a commit's and as its child's parent's) are
	 * kept for it (odb.c) */
	if (own)
		error = store_begin_read(n->store);
	/* the partial index case_heads_unpushed answers this without a scan */
	if (!error)
		error = store_bind(&st, n->store,
			"SELECT case_id, head, base FROM case_heads WHERE base IS NOT head AND case_id > ?"
			" ORDER BY case_id LIMIT ?",
			"ti", after, (int64_t)max);
	while (!error && (error = store_next(n->store, st)) > 0) {
		git_oid head, base;
		int has_base = sqlite3_column_bytes(st, 2) == GIT_OID_RAWSZ;

		if (sqlite3_column_bytes(st, 1) != GIT_OID_RAWSZ) {
			error = err_set(ERR_CORRUPT, "case '%s' has a malformed head",
				(const char *)sqlite3_column_text(st, 0));
			break;
		}
		git_oid_fromraw(&head, sqlite3_column_blob(st, 1));
		if (has_base)
			git_oid_fromraw(&base, sqlite3_column_blob(st, 2));
		error = fn(ctx, (const char *)sqlite3_column_text(st, 0), &head,
			has_base ? &base : NULL);
	}
	sqlite3_finalize(st);
	if (own)
		store_rollback(n->store); /* it only read */
	return error;
}

int casedb_base(git_oid *out, int *has_base, struct node *n, const char *case_id)
{
	uint8_t raw[GIT_OID_RAWSZ];
	struct buf base = BUF_INIT(GIT_OID_RAWSZ);
	int error = store_query_bytes(&base, n->store,
		"SELECT base FROM case_heads WHERE case_id = ?", "t", case_id);

	/* no case, no base yet, or one that is not an id: nothing synced */
	*has_base = !error && base.len == GIT_OID_RAWSZ;
	if (*has_base) {
		memcpy(raw, base.ptr, GIT_OID_RAWSZ);
		git_oid_fromraw(out, raw);
	}
	buf_release(&base);
	return error == ERR_NOTFOUND || error == ERR_TOOBIG ? 0 : error;
}
