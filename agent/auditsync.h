/*
 * agent/auditsync.h - the device side of the audit trail (DESIGN.md section 7): at every sync
 * the new entries go to HQ with a checkpoint signed by the device key and a consistency proof
 * from the last checkpoint HQ countersigned; HQ's receipt is verified and kept.
 */
#ifndef FIELDSYNC_AGENT_AUDITSYNC_H
#define FIELDSYNC_AGENT_AUDITSYNC_H

#include "base/buf.h"
#include "cli.h"
#include "net.h"
#include "node/node.h"

#define AUDITSYNC_BATCH 5000 /* entries per upload request */

/*
 * Upload every entry HQ has not countersigned.  `key` is the device key, `cert` and `ca` the
 * device and CA certificates (DER).  *uploaded gets the number of entries sent.  ERR_AUTH with
 * HQ's reason if HQ refuses the trail (a log shorter than or inconsistent with what HQ
 * countersigned), ERR_IO for the network.  While a batch is at HQ the next is built, then
 * `meanwhile(ctx)` runs (NULL: nothing), on this thread, at least once (even when there is
 * nothing to upload), so it must be idempotent.  An error it returns ends the upload.
 */
int auditsync_upload(long *uploaded, struct node *n, struct net *net, const char *base_url,
	const struct buf *key, const struct buf *cert, const struct buf *ca,
	int (*meanwhile)(void *ctx), void *ctx) WUR;

#endif
