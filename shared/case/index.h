/*
 * shared/case/index.h - derived SQL tables over the case heads: current values and full text.
 *
 * case_index holds one row of current field values per case (for listing and reports) and
 * case_fts an FTS3 index of each case's searchable text (title, summary, narrative, notes,
 * names).  Both are derived: index_update() runs in the same transaction as the head move,
 * index_rebuild() recreates them from case_heads, index_check() proves they match.
 */
#ifndef FIELDSYNC_INDEX_H
#define FIELDSYNC_INDEX_H

#include <git2.h>

#include "case/casefile.h"
#include "base/err.h"
#include "store/store.h"

#define INDEX_QUERY_MAX 512

/* Bring both tables up to date for the case in `v` (inside the caller's transaction). */
int index_update(struct store *s, const struct casefile_view *v) WUR;

/* Drop and recreate every derived row from case_heads. */
int index_rebuild(struct store *s, git_repository *repo) WUR;

/* ERR_CORRUPT naming the first case whose derived rows differ from its head. */
int index_check(struct store *s, git_repository *repo) WUR;

struct index_row {
	const char *case_id;
	const char *office;
	const char *title;
	const char *category;
	const char *status;
	int priority;
	const char *assignee;
	const char *updated_at;
	int notes;
	int conflicts;
	const char *received_at; /* may be NULL or "" when not set */
	const char *due_at;
	const char *subject_id;
	const char *snippet; /* search only: the matching text, NULL otherwise */
};

enum index_sort {
	INDEX_SORT_ID,
	INDEX_SORT_RECEIVED, /* oldest first, cases without a date last */
	INDEX_SORT_DUE,	     /* soonest first */
	INDEX_SORT_UPDATED,  /* newest first */
	INDEX_SORT_PRIORITY, /* 1 (highest) first */
};

/* Which cases a list shows: each member NULL (or 0) leaves its filter out. */
struct index_filter {
	const char *status;
	const char *office;
	const char *category;
	const char *assignee;
	const char *subject_id;
	const char *received_from; /* YYYY-MM-DD, inclusive */
	const char *received_to;   /* inclusive */
	const char *overdue_on;	   /* a date: cases due before it and not closed */
	enum index_sort sort;
};

/* Cases matching `f` (NULL: all), in its order.  ERR_INVALID for an unknown order. */
int index_list(struct store *s, const struct index_filter *f,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx) WUR;

/* What a search query may hold: the message of ERR_INVALID for one FTS3 cannot parse. */
#define INDEX_QUERY_SYNTAX                                                                         \
	"the search query cannot be read: use words (all must match), \"a phrase\" in double "     \
	"quotes, a prefix* with the star at the end, OR between alternatives, and -word after "    \
	"another word to leave it out; close every quote, and give OR a word on both sides"

/*
 * Cases matching an FTS3 query (words, "phrases", prefix*, OR, -not), by case id.  ERR_INVALID
 * (INDEX_QUERY_SYNTAX) for a query FTS3 cannot parse.
 */
int index_search(struct store *s, const char *query,
	int (*fn)(void *ctx, const struct index_row *row), void *ctx) WUR;

#endif
