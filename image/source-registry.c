/* The registry source (docker://): the OCI distribution API over one HTTP client. The
 * root is the manifest the reference names; documents and layers are fetched by digest
 * and verified by the caller (ak_source_open_blob) as they stream. Auth starts
 * anonymous and follows each 401's challenge: Basic with the credentials found for the
 * registry, or a Bearer token from the challenge's realm, renewed when it expires and
 * widened when a challenge asks for more scope. The token and the credentials live
 * under one mutex (rootfs opens blobs from several threads) and never reach a message. */
#include "image/registry.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/escape.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/doc.h"
#include "image/http.h"
#include "image/source.h"

#define ERROR_BODY_MAX (64u << 10) /* what a refused request's body may hold */
#define SCOPES_MAX 8
#define TOKEN_LIFETIME_MIN 60 /* distribution's token spec: shorter is taken as 60 s */
#define TOKEN_RENEW_MARGIN_MS 10000
#define AUTH_ATTEMPTS 4
#define TAGS_NAMED                                                                                 \
	10 /* in a "tag not found" message */ /* requests of one fetch, the anonymous one included \
					       */

static const char *const manifest_headers[] = {
	"Accept: " AK_MT_OCI_INDEX ", " AK_MT_OCI_MANIFEST ", " AK_MT_DOCKER_LIST
	", " AK_MT_DOCKER_MANIFEST,
	NULL,
};

/* How requests are authorised; all of it under registry.lock. */
struct auth {
	bool looked_up; /* credentials searched for (on the first 401) */
	bool have_creds;
	struct ak_creds creds;
	char *looked_in; /* the files read, for the 401 message */
	char *header;	 /* "Basic …" / "Bearer …", NULL while anonymous */
	unsigned gen;	 /* bumped whenever header changes */
	bool bearer;
	bool refetched; /* a valid token was refused once and fetched again */
	char *realm, *service;
	char *scopes[SCOPES_MAX];
	size_t nscopes;
	int64_t expires_ms; /* monotonic; the token's end */
};

struct registry {
	struct ak_source src; /* first: the ops see a struct ak_source */
	struct ak_registry_ref ref;
	struct ak_http *http;
	struct ak_registry_options opt;
	char *where; /* "HOST/REPO", for messages */
	char *name;  /* "REPO:TAG" or "REPO@DIGEST": the root document in messages */
	char *base;  /* "https://HOST/v2/REPO" (http:// once found to need it) */
	pthread_mutex_t lock;
	struct auth auth;
};

static struct registry *reg_of(struct ak_source *src)
{
	return (struct registry *)src;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void wipe_freep(char **s)
{
	wipe_free(*s);
}
#define cleanup_secret __attribute__((cleanup(wipe_freep)))

static void auth_clear(struct auth *a)
{
	ak_creds_clear(&a->creds);
	free(a->looked_in);
	wipe_free(a->header);
	free(a->realm);
	free(a->service);
	for (size_t i = 0; i < a->nscopes; i++)
		free(a->scopes[i]);
	*a = (struct auth){0};
}

/* ---- messages ---- */

/* The registry's own words from an error body ({"errors":[{"code","message"}]}), the
 * first error's; *code and *msg NULL when the body says nothing usable. */
static void error_body(const char *body, size_t len, char **code, char **msg)
{
	*code = *msg = NULL;
	if (!body || !len)
		return;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	const char *c = json_string_value(json_object_get(e, "code"));
	const char *m = json_string_value(json_object_get(e, "message"));
	if (c)
		*code = ak_xstrndup(c, 64);
	if (m)
		*msg = ak_xstrndup(m, 200);
	json_decref(j);
}

/* What was asked for, to tell a missing repository from a missing tag or blob. */
enum fetch_kind { FETCH_ROOT, FETCH_MANIFEST, FETCH_BLOB };

static int status_error(struct registry *r, const struct ak_http_response *resp,
			enum fetch_kind kind, const char *digest, struct ak_error **err)
{
	char sb[32];
	cleanup_free char *code = NULL, *msg = NULL;
	error_body(resp->body, resp->len, &code, &msg);
	const char *host = r->ref.host;
	const char *obj = kind == FETCH_BLOB ? "blob" : "manifest";
	if (resp->status == 404) {
		if (code && !strcmp(code, "NAME_UNKNOWN"))
			return ak_error_set(err, AK_EXIT_ENV,
					    "repository '%s' not found on %s: check the name",
					    r->ref.repo, host);
		if (kind == FETCH_ROOT && r->ref.tag)
			return ak_error_set(err, AK_EXIT_ENV,
					    "tag '%s' not found in '%s'%s: check the tag (or push "
					    "it)",
					    r->ref.tag, r->where,
					    code ? "" : " (or no such repository)");
		return ak_error_set(err, AK_EXIT_ENV, "%s '%s' not found in '%s'%s: %s", obj,
				    ak_digest_short(digest, sb), r->where,
				    code ? "" : " (or no such repository)",
				    kind == FETCH_ROOT ? "check the digest"
						       : "the image refers to it, but the "
							 "registry does not have it (an "
							 "incomplete push?)");
	}
	if (resp->status == 403) {
		pthread_mutex_lock(&r->lock);
		cleanup_free char *source =
			r->auth.have_creds ? ak_xstrdup(r->auth.creds.source) : NULL;
		pthread_mutex_unlock(&r->lock);
		if (source)
			return ak_error_set(err, AK_EXIT_ENV,
					    "'%s': denied: %s: the credentials from %s lack pull "
					    "access to it",
					    r->where, msg ? msg : "403 Forbidden", source);
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': denied: %s: pass credentials with pull access to it "
				    "(--creds, or log in)",
				    r->where, msg ? msg : "403 Forbidden");
	}
	if (resp->status == 401)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': %s still refuses the request after authenticating%s%s",
				    r->where, host, msg ? ": " : "", msg ? msg : "");
	bool transient = resp->status == 408 || resp->status == 429 || resp->status >= 500;
	return ak_error_set(err, AK_EXIT_ENV, "'%s': %s answered %ld for %s '%s'%s%s%s", r->where,
			    host, resp->status, obj,
			    kind == FETCH_ROOT ? r->name : ak_digest_short(digest, sb),
			    msg ? ": " : "", msg ? msg : "",
			    transient ? " (after retries): try again later" : "");
}

/* With the lock held: no credentials were found, or the ones found were refused;
 * denied: the registry says the token lacks the scope (Docker Hub's answer for a
 * repository that does not exist, too). */
static int unauthorized_error(struct registry *r, bool denied, struct ak_error **err)
{
	struct auth *a = &r->auth;
	const char *host = r->ref.host;
	if (a->have_creds && denied)
		return ak_error_set(err, AK_EXIT_ENV,
				    "credentials from %s give no pull access to '%s' on %s (or "
				    "there is no such repository): check the name and their access",
				    a->creds.source, r->ref.repo, host);
	if (a->have_creds)
		return ak_error_set(err, AK_EXIT_ENV,
				    "credentials from %s were refused by %s: check them (and their "
				    "access to '%s')",
				    a->creds.source, host, r->ref.repo);
	cleanup_free char *where = a->looked_in ? ak_xasprintf("looked in %s", a->looked_in)
						: ak_xstrdup("no auth file found");
	if (denied)
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s denies anonymous access to '%s' (no such repository, or it "
				    "needs credentials: none for %s, %s): check the name, pass "
				    "--creds or log in",
				    host, r->ref.repo, host, where);
	return ak_error_set(err, AK_EXIT_ENV, "no credentials for %s (%s): pass --creds or log in",
			    host, where);
}

/* ---- tokens ---- */

/* s with everything but RFC 3986's unreserved characters as %XX, appended to u. */
static char *url_escape_append(char *u, const char *s)
{
	size_t len = strlen(u);
	u = ak_xrealloc(u, len + 3 * strlen(s) + 1);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c))
			u[len++] = (char)*c;
		else
			len += (size_t)sprintf(u + len, "%%%02X", *c);
	}
	u[len] = '\0';
	return u;
}

/* realm?service=S&scope=A&scope=B */
static char *token_url(const struct auth *a)
{
	char *u = ak_xstrdup(a->realm);
	const char *sep = strchr(u, '?') ? "&" : "?";
	for (size_t i = 0; i <= a->nscopes; i++) {
		const char *key = i ? "scope" : "service", *val = i ? a->scopes[i - 1] : a->service;
		if (!val)
			continue;
		char *v = ak_xasprintf("%s%s%s=", u, sep, key);
		free(u);
		u = url_escape_append(v, val);
		sep = "&";
	}
	return u;
}

/* The form of an OAuth2 refresh_token grant: the identity token, the service and
 * every scope held (each its own "scope" field), client_id naming archkit. */
static char *token_form(const struct auth *a)
{
	char *f = url_escape_append(ak_xstrdup("grant_type=refresh_token&client_id=archkit&"
					       "refresh_token="),
				    a->creds.identity_token);
	for (size_t i = 0; i <= a->nscopes; i++) {
		const char *key = i ? "scope" : "service", *val = i ? a->scopes[i - 1] : a->service;
		if (!val)
			continue;
		char *v = ak_xasprintf("%s&%s=", f, key);
		explicit_bzero(f, strlen(f));
		free(f);
		f = url_escape_append(v, val);
	}
	return f;
}

/* Seconds since the epoch of an RFC 3339 time ("2024-05-01T12:00:00Z", fraction and
 * zone ignored: it only shortens a lifetime), -1 when unreadable. */
static time_t parse_time(const char *s)
{
	struct tm tm = {0};
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return -1;
	return timegm(&tm);
}

/* A token fit for a header: printable ASCII without blanks (a JWT, an opaque string). */
static bool token_ok(const char *t)
{
	if (!*t)
		return false;
	for (; *t; t++)
		if (*t < 0x21 || *t > 0x7e)
			return false;
	return true;
}

/* The token service's answer: "token" or "access_token", "expires_in", "issued_at".
 * Messages never quote the body: it holds the token. */
static char *token_parse(struct registry *r, const char *body, size_t len, int64_t *lifetime_ms,
			 struct ak_error **err)
{
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *t = json_string_value(json_object_get(j, "token"));
	if (!t || !*t)
		t = json_string_value(json_object_get(j, "access_token"));
	if (!t || !token_ok(t)) {
		json_decref(j);
		ak_error_set(err, AK_EXIT_ENV,
			     "the token service of %s sent no usable token (JSON with \"token\" "
			     "or \"access_token\")",
			     r->ref.host);
		return NULL;
	}
	json_t *e = json_object_get(j, "expires_in");
	int64_t secs = json_is_integer(e) ? (int64_t)json_integer_value(e) : 0;
	if (secs < TOKEN_LIFETIME_MIN)
		secs = TOKEN_LIFETIME_MIN;
	if (secs > 365 * 86400)
		secs = 365 * 86400;
	time_t issued = parse_time(json_string_value(json_object_get(j, "issued_at")));
	time_t now = time(NULL);
	/* a clock that disagrees with the service's must not expire a token at once */
	if (issued > 0 && now > issued && now - issued < secs)
		secs -= now - issued;
	*lifetime_ms = secs * 1000;
	char *token = ak_xstrdup(t);
	/* jansson keeps its copy: overwrite it before the JSON goes */
	explicit_bzero((char *)t, strlen(t));
	json_decref(j);
	return token;
}

/* "Basic base64(user:pass)" from the credentials, NULL without a password. */
static char *basic_header(const struct ak_creds *c)
{
	if (!c->user || !c->pass)
		return NULL;
	cleanup_secret char *plain = ak_xasprintf("%s:%s", c->user, c->pass);
	cleanup_secret char *b64 = ak_base64(plain, strlen(plain));
	return b64 ? ak_xasprintf("Basic %s", b64) : NULL;
}

/* With the lock held: a token for the realm and scopes in r->auth, from the token
 * service (anonymous, or with the credentials as Basic). */
static int token_fetch(struct registry *r, struct ak_error **err)
{
	struct auth *a = &r->auth;
	cleanup_secret char *basic = a->have_creds ? basic_header(&a->creds) : NULL;
	/* an identity token (a refresh token docker login stored) is exchanged with an
	 * OAuth2 refresh_token grant, POSTed to the realm as docker does */
	bool refresh = a->have_creds && !basic && a->creds.identity_token;
	if (a->have_creds && !basic && !refresh)
		return ak_error_set(err, AK_EXIT_ENV,
				    "credentials from %s have no user and password: pass --creds "
				    "USER:PASS",
				    a->creds.source);
	cleanup_free char *url = refresh ? ak_xstrdup(a->realm) : token_url(a);
	cleanup_secret char *form = refresh ? token_form(a) : NULL;
	struct ak_http_request req = {
		.url = url,
		.authorization = basic,
		.max_body = AK_REGISTRY_TOKEN_MAX,
		.form = form,
	};
	struct ak_http_response resp = {0};
	if (ak_http_get(r->http, &req, &resp, err) < 0)
		return ak_error_prefix(err, "token for %s", r->ref.host);
	int rc;
	if (resp.status == 401 || resp.status == 403)
		rc = unauthorized_error(r, false, err);
	else if (resp.status != 200)
		rc = ak_error_set(err, AK_EXIT_ENV, "the token service of %s answered %ld%s",
				  r->ref.host, resp.status,
				  resp.status == 429 || resp.status >= 500
					  ? " (after retries): try again later"
					  : "");
	else {
		int64_t life = 0;
		char *token = token_parse(r, resp.body, resp.len, &life, err);
		rc = token ? 0 : -1;
		if (token) {
			wipe_free(a->header);
			a->header = ak_xasprintf("Bearer %s", token);
			wipe_free(token);
			a->bearer = true;
			a->gen++;
			a->expires_ms = ak_monotonic_ms() + life;
		}
	}
	if (resp.body)
		explicit_bzero(resp.body, resp.len);
	ak_http_response_clear(&resp);
	return rc;
}

/* With the lock held: look for credentials once (a failing helper or a malformed file
 * is an error then). */
static int creds_ensure(struct registry *r, struct ak_error **err)
{
	struct auth *a = &r->auth;
	if (a->looked_up)
		return 0;
	int n = ak_creds_lookup(r->ref.auth_key, &r->opt, &a->creds, &a->looked_in, err);
	if (n < 0)
		return ak_error_prefix(err, "credentials for %s", r->ref.host);
	a->looked_up = true;
	a->have_creds = n > 0;
	return 0;
}

/* With the lock held: add each of a challenge's space-separated scopes not yet held;
 * returns how many were new. */
static int scopes_add(struct auth *a, const char *scopes, struct ak_error **err)
{
	int added = 0;
	for (const char *p = scopes; p && *p;) {
		size_t n = strcspn(p, " ");
		bool have = false;
		for (size_t i = 0; i < a->nscopes && !have; i++)
			have = strlen(a->scopes[i]) == n && !strncmp(a->scopes[i], p, n);
		if (n && !have) {
			if (a->nscopes == SCOPES_MAX)
				return ak_error_set(err, AK_EXIT_ENV,
						    "registry asks for more than %d token scopes",
						    SCOPES_MAX);
			a->scopes[a->nscopes++] = ak_xstrndup(p, n);
			added++;
		}
		p += n;
		p += strspn(p, " ");
	}
	return added;
}

static void set_field(char **dst, const char *src)
{
	free(*dst);
	*dst = ak_xstrdup(src);
}

/* With the lock held: what to do about a 401 whose challenge is www, answered to a
 * request sent with authorisation generation gen. 0: send it again; -1: give up. */
static int on_unauthorized(struct registry *r, const char *www, unsigned gen, struct ak_error **err)
{
	struct auth *a = &r->auth;
	if (a->gen != gen)
		return 0; /* another request has authenticated meanwhile */
	if (!www)
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s answered 401 without a WWW-Authenticate challenge",
				    r->ref.host);
	struct ak_www_auth ch;
	if (ak_www_auth_parse(www, &ch, err) < 0)
		return ak_error_prefix(err, "challenge from %s", r->ref.host);
	int rc = creds_ensure(r, err);
	if (rc == 0 && !strcasecmp(ch.scheme, "Basic")) {
		if (!a->have_creds || (a->header && !a->bearer)) {
			rc = unauthorized_error(r, false, err);
		} else if (wipe_free(a->header), !(a->header = basic_header(&a->creds))) {
			rc = ak_error_set(err, AK_EXIT_ENV,
					  "credentials from %s have no user and password: pass "
					  "--creds USER:PASS",
					  a->creds.source);
		} else {
			a->bearer = false;
			a->gen++;
		}
	} else if (rc == 0) {
		/* Bearer: a token for the challenge's scope, added to what is held */
		bool insufficient = ch.error && !strcmp(ch.error, "insufficient_scope");
		cleanup_free char *def =
			ch.scope ? NULL : ak_xasprintf("repository:%s:pull", r->ref.repo);
		int added = scopes_add(a, ch.scope ? ch.scope : def, err);
		bool held = a->bearer && a->header;
		if (added < 0)
			rc = -1;
		else if (held && !added && (insufficient || a->refetched))
			rc = unauthorized_error(r, insufficient, err);
		else if (!ch.realm)
			rc = ak_error_set(err, AK_EXIT_ENV,
					  "%s sent a Bearer challenge without a realm",
					  r->ref.host);
		else {
			set_field(&a->realm, ch.realm);
			set_field(&a->service, ch.service);
			if (held && !added)
				a->refetched = true; /* a valid token refused: once more */
			rc = token_fetch(r, err);
		}
	}
	ak_www_auth_clear(&ch);
	return rc;
}

/* The Authorization header for the next request (a copy, NULL while anonymous) and its
 * generation; a token about to expire is renewed first. */
static int auth_current(struct registry *r, char **header, unsigned *gen, struct ak_error **err)
{
	pthread_mutex_lock(&r->lock);
	struct auth *a = &r->auth;
	int rc = 0;
	if (a->bearer && a->header && ak_monotonic_ms() > a->expires_ms - TOKEN_RENEW_MARGIN_MS)
		rc = token_fetch(r, err);
	*header = rc == 0 ? ak_xstrdup(a->header) : NULL;
	*gen = a->gen;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ---- requests ---- */

/* GET url, authenticating as the registry asks: into resp (ak_http_get, body capped at
 * max_body) or, with stream set, as a stream once the status is 200. The status is the
 * caller's to judge; a 401 that cannot be answered is an error here. */
static int reg_get(struct registry *r, const char *url, const char *const *headers, size_t max_body,
		   struct ak_http_response *resp, struct ak_stream **stream, struct ak_error **err)
{
	for (int attempt = 1;; attempt++) {
		cleanup_secret char *authz = NULL;
		unsigned gen;
		if (auth_current(r, &authz, &gen, err) < 0)
			return -1;
		struct ak_http_request req = {
			.url = url,
			.headers = headers,
			.authorization = authz,
			.max_body = max_body,
		};
		*resp = (struct ak_http_response){0};
		int rc = stream ? ak_http_open(r->http, &req, resp, stream, err)
				: ak_http_get(r->http, &req, resp, err);
		if (rc < 0) {
			ak_http_response_clear(resp);
			return -1;
		}
		pthread_mutex_lock(&r->lock);
		if (resp->status != 401 && r->auth.gen == gen)
			r->auth.refetched = false; /* the token works: a later refusal is new */
		if (resp->status != 401 || attempt == AUTH_ATTEMPTS) {
			pthread_mutex_unlock(&r->lock);
			return 0;
		}
		rc = on_unauthorized(r, resp->www_authenticate, gen, err);
		pthread_mutex_unlock(&r->lock);
		ak_http_response_clear(resp);
		if (rc < 0)
			return -1;
	}
}

/* With --tls-verify=false a registry may speak plain http (as docker and skopeo allow
 * for insecure registries): https is tried once, with no retries and not logged (its
 * failure is no error), and http used when it cannot be reached. */
static int choose_scheme(struct registry *r, struct ak_error **err)
{
	if (r->opt.tls_verify)
		return 0;
	struct ak_http_options ho = {
		.tls_verify = false,
		.connect_timeout_ms = r->opt.connect_timeout_ms,
		.stall_timeout_ms = r->opt.stall_timeout_ms,
		.retries = 0,
	};
	struct ak_http *h = NULL;
	if (ak_http_new(&ho, &h, err) < 0)
		return -1;
	cleanup_free char *url = ak_xasprintf("https://%s/v2/", r->ref.host);
	struct ak_http_request req = {.url = url, .max_body = ERROR_BODY_MAX};
	struct ak_http_response resp = {0};
	cleanup_error struct ak_error *e = NULL;
	int rc = ak_http_get(h, &req, &resp, &e);
	ak_http_response_clear(&resp);
	ak_http_free(h);
	if (rc == 0)
		return 0;
	free(r->base);
	r->base = ak_xasprintf("http://%s/v2/%s", r->ref.host, r->ref.repo);
	return 0;
}

/* A root manifest that is not there: the distribution API says MANIFEST_UNKNOWN for a
 * missing repository too, so its tag list tells them apart (and names the tags). */
static int root_not_found(struct registry *r, const struct ak_http_response *resp,
			  struct ak_error **err)
{
	cleanup_free char *url = ak_xasprintf("%s/tags/list?n=%d", r->base, TAGS_NAMED + 1);
	struct ak_http_response tl;
	cleanup_error struct ak_error *e = NULL;
	if (reg_get(r, url, NULL, ERROR_BODY_MAX, &tl, NULL, &e) < 0)
		return status_error(r, resp, FETCH_ROOT, r->ref.digest, err);
	json_t *j = tl.status == 200 ? json_loadb(tl.body, tl.len, 0, NULL) : NULL;
	json_t *tags = json_object_get(j, "tags");
	bool gone = tl.status == 404;
	ak_http_response_clear(&tl);
	if (gone) {
		json_decref(j);
		return ak_error_set(err, AK_EXIT_ENV,
				    "repository '%s' not found on %s: check the name (or push "
				    "to it)",
				    r->ref.repo, r->ref.host);
	}
	if (!json_is_array(tags) || !r->ref.tag) {
		json_decref(j);
		return status_error(r, resp, FETCH_ROOT, r->ref.digest, err);
	}
	cleanup_free char *list = ak_xstrdup("");
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t)
	{
		char *more = i == TAGS_NAMED ? ak_xasprintf("%s, …", list)
			     : json_is_string(t)
				     ? ak_xasprintf("%s%s'%.64s'", list, *list ? ", " : "",
						    json_string_value(t))
				     : NULL;
		if (more) {
			free(list);
			list = more;
		}
		if (i == TAGS_NAMED)
			break;
	}
	json_decref(j);
	return ak_error_set(err, AK_EXIT_ENV,
			    "tag '%s' not found in '%s' (it has: %s): check the tag", r->ref.tag,
			    r->where, *list ? list : "no tags");
}

static int registry_read_root(struct ak_source *src, struct ak_source_root *out,
			      struct ak_error **err)
{
	struct registry *r = reg_of(src);
	if (choose_scheme(r, err) < 0)
		return -1;
	const char *ref = r->ref.digest ? r->ref.digest : r->ref.tag;
	cleanup_free char *url = ak_xasprintf("%s/manifests/%s", r->base, ref);
	struct ak_http_response resp;
	if (reg_get(r, url, manifest_headers, AK_REGISTRY_MANIFEST_MAX, &resp, NULL, err) < 0) {
		if (*err && (*err)->kind == AK_ERR_LIMIT)
			ak_error_prefix(err, "manifest '%s' is larger than %u bytes", r->name,
					AK_REGISTRY_MANIFEST_MAX);
		return -1;
	}
	int rc = 0;
	char digest[AK_DIGEST_MAX];
	const char *mt = resp.content_type;
	if (resp.status == 404)
		rc = root_not_found(r, &resp, err);
	else if (resp.status != 200)
		rc = status_error(r, &resp, FETCH_ROOT, r->ref.digest, err);
	else if (ak_media_type_is_schema1(mt))
		rc = ak_doc_schema1_error(r->name, err);
	else if (ak_digest_sha256(resp.body, resp.len, digest) < 0)
		rc = ak_error_set(err, AK_EXIT_ENV, "cannot compute a digest");
	else if (r->ref.digest && strcmp(digest, r->ref.digest) != 0)
		rc = ak_error_set_kind(err, AK_EXIT_ENV, AK_ERR_DIGEST_MISMATCH, 0,
				       "the manifest %s sent for '%s' is not the one the digest "
				       "names (its bytes are %s): the registry, or something "
				       "between, is corrupt",
				       r->ref.host, r->ref.repo, digest);
	else if (resp.docker_content_digest &&
		 ak_str_has_prefix(resp.docker_content_digest, "sha256:") &&
		 strcmp(resp.docker_content_digest, digest) != 0)
		/* not trusted: the bytes are what a runtime verifies */
		out->note = ak_xasprintf("%s's Docker-Content-Digest for '%s' is '%.80s', but "
					 "the manifest's bytes are %s: the bytes' digest is used",
					 r->ref.host, r->name, resp.docker_content_digest, digest);
	if (rc == 0) {
		out->form = AK_ROOT_GRAPH;
		out->name = r->name;
		out->doc = steal_pointer(&resp.body);
		out->len = resp.len;
	}
	ak_http_response_clear(&resp);
	return rc;
}

static int registry_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			      struct ak_stream **out, struct ak_error **err)
{
	struct registry *r = reg_of(src);
	bool doc =
		ak_media_type_is_index(d->media_type) || ak_media_type_is_manifest(d->media_type);
	cleanup_free char *url =
		ak_xasprintf("%s/%s/%s", r->base, doc ? "manifests" : "blobs", d->digest);
	struct ak_http_response resp;
	struct ak_stream *s = NULL;
	char sb[32];
	if (reg_get(r, url, doc ? manifest_headers : NULL, ERROR_BODY_MAX, &resp, &s, err) < 0)
		return ak_error_prefix(err, "'%s': %s '%s'", r->where, doc ? "manifest" : "blob",
				       ak_digest_short(d->digest, sb));
	int rc = 0;
	if (!s)
		rc = status_error(r, &resp, doc ? FETCH_MANIFEST : FETCH_BLOB, d->digest, err);
	ak_http_response_clear(&resp);
	*out = s;
	return rc;
}

static void registry_close(struct ak_source *src)
{
	struct registry *r = reg_of(src);
	ak_http_free(r->http);
	pthread_mutex_destroy(&r->lock);
	auth_clear(&r->auth);
	ak_registry_ref_clear(&r->ref);
	free(r->where);
	free(r->name);
	free(r->base);
	free(r->src.path);
	free(r);
}

static const struct ak_source_ops registry_ops = {
	.kind = "registry",
	.read_root = registry_read_root,
	.open_blob = registry_open_blob,
	.close = registry_close,
};

int ak_source_registry_new(const char *ref, const struct ak_registry_options *opt,
			   struct ak_source **out, struct ak_error **err)
{
	struct registry *r = ak_xcalloc(1, sizeof(*r));
	r->src.ops = &registry_ops;
	r->src.dirfd = -1;
	r->opt = *opt;
	pthread_mutex_init(&r->lock, NULL);
	if (ak_registry_ref_parse(ref, &r->ref, err) < 0) {
		registry_close(&r->src);
		return -1;
	}
	const struct ak_registry_ref *f = &r->ref;
	const char *sep = f->digest ? "@" : ":", *id = f->digest ? f->digest : f->tag;
	struct ak_http_options ho = {
		.tls_verify = opt->tls_verify,
		.connect_timeout_ms = opt->connect_timeout_ms,
		.stall_timeout_ms = opt->stall_timeout_ms,
		.retries = opt->retries,
		.verbose = opt->verbose,
	};
	r->where = ak_xasprintf("%s/%s", f->host, f->repo);
	r->name = ak_xasprintf("%s%s%s", f->repo, sep, id);
	r->base = ak_xasprintf("https://%s/v2/%s", f->host, f->repo);
	r->src.path = ak_xasprintf("docker://%s/%s%s%s", f->host, f->repo, sep, id);
	if (ak_http_new(&ho, &r->http, err) < 0) {
		registry_close(&r->src);
		return -1;
	}
	*out = &r->src;
	return 0;
}
