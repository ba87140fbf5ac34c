/* shared/case/merge.c - the deterministic three-way merge of case trees (DESIGN.md section 4). */
#include "case/merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "store/odb.h"
#include "case/schema.h"

/* Files in one flattened tree: a case holds far fewer (notes and custody events included). */
#define MERGE_FILES_MAX (256u * 1024)

/* A line merge larger than the largest narrative casefile stores is treated as a conflict. */
#define MERGE_TEXT_MAX (2u * SCHEMA_NARRATIVE_MAX)

/* The longest path of a file, conflict versions included. */
#define MERGE_PATH_MAX 4096u

#define MESSAGE_MAX (16u * 1024)

/* Hex digits of a losing blob's id that name its conflict version. */
#define CONFLICT_NAME_HEX 12

/* One file of a flattened tree: its full path, blob id and mode. */
struct entry {
	char *path;
	git_oid id;
	git_filemode_t mode;
	/* in a list of touched paths: the commit that changed the path, its place in the walk
	 * (newest first) and whether it is a merge commit */
	git_oid commit;
	size_t seq;
	int merge;
};

struct list {
	struct entry *v;
	size_t n, cap;
};

/* What one merge needs besides the three flattened trees. */
struct merge_ctx {
	git_repository *repo;
	const git_oid *theirs_commit;
	const char *theirs_author;
	const git_oid *ours_commit; /* NULL: in-place versions are not labelled */
	const char *ours_author;
	struct list result; /* the merged tree's files, in path order */
	struct list kept;   /* conflict versions to add to it */
	size_t text_merges;
	/* paths some commit of ours' / theirs' side changed since the base, even if the last one
	 * set them back to the base's value (NULL: judge by the final values alone) */
	const struct list *touched_ours, *touched_theirs;
};

/* ---- flattened trees -------------------------------------------------------------------- */

static void list_release(struct list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Append a file; `prefix` + `name` is its path.  Takes no ownership of either. */
static int list_push(struct list *l, const char *prefix, const char *name, const git_oid *id,
	git_filemode_t mode)
{
	size_t pl = strlen(prefix), nl = strlen(name);
	char *path;
	int error;

	if (l->n >= MERGE_FILES_MAX)
		return err_set(ERR_TOOBIG, "a case tree has more than %u files", MERGE_FILES_MAX);
	if (pl > MERGE_PATH_MAX || nl > MERGE_PATH_MAX - pl)
		return err_set(ERR_TOOBIG, "a path in a case tree is longer than %u bytes",
			MERGE_PATH_MAX);
	error = ARRAY_GROW(&l->v, &l->cap, l->n + 1, MERGE_FILES_MAX);
	if (error)
		return error;
	path = malloc(pl + nl + 1);
	if (!path)
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(path, prefix, pl);
	memcpy(path + pl, name, nl + 1);
	l->v[l->n].path = path;
	git_oid_cpy(&l->v[l->n].id, id);
	l->v[l->n].mode = mode;
	memset(&l->v[l->n].commit, 0, sizeof(l->v[l->n].commit));
	l->v[l->n].seq = 0;
	l->v[l->n].merge = 0;
	l->n++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

/* The file at `path` in a list sorted by path, or NULL. */
static const struct entry *list_find(const struct list *l, const char *path)
{
	struct entry key;

	memset(&key, 0, sizeof(key));
	key.path = (char *)path;
	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_entry) : NULL;
}

struct flatten_walk {
	struct list *out;
	int error;
};

static int flatten_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct flatten_walk *w = payload;
	git_object_t type = git_tree_entry_type(e);

	if (type == GIT_OBJECT_TREE)
		return 0; /* descend */
	if (type != GIT_OBJECT_BLOB)
		w->error = err_set(ERR_CORRUPT, "'%s%s' in a case tree is not a file", root,
			git_tree_entry_name(e));
	else
		w->error = list_push(w->out, root, git_tree_entry_name(e), git_tree_entry_id(e),
			git_tree_entry_filemode(e));
	return w->error ? -1 : 0;
}

/* Every file of tree `id` (NULL: the empty tree), sorted by path. */
static int flatten(struct list *out, git_repository *repo, const git_oid *id)
{
	struct flatten_walk w = {out, 0};
	git_tree *tree = NULL;
	size_t i;
	int rc, error = 0;

	if (!id)
		goto out;
	rc = git_tree_lookup(&tree, repo, id);
	if (rc >= 0)
		rc = git_tree_walk(tree, GIT_TREEWALK_PRE, flatten_cb, &w);
	if (w.error)
		error = w.error;
	else if (rc < 0)
		error = odb_git_error(rc, "cannot read a case tree");
	if (error)
		goto out;
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_entry);
	for (i = 1; i < out->n && !error; i++)
		if (strcmp(out->v[i - 1].path, out->v[i].path) == 0)
			error = err_set(ERR_CORRUPT, "'%s' is twice in a case tree",
				out->v[i].path);
out:
	git_tree_free(tree);
	return error;
}

/* ---- line merge with conflict regions --------------------------------------------------- */

/*
 * Why libgit2's diff3 output is parsed rather than a merge of our own: git_merge_file is the
 * xdiff merge git itself runs, so where it finds no conflict the text is git's by
 * construction, and its conflict regions are git's.  Its output is text with markers; a user's
 * line can look like a marker, so the marker size is chosen longer than the longest run of
 * '<', '|', '=' or '>' that opens any line of the three inputs (git does the same for nested
 * merges).  No input line can then be read as a marker.
 */
#define MARKER_MIN 7
#define MARKER_MAX 250 /* a longer run of marker characters: the text is kept whole */

static const char *next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl + 1 : end;
}

/* The longest run of one marker character opening a line of `p`. */
static size_t marker_run(const char *p, size_t len)
{
	const char *end = p + len, *q;
	size_t best = 0, run;

	for (; p < end; p = next_line(p, end)) {
		if (*p != '<' && *p != '|' && *p != '=' && *p != '>')
			continue;
		for (q = p, run = 0; q < end && *q == *p; q++)
			run++;
		if (run > best)
			best = run;
	}
	return best;
}

/* Whether the line at `p` is a marker of `c` of size `m`: m times c, then space or line end. */
static int is_marker(const char *p, const char *end, char c, size_t m)
{
	size_t i;

	if ((size_t)(end - p) < m)
		return 0;
	for (i = 0; i < m; i++)
		if (p[i] != c)
			return 0;
	return p + m == end || p[m] == ' ' || p[m] == '\n' || p[m] == '\r';
}

static int push_region(struct merge_text *t, const struct merge_region *r)
{
	/* at most one region per line of the merged text, whose size is capped */
	int error = ARRAY_GROW(&t->regions, &t->cap, t->nregions + 1, ARRAY_NOMAX);

	if (error)
		return error;
	t->regions[t->nregions++] = *r;
	return 0;
}

/* Split diff3 output `raw` (markers of size m) into the merged text and its regions. */
static int parse_diff3(struct merge_text *t, size_t m)
{
	enum { OUT, OURS, BASE, OTHER } state = OUT;
	const char *p = t->raw, *end = t->raw + t->raw_len, *le;
	struct merge_region r;
	size_t line = 1;
	int error = 0;

	memset(&r, 0, sizeof(r));
	for (; p < end && !error; p = le) {
		le = next_line(p, end);
		if (state == OUT && is_marker(p, end, '<', m)) {
			memset(&r, 0, sizeof(r));
			r.line = line;
			r.merged_off = t->merged_len;
			r.ours = le;
			state = OURS;
		} else if (state == OURS && is_marker(p, end, '|', m)) {
			r.ours_len = (size_t)(p - r.ours);
			r.base = le;
			state = BASE;
		} else if (state == BASE && is_marker(p, end, '=', m)) {
			r.base_len = (size_t)(p - r.base);
			r.theirs = le;
			state = OTHER;
		} else if (state == OTHER && is_marker(p, end, '>', m)) {
			r.theirs_len = (size_t)(p - r.theirs);
			error = push_region(t, &r);
			state = OUT;
		} else if (state == OUT || state == OURS) {
			memcpy(t->merged + t->merged_len, p, (size_t)(le - p));
			t->merged_len += (size_t)(le - p);
			line++;
		} /* base and other lines are read through the region's pointers */
	}
	if (!error && state != OUT)
		error = err_set(ERR_CORRUPT, "a line merge left an unterminated conflict");
	return error;
}

int merge_lines(struct merge_text *out, const char *base, size_t base_len, const char *ours,
	size_t ours_len, const char *theirs, size_t theirs_len)
{
	git_merge_file_input in[3];
	git_merge_file_options opts;
	git_merge_file_result res;
	struct merge_text t;
	size_t m, run;
	int rc, error = 0;

	memset(&t, 0, sizeof(t));
	memset(&res, 0, sizeof(res));
	run = marker_run(base, base_len);
	if (marker_run(ours, ours_len) > run)
		run = marker_run(ours, ours_len);
	if (marker_run(theirs, theirs_len) > run)
		run = marker_run(theirs, theirs_len);
	if (run >= MARKER_MAX) {
		error = err_set(ERR_TOOBIG, "a text holds a line of %zu marker characters", run);
		goto out;
	}
	m = run < MARKER_MIN ? MARKER_MIN : run + 1;
	rc = git_merge_file_input_init(&in[0], GIT_MERGE_FILE_INPUT_VERSION);
	if (rc >= 0)
		rc = git_merge_file_input_init(&in[1], GIT_MERGE_FILE_INPUT_VERSION);
	if (rc >= 0)
		rc = git_merge_file_input_init(&in[2], GIT_MERGE_FILE_INPUT_VERSION);
	if (rc >= 0)
		rc = git_merge_file_options_init(&opts, GIT_MERGE_FILE_OPTIONS_VERSION);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot merge the lines of a text");
		goto out;
	}
	in[0].ptr = base;
	in[0].size = base_len;
	in[1].ptr = ours;
	in[1].size = ours_len;
	in[2].ptr = theirs;
	in[2].size = theirs_len;
	opts.flags = GIT_MERGE_FILE_STYLE_DIFF3;
	opts.marker_size = (unsigned short)m;
	opts.ancestor_label = "base";
	opts.our_label = "in-place";
	opts.their_label = "other";
	rc = git_merge_file(&res, &in[0], &in[1], &in[2], &opts);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot merge the lines of a text");
		goto out;
	}
	if (res.len > MERGE_TEXT_MAX) {
		error = err_set(ERR_TOOBIG, "a line merge is larger than %u bytes", MERGE_TEXT_MAX);
		goto out;
	}
	t.raw = malloc(res.len + 1);
	t.merged = malloc(res.len + 1);
	if (!t.raw || !t.merged) {
		error = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (res.len)
		memcpy(t.raw, res.ptr, res.len);
	t.raw[res.len] = '\0';
	t.raw_len = res.len;
	error = parse_diff3(&t, m);
	if (error)
		goto out;
	t.merged[t.merged_len] = '\0';
	*out = t;
	memset(&t, 0, sizeof(t));
out:
	if (res.ptr)
		memset((void *)res.ptr, 0, res.len); /* case text */
	git_merge_file_result_free(&res);
	merge_text_release(&t);
	return error;
}

void merge_text_release(struct merge_text *t)
{
	if (!t)
		return;
	if (t->raw)
		memset(t->raw, 0, t->raw_len);
	if (t->merged)
		memset(t->merged, 0, t->merged_len);
	free(t->raw);
	free(t->merged);
	free(t->regions);
	memset(t, 0, sizeof(*t));
}

/* ---- deciding one path ------------------------------------------------------------------ */

/* Both absent, or the same blob with the same mode. */
static int same(const struct entry *a, const struct entry *b)
{
	if (!a || !b)
		return a == b;
	return a->mode == b->mode && git_oid_equal(&a->id, &b->id);
}

static int under_conflicts(const char *path)
{
	return strncmp(path, "conflicts/", 10) == 0;
}

/* A text file merged line by line: a file called narrative.md outside conflicts/. */
static int is_text(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (under_conflicts(path))
		return 0;
	return strcmp(slash ? slash + 1 : path, "narrative.md") == 0;
}

static int push_entry(struct list *l, const struct entry *e)
{
	return list_push(l, "", e->path, &e->id, e->mode);
}

static int author_of(struct buf *out, const git_commit *c);

/*
 * Who wrote one side's version of `path`: the newest plain (not merge) commit of that side since
 * the base that changed it, else the side's head (`def_author`, `def_commit`).  Knowing the
 * writer of both versions is what lets a device tell its own version from the other.
 */
static int label_side(struct buf *author, char commit[GIT_OID_HEXSZ + 1], struct merge_ctx *m,
	const struct list *touched, const char *def_author, const git_oid *def_commit,
	const char *path)
{
	const struct entry *e = touched ? list_find(touched, path) : NULL;
	git_commit *c = NULL;
	int rc, error = 0;

	if (!e || e->merge) {
		git_oid_tostr(commit, GIT_OID_HEXSZ + 1, def_commit);
		error = buf_puts(author, def_author);
		goto out;
	}
	rc = git_commit_lookup(&c, m->repo, &e->commit);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot read a commit of the case");
		goto out;
	}
	error = author_of(author, c);
	git_oid_tostr(commit, GIT_OID_HEXSZ + 1, &e->commit);
out:
	git_commit_free(c);
	return error;
}

/* The header of a kept version: Author/Commit of theirs, Current-* of the version in place. */
static int kept_header(struct buf *out, struct merge_ctx *m, const char *path)
{
	struct buf who = BUF_INIT(3 * SCHEMA_USER_MAX + 64);
	char commit[GIT_OID_HEXSZ + 1];
	int error;

	error = label_side(&who, commit, m, m->touched_theirs, m->theirs_author, m->theirs_commit,
		path);
	if (!error)
		error = buf_printf(out, "Author: %s\nCommit: %s\n", buf_cstr(&who), commit);
	if (!error && m->ours_commit) {
		buf_reset(&who);
		error = label_side(&who, commit, m, m->touched_ours, m->ours_author,
			m->ours_commit, path);
		if (!error)
			error = buf_printf(out, "Current-Author: %s\nCurrent-Commit: %s\n",
				buf_cstr(&who), commit);
	}
	buf_release(&who);
	return error;
}

/* Write `content` as a blob and add it to the kept versions as conflicts/<path>/<name>. */
static int keep_blob(struct merge_ctx *m, const char *path, const char *name,
	const struct buf *content)
{
	struct buf dir = BUF_INIT(strlen(path) + 16);
	git_oid id;
	int rc, error;

	error = buf_printf(&dir, "conflicts/%s/", path);
	if (error)
		goto out;
	rc = git_blob_create_from_buffer(&id, m->repo, content->ptr, content->len);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot write a conflict version");
		goto out;
	}
	error = list_push(&m->kept, dir.ptr, name, &id, GIT_FILEMODE_BLOB);
out:
	buf_release(&dir);
	return error;
}

/* Keep theirs' version `t` of a contested file as conflicts/<path>/<12 hex of its blob id>. */
static int keep_theirs(struct merge_ctx *m, const struct entry *t)
{
	char name[GIT_OID_HEXSZ + 1];
	struct buf content = BUF_INIT(ODB_OBJECT_MAX);
	git_blob *blob = NULL;
	int rc, error;

	git_oid_tostr(name, CONFLICT_NAME_HEX + 1, &t->id);
	rc = git_blob_lookup(&blob, m->repo, &t->id);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot read a contested file");
		goto out;
	}
	error = kept_header(&content, m, t->path);
	if (!error)
		error = buf_put(&content, "\n", 1);
	if (!error)
		error = buf_put(&content, git_blob_rawcontent(blob),
			(size_t)git_blob_rawsize(blob));
	if (!error)
		error = keep_blob(m, t->path, name, &content);
out:
	git_blob_free(blob);
	buf_wipe_release(&content);
	return error;
}

/*
 * Keep one conflict region of a line merge as conflicts/<path>/<name>:
 *   Author/Commit (the other version), Current-Author/Current-Commit (the version in place),
 *   "Region: <line> <base bytes> <in-place bytes> <other bytes>", a blank line, then the base,
 *   in-place and other lines of just that region.
 * <name> is 12 hex digits of the hash of the Region line and the three texts (not the
 * labels), so the same region kept by two merges is one entry.
 */
static int keep_region(struct merge_ctx *m, const char *path, const struct merge_region *r)
{
	struct buf body = BUF_INIT(ODB_OBJECT_MAX), content = BUF_INIT(ODB_OBJECT_MAX);
	char name[GIT_OID_HEXSZ + 1];
	git_oid id;
	int rc, error;

	error = buf_printf(&body, "Region: %zu %zu %zu %zu\n\n", r->line, r->base_len,
		r->ours_len, r->theirs_len);
	if (!error)
		error = buf_put(&body, r->base, r->base_len);
	if (!error)
		error = buf_put(&body, r->ours, r->ours_len);
	if (!error)
		error = buf_put(&body, r->theirs, r->theirs_len);
	if (!error)
		error = kept_header(&content, m, path);
	if (!error)
		error = buf_put(&content, body.ptr, body.len);
	if (error)
		goto out;
	rc = git_odb_hash(&id, body.ptr, body.len, GIT_OBJECT_BLOB);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot name a conflict region");
		goto out;
	}
	git_oid_tostr(name, CONFLICT_NAME_HEX + 1, &id);
	error = keep_blob(m, path, name, &content);
out:
	buf_wipe_release(&content);
	buf_wipe_release(&body);
	return error;
}

static int blob_input(git_blob **blob, const char **ptr, size_t *len, git_repository *repo,
	const struct entry *e)
{
	int rc;

	*ptr = "";
	*len = 0;
	if (!e)
		return 0;
	rc = git_blob_lookup(blob, repo, &e->id);
	if (rc < 0)
		return odb_git_error(rc, "cannot read a text file");
	*ptr = git_blob_rawcontent(*blob);
	*len = (size_t)git_blob_rawsize(*blob);
	return 0;
}

/*
 * Line-merge text file `o`/`t` against `b` (NULL: empty).  Every hunk that does not overlap
 * the other side's is applied; each overlapping region keeps ours' lines in place and is kept
 * as a region record (keep_region).  *merged: 1 for a clean merge, 2 for a merge with kept
 * regions, 0 when the text cannot be merged line by line (too large, marker-like lines
 * beyond MARKER_MAX): then nothing is pushed and the caller keeps theirs whole.
 */
static int merge_text(int *merged, struct merge_ctx *m, const struct entry *b,
	const struct entry *o, const struct entry *t)
{
	git_blob *blobs[3] = {NULL, NULL, NULL};
	const struct entry *ents[3] = {b, o, t};
	const char *ptr[3];
	size_t len[3], i;
	struct merge_text mt;
	git_oid id;
	int rc, error = 0;

	memset(&mt, 0, sizeof(mt));
	*merged = 0;
	for (i = 0; i < 3 && !error; i++)
		error = blob_input(&blobs[i], &ptr[i], &len[i], m->repo, ents[i]);
	if (!error)
		error = merge_lines(&mt, ptr[0], len[0], ptr[1], len[1], ptr[2], len[2]);
	if (error == ERR_TOOBIG || error == ERR_CORRUPT) {
		error = 0; /* kept whole by the caller */
		goto out;
	}
	if (error)
		goto out;
	rc = git_blob_create_from_buffer(&id, m->repo, mt.merged, mt.merged_len);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot write a merged text file");
		goto out;
	}
	error = list_push(&m->result, "", o->path, &id, o->mode);
	for (i = 0; i < mt.nregions && !error; i++)
		error = keep_region(m, o->path, &mt.regions[i]);
	if (!error)
		*merged = mt.nregions ? 2 : 1;
out:
	merge_text_release(&mt);
	for (i = 0; i < 3; i++)
		git_blob_free(blobs[i]);
	return error;
}

/* `o` and `t` changed differently: a line merge for text, else ours stays and theirs is kept. */
static int contest(struct merge_ctx *m, const struct entry *b, const struct entry *o,
	const struct entry *t)
{
	int merged = 0, error = 0;

	if (is_text(o->path))
		error = merge_text(&merged, m, b, o, t);
	if (error || merged) {
		m->text_merges += merged == 1;
		goto out;
	}
	error = push_entry(&m->result, o);
	if (!error)
		error = keep_theirs(m, t);
out:
	return error;
}

/* Apply the rules of merge.h to one path; base `b`, ours `o`, theirs `t` (NULL: absent). */
/*
 * Whether a side changed a path: its final value differs from the base's, or one of its
 * commits wrote the path (a value set back to the base's is a value someone chose: HQ setting a
 * status back to "intake" while an office set "review" must not vanish).
 */
static int changed(const struct list *touched, const struct entry *x, const struct entry *b,
	const char *path)
{
	return !same(x, b) || (touched && list_find(touched, path));
}

static int decide(struct merge_ctx *m, const struct entry *b, const struct entry *o,
	const struct entry *t)
{
	const struct entry *keep = NULL;
	const char *path = (b ? b : o ? o : t)->path; /* join calls with at least one */
	int error = 0;

	if (same(o, t) || !changed(m->touched_theirs, t, b, path)) /* alike, or only ours did */
		keep = o;
	else if (!changed(m->touched_ours, o, b, path)) /* only theirs changed it */
		keep = t;
	else if (!o || !t) /* modified against deleted: the modification */
		keep = o ? o : t;
	else if (under_conflicts(o->path)) /* a kept version added twice: the same value */
		keep = o;
	else
		error = contest(m, b, o, t);
	if (keep)
		error = push_entry(&m->result, keep);
	return error;
}

/* The smallest path among the heads of three sorted lists, or NULL when all are done. */
static const char *next_path(const struct list *l[3], const size_t pos[3])
{
	const char *min = NULL;
	int i;

	for (i = 0; i < 3; i++)
		if (pos[i] < l[i]->n && (!min || strcmp(l[i]->v[pos[i]].path, min) < 0))
			min = l[i]->v[pos[i]].path;
	return min;
}

/* Merge-join base, ours and theirs by path, deciding each path once. */
static int join(struct merge_ctx *m, const struct list *base, const struct list *ours,
	const struct list *theirs)
{
	const struct list *l[3] = {base, ours, theirs};
	size_t pos[3] = {0, 0, 0};
	const char *path;
	int error = 0;

	while (!error && (path = next_path(l, pos)) != NULL) {
		const struct entry *e[3] = {NULL, NULL, NULL};
		int i;

		for (i = 0; i < 3; i++)
			if (pos[i] < l[i]->n && strcmp(l[i]->v[pos[i]].path, path) == 0)
				e[i] = &l[i]->v[pos[i]];
		for (i = 0; i < 3; i++)
			pos[i] += e[i] != NULL;
		error = decide(m, e[0], e[1], e[2]);
	}
	return error;
}

/* ---- the merged tree -------------------------------------------------------------------- */

/*
 * Add the kept conflict versions that the merged tree does not already hold (the same losing
 * value kept twice is one entry) and sort it again.  *added counts the new ones.
 */
static int add_kept(size_t *added, struct merge_ctx *m)
{
	size_t i, n = m->result.n;
	int error = 0;

	*added = 0;
	for (i = 0; i < m->kept.n && !error; i++) {
		if (n && bsearch(&m->kept.v[i], m->result.v, n, sizeof(*m->result.v), cmp_entry))
			continue;
		error = push_entry(&m->result, &m->kept.v[i]);
		*added += !error;
	}
	if (!error && m->result.n)
		qsort(m->result.v, m->result.n, sizeof(*m->result.v), cmp_entry);
	return error;
}

/* *clash_len > 0 (the folder's length) when a folder of `path` is a file of sorted `l`. */
static int folder_clash(size_t *clash_len, const struct list *l, const char *path,
	struct buf *tmp)
{
	const char *slash;
	int error = 0;

	*clash_len = 0;
	for (slash = strchr(path, '/'); slash && !error && !*clash_len;
		slash = strchr(slash + 1, '/')) {
		buf_reset(tmp);
		error = buf_put(tmp, path, (size_t)(slash - path));
		if (!error && list_find(l, buf_cstr(tmp)))
			*clash_len = tmp->len;
	}
	return error;
}

/* ERR_CORRUPT if a path of the sorted list is both a file and a folder. */
static int check_file_folder(const struct list *l)
{
	struct buf tmp = BUF_INIT(MERGE_PATH_MAX);
	size_t i, len = 0;
	int error = 0;

	for (i = 0; i < l->n && !error && !len; i++)
		error = folder_clash(&len, l, l->v[i].path, &tmp);
	if (!error && len)
		error = err_set(ERR_CORRUPT,
			"cannot merge: '%.*s' is a file on one side and a folder on the other",
			(int)len, l->v[i - 1].path);
	buf_release(&tmp);
	return error;
}

/* Write the files of `l` as a tree. */
static int write_tree(git_oid *out, git_repository *repo, const struct list *l)
{
	git_index *idx = NULL;
	git_index_entry e;
	size_t i;
	int rc;

	rc = git_index_new(&idx);
	for (i = 0; i < l->n && rc >= 0; i++) {
		memset(&e, 0, sizeof(e));
		e.path = l->v[i].path;
		e.mode = l->v[i].mode;
		git_oid_cpy(&e.id, &l->v[i].id);
		rc = git_index_add(idx, &e);
	}
	if (rc >= 0)
		rc = git_index_write_tree_to(out, idx, repo);
	git_index_free(idx);
	return rc < 0 ? odb_git_error(rc, "cannot write the merged case tree") : 0;
}

static int merge_trees_touched(git_oid *tree_out, size_t *conflicts_out, size_t *text_merges_out,
	git_repository *repo, const git_oid *base, const git_oid *ours, const git_oid *theirs,
	const git_oid *theirs_commit, const char *theirs_author, const git_oid *ours_commit,
	const char *ours_author, const struct list *touched_ours, const struct list *touched_theirs);

int merge_trees(git_oid *tree_out, size_t *conflicts_out, size_t *text_merges_out,
	git_repository *repo, const git_oid *base, const git_oid *ours, const git_oid *theirs,
	const git_oid *theirs_commit, const char *theirs_author)
{
	return merge_trees_touched(tree_out, conflicts_out, text_merges_out, repo, base, ours,
		theirs, theirs_commit, theirs_author, NULL, NULL, NULL, NULL);
}

static int merge_trees_touched(git_oid *tree_out, size_t *conflicts_out, size_t *text_merges_out,
	git_repository *repo, const git_oid *base, const git_oid *ours, const git_oid *theirs,
	const git_oid *theirs_commit, const char *theirs_author, const git_oid *ours_commit,
	const char *ours_author, const struct list *touched_ours, const struct list *touched_theirs)
{
	struct merge_ctx m;
	struct list lb = {NULL, 0, 0}, lo = {NULL, 0, 0}, lt = {NULL, 0, 0};
	size_t added = 0;
	git_oid tree;
	int error;

	memset(&m, 0, sizeof(m));
	m.repo = repo;
	m.theirs_commit = theirs_commit;
	m.theirs_author = theirs_author;
	m.ours_commit = ours_commit;
	m.ours_author = ours_author;
	m.touched_ours = touched_ours;
	m.touched_theirs = touched_theirs;
	if (!repo || !ours || !theirs || !theirs_commit || !theirs_author ||
		strchr(theirs_author, '\n')) {
		error = err_set(ERR_INVALID, "merge_trees: missing or malformed argument");
		goto out;
	}
	error = flatten(&lb, repo, base);
	if (!error)
		error = flatten(&lo, repo, ours);
	if (!error)
		error = flatten(&lt, repo, theirs);
	if (!error)
		error = join(&m, &lb, &lo, &lt);
	if (!error)
		error = add_kept(&added, &m);
	if (!error)
		error = check_file_folder(&m.result);
	if (!error)
		error = write_tree(&tree, repo, &m.result);
	if (error)
		goto out;
	git_oid_cpy(tree_out, &tree);
	if (conflicts_out)
		*conflicts_out = added;
	if (text_merges_out)
		*text_merges_out = m.text_merges;
out:
	list_release(&m.kept);
	list_release(&m.result);
	list_release(&lt);
	list_release(&lo);
	list_release(&lb);
	return error;
}

/* ---- merge commits ---------------------------------------------------------------------- */

/* "user (office/device)" from the attribution trailers of commit `c`. */
static int author_of(struct buf *out, const git_commit *c)
{
	struct casefile_rev rev;
	int error;

	memset(&rev, 0, sizeof(rev));
	error = casefile_parse_message(&rev, git_commit_message(c));
	if (error) {
		char hex[GIT_OID_HEXSZ + 1];

		error = err_set(ERR_CORRUPT, "commit %s has no attribution trailers",
			git_oid_tostr(hex, sizeof(hex), git_commit_id(c)));
		goto out;
	}
	error = buf_printf(out, "%s (%s/%s)", rev.user, rev.office, rev.device);
out:
	casefile_rev_release(&rev);
	return error;
}

/* ERR_CORRUPT unless the tree of `c` holds meta/id == case_id. */
static int check_case(git_repository *repo, const git_commit *c, const char *case_id)
{
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	git_tree *tree = NULL;
	int rc, error = 0;

	rc = git_commit_tree(&tree, c);
	if (rc >= 0)
		rc = git_tree_entry_bypath(&e, tree, "meta/id");
	if ((rc == GIT_ENOTFOUND && tree) || (e && git_tree_entry_type(e) != GIT_OBJECT_BLOB)) {
		error = err_set(ERR_CORRUPT, "a head of case '%s' has no meta/id file", case_id);
		goto out;
	}
	if (rc >= 0)
		rc = git_blob_lookup(&blob, repo, git_tree_entry_id(e));
	if (rc < 0) {
		error = odb_git_error(rc, "cannot read a case head");
		goto out;
	}
	if ((size_t)git_blob_rawsize(blob) != strlen(case_id) ||
		memcmp(git_blob_rawcontent(blob), case_id, strlen(case_id)) != 0)
		error = err_set(ERR_CORRUPT, "cannot merge a head of another case into '%s'",
			case_id);
out:
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	return error;
}

/* The merge commit of `tree` with parents `o`, `t`, attributed to `merger`. */
static int write_merge(git_oid *out, git_repository *repo, const git_oid *tree_id,
	const git_commit *o, const git_commit *t, const struct casefile_author *merger)
{
	struct buf msg = BUF_INIT(MESSAGE_MAX), email = BUF_INIT(MESSAGE_MAX);
	const git_commit *parents[2] = {o, t};
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	char clock[HLC_STR_MAX];
	int rc = 0, error;

	hlc_format(clock, &merger->hlc);
	error = buf_printf(&msg,
		"case merge\n\nFieldsync-User: %s\nFieldsync-Office: %s\nFieldsync-Device: %s\n"
		"Fieldsync-HLC: %s\n",
		merger->user, merger->office, merger->device, clock);
	if (!error)
		error = buf_printf(&email, "%s@%s", merger->user, merger->device);
	if (error)
		goto out;
	rc = git_signature_new(&sig, merger->user, email.ptr,
		(git_time_t)(merger->hlc.wall_ms / 1000), 0);
	if (rc >= 0)
		rc = git_tree_lookup(&tree, repo, tree_id);
	if (rc >= 0)
		rc = git_commit_create(out, repo, NULL, sig, sig, NULL, msg.ptr, tree, 2, parents);
	if (rc < 0)
		error = odb_git_error(rc, "cannot write the merge commit");
out:
	git_tree_free(tree);
	git_signature_free(sig);
	buf_release(&email);
	buf_release(&msg);
	return error;
}

/* MERGE_UP_TO_DATE, MERGE_FAST_FORWARD or MERGE_MERGED into *kind. */
static int classify(int *kind, git_repository *repo, const git_oid *ours, const git_oid *theirs)
{
	int rc = 0, error = 0;

	*kind = MERGE_UP_TO_DATE;
	if (git_oid_equal(ours, theirs))
		goto out;
	rc = git_graph_descendant_of(repo, ours, theirs);
	if (rc == 1) /* theirs is behind ours */
		goto out;
	if (rc == 0)
		rc = git_graph_descendant_of(repo, theirs, ours);
	if (rc < 0)
		error = odb_git_error(rc, "cannot compare case histories");
	*kind = rc == 1 ? MERGE_FAST_FORWARD : MERGE_MERGED;
out:
	return error;
}

/* The tree of the merge base of `o` and `t` into *base; *has_base 0 when there is none. */
static int base_tree(git_oid *base, git_oid *base_commit, int *has_base, git_repository *repo,
	const git_commit *o, const git_commit *t)
{
	git_commit *c = NULL;
	git_oid id;
	int rc, error = 0;

	*has_base = 0;
	rc = git_merge_base(&id, repo, git_commit_id(o), git_commit_id(t));
	if (rc == GIT_ENOTFOUND) /* unrelated histories: merge against the empty tree */
		goto out;
	if (rc >= 0)
		rc = git_commit_lookup(&c, repo, &id);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot find the merge base");
		goto out;
	}
	git_oid_cpy(base, git_commit_tree_id(c));
	git_oid_cpy(base_commit, &id);
	*has_base = 1;
out:
	git_commit_free(c);
	return error;
}

/* The files under `prefix` where trees `a` and `b` differ (either may be NULL: empty). */
static int diff_paths(struct list *out, git_repository *repo, git_tree *a, git_tree *b,
	const char *prefix, int depth);

static int diff_entry(struct list *out, git_repository *repo, const git_tree_entry *ea,
	const git_tree_entry *eb, const char *prefix, int depth)
{
	const git_tree_entry *e = ea ? ea : eb;
	git_tree *sa = NULL, *sb = NULL;
	char sub[MERGE_PATH_MAX];
	int rc = 0, error = 0;

	if (ea && eb && git_oid_equal(git_tree_entry_id(ea), git_tree_entry_id(eb)))
		return 0;
	if ((ea && git_tree_entry_type(ea) == GIT_OBJECT_BLOB) ||
		(eb && git_tree_entry_type(eb) == GIT_OBJECT_BLOB))
		error = list_push(out, prefix, git_tree_entry_name(e), git_tree_entry_id(e),
			GIT_FILEMODE_BLOB);
	if (ea && git_tree_entry_type(ea) == GIT_OBJECT_TREE)
		rc = git_tree_lookup(&sa, repo, git_tree_entry_id(ea));
	if (rc >= 0 && eb && git_tree_entry_type(eb) == GIT_OBJECT_TREE)
		rc = git_tree_lookup(&sb, repo, git_tree_entry_id(eb));
	if (rc < 0)
		error = odb_git_error(rc, "cannot read a case tree");
	if (!error && (sa || sb)) {
		snprintf(sub, sizeof(sub), "%s%s/", prefix, git_tree_entry_name(e));
		error = diff_paths(out, repo, sa, sb, sub, depth + 1);
	}
	git_tree_free(sa);
	git_tree_free(sb);
	return error;
}

static int diff_paths(struct list *out, git_repository *repo, git_tree *a, git_tree *b,
	const char *prefix, int depth)
{
	size_t i;
	int error = 0;

	if (depth > 16)
		return err_set(ERR_CORRUPT, "a case tree is nested too deep");
	for (i = 0; !error && a && i < git_tree_entrycount(a); i++) {
		const git_tree_entry *ea = git_tree_entry_byindex(a, i);

		error = diff_entry(out, repo, ea, b ? git_tree_entry_byname(b, git_tree_entry_name(ea))
						   : NULL, prefix, depth);
	}
	for (i = 0; !error && b && i < git_tree_entrycount(b); i++) {
		const git_tree_entry *eb = git_tree_entry_byindex(b, i);

		if (!a || !git_tree_entry_byname(a, git_tree_entry_name(eb)))
			error = diff_entry(out, repo, NULL, eb, prefix, depth);
	}
	return error;
}

/* By path, then plain commits before merges, then newest first. */
static int cmp_touched(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	int c = strcmp(a->path, b->path);

	if (c)
		return c;
	if (a->merge != b->merge)
		return a->merge - b->merge;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sort a touched list and keep one entry per path: the newest plain commit that changed it. */
static void dedupe_touched(struct list *l)
{
	size_t i, n = 0;

	qsort(l->v, l->n, sizeof(*l->v), cmp_touched);
	for (i = 0; i < l->n; i++) {
		if (n && strcmp(l->v[n - 1].path, l->v[i].path) == 0) {
			free(l->v[i].path);
			continue;
		}
		l->v[n++] = l->v[i];
	}
	l->n = n;
}

/*
 * Every file path some commit between `base` (NULL: the beginning) and `head` changed against
 * its first parent, sorted.  A merge commit on the way counts what it brought in, which can
 * only turn a silent choice into a kept conflict, never lose one.
 */
static int touched_paths(struct list *out, git_repository *repo, const git_oid *head,
	const git_oid *base)
{
	git_revwalk *walk = NULL;
	git_commit *c = NULL, *p = NULL;
	git_tree *tree = NULL, *ptree = NULL;
	git_oid id;
	size_t seq = 0;
	int rc, error = 0;

	rc = git_revwalk_new(&walk, repo);
	if (rc >= 0)
		rc = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	if (rc >= 0)
		rc = git_revwalk_push(walk, head);
	if (rc >= 0 && base)
		rc = git_revwalk_hide(walk, base);
	while (rc >= 0 && !error && (rc = git_revwalk_next(&id, walk)) == 0) {
		rc = git_commit_lookup(&c, repo, &id);
		if (rc >= 0)
			rc = git_commit_tree(&tree, c);
		if (rc >= 0 && git_commit_parentcount(c) > 0)
			rc = git_commit_parent(&p, c, 0);
		if (rc >= 0 && p)
			rc = git_commit_tree(&ptree, p);
		if (rc >= 0) {
			size_t k, first = out->n;

			error = diff_paths(out, repo, tree, ptree, "", 0);
			for (k = first; k < out->n; k++) {
				git_oid_cpy(&out->v[k].commit, &id);
				out->v[k].seq = seq;
				out->v[k].merge = git_commit_parentcount(c) > 1;
			}
			seq++;
		}
		git_tree_free(ptree);
		git_tree_free(tree);
		git_commit_free(p);
		git_commit_free(c);
		ptree = tree = NULL;
		p = c = NULL;
	}
	if (!error && rc != GIT_ITEROVER && rc < 0)
		error = odb_git_error(rc, "cannot walk a case history");
	git_revwalk_free(walk);
	if (!error && out->n)
		dedupe_touched(out);
	return error;
}

/* A real merge of two diverged heads: the tree, then the commit. */
static int merge_diverged(struct merge_result *r, git_repository *repo, const char *case_id,
	const git_commit *o, const git_commit *t, const struct casefile_author *merger)
{
	struct buf author = BUF_INIT(3 * SCHEMA_USER_MAX + 64);
	struct buf ours_author = BUF_INIT(3 * SCHEMA_USER_MAX + 64);
	struct list touched_o = {NULL, 0, 0}, touched_t = {NULL, 0, 0};
	git_oid base, base_commit, tree;
	int has_base = 0, error;

	error = check_case(repo, o, case_id);
	if (!error)
		error = check_case(repo, t, case_id);
	if (!error)
		error = author_of(&author, t);
	if (!error && author_of(&ours_author, o) != 0)
		buf_reset(&ours_author); /* a head without trailers: in-place versions unlabelled */
	if (!error)
		error = base_tree(&base, &base_commit, &has_base, repo, o, t);
	if (!error)
		error = touched_paths(&touched_o, repo, git_commit_id(o), has_base ? &base_commit : NULL);
	if (!error)
		error = touched_paths(&touched_t, repo, git_commit_id(t), has_base ? &base_commit : NULL);
	if (!error)
		error = merge_trees_touched(&tree, &r->conflicts, &r->text_merges, repo,
			has_base ? &base : NULL, git_commit_tree_id(o), git_commit_tree_id(t),
			git_commit_id(t), author.ptr, ours_author.len ? git_commit_id(o) : NULL,
			buf_cstr(&ours_author), &touched_o,
			&touched_t);
	if (!error)
		error = write_merge(&r->head, repo, &tree, o, t, merger);
	list_release(&touched_o);
	list_release(&touched_t);
	buf_release(&ours_author);
	buf_release(&author);
	return error;
}

int merge_commits(struct merge_result *out, git_repository *repo, const char *case_id,
	const git_oid *ours, const git_oid *theirs, const struct casefile_author *merger)
{
	struct merge_result r;
	git_commit *o = NULL, *t = NULL;
	int rc, error;

	memset(&r, 0, sizeof(r));
	if (!out || !repo || !case_id || !ours || !theirs || !merger || !merger->user ||
		!merger->office || !merger->device) {
		error = err_set(ERR_INVALID, "merge_commits: missing argument");
		goto out;
	}
	rc = git_commit_lookup(&o, repo, ours);
	if (rc >= 0)
		rc = git_commit_lookup(&t, repo, theirs);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot read a head of the case");
		goto out;
	}
	error = classify(&r.kind, repo, ours, theirs);
	if (error)
		goto out;
	if (r.kind == MERGE_UP_TO_DATE)
		git_oid_cpy(&r.head, ours);
	else if (r.kind == MERGE_FAST_FORWARD)
		git_oid_cpy(&r.head, theirs);
	else
		error = merge_diverged(&r, repo, case_id, o, t, merger);
	if (!error)
		*out = r;
out:
	git_commit_free(t);
	git_commit_free(o);
	return error;
}
