/* image/registry-auth.c: WWW-Authenticate challenges, auth files as docker and
 * containers/image read them, the lookup order over the environment, and credential
 * helpers run for real (shell scripts on a private $PATH). Every error any test sees
 * is checked for the secrets the test handed in. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/escape.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "image/registry.h"
#include "tests/testlib.h"

/* --- secrets and errors --- */

static const char *secrets[64];
static size_t nsecrets;

/* Remember s as a secret that no message may hold; returns s. */
static const char *secret(const char *s)
{
	ck_assert_uint_lt(nsecrets, sizeof(secrets) / sizeof(secrets[0]));
	secrets[nsecrets++] = s;
	return s;
}

/* base64 of s, remembered as a secret too (freed at exit of the test's process). */
static const char *secret_b64(const char *s)
{
	return secret(ak_base64(s, strlen(s)));
}

/* rc is -1 and err is one line, with status, holding want and no secret. */
static void expect_err(int rc, struct ak_error **err, int status, const char *want)
{
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(*err);
	const char *msg = (*err)->msg;
	ck_assert_msg(strstr(msg, want), "error '%s' lacks '%s'", msg, want);
	ck_assert_msg(!strchr(msg, '\n'), "error '%s' is not one line", msg);
	ck_assert_int_eq((*err)->status, status);
	for (size_t i = 0; i < nsecrets; i++)
		ck_assert_msg(!strstr(msg, secrets[i]), "error '%s' holds a secret", msg);
	ak_error_clear(err);
}

/* --- WWW-Authenticate --- */

static void parse_ok(const char *hdr, struct ak_www_auth *a)
{
	struct ak_error *err = NULL;
	int rc = ak_www_auth_parse(hdr, a, &err);
	ck_assert_msg(rc == 0, "'%s': %s", hdr, err ? err->msg : "?");
	ck_assert_ptr_null(err);
}

static void parse_bad(const char *hdr, const char *want)
{
	struct ak_www_auth a;
	struct ak_error *err = NULL;
	int rc = ak_www_auth_parse(hdr, &a, &err);
	/* the header is never echoed: it may be huge or hostile */
	if (err && strlen(hdr) > 12)
		ck_assert_msg(!strstr(err->msg, hdr), "'%s' echoed", err->msg);
	expect_err(rc, &err, AK_EXIT_ENV, want);
	ck_assert_ptr_null(a.scheme);
	ck_assert_ptr_null(a.realm);
}

START_TEST(test_www_auth_bearer)
{
	struct ak_www_auth a;
	parse_ok("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		 "scope=\"repository:library/alpine:pull\"",
		 &a);
	ck_assert_str_eq(a.scheme, "Bearer");
	ck_assert_str_eq(a.realm, "https://auth.docker.io/token");
	ck_assert_str_eq(a.service, "registry.docker.io");
	ck_assert_str_eq(a.scope, "repository:library/alpine:pull");
	ck_assert_ptr_null(a.error);
	ak_www_auth_clear(&a);
	ak_www_auth_clear(&a); /* twice is fine */

	/* keys and scheme in any case, unquoted values, spaces around '=' and ',' */
	parse_ok("  bearer   REALM = https://ghcr.io/token ,  Service=ghcr.io\t, ", &a);
	ck_assert_str_eq(a.scheme, "bearer");
	ck_assert_str_eq(a.realm, "https://ghcr.io/token");
	ck_assert_str_eq(a.service, "ghcr.io");
	ck_assert_ptr_null(a.scope);
	ak_www_auth_clear(&a);
}
END_TEST

START_TEST(test_www_auth_quoted)
{
	struct ak_www_auth a;
	/* commas and '=' inside quotes, quoted-pairs, several scopes kept whole */
	parse_ok("Bearer realm=\"https://t.example/token?a=1,b=2\", "
		 "scope=\"repository:a:pull repository:b:pull,push\", "
		 "service=\"say \\\"hi\\\" \\\\ bye\", error=\"insufficient_scope\", "
		 "error_description=\"x, y = z\"",
		 &a);
	ck_assert_str_eq(a.realm, "https://t.example/token?a=1,b=2");
	ck_assert_str_eq(a.scope, "repository:a:pull repository:b:pull,push");
	ck_assert_str_eq(a.service, "say \"hi\" \\ bye");
	ck_assert_str_eq(a.error, "insufficient_scope");
	ak_www_auth_clear(&a);
}
END_TEST

START_TEST(test_www_auth_several)
{
	struct ak_www_auth a;
	/* the first Bearer wins over an earlier Basic */
	parse_ok("Basic realm=\"basic\", Bearer realm=\"r1\",service=\"s1\", Bearer realm=\"r2\"",
		 &a);
	ck_assert_str_eq(a.scheme, "Bearer");
	ck_assert_str_eq(a.realm, "r1");
	ck_assert_str_eq(a.service, "s1");
	ak_www_auth_clear(&a);
	/* else the first Basic; other schemes and their token68 are stepped over */
	parse_ok("Negotiate YIIB==, Digest realm=\"d\", nonce=\"n,n\", Basic realm=\"ecr\", "
		 "Basic realm=\"second\"",
		 &a);
	ck_assert_str_eq(a.scheme, "Basic");
	ck_assert_str_eq(a.realm, "ecr");
	ak_www_auth_clear(&a);
	/* Basic needs no realm; a Bearer without one is passed over for it */
	parse_ok("Basic", &a);
	ck_assert_str_eq(a.scheme, "Basic");
	ck_assert_ptr_null(a.realm);
	ak_www_auth_clear(&a);
	parse_ok("Bearer service=\"s\", Basic realm=\"b\"", &a);
	ck_assert_str_eq(a.scheme, "Basic");
	ck_assert_str_eq(a.realm, "b");
	ak_www_auth_clear(&a);
}
END_TEST

START_TEST(test_www_auth_missing_realm)
{
	parse_bad("Bearer service=\"registry\",scope=\"repository:a:pull\"", "without a realm");
	parse_bad("Bearer realm=\"\"", "without a realm");
	parse_bad("Bearer", "without a realm");
	parse_bad("Digest realm=\"d\", nonce=\"x\"", "neither Bearer nor Basic (first: 'Digest')");
	parse_bad("", "empty");
	parse_bad(" , ,", "empty");
}
END_TEST

START_TEST(test_www_auth_garbage)
{
	parse_bad("Bearer realm=\"https://unterminated", "unterminated quoted string at byte 13");
	parse_bad("Bearer realm=\"ends in a backslash\\", "unterminated quoted string");
	parse_bad("Bearer realm=a b", "expected ',' at byte 15");
	/* "realm=" alone reads as a token68 */
	parse_bad("Bearer realm=", "without a realm");
	parse_bad("Bearer realm=,service=x", "without a realm");
	parse_bad("Bearer realm=\x01", "missing value at byte 13");
	parse_bad("Bearer realm=\"a\x01z\"", "control character");
	parse_bad("Bearer realm=\"a\"x", "expected ','");
	parse_bad("Bearer realm=\"a\", realm=\"b\"", "given twice");
	parse_bad("Bearer REALM=\"a\", Realm=\"b\"", "given twice");
	parse_bad("realm=\"https://r\", Bearer", "before any scheme");
	parse_bad("\"Bearer\" realm=x", "unexpected character at byte 0");
	parse_bad("Bearer realm=\"r\", @", "unexpected character");
	parse_bad("Bearer realm=\"r\" ; service=x", "expected ','");
	parse_bad("Bearer \x7f", "expected ','");
	parse_bad("Bearer realm=\"\xff\xfe\" , \xc3\xa9", "unexpected character");
	/* a token inside a broken header is not repeated */
	parse_bad(secret("Bearer realm=\"https://r\",token=\"S3CR3T-header-token"), "unterminated");
}
END_TEST

START_TEST(test_www_auth_bounds)
{
	/* a header over 8 KiB, refused before it is parsed */
	size_t n = 8192 + 1;
	cleanup_free char *big = malloc(n + 1);
	memcpy(big, "Bearer realm=\"", 14);
	memset(big + 14, 'a', n - 15);
	big[n - 1] = '"';
	big[n] = '\0';
	parse_bad(big, "longer than 8192 bytes");
	/* exactly 8 KiB is fine, but one value over 4 KiB is not */
	big[8191] = '\0';
	big[8190] = '"';
	parse_bad(big, "a value longer than 4096 bytes");
	/* 4096 bytes is the most a value may have */
	memcpy(big + 14, "x\"", 2); /* first value: "x" */
	big[16] = ',';
	memcpy(big + 17, "scope=\"", 7);
	memset(big + 24, 's', 4096);
	big[24 + 4096] = '"';
	big[24 + 4097] = '\0';
	struct ak_www_auth a;
	parse_ok(big, &a);
	ck_assert_str_eq(a.realm, "x");
	ck_assert_uint_eq(strlen(a.scope), 4096);
	ak_www_auth_clear(&a);
	/* a huge header made of tiny elements also stops at the limit */
	cleanup_free char *commas = malloc(1 << 20);
	memset(commas, ',', (1 << 20) - 1);
	commas[(1 << 20) - 1] = '\0';
	parse_bad(commas, "longer than 8192 bytes");
	/* short messages whatever the input */
	struct ak_error *err = NULL;
	ck_assert_int_eq(ak_www_auth_parse(commas, &a, &err), -1);
	ck_assert_uint_lt(strlen(err->msg), 100);
	ak_error_clear(&err);
}
END_TEST

START_TEST(test_www_auth_nul)
{
	/* a header with a NUL inside reads as what comes before it */
	static const char cut_quote[] = "Bearer realm=\"r\0\", service=\"s\"";
	parse_bad(cut_quote, "unterminated quoted string");
	static const char cut_after[] = "Bearer realm=\"r\"\0garbage \"";
	struct ak_www_auth a;
	parse_ok(cut_after, &a);
	ck_assert_str_eq(a.realm, "r");
	ck_assert_ptr_null(a.service);
	ak_www_auth_clear(&a);
}
END_TEST

/* --- auth files, parsed from memory --- */

/* Parse json for auth_key: the return, with *out and *helper. */
static int file_parse(const char *json, const char *auth_key, struct ak_creds *out, char **helper,
		      struct ak_error **err)
{
	return ak_auth_file_parse(json, strlen(json), "/cfg/config.json", auth_key, out, helper,
				  err);
}

static void expect_basic(const char *json, const char *auth_key, const char *user, const char *pass)
{
	struct ak_creds c;
	char *helper;
	struct ak_error *err = NULL;
	int rc = file_parse(json, auth_key, &c, &helper, &err);
	ck_assert_msg(rc == 1, "%s for '%s': rc %d %s", json, auth_key, rc, err ? err->msg : "");
	ck_assert_ptr_null(helper);
	ck_assert_str_eq(c.user, user);
	ck_assert_str_eq(c.pass, pass);
	ck_assert_str_eq(c.source, "/cfg/config.json");
	ck_assert_ptr_null(c.identity_token);
	ak_creds_clear(&c);
	ck_assert_ptr_null(c.user);
	ck_assert_ptr_null(c.source);
}

static void expect_none(const char *json, const char *auth_key)
{
	struct ak_creds c;
	char *helper;
	struct ak_error *err = NULL;
	int rc = file_parse(json, auth_key, &c, &helper, &err);
	ck_assert_msg(rc == 0, "%s for '%s': rc %d %s", json, auth_key, rc, err ? err->msg : "");
	ck_assert_ptr_null(helper);
	ck_assert_ptr_null(c.user);
	ck_assert_ptr_null(c.identity_token);
}

static void expect_helper(const char *json, const char *auth_key, const char *want)
{
	struct ak_creds c;
	char *helper;
	struct ak_error *err = NULL;
	int rc = file_parse(json, auth_key, &c, &helper, &err);
	ck_assert_msg(rc == 1, "%s for '%s': rc %d %s", json, auth_key, rc, err ? err->msg : "");
	ck_assert_str_eq(helper, want);
	ck_assert_ptr_null(c.user);
	ck_assert_ptr_null(c.pass);
	free(helper);
}

static void expect_file_err(const char *json, const char *auth_key, const char *want)
{
	struct ak_creds c;
	char *helper;
	struct ak_error *err = NULL;
	int rc = file_parse(json, auth_key, &c, &helper, &err);
	expect_err(rc, &err, AK_EXIT_ENV, want);
	ck_assert_ptr_null(helper);
	ck_assert_ptr_null(c.user);
	ck_assert_ptr_null(c.pass);
}

/* {"auths": {"KEY": {"auth": "B64"}}} */
static char *auths_json(const char *key, const char *b64)
{
	char *s;
	ck_assert_int_ge(asprintf(&s, "{\"auths\": {\"%s\": {\"auth\": \"%s\"}}}", key, b64), 0);
	return s;
}

START_TEST(test_file_key_forms)
{
	const char *b64 = secret_b64("alice:S3CR3T-pw:with:colons");
	const char *host = "reg.example:5000";
	static const char *const forms[] = {
		"reg.example:5000",
		"https://reg.example:5000",
		"http://reg.example:5000",
		"reg.example:5000/v1/",
		"https://reg.example:5000/v1/",
		"https://reg.example:5000/v2/",
		"https://reg.example:5000/",
		"REG.example:5000",
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		cleanup_free char *j = auths_json(forms[i], b64);
		expect_basic(j, host, "alice", "S3CR3T-pw:with:colons");
	}
	/* a namespace key, another port, another host: not this registry */
	static const char *const others[] = {
		"reg.example:5000/team",
		"reg.example",
		"reg.example:5001",
		"https://reg.example",
		"example:5000",
		"xreg.example:5000",
		"",
	};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		cleanup_free char *j = auths_json(others[i], b64);
		expect_none(j, host);
	}
	/* the exact key wins over other forms wherever they stand */
	cleanup_free char *j = NULL;
	ck_assert_int_ge(
		asprintf(&j,
			 "{\"auths\": {\"https://reg.example:5000/v1/\": {\"auth\": \"%s\"},"
			 " \"reg.example:5000\": {\"auth\": \"%s\"}}}",
			 secret_b64("old:S3CR3T-old"), secret_b64("new:S3CR3T-new")),
		0);
	expect_basic(j, host, "new", "S3CR3T-new");
	expect_none("{}", host);
	expect_none("{\"auths\": {}}", host);
	expect_none("{\"auths\": null, \"credHelpers\": null, \"credsStore\": \"\"}", host);
}
END_TEST

START_TEST(test_file_hub)
{
	const char *b64 = secret_b64("hubuser:S3CR3T-hub");
	const char *hub = "https://index.docker.io/v1/";
	static const char *const forms[] = {
		"https://index.docker.io/v1/",
		"index.docker.io",
		"docker.io",
		"registry-1.docker.io",
		"https://registry-1.docker.io/v2/",
		"https://docker.io",
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		cleanup_free char *j = auths_json(forms[i], b64);
		expect_basic(j, hub, "hubuser", "S3CR3T-hub");
	}
	/* Hub's credentials are not another registry's, nor the other way round */
	cleanup_free char *j = auths_json("https://index.docker.io/v1/", b64);
	expect_none(j, "ghcr.io");
	cleanup_free char *g = auths_json("ghcr.io", b64);
	expect_none(g, hub);
}
END_TEST

START_TEST(test_file_helpers)
{
	const char *b64 = secret_b64("u:S3CR3T-file");
	cleanup_free char *j = NULL;
	/* credHelpers for the host wins over auths, in any key form */
	ck_assert_int_ge(asprintf(&j,
				  "{\"auths\": {\"ghcr.io\": {\"auth\": \"%s\"}},"
				  " \"credHelpers\": {\"https://ghcr.io\": \"gh-1.2_x\","
				  " \"quay.io\": \"quay\"}}",
				  b64),
			 0);
	expect_helper(j, "ghcr.io", "gh-1.2_x");
	expect_helper(j, "quay.io", "quay");
	expect_none(j, "docker.example");
	/* credsStore applies to every registry without its own credHelpers entry, auths or
	 * not (docker's getConfiguredCredentialStore) */
	free(j);
	ck_assert_int_ge(asprintf(&j,
				  "{\"auths\": {\"ghcr.io\": {\"auth\": \"%s\"}, \"quay.io\": {}},"
				  " \"credHelpers\": {\"quay.io\": \"quay\"}, \"credsStore\": "
				  "\"desktop\"}",
				  b64),
			 0);
	expect_helper(j, "ghcr.io", "desktop");
	expect_helper(j, "quay.io", "quay");
	expect_helper(j, "other.example", "desktop");
	expect_helper(j, "https://index.docker.io/v1/", "desktop");
	/* names that are not [A-Za-z0-9._-]+ never reach a shell or a path lookup */
	expect_file_err("{\"credsStore\": \"../../bin/sh\"}", "h", "not a credential helper name");
	expect_file_err("{\"credsStore\": \"a b\"}", "h", "credsStore is not a credential helper");
	expect_file_err("{\"credHelpers\": {\"h\": \"x;rm\"}}", "h", "credHelpers entry");
	expect_file_err("{\"credHelpers\": {\"h\": 7}}", "h", "credHelpers entry is not a string");
	expect_file_err("{\"credsStore\": []}", "h", "credsStore is not a string");
	expect_file_err("{\"credHelpers\": []}", "h", "credHelpers is not an object");
	/* a credHelpers entry for another host does not need to be valid */
	expect_none("{\"credHelpers\": {\"other\": 7}}", "h");
}
END_TEST

START_TEST(test_file_identity_token)
{
	struct ak_creds c;
	char *helper;
	struct ak_error *err = NULL;
	secret("S3CR3T-refresh");
	ck_assert_int_eq(file_parse("{\"auths\": {\"myreg.azurecr.io\": {\"auth\": \"\", "
				    "\"identitytoken\": \"S3CR3T-refresh\"}}}",
				    "myreg.azurecr.io", &c, &helper, &err),
			 1);
	ck_assert_ptr_null(c.user);
	ck_assert_ptr_null(c.pass);
	ck_assert_str_eq(c.identity_token, "S3CR3T-refresh");
	ak_creds_clear(&c);
	/* both: user from auth, and the token */
	cleanup_free char *j = NULL;
	ck_assert_int_ge(asprintf(&j,
				  "{\"auths\": {\"h\": {\"auth\": \"%s\", \"identitytoken\": "
				  "\"S3CR3T-refresh\", \"email\": \"x@y\"}}}",
				  secret_b64("00000000-0000-0000-0000-000000000000:")),
			 0);
	ck_assert_int_eq(file_parse(j, "h", &c, &helper, &err), 1);
	ck_assert_str_eq(c.user, "00000000-0000-0000-0000-000000000000");
	ck_assert_str_eq(c.pass, "");
	ck_assert_str_eq(c.identity_token, "S3CR3T-refresh");
	ak_creds_clear(&c);
	/* "{}" and an empty auth: what docker login leaves beside a helper */
	expect_none("{\"auths\": {\"h\": {}}}", "h");
	expect_none("{\"auths\": {\"h\": {\"auth\": \"\", \"identitytoken\": null}}}", "h");
}
END_TEST

START_TEST(test_file_bad_auth)
{
	/* not base64 (the URL alphabet, no padding, a space) */
	const char *bad[] = {"dTpTM0NSM1Q-LXg_", "dTpTM0NSM1Qtcw", "dTpTM0 NSM1Qtcw=="};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_free char *j = auths_json("h", secret(bad[i]));
		expect_file_err(j, "h", "auths entry 'h': 'auth' is not base64");
	}
	cleanup_free char *nocolon = auths_json("h", secret_b64("S3CR3T-no-colon"));
	expect_file_err(nocolon, "h", "'auth' is not base64 of USER:PASS (no ':')");
	cleanup_free char *nouser = auths_json("h", secret_b64(":S3CR3T-no-user"));
	expect_file_err(nouser, "h", "(the user is empty)");
	/* NULs after the password are trimmed as docker does; inside, refused */
	cleanup_free char *b64 = ak_base64("u:S3CR3T\0\0", 10);
	cleanup_free char *trailing = auths_json("h", secret(b64));
	expect_basic(trailing, "h", "u", "S3CR3T");
	cleanup_free char *b64n = ak_base64("u:S3\0CR3T", 9);
	cleanup_free char *inner = auths_json("h", secret(b64n));
	expect_file_err(inner, "h", "holds a NUL byte");
	/* a control character in the key is escaped in the message */
	cleanup_free char *ctl = auths_json("https://h/\\u001b[31m", "!");
	expect_file_err(ctl, "h", "auths entry 'https://h/\\x1b[31m'");
}
END_TEST

START_TEST(test_file_bad_json)
{
	expect_file_err("[]", "h", "'/cfg/config.json': not a JSON object");
	expect_file_err("\"auths\"", "h", "invalid JSON: '[' or '{' expected");
	expect_file_err("42", "h", "invalid JSON: '[' or '{' expected");
	expect_file_err("", "h", "invalid JSON");
	expect_file_err("{\"auths\": []}", "h", "auths is not an object");
	expect_file_err("{\"auths\": {\"h\": \"dTpw\"}}", "h", "auths entry 'h' is not an object");
	expect_file_err("{\"auths\": {\"h\": {\"auth\": 5}}}", "h", "'auth' is not a string");
	expect_file_err("{\"auths\": {\"h\": {\"identitytoken\": {}}}}", "h",
			"'identitytoken' is not a string");
	expect_file_err("{\"auths\": {\"h\": {}, \"h\": {}}}", "h", "duplicate object key");
	expect_file_err("{\"auths\": {\"h\": {\"auth\": \"\\u0000\"}}}", "h", "invalid JSON");
	/* jansson says "near '<the token>'": for a broken file that is the secret */
	char j[256];
	snprintf(j, sizeof(j), "{\"auths\": {\"h\": {\"auth\": \"%s", secret_b64("u:S3CR3T-cut"));
	expect_file_err(j, "h", "invalid JSON: premature end of input (line 1, column");
	snprintf(j, sizeof(j), "{\"auths\": {\"h\": {\"auth\": %s}}}", secret("S3CR3T-bare"));
	expect_file_err(j, "h", "invalid JSON");
	/* bytes after the document */
	expect_file_err("{} {}", "h", "invalid JSON");
	/* an embedded NUL ends nothing: the length given is what is read */
	struct ak_creds c;
	char *helper;
	struct ak_error *err = NULL;
	expect_err(ak_auth_file_parse("{}\0{", 4, "f", "h", &c, &helper, &err), &err, AK_EXIT_ENV,
		   "invalid JSON");
}
END_TEST

/* --- the lookup over files and the environment --- */

static char tmp[64];
static const char *const env_names[] = {
	"HOME", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "PATH", "AK_TEST_TOKEN"};
static char *env_saved[sizeof(env_names) / sizeof(env_names[0])];
static bool env_was_set[sizeof(env_names) / sizeof(env_names[0])];

/* Each test gets a temp dir with home/ as $HOME, no other auth variable, and bin/ in
 * front of $PATH; teardown puts the environment back (CK_FORK=no runs them in one
 * process). */
static void lookup_setup(void)
{
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
		const char *v = getenv(env_names[i]);
		env_was_set[i] = v != NULL;
		env_saved[i] = v ? strdup(v) : NULL;
	}
	const char *t = getenv("TMPDIR");
	snprintf(tmp, sizeof(tmp), "%.40s/ak-auth-XXXXXX", t && *t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/home", tmp);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	setenv("HOME", p, 1);
	snprintf(p, sizeof(p), "%s/bin", tmp);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	cleanup_free char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s:%s", p, env_saved[4] ? env_saved[4] : "/usr/bin:/bin"),
			 0);
	setenv("PATH", path, 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("DOCKER_CONFIG");
	unsetenv("AK_TEST_TOKEN");
}

static void lookup_teardown(void)
{
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
		if (env_was_set[i])
			setenv(env_names[i], env_saved[i], 1);
		else
			unsetenv(env_names[i]);
		free(env_saved[i]);
		env_saved[i] = NULL;
	}
	if (tmp[0])
		ak_rmtree_signal_safe(tmp);
	tmp[0] = '\0';
}

static char *in_tmp(const char *rel)
{
	static char bufs[64][PATH_MAX]; /* enough for one test's paths */
	static int next;
	char *b = bufs[next++ % 64];
	snprintf(b, PATH_MAX, "%s/%s", tmp, rel);
	return b;
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

/* An auth file at rel holding user:pass for key. */
static const char *write_auth(const char *rel, const char *key, const char *user, const char *pass)
{
	cleanup_free char *up = NULL;
	ck_assert_int_ge(asprintf(&up, "%s:%s", user, pass), 0);
	secret(pass);
	cleanup_free char *j = auths_json(key, secret_b64(up));
	const char *path = in_tmp(rel);
	write_str(path, j);
	return path;
}

static void write_helper(const char *name, const char *body)
{
	cleanup_free char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/bin/docker-credential-%s", tmp, name), 0);
	cleanup_free char *text = NULL;
	ck_assert_int_ge(asprintf(&text, "#!/bin/sh\n%s\n", body), 0);
	write_str(path, text);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

static int lookup(const char *auth_key, const struct ak_registry_options *opt, struct ak_creds *c,
		  char **looked, struct ak_error **err)
{
	static const struct ak_registry_options none = {.tls_verify = true};
	return ak_creds_lookup(auth_key, opt ? opt : &none, c, looked, err);
}

static void expect_lookup(const char *auth_key, const struct ak_registry_options *opt,
			  const char *user, const char *pass, const char *source,
			  const char *looked_want)
{
	struct ak_creds c;
	char *looked = (char *)"unset";
	struct ak_error *err = NULL;
	int rc = lookup(auth_key, opt, &c, &looked, &err);
	ck_assert_msg(rc == 1, "lookup '%s': rc %d %s", auth_key, rc, err ? err->msg : "");
	ck_assert_str_eq(c.user, user);
	ck_assert_str_eq(c.pass, pass);
	ck_assert_str_eq(c.source, source);
	if (looked_want)
		ck_assert_str_eq(looked, looked_want);
	else
		ck_assert_ptr_null(looked);
	free(looked);
	ak_creds_clear(&c);
}

static void expect_lookup_none(const char *auth_key, const struct ak_registry_options *opt,
			       const char *looked_want)
{
	struct ak_creds c;
	char *looked = (char *)"unset";
	struct ak_error *err = NULL;
	int rc = lookup(auth_key, opt, &c, &looked, &err);
	ck_assert_msg(rc == 0, "lookup '%s': rc %d %s", auth_key, rc, err ? err->msg : "");
	ck_assert_ptr_null(c.user);
	if (looked_want)
		ck_assert_str_eq(looked, looked_want);
	else
		ck_assert_ptr_null(looked);
	free(looked);
}

static void expect_lookup_err(const char *auth_key, const struct ak_registry_options *opt,
			      int status, const char *want)
{
	struct ak_creds c;
	char *looked = (char *)"unset";
	struct ak_error *err = NULL;
	int rc = lookup(auth_key, opt, &c, &looked, &err);
	expect_err(rc, &err, status, want);
	ck_assert_ptr_null(c.user);
	ck_assert_ptr_null(c.pass);
	ck_assert_ptr_null(looked);
}

START_TEST(test_lookup_flags)
{
	struct ak_registry_options o = {.creds = secret("bob:S3CR3T:pw")};
	write_auth("home/.docker/config.json", "h", "file", "S3CR3T-file");
	/* --creds wins over every file, and splits at the first ':' */
	expect_lookup("h", &o, "bob", "S3CR3T:pw", "--creds", NULL);
	o.creds = secret("bob:");
	expect_lookup("h", &o, "bob", "", "--creds", NULL);
	o.creds = secret("S3CR3T-no-colon");
	expect_lookup_err("h", &o, AK_EXIT_USAGE, "--creds: expected USER:PASS");
	o.creds = secret(":S3CR3T-no-user");
	expect_lookup_err("h", &o, AK_EXIT_USAGE, "--creds: the user name before ':' is empty");
	/* --creds-env VAR: PASS (user "archkit") or USER:PASS */
	o = (struct ak_registry_options){.creds_env = "AK_TEST_TOKEN"};
	expect_lookup_err("h", &o, AK_EXIT_ENV, "--creds-env: $AK_TEST_TOKEN is not set or empty");
	setenv("AK_TEST_TOKEN", "", 1);
	expect_lookup_err("h", &o, AK_EXIT_ENV, "$AK_TEST_TOKEN is not set or empty");
	setenv("AK_TEST_TOKEN", secret("ghp_S3CR3T"), 1);
	expect_lookup("h", &o, "archkit", "ghp_S3CR3T", "$AK_TEST_TOKEN", NULL);
	setenv("AK_TEST_TOKEN", secret("ci:S3CR3T-env"), 1);
	expect_lookup("h", &o, "ci", "S3CR3T-env", "$AK_TEST_TOKEN", NULL);
	setenv("AK_TEST_TOKEN", secret(":S3CR3T-env"), 1);
	expect_lookup_err("h", &o, AK_EXIT_ENV, "$AK_TEST_TOKEN: the user name before ':'");
	/* without the flag the variable is not read */
	setenv("AK_TEST_TOKEN", "ci:S3CR3T-env", 1);
	expect_lookup("h", NULL, "file", "S3CR3T-file", in_tmp("home/.docker/config.json"),
		      in_tmp("home/.docker/config.json"));
}
END_TEST

START_TEST(test_lookup_env_order)
{
	const char *raf = write_auth("raf.json", "h", "raf", "S3CR3T-1");
	const char *xdg = write_auth("xdg/containers/auth.json", "h", "xdg", "S3CR3T-2");
	const char *dc = write_auth("dc/config.json", "h", "dc", "S3CR3T-3");
	const char *home = write_auth("home/.docker/config.json", "h", "home", "S3CR3T-4");
	setenv("REGISTRY_AUTH_FILE", raf, 1);
	setenv("XDG_RUNTIME_DIR", in_tmp("xdg"), 1);
	setenv("DOCKER_CONFIG", in_tmp("dc"), 1);
	expect_lookup("h", NULL, "raf", "S3CR3T-1", raf, raf);
	/* a file without the registry is read and passed by */
	write_auth("raf.json", "other", "raf", "S3CR3T-1");
	cleanup_free char *l2 = NULL;
	ck_assert_int_ge(asprintf(&l2, "%s, %s", raf, xdg), 0);
	expect_lookup("h", NULL, "xdg", "S3CR3T-2", xdg, l2);
	/* a missing file is not listed */
	unlink(xdg);
	cleanup_free char *l3 = NULL;
	ck_assert_int_ge(asprintf(&l3, "%s, %s", raf, dc), 0);
	expect_lookup("h", NULL, "dc", "S3CR3T-3", dc, l3);
	/* $DOCKER_CONFIG replaces ~/.docker */
	write_auth("dc/config.json", "other", "dc", "S3CR3T-3");
	cleanup_free char *l4 = NULL;
	ck_assert_int_ge(asprintf(&l4, "%s, %s", raf, dc), 0);
	expect_lookup_none("h", NULL, l4);
	unsetenv("DOCKER_CONFIG");
	cleanup_free char *l5 = NULL;
	ck_assert_int_ge(asprintf(&l5, "%s, %s", raf, home), 0);
	expect_lookup("h", NULL, "home", "S3CR3T-4", home, l5);
	/* nothing to read at all */
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unlink(home);
	expect_lookup_none("h", NULL, NULL);
	/* $XDG_RUNTIME_DIR/containers not a directory: as missing */
	write_str(in_tmp("xdg2/containers"), "x");
	setenv("XDG_RUNTIME_DIR", in_tmp("xdg2"), 1);
	expect_lookup_none("h", NULL, NULL);
	/* an empty variable counts as unset */
	setenv("REGISTRY_AUTH_FILE", "", 1);
	setenv("DOCKER_CONFIG", "", 1);
	write_auth("home/.docker/config.json", "h", "home", "S3CR3T-4");
	expect_lookup("h", NULL, "home", "S3CR3T-4", home, home);
	/* a broken file in the chain is an error naming it, not a silent skip */
	write_str(in_tmp("raf.json"), "{\"auths\": {\"h\": {\"auth\": \"%%%%\"}}}");
	setenv("REGISTRY_AUTH_FILE", raf, 1);
	expect_lookup_err("h", NULL, AK_EXIT_ENV,
			  "raf.json': auths entry 'h': 'auth' is not base64");
}
END_TEST

START_TEST(test_lookup_creds_file)
{
	const char *cf = write_auth("given.json", "https://reg.example/v1/", "given", "S3CR3T-g");
	write_auth("home/.docker/config.json", "other.example", "home", "S3CR3T-h");
	struct ak_registry_options o = {.creds_file = cf};
	expect_lookup("reg.example", &o, "given", "S3CR3T-g", cf, cf);
	/* the named file is the only one read, as skopeo's --authfile */
	expect_lookup_none("other.example", &o, cf);
	expect_lookup("other.example", NULL, "home", "S3CR3T-h", in_tmp("home/.docker/config.json"),
		      in_tmp("home/.docker/config.json"));
	/* a named file must exist */
	o.creds_file = in_tmp("missing.json");
	expect_lookup_err("reg.example", &o, AK_EXIT_ENV, "--creds-file: cannot open '");
	expect_lookup_err("reg.example", &o, AK_EXIT_ENV,
			  "missing.json': No such file or directory");
	/* --creds and --creds-env come first */
	o = (struct ak_registry_options){.creds_file = cf, .creds = "x:S3CR3T-x"};
	expect_lookup("reg.example", &o, "x", "S3CR3T-x", "--creds", NULL);
	setenv("AK_TEST_TOKEN", secret("S3CR3T-t"), 1);
	o = (struct ak_registry_options){.creds_file = cf, .creds_env = "AK_TEST_TOKEN"};
	expect_lookup("reg.example", &o, "archkit", "S3CR3T-t", "$AK_TEST_TOKEN", NULL);
	/* a directory */
	o = (struct ak_registry_options){.creds_file = tmp};
	expect_lookup_err("reg.example", &o, AK_EXIT_ENV, "is not a regular file (a directory)");
}
END_TEST

START_TEST(test_lookup_fifo_and_size)
{
	/* a FIFO nobody writes to: refused at once, not waited on */
	ck_assert_int_eq(mkfifo(in_tmp("fifo.json"), 0600), 0);
	struct ak_registry_options o = {.creds_file = in_tmp("fifo.json")};
	int64_t t0 = ak_monotonic_ms();
	expect_lookup_err("h", &o, AK_EXIT_ENV, "fifo.json' is not a regular file (a FIFO)");
	setenv("REGISTRY_AUTH_FILE", in_tmp("fifo.json"), 1);
	expect_lookup_err("h", NULL, AK_EXIT_ENV, "is not a regular file (a FIFO)");
	ck_assert_int_lt(ak_monotonic_ms() - t0, 2000);
	/* over 1 MiB (sparse), and exactly 1 MiB of valid JSON */
	unsetenv("REGISTRY_AUTH_FILE");
	const char *big = in_tmp("big.json");
	cleanup_fd int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (1 << 20) + 1), 0);
	o.creds_file = big;
	expect_lookup_err("h", &o, AK_EXIT_ENV, "big.json' is larger than 1048576 bytes");
	cleanup_free char *up = ak_base64("big:S3CR3T-big", 14);
	secret(up);
	cleanup_free char *doc = malloc(1 << 20);
	int head = snprintf(doc, 1 << 20, "{\"auths\": {\"h\": {\"auth\": \"%s\"}}}", up);
	memset(doc + head, ' ', (1 << 20) - head);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(pwrite(fd, doc, 1 << 20, 0), 1 << 20);
	expect_lookup("h", &o, "big", "S3CR3T-big", big, big);
}
END_TEST

/* A helper as docker-credential-helpers' are: "get", the server URL on stdin (no
 * newline), JSON on stdout, "credentials not found in native keychain" and exit 1. */
static const char fake_helper[] =
	"[ \"$1\" = get ] || exit 2\n"
	"server=$(cat)\n"
	"case \"$server\" in\n"
	"reg.example:5000) echo '{\"ServerURL\":\"reg.example:5000\",\"Username\":\"helperuser\","
	"\"Secret\":\"S3CR3T-helper\"}' ;;\n"
	"https://index.docker.io/v1/) printf '{\"ServerURL\":\"x\",\"Username\":\"hub\","
	"\"Secret\":\"S3CR3T-hubhelper\"}' ;;\n"
	"tok.example) echo '{\"ServerURL\":\"tok.example\",\"Username\":\"<token>\","
	"\"Secret\":\"S3CR3T-idtoken\"}' ;;\n"
	"fail.example) echo 'error: S3CR3T-helper expired for helperuser'; echo S3CR3T-stderr >&2;"
	" exit 3 ;;\n"
	"junk.example) echo 'S3CR3T-helper {'; exit 0 ;;\n"
	"empty.example) echo '{\"Username\":\"\",\"Secret\":\"\"}' ;;\n"
	"nouser.example) echo '{\"Secret\":\"S3CR3T-helper\"}' ;;\n"
	"*) echo 'credentials not found in native keychain'; exit 1 ;;\n"
	"esac";

static void helpers_setup(void)
{
	lookup_setup();
	write_helper("fake", fake_helper);
	secret("S3CR3T-helper");
	secret("S3CR3T-hubhelper");
	secret("S3CR3T-idtoken");
	secret("S3CR3T-stderr");
	secret("helperuser");
}

START_TEST(test_helper_get)
{
	const char *cfg = in_tmp("home/.docker/config.json");
	cleanup_free char *j = NULL;
	ck_assert_int_ge(asprintf(&j,
				  "{\"auths\": {\"reg.example:5000\": {\"auth\": \"%s\"}},"
				  " \"credHelpers\": {\"reg.example:5000\": \"fake\","
				  " \"tok.example\": \"fake\", \"none.example\": \"fake\"}}",
				  secret_b64("fileuser:S3CR3T-file")),
			 0);
	write_str(cfg, j);
	cleanup_free char *via = NULL;
	ck_assert_int_ge(asprintf(&via, "%s (docker-credential-fake)", cfg), 0);
	/* the helper's answer, not the auths entry */
	expect_lookup("reg.example:5000", NULL, "helperuser", "S3CR3T-helper",
		      "docker-credential-fake", via);
	/* "<token>": the secret is an identity token */
	struct ak_creds c;
	char *looked;
	struct ak_error *err = NULL;
	ck_assert_int_eq(lookup("tok.example", NULL, &c, &looked, &err), 1);
	ck_assert_ptr_null(c.user);
	ck_assert_ptr_null(c.pass);
	ck_assert_str_eq(c.identity_token, "S3CR3T-idtoken");
	ck_assert_str_eq(c.source, "docker-credential-fake");
	ak_creds_clear(&c);
	free(looked);
	/* "credentials not found": none, and the file is listed with its helper */
	expect_lookup_none("none.example", NULL, via);
}
END_TEST

START_TEST(test_helper_store_and_next_file)
{
	/* credsStore answers for Hub (under docker's key for it) */
	const char *raf = in_tmp("raf.json");
	write_str(raf,
		  "{\"auths\": {\"https://index.docker.io/v1/\": {}}, \"credsStore\": \"fake\"}");
	setenv("REGISTRY_AUTH_FILE", raf, 1);
	cleanup_free char *via = NULL;
	ck_assert_int_ge(asprintf(&via, "%s (docker-credential-fake)", raf), 0);
	expect_lookup("https://index.docker.io/v1/", NULL, "hub", "S3CR3T-hubhelper",
		      "docker-credential-fake", via);
	/* the store has none: the next file is read */
	const char *home =
		write_auth("home/.docker/config.json", "other.example", "home", "S3CR3T-home");
	cleanup_free char *both = NULL;
	ck_assert_int_ge(asprintf(&both, "%s, %s", via, home), 0);
	expect_lookup("other.example", NULL, "home", "S3CR3T-home", home, both);
	expect_lookup_none("third.example", NULL, both);
}
END_TEST

START_TEST(test_helper_failures)
{
	const char *cfg = in_tmp("home/.docker/config.json");
	write_str(cfg, "{\"credHelpers\": {\"fail.example\": \"fake\", \"junk.example\": \"fake\","
		       " \"nouser.example\": \"fake\", \"empty.example\": \"fake\","
		       " \"gone.example\": \"not-installed\", \"sig.example\": \"sig\","
		       " \"big.example\": \"big\", \"open.example\": \"open\"}}");
	/* its output and its stderr may hold secrets: only the exit status is told */
	expect_lookup_err("fail.example", NULL, AK_EXIT_ENV,
			  "config.json': credential helper 'docker-credential-fake' failed (exit "
			  "status 3)");
	expect_lookup_err("junk.example", NULL, AK_EXIT_ENV,
			  "'docker-credential-fake' wrote no JSON");
	expect_lookup_err("nouser.example", NULL, AK_EXIT_ENV, "gave no Username and Secret");
	expect_lookup_none("empty.example", NULL,
			   in_tmp("home/.docker/config.json (docker-credential-fake)"));
	expect_lookup_err("gone.example", NULL, AK_EXIT_ENV,
			  "credential helper 'docker-credential-not-installed' is not in $PATH");
	write_helper("sig", "kill -9 $$");
	expect_lookup_err("sig.example", NULL, AK_EXIT_ENV,
			  "'docker-credential-sig' was killed by signal 9");
	/* endless output is cut off */
	write_helper("big", "exec yes S3CR3T-helper");
	expect_lookup_err("big.example", NULL, AK_EXIT_ENV,
			  "'docker-credential-big' wrote more than");
	/* a helper that closes stdout but stays: the same deadline */
	write_helper("open", "exec >&- 2>&-; exec sleep 30");
	int64_t t0 = ak_monotonic_ms();
	expect_lookup_err("open.example", NULL, AK_EXIT_ENV, "did not answer within 10 s");
	ck_assert_int_lt(ak_monotonic_ms() - t0, 15000);
	/* not executable */
	write_str(in_tmp("bin/docker-credential-noexec"), "#!/bin/sh\necho {}\n");
	write_str(cfg, "{\"credsStore\": \"noexec\"}");
	expect_lookup_err(
		"h", NULL, AK_EXIT_ENV,
		"credential helper 'docker-credential-noexec' in $PATH is not executable");
}
END_TEST

START_TEST(test_helper_timeout)
{
	/* a helper that never answers is killed (by its pid) after 10 s */
	write_helper("hang", "exec sleep 60");
	const char *cfg = in_tmp("home/.docker/config.json");
	write_str(cfg, "{\"credsStore\": \"hang\"}");
	int64_t t0 = ak_monotonic_ms();
	expect_lookup_err("reg.example", NULL, AK_EXIT_ENV,
			  "config.json': credential helper 'docker-credential-hang' did not answer "
			  "within 10 s");
	int64_t took = ak_monotonic_ms() - t0;
	ck_assert_int_ge(took, 9500);
	ck_assert_int_lt(took, 15000);
}
END_TEST

START_TEST(test_no_secret_in_any_message)
{
	/* every error path above ran through expect_err's check; this one collects the
	 * messages of a mixed run and looks for the secrets in every form they had */
	const char *pw = secret("S3CR3T-all-pw");
	const char *b64 = secret_b64("alluser:S3CR3T-all-pw");
	cleanup_free char *msgs = NULL;
	size_t mlen = 0;
	FILE *m = open_memstream(&msgs, &mlen);
	struct ak_error *err = NULL;
	struct ak_creds c;
	char *helper, *looked;
	char doc[512];
	snprintf(doc, sizeof(doc), "{\"auths\": {\"h\": {\"auth\": \"%s!\"}}}", b64);
	ak_auth_file_parse(doc, strlen(doc), "f", "h", &c, &helper, &err);
	fprintf(m, "%s\n", err ? err->msg : "");
	ak_error_clear(&err);
	snprintf(doc, sizeof(doc), "{\"auths\": {\"h\": {\"auth\": \"%s\"}}, \"x\": \"%s", b64, pw);
	ak_auth_file_parse(doc, strlen(doc), "f", "h", &c, &helper, &err);
	fprintf(m, "%s\n", err ? err->msg : "");
	ak_error_clear(&err);
	struct ak_registry_options o = {.creds = pw};
	ak_creds_lookup("h", &o, &c, &looked, &err);
	fprintf(m, "%s\n", err ? err->msg : "");
	ak_error_clear(&err);
	snprintf(doc, sizeof(doc), "Bearer realm=\"r\", x=\"%s\" \"%s\"", pw, b64);
	struct ak_www_auth a;
	ak_www_auth_parse(doc, &a, &err);
	fprintf(m, "%s\n", err ? err->msg : "");
	ak_error_clear(&err);
	write_helper("fake", fake_helper);
	write_str(in_tmp("home/.docker/config.json"), "{\"credsStore\": \"fake\"}");
	ak_creds_lookup("fail.example", NULL, &c, &looked, &err);
	fprintf(m, "%s\n", err ? err->msg : "");
	ak_error_clear(&err);
	fclose(m);
	ck_assert_uint_gt(mlen, 5 * 20); /* five real messages */
	secret("S3CR3T-helper");
	secret("S3CR3T-stderr");
	for (size_t i = 0; i < nsecrets; i++)
		ck_assert_msg(!strstr(msgs, secrets[i]), "'%s' in:\n%s", secrets[i], msgs);
	ck_assert(!strstr(msgs, "S3CR3T"));
}
END_TEST

Suite *registry_auth_suite(void)
{
	Suite *s = suite_create("registry_auth");
	TCase *tc = tcase_create("www_auth");
	tcase_add_test(tc, test_www_auth_bearer);
	tcase_add_test(tc, test_www_auth_quoted);
	tcase_add_test(tc, test_www_auth_several);
	tcase_add_test(tc, test_www_auth_missing_realm);
	tcase_add_test(tc, test_www_auth_garbage);
	tcase_add_test(tc, test_www_auth_bounds);
	tcase_add_test(tc, test_www_auth_nul);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth_file");
	tcase_add_test(tc, test_file_key_forms);
	tcase_add_test(tc, test_file_hub);
	tcase_add_test(tc, test_file_helpers);
	tcase_add_test(tc, test_file_identity_token);
	tcase_add_test(tc, test_file_bad_auth);
	tcase_add_test(tc, test_file_bad_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup");
	tcase_add_checked_fixture(tc, lookup_setup, lookup_teardown);
	tcase_add_test(tc, test_lookup_flags);
	tcase_add_test(tc, test_lookup_env_order);
	tcase_add_test(tc, test_lookup_creds_file);
	tcase_add_test(tc, test_lookup_fifo_and_size);
	tcase_add_test(tc, test_no_secret_in_any_message);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_checked_fixture(tc, helpers_setup, lookup_teardown);
	tcase_add_test(tc, test_helper_get);
	tcase_add_test(tc, test_helper_store_and_next_file);
	tcase_add_test(tc, test_helper_failures);
	tcase_add_test(tc, test_helper_timeout);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
