/* image/rootfs: the shared scan of an in-memory OCI layout. A layer two variants share
 * is scanned by one job (its consumer sees its bytes once), each variant's view is built
 * from the jobs' indexes, and a consumer's own error fails the scan. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/fsview.h"
#include "common/tmpdirs.h"
#include "image/image.h"
#include "image/layer-cache.h"
#include "image/rootfs.h"
#include "image/source.h"
#include "tests/testlib.h"

#define MAX_FILES 16

/* An OCI layout held in memory; files[i].data points into bufs[i]. */
struct layout {
	struct ak_mem_file files[MAX_FILES];
	char *paths[MAX_FILES];
	void *bufs[MAX_FILES];
	size_t n;
};

static struct layout L;

static void layout_reset(void)
{
	for (size_t i = 0; i < L.n; i++) {
		free(L.paths[i]);
		free(L.bufs[i]);
	}
	memset(&L, 0, sizeof(L));
}

static void put_file(const char *path, void *data, size_t len)
{
	ck_assert_uint_lt(L.n, MAX_FILES);
	L.paths[L.n] = strdup(path);
	L.bufs[L.n] = data;
	L.files[L.n] = (struct ak_mem_file){.path = L.paths[L.n], .data = data, .len = len};
	L.n++;
}

/* Add a blob (taking data); its digest goes to digest. */
static void put_blob(void *data, size_t len, char digest[72])
{
	char hex[65], path[96];
	sha256_hex(data, len, hex);
	snprintf(digest, 72, "sha256:%s", hex);
	snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
	put_file(path, data, len);
}

/* An uncompressed layer of "name=text" regular files, NULL-terminated; returns its size. */
static size_t put_layer(char digest[72], const char *const *files)
{
	struct buf b = {0};
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	ck_assert_int_eq(archive_write_open(a, &b, NULL, buf_write, NULL), ARCHIVE_OK);
	for (size_t i = 0; files[i]; i++) {
		const char *eq = strchr(files[i], '=');
		char *name = strndup(files[i], (size_t)(eq - files[i]));
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(eq + 1));
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		archive_write_data(a, eq + 1, strlen(eq + 1));
		archive_entry_free(e);
		free(name);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	put_blob(b.data, b.len, digest);
	return b.len;
}

/* A manifest for arch with the layers given; returns its index descriptor (malloc'd). */
static char *put_manifest(const char *arch, size_t nlayers, char digests[][72], const size_t *sizes)
{
	char ids[1024] = "", descs[2048] = "";
	for (size_t i = 0; i < nlayers; i++) {
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s\"%s\"", i ? "," : "",
			 digests[i]);
		snprintf(descs + strlen(descs), sizeof(descs) - strlen(descs),
			 "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
			 "\"digest\":\"%s\",\"size\":%zu}",
			 i ? "," : "", digests[i], sizes[i]);
	}
	char *cfg, *man, *desc, cd[72], md[72];
	ck_assert_int_ge(asprintf(&cfg,
				  "{\"os\":\"linux\",\"architecture\":\"%s\",\"rootfs\":"
				  "{\"type\":\"layers\",\"diff_ids\":[%s]}}",
				  arch, ids),
			 0);
	size_t cfg_len = strlen(cfg);
	put_blob(cfg, cfg_len, cd);
	ck_assert_int_ge(asprintf(&man,
				  "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."
				  "manifest.v1+json\",\"config\":{\"mediaType\":\"application/"
				  "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
				  "\"layers\":[%s]}",
				  cd, cfg_len, descs),
			 0);
	size_t man_len = strlen(man);
	put_blob(man, man_len, md);
	ck_assert_int_ge(asprintf(&desc,
				  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
				  "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
				  "\"architecture\":\"%s\"}}",
				  md, man_len, arch),
			 0);
	return desc;
}

static void put_index(char *a, char *b)
{
	char *doc;
	ck_assert_int_ge(asprintf(&doc, "{\"schemaVersion\":2,\"manifests\":[%s%s%s]}", a,
				  b ? "," : "", b ? b : ""),
			 0);
	put_file("index.json", doc, strlen(doc));
	put_file("oci-layout", strdup("{\"imageLayoutVersion\":\"1.0.0\"}"), 30);
	free(a);
	free(b);
}

/* amd64 and arm64 sharing their bottom layer, each with a layer of its own. */
static void two_variants_sharing_a_layer(void)
{
	char d[3][72];
	size_t sz[3];
	sz[0] = put_layer(d[0], (const char *[]){"shared=SSSS", NULL});
	sz[1] = put_layer(d[1], (const char *[]){"own=amd64", NULL});
	sz[2] = put_layer(d[2], (const char *[]){"own=arm64!", NULL});
	char amd[2][72], arm[2][72];
	memcpy(amd[0], d[0], 72);
	memcpy(amd[1], d[1], 72);
	memcpy(arm[0], d[0], 72);
	memcpy(arm[1], d[2], 72);
	put_index(put_manifest("amd64", 2, amd, (size_t[]){sz[0], sz[1]}),
		  put_manifest("arm64", 2, arm, (size_t[]){sz[0], sz[2]}));
}

static struct ak_image *open_layout(struct ak_variant_list *vl)
{
	struct ak_error *err = NULL;
	struct ak_source *src = NULL;
	struct ak_image *img = NULL;
	ck_assert_int_eq(ak_source_mem_new(L.files, L.n, "mem", &src, &err), 0);
	ck_assert_int_eq(ak_image_open_source(src, "mem", &img, &err), 0);
	ck_assert_int_eq(ak_image_variants(img, NULL, 0, vl, &err), 0);
	return img;
}

/* A consumer that counts, per job, what it was fed; each file's facts is its job + 1. */
struct counter {
	pthread_mutex_t lock;
	size_t made, finished, bytes[8];
	bool made_job[8];
	const char *fail_make, *fail_finish; /* an error message to fail with */
};

struct job_ctx {
	struct counter *c;
	size_t job;
};

static bool count_begin(void *ctx, const struct ak_layer_entry *e)
{
	return true;
}

static int count_data(void *ctx, const void *buf, size_t len, struct ak_error **err)
{
	struct job_ctx *j = ctx;
	pthread_mutex_lock(&j->c->lock);
	j->c->bytes[j->job] += len;
	pthread_mutex_unlock(&j->c->lock);
	return 0;
}

static void *count_end(void *ctx, const struct ak_layer_entry *e)
{
	struct job_ctx *j = ctx;
	size_t *facts = malloc(sizeof(*facts));
	if (facts)
		*facts = j->job + 1;
	return facts;
}

static int count_make(void *ctx, size_t job, const struct ak_descriptor *layer,
		      struct ak_layer_consumer *out, struct ak_error **err)
{
	struct counter *c = ctx;
	if (c->fail_make)
		return ak_error_set(err, AK_EXIT_ENV, "%s", c->fail_make);
	ck_assert_uint_lt(job, 8);
	ck_assert_ptr_nonnull(layer);
	struct job_ctx *j = malloc(sizeof(*j));
	ck_assert_ptr_nonnull(j);
	*j = (struct job_ctx){.c = c, .job = job};
	pthread_mutex_lock(&c->lock);
	ck_assert(!c->made_job[job]);
	c->made_job[job] = true;
	c->made++;
	pthread_mutex_unlock(&c->lock);
	*out = (struct ak_layer_consumer){.ctx = j,
					  .begin = count_begin,
					  .data = count_data,
					  .end = count_end,
					  .free_facts = free};
	return 0;
}

static int count_finish(void *ctx, size_t job, struct ak_layer_consumer *lc, bool ok,
			struct ak_error **err)
{
	struct counter *c = ctx;
	struct job_ctx *j = lc->ctx;
	ck_assert_uint_eq(j->job, job);
	free(j);
	pthread_mutex_lock(&c->lock);
	c->finished++;
	pthread_mutex_unlock(&c->lock);
	if (ok && c->fail_finish)
		return ak_error_set(err, AK_EXIT_ENV, "%s", c->fail_finish);
	return 0;
}

static size_t facts_at(const struct ak_fsview *view, const char *path)
{
	const struct ak_fsview_entry *e = ak_fsview_lookup(view, path);
	ck_assert_msg(e && e->facts, "no facts at '%s'", path);
	return *(const size_t *)e->facts;
}

START_TEST(test_shared_layer_scanned_once)
{
	two_variants_sharing_a_layer();
	struct ak_variant_list vl = {0};
	struct ak_image *img = open_layout(&vl);
	ck_assert_uint_eq(vl.n, 2);
	const struct ak_variant *vars[] = {&vl.items[0], &vl.items[1]};
	struct counter c = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct ak_rootfs_consumers cs = {.ctx = &c, .make = count_make, .finish = count_finish};
	struct ak_rootfs_options opt = {.jobs = 2};
	struct ak_rootfs *rs = NULL;
	struct ak_error *err = NULL;
	ck_assert_int_eq(ak_rootfs_scan(img, vars, 2, &opt, &cs, &rs, &err), 0);
	ak_image_close(img);

	/* three unique layers: three jobs, each made and finished once */
	ck_assert_uint_eq(ak_rootfs_njobs(rs), 3);
	ck_assert_uint_eq(c.made, 3);
	ck_assert_uint_eq(c.finished, 3);
	size_t total = 0;
	for (size_t j = 0; j < 3; j++)
		total += c.bytes[j];
	ck_assert_uint_eq(total, strlen("SSSS") + strlen("amd64") + strlen("arm64!"));

	size_t j0 = 99, j1 = 98, own0 = 97, own1 = 96;
	ck_assert_uint_eq(ak_rootfs_nlayers(rs, 0), 2);
	ck_assert_uint_eq(ak_rootfs_nlayers(rs, 1), 2);
	const struct ak_layer_index *shared0 = ak_rootfs_layer(rs, 0, 0, &j0);
	const struct ak_layer_index *shared1 = ak_rootfs_layer(rs, 1, 0, &j1);
	ck_assert_ptr_nonnull(shared0);
	ck_assert_ptr_eq(shared0, shared1);
	ck_assert_uint_eq(j0, j1);
	ck_assert_uint_eq(c.bytes[j0], 4);
	ck_assert_ptr_nonnull(ak_rootfs_layer(rs, 0, 1, &own0));
	ck_assert_ptr_nonnull(ak_rootfs_layer(rs, 1, 1, &own1));
	ck_assert_uint_ne(own0, own1);
	ck_assert_ptr_null(ak_rootfs_layer(rs, 0, 2, NULL));
	ck_assert_ptr_null(ak_rootfs_layer(rs, 2, 0, NULL));

	/* each view holds the shared file from the one job and its own from its own */
	for (size_t i = 0; i < 2; i++) {
		struct ak_fsview *view = ak_rootfs_view(rs, i, false, &err);
		ck_assert_ptr_nonnull(view);
		ck_assert_uint_eq(facts_at(view, "shared"), j0 + 1);
		ck_assert_uint_eq(facts_at(view, "own"), (i ? own1 : own0) + 1);
		ck_assert_uint_eq(ak_fsview_lookup(view, "own")->size, i ? 6 : 5);
		ak_fsview_free(view);
	}
	ak_rootfs_free(rs);
	ak_variant_list_free(&vl);
}
END_TEST

/* make() of the default-jobs test: which threads ran jobs; the first job waits so that
 * any second worker surely takes the next one meanwhile. */
struct thread_log {
	pthread_mutex_t lock;
	pthread_t seen[8];
	size_t nseen, calls;
};

static int log_thread_make(void *ctx, size_t job, const struct ak_descriptor *layer,
			   struct ak_layer_consumer *out, struct ak_error **err)
{
	struct thread_log *t = ctx;
	pthread_mutex_lock(&t->lock);
	bool first = t->calls++ == 0, known = false;
	for (size_t i = 0; i < t->nseen; i++)
		known |= pthread_equal(t->seen[i], pthread_self()) != 0;
	if (!known && t->nseen < 8)
		t->seen[t->nseen++] = pthread_self();
	pthread_mutex_unlock(&t->lock);
	if (first)
		usleep(200 * 1000);
	*out = (struct ak_layer_consumer){0};
	return 0;
}

START_TEST(test_default_jobs_follow_affinity)
{
	/* jobs <= 0 means the CPUs this process may use: in a cpuset of one CPU (a
	 * container's limit), one worker, however many CPUs the host has online */
	two_variants_sharing_a_layer();
	struct ak_variant_list vl = {0};
	struct ak_image *img = open_layout(&vl);
	const struct ak_variant *vars[] = {&vl.items[0], &vl.items[1]};
	cpu_set_t saved;
	pin_to_one_cpu(&saved);
	struct thread_log t = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct ak_rootfs_consumers cs = {.ctx = &t, .make = log_thread_make};
	struct ak_rootfs_options opt = {.jobs = 0};
	struct ak_rootfs *rs = NULL;
	struct ak_error *err = NULL;
	int r = ak_rootfs_scan(img, vars, 2, &opt, &cs, &rs, &err);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(saved), &saved), 0);
	ck_assert_msg(r == 0, "%s", err ? err->msg : "?");
	ck_assert_uint_eq(t.calls, 3);
	ck_assert_uint_eq(t.nseen, 1);
	ck_assert(pthread_equal(t.seen[0], pthread_self()));
	ak_rootfs_free(rs);

	/* --jobs 2 is two workers, even on one CPU */
	t = (struct thread_log){.lock = PTHREAD_MUTEX_INITIALIZER};
	opt.jobs = 2;
	ck_assert_int_eq(ak_rootfs_scan(img, vars, 2, &opt, &cs, &rs, &err), 0);
	ck_assert_uint_eq(t.nseen, 2);
	ak_rootfs_free(rs);
	ak_image_close(img);
	ak_variant_list_free(&vl);
}
END_TEST

START_TEST(test_consumer_errors_fail_the_scan)
{
	two_variants_sharing_a_layer();
	struct ak_variant_list vl = {0};
	struct ak_image *img = open_layout(&vl);
	const struct ak_variant *vars[] = {&vl.items[0], &vl.items[1]};
	for (int round = 0; round < 2; round++) {
		struct counter c = {.lock = PTHREAD_MUTEX_INITIALIZER};
		if (round == 0)
			c.fail_make = "make says no";
		else
			c.fail_finish = "out of memory keeping a file";
		struct ak_rootfs_consumers cs = {
			.ctx = &c, .make = count_make, .finish = count_finish};
		struct ak_rootfs_options opt = {.jobs = 1};
		struct ak_rootfs *rs = (struct ak_rootfs *)&c;
		struct ak_error *err = NULL;
		ck_assert_int_eq(ak_rootfs_scan(img, vars, 2, &opt, &cs, &rs, &err), -1);
		ck_assert_ptr_null(rs);
		ck_assert_ptr_nonnull(err);
		ck_assert_int_eq(err->status, AK_EXIT_ENV);
		ck_assert_str_eq(err->msg, round == 0 ? c.fail_make : c.fail_finish);
		/* the first failure stops the others taking jobs; what was made is finished */
		ck_assert_uint_eq(c.made, round == 0 ? 0 : 1);
		ck_assert_uint_eq(c.finished, c.made);
		ak_error_free(err);
	}
	ak_image_close(img);
	ak_variant_list_free(&vl);
}
END_TEST

START_TEST(test_view_error_names_variant_and_layer)
{
	char d[2][72];
	size_t sz[2];
	sz[0] = put_layer(d[0], (const char *[]){"etc=x", NULL});
	sz[1] = put_layer(d[1], (const char *[]){"etc/passwd=x", NULL});
	put_index(put_manifest("arm64", 2, d, sz), NULL);
	struct ak_variant_list vl = {0};
	struct ak_image *img = open_layout(&vl);
	const struct ak_variant *vars[] = {&vl.items[0]};
	struct ak_rootfs *rs = NULL;
	struct ak_error *err = NULL;
	/* no consumer: entries only */
	ck_assert_int_eq(ak_rootfs_scan(img, vars, 1, NULL, NULL, &rs, &err), 0);
	ak_image_close(img);
	ck_assert_ptr_null(ak_rootfs_view(rs, 0, false, &err));
	ck_assert_ptr_nonnull(err);
	char want[128], sb[32];
	snprintf(want, sizeof(want),
		 "linux/arm64: layer 2 '%s': entry 'etc/passwd': 'etc' is not a directory",
		 ak_digest_short(d[1], sb));
	ck_assert_str_eq(err->msg, want);
	ak_error_free(err);
	ak_rootfs_free(rs);
	ak_variant_list_free(&vl);
}
END_TEST

/* count_end's facts (a size_t) for the cache */
static int size_encode(const void *facts, char **buf, size_t *len, size_t *cap)
{
	return ak_facts_put_uint(buf, len, cap, *(const size_t *)facts);
}

static void *size_decode(const void *data, size_t len)
{
	struct ak_facts_reader r = {.p = data, .left = len};
	size_t v = (size_t)ak_facts_get_uint(&r, SIZE_MAX);
	size_t *facts = r.bad || r.left ? NULL : malloc(sizeof(*facts));
	if (facts)
		*facts = v;
	return facts;
}

static const struct ak_facts_codec size_codec = {.name = "test-size",
						 .version = 1,
						 .encode = size_encode,
						 .decode = size_decode,
						 .free_facts = free};

/* Scan the layout anew (its blobs as L has them now) with cache and max_layer_bytes;
 * the variants go to vl, which must outlive *rs. */
static int scan_cached(struct ak_layer_cache *cache, uint64_t max, struct counter *c,
		       struct ak_variant_list *vl, struct ak_rootfs **rs, struct ak_error **err)
{
	ak_variant_list_free(vl);
	struct ak_image *img = open_layout(vl);
	const struct ak_variant *vars[] = {&vl->items[0], &vl->items[1]};
	struct ak_rootfs_consumers cs = {.ctx = c, .make = count_make, .finish = count_finish};
	struct ak_rootfs_options opt = {
		.jobs = 2, .max_layer_bytes = max, .cache = cache, .codec = &size_codec};
	int r = ak_rootfs_scan(img, vars, 2, &opt, &cs, rs, err);
	ak_image_close(img);
	return r;
}

/* A layer in the cache is not read: with its blobs gone, the scan gives the same
 * entries and facts, no consumer made. Without the cache, or with a cap the cached
 * layer may exceed, the blobs are read (and found missing). */
START_TEST(test_cached_layers_are_not_read)
{
	char dir[] = "/tmp/ak-check-rootfs-cache-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct ak_layer_cache *cache = NULL;
	ck_assert_int_eq(ak_layer_cache_open(dir, 0, &cache, NULL), 0);
	two_variants_sharing_a_layer();
	struct counter c = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct ak_variant_list vl = {0};
	struct ak_rootfs *rs = NULL;
	struct ak_error *err = NULL;
	ck_assert_int_eq(scan_cached(cache, 0, &c, &vl, &rs, &err), 0);
	ck_assert_uint_eq(c.made, 3);
	size_t shared = 0, own[2];
	for (size_t i = 0; i < 2; i++) {
		struct ak_fsview *view = ak_rootfs_view(rs, i, false, &err);
		shared = facts_at(view, "shared");
		own[i] = facts_at(view, "own");
		ak_fsview_free(view);
	}
	ak_rootfs_free(rs);

	/* every layer blob gone from the layout: manifests and configs stay */
	for (size_t i = 0; i < L.n; i++) {
		const char *p = L.files[i].path;
		if (strncmp(p, "blobs/", 6) == 0 && L.files[i].len < 4096 &&
		    memchr(L.files[i].data, '{', 1) == NULL)
			L.files[i].path = "gone";
	}
	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.lock, NULL);
	ck_assert_msg(scan_cached(cache, 0, &c, &vl, &rs, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_uint_eq(c.made, 0);
	ck_assert_uint_eq(c.finished, 0);
	for (size_t i = 0; i < 2; i++) {
		struct ak_fsview *view = ak_rootfs_view(rs, i, false, &err);
		ck_assert_ptr_nonnull(view);
		ck_assert_uint_eq(facts_at(view, "shared"), shared);
		ck_assert_uint_eq(facts_at(view, "own"), own[i]);
		ck_assert_uint_eq(ak_fsview_lookup(view, "own")->size, i ? 6 : 5);
		ak_fsview_free(view);
	}
	ak_rootfs_free(rs);

	ck_assert_int_eq(scan_cached(NULL, 0, &c, &vl, &rs, &err), -1);
	ck_assert_msg(strstr(err->msg, "is missing"), "%s", err->msg);
	ak_error_clear(&err);
	struct counter c2 = {.lock = PTHREAD_MUTEX_INITIALIZER};
	ck_assert_int_eq(scan_cached(cache, 16, &c2, &vl, &rs, &err), -1);
	ck_assert_msg(strstr(err->msg, "is missing"), "%s", err->msg);
	ak_error_clear(&err);
	ak_variant_list_free(&vl);
	ak_layer_cache_close(cache);
	ak_rmtree_signal_safe(dir);
}
END_TEST

Suite *rootfs_suite(void)
{
	Suite *s = suite_create("rootfs");
	TCase *tc = tcase_create("scan");
	tcase_add_checked_fixture(tc, layout_reset, layout_reset);
	tcase_add_test(tc, test_shared_layer_scanned_once);
	tcase_add_test(tc, test_default_jobs_follow_affinity);
	tcase_add_test(tc, test_consumer_errors_fail_the_scan);
	tcase_add_test(tc, test_view_error_names_variant_and_layer);
	tcase_add_test(tc, test_cached_layers_are_not_read);
	suite_add_tcase(s, tc);
	return s;
}
