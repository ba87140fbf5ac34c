/*
 * tests/fuzz/fuzz_http.c - libFuzzer target for HTTP request reading: arbitrary bytes, fed
 * in pieces whose sizes come from the first input byte, through as many requests as they
 * hold.  Must never crash, leak or accept a request over the limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_reader r;
	size_t step, off = 1, n;
	int requests = 0;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 64) + 1;
	http_reader_init(&r, 4096);
	while (off < size && requests < 64) {
		size_t chunk = size - off < step ? size - off : step;

		if (http_reader_feed(&n, &r, (const char *)data + off, chunk))
			break;
		off += n;
		if (r.req.complete) {
			if (r.req.body.len > 4096 || r.req.url.len > HTTP_URL_MAX ||
				r.req.nheaders > HTTP_HEADERS_MAX)
				abort();
			(void)http_header(&r.req, "content-length");
			http_reader_reset(&r);
			requests++;
		} else if (n < chunk) {
			break;
		}
	}
	http_reader_release(&r);
	return 0;
}
