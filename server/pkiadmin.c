/*
 * server/pkiadmin.c - the organisation's PKI over the years: the server certificate renewed
 * before it expires, and the CA rolled over to a new key without a device left behind.
 *
 * Renewal keeps the server's key: every checkpoint and receipt it ever signed stays verifiable
 * with whichever of its certificates a verifier holds, and devices check the server against the
 * CA, never against one certificate, so the old and the new certificate overlap: the old one
 * serves until the service restarts, the new one after, and both are valid meanwhile.
 *
 * A CA rollover is two steps.  `ca rollover` makes the next CA and a cross certificate (the
 * next CA's key certified by the current CA).  The restarted service trusts both for client
 * certificates, names the next CA in every changes feed, hands it with the cross certificate to
 * devices (GET /v1/pki), and renews a device's certificate under it when the device asks.  Once
 * every device holds a certificate of the next CA, `ca rollover --finish` makes it the current
 * CA: the server certificate is reissued under it (same key), the old CA retires (it admits no
 * one, but what it certified stays verifiable in the trails), unused enrollment tokens (which
 * pin the old CA) are voided, and devices promote the next CA when they see the feed name it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "cmd_ca.h"
#include "commands.h"
#include "hq.h"
#include "hqdb.h"
#include "pki/pki.h"

#define CA_DAYS 3650
#define LISTED_MAX 5 /* devices named in a refusal */

static const char ca_help[] =
	"usage: fieldsync-server ca export [--out FILE]\n"
	"       fieldsync-server ca status\n"
	"       fieldsync-server ca renew-server [--days N]\n"
	"       fieldsync-server ca rollover [--finish [--force]]\n"
	"\n"
	"'ca export' prints the CA certificates (PEM) that 'audit verify --file' needs.\n"
	"'ca status' shows the current CA, a rollover in progress, the server certificate's\n"
	"validity, and how many devices hold a certificate of the next CA.\n"
	"'ca renew-server' reissues the server certificate, same key and names, valid N days\n"
	"(default 825); 'run' does it by itself at start once a third of its life is left.  The\n"
	"old certificate stays valid: the new one serves once the service restarts.\n"
	"'ca rollover' makes the next CA; restart the service, and each device learns it at its\n"
	"next sync and renews its certificate under it.  'ca rollover --finish' then makes it the\n"
	"current CA (restart again); it refuses while a device still holds only a certificate of\n"
	"the old CA, unless --force (such a device must enroll again).  Unused enrollment tokens\n"
	"are voided by the finish: issue new ones.  Needs the role hq-admin.\n";

static int has(struct node *n, const char *name)
{
	struct buf b = BUF_INIT(PKI_DER_MAX);
	int error = hq_pki_get(&b, n, name);

	buf_release(&b);
	return error == 0;
}

static void fingerprint_hex(char out[2 * PKI_FINGERPRINT_LEN + 1], const struct buf *der)
{
	pki_fingerprint_hex(out, (const uint8_t *)der->ptr, der->len);
}

/* The server certificate reissued for `days` under the CA stored as `ca_key` / `ca_cert`. */
static int reissue(struct buf *cert_out, struct node *n, const char *key_name,
	const char *cert_name, int days)
{
	struct buf ca_key = BUF_INIT(PKI_DER_MAX), ca = BUF_INIT(PKI_DER_MAX);
	struct buf old = BUF_INIT(PKI_DER_MAX), key = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v;
	int error;

	pki_validity_days(&v, (int64_t)time(NULL), days);
	error = hq_pki_get(&ca_key, n, key_name);
	if (!error)
		error = hq_pki_get(&ca, n, cert_name);
	if (!error)
		error = hq_pki_get(&old, n, "server_cert");
	if (!error)
		error = hq_pki_get(&key, n, "server_key");
	if (!error)
		error = pki_server_renew(cert_out, (const uint8_t *)ca_key.ptr, ca_key.len,
			(const uint8_t *)ca.ptr, ca.len, (const uint8_t *)old.ptr, old.len,
			(const uint8_t *)key.ptr, key.len, &v);
	buf_wipe_release(&ca_key);
	buf_wipe_release(&key);
	buf_release(&ca);
	buf_release(&old);
	return error;
}

int hq_server_cert_renew(char until[11], struct node *n, int days, const char *why)
{
	struct buf cert = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v = {0, 0};
	char detail[96];
	int error;

	error = store_begin(n->store);
	if (!error)
		error = reissue(&cert, n, "ca_key", "ca_cert", days);
	if (!error)
		error = hq_pki_put(n, "server_cert", (const uint8_t *)cert.ptr, cert.len);
	if (!error)
		error = pki_cert_validity(&v, (const uint8_t *)cert.ptr, cert.len);
	hlc_day(until, v.not_after);
	snprintf(detail, sizeof(detail), "%s; valid until %s", why, until);
	if (!error)
		error = node_audit(n, "pki.server.renew", "server_cert", "success", detail);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	buf_release(&cert);
	return error ? node_audit_failure(n, "pki.server.renew", "server_cert", error) : 0;
}

/* The last third of its life: as devices renew theirs. */
static int renewal_due(const struct pki_validity *v)
{
	return v->not_after - (int64_t)time(NULL) < (v->not_after - v->not_before) / 3;
}

int hq_server_cert_due(int *due, struct node *n)
{
	struct buf cert = BUF_INIT(PKI_DER_MAX);
	struct pki_validity v;
	int error;

	*due = 0;
	error = hq_pki_get(&cert, n, "server_cert");
	if (!error)
		error = pki_cert_validity(&v, (const uint8_t *)cert.ptr, cert.len);
	if (!error)
		*due = renewal_due(&v);
	buf_release(&cert);
	return error;
}

/* Devices that may connect, and those of them whose certificate the next CA issued. */
struct migration {
	const struct buf *next;
	long devices, migrated;
	char listed[LISTED_MAX][PKI_DEVICE_LEN + 1];
};

static int count_device(void *ctx, const struct hqdb_device *d)
{
	struct migration *m = ctx;

	m->devices++;
	if (m->next && pki_verify(d->cert, d->certlen, (const uint8_t *)m->next->ptr, m->next->len,
			       (int64_t)time(NULL)) == 0)
		m->migrated++;
	else if (m->devices - m->migrated <= LISTED_MAX)
		snprintf(m->listed[m->devices - m->migrated - 1], PKI_DEVICE_LEN + 1, "%s",
			d->device);
	return 0;
}

static int status(struct cli *c, struct node *n)
{
	struct buf ca = BUF_INIT(PKI_DER_MAX), next = BUF_INIT(PKI_DER_MAX);
	struct buf cert = BUF_INIT(PKI_DER_MAX), prev = BUF_INIT(4 * PKI_DER_MAX);
	struct pki_validity cav, sv, nv = {0, 0};
	struct migration m = {0};
	char cafp[65], nextfp[65] = "", ca_until[11], s_from[11], s_until[11], n_until[11] = "";
	const uint8_t *one;
	size_t one_len, pos = 0;
	int due = 0, has_next, retired = 0, error;

	error = hq_pki_get(&ca, n, "ca_cert");
	if (!error)
		error = pki_cert_validity(&cav, (const uint8_t *)ca.ptr, ca.len);
	if (!error)
		error = hq_pki_get(&cert, n, "server_cert");
	if (!error)
		error = pki_cert_validity(&sv, (const uint8_t *)cert.ptr, cert.len);
	if (!error)
		due = renewal_due(&sv);
	has_next = !error && hq_pki_get(&next, n, "ca_next_cert") == 0;
	if (has_next)
		error = pki_cert_validity(&nv, (const uint8_t *)next.ptr, next.len);
	if (!error && hq_pki_get(&prev, n, "ca_prev_certs") == 0)
		while (pki_trust_next(&one, &one_len, (const uint8_t *)prev.ptr, prev.len, &pos) >
			0)
			retired++;
	m.next = has_next ? &next : NULL;
	if (!error)
		error = hqdb_device_active_foreach(n->store, count_device, &m);
	if (!error)
		error = node_audit(n, "pki.status", "", "success", NULL);
	if (error)
		goto out;
	fingerprint_hex(cafp, &ca);
	if (has_next) {
		fingerprint_hex(nextfp, &next);
		hlc_day(n_until, nv.not_after);
	}
	hlc_day(ca_until, cav.not_after);
	hlc_day(s_from, sv.not_before);
	hlc_day(s_until, sv.not_after);
	if (c->json) {
		error = cli_print_json(
			json_pack("{s:{s:s, s:s}, s:o, s:i, s:{s:s, s:s, s:b}, s:{s:i, s:i}}", "ca",
				"fingerprint", cafp, "valid_until", ca_until, "next",
				has_next ? json_pack("{s:s, s:s}", "fingerprint", nextfp,
						   "valid_until", n_until)
					 : json_null(),
				"retired_cas", retired, "server_cert", "valid_from", s_from,
				"valid_until", s_until, "renewal_due", due, "devices", "active",
				m.devices, "on_next_ca", m.migrated));
		goto out;
	}
	printf("CA           %s (valid until %s)\n", cafp, ca_until);
	if (has_next)
		printf("next CA      %s (valid until %s): rollover in progress, %ld of %ld "
		       "devices on it\n",
			nextfp, n_until, m.migrated, m.devices);
	else
		printf("next CA      none (no rollover in progress); %ld devices\n", m.devices);
	printf("retired CAs  %d\n", retired);
	printf("server cert  valid %s to %s%s\n", s_from, s_until,
		due ? " (renewal due: 'ca renew-server', or restart 'run')" : "");
out:
	buf_release(&ca);
	buf_release(&next);
	buf_release(&cert);
	buf_release(&prev);
	return error ? cli_fail(c) : CLI_EXIT_OK;
}

static int rollover_begin(struct cli *c, struct node *n)
{
	struct buf ca_key = BUF_INIT(PKI_DER_MAX), ca = BUF_INIT(PKI_DER_MAX);
	struct buf nkey = BUF_INIT(PKI_DER_MAX), next = BUF_INIT(PKI_DER_MAX);
	struct buf cross = BUF_INIT(PKI_DER_MAX), org = BUF_INIT(256);
	struct pki_validity v, old;
	char fp[65];
	int error;

	if (has(n, "ca_next_cert")) {
		err_set(ERR_EXISTS, "a CA rollover is already in progress: finish it with "
				    "'fieldsync-server ca rollover --finish'");
		return node_audit_failure(n, "pki.ca.rollover", "", ERR_EXISTS);
	}
	error = hq_pki_get(&ca_key, n, "ca_key");
	if (!error)
		error = hq_pki_get(&ca, n, "ca_cert");
	if (!error)
		error = store_meta_get(&org, n->store, "org");
	if (!error)
		error = pki_cert_validity(&old, (const uint8_t *)ca.ptr, ca.len);
	pki_validity_days(&v, (int64_t)time(NULL), CA_DAYS);
	if (!error)
		error = pki_ca_create(&nkey, &next, org.ptr, &v);
	/* the cross certificate cannot outlive the CA that signs it */
	if (v.not_after > old.not_after)
		v.not_after = old.not_after;
	if (!error)
		error = pki_ca_cross(&cross, (const uint8_t *)ca_key.ptr, ca_key.len,
			(const uint8_t *)ca.ptr, ca.len, (const uint8_t *)next.ptr, next.len, &v);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = hq_pki_put(n, "ca_next_key", (const uint8_t *)nkey.ptr, nkey.len);
	if (!error)
		error = hq_pki_put(n, "ca_next_cert", (const uint8_t *)next.ptr, next.len);
	if (!error)
		error = hq_pki_put(n, "ca_next_cross", (const uint8_t *)cross.ptr, cross.len);
	if (!error)
		fingerprint_hex(fp, &next);
	if (!error)
		error = node_audit(n, "pki.ca.rollover", fp, "success", "begun");
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	if (!error && c->json)
		error = cli_print_json(json_pack("{s:s, s:s}", "next_ca", fp, "phase", "begun"));
	else if (!error)
		printf("next CA %s made\nrestart the service: each device learns the next CA at its "
		       "next sync and renews its certificate under it;\nthen run 'fieldsync-server "
		       "ca rollover --finish' ('ca status' shows how many have)\n",
			fp);
	buf_wipe_release(&ca_key);
	buf_wipe_release(&nkey);
	buf_release(&ca);
	buf_release(&next);
	buf_release(&cross);
	buf_release(&org);
	return error ? node_audit_failure(n, "pki.ca.rollover", "", error) : 0;
}

static int refuse_unmigrated(const struct migration *m)
{
	struct buf names = BUF_INIT(LISTED_MAX * (PKI_DEVICE_LEN + 2) + 8);
	long i, left = m->devices - m->migrated;
	int error = 0;

	for (i = 0; !error && i < left && i < LISTED_MAX; i++)
		error = buf_printf(&names, "%s%s", i ? ", " : "", m->listed[i]);
	if (!error)
		error = err_set(ERR_EXISTS,
			"%ld of %ld devices still hold a certificate of the old CA (%s%s): each "
			"renews at its next sync; --force finishes anyway, and those devices must "
			"enroll again",
			left, m->devices, buf_cstr(&names), left > LISTED_MAX ? ", ..." : "");
	buf_release(&names);
	return error;
}

static int rollover_finish(struct cli *c, struct node *n, int force)
{
	struct buf next = BUF_INIT(PKI_DER_MAX), nkey = BUF_INIT(PKI_DER_MAX);
	struct buf ca = BUF_INIT(PKI_DER_MAX), prev = BUF_INIT(4 * PKI_DER_MAX);
	struct buf cert = BUF_INIT(PKI_DER_MAX);
	struct migration m = {0};
	int64_t voided = 0;
	char fp[65], detail[96];
	int error;

	error = hq_pki_get(&next, n, "ca_next_cert");
	if (error == ERR_NOTFOUND)
		error = err_set(ERR_NOTFOUND, "no CA rollover in progress: begin one with "
					      "'fieldsync-server ca rollover'");
	m.next = &next;
	if (!error)
		error = hqdb_device_active_foreach(n->store, count_device, &m);
	if (!error && m.migrated < m.devices && !force)
		error = refuse_unmigrated(&m);
	if (!error)
		error = hq_pki_get(&nkey, n, "ca_next_key");
	if (!error)
		error = hq_pki_get(&ca, n, "ca_cert");
	if (!error) {
		error = hq_pki_get(&prev, n, "ca_prev_certs");
		if (error == ERR_NOTFOUND)
			error = 0;
	}
	if (!error)
		error = buf_put(&prev, ca.ptr, ca.len);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = reissue(&cert, n, "ca_next_key", "ca_next_cert", HQ_SERVER_CERT_DAYS);
	if (!error)
		error = hq_pki_put(n, "server_cert", (const uint8_t *)cert.ptr, cert.len);
	if (!error)
		error = hq_pki_put(n, "ca_prev_certs", (const uint8_t *)prev.ptr, prev.len);
	if (!error)
		error = hq_pki_put(n, "ca_cert", (const uint8_t *)next.ptr, next.len);
	if (!error)
		error = hq_pki_put(n, "ca_key", (const uint8_t *)nkey.ptr, nkey.len);
	if (!error)
		error = store_material_del(n->store, "ca_next_cert");
	if (!error)
		error = store_material_del(n->store, "ca_next_key");
	if (!error)
		error = store_material_del(n->store, "ca_next_cross");
	if (!error)
		error = hqdb_token_void_unused(&voided, n->store);
	if (!error)
		fingerprint_hex(fp, &next);
	snprintf(detail, sizeof(detail), "finished; %ld of %ld devices moved, %lld tokens voided",
		m.migrated, m.devices, (long long)voided);
	if (!error)
		error = node_audit(n, "pki.ca.rollover", fp, "success", detail);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	if (!error && c->json)
		error = cli_print_json(json_pack("{s:s, s:s, s:i, s:i, s:I}", "ca", fp, "phase",
			"finished", "devices", m.devices, "left_behind", m.devices - m.migrated,
			"tokens_voided", (json_int_t)voided));
	else if (!error)
		printf("CA %s is now the organisation's CA; the old one is retired\n"
		       "%ld of %ld devices hold its certificates; %lld unused enrollment tokens "
		       "voided\nrestart the service to serve the new server certificate\n",
			fp, m.migrated, m.devices, (long long)voided);
	buf_release(&next);
	buf_wipe_release(&nkey);
	buf_release(&ca);
	buf_release(&prev);
	buf_release(&cert);
	return error ? node_audit_failure(n, "pki.ca.rollover", "", error) : 0;
}

int cmd_server_ca(struct cli *c)
{
	static const char usage[] =
		"ca export [--out FILE] | status | renew-server [--days N] | rollover [--finish "
		"[--force]]";
	struct cli_opt opts[] = {{"--days", 1, 0, {0}, 0}, {"--finish", 0, 0, {0}, 0},
		{"--force", 0, 0, {0}, 0}};
	const char *pos[2], *days_text;
	struct node *n = NULL;
	int npos, rc, days = HQ_SERVER_CERT_DAYS, error;
	char *end;

	if (c->argc > 0 && !strcmp(c->argv[0], "export"))
		return cmd_ca(c);
	if (cli_help(c, ca_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 2, &npos);
	if (rc)
		return rc;
	if (npos != 1 || (strcmp(pos[0], "status") && strcmp(pos[0], "renew-server") &&
				 strcmp(pos[0], "rollover")))
		return cli_usage_error(c, usage,
			"expected 'ca export', 'ca status', "
			"'ca renew-server' or 'ca rollover'");
	days_text = cli_opt(opts, CLI_N_OPTS(opts), "--days");
	if (days_text && strcmp(pos[0], "renew-server"))
		return cli_usage_error(c, usage, "--days belongs to 'ca renew-server'");
	if ((cli_flag(opts, CLI_N_OPTS(opts), "--finish") ||
		    cli_flag(opts, CLI_N_OPTS(opts), "--force")) &&
		strcmp(pos[0], "rollover"))
		return cli_usage_error(c, usage, "--finish and --force belong to 'ca rollover'");
	if (cli_flag(opts, CLI_N_OPTS(opts), "--force") &&
		!cli_flag(opts, CLI_N_OPTS(opts), "--finish"))
		return cli_usage_error(c, usage, "--force goes with --finish");
	if (days_text) {
		long v = strtol(days_text, &end, 10);

		if (*days_text < '0' || *days_text > '9' || *end || v < 1 ||
			v > HQ_SERVER_CERT_DAYS)
			return cli_usage_error(c, usage, "--days takes 1 to %d days",
				HQ_SERVER_CERT_DAYS);
		days = (int)v;
	}
	if (cli_open_node(&n, c))
		return cli_fail(c);
	error = node_require(n, NODE_PERM_OFFICE_ADMIN, "pki.ca", pos[0]);
	if (!error && !strcmp(pos[0], "status")) {
		rc = status(c, n);
		goto out;
	}
	if (!error && !strcmp(pos[0], "renew-server")) {
		char until[11];

		error = hq_server_cert_renew(until, n, days, "renewed by an administrator");
		if (!error && c->json)
			error = cli_print_json(json_pack("{s:s}", "valid_until", until));
		else if (!error)
			printf("server certificate renewed, valid until %s (same key and names); "
			       "restart the service to serve it\n",
				until);
	} else if (!error && cli_flag(opts, CLI_N_OPTS(opts), "--finish"))
		error = rollover_finish(c, n, cli_flag(opts, CLI_N_OPTS(opts), "--force"));
	else if (!error)
		error = rollover_begin(c, n);
	rc = error ? cli_fail(c) : CLI_EXIT_OK;
out:
	node_free(n);
	return rc;
}
