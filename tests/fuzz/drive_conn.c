/* tests/fuzz/drive_conn.c - one connection's exchange, as a server worker runs it. */
#include "drive_conn.h"

int fuzz_drive_conn(struct http_conn *hc, const struct http_handler *h, const uint8_t *data,
	size_t size, size_t step, unsigned max_requests, void (*check)(const struct buf *answer))
{
	size_t off = 0;
	int rc = 0, closed = 0;

	while (off < size && !closed && hc->requests < max_requests) {
		size_t chunk = size - off < step ? size - off : step;

		if (http_conn_input(hc, (const char *)data + off, chunk))
			break; /* the server closes a connection that pipelines too much */
		off += chunk;
		while (!closed && hc->requests < max_requests &&
			(rc = http_conn_step(hc, h)) == 1) {
			check(&hc->out);
			if (hc->closing)
				closed = 1;
			else
				http_conn_sent(hc);
		}
		if (rc < 0)
			break;
	}
	return closed;
}
