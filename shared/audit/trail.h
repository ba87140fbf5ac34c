/*
 * shared/audit/trail.h - verifying an audit trail: a run of entries, the signed checkpoints over it
 * and HQ's receipts (DESIGN.md section 7).  The same verifier serves a node's own log, a
 * device's trail held at HQ and an exported file checked by a third party with nothing but the
 * CA certificate.
 *
 * Every checkpoint and receipt must name a prefix of the entries whose Merkle tree head it
 * states: that one property makes each checkpoint consistent with every earlier one, so a
 * rewritten, reordered, deleted or inserted entry below any signed size is found.  Prefix heads
 * are computed in one pass over the leaves (a frontier of perfect subtrees), so verifying a
 * million entries costs one leaf hash each plus a few node hashes.
 */
#ifndef FIELDSYNC_TRAIL_H
#define FIELDSYNC_TRAIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "audit/merkle.h"
#include "audit/seal.h"
#include "store/store.h"

/* A signed statement: a checkpoint (by the log's node) or a receipt (by HQ). */
struct trail_sig {
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
	const char *time;
	const uint8_t *sig;
	size_t siglen;
	const uint8_t *cert; /* the signer's certificate (DER) */
	size_t certlen;
};

/*
 * What an auditor holds of a trail: a size and tree head, typed in (`sig` NULL) or a signed
 * head kept from `audit head` (a receipt from HQ, or a checkpoint of HQ's own log: `kind` and
 * `sig`, whose signature is checked against the CA and whose origin must be the trail's).
 */
struct trail_expect {
	uint64_t size; /* at least 1 */
	uint8_t root[MERKLE_HASH_LEN];
	const char *kind;	     /* "receipt" or "checkpoint" with sig */
	const struct trail_sig *sig; /* borrowed; NULL for a bare size and head */
	const char *origin;	     /* the origin the signed head names */
};

/* A signed head document (`audit head`), parsed: owns the signature and certificate bytes. */
struct trail_head {
	char kind[16];
	char origin[64];
	struct trail_sig sig;
	char time[40];
};

struct trail_input {
	const char *origin;    /* "<office>/<device>" */
	const uint8_t *leaves; /* n leaf hashes, already checked against their entries */
	uint64_t n;
	const struct trail_sig *checkpoints; /* by increasing size */
	size_t ncheckpoints;
	const struct trail_sig *receipts; /* by increasing size */
	size_t nreceipts;
	const struct seal *seals; /* the device's forward-secure seals, by index from 0 */
	size_t nseals;
	const uint8_t *ca; /* the organisation's CA certificate (DER) */
	size_t calen;
};

/*
 * Verify: every checkpoint and receipt names a prefix, its head matches, its signature holds
 * with its certificate, which chains to the CA; the seals form one chain from seal 0
 * (seal_check_next) and each names the head of its prefix.  *root_out gets the head of all n entries.
 * ERR_CORRUPT / ERR_AUTH naming the first bad statement.
 */
int trail_verify(uint8_t root_out[MERKLE_HASH_LEN], const struct trail_input *in) WUR;

/*
 * Check that the verified trail `in` (whose head is `root`) extends what the auditor holds:
 * at least e->size entries whose first e->size have head e->root, shown by a consistency proof
 * from the trail's leaves checked with merkle_verify_consistency(); the proof is appended to
 * `proof` if not NULL.  A signed head must verify first.  ERR_CORRUPT naming both heads when
 * the trail is shorter (cut back) or diverges, ERR_AUTH for a signed head that does not verify
 * or names another trail, ERR_INVALID for size 0.
 */
int trail_check_expect(struct buf *proof, const struct trail_input *in,
	const uint8_t root[MERKLE_HASH_LEN], const struct trail_expect *e) WUR;

/*
 * The signed head document of `audit head`: {"format": "fieldsync-head-1", "kind", "origin",
 * "size", "root", "time", "signature", "cert"}.  NULL when out of memory.
 */
json_t *trail_head_json(const char *kind, const char *origin, const struct trail_sig *s);

/* Parse such a document into *h (release with trail_head_release).  ERR_INVALID if malformed. */
int trail_head_parse(struct trail_head *h, const char *text, size_t len) WUR;

/* Free what trail_head_parse() allocated; h may be NULL or zeroed. */
void trail_head_release(struct trail_head *h);

/* The trail_expect of a parsed head document (borrows h). */
void trail_head_expect(struct trail_expect *e, const struct trail_head *h);

/*
 * Check one entry read back from any store or file: its bytes hash to `leaf` (if not NULL)
 * and it is canonical JSON naming sequence `seq`; writes its leaf hash to leaf_out.
 * ERR_CORRUPT naming the entry.
 */
int trail_check_entry(uint8_t leaf_out[MERKLE_HASH_LEN], const uint8_t *entry, size_t len,
	uint64_t seq, const uint8_t *leaf) WUR;

/*
 * An exported trail file ("fieldsync-audit-1", see trail_export_*): verify it with the CA
 * (DER) and, if `expect` is not NULL, against it (trail_check_expect, the proof appended to
 * `proof`).  Fills *size_out, root_out and the origin.  ERR_INVALID (not an export),
 * ERR_CORRUPT / ERR_AUTH naming the first bad entry or statement.
 */
int trail_verify_file(uint64_t *size_out, uint8_t root_out[MERKLE_HASH_LEN], char *origin,
	size_t origin_size, const char *text, size_t len, const uint8_t *ca, size_t calen,
	const struct trail_expect *expect, struct buf *proof) WUR;

struct trail_report {
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
	size_t checkpoints, receipts, seals;
	uint64_t countersigned; /* entries covered by the newest receipt */
	uint64_t sealed;	/* entries covered by the newest seal */
};

/*
 * Verify a node's own log in `s`: every entry against its leaf and sequence, every checkpoint
 * (signed with `signer`, this node's certificate; NULL if it has none yet) and every receipt
 * (each with the server certificate stored beside it) against the CA (DER; may be NULL only if
 * there are no signed statements), its seals and its current sealing key (seal_check_own_key),
 * then against `expect` if not NULL (trail_check_expect).
 * ERR_CORRUPT / ERR_AUTH naming the first bad entry.
 */
int trail_verify_node(struct trail_report *out, struct store *s, const char *origin,
	const uint8_t *signer, size_t signerlen, const uint8_t *ca, size_t calen,
	const struct trail_expect *expect, struct buf *proof) WUR;

/*
 * Load signed statements with `sql` (columns: size, root, time, signature[, certificate]; one
 * optional text parameter `param`), each signed by `cert` (DER) or, when cert is NULL, by the
 * certificate in the fifth column.  Free with trail_statements_free().
 */
int trail_load_statements(struct trail_sig **out, size_t *count, struct store *s,
	const char *sql, const char *param, const uint8_t *cert, size_t certlen) WUR;

/* Free statements loaded from a store. */
void trail_statements_free(struct trail_sig *list, size_t n);

/* JSON of one signed statement for an export: {"size","root","time","signature","cert"}. */
json_t *trail_sig_json(const struct trail_sig *s);

#endif
