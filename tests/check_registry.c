/* docker:// references, normalised as docker normalises them (Hub short names, hosts
 * told by '.', ':' or "localhost", digests), and the bad ones refused with a message
 * that names the reference; none of it needs a network. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "image/image.h"
#include "image/ref.h"
#include "image/registry.h"

#define HUB "registry-1.docker.io"
#define HUB_KEY "https://index.docker.io/v1/"
#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_ref(const char *s, const char *host, const char *repo, const char *tag,
		       const char *digest, const char *auth_key)
{
	struct ak_registry_ref r;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(ak_registry_ref_parse(s, &r, &err) == 0, "'%s': %s", s, err ? err->msg : "");
	ck_assert_msg(!strcmp(r.host, host), "'%s': host '%s', expected '%s'", s, r.host, host);
	ck_assert_msg(!strcmp(r.repo, repo), "'%s': repo '%s', expected '%s'", s, r.repo, repo);
	if (tag)
		ck_assert_msg(r.tag && !strcmp(r.tag, tag), "'%s': tag '%s', expected '%s'", s,
			      r.tag ? r.tag : "(null)", tag);
	else
		ck_assert_msg(!r.tag, "'%s': tag '%s' with a digest", s, r.tag);
	if (digest)
		ck_assert_str_eq(r.digest, digest);
	else
		ck_assert_ptr_null(r.digest);
	ck_assert_msg(!strcmp(r.auth_key, auth_key), "'%s': auth key '%s', expected '%s'", s,
		      r.auth_key, auth_key);
	ak_registry_ref_clear(&r);
}

START_TEST(test_hub_short_names)
{
	expect_ref("alpine", HUB, "library/alpine", "latest", NULL, HUB_KEY);
	expect_ref("docker://alpine", HUB, "library/alpine", "latest", NULL, HUB_KEY);
	expect_ref("docker://alpine:3.19", HUB, "library/alpine", "3.19", NULL, HUB_KEY);
	expect_ref("docker://docker.io/alpine", HUB, "library/alpine", "latest", NULL, HUB_KEY);
	expect_ref("docker://index.docker.io/library/alpine:edge", HUB, "library/alpine", "edge",
		   NULL, HUB_KEY);
	expect_ref("docker://registry-1.docker.io/busybox", HUB, "library/busybox", "latest", NULL,
		   HUB_KEY);
	/* two components stay as they are: a user's repository */
	expect_ref("docker://tonistiigi/binfmt:qemu-v8", HUB, "tonistiigi/binfmt", "qemu-v8", NULL,
		   HUB_KEY);
	expect_ref("docker://docker.io/moby/buildkit", HUB, "moby/buildkit", "latest", NULL,
		   HUB_KEY);
	/* a first component without '.', ':' or "localhost" is not a host */
	expect_ref("docker://myhost/app", HUB, "myhost/app", "latest", NULL, HUB_KEY);
	expect_ref("docker://a__b/c-d/e.f---g_h:Tag_1.x-y", HUB, "a__b/c-d/e.f---g_h", "Tag_1.x-y",
		   NULL, HUB_KEY);
}
END_TEST

START_TEST(test_hosts_and_ports)
{
	expect_ref("docker://ghcr.io/owner/repo:v1", "ghcr.io", "owner/repo", "v1", NULL,
		   "ghcr.io");
	expect_ref("docker://localhost/foo", "localhost", "foo", "latest", NULL, "localhost");
	expect_ref("docker://localhost:5000/foo/bar:t", "localhost:5000", "foo/bar", "t", NULL,
		   "localhost:5000");
	expect_ref("docker://127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "latest", NULL,
		   "127.0.0.1:5000");
	expect_ref("docker://registry.example.com:443/team/app:1.0", "registry.example.com:443",
		   "team/app", "1.0", NULL, "registry.example.com:443");
	expect_ref("docker://[::1]:5000/x", "[::1]:5000", "x", "latest", NULL, "[::1]:5000");
	/* an upper-case first component can only be a host (docker's rule) */
	expect_ref("docker://MyRegistry/app", "MyRegistry", "app", "latest", NULL, "MyRegistry");
	/* one component on another registry gets no "library/" */
	expect_ref("docker://quay.io/app", "quay.io", "app", "latest", NULL, "quay.io");
}
END_TEST

START_TEST(test_digests)
{
	expect_ref("docker://alpine@sha256:" D64, HUB, "library/alpine", NULL, "sha256:" D64,
		   HUB_KEY);
	expect_ref("docker://127.0.0.1:5000/x@sha256:" D64, "127.0.0.1:5000", "x", NULL,
		   "sha256:" D64, "127.0.0.1:5000");
	/* a tag next to a digest is allowed and the digest wins, as docker pulls it */
	expect_ref("docker://ghcr.io/o/r:v1@sha256:" D64, "ghcr.io", "o/r", NULL, "sha256:" D64,
		   "ghcr.io");
}
END_TEST

static void expect_bad(const char *s, const char *needle)
{
	struct ak_registry_ref r;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(ak_registry_ref_parse(s, &r, &err) < 0, "'%s' parsed", s);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, "invalid registry reference"), "'%s': %s", s, err->msg);
	ck_assert_msg(strstr(err->msg, needle), "'%s': message '%s' lacks '%s'", s, err->msg,
		      needle);
	/* the message names the reference as given */
	const char *bare = strncmp(s, "docker://", 9) ? s : s + 9;
	if (strlen(bare) < 200)
		ck_assert_msg(strstr(err->msg, bare), "'%s': message '%s' does not name it", s,
			      err->msg);
	ck_assert_ptr_null(r.host);
	ck_assert_ptr_null(r.repo);
}

START_TEST(test_bad_references)
{
	expect_bad("docker://", "no repository");
	expect_bad("docker://ghcr.io/", "no repository");
	expect_bad("docker://Alpine", "upper-case");
	expect_bad("docker://ghcr.io/Owner/repo", "upper-case");
	expect_bad("docker://alpine:", "a tag is");
	expect_bad("docker://alpine:.x", "a tag is");
	expect_bad("docker://alpine:a+b", "a tag is");
	expect_bad("docker://alpine@sha256:abc", "a digest is");
	expect_bad("docker://alpine@sha256:" D64 "0", "a digest is");
	expect_bad("docker://alpine@md5:0cc175b9c0f1b6a831c399e269772661", "a digest is");
	expect_bad(
		"docker://alpine@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789"
		"abcdef",
		"a digest is");
	expect_bad("docker://host:99999/x", "port");
	expect_bad("docker://host:/x", "port");
	expect_bad("docker://host:5000x/x", "port");
	expect_bad("docker://-bad.example/x", "host");
	expect_bad("docker://a..b.example/x", "host");
	expect_bad("docker://[zz]:5000/x", "IPv6");
	expect_bad("docker://a//b", "empty path component");
	expect_bad("docker://ghcr.io/o/r/", "empty path component");
	expect_bad("docker://ex.com/-x", "lower-case letter or digit");
	expect_bad("docker://ex.com/x-", "lower-case letter or digit");
	expect_bad("docker://a___b", "separators");
	expect_bad("docker://a..b", "separators");
	expect_bad("docker://a-_b", "separators");
	expect_bad("docker://a b", "cannot hold");
	expect_bad("docker://a\nb", "cannot hold");
	char lng[300];
	memset(lng, 'a', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	expect_bad(lng, "longer than 255");
}
END_TEST

/* docker:// is a reference form of its own, checked when parsed, opened by nobody yet */
START_TEST(test_image_ref_form)
{
	struct ak_ref r;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_ref_parse("docker://ghcr.io/o/r:v1", &r, &err), 0);
	ck_assert_int_eq(r.form, AK_REF_REGISTRY);
	ck_assert_str_eq(r.path, "ghcr.io/o/r:v1");
	ck_assert_ptr_null(r.tag);
	ak_ref_clear(&r);
	ck_assert_int_lt(ak_ref_parse("docker://ghcr.io/O/r", &r, &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_ptr_nonnull(strstr(err->msg, "'docker://ghcr.io/O/r'"));
	/* a bad reference fails before any connection, as one line */
	ak_error_clear(&err);
	struct ak_image *img = NULL;
	ck_assert_int_lt(ak_image_open("docker://ex.com/a//b", &img, &err), 0);
	ck_assert_ptr_null(strchr(err->msg, '\n'));
	ck_assert_ptr_nonnull(strstr(err->msg, "empty path component"));
}
END_TEST

/* Open ref with o (NULL: ak_image_open) and list its variants; the error message. */
static char *open_error(const char *ref, const struct ak_image_options *o)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	struct ak_variant_list l;
	int r = o ? ak_image_open_with(ref, o, &img, &err) : ak_image_open(ref, &img, &err);
	if (r == 0) {
		ck_assert_str_eq(ak_image_kind(img), "registry");
		r = ak_image_variants(img, NULL, 0, &l, &err);
	}
	ak_image_close(img);
	ck_assert_msg(r < 0, "'%s' opened", ref);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_ptr_null(strchr(err->msg, '\n'));
	return strdup(err->msg);
}

/* Certificates are checked unless asked otherwise: ak_image_open and a zeroed probe
 * default must not fall back to plain http. Port 1 on loopback refuses at once. */
START_TEST(test_tls_verified_by_default)
{
	cleanup_free char *m1 = open_error("docker://127.0.0.1:1/x", NULL);
	ck_assert_msg(strstr(m1, "'https://127.0.0.1:1/v2/x/manifests/latest'"), "%s", m1);
	ck_assert_ptr_nonnull(strstr(m1, "'docker://127.0.0.1:1/x'"));
	struct ak_image_options o;
	ak_image_options_init(&o);
	ck_assert(o.registry.tls_verify);
	cleanup_free char *m2 = open_error("docker://127.0.0.1:1/x", &o);
	ck_assert_msg(strstr(m2, "'https://127.0.0.1:1/"), "%s", m2);
	/* --tls-verify=false: https tried first, then plain http */
	o.registry.tls_verify = false;
	cleanup_free char *m3 = open_error("docker://127.0.0.1:1/a/b:t", &o);
	ck_assert_msg(strstr(m3, "'http://127.0.0.1:1/v2/a/b/manifests/t'"), "%s", m3);
}
END_TEST

Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("ref");
	tcase_add_test(tc, test_hub_short_names);
	tcase_add_test(tc, test_hosts_and_ports);
	tcase_add_test(tc, test_digests);
	tcase_add_test(tc, test_bad_references);
	tcase_add_test(tc, test_image_ref_form);
	suite_add_tcase(s, tc);
	tc = tcase_create("source");
	tcase_add_test(tc, test_tls_verified_by_default);
	suite_add_tcase(s, tc);
	return s;
}
