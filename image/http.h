/* HTTP for the registry source, over libcurl: GET with a capped body, or a body as a
 * pull stream (ak_stream) inflated and hashed while it downloads, never spooled whole.
 * Redirects are followed here, not by curl: the Authorization header goes only to the
 * host it was meant for (S3 refuses a request with two auth mechanisms, and a token
 * must never reach a third party). Retries with backoff on 408, 429 (Retry-After
 * honoured), 500, 502, 503, 504 and connection resets, a bounded number of times; a
 * connect timeout and a stall timeout (no byte for that long). Thread-safe: one client
 * serves the scan's parallel layer jobs. Nothing secret is ever logged. */
#ifndef AK_HTTP_H
#define AK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/stream.h"

struct ak_http_options {
	bool tls_verify;	/* false: also lets http:// be used */
	int connect_timeout_ms; /* 0: 10 s */
	int stall_timeout_ms;	/* 0: 30 s */
	int retries;		/* attempts after the first; < 0: 4 */
	bool verbose;		/* one line per request on stderr, secrets left out */
};

struct ak_http;
int ak_http_new(const struct ak_http_options *opt, struct ak_http **out, struct ak_error **err);
void ak_http_free(struct ak_http *h);

struct ak_http_request {
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const char *authorization;  /* "Bearer …" / "Basic …": sent to url's host only */
	size_t max_body;	    /* ak_http_get: larger bodies are an error (AK_ERR_LIMIT) */
	/* POST this application/x-www-form-urlencoded body instead of a GET (an OAuth2
	 * token exchange; it may hold a secret: wiped after use, never logged). A 307 or
	 * 308 keeps it; another redirect turns the request into a GET, as browsers do. */
	const char *form;
};

struct ak_http_response {
	long status;
	char *body; /* NUL-terminated (ak_http_get only) */
	size_t len;
	char *www_authenticate; /* the header's value, NULL when absent */
	char *content_type;
	char *docker_content_digest;
	char *final_url; /* after redirects */
	int64_t content_length; /* -1 when unknown */
};
void ak_http_response_clear(struct ak_http_response *r);

/* GET url (after redirects and retries); any status is a response, transport failures
 * are errors naming the host and what to do (TLS: --tls-verify=false). */
int ak_http_get(struct ak_http *h, const struct ak_http_request *req,
		struct ak_http_response *resp, struct ak_error **err);
/* The same, with the body as a stream once the status is 200 (resp holds the headers;
 * for another status resp->body holds up to max_body bytes and *out is NULL). A stall
 * or reset mid-body is a read error (retried from the start only before the first byte
 * was handed out). */
int ak_http_open(struct ak_http *h, const struct ak_http_request *req,
		 struct ak_http_response *resp, struct ak_stream **out, struct ak_error **err);

#endif
