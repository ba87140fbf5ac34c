/* agent/net.c - libcurl requests with in-memory TLS material. */
#include "net.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct buf *resp = ctx;

	if (nmemb && size > SIZE_MAX / nmemb)
		return 0;
	if (buf_put(resp, ptr, size * nmemb))
		return 0; /* over the cap: libcurl aborts the transfer */
	return size * nmemb;
}

static void set_blob(CURL *curl, CURLoption opt, const struct buf *b)
{
	struct curl_blob blob;

	blob.data = b->ptr;
	blob.len = b->len;
	blob.flags = CURL_BLOB_NOCOPY; /* our buffer, which we wipe; libcurl keeps no copy */
	curl_easy_setopt(curl, opt, &blob);
}

int net_request(long *status, struct buf *resp, const char *url, const char *method,
	const char *body, size_t len, const struct net_tls *tls)
{
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *curl = curl_easy_init();
	CURLcode rc;
	int error = 0;

	if (!curl)
		return err_set(ERR_NOMEM, "cannot start libcurl");
	resp->max = NET_RESPONSE_MAX;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(curl, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(curl, CURLOPT_CAPATH, NULL); /* or the system CAs stay trusted */
	if (tls->ca_pem) {
		set_blob(curl, CURLOPT_CAINFO_BLOB, tls->ca_pem);
	} else {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (tls->cert_pem && tls->key_pem) {
		curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
		set_blob(curl, CURLOPT_SSLCERT_BLOB, tls->cert_pem);
		curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
		set_blob(curl, CURLOPT_SSLKEY_BLOB, tls->key_pem);
	}
	if (!strcmp(method, "POST")) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		error = err_set(ERR_IO, "cannot reach %s: %s", url,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return error;
}

const char *net_error_text(const struct buf *resp)
{
	static _Thread_local char text[512];
	json_t *doc = json_loadb(resp->ptr ? resp->ptr : "", resp->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(doc, "error"));

	snprintf(text, sizeof(text), "%s", msg ? msg : buf_cstr(resp));
	json_decref(doc);
	return text;
}
