/*
 * server/hqsync.h - the server's side of sync (DESIGN.md section 4): receiving a device's
 * change set, the changes feed, and sending cases to a device.  Access: a device sees and
 * writes the cases its office owns or was given a share of; HQ sees all.
 */
#ifndef FIELDSYNC_SERVER_HQSYNC_H
#define FIELDSYNC_SERVER_HQSYNC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "node/node.h"

/* Who is asking, as proved by the TLS client certificate. */
struct hq_peer {
	const char *office;
	const char *device;
	const uint8_t *pub; /* the certificate's public key, DER */
	size_t publen;
	const char *addr;
};

#define HQSYNC_CHANGES_MAX 5000
#define HQSYNC_FAR 50000 /* changes behind the newest past which the feed is read by office */
#define HQSYNC_FETCH_CASES_MAX 2000
#define HQSYNC_FETCH_SPLIT (8u * 1024 * 1024) /* inflated bytes before a fetch answer stops */

/*
 * Take a pushed change set: decode, check the signature against the peer's key and its device
 * and office, then per case (each all or nothing) store objects, validate every new commit,
 * fast-forward or merge, all in one transaction with the bundle kept as proof of origin.  A
 * repeated bundle id returns the stored result.  *status is the HTTP status; `out` receives
 * the JSON result or error.  Audited.
 */
int hq_push(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const uint8_t *body, size_t len) WUR;

/*
 * The changes feed: {"changes":[{"id","head","office"}],"cursor":N,"more":bool,"pki":P,
 * "generation":G}, where P (borrowed; NULL leaves it out) names the CAs the service knows, so a
 * device learns of a CA rollover without a request of its own, and G the generation of HQ's
 * store (hq_generation), so a device learns that HQ was restored from a backup.
 */
int hq_changes(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	uint64_t since, unsigned limit, json_t *pki, const char *generation) WUR;

/*
 * Send cases: the body is {"cases":[{"id":ID,"have":[hex,...]}]}; the answer is an unsigned
 * change set with each visible case's head and the objects the device lacks.  Cases that do
 * not fit are left out (the change set says more=1).  Audited.
 */
int hq_fetch(int *status, struct buf *out, int *is_changeset, struct node *n,
	const struct hq_peer *peer, const char *body, size_t len) WUR;

/* Whether `office` may see case `case_id`; *owner_out (may be NULL) gets the owner. */
int hq_case_visible(int *visible, char owner_out[SCHEMA_OFFICE_MAX + 1], struct node *n,
	const char *case_id, const char *office) WUR;

#endif
