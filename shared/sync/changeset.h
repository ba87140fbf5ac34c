/*
 * shared/sync/changeset.h - the change-set wire format (DESIGN.md sections 2-4).
 *
 * A change set moves case heads and the git objects behind them between a device and HQ: a
 * push from a device (signed by the device key) or a pull answer from the server (unsigned:
 * the TLS channel authenticates the server).  Layout, integers big-endian:
 *
 *   "FSCS" | version (1) | flags (bit 0: signed)
 *   u32 header length | header
 *   u16 signature length | signature (ECDSA P-256, DER, over SHA-256 of everything before it)
 *   u32 objects length | objects: one zlib stream of records  type (u8: 1 commit, 2 tree,
 *                                  3 blob) | id (20) | u32 length | bytes
 *
 *   header = bundle id (16) | device (str) | office (str) | cursor (u64) | more (u8)
 *            | u32 number of cases | cases | u32 number of objects | SHA-256 of the objects part
 *   case   = id (str) | has base (u8) | base (20) | head (20) | office (str)
 *   str    = u8 length | bytes (no NUL)
 *
 * The header names every head and the hash of the objects, so one signature covers the whole
 * change set (one signature per change set, not per commit).  The decoder is strict: every
 * length, count and string is bounded, every object id is re-hashed, trailing bytes refused.
 */
#ifndef FIELDSYNC_CHANGESET_H
#define FIELDSYNC_CHANGESET_H

#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "base/buf.h"
#include "base/err.h"
#include "sync/oidset.h"
#include "case/schema.h"

#define CHANGESET_VERSION 1
#define CHANGESET_ENCODED_MAX (48u * 1024 * 1024)   /* a whole encoded change set */
#define CHANGESET_INFLATED_MAX (192u * 1024 * 1024) /* its objects, inflated */
#define CHANGESET_HEADER_MAX (1u * 1024 * 1024)
#define CHANGESET_CASES_MAX 10000
#define CHANGESET_OBJECTS_MAX 500000
#define CHANGESET_OBJECT_MAX (3u * 1024 * 1024) /* the largest narrative, wrapped, fits */
#define CHANGESET_SIG_MAX 80
#define CHANGESET_DEVICE_MAX 32
#define CHANGESET_BUNDLE_LEN 16

struct changeset_case {
	char id[SCHEMA_CASE_ID_MAX + 1];
	char office[SCHEMA_OFFICE_MAX + 1]; /* pull: the owning office; push: "" */
	int has_base;			    /* push: the device has seen a server head */
	git_oid base;			    /* push: the server head it last saw */
	git_oid head;			    /* the new head */
};

struct changeset_object {
	git_object_t type;
	git_oid id;
	const uint8_t *data; /* into the change set's inflated objects */
	size_t len;
};

/* A decoded change set; everything is owned by it. */
struct changeset {
	uint8_t bundle[CHANGESET_BUNDLE_LEN];
	char device[CHANGESET_DEVICE_MAX + 1];
	char office[SCHEMA_OFFICE_MAX + 1];
	uint64_t cursor;
	int more;
	struct changeset_case *cases;
	size_t ncases;
	struct changeset_object *objects;
	size_t nobjects;
	struct oidset index; /* object id -> position in objects */
	uint8_t *signed_part; /* magic through header: what the signature covers */
	size_t signed_len;
	uint8_t *sig;
	size_t sig_len;
	uint8_t *inflated;
};

/* The sending side: objects stream into a compressor as they are added. */
struct changeset_writer;

int changeset_writer_new(struct changeset_writer **out) WUR;
void changeset_writer_free(struct changeset_writer *w);

/* Add an object unless already added (objects are sent once).  ERR_TOOBIG over a limit. */
int changeset_writer_add_object(struct changeset_writer *w, git_object_t type, const git_oid *id,
	const void *data, size_t len) WUR;

/* 1 if the object was added already. */
int changeset_writer_has(const struct changeset_writer *w, const git_oid *id);

/* Name a case head.  ERR_TOOBIG past CHANGESET_CASES_MAX, ERR_INVALID for a bad id/office. */
int changeset_writer_add_case(struct changeset_writer *w, const struct changeset_case *c) WUR;

/* Inflated bytes and cases added so far (to split a large backlog into several requests). */
size_t changeset_writer_size(const struct changeset_writer *w);
size_t changeset_writer_cases(const struct changeset_writer *w);

/*
 * Finish and append the encoded change set to `out`.  With `key_der` (a DER P-256 private key,
 * borrowed) it is signed.  The writer cannot be added to afterwards.
 */
int changeset_writer_finish(struct buf *out, struct changeset_writer *w,
	const uint8_t bundle[CHANGESET_BUNDLE_LEN], const char *device, const char *office,
	uint64_t cursor, int more, const uint8_t *key_der, size_t key_len) WUR;

/*
 * Decode and check an encoded change set (untrusted bytes, borrowed).  Every object is
 * re-hashed.  ERR_INVALID (malformed, with the offset or object named), ERR_TOOBIG (a limit),
 * ERR_NOMEM.  Release with changeset_release() whatever the result.
 */
int changeset_decode(struct changeset *out, const uint8_t *data, size_t len) WUR;

/* Check the signature with a DER public key (SubjectPublicKeyInfo).  ERR_AUTH if unsigned or
 * wrong. */
int changeset_verify(const struct changeset *cs, const uint8_t *pub, size_t publen) WUR;

/* The object `id` carried by the change set, or NULL. */
const struct changeset_object *changeset_object(const struct changeset *cs, const git_oid *id);

void changeset_release(struct changeset *cs);

#endif
