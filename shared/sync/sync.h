/*
 * shared/sync/sync.h - moving case histories between nodes (DESIGN.md sections 2 and 4): what a
 * sender puts into a change set, and how a receiver takes one case out of it.
 *
 * Sender: sync_collect() adds the commits of a head the receiver lacks (those not reachable
 * from the heads it is known to have) and, for each, only the trees and blobs that differ from
 * its parents at the same path: a single-field edit is a commit, two trees and a blob.
 *
 * Receiver: sync_ingest() walks from an announced head through the change set, stores every
 * object the store lacks and refuses the case if anything reachable is missing (the store holds
 * only complete histories, so the walk stops at objects it already has).  sync_check_commit()
 * validates a new commit: attribution, and every changed path of its tree against the case
 * schema.  Both run inside the caller's transaction.
 */
#ifndef FIELDSYNC_SYNC_H
#define FIELDSYNC_SYNC_H

#include <stddef.h>

#include <git2.h>

#include "sync/changeset.h"
#include "base/err.h"

/* Add to `w` what a receiver holding `haves` (unknown ids are ignored) lacks of `head`. */
int sync_collect(struct changeset_writer *w, git_repository *repo, const git_oid *head,
	const git_oid *haves, size_t nhaves) WUR;

/*
 * Store the objects of `cs` reachable from `head` that the repository lacks.  *commits_out
 * (malloc'd, may be NULL when none) lists the commits newly stored.  ERR_INVALID when an object
 * reachable from the head is neither in the store nor in the change set, or is malformed.
 */
int sync_ingest(git_oid **commits_out, size_t *ncommits_out, git_repository *repo,
	const struct changeset *cs, const git_oid *head) WUR;

/*
 * 1 if one of `commits` (sync_ingest's list: each in `cs` and reachable from the head it
 * walked) names `ancestor` as a parent, so that the head descends from it (a fast-forward,
 * without walking the history); else 0, which proves nothing.
 */
int sync_extends(const struct changeset *cs, const git_oid *commits, size_t n,
	const git_oid *ancestor);

/* What sync_check_commit() requires of a commit. */
struct sync_rules {
	const char *case_id; /* meta/id must name it */
	const char *device;  /* the commit must be attributed to this device, or NULL: any */
	const char *office;  /* ...and this office, or NULL: any */
	int allow_transfer;  /* meta/office may change (pulled from HQ), else refused */
};

/*
 * Validate commit `id` (already stored) of a case: attribution and every path that differs
 * from its first parent against the case schema.  ERR_INVALID / ERR_PERM with the reason.
 */
int sync_check_commit(git_repository *repo, const git_oid *id, const struct sync_rules *rules) WUR;

/* sync_check_commit() of each of `ids` in turn; a commit that is the first parent of the one
 * before it (sync_ingest lists a history newest first) is not read and parsed again. */
int sync_check_commits(git_repository *repo, const git_oid *ids, size_t n,
	const struct sync_rules *rules) WUR;

/* The office a case head names in meta/office.  ERR_CORRUPT if missing. */
int sync_head_office(char office[SCHEMA_OFFICE_MAX + 1], git_repository *repo, const git_oid *head) WUR;

#endif
