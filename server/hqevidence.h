/*
 * server/hqevidence.h - evidence chunks between devices and HQ (DESIGN.md section 6).
 *
 * Chunks travel before the commit that lists them, in bounded requests:
 *   POST /v1/evidence/lack      {"chunks":[hex,...]} -> {"lack":[hex,...]}: the chunks the
 *                               device's office has not uploaded yet (so the answer says
 *                               nothing of other offices' files)
 *   POST /v1/evidence/upload    chunk records (chunks.h wire form) -> {"stored","bytes"}: each
 *                               re-hashed, all stored in one transaction or none
 *   POST /v1/evidence/download  {"case":ID,"chunks":[hex,...]} -> chunk records: only chunks
 *                               an item of a case the office may see lists
 * A push whose case lists a chunk HQ does not hold is refused (hq_evidence_require).  Each
 * request logs its byte counts (event "evidence"): bytes in, bytes out, and chunks an office
 * sent again although HQ had acknowledged them.
 */
#ifndef FIELDSYNC_SERVER_HQEVIDENCE_H
#define FIELDSYNC_SERVER_HQEVIDENCE_H

#include <stddef.h>

#include "base/buf.h"
#include "hqsync.h"
#include "node/node.h"

#define HQEVIDENCE_IDS_MAX 4096	 /* chunk ids in one lack request */
#define HQEVIDENCE_CHUNKS_MAX 16 /* chunks in one upload or download */

/* POST /v1/evidence/lack. */
int hq_evidence_lack(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const char *body, size_t len) WUR;

/* POST /v1/evidence/upload (the caller holds the push lock). */
int hq_evidence_upload(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const uint8_t *body, size_t len) WUR;

/* POST /v1/evidence/download; *binary says whether `out` holds chunk records or a JSON error. */
int hq_evidence_download(int *status, struct buf *out, int *binary, struct node *n,
	const struct hq_peer *peer, const char *body, size_t len) WUR;

/*
 * Inside a push: ERR_INVALID naming the case, item and chunk if an item of the case at `head`
 * lists a chunk this store does not hold.
 */
int hq_evidence_require(struct node *n, const char *case_id, const git_oid *head) WUR;

#endif
