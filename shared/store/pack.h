/*
 * shared/store/pack.h - a parser for git pack files held in memory.
 *
 * The in-memory writepack of the ODB backend (odb.c) hands a received pack to pack_parse(),
 * which yields every object fully resolved (deltas applied) to a callback; nothing is written to
 * a file (git_indexer would write plaintext .pack/.idx files into a directory).  The pack is
 * untrusted input: every size, count, offset and delta is bounded and checked, and the trailing
 * SHA-1 checksum must match.  Thin packs (REF_DELTA bases outside the pack) are refused.
 */
#ifndef FIELDSYNC_PACK_H
#define FIELDSYNC_PACK_H

#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "base/err.h"

#define PACK_MAX_OBJECTS 1000000u
#define PACK_MAX_OBJECT_SIZE (8u * 1024 * 1024)   /* inflated size of one object */
#define PACK_MAX_TOTAL (512u * 1024 * 1024)	  /* inflated bytes of all objects held */
#define PACK_MAX_DELTA_DEPTH 64

/*
 * Called once per object, in pack order, after its deltas are resolved.  `type` is a base type
 * (commit, tree, blob, tag).  Return 0 to go on; a non-zero return stops the parse and is
 * returned by pack_parse().
 */
typedef int (*pack_object_cb)(void *payload, git_object_t type, const void *data, size_t len);

/*
 * Parse the whole pack in `pack` (header "PACK", version 2 or 3, objects, SHA-1 trailer).
 * Returns 0, the callback's non-zero code, ERR_INVALID (malformed or thin pack, with a message
 * naming the offset), ERR_TOOBIG (a limit above), ERR_NOMEM.
 */
int pack_parse(const uint8_t *pack, size_t len, pack_object_cb cb, void *payload) WUR;

#endif
