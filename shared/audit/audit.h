/*
 * shared/audit/audit.h - the append-only audit log of one node.
 *
 * Every security-relevant event (log-ons, user changes, case reads and writes, searches...) is
 * one entry.  An entry is stored as the exact bytes that are hashed: canonical JSON (sorted
 * keys, no whitespace) of seq, time, node, office, user, action, target, outcome and detail,
 * with its RFC 6962 leaf hash SHA-256(0x00 || entry).  Sequence numbers are dense from 0.
 * Triggers in the database refuse UPDATE and DELETE; the Merkle tree over the leaves, its
 * signed checkpoints and their upload to HQ build on these leaves.
 *
 * Entries carry no case text: the target names a case or user, the detail names fields or a
 * search's query (DESIGN.md section 7: no more PII than needed).
 */
#ifndef FIELDSYNC_AUDIT_H
#define FIELDSYNC_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

#define AUDIT_ENTRY_MAX (8 * 1024)
#define AUDIT_DETAIL_MAX 1024
#define AUDIT_CASES_MAX 50 /* case ids one entry lists; "cases_shown" counts them all */

/* Where events are recorded: this node (device id) and its office. */
struct audit_origin {
	const char *node;
	const char *office;
};

struct audit_event {
	const char *user;    /* who; "" when nobody is logged on */
	const char *action;  /* e.g. "case.view", "logon" */
	const char *target;  /* a case id, a user name, or "" */
	const char *outcome; /* "success", "failure" or "denied" */
	const char *detail;  /* reason or detail, no case text; may be NULL */
	int64_t time_ms;     /* 0: now */
	/* what a search or list showed: the first ncases (<= AUDIT_CASES_MAX) ids of the `shown`
	 * cases; NULL for every other event, whose entry then has no "cases" member */
	const char *const *cases;
	size_t ncases;
	uint64_t shown;
};

/*
 * Append one event inside the caller's open transaction (or its own, if none is open).
 * *seq_out (if not NULL) receives the event's sequence number.  Returns 0 or ERR_GENERIC.
 */
int audit_append(uint64_t *seq_out, struct store *s, const struct audit_origin *origin,
	const struct audit_event *ev) WUR;

/* Encode an event as its canonical entry bytes (exposed for verification and tests). */
int audit_encode(struct buf *out, uint64_t seq, const char *time,
	const struct audit_origin *origin, const struct audit_event *ev) WUR;

/* RFC 6962 leaf hash of entry bytes. */
void audit_leaf_hash(uint8_t out[32], const void *entry, size_t len);

/* One stored entry, as read back. */
struct audit_record {
	uint64_t seq;
	const char *time;
	const char *user;
	const char *action;
	const char *target;
	const char *outcome;
	const uint8_t *entry; /* the hashed bytes */
	size_t entry_len;
	const uint8_t *leaf; /* 32 bytes */
};

/*
 * Call fn for each entry with time >= since (ISO 8601 prefix compare; NULL for all) and, when
 * target is not NULL, that target or a search or list whose "cases" name it
 * (AUDIT_SQL_NAMES_CASE), in sequence order.  The record is valid during the call.
 * A non-zero return from fn stops and is returned.
 */
/*
 * SQL that is true when an audit row (columns action, target and entry) is about the case
 * bound as parameter ?N: its target, or one of the "cases" a search or list showed.  In the
 * canonical entry "cases" directly follows "action" and ends where "cases_shown" begins (a
 * string cannot hold that unescaped), and a case id needs no escaping, so the quoted id
 * inside that span is exactly a member of the list.  (Plain SQL: the store has no JSON1.)
 */
#define AUDIT_SQL_NAMES_CASE(N)                                                                    \
	"(target = ?" N " OR (action IN ('case.search', 'case.list') AND instr(substr("            \
	"CAST(entry AS TEXT), 1, instr(CAST(entry AS TEXT), '],\"cases_shown\":')), '\"' || ?" N   \
	" || '\"') > 0))"

int audit_foreach(struct store *s, const char *since, const char *target,
	int (*fn)(void *ctx, const struct audit_record *rec), void *ctx) WUR;

/*
 * Recompute every leaf hash and check the sequence is dense: 0, or ERR_CORRUPT naming the
 * first bad entry.  *count_out receives the number of entries.
 */
int audit_check(uint64_t *count_out, struct store *s) WUR;

#endif
