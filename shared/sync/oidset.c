/* shared/sync/oidset.c - a set of git object ids. */
#include "sync/oidset.h"

#include <stdlib.h>
#include <string.h>

#include "base/array.h"

#define OIDSET_MAX (1u << 28)

/* Object ids are SHA-1 values: their first bytes are already uniformly spread. */
static size_t slot_of(const git_oid *id, size_t cap)
{
	uint64_t h;

	memcpy(&h, id->id, sizeof(h));
	return (size_t)h & (cap - 1);
}

static size_t find(const struct oidset *s, const git_oid *id)
{
	size_t i = slot_of(id, s->cap);

	while (s->used[i] && git_oid_cmp(&s->slots[i], id) != 0)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static int grow(struct oidset *s)
{
	struct oidset n = OIDSET_INIT;
	size_t i;
	int error;

	/* a power of two: doubling from ARRAY_MIN up to a power-of-two cap; at most half full */
	error = array_next_cap(&n.cap, s->cap, s->cap + 1, sizeof(*n.slots),
		2 * (size_t)OIDSET_MAX);
	if (error)
		return error;
	n.slots = malloc(n.cap * sizeof(*n.slots));
	n.values = malloc(n.cap * sizeof(*n.values));
	n.used = calloc(n.cap, 1);
	if (!n.slots || !n.values || !n.used) {
		oidset_release(&n);
		return err_set(ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < s->cap; i++) {
		size_t j;

		if (!s->used[i])
			continue;
		j = find(&n, &s->slots[i]);
		n.slots[j] = s->slots[i];
		n.values[j] = s->values[i];
		n.used[j] = 1;
	}
	n.count = s->count;
	oidset_release(s);
	*s = n;
	return 0;
}

int oidset_add(int *added_out, struct oidset *s, const git_oid *id, uint32_t value)
{
	size_t i;
	int error;

	if ((s->count + 1) * 2 > s->cap) {
		error = grow(s);
		if (error)
			return error;
	}
	i = find(s, id);
	if (added_out)
		*added_out = !s->used[i];
	if (s->used[i])
		return 0;
	s->slots[i] = *id;
	s->values[i] = value;
	s->used[i] = 1;
	s->count++;
	return 0;
}

int oidset_get(const struct oidset *s, const git_oid *id, uint32_t *value_out)
{
	size_t i;

	if (!s->cap)
		return 0;
	i = find(s, id);
	if (!s->used[i])
		return 0;
	if (value_out)
		*value_out = s->values[i];
	return 1;
}

void oidset_release(struct oidset *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s->values);
	free(s->used);
	memset(s, 0, sizeof(*s));
}
