/* shared/merge.c - the deterministic three-way merge of case trees (DESIGN.md section 4). */
#include "merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odb.h"
#include "schema.h"

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

	if (l->n >= MERGE_FILES_MAX)
		return err_set(ERR_TOOBIG, "a case tree has more than %u files", MERGE_FILES_MAX);
	if (pl > MERGE_PATH_MAX || nl > MERGE_PATH_MAX - pl)
		return err_set(ERR_TOOBIG, "a path in a case tree is longer than %u bytes",
			MERGE_PATH_MAX);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *p = realloc(l->v, cap * sizeof(*l->v));

		if (!p)
			return err_set(ERR_NOMEM, "out of memory");
		l->v = p;
		l->cap = cap;
	}
	path = malloc(pl + nl + 1);
	if (!path)
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(path, prefix, pl);
	memcpy(path + pl, name, nl + 1);
	l->v[l->n].path = path;
	git_oid_cpy(&l->v[l->n].id, id);
	l->v[l->n].mode = mode;
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

/* Keep theirs' version `t` of a contested file as conflicts/<path>/<12 hex of its blob id>. */
static int keep_theirs(struct merge_ctx *m, const struct entry *t)
{
	char name[GIT_OID_HEXSZ + 1], commit[GIT_OID_HEXSZ + 1];
	struct buf content = BUF_INIT(ODB_OBJECT_MAX), dir = BUF_INIT(strlen(t->path) + 16);
	git_blob *blob = NULL;
	git_oid id;
	int rc, error;

	git_oid_tostr(name, CONFLICT_NAME_HEX + 1, &t->id);
	git_oid_tostr(commit, sizeof(commit), m->theirs_commit);
	rc = git_blob_lookup(&blob, m->repo, &t->id);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot read a contested file");
		goto out;
	}
	error = buf_printf(&content, "Author: %s\nCommit: %s\n\n", m->theirs_author, commit);
	if (!error)
		error = buf_put(&content, git_blob_rawcontent(blob),
			(size_t)git_blob_rawsize(blob));
	if (!error)
		error = buf_printf(&dir, "conflicts/%s/", t->path);
	if (error)
		goto out;
	rc = git_blob_create_from_buffer(&id, m->repo, content.ptr, content.len);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot write a conflict version");
		goto out;
	}
	error = list_push(&m->kept, dir.ptr, name, &id, GIT_FILEMODE_BLOB);
out:
	git_blob_free(blob);
	buf_release(&dir);
	buf_wipe_release(&content);
	return error;
}

static void input_of(git_merge_file_input *in, const git_blob *blob, const struct entry *e)
{
	in->ptr = git_blob_rawcontent(blob);
	in->size = (size_t)git_blob_rawsize(blob);
	in->path = e->path;
	in->mode = e->mode;
}

/*
 * Line-merge text file `o`/`t` against `b` (NULL: empty).  *merged is 1 and the result pushed
 * when the lines do not conflict, else 0 and nothing is pushed.
 */
static int merge_text(int *merged, struct merge_ctx *m, const struct entry *b,
	const struct entry *o, const struct entry *t)
{
	git_merge_file_input in[3];
	git_merge_file_result res;
	git_blob *blobs[3] = {NULL, NULL, NULL};
	const struct entry *ents[3] = {b, o, t};
	git_oid id;
	int i, rc = 0, error = 0;

	memset(&res, 0, sizeof(res));
	for (i = 0; i < 3 && rc >= 0; i++) {
		rc = git_merge_file_input_init(&in[i], GIT_MERGE_FILE_INPUT_VERSION);
		if (rc < 0 || !ents[i])
			continue;
		rc = git_blob_lookup(&blobs[i], m->repo, &ents[i]->id);
		if (rc >= 0)
			input_of(&in[i], blobs[i], ents[i]);
	}
	if (rc >= 0)
		rc = git_merge_file(&res, b ? &in[0] : NULL, &in[1], &in[2], NULL);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot merge the lines of a text file");
		goto out;
	}
	*merged = res.automergeable && res.len <= MERGE_TEXT_MAX;
	if (!*merged)
		goto out;
	rc = git_blob_create_from_buffer(&id, m->repo, res.ptr, res.len);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot write a merged text file");
		goto out;
	}
	error = list_push(&m->result, "", o->path, &id, o->mode);
out:
	if (res.ptr)
		memset((void *)res.ptr, 0, res.len); /* case text */
	git_merge_file_result_free(&res);
	for (i = 0; i < 3; i++)
		git_blob_free(blobs[i]);
	return error;
}

/* `o` and `t` changed differently: a clean line merge, else ours stays and theirs is kept. */
static int contest(struct merge_ctx *m, const struct entry *b, const struct entry *o,
	const struct entry *t)
{
	int merged = 0, error = 0;

	if (is_text(o->path))
		error = merge_text(&merged, m, b, o, t);
	if (error || merged) {
		m->text_merges += (size_t)merged;
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
	const git_oid *theirs_commit, const char *theirs_author, const struct list *touched_ours,
	const struct list *touched_theirs);

int merge_trees(git_oid *tree_out, size_t *conflicts_out, size_t *text_merges_out,
	git_repository *repo, const git_oid *base, const git_oid *ours, const git_oid *theirs,
	const git_oid *theirs_commit, const char *theirs_author)
{
	return merge_trees_touched(tree_out, conflicts_out, text_merges_out, repo, base, ours,
		theirs, theirs_commit, theirs_author, NULL, NULL);
}

static int merge_trees_touched(git_oid *tree_out, size_t *conflicts_out, size_t *text_merges_out,
	git_repository *repo, const git_oid *base, const git_oid *ours, const git_oid *theirs,
	const git_oid *theirs_commit, const char *theirs_author, const struct list *touched_ours,
	const struct list *touched_theirs)
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
	free(rev.summary);
	free(rev.user);
	free(rev.office);
	free(rev.device);
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
	int rc, error = 0;

	rc = git_revwalk_new(&walk, repo);
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
		if (rc >= 0)
			error = diff_paths(out, repo, tree, ptree, "", 0);
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
		qsort(out->v, out->n, sizeof(*out->v), cmp_entry);
	return error;
}

/* A real merge of two diverged heads: the tree, then the commit. */
static int merge_diverged(struct merge_result *r, git_repository *repo, const char *case_id,
	const git_commit *o, const git_commit *t, const struct casefile_author *merger)
{
	struct buf author = BUF_INIT(3 * SCHEMA_USER_MAX + 64);
	struct list touched_o = {NULL, 0, 0}, touched_t = {NULL, 0, 0};
	git_oid base, base_commit, tree;
	int has_base = 0, error;

	error = check_case(repo, o, case_id);
	if (!error)
		error = check_case(repo, t, case_id);
	if (!error)
		error = author_of(&author, t);
	if (!error)
		error = base_tree(&base, &base_commit, &has_base, repo, o, t);
	if (!error)
		error = touched_paths(&touched_o, repo, git_commit_id(o), has_base ? &base_commit : NULL);
	if (!error)
		error = touched_paths(&touched_t, repo, git_commit_id(t), has_base ? &base_commit : NULL);
	if (!error)
		error = merge_trees_touched(&tree, &r->conflicts, &r->text_merges, repo,
			has_base ? &base : NULL, git_commit_tree_id(o), git_commit_tree_id(t),
			git_commit_id(t), author.ptr, &touched_o, &touched_t);
	if (!error)
		error = write_merge(&r->head, repo, &tree, o, t, merger);
	list_release(&touched_o);
	list_release(&touched_t);
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
