/* Registry credentials without the network: WWW-Authenticate challenges (RFC 7235), the
 * auth files docker and containers/image read, and docker-credential-NAME helpers. No
 * message made here holds a secret: not a password, an auth field, a token, nor a
 * helper's output (which may hold them). */
#include "image/registry.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/escape.h"
#include "common/util.h"
#include "common/xalloc.h"

#define WWW_AUTH_MAX 8192	/* a header value */
#define WWW_AUTH_VALUE_MAX 4096 /* one auth-param's value */
#define AUTH_FILE_MAX (1u << 20)
#define HELPER_OUTPUT_MAX (256u << 10)
#define HELPER_TIMEOUT_MS 10000
#define HELPER_NAME_MAX 64
#define HUB_HOST "index.docker.io"

#define cleanup_json __attribute__((cleanup(json_decrefp)))

extern char **environ;

/* --- WWW-Authenticate --- */

static bool is_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token68_char(unsigned char c)
{
	return isalnum(c) || (c && strchr("-._~+/", c));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static size_t token_len(const char *p)
{
	size_t n = 0;
	while (is_tchar((unsigned char)p[n]))
		n++;
	return n;
}

struct wa_parse {
	const char *start;
	struct ak_error **err;
};

static int wa_error(struct wa_parse *wp, const char *p, const char *what)
{
	/* a position, never the text: the header may be hostile, huge, or hold a token */
	return ak_error_set(wp->err, AK_EXIT_ENV,
			    "malformed WWW-Authenticate header: %s at byte %zu", what,
			    (size_t)(p - wp->start));
}

/* An auth-param's value at *pp (token, or quoted-string with quoted-pairs undone), copied
 * into val (WWW_AUTH_VALUE_MAX + 1 bytes) when val is not NULL. */
static int wa_value(struct wa_parse *wp, const char **pp, char *val)
{
	const char *p = *pp, *open = p;
	size_t n = 0;
	if (*p == '"') {
		for (p++;; p++) {
			unsigned char c = (unsigned char)*p;
			if (c == '"')
				break;
			if (c == '\\') {
				c = (unsigned char)*++p;
				if (c == '\0')
					return wa_error(wp, open, "unterminated quoted string");
			}
			if (c == '\0')
				return wa_error(wp, open, "unterminated quoted string");
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return wa_error(wp, p, "control character in a quoted string");
			if (n == WWW_AUTH_VALUE_MAX)
				return wa_error(wp, p, "a value longer than 4096 bytes");
			if (val)
				val[n] = (char)c;
			n++;
		}
		p++;
	} else {
		/* RFC 7235 says token; registries send unquoted URLs too */
		for (; *p > 0x20 && *p != 0x7f && *p != ',' && *p != '"'; p++, n++) {
			if (n == WWW_AUTH_VALUE_MAX)
				return wa_error(wp, p, "a value longer than 4096 bytes");
			if (val)
				val[n] = *p;
		}
		if (n == 0)
			return wa_error(wp, p, "a missing value");
	}
	if (val)
		val[n] = '\0';
	*pp = p;
	return 0;
}

/* The params archkit keeps; the rest are checked and dropped. */
static char **wa_slot(struct ak_www_auth *a, const char *key, size_t len)
{
	static const struct {
		const char *name;
		size_t off;
	} keep[] = {
		{"realm", offsetof(struct ak_www_auth, realm)},
		{"service", offsetof(struct ak_www_auth, service)},
		{"scope", offsetof(struct ak_www_auth, scope)},
		{"error", offsetof(struct ak_www_auth, error)},
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (strlen(keep[i].name) == len && strncasecmp(key, keep[i].name, len) == 0)
			return (char **)((char *)a + keep[i].off);
	return NULL;
}

/* auth-param = token BWS "=" BWS ( token / quoted-string ), p at its token. */
static int wa_param(struct wa_parse *wp, const char **pp, struct ak_www_auth *cur)
{
	const char *key = *pp;
	size_t klen = token_len(key);
	const char *p = skip_ws(skip_ws(key + klen) + 1); /* past '=' */
	char **slot = wa_slot(cur, key, klen);
	char val[WWW_AUTH_VALUE_MAX + 1];
	if (wa_value(wp, &p, slot ? val : NULL) < 0)
		return -1;
	if (slot && *slot)
		return wa_error(wp, key, "a parameter given twice");
	if (slot)
		*slot = ak_xstrdup(val);
	*pp = p;
	return 0;
}

/* Is there an auth-param (not a token68 such as "abc==") at p? */
static bool wa_param_at(const char *p)
{
	size_t n = token_len(p);
	if (n == 0)
		return false;
	p = skip_ws(p + n);
	if (*p != '=')
		return false;
	p = skip_ws(p + 1);
	return *p && *p != ',' && *p != '=';
}

static bool scheme_is(const struct ak_www_auth *a, const char *name)
{
	return a->scheme && strcasecmp(a->scheme, name) == 0;
}

struct wa_pick {
	struct ak_www_auth bearer, basic;
	bool realmless_bearer;
	char first[33]; /* the first scheme, for the error when none fits */
};

static void wa_finish(struct wa_pick *pick, struct ak_www_auth *cur)
{
	if (!cur->scheme)
		return;
	if (!pick->first[0])
		snprintf(pick->first, sizeof(pick->first), "%s", cur->scheme);
	if (scheme_is(cur, "Bearer") && !pick->bearer.scheme && cur->realm && *cur->realm) {
		pick->bearer = *cur;
	} else if (scheme_is(cur, "Basic") && !pick->basic.scheme) {
		pick->basic = *cur;
	} else {
		if (scheme_is(cur, "Bearer"))
			pick->realmless_bearer = true;
		ak_www_auth_clear(cur);
	}
	*cur = (struct ak_www_auth){0};
}

static int wa_parse_list(struct wa_parse *wp, struct wa_pick *pick)
{
	struct ak_www_auth cur = {0};
	const char *p = wp->start;
	int rc = 0;
	for (;;) {
		/* the list rule allows empty elements and spaces around commas */
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (!is_tchar((unsigned char)*p)) {
			rc = wa_error(wp, p, "unexpected character");
			break;
		}
		if (wa_param_at(p)) {
			/* a further param of the current challenge */
			if (!cur.scheme) {
				rc = wa_error(wp, p, "a parameter before any scheme");
				break;
			}
			if ((rc = wa_param(wp, &p, &cur)) < 0)
				break;
		} else {
			wa_finish(pick, &cur);
			size_t n = token_len(p);
			cur.scheme = ak_xstrndup(p, n);
			const char *q = skip_ws(p + n);
			if (q == p + n || !*q || *q == ',') {
				p = q;
			} else if (wa_param_at(q)) {
				p = q;
				if ((rc = wa_param(wp, &p, &cur)) < 0)
					break;
			} else {
				/* token68 (Basic's or Negotiate's blob): nothing archkit keeps */
				while (is_token68_char((unsigned char)*q))
					q++;
				while (*q == '=')
					q++;
				p = q;
			}
		}
		p = skip_ws(p);
		if (*p && *p != ',') {
			rc = wa_error(wp, p, "expected ','");
			break;
		}
	}
	if (rc < 0)
		ak_www_auth_clear(&cur);
	else
		wa_finish(pick, &cur);
	return rc;
}

int ak_www_auth_parse(const char *value, struct ak_www_auth *out, struct ak_error **err)
{
	*out = (struct ak_www_auth){0};
	size_t len = strnlen(value, WWW_AUTH_MAX + 1);
	if (len > WWW_AUTH_MAX)
		return ak_error_set(err, AK_EXIT_ENV,
				    "WWW-Authenticate header is longer than %d bytes",
				    WWW_AUTH_MAX);
	struct wa_parse wp = {.start = value, .err = err};
	struct wa_pick pick = {0};
	int rc = wa_parse_list(&wp, &pick);
	if (rc == 0 && pick.bearer.scheme) {
		*out = pick.bearer;
		pick.bearer = (struct ak_www_auth){0};
	} else if (rc == 0 && pick.basic.scheme) {
		*out = pick.basic;
		pick.basic = (struct ak_www_auth){0};
	} else if (rc == 0 && pick.realmless_bearer) {
		rc = ak_error_set(err, AK_EXIT_ENV,
				  "WWW-Authenticate: Bearer challenge without a realm");
	} else if (rc == 0 && pick.first[0]) {
		rc = ak_error_set(err, AK_EXIT_ENV,
				  "WWW-Authenticate offers neither Bearer nor Basic (first: '%s')",
				  pick.first);
	} else if (rc == 0) {
		rc = ak_error_set(err, AK_EXIT_ENV, "WWW-Authenticate header is empty");
	}
	ak_www_auth_clear(&pick.bearer);
	ak_www_auth_clear(&pick.basic);
	return rc;
}

void ak_www_auth_clear(struct ak_www_auth *a)
{
	if (!a)
		return;
	free(a->scheme);
	free(a->realm);
	free(a->service);
	free(a->scope);
	free(a->error);
	*a = (struct ak_www_auth){0};
}

/* --- credentials --- */

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void ak_creds_clear(struct ak_creds *c)
{
	if (!c)
		return;
	free_secret(c->user);
	free_secret(c->pass);
	free_secret(c->identity_token);
	free(c->source);
	*c = (struct ak_creds){0};
}

/* "USER:PASS" (the password may hold ':' and may be empty; the user may not). */
static int creds_from_pair(const char *s, const char *source, int status, struct ak_creds *out,
			   struct ak_error **err)
{
	const char *colon = strchr(s, ':');
	if (!colon)
		return ak_error_set(err, status, "%s: expected USER:PASS", source);
	if (colon == s)
		return ak_error_set(err, status, "%s: the user name before ':' is empty", source);
	out->user = ak_xstrndup(s, (size_t)(colon - s));
	out->pass = ak_xstrdup(colon + 1);
	out->source = ak_xstrdup(source);
	return 1;
}

/* --- auth files --- */

/* The host an auth file key names, as docker's ConvertToHostname reads it:
 * "https://HOST/v1/" and "HOST/v2/" name HOST; "HOST/ns" (a containers/image namespace
 * key) names none. Docker Hub's names are one. Returns the length, or 0. */
static size_t key_host(const char *key, const char **host)
{
	const char *h = key;
	bool url = false;
	if (ak_str_has_prefix(h, "https://") || ak_str_has_prefix(h, "http://")) {
		h = strstr(h, "://") + 3;
		url = true;
	}
	size_t n = strcspn(h, "/");
	if (!url && h[n]) {
		const char *rest = h + n + 1;
		if (*rest && strcmp(rest, "v1") && strcmp(rest, "v1/") && strcmp(rest, "v2") &&
		    strcmp(rest, "v2/"))
			return 0;
	}
	if ((n == 9 && strncasecmp(h, "docker.io", n) == 0) ||
	    (n == 20 && strncasecmp(h, "registry-1.docker.io", n) == 0)) {
		h = HUB_HOST;
		n = strlen(HUB_HOST);
	}
	*host = h;
	return n;
}

static bool key_matches(const char *key, const char *host, size_t hlen)
{
	const char *kh;
	size_t n = key_host(key, &kh);
	return n && n == hlen && strncasecmp(kh, host, n) == 0;
}

/* The member of obj for auth_key: the exact key, then the forms docker login wrote over
 * the years ("https://HOST", "HOST/v1/", …), then any key that names the same host. */
static json_t *find_key(json_t *obj, const char *auth_key, const char **found)
{
	const char *host;
	size_t hlen = key_host(auth_key, &host);
	json_t *v = json_object_get(obj, auth_key);
	if (v || !hlen) {
		*found = auth_key;
		return v;
	}
	static const char *const forms[][2] = {
		{"", ""},     {"https://", ""},	    {"http://", ""},
		{"", "/v1/"}, {"https://", "/v1/"}, {"https://", "/v2/"}};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char k[512];
		snprintf(k, sizeof(k), "%s%.*s%s", forms[i][0], (int)hlen, host, forms[i][1]);
		void *it = json_object_iter_at(obj, k);
		if (it) {
			*found = json_object_iter_key(it);
			return json_object_iter_value(it);
		}
	}
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		if (key_matches(json_object_iter_key(it), host, hlen)) {
			*found = json_object_iter_key(it);
			return json_object_iter_value(it);
		}
	}
	return NULL;
}

static bool helper_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > HELPER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static int set_helper(json_t *v, const char *what, const char *field, char **helper,
		      struct ak_error **err)
{
	if (!json_is_string(v))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': %s is not a string", what, field);
	const char *name = json_string_value(v);
	if (!helper_name_valid(name))
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': %s is not a credential helper name (letters, digits, "
				    "'.', '_', '-')",
				    what, field);
	*helper = ak_xstrdup(name);
	return 1;
}

/* An optional string member; *out NULL when absent, null or "". */
static int opt_string(json_t *obj, const char *name, const char *what, const char *entry,
		      const char **out, struct ak_error **err)
{
	json_t *v = json_object_get(obj, name);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': auths entry '%.200s': '%s' is not a string", what, entry,
				    name);
	if (*json_string_value(v))
		*out = json_string_value(v);
	return 0;
}

/* auths.KEY.auth: base64 of "USER:PASS", decoded into out. */
static int decode_auth(const char *b64, const char *what, const char *entry, struct ak_creds *out,
		       struct ak_error **err)
{
	size_t len = strlen(b64);
	char *dec = ak_xmalloc(len / 4 * 3 + 1);
	long n = ak_base64_decode(b64, len, (unsigned char *)dec);
	int rc = 0;
	if (n < 0) {
		rc = ak_error_set(err, AK_EXIT_ENV,
				  "'%s': auths entry '%.200s': 'auth' is not base64", what, entry);
		goto out;
	}
	/* docker trims the NULs some tools wrote after the password */
	while (n > 0 && dec[n - 1] == '\0')
		n--;
	if (memchr(dec, '\0', (size_t)n)) {
		rc = ak_error_set(err, AK_EXIT_ENV,
				  "'%s': auths entry '%.200s': 'auth' holds a NUL byte", what,
				  entry);
		goto out;
	}
	dec[n] = '\0';
	char *colon = strchr(dec, ':');
	if (!colon || colon == dec) {
		rc = ak_error_set(err, AK_EXIT_ENV,
				  "'%s': auths entry '%.200s': 'auth' is not base64 of USER:PASS%s",
				  what, entry, colon ? " (the user is empty)" : " (no ':')");
		goto out;
	}
	out->user = ak_xstrndup(dec, (size_t)(colon - dec));
	out->pass = ak_xstrdup(colon + 1);
out:
	explicit_bzero(dec, len / 4 * 3 + 1);
	free(dec);
	return rc;
}

static int auths_entry(json_t *e, const char *what, const char *key, struct ak_creds *out,
		       struct ak_error **err)
{
	cleanup_free char *entry = ak_escape_dup(key, AK_ESCAPE_TEXT);
	if (!entry)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	if (!json_is_object(e))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': auths entry '%.200s' is not an object",
				    what, entry);
	const char *auth, *token;
	if (opt_string(e, "auth", what, entry, &auth, err) < 0 ||
	    opt_string(e, "identitytoken", what, entry, &token, err) < 0)
		return -1;
	/* "{}": what docker login leaves next to a credential helper */
	if (!auth && !token)
		return 0;
	if (auth && decode_auth(auth, what, entry, out, err) < 0)
		return -1;
	out->identity_token = ak_xstrdup(token);
	out->source = ak_xstrdup(what);
	return 1;
}

/* jansson's message without its " near '…'": the text near could be a secret. */
static void json_error_text(const json_error_t *je, char *out, size_t size)
{
	const char *near = strstr(je->text, " near ");
	int n = near ? (int)(near - je->text) : (int)strlen(je->text);
	snprintf(out, size, "%.*s", n, je->text);
}

int ak_auth_file_parse(const char *buf, size_t len, const char *what, const char *auth_key,
		       struct ak_creds *out, char **helper, struct ak_error **err)
{
	*out = (struct ak_creds){0};
	*helper = NULL;
	json_error_t je;
	cleanup_json json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		char why[160];
		json_error_text(&je, why, sizeof(why));
		return ak_error_set(err, AK_EXIT_ENV, "'%s': invalid JSON: %s (line %d, column %d)",
				    what, why, je.line, je.column);
	}
	if (!json_is_object(root))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': not a JSON object", what);
	json_t *helpers = json_object_get(root, "credHelpers");
	json_t *store = json_object_get(root, "credsStore");
	json_t *auths = json_object_get(root, "auths");
	if (helpers && !json_is_null(helpers) && !json_is_object(helpers))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': credHelpers is not an object", what);
	if (auths && !json_is_null(auths) && !json_is_object(auths))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': auths is not an object", what);

	/* docker's order (configfile.getConfiguredCredentialStore): the host's credHelpers
	 * entry, else credsStore, and auths only when neither is set */
	const char *key;
	json_t *v = json_is_object(helpers) ? find_key(helpers, auth_key, &key) : NULL;
	if (v)
		return set_helper(v, what, "credHelpers entry", helper, err);
	if (store && !json_is_null(store) && !(json_is_string(store) && !*json_string_value(store)))
		return set_helper(store, what, "credsStore", helper, err);
	v = json_is_object(auths) ? find_key(auths, auth_key, &key) : NULL;
	if (!v)
		return 0;
	int rc = auths_entry(v, what, key, out, err);
	if (rc <= 0)
		ak_creds_clear(out);
	return rc;
}

/* --- credential helpers --- */

/* Wait for pid until deadline (then kill it, by its pid, and reap it); 0 with *status, or
 * -1 on timeout. */
static int reap(pid_t pid, int64_t deadline, int *status)
{
	*status = 0;
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return 0; /* reaped by someone else: nothing left to wait for */
		if (ak_monotonic_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
	}
}

/* prog's path in $PATH, as execvp would pick it, but telling "not there" from "not
 * executable" (execvp says EACCES for both when a $PATH folder is unreadable). */
static char *find_in_path(const char *prog, struct ak_error **err)
{
	const char *path = getenv("PATH");
	bool seen = false;
	for (const char *d = path && *path ? path : "/usr/bin:/bin"; *d;) {
		size_t n = strcspn(d, ":");
		if (n > 0) {
			char *cand = ak_xasprintf("%.*s/%s", (int)n, d, prog);
			struct stat st;
			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
				if (access(cand, X_OK) == 0)
					return cand;
				seen = true;
			}
			free(cand);
		}
		d += n + (d[n] == ':');
	}
	if (seen)
		ak_error_set(err, AK_EXIT_ENV, "credential helper '%s' in $PATH is not executable",
			     prog);
	else
		ak_error_set(err, AK_EXIT_ENV, "credential helper '%s' is not in $PATH", prog);
	return NULL;
}

/* Run prog with argv and stdin, collect at most HELPER_OUTPUT_MAX bytes of its stdout
 * (stderr discarded: it could hold what stdout holds) within HELPER_TIMEOUT_MS.
 * 0 with *out, *len and *status, or -1. */
static int run_helper(const char *prog, const char *input, char **out, size_t *len, int *status,
		      struct ak_error **err)
{
	cleanup_fd int in_r = -1, in_w = -1, out_r = -1, out_w = -1;
	int fds[2], rc;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot run '%s'", prog);
	in_r = fds[0], in_w = fds[1];
	/* the server URL fits the pipe: written before the helper starts, so no SIGPIPE
	 * when it exits without reading */
	if (strlen(input) > 4096)
		return ak_error_set(err, AK_EXIT_ENV, "cannot run '%s': server URL too long", prog);
	if ((rc = ak_write_all(in_w, input, strlen(input))) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, -rc, "cannot run '%s'", prog);
	close(steal_fd(&in_w));
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot run '%s'", prog);
	out_r = fds[0], out_w = fds[1];
	cleanup_free char *exe = find_in_path(prog, err);
	if (!exe)
		return -1;

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in_r, 0);
	posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&attr);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	char *argv[] = {(char *)prog, (char *)"get", NULL};
	pid_t pid;
	rc = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		return ak_error_errno(err, AK_EXIT_ENV, rc, "cannot run credential helper '%s'",
				      prog);
	close(steal_fd(&in_r));
	close(steal_fd(&out_w));

	int64_t deadline = ak_monotonic_ms() + HELPER_TIMEOUT_MS;
	char *buf = ak_xmalloc(HELPER_OUTPUT_MAX + 1);
	size_t n = 0;
	const char *failed = NULL;
	int read_errno = 0;
	for (;;) {
		int64_t left = deadline - ak_monotonic_ms();
		struct pollfd pfd = {.fd = out_r, .events = POLLIN};
		int p = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (p < 0 && errno == EINTR)
			continue;
		if (p == 0) {
			failed = "timeout";
			break;
		}
		ssize_t r = p < 0 ? -1 : read(out_r, buf + n, HELPER_OUTPUT_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			failed = "read";
			read_errno = errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > HELPER_OUTPUT_MAX) {
			failed = "size";
			break;
		}
	}
	if (failed)
		deadline = 0; /* kill it now */
	if (reap(pid, deadline, status) < 0 && !failed)
		failed = "timeout";
	if (failed) {
		explicit_bzero(buf, n);
		free(buf);
		if (!strcmp(failed, "timeout"))
			return ak_error_set(err, AK_EXIT_ENV,
					    "credential helper '%s' did not answer within %d s",
					    prog, HELPER_TIMEOUT_MS / 1000);
		if (!strcmp(failed, "size"))
			return ak_error_set(err, AK_EXIT_ENV,
					    "credential helper '%s' wrote more than %u bytes", prog,
					    HELPER_OUTPUT_MAX);
		return ak_error_errno(err, AK_EXIT_ENV, read_errno,
				      "cannot read from credential helper '%s'", prog);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* docker-credential-NAME get, as docker's client.Get runs it: 1 with *out, 0 when the
 * helper has none for server, -1 when it fails. */
static int creds_from_helper(const char *name, const char *server, struct ak_creds *out,
			     struct ak_error **err)
{
	char prog[32 + HELPER_NAME_MAX];
	snprintf(prog, sizeof(prog), "docker-credential-%s", name);
	char *buf = NULL;
	size_t len = 0;
	int status;
	if (run_helper(prog, server, &buf, &len, &status, err) < 0)
		return -1;
	int rc = 0;
	json_t *j = NULL;
	if (WIFSIGNALED(status)) {
		rc = ak_error_set(err, AK_EXIT_ENV,
				  "credential helper '%s' was killed by signal %d", prog,
				  WTERMSIG(status));
	} else if (WEXITSTATUS(status) != 0) {
		/* docker-credential-helpers' errCredentialsNotFound, on stdout */
		if (!strstr(buf, "credentials not found"))
			rc = ak_error_set(err, AK_EXIT_ENV,
					  "credential helper '%s' failed (exit status %d)", prog,
					  WEXITSTATUS(status));
	} else if (!(j = json_loadb(buf, len, 0, NULL)) || !json_is_object(j)) {
		rc = ak_error_set(err, AK_EXIT_ENV, "credential helper '%s' wrote no JSON object",
				  prog);
	} else {
		json_t *u = json_object_get(j, "Username"), *s = json_object_get(j, "Secret");
		if (!json_is_string(u) || !json_is_string(s)) {
			rc = ak_error_set(err, AK_EXIT_ENV,
					  "credential helper '%s' gave no Username and Secret",
					  prog);
		} else if (*json_string_value(s)) {
			/* "<token>": Secret is an identity token (docker's tokenUsername) */
			if (!strcmp(json_string_value(u), "<token>")) {
				out->identity_token = ak_xstrdup(json_string_value(s));
			} else {
				out->user = ak_xstrdup(json_string_value(u));
				out->pass = ak_xstrdup(json_string_value(s));
			}
			out->source = ak_xstrdup(prog);
			rc = 1;
		}
	}
	json_decref(j);
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

/* --- the lookup --- */

struct looked {
	char *list; /* "FILE, FILE (docker-credential-NAME)" */
};

static void looked_add(struct looked *l, const char *path, const char *helper)
{
	char *s = ak_xasprintf("%s%s%s%s%s%s", l->list ? l->list : "", l->list ? ", " : "", path,
			       helper ? " (docker-credential-" : "", helper ? helper : "",
			       helper ? ")" : "");
	free(l->list);
	l->list = s;
}

/* One auth file: 1 with *out, 0 when absent (unless required) or without an entry. */
static int creds_from_file(const char *path, bool required, const char *auth_key,
			   struct ak_creds *out, struct looked *l, struct ak_error **err)
{
	char *buf;
	size_t len;
	struct ak_error *e = NULL;
	if (ak_read_regular_file(path, AUTH_FILE_MAX, &buf, &len, &e) < 0) {
		if (!e)
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
		if (!required && (e->errnum == ENOENT || e->errnum == ENOTDIR)) {
			ak_error_free(e);
			return 0;
		}
		if (err && !*err)
			*err = e;
		else
			ak_error_free(e);
		return -1;
	}
	cleanup_free char *helper = NULL;
	int rc = ak_auth_file_parse(buf, len, path, auth_key, out, &helper, err);
	explicit_bzero(buf, len);
	free(buf);
	looked_add(l, path, rc == 1 ? helper : NULL);
	if (rc == 1 && helper) {
		rc = creds_from_helper(helper, auth_key, out, err);
		if (rc < 0)
			ak_error_prefix(err, "'%s'", path);
	}
	return rc;
}

static char *home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return ak_xstrdup(h);
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_dir)
		return ak_xstrdup(res->pw_dir);
	return NULL;
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int ak_creds_lookup(const char *auth_key, const struct ak_registry_options *opt,
		    struct ak_creds *out, char **looked_in, struct ak_error **err)
{
	*out = (struct ak_creds){0};
	if (looked_in)
		*looked_in = NULL;
	if (opt && opt->creds)
		return creds_from_pair(opt->creds, "--creds", AK_EXIT_USAGE, out, err);
	if (opt && opt->creds_env) {
		cleanup_free char *source = ak_xasprintf("$%s", opt->creds_env);
		const char *v = env_nonempty(opt->creds_env);
		if (!v)
			return ak_error_set(err, AK_EXIT_ENV, "--creds-env: %s is not set or empty",
					    source);
		if (strchr(v, ':'))
			return creds_from_pair(v, source, AK_EXIT_ENV, out, err);
		out->user = ak_xstrdup("archkit");
		out->pass = ak_xstrdup(v);
		out->source = steal_pointer(&source);
		return 1;
	}

	struct looked l = {0};
	int rc = 0;
	if (opt && opt->creds_file) {
		/* a file named on the command line is the only one, as skopeo's --authfile */
		rc = creds_from_file(opt->creds_file, true, auth_key, out, &l, err);
		if (rc < 0)
			ak_error_prefix(err, "--creds-file");
	} else {
		const char *v;
		cleanup_free char *home = NULL;
		char *paths[3] = {0};
		size_t np = 0;
		if ((v = env_nonempty("REGISTRY_AUTH_FILE")))
			paths[np++] = ak_xstrdup(v);
		if ((v = env_nonempty("XDG_RUNTIME_DIR")))
			paths[np++] = ak_xasprintf("%s/containers/auth.json", v);
		if ((v = env_nonempty("DOCKER_CONFIG")))
			paths[np++] = ak_xasprintf("%s/config.json", v);
		else if ((home = home_dir()))
			paths[np++] = ak_xasprintf("%s/.docker/config.json", home);
		for (size_t i = 0; i < np && rc == 0; i++)
			rc = creds_from_file(paths[i], false, auth_key, out, &l, err);
		for (size_t i = 0; i < np; i++)
			free(paths[i]);
	}
	if (rc < 0) {
		ak_creds_clear(out);
		free(l.list);
		return -1;
	}
	if (looked_in)
		*looked_in = l.list;
	else
		free(l.list);
	return rc;
}
