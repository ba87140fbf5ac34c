/* shared/sync/sync.c - what goes into a change set, and taking one case out of it. */
#include "sync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "case/casefile.h"
#include "case/evidence.h"
#include "store/odb.h"
#include "case/schema.h"

#define PARENTS_MAX 8
#define CONFLICT_DEPTH_MAX 6
#define FIELD_VALUE_MAX 4096

static int add_raw(struct changeset_writer *w, git_odb *odb, const git_oid *id)
{
	git_odb_object *o = NULL;
	int rc, error;

	if (changeset_writer_has(w, id))
		return 0;
	rc = git_odb_read(&o, odb, id);
	if (rc < 0)
		return odb_git_error(rc, "cannot read an object to send");
	error = changeset_writer_add_object(w, git_odb_object_type(o), id, git_odb_object_data(o),
		git_odb_object_size(o));
	git_odb_object_free(o);
	return error;
}

/* Whether one of the parents' trees holds the same entry (then the receiver has it). */
static int known_entry(git_tree *const *parents, size_t np, const git_tree_entry *e)
{
	size_t i;

	for (i = 0; i < np; i++) {
		const git_tree_entry *pe =
			parents[i] ? git_tree_entry_byname(parents[i], git_tree_entry_name(e)) : NULL;

		if (pe && git_oid_equal(git_tree_entry_id(pe), git_tree_entry_id(e)))
			return 1;
	}
	return 0;
}

static int add_tree_delta(struct changeset_writer *w, git_repository *repo, git_odb *odb,
	git_tree *tree, git_tree *const *parents, size_t np)
{
	size_t i, k, n = git_tree_entrycount(tree);
	int error = 0;

	/*
	 * No early return when the tree was added already: it was added against other parents,
	 * and an entry known there may be new against these (a commit that brings back an older
	 * tree).  add_raw() still sends each object once.
	 */
	error = add_raw(w, odb, git_tree_id(tree));
	for (i = 0; !error && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		git_tree *sub = NULL, *psub[PARENTS_MAX] = {NULL};
		int rc;

		if (known_entry(parents, np, e))
			continue;
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
			error = add_raw(w, odb, git_tree_entry_id(e));
			continue;
		}
		rc = git_tree_lookup(&sub, repo, git_tree_entry_id(e));
		for (k = 0; rc >= 0 && k < np; k++) {
			const git_tree_entry *pe = parents[k]
							   ? git_tree_entry_byname(parents[k], git_tree_entry_name(e))
							   : NULL;

			if (pe && git_tree_entry_type(pe) == GIT_OBJECT_TREE)
				rc = git_tree_lookup(&psub[k], repo, git_tree_entry_id(pe));
		}
		if (rc < 0)
			error = odb_git_error(rc, "cannot read a tree to send");
		else
			error = add_tree_delta(w, repo, odb, sub, psub, np);
		for (k = 0; k < np; k++)
			git_tree_free(psub[k]);
		git_tree_free(sub);
	}
	return error;
}

static int add_commit(struct changeset_writer *w, git_repository *repo, git_odb *odb,
	const git_oid *id)
{
	git_commit *c = NULL, *p = NULL;
	git_tree *tree = NULL, *ptrees[PARENTS_MAX] = {NULL};
	size_t np = 0, i;
	int rc, error;

	error = add_raw(w, odb, id);
	if (error)
		return error;
	rc = git_commit_lookup(&c, repo, id);
	if (rc >= 0)
		rc = git_commit_tree(&tree, c);
	for (i = 0; rc >= 0 && i < git_commit_parentcount(c) && np < PARENTS_MAX; i++) {
		rc = git_commit_parent(&p, c, (unsigned)i);
		if (rc >= 0)
			rc = git_commit_tree(&ptrees[np++], p);
		git_commit_free(p);
		p = NULL;
	}
	error = rc < 0 ? odb_git_error(rc, "cannot read a commit to send")
		       : add_tree_delta(w, repo, odb, tree, ptrees, np);
	for (i = 0; i < np; i++)
		git_tree_free(ptrees[i]);
	git_tree_free(tree);
	git_commit_free(c);
	return error;
}

int sync_collect(struct changeset_writer *w, git_repository *repo, const git_oid *head,
	const git_oid *haves, size_t nhaves)
{
	git_revwalk *walk = NULL;
	git_odb *odb = NULL;
	git_oid id;
	size_t i;
	int rc, error = 0;

	rc = git_repository_odb(&odb, repo);
	if (rc >= 0)
		rc = git_revwalk_new(&walk, repo);
	if (rc >= 0)
		rc = git_revwalk_push(walk, head);
	for (i = 0; rc >= 0 && i < nhaves; i++)
		if (git_odb_exists(odb, &haves[i]))
			rc = git_revwalk_hide(walk, &haves[i]);
	if (rc < 0) {
		error = odb_git_error(rc, "cannot walk a case history");
		goto out;
	}
	while (!error && (rc = git_revwalk_next(&id, walk)) == 0)
		error = add_commit(w, repo, odb, &id);
	if (!error && rc != GIT_ITEROVER)
		error = odb_git_error(rc, "cannot walk a case history");
out:
	git_revwalk_free(walk);
	git_odb_free(odb);
	return error;
}

/* An object still to visit, and the type its referrer says it has. */
struct pending {
	git_oid id;
	git_object_t type;
};

struct walk {
	struct pending *stack;
	size_t n, cap;
	struct oidset seen;
	git_oid *commits;
	size_t ncommits, ccap;
};

static int push(struct walk *w, const git_oid *id, git_object_t type)
{
	int error = ARRAY_GROW(&w->stack, &w->cap, w->n + 1, ARRAY_NOMAX);

	if (error)
		return error;
	w->stack[w->n].id = *id;
	w->stack[w->n++].type = type;
	return 0;
}

static int hex_oid(git_oid *out, const uint8_t *p, size_t avail)
{
	char hex[GIT_OID_HEXSZ + 1];

	if (avail < GIT_OID_HEXSZ + 1 || p[GIT_OID_HEXSZ] != '\n')
		return -1;
	memcpy(hex, p, GIT_OID_HEXSZ);
	hex[GIT_OID_HEXSZ] = '\0';
	return git_oid_fromstr(out, hex) < 0 ? -1 : 0;
}

/* The "parent <id>\n" line of a raw commit at *p (moved past it): 1, or 0 where the parent
 * lines end, or -1 for a malformed one. */
static int next_parent(git_oid *id, const uint8_t **p, const uint8_t *end)
{
	if (end - *p <= 7 || memcmp(*p, "parent ", 7))
		return 0;
	if (hex_oid(id, *p + 7, (size_t)(end - *p - 7)))
		return -1;
	*p += 7 + GIT_OID_HEXSZ + 1;
	return 1;
}

/* "tree X\n(parent Y\n)*": queue the tree and the parents. */
static int refs_of_commit(struct walk *w, const struct changeset_object *o)
{
	const uint8_t *p = o->data, *end = o->data + o->len;
	git_oid id;
	int rc = 0, error;

	if (o->len < 5 || memcmp(p, "tree ", 5) || hex_oid(&id, p + 5, (size_t)(end - p - 5)))
		return err_set(ERR_INVALID, "commit %.12s is malformed", git_oid_tostr_s(&o->id));
	error = push(w, &id, GIT_OBJECT_TREE);
	p += 5 + GIT_OID_HEXSZ + 1;
	while (!error && (rc = next_parent(&id, &p, end)) > 0)
		error = push(w, &id, GIT_OBJECT_COMMIT);
	if (!error && rc < 0)
		return err_set(ERR_INVALID, "commit %.12s is malformed", git_oid_tostr_s(&o->id));
	return error;
}

/*
 * Whether entry b comes after entry a in git's tree order: names compared bytewise, a folder's
 * as if it ended in '/'.  One name twice (even a file and a folder) is out of order.
 */
static int in_order(const uint8_t *a, size_t al, int adir, const uint8_t *b, size_t bl, int bdir)
{
	size_t n = al < bl ? al : bl;
	unsigned int ca, cb;
	int c;

	if (al == bl && !memcmp(a, b, al))
		return 0;
	c = memcmp(a, b, n);
	if (c)
		return c < 0;
	ca = n < al ? a[n] : adir ? '/' : 0;
	cb = n < bl ? b[n] : bdir ? '/' : 0;
	return ca < cb;
}

/*
 * "<mode> <name>\0<20 bytes>"*: files and folders only, plain names, in git's order (lookups by
 * name assume it: a name twice or out of order would let them see another entry than the one
 * validated).
 */
static int refs_of_tree(struct walk *w, const struct changeset_object *o)
{
	const uint8_t *p = o->data, *end = o->data + o->len, *prev = NULL;
	size_t prev_len = 0;
	int prev_dir = 0, error = 0;

	while (!error && p < end) {
		const uint8_t *sp = memchr(p, ' ', (size_t)(end - p)), *nul;
		git_object_t type;
		git_oid id;
		size_t nl;

		nul = sp ? memchr(sp, '\0', (size_t)(end - sp)) : NULL;
		if (!nul || end - nul < 1 + GIT_OID_RAWSZ)
			return err_set(ERR_INVALID, "tree %.12s is malformed", git_oid_tostr_s(&o->id));
		if (sp - p == 6 && !memcmp(p, "100644", 6))
			type = GIT_OBJECT_BLOB;
		else if (sp - p == 5 && !memcmp(p, "40000", 5))
			type = GIT_OBJECT_TREE;
		else
			return err_set(ERR_INVALID, "tree %.12s holds an entry of a mode cases never use",
				git_oid_tostr_s(&o->id));
		nl = (size_t)(nul - sp - 1);
		if (nl == 0 || nl > 255 || memchr(sp + 1, '/', nl) || (nl == 1 && sp[1] == '.') ||
			(nl == 2 && sp[1] == '.' && sp[2] == '.'))
			return err_set(ERR_INVALID, "tree %.12s holds a bad name", git_oid_tostr_s(&o->id));
		if (prev && !in_order(prev, prev_len, prev_dir, sp + 1, nl, type == GIT_OBJECT_TREE))
			return err_set(ERR_INVALID, "tree %.12s names an entry twice or out of order",
				git_oid_tostr_s(&o->id));
		prev = sp + 1;
		prev_len = nl;
		prev_dir = type == GIT_OBJECT_TREE;
		git_oid_fromraw(&id, nul + 1);
		error = push(w, &id, type);
		p = nul + 1 + GIT_OID_RAWSZ;
	}
	return error;
}

/*
 * One object of the walk from a received head: held already (the walk stops there), or taken
 * from the change set, checked, stored, and its references walked.  A blob or tree the change
 * set carries is stored without looking first: storing one already held changes nothing (its
 * id is the hash of its bytes, checked by changeset_decode), and a held tree's references are
 * held too (or sent), so walking them again only checks them again.  A commit is looked up:
 * only the commits new to this store are listed, and checked against the sender's rules.
 */
static int visit(struct walk *w, git_odb *odb, const struct changeset *cs, const struct pending *t)
{
	const struct changeset_object *o = NULL;
	git_object_t stored;
	uint32_t seen_type = 0;
	size_t size;
	int added = 0, rc, error;

	/* the type its referrer announces must hold wherever the object is: seen, stored, sent */
	error = oidset_add(&added, &w->seen, &t->id, (uint32_t)t->type);
	if (!error && !added && oidset_get(&w->seen, &t->id, &seen_type) &&
		seen_type != (uint32_t)t->type)
		error = err_set(ERR_INVALID, "object %.12s is not a %s", git_oid_tostr_s(&t->id),
			git_object_type2string(t->type));
	if (error || !added)
		return error;
	if (t->type != GIT_OBJECT_COMMIT)
		o = changeset_object(cs, &t->id);
	if (!o) {
		rc = git_odb_read_header(&size, &stored, odb, &t->id);
		if (rc == 0 && stored != t->type)
			return err_set(ERR_INVALID, "object %.12s is not a %s",
				git_oid_tostr_s(&t->id), git_object_type2string(t->type));
		if (rc != GIT_ENOTFOUND)
			return rc < 0 ? odb_git_error(rc, "cannot look up a received object") : 0;
		o = changeset_object(cs, &t->id);
	}
	if (!o)
		return err_set(ERR_INVALID, "object %.12s is needed but was not sent",
			git_oid_tostr_s(&t->id));
	if (o->type != t->type)
		return err_set(ERR_INVALID, "object %.12s is not a %s", git_oid_tostr_s(&t->id),
			git_object_type2string(t->type));
	if (o->type == GIT_OBJECT_COMMIT)
		error = refs_of_commit(w, o);
	else if (o->type == GIT_OBJECT_TREE)
		error = refs_of_tree(w, o);
	if (!error) /* the hash was checked by changeset_decode */
		error = odb_write_known(odb, &o->id, o->data, o->len, o->type);
	if (error || o->type != GIT_OBJECT_COMMIT)
		return error;
	error = ARRAY_GROW(&w->commits, &w->ccap, w->ncommits + 1, CHANGESET_OBJECTS_MAX);
	if (error)
		return error;
	w->commits[w->ncommits++] = t->id;
	return 0;
}

int sync_ingest(git_oid **commits_out, size_t *ncommits_out, git_repository *repo,
	const struct changeset *cs, const git_oid *head)
{
	struct walk w;
	git_odb *odb = NULL;
	int rc, error;

	memset(&w, 0, sizeof(w));
	rc = git_repository_odb(&odb, repo);
	if (rc < 0)
		return odb_git_error(rc, "cannot open the object store");
	error = push(&w, head, GIT_OBJECT_COMMIT);
	while (!error && w.n) {
		struct pending t = w.stack[--w.n];

		error = visit(&w, odb, cs, &t);
	}
	if (!error) {
		*commits_out = w.commits;
		*ncommits_out = w.ncommits;
		w.commits = NULL;
	}
	free(w.commits);
	free(w.stack);
	oidset_release(&w.seen);
	git_odb_free(odb);
	return error;
}

int sync_extends(const struct changeset *cs, const git_oid *commits, size_t n,
	const git_oid *ancestor)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct changeset_object *o = changeset_object(cs, &commits[i]);
		const uint8_t *p, *end;
		git_oid id;

		if (!o || o->type != GIT_OBJECT_COMMIT || o->len < 5 + GIT_OID_HEXSZ + 1)
			continue;
		p = o->data + 5 + GIT_OID_HEXSZ + 1; /* past "tree <id>\n" (refs_of_commit) */
		end = o->data + o->len;
		while (next_parent(&id, &p, end) > 0)
			if (git_oid_equal(&id, ancestor))
				return 1;
	}
	return 0;
}

/* The bytes of a blob as a NUL-terminated string (refused if it holds a NUL or is too big). */
static int blob_string(char **out, git_repository *repo, const git_oid *id, size_t max,
	const char *path)
{
	git_blob *b = NULL;
	size_t len;
	char *s;
	int rc = git_blob_lookup(&b, repo, id);

	if (rc < 0)
		return odb_git_error(rc, "cannot read a received file");
	len = (size_t)git_blob_rawsize(b);
	if (len > max || memchr(git_blob_rawcontent(b), '\0', len)) {
		git_blob_free(b);
		return err_set(ERR_INVALID, "'%s' is too large or not text", path);
	}
	s = malloc(len + 1);
	if (s) {
		memcpy(s, git_blob_rawcontent(b), len);
		s[len] = '\0';
	}
	git_blob_free(b);
	if (!s)
		return err_set(ERR_NOMEM, "out of memory");
	*out = s;
	return 0;
}

/* The subtree `name` of `tree` (NULL tree or no such folder: *out = NULL). */
static int subtree(git_tree **out, git_repository *repo, git_tree *tree, const char *name)
{
	const git_tree_entry *e = tree ? git_tree_entry_byname(tree, name) : NULL;
	int rc;

	*out = NULL;
	if (!e)
		return 0;
	if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
		return err_set(ERR_INVALID, "'%s' must be a folder", name);
	rc = git_tree_lookup(out, repo, git_tree_entry_id(e));
	return rc < 0 ? odb_git_error(rc, "cannot read a received tree") : 0;
}

static int unchanged(git_tree *parent, const git_tree_entry *e)
{
	const git_tree_entry *pe = parent ? git_tree_entry_byname(parent, git_tree_entry_name(e)) : NULL;

	return pe && git_oid_equal(git_tree_entry_id(pe), git_tree_entry_id(e));
}

static int check_meta(git_repository *repo, git_tree *meta, git_tree *pmeta,
	const struct sync_rules *r)
{
	const git_tree_entry *id = git_tree_entry_byname(meta, "id");
	const git_tree_entry *office = git_tree_entry_byname(meta, "office");
	char *s = NULL;
	int error;

	if (!id || !office || git_tree_entrycount(meta) != 2 ||
		git_tree_entry_type(id) != GIT_OBJECT_BLOB ||
		git_tree_entry_type(office) != GIT_OBJECT_BLOB)
		return err_set(ERR_INVALID, "case '%s': meta/ must hold exactly id and office",
			r->case_id);
	error = blob_string(&s, repo, git_tree_entry_id(id), SCHEMA_CASE_ID_MAX, "meta/id");
	if (!error && strcmp(s, r->case_id))
		error = err_set(ERR_INVALID, "a commit of case '%s' names case '%s'", r->case_id, s);
	free(s);
	s = NULL;
	if (!error)
		error = blob_string(&s, repo, git_tree_entry_id(office), SCHEMA_OFFICE_MAX,
			"meta/office");
	if (!error && schema_check_office(s))
		error = err_set(ERR_INVALID, "case '%s' names a malformed office", r->case_id);
	if (!error && pmeta && !r->allow_transfer && !unchanged(pmeta, office))
		error = err_set(ERR_PERM, "case '%s': only HQ can transfer a case to another office",
			r->case_id);
	free(s);
	return error;
}

static int check_fields(git_repository *repo, git_tree *fields, git_tree *pfields)
{
	size_t i, n = git_tree_entrycount(fields);
	int error = 0;

	for (i = 0; !error && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(fields, i);
		const struct schema_field *f = schema_field(git_tree_entry_name(e));
		char *value = NULL;

		if (unchanged(pfields, e))
			continue;
		if (!f || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
			return err_set(ERR_INVALID, "'fields/%s' is not a field of the case schema",
				git_tree_entry_name(e));
		error = blob_string(&value, repo, git_tree_entry_id(e), FIELD_VALUE_MAX, f->name);
		if (!error)
			error = schema_check_value(f, value);
		free(value);
	}
	/* clearing a field removes its file: never allowed for a required one */
	for (i = 0; !error && pfields && i < git_tree_entrycount(pfields); i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(pfields, i));
		const struct schema_field *f = schema_field(name);

		if (f && f->required && !git_tree_entry_byname(fields, name))
			error = err_set(ERR_INVALID, "'fields/%s' is required and cannot be removed",
				name);
	}
	return error;
}

static int check_text_blob(git_repository *repo, const git_tree_entry *e, size_t max,
	const char *what)
{
	char *text = NULL;
	int error;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return err_set(ERR_INVALID, "'%s' must be a file", what);
	error = blob_string(&text, repo, git_tree_entry_id(e), max, what);
	if (!error)
		error = schema_check_text(what, text, strlen(text), max);
	free(text);
	return error;
}

static int check_notes(git_repository *repo, git_tree *notes, git_tree *pnotes)
{
	size_t i, n = git_tree_entrycount(notes);
	int error = 0;

	for (i = 0; !error && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(notes, i);
		const char *name = git_tree_entry_name(e);
		size_t nl = strlen(name);

		if (unchanged(pnotes, e))
			continue;
		if (nl < 4 || nl > CASEFILE_NOTE_ID_MAX + 3 || strcmp(name + nl - 3, ".md"))
			return err_set(ERR_INVALID, "'notes/%s' is not a note", name);
		if (pnotes && git_tree_entry_byname(pnotes, name))
			return err_set(ERR_INVALID, "note '%s' was rewritten: notes are append-only",
				name);
		error = check_text_blob(repo, e, SCHEMA_NOTE_MAX + 1024, "note");
	}
	for (i = 0; !error && pnotes && i < git_tree_entrycount(pnotes); i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(pnotes, i));

		if (!git_tree_entry_byname(notes, name))
			error = err_set(ERR_INVALID, "note '%s' was deleted: notes are append-only",
				name);
	}
	return error;
}

static int check_conflicts(git_repository *repo, git_tree *t, int depth)
{
	size_t i, n = git_tree_entrycount(t);
	int error = 0;

	if (depth > CONFLICT_DEPTH_MAX)
		return err_set(ERR_INVALID, "conflicts/ is nested too deep");
	for (i = 0; !error && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		git_tree *sub = NULL;

		if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			error = check_text_blob(repo, e, CHANGESET_OBJECT_MAX, "a kept conflict");
			continue;
		}
		error = subtree(&sub, repo, t, git_tree_entry_name(e));
		if (!error)
			error = check_conflicts(repo, sub, depth + 1);
		git_tree_free(sub);
	}
	return error;
}

/* One top-level entry of a case tree that differs from the parent's. */
static int check_top(git_repository *repo, git_tree *tree, git_tree *ptree,
	const git_tree_entry *e, const struct sync_rules *r)
{
	const char *name = git_tree_entry_name(e);
	git_tree *sub = NULL, *psub = NULL;
	int error = 0;

	if (!strcmp(name, "narrative.md"))
		return check_text_blob(repo, e, 2 * SCHEMA_NARRATIVE_MAX, "narrative");
	if (strcmp(name, "meta") && strcmp(name, "fields") && strcmp(name, "notes") &&
		strcmp(name, "conflicts") && strcmp(name, "evidence"))
		return err_set(ERR_INVALID, "case '%s': '%s' is not part of a case", r->case_id, name);
	error = subtree(&sub, repo, tree, name);
	if (!error)
		error = subtree(&psub, repo, ptree, name);
	if (!error && !strcmp(name, "meta"))
		error = check_meta(repo, sub, psub, r);
	else if (!error && !strcmp(name, "fields"))
		error = check_fields(repo, sub, psub);
	else if (!error && !strcmp(name, "notes"))
		error = check_notes(repo, sub, psub);
	else if (!error && !strcmp(name, "evidence"))
		error = sub ? evidence_check_tree(repo, sub, psub, r->case_id)
			    : err_set(ERR_INVALID, "case '%s': 'evidence' must be a folder",
				      r->case_id);
	else if (!error)
		error = check_conflicts(repo, sub, 1);
	git_tree_free(sub);
	git_tree_free(psub);
	return error;
}

static int check_attribution(git_commit *c, const struct sync_rules *r)
{
	struct casefile_rev rev;
	int error;

	memset(&rev, 0, sizeof(rev));
	error = casefile_parse_message(&rev, git_commit_message(c));
	if (error)
		error = err_set(ERR_INVALID, "commit %.12s of case '%s' carries no attribution",
			git_oid_tostr_s(git_commit_id(c)), r->case_id);
	else if (r->device && strcmp(rev.device, r->device))
		error = err_set(ERR_PERM, "commit %.12s of case '%s' is attributed to device '%s', "
					  "not to this device",
			git_oid_tostr_s(git_commit_id(c)), r->case_id, rev.device);
	else if (r->office && strcmp(rev.office, r->office))
		error = err_set(ERR_PERM, "commit %.12s of case '%s' is attributed to office '%s'",
			git_oid_tostr_s(git_commit_id(c)), r->case_id, rev.office);
	casefile_rev_release(&rev);
	return error;
}

/*
 * Parent `n` of `c` must be a commit of the same case: a parent from another case would bring
 * that case's whole history (perhaps another office's) along to everyone who sees this one.
 */
static int check_parent(git_repository *repo, git_commit *c, unsigned int n,
	const struct sync_rules *r)
{
	git_commit *p = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	char *s = NULL;
	int rc, error = 0;

	rc = git_commit_parent(&p, c, n);
	if (rc >= 0)
		rc = git_commit_tree(&tree, p);
	if (rc >= 0)
		rc = git_tree_entry_bypath(&e, tree, "meta/id");
	if (rc == GIT_ENOTFOUND || (rc >= 0 && git_tree_entry_type(e) != GIT_OBJECT_BLOB))
		error = err_set(ERR_INVALID, "a parent of commit %.12s of case '%s' is not a case",
			git_oid_tostr_s(git_commit_id(c)), r->case_id);
	else if (rc < 0)
		error = odb_git_error(rc, "cannot read a parent of a received commit");
	if (!error)
		error = blob_string(&s, repo, git_tree_entry_id(e), SCHEMA_CASE_ID_MAX, "meta/id");
	if (!error && strcmp(s, r->case_id))
		error = err_set(ERR_INVALID, "commit %.12s of case '%s' descends from case '%s'",
			git_oid_tostr_s(git_commit_id(c)), r->case_id, s);
	free(s);
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(p);
	return error;
}

/* *out = 1 if `tree` holds fields/status = "closed". */
static int tree_closed(int *out, git_repository *repo, git_tree *tree)
{
	git_tree_entry *e = NULL;
	char *s = NULL;
	int error;

	*out = 0;
	if (git_tree_entry_bypath(&e, tree, "fields/status") < 0)
		return 0;
	error = blob_string(&s, repo, git_tree_entry_id(e), 64, "fields/status");
	if (!error)
		*out = strcmp(s, "closed") == 0;
	free(s);
	git_tree_entry_free(e);
	return error;
}

/*
 * Closing a case needs a supervisor's approval: an investigator sets pending-approval, and
 * only a commit by a supervisor or an admin (its Fieldsync-Role trailer, written by the node
 * that made it) may close a case that none of its parents had closed.  A merge that brings
 * in a closure already made elsewhere is not a new closure.
 */
static int check_closure(git_repository *repo, git_commit *c, git_tree *tree,
	const struct sync_rules *r)
{
	struct casefile_rev rev;
	git_commit *p = NULL;
	git_tree *pt = NULL;
	unsigned int i;
	int closed = 0, was = 0, error;

	error = tree_closed(&closed, repo, tree);
	for (i = 0; !error && closed && !was && i < git_commit_parentcount(c); i++) {
		if (git_commit_parent(&p, c, i) < 0 || git_commit_tree(&pt, p) < 0)
			error = err_set(ERR_INVALID, "a parent of a commit of case '%s' is missing",
				r->case_id);
		else
			error = tree_closed(&was, repo, pt);
		git_tree_free(pt);
		git_commit_free(p);
		pt = NULL;
		p = NULL;
	}
	if (error || !closed || was)
		return error;
	memset(&rev, 0, sizeof(rev));
	error = casefile_parse_message(&rev, git_commit_message(c));
	if (!error && (!rev.role || (strcmp(rev.role, "supervisor") && strcmp(rev.role, "admin"))))
		error = err_set(ERR_PERM,
			"commit %.12s closes case '%s', but its author '%s' (role %s) may not: "
			"closing needs a supervisor's approval (set status pending-approval)",
			git_oid_tostr_s(git_commit_id(c)), r->case_id, rev.user,
			rev.role ? rev.role : "not named");
	casefile_rev_release(&rev);
	return error;
}

/* The checks of commit c (tree its tree; ptree its first parent's tree, or NULL for a root
 * commit). */
static int check_parsed(git_repository *repo, git_commit *c, git_tree *tree, git_tree *ptree,
	const struct sync_rules *r)
{
	size_t i;
	int error = check_attribution(c, r);

	for (i = 0; !error && i < git_commit_parentcount(c); i++)
		error = check_parent(repo, c, (unsigned int)i, r);
	if (!error && (!git_tree_entry_byname(tree, "meta") || !git_tree_entry_byname(tree, "fields")))
		error = err_set(ERR_INVALID, "a commit of case '%s' lacks meta/ or fields/", r->case_id);
	for (i = 0; !error && i < git_tree_entrycount(tree); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);

		if (!unchanged(ptree, e))
			error = check_top(repo, tree, ptree, e, r);
	}
	if (!error)
		error = check_closure(repo, c, tree, r);
	if (!error && ptree && git_tree_entry_byname(ptree, "evidence") &&
		!git_tree_entry_byname(tree, "evidence"))
		error = err_set(ERR_INVALID, "a commit of case '%s' deletes its evidence items",
			r->case_id);
	if (!error && ptree && git_tree_entry_byname(ptree, "notes") &&
		!git_tree_entry_byname(tree, "notes"))
		error = err_set(ERR_INVALID, "a commit of case '%s' deletes its notes: notes are "
					     "append-only",
			r->case_id);
	return error;
}

int sync_check_commits(git_repository *repo, const git_oid *ids, size_t n,
	const struct sync_rules *r)
{
	git_commit *c = NULL, *p = NULL;
	git_tree *tree = NULL, *ptree = NULL;
	size_t i;
	int rc = 0, error = 0;

	for (i = 0; !error && i < n; i++) {
		if (p && git_oid_equal(git_commit_id(p), &ids[i])) { /* the last one's parent */
			git_tree_free(tree);
			git_commit_free(c);
			c = p;
			tree = ptree;
		} else {
			git_tree_free(ptree);
			git_tree_free(tree);
			git_commit_free(p);
			git_commit_free(c);
			c = NULL;
			tree = NULL;
			rc = git_commit_lookup(&c, repo, &ids[i]);
			if (rc >= 0)
				rc = git_commit_tree(&tree, c);
		}
		p = NULL;
		ptree = NULL;
		if (rc >= 0 && git_commit_parentcount(c) > 0)
			rc = git_commit_parent(&p, c, 0);
		if (rc >= 0 && p)
			rc = git_commit_tree(&ptree, p);
		if (rc < 0)
			error = odb_git_error(rc, "cannot read a received commit");
		else
			error = check_parsed(repo, c, tree, ptree, r);
	}
	git_tree_free(ptree);
	git_tree_free(tree);
	git_commit_free(p);
	git_commit_free(c);
	return error;
}

int sync_check_commit(git_repository *repo, const git_oid *id, const struct sync_rules *r)
{
	return sync_check_commits(repo, id, 1, r);
}

int sync_head_office(char office[SCHEMA_OFFICE_MAX + 1], git_repository *repo, const git_oid *head)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	char *s = NULL;
	int rc, error;

	rc = git_commit_lookup(&c, repo, head);
	if (rc >= 0)
		rc = git_commit_tree(&tree, c);
	if (rc >= 0)
		rc = git_tree_entry_bypath(&e, tree, "meta/office");
	if (rc < 0) {
		error = err_set(ERR_CORRUPT, "the case head names no office");
		goto out;
	}
	error = blob_string(&s, repo, git_tree_entry_id(e), SCHEMA_OFFICE_MAX, "meta/office");
	if (!error)
		snprintf(office, SCHEMA_OFFICE_MAX + 1, "%s", s);
out:
	free(s);
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(c);
	return error;
}
