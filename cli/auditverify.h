/*
 * cli/auditverify.h - `audit verify` for both programs: a node's own log with its checkpoints
 * and receipts, or an exported trail file checked with nothing but the CA certificate.
 */
#ifndef FIELDSYNC_CLI_AUDITVERIFY_H
#define FIELDSYNC_CLI_AUDITVERIFY_H

#include <stdint.h>

#include "base/buf.h"
#include "cli.h"
#include "audit/merkle.h"
#include "audit/trail.h"

/* What `audit verify --expect-*` was given, and the consistency proof that showed it. */
struct auditverify_expect {
	int given;
	struct trail_expect e;
	struct trail_head head; /* with --expect-receipt: the parsed signed head */
	struct buf proof;
};

/* The expectation to hand to trail_verify_*: NULL when none was given. */
const struct trail_expect *auditverify_expected(const struct auditverify_expect *x);

/*
 * `audit verify [--file F [--ca CA]] [--expect-size N --expect-head HEX | --expect-receipt R]`:
 * with --file, verify the export (CA from --ca, no log-on; or the node's own CA); otherwise run
 * verify_node.  Either way the trail must extend the expected head if one is given.  Returns
 * an exit code.
 */
int auditverify_command(struct cli *c,
	int (*verify_node)(struct cli *c, struct auditverify_expect *x));

/* The agent's `audit verify`: this device's own log. */
int auditverify_node(struct cli *c, struct auditverify_expect *x);

/* A certificate file, PEM or DER, appended to `der` as DER. */
int auditverify_read_cert(struct buf *der, const char *path) WUR;

/*
 * Print "OK <what>: N entries, tree head H" (or the JSON form); r adds the signature counts,
 * x (may be NULL) the head the trail was shown to extend.
 */
int auditverify_print(const struct cli *c, const char *what, uint64_t size,
	const uint8_t root[MERKLE_HASH_LEN], const struct trail_report *r,
	const struct auditverify_expect *x);

/*
 * Print the first statement `sql` loads (trail_load_statements with one text parameter `param`
 * or NULL; signed by `cert`, or by the
 * fifth column's certificate when cert is NULL) as a signed head document (trail_head_json).
 * ERR_NOTFOUND when there is none.
 */
int auditverify_print_head(struct node *n, const char *kind, const char *origin, const char *sql,
	const char *param, const struct buf *cert) WUR;

/* The agent's `audit head`: the newest receipt HQ gave this device, as JSON. */
int auditverify_head_agent(struct cli *c);

#endif
