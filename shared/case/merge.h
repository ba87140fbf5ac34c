/*
 * shared/case/merge.h - the deterministic, lossless three-way merge of two versions of a case
 * (DESIGN.md section 4).  The server merges a pushed head into its own; an agent merges its
 * unpushed work onto a pulled head; both call this one function, so the same inputs give the
 * same tree everywhere.
 *
 * "Ours" is always the version that reached the server first (the server head) and stays in
 * place; "theirs" is the other one.  A side changed a path if its final value differs from the
 * base's or (in merge_commits) one of its commits since the base wrote it: a value set back to
 * the base's is still a value someone chose.  Per file path of the flattened trees:
 *   - changed on one side only (added, modified or deleted): that side's version;
 *   - changed identically on both sides: that version;
 *   - a text file (narrative.md, allegations/<id>/narrative.md) changed on both sides: a
 *     line-based three-way merge (merge_lines): every hunk of either side that does not overlap
 *     a hunk of the other is applied; in each overlapping region ours' lines stay in place and
 *     the region is kept as one conflict record (below); a text that cannot be merged line by
 *     line (too large, a line of MARKER_MAX marker characters) keeps ours and theirs whole;
 *   - a path under conflicts/ added differently on both sides: ours (both hold the same value);
 *   - modified on one side, deleted on the other: the modification;
 *   - any other file changed differently on both sides (a field, a note): ours stays and theirs
 *     is kept as a conflict version.
 * A kept conflict version is the blob conflicts/<path>/<name> holding
 *   "Author: <user> (<office>/<device>)\nCommit: <hex id>\n"
 *   "Current-Author: <user> (<office>/<device>)\nCurrent-Commit: <hex id>\n\n<theirs' bytes>"
 * where <name> is the first 12 hex digits of theirs' blob id, so that the same losing value
 * kept twice is one entry.  Author/Commit name who wrote theirs' version and Current-* who
 * wrote the version in place: in merge_commits the newest plain commit of that side since the
 * base that changed the path (else that side's head); merge_trees labels theirs with its
 * arguments and leaves out the Current-* lines.  A conflict region of a text file is
 *   <the same labels>"Region: <line> <b> <o> <t>\n\n<base lines><in-place lines><other lines>"
 * where <line> is the 1-based line of the merged text at which the in-place lines start and
 * <b>, <o>, <t> the byte lengths of the three texts; its <name> is 12 hex digits of the blob
 * hash of everything from "Region:" on (one entry per region, whatever the labels).  HQ's
 * validation of conflicts/ (any text file, a few levels deep) accepts both.  No clock decides
 * anything.
 *
 * Details the rules leave open, as implemented:
 *   - "changed" compares blob id and file mode; a path absent on a side is "deleted" there;
 *   - the text files are every file named narrative.md outside conflicts/; a line merge whose
 *     result would exceed 2 * SCHEMA_NARRATIVE_MAX counts as conflicting lines;
 *   - under conflicts/ a path changed differently on both sides (not only "added") keeps ours;
 *     a path under conflicts/ deleted on one side (a resolution) and unchanged on the other
 *     stays deleted (changed on one side only);
 *   - if the merged tree already holds conflicts/<path>/<name> (from ours, or from theirs),
 *     that entry stays as it is, with its own Author and Commit lines, and is not counted.
 */
#ifndef FIELDSYNC_MERGE_H
#define FIELDSYNC_MERGE_H

#include <stddef.h>

#include <git2.h>

#include "case/casefile.h"
#include "base/err.h"

struct merge_result {
	git_oid head;	   /* the resulting head */
	int kind;	   /* MERGE_UP_TO_DATE, MERGE_FAST_FORWARD or MERGE_MERGED */
	size_t conflicts;  /* conflict versions this merge added */
	size_t text_merges; /* text files merged line by line */
};

#define MERGE_UP_TO_DATE 0   /* theirs is already contained in ours: head = ours */
#define MERGE_FAST_FORWARD 1 /* ours is an ancestor of theirs: head = theirs */
#define MERGE_MERGED 2	     /* a merge commit with parents (ours, theirs) */

/* One conflicting region of a line merge; the texts point into the merge_text's buffer. */
struct merge_region {
	size_t line;	   /* 1-based line of `merged` where the in-place lines start */
	size_t merged_off; /* byte offset of the in-place lines in `merged` */
	const char *base, *ours, *theirs;
	size_t base_len, ours_len, theirs_len;
};

/* A line merge: the merged text (ours' lines in each conflicting region) and the regions. */
struct merge_text {
	char *merged; /* NUL-terminated */
	size_t merged_len;
	struct merge_region *regions; /* in text order */
	size_t nregions, cap;
	char *raw; /* the diff3 output the regions point into */
	size_t raw_len;
};

/*
 * Three-way merge of lines: git's own merge (libgit2's git_merge_file, diff3 style), whose
 * conflict markers are parsed into regions; the marker size exceeds every run of marker
 * characters opening an input line, so a line of user text is never read as a marker.  Where
 * git finds no conflict, out->merged is git's merged text.  The caller releases *out with
 * merge_text_release().  ERR_TOOBIG when the result would exceed 2 * SCHEMA_NARRATIVE_MAX or
 * an input line opens with 250 marker characters, ERR_CORRUPT for output that cannot be
 * parsed, ERR_NOMEM, ERR_GENERIC.  *out is written only on success.
 */
int merge_lines(struct merge_text *out, const char *base, size_t base_len, const char *ours,
	size_t ours_len, const char *theirs, size_t theirs_len) WUR;

/* Free what a merge_text holds (its texts are wiped); accepts NULL. */
void merge_text_release(struct merge_text *t);

/*
 * Merge the trees `ours` and `theirs` against `base` (NULL: the empty tree) by the rules
 * above.  `theirs_commit` and `theirs_author` ("user (office/device)") label kept conflict
 * versions.  *tree_out is the merged tree, written to the repository; *conflicts_out (may be
 * NULL) counts the conflict versions added and *text_merges_out (may be NULL) the text files
 * merged line by line.  ERR_CORRUPT for a tree that cannot be merged (a path that is a file on
 * one side and a folder on the other), ERR_NOTFOUND for a missing object.
 * The file/folder check is made on the merged result: a side that replaced a file by a folder
 * merges cleanly unless the other side modified that file.  *conflicts_out counts new entries
 * under conflicts/ (a line conflict in a text file is one); *text_merges_out counts only clean
 * line merges.  Also ERR_INVALID (a NULL argument, or `theirs_author` holding a newline) and
 * ERR_TOOBIG (a tree of more than 262144 files or a path over 4096 bytes).  Nothing is
 * written to the out-parameters on failure, though objects may already be in the repository.
 */
int merge_trees(git_oid *tree_out, size_t *conflicts_out, size_t *text_merges_out,
	git_repository *repo, const git_oid *base, const git_oid *ours, const git_oid *theirs,
	const git_oid *theirs_commit, const char *theirs_author) WUR;

/*
 * Merge commit `theirs` into commit `ours` of case `case_id`: up to date, fast-forward, or a
 * merge commit (parents ours then theirs, merge base from git_merge_base, none: empty tree)
 * whose message is "case merge" with the attribution trailers of `merger` (the node making
 * it).  Nothing but objects is written; moving the case head is the caller's business.
 * The merge commit's author and committer are the merger (name user, email user@device, time
 * the merger's HLC wall seconds, UTC), so the same inputs and the same merger (HLC included)
 * give the same commit id.  Kept conflict versions are labelled with the attribution trailers
 * of the commit `theirs` and its id (for a merge commit that is its merger, not whoever wrote
 * the value).  When histories share more than one best merge base, libgit2's choice is used.
 * Returns 0 and fills *out; ERR_NOTFOUND for a missing commit or object; ERR_CORRUPT when a
 * real merge is needed and either head's meta/id is not `case_id`, when `theirs` has no
 * attribution trailers, or as merge_trees(); ERR_INVALID for a NULL argument.
 */
int merge_commits(struct merge_result *out, git_repository *repo, const char *case_id,
	const git_oid *ours, const git_oid *theirs, const struct casefile_author *merger) WUR;

#endif
