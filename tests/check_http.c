/* The HTTP client against tests/servers/http_test_server.py: two plain servers (two
 * ports are two host:port origins, for the Authorization rules) and one with TLS and a
 * self-signed certificate, started once per test case and stopped by pid. Every test
 * that waits asserts it ended in bounded time. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "image/http.h"
#include "tests/testlib.h"

struct server {
	pid_t pid;
	int port;
};
static struct server srv_a, srv_b, srv_tls;
static char tls_dir[PATH_MAX];

static void server_start(struct server *s, const char *cert, const char *key)
{
	const char *top = getenv("AK_TOP") ? getenv("AK_TOP") : ".";
	char script[PATH_MAX];
	snprintf(script, sizeof(script), "%s/tests/servers/http_test_server.py", top);
	ck_assert_msg(access(script, R_OK) == 0, "cannot read %s (set AK_TOP)", script);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		if (cert)
			execlp("python3", "python3", script, "--tls", cert, key, (char *)NULL);
		else
			execlp("python3", "python3", script, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char line[32] = {0};
	size_t n = 0;
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	while (n < sizeof(line) - 1 && !memchr(line, '\n', n) && poll(&pfd, 1, 10000) == 1) {
		ssize_t r = read(p[0], line + n, sizeof(line) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(p[0]);
	s->port = atoi(line);
	ck_assert_msg(s->port > 0, "the test server did not print its port ('%s')", line);
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	*s = (struct server){0};
}

static void servers_setup(void)
{
	server_start(&srv_a, NULL, NULL);
	server_start(&srv_b, NULL, NULL);
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tls_dir, sizeof(tls_dir), "%s/ak-check-http-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tls_dir));
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-subj /CN=127.0.0.1 -days 2 -keyout %s/key.pem -out %s/cert.pem "
		 ">/dev/null 2>&1",
		 tls_dir, tls_dir);
	if (system(cmd) == 0) {
		char cert[PATH_MAX + 16], key[PATH_MAX + 16];
		snprintf(cert, sizeof(cert), "%s/cert.pem", tls_dir);
		snprintf(key, sizeof(key), "%s/key.pem", tls_dir);
		server_start(&srv_tls, cert, key);
	}
}

static void servers_teardown(void)
{
	server_stop(&srv_a);
	server_stop(&srv_b);
	server_stop(&srv_tls);
	if (tls_dir[0])
		ak_rmtree_signal_safe(tls_dir);
}

/* A URL on a server; a few live at once. */
static const char *url(const struct server *s, const char *fmt, ...)
{
	static char buf[8][512];
	static int slot;
	char path[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	char *b = buf[slot++ % 8];
	snprintf(b, 512, "%s://127.0.0.1:%d%s", s == &srv_tls ? "https" : "http", s->port, path);
	return b;
}

static struct ak_http *client(int retries, int stall_ms, bool verbose, bool tls_verify)
{
	struct ak_http_options o = {.tls_verify = tls_verify,
				    .connect_timeout_ms = 1000,
				    .stall_timeout_ms = stall_ms,
				    .retries = retries,
				    .verbose = verbose};
	struct ak_http *h = NULL;
	struct ak_error *err = NULL;
	ck_assert_msg(ak_http_new(&o, &h, &err) == 0, "%s", err ? err->msg : "");
	return h;
}

static struct ak_http_request get_req(const char *u)
{
	return (struct ak_http_request){.url = u, .max_body = 1 << 20};
}

/* How many requests the server has seen for key (the test's own counter). */
static long count(const struct server *s, const char *key)
{
	struct ak_http *h = client(0, 2000, false, false);
	struct ak_http_request rq = get_req(url(s, "/count?key=%s", key));
	struct ak_http_response r = {0};
	struct ak_error *err = NULL;
	ck_assert_msg(ak_http_get(h, &rq, &r, &err) == 0, "%s", err ? err->msg : "");
	long n = atol(r.body);
	ak_http_response_clear(&r);
	ak_http_free(h);
	return n;
}

/* The server's /body bytes: sha256 of "0", "1", … concatenated. */
static unsigned char *body_bytes(size_t n)
{
	unsigned char *b = malloc(n + 32);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0, off = 0; off < n; i++, off += 32) {
		char num[24];
		int l = snprintf(num, sizeof(num), "%zu", i);
		unsigned int mdlen = 0;
		ck_assert(EVP_Digest(num, (size_t)l, b + off, &mdlen, EVP_sha256(), NULL) == 1);
	}
	return b;
}

static void body_sha(size_t n, char hex[65])
{
	cleanup_free unsigned char *b = body_bytes(n);
	sha256_hex(b, n, hex);
}

/* Read a stream to its end with reads of `chunk` bytes; its sha256, and -1 and the
 * error on a failed read (total counts what came before). With heap, the most heap in
 * use above what it was at the start (mallinfo2: this thread's arena; 0 under ASan). */
static int read_all_heap(struct ak_stream *s, size_t chunk, char hex[65], size_t *total,
			 size_t *heap, struct ak_error **err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	cleanup_free char *buf = malloc(chunk);
	size_t base = heap ? mallinfo2().uordblks : 0;
	*total = 0;
	ssize_t n;
	while ((n = ak_stream_read(s, buf, chunk, err)) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		*total += (size_t)n;
		size_t now = heap ? mallinfo2().uordblks : 0;
		if (heap && now > base && now - base > *heap)
			*heap = now - base;
	}
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	ak_hex_encode(md, 32, hex);
	return n < 0 ? -1 : 0;
}

static int read_all(struct ak_stream *s, size_t chunk, char hex[65], size_t *total,
		    struct ak_error **err)
{
	return read_all_heap(s, chunk, hex, total, NULL, err);
}

START_TEST(test_get_body_and_headers)
{
	struct ak_http *h = client(-1, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(url(&srv_a, "/body?size=100000"));
	ck_assert_msg(ak_http_get(h, &rq, &r, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, 100000);
	cleanup_free unsigned char *want = body_bytes(100000);
	ck_assert(memcmp(r.body, want, r.len) == 0);
	ck_assert_int_eq(r.body[r.len], '\0');
	ck_assert_int_eq(r.content_length, 100000);
	ck_assert_str_eq(r.content_type, "application/octet-stream");
	ck_assert_ptr_null(r.www_authenticate);
	ck_assert_str_eq(r.final_url, rq.url);
	ak_http_response_clear(&r);

	/* names matched whatever their case; two challenges are one list */
	rq = get_req(url(&srv_a, "/headers"));
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), 0);
	ck_assert_str_eq(r.content_type, "application/vnd.oci.image.index.v1+json");
	ck_assert_str_eq(r.docker_content_digest,
			 "sha256:abababababababababababababababababababababababababababababababab");
	ck_assert_str_eq(r.www_authenticate,
			 "Bearer realm=\"https://auth.example/token\", Basic realm=\"x\"");
	ck_assert_int_eq(r.content_length, 2);
	ak_http_response_clear(&r);

	/* any status is a response, with its body */
	rq = get_req(url(&srv_a, "/nowhere"));
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), 0);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(r.body, "no such path");
	ak_http_response_clear(&r);
	ak_http_free(h);
}
END_TEST

/* A form POST (the OAuth2 token exchange): its body and type arrive; a 307 keeps it,
 * a 302 turns the next hop into a GET. */
START_TEST(test_form_post)
{
	struct ak_http *h = client(-1, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(url(&srv_a, "/form"));
	rq.form = "grant_type=refresh_token&refresh_token=R%2B1";
	ck_assert_msg(ak_http_get(h, &rq, &r, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "POST application/x-www-form-urlencoded "
				 "grant_type=refresh_token&refresh_token=R%2B1");
	ak_http_response_clear(&r);
	const char *codes[] = {"307", "302"}, *want[] = {"POST", "GET"};
	for (int i = 0; i < 2; i++) {
		char path[512];
		snprintf(path, sizeof(path), "/redirect-post?code=%s&to=%s", codes[i],
			 url(&srv_a, "/form"));
		rq = get_req(url(&srv_a, "%s", path));
		rq.form = "a=b";
		ck_assert_msg(ak_http_get(h, &rq, &r, &err) == 0, "%s", err ? err->msg : "");
		ck_assert_int_eq(r.status, 200);
		ck_assert_msg(!strncmp(r.body, want[i], strlen(want[i])), "%s: %s", codes[i], r.body);
		ak_http_response_clear(&r);
	}
	ak_http_free(h);
	/* its errors call it a POST */
	h = client(0, 2000, false, false);
	rq = get_req(url(&srv_a, "/503"));
	rq.form = "a=b";
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	ck_assert_msg(!strncmp(err->msg, "POST '", 6), "%s", err->msg);
	ak_error_free(err);
	ak_http_response_clear(&r);
	ak_http_free(h);
}
END_TEST

START_TEST(test_plain_http_refused_with_tls_verify)
{
	struct ak_http *h = client(-1, 2000, false, true);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(url(&srv_a, "/body?size=10&key=refused"));
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, "--tls-verify=false"), "%s", err->msg);
	ck_assert_msg(!strstr(err->msg, "key=refused"), "%s", err->msg);
	ak_error_clear(&err);
	struct ak_stream *s = NULL;
	ck_assert_int_eq(ak_http_open(h, &rq, &r, &s, &err), -1);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err->msg, "--tls-verify=false"), "%s", err->msg);
	ak_error_clear(&err);
	ak_http_free(h);
	ck_assert_int_eq(count(&srv_a, "refused"), 0);
}
END_TEST

/* GET through a redirect with a token: body is what /echo-auth saw. */
static char *auth_seen(struct ak_http *h, const char *u, const char *final)
{
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(u);
	rq.authorization = "Bearer SECRET-TOKEN";
	ck_assert_msg(ak_http_get(h, &rq, &r, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.final_url, final);
	char *seen = strdup(r.body);
	ak_http_response_clear(&r);
	return seen;
}

START_TEST(test_redirect_authorization_stays_home)
{
	struct ak_http *h = client(-1, 2000, false, false);
	char b_echo[128], a_echo[128], to_a[300];
	snprintf(b_echo, sizeof(b_echo), "%s", url(&srv_b, "/echo-auth"));
	snprintf(a_echo, sizeof(a_echo), "%s", url(&srv_a, "/echo-auth"));
	snprintf(to_a, sizeof(to_a), "%s", url(&srv_b, "/redirect?to=%s", a_echo));
	cleanup_free char *direct = auth_seen(h, a_echo, a_echo);
	ck_assert_str_eq(direct, "Bearer SECRET-TOKEN");
	/* the same host:port (a relative Location): it goes along */
	cleanup_free char *same =
		auth_seen(h, url(&srv_a, "/redirect?to=/echo-auth&code=302"), a_echo);
	ck_assert_str_eq(same, "Bearer SECRET-TOKEN");
	/* another port is another origin: dropped, whatever the redirect code */
	static const int codes[] = {301, 302, 303, 307, 308};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		cleanup_free char *other = auth_seen(
			h, url(&srv_a, "/redirect?to=%s&code=%d", b_echo, codes[i]), b_echo);
		ck_assert_str_eq(other, "none");
	}
	/* and not re-added when a second redirect leads back home */
	char esc[400];
	size_t o = 0;
	for (const char *c = to_a; *c && o + 4 < sizeof(esc); c++)
		o += (size_t)(*c == '?' || *c == '=' || *c == '&' || *c == ':' || *c == '/'
				      ? snprintf(esc + o, 4, "%%%02X", (unsigned char)*c)
				      : snprintf(esc + o, 2, "%c", *c));
	cleanup_free char *back = auth_seen(h, url(&srv_a, "/redirect?to=%s", esc), a_echo);
	ck_assert_str_eq(back, "none");

	/* final_url is where the body came from */
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(url(&srv_a, "/redirect?to=%s", b_echo));
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), 0);
	ck_assert_str_eq(r.final_url, b_echo);
	ak_http_response_clear(&r);

	/* a loop ends at 10 */
	int64_t t0 = ak_monotonic_ms();
	rq = get_req(url(&srv_a, "/loop"));
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	ck_assert_msg(strstr(err->msg, "more than 10 redirects"), "%s", err->msg);
	ck_assert_int_lt(ak_monotonic_ms() - t0, 5000);
	ak_error_clear(&err);
	ak_http_free(h);
}
END_TEST

START_TEST(test_429_retry_after_honoured)
{
	struct ak_http *h = client(2, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(url(&srv_a, "/429-once?key=t429"));
	int64_t t0 = ak_monotonic_ms();
	ck_assert_msg(ak_http_get(h, &rq, &r, &err) == 0, "%s", err ? err->msg : "");
	int64_t took = ak_monotonic_ms() - t0;
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "ok");
	ck_assert_int_ge(took, 950); /* Retry-After: 1, not the 200 ms backoff */
	ck_assert_int_lt(took, 4000);
	ck_assert_int_eq(count(&srv_a, "t429"), 2);
	ak_http_response_clear(&r);
	ak_http_free(h);
}
END_TEST

START_TEST(test_503_gives_up)
{
	struct ak_http *h = client(2, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(url(&srv_a, "/503?key=t503"));
	int64_t t0 = ak_monotonic_ms();
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	ck_assert_int_lt(ak_monotonic_ms() - t0, 4000);
	char host[64];
	snprintf(host, sizeof(host), "'127.0.0.1:%d'", srv_a.port);
	ck_assert_msg(strstr(err->msg, "503") && strstr(err->msg, host) &&
			      strstr(err->msg, "giving up after 3 attempts"),
		      "%s", err->msg);
	ck_assert_msg(!strstr(err->msg, "key=t503"), "%s", err->msg);
	ak_error_clear(&err);
	ck_assert_int_eq(count(&srv_a, "t503"), 3);

	/* no retries asked: one attempt */
	ak_http_free(h);
	h = client(0, 2000, false, false);
	rq = get_req(url(&srv_a, "/503?key=t503-once"));
	ck_assert_int_eq(ak_http_open(h, &rq, &r, &(struct ak_stream *){NULL}, &err), -1);
	ck_assert_msg(strstr(err->msg, "giving up after 1 attempt"), "%s", err->msg);
	ak_error_clear(&err);
	ck_assert_int_eq(count(&srv_a, "t503-once"), 1);
	ak_http_free(h);
}
END_TEST

START_TEST(test_reset_before_answer_retried)
{
	struct ak_http *h = client(2, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(url(&srv_a, "/nothing-once?key=tnothing"));
	ck_assert_msg(ak_http_get(h, &rq, &r, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(r.body, "ok");
	ak_http_response_clear(&r);
	ck_assert_int_eq(count(&srv_a, "tnothing"), 2);

	/* a stream whose connection drops after the headers, before the first byte was
	 * handed out: the read starts it again and the consumer sees the whole body */
	struct ak_stream *s = NULL;
	rq = get_req(url(&srv_a, "/drop-early-once?size=300000&key=tearly"));
	ck_assert_msg(ak_http_open(h, &rq, &r, &s, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_ptr_nonnull(s);
	char got[65], want[65];
	size_t total = 0;
	ck_assert_msg(read_all(s, 1000, got, &total, &err) == 0, "%s", err->msg);
	ck_assert_uint_eq(total, 300000);
	body_sha(300000, want);
	ck_assert_str_eq(got, want);
	ak_stream_close(s);
	ak_http_response_clear(&r);
	ck_assert_int_eq(count(&srv_a, "tearly"), 2);
	ak_http_free(h);
}
END_TEST

START_TEST(test_drop_mid_body)
{
	struct ak_http *h = client(1, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	char host[64];
	snprintf(host, sizeof(host), "'127.0.0.1:%d'", srv_a.port);

	/* buffered: retried, then given up */
	struct ak_http_request rq = get_req(url(&srv_a, "/drop?size=100000&key=tdrop"));
	int64_t t0 = ak_monotonic_ms();
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	ck_assert_int_lt(ak_monotonic_ms() - t0, 3000);
	ck_assert_msg(strstr(err->msg, host) && strstr(err->msg, "giving up after 2 attempts"),
		      "%s", err->msg);
	ak_error_clear(&err);
	ck_assert_int_eq(count(&srv_a, "tdrop"), 2);

	/* streamed: what came is handed out, then a read error naming the host, and no
	 * second request once bytes were handed out */
	rq = get_req(url(&srv_a, "/drop?size=2000000&key=tdrop-s"));
	struct ak_stream *s = NULL;
	ck_assert_msg(ak_http_open(h, &rq, &r, &s, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.content_length, 2000000);
	char hex[65];
	size_t total = 0;
	t0 = ak_monotonic_ms();
	ck_assert_int_eq(read_all(s, 4096, hex, &total, &err), -1);
	ck_assert_int_lt(ak_monotonic_ms() - t0, 3000);
	ck_assert_uint_eq(total, 1000000);
	ck_assert_msg(strstr(err->msg, host) && strstr(err->msg, "/drop"), "%s", err->msg);
	ck_assert_msg(!strstr(err->msg, "key="), "%s", err->msg);
	ak_error_clear(&err);
	ck_assert_int_lt(ak_stream_read(s, hex, 1, &err), 0);
	ak_error_clear(&err);
	ak_stream_close(s);
	ak_http_response_clear(&r);
	ck_assert_int_eq(count(&srv_a, "tdrop-s"), 1);
	ak_http_free(h);
}
END_TEST

START_TEST(test_stall_ends_in_time)
{
	struct ak_http *h = client(1, 1000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	char host[64];
	snprintf(host, sizeof(host), "'127.0.0.1:%d'", srv_a.port);

	/* mid-body in a stream: a read error after the stall timeout */
	struct ak_http_request rq = get_req(url(&srv_a, "/stall?size=200000&sleep=20&key=tstall"));
	struct ak_stream *s = NULL;
	int64_t t0 = ak_monotonic_ms();
	ck_assert_msg(ak_http_open(h, &rq, &r, &s, &err) == 0, "%s", err ? err->msg : "");
	char hex[65];
	size_t total = 0;
	ck_assert_int_eq(read_all(s, 1000, hex, &total, &err), -1);
	int64_t took = ak_monotonic_ms() - t0;
	ck_assert_int_ge(took, 900);
	ck_assert_int_lt(took, 3500);
	ck_assert_uint_eq(total, 100000);
	ck_assert_msg(strstr(err->msg, "no data from") && strstr(err->msg, host), "%s", err->msg);
	ak_error_clear(&err);
	ak_stream_close(s);
	ak_http_response_clear(&r);
	ck_assert_int_eq(count(&srv_a, "tstall"), 1);

	/* before the headers: a stall counts as a failed attempt */
	rq = get_req(url(&srv_a, "/stall-headers?sleep=20&key=tstall-h"));
	t0 = ak_monotonic_ms();
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	took = ak_monotonic_ms() - t0;
	ck_assert_int_lt(took, 4500);
	ck_assert_msg(strstr(err->msg, "no data from") &&
			      strstr(err->msg, "giving up after 2 attempts"),
		      "%s", err->msg);
	ak_error_clear(&err);
	ck_assert_int_eq(count(&srv_a, "tstall-h"), 2);
	ak_http_free(h);
}
END_TEST

START_TEST(test_body_over_max)
{
	struct ak_http *h = client(-1, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(url(&srv_a, "/body?size=100000&token=SECRETQ"));
	rq.max_body = 1000;
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	ck_assert_int_eq(err->kind, AK_ERR_LIMIT);
	char where[128];
	snprintf(where, sizeof(where), "127.0.0.1:%d/body", srv_a.port);
	ck_assert_msg(strstr(err->msg, where) && strstr(err->msg, "1000 bytes"), "%s", err->msg);
	ck_assert_msg(!strstr(err->msg, "SECRETQ") && !strchr(err->msg, '?'), "%s", err->msg);
	ak_error_clear(&err);
	ck_assert_ptr_null(r.body);

	/* exactly max_body is fine */
	rq.url = url(&srv_a, "/body?size=1000");
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), 0);
	ck_assert_uint_eq(r.len, 1000);
	ak_http_response_clear(&r);

	/* ak_http_open: another status keeps the head of its body */
	rq = get_req(url(&srv_a, "/nowhere"));
	rq.max_body = 5;
	struct ak_stream *s = (struct ak_stream *)&rq; /* set to NULL by the call */
	ck_assert_int_eq(ak_http_open(h, &rq, &r, &s, &err), 0);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(r.body, "no su");
	ak_http_response_clear(&r);
	ak_http_free(h);
}
END_TEST

START_TEST(test_stream_several_mb_exact)
{
	struct ak_http *h = client(-1, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	const size_t size = 6000000 + 17;
	struct ak_http_request rq = get_req(url(&srv_a, "/body?size=%zu", size));
	rq.max_body = 100; /* caps buffered bodies, not a stream */
	struct ak_stream *s = NULL;
	ck_assert_msg(ak_http_open(h, &rq, &r, &s, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_null(r.body);
	ck_assert_int_eq(r.content_length, (int64_t)size);
	char got[65], want[65];
	size_t total = 0;
	/* small reads, so curl is paused on a full buffer again and again; the heap stays
	 * small even with the socket full */
	usleep(300000);
	size_t heap = 0;
	ck_assert_msg(read_all_heap(s, 777, got, &total, &heap, &err) == 0, "%s", err->msg);
	ck_assert_uint_eq(total, size);
	ck_assert_msg(heap < 1024 * 1024, "%zu bytes of heap for a stream", heap);
	body_sha(size, want);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(ak_stream_read(s, got, 10, &err), 0); /* the end stays the end */
	ak_stream_close(s);
	ak_http_response_clear(&r);

	/* a stream closed half read is fine, and the client goes on */
	rq.url = url(&srv_a, "/body?size=3000000");
	ck_assert_int_eq(ak_http_open(h, &rq, &r, &s, &err), 0);
	ck_assert_int_gt(ak_stream_read(s, got, sizeof(got), &err), 0);
	ak_stream_close(s);
	ak_http_response_clear(&r);
	rq.url = url(&srv_a, "/body?size=10");
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), 0);
	ck_assert_uint_eq(r.len, 10);
	ak_http_response_clear(&r);
	ak_http_free(h);
}
END_TEST

struct job {
	struct ak_http *h;
	const struct server *srv;
	size_t size, chunk;
	bool stream;
	char url[128]; /* made before the threads start: url() is not thread-safe */
	char hex[65];
	size_t total;
	char msg[512];
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	struct ak_http_request rq = get_req(j->url);
	rq.max_body = j->size;
	if (!j->stream) {
		if (ak_http_get(j->h, &rq, &r, &err) == 0) {
			sha256_hex(r.body, r.len, j->hex);
			j->total = r.len;
		}
	} else {
		struct ak_stream *s = NULL;
		if (ak_http_open(j->h, &rq, &r, &s, &err) == 0 && s)
			read_all(s, j->chunk, j->hex, &j->total, &err);
		ak_stream_close(s);
	}
	if (err)
		snprintf(j->msg, sizeof(j->msg), "%s", err->msg);
	ak_error_free(err);
	ak_http_response_clear(&r);
	return NULL;
}

START_TEST(test_concurrent_streams)
{
	struct ak_http *h = client(-1, 2000, false, false);
	struct job jobs[6] = {
		{.h = h, .srv = &srv_a, .size = 3000000, .chunk = 1000, .stream = true},
		{.h = h, .srv = &srv_b, .size = 2500001, .chunk = 4093, .stream = true},
		{.h = h, .srv = &srv_a, .size = 1500000, .chunk = 1, .stream = true},
		{.h = h, .srv = &srv_a, .size = 200000},
		{.h = h, .srv = &srv_b, .size = 300000},
		{.h = h, .srv = &srv_a, .size = 400000},
	};
	jobs[2].size = 300000; /* one-byte reads: keep it short */
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		snprintf(jobs[i].url, sizeof(jobs[i].url), "%s",
			 url(jobs[i].srv, "/body?size=%zu", jobs[i].size));
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, job_run, &jobs[i]), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 6; i++) {
		char want[65];
		body_sha(jobs[i].size, want);
		ck_assert_msg(!jobs[i].msg[0], "job %d: %s", i, jobs[i].msg);
		ck_assert_uint_eq(jobs[i].total, jobs[i].size);
		ck_assert_str_eq(jobs[i].hex, want);
	}
	ak_http_free(h);
}
END_TEST

START_TEST(test_verbose_leaks_nothing)
{
	struct ak_http *h = client(1, 2000, true, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	char target[256];
	snprintf(target, sizeof(target), "%s",
		 url(&srv_b, "/body%%3Fsize%%3D10%%26X-Amz-Signature%%3DSECRETSIG"));
	struct ak_http_request rq = get_req(url(&srv_a, "/redirect?to=%s&token=SECRETQ", target));
	rq.authorization = "Bearer SECRET-TOKEN";
	const char *headers[] = {"Accept: application/json", NULL};
	rq.headers = headers;

	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ak-check-http-stderr-XXXXXX", base);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	int rc = ak_http_get(h, &rq, &r, &err);
	ak_http_response_clear(&r);
	struct ak_stream *s = NULL;
	int rc2 = ak_http_open(h, &rq, &r, &s, &err);
	char hex[65];
	size_t total = 0;
	if (s)
		read_all(s, 3, hex, &total, &err);
	ak_stream_close(s);
	ak_http_response_clear(&r);
	rq.url = url(&srv_a, "/503?key=tverbose&token=SECRETQ");
	int rc3 = ak_http_get(h, &rq, &r, &err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(rc2, 0);
	ck_assert_int_eq(rc3, -1);
	ck_assert_uint_eq(total, 10);
	ck_assert_msg(!strstr(err->msg, "SECRET"), "%s", err->msg);
	ak_error_clear(&err);

	char out[4096] = {0};
	ck_assert_int_gt(pread(fd, out, sizeof(out) - 1, 0), 0);
	close(fd);
	char line[256];
	snprintf(line, sizeof(line), "archkit: GET http://127.0.0.1:%d/redirect: 307 (5 bytes)\n",
		 srv_a.port);
	ck_assert_msg(strstr(out, line), "%s", out);
	snprintf(line, sizeof(line), "archkit: GET http://127.0.0.1:%d/body: 200 (10 bytes)\n",
		 srv_b.port);
	ck_assert_msg(strstr(out, line), "%s", out);
	ck_assert_msg(strstr(out, "/503: 503 (11 bytes), retrying in "), "%s", out);
	ck_assert_msg(strstr(out, "/503: 503 (11 bytes), giving up\n"), "%s", out);
	ck_assert_msg(!strstr(out, "SECRET") && !strcasestr(out, "authorization") &&
			      !strchr(out, '?') && !strstr(out, "Bearer"),
		      "%s", out);
	ak_http_free(h);

	/* quiet when not asked */
	h = client(0, 2000, false, false);
	snprintf(path, sizeof(path), "%s/ak-check-http-stderr-XXXXXX", base);
	fd = mkstemp(path);
	unlink(path);
	saved = dup(2);
	dup2(fd, 2);
	rc = ak_http_get(h, &rq, &r, &err);
	dup2(saved, 2);
	close(saved);
	ck_assert_int_eq(rc, -1);
	ak_error_clear(&err);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0);
	close(fd);
	ak_http_free(h);
}
END_TEST

START_TEST(test_refused_and_tls)
{
	/* a port nobody listens on: an error at once, not retried by a fresh client */
	int sfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(sfd, (struct sockaddr *)&sa, &sl);
	close(sfd);
	struct ak_http *h = client(3, 2000, false, false);
	struct ak_error *err = NULL;
	struct ak_http_response r = {0};
	char u[64];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/v2/", ntohs(sa.sin_port));
	struct ak_http_request rq = get_req(u);
	int64_t t0 = ak_monotonic_ms();
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	ck_assert_int_lt(ak_monotonic_ms() - t0, 3000);
	ck_assert_msg(strstr(err->msg, "cannot connect to '127.0.0.1:") &&
			      !strstr(err->msg, "giving up"),
		      "%s", err->msg);
	ak_error_clear(&err);
	ak_http_free(h);

	if (!srv_tls.port) {
		fprintf(stderr, "skip: TLS half of test_refused_and_tls: no openssl to make a "
				"certificate\n");
		return;
	}
	/* a self-signed certificate: refused, with the way out named */
	h = client(3, 2000, false, true);
	rq = get_req(url(&srv_tls, "/body?size=10&key=ttls"));
	t0 = ak_monotonic_ms();
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), -1);
	ck_assert_int_lt(ak_monotonic_ms() - t0, 3000);
	char host[64];
	snprintf(host, sizeof(host), "'127.0.0.1:%d'", srv_tls.port);
	ck_assert_msg(strstr(err->msg, "TLS") && strstr(err->msg, host) &&
			      strstr(err->msg, "--tls-verify=false") &&
			      !strstr(err->msg, "giving up"),
		      "%s", err->msg);
	ck_assert_msg(!strstr(err->msg, "key=ttls"), "%s", err->msg);
	ak_error_clear(&err);
	ak_http_free(h);
	/* without verification it is read, streams too, and may redirect to plain http */
	h = client(3, 2000, false, false);
	ck_assert_msg(ak_http_get(h, &rq, &r, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(r.len, 10);
	ak_http_response_clear(&r);
	rq = get_req(url(&srv_tls, "/body?size=1000000"));
	struct ak_stream *s = NULL;
	ck_assert_int_eq(ak_http_open(h, &rq, &r, &s, &err), 0);
	char got[65], want[65];
	size_t total = 0;
	ck_assert_int_eq(read_all(s, 1500, got, &total, &err), 0);
	body_sha(1000000, want);
	ck_assert_str_eq(got, want);
	ak_stream_close(s);
	ak_http_response_clear(&r);
	rq = get_req(url(&srv_tls, "/redirect?to=%s", url(&srv_a, "/echo-auth")));
	rq.authorization = "Bearer SECRET-TOKEN";
	ck_assert_int_eq(ak_http_get(h, &rq, &r, &err), 0);
	ck_assert_str_eq(r.body, "none"); /* another scheme and port: no token */
	ak_http_response_clear(&r);
	ak_http_free(h);
}
END_TEST

Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");
	tcase_add_unchecked_fixture(tc, servers_setup, servers_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_get_body_and_headers);
	tcase_add_test(tc, test_form_post);
	tcase_add_test(tc, test_plain_http_refused_with_tls_verify);
	tcase_add_test(tc, test_redirect_authorization_stays_home);
	tcase_add_test(tc, test_429_retry_after_honoured);
	tcase_add_test(tc, test_503_gives_up);
	tcase_add_test(tc, test_reset_before_answer_retried);
	tcase_add_test(tc, test_drop_mid_body);
	tcase_add_test(tc, test_stall_ends_in_time);
	tcase_add_test(tc, test_body_over_max);
	tcase_add_test(tc, test_stream_several_mb_exact);
	tcase_add_test(tc, test_concurrent_streams);
	tcase_add_test(tc, test_verbose_leaks_nothing);
	tcase_add_test(tc, test_refused_and_tls);
	suite_add_tcase(s, tc);
	return s;
}
