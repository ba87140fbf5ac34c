/*
 * shared/base/array.h - growing a malloc'd array of fixed-size elements, with a cap.
 *
 * An array is a pointer and a capacity (in elements) kept by the caller, next to its own count.
 * Before storing element `n`, the caller asks for room for n + 1; the capacity doubles (from
 * ARRAY_MIN) so that appending stays amortised O(1), the byte size is overflow-checked, and no
 * array grows past the caller's cap on elements.
 *
 *	struct item *v = NULL;
 *	size_t n = 0, cap = 0;
 *
 *	error = ARRAY_GROW(&v, &cap, n + 1, ITEMS_MAX);
 *	if (error)
 *		goto out;
 *	v[n++] = item;
 *	...
 *	free(v);
 */
#ifndef FIELDSYNC_ARRAY_H
#define FIELDSYNC_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The capacity of an array's first allocation, in elements. */
#define ARRAY_MIN 16

/* For max_elems when the count is bounded elsewhere: only the byte size limits the array. */
#define ARRAY_NOMAX SIZE_MAX

/*
 * The capacity an array of `cap` elements of `elem_size` bytes grows to so that it holds `need`:
 * `cap` (or ARRAY_MIN if 0) doubled until it is at least `need`, never more than `max_elems` nor
 * more than fits in a size_t of bytes.  For arrays that cannot simply be reallocated (a hash
 * table that rehashes into new arrays).  Returns 0 with *out set (to `cap` if it already holds
 * `need`), ERR_TOOBIG if `need` is over `max_elems` or its byte size overflows, ERR_INVALID for
 * an `elem_size` of 0.
 */
int array_next_cap(size_t *out, size_t cap, size_t need, size_t elem_size, size_t max_elems) WUR;

/*
 * Make room for `need` elements of `elem_size` bytes in the malloc'd array whose pointer is at
 * `arrayp` (the address of a `T *`, NULL for an array not yet allocated) and whose capacity is
 * *cap.  Nothing happens if *cap >= need; otherwise the array is reallocated to
 * array_next_cap() elements and *arrayp and *cap are updated.  The new elements are not
 * initialised.  The caller keeps ownership and frees the array.  Returns 0, ERR_TOOBIG (past
 * `max_elems` or a size_t of bytes), ERR_NOMEM, or ERR_INVALID; on failure the array and *cap
 * are left as they were.  Use it through ARRAY_GROW.
 */
int array_grow(void *arrayp, size_t *cap, size_t need, size_t elem_size, size_t max_elems) WUR;

/*
 * array_grow() with the element size taken from the array's type: `arrayp` must be a `T **`,
 * so passing the array itself instead of its address does not compile.
 */
#define ARRAY_GROW(arrayp, cap, need, max_elems)                                                   \
	array_grow((arrayp), (cap), (need), sizeof(**(arrayp)), (max_elems))

#endif
