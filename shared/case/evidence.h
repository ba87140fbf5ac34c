/*
 * shared/case/evidence.h - evidence items in the case tree (DESIGN.md sections 3 and 6).
 *
 * An item lives under evidence/<id>/ of its case:
 *   meta               "Key: value" lines: name, size, SHA-256 of the whole file, the SHA-256 of
 *                      the chunk list and its count, description, source, collection time and
 *                      place, who added it where and when; written once, never changed
 *   chunks             the chunk list: the hex SHA-256 of each CHUNKS_SIZE chunk, one per line
 *                      (the bytes live in the chunk store, store/chunks.h); written once
 *   custody/<id>       append-only chain-of-custody events (intake first), like notes
 * Ids are time-ordered and unique without coordination (UTC time, HLC counter, device), so
 * items and events of different devices merge as different paths.  This module builds and
 * reads these files and checks received ones; casedb-style audited operations live in
 * node/evidb.h.
 */
#ifndef FIELDSYNC_EVIDENCE_H
#define FIELDSYNC_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>
#include <git2.h>

#include "base/buf.h"
#include "base/err.h"
#include "case/casefile.h"
#include "store/chunks.h"
#include "store/store.h"

#define EVIDENCE_ID_MAX 64
#define EVIDENCE_VALUE_MAX 1024			      /* one metadata or custody value, bytes */
#define EVIDENCE_META_MAX (16 * 1024)		      /* a meta or custody file */
#define EVIDENCE_SIZE_MAX (1ull << 40)		      /* no item is larger than 1 TiB */
#define EVIDENCE_CHUNK_LINE (2 * CHUNKS_HASH_LEN + 1) /* hex hash and newline */

/* What a person says of an item at intake (all text on one line; NULL: none). */
struct evidence_intake {
	const char *name;	  /* the file's name, without its folder */
	const char *description;  /* required */
	const char *source;	  /* from whom or what it was taken */
	const char *collected_at; /* ISO 8601 */
	const char *location;
};

/* One custody event as read. */
struct evidence_event {
	char *id;
	char *action; /* intake, transfer, check-out, check-in, examine, release, dispose */
	char *by;     /* the user who recorded it */
	char *device;
	char *office;
	char *time;
	char *from; /* the custodian before */
	char *to;   /* the custodian after */
	char *location;
	char *reason;
};

/* One item as read: its meta and its whole custody log (sorted by id, i.e. time). */
struct evidence_item {
	char *id;
	char *name;
	char *description;
	char *source;
	char *collected_at;
	char *location;
	char *added_by;
	char *device;
	char *office;
	char *time;
	uint64_t size;
	char sha256[2 * CRYPTO_SHA256_LEN + 1];
	char chunks_sha256[2 * CRYPTO_SHA256_LEN + 1];
	uint64_t nchunks;
	struct evidence_event *events;
	size_t nevents;
	const char *custodian; /* from the log: who holds it now (points into events) */
	const char *state;     /* "in-custody", "checked-out", "released", "disposed" */
};

/* 0 if `action` is one a person may record (not "intake"), else ERR_INVALID listing them. */
int evidence_check_action(const char *action) WUR;

/* Check one intake or custody value: at most EVIDENCE_VALUE_MAX bytes, one line, UTF-8. */
int evidence_check_value(const char *what, const char *value) WUR;

/* Check what a person says at intake: every value one line, a description given. */
int evidence_check_intake(const struct evidence_intake *in) WUR;

/* A fresh time-ordered id for an item or event by author `a` (the note id scheme). */
void evidence_new_id(char out[EVIDENCE_ID_MAX], const struct casefile_author *a);

/*
 * The files of a new item: meta, chunks and its intake event, appended to `files` (3 entries,
 * pointing into `store`, which must outlive them).  `chunks` is the chunk list text; sha256 the
 * whole file's hash.  ERR_INVALID for a bad value.
 */
struct evidence_files {
	struct casefile_file files[3];
	char paths[3][EVIDENCE_ID_MAX + 64];
	struct buf meta, intake;
};
void evidence_files_init(struct evidence_files *f);
void evidence_files_release(struct evidence_files *f);
int evidence_build_item(struct evidence_files *out, const char *id, const char *event_id,
	const struct evidence_intake *in, uint64_t size, const uint8_t sha256[CRYPTO_SHA256_LEN],
	const struct buf *chunks, const struct casefile_author *a) WUR;

/*
 * The file of a custody event on item `item_id`: path and content into `out` files[0].  The
 * event moves the item from custodian `from` to `to`.
 */
int evidence_build_event(struct evidence_files *out, const char *item_id, const char *event_id,
	const char *action, const char *from, const char *to, const char *location,
	const char *reason, const struct casefile_author *a) WUR;

/*
 * Whether custody `action` may follow the item's current state: ERR_INVALID saying why not
 * (a disposed item takes no event; check-in needs a checked-out item, check-out one in
 * custody).
 */
int evidence_check_transition(const struct evidence_item *item, const char *action) WUR;

/*
 * Every item of the case at `head`, sorted by id.  ERR_CORRUPT for a malformed item.  Free with
 * evidence_items_free().
 */
int evidence_read_all(struct evidence_item **out, size_t *count, git_repository *repo,
	const git_oid *head) WUR;

/* One item; ERR_NOTFOUND naming it if the case has none with that id. */
int evidence_read_one(struct evidence_item *out, git_repository *repo, const git_oid *head,
	const char *case_id, const char *item_id) WUR;

void evidence_item_release(struct evidence_item *it);
void evidence_items_free(struct evidence_item *items, size_t count);

/*
 * The chunk list of an item (raw hashes, nchunks * CHUNKS_HASH_LEN bytes) into `out`, checked
 * against the item's meta: count and hash.  ERR_CORRUPT naming the item otherwise.
 */
int evidence_read_chunks(struct buf *out, git_repository *repo, const git_oid *head,
	const struct evidence_item *it) WUR;

/*
 * Check the evidence/ folder of a received commit against its first parent's: each item a
 * folder of meta, chunks and custody/; meta and chunks never change once written and are
 * consistent with each other; custody events are only added and parse.  ERR_INVALID with the
 * reason.
 */
int evidence_check_tree(git_repository *repo, git_tree *evidence, git_tree *parent_evidence,
	const char *case_id) WUR;

/*
 * The chunks that the items of the case at `head` list and the store lacks, appended to
 * `missing` as raw hashes (each once).  The count of chunks referenced is added to *total
 * (may be NULL).
 */
int evidence_missing_chunks(struct buf *missing, uint64_t *total, struct store *s,
	git_repository *repo, const git_oid *head) WUR;

#endif
