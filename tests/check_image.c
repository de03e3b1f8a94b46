/* probe's image side: every input form is built at test time (OCI layouts with real
 * sha256 blobs, docker save dirs, buildx local folders, tar archives written with
 * libarchive), then opened, walked and read back through verifying streams. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/platform.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "image/doc.h"
#include "image/image.h"
#include "image/source.h"
#include "tests/testlib.h"

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"

static char root[PATH_MAX]; /* per test: root/img, root/tmp ($TMPDIR), root/out */

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/ak-check-image-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/tmp", root);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	setenv("TMPDIR", p, 1);
	snprintf(p, sizeof(p), "%s/img", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void teardown(void)
{
	ak_tmpdir_remove(root);
}

static char *path_in(const char *fmt, ...)
{
	static char buf[4][2 * PATH_MAX];
	static int slot;
	char rel[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	char *b = buf[slot++ % 4];
	snprintf(b, 2 * PATH_MAX, "%s/%s", root, rel);
	return b;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Write a blob into layout dir "img" (or another), returning its descriptor JSON. */
struct blob {
	char digest[72];
	size_t size;
	char desc[512];
};

static struct blob put_blob(const char *layout, const char *mt, const char *data, size_t len,
			    const char *extra)
{
	struct blob b;
	char hex[65];
	sha256_hex(data, len, hex);
	snprintf(b.digest, sizeof(b.digest), "sha256:%s", hex);
	b.size = len;
	write_file(path_in("%s/blobs/sha256/%s", layout, hex), data, len);
	snprintf(b.desc, sizeof(b.desc),
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu%s%s}", mt, b.digest, len,
		 extra ? "," : "", extra ? extra : "");
	return b;
}

static struct blob put_json(const char *layout, const char *mt, const char *extra, const char *fmt,
			    ...)
{
	char *doc;
	va_list ap;
	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&doc, fmt, ap), 0);
	va_end(ap);
	struct blob b = put_blob(layout, mt, doc, strlen(doc), extra);
	free(doc);
	return b;
}

/* An image manifest for one platform with two layers; returns the manifest blob. */
static struct blob put_image(const char *layout, const char *arch, const char *variant,
			     struct blob *layer0)
{
	char l0[64], l1[64];
	snprintf(l0, sizeof(l0), "layer zero of %s", arch);
	snprintf(l1, sizeof(l1), "layer one of %s/%s", arch, variant ? variant : "");
	struct blob a = put_blob(layout, MT_LAYER, l0, strlen(l0), NULL);
	struct blob b = put_blob(layout, MT_LAYER, l1, strlen(l1), NULL);
	if (layer0)
		*layer0 = a;
	struct blob cfg = put_json(layout, MT_CONFIG, NULL,
				   "{\"os\":\"linux\",\"architecture\":\"%s\"%s%s%s,"
				   "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
				   arch, variant ? ",\"variant\":\"" : "", variant ? variant : "",
				   variant ? "\"" : "", a.digest, b.digest);
	return put_json(
		layout, MT_MANIFEST, NULL,
		"{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,\"layers\":[%s,%s]}",
		MT_MANIFEST, cfg.desc, a.desc, b.desc);
}

static void put_index_json(const char *layout, const char *fmt, ...)
{
	char *doc;
	va_list ap;
	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&doc, fmt, ap), 0);
	va_end(ap);
	write_file(path_in("%s/index.json", layout), doc, strlen(doc));
	write_file(path_in("%s/oci-layout", layout), "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	free(doc);
}

/* The layout buildx type=oci writes: index.json -> image index -> manifests, with an
 * attestation manifest per platform and an unknown media type thrown in. */
static struct blob layer0_amd64;
static void build_buildx_layout(const char *layout)
{
	char plat[3][128];
	struct blob amd = put_image(layout, "amd64", NULL, &layer0_amd64);
	struct blob arm = put_image(layout, "arm64", NULL, NULL);
	struct blob v7 = put_image(layout, "arm", "v7", NULL);
	snprintf(plat[0], sizeof(plat[0]),
		 "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}");
	snprintf(plat[1], sizeof(plat[1]),
		 "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}");
	snprintf(plat[2], sizeof(plat[2]),
		 "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}");
	char *att_extra;
	ck_assert_int_ge(
		asprintf(&att_extra,
			 "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"},"
			 "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\","
			 "\"vnd.docker.reference.digest\":\"%s\"}",
			 amd.digest),
		0);
	struct blob intoto = put_blob(layout, "application/vnd.in-toto+json", "{}", 2, NULL);
	struct blob attcfg = put_json(layout, MT_CONFIG, NULL,
				      "{\"architecture\":\"unknown\",\"os\":\"unknown\"}");
	struct blob att = put_json(layout, MT_MANIFEST, att_extra,
				   "{\"schemaVersion\":2,\"config\":%s,\"layers\":[%s]}",
				   attcfg.desc, intoto.desc);
	free(att_extra);
	/* re-describe manifests with their platform */
	char d0[700], d1[700], d2[700];
	snprintf(d0, sizeof(d0), "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,%s}",
		 MT_MANIFEST, amd.digest, amd.size, plat[0]);
	snprintf(d1, sizeof(d1), "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,%s}",
		 MT_MANIFEST, arm.digest, arm.size, plat[1]);
	snprintf(d2, sizeof(d2), "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,%s}",
		 MT_MANIFEST, v7.digest, v7.size, plat[2]);
	struct blob odd = put_blob(layout, "application/vnd.example.thing", "x", 1, NULL);
	struct blob idx = put_json(
		layout, MT_INDEX,
		"\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}",
		"{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s,%s,%s,%s,%s]}",
		MT_INDEX, d0, d1, d2, att.desc, odd.desc);
	put_index_json(layout, "{\"schemaVersion\":2,\"manifests\":[%s]}", idx.desc);
}

static const struct ak_variant *find_variant(const struct ak_variant_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].platform && !strcmp(l->items[i].platform->name, name))
			return &l->items[i];
	return NULL;
}

/* Read a blob through the image's verifying stream; returns the bytes (caller frees). */
static char *read_blob(struct ak_image *img, const struct ak_descriptor *d, struct ak_error **err)
{
	cleanup_stream struct ak_stream *s = NULL;
	char *buf = NULL;
	if (ak_image_open_blob(img, d, &s, err) < 0)
		return NULL;
	if (ak_stream_read_all(s, 1 << 20, &buf, NULL, err) < 0)
		return NULL;
	return buf;
}

START_TEST(test_nested_index_attestations_skipped)
{
	build_buildx_layout("img");
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_msg(ak_image_open(path_in("img"), &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "oci");
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(l.skipped_attestations, 1);
	ck_assert_uint_eq(l.n_notes, 2);
	ck_assert_ptr_nonnull(strstr(l.notes[0], "media type 'application/vnd.example.thing'"));
	ck_assert_msg(strstr(l.notes[1], "skipped 1 attestation manifest (sha256:") &&
			      strstr(l.notes[1], "): platform unknown/unknown in the index, which "
						 "no runtime runs"),
		      "%s", l.notes[1]);
	const struct ak_variant *v = find_variant(&l, "linux/arm/v7");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v->index_platform, "linux/arm/v7");
	ck_assert_str_eq(v->config_platform, "linux/arm/v7");
	ck_assert_ptr_eq(v->config_parsed, v->index_parsed);
	ck_assert_str_eq(v->ref_name, "latest");
	ck_assert_uint_eq(v->nlayers, 2);
	ck_assert_int_eq(v->tree_fd, -1);
	v = find_variant(&l, "linux/amd64");
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(v->manifest_digest);
	ck_assert_str_eq(v->layers[0].digest, layer0_amd64.digest);
	ck_assert_str_eq(v->layers[0].media_type, MT_LAYER);
	char *data = read_blob(img, &v->layers[0], &err);
	ck_assert_msg(data != NULL, "%s", err ? err->msg : "");
	ck_assert_str_eq(data, "layer zero of amd64");
	free(data);
	ak_variant_list_free(&l);
	ak_image_close(img);
}
END_TEST

START_TEST(test_platform_filter_aliases)
{
	build_buildx_layout("img");
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_image_open(path_in("img"), &img, &err), 0);
	const struct ak_platform *f[2] = {ak_platform_parse("aarch64", NULL),
					  ak_platform_parse("armhf", NULL)};
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, f, 2, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 2);
	ck_assert_ptr_nonnull(find_variant(&l, "linux/arm64"));
	ck_assert_ptr_nonnull(find_variant(&l, "linux/arm/v7"));
	ak_variant_list_free(&l);
	const struct ak_platform *s390 = ak_platform_parse("s390x", NULL);
	ck_assert_int_lt(ak_image_variants(img, &s390, 1, &l, &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_ptr_nonnull(strstr(err->msg, "no variant for linux/s390x"));
	ck_assert_ptr_nonnull(strstr(err->msg, "linux/amd64, linux/arm64, linux/arm/v7"));
	ak_image_close(img);
}
END_TEST

/* With --platform, a manifest the index claims for another platform is not even read: a
 * registry fetches only what is probed. It still counts as what the image has. */
START_TEST(test_filter_reads_only_selected)
{
	struct blob amd = put_image("img", "amd64", NULL, NULL);
	struct blob arm = put_image("img", "arm64", NULL, NULL);
	put_index_json("img",
		       "{\"schemaVersion\":2,\"manifests\":[%.*s,\"platform\":{\"os\":\"linux\","
		       "\"architecture\":\"amd64\"}},%.*s,\"platform\":{\"os\":\"linux\","
		       "\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}",
		       (int)strlen(amd.desc) - 1, amd.desc, (int)strlen(arm.desc) - 1, arm.desc);
	ck_assert_int_eq(unlink(path_in("img/blobs/sha256/%s", strchr(arm.digest, ':') + 1)), 0);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_image_open(path_in("img"), &img, &err), 0);
	const struct ak_platform *amd64 = ak_platform_parse("amd64", NULL);
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, &amd64, 1, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.items[0].manifest_digest, amd.digest);
	ck_assert_uint_eq(l.items[0].nlayers, 2);
	ak_variant_list_free(&l);
	const struct ak_platform *s390 = ak_platform_parse("s390x", NULL);
	ck_assert_int_lt(ak_image_variants(img, &s390, 1, &l, &err), 0);
	ck_assert_ptr_nonnull(strstr(err->msg, "(it has: linux/amd64, linux/arm64)"));
	ak_error_clear(&err);
	/* unfiltered, the missing manifest is read and missed */
	ck_assert_int_lt(ak_image_variants(img, NULL, 0, &l, &err), 0);
	ck_assert_ptr_nonnull(strstr(err->msg, "is missing from"));
	ak_image_close(img);
}
END_TEST

START_TEST(test_tag_selection)
{
	struct blob a = put_image("img", "amd64", NULL, NULL);
	struct blob b = put_image("img", "riscv64", NULL, NULL);
	char ea[900], eb[900];
	snprintf(ea, sizeof(ea),
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org."
		 "opencontainers.image.ref.name\":\"v1\"}}",
		 MT_MANIFEST, a.digest, a.size);
	snprintf(eb, sizeof(eb),
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org."
		 "opencontainers.image.ref.name\":\"v2\"}}",
		 MT_MANIFEST, b.digest, b.size);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s,%s]}", ea, eb);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	char ref[2 * PATH_MAX + 16];
	snprintf(ref, sizeof(ref), "oci:%s:v2", path_in("img"));
	ck_assert_msg(ak_image_open(ref, &img, &err) == 0, "%s", err ? err->msg : "");
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.items[0].platform->name, "linux/riscv64");
	ck_assert_ptr_null(l.items[0].index_platform);
	ck_assert_str_eq(l.items[0].ref_name, "v2");
	ak_variant_list_free(&l);
	ak_image_close(img);

	snprintf(ref, sizeof(ref), "oci:%s:v3", path_in("img"));
	ck_assert_int_eq(ak_image_open(ref, &img, &err), 0);
	ck_assert_int_lt(ak_image_variants(img, NULL, 0, &l, &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_ptr_nonnull(strstr(err->msg, "tag 'v3' not found"));
	ck_assert_ptr_nonnull(strstr(err->msg, "available: 'v1', 'v2'"));
	ak_image_close(img);
}
END_TEST

/* Open ref and list its variants; the failure must be a clean AK_EXIT_ENV naming needle. */
static void expect_error(const char *ref, const char *needle)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	struct ak_variant_list l = {0};
	int r = ak_image_open(ref, &img, &err);
	if (r == 0)
		r = ak_image_variants(img, NULL, 0, &l, &err);
	ck_assert_msg(r < 0, "'%s' opened although it should fail with '%s'", ref, needle);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, needle), "message '%s' lacks '%s'", err->msg, needle);
	ak_image_close(img);
}

START_TEST(test_hostile_indexes)
{
	char img[PATH_MAX + 8];
	snprintf(img, sizeof(img), "%s/img", root);
	put_index_json("img", "%s", "");
	expect_error(img, "invalid JSON");
	put_index_json("img", "{\"manifests\":{}}");
	expect_error(img, "'manifests' is not an array");
	put_index_json("img", "{\"manifests\":[]}");
	expect_error(img, "holds no image manifests");
	char hex[65];
	sha256_hex("absent", 6, hex);
	put_index_json(
		"img",
		"{\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":6}]}",
		MT_MANIFEST, hex);
	expect_error(img, "is missing from");
	put_index_json("img",
		       "{\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":"
		       "9223372036854775807}]}",
		       MT_MANIFEST, hex);
	expect_error(img, "size 9223372036854775807 is larger than 2^62 bytes");
	put_index_json(
		"img",
		"{\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":-1}]}",
		MT_MANIFEST, hex);
	expect_error(img, "negative size -1");
	put_index_json("img",
		       "{\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"md5:"
		       "0cc175b9c0f1b6a831c399e269772661\",\"size\":1}]}",
		       MT_MANIFEST);
	expect_error(img, "unsupported algorithm 'md5'");
	hex[5] = 'Z';
	put_index_json(
		"img",
		"{\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":1}]}",
		MT_MANIFEST, hex);
	expect_error(img, "not lowercase hex");
	put_index_json(
		"img",
		"{\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:abc\",\"size\":1}]}",
		MT_MANIFEST);
	expect_error(img, "3 hex digits, expected 64");
	/* 10,000-deep nesting: jansson's depth limit, reported as invalid JSON */
	size_t depth = 10000;
	char *deep = malloc(2 * depth + 32);
	size_t n = (size_t)sprintf(deep, "{\"manifests\":");
	for (size_t i = 0; i < depth; i++)
		deep[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	put_index_json("img", "%s", deep);
	free(deep);
	expect_error(img, "maximum parsing depth");
	/* duplicate keys would let two readers see two images */
	put_index_json("img", "{\"manifests\":[],\"manifests\":[]}");
	expect_error(img, "invalid JSON: duplicate object key");
	expect_error(path_in("nothing-here"), "cannot open image");
	ck_assert_int_eq(mkdir(path_in("empty"), 0755), 0);
	expect_error(path_in("empty"), "cannot tell the image format");
	expect_error("docker://registry.example/X:1", "invalid registry reference");
}
END_TEST

START_TEST(test_nesting_depth_limit)
{
	struct blob cur = put_image("img", "amd64", NULL, NULL);
	for (int i = 0; i < AK_IMAGE_DEPTH_MAX + 1; i++)
		cur = put_json("img", MT_INDEX, NULL, "{\"schemaVersion\":2,\"manifests\":[%s]}",
			       cur.desc);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", cur.desc);
	expect_error(path_in("img"), "indexes nested deeper than 8 levels");
}
END_TEST

START_TEST(test_blob_verification)
{
	struct blob layer;
	struct blob m = put_image("img", "s390x", NULL, &layer);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", m.desc);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_image_open(path_in("img"), &img, &err), 0);
	struct ak_variant_list l;
	ck_assert_int_eq(ak_image_variants(img, NULL, 0, &l, &err), 0);
	const struct ak_descriptor *d = &l.items[0].layers[0];
	/* same size, other bytes: the read that reaches the end fails */
	char *bad = strdup("layer zero of s390x");
	bad[0] = 'L';
	write_file(path_in("img/blobs/sha256/%s", layer.digest + 7), bad, strlen(bad));
	free(bad);
	ck_assert_ptr_null(read_blob(img, d, &err));
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	char want[64];
	snprintf(want, sizeof(want),
		 "blob 'sha256:%.12s…': digest mismatch (got sha256:", layer.digest + 7);
	ck_assert_msg(strstr(err->msg, want), "%s", err->msg);
	ak_error_clear(&err);
	/* longer on disk: refused before reading */
	write_file(path_in("img/blobs/sha256/%s", layer.digest + 7), "layer zero of s390x!", 20);
	ck_assert_ptr_null(read_blob(img, d, &err));
	ck_assert_ptr_nonnull(strstr(err->msg, "20 bytes on disk, its descriptor says 19"));
	ak_error_clear(&err);
	/* a stream that gives more than the descriptor's size (a registry could) */
	struct ak_descriptor small = *d;
	small.size = 5;
	int fd = open(path_in("img/blobs/sha256/%s", layer.digest + 7), O_RDONLY);
	struct ak_stream *s = NULL;
	ck_assert_int_eq(ak_blob_stream_new(ak_fd_stream_new(fd, "x"), &small, &s, &err), 0);
	char buf[64];
	ssize_t r;
	while ((r = ak_stream_read(s, buf, sizeof(buf), &err)) > 0)
		;
	ck_assert_int_lt(r, 0);
	ck_assert_ptr_nonnull(strstr(err->msg, "longer than its descriptor's size 5"));
	ak_stream_close(s);
	ak_error_clear(&err);
	/* and one that ends early */
	small.size = 40;
	fd = open(path_in("img/blobs/sha256/%s", layer.digest + 7), O_RDONLY);
	ck_assert_int_eq(ak_blob_stream_new(ak_fd_stream_new(fd, "x"), &small, &s, &err), 0);
	while ((r = ak_stream_read(s, buf, sizeof(buf), &err)) > 0)
		;
	ck_assert_int_lt(r, 0);
	ck_assert_ptr_nonnull(strstr(err->msg, "truncated: 20 of 40 bytes"));
	ak_stream_close(s);
	ak_error_clear(&err);
	small.size = -3;
	ck_assert_int_lt(ak_blob_stream_new(ak_fd_stream_new(open("/dev/null", O_RDONLY), "x"),
					    &small, &s, &err),
			 0);
	ck_assert_ptr_nonnull(strstr(err->msg, "negative size -3"));
	ak_variant_list_free(&l);
	ak_image_close(img);
}
END_TEST

START_TEST(test_artifact_manifest_noted)
{
	struct blob real = put_image("img", "ppc64le", NULL, NULL);
	struct blob cfg =
		put_json("img", "application/vnd.dev.cosign.artifact.sig.v1+json", NULL, "{}");
	struct blob sig = put_json("img", MT_MANIFEST, NULL,
				   "{\"schemaVersion\":2,\"config\":%s,\"layers\":[]}", cfg.desc);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s,%s]}", real.desc, sig.desc);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_image_open(path_in("img"), &img, &err), 0);
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.items[0].platform->name, "linux/ppc64le");
	ck_assert_uint_eq(l.n_notes, 1);
	ck_assert_ptr_nonnull(strstr(l.notes[0], "is not an image config"));
	ak_variant_list_free(&l);
	ak_image_close(img);
}
END_TEST

/* --- tar archives written with libarchive --- */

struct tar_entry {
	const char *name;
	char type;	  /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link */
	const char *data; /* file contents or link target */
};

static void tar_add(struct archive *a, const char *name, char type, const char *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_perm(e, type == 'd' ? 0755 : 0644);
	switch (type) {
	case 'd':
		archive_entry_set_filetype(e, AE_IFDIR);
		break;
	case 'l':
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, data);
		break;
	case 'h':
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_hardlink(e, data);
		break;
	default:
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)len);
	}
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	if (type == 'f' && len)
		ck_assert_int_eq(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static struct archive *tar_open(const char *out)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	ck_assert_int_eq(archive_write_open_filename(a, out), ARCHIVE_OK);
	return a;
}

static void tar_close(struct archive *a)
{
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void tar_entries(const char *out, const struct tar_entry *e, size_t n)
{
	struct archive *a = tar_open(out);
	for (size_t i = 0; i < n; i++)
		tar_add(a, e[i].name, e[i].type, e[i].data, e[i].data ? strlen(e[i].data) : 0);
	tar_close(a);
}

static struct archive *walk_archive;
static size_t walk_prefix;
static int tar_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *name = path + walk_prefix;
	if (!*name)
		return 0;
	name++;
	if (S_ISDIR(st->st_mode)) {
		tar_add(walk_archive, name, 'd', NULL, 0);
	} else if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		ck_assert_int_gt(n, 0);
		target[n] = '\0';
		tar_add(walk_archive, name, 'l', target, 0);
	} else {
		char *data = NULL;
		size_t len = 0;
		ck_assert_int_eq(ak_read_file(path, 1 << 20, &data, &len, NULL), 0);
		tar_add(walk_archive, name, 'f', data, len);
		free(data);
	}
	return 0;
}

/* Tar a directory tree with names relative to it (buildx lists blobs first: so do we,
 * by walking depth first with blobs/ sorting before index.json). */
static void tar_dir(const char *dir, const char *out)
{
	walk_archive = tar_open(out);
	walk_prefix = strlen(dir);
	ck_assert_int_eq(nftw(dir, tar_one, 16, FTW_PHYS), 0);
	tar_close(walk_archive);
}

/* --- docker save --- */

static char docker_layer_digest[72];
/* Old docker save: <id>/layer.tar with the duplicate as a symlink, <hex>.json config. */
static void build_docker_save_old(const char *dir)
{
	const char *layer = "uncompressed layer tar bytes";
	char lhex[65], chex[65], cfg[512], man[1024];
	sha256_hex(layer, strlen(layer), lhex);
	snprintf(docker_layer_digest, sizeof(docker_layer_digest), "sha256:%s", lhex);
	const char *id1 = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *id2 = "2222222222222222222222222222222222222222222222222222222222222222";
	write_file(path_in("%s/%s/layer.tar", dir, id1), layer, strlen(layer));
	write_file(path_in("%s/%s/VERSION", dir, id1), "1.0", 3);
	ck_assert_int_eq(mkdir(path_in("%s/%s", dir, id2), 0755), 0);
	char target[128];
	snprintf(target, sizeof(target), "../%s/layer.tar", id1);
	ck_assert_int_eq(symlink(target, path_in("%s/%s/layer.tar", dir, id2)), 0);
	snprintf(cfg, sizeof(cfg),
		 "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\",\"rootfs\":"
		 "{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\",\"sha256:%s\"]}}",
		 lhex, lhex);
	sha256_hex(cfg, strlen(cfg), chex);
	write_file(path_in("%s/%s.json", dir, chex), cfg, strlen(cfg));
	snprintf(man, sizeof(man),
		 "[{\"Config\":\"%s.json\",\"RepoTags\":[\"example/app:1.0\"],\"Layers\":"
		 "[\"%s/layer.tar\",\"%s/layer.tar\"]}]",
		 chex, id1, id2);
	write_file(path_in("%s/manifest.json", dir), man, strlen(man));
	write_file(path_in("%s/repositories", dir), "{}", 2);
}

static void check_docker_old_variants(struct ak_image *img)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 1);
	const struct ak_variant *v = &l.items[0];
	ck_assert_ptr_null(v->index_platform);
	ck_assert_str_eq(v->config_platform, "linux/arm64/v8");
	ck_assert_str_eq(v->platform->name, "linux/arm64");
	ck_assert_ptr_null(v->manifest_digest);
	ck_assert_str_eq(v->ref_name, "example/app:1.0");
	ck_assert_uint_eq(v->nlayers, 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_str_eq(v->layers[i].digest, docker_layer_digest);
		ck_assert_int_eq(v->layers[i].size, 28);
		char *data = read_blob(img, &v->layers[i], &err);
		ck_assert_msg(data != NULL, "layer %zu: %s", i, err ? err->msg : "");
		ck_assert_str_eq(data, "uncompressed layer tar bytes");
		free(data);
	}
	ak_variant_list_free(&l);
}

START_TEST(test_docker_save_old_format)
{
	build_docker_save_old("img");
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_msg(ak_image_open(path_in("img"), &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "docker-save");
	check_docker_old_variants(img);
	ak_image_close(img);
	/* the same as a docker-archive, with a RepoTag */
	tar_dir(path_in("img"), path_in("save.tar"));
	char ref[2 * PATH_MAX + 32];
	snprintf(ref, sizeof(ref), "docker-archive:%s:example/app:1.0", path_in("save.tar"));
	ck_assert_msg(ak_image_open(ref, &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "docker-archive");
	check_docker_old_variants(img);
	ak_image_close(img);
	snprintf(ref, sizeof(ref), "tar:%s", path_in("save.tar"));
	ck_assert_msg(ak_image_open(ref, &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "docker-archive");
	check_docker_old_variants(img);
	ak_image_close(img);
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	snprintf(ref, sizeof(ref), "docker-archive:%s:other:2", path_in("save.tar"));
	expect_error(ref,
		     "tag 'other:2' not found in 'manifest.json' (available: 'example/app:1.0')");
}
END_TEST

START_TEST(test_docker_save_25)
{
	struct blob a = put_blob("img", MT_LAYER, "bottom", 6, NULL);
	struct blob b = put_blob("img", MT_LAYER, "top", 3, NULL);
	struct blob cfg = put_json("img", MT_CONFIG, NULL,
				   "{\"os\":\"linux\",\"architecture\":\"mips64le\",\"rootfs\":{"
				   "\"diff_ids\":[\"%s\",\"%s\"]}}",
				   a.digest, b.digest);
	struct blob m = put_json(
		"img", MT_MANIFEST,
		"\"annotations\":{\"io.containerd.image.name\":\"docker.io/x/y:2\","
		"\"org.opencontainers.image.ref.name\":\"2\"}",
		"{\"schemaVersion\":2,\"config\":%s,\"layers\":[%s,%s]}", cfg.desc, a.desc, b.desc);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", m.desc);
	/* manifest.json's order wins over the OCI manifest's (here reversed on purpose) */
	char man[2048];
	snprintf(man, sizeof(man),
		 "[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":[\"x/y:2\"],\"Layers\":"
		 "[\"blobs/sha256/%s\",\"blobs/sha256/%s\"]}]",
		 cfg.digest + 7, b.digest + 7, a.digest + 7);
	write_file(path_in("img/manifest.json"), man, strlen(man));
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_msg(ak_image_open(path_in("img"), &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "docker-save");
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 1);
	const struct ak_variant *v = &l.items[0];
	ck_assert_ptr_null(v->index_platform);
	ck_assert_str_eq(v->platform->name, "linux/mips64le");
	ck_assert_str_eq(v->manifest_digest, m.digest);
	ck_assert_uint_eq(v->nlayers, 2);
	ck_assert_str_eq(v->layers[0].digest, b.digest);
	ck_assert_str_eq(v->layers[1].digest, a.digest);
	char *data = read_blob(img, &v->layers[1], &err);
	ck_assert_str_eq(data, "bottom");
	free(data);
	ak_variant_list_free(&l);
	ak_image_close(img);
}
END_TEST

/* --- buildx local and tar output --- */

START_TEST(test_local_output)
{
	write_file(path_in("img/linux_amd64/bin/sh"), "amd64 sh", 8);
	write_file(path_in("img/linux_arm_v7/bin/sh"), "arm sh", 6);
	write_file(path_in("img/README"), "not a platform", 14);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_msg(ak_image_open(path_in("img"), &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "local");
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 2);
	const struct ak_variant *v = find_variant(&l, "linux/arm/v7");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v->folder_platform, "linux/arm/v7");
	ck_assert_ptr_null(v->config_platform);
	ck_assert_uint_eq(v->nlayers, 0);
	ck_assert_int_ge(v->tree_fd, 0);
	ck_assert_str_eq(v->tree_path, path_in("img/linux_arm_v7"));
	struct stat st;
	ck_assert_int_eq(fstatat(v->tree_fd, "bin/sh", &st, 0), 0);
	ck_assert_int_eq(st.st_size, 6);
	struct ak_stream *s = NULL;
	ck_assert_int_lt(ak_image_open_blob(img,
					    &(struct ak_descriptor){.digest = docker_layer_digest},
					    &s, &err),
			 0);
	ak_error_clear(&err);
	ak_variant_list_free(&l);
	ak_image_close(img);

	/* one platform: a bare root filesystem, its platform only what --platform says */
	write_file(path_in("rootfs/bin/sh"), "sh", 2);
	char ref[2 * PATH_MAX + 8];
	snprintf(ref, sizeof(ref), "local:%s", path_in("rootfs"));
	ck_assert_int_eq(ak_image_open(ref, &img, &err), 0);
	ck_assert_int_eq(ak_image_variants(img, NULL, 0, &l, &err), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_ptr_null(l.items[0].platform);
	ak_variant_list_free(&l);
	const struct ak_platform *f = ak_platform_parse("linux/arm64", NULL);
	ck_assert_int_eq(ak_image_variants(img, &f, 1, &l, &err), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_ptr_eq(l.items[0].platform, f);
	ck_assert_ptr_null(l.items[0].folder_platform);
	ak_variant_list_free(&l);
	ak_image_close(img);
}
END_TEST

START_TEST(test_buildx_type_tar)
{
	const struct tar_entry e[] = {
		{"linux_amd64/", 'd', NULL},
		{"linux_amd64/bin/sh", 'f', "amd64 sh"},
		{"linux_arm64/bin/sh", 'f', "arm64 sh"},
		{"linux_arm64/bin/ls", 'l', "/bin/sh"},
		{"linux_arm64/bin/cat", 'h', "linux_arm64/bin/sh"},
	};
	tar_entries(path_in("out.tar"), e, sizeof(e) / sizeof(e[0]));
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	char ref[2 * PATH_MAX + 8];
	snprintf(ref, sizeof(ref), "tar:%s", path_in("out.tar"));
	ck_assert_msg(ak_image_open(ref, &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "local-tar");
	ak_image_close(img);
	ck_assert_msg(ak_image_open(path_in("out.tar"), &img, &err) == 0, "%s",
		      err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "local-tar");
	ck_assert_ptr_nonnull(ak_image_tmpdir(img));
	ck_assert(ak_str_has_prefix(ak_image_tmpdir(img), path_in("tmp/archkit-image-")));
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 2);
	const struct ak_variant *v = find_variant(&l, "linux/arm64");
	ck_assert_ptr_nonnull(v);
	char target[64] = "";
	/* absolute links mean the platform folder's root: rewritten relative to it */
	ck_assert_int_eq(readlinkat(v->tree_fd, "bin/ls", target, sizeof(target) - 1), 9);
	ck_assert_str_eq(target, "../bin/sh");
	char *data = NULL;
	ck_assert_int_eq(ak_read_file_at(v->tree_fd, "bin/cat", 100, &data, NULL, NULL), 0);
	ck_assert_str_eq(data, "arm64 sh");
	free(data);
	ak_image_close(img);
	/* the extraction is gone; the tree fd the list owns still works */
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	ak_variant_list_free(&l);
}
END_TEST

/* buildx and buildah type=tar of one platform: a bare root filesystem in a tar */
START_TEST(test_rootfs_tar)
{
	const struct tar_entry e[] = {
		{"./", 'd', NULL},
		{"bin/sh", 'f', "arm64 sh"},
		{"usr/bin/sh", 'l', "/bin/sh"},
		{"lib", 'l', "/"},
		/* a later entry replaces an earlier one, held-back links included */
		{"a", 'f', "replaced"},
		{"a", 'l', "/bin/sh"},
		{"b", 'l', "/bin/sh"},
		{"b", 'f', "kept"},
		{"c", 'l', "/nowhere"},
		{"c", 'l', "/bin/sh"},
		/* nothing leaves the root */
		{"etc", 'l', "/etc"},
		{"etc/evil", 'f', "x"},
		{"up", 'l', "/../../../.."},
	};
	tar_entries(path_in("rootfs.tar"), e, sizeof(e) / sizeof(e[0]));
	const struct ak_platform *arm64 = ak_platform_parse("linux/arm64", NULL);
	char ref[2 * PATH_MAX + 8];
	snprintf(ref, sizeof(ref), "tar:%s", path_in("rootfs.tar"));
	const char *refs[] = {ref, path_in("rootfs.tar")};
	for (size_t i = 0; i < 2; i++) {
		cleanup_error struct ak_error *err = NULL;
		struct ak_image *img = NULL;
		ck_assert_msg(ak_image_open(refs[i], &img, &err) == 0, "%s: %s", refs[i],
			      err ? err->msg : "");
		ck_assert_str_eq(ak_image_kind(img), "local-tar");
		struct ak_variant_list l;
		ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s",
			      err ? err->msg : "");
		ck_assert_uint_eq(l.n, 1);
		const struct ak_variant *v = &l.items[0];
		/* nothing names its platform: --platform has to */
		ck_assert_ptr_null(v->platform);
		ck_assert_ptr_null(v->folder_platform);
		ck_assert_uint_eq(v->nlayers, 0);
		ck_assert_int_ge(v->tree_fd, 0);
		char target[64] = "";
		/* absolute links mean the archive's root: rewritten relative to it */
		ck_assert_int_eq(readlinkat(v->tree_fd, "usr/bin/sh", target, sizeof(target) - 1),
				 12);
		ck_assert_str_eq(target, "../../bin/sh");
		memset(target, 0, sizeof(target));
		ck_assert_int_eq(readlinkat(v->tree_fd, "lib", target, sizeof(target) - 1), 1);
		ck_assert_str_eq(target, ".");
		char *data = NULL;
		ck_assert_int_eq(ak_read_file_at(v->tree_fd, "bin/sh", 100, &data, NULL, NULL), 0);
		ck_assert_str_eq(data, "arm64 sh");
		free(data);
		memset(target, 0, sizeof(target));
		ck_assert_int_eq(readlinkat(v->tree_fd, "a", target, sizeof(target) - 1), 6);
		ck_assert_str_eq(target, "bin/sh");
		ck_assert_int_eq(ak_read_file_at(v->tree_fd, "b", 100, &data, NULL, NULL), 0);
		ck_assert_str_eq(data, "kept");
		free(data);
		memset(target, 0, sizeof(target));
		ck_assert_int_eq(readlinkat(v->tree_fd, "c", target, sizeof(target) - 1), 6);
		ck_assert_str_eq(target, "bin/sh");
		struct stat st;
		ck_assert_int_eq(fstatat(v->tree_fd, "etc/evil", &st, AT_SYMLINK_NOFOLLOW), 0);
		ck_assert_int_ne(stat("/etc/evil", &st), 0);
		ck_assert_int_ne(fstatat(v->tree_fd, "up", &st, AT_SYMLINK_NOFOLLOW), 0);
		ak_variant_list_free(&l);
		ck_assert_int_eq(ak_image_variants(img, &arm64, 1, &l, &err), 0);
		ck_assert_uint_eq(l.n, 1);
		ck_assert_ptr_eq(l.items[0].platform, arm64);
		ak_variant_list_free(&l);
		ak_image_close(img);
		ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	}
	/* what names an archive form still has to be that form */
	snprintf(ref, sizeof(ref), "oci-archive:%s", path_in("rootfs.tar"));
	expect_error(ref, "archive holds no index.json, manifest.json or linux_* folders");
	/* an archive with nothing in it is no image */
	const struct tar_entry dot[] = {{"./", 'd', NULL}};
	tar_entries(path_in("empty.tar"), dot, 1);
	snprintf(ref, sizeof(ref), "tar:%s", path_in("empty.tar"));
	expect_error(ref, "the archive is empty");
	expect_error(path_in("empty.tar"), "the archive is empty");
	snprintf(ref, sizeof(ref), "tar:%s", path_in("missing.tar"));
	expect_error(ref, "cannot open archive");
	expect_error("tar:", "'tar:' names no path");
	expect_error("oci-archive:", "'oci-archive:' names no path");
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
}
END_TEST

/* --- archives --- */

START_TEST(test_oci_archive)
{
	build_buildx_layout("lay");
	tar_dir(path_in("lay"), path_in("oci.tar"));
	const char *prefix[] = {"oci-archive:", "", "oci-archive:", "tar:"};
	const char *suffix[] = {"", "", ":latest", ""};
	for (size_t i = 0; i < 4; i++) {
		char ref[2 * PATH_MAX + 32];
		snprintf(ref, sizeof(ref), "%s%s%s", prefix[i], path_in("oci.tar"), suffix[i]);
		cleanup_error struct ak_error *err = NULL;
		struct ak_image *img = NULL;
		ck_assert_msg(ak_image_open(ref, &img, &err) == 0, "%s: %s", ref,
			      err ? err->msg : "");
		ck_assert_str_eq(ak_image_kind(img), "oci-archive");
		ck_assert_uint_eq(count_entries(path_in("tmp")), 1);
		struct ak_variant_list l;
		ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s",
			      err ? err->msg : "");
		ck_assert_uint_eq(l.n, 3);
		ck_assert_uint_eq(l.skipped_attestations, 1);
		const struct ak_variant *v = find_variant(&l, "linux/amd64");
		char *data = read_blob(img, &v->layers[0], &err);
		ck_assert_str_eq(data, "layer zero of amd64");
		free(data);
		ak_variant_list_free(&l);
		ak_image_close(img);
		ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	}
	char ref[2 * PATH_MAX + 32];
	snprintf(ref, sizeof(ref), "oci-archive:%s:missing", path_in("oci.tar"));
	expect_error(ref, "tag 'missing' not found");
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
}
END_TEST

START_TEST(test_archive_from_stdin)
{
	build_buildx_layout("lay");
	tar_dir(path_in("lay"), path_in("oci.tar"));
	int fd = open(path_in("oci.tar"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 0), 0); /* Check forks each test: our stdin only */
	close(fd);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_msg(ak_image_open("-", &img, &err) == 0, "%s", err ? err->msg : "");
	struct ak_variant_list l;
	ck_assert_int_eq(ak_image_variants(img, NULL, 0, &l, &err), 0);
	ck_assert_uint_eq(l.n, 3);
	ak_variant_list_free(&l);
	ak_image_close(img);
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
}
END_TEST

/* Nothing may land outside the extraction directory, whatever the archive says. */
START_TEST(test_archive_escapes)
{
	const struct tar_entry dotdot[] = {{"index.json", 'f', "{}"}, {"../evil", 'f', "x"}};
	tar_entries(path_in("dotdot.tar"), dotdot, 2);
	expect_error(path_in("dotdot.tar"), "archive entry '../evil' leads outside the archive");
	const struct tar_entry deep[] = {{"blobs/../../../evil", 'f', "x"}};
	tar_entries(path_in("deep.tar"), deep, 1);
	expect_error(path_in("deep.tar"), "leads outside the archive");
	const struct tar_entry abs[] = {{"/abs-archkit-test", 'f', "x"}};
	tar_entries(path_in("abs.tar"), abs, 1);
	char ref[2 * PATH_MAX + 32];
	snprintf(ref, sizeof(ref), "oci-archive:%s", path_in("abs.tar"));
	expect_error(ref, "archive entry '/abs-archkit-test' is an absolute path");
	/* links that point out are dropped, so writing through them stays inside */
	const struct tar_entry links[] = {
		{"up", 'l', "../../../.."},
		{"up/evil", 'f', "x"},
		{"etc", 'l', "/etc"},
		{"etc/evil", 'f', "x"},
		{"oci-layout", 'f', "{\"imageLayoutVersion\":\"1.0.0\"}"},
	};
	tar_entries(path_in("links.tar"), links, 5);
	/* it got as far as reading the layout, which has no index.json */
	expect_error(path_in("links.tar"), "is not an OCI layout: cannot open 'index.json'");
	/* a link inside is kept, but no entry may be written through it */
	const struct tar_entry through[] = {
		{"sub/", 'd', NULL}, {"in", 'l', "sub"}, {"in/x", 'f', "x"}};
	tar_entries(path_in("through.tar"), through, 3);
	expect_error(path_in("through.tar"), "archive entry 'in/x' goes through a non-directory");
	/* nothing outside: root holds only what the test made, $TMPDIR is empty again */
	struct stat st;
	ck_assert_int_ne(stat(path_in("evil"), &st), 0);
	ck_assert_int_ne(stat(path_in("tmp/evil"), &st), 0);
	ck_assert_int_ne(stat("/abs-archkit-test", &st), 0);
	ck_assert_int_ne(stat("/etc/evil", &st), 0);
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	ck_assert_uint_eq(count_entries(root), 7); /* img tmp and the five tars */
}
END_TEST

START_TEST(test_skopeo_dir)
{
	struct blob layer;
	struct blob m = put_image("lay", "386", NULL, &layer);
	/* skopeo's dir: transport: blobs named by hex, the manifest as manifest.json */
	char *doc = NULL;
	size_t len = 0;
	ck_assert_int_eq(ak_read_file(path_in("lay/blobs/sha256/%s", m.digest + 7), 1 << 20, &doc,
				      &len, NULL),
			 0);
	write_file(path_in("img/manifest.json"), doc, len);
	free(doc);
	write_file(path_in("img/version"), "Directory Transport Version: 1.1\n", 33);
	DIR *d = opendir(path_in("lay/blobs/sha256"));
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_eq(ak_read_file(path_in("lay/blobs/sha256/%s", de->d_name), 1 << 20,
					      &doc, &len, NULL),
				 0);
		write_file(path_in("img/%s", de->d_name), doc, len);
		free(doc);
	}
	closedir(d);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_msg(ak_image_open(path_in("img"), &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_str_eq(ak_image_kind(img), "dir");
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.items[0].platform->name, "linux/386");
	ck_assert_str_eq(l.items[0].manifest_digest, m.digest);
	ak_variant_list_free(&l);
	ak_image_close(img);
}
END_TEST

/* A FIFO where a file should be would block open() or read() forever: every file the
 * sources open from an image is refused at once instead. */
START_TEST(test_fifos_refused)
{
	char ref[2 * PATH_MAX + 16];
	/* OCI layout: index.json, then a manifest blob */
	struct blob m = put_image("img", "amd64", NULL, NULL);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", m.desc);
	ck_assert_int_eq(unlink(path_in("img/index.json")), 0);
	ck_assert_int_eq(mkfifo(path_in("img/index.json"), 0644), 0);
	expect_error(path_in("img"), "'index.json' is not a regular file (a FIFO)");
	ck_assert_int_eq(unlink(path_in("img/index.json")), 0);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", m.desc);
	ck_assert_int_eq(unlink(path_in("img/blobs/sha256/%s", m.digest + 7)), 0);
	ck_assert_int_eq(mkfifo(path_in("img/blobs/sha256/%s", m.digest + 7), 0644), 0);
	expect_error(path_in("img"), "is not a regular file (a FIFO)");
	/* a layer read through a verifying stream */
	ak_tmpdir_remove(path_in("img"));
	struct blob layer;
	m = put_image("img", "amd64", NULL, &layer);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", m.desc);
	ck_assert_int_eq(unlink(path_in("img/blobs/sha256/%s", layer.digest + 7)), 0);
	ck_assert_int_eq(mkfifo(path_in("img/blobs/sha256/%s", layer.digest + 7), 0644), 0);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_image_open(path_in("img"), &img, &err), 0);
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_ptr_null(read_blob(img, &l.items[0].layers[0], &err));
	ck_assert_ptr_nonnull(strstr(err->msg, "is not a regular file (a FIFO)"));
	ak_error_clear(&err);
	ak_variant_list_free(&l);
	ak_image_close(img);
	/* docker save: manifest.json, a config, a layer tar */
	build_docker_save_old("dock");
	ck_assert_int_eq(unlink(path_in("dock/manifest.json")), 0);
	ck_assert_int_eq(mkfifo(path_in("dock/manifest.json"), 0644), 0);
	expect_error(path_in("dock"), "'manifest.json' is not a regular file (a FIFO)");
	ak_tmpdir_remove(path_in("dock"));
	build_docker_save_old("dock");
	const char *id1 = "1111111111111111111111111111111111111111111111111111111111111111";
	ck_assert_int_eq(unlink(path_in("dock/%s/layer.tar", id1)), 0);
	ck_assert_int_eq(mkfifo(path_in("dock/%s/layer.tar", id1), 0644), 0);
	expect_error(path_in("dock"), "layer.tar' is not a regular file (a FIFO)");
	/* skopeo dir: manifest.json */
	write_file(path_in("sko/version"), "Directory Transport Version: 1.1\n", 33);
	ck_assert_int_eq(mkfifo(path_in("sko/manifest.json"), 0644), 0);
	snprintf(ref, sizeof(ref), "dir:%s", path_in("sko"));
	expect_error(ref, "'manifest.json' is not a regular file (a FIFO)");
}
END_TEST

/* The image-layout spec: oci-layout MUST exist, with imageLayoutVersion. */
START_TEST(test_oci_layout_file)
{
	char ref[2 * PATH_MAX + 16];
	struct blob m = put_image("img", "amd64", NULL, NULL);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", m.desc);
	ck_assert_int_eq(unlink(path_in("img/oci-layout")), 0);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want),
		 "'%s' is not an OCI layout: no 'oci-layout' file (the image-layout spec "
		 "requires one)",
		 path_in("img"));
	expect_error(path_in("img"), want);
	snprintf(ref, sizeof(ref), "oci:%s", path_in("img"));
	expect_error(ref, want);
	/* in an archive, the message names the archive, and TMPDIR is emptied */
	tar_dir(path_in("img"), path_in("nolayout.tar"));
	snprintf(want, sizeof(want), "'%s' is not an OCI layout: no 'oci-layout' file",
		 path_in("nolayout.tar"));
	expect_error(path_in("nolayout.tar"), want);
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	write_file(path_in("img/oci-layout"), "{}", 2);
	expect_error(path_in("img"), "'oci-layout' has no 'imageLayoutVersion' string");
	write_file(path_in("img/oci-layout"), "[1", 2);
	expect_error(path_in("img"), "'oci-layout': invalid JSON");
	const char *v2 = "{\"imageLayoutVersion\":\"2.0.0\"}";
	write_file(path_in("img/oci-layout"), v2, strlen(v2));
	expect_error(path_in("img"),
		     "'oci-layout': imageLayoutVersion '2.0.0' is not supported (archkit reads "
		     "1.x)");
	ck_assert_int_eq(unlink(path_in("img/oci-layout")), 0);
	ck_assert_int_eq(mkfifo(path_in("img/oci-layout"), 0644), 0);
	expect_error(path_in("img"), "'oci-layout' is not a regular file (a FIFO)");
	ck_assert_int_eq(unlink(path_in("img/oci-layout")), 0);
	const char *v11 = "{\"imageLayoutVersion\":\"1.1.0\"}";
	write_file(path_in("img/oci-layout"), v11, strlen(v11));
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_msg(ak_image_open(path_in("img"), &img, &err) == 0, "%s", err ? err->msg : "");
	ak_image_close(img);
}
END_TEST

/* Docker schema 1 (fsLayers, signed JWS) is named as such, with what to do. */
START_TEST(test_schema1_named)
{
	const char *v1 = "{\"schemaVersion\":1,\"name\":\"library/x\",\"tag\":\"1\","
			 "\"architecture\":\"amd64\",\"fsLayers\":[{\"blobSum\":\"sha256:"
			 "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4\"}],"
			 "\"history\":[{\"v1Compatibility\":\"{}\"}],\"signatures\":[]}";
	const char *advice = "is a Docker schema 1 manifest, which archkit does not read: "
			     "convert it ('skopeo copy --format v2s2 SRC DEST') or rebuild and "
			     "push the image again";
	char ref[2 * PATH_MAX + 16], want[512];
	/* skopeo dir: of a schema 1 image */
	write_file(path_in("sko/version"), "Directory Transport Version: 1.1\n", 33);
	write_file(path_in("sko/manifest.json"), v1, strlen(v1));
	snprintf(ref, sizeof(ref), "dir:%s", path_in("sko"));
	snprintf(want, sizeof(want), "'manifest.json' %s", advice);
	expect_error(ref, want);
	/* an index entry whose media type is schema 1 */
	struct blob m = put_blob("img", "application/vnd.docker.distribution.manifest.v1+prettyjws",
				 v1, strlen(v1), NULL);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", m.desc);
	expect_error(path_in("img"), advice);
	/* one labelled schema 2 whose document is schema 1 */
	m = put_blob("img", MT_MANIFEST, v1, strlen(v1), NULL);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", m.desc);
	expect_error(path_in("img"), advice);
	/* the root itself */
	put_index_json("img", "%s", v1);
	snprintf(want, sizeof(want), "'index.json' %s", advice);
	expect_error(path_in("img"), want);
}
END_TEST

/* A GNU long link cut short: libarchive fails with no message, which must not print as
 * "(null)". */
START_TEST(test_truncated_long_link)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_gnutar(a);
	ck_assert_int_eq(archive_write_open_filename(a, path_in("long.tar")), ARCHIVE_OK);
	char target[301];
	memset(target, 'x', 300);
	target[300] = '\0';
	tar_add(a, "link", 'l', target, 0);
	tar_close(a);
	ck_assert_int_eq(truncate(path_in("long.tar"), 512 + 100), 0); /* inside the 'K' data */
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_lt(ak_image_open(path_in("long.tar"), &img, &err), 0);
	ck_assert_msg(!strstr(err->msg, "(null)"), "%s", err->msg);
	ck_assert_msg(strstr(err->msg, "not a readable tar archive: an entry header is truncated "
				       "(a GNU long name or link cut short?)"),
		      "%s", err->msg);
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
}
END_TEST

/* An index entry for a manifest of ARCH (NULL: no platform), with a config that says
 * cfg_os/cfg_arch (NULL: nothing), annotated as an attestation or not. */
static void attest_entry(char *out, size_t outsz, const char *arch, const char *cfg_os,
			 const char *cfg_arch, bool annotated, const char *layer_text)
{
	struct blob layer = put_blob("img", MT_LAYER, layer_text, strlen(layer_text), NULL);
	char cfgdoc[256] = "{";
	if (cfg_os)
		snprintf(cfgdoc, sizeof(cfgdoc), "{\"os\":\"%s\",\"architecture\":\"%s\",", cfg_os,
			 cfg_arch);
	struct blob cfg = put_json("img", MT_CONFIG, NULL,
				   "%s\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
				   cfgdoc, layer.digest);
	struct blob m = put_json("img", MT_MANIFEST, NULL,
				 "{\"schemaVersion\":2,\"config\":%s,\"layers\":[%s]}", cfg.desc,
				 layer.desc);
	char plat[128] = "";
	if (arch)
		snprintf(plat, sizeof(plat),
			 ",\"platform\":{\"os\":\"%s\",\"architecture\":\"%s\"}",
			 strcmp(arch, "unknown") ? "linux" : "unknown", arch);
	snprintf(out, outsz, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu%s%s}",
		 MT_MANIFEST, m.digest, m.size, plat,
		 annotated ? ",\"annotations\":{\"vnd.docker.reference.type\":"
			     "\"attestation-manifest\"}"
			   : "");
}

/* Attestations are what no runtime runs: the platform decides, not the annotation
 * (containerd's platform matcher ignores annotations). */
START_TEST(test_attestation_by_platform_not_annotation)
{
	char e[7][1024];
	/* annotated, platform linux/arm64: runnable, probed */
	attest_entry(e[0], sizeof(e[0]), "arm64", "linux", "arm64", true, "a");
	/* unknown/unknown, no annotation: skipped */
	attest_entry(e[1], sizeof(e[1]), "unknown", "unknown", "unknown", false, "b");
	/* both: skipped */
	attest_entry(e[2], sizeof(e[2]), "unknown", "unknown", "unknown", true, "c");
	/* annotated, no platform in the index, unknown/unknown config: skipped */
	attest_entry(e[3], sizeof(e[3]), NULL, "unknown", "unknown", true, "d");
	/* annotated, no platform anywhere: skipped */
	attest_entry(e[4], sizeof(e[4]), NULL, NULL, NULL, true, "e");
	/* annotated, no platform in the index, config linux/riscv64: probed */
	attest_entry(e[5], sizeof(e[5]), NULL, "linux", "riscv64", true, "f");
	/* not annotated, no platform in the index, unknown/unknown config: skipped */
	attest_entry(e[6], sizeof(e[6]), NULL, "unknown", "unknown", false, "g");
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s,%s,%s,%s,%s,%s,%s]}", e[0],
		       e[1], e[2], e[3], e[4], e[5], e[6]);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_image_open(path_in("img"), &img, &err), 0);
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 2);
	ck_assert_ptr_nonnull(find_variant(&l, "linux/arm64"));
	ck_assert_ptr_nonnull(find_variant(&l, "linux/riscv64"));
	ck_assert_uint_eq(l.skipped_attestations, 5);
	const char *want[] = {
		"annotated as an attestation but its platform linux/arm64 is runnable: probed, as "
		"a runtime would pull and run it",
		"annotated as an attestation but its platform linux/riscv64 is runnable: probed",
		"skipped 2 attestation manifests (sha256:",
		"): platform unknown/unknown in the index, which no runtime runs",
		"skipped 2 attestation manifests (sha256:",
		"): platform unknown/unknown in the config, which no runtime runs",
		"skipped 1 attestation manifest (sha256:",
		"): annotated vnd.docker.reference.type=attestation-manifest, with no platform in "
		"the index or the config, which no runtime runs",
	};
	ck_assert_uint_eq(l.n_notes, 5);
	ck_assert_ptr_nonnull(strstr(l.notes[0], want[0]));
	ck_assert_ptr_nonnull(strstr(l.notes[1], want[1]));
	for (size_t i = 0; i < 3; i++)
		ck_assert_msg(strstr(l.notes[2 + i], want[2 + 2 * i]) &&
				      strstr(l.notes[2 + i], want[3 + 2 * i]),
			      "note %zu: %s", 2 + i, l.notes[2 + i]);
	ak_variant_list_free(&l);
	ak_image_close(img);
}
END_TEST

/* Small documents that cost gigabytes: one manifest listed again and again is read,
 * parsed and verified once, and the layers all the repeats would list are bounded. */
START_TEST(test_repeated_documents_memoised)
{
	struct blob m = put_image("img", "amd64", NULL, NULL);
	size_t n = 3000; /* 6000 reads without the memo: past AK_IMAGE_DOCS_MAX */
	size_t cap = n * (strlen(m.desc) + 1) + 64, len = 0;
	char *list = malloc(cap);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? "," : "", m.desc);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", list);
	free(list);
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_image_open(path_in("img"), &img, &err), 0);
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	/* the same manifest, platform claim and name again is the same container */
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.n_notes, 1);
	ck_assert_msg(strstr(l.notes[0], "is listed 3000 times: probed once"), "%s", l.notes[0]);
	ak_variant_list_free(&l);
	ak_image_close(img);

	/* 20,000 layers listed 300 times: one variant; listed under 300 names: 6M
	 * descriptors, refused at the bound, quickly */
	ak_tmpdir_remove(path_in("img"));
	struct blob layer = put_blob("img", MT_LAYER, "x", 1, NULL);
	size_t nl = 20000;
	cap = nl * (strlen(layer.desc) + 80) + 512;
	char *doc = malloc(cap), *ids = malloc(nl * 76 + 8);
	len = 0;
	size_t ilen = 0;
	for (size_t i = 0; i < nl; i++) {
		len += (size_t)snprintf(doc + len, cap - len, "%s%s", i ? "," : "", layer.desc);
		ilen += (size_t)snprintf(ids + ilen, nl * 76 + 8 - ilen, "%s\"%s\"", i ? "," : "",
					 layer.digest);
	}
	struct blob cfg = put_json(
		"img", MT_CONFIG, NULL,
		"{\"os\":\"linux\",\"architecture\":\"arm64\",\"rootfs\":{\"diff_ids\":[%s]}}",
		ids);
	struct blob big =
		put_json("img", MT_MANIFEST, NULL,
			 "{\"schemaVersion\":2,\"config\":%s,\"layers\":[%s]}", cfg.desc, doc);
	free(doc);
	free(ids);
	n = 300;
	cap = n * (strlen(big.desc) + 1) + 64;
	len = 0;
	list = malloc(cap);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? "," : "", big.desc);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", list);
	free(list);
	time_t start = time(NULL);
	ck_assert_int_eq(ak_image_open(path_in("img"), &img, &err), 0);
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.items[0].nlayers, nl);
	ak_variant_list_free(&l);
	ak_image_close(img);
	/* the descriptor with a ref name: its closing brace replaced by an annotation */
	int dlen = (int)strlen(big.desc) - 1;
	cap = n * (strlen(big.desc) + 80) + 64;
	len = 0;
	list = malloc(cap);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(list + len, cap - len,
					"%s%.*s,\"annotations\":{\"org.opencontainers.image.ref."
					"name\":\"t%zu\"}}",
					i ? "," : "", dlen, big.desc, i);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", list);
	free(list);
	expect_error(path_in("img"), "image lists more than 262144 descriptors in all (index "
				     "entries and layers, repeats counted)");
	ck_assert_int_le(time(NULL) - start, 10);

	/* two descriptors of one document that disagree on its size */
	ak_tmpdir_remove(path_in("img"));
	m = put_image("img", "amd64", NULL, NULL);
	char liar[600];
	snprintf(liar, sizeof(liar), "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}",
		 MT_MANIFEST, m.digest, m.size + 1);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s,%s]}", m.desc, liar);
	expect_error(path_in("img"), "descriptors disagree on its size");
}
END_TEST

/* The signal path: a registered directory is removed by the handler, with only
 * async-signal-safe calls, and the process still dies of the signal. */
START_TEST(test_tmpdir_removed_on_signal)
{
	/* the remover alone: deep, with links out that it must not follow */
	write_file(path_in("keep/file"), "keep", 4);
	char p[PATH_MAX] = "", tmpl[PATH_MAX];
	snprintf(tmpl, sizeof(tmpl), "%s/archkit-image-XXXXXX", path_in("tmp"));
	ck_assert_ptr_nonnull(ak_tmpdir_create(tmpl));
	size_t n = (size_t)snprintf(p, sizeof(p), "%s", tmpl);
	for (int i = 0; i < 300 && n + 8 < sizeof(p); i++) {
		n += (size_t)snprintf(p + n, sizeof(p) - n, "/d%d", i % 10);
		ck_assert_int_eq(mkdir(p, 0700), 0);
		char f[PATH_MAX + 16];
		snprintf(f, sizeof(f), "%s/f", p);
		write_file(f, "x", 1);
		snprintf(f, sizeof(f), "%s/out", p);
		ck_assert_int_eq(symlink(path_in("keep"), f), 0);
	}
	ck_assert_int_eq(ak_rmtree_signal_safe(tmpl), 0);
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	ck_assert_uint_eq(count_entries(path_in("keep")), 1);
	ak_tmpdir_forget_remove(tmpl);

	/* an unpacked image's 0555 and 0000 directories (root bypasses modes, so this
	 * counts when the suite runs unprivileged) */
	char q[PATH_MAX + 32];
	snprintf(tmpl, sizeof(tmpl), "%s/archkit-image-XXXXXX", path_in("tmp"));
	ck_assert_ptr_nonnull(ak_tmpdir_create(tmpl));
	snprintf(q, sizeof(q), "%s/ro", tmpl);
	ck_assert_int_eq(mkdir(q, 0700), 0);
	snprintf(q, sizeof(q), "%s/ro/none", tmpl);
	ck_assert_int_eq(mkdir(q, 0700), 0);
	snprintf(q, sizeof(q), "%s/ro/none/f", tmpl);
	write_file(q, "x", 1);
	snprintf(q, sizeof(q), "%s/ro/g", tmpl);
	write_file(q, "x", 1);
	snprintf(q, sizeof(q), "%s/ro/none", tmpl);
	ck_assert_int_eq(chmod(q, 0), 0);
	snprintf(q, sizeof(q), "%s/ro", tmpl);
	ck_assert_int_eq(chmod(q, 0555), 0);
	ck_assert_int_eq(ak_rmtree_signal_safe(tmpl), 0);
	ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	ak_tmpdir_forget_remove(tmpl);

	const int sigs[] = {SIGINT, SIGTERM};
	for (size_t k = 0; k < 2; k++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			signal(sigs[k], SIG_DFL);
			ak_tmpdirs_catch_signals();
			snprintf(tmpl, sizeof(tmpl), "%s/archkit-image-XXXXXX", path_in("tmp"));
			if (!ak_tmpdir_create(tmpl))
				_exit(3);
			char f[PATH_MAX + 16];
			snprintf(f, sizeof(f), "%s/blobs", tmpl);
			mkdir(f, 0700);
			snprintf(f, sizeof(f), "%s/blobs/x", tmpl);
			close(open(f, O_WRONLY | O_CREAT, 0600));
			raise(sigs[k]);
			_exit(4); /* not reached: the handler re-raises */
		}
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == sigs[k], "status %#x",
			      status);
		ck_assert_uint_eq(count_entries(path_in("tmp")), 0);
	}
}
END_TEST

/* A docker save of two amd64 images: each variant carries its image's name, so two
 * rows of linux/amd64 can be told apart. */
START_TEST(test_docker_save_two_images_named)
{
	char hex[2][65], lhex[2][65], man[2048];
	for (int i = 0; i < 2; i++) {
		char layer[32], cfg[512];
		snprintf(layer, sizeof(layer), "layer of image %d", i);
		sha256_hex(layer, strlen(layer), lhex[i]);
		write_file(path_in("img/%d/layer.tar", i), layer, strlen(layer));
		snprintf(cfg, sizeof(cfg),
			 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
			 "\"layers\",\"diff_ids\":[\"sha256:%s\"]}}",
			 lhex[i]);
		sha256_hex(cfg, strlen(cfg), hex[i]);
		write_file(path_in("img/%s.json", hex[i]), cfg, strlen(cfg));
	}
	snprintf(man, sizeof(man),
		 "[{\"Config\":\"%s.json\",\"RepoTags\":[\"app:1\",\"app:latest\"],\"Layers\":"
		 "[\"0/layer.tar\"]},{\"Config\":\"%s.json\",\"RepoTags\":[\"tools:2\"],"
		 "\"Layers\":[\"1/layer.tar\"]},{\"Config\":\"%s.json\",\"RepoTags\":null,"
		 "\"Layers\":[\"1/layer.tar\"]}]",
		 hex[0], hex[1], hex[1]);
	write_file(path_in("img/manifest.json"), man, strlen(man));
	cleanup_error struct ak_error *err = NULL;
	struct ak_image *img = NULL;
	ck_assert_msg(ak_image_open(path_in("img"), &img, &err) == 0, "%s", err ? err->msg : "");
	struct ak_variant_list l;
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.items[0].platform->name, "linux/amd64");
	ck_assert_str_eq(l.items[1].platform->name, "linux/amd64");
	ck_assert_str_eq(l.items[0].ref_name, "app:1");
	ck_assert_str_eq(l.items[1].ref_name, "tools:2");
	ck_assert_ptr_null(l.items[2].ref_name); /* saved by id */
	ak_variant_list_free(&l);
	ak_image_close(img);

	/* a file missing from an image the tag leaves out does not matter */
	ck_assert_int_eq(unlink(path_in("img/1/layer.tar")), 0);
	tar_dir(path_in("img"), path_in("save.tar"));
	char ref[2 * PATH_MAX + 32];
	snprintf(ref, sizeof(ref), "docker-archive:%s:app:1", path_in("save.tar"));
	ck_assert_msg(ak_image_open(ref, &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.items[0].ref_name, "app:1");
	ak_variant_list_free(&l);
	ak_image_close(img);
	snprintf(ref, sizeof(ref), "docker-archive:%s", path_in("save.tar"));
	expect_error(ref, "'1/layer.tar': No such file or directory");

	/* Docker 25+: a platform only index.json lists is named as manifest.json would */
	ak_tmpdir_remove(path_in("img"));
	struct blob a = put_image("img", "amd64", NULL, NULL);
	struct blob b = put_image("img", "arm64", NULL, NULL);
	const char *ann = "\"annotations\":{\"io.containerd.image.name\":\"docker.io/library/"
			  "app:1\",\"org.opencontainers.image.ref.name\":\"1\"}";
	char ea[1024], eb[1024];
	snprintf(ea, sizeof(ea),
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":"
		 "\"linux\",\"architecture\":\"amd64\"},%s}",
		 MT_MANIFEST, a.digest, a.size, ann);
	snprintf(eb, sizeof(eb),
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":"
		 "\"linux\",\"architecture\":\"arm64\"},%s}",
		 MT_MANIFEST, b.digest, b.size, ann);
	struct blob idx = put_json("img", MT_INDEX, ann,
				   "{\"schemaVersion\":2,\"manifests\":[%s,%s]}", ea, eb);
	put_index_json("img", "{\"schemaVersion\":2,\"manifests\":[%s]}", idx.desc);
	/* manifest.json holds the amd64 image only */
	char *mdoc = NULL;
	ck_assert_int_eq(ak_read_file(path_in("img/blobs/sha256/%s", a.digest + 7), 1 << 20, &mdoc,
				      NULL, NULL),
			 0);
	struct ak_manifest_doc md;
	ck_assert_int_eq(ak_manifest_parse(mdoc, strlen(mdoc), "m", &md, &err), 0);
	free(mdoc);
	snprintf(man, sizeof(man),
		 "[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":[\"app:1\"],\"Layers\":"
		 "[\"blobs/sha256/%s\",\"blobs/sha256/%s\"]}]",
		 md.config.digest + 7, md.layers[0].digest + 7, md.layers[1].digest + 7);
	ak_manifest_doc_free(&md);
	write_file(path_in("img/manifest.json"), man, strlen(man));
	ck_assert_msg(ak_image_open(path_in("img"), &img, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_msg(ak_image_variants(img, NULL, 0, &l, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(find_variant(&l, "linux/amd64")->ref_name, "app:1");
	ck_assert_str_eq(find_variant(&l, "linux/arm64")->ref_name, "app:1");
	ak_variant_list_free(&l);
	ak_image_close(img);
}
END_TEST

/* docker save: many entries naming one big config would read it again and again */
START_TEST(test_docker_save_config_bytes_bounded)
{
	size_t pad = AK_JSON_MAX - 256;
	char *cfg = malloc(pad + 256), hex[65], lhex[65];
	sha256_hex("l", 1, lhex);
	int n = snprintf(cfg, 256,
			 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"diff_ids\":"
			 "[\"sha256:%s\"]},\"pad\":\"",
			 lhex);
	memset(cfg + n, 'x', pad);
	strcpy(cfg + n + pad, "\"}");
	sha256_hex(cfg, strlen(cfg), hex);
	write_file(path_in("img/%s.json", hex), cfg, strlen(cfg));
	free(cfg);
	write_file(path_in("img/l/layer.tar"), "l", 1);
	size_t entries = 70, cap = entries * 200 + 8, len = 1;
	char *man = malloc(cap);
	man[0] = '[';
	for (size_t i = 0; i < entries; i++)
		len += (size_t)snprintf(man + len, cap - len,
					"%s{\"Config\":\"%s.json\",\"RepoTags\":[\"x:%zu\"],"
					"\"Layers\":[\"l/layer.tar\"]}",
					i ? "," : "", hex, i);
	man[len++] = ']';
	write_file(path_in("img/manifest.json"), man, len);
	free(man);
	expect_error(path_in("img"), "'manifest.json': its configs exceed 268435456 bytes in all");
}
END_TEST

START_TEST(test_parsers_directly)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_config_doc c;
	const char *cfg = "{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}";
	ck_assert_int_eq(ak_config_parse(cfg, strlen(cfg), "cfg", &c, &err), 0);
	ck_assert_str_eq(c.arch, "arm");
	ck_assert_str_eq(c.variant, "v6");
	ak_config_doc_free(&c);
	const char *badcfg = "{\"architecture\":7}";
	ck_assert_int_lt(ak_config_parse(badcfg, strlen(badcfg), "cfg", &c, &err), 0);
	ck_assert_str_eq(err->msg, "'cfg': 'architecture' is not a string");
	ak_error_clear(&err);
	struct ak_docker_manifest m;
	const char *dm = "[{\"Config\":\"c.json\",\"RepoTags\":null,\"Layers\":\"x\"}]";
	ck_assert_int_lt(ak_docker_manifest_parse(dm, strlen(dm), &m, &err), 0);
	ck_assert_str_eq(err->msg, "'manifest.json': entry 0: 'Layers' is not an array");
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ak_error_clear(&err);
	struct ak_manifest_doc md;
	const char *man = "{\"config\":{\"digest\":\"sha256:"
			  "0000000000000000000000000000000000000000000000000000000000000000\","
			  "\"size\":1.5},\"layers\":[]}";
	ck_assert_int_lt(ak_manifest_parse(man, strlen(man), "m", &md, &err), 0);
	ck_assert_ptr_nonnull(strstr(err->msg, "has no integer size"));
	char sb[32];
	ck_assert_str_eq(
		ak_digest_short(
			"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			sb),
		"sha256:0123456789ab…");
}
END_TEST

Suite *image_suite(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("image");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_nested_index_attestations_skipped);
	tcase_add_test(tc, test_platform_filter_aliases);
	tcase_add_test(tc, test_filter_reads_only_selected);
	tcase_add_test(tc, test_tag_selection);
	tcase_add_test(tc, test_hostile_indexes);
	tcase_add_test(tc, test_nesting_depth_limit);
	tcase_add_test(tc, test_blob_verification);
	tcase_add_test(tc, test_artifact_manifest_noted);
	tcase_add_test(tc, test_docker_save_old_format);
	tcase_add_test(tc, test_docker_save_25);
	tcase_add_test(tc, test_local_output);
	tcase_add_test(tc, test_buildx_type_tar);
	tcase_add_test(tc, test_rootfs_tar);
	tcase_add_test(tc, test_oci_archive);
	tcase_add_test(tc, test_archive_from_stdin);
	tcase_add_test(tc, test_archive_escapes);
	tcase_add_test(tc, test_skopeo_dir);
	tcase_add_test(tc, test_parsers_directly);
	tcase_add_test(tc, test_fifos_refused);
	tcase_add_test(tc, test_oci_layout_file);
	tcase_add_test(tc, test_schema1_named);
	tcase_add_test(tc, test_truncated_long_link);
	tcase_add_test(tc, test_attestation_by_platform_not_annotation);
	tcase_add_test(tc, test_repeated_documents_memoised);
	tcase_add_test(tc, test_tmpdir_removed_on_signal);
	tcase_add_test(tc, test_docker_save_two_images_named);
	tcase_add_test(tc, test_docker_save_config_bytes_bounded);
	suite_add_tcase(s, tc);
	return s;
}
