/* server/admin.c - init, offices, tokens, device revocation. */
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd_store.h"
#include "cmd_user.h"
#include "commands.h"
#include "hq.h"
#include "hqaudit.h"
#include "hqdb.h"
#include "keyfile.h"
#include "node/rekey.h"
#include "pki/pki.h"

#define MAX_HOSTS 8

static const char init_help[] =
	"usage: fieldsync-server init --org NAME [--listen HOST:PORT] [--host NAME]...\n"
	"                             [--advertise URL]\n"
	"\n"
	"Create the server's encrypted store in --home, its key file (mode 0600, outside the\n"
	"directory by default: DIR.key), the organisation's CA (EC P-256) and the server\n"
	"certificate.  Every private key lives inside the store only.\n"
	"\n"
	"  --listen HOST:PORT   where 'run' listens (default 127.0.0.1:8443); port 0 picks a free\n"
	"                       port now and stores it, so a restarted server keeps its address\n"
	"  --host NAME          another DNS name for the server certificate (up to 8)\n"
	"  --advertise URL      the https:// URL devices reach HQ at, carried in enrollment\n"
	"                       tokens (default https://HOST:PORT of the listen address, or the\n"
	"                       first --host when it listens on every address)\n";

/* Split HOST:PORT; the host goes into the certificate as an IP or a DNS name. */
static int split_listen(char *host, size_t size, const char *listen)
{
	const char *colon = strrchr(listen, ':');

	if (!colon || colon == listen || (size_t)(colon - listen) >= size || !colon[1])
		return err_set(ERR_INVALID, "'%s' is not HOST:PORT", listen);
	snprintf(host, size, "%.*s", (int)(colon - listen), listen);
	if (host[0] == '[') { /* [::1]:8443 */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	return 0;
}

/*
 * A listen address with port 0 becomes one with the free port the kernel picks now: the stored
 * address must survive a restart, which port 0 does not.
 */
static int resolve_port(char *out, size_t size, const char *listen)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[16];
	const char *colon = strrchr(listen, ':');
	int fd = -1, rc, error = 0;

	if (!colon || strcmp(colon, ":0") != 0) {
		snprintf(out, size, "%s", listen);
		return 0;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, "0", &hints, &ai);
	if (rc)
		return err_set(ERR_INVALID, "cannot resolve '%s': %s", listen, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) ||
		getsockname(fd, (struct sockaddr *)&ss, &sl) ||
		getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, port, sizeof(port),
			NI_NUMERICSERV))
		error = err_set_errno(ERR_IO, errno, "cannot find a free port on '%s'", listen);
	if (!error)
		snprintf(out, size, "%s:%s", host, port);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return error;
}

/* https://HOST:PORT of the listen address (the first --host if it is every address). */
static int default_advertise(char *out, size_t size, const char *host, const char *listen,
	const char *const *hosts, size_t nhosts)
{
	const char *port = strrchr(listen, ':') + 1;

	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !host[0]) {
		if (!nhosts)
			return err_set(ERR_INVALID,
				"listening on every address ('%s'): give --advertise "
				"URL or --host NAME for the devices",
				listen);
		host = hosts[0];
	}
	snprintf(out, size, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
	return enroll_check_url("the advertised URL", out);
}

static int is_ip(const char *s)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

/* The host of an https:// URL (brackets of an IPv6 address dropped). */
static void url_host(char *out, size_t size, const char *url)
{
	const char *auth = url + 8, *end = auth + strcspn(auth, "/?#"), *p = end;

	if (auth[0] == '[') {
		p = memchr(auth, ']', (size_t)(end - auth));
		snprintf(out, size, "%.*s", p ? (int)(p - auth - 1) : 0, auth + 1);
		return;
	}
	while (p > auth && p[-1] != ':')
		p--;
	snprintf(out, size, "%.*s", (int)(p > auth ? p - 1 - auth : end - auth), auth);
}

static int make_pki(struct node *n, const char *org, const char *listen_host,
	const char *const *hosts, size_t nhosts, const char *advertise)
{
	char adv_host[ENROLL_URL_MAX + 1];
	struct buf ca_key = BUF_INIT(4096), ca_cert = BUF_INIT(4096);
	struct buf srv_key = BUF_INIT(4096), srv_cert = BUF_INIT(4096);
	const char *dns[MAX_HOSTS + 4] = {"localhost"}, *ips[4] = {0};
	struct pki_validity v;
	size_t nd = 1, ni = 0, i;
	int error;

	if (is_ip(listen_host))
		ips[ni++] = listen_host;
	else
		dns[nd++] = listen_host;
	if (strcmp(listen_host, "127.0.0.1") != 0)
		ips[ni++] = "127.0.0.1";
	for (i = 0; i < nhosts; i++)
		dns[nd++] = hosts[i];
	url_host(adv_host, sizeof(adv_host), advertise); /* devices check this name */
	for (i = 0; i < nd && strcmp(dns[i], adv_host); i++)
		;
	if (i == nd && (ni == 0 || strcmp(ips[0], adv_host)) && strcmp(adv_host, "127.0.0.1")) {
		if (is_ip(adv_host))
			ips[ni++] = adv_host;
		else
			dns[nd++] = adv_host;
	}
	pki_validity_days(&v, (int64_t)time(NULL), 3650);
	error = pki_ca_create(&ca_key, &ca_cert, org, &v);
	pki_validity_days(&v, (int64_t)time(NULL), HQ_SERVER_CERT_DAYS);
	if (!error)
		error = pki_server_cert(&srv_key, &srv_cert, (const uint8_t *)ca_key.ptr, ca_key.len,
			(const uint8_t *)ca_cert.ptr, ca_cert.len, dns, ips, &v);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = hq_pki_put(n, "ca_key", (const uint8_t *)ca_key.ptr, ca_key.len);
	if (!error)
		error = hq_pki_put(n, "ca_cert", (const uint8_t *)ca_cert.ptr, ca_cert.len);
	if (!error)
		error = hq_pki_put(n, "server_key", (const uint8_t *)srv_key.ptr, srv_key.len);
	if (!error)
		error = hq_pki_put(n, "server_cert", (const uint8_t *)srv_cert.ptr, srv_cert.len);
	if (!error)
		error = store_meta_set(n->store, "org", org);
	if (!error)
		error = node_audit(n, "pki.init", org, "success", "CA and server certificate");
	if (!error)
		error = store_commit(n->store);
	if (error)
		store_rollback(n->store);
	buf_wipe_release(&ca_key);
	buf_wipe_release(&srv_key);
	buf_release(&ca_cert);
	buf_release(&srv_cert);
	return error;
}

int cmd_server_init(struct cli *c)
{
	static const char usage[] =
		"init --org NAME [--listen HOST:PORT] [--host NAME]... [--advertise URL]";
	struct cli_opt opts[] = {{"--org", 1, 0, {0}, 0}, {"--listen", 1, 0, {0}, 0},
		{"--host", 1, 1, {0}, 0}, {"--advertise", 1, 0, {0}, 0}};
	struct buf keyfile = BUF_INIT(4096), ca = BUF_INIT(4096);
	const char *pos[1], *home = NULL, *org, *listen, *advertise;
	char hex[CLI_KEY_HEX_LEN + 1], host[256], fphex[65], bound[300];
	char url[ENROLL_URL_MAX + 1];
	struct node *n = NULL;
	int npos, rc, error;

	if (cli_help(c, init_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 0, &npos);
	if (rc)
		return rc;
	org = cli_opt(opts, CLI_N_OPTS(opts), "--org");
	listen = cli_opt(opts, CLI_N_OPTS(opts), "--listen");
	advertise = cli_opt(opts, CLI_N_OPTS(opts), "--advertise");
	if (!org)
		return cli_usage_error(c, usage, "init needs --org");
	if (!listen)
		listen = "127.0.0.1:8443";
	if (opts[2].count > MAX_HOSTS)
		return cli_usage_error(c, usage, "at most %d --host names", MAX_HOSTS);
	error = schema_check_text("--org", org, strlen(org), 128);
	if (!error)
		error = split_listen(host, sizeof(host), listen);
	if (!error)
		error = resolve_port(bound, sizeof(bound), listen);
	if (!error && advertise)
		error = enroll_check_url("--advertise", advertise);
	if (!error && advertise)
		snprintf(url, sizeof(url), "%s", advertise);
	else if (!error)
		error = default_advertise(url, sizeof(url), host, bound, opts[2].values,
			(size_t)opts[2].count);
	listen = bound;
	if (!error)
		error = cli_home(&home, c);
	if (!error)
		error = hq_key_file(&keyfile, c, home);
	if (error)
		return cli_fail(c);
	error = cli_key_file_create(hex, keyfile.ptr);
	if (!error) {
		error = node_init(&n, home, HQ_OFFICE, HQ_USER, hex, strlen(hex),
			&CRYPTO_KDF_LOW); /* a random 256-bit key needs no costly derivation */
		if (error)
			unlink(keyfile.ptr);
	}
	crypto_wipe(hex, sizeof(hex));
	if (!error)
		error = store_meta_set(n->store, "listen", listen);
	if (!error)
		error = store_meta_set(n->store, "advertise", url);
	if (!error)
		error = make_pki(n, org, host, opts[2].values, (size_t)opts[2].count, url);
	if (!error)
		error = hq_pki_get(&ca, n, "ca_cert");
	if (error) {
		rc = cli_fail(c);
		goto out;
	}
	pki_fingerprint_hex(fphex, (const uint8_t *)ca.ptr, ca.len);
	if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "home", home, "key_file",
			keyfile.ptr, "listen", listen, "advertise", url, "ca_fingerprint", fphex));
	else
		printf("initialised HQ server for %s in %s\nkey file %s (keep it safe; mode 0600)\n"
		       "listen %s\nadvertise %s\nCA fingerprint (SHA-256) %s\n",
			org, home, keyfile.ptr, listen, url, fphex);
out:
	node_free(n);
	buf_release(&keyfile);
	buf_release(&ca);
	return rc;
}

static const char office_help[] =
	"usage: fieldsync-server office add CODE --name NAME [TOKEN OPTIONS]\n"
	"       fieldsync-server office token CODE [TOKEN OPTIONS]\n"
	"       fieldsync-server office list\n"
	"       fieldsync-server office revoke CODE\n"
	"       fieldsync-server device list [--office O] [--silent-days N]\n"
	"       fieldsync-server device revoke DEVICE\n"
	"       fieldsync-server device release DEVICE\n"
	"\n"
	"An enrollment token is single-use, expires after 72 hours, is stored only as a hash and\n"
	"carries the CA fingerprint the device pins.  Revoking an office or a device takes effect\n"
	"for new and already open connections.  A device whose audit trail failed HQ's check is\n"
	"held (its syncs refused, a security alert in the audit trail); 'device release' lets it\n"
	"sync again once someone has looked into it.  DEVICE is a device id or a unique prefix of\n"
	"one (at least 4 hex digits); an ambiguous prefix lists the devices it could be.\n"
	"'office list' shows each office's devices, cases, cases with conflicts and newest sync;\n"
	"'device list' each device's state, last sync, the size and time of HQ's newest receipt\n"
	"for its audit trail, its certificate's expiry and its office's cases with conflicts,\n"
	"flagging SILENT a device not heard from for --silent-days days (default 7).\n"
	"\n"
	"Token options:\n"
	"  --expires-in SECONDS     token lifetime (default 259200, 72 hours; at most 30 days)\n"
	"  --cert-validity SECONDS  lifetime of the certificate it enrolls (default one year)\n";

static int add_office(struct node *n, const char *code, const char *name)
{
	char now[HLC_STR_MAX];
	int error = schema_check_office(code);

	if (!error && !strcmp(code, HQ_OFFICE))
		error = err_set(ERR_INVALID, "'%s' names headquarters itself, not a field office",
			code);

	if (!error)
		error = schema_check_text("--name", name, strlen(name), 200);
	hlc_iso8601(now, hlc_now_ms());
	if (!error)
		error = hqdb_office_add(n->store, code, name, now);
	if (!error)
		error = node_audit(n, "office.add", code, "success", name);
	return error;
}

static int revoke_one(struct node *n, const char *what, const char *id)
{
	char now[HLC_STR_MAX];
	int error, office = !strcmp(what, "office");

	hlc_iso8601(now, hlc_now_ms());
	error = office ? hqdb_office_revoke(n->store, id, now)
		       : hqdb_device_revoke(n->store, id, now);
	if (!error)
		error = node_audit(n, office ? "office.revoke" : "device.revoke", id, "success", NULL);
	return error;
}

static int release_device(struct node *n, const char *device)
{
	int error = hqdb_device_release(n->store, device);

	if (!error)
		error = node_audit(n, "device.release", device, "success",
			"its trail starts a new epoch at HQ; the earlier one is kept");
	return error;
}

static const char user_help[] =
	"usage: fieldsync-server user add NAME --role ROLE\n"
	"       fieldsync-server user passwd [NAME]\n"
	"       fieldsync-server user remove NAME\n"
	"       fieldsync-server user list\n"
	"\n"
	"HQ staff accounts, each with a key slot of its own: staff log on with --user NAME (or\n"
	"FIELDSYNC_USER) and their passphrase, five failures lock the account for ten minutes, and\n"
	"every audit entry names who acted.  Roles:\n"
	"  hq-admin      offices, tokens, devices and staff accounts\n"
	"  intake        receives new allegations (no case reading or editing)\n"
	"  supervisor    case work, and shares and transfers cases between offices\n"
	"  investigator  HQ's own case work: list, show, search, edit, evidence\n"
	"  auditor       the audit trails (log, query, verify, export); no case content\n"
	"  analyst       reports only; no case content\n"
	"The key file's identity, 'server', may do everything (whoever holds the key file can\n"
	"read the whole store anyway); its slot is the key file's, so it has no passphrase.\n"
	"A command outside one's role is refused, naming the role it needs, and audited.  The new\n"
	"passphrase comes from --new-passphrase-file / FIELDSYNC_NEW_PASSPHRASE or is asked\n"
	"twice; yours (to unwrap the key for the new slot) as for any command.\n";

int cmd_server_user(struct cli *c)
{
	return cli_user_command(c, user_help);
}

/* One office of the list, as a JSON object into the array ctx or a line when ctx is NULL. */
static int list_office(void *ctx, const struct hqdb_office *o)
{
	json_t *out = ctx;

	if (out)
		json_array_append_new(out,
			json_pack("{s:s, s:s, s:b, s:i, s:I, s:I, s:s?}", "code", o->code, "name",
				o->name, "revoked", o->revoked, "devices", o->devices, "cases",
				(json_int_t)o->cases, "conflicts", (json_int_t)o->conflicts,
				"last_sync", o->last_sync));
	else
		printf("%-8s %-32s %3d devices %7lld cases %5lld with conflicts  last sync %s%s\n",
			o->code, o->name, o->devices, (long long)o->cases, (long long)o->conflicts,
			o->last_sync ? o->last_sync : "never", o->revoked ? "  REVOKED" : "");
	return 0;
}

/* device list: what HQ knows of each device, and which have been silent too long. */
struct device_listing {
	json_t *out;	       /* NULL: text */
	int64_t silent_before; /* a last sync before this (seconds) is "silent" */
	int silent_days;
	int64_t silent;
	int64_t count;
};

static int list_device(void *ctx, const struct hqdb_device_status *d)
{
	struct device_listing *l = ctx;
	struct pki_validity v = {0, 0};
	char expiry[32] = "?";
	const char *state = d->revoked_at ? "revoked" : d->held ? "held" : "active";
	int silent = !d->revoked_at && hlc_date_ms(d->last_sync) / 1000 < l->silent_before;
	struct tm tm;
	time_t t;

	if (!pki_cert_validity(&v, d->cert, d->certlen)) {
		t = (time_t)v.not_after;
		gmtime_r(&t, &tm);
		strftime(expiry, sizeof(expiry), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	l->silent += silent;
	l->count++;
	if (l->out)
		return json_array_append_new(l->out,
			       json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:s?, s:s, "
					 "s:I, s:b}",
				       "device", d->device, "office", d->office, "state", state,
				       "enrolled_at", d->enrolled_at, "revoked_at", d->revoked_at,
				       "held", d->held, "last_sync", d->last_sync, "receipt_size",
				       (json_int_t)d->receipt_size, "receipt_time", d->receipt_time,
				       "cert_expires", expiry, "office_conflicts",
				       (json_int_t)d->office_conflicts, "silent", silent))
			       ? err_set(ERR_NOMEM, "out of memory")
			       : 0;
	printf("%.12s  %-8s %-7s last sync %-24s receipt %6lld at %-24s cert until %s"
	       "  %lld office cases with conflicts%s\n",
		d->device, d->office, state, d->last_sync ? d->last_sync : "never",
		(long long)d->receipt_size, d->receipt_time ? d->receipt_time : "-", expiry,
		(long long)d->office_conflicts, silent ? "  SILENT" : "");
	return 0;
}

static int list_devices(struct node *n, struct device_listing *l, const char *office)
{
	char detail[64];
	int error = office && hqdb_office_active(n->store, office) == ERR_INVALID
			    ? err_code()
			    : hqdb_device_status_foreach(n->store, office, list_device, l);

	snprintf(detail, sizeof(detail), "%lld devices, %lld silent for %d days",
		(long long)l->count, (long long)l->silent, l->silent_days);
	if (!error)
		error = node_audit(n, "device.list", office ? office : "", "success", detail);
	return error;
}

static int list_offices(struct node *n, json_t *out)
{
	int error = hqdb_office_foreach(n->store, list_office, out);

	if (!error)
		error = node_audit(n, "office.list", "", "success", NULL);
	return error;
}

/* A number of seconds from 1 to max, if given. */
static int seconds_opt(int64_t *out, const char *text, int64_t max)
{
	char *end = NULL;
	long long v;

	if (!text)
		return 0;
	v = strtoll(text, &end, 10);
	if (!end || *end || v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

static int device_list(struct cli *c, const struct cli_opt *opts, size_t nopts)
{
	struct device_listing l = {NULL, 0, 7, 0, 0};
	const char *days = cli_opt(opts, nopts, "--silent-days");
	struct node *n = NULL;
	char *end = NULL;
	int rc = CLI_EXIT_OK, error;

	if (days) {
		l.silent_days = (int)strtol(days, &end, 10);
		if (!end || *end || end == days || l.silent_days < 1 || l.silent_days > 3650)
			return cli_usage_error(c, "device list [--office O] [--silent-days N]",
				"--silent-days takes a number of days from 1 to 3650");
	}
	l.silent_before = (int64_t)time(NULL) - (int64_t)l.silent_days * 86400;
	l.out = c->json ? json_array() : NULL;
	error = cli_open_node(&n, c);
	if (!error)
		error = node_require(n, NODE_PERM_OFFICE_ADMIN, "device.list", "");
	if (!error)
		error = list_devices(n, &l, cli_opt(opts, nopts, "--office"));
	if (error)
		rc = cli_fail(c);
	else if (l.out)
		rc = cli_print_json(json_pack("{s:O, s:I, s:i}", "devices", l.out, "silent",
			(json_int_t)l.silent, "silent_days", l.silent_days));
	json_decref(l.out);
	node_free(n);
	return rc;
}

int cmd_server_office(struct cli *c)
{
	static const char usage[] =
		"office add|token|list|revoke [CODE] | device list|revoke|release [DEVICE]";
	struct cli_opt opts[] = {{"--name", 1, 0, {0}, 0}, {"--expires-in", 1, 0, {0}, 0},
		{"--cert-validity", 1, 0, {0}, 0}, {"--office", 1, 0, {0}, 0},
		{"--silent-days", 1, 0, {0}, 0}};
	int64_t token_seconds = HQ_TOKEN_HOURS * 3600, cert_seconds = HQ_CERT_SECONDS;
	char token[ENROLL_TOKEN_MAX] = "", device[PKI_DEVICE_LEN + 1] = "", action[32];
	const char *pos[3], *name;
	struct node *n = NULL;
	json_t *list = NULL;
	int npos, rc, error;

	if (cli_help(c, office_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 3, &npos);
	if (rc)
		return rc;
	name = cli_opt(opts, CLI_N_OPTS(opts), "--name");
	if (seconds_opt(&token_seconds, opts[1].count ? opts[1].values[0] : NULL, 30 * 86400) ||
		seconds_opt(&cert_seconds, opts[2].count ? opts[2].values[0] : NULL, 3650 * 86400))
		return cli_usage_error(c, usage, "--expires-in and --cert-validity take seconds");
	if (npos < 2)
		return cli_usage_error(c, usage, "which %s command?", pos[0]);
	if (!strcmp(pos[0], "device") && !strcmp(pos[1], "list") && npos == 2)
		return device_list(c, opts, CLI_N_OPTS(opts));
	if ((opts[3].count || opts[4].count))
		return cli_usage_error(c, usage,
			"--office and --silent-days go with 'device list'");
	if (!strcmp(pos[0], "device") &&
		((strcmp(pos[1], "revoke") && strcmp(pos[1], "release")) || npos != 3))
		return cli_usage_error(c, usage, "expected 'device list|revoke|release DEVICE'");
	if (!strcmp(pos[0], "office") && !((!strcmp(pos[1], "add") && npos == 3 && name) ||
						 (!strcmp(pos[1], "token") && npos == 3) ||
						 (!strcmp(pos[1], "revoke") && npos == 3) ||
						 (!strcmp(pos[1], "list") && npos == 2)))
		return cli_usage_error(c, usage, "wrong arguments for 'office %s'", pos[1]);
	if (cli_open_node(&n, c))
		return cli_fail(c);
	snprintf(action, sizeof(action), "%s.%s", pos[0], pos[1]);
	/* outside the transaction, so that a refusal's audit entry stays */
	error = node_require(n, NODE_PERM_OFFICE_ADMIN, action, npos == 3 ? pos[2] : "");
	if (!error)
		error = store_begin(n->store);
	if (error)
		goto out;
	if (!strcmp(pos[1], "add"))
		error = add_office(n, pos[2], name);
	if (!error && (!strcmp(pos[1], "add") || !strcmp(pos[1], "token")))
		error = hq_token_new(token, n, pos[2], token_seconds, cert_seconds);
	else if (!error && !strcmp(pos[0], "device"))
		error = hqdb_device_resolve(device, n->store, pos[2]);
	if (!error && !strcmp(pos[0], "device"))
		pos[2] = device;
	if (!error && !strcmp(pos[1], "revoke"))
		error = revoke_one(n, pos[0], pos[2]);
	else if (!error && !strcmp(pos[1], "release"))
		error = release_device(n, pos[2]);
	else if (!error && !strcmp(pos[1], "list"))
		error = list_offices(n, (list = c->json ? json_array() : NULL));
	if (!error)
		error = store_commit(n->store);
out:
	if (error) {
		store_rollback(n->store);
		json_decref(list);
		rc = cli_fail(c);
	} else if (list) {
		rc = cli_print_json(json_pack("{s:o}", "offices", list));
	} else if (token[0]) {
		struct enroll_token parsed;

		rc = enroll_token_parse(&parsed, token);
		rc = c->json ? cli_print_json(json_pack("{s:s, s:s, s:s?}", "office", pos[2],
				       "token", token, "server",
				       !rc && parsed.server[0] ? parsed.server : NULL))
			     : (printf("%s\n", token), CLI_EXIT_OK);
		crypto_wipe(&parsed, sizeof(parsed));
	} else if (strcmp(pos[1], "list") != 0) {
		printf("%s %s %s\n", pos[0], pos[2], !strcmp(pos[1], "release") ? "released" : "revoked");
	}
	crypto_wipe(token, sizeof(token));
	node_free(n);
	return rc;
}

static const char rekey_help[] =
	"usage: fieldsync-server rekey [--remove-other-slots]\n"
	"\n"
	"Replace the store's database key with a new random one: SQLCipher's rekey re-encrypts\n"
	"every page and the server's key slot is rewrapped around the new key with the same key\n"
	"file, so an old copy of the database key opens nothing written from now on.  Any other\n"
	"key slot cannot be rewrapped without its owner's passphrase: rekey refuses, naming it,\n"
	"unless --remove-other-slots, which removes it (give that user a new passphrase\n"
	"afterwards).  Stop 'run' first.  A kill at any point leaves a store that opens with\n"
	"the old key or the new one (the next open finishes or rolls back the rotation).  Needs\n"
	"free space for a journal as large as the store.  Audited.\n";

int cmd_server_rekey(struct cli *c)
{
	struct cli_opt opts[] = {{"--remove-other-slots", 0, 0, {0}, 0}};
	struct node_rekey_report rep;
	struct node_secret secret;
	uint8_t key[CRYPTO_KEY_LEN];
	char hex[CLI_KEY_HEX_LEN + 1] = "";
	const char *pos[1], *home = NULL;
	struct node *n = NULL;
	int npos, rc, error;

	if (cli_help(c, rekey_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "rekey [--remove-other-slots]", opts, CLI_N_OPTS(opts), pos, 0,
		&npos);
	if (rc)
		return rc;
	crypto_lock(key, sizeof(key));
	error = hq_key_hex(hex, &home, c);
	if (!error)
		error = node_open_keep_key(&n, key, home, HQ_USER, hex, CLI_KEY_HEX_LEN);
	secret = (struct node_secret){HQ_USER, hex, CLI_KEY_HEX_LEN};
	if (!error)
		error = node_rekey(&rep, n, key, &secret, 1,
			cli_opt(opts, CLI_N_OPTS(opts), "--remove-other-slots") != NULL);
	rc = error ? cli_fail(c) : cli_rekey_print(c, &rep, "the server's key slot");
	crypto_wipe(key, sizeof(key));
	crypto_wipe(hex, sizeof(hex));
	node_free(n);
	return rc;
}
