/*
 * shared/case/casefile.h - a case as a small git history (DESIGN.md section 3).
 *
 * Each case is its own chain of commits over a tree:
 *   meta/id, meta/office     identity and owning office
 *   fields/<name>            one scalar field per file, validated against schema.h
 *   narrative.md             the report, stored with hard line breaks (one sentence per line,
 *                            wrapped at 80 columns) so that edits to different sentences merge
 *   notes/<id>.md            append-only notes; id = UTC time + HLC counter + device, so ids
 *                            sort by time and never collide between devices
 *   conflicts/<path>/<n>     versions that lost a merge (written by the merge, read here)
 * Every edit is one commit whose message carries the user, office, device and HLC.  This module
 * only builds and reads objects; the case_heads table, derived tables and audit live in casedb.
 */
#ifndef FIELDSYNC_CASEFILE_H
#define FIELDSYNC_CASEFILE_H

#include <stddef.h>

#include <git2.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/hlc.h"
#include "case/schema.h"

/* Who made a change, where and when. */
struct casefile_author {
	const char *user;
	const char *office;
	const char *device;
	struct hlc hlc;
	const char *role; /* the user's role, in the Fieldsync-Role trailer; NULL: none */
};

struct casefile_set {
	const char *name;
	const char *value; /* "" clears an optional field */
};

/* A file an edit adds at a path that must not exist yet (append-only records: evidence). */
struct casefile_file {
	const char *path;
	const void *data;
	size_t len;
};

/* One edit: any of field sets, a new narrative, a note, new files. */
struct casefile_change {
	struct casefile_set sets[SCHEMA_MAX_FIELDS];
	size_t nsets;
	const char *narrative; /* NULL: unchanged */
	size_t narrative_len;
	const char *note; /* NULL: no note */
	size_t note_len;
	const char *resolve;  /* NULL, or a path whose kept conflict versions a person settled:
			       * conflicts/<resolve>/ is removed ("fields/status", "narrative.md") */
	const char *resolve_version; /* with resolve: only conflicts/<resolve>/<this> is removed
				      * (one region of a text; the others stay) */
	const char *transfer; /* NULL, or the office the case now belongs to (an HQ action) */
	const struct casefile_file *files; /* new files (ERR_EXISTS if a path is taken) */
	size_t nfiles;
	const char *summary; /* NULL, or what the commit message says of the files */
};

#define CASEFILE_NOTE_ID_MAX 64

/*
 * Validate a change against the schema before anything is written: known fields, valid values,
 * no field set twice, text limits.  ERR_NOTFOUND (unknown field), ERR_INVALID, ERR_TOOBIG.
 */
int casefile_check_change(const struct casefile_change *chg) WUR;

/* A fresh case id for `office` in the year of `wall_ms`: "ELP-26-7KQ4M2X". */
int casefile_new_id(char out[SCHEMA_CASE_ID_MAX + 1], const char *office, int64_t wall_ms) WUR;

/*
 * Commit `chg` on top of `parent` (NULL to create case `case_id` of `office`; required fields
 * must then be set and defaults are filled in).  On success *head_out is the new commit and,
 * when the change adds a note, note_id_out (if not NULL) its id.  If the change leaves the tree
 * as it was, nothing is written and ERR_CONFLICT is returned ("no change").
 */
int casefile_commit(git_oid *head_out, char note_id_out[CASEFILE_NOTE_ID_MAX],
	git_repository *repo, const git_oid *parent, const char *case_id,
	const struct casefile_change *chg, const struct casefile_author *author,
	const char *action) WUR;

/* Reflow narrative text for storage: LF line ends, a sentence per line, at most 80 columns. */
int casefile_wrap(struct buf *out, const char *text, size_t len) WUR;

struct casefile_note {
	char *id;
	char *author;
	char *device;
	char *time;
	char *text;
};

struct casefile_conflict {
	char *path;   /* the contested path, e.g. "fields/status" */
	char *name;   /* which kept version */
	char *value;  /* the losing value (of a region: its other lines) */
	char *author; /* who wrote it: "user (office/device)" */
	char *commit; /* the commit it came from */
	char *current_author; /* who wrote the version in place ("" if not recorded) */
	char *current_commit;
	int region;	      /* 1: one conflicting region of a text file (merge.h) */
	size_t line;	      /* of a region: 1-based line of the text where it stood when kept */
	char *base;	      /* of a region: its base lines */
	char *current;	      /* of a region: its lines in place when kept */
};

/* Everything a person sees of a case at one head. */
struct casefile_view {
	char *id;
	char *office;
	char *fields[SCHEMA_MAX_FIELDS]; /* by schema index; NULL when not set */
	char *narrative;		 /* "" when none */
	struct casefile_note *notes;	 /* sorted by id (time order) */
	size_t nnotes;
	struct casefile_conflict *conflicts;
	size_t nconflicts;
	git_oid head;
	int64_t updated_ms; /* HLC wall time of the head commit */
};

/* Read the case at `head`. ERR_NOTFOUND (missing object), ERR_CORRUPT (malformed tree). */
int casefile_read(struct casefile_view *out, git_repository *repo, const git_oid *head) WUR;

void casefile_view_release(struct casefile_view *v);

/* One commit of a case's history. */
struct casefile_rev {
	git_oid id;
	char *summary; /* first line of the message */
	char *user;
	char *office;
	char *device;
	char *role; /* NULL for a commit without a Fieldsync-Role trailer */
	struct hlc hlc;
	size_t nparents;
};

/* Free what casefile_parse_message() put into `rev` (not rev itself). */
void casefile_rev_release(struct casefile_rev *rev);

/*
 * The history of the case at `head`, newest first: by hybrid logical clock, then by commit id
 * (both descending), at most `max` entries (the newest).  The caller frees with
 * casefile_history_free().
 */
int casefile_history(struct casefile_rev **out, size_t *count, git_repository *repo,
	const git_oid *head, size_t max) WUR;

void casefile_history_free(struct casefile_rev *revs, size_t count);

/*
 * The revision of `revs` whose hex id is `rev` or starts with it (at least 4 digits).
 * ERR_NOTFOUND (none), ERR_INVALID (not hex, too short, or more than one matches).
 */
int casefile_find_rev(git_oid *out, const struct casefile_rev *revs, size_t count,
	const char *rev) WUR;

/*
 * What changed from commit `from` (NULL: its first parent, or nothing for the first commit)
 * to commit `to`, as text appended to `out`: each field "name: old -> new", the narrative as
 * a unified diff (3 lines of context), notes and kept conflict versions added or removed.
 * ERR_NOTFOUND (missing object), ERR_CORRUPT, ERR_TOOBIG (out's cap).
 */
int casefile_diff(struct buf *out, git_repository *repo, const git_oid *from, const git_oid *to)
	WUR;

/*
 * A unified diff of text `a` to `b` with `context` lines around each change, appended to
 * `out` under the headers "--- <a_label>" and "+++ <b_label>"; nothing when they are equal.
 * Line numbers start at `first_line` (a region of a longer text).  ERR_TOOBIG, ERR_GENERIC.
 */
int casefile_unified(struct buf *out, const char *a, size_t a_len, const char *b, size_t b_len,
	const char *a_label, const char *b_label, size_t context, size_t first_line) WUR;

/*
 * The text of blob `id` as a malloc'd NUL-terminated string (the caller frees it).  ERR_NOTFOUND
 * (missing object), ERR_NOMEM.
 */
int casefile_blob_text(char **out, git_repository *repo, const git_oid *id) WUR;
/*
 * The text of the file at `path` of `tree`, as casefile_blob_text().  ERR_NOTFOUND (no such
 * path; no message set), ERR_CORRUPT (not a file).
 */
int casefile_path_text(char **out, git_repository *repo, git_tree *tree, const char *path) WUR;
/*
 * The id of a note or an evidence item made by `a`: its time without separators, its HLC
 * counter and the start of its device id ("20261127T183659.123Z-0001-3f9c2a7b"), unique per
 * device and sorting by time.  Written to out (size bytes, 64 is enough).
 */
void casefile_time_id(char *out, size_t size, const struct casefile_author *a);

/*
 * Split "Key: value" header lines of `text` from its body after the first blank line.
 * values[k] receives a malloc'd copy of the first value of keys[k] ("" if missing), *body the
 * rest; the caller frees them all.  ERR_NOMEM.
 */
int casefile_parse_headed(const char *text, const char *const *keys, char **values, size_t nkeys,
	char **body) WUR;
/* Parse the attribution trailers of a commit message. ERR_INVALID if any is missing. */
int casefile_parse_message(struct casefile_rev *rev, const char *message) WUR;

#endif
