/*
 * tests/fuzz/drive_conn.h - the connection loop of server/serve.c without its sockets, for the
 * fuzz targets that drive http_conn (fuzz_http, fuzz_request).
 */
#ifndef FIELDSYNC_FUZZ_DRIVE_CONN_H
#define FIELDSYNC_FUZZ_DRIVE_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "pki/http.h"

/*
 * Feed `data` to `hc` in pieces of `step` bytes and answer each request as a worker does,
 * passing every answer to `check` (which aborts on a bad one), until an answer closes the
 * connection, the input ends, the connection refuses more input, or `max_requests` were
 * answered.  Returns 1 if an answer closed the connection.
 */
int fuzz_drive_conn(struct http_conn *hc, const struct http_handler *h, const uint8_t *data,
	size_t size, size_t step, unsigned max_requests, void (*check)(const struct buf *answer));

#endif
