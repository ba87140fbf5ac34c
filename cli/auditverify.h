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

/*
 * `audit verify [--file F [--ca CA]]`: with --file, verify the export (CA from --ca, no log-on;
 * or the node's own CA); otherwise run verify_node.  Returns an exit code.
 */
int auditverify_command(struct cli *c, int (*verify_node)(struct cli *c));

/* The agent's `audit verify`: this device's own log. */
int auditverify_node(struct cli *c);

/* A certificate file, PEM or DER, appended to `der` as DER. */
int auditverify_read_cert(struct buf *der, const char *path) WUR;

/* Print "OK <what>: N entries, tree head H" (or the JSON form); r adds the signature counts. */
int auditverify_print(const struct cli *c, const char *what, uint64_t size,
	const uint8_t root[MERKLE_HASH_LEN], const struct trail_report *r);

#endif
