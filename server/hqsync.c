/* server/hqsync.c - push, changes feed and fetch. */
#include "hqsync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "node/casedb.h"
#include "sync/changeset.h"
#include "base/crypto.h"
#include "case/merge.h"
#include "hq.h"
#include "hqdb.h"
#include "hqevidence.h"
#include "sync/sync.h"

static int fail(int *status, struct buf *out, int code, int error)
{
	*status = code;
	buf_reset(out);
	return hq_json_out(out, json_pack("{s:s}", "error", err_msg())) ? error : 0;
}

int hq_case_visible(int *visible, char owner_out[SCHEMA_OFFICE_MAX + 1], struct node *n,
	const char *case_id, const char *office)
{
	sqlite3_stmt *st = NULL;
	int rc, error;

	error = store_bind(&st, n->store,
		"SELECT i.office, i.office = ?2 OR EXISTS (SELECT 1 FROM case_shares s"
		"  WHERE s.case_id = i.case_id AND s.office = ?2) FROM case_index i"
		" WHERE i.case_id = ?1",
		"tt", case_id, office);
	rc = error ? error : store_next(n->store, st);
	if (rc > 0) {
		/* devices only: HQ reads cases through its own node, never through this path */
		*visible = sqlite3_column_int(st, 1);
		if (owner_out)
			snprintf(owner_out, SCHEMA_OFFICE_MAX + 1, "%s",
				(const char *)sqlite3_column_text(st, 0));
	} else if (rc == 0) {
		error = err_set(ERR_NOTFOUND, "no case '%s'", case_id);
	} else {
		error = rc;
	}
	sqlite3_finalize(st);
	return error;
}

/*
 * Work an office wrote on a case before it learned that it lost it (a transfer, an unshare):
 * accepted and merged like any edit when the change set is based on the head at which the
 * office lost it, or an earlier one (the office could not have seen anything later), so
 * nothing written offline is lost; the device then purges the case.  *ok = 1 if so.
 */
static int revoked_but_based_before(int *ok, struct node *n, const struct hq_peer *peer,
	const struct changeset_case *c)
{
	git_oid revoked;
	int found = 0,
	    error = hqdb_case_revoked_head(&revoked, &found, n->store, c->id, peer->office);

	*ok = 0;
	if (!error && found && c->has_base)
		*ok = git_oid_equal(&revoked, &c->base) ||
		      git_graph_descendant_of(n->repo, &revoked, &c->base) == 1;
	return error;
}

/* One pushed case: store, validate, advance.  Sets *kind for the result. */
static int push_case(const char **kind, size_t *conflicts, git_oid *result, struct node *n,
	const struct hq_peer *peer, const struct changeset *cs, const struct changeset_case *c)
{
	struct sync_rules rules = {c->id, peer->device, peer->office, 0};
	struct casefile_author hq = {n->user, n->office, n->device, {0, 0}, n->role};
	struct merge_result mr = {{{0}}, 0, 0, 0};
	char owner[SCHEMA_OFFICE_MAX + 1];
	git_oid server_head, *commits = NULL;
	size_t ncommits = 0;
	int visible = 0, exists, error;

	error = casedb_head(&server_head, n, c->id);
	exists = error == 0;
	if (error == ERR_NOTFOUND)
		error = 0;
	if (!error && exists)
		error = hq_case_visible(&visible, owner, n, c->id, peer->office);
	/* An existing case of another office is refused after the same checks and in the same
	 * words as a new case claiming one: the answer must not tell whether the case exists. */
	if (!error)
		error = sync_ingest(&commits, &ncommits, n->repo, cs, &c->head);
	if (!error)
		error = sync_check_commits(n->repo, commits, ncommits, &rules);
	if (!error && !exists)
		error = sync_head_office(owner, n->repo, &c->head);
	if (!error && exists && !visible)
		error = revoked_but_based_before(&visible, n, peer, c);
	if (!error && (exists ? !visible : strcmp(owner, peer->office) != 0))
		error = err_set(ERR_PERM, "case '%s' is not a case office %s may write", c->id,
			peer->office);
	if (!error && !exists) {
		*kind = "created";
		*conflicts = 0;
		*result = c->head;
	} else if (!error && sync_extends(cs, commits, ncommits, &server_head)) {
		*kind = "fast-forward"; /* a commit of this push is a child of HQ's head */
		*conflicts = 0;
		*result = c->head;
	} else if (!error) {
		error = node_next_hlc(&hq.hlc, n);
		if (!error)
			error = merge_commits(&mr, n->repo, c->id, &server_head, &c->head, &hq);
		*kind = mr.kind == MERGE_MERGED ? "merged" : mr.kind == MERGE_FAST_FORWARD
								     ? "fast-forward"
								     : "up-to-date";
		*conflicts = mr.conflicts;
		*result = mr.head;
	}
	if (!error)
		error = hq_evidence_require(n, c->id, result);
	if (!error && !(exists && git_oid_equal(result, &server_head)))
		error = casedb_advance(n, c->id, result);
	free(commits);
	return error;
}

static int savepoint(struct node *n, const char *sql)
{
	return store_exec(n->store, sql);
}

/* push_cases() without savepoints met a refused case: the push is done again with them. */
#define PUSH_AGAIN 1

/*
 * Every case of the change set; the results as JSON.  With `savepoints`, each case in its own,
 * so that a refused case leaves nothing; without, for the usual push that refuses nothing:
 * SQLCipher 3.4.1 encrypts every page image it keeps for a savepoint, even in memory (one per
 * page a case first touches: 40,000 rows in savepoints of 10 took 0.61 s against 0.08 s
 * without, measured), and that was a fifth of HQ's time for workload W.  The first refusal
 * then returns PUSH_AGAIN, and the caller rolls back and pushes again with them.
 */
static int push_cases(json_t *results, size_t *accepted, size_t *refused, struct node *n,
	const struct hq_peer *peer, const struct changeset *cs, int savepoints)
{
	size_t i;
	int error = 0;

	for (i = 0; !error && i < cs->ncases; i++) {
		const struct changeset_case *c = &cs->cases[i];
		const char *kind = "";
		size_t conflicts = 0;
		git_oid head;
		int rc;

		error = savepoints ? savepoint(n, "SAVEPOINT push_case") : 0;
		if (error)
			break;
		rc = push_case(&kind, &conflicts, &head, n, peer, cs, c);
		if (rc == 0) {
			error = savepoints ? savepoint(n, "RELEASE push_case") : 0;
			json_array_append_new(results,
				json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", c->id, "status",
					"accepted", "kind", kind, "head", git_oid_tostr_s(&head),
					"conflicts", (json_int_t)conflicts));
			(*accepted)++;
			continue;
		}
		if (rc == ERR_NOMEM || rc == ERR_IO || rc == ERR_GENERIC)
			return rc;
		if (!savepoints)
			return PUSH_AGAIN;
		json_array_append_new(results, json_pack("{s:s, s:s, s:s}", "id", c->id, "status",
						       "refused", "reason", err_msg()));
		(*refused)++;
		error = savepoint(n, "ROLLBACK TO push_case");
		if (!error)
			error = savepoint(n, "RELEASE push_case");
		if (!error)
			error = node_audit(n, "sync.refused", c->id, "denied",
				json_string_value(json_object_get(json_array_get(results,
					json_array_size(results) - 1), "reason")));
	}
	return error;
}

static int keep_bundle(struct node *n, const struct hq_peer *peer, const struct changeset *cs,
	const char *result)
{
	char now[HLC_STR_MAX];

	hlc_iso8601(now, hlc_now_ms());
	return hqdb_bundle_add(n->store, cs->bundle, peer->device, now, cs->signed_part,
		cs->signed_len, cs->sig, cs->sig_len, result);
}

static int check_sender(const struct changeset *cs, const struct hq_peer *peer)
{
	if (strcmp(cs->device, peer->device) || strcmp(cs->office, peer->office))
		return err_set(ERR_PERM,
			"the change set names device %s of office %s, but the certificate is device "
			"%s of office %s",
			cs->device, cs->office, peer->device, peer->office);
	return changeset_verify(cs, peer->pub, peer->publen);
}

static int push_txn(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const struct changeset *cs)
{
	json_t *results = json_array();
	char bundle_hex[2 * CHANGESET_BUNDLE_LEN + 1], detail[160];
	size_t accepted = 0, refused = 0;
	int found = 0, error;

	crypto_hex(bundle_hex, cs->bundle, CHANGESET_BUNDLE_LEN);
	error = results ? store_begin(n->store) : err_set(ERR_NOMEM, "out of memory");
	if (!error)
		error = hqdb_bundle_result(&found, out, n->store, cs->bundle);
	if (!error && !found)
		error = push_cases(results, &accepted, &refused, n, peer, cs, 0);
	if (error == PUSH_AGAIN) { /* a case is refused: again, each case in a savepoint */
		store_rollback(n->store);
		json_array_clear(results);
		accepted = refused = 0;
		error = store_begin(n->store);
		if (!error)
			error = hqdb_bundle_result(&found, out, n->store, cs->bundle);
		if (!error && !found)
			error = push_cases(results, &accepted, &refused, n, peer, cs, 1);
	}
	if (!error && !found)
		error = hq_json_out(out, json_pack("{s:s, s:I, s:I, s:O}", "bundle", bundle_hex,
						 "accepted", (json_int_t)accepted, "refused",
						 (json_int_t)refused, "cases", results));
	if (!error && !found)
		error = keep_bundle(n, peer, cs, out->ptr);
	snprintf(detail, sizeof(detail), "bundle %s: %zu cases accepted, %zu refused, %zu objects%s",
		bundle_hex, accepted, refused, cs->nobjects, found ? " (a retry: stored result)" : "");
	if (!error)
		error = node_audit(n, "sync.push", peer->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	json_decref(results);
	if (error) {
		store_rollback(n->store);
		return fail(status, out, 500, node_audit_failure(n, "sync.push", peer->device, error));
	}
	*status = 200;
	return 0;
}

/* Record a refusal decided here as "denied"; returns `code` with the message kept. */
static int audit_denied(struct node *n, const char *action, const char *target, int code)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (node_audit(n, action, target, "denied", msg))
		return err_code();
	return err_set(code, "%s", msg);
}

int hq_push(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const uint8_t *body, size_t len)
{
	struct changeset cs;
	int error;

	error = changeset_decode(&cs, body, len);
	if (!error)
		error = check_sender(&cs, peer);
	if (error) {
		int code = error == ERR_PERM || error == ERR_AUTH ? 403 : error == ERR_TOOBIG ? 413 : 400;

		changeset_release(&cs);
		/* node_audit_failure() skips ERR_PERM (audited where decided): check_sender decides it */
		if (error == ERR_PERM)
			error = audit_denied(n, "sync.push", peer->device, error);
		else
			error = node_audit_failure(n, "sync.push", peer->device, error);
		return fail(status, out, code, error);
	}
	error = push_txn(status, out, n, peer, &cs);
	changeset_release(&cs);
	return error;
}

/* The tail of either reading of the feed: the cases the office may no longer see, named so its
 * devices purge them; in sequence order, a page at a time. */
#define FEED_REVOKED                                                                               \
	" UNION ALL SELECT r.case_id, r.head, r.seq, '', 1 FROM case_revocations r"                \
	" WHERE r.office = ?2 AND r.seq > ?1 ORDER BY 3 LIMIT ?3"

int hq_changes(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	uint64_t since, unsigned limit, json_t *pki, const char *generation)
{
	sqlite3_stmt *st = NULL;
	json_t *changes = json_array();
	int64_t cursor = (int64_t)since, top = 0, seen = 0;
	char detail[96];
	int rc = 0, error, rows = 0, by_office = 0;

	if (limit == 0 || limit > HQSYNC_CHANGES_MAX)
		limit = HQSYNC_CHANGES_MAX;
	/* A snapshot, not HQ's write lock: a new device's first feed of a large store reads for
	 * seconds, and every push and upload would wait behind it (tests/bench/loadgen). */
	error = changes ? store_begin_read(n->store) : err_set(ERR_NOMEM, "out of memory");
	if (!error)
		error = store_query_int64(&top, n->store,
			"SELECT coalesce(max(seq), 0) FROM case_heads", "");
	/* Near the newest change, the feed is read by sequence and filtered to the office.  A
	 * first feed, or one far behind, is read through the office's own and shared cases
	 * instead when they are fewer than the changes to walk: at 1,000,000 cases the walk
	 * of every change took 10 s of a CPU for the few hundred cases an office sees
	 * (docs/SCALING.md).  The same rows either way. */
	if (!error && (since == 0 || top - (int64_t)since > HQSYNC_FAR)) {
		error = store_query_int64(&seen, n->store,
			"SELECT (SELECT count(*) FROM case_index WHERE office = ?1) +"
			" (SELECT count(*) FROM case_shares WHERE office = ?1)",
			"t", peer->office);
		by_office = !error && seen < top - (int64_t)since;
	}
	if (!error)
		error = store_bind(&st, n->store,
			by_office
				? "SELECT h.case_id, h.head, h.seq, i.office, 0 FROM case_index i"
				  " JOIN case_heads h ON h.case_id = i.case_id"
				  " WHERE i.office = ?2 AND h.seq > ?1"
				  " UNION ALL SELECT h.case_id, h.head, h.seq, i.office, 0"
				  " FROM case_shares s JOIN case_heads h ON h.case_id = s.case_id"
				  " JOIN case_index i ON i.case_id = s.case_id"
				  " WHERE s.office = ?2 AND i.office != ?2 AND h.seq > ?1" FEED_REVOKED
				: "SELECT h.case_id, h.head, h.seq, i.office, 0 FROM case_heads h"
				  " JOIN case_index i ON i.case_id = h.case_id"
				  " WHERE h.seq > ?1 AND (i.office = ?2 OR EXISTS (SELECT 1"
				  "   FROM case_shares s WHERE s.case_id = h.case_id"
				  "   AND s.office = ?2))" FEED_REVOKED,
			"iti", (int64_t)since, peer->office, (int64_t)limit);
	while (!error && (rc = store_next(n->store, st)) > 0) {
		git_oid head;

		if (sqlite3_column_bytes(st, 1) != GIT_OID_RAWSZ) {
			error = err_set(ERR_CORRUPT, "a case head is malformed");
			break;
		}
		git_oid_fromraw(&head, sqlite3_column_blob(st, 1));
		cursor = sqlite3_column_int64(st, 2);
		json_array_append_new(changes,
			sqlite3_column_int(st, 4)
				? json_pack("{s:s, s:s, s:b}", "id",
					  (const char *)sqlite3_column_text(st, 0), "head",
					  git_oid_tostr_s(&head), "revoked", 1)
				: json_pack("{s:s, s:s, s:s}", "id",
					  (const char *)sqlite3_column_text(st, 0), "head",
					  git_oid_tostr_s(&head), "office",
					  (const char *)sqlite3_column_text(st, 3)));
		rows++;
	}
	if (!error && rc < 0)
		error = rc;
	sqlite3_finalize(st);
	/* Fewer rows than the limit: every change up to the newest was seen (and filtered). */
	if (!error && (unsigned)rows < limit && top > cursor)
		cursor = top;
	snprintf(detail, sizeof(detail), "since %llu: %d changed cases", (unsigned long long)since,
		rows);
	if (!error)
		error = store_commit(n->store); /* the read ends */
	/* a contact with nothing new is on record already (audit.upload opens every sync); the
	 * answer goes out only once its entry is committed */
	if (!error && rows)
		error = store_begin(n->store);
	if (!error && rows)
		error = node_audit(n, "sync.changes", peer->device, "success", detail);
	if (!error && rows)
		error = store_commit(n->store);
	if (!error)
		error = hq_json_out(out,
			json_pack("{s:O, s:I, s:b, s:O*, s:s?}", "changes", changes, "cursor",
				(json_int_t)cursor, "more", (unsigned)rows == limit, "pki", pki,
				"generation", generation));
	json_decref(changes);
	if (error) {
		store_rollback(n->store);
		return fail(status, out, 500, error);
	}
	*status = 200;
	return 0;
}

/* The ids a device says it has of one case (unknown ones are skipped by sync_collect). */
static int parse_haves(git_oid *haves, size_t *n, json_t *list)
{
	size_t i;

	*n = 0;
	if (list && !json_is_array(list))
		return err_set(ERR_INVALID, "'have' must be a list");
	for (i = 0; i < json_array_size(list) && *n < 4; i++) {
		const char *hex = json_string_value(json_array_get(list, i));

		if (!hex || strlen(hex) != GIT_OID_HEXSZ || git_oid_fromstr(&haves[*n], hex) < 0)
			return err_set(ERR_INVALID, "'have' holds a malformed id");
		(*n)++;
	}
	return 0;
}

/* Add one requested case if visible; *added says whether it went in. */
static int fetch_case(int *added, struct changeset_writer *w, struct node *n,
	const struct hq_peer *peer, json_t *item)
{
	struct changeset_case c;
	const char *id = json_string_value(json_object_get(item, "id"));
	git_oid haves[4];
	size_t nhaves = 0;
	int visible = 0, error;

	*added = 0;
	memset(&c, 0, sizeof(c));
	if (!id || schema_check_case_id(id))
		return err_set(ERR_INVALID, "a requested case id is malformed");
	error = parse_haves(haves, &nhaves, json_object_get(item, "have"));
	if (!error)
		error = hq_case_visible(&visible, c.office, n, id, peer->office);
	if (error == ERR_NOTFOUND || (!error && !visible))
		return 0; /* never say more about a case the office may not see */
	snprintf(c.id, sizeof(c.id), "%s", id);
	if (!error)
		error = casedb_head(&c.head, n, id);
	if (!error)
		error = sync_collect(w, n->repo, &c.head, haves, nhaves);
	if (!error)
		error = changeset_writer_add_case(w, &c);
	*added = !error;
	return error;
}

static int fetch_build(struct buf *out, size_t *sent, struct node *n, const struct hq_peer *peer,
	json_t *cases)
{
	struct changeset_writer *w = NULL;
	uint8_t bundle[CHANGESET_BUNDLE_LEN];
	size_t i;
	int more = 0, added = 0, error;

	*sent = 0;
	error = crypto_random(bundle, sizeof(bundle));
	if (!error)
		error = changeset_writer_new(&w);
	for (i = 0; !error && i < json_array_size(cases); i++) {
		if (changeset_writer_size(w) >= HQSYNC_FETCH_SPLIT) {
			more = 1;
			break;
		}
		error = fetch_case(&added, w, n, peer, json_array_get(cases, i));
		*sent += (size_t)added;
	}
	if (!error)
		error = changeset_writer_finish(out, w, bundle, n->device, n->office, 0, more, NULL, 0);
	changeset_writer_free(w);
	return error;
}

int hq_fetch(int *status, struct buf *out, int *is_changeset, struct node *n,
	const struct hq_peer *peer, const char *body, size_t len)
{
	json_t *doc = json_loadb(body ? body : "", len, 0, NULL), *cases = json_object_get(doc, "cases");
	char detail[96];
	size_t sent = 0;
	int error = 0;

	*is_changeset = 0;
	if (!json_is_array(cases) || json_array_size(cases) > HQSYNC_FETCH_CASES_MAX)
		error = err_set(ERR_INVALID, "a fetch names a list of at most %d cases",
			HQSYNC_FETCH_CASES_MAX);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = fetch_build(out, &sent, n, peer, cases);
	snprintf(detail, sizeof(detail), "%zu of %zu requested cases sent", sent,
		json_array_size(cases));
	if (!error)
		error = node_audit(n, "sync.pull", peer->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	json_decref(doc);
	if (error) {
		store_rollback(n->store);
		return fail(status, out, error == ERR_INVALID ? 400 : 500,
			node_audit_failure(n, "sync.pull", peer->device, error));
	}
	*status = 200;
	*is_changeset = 1;
	return 0;
}
