/* cli/auditverify.c - `audit verify` of either program: a node's own log or an export file. */
#include "auditverify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "base/crypto.h"
#include "audit/trail.h"
#include "pki/pki.h"

/* A certificate file, PEM or DER, as DER. */
int auditverify_read_cert(struct buf *der, const char *path)
{
	struct buf raw = BUF_INIT(64 * 1024);
	mbedtls_x509_crt crt;
	int error = cli_read_file(&raw, path, 64 * 1024);

	mbedtls_x509_crt_init(&crt);
	/* PEM wants its terminating NUL counted; the buffer keeps one after len */
	if (!error && mbedtls_x509_crt_parse(&crt, (const unsigned char *)raw.ptr,
			      raw.len + (strstr(raw.ptr, "-----BEGIN") ? 1 : 0)))
		error = err_set(ERR_INVALID, "'%s' is not a certificate", path);
	/* a bundle (ca export after a CA rollover): every certificate, a trust set */
	for (const mbedtls_x509_crt *one = &crt; !error && one && one->raw.len; one = one->next)
		error = buf_put(der, one->raw.p, one->raw.len);
	mbedtls_x509_crt_free(&crt);
	buf_release(&raw);
	return error;
}

/* The "expected" part of the output: what the trail was shown to extend. */
static json_t *expect_json(const struct auditverify_expect *x)
{
	char root[2 * MERKLE_HASH_LEN + 1], *proof = malloc(2 * x->proof.len + 1);
	json_t *j = NULL;

	crypto_hex(root, x->e.root, MERKLE_HASH_LEN);
	if (proof) {
		crypto_hex(proof, (const uint8_t *)x->proof.ptr, x->proof.len);
		j = json_pack("{s:I, s:s, s:s, s:s}", "size", (json_int_t)x->e.size, "root", root,
			"signed", x->e.sig ? x->e.kind : "no", "proof", proof);
	}
	free(proof);
	return j;
}

int auditverify_print(const struct cli *c, const char *what, uint64_t size,
	const uint8_t root[MERKLE_HASH_LEN], const struct trail_report *r,
	const struct auditverify_expect *x)
{
	char hex[2 * MERKLE_HASH_LEN + 1], want[2 * MERKLE_HASH_LEN + 1];
	json_t *doc;

	crypto_hex(hex, root, MERKLE_HASH_LEN);
	if (c->json) {
		doc = r ? json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "status", "ok",
				  "size", (json_int_t)size, "root", hex, "checkpoints",
				  (json_int_t)r->checkpoints, "receipts", (json_int_t)r->receipts,
				  "countersigned", (json_int_t)r->countersigned, "seals",
				  (json_int_t)r->seals, "sealed", (json_int_t)r->sealed)
			: json_pack("{s:s, s:s, s:I, s:s}", "status", "ok", "origin", what, "size",
				  (json_int_t)size, "root", hex);
		if (doc && x && x->given)
			json_object_set_new(doc, "expected", expect_json(x));
		return cli_print_json(doc);
	}
	printf("OK  %s: %llu entries, tree head %s\n", what, (unsigned long long)size, hex);
	if (r)
		printf("    %zu signed checkpoints, %zu receipts from HQ (the first %llu entries "
		       "countersigned), %zu forward-secure seals (the first %llu entries sealed)\n",
			r->checkpoints, r->receipts, (unsigned long long)r->countersigned, r->seals,
			(unsigned long long)r->sealed);
	if (x && x->given) {
		crypto_hex(want, x->e.root, MERKLE_HASH_LEN);
		printf("    extends the %s you hold: %llu entries, tree head %s (consistency proof "
		       "of %zu hashes)\n",
			x->e.sig ? (strcmp(x->e.kind, "receipt") ? "signed checkpoint"
								 : "HQ receipt")
				 : "head",
			(unsigned long long)x->e.size, want, x->proof.len / MERKLE_HASH_LEN);
	}
	return CLI_EXIT_OK;
}

static int verify_file(struct cli *c, const char *file, const char *ca_path,
	struct auditverify_expect *x)
{
	struct buf text = BUF_INIT((size_t)1 << 32), ca = BUF_INIT(64 * 1024);
	struct node *n = NULL;
	uint8_t root[MERKLE_HASH_LEN];
	uint64_t size = 0;
	char origin[128] = "";
	int rc, error;

	error = cli_read_file(&text, file, (size_t)1 << 32);
	if (!error && ca_path)
		error = auditverify_read_cert(&ca, ca_path);
	else if (!error) { /* the node's own CA, read by a logged-on user */
		error = cli_open_node(&n, c);
		if (!error)
			error = pki_trust_get(&ca, n->store,
				1); /* retired CAs signed old entries */
		if (error == ERR_NOTFOUND)
			error = err_set(ERR_NOTFOUND, "no CA certificate here: give one with --ca");
	}
	if (!error)
		error = trail_verify_file(&size, root, origin, sizeof(origin), text.ptr, text.len,
			(const uint8_t *)ca.ptr, ca.len, auditverify_expected(x), &x->proof);
	if (n && error)
		node_audit_failure(n, "audit.verify", file, error);
	else if (n)
		error = node_audit(n, "audit.verify", file, "success", NULL);
	rc = error ? cli_fail(c) : auditverify_print(c, origin, size, root, NULL, x);
	node_free(n);
	buf_release(&text);
	buf_release(&ca);
	return rc;
}

const struct trail_expect *auditverify_expected(const struct auditverify_expect *x)
{
	return x && x->given ? &x->e : NULL;
}

/* --expect-size N --expect-head HEX, or --expect-receipt FILE (a signed head), into *x. */
static int parse_expect(struct auditverify_expect *x, const struct cli *c, const char *usage,
	const struct cli_opt *opts, size_t nopts)
{
	const char *size = cli_opt(opts, nopts, "--expect-size");
	const char *head = cli_opt(opts, nopts, "--expect-head");
	const char *receipt = cli_opt(opts, nopts, "--expect-receipt");
	struct buf text = BUF_INIT(64 * 1024);
	char *end = NULL;
	long long v;
	int error;

	if (receipt && (size || head))
		return cli_usage_error(c, usage,
			"--expect-receipt goes without --expect-size/-head");
	if (!size != !head)
		return cli_usage_error(c, usage, "--expect-size and --expect-head go together");
	if (size) {
		v = strtoll(size, &end, 10);
		if (!end || *end || size[0] < '0' || size[0] > '9' || v < 1)
			return cli_usage_error(c, usage,
				"--expect-size takes a number of entries (1 or more)");
		if (strlen(head) != 2 * MERKLE_HASH_LEN ||
			crypto_unhex(x->e.root, MERKLE_HASH_LEN, head))
			return cli_usage_error(c, usage,
				"--expect-head takes a tree head of 64 hex digits");
		x->e.size = (uint64_t)v;
		x->given = 1;
	}
	if (!receipt)
		return 0;
	error = cli_read_file(&text, receipt, 64 * 1024);
	if (!error)
		error = trail_head_parse(&x->head, text.ptr, text.len);
	buf_release(&text);
	if (error)
		return cli_usage_error(c, usage, "--expect-receipt: %s", err_msg());
	trail_head_expect(&x->e, &x->head);
	x->given = 1;
	return 0;
}

int auditverify_command(struct cli *c,
	int (*verify_node)(struct cli *c, struct auditverify_expect *x))
{
	static const char usage[] = "audit verify [--file F [--ca CA]] [--expect-size N "
				    "--expect-head HEX | --expect-receipt FILE]";
	struct cli_opt opts[] = {{"--file", 1, 0, {0}, 0}, {"--ca", 1, 0, {0}, 0},
		{"--expect-size", 1, 0, {0}, 0}, {"--expect-head", 1, 0, {0}, 0},
		{"--expect-receipt", 1, 0, {0}, 0}};
	struct auditverify_expect x;
	const char *pos[2], *file, *ca;
	int npos, rc;

	memset(&x, 0, sizeof(x));
	buf_init(&x.proof, (size_t)(MERKLE_MAX_PROOF + 1) * MERKLE_HASH_LEN);
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 2, &npos);
	if (!rc && (npos != 1 || strcmp(pos[0], "verify")))
		rc = cli_usage_error(c, usage, "expected 'audit verify'");
	file = cli_opt(opts, CLI_N_OPTS(opts), "--file");
	ca = cli_opt(opts, CLI_N_OPTS(opts), "--ca");
	if (!rc && ca && !file)
		rc = cli_usage_error(c, usage, "--ca goes with --file");
	if (!rc)
		rc = parse_expect(&x, c, usage, opts, CLI_N_OPTS(opts));
	if (!rc)
		rc = file ? verify_file(c, file, ca, &x) : verify_node(c, &x);
	trail_head_release(&x.head);
	buf_release(&x.proof);
	return rc;
}

int auditverify_node(struct cli *c, struct auditverify_expect *x)
{
	struct buf cert = BUF_INIT(8192), ca = BUF_INIT(8192);
	struct trail_report r;
	struct node *n = NULL;
	char origin[64];
	int rc = CLI_EXIT_FAIL, error, has_ca, has_cert;

	if (cli_open_node(&n, c))
		return cli_fail(c);
	error = node_require(n, NODE_PERM_AUDIT_READ, "audit.verify", "");
	has_cert = !error && store_material_get(&cert, n->store, "device_cert") == 0;
	has_ca = !error && pki_trust_get(&ca, n->store, 1) == 0;
	snprintf(origin, sizeof(origin), "%s/%s", n->office, n->device);
	if (!error)
		error = trail_verify_node(&r, n->store, origin,
			has_cert ? (uint8_t *)cert.ptr : NULL, cert.len,
			has_ca ? (uint8_t *)ca.ptr : NULL, ca.len, auditverify_expected(x),
			&x->proof);
	if (error && error != ERR_PERM)
		node_audit_failure(n, "audit.verify", "", error);
	else if (!error)
		error = node_audit(n, "audit.verify", "", "success", NULL);
	if (!error)
		rc = auditverify_print(c, origin, r.size, r.root, &r, x);
	else
		rc = cli_fail(c);
	buf_release(&cert);
	buf_release(&ca);
	node_free(n);
	return rc;
}

int auditverify_print_head(struct node *n, const char *kind, const char *origin, const char *sql,
	const char *param, const struct buf *cert)
{
	struct trail_sig *list = NULL;
	size_t count = 0;
	json_t *doc = NULL;
	int error = trail_load_statements(&list, &count, n->store, sql, param,
		cert ? (const uint8_t *)cert->ptr : NULL, cert ? cert->len : 0);

	if (!error && !count)
		error = err_set(ERR_NOTFOUND, "no signed head yet: %s",
			strcmp(kind, "receipt")
				? "nothing is checkpointed"
				: "this device has no receipt from HQ (sync first)");
	if (!error) {
		doc = trail_head_json(kind, origin, &list[0]);
		error = doc ? 0 : err_set(ERR_NOMEM, "out of memory");
	}
	if (!error)
		error = cli_print_json(doc) == CLI_EXIT_OK ? 0 : err_set(ERR_IO, "cannot print");
	trail_statements_free(list, count);
	return error;
}

int auditverify_head_agent(struct cli *c)
{
	static const char usage[] = "audit head";
	struct node *n = NULL;
	const char *pos[2];
	char origin[64];
	int npos, rc, error;

	rc = cli_parse_opts(c, usage, NULL, 0, pos, 2, &npos);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage_error(c, usage, "expected 'audit head'");
	if (cli_open_node(&n, c))
		return cli_fail(c);
	snprintf(origin, sizeof(origin), "%s/%s", n->office, n->device);
	error = node_require(n, NODE_PERM_AUDIT_READ, "audit.head", "");
	if (!error)
		error = node_audit(n, "audit.head", "", "success", "the last HQ receipt");
	if (!error)
		error = auditverify_print_head(n, "receipt", origin,
			"SELECT size, root, time, signature, server_cert FROM audit_receipts"
			" ORDER BY size DESC LIMIT 1",
			NULL, NULL);
	rc = error ? cli_fail(c) : CLI_EXIT_OK;
	node_free(n);
	return rc;
}
