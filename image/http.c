/* HTTP over libcurl. Every request runs on a "slot" (an easy handle with a multi handle
 * of its own) that this file drives itself: the same loop serves a buffered GET and a
 * pull stream, measures the stall timeout on its own clock, and pauses curl when a
 * stream's consumer falls behind. The slot's multi keeps its connections alive, so a
 * slot taken from the pool reuses them; DNS and TLS sessions live in a share with
 * locks. Connections are not in the share: curl does not support sharing them across
 * concurrent threads (CURLSHOPT_SHARE(3)). */
#include "image/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

#ifndef AK_VERSION
#define AK_VERSION "0.1.0" /* as cli/main.c: the Makefile may pass the release's */
#endif

enum {
	POOL_MAX = 8, /* idle slots kept, each with its live connections */
	REDIRECTS_MAX = 10,
	BACKOFF_BASE_MS = 200, /* doubled per retry, jittered */
	BACKOFF_MAX_MS = 5000,
	RETRY_AFTER_MAX_MS = 30000, /* a Retry-After longer than this is not waited out */
	WAIT_BUDGET_MS = 60000,	    /* all waits of one request together */
	POLL_MS = 100,		    /* how often the stall clock is looked at */
	DEFAULT_MAX_BODY = 1 << 20, /* max_body 0 */
};
#define DRAIN_MAX ((size_t)64 << 10)   /* a redirect's body, read so the connection stays */
#define STREAM_BUF ((size_t)256 << 10) /* a stream's buffer: curl pauses when it is full */

struct slot {
	CURL *easy;
	CURLM *multi;
};

struct ak_http {
	bool tls_verify, verbose;
	int connect_ms, stall_ms, retries;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	struct slot *pool[POOL_MAX];
	size_t npool;
	/* some server has answered: a refused connection after that is a restart, worth
	 * a retry; before it, a wrong port that should fail at once */
	atomic_bool answered;
};

/* --- the client --- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *e, curl_lock_data data, curl_lock_access access, void *ud)
{
	struct ak_http *h = ud;
	pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *e, curl_lock_data data, void *ud)
{
	struct ak_http *h = ud;
	pthread_mutex_unlock(&h->share_locks[data]);
}

int ak_http_new(const struct ak_http_options *opt, struct ak_http **out, struct ak_error **err)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return ak_error_set(err, AK_EXIT_ENV, "cannot initialise libcurl: %s",
				    curl_easy_strerror(curl_init_result));
	struct ak_http *h = ak_xcalloc(1, sizeof(*h));
	h->tls_verify = opt->tls_verify;
	h->verbose = opt->verbose;
	h->connect_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 10000;
	h->stall_ms = opt->stall_timeout_ms > 0 ? opt->stall_timeout_ms : 30000;
	h->retries = opt->retries >= 0 ? opt->retries : 4;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_locks[i], NULL);
	pthread_mutex_init(&h->pool_lock, NULL);
	h->share = curl_share_init();
	if (!h->share || curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION)) {
		ak_http_free(h);
		return ak_error_set(err, AK_EXIT_ENV, "cannot set up libcurl's share");
	}
	*out = h;
	return 0;
}

static void slot_destroy(struct slot *s)
{
	if (!s)
		return;
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->easy)
		curl_easy_cleanup(s->easy);
	free(s);
}

/* Every stream must be closed before its client is freed. */
void ak_http_free(struct ak_http *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->npool; i++)
		slot_destroy(h->pool[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	pthread_mutex_destroy(&h->pool_lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_locks[i]);
	free(h);
}

static struct slot *slot_get(struct ak_http *h)
{
	struct slot *s = NULL;
	pthread_mutex_lock(&h->pool_lock);
	if (h->npool > 0)
		s = h->pool[--h->npool];
	pthread_mutex_unlock(&h->pool_lock);
	if (s)
		return s;
	s = ak_xcalloc(1, sizeof(*s));
	s->easy = curl_easy_init();
	s->multi = curl_multi_init();
	if (!s->easy || !s->multi) {
		slot_destroy(s);
		return NULL;
	}
	return s;
}

static void slot_put(struct ak_http *h, struct slot *s)
{
	pthread_mutex_lock(&h->pool_lock);
	if (h->npool < POOL_MAX) {
		h->pool[h->npool++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&h->pool_lock);
	slot_destroy(s);
}

/* --- URLs --- */

static void curlup_free(CURLU **u)
{
	if (*u)
		curl_url_cleanup(*u);
}
#define cleanup_curlu __attribute__((cleanup(curlup_free)))

static void curlstr_free(char **s)
{
	curl_free(*s);
}
#define cleanup_curlstr __attribute__((cleanup(curlstr_free)))

/* What may be shown of a URL: scheme://host[:port]/path. Never its query (S3 and
 * CloudFront put signatures there), its user info or its fragment. */
struct url_parts {
	char *display; /* scheme://host[:port]/path */
	char *host;    /* host[:port] as written */
	char *origin;  /* scheme://host:port, lowercase, port always: whom a token is for */
	bool plain;    /* http:// */
};

static void url_parts_clear(struct url_parts *p)
{
	free(p->display);
	free(p->host);
	free(p->origin);
	*p = (struct url_parts){0};
}

/* A URL cut before its query, for an error about a URL curl cannot parse. */
static char *url_cut(const char *url)
{
	return ak_xstrndup(url, strcspn(url, "?#"));
}

static int url_split(const char *url, struct url_parts *out)
{
	cleanup_curlu CURLU *u = curl_url();
	cleanup_curlstr char *scheme = NULL, *host = NULL, *port = NULL, *dport = NULL,
			     *path = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &dport, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		return -1;
	if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))
		return -1;
	curl_url_get(u, CURLUPART_PORT, &port, 0); /* NULL when the URL names none */
	*out = (struct url_parts){.plain = !strcasecmp(scheme, "http")};
	out->host = port ? ak_xasprintf("%s:%s", host, port) : ak_xstrdup(host);
	out->display = ak_xasprintf("%s://%s%s", scheme, out->host, path);
	out->origin = ak_xasprintf("%s://%s:%s", scheme, host, dport);
	for (char *c = out->origin; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
	return 0;
}

/* --- one request: its URL as redirects change it, its headers, what it has tried --- */

struct req {
	char *url;	     /* the current one (after redirects): may hold a signature */
	struct url_parts at; /* of url */
	char *origin;	     /* of the URL first asked for */
	char **headers;	     /* copies of the caller's */
	char *authorization; /* NULL once a redirect left the origin: never re-added */
	char *form;	     /* a POST's body, NULL for a GET */
	size_t max_body;
	int failures; /* attempts that failed, over all hops */
	int redirects;
	int64_t waited_ms;
};

/* What a message calls the request: a form is POSTed (the token exchange). */
static const char *req_method(const struct req *q)
{
	return q->form ? "POST" : "GET";
}

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void req_clear(struct req *q)
{
	free(q->url);
	url_parts_clear(&q->at);
	free(q->origin);
	ak_strv_free(q->headers);
	secret_free(q->authorization);
	secret_free(q->form);
	*q = (struct req){0};
}

static int url_admit(const struct ak_http *h, const char *url, struct url_parts *p,
		     struct ak_error **err)
{
	if (url_split(url, p) < 0) {
		cleanup_free char *cut = url_cut(url);
		return ak_error_set(err, AK_EXIT_ENV, "GET '%.200s': malformed or not an http URL",
				    cut);
	}
	if (p->plain && h->tls_verify) {
		int r = ak_error_set(err, AK_EXIT_ENV,
				     "GET '%s': plain http:// is refused; pass --tls-verify=false "
				     "to use a registry without TLS",
				     p->display);
		url_parts_clear(p);
		return r;
	}
	return 0;
}

static int req_init(const struct ak_http *h, const struct ak_http_request *r, struct req *q,
		    struct ak_error **err)
{
	*q = (struct req){0};
	if (!r->url)
		return ak_error_set(err, AK_EXIT_ENV, "GET without a URL");
	if (url_admit(h, r->url, &q->at, err) < 0)
		return -1;
	q->url = ak_xstrdup(r->url);
	q->origin = ak_xstrdup(q->at.origin);
	q->headers = ak_xstrv_dup((char *const *)r->headers);
	q->authorization = ak_xstrdup(r->authorization);
	q->form = ak_xstrdup(r->form);
	q->max_body = r->max_body ? r->max_body : DEFAULT_MAX_BODY;
	return 0;
}

/* Follow a Location: resolved against the current URL; the Authorization header goes
 * only where the first URL went (same scheme, host and port). */
static int req_redirect(const struct ak_http *h, struct req *q, const char *location,
			struct ak_error **err)
{
	cleanup_curlu CURLU *u = curl_url();
	cleanup_curlstr char *next = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, q->url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &next, 0) != CURLUE_OK) {
		cleanup_free char *cut = url_cut(location);
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s '%s': redirect to a malformed URL '%.200s'", req_method(q),
				    q->at.display, cut);
	}
	struct url_parts p;
	if (url_split(next, &p) < 0) {
		cleanup_free char *cut = url_cut(next);
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s '%s': redirect to a non-http URL '%.200s'", req_method(q),
				    q->at.display, cut);
	}
	if (p.plain && h->tls_verify) {
		int r = ak_error_set(err, AK_EXIT_ENV,
				     "%s '%s': redirect to plain http '%s' refused; pass "
				     "--tls-verify=false to allow it",
				     req_method(q), q->at.display, p.display);
		url_parts_clear(&p);
		return r;
	}
	if (q->authorization && strcmp(p.origin, q->origin) != 0) {
		secret_free(q->authorization);
		q->authorization = NULL;
	}
	free(q->url);
	q->url = ak_xstrdup(next);
	url_parts_clear(&q->at);
	q->at = p;
	return 0;
}

/* --- one attempt: a transfer on a slot --- */

enum hdr {
	H_WWW_AUTHENTICATE,
	H_CONTENT_TYPE,
	H_DOCKER_CONTENT_DIGEST,
	H_LOCATION,
	H_RETRY_AFTER,
	H_CONTENT_LENGTH,
	H_COUNT
};
static const char *const hdr_names[H_COUNT] = {
	[H_WWW_AUTHENTICATE] = "WWW-Authenticate",
	[H_CONTENT_TYPE] = "Content-Type",
	[H_DOCKER_CONTENT_DIGEST] = "Docker-Content-Digest",
	[H_LOCATION] = "Location",
	[H_RETRY_AFTER] = "Retry-After",
	[H_CONTENT_LENGTH] = "Content-Length",
};

struct xfer {
	struct slot *slot;
	struct curl_slist *headers;
	bool added; /* the easy handle is in the multi */
	bool want_stream;
	size_t max_body;
	long status; /* of the final response, once headers_done */
	bool headers_done;
	char *hdr[H_COUNT];
	/* the body: buffered whole, or a window of a stream (bytes off..len unread) */
	bool streaming;
	size_t limit; /* buffered: the cap */
	bool over_limit;
	bool paused;
	char *buf;
	size_t len, off, cap;
	uint64_t received;
	int64_t last_rx_ms;
	bool done, stalled;
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
};

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static bool is_retryable(long status)
{
	return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
	       status == 504;
}

static void hdr_clear(struct xfer *x)
{
	for (int i = 0; i < H_COUNT; i++) {
		free(x->hdr[i]);
		x->hdr[i] = NULL;
	}
}

static void hdr_store(struct xfer *x, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n);
	if (!colon)
		return;
	size_t name_len = (size_t)(colon - line);
	const char *v = colon + 1, *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (int i = 0; i < H_COUNT; i++) {
		if (strlen(hdr_names[i]) != name_len || strncasecmp(line, hdr_names[i], name_len))
			continue;
		char *val = ak_xstrndup(v, (size_t)(end - v));
		if (!x->hdr[i]) {
			x->hdr[i] = val;
		} else if (i == H_WWW_AUTHENTICATE) {
			/* challenges are a list: several headers mean the same as one joined */
			char *joined = ak_xasprintf("%s, %s", x->hdr[i], val);
			free(x->hdr[i]);
			free(val);
			x->hdr[i] = joined;
		} else {
			free(val);
		}
		return;
	}
}

/* At the end of the headers: how the body is taken. */
static void body_plan(struct xfer *x)
{
	if (x->want_stream && x->status == 200) {
		x->streaming = true;
	} else if ((is_redirect(x->status) && x->hdr[H_LOCATION]) || is_retryable(x->status)) {
		x->limit = DRAIN_MAX; /* read for the connection's sake, then dropped */
	} else {
		x->limit = x->max_body;
	}
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	x->last_rx_ms = ak_monotonic_ms();
	if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
		/* a status line: an interim 1xx's headers are forgotten with it */
		const char *sp = memchr(line, ' ', len), *end = line + len;
		x->status = 0;
		for (const char *c = sp ? sp + 1 : end; c < end && *c >= '0' && *c <= '9'; c++)
			x->status = x->status < 1000 ? x->status * 10 + (*c - '0') : 0;
		hdr_clear(x);
	} else if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
		if (x->status >= 200) {
			x->headers_done = true;
			body_plan(x);
		}
	} else {
		hdr_store(x, line, len);
	}
	return len;
}

static bool buf_room(struct xfer *x, size_t need)
{
	if (x->len + need + 1 <= x->cap)
		return true;
	if (x->off > 0) { /* a stream's read part goes first: the buffer stays bounded */
		memmove(x->buf, x->buf + x->off, x->len - x->off);
		x->len -= x->off;
		x->off = 0;
		if (x->len + need + 1 <= x->cap)
			return true;
	}
	size_t cap = x->cap ? x->cap : 16384;
	while (cap < x->len + need + 1)
		cap *= 2;
	char *nb = realloc(x->buf, cap);
	if (!nb)
		return false;
	x->buf = nb;
	x->cap = cap;
	return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (x->streaming && x->len - x->off >= STREAM_BUF) {
		x->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	x->last_rx_ms = ak_monotonic_ms();
	size_t take = len;
	if (!x->streaming && x->len + len > x->limit) {
		x->over_limit = true;
		take = x->limit - x->len; /* the part that fits is kept: an error body's head */
	}
	if (!buf_room(x, take))
		return 0;
	memcpy(x->buf + x->len, p, take);
	x->len += take;
	x->buf[x->len] = '\0';
	x->received += take;
	return take == len ? len : 0; /* 0 ends the transfer (CURLE_WRITE_ERROR) */
}

static void xfer_end(struct ak_http *h, struct xfer *x)
{
	if (x->slot) {
		if (x->added)
			curl_multi_remove_handle(x->slot->multi, x->slot->easy);
		slot_put(h, x->slot);
	}
	for (struct curl_slist *l = x->headers; l; l = l->next)
		if (!strncasecmp(l->data, "Authorization:", 14))
			explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(x->headers);
	hdr_clear(x);
	free(x->buf);
	*x = (struct xfer){0};
}

static bool header_add(struct xfer *x, const char *line)
{
	struct curl_slist *l = curl_slist_append(x->headers, line);
	if (l)
		x->headers = l;
	return l != NULL;
}

static int xfer_start(struct ak_http *h, struct req *q, bool stream, struct xfer *x,
		      struct ak_error **err)
{
	*x = (struct xfer){.want_stream = stream, .max_body = q->max_body};
	x->slot = slot_get(h);
	if (!x->slot)
		return ak_error_set(err, AK_EXIT_ENV, "%s '%s': cannot set up libcurl",
				    req_method(q), q->at.display);
	bool listed = true;
	for (char **hd = q->headers; listed && hd && *hd; hd++)
		listed = header_add(x, *hd);
	if (listed && q->authorization) {
		char *line = ak_xasprintf("Authorization: %s", q->authorization);
		listed = header_add(x, line);
		secret_free(line);
	}
	CURL *e = x->slot->easy;
	curl_easy_reset(e);
	CURLcode c = listed ? CURLE_OK : CURLE_OUT_OF_MEMORY;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(e, opt, val);                                         \
	} while (0)
	SET(CURLOPT_URL, q->url);
	SET(CURLOPT_SHARE, h->share);
	SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	SET(CURLOPT_USERAGENT, "archkit/" AK_VERSION);
	SET(CURLOPT_FOLLOWLOCATION, 0L); /* redirects are ours: see req_redirect */
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, h->tls_verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, h->tls_verify ? 2L : 0L);
	SET(CURLOPT_HTTPHEADER, x->headers);
	if (q->form)
		SET(CURLOPT_COPYPOSTFIELDS, q->form); /* a form POST */
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	/* no CURLOPT_ACCEPT_ENCODING: a digest is over the bytes as stored; and never
	 * CURLOPT_VERBOSE, whose trace prints the Authorization header */
#undef SET
	if (c != CURLE_OK || curl_multi_add_handle(x->slot->multi, e) != CURLM_OK) {
		xfer_end(h, x);
		return ak_error_set(err, AK_EXIT_ENV, "%s '%s': cannot set up libcurl: %s",
				    req_method(q), q->at.display, curl_easy_strerror(c));
	}
	x->added = true;
	x->last_rx_ms = ak_monotonic_ms();
	return 0;
}

enum wait_for { WAIT_HEADERS, WAIT_DATA, WAIT_END };

static bool xfer_ready(const struct xfer *x, enum wait_for w)
{
	switch (w) {
	case WAIT_HEADERS:
		return x->headers_done;
	case WAIT_DATA:
		return x->off < x->len || x->paused;
	case WAIT_END:
		break;
	}
	return false;
}

/* Let curl work until w holds or the transfer ends: done, or no byte for stall_ms. */
static void xfer_wait(struct ak_http *h, struct xfer *x, enum wait_for w)
{
	while (!x->done) {
		int running = 0, left = 0;
		curl_multi_perform(x->slot->multi, &running);
		CURLMsg *m;
		while ((m = curl_multi_info_read(x->slot->multi, &left)))
			if (m->msg == CURLMSG_DONE) {
				x->done = true;
				x->result = m->data.result;
			}
		if (x->done || xfer_ready(x, w))
			return;
		/* before the first byte, a slow connect is the connect timeout's to report */
		int limit = !x->headers_done && h->connect_ms > h->stall_ms ? h->connect_ms
									    : h->stall_ms;
		if (ak_monotonic_ms() - x->last_rx_ms >= limit) {
			x->done = x->stalled = true;
			x->result = CURLE_OPERATION_TIMEDOUT;
			return;
		}
		curl_multi_poll(x->slot->multi, NULL, 0, POLL_MS, NULL);
	}
}

/* The transfer ended without its whole answer (not counting a cap we hit ourselves). */
static bool xfer_failed(const struct xfer *x)
{
	return x->done && (x->stalled || (x->result != CURLE_OK && !x->over_limit));
}

static bool is_tls_error(CURLcode c)
{
	switch (c) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
		return true;
	default:
		return false;
	}
}

/* Worth another attempt: the server or the path to it may be back in a moment. */
static bool xfer_transient(const struct ak_http *h, const struct xfer *x)
{
	if (x->stalled)
		return true;
	switch (x->result) {
	case CURLE_COULDNT_CONNECT:
		return atomic_load(&h->answered);
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* Why a transfer failed, naming the host (and what to do, for TLS). */
static void xfer_why(const struct ak_http *h, const struct req *q, const struct xfer *x, char *out,
		     size_t n)
{
	char detail[CURL_ERROR_SIZE];
	snprintf(detail, sizeof(detail), "%s",
		 x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result));
	detail[strcspn(detail, "\r\n")] = '\0';
	const char *host = q->at.host;
	if (x->stalled)
		snprintf(out, n, "no data from '%s' for %d ms", host, h->stall_ms);
	else if (is_tls_error(x->result))
		snprintf(out, n,
			 "TLS error with '%s' (%s); pass --tls-verify=false if the registry "
			 "has a self-signed certificate",
			 host, detail);
	else if (x->result == CURLE_COULDNT_RESOLVE_HOST)
		snprintf(out, n, "cannot resolve host '%s'", host);
	else if (x->result == CURLE_COULDNT_CONNECT)
		snprintf(out, n, "cannot connect to '%s' (%s)", host, detail);
	else if (x->result == CURLE_OPERATION_TIMEDOUT)
		snprintf(out, n, "cannot connect to '%s' within %d ms", host, h->connect_ms);
	else if (xfer_transient(h, x))
		snprintf(out, n, "connection to '%s' lost (%s)", host, detail);
	else
		snprintf(out, n, "'%s': %s", host, detail);
}

/* --- retries --- */

static void log_line(const struct ak_http *h, const struct req *q, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void log_line(const struct ak_http *h, const struct req *q, const char *fmt, ...)
{
	if (!h->verbose)
		return;
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* one call, so lines from parallel requests do not interleave */
	fprintf(stderr, "archkit: %s %s: %s\n", req_method(q), q->at.display, msg);
}

static int64_t retry_after_ms(const char *v)
{
	if (!v || !*v)
		return -1;
	char *end;
	errno = 0;
	long long s = strtoll(v, &end, 10);
	if (end != v && !*end && !errno && s >= 0)
		return s > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS : s * 1000;
	time_t t = curl_getdate(v, NULL); /* an HTTP date */
	if (t < 0)
		return -1;
	time_t now = time(NULL);
	if (t <= now)
		return 0;
	return t - now > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS : (int64_t)(t - now) * 1000;
}

static int64_t backoff_ms(int failures)
{
	int64_t d = (int64_t)BACKOFF_BASE_MS << (failures < 10 ? failures : 10);
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)ak_monotonic_ms();
	/* jittered over the upper half, so parallel jobs do not come back together */
	return d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One more failure ("why"): wait and return 0 to try again, or give up. */
static int retry_wait(struct ak_http *h, struct req *q, const char *why, const char *what,
		      int64_t hint_ms, struct ak_error **err)
{
	q->failures++;
	int64_t d = backoff_ms(q->failures - 1);
	if (hint_ms > d)
		d = hint_ms > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : hint_ms;
	if (q->failures > h->retries || q->waited_ms + d > WAIT_BUDGET_MS) {
		log_line(h, q, "%s, giving up", what);
		return ak_error_set(err, AK_EXIT_ENV, "%s '%s': %s, giving up after %d attempt%s",
				    req_method(q), q->at.display, why, q->failures,
				    q->failures == 1 ? "" : "s");
	}
	log_line(h, q, "%s, retrying in %lld ms", what, (long long)d);
	sleep_ms(d);
	q->waited_ms += d;
	return 0;
}

static const char *status_text(long status)
{
	switch (status) {
	case 408:
		return " Request Timeout";
	case 429:
		return " Too Many Requests";
	case 500:
		return " Internal Server Error";
	case 502:
		return " Bad Gateway";
	case 503:
		return " Service Unavailable";
	case 504:
		return " Gateway Timeout";
	default:
		return "";
	}
}

/* Attempts and redirects until a final response: x is left with its body buffered to
 * the end, or, for a 200 to stream, running with the headers in. */
static int req_run(struct ak_http *h, struct req *q, bool stream, struct xfer *x,
		   struct ak_error **err)
{
	for (;;) {
		if (xfer_start(h, q, stream, x, err) < 0)
			return -1;
		xfer_wait(h, x, WAIT_HEADERS);
		if (x->headers_done) {
			atomic_store(&h->answered, true);
			if (!x->streaming)
				xfer_wait(h, x, WAIT_END);
		}
		char why[CURL_ERROR_SIZE + 256], what[CURL_ERROR_SIZE + 256];
		int64_t hint = -1;
		if (x->headers_done && is_redirect(x->status) && x->hdr[H_LOCATION]) {
			log_line(h, q, "%ld (%llu bytes)", x->status,
				 (unsigned long long)x->received);
			int r = ++q->redirects > REDIRECTS_MAX
					? ak_error_set(err, AK_EXIT_ENV,
						       "%s '%s': more than %d redirects",
						       req_method(q), q->at.display, REDIRECTS_MAX)
					: req_redirect(h, q, x->hdr[H_LOCATION], err);
			if (q->form && x->status != 307 && x->status != 308) {
				secret_free(q->form); /* 301, 302, 303: the next hop is a GET */
				q->form = NULL;
			}
			xfer_end(h, x);
			if (r < 0)
				return -1;
			continue;
		}
		if (x->headers_done && !is_retryable(x->status) &&
		    (x->streaming || !xfer_failed(x))) {
			if (x->streaming)
				return 0; /* logged when the stream ends */
			log_line(h, q, "%ld (%llu bytes%s)", x->status,
				 (unsigned long long)x->received, x->over_limit ? ", cut" : "");
			if (x->over_limit && !stream) {
				int r = ak_error_set_kind(
					err, AK_EXIT_ENV, AK_ERR_LIMIT, EFBIG,
					"%s '%s': response body larger than %zu bytes",
					req_method(q), q->at.display, q->max_body);
				xfer_end(h, x);
				return r;
			}
			return 0;
		}
		if (x->headers_done && is_retryable(x->status)) {
			snprintf(why, sizeof(why), "%ld%s from '%s'", x->status,
				 status_text(x->status), q->at.host);
			snprintf(what, sizeof(what), "%ld (%llu bytes)", x->status,
				 (unsigned long long)x->received);
			if (x->status == 429 || x->status == 503)
				hint = retry_after_ms(x->hdr[H_RETRY_AFTER]);
		} else {
			xfer_why(h, q, x, why, sizeof(why));
			snprintf(what, sizeof(what), "%s", why);
			if (!xfer_transient(h, x)) {
				log_line(h, q, "%s", what);
				xfer_end(h, x);
				return ak_error_set(err, AK_EXIT_ENV, "%s '%s': %s", req_method(q),
						    q->at.display, why);
			}
		}
		xfer_end(h, x);
		if (retry_wait(h, q, why, what, hint, err) < 0)
			return -1;
	}
}

static void resp_fill(struct ak_http_response *resp, struct xfer *x, const struct req *q,
		      bool with_body)
{
	resp->status = x->status;
	resp->www_authenticate = steal_pointer(&x->hdr[H_WWW_AUTHENTICATE]);
	resp->content_type = steal_pointer(&x->hdr[H_CONTENT_TYPE]);
	resp->docker_content_digest = steal_pointer(&x->hdr[H_DOCKER_CONTENT_DIGEST]);
	resp->final_url = ak_xstrdup(q->url);
	const char *cl = x->hdr[H_CONTENT_LENGTH];
	char *end;
	long long v = cl ? strtoll(cl, &end, 10) : -1;
	resp->content_length = cl && end != cl && !*end && v >= 0 ? v : -1;
	if (with_body) {
		resp->body = x->buf ? steal_pointer(&x->buf) : ak_xstrdup("");
		resp->len = x->len;
		x->len = x->off = x->cap = 0;
	}
}

void ak_http_response_clear(struct ak_http_response *r)
{
	free(r->body);
	free(r->www_authenticate);
	free(r->content_type);
	free(r->docker_content_digest);
	free(r->final_url);
	*r = (struct ak_http_response){.content_length = -1};
}

int ak_http_get(struct ak_http *h, const struct ak_http_request *req, struct ak_http_response *resp,
		struct ak_error **err)
{
	struct req q;
	struct xfer x = {0};
	*resp = (struct ak_http_response){.content_length = -1};
	if (req_init(h, req, &q, err) < 0)
		return -1;
	int r = req_run(h, &q, false, &x, err);
	if (r == 0)
		resp_fill(resp, &x, &q, true);
	xfer_end(h, &x);
	req_clear(&q);
	return r;
}

/* --- the body as a stream --- */

struct http_stream {
	struct ak_stream s;
	struct ak_http *h;
	struct req q;
	struct xfer x;
	uint64_t handed; /* bytes given to the consumer: after the first, no retry */
	bool ended, failed;
};

static void stream_log_end(struct http_stream *hs, const char *how)
{
	if (hs->ended)
		return;
	hs->ended = true;
	log_line(hs->h, &hs->q, "%ld (%llu bytes%s)", hs->x.status,
		 (unsigned long long)hs->x.received, how);
}

/* The transfer failed before a byte was handed out: start it again, if retries are
 * left, and come back with a 200 that is streaming. */
static int stream_restart(struct http_stream *hs, struct ak_error **err)
{
	char why[CURL_ERROR_SIZE + 256];
	xfer_why(hs->h, &hs->q, &hs->x, why, sizeof(why));
	xfer_end(hs->h, &hs->x);
	if (retry_wait(hs->h, &hs->q, why, why, -1, err) < 0)
		return -1;
	if (req_run(hs->h, &hs->q, true, &hs->x, err) < 0)
		return -1;
	if (!hs->x.streaming)
		return ak_error_set(err, AK_EXIT_ENV, "%s '%s': retried, the server answered %ld",
				    req_method(&hs->q), hs->q.at.display, hs->x.status);
	return 0;
}

static ssize_t stream_read(struct ak_stream *s, void *buf, size_t len, struct ak_error **err)
{
	struct http_stream *hs = (struct http_stream *)s;
	struct xfer *x = &hs->x;
	if (hs->failed)
		return ak_error_set(err, AK_EXIT_ENV, "%s '%s': read after an error",
				    req_method(&hs->q), hs->q.at.display);
	if (len == 0)
		return 0;
	for (;;) {
		if (x->off < x->len) {
			size_t n = x->len - x->off < len ? x->len - x->off : len;
			memcpy(buf, x->buf + x->off, n);
			x->off += n;
			hs->handed += n;
			return (ssize_t)n;
		}
		if (x->paused) {
			x->paused = false;
			x->off = x->len = 0;
			curl_easy_pause(x->slot->easy, CURLPAUSE_CONT); /* may deliver at once */
			continue;
		}
		if (x->done && !xfer_failed(x)) {
			stream_log_end(hs, "");
			return 0;
		}
		if (x->done) {
			if (hs->handed == 0 && xfer_transient(hs->h, x)) {
				if (stream_restart(hs, err) == 0)
					continue;
				hs->failed = true;
				return -1;
			}
			char why[CURL_ERROR_SIZE + 256];
			xfer_why(hs->h, &hs->q, x, why, sizeof(why));
			stream_log_end(hs, ", failed");
			hs->failed = true;
			return ak_error_set(err, AK_EXIT_ENV, "%s '%s': %s after %llu bytes",
					    req_method(&hs->q), hs->q.at.display, why,
					    (unsigned long long)x->received);
		}
		/* the stall clock runs only while the consumer waits */
		x->last_rx_ms = ak_monotonic_ms();
		xfer_wait(hs->h, x, WAIT_DATA);
	}
}

static void stream_free(struct http_stream *hs)
{
	xfer_end(hs->h, &hs->x);
	req_clear(&hs->q);
	free(hs);
}

static void stream_close(struct ak_stream *s)
{
	struct http_stream *hs = (struct http_stream *)s;
	if (!hs->failed)
		stream_log_end(hs, hs->x.done ? "" : ", not read to the end");
	stream_free(hs);
}

int ak_http_open(struct ak_http *h, const struct ak_http_request *req,
		 struct ak_http_response *resp, struct ak_stream **out, struct ak_error **err)
{
	*out = NULL;
	*resp = (struct ak_http_response){.content_length = -1};
	struct http_stream *hs = ak_xcalloc(1, sizeof(*hs));
	hs->s = (struct ak_stream){.read = stream_read, .close = stream_close};
	hs->h = h;
	if (req_init(h, req, &hs->q, err) < 0 || req_run(h, &hs->q, true, &hs->x, err) < 0) {
		stream_free(hs);
		return -1;
	}
	resp_fill(resp, &hs->x, &hs->q, !hs->x.streaming);
	if (!hs->x.streaming) {
		stream_free(hs); /* req_run logged it */
		return 0;
	}
	*out = &hs->s;
	return 0;
}
