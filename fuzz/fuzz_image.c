/* Fuzz reading an OCI image layout held in memory the way `archkit probe oci:DIR` reads
 * it, through common/, image/ and elf/ alone: documents, graph walk, blob verification,
 * the shared scan of unique layers (image/rootfs) with an ELF consumer of its own
 * (capture, classify), each variant's final filesystem, the judgement of every ELF file
 * against the variant's platform and the resolution of its PT_INTERP, with no file
 * system in between. The input is an uncompressed tar of the layout's files
 * (oci-layout, index.json, blobs/sha256/HEX); blobs are named by their digest, so
 * mutations mostly exercise the "digest mismatch" path unless a seed's names are kept
 * consistent — the seeds (fuzz/seeds/make-image-seeds.sh) hold several consistent
 * layouts, and a mutation of a name or a document still reaches the walk. Every failure
 * must be a clean input error (status 2 with a message). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elf/capture.h"
#include "elf/classify.h"
#include "elf/judge.h"
#include "image/fsview.h"
#include "image/image.h"
#include "image/rootfs.h"
#include "image/source.h"

#define MAX_FILES 64
#define MAX_BYTES (8u << 20)

struct layout {
	struct ak_mem_file files[MAX_FILES];
	char *names[MAX_FILES];
	void *bufs[MAX_FILES];
	size_t n;
};

static void layout_free(struct layout *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->names[i]);
		free(l->bufs[i]);
	}
}

/* Read the tar's regular files into memory; false when it is not a tar we can use. */
static bool layout_read(const uint8_t *data, size_t size, struct layout *l)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	bool ok = archive_read_open_memory(a, data, size) == ARCHIVE_OK;
	struct archive_entry *e;
	size_t total = 0;
	while (ok && l->n < MAX_FILES && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (archive_entry_filetype(e) != AE_IFREG || !archive_entry_pathname(e))
			continue;
		int64_t len = archive_entry_size(e);
		if (len < 0 || (uint64_t)len > MAX_BYTES - total)
			break;
		void *buf = malloc((size_t)len + 1);
		char *name = strdup(archive_entry_pathname(e));
		if (!buf || !name || archive_read_data(a, buf, (size_t)len) != len) {
			free(buf);
			free(name);
			break;
		}
		total += (size_t)len;
		l->names[l->n] = name;
		l->bufs[l->n] = buf;
		l->files[l->n] =
			(struct ak_mem_file){.path = name + (strncmp(name, "./", 2) ? 0 : 2),
					     .data = buf,
					     .len = (size_t)len};
		l->n++;
	}
	archive_read_free(a);
	return l->n > 0;
}

/* ---- the ELF consumer: one capture per scan job, facts per ELF file ---- */

struct elf_job {
	struct ak_elf_capture *cap;
	uint64_t seen;
};

static bool elf_begin(void *ctx, const struct ak_layer_entry *e)
{
	struct elf_job *j = ctx;
	j->seen = 0;
	j->cap = e->size >= 4 ? ak_elf_capture_begin(e->size, NULL) : NULL;
	return j->cap != NULL;
}

static int elf_data(void *ctx, const void *buf, size_t len, struct ak_error **err)
{
	struct elf_job *j = ctx;
	if (ak_elf_capture_feed(j->cap, buf, len) == -ENOMEM)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory capturing an ELF file");
	j->seen += len;
	return j->seen >= 4 && !ak_elf_capture_is_elf(j->cap);
}

static void facts_free(void *p)
{
	if (p)
		ak_elf_facts_clear(p);
	free(p);
}

static void *elf_end(void *ctx, const struct ak_layer_entry *e)
{
	struct elf_job *j = ctx;
	size_t len = 0;
	const unsigned char *data = ak_elf_capture_data(j->cap, &len);
	struct ak_elf_facts *facts = data ? calloc(1, sizeof(*facts)) : NULL;
	struct ak_error *err = NULL;
	if (facts && ak_elf_classify(data, len, ak_elf_capture_size(j->cap), facts, &err) < 0) {
		facts_free(facts);
		facts = NULL;
	}
	ak_error_free(err);
	ak_elf_capture_free(j->cap);
	j->cap = NULL;
	return facts;
}

static int elf_make(void *ctx, size_t job, const struct ak_descriptor *layer,
		    struct ak_layer_consumer *out, struct ak_error **err)
{
	struct elf_job *j = calloc(1, sizeof(*j));
	if (!j)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	*out = (struct ak_layer_consumer){.ctx = j,
					  .begin = elf_begin,
					  .data = elf_data,
					  .end = elf_end,
					  .free_facts = facts_free};
	return 0;
}

static int elf_finish(void *ctx, size_t job, struct ak_layer_consumer *c, bool ok,
		      struct ak_error **err)
{
	struct elf_job *j = c->ctx;
	ak_elf_capture_free(j->cap);
	free(j);
	return 0;
}

/* ---- judging a final filesystem ---- */

struct judge {
	const struct ak_fsview *view;
	const struct ak_platform *p;
};

static void judge_facts(const struct ak_elf_facts *facts, const struct ak_platform *p)
{
	struct ak_finding f[AK_ELF_FINDINGS_MAX];
	int n = ak_elf_judge(facts, p, f, NULL);
	for (int i = 0; i < n; i++)
		ak_finding_clear(&f[i]);
	char *what = ak_elf_describe(facts);
	free(what);
}

static int judge_entry(const struct ak_fsview_entry *e, void *ctx)
{
	struct judge *jc = ctx;
	const struct ak_elf_facts *facts = e->facts;
	if (e->type != AK_ENTRY_REGULAR || !facts || !jc->p)
		return 0;
	judge_facts(facts, jc->p);
	if (!facts->has_interp || !facts->interp)
		return 0;
	const struct ak_fsview_entry *loader = NULL;
	struct ak_error *err = NULL;
	int r = ak_fsview_resolve(jc->view, facts->interp, &loader, &err);
	if (r < 0 && (!err || !err->msg))
		__builtin_trap(); /* a failed resolution says why */
	ak_error_free(err);
	struct ak_finding wrong = {0};
	if (r == 1 && loader->facts && ak_elf_judge_loader(loader->facts, jc->p, &wrong) == 1)
		ak_finding_clear(&wrong);
	return 0;
}

static void judge_view(const struct ak_fsview *view, const struct ak_platform *p)
{
	struct judge jc = {.view = view, .p = p};
	ak_fsview_foreach(view, true, judge_entry, &jc, NULL);
	size_t n = 0;
	const struct ak_fsview_removed *rm = ak_fsview_removed(view, &n);
	for (size_t i = 0; p && i < n; i++)
		if (rm[i].facts)
			judge_facts(rm[i].facts, p);
}

/* Scan the variants once, then build and judge each one's final filesystem. */
static int read_image(struct ak_image *img, struct ak_error **err)
{
	struct ak_variant_list vl = {0};
	if (ak_image_variants(img, NULL, 0, &vl, err) < 0)
		return -1;
	const struct ak_variant **vars = calloc(vl.n ? vl.n : 1, sizeof(*vars));
	if (!vars) {
		ak_variant_list_free(&vl);
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	for (size_t i = 0; i < vl.n; i++)
		vars[i] = &vl.items[i];
	struct ak_rootfs_options opt = {.jobs = 1, .max_layer_bytes = 16u << 20};
	struct ak_rootfs_consumers cs = {.make = elf_make, .finish = elf_finish};
	struct ak_rootfs *rs = NULL;
	int r = ak_rootfs_scan(img, vars, vl.n, &opt, &cs, &rs, err);
	for (size_t i = 0; r == 0 && i < vl.n; i++) {
		const struct ak_variant *v = vars[i];
		size_t nl = ak_rootfs_nlayers(rs, i), job = 0;
		if (nl != (v->tree_fd >= 0 ? 1 : v->nlayers))
			__builtin_trap();
		for (size_t k = 0; k < nl; k++)
			if (!ak_rootfs_layer(rs, i, k, &job) || job >= ak_rootfs_njobs(rs))
				__builtin_trap(); /* every layer has the index of a job */
		struct ak_fsview *view = ak_rootfs_view(rs, i, true, err);
		if (!view) {
			r = -1;
			break;
		}
		judge_view(view, v->platform);
		ak_fsview_free(view);
	}
	ak_rootfs_free(rs);
	free(vars);
	ak_variant_list_free(&vl);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct layout l = {0};
	if (!layout_read(data, size, &l)) {
		layout_free(&l);
		return 0;
	}
	struct ak_error *err = NULL;
	struct ak_source *src = NULL;
	struct ak_image *img = NULL;
	if (ak_source_mem_new(l.files, l.n, "fuzz", &src, &err) == 0 &&
	    ak_image_open_source(src, "fuzz", &img, &err) == 0)
		read_image(img, &err);
	ak_image_close(img);
	if (err && (err->status != AK_EXIT_ENV || !err->msg))
		__builtin_trap(); /* every failure is a clean input error */
	ak_error_free(err);
	layout_free(&l);
	return 0;
}
