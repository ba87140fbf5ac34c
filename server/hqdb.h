/*
 * server/hqdb.h - the server's own tables: offices, enrollment tokens, devices and the bundles
 * (change sets) received.  Every function runs inside the caller's transaction, if any; none
 * audits (the callers decide what a change means).  Times are ISO 8601 strings the caller
 * chooses (hlc_iso8601), so one change carries one time throughout.
 */
#ifndef FIELDSYNC_SERVER_HQDB_H
#define FIELDSYNC_SERVER_HQDB_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "case/schema.h"
#include "pki/pki.h"
#include "store/store.h"
#include "sync/changeset.h"

/* ---- offices ---------------------------------------------------------------------------- */

/* Whether office `code` exists and whether it is revoked (0 and 0 for no such office). */
int hqdb_office_state(int *exists, int *revoked, struct store *s, const char *code) WUR;

/* 0 if `code` is an office that is not revoked; ERR_INVALID, ERR_NOTFOUND or ERR_PERM. */
int hqdb_office_active(struct store *s, const char *code) WUR;

/* Add an office.  ERR_EXISTS if the code is taken. */
int hqdb_office_add(struct store *s, const char *code, const char *name, const char *now) WUR;

/* Revoke an office at `now`.  ERR_NOTFOUND unless it exists and is not revoked yet. */
int hqdb_office_revoke(struct store *s, const char *code, const char *now) WUR;

/* One office as listed; the strings live until the callback returns. */
struct hqdb_office {
	const char *code;
	const char *name;
	int revoked;
	int devices;	       /* enrolled devices not revoked */
	int64_t cases;	       /* cases it owns */
	int64_t conflicts;     /* of those, cases with kept conflict versions */
	const char *last_sync; /* the newest contact of any of its devices, or NULL */
};

/* One enrolled device, as `device list` shows it (strings borrowed for the callback). */
struct hqdb_device_status {
	const char *device;
	const char *office;
	const char *enrolled_at;
	const char *revoked_at; /* NULL: not revoked */
	const char *held;	/* NULL, or why HQ holds it */
	const char *last_sync;	/* its newest audit upload, push or pull at HQ; NULL: never */
	int64_t receipt_size;	/* its trail's size at HQ's newest receipt (0: none) */
	const char *receipt_time;
	const uint8_t *cert; /* its certificate (DER) */
	size_t certlen;
	int64_t office_conflicts; /* the office's cases with kept conflict versions */
};

/* Every device (of `office`, or all if NULL) by office and id; fn's non-zero return stops. */
int hqdb_device_status_foreach(struct store *s, const char *office,
	int (*fn)(void *ctx, const struct hqdb_device_status *d), void *ctx) WUR;

/* Call fn for every office in code order; a non-zero return from fn stops and is returned. */
int hqdb_office_foreach(struct store *s, int (*fn)(void *ctx, const struct hqdb_office *o),
	void *ctx) WUR;

/* ---- enrollment tokens ------------------------------------------------------------------ */

/* What HQ keeps of one token (its hash only). */
struct hqdb_token {
	char office[SCHEMA_OFFICE_MAX + 1];
	int64_t expires_at; /* Unix time */
	int64_t cert_seconds;
	int used;
};

/* Record a new token by the SHA-256 of its secret. */
int hqdb_token_add(struct store *s, const uint8_t hash[32], const char *office, const char *now,
	int64_t expires_at, int64_t cert_seconds) WUR;

/* Read the token of `hash`.  ERR_NOTFOUND for an unknown one. */
int hqdb_token_get(struct hqdb_token *out, struct store *s, const uint8_t hash[32]) WUR;

/* Mark the token of `hash` used at `now` by `device`. */
int hqdb_token_burn(struct store *s, const uint8_t hash[32], const char *device,
	const char *now) WUR;

/* ---- devices ---------------------------------------------------------------------------- */

/* Record an enrolled device with its certificate (DER).  ERR_EXISTS if the device is known. */
int hqdb_device_add(struct store *s, const char *device, const char *office,
	const uint8_t serial[16], const uint8_t *cert, size_t certlen, const char *now) WUR;

/*
 * A renewed certificate: the current serial becomes the previous one (still valid until the
 * new one is used, see hqdb_serial_in_use).  ERR_AUTH (a renewal refused) unless the device is
 * enrolled and not revoked.
 */
int hqdb_device_renew(struct store *s, const char *device, const uint8_t serial[16],
	const uint8_t *cert, size_t certlen) WUR;

/* 1 in *revoked if the serial's device or its office is revoked, or no device has it. */
int hqdb_serial_revoked(int *revoked, struct store *s, const uint8_t serial[16]) WUR;

/* The certificate of `serial` was used: a renewed device's previous one retires. */
int hqdb_serial_in_use(struct store *s, const uint8_t serial[16]) WUR;

/* Revoke a device at `now`.  ERR_NOTFOUND unless it exists and is not revoked yet. */
int hqdb_device_revoke(struct store *s, const char *device, const char *now) WUR;

/* Hold a device (every sync refused) for `reason`. */
int hqdb_device_hold(struct store *s, const char *device, const char *reason) WUR;

/* Release a held device; its trail starts a new epoch.  ERR_NOTFOUND unless it is held. */
int hqdb_device_release(struct store *s, const char *device) WUR;

/* Append the reason a device is held to `out`; nothing if it is not held or unknown. */
int hqdb_device_held(struct buf *out, struct store *s, const char *device) WUR;

/* One device; the strings and the certificate live until the callback returns. */
struct hqdb_device {
	const char *device;
	const char *office;
	const uint8_t *cert; /* DER */
	size_t certlen;
	int64_t epoch; /* its current audit trail epoch */
};

/*
 * Read one device: its office, certificate (appended to `cert`) and trail epoch.  Any of the
 * outputs may be NULL.  ERR_NOTFOUND for an unknown device.
 */
int hqdb_device_get(char office[SCHEMA_OFFICE_MAX + 1], struct buf *cert, int64_t *epoch,
	struct store *s, const char *device) WUR;

/*
 * A device id as typed: a whole id as it is, or the one enrolled device whose id starts with
 * `prefix` (git-style short ids; at least 4 hex digits).  ERR_INVALID, ERR_NOTFOUND, or ERR_CONFLICT
 * listing the candidates.
 */
int hqdb_device_resolve(char out[PKI_DEVICE_LEN + 1], struct store *s, const char *prefix) WUR;

/* Call fn for every device by office and name; a non-zero return from fn stops and is returned. */
int hqdb_device_foreach(struct store *s, int (*fn)(void *ctx, const struct hqdb_device *d),
	void *ctx) WUR;

/*
 * Call fn for every device that may still connect (neither it nor its office revoked), by
 * office and name; a non-zero return from fn stops and is returned.
 */
int hqdb_device_active_foreach(struct store *s, int (*fn)(void *ctx, const struct hqdb_device *d),
	void *ctx) WUR;

/* Void every unused enrollment token (a CA rollover: they pin the old CA); the count in *n. */
int hqdb_token_void_unused(int64_t *n, struct store *s) WUR;

/* ---- case access ------------------------------------------------------------------------ */

/*
 * Share case `case_id` with `office` (again is no error) and give the case a new change
 * sequence, so that the office's next pull sees it.
 */
int hqdb_case_share(struct store *s, const char *case_id, const char *office, const char *now) WUR;

/*
 * End `office`'s sight of a case (a transfer away, an unshare): drop its share row, give the
 * case the next change sequence and record the revocation at the case's current head, so
 * that the office's next pull names the case as revoked.  Inside the caller's transaction.
 */
int hqdb_case_revoke(struct store *s, const char *case_id, const char *office, const char *now) WUR;

/*
 * The head at which `office` lost sight of a case: *found 0 if it never did (or sees it
 * again).
 */
int hqdb_case_revoked_head(git_oid *out, int *found, struct store *s, const char *case_id,
	const char *office) WUR;

/* The offices a case is shared with, each passed to fn (a non-zero return stops). */
int hqdb_case_shares(struct store *s, const char *case_id, int (*fn)(void *ctx, const char *office),
	void *ctx) WUR;

/* ---- bundles ---------------------------------------------------------------------------- */

/* The stored result of bundle `id`, appended to `out`; *found 0 for a bundle never seen. */
int hqdb_bundle_result(int *found, struct buf *out, struct store *s,
	const uint8_t id[CHANGESET_BUNDLE_LEN]) WUR;

/* Keep a received bundle: its signed header and signature as proof of origin, and its result. */
int hqdb_bundle_add(struct store *s, const uint8_t id[CHANGESET_BUNDLE_LEN], const char *device,
	const char *now, const uint8_t *header, size_t headerlen, const uint8_t *sig, size_t siglen,
	const char *result) WUR;

#endif
