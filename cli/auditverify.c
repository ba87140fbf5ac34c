/* cli/auditverify.c - `audit verify` of either program: a node's own log or an export file. */
#include "auditverify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "base/crypto.h"
#include "audit/trail.h"

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
	if (!error)
		error = buf_put(der, crt.raw.p, crt.raw.len);
	mbedtls_x509_crt_free(&crt);
	buf_release(&raw);
	return error;
}

int auditverify_print(const struct cli *c, const char *what, uint64_t size,
	const uint8_t root[MERKLE_HASH_LEN], const struct trail_report *r)
{
	char hex[2 * MERKLE_HASH_LEN + 1];

	crypto_hex(hex, root, MERKLE_HASH_LEN);
	if (c->json)
		return cli_print_json(r ? json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}", "status", "ok",
						  "size", (json_int_t)size, "root", hex, "checkpoints",
						  (json_int_t)r->checkpoints, "receipts",
						  (json_int_t)r->receipts, "countersigned",
						  (json_int_t)r->countersigned)
					: json_pack("{s:s, s:s, s:I, s:s}", "status", "ok", "origin",
						  what, "size", (json_int_t)size, "root", hex));
	printf("OK  %s: %llu entries, tree head %s\n", what, (unsigned long long)size, hex);
	if (r)
		printf("    %zu signed checkpoints, %zu receipts from HQ (the first %llu entries "
		       "countersigned)\n",
			r->checkpoints, r->receipts, (unsigned long long)r->countersigned);
	return CLI_EXIT_OK;
}

static int verify_file(struct cli *c, const char *file, const char *ca_path)
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
			error = store_material_get(&ca, n->store, "ca_cert");
		if (error == ERR_NOTFOUND)
			error = err_set(ERR_NOTFOUND, "no CA certificate here: give one with --ca");
	}
	if (!error)
		error = trail_verify_file(&size, root, origin, sizeof(origin), text.ptr, text.len,
			(const uint8_t *)ca.ptr, ca.len);
	if (n && error)
		node_audit_failure(n, "audit.verify", file, error);
	else if (n)
		error = node_audit(n, "audit.verify", file, "success", NULL);
	rc = error ? cli_fail(c) : auditverify_print(c, origin, size, root, NULL);
	node_free(n);
	buf_release(&text);
	buf_release(&ca);
	return rc;
}

int auditverify_command(struct cli *c, int (*verify_node)(struct cli *c))
{
	static const char usage[] = "audit verify [--file F [--ca CA]]";
	struct cli_opt opts[] = {{"--file", 1, 0, {0}, 0}, {"--ca", 1, 0, {0}, 0}};
	const char *pos[2], *file, *ca;
	int npos, rc;

	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 2, &npos);
	if (rc)
		return rc;
	if (npos != 1 || strcmp(pos[0], "verify"))
		return cli_usage_error(c, usage, "expected 'audit verify'");
	file = cli_opt(opts, CLI_N_OPTS(opts), "--file");
	ca = cli_opt(opts, CLI_N_OPTS(opts), "--ca");
	if (ca && !file)
		return cli_usage_error(c, usage, "--ca goes with --file");
	return file ? verify_file(c, file, ca) : verify_node(c);
}

int auditverify_node(struct cli *c)
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
	has_ca = !error && store_material_get(&ca, n->store, "ca_cert") == 0;
	snprintf(origin, sizeof(origin), "%s/%s", n->office, n->device);
	if (!error)
		error = trail_verify_node(&r, n->store, origin, has_cert ? (uint8_t *)cert.ptr : NULL,
			cert.len, has_ca ? (uint8_t *)ca.ptr : NULL, ca.len);
	if (error && error != ERR_PERM)
		node_audit_failure(n, "audit.verify", "", error);
	else if (!error)
		error = node_audit(n, "audit.verify", "", "success", NULL);
	if (!error)
		rc = auditverify_print(c, origin, r.size, r.root, &r);
	else
		rc = cli_fail(c);
	buf_release(&cert);
	buf_release(&ca);
	node_free(n);
	return rc;
}
