/* shared/base/array.c - growing arrays with a cap. */
#include "base/array.h"

#include <stdlib.h>
#include <string.h>

int array_next_cap(size_t *out, size_t cap, size_t need, size_t elem_size, size_t max_elems)
{
	size_t limit, ncap = cap;
	int error = 0;

	if (!elem_size) {
		error = err_set(ERR_INVALID, "an array of elements of 0 bytes");
		goto out;
	}
	if (need <= cap)
		goto out;
	limit = SIZE_MAX / elem_size;
	if (max_elems < limit)
		limit = max_elems;
	if (need > limit) {
		error = err_set(ERR_TOOBIG, "a list longer than the limit of %zu entries", limit);
		goto out;
	}
	ncap = cap ? cap : ARRAY_MIN;
	while (ncap < need)
		ncap = ncap > limit / 2 ? limit : ncap * 2;
	if (ncap > limit)
		ncap = limit;
out:
	if (!error)
		*out = ncap;
	return error;
}

int array_grow(void *arrayp, size_t *cap, size_t need, size_t elem_size, size_t max_elems)
{
	void *old, *p;
	size_t ncap;
	int error = 0;

	if (need <= *cap)
		goto out;
	error = array_next_cap(&ncap, *cap, need, elem_size, max_elems);
	if (error)
		goto out;
	/* through memcpy: *arrayp is a T *, read and written without a type-punned lvalue */
	memcpy(&old, arrayp, sizeof(old));
	p = realloc(old, ncap * elem_size);
	if (!p) {
		error = err_set(ERR_NOMEM, "out of memory (%zu bytes)", ncap * elem_size);
		goto out;
	}
	memcpy(arrayp, &p, sizeof(p));
	*cap = ncap;
out:
	return error;
}
