/*
 * shared/node/evidb.h - evidence work on a node: intake, reads, custody events, verification and
 * the BagIt export, each audited (DESIGN.md sections 6 and 7).
 *
 * Intake streams a file through a CHUNKS_SIZE buffer: each chunk is hashed and stored in the
 * chunk store in its own small transaction, then one transaction commits the item (meta, chunk
 * list, intake event) to the case, moves the head, marks the chunks for upload and records
 * `evidence.add`.  A crash before that commit leaves only unreferenced chunks: no half item is
 * ever visible.  Reads re-hash every chunk and the whole item against its intake SHA-256 and
 * are recorded (`evidence.list`, `evidence.view`, `evidence.get`, `evidence.export`,
 * `evidence.verify`; `evidence.custody` for each event).  Audit entries target the case and
 * name the item in their detail ("item <id> ...").
 */
#ifndef FIELDSYNC_EVIDB_H
#define FIELDSYNC_EVIDB_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "case/evidence.h"
#include "node/node.h"

/* The default cap on one item (evidb_add's limit): 64 GiB. */
#define EVIDB_LIMIT_DEFAULT (64ull << 30)

/* Called with the bytes done of the total while a long operation runs (may be NULL). */
typedef void (*evidb_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/*
 * Add the file at `path` to case `case_id` as a new item.  ERR_NOTFOUND (no case, no file),
 * ERR_IO (unreadable), ERR_INVALID (a directory or other non-regular file, a bad value),
 * ERR_TOOBIG (larger than `limit` bytes), ERR_PERM.  On success id_out is the item's id and
 * sha_out its SHA-256.  An empty file is allowed (an item of no chunks).
 */
int evidb_add(char id_out[EVIDENCE_ID_MAX], uint8_t sha_out[CRYPTO_SHA256_LEN], struct node *n,
	const char *case_id, const char *path, const struct evidence_intake *in, uint64_t limit,
	evidb_progress_fn progress, void *ctx) WUR;

/* The items of a case (audited as evidence.list).  Free with evidence_items_free(). */
int evidb_list(struct evidence_item **out, size_t *count, struct node *n, const char *case_id) WUR;

/* One item with its custody log (audited as evidence.view).  ERR_NOTFOUND. */
int evidb_show(struct evidence_item *out, struct node *n, const char *case_id,
	const char *item_id) WUR;

/*
 * Write the original bytes of an item to `out_path` (a new file; ERR_EXISTS if it is there),
 * every chunk and the whole item re-hashed while writing; the file appears under its name only
 * once all of it matched the intake hash and the access (evidence.get) is recorded.
 * ERR_CORRUPT naming the item and chunk if the stored bytes changed.
 */
int evidb_get(struct node *n, const char *case_id, const char *item_id, const char *out_path,
	evidb_progress_fn progress, void *ctx) WUR;

/*
 * Append a custody event (evidence_check_action) moving the item to `to` (NULL or "": the user
 * recording it) at `location` for `reason`.  event_out receives its id.  ERR_INVALID.
 */
int evidb_custody(char event_out[EVIDENCE_ID_MAX], struct node *n, const char *case_id,
	const char *item_id, const char *action, const char *to, const char *location,
	const char *reason) WUR;

/*
 * Re-hash every chunk of every item of the case (or only `item_id`, not NULL) and each item
 * whole against its intake hash (audited as evidence.verify, a failure naming the item).
 * *items and *bytes receive what was checked.  ERR_CORRUPT naming the first bad item and chunk.
 */
int evidb_verify(uint64_t *items, uint64_t *bytes, struct node *n, const char *case_id,
	const char *item_id) WUR;

/*
 * Export items of a case (all when nitems is 0) as a BagIt 1.0 bag (RFC 8493) in the new
 * directory `dir`: bagit.txt, data/ with each file (re-hashed while written), manifest-
 * sha256.txt, bag-info.txt, custody-log.json (every item's metadata and custody log, the
 * audit entries that concern them and each entry's RFC 6962 inclusion proof in this node's
 * audit tree) and tagmanifest-sha256.txt.  Audited as evidence.export.  ERR_EXISTS if `dir`
 * exists; on failure nothing is left under `dir`.
 */
int evidb_export(struct node *n, const char *case_id, const char *const *items, size_t nitems,
	const char *dir, evidb_progress_fn progress, void *ctx) WUR;

/*
 * Stream the bytes of item `it` of the case at `head` to fn in chunk-sized pieces, each chunk
 * re-hashed, its size checked and the whole compared with the intake hash at the end.
 * ERR_CORRUPT naming the item and chunk.  A non-zero return of fn stops and is returned.
 */
int evidb_stream(struct node *n, const git_oid *head, const struct evidence_item *it,
	int (*fn)(void *ctx, const void *data, size_t len), void *ctx) WUR;

#endif
