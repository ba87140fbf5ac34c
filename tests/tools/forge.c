/*
 * tests/tools/forge.c - test-only: post a deliberately defective change set to HQ as an
 * enrolled device, to check that /v1/sync/push refuses it and stores nothing.
 *
 * The device key lives only inside the encrypted agent store, so this tool opens the agent
 * node like the agent does (FIELDSYNC_HOME, FIELDSYNC_USER, FIELDSYNC_PASSPHRASE), builds the
 * case objects it needs inside a transaction that is always rolled back (the agent store is
 * left as it was, apart from the log-on event node_open records), signs the change set with
 * the device key and POSTs it over the device's mutual-TLS channel.  It prints one JSON
 * document: {"mode", "case", "head", "bytes", "status", "body"} where body is the server's
 * answer (parsed when it is JSON).  Exit 0 when the request was answered, whatever the status.
 *
 * usage: forge MODE [ARG] [--save FILE] [--no-post]
 *   valid                    a correct new case (the control)
 *   wrong-hash               a new case; one object's bytes do not hash to the id sent
 *   forged-device [DEVICE]   a new case whose commit's Fieldsync-Device trailer names DEVICE
 *   bad-schema               a new case with fields/status = "bogus"
 *   other-office [CASE_ID]   a root commit for CASE_ID (another office's case: meta/office is
 *                            its prefix); without CASE_ID a new case claiming office SDG
 *   oversized                a new case whose narrative object is past CHANGESET_OBJECT_MAX
 *   truncated                a correct change set cut in half
 *   bad-signature            a correct change set with a byte of its signature flipped
 *   other-sender [DEVICE]    signed by this device, but the header names DEVICE
 *   transfer CASE_ID         an edit of CASE_ID (on the local head) that moves it to another
 *                            office (SDG, or ELP from SDG): only HQ may
 *   rewrite-note CASE_ID     an edit of CASE_ID that also changes a note HQ already has
 *   delete-note CASE_ID      an edit of CASE_ID that also removes a note HQ already has
 *   delete-title CASE_ID     an edit of CASE_ID that also removes the required fields/title
 *   close CASE_ID            an edit of CASE_ID that sets fields/status closed, attributed to
 *                            the logged-on user and role (only a supervisor's may)
 *   close-beside CASE_ID,OTHER_ID
 *                            the same, and a genuine edit of OTHER_ID in the same push
 *   replay FILE              the bytes of FILE (saved earlier with --save)
 * --save FILE writes the bytes posted, for a later replay; --no-post only builds (and saves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <jansson.h>
#include <zlib.h>

#include "node/casedb.h"
#include "case/casefile.h"
#include "sync/changeset.h"
#include "cli.h"
#include "base/crypto.h"
#include "device.h"
#include "net.h"
#include "node/node.h"
#include "store/odb.h"
#include "sync/sync.h"

#define OTHER_DEVICE "0123456789abcdef0123456789abcdef"
#define OVERSIZE (CHANGESET_OBJECT_MAX + 4096u)

struct forge {
	struct node *n;
	const char *mode;
	const char *arg;
	char case_id[SCHEMA_CASE_ID_MAX + 1];
	git_oid head;
	int has_head;
	git_oid base; /* child commits: the server head the device last saw */
	int has_base;
	struct buf key; /* the device key (DER), wiped */
};

static const char usage[] =
	"usage: forge valid|wrong-hash|forged-device [DEVICE]|bad-schema|other-office [CASE_ID]|\n"
	"             oversized|truncated|bad-signature|other-sender [DEVICE]|replay FILE|\n"
	"             transfer|rewrite-note|delete-note|delete-title|close CASE_ID|\n"
	"             close-beside CASE_ID,OTHER_ID\n"
	"             [--save FILE] [--no-post]\n";

/* ---- building case commits ------------------------------------------------------------- */

/*
 * A root commit of a case: `id_office` makes the id, `meta_office` goes into meta/office,
 * `device` into the trailer (the attribution is otherwise this node's).
 */
static int root_commit(struct forge *f, const char *case_id, const char *id_office,
	const char *meta_office, const char *device, const char *narrative)
{
	struct casefile_author a = {f->n->user, f->n->office, device, {0, 0}, f->n->role};
	struct casefile_change chg;
	int error;

	memset(&chg, 0, sizeof(chg));
	chg.sets[0].name = "title";
	chg.sets[0].value = "Forged by the sync tests";
	chg.sets[1].name = "category";
	chg.sets[1].value = "other";
	chg.nsets = 2;
	if (narrative) {
		chg.narrative = narrative;
		chg.narrative_len = strlen(narrative);
	}
	if (strcmp(meta_office, f->n->office))
		chg.transfer = meta_office;
	error = node_next_hlc(&a.hlc, f->n);
	if (!error && case_id)
		snprintf(f->case_id, sizeof(f->case_id), "%s", case_id);
	else if (!error)
		error = casefile_new_id(f->case_id, id_office, a.hlc.wall_ms);
	if (!error)
		error = casefile_commit(&f->head, NULL, f->n->repo, NULL, f->case_id, &chg, &a,
			"create");
	f->has_head = !error;
	return error;
}

/*
 * Replace commit `id` by one whose tree has `path` set to `value` (NULL: removed), with the
 * same message and parents: no schema check on the way.
 */
static int rewrite(git_oid *out, git_repository *repo, const git_oid *id, const char *path,
	const char *value, size_t len)
{
	git_commit *c = NULL, *parent = NULL;
	git_tree *tree = NULL, *newtree = NULL;
	git_index *idx = NULL;
	git_index_entry e;
	git_oid blob, tree_id;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = git_commit_lookup(&c, repo, id);
	if (rc >= 0)
		rc = git_commit_tree(&tree, c);
	if (rc >= 0 && git_commit_parentcount(c) > 0)
		rc = git_commit_parent(&parent, c, 0);
	if (rc >= 0)
		rc = git_index_new(&idx);
	if (rc >= 0)
		rc = git_index_read_tree(idx, tree);
	if (rc >= 0 && !value)
		rc = git_index_remove(idx, path, 0);
	if (rc >= 0 && value)
		rc = git_blob_create_from_buffer(&blob, repo, value, len);
	if (rc >= 0 && value) {
		e.mode = GIT_FILEMODE_BLOB;
		e.id = blob;
		e.path = path;
		rc = git_index_add(idx, &e);
	}
	if (rc >= 0)
		rc = git_index_write_tree_to(&tree_id, idx, repo);
	if (rc >= 0)
		rc = git_tree_lookup(&newtree, repo, &tree_id);
	if (rc >= 0)
		rc = git_commit_create(out, repo, NULL, git_commit_author(c), git_commit_committer(c),
			NULL, git_commit_message(c), newtree, parent ? 1 : 0,
			(const git_commit **)&parent);
	git_tree_free(newtree);
	git_index_free(idx);
	git_tree_free(tree);
	git_commit_free(parent);
	git_commit_free(c);
	return rc < 0 ? odb_git_error(rc, "cannot rewrite the forged commit") : 0;
}

/*
 * A commit of this device on top of the local head of case `case_id` (the base it last saw
 * from HQ goes into the change set): a new note, and the office changed when `transfer`.
 */
static int child_commit(struct forge *f, const char *case_id, const char *transfer)
{
	struct casefile_author a = {f->n->user, f->n->office, f->n->device, {0, 0}, f->n->role};
	struct casefile_change chg;
	git_oid parent;
	int error;

	memset(&chg, 0, sizeof(chg));
	chg.note = "An edit made by the sync tests' forge.";
	chg.note_len = strlen(chg.note);
	chg.transfer = transfer;
	snprintf(f->case_id, sizeof(f->case_id), "%s", case_id);
	error = casedb_head(&parent, f->n, case_id);
	if (!error)
		error = casedb_base(&f->base, &f->has_base, f->n, case_id);
	if (!error)
		error = node_next_hlc(&a.hlc, f->n);
	if (!error)
		error = casefile_commit(&f->head, NULL, f->n->repo, &parent, case_id, &chg, &a,
			"update");
	f->has_head = !error;
	return error;
}

/* "notes/<name>" of the first note of commit `id`'s parent (a note HQ already has). */
static int first_old_note(char *out, size_t size, git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL, *p = NULL;
	git_tree *tree = NULL;
	git_tree_entry *notes = NULL;
	git_tree *sub = NULL;
	int rc;

	rc = git_commit_lookup(&c, repo, id);
	if (rc >= 0)
		rc = git_commit_parent(&p, c, 0);
	if (rc >= 0)
		rc = git_commit_tree(&tree, p);
	if (rc >= 0)
		rc = git_tree_entry_bypath(&notes, tree, "notes");
	if (rc >= 0)
		rc = git_tree_lookup(&sub, repo, git_tree_entry_id(notes));
	if (rc >= 0 && git_tree_entrycount(sub) == 0)
		rc = GIT_ENOTFOUND;
	if (rc >= 0)
		snprintf(out, size, "notes/%s", git_tree_entry_name(git_tree_entry_byindex(sub, 0)));
	git_tree_free(sub);
	git_tree_entry_free(notes);
	git_tree_free(tree);
	git_commit_free(p);
	git_commit_free(c);
	return rc < 0 ? err_set(ERR_NOTFOUND, "the case has no note synced before") : 0;
}

/* The id of the blob at `path` in commit `id`. */
static int blob_at(git_oid *out, git_repository *repo, const git_oid *id, const char *path)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	int rc;

	rc = git_commit_lookup(&c, repo, id);
	if (rc >= 0)
		rc = git_commit_tree(&tree, c);
	if (rc >= 0)
		rc = git_tree_entry_bypath(&e, tree, path);
	if (rc >= 0)
		git_oid_cpy(out, git_tree_entry_id(e));
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(c);
	return rc < 0 ? odb_git_error(rc, "cannot find the forged blob") : 0;
}

/* ---- encoding --------------------------------------------------------------------------- */

/* The change set of the new case at f->head, through the agent's own writer and collector. */
static int encode(struct buf *out, struct forge *f, const char *header_device,
	const git_oid *fake_id, const char *fake_data)
{
	struct changeset_writer *w = NULL;
	struct changeset_case c;
	uint8_t bundle[CHANGESET_BUNDLE_LEN];
	int error;

	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", f->case_id);
	c.head = f->head;
	c.has_base = f->has_base;
	c.base = f->base;
	error = crypto_random(bundle, sizeof(bundle));
	if (!error)
		error = changeset_writer_new(&w);
	/* sent first under a real id, the collector then skips the genuine object */
	if (!error && fake_id)
		error = changeset_writer_add_object(w, GIT_OBJECT_BLOB, fake_id, fake_data,
			strlen(fake_data));
	if (!error)
		error = sync_collect(w, f->n->repo, &f->head, &f->base, f->has_base ? 1 : 0);
	if (!error)
		error = changeset_writer_add_case(w, &c);
	if (!error)
		error = changeset_writer_finish(out, w, bundle, header_device, f->n->office, 0, 0,
			(const uint8_t *)f->key.ptr, f->key.len);
	changeset_writer_free(w);
	return error;
}

/* encode() of the forged case and a genuine edit of `other` in one change set. */
static int encode_beside(struct buf *out, struct forge *f, const char *other)
{
	struct changeset_writer *w = NULL;
	struct changeset_case c, o;
	struct forge g = *f;
	uint8_t bundle[CHANGESET_BUNDLE_LEN];
	int error = child_commit(&g, other, NULL);

	memset(&c, 0, sizeof(c));
	memset(&o, 0, sizeof(o));
	snprintf(c.id, sizeof(c.id), "%s", f->case_id);
	c.head = f->head;
	c.has_base = f->has_base;
	c.base = f->base;
	snprintf(o.id, sizeof(o.id), "%s", g.case_id);
	o.head = g.head;
	o.has_base = g.has_base;
	o.base = g.base;
	if (!error)
		error = crypto_random(bundle, sizeof(bundle));
	if (!error)
		error = changeset_writer_new(&w);
	if (!error)
		error = sync_collect(w, f->n->repo, &f->head, &f->base, f->has_base ? 1 : 0);
	if (!error)
		error = sync_collect(w, f->n->repo, &g.head, &g.base, g.has_base ? 1 : 0);
	if (!error)
		error = changeset_writer_add_case(w, &o);
	if (!error)
		error = changeset_writer_add_case(w, &c);
	if (!error)
		error = changeset_writer_finish(out, w, bundle, f->n->device, f->n->office, 0, 0,
			(const uint8_t *)f->key.ptr, f->key.len);
	changeset_writer_free(w);
	return error;
}

static int put_u32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return buf_put(b, p, 4);
}

static int put_str(struct buf *b, const char *s)
{
	uint8_t l = (uint8_t)strlen(s);

	return buf_put(b, &l, 1) || buf_put(b, s, l);
}

static int put_record(struct buf *b, git_odb *odb, const git_oid *id)
{
	git_odb_object *o = NULL;
	git_object_t t;
	uint8_t type;
	int rc = git_odb_read(&o, odb, id), error;

	if (rc < 0)
		return odb_git_error(rc, "cannot read a forged object");
	t = git_odb_object_type(o);
	type = t == GIT_OBJECT_COMMIT ? 1 : t == GIT_OBJECT_TREE ? 2 : 3;
	error = buf_put(b, &type, 1) || buf_put(b, id->id, GIT_OID_RAWSZ) ||
		put_u32(b, (uint32_t)git_odb_object_size(o)) ||
		buf_put(b, git_odb_object_data(o), git_odb_object_size(o));
	git_odb_object_free(o);
	return error ? err_set(ERR_TOOBIG, "forged records too large") : 0;
}

#define RECORDS_MAX 64

struct records {
	struct buf *b;
	git_odb *odb;
	git_oid ids[RECORDS_MAX]; /* a change set carries each object once */
	size_t count;
	int error;
};

static int add_record(struct records *r, const git_oid *id)
{
	size_t i;

	for (i = 0; i < r->count; i++)
		if (git_oid_equal(&r->ids[i], id))
			return 0;
	if (r->count == RECORDS_MAX)
		return err_set(ERR_TOOBIG, "too many forged objects");
	r->ids[r->count++] = *id;
	return put_record(r->b, r->odb, id);
}

static int walk_entry(const char *root, const git_tree_entry *e, void *payload)
{
	struct records *r = payload;

	(void)root;
	r->error = add_record(r, git_tree_entry_id(e));
	return r->error ? -1 : 0;
}

/*
 * The change set of f->head encoded here rather than by the writer, which refuses to carry
 * an object past CHANGESET_OBJECT_MAX: the layout of shared/sync/changeset.h, signed.
 */
static int encode_raw(struct buf *out, struct forge *f)
{
	struct buf recs = BUF_INIT(4 * OVERSIZE), h = BUF_INIT(CHANGESET_HEADER_MAX);
	struct buf sig = BUF_INIT(CHANGESET_SIG_MAX);
	struct records r;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	uint8_t bundle[CHANGESET_BUNDLE_LEN], digest[32], zero[GIT_OID_RAWSZ] = {0}, l2[2];
	uint8_t top[6] = {'F', 'S', 'C', 'S', CHANGESET_VERSION, 1}, c8[8] = {0}, *packed = NULL;
	uLongf plen = 0;
	int rc, error;

	memset(&r, 0, sizeof(r));
	r.b = &recs;
	rc = git_repository_odb(&r.odb, f->n->repo);
	if (rc >= 0)
		rc = git_commit_lookup(&c, f->n->repo, &f->head);
	if (rc >= 0)
		rc = git_commit_tree(&tree, c);
	error = rc < 0 ? odb_git_error(rc, "cannot read the forged commit") : 0;
	if (!error)
		error = add_record(&r, &f->head);
	if (!error)
		error = add_record(&r, git_tree_id(tree));
	if (!error && git_tree_walk(tree, GIT_TREEWALK_PRE, walk_entry, &r) < 0)
		error = r.error ? r.error : err_set(ERR_GENERIC, "cannot walk the forged tree");
	plen = compressBound((uLong)recs.len);
	packed = error ? NULL : malloc(plen);
	if (!error && !packed)
		error = err_set(ERR_NOMEM, "out of memory");
	if (!error && compress2(packed, &plen, (const Bytef *)recs.ptr, (uLong)recs.len, 6) != Z_OK)
		error = err_set(ERR_GENERIC, "cannot compress the forged objects");
	if (!error)
		error = crypto_random(bundle, sizeof(bundle));
	if (!error) {
		crypto_sha256(digest, packed, plen);
		error = buf_put(&h, top, 6) || put_u32(&h, 0) || buf_put(&h, bundle, sizeof(bundle)) ||
				put_str(&h, f->n->device) || put_str(&h, f->n->office) ||
				buf_put(&h, c8, 8) || buf_putc(&h, 0) || put_u32(&h, 1) ||
				put_str(&h, f->case_id) || buf_putc(&h, 0) || buf_put(&h, zero, 20) ||
				buf_put(&h, f->head.id, 20) || put_str(&h, "") ||
				put_u32(&h, (uint32_t)r.count) || buf_put(&h, digest, 32)
			? err_set(ERR_TOOBIG, "forged header too large")
			: 0;
	}
	if (!error) {
		uint32_t hl = (uint32_t)(h.len - 10);

		h.ptr[6] = (char)(hl >> 24);
		h.ptr[7] = (char)(hl >> 16);
		h.ptr[8] = (char)(hl >> 8);
		h.ptr[9] = (char)hl;
		crypto_sha256(digest, h.ptr, h.len);
		error = crypto_ec_sign(&sig, (const uint8_t *)f->key.ptr, f->key.len, digest);
	}
	l2[0] = (uint8_t)(sig.len >> 8);
	l2[1] = (uint8_t)sig.len;
	if (!error && (buf_put(out, h.ptr, h.len) || buf_put(out, l2, 2) ||
			      buf_put(out, sig.ptr, sig.len) || put_u32(out, (uint32_t)plen) ||
			      buf_put(out, packed, plen)))
		error = err_set(ERR_TOOBIG, "forged change set too large");
	free(packed);
	git_tree_free(tree);
	git_commit_free(c);
	git_odb_free(r.odb);
	buf_release(&recs);
	buf_release(&h);
	buf_release(&sig);
	return error;
}

/* Where the signature of an encoded change set starts (after its header and length). */
static size_t signature_offset(const struct buf *b)
{
	const uint8_t *p = (const uint8_t *)b->ptr;

	return 10 + ((size_t)p[6] << 24 | (size_t)p[7] << 16 | (size_t)p[8] << 8 | p[9]) + 2;
}

/* ---- the modes -------------------------------------------------------------------------- */

static int build(struct buf *body, struct forge *f)
{
	const char *mode = f->mode, *own = f->n->office;
	struct buf big = BUF_INIT(OVERSIZE + 4096);
	git_oid blob, forged;
	char office[SCHEMA_OFFICE_MAX + 1];
	int error = 0;

	if (!strcmp(mode, "valid") || !strcmp(mode, "truncated") ||
		!strcmp(mode, "bad-signature") || !strcmp(mode, "other-sender")) {
		error = root_commit(f, NULL, own, own, f->n->device, NULL);
		if (!error)
			error = encode(body, f,
				strcmp(mode, "other-sender") ? f->n->device
							     : (f->arg ? f->arg : OTHER_DEVICE),
				NULL, NULL);
		if (!error && !strcmp(mode, "truncated"))
			body->len /= 2;
		if (!error && !strcmp(mode, "bad-signature"))
			body->ptr[signature_offset(body) + 12] ^= 0x5a;
	} else if (!strcmp(mode, "wrong-hash")) {
		error = root_commit(f, NULL, own, own, f->n->device, "The original narrative.\n");
		if (!error)
			error = blob_at(&blob, f->n->repo, &f->head, "narrative.md");
		if (!error)
			error = encode(body, f, f->n->device, &blob, "A narrative changed in transit.\n");
	} else if (!strcmp(mode, "forged-device")) {
		error = root_commit(f, NULL, own, own, f->arg ? f->arg : OTHER_DEVICE, NULL);
		if (!error)
			error = encode(body, f, f->n->device, NULL, NULL);
	} else if (!strcmp(mode, "bad-schema")) {
		error = root_commit(f, NULL, own, own, f->n->device, NULL);
		if (!error)
			error = rewrite(&forged, f->n->repo, &f->head, "fields/status", "bogus", 5);
		if (!error)
			f->head = forged;
		if (!error)
			error = encode(body, f, f->n->device, NULL, NULL);
	} else if (!strcmp(mode, "other-office")) {
		const char *dash = f->arg ? strchr(f->arg, '-') : NULL;

		snprintf(office, sizeof(office), "%.*s", dash ? (int)(dash - f->arg) : 3,
			dash ? f->arg : "SDG");
		error = root_commit(f, f->arg, office, office, f->n->device, NULL);
		if (!error)
			error = encode(body, f, f->n->device, NULL, NULL);
	} else if (!strcmp(mode, "oversized")) {
		error = root_commit(f, NULL, own, own, f->n->device, NULL);
		while (!error && big.len < OVERSIZE)
			error = buf_puts(&big, "An overlong line of narrative, repeated past the cap.\n");
		if (!error)
			error = rewrite(&forged, f->n->repo, &f->head, "narrative.md", big.ptr, big.len);
		if (!error)
			f->head = forged;
		if (!error)
			error = encode_raw(body, f);
	} else if (!strcmp(mode, "transfer") && f->arg) {
		error = child_commit(f, f->arg, strcmp(own, "SDG") ? "SDG" : "ELP");
		if (!error)
			error = encode(body, f, f->n->device, NULL, NULL);
	} else if ((!strcmp(mode, "rewrite-note") || !strcmp(mode, "delete-note") ||
			   !strcmp(mode, "delete-title")) &&
		f->arg) {
		char path[CASEFILE_NOTE_ID_MAX + 16] = "fields/title";

		error = child_commit(f, f->arg, NULL);
		if (!error && strcmp(mode, "delete-title"))
			error = first_old_note(path, sizeof(path), f->n->repo, &f->head);
		if (!error)
			error = rewrite(&forged, f->n->repo, &f->head, path,
				strcmp(mode, "rewrite-note") ? NULL : "A note rewritten.\n",
				strlen("A note rewritten.\n"));
		if (!error)
			f->head = forged;
		if (!error)
			error = encode(body, f, f->n->device, NULL, NULL);
	} else if ((!strcmp(mode, "close") || !strcmp(mode, "close-beside")) && f->arg) {
		/* the agent refuses to close for a user without the approval; the forge does not.
		 * close-beside CASE_ID,OTHER_ID: and a genuine edit of OTHER_ID in the same push */
		const char *comma = strchr(f->arg, ',');
		char id[SCHEMA_CASE_ID_MAX + 1];

		snprintf(id, sizeof(id), "%.*s",
			comma ? (int)(comma - f->arg) : (int)strlen(f->arg), f->arg);
		error = child_commit(f, id, NULL);
		if (!error)
			error = rewrite(&forged, f->n->repo, &f->head, "fields/status", "closed",
				strlen("closed"));
		if (!error)
			f->head = forged;
		if (!error && comma && !strcmp(mode, "close-beside"))
			error = encode_beside(body, f, comma + 1);
		else if (!error)
			error = encode(body, f, f->n->device, NULL, NULL);
	} else if (!strcmp(mode, "replay")) {
		error = f->arg ? cli_read_file(body, f->arg, CHANGESET_ENCODED_MAX)
			       : err_set(ERR_INVALID, "replay needs a FILE");
	} else {
		error = err_set(ERR_INVALID, "unknown mode '%s'", mode);
	}
	buf_release(&big);
	return error;
}

/* ---- posting ---------------------------------------------------------------------------- */

static int save(const struct buf *body, const char *path)
{
	FILE *fp = fopen(path, "wb");
	int error = 0;

	if (!fp)
		return err_set(ERR_IO, "cannot write '%s'", path);
	if (fwrite(body->ptr, 1, body->len, fp) != body->len)
		error = err_set(ERR_IO, "cannot write '%s'", path);
	if (fclose(fp) && !error)
		error = err_set(ERR_IO, "cannot write '%s'", path);
	return error;
}

static int post(long *status, struct buf *resp, struct device_tls *d, const struct buf *body)
{
	struct buf url = BUF_INIT(4096);
	struct net *net = NULL;
	int error = buf_printf(&url, "%s/v1/sync/push", d->url.ptr);

	if (!error)
		error = net_open(&net, &d->tls);
	if (!error)
		error = net_call(status, resp, net, url.ptr, "POST", "application/octet-stream",
			body->ptr, body->len);
	net_close(net);
	buf_release(&url);
	return error;
}

static int print_result(const struct forge *f, long status, const struct buf *body,
	const struct buf *resp)
{
	json_t *answer = json_loadb(resp->ptr ? resp->ptr : "", resp->len, 0, NULL);

	if (!answer)
		answer = json_string(buf_cstr(resp));
	return cli_print_json(json_pack("{s:s, s:s, s:s?, s:I, s:I, s:o}", "mode", f->mode, "case",
		f->case_id, "head", f->has_head ? git_oid_tostr_s(&f->head) : NULL, "bytes",
		(json_int_t)body->len, "status", (json_int_t)status, "body", answer));
}

int main(int argc, char **argv)
{
	struct cli c;
	struct forge f;
	struct device_tls d;
	struct buf body = BUF_INIT(CHANGESET_ENCODED_MAX), resp = BUF_INIT(NET_RESPONSE_MAX);
	const char *save_to = NULL;
	long status = 0;
	int i, bad = 0, no_post = 0, rc = CLI_EXIT_FAIL, error;

	memset(&c, 0, sizeof(c));
	memset(&f, 0, sizeof(f));
	c.prog = "forge";
	buf_init(&f.key, 8192);
	device_tls_init(&d);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--save") && i + 1 < argc)
			save_to = argv[++i];
		else if (!strcmp(argv[i], "--no-post"))
			no_post = 1;
		else if (!f.mode)
			f.mode = argv[i];
		else if (!f.arg)
			f.arg = argv[i];
		else
			bad = 1;
	}
	if (!f.mode || bad) {
		fputs(usage, stderr);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	error = odb_global_init();
	if (!error)
		error = cli_open_node(&f.n, &c);
	if (!error)
		error = device_tls_load(&d, f.n);
	if (!error)
		error = store_material_get(&f.key, f.n->store, "device_key");
	if (!error)
		error = store_begin(f.n->store);
	if (!error) {
		error = build(&body, &f);
		store_rollback(f.n->store); /* the forged objects never stay in the agent store */
	}
	if (!error && save_to)
		error = save(&body, save_to);
	if (!error && !no_post)
		error = post(&status, &resp, &d, &body);
	if (!error)
		rc = print_result(&f, status, &body, &resp);
	else
		rc = cli_fail(&c);
out:
	buf_wipe_release(&f.key);
	buf_release(&body);
	buf_release(&resp);
	device_tls_release(&d);
	node_free(f.n);
	return rc;
}
