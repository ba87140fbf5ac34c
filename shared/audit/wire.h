/*
 * shared/audit/wire.h - the audit upload's body on the wire: its JSON compressed with zlib and
 * a preset dictionary.
 *
 * Every entry of an upload repeats the same member names, the same node, office and user, and
 * timestamps that differ in their last digits, so the JSON deflates to a fraction of its size;
 * the dictionary (the names and the values every entry has) lets the first entries of a small
 * upload, a single edit's, be matched too.  The dictionary is part of the format: a change to
 * it is a new content type.  The JSON inside is the one the upload always had.
 */
#ifndef FIELDSYNC_AUDIT_WIRE_H
#define FIELDSYNC_AUDIT_WIRE_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* The content type of a compressed upload body (a plain one stays application/json). */
#define AUDIT_WIRE_TYPE "application/vnd.fieldsync.audit+zlib"

/* The JSON of an upload is at most this long once inflated (a bound for bad input). */
#define AUDIT_WIRE_INFLATED_MAX (48u * 1024 * 1024)

/* Compress `len` bytes of JSON into `out` (appended).  ERR_NOMEM. */
int audit_wire_pack(struct buf *out, const void *json, size_t len) WUR;

/*
 * Inflate a packed body into `out` (appended), at most AUDIT_WIRE_INFLATED_MAX bytes.
 * ERR_INVALID for what is not such a stream (or has bytes after it), ERR_TOOBIG past the bound.
 */
int audit_wire_unpack(struct buf *out, const void *in, size_t len) WUR;

#endif
