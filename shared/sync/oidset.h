/*
 * shared/sync/oidset.h - a set of git object ids in memory (open addressing), each with a value:
 * for walks that must visit an object once and for finding an object of a change set by id.
 */
#ifndef FIELDSYNC_OIDSET_H
#define FIELDSYNC_OIDSET_H

#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "base/err.h"

struct oidset {
	git_oid *slots;
	uint32_t *values;
	uint8_t *used;
	size_t cap; /* a power of two, or 0 */
	size_t count;
};

#define OIDSET_INIT {NULL, NULL, NULL, 0, 0}

/*
 * Add `id` with `value`.  *added_out (may be NULL) is 1 if it was new, 0 if it was present
 * (its value is then left as it was).  ERR_NOMEM, ERR_TOOBIG past 2^28 ids.
 */
int oidset_add(int *added_out, struct oidset *s, const git_oid *id, uint32_t value) WUR;

/* 1 if `id` is in the set (and *value_out, if not NULL, gets its value), else 0. */
int oidset_get(const struct oidset *s, const git_oid *id, uint32_t *value_out);

/* Free the contents; the set is empty and usable again.  Accepts NULL. */
void oidset_release(struct oidset *s);

#endif
