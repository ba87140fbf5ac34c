/*
 * agent/sync.h - the sync of agent/sync.c for a caller other than `fieldsync-agent sync`: the
 * service's background sync runs the very same push, pull and merge, without printing.
 */
#ifndef FIELDSYNC_AGENT_SYNC_H
#define FIELDSYNC_AGENT_SYNC_H

#include "node/node.h"

/* What one sync did (the numbers `sync` prints). */
struct sync_report {
	long pushed, pulled, merged, conflicts, refused, audited;
	double seconds;
};

/* Progress of a running sync: "push" / "pull" / ..., done of total (0: unknown). */
typedef void (*sync_progress_fn)(void *ctx, const char *what, long done, long total);

/*
 * One sync of the node `n` (borrowed; its user must be allowed to write cases), audited as the
 * `sync` command is; progress goes to fn (may be NULL), nothing is printed.  *out is filled
 * also on failure (what was done before it).  Returns 0, ERR_NOTFOUND (not enrolled), ERR_IO
 * (HQ unreachable: the message says why), ERR_AUTH (refused; a refused case names it), or
 * another code.
 */
int sync_background(struct sync_report *out, struct node *n, sync_progress_fn fn, void *ctx) WUR;

#endif
