/*
 * agent/client.c - a command line run by the running service when there is one (agent/wire.h):
 * no key derivation of its own while the user holds a session there; otherwise the command
 * runs in this process as it always did.
 */
#define _GNU_SOURCE /* struct ucred */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "service.h"
#include "wire.h"

/* Commands that stay in this process: they make the store, ask for new passphrases, use a
 * terminal editor, or need the database key itself (backup, restore, rekey); and the
 * service. */
static int stays_here(int nrest, char **rest)
{
	static const char *const local[] = {"init", "user", "enroll", "serve", "key-file", "backup",
		"restore", "config", "help", "--help", "--version"};
	size_t i;
	int k;

	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (!strcmp(rest[0], local[i]))
			return 1;
	for (k = 1; k < nrest; k++)
		if (!strcmp(rest[k], "--edit"))
			return 1;
	return 0;
}

static int connect_service(int *fd_out, const char *home)
{
	struct sockaddr_un addr;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd, n;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", home, SERVICE_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
		cred.uid != geteuid()) {
		close(fd);
		return -1; /* no service (or not ours): the command runs here */
	}
	*fd_out = fd;
	return 0;
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send the request (the header with the descriptors, then the strings and passphrase). */
static int send_request(int fd, const char *user, int argc, char **argv, const struct buf *pass)
{
	struct wire_request h = {WIRE_MAGIC, (uint32_t)argc, 0, pass ? (uint32_t)pass->len : 0};
	struct buf body = BUF_INIT(WIRE_MAX);
	char ctl[CMSG_SPACE(sizeof(int) * WIRE_FDS)];
	struct msghdr msg;
	struct iovec iov = {&h, sizeof(h)};
	struct cmsghdr *cm;
	int fds[WIRE_FDS] = {0, 1, 2, -1}, error = -1, i;

	if (buf_put(&body, user, strlen(user) + 1))
		goto out;
	for (i = 0; i < argc; i++)
		if (buf_put(&body, argv[i], strlen(argv[i]) + 1))
			goto out;
	h.strings_len = (uint32_t)body.len;
	if (pass && buf_put(&body, pass->ptr, pass->len))
		goto out;
	fds[3] = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fds[3] < 0)
		fds[3] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memset(&msg, 0, sizeof(msg));
	memset(ctl, 0, sizeof(ctl));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * WIRE_FDS);
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (fds[3] >= 0 && sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof(h) &&
		write_all(fd, body.ptr, body.len) == 0)
		error = 0;
out:
	if (fds[3] >= 0)
		close(fds[3]);
	buf_wipe_release(&body);
	return error;
}

/* Read the reply; -1 if the service went away before answering. */
static int read_reply(struct wire_reply *r, int fd)
{
	size_t got = 0;

	while (got < sizeof(*r)) {
		ssize_t n = read(fd, (char *)r + got, sizeof(*r) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return r->magic == WIRE_MAGIC ? 0 : -1;
}

/* One round trip: 0 and *r, or -1 (said on stderr). */
static int round_trip(struct wire_reply *r, int fd, const char *prog, const char *user, int argc,
	char **argv, const struct buf *pass)
{
	if (send_request(fd, user, argc, argv, pass) || read_reply(r, fd)) {
		fprintf(stderr,
			"%s: error: the running service (fieldsync-agent serve) ended before the "
			"command finished; see its log\n",
			prog);
		return -1;
	}
	return 0;
}

int client_forward(int *rc, const struct cli_program *p, int argc, char **argv)
{
	static char *rest[CLI_ARGS_MAX];
	static struct config cfg;
	struct buf pass = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	struct wire_reply r;
	struct cli c;
	const char *home = NULL, *user = NULL, *off = getenv("FIELDSYNC_NO_SERVICE");
	char prompt[128];
	int nrest = 0, fd = -1, handled = 0, perr;

	if (off && *off && strcmp(off, "0"))
		return 0;
	cli_prepare(&c, p);
	if (crypto_harden_process())
		return 0; /* the command fails the same way in this process and says why */
	/* any doubt (a usage error, no node, no user): the command runs here and says it */
	if (cli_globals(&c, p, argc, argv, rest, CLI_ARGS_MAX, &nrest) || nrest == 0 ||
		stays_here(nrest, rest))
		goto out;
	/* the node directory may come from the configuration; a broken one is reported here */
	if (cli_config_load(&c, p, &cfg) || cfg.nerrors || cli_home(&home, &c) ||
		cli_user(&user, &c) || connect_service(&fd, home))
		goto out;
	handled = 1;
	*rc = CLI_EXIT_FAIL;
	if (round_trip(&r, fd, p->prog, user, argc, argv, NULL))
		goto out;
	if (r.kind == WIRE_NEED_PASS) {
		close(fd);
		fd = -1;
		snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", user);
		perr = cli_passphrase(&pass, &c, prompt, 0);

		if (!perr && pass.len == 0)
			perr = err_set(ERR_AUTH,
				"no open session for '%s' in the running service, and the passphrase "
				"given is empty",
				user);
		if (perr) {
			*rc = cli_fail(&c);
			goto out;
		}
		if (connect_service(&fd, home)) {
			fprintf(stderr, "%s: error: the running service went away; try again\n",
				p->prog);
			goto out;
		}
		if (round_trip(&r, fd, p->prog, user, argc, argv, &pass))
			goto out;
	}
	if (r.kind == WIRE_DONE)
		*rc = r.code;
	else
		fprintf(stderr, "%s: error: the running service refused the request\n", p->prog);
out:
	buf_wipe_release(&pass);
	if (fd >= 0)
		close(fd);
	config_release(&cfg);
	return handled;
}
