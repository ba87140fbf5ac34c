/*
 * shared/store/chunks.h - the content-addressed chunk store of evidence attachments.
 *
 * An evidence file is split into chunks of CHUNKS_SIZE bytes (the last one shorter), each kept
 * once per node under its SHA-256: the bytes in the evidence database beside the store (table
 * chunks, 64 KiB pages; store_evidence() in store.h), so they are encrypted at rest like
 * everything else (no chunk file, no temp file) and two items or cases holding the same bytes
 * share them.  A chunk is written in its own transaction before the item that lists it is
 * committed: a crash leaves at most unreferenced chunks, which nothing shows and `check`
 * accepts.  Every read re-hashes the bytes.
 *
 * Each chunk has a sync state: CHUNKS_STORED (not yet part of a committed item),
 * CHUNKS_PENDING (part of an item this node must upload) and CHUNKS_HELD (the hub has it).
 * The state lives in the store, in a small table of its own (evidence_chunk_state), so that
 * changing it never rewrites the megabyte of bytes, and a chunk is held exactly when it has a
 * state row: its bytes commit before the row does (store_commit), and are removed only after
 * it is gone (chunks_sweep).
 */
#ifndef FIELDSYNC_CHUNKS_H
#define FIELDSYNC_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/crypto.h"
#include "base/err.h"
#include "store/store.h"

#define CHUNKS_SIZE (1024u * 1024)
#define CHUNKS_HASH_LEN CRYPTO_SHA256_LEN

enum chunks_state {
	CHUNKS_STORED = 0,
	CHUNKS_PENDING = 1,
	CHUNKS_HELD = 2,
};

/*
 * Store `len` bytes (at most CHUNKS_SIZE) under their SHA-256, which *hash_out receives (a
 * receiver compares it with the id it was told).  A chunk already held is left as it is;
 * *added (may be NULL) says whether it was new.  A new chunk gets `state`; an existing one
 * moves up to it (STORED -> PENDING -> HELD, never down).  Runs in the caller's transaction,
 * if any.  ERR_TOOBIG for an oversized chunk.
 */
int chunks_put(uint8_t hash_out[CHUNKS_HASH_LEN], int *added, struct store *s, const void *data,
	size_t len, enum chunks_state state) WUR;

/* chunks_put() of bytes whose SHA-256 the caller has computed (`hash`; another thread may
 * have, while this one stored the chunk before). */
int chunks_put_known(uint8_t hash_out[CHUNKS_HASH_LEN], int *added, struct store *s,
	const uint8_t hash[CHUNKS_HASH_LEN], const void *data, size_t len,
	enum chunks_state state) WUR;

/* 1 if the chunk is held, 0 if not, or a negative error. */
int chunks_has(struct store *s, const uint8_t hash[CHUNKS_HASH_LEN]) WUR;

/*
 * The bytes of a chunk, re-hashed: replaces the contents of `out` (cap >= CHUNKS_SIZE).
 * ERR_NOTFOUND if it is not held, ERR_CORRUPT if the stored bytes no longer match the hash.
 * Messages name the chunk by its hex hash.
 */
int chunks_get(struct buf *out, struct store *s, const uint8_t hash[CHUNKS_HASH_LEN]) WUR;

/* Move a held chunk up to `state` (never down); a chunk not held is ignored. */
int chunks_raise(struct store *s, const uint8_t hash[CHUNKS_HASH_LEN], enum chunks_state state) WUR;

/*
 * Call fn for the hashes of up to `max` chunks in `state`, in hash order after `after` (NULL:
 * from the start).  A non-zero return of fn stops the walk and is returned.
 */
int chunks_foreach_state(struct store *s, enum chunks_state state,
	const uint8_t after[CHUNKS_HASH_LEN], size_t max,
	int (*fn)(void *ctx, const uint8_t hash[CHUNKS_HASH_LEN]), void *ctx) WUR;

/*
 * Re-hash every stored chunk: 0, or ERR_CORRUPT naming the first bad one.  *count and *bytes
 * receive how many chunks and bytes were checked.
 */
int chunks_check(int64_t *count, int64_t *bytes, struct store *s) WUR;

/*
 * Remove, in a transaction of its own, the bytes of every chunk the store no longer lists
 * (secure delete); *removed gets how many.  Whoever drops state rows
 * sets the node_meta key CHUNKS_SWEEP_KEY in the same transaction and sweeps after it commits,
 * and a node that opens with the key still set sweeps then (a kill in between).
 */
#define CHUNKS_SWEEP_KEY "evidence.sweep"
int chunks_sweep(int64_t *removed, struct store *s) WUR;

/*
 * The wire form of chunks in transit: records of the 32-byte hash, the length as 4 bytes big
 * endian (at most CHUNKS_SIZE) and the bytes.  chunks_wire_put() appends one record.
 */
#define CHUNKS_WIRE_HEADER (CHUNKS_HASH_LEN + 4)
int chunks_wire_put(struct buf *out, const uint8_t hash[CHUNKS_HASH_LEN], const void *data,
	size_t len) WUR;

/*
 * The next record of `*p` (`*left` bytes), which advance past it: 1 with *hash, *data, *len
 * pointing into the input, 0 at the end, or ERR_INVALID for a truncated record or one over
 * CHUNKS_SIZE.  The bytes are not checked against the hash: chunks_put() hashes them.
 */
int chunks_wire_next(const uint8_t **hash, const uint8_t **data, size_t *len, const uint8_t **p,
	size_t *left) WUR;

#endif
