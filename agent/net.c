/* agent/net.c - libcurl requests with in-memory TLS material. */
#include "net.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* calls go through the table below, not through the type-checking macros of curl.h */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <jansson.h>

#include "dynlib.h"

/* libcurl, loaded on the first connection (dynlib.h); filled as an array of pointers */
static struct {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	void (*easy_cleanup)(CURL *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} lc;
static const char *const lc_names[] = {"curl_easy_init", "curl_easy_setopt", "curl_easy_perform",
	"curl_easy_getinfo", "curl_easy_strerror", "curl_easy_cleanup", "curl_slist_append",
	"curl_slist_free_all"};
static struct dynlib libcurl = {"libcurl.so.4", "to reach HQ", lc_names, (void **)&lc,
	sizeof(lc) / sizeof(void *), PTHREAD_ONCE_INIT, ""};

#undef curl_easy_setopt /* curl.h's pass-through macros */
#undef curl_easy_getinfo
#define curl_easy_init lc.easy_init
#define curl_easy_setopt lc.easy_setopt
#define curl_easy_perform lc.easy_perform
#define curl_easy_getinfo lc.easy_getinfo
#define curl_easy_strerror lc.easy_strerror
#define curl_easy_cleanup lc.easy_cleanup
#define curl_slist_append lc.slist_append
#define curl_slist_free_all lc.slist_free_all

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

struct net {
	CURL *curl;
	const struct net_tls *tls;
	double sent, received;
};

static void setup(CURL *curl, const struct net_tls *tls)
{
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 600L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
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
}

static pthread_t preloader;
static int preloading;

static void *preload(void *unused)
{
	(void)unused;
	(void)!dynlib_ready(&libcurl); /* a failure is reported again by net_open() */
	return NULL;
}

void net_preload(void)
{
	if (!preloading)
		preloading = pthread_create(&preloader, NULL, preload, NULL) == 0;
}

void net_preload_end(void)
{
	if (preloading)
		pthread_join(preloader, NULL);
	preloading = 0;
}

int net_open(struct net **out, const struct net_tls *tls)
{
	struct net *n = NULL;

	if (dynlib_ready(&libcurl))
		return ERR_IO;
	n = calloc(1, sizeof(*n));
	if (n)
		n->curl = curl_easy_init();
	if (!n || !n->curl) {
		free(n);
		return err_set(ERR_NOMEM, "cannot start libcurl");
	}
	n->tls = tls;
	setup(n->curl, tls);
	*out = n;
	return 0;
}

void net_close(struct net *n)
{
	if (!n)
		return;
	curl_easy_cleanup(n->curl);
	free(n);
}

void net_counts(const struct net *n, double *sent, double *received)
{
	*sent = n->sent;
	*received = n->received;
}

int net_call(long *status, struct buf *resp, struct net *n, const char *url, const char *method,
	const char *content_type, const void *body, size_t len)
{
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", ct[128];
	curl_off_t up = 0, down = 0;
	CURLcode rc;
	int error = 0;

	resp->max = NET_RESPONSE_MAX;
	curl_easy_setopt(n->curl, CURLOPT_URL, url);
	curl_easy_setopt(n->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(n->curl, CURLOPT_WRITEDATA, resp);
	if (!strcmp(method, "POST")) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "application/json");
		headers = curl_slist_append(headers, ct);
		headers = curl_slist_append(headers, "Expect:");
		curl_easy_setopt(n->curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(n->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(n->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(n->curl, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(n->curl, CURLOPT_HTTPGET, 1L);
	}
	rc = curl_easy_perform(n->curl);
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		error = err_set(ERR_AUTH,
			"cannot reach %s: %s (the server's certificate is not from this device's CA; "
			"if HQ finished a CA rollover this device missed, it must enroll again)",
			url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (rc != CURLE_OK)
		error = err_set(ERR_IO, "cannot reach %s: %s", url,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else
		curl_easy_getinfo(n->curl, CURLINFO_RESPONSE_CODE, status);
	curl_easy_getinfo(n->curl, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(n->curl, CURLINFO_SIZE_DOWNLOAD_T, &down);
	n->sent += (double)up;
	n->received += (double)down;
	curl_easy_setopt(n->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	return error;
}

int net_request(long *status, struct buf *resp, const char *url, const char *method,
	const char *body, size_t len, const struct net_tls *tls)
{
	struct net *n = NULL;
	int error = net_open(&n, tls);

	if (!error)
		error = net_call(status, resp, n, url, method, "application/json", body, len);
	net_close(n);
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
