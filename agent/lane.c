/* agent/lane.c - a request in flight on its own connection and thread (see lane.h). */
#include "lane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lane_open(struct lane **out, const struct net_tls *tls, size_t resp_max)
{
	struct lane *l = calloc(1, sizeof(*l));
	int error;

	if (!l)
		return err_set(ERR_NOMEM, "out of memory");
	buf_init(&l->resp, resp_max);
	error = net_open(&l->net, tls);
	if (error) {
		free(l);
		return error;
	}
	*out = l;
	return 0;
}

int lane_borrow(struct lane **out, struct net *net, size_t resp_max)
{
	struct lane *l = calloc(1, sizeof(*l));

	if (!l)
		return err_set(ERR_NOMEM, "out of memory");
	buf_init(&l->resp, resp_max);
	l->net = net;
	l->borrowed = 1;
	*out = l;
	return 0;
}

static void *run(void *arg)
{
	struct lane *l = arg;

	l->status = 0;
	l->error = net_call(&l->status, &l->resp, l->net, l->url, "POST", l->type, l->body.ptr,
		l->body.len);
	if (l->error)
		snprintf(l->msg, sizeof(l->msg), "%s", err_msg());
	return NULL;
}

int lane_start(struct lane *l, const char *url, const char *type, struct buf *body)
{
	if (l->busy)
		return err_set(ERR_GENERIC, "a lane is already in use");
	if (strlen(url) >= sizeof(l->url))
		return err_set(ERR_INVALID, "the server's URL is too long");
	snprintf(l->url, sizeof(l->url), "%s", url);
	l->type = type;
	buf_wipe_release(&l->body);
	l->body = *body;
	buf_init(body, body->max);
	buf_reset(&l->resp);
	if (pthread_create(&l->thread, NULL, run, l) != 0)
		return err_set(ERR_NOMEM, "cannot start a transfer thread");
	l->busy = 1;
	return 0;
}

int lane_wait(long *status, struct lane *l)
{
	*status = 0;
	if (!l->busy)
		return 0;
	pthread_join(l->thread, NULL);
	l->busy = 0;
	buf_wipe_release(&l->body); /* it held evidence in clear */
	if (l->error)
		return err_set(l->error, "%s", l->msg);
	*status = l->status;
	return 0;
}

void lane_close(struct lane *l)
{
	long status;

	if (!l)
		return;
	(void)!lane_wait(&status, l);
	if (!l->borrowed)
		net_close(l->net);
	buf_wipe_release(&l->body);
	buf_wipe_release(&l->resp);
	free(l);
}

void lane_counts(const struct lane *l, double *sent, double *received)
{
	*sent = *received = 0;
	if (l && !l->borrowed)
		net_counts(l->net, sent, received);
}
