/*
 * server/hqaudit.h - HQ's side of the audit trail (DESIGN.md section 7): receiving each
 * device's entries with its signed checkpoint, verifying them against everything HQ already
 * holds of that device, countersigning, and refusing (with a security alert and a hold on the
 * device) a trail that went back or was changed.  The commands over the consolidated trail
 * are server/cmd_audit.c.
 */
#ifndef FIELDSYNC_SERVER_HQAUDIT_H
#define FIELDSYNC_SERVER_HQAUDIT_H

#include <stddef.h>

#include "base/buf.h"
#include "cli.h"
#include "hqsync.h"
#include "node/node.h"

#define HQAUDIT_BATCH_MAX 20000 /* entries per upload */
/* entries HQ takes past a device's newest seal (docs/AUDIT.md section 3) */
#define HQAUDIT_UNSEALED_MAX HQAUDIT_BATCH_MAX

/*
 * POST /v1/audit/upload: {"from","size","root","time","signature","proof","entries":[...]}.
 * On success a receipt {"size","root","time","signature","server_cert"} (hex).  A trail that is
 * shorter than or inconsistent with what HQ countersigned, or a checkpoint that does not
 * verify, is refused with 409 and the reason, recorded as a security alert, and the device is
 * held (every sync refused) until an administrator releases it.
 */
int hq_audit_upload(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const char *body, size_t len) WUR;

#define HQAUDIT_RESTORED "restored from a backup of "

/*
 * POST /v1/device/restored {"taken_at","audit_size"}: the device says it was restored from a
 * backup taken at that time.  Recorded (device.restored) and the device held with the reason
 * "restored from a backup of DATE" (an earlier hold's reason is kept after it) until an
 * administrator releases it; then its trail starts a new epoch like any released device's.
 * Answers {"held": reason}; 400 for a malformed body.
 */
int hq_device_restored(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const char *body, size_t len) WUR;

/* The reason a device is held, or "" (held_out has room for 512 bytes). */
int hq_device_held(char *held_out, size_t size, struct node *n, const char *device) WUR;

#endif
