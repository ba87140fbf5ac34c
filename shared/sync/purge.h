/*
 * shared/sync/purge.h - removing a case from a device that may no longer see it (HQ moved it
 * to another office or ended a share): its objects, derived rows, full-text entries and
 * evidence chunks, in one transaction with SQLite's secure delete, so that the freed pages
 * hold nothing of it.  Whatever other cases still use (a shared blob, a deduplicated chunk)
 * stays.  The purge itself is an audit event, and reaches HQ with the next audit upload.
 */
#ifndef FIELDSYNC_PURGE_H
#define FIELDSYNC_PURGE_H

#include <stdint.h>

#include "node/node.h"

struct purge_counts {
	uint64_t objects; /* git objects deleted */
	uint64_t chunks;  /* evidence chunks deleted */
};

/*
 * Remove case `case_id` and everything only it holds, audited as case.purge with `reason`.
 * The caller has made sure no work on it is lost (HQ holds the head, or took the work).
 * ERR_NOTFOUND if the node holds no such case.
 */
int purge_case(struct purge_counts *out, struct node *n, const char *case_id,
	const char *reason) WUR;

#endif
