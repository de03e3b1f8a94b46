/* probe's orchestration: OCI layouts built at test time (tar layers written with
 * libarchive, real sha256 blobs), probed through ak_probe_run, and the report read
 * back as a user of --json would read it. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/platform.h"
#include "common/util.h"
#include "image/fsview.h"
#include "image/image.h"
#include "image/layer.h"
#include "probe/probe.h"
#include "image/source.h"
#include "tests/testlib.h"

static char root[PATH_MAX]; /* per test: root/img is the layout, root/tmp $TMPDIR */

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/ak-check-probe-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/tmp", root);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	setenv("TMPDIR", p, 1);
}

static void teardown(void)
{
	ak_tmpdir_remove(root);
}

/* Store data as a blob of root/img; its digest goes to digest. */
static void put_blob(const void *data, size_t len, char digest[72])
{
	char hex[65];
	sha256_hex(data, len, hex);
	snprintf(digest, 72, "sha256:%s", hex);
	char path[PATH_MAX + 100];
	snprintf(path, sizeof(path), "%s/img/blobs/sha256/%s", root, hex);
	write_file(path, data, len);
}

/* A tar holding one regular file NAME with TEXT, in memory. */
static char *tar_one(const char *name, const char *text, size_t *len)
{
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	ck_assert_int_eq(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)strlen(text));
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_data(a, text, strlen(text)), (la_ssize_t)strlen(text));
	archive_entry_free(e);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return buf;
}

/* A manifest for arch with one layer (its descriptor declaring size, or the real one
 * when size < 0); returns the manifest's descriptor JSON with the platform in it. */
static char *put_manifest(const char *arch, const char *layer_digest, long long size)
{
	char cfg_digest[72], man_digest[72];
	char *cfg, *man, *desc;
	ck_assert_int_ge(asprintf(&cfg,
				  "{\"os\":\"linux\",\"architecture\":\"%s\",\"rootfs\":{\"type\":"
				  "\"layers\",\"diff_ids\":[\"%s\"]}}",
				  arch, layer_digest),
			 0);
	put_blob(cfg, strlen(cfg), cfg_digest);
	ck_assert_int_ge(
		asprintf(&man,
			 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."
			 "manifest.v1+json\",\"config\":{\"mediaType\":\"application/"
			 "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
			 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
			 "\"digest\":\"%s\",\"size\":%lld}]}",
			 cfg_digest, strlen(cfg), layer_digest, size),
		0);
	put_blob(man, strlen(man), man_digest);
	ck_assert_int_ge(asprintf(&desc,
				  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
				  "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
				  "\"architecture\":\"%s\"}}",
				  man_digest, strlen(man), arch),
			 0);
	free(cfg);
	free(man);
	return desc;
}

/* index.json listing the descriptors given, NULL-terminated (freed here). */
static void put_index(char *first, ...)
{
	char *list = strdup("");
	va_list ap;
	va_start(ap, first);
	for (char *d = first; d; d = va_arg(ap, char *)) {
		char *next;
		ck_assert_int_ge(asprintf(&next, "%s%s%s", list, *list ? "," : "", d), 0);
		free(list);
		list = next;
	}
	va_end(ap);
	char *doc, path[PATH_MAX + 32];
	ck_assert_int_ge(asprintf(&doc, "{\"schemaVersion\":2,\"manifests\":[%s]}", list), 0);
	snprintf(path, sizeof(path), "%s/img/index.json", root);
	write_file(path, doc, strlen(doc));
	snprintf(path, sizeof(path), "%s/img/oci-layout", root);
	write_file(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	free(doc);
	free(list);
}

/* The layer "etc/motd" for every platform: data, no ELF file. Returns its size. */
static size_t put_data_layer(char digest[72])
{
	size_t len = 0;
	char *tar = tar_one("etc/motd", "hello\n", &len);
	put_blob(tar, len, digest);
	free(tar);
	return len;
}

static const struct ak_probe_finding *find(const struct ak_probe_variant *v, const char *code)
{
	for (size_t i = 0; i < v->nfindings; i++)
		if (!strcmp(v->findings[i].f.code, code))
			return &v->findings[i];
	return NULL;
}

static int run(const struct ak_probe_options *opt, struct ak_probe_report *r, struct ak_error **err)
{
	char ref[PATH_MAX + 8];
	snprintf(ref, sizeof(ref), "oci:%s/img", root);
	return ak_probe_run(ref, opt, r, err);
}

START_TEST(test_platform_missing)
{
	char layer[72];
	size_t len = put_data_layer(layer);
	char *a = put_manifest("amd64", layer, (long long)len);
	put_index(a, NULL);
	free(a);
	const struct ak_platform *want[] = {ak_platform_parse("s390x", NULL),
					    ak_platform_parse("amd64", NULL)};
	for (size_t nwant = 1; nwant <= 2; nwant++) {
		struct ak_probe_options opt = {.filter = want, .nfilter = nwant};
		struct ak_probe_report r;
		cleanup_error struct ak_error *err = NULL;
		ck_assert_msg(run(&opt, &r, &err) == 0, "%s", err ? err->msg : "");
		ck_assert_uint_eq(r.n, nwant);
		const struct ak_probe_variant *m = &r.variants[r.n - 1];
		ck_assert(m->missing);
		ck_assert_str_eq(m->name, "linux/s390x");
		const struct ak_probe_finding *f = find(m, "platform-missing");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(f->f.sev, AK_SEV_ERROR);
		ck_assert_ptr_nonnull(strstr(f->f.found, "(it has: linux/amd64)"));
		ck_assert_int_eq(ak_probe_worst(&r), AK_SEV_ERROR);
		if (nwant == 2)
			ck_assert(!r.variants[0].missing && r.variants[0].nfindings == 0);
		ak_probe_report_free(&r);
	}
}
END_TEST

START_TEST(test_identical_data_layers_are_info)
{
	char layer[72];
	size_t len = put_data_layer(layer);
	char *a = put_manifest("amd64", layer, (long long)len);
	char *b = put_manifest("arm64", layer, (long long)len);
	put_index(a, b, NULL);
	free(a);
	free(b);
	struct ak_probe_options opt = {0};
	struct ak_probe_report r;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(run(&opt, &r, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(r.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct ak_probe_finding *f = find(&r.variants[i], "identical-layers");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(f->f.sev, AK_SEV_INFO);
		ck_assert_ptr_nonnull(strstr(f->f.found, "with no ELF file in them"));
	}
	ck_assert_int_eq(ak_probe_worst(&r), AK_SEV_INFO);
	ak_probe_report_free(&r);
}
END_TEST

START_TEST(test_repeated_manifest_judged_once)
{
	char layer[72];
	size_t len = put_data_layer(layer);
	char *a = put_manifest("arm64", layer, (long long)len);
	put_index(a, a, a, NULL);
	free(a);
	struct ak_probe_options opt = {0};
	struct ak_probe_report r;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(run(&opt, &r, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.variants[0].nfindings, 0);
	ck_assert_uint_eq(r.nnotes, 1);
	ck_assert_ptr_nonnull(strstr(r.notes[0], "(linux/arm64) is listed 3 times: probed once"));
	ak_probe_report_free(&r);
}
END_TEST

START_TEST(test_shared_layer_wrong_size)
{
	char layer[72];
	size_t len = put_data_layer(layer);
	char *a = put_manifest("amd64", layer, (long long)len);
	char *b = put_manifest("arm64", layer, 1000);
	put_index(a, b, NULL);
	free(a);
	free(b);
	struct ak_probe_options opt = {0};
	struct ak_probe_report r;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_lt(run(&opt, &r, &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	char want[128];
	snprintf(want, sizeof(want), "is %zu bytes, its descriptor says 1000", len);
	ck_assert_msg(strstr(err->msg, want) && strstr(err->msg, "manifest 'sha256:"), "%s",
		      err->msg);
}
END_TEST

START_TEST(test_fsview_records_removed_only_when_asked)
{
	size_t len = 0;
	char *tar = tar_one("bin/tool", "x", &len);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/l.tar", root);
	write_file(path, tar, len);
	free(tar);
	struct ak_layer_index *idx = NULL;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_layer_scan(ak_fd_stream_new(open(path, O_RDONLY), "l.tar"), NULL, NULL,
				       &idx, &err),
			 0);
	for (int on = 0; on <= 1; on++) {
		struct ak_fsview *v = ak_fsview_new(&err);
		if (on)
			ak_fsview_set_record_removed(v, true);
		for (int i = 0; i < 3; i++) /* the same file twice more: two replacements */
			ck_assert_int_eq(ak_fsview_apply_layer(v, idx, i, &err), 0);
		size_t n = 99;
		ak_fsview_removed(v, &n);
		ck_assert_uint_eq(n, on ? 2 : 0);
		ak_fsview_free(v);
	}
	ak_layer_index_free(idx);
}
END_TEST

/* The in-memory layout (what fuzz_image reads through) reports what oci:DIR reports. */
START_TEST(test_memory_layout_probes_as_the_directory)
{
	char layer[72];
	size_t len = put_data_layer(layer);
	char *a = put_manifest("amd64", layer, (long long)len);
	char *b = put_manifest("arm64", layer, (long long)len);
	put_index(a, b, NULL);
	free(a);
	free(b);
	/* every file of root/img, read into memory */
	struct ak_mem_file files[16];
	char *names[16], *bufs[16];
	size_t n = 0;
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "cd '%s/img' && find . -type f", root);
	FILE *f = popen(cmd, "r");
	char line[PATH_MAX];
	while (f && n < 16 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char path[2 * PATH_MAX + 16];
		snprintf(path, sizeof(path), "%s/img/%s", root, line + 2);
		size_t blen = 0;
		ck_assert_int_eq(ak_read_file(path, 1 << 20, &bufs[n], &blen, NULL), 0);
		names[n] = strdup(line + 2);
		files[n] = (struct ak_mem_file){.path = names[n], .data = bufs[n], .len = blen};
		n++;
	}
	pclose(f);
	ck_assert_uint_ge(n, 5); /* oci-layout, index.json, 2 manifests, config, layer */
	struct ak_probe_options opt = {0};
	struct ak_probe_report disk, mem;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(run(&opt, &disk, &err) == 0, "%s", err ? err->msg : "");
	struct ak_source *src = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_source_mem_new(files, n, "mem", &src, &err), 0);
	ck_assert_int_eq(ak_image_open_source(src, "mem", &img, &err), 0);
	ck_assert_msg(ak_probe_run_image(img, "mem", &opt, &mem, &err) == 0, "%s",
		      err ? err->msg : "");
	ck_assert_uint_eq(mem.n, disk.n);
	for (size_t i = 0; i < mem.n; i++) {
		ck_assert_str_eq(mem.variants[i].name, disk.variants[i].name);
		ck_assert_uint_eq(mem.variants[i].nfindings, disk.variants[i].nfindings);
		ck_assert_uint_eq(mem.variants[i].files, disk.variants[i].files);
	}
	ak_probe_report_free(&mem);
	ak_probe_report_free(&disk);

	/* without its oci-layout file the memory layout is refused as the directory is */
	ak_image_close(img);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(files[i].path, "oci-layout"))
			files[i].path = "not-oci-layout";
	ck_assert_int_eq(ak_source_mem_new(files, n, "mem", &src, &err), 0);
	ck_assert_int_eq(ak_image_open_source(src, "mem", &img, &err), 0);
	ck_assert_int_eq(ak_probe_run_image(img, "mem", &opt, &mem, &err), -1);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, "no 'oci-layout' file"), "%s", err->msg);
	ak_image_close(img);
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free(bufs[i]);
	}
}
END_TEST

Suite *probe_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("run");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_platform_missing);
	tcase_add_test(tc, test_identical_data_layers_are_info);
	tcase_add_test(tc, test_repeated_manifest_judged_once);
	tcase_add_test(tc, test_shared_layer_wrong_size);
	tcase_add_test(tc, test_fsview_records_removed_only_when_asked);
	tcase_add_test(tc, test_memory_layout_probes_as_the_directory);
	suite_add_tcase(s, tc);
	return s;
}
