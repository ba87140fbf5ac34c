/*
 * cli/cmd_ca.c - `ca export [--out FILE]` of either program: the organisation's CA certificate
 * as PEM, from the server's PKI material or the copy a device pinned at enrollment.  With it
 * alone an auditor checks an exported trail (`audit verify --file F --ca FILE`).
 */
#include "cmd_ca.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/pem.h>

#include "pki/pki.h"

#define PEM_MAX 16384

static const char ca_help[] =
	"usage: ca export [--out FILE]\n"
	"\n"
	"Print the organisation's CA certificate (PEM) on stdout, or write it to FILE (which must\n"
	"not exist yet).  On HQ it is the CA of the server's store; on a device, the copy pinned at\n"
	"enrollment.  After a CA rollover the next and the retired CAs follow the current one, as\n"
	"they certified older entries.  'audit verify --file EXPORT --ca FILE' needs nothing else.\n"
	"Audited.\n";

/* Every DER certificate of the trust set as PEM text in out. */
static int to_pem(struct buf *out, const struct buf *der)
{
	unsigned char pem[PEM_MAX];
	const uint8_t *one = NULL;
	size_t olen = 0, len = 0, pos = 0;
	int error = 0;

	while (!error &&
		pki_trust_next(&one, &len, (const uint8_t *)der->ptr, der->len, &pos) > 0) {
		if (mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n",
			    "-----END CERTIFICATE-----\n", one, len, pem, sizeof(pem), &olen) ||
			olen < 1)
			return err_set(ERR_GENERIC, "cannot encode the CA certificate");
		error = buf_put(out, pem, olen - 1); /* olen counts the terminating NUL */
	}
	return error;
}

static int write_new_file(const char *path, const struct buf *text)
{
	FILE *f = fopen(path, "wx");
	int error = 0;

	if (!f)
		return err_set(ERR_IO, "cannot create '%s' (it must not exist yet)", path);
	if (fwrite(text->ptr, 1, text->len, f) != text->len)
		error = err_set(ERR_IO, "cannot write '%s'", path);
	if (fclose(f) && !error)
		error = err_set(ERR_IO, "cannot write '%s'", path);
	return error;
}

int cmd_ca(struct cli *c)
{
	static const char usage[] = "ca export [--out FILE]";
	struct cli_opt opts[] = {{"--out", 1, 0, {0}, 0}};
	struct buf der = BUF_INIT(64 * 1024), pem = BUF_INIT(PKI_TRUST_MAX * PEM_MAX);
	struct node *n = NULL;
	const char *pos[2], *path;
	int npos, rc, error;

	if (cli_help(c, ca_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 2, &npos);
	if (rc)
		return rc;
	if (npos != 1 || strcmp(pos[0], "export"))
		return cli_usage_error(c, usage, "expected 'ca export'");
	path = cli_opt(opts, CLI_N_OPTS(opts), "--out");
	if (cli_open_node(&n, c))
		return cli_fail(c);
	error = pki_trust_get(&der, n->store, 1);
	if (error == ERR_NOTFOUND)
		error = err_set(ERR_NOTFOUND, "no CA certificate here (is this device enrolled?)");
	if (!error)
		error = to_pem(&pem, &der);
	if (!error)
		error = node_audit(n, "ca.export", "", "success", path ? path : "stdout");
	if (!error && path)
		error = write_new_file(path, &pem);
	if (error)
		rc = cli_fail(c);
	else if (!path)
		rc = fwrite(pem.ptr, 1, pem.len, stdout) == pem.len ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s}", "file", path));
	else
		printf("wrote the CA certificate to %s\n", path);
	buf_release(&der);
	buf_release(&pem);
	node_free(n);
	return rc;
}
