/*
 * shared/node/casedb.h - case work on a node: each operation is one transaction that moves the case
 * head, updates the derived tables and records the audit event, or changes nothing.
 *
 * Reads are audited too (case.view, case.list, case.search with its query, case.history).
 */
#ifndef FIELDSYNC_CASEDB_H
#define FIELDSYNC_CASEDB_H

#include <stdint.h>

#include <git2.h>

#include "case/casefile.h"
#include "base/err.h"
#include "case/index.h"
#include "node/node.h"

/* Create a case owned by the node's office; *id_out receives its id. */
int casedb_create(char id_out[SCHEMA_CASE_ID_MAX + 1], struct node *n,
	const struct casefile_change *chg) WUR;

/*
 * Create a case owned by `office` (HQ's intake: NODE_PERM_INTAKE; the caller checks the
 * office exists), audited as case.intake; the office's devices receive it at their next
 * sync.  Errors as casedb_create().
 */
int casedb_intake(char id_out[SCHEMA_CASE_ID_MAX + 1], struct node *n, const char *office,
	const struct casefile_change *chg) WUR;

/*
 * Apply `chg` (field sets, narrative, a note) to case `case_id`.  note_id_out (may be NULL)
 * receives the new note's id.  ERR_NOTFOUND (no such case), ERR_CONFLICT (no change),
 * ERR_INVALID/ERR_TOOBIG (schema), ERR_PERM.
 */
int casedb_edit(struct node *n, const char *case_id, const struct casefile_change *chg,
	char note_id_out[CASEFILE_NOTE_ID_MAX]) WUR;

/*
 * An existing record brought in whole (HQ's `case import`), inside the caller's transaction
 * and without an audit entry of its own (the caller audits the import): a case of `office`
 * with `chg`'s fields and narrative, then one commit per note.  The id's year is that of
 * `id_ms` (when the allegation came in).  The caller checks the role and the office.
 */
int casedb_import(char id_out[SCHEMA_CASE_ID_MAX + 1], struct node *n, const char *office,
	const struct casefile_change *chg, const char *const *notes, size_t nnotes,
	int64_t id_ms) WUR;

/*
 * casedb_edit() that also runs `then` inside its transaction, after the head moved (HQ's
 * transfer ends the old owner's access in the same transaction); an error from it undoes all.
 */
int casedb_edit_then(struct node *n, const char *case_id, const struct casefile_change *chg,
	char note_id_out[CASEFILE_NOTE_ID_MAX], int (*then)(void *ctx, struct node *n),
	void *ctx) WUR;

/*
 * Move case `case_id` to `head` inside the caller's transaction: the head (an agent's sync base
 * is kept), the next change sequence, the derived tables.  No audit event: the caller records
 * the operation.  ERR_CORRUPT if the head is not a readable case.
 */
int casedb_advance(struct node *n, const char *case_id, const git_oid *head) WUR;

/* Record `base` as the server head this device last saw of a case (sync; no audit). */
int casedb_set_base(struct node *n, const char *case_id, const git_oid *base) WUR;

/* The server head last seen of a case: *has_base 0 if none (never synced or no such case). */
int casedb_base(git_oid *out, int *has_base, struct node *n, const char *case_id) WUR;

/*
 * The cases with work the server has not seen (head differs from base), by id after `after`
 * ("" from the start), at most `max`; `base` is NULL for a case never synced.  A non-zero
 * return of fn stops the walk and is returned.
 */
int casedb_unpushed(struct node *n, const char *after, size_t max,
	int (*fn)(void *ctx, const char *case_id, const git_oid *head, const git_oid *base),
	void *ctx) WUR;

/* The current head of a case. ERR_NOTFOUND. */
int casedb_head(git_oid *out, struct node *n, const char *case_id) WUR;

/* Read a case (audited as case.view). */
int casedb_view(struct casefile_view *out, struct node *n, const char *case_id) WUR;

/* A case's history (audited as case.history). */
int casedb_history(struct casefile_rev **out, size_t *count, struct node *n,
	const char *case_id) WUR;

/*
 * A case id as typed: a full id as it is, or a unique prefix of a case this node holds
 * (git-style: "ELP-26-7K") made whole.  ERR_INVALID (neither), ERR_NOTFOUND, or ERR_CONFLICT
 * listing the candidates.
 */
int casedb_resolve(char out[SCHEMA_CASE_ID_MAX + 1], struct node *n, const char *id) WUR;

/*
 * List (audited as case.list with its filters; `f` NULL for all cases) and search (audited as
 * case.search with the query); the entry names the cases handed to fn (the first
 * AUDIT_CASES_MAX ids, and how many in all).  ERR_INVALID for a filter value its field
 * would not take.
 */
int casedb_list(struct node *n, const struct index_filter *f,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx) WUR;
int casedb_search(struct node *n, const char *query,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx) WUR;

/*
 * Verify the node: database integrity, every stored object re-hashed, every object reachable
 * from a case head present, every evidence chunk re-hashed and every chunk an item lists
 * held, derived tables equal to a rebuild, the audit leaves.  Fills counts for a report.  ERR_CORRUPT naming the first problem.
 */
struct casedb_check_report {
	long long cases;
	long long objects;
	long long commits;
	uint64_t audit_entries;
	int64_t chunks;	     /* evidence chunks re-hashed */
	int64_t chunk_bytes; /* and their bytes */
};
int casedb_check(struct casedb_check_report *out, struct node *n) WUR;

/*
 * The checks of casedb_check() without the permission check or the audit entry: for a copy
 * of a database that must stay exactly as written (a backup being verified).
 */
int casedb_verify(struct casedb_check_report *out, struct node *n) WUR;

#endif
