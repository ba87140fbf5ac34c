/*
 * tests/fuzz/fuzz_enroll.c - libFuzzer target for the enrollment messages and token: the
 * server parses requests from anyone, the agent parses the server's answer and a token typed
 * by a person.  Decoding must never crash or leak, and whatever decodes must re-encode.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/enroll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct enroll_request req;
	struct enroll_response resp;
	struct enroll_token tok;
	struct buf out = BUF_INIT(4 * ENROLL_BODY_MAX);
	char text[ENROLL_TOKEN_MAX + 1];

	enroll_request_init(&req);
	if (enroll_request_decode(&req, (const char *)data, size) == 0) {
		if (enroll_request_encode(&out, &req) != 0)
			abort();
	}
	enroll_request_release(&req);
	buf_reset(&out);
	enroll_response_init(&resp);
	if (enroll_response_decode(&resp, (const char *)data, size) == 0) {
		if (enroll_response_encode(&out, &resp) != 0)
			abort();
	}
	enroll_response_release(&resp);
	buf_release(&out);
	if (size <= ENROLL_TOKEN_MAX) {
		memcpy(text, data, size);
		text[size] = '\0';
		if (enroll_token_parse(&tok, text) == 0 && schema_check_office(tok.office) != 0)
			abort();
	}
	return 0;
}
