/* shared/sync/purge.c - remove a case a device may no longer see (purge.h). */
#include "sync/purge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/evidence.h"
#include "node/casedb.h"
#include "store/odb.h"
#include "sync/oidset.h"

/* Every object of a tree, recursively, into `set` (a subtree seen before is not walked). */
static int add_tree(struct oidset *set, git_repository *repo, const git_oid *id)
{
	git_tree *tree = NULL;
	size_t i;
	int added = 0, rc, error = oidset_add(&added, set, id, 0);

	if (error || !added)
		return error;
	rc = git_tree_lookup(&tree, repo, id);
	if (rc < 0)
		return odb_git_error(rc, "cannot read a tree of a case");
	for (i = 0; !error && i < git_tree_entrycount(tree); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);

		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			error = add_tree(set, repo, git_tree_entry_id(e));
		else
			error = oidset_add(NULL, set, git_tree_entry_id(e), 0);
	}
	git_tree_free(tree);
	return error;
}

/* Every commit of a case's history and every object of their trees, into `set`. */
static int add_history(struct oidset *set, git_repository *repo, const git_oid *head)
{
	git_revwalk *walk = NULL;
	git_commit *c = NULL;
	git_oid id;
	int rc, error = 0;

	rc = git_revwalk_new(&walk, repo);
	if (rc >= 0)
		rc = git_revwalk_push(walk, head);
	while (rc >= 0 && !error && (rc = git_revwalk_next(&id, walk)) == 0) {
		error = oidset_add(NULL, set, &id, 0);
		if (!error && git_commit_lookup(&c, repo, &id) >= 0) {
			error = add_tree(set, repo, git_commit_tree_id(c));
			git_commit_free(c);
			c = NULL;
		} else if (!error) {
			error = err_set(ERR_CORRUPT, "a commit of a case is missing");
		}
	}
	git_revwalk_free(walk);
	if (!error && rc < 0 && rc != GIT_ITEROVER)
		error = odb_git_error(rc, "cannot walk a case's history");
	return error;
}

/* The raw hashes of every chunk the items of the case at `head` list, appended to `out`. */
static int add_chunks(struct buf *out, git_repository *repo, const git_oid *head)
{
	struct evidence_item *items = NULL;
	size_t count = 0, i;
	int error = evidence_read_all(&items, &count, repo, head);

	for (i = 0; !error && i < count; i++)
		error = evidence_read_chunks(out, repo, head, &items[i]);
	evidence_items_free(items, count);
	return error;
}

struct keep {
	struct node *n;
	const char *purged;
	struct oidset objects;
	struct buf chunks; /* raw hashes, sorted once collected */
};

/* What every other case uses: the objects of its whole history, the chunks of its items. */
static int keep_others(struct keep *k)
{
	sqlite3_stmt *st = NULL;
	git_oid head;
	int rc = 0, error = store_bind(&st, k->n->store,
			    "SELECT head FROM case_heads WHERE case_id <> ?", "t", k->purged);

	while (!error && (rc = store_next(k->n->store, st)) > 0) {
		if (sqlite3_column_bytes(st, 0) != GIT_OID_RAWSZ) {
			error = err_set(ERR_CORRUPT, "a case head is malformed");
			break;
		}
		git_oid_fromraw(&head, sqlite3_column_blob(st, 0));
		error = add_history(&k->objects, k->n->repo, &head);
		if (!error)
			error = add_chunks(&k->chunks, k->n->repo, &head);
	}
	if (!error && rc < 0)
		error = rc;
	sqlite3_finalize(st);
	return error;
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, CHUNKS_HASH_LEN);
}

/* Delete each object of `gone` that no other case uses. */
static int delete_objects(uint64_t *count, struct node *n, const struct oidset *gone,
	const struct oidset *keep)
{
	size_t i;
	int error = 0;

	for (i = 0; !error && i < gone->cap; i++) {
		if (!gone->used[i] || oidset_get(keep, &gone->slots[i], NULL))
			continue;
		error = store_run(n->store, "DELETE FROM objects WHERE oid = ?", "b",
			gone->slots[i].id, (size_t)GIT_OID_RAWSZ);
		(*count)++;
	}
	return error;
}

/* Delete each chunk the purged case lists that no other case's items list. */
static int delete_chunks(uint64_t *count, struct node *n, const struct buf *mine, struct buf *kept)
{
	size_t i, nkept = kept->len / CHUNKS_HASH_LEN;
	int error = 0;

	if (nkept)
		qsort(kept->ptr, nkept, CHUNKS_HASH_LEN, cmp_hash);
	for (i = 0; !error && i + CHUNKS_HASH_LEN <= mine->len; i += CHUNKS_HASH_LEN) {
		const uint8_t *h = (const uint8_t *)mine->ptr + i;

		if (nkept && bsearch(h, kept->ptr, nkept, CHUNKS_HASH_LEN, cmp_hash))
			continue;
		/* the bytes go in chunks_sweep() once this is committed */
		error = store_run(n->store, "DELETE FROM evidence_chunk_state WHERE hash = ?", "b",
			h, (size_t)CHUNKS_HASH_LEN);
		(*count)++;
	}
	if (!error && *count)
		error = store_meta_set(n->store, CHUNKS_SWEEP_KEY, "1");
	return error;
}

/* The case's rows: head, derived row and its full-text document. */
static int delete_rows(struct node *n, const char *case_id)
{
	int error = store_run(n->store,
		"DELETE FROM case_fts WHERE docid = (SELECT rowid FROM case_index WHERE case_id = ?)",
		"t", case_id);

	if (!error)
		error = store_run(n->store, "DELETE FROM case_index WHERE case_id = ?", "t",
			case_id);
	if (!error)
		error = store_run(n->store, "DELETE FROM case_heads WHERE case_id = ?", "t",
			case_id);
	/* FTS3 keeps a deleted document's terms in its segments until they are merged */
	if (!error)
		error = store_exec(n->store, "INSERT INTO case_fts(case_fts) VALUES ('optimize')");
	return error;
}

int purge_case(struct purge_counts *out, struct node *n, const char *case_id, const char *reason)
{
	struct keep k = {n, case_id, OIDSET_INIT, BUF_INIT(1u << 30)};
	struct oidset gone = OIDSET_INIT;
	struct buf mine = BUF_INIT(1u << 30);
	struct purge_counts counts = {0, 0};
	char detail[AUDIT_DETAIL_MAX];
	int64_t swept = 0;
	git_oid head;
	int error;

	error = store_exec(n->store, "PRAGMA secure_delete = ON");
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = casedb_head(&head, n, case_id);
	if (!error)
		error = keep_others(&k);
	if (!error)
		error = add_history(&gone, n->repo, &head);
	if (!error)
		error = add_chunks(&mine, n->repo, &head);
	if (!error)
		error = delete_objects(&counts.objects, n, &gone, &k.objects);
	if (!error)
		error = delete_chunks(&counts.chunks, n, &mine, &k.chunks);
	if (!error)
		error = delete_rows(n, case_id);
	snprintf(detail, sizeof(detail), "%s; %llu objects, %llu evidence chunks removed", reason,
		(unsigned long long)counts.objects, (unsigned long long)counts.chunks);
	if (!error)
		error = node_audit(n, "case.purge", case_id, "success", detail);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	/* the WAL still holds the pages as they were before: write them back and cut it */
	if (!error)
		error = store_exec(n->store, "PRAGMA wal_checkpoint(TRUNCATE)");
	(void)!store_exec(n->store, "PRAGMA secure_delete = OFF");
	if (!error && counts.chunks)
		error = chunks_sweep(&swept, n->store);
	oidset_release(&gone);
	oidset_release(&k.objects);
	buf_release(&k.chunks);
	buf_release(&mine);
	if (!error && out)
		*out = counts;
	return error;
}
