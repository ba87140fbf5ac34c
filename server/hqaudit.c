/* server/hqaudit.c - device trails at HQ: upload, verification, query, export. */
#include "hqaudit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auditverify.h"
#include "audit/checkpoint.h"
#include "pki/pki.h"
#include "audit/seal.h"
#include "base/crypto.h"
#include "hq.h"
#include "hqdb.h"
#include "audit/trail.h"

int hq_device_held(char *held_out, size_t size, struct node *n, const char *device)
{
	struct buf reason = BUF_INIT(4096);
	int error = hqdb_device_held(&reason, n->store, device);

	snprintf(held_out, size, "%s", error ? "" : buf_cstr(&reason));
	buf_release(&reason);
	return error;
}

/* What HQ holds of a device's trail. */
struct held {
	int64_t epoch;	    /* the device's current trail epoch */
	uint64_t count;	    /* entries stored */
	uint64_t signed_at; /* size of the newest countersigned checkpoint */
	struct buf cert;    /* the device certificate */
};

static int load_held(struct held *h, struct node *n, const char *device)
{
	int64_t count = 0, signed_at = 0;
	int error = hqdb_device_get(NULL, &h->cert, &h->epoch, n->store, device);

	if (error == ERR_NOTFOUND)
		error = err_set(ERR_NOTFOUND, "device %s is not enrolled", device);
	if (!error)
		/* entries are dense from 0: the last sequence number is an index lookup where
		 * count(*) would read the whole trail */
		error = store_query_int64(&count, n->store,
			"SELECT coalesce(max(seq) + 1, 0) FROM remote_audit WHERE device = ? AND epoch = ?",
			"ti", device, h->epoch);
	if (!error)
		error = store_query_int64(&signed_at, n->store,
			"SELECT coalesce(max(size), 0) FROM remote_checkpoints WHERE device = ?"
			" AND epoch = ?",
			"ti", device, h->epoch);
	h->count = (uint64_t)count;
	h->signed_at = (uint64_t)signed_at;
	return error;
}

/* The stored entry `seq` of a device equals `entry`? */
static int same_entry(int *same, struct node *n, const char *device, int64_t epoch,
	uint64_t seq, const char *entry)
{
	struct buf stored = BUF_INIT((size_t)1 << 30);
	int error = store_query_bytes(&stored, n->store,
		"SELECT entry FROM remote_audit WHERE device = ? AND epoch = ? AND seq = ?", "tii",
		device, epoch, (int64_t)seq);

	*same = !error && stored.len == strlen(entry) && !memcmp(stored.ptr, entry, stored.len);
	buf_release(&stored);
	return error == ERR_NOTFOUND ? 0 : error;
}

/* Store one new entry after checking it names this device and the expected sequence. */
static int store_entry(uint8_t leaf[MERKLE_HASH_LEN], struct node *n, const struct hq_peer *peer,
	int64_t epoch, uint64_t seq, const char *entry)
{
	json_t *doc = json_loads(entry, 0, NULL);
	int error = trail_check_entry(leaf, (const uint8_t *)entry, strlen(entry), seq, NULL);

	if (!error && (strcmp(cli_json_str(doc, "node"), peer->device) ||
			      strcmp(cli_json_str(doc, "office"), peer->office)))
		error = err_set(ERR_AUTH, "audit entry %llu names node %s of office %s, not this device",
			(unsigned long long)seq, cli_json_str(doc, "node"), cli_json_str(doc, "office"));
	if (!error)
		error = store_run(n->store,
			"INSERT INTO remote_audit(device, seq, office, time, user, action, target,"
			" outcome, entry, leaf, epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			"tittttttbbi", peer->device, (int64_t)seq, peer->office,
			cli_json_str(doc, "time"), cli_json_str(doc, "user"),
			cli_json_str(doc, "action"), cli_json_str(doc, "target"),
			cli_json_str(doc, "outcome"), entry, strlen(entry), leaf,
			(size_t)MERKLE_HASH_LEN, epoch);
	json_decref(doc);
	return error;
}

static int device_leaves(struct buf *out, struct node *n, const char *device, int64_t epoch)
{
	sqlite3_stmt *st = NULL;
	int error = store_bind(&st, n->store,
		"SELECT leaf FROM remote_audit WHERE device = ? AND epoch = ? ORDER BY seq", "ti",
		device, epoch);

	while (!error && (error = store_next(n->store, st)) > 0)
		error = buf_put(out, sqlite3_column_blob(st, 0), MERKLE_HASH_LEN);
	sqlite3_finalize(st);
	return error;
}

static int stored_root(int *found, uint8_t root[MERKLE_HASH_LEN], struct node *n,
	const char *device, int64_t epoch, uint64_t size)
{
	struct buf stored = BUF_INIT(MERKLE_HASH_LEN);
	int error = store_query_bytes(&stored, n->store,
		"SELECT root FROM remote_checkpoints WHERE device = ? AND epoch = ? AND size = ?",
		"tii", device, epoch, (int64_t)size);

	*found = !error && stored.len == MERKLE_HASH_LEN;
	if (*found)
		memcpy(root, stored.ptr, MERKLE_HASH_LEN);
	buf_release(&stored);
	return error == ERR_NOTFOUND || error == ERR_TOOBIG ? 0 : error;
}

/* The frontier HQ kept with the checkpoint of `size`, if any. */
static int stored_frontier(int *found, struct merkle_frontier *f, struct node *n,
	const char *device, int64_t epoch, uint64_t size)
{
	struct buf stored = BUF_INIT(8 + 64 * MERKLE_HASH_LEN);
	int error = store_query_bytes(&stored, n->store,
		"SELECT frontier FROM remote_checkpoints WHERE device = ? AND epoch = ? AND size = ?",
		"tii", device, epoch, (int64_t)size);

	/* none kept (an older checkpoint), or one that does not decode: reread the leaves */
	*found = !error && stored.len &&
		 merkle_frontier_decode(f, (const uint8_t *)stored.ptr, stored.len) == 0 &&
		 f->size == size;
	buf_release(&stored);
	return error == ERR_NOTFOUND || error == ERR_TOOBIG ? 0 : error;
}

/* A parsed upload. */
struct upload {
	uint64_t from, size;
	uint8_t root[MERKLE_HASH_LEN];
	const char *time;
	uint8_t sig[CHECKPOINT_SIG_MAX];
	size_t siglen;
	uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN];
	size_t prooflen;
	json_t *entries;
	struct seal *seals; /* by index; may start below what HQ holds (a re-sent batch) */
	size_t nseals;
};

static int parse_upload(struct upload *u, json_t *doc)
{
	const char *root = cli_json_str(doc, "root"), *sig = cli_json_str(doc, "signature");
	const char *proof = cli_json_str(doc, "proof");
	json_int_t from = json_integer_value(json_object_get(doc, "from"));
	json_int_t size = json_integer_value(json_object_get(doc, "size"));

	u->entries = json_object_get(doc, "entries");
	u->time = cli_json_str(doc, "time");
	u->siglen = strlen(sig) / 2;
	u->prooflen = strlen(proof) / 2;
	if (!doc || !json_is_array(u->entries) || from < 0 || size < from || !u->time[0] ||
		strlen(root) != 2 * MERKLE_HASH_LEN || crypto_unhex(u->root, MERKLE_HASH_LEN, root) ||
		u->siglen > sizeof(u->sig) || crypto_unhex(u->sig, u->siglen, sig) ||
		u->prooflen > sizeof(u->proof) || crypto_unhex(u->proof, u->prooflen, proof))
		return err_set(ERR_INVALID, "malformed audit upload");
	if (json_array_size(u->entries) != (size_t)(size - from) ||
		json_array_size(u->entries) > HQAUDIT_BATCH_MAX)
		return err_set(ERR_INVALID, "the upload carries %zu entries for sizes %lld to %lld",
			json_array_size(u->entries), (long long)from, (long long)size);
	if (json_array_size(json_object_get(doc, "seals")) > HQAUDIT_BATCH_MAX)
		return err_set(ERR_INVALID, "the upload carries more than %d seals",
			HQAUDIT_BATCH_MAX);
	u->from = (uint64_t)from;
	u->size = (uint64_t)size;
	return seal_list_from_json(&u->seals, &u->nseals, json_object_get(doc, "seals"));
}

/* ---- seals (docs/AUDIT.md section 3) ----------------------------------------------------- */

/* The seals of an upload that HQ does not hold yet, and where their heads are checked. */
struct new_seals {
	const struct seal *list;
	size_t n, next;	    /* next: the first whose head is still to be checked */
	int sealed;	    /* the device has a seal (held or in this upload) */
	uint64_t sealed_to; /* size of its newest seal */
};

#define SEAL_COLUMNS "idx, size, root, time, next_key, signature, cert"

static int held_seals(struct seal **out, size_t *n, struct node *n_, const char *device,
	int64_t epoch, int64_t from, int64_t to)
{
	return seal_load(out, n, n_->store,
		"SELECT " SEAL_COLUMNS " FROM remote_seals WHERE device = ? AND epoch = ?"
		" AND idx >= ? AND idx < ? ORDER BY idx",
		"tiii", device, epoch, from, to);
}

/*
 * Why `s` does not continue the chain: checked against the whole chain HQ holds below it and
 * the upload's new seals before it, so a retired key is named.  `held` says whether HQ holds
 * a different seal of the same index.
 */
static int explain(struct node *n, const char *device, int64_t epoch, const struct upload *u,
	size_t at, size_t first_new, int held, const struct buf *ca, const char *origin)
{
	struct seal *chain = NULL, *all = NULL;
	const struct seal *s = &u->seals[at];
	size_t nchain = 0, k = 0, i;
	char why[400];
	int error = held_seals(&chain, &nchain, n, device, epoch, 0, (int64_t)s->index);

	all = error ? NULL : calloc(nchain + at + 1, sizeof(*all));
	if (!error && !all)
		error = err_set(ERR_NOMEM, "out of memory");
	if (error)
		goto out;
	for (i = 0; i < nchain; i++)
		all[k++] = chain[i]; /* shallow: chain keeps the certificates */
	for (i = first_new; !held && i < at; i++)
		all[k++] = u->seals[i];
	error = seal_check_next(all, k, s, origin, (const uint8_t *)ca->ptr, ca->len);
	snprintf(why, sizeof(why), "%s", error ? err_msg() : "");
	if (held && !error)
		error = err_set(ERR_AUTH,
			"seal %llu differs from the one HQ holds, though signed with sealing key "
			"%llu: a device uses each sealing key once, so it was made again from an older "
			"copy of its database or key material",
			(unsigned long long)s->index, (unsigned long long)s->index);
	else if (held)
		error = err_set(ERR_AUTH, "seal %llu differs from the one HQ holds: %s",
			(unsigned long long)s->index, why);
	else if (!error)
		error = err_set(ERR_AUTH, "seal %llu does not continue the chain HQ holds",
			(unsigned long long)s->index);
	else
		error = err_set(ERR_AUTH, "%s", why);
out:
	free(all);
	seal_free_list(chain, nchain);
	return error;
}

/* Where the upload starts against what HQ holds: checked before anything else. */
static int check_start(const struct upload *u, const struct held *h)
{
	if (u->from > 0 && h->count == 0)
		return err_set(ERR_CONFLICT, "HQ holds no entry of this device's trail yet (a new "
					     "epoch after a release): upload from entry 0");
	/* HQ restored from a backup older than its last receipt: the device sends it all again
	 * and HQ checks every entry, those it still holds included */
	if (u->from > h->count)
		return err_set(ERR_CONFLICT,
			"the upload starts at entry %llu but HQ holds %llu (HQ was restored from "
			"a backup): upload from entry 0",
			(unsigned long long)u->from, (unsigned long long)h->count);
	return 0;
}

/*
 * The seals come first: a seal HQ holds must come back byte-identical, a new one must
 * continue the chain (index, size, signature by the key its predecessor named).  Their heads
 * are checked as the entries are read (seal_head_check).
 */
static int check_seals(struct new_seals *ns, struct node *n, const struct hq_peer *peer,
	const struct upload *u, const struct held *h, const struct buf *ca, const char *origin)
{
	struct seal *last = NULL, *same = NULL;
	size_t nlast = 0, nsame = 0, i, first_new = u->nseals;
	int error = seal_load(&last, &nlast, n->store,
		"SELECT " SEAL_COLUMNS " FROM remote_seals WHERE device = ? AND epoch = ?"
		" ORDER BY idx DESC LIMIT 1",
		"ti", peer->device, h->epoch);

	memset(ns, 0, sizeof(*ns));
	ns->sealed = nlast > 0;
	ns->sealed_to = nlast ? last[0].size : 0;
	for (i = 0; !error && i < u->nseals; i++) {
		const struct seal *s = &u->seals[i], *prev;

		if (i && s->index != u->seals[i - 1].index + 1) {
			error = err_set(ERR_INVALID, "the upload's seals are not consecutive");
			break;
		}
		if (nlast && s->index <= last[0].index) {
			seal_free_list(same, nsame);
			same = NULL;
			error = held_seals(&same, &nsame, n, peer->device, h->epoch,
				(int64_t)s->index, (int64_t)s->index + 1);
			if (!error && (nsame != 1 || !seal_equal(&same[0], s)))
				error = explain(n, peer->device, h->epoch, u, i, i, 1, ca, origin);
			continue;
		}
		if (first_new == u->nseals)
			first_new = i;
		prev = i > first_new ? &u->seals[i - 1] : nlast ? &last[0] : NULL;
		error = seal_check_next(prev, prev ? 1 : 0, s, origin, (const uint8_t *)ca->ptr,
			ca->len);
		if (error == ERR_AUTH && prev)
			error = explain(n, peer->device, h->epoch, u, i, first_new, 0, ca, origin);
		ns->sealed = 1;
		ns->sealed_to = s->size;
	}
	ns->list = u->seals + first_new;
	ns->n = u->nseals - first_new;
	if (!error && ns->sealed && u->size > ns->sealed_to + HQAUDIT_UNSEALED_MAX)
		error = err_set(ERR_AUTH,
			"the upload reaches entry %llu, more than %d past the device's newest seal "
			"(%llu): a device seals at every command, so a run this long without a seal "
			"is not one it wrote",
			(unsigned long long)u->size, HQAUDIT_UNSEALED_MAX,
			(unsigned long long)ns->sealed_to);
	seal_free_list(last, nlast);
	seal_free_list(same, nsame);
	return error;
}

/* Add one leaf to the tree and check the head of every new seal of that size. */
static int seal_head_check(struct merkle_frontier *f, struct new_seals *ns,
	const uint8_t leaf[MERKLE_HASH_LEN])
{
	uint8_t head[MERKLE_HASH_LEN];

	merkle_frontier_add(f, leaf);
	while (ns->next < ns->n && ns->list[ns->next].size <= f->size) {
		if (ns->list[ns->next].size < f->size)
			return err_set(ERR_INVALID,
				"seal %llu names size %llu, outside the entries "
				"this upload carries",
				(unsigned long long)ns->list[ns->next].index,
				(unsigned long long)ns->list[ns->next].size);
		merkle_frontier_root(head, f);
		if (!crypto_equal(head, ns->list[ns->next].root, MERKLE_HASH_LEN))
			return err_set(ERR_AUTH,
				"seal %llu names a tree head the entries do not have",
				(unsigned long long)ns->list[ns->next].index);
		ns->next++;
	}
	return 0;
}

static int store_seals(struct node *n, const struct hq_peer *peer, int64_t epoch,
	const struct new_seals *ns)
{
	size_t i;
	int error = 0;

	for (i = 0; !error && i < ns->n; i++) {
		const struct seal *s = &ns->list[i];

		error = store_run(n->store,
			"INSERT INTO remote_seals(device, epoch, idx, size, root, time, next_key,"
			" signature, cert) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			"tiiibtbbb", peer->device, epoch, (int64_t)s->index, (int64_t)s->size,
			s->root, (size_t)MERKLE_HASH_LEN, s->time, s->next_key, s->next_keylen,
			s->sig, s->siglen, s->cert, s->certlen);
	}
	return error;
}

/*
 * Everything that makes a trail trustworthy.  ERR_AUTH: a security matter (alert and hold);
 * ERR_INVALID: a malformed request.
 */
static int check_and_store(struct merkle_frontier *f, struct new_seals *ns, struct node *n,
	const struct hq_peer *peer, const struct upload *u, const struct held *h,
	const struct buf *ca, const char *origin)
{
	struct buf leaves = BUF_INIT((size_t)1 << 36), msg = BUF_INIT(CHECKPOINT_MSG_MAX);
	uint8_t root[MERKLE_HASH_LEN], old_root[MERKLE_HASH_LEN], leaf[MERKLE_HASH_LEN];
	uint64_t i;
	int same = 0, found = 0, extend = 0, error = 0;

	if (u->size < h->signed_at)
		return err_set(ERR_AUTH,
			"the device's audit log has %llu entries but HQ countersigned %llu: an older "
			"copy of its database was restored or the log was truncated",
			(unsigned long long)u->size, (unsigned long long)h->signed_at);
	/* the usual upload continues where the last receipt ended: extend its frontier with the
	 * new leaves instead of rereading the device's whole trail */
	merkle_frontier_init(f);
	if (u->from == h->count && h->count == h->signed_at)
		error = h->count ? stored_frontier(&extend, f, n, peer->device, h->epoch, h->count)
				 : (extend = 1, 0);
	for (i = u->from; !error && i < u->size; i++) {
		const char *e = json_string_value(json_array_get(u->entries, i - u->from));

		if (!e)
			return err_set(ERR_INVALID, "audit entry %llu is not a string",
				(unsigned long long)i);
		if (i < h->count) {
			error = same_entry(&same, n, peer->device, h->epoch, i, e);
			if (!error && !same)
				error = err_set(ERR_AUTH,
					"audit entry %llu differs from the copy HQ holds: the device's "
					"log was changed or an older copy of its database restored",
					(unsigned long long)i);
		} else {
			error = store_entry(leaf, n, peer, h->epoch, i, e);
			if (!error && extend)
				error = seal_head_check(f, ns, leaf);
		}
	}
	if (!error && !extend) {
		merkle_frontier_init(f);
		error = device_leaves(&leaves, n, peer->device, h->epoch);
		if (!error && leaves.len / MERKLE_HASH_LEN < u->size)
			error = err_set(ERR_INVALID, "HQ holds fewer entries than the checkpoint names");
		ns->next = 0;
		for (i = 0; !error && i < u->size; i++)
			error = seal_head_check(f, ns,
				(const uint8_t *)leaves.ptr + i * MERKLE_HASH_LEN);
	}
	if (!error && ns->next < ns->n)
		error = err_set(ERR_INVALID,
			"seal %llu names size %llu, outside the entries this "
			"upload carries",
			(unsigned long long)ns->list[ns->next].index,
			(unsigned long long)ns->list[ns->next].size);
	if (!error)
		merkle_frontier_root(root, f);
	if (!error && !crypto_equal(root, u->root, MERKLE_HASH_LEN))
		error = err_set(ERR_AUTH, "the checkpoint's tree head does not match the entries");
	if (!error)
		error = checkpoint_message(&msg, "checkpoint", origin, u->size, u->root, u->time);
	if (!error && checkpoint_verify((const uint8_t *)h->cert.ptr, h->cert.len,
			      (const uint8_t *)ca->ptr, ca->len, &msg, u->sig, u->siglen))
		error = err_set(ERR_AUTH, "the checkpoint is not signed by this device's key");
	if (!error && u->from > 0) {
		error = stored_root(&found, old_root, n, peer->device, h->epoch, u->from);
		if (!error && !found)
			error = err_set(ERR_AUTH, "the device's last receipt (size %llu) is not one HQ "
						  "issued: a replayed or forged receipt",
				(unsigned long long)u->from);
		if (!error && merkle_verify_consistency(u->from, u->size, old_root, u->root,
				      u->proof, u->prooflen))
			error = err_set(ERR_AUTH, "the consistency proof from size %llu does not hold",
				(unsigned long long)u->from);
	}
	buf_release(&leaves);
	buf_release(&msg);
	return error;
}

static int countersign(struct buf *out, struct node *n, const struct hq_peer *peer,
	const struct upload *u, const char *origin, int64_t epoch, const struct merkle_frontier *f)
{
	struct buf fb = BUF_INIT(8 + 64 * MERKLE_HASH_LEN);
	struct buf key = BUF_INIT(8192), cert = BUF_INIT(8192), msg = BUF_INIT(CHECKPOINT_MSG_MAX);
	struct buf sig = BUF_INIT(CHECKPOINT_SIG_MAX);
	char root[2 * MERKLE_HASH_LEN + 1], *sig_hex = NULL, *cert_hex = NULL;
	int error;

	error = store_material_get(&key, n->store, "server_key");
	if (!error)
		error = store_material_get(&cert, n->store, "server_cert");
	if (!error)
		error = checkpoint_message(&msg, "receipt", origin, u->size, u->root, u->time);
	if (!error)
		error = checkpoint_sign(&sig, (const uint8_t *)key.ptr, key.len, &msg);
	/* a frontier that cannot be encoded is left out: the next upload rereads the leaves */
	if (!error && merkle_frontier_encode(&fb, f) != 0)
		buf_release(&fb);
	if (!error)
		error = store_run(n->store,
			"INSERT OR REPLACE INTO remote_checkpoints(device, size, root, time, signature,"
			" countersignature, epoch, frontier) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			"tibtbbib", peer->device, (int64_t)u->size, u->root,
			(size_t)MERKLE_HASH_LEN, u->time, u->sig, u->siglen, sig.ptr, sig.len,
			epoch, fb.ptr, fb.len);
	sig_hex = malloc(2 * sig.len + 1);
	cert_hex = malloc(2 * cert.len + 1);
	if (!error && (!sig_hex || !cert_hex))
		error = err_set(ERR_NOMEM, "out of memory");
	if (!error) {
		crypto_hex(root, u->root, MERKLE_HASH_LEN);
		crypto_hex(sig_hex, (const uint8_t *)sig.ptr, sig.len);
		crypto_hex(cert_hex, (const uint8_t *)cert.ptr, cert.len);
		error = hq_json_out(out, json_pack("{s:I, s:s, s:s, s:s, s:s}", "size",
						 (json_int_t)u->size, "root", root, "time", u->time,
						 "signature", sig_hex, "server_cert", cert_hex));
	}
	free(sig_hex);
	free(cert_hex);
	buf_wipe_release(&key);
	buf_release(&cert);
	buf_release(&msg);
	buf_release(&sig);
	buf_release(&fb);
	return error;
}

/*
 * The first upload of a new epoch (after a release): record where the device's trail now
 * departs from the one HQ held before, so the rewrite itself stays on the record.
 */
static int note_new_epoch(struct node *n, const char *device, int64_t epoch)
{
	sqlite3_stmt *st = NULL;
	char detail[256];
	int rc, error = store_bind(&st, n->store,
			"SELECT (SELECT min(a.seq) FROM remote_audit a JOIN remote_audit b"
			"   ON b.device = a.device AND b.seq = a.seq AND b.epoch = ?2"
			"   WHERE a.device = ?1 AND a.epoch = ?3 AND a.entry != b.entry),"
			" (SELECT count(*) FROM remote_audit WHERE device = ?1 AND epoch = ?2),"
			" (SELECT count(*) FROM remote_audit WHERE device = ?1 AND epoch = ?3)",
			"tii", device, epoch - 1, epoch);

	rc = error ? error : store_next(n->store, st);
	if (rc <= 0)
		error = rc ? rc : err_set(ERR_GENERIC, "cannot compare the device's trails");
	else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		snprintf(detail, sizeof(detail),
			"epoch %lld (%lld entries) agrees with every entry of epoch %lld (%lld entries) "
			"it holds",
			(long long)epoch, sqlite3_column_int64(st, 2), (long long)epoch - 1,
			sqlite3_column_int64(st, 1));
	else
		snprintf(detail, sizeof(detail),
			"epoch %lld (%lld entries) departs from epoch %lld (%lld entries) at entry %lld",
			(long long)epoch, sqlite3_column_int64(st, 2), (long long)epoch - 1,
			sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	if (!error)
		error = node_audit(n, "audit.epoch", device, "success", detail);
	return error;
}

/* After a refused trail: the alert and the hold, in their own transaction. */
static void alert(struct node *n, const struct hq_peer *peer, const char *reason)
{
	int error = store_begin(n->store);

	if (!error)
		error = hqdb_device_hold(n->store, peer->device, reason);
	if (!error)
		error = node_audit(n, "security.alert", peer->device, "denied", reason);
	if (!error)
		error = store_commit(n->store);
	if (error)
		store_rollback(n->store);
	{
		char when[HLC_STR_MAX];

		hlc_iso8601(when, hlc_now_ms());
		fprintf(stderr, "ts=%s level=error event=security.alert peer=%s msg=\"device %s of "
				"office %s: %s\"\n",
			when, peer->addr, peer->device, peer->office, reason);
	}
}

int hq_audit_upload(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const char *body, size_t len)
{
	json_t *doc = json_loadb(body ? body : "", len, 0, NULL);
	struct held h;
	struct upload u;
	struct merkle_frontier f;
	struct new_seals ns;
	struct buf ca = BUF_INIT(8192);
	char origin[64], reason[512], detail[160];
	int error;

	memset(&u, 0, sizeof(u));
	memset(&h, 0, sizeof(h));
	buf_init(&h.cert, 8192);
	snprintf(origin, sizeof(origin), "%s/%s", peer->office, peer->device);
	error = parse_upload(&u, doc);
	if (!error)
		error = pki_trust_get(&ca, n->store, 1); /* older checkpoints: retired CAs */
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = load_held(&h, n, peer->device);
	if (!error)
		error = check_start(&u, &h);
	if (!error)
		error = check_seals(&ns, n, peer, &u, &h, &ca, origin);
	if (!error)
		error = check_and_store(&f, &ns, n, peer, &u, &h, &ca, origin);
	if (!error)
		error = store_seals(n, peer, h.epoch, &ns);
	if (!error && h.epoch > 0 && h.count == 0)
		error = note_new_epoch(n, peer->device, h.epoch);
	if (!error)
		error = countersign(out, n, peer, &u, origin, h.epoch, &f);
	snprintf(detail, sizeof(detail), "entries %llu to %llu, checkpoint at %llu",
		(unsigned long long)u.from, (unsigned long long)u.size, (unsigned long long)u.size);
	if (!error)
		error = node_audit(n, "audit.upload", peer->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	snprintf(reason, sizeof(reason), "%s", err_msg());
	if (error) {
		store_rollback(n->store);
		buf_reset(out);
		if (error == ERR_AUTH)
			alert(n, peer, reason);
		else
			node_audit_failure(n, "audit.upload", peer->device, error);
		*status = error == ERR_AUTH ? 409 : error == ERR_INVALID ? 400
			  : error == ERR_CONFLICT ? 422 : 500;
		error = hq_json_out(out,
			error == ERR_CONFLICT
				? json_pack("{s:s, s:i}", "error", reason, "restart_from", 0)
				: json_pack("{s:s}", "error", reason));
	} else {
		*status = 200;
	}
	buf_release(&h.cert);
	buf_release(&ca);
	seal_free_list(u.seals, u.nseals);
	json_decref(doc);
	return error;
}

/* An ISO 8601 UTC time as the agent writes it (2026-12-03T14:23:27.973Z), nothing else. */
static int is_time(const char *t)
{
	size_t i, len = strlen(t);

	if (len < 20 || len > 30 || t[len - 1] != 'Z' || t[10] != 'T')
		return 0;
	for (i = 0; i + 1 < len; i++)
		if (!strchr("0123456789-:.T", t[i]))
			return 0;
	return 1;
}

int hq_device_restored(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const char *body, size_t len)
{
	json_t *doc = json_loadb(body ? body : "", len, 0, NULL);
	const char *when = json_string_value(json_object_get(doc, "taken_at"));
	json_t *size = json_object_get(doc, "audit_size");
	struct buf before = BUF_INIT(4096);
	struct held h;
	char reason[512], detail[768];
	int error = 0;

	memset(&h, 0, sizeof(h));
	buf_init(&h.cert, 8192);
	if (!when || !is_time(when) || !json_is_integer(size) || json_integer_value(size) < 0) {
		*status = 400;
		error = hq_json_out(out, json_pack("{s:s}", "error",
						 "a restore declaration names 'taken_at' (ISO 8601 "
						 "UTC) and 'audit_size'"));
		goto out;
	}
	error = store_begin(n->store);
	if (!error)
		error = load_held(&h, n, peer->device);
	if (!error)
		error = hqdb_device_held(&before, n->store, peer->device);
	snprintf(reason, sizeof(reason), HQAUDIT_RESTORED "%s", when);
	if (!error && before.len && strcmp(buf_cstr(&before), reason) != 0)
		snprintf(reason, sizeof(reason), HQAUDIT_RESTORED "%s; held before that: %.300s",
			when, buf_cstr(&before));
	snprintf(detail, sizeof(detail),
		"the device declares a restore from a backup of %s: its audit log has %lld entries, "
		"HQ countersigned %llu of epoch %lld; held until an administrator releases it",
		when, (long long)json_integer_value(size), (unsigned long long)h.signed_at,
		(long long)h.epoch);
	if (!error)
		error = hqdb_device_hold(n->store, peer->device, reason);
	if (!error)
		error = node_audit(n, "device.restored", peer->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		store_rollback(n->store);
		goto out;
	}
	fprintf(stderr,
		"ts=%s level=warn event=device.restored peer=%s msg=\"device %s of office "
		"%s: %s\"\n",
		when, peer->addr, peer->device, peer->office, detail);
	*status = 200;
	error = hq_json_out(out, json_pack("{s:s}", "held", reason));
out:
	buf_release(&before);
	buf_release(&h.cert);
	json_decref(doc);
	return error;
}
