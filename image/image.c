/* Opening an image: a reference (ref.c) becomes a source, archives extracted first;
 * then its variants (walk.c, variant.c) and its blobs, verified. */
#include "image/image.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "image/ref.h"
#include "image/source.h"
#include "image/variant.h"
#include "image/walk.h"

struct ak_image {
	struct ak_source *src;
	char *tmpdir; /* private extraction directory, removed on close */
	const char *kind;
	char *ref;
	char *tag; /* TAG of the reference, NULL for all */
};

/* Open dir as layout k; display (NULL: dir) is the name messages give it. */
static int open_layout(enum ak_layout k, const char *dir, const char *display, const char *tag,
		       struct ak_image *img, struct ak_error **err)
{
	img->tag = ak_xstrdup(tag);
	static const char *const names[] = {[AK_LAYOUT_OCI] = "oci",
					    [AK_LAYOUT_DOCKER] = "docker-save",
					    [AK_LAYOUT_DIR] = "dir",
					    [AK_LAYOUT_LOCAL] = "local"};
	int r;
	switch (k) {
	case AK_LAYOUT_OCI:
		r = ak_source_oci_new(dir, &img->src, err);
		break;
	case AK_LAYOUT_DOCKER:
		r = ak_source_docker_new(dir, &img->src, err);
		break;
	case AK_LAYOUT_DIR:
		r = ak_source_skopeo_dir_new(dir, &img->src, err);
		break;
	case AK_LAYOUT_LOCAL:
		r = ak_source_local_new(dir, &img->src, err);
		break;
	default:
		return -1;
	}
	if (r < 0)
		return -1;
	if (!img->kind)
		img->kind = names[k];
	if (display) {
		free(img->src->path);
		img->src->path = ak_xstrdup(display);
	}
	if (k == AK_LAYOUT_OCI || k == AK_LAYOUT_DOCKER)
		return ak_source_oci_layout_check(img->src, k == AK_LAYOUT_OCI, err);
	return 0;
}

static int open_dir(const char *path, struct ak_image *img, struct ak_error **err)
{
	enum ak_layout k;
	if (ak_ref_sniff(path, &k, err) < 0)
		return -1;
	if (k == AK_LAYOUT_NONE)
		return ak_error_set(
			err, AK_EXIT_ENV,
			"cannot tell the image format of '%s' (no oci-layout, "
			"index.json, manifest.json or linux_* folders; use local:DIR for "
			"a root filesystem)",
			path);
	return open_layout(k, path, NULL, NULL, img, err);
}

static void ak_archive_linksp(struct ak_archive_links **l)
{
	ak_archive_links_free(*l);
}

static bool dir_is_empty(const char *path)
{
	cleanup_dir DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			return false;
	return true;
}

/* Extract file and open what it holds; want (AK_LAYOUT_NONE: anything) is what the
 * reference said it is. An archive that holds no image (tar:FILE, `-` or a bare path)
 * is one root filesystem, as buildx and buildah type=tar write for one platform: a
 * variant that only --platform names. */
static int open_extracted(struct ak_image *img, const char *file, enum ak_layout want,
			  const char *tag, struct ak_error **err)
{
	__attribute__((cleanup(ak_archive_linksp))) struct ak_archive_links *held = NULL;
	if (ak_archive_extract(file, &img->tmpdir, &held, err) < 0)
		return -1;
	enum ak_layout k;
	if (ak_ref_sniff(img->tmpdir, &k, err) < 0)
		return -1;
	if (k == AK_LAYOUT_NONE && want != AK_LAYOUT_NONE)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': archive holds no index.json, manifest.json or linux_* "
				    "folders",
				    file);
	if (k == AK_LAYOUT_NONE) {
		/* a root filesystem: its absolute links mean its root */
		if (ak_archive_links_make(img->tmpdir, held, err) < 0)
			return -1;
		if (dir_is_empty(img->tmpdir))
			return ak_error_set(err, AK_EXIT_ENV, "'%s': the archive is empty", file);
		k = AK_LAYOUT_LOCAL;
	}
	if (want == AK_LAYOUT_OCI && k != AK_LAYOUT_OCI && k != AK_LAYOUT_DOCKER)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': not an oci-archive (no index.json)",
				    file);
	if (want == AK_LAYOUT_DOCKER && k != AK_LAYOUT_DOCKER)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': not a docker-archive (no manifest.json)", file);
	if (want != AK_LAYOUT_NONE)
		k = want;
	if (k == AK_LAYOUT_LOCAL)
		img->kind = "local-tar";
	else if (k == AK_LAYOUT_OCI)
		img->kind = "oci-archive";
	else if (k == AK_LAYOUT_DOCKER)
		img->kind = "docker-archive";
	return open_layout(k, img->tmpdir, file, tag, img, err);
}

static int image_open(struct ak_image *img, const struct ak_ref *ref,
		      const struct ak_image_options *o, struct ak_error **err)
{
	switch (ref->form) {
	case AK_REF_REGISTRY:
		if (ak_source_registry_new(ref->path, &o->registry, &img->src, err) < 0)
			return -1;
		img->kind = img->src->ops->kind;
		return 0;
	case AK_REF_OCI:
		return open_layout(AK_LAYOUT_OCI, ref->path, NULL, ref->tag, img, err);
	case AK_REF_OCI_ARCHIVE:
		return open_extracted(img, ref->path, AK_LAYOUT_OCI, ref->tag, err);
	case AK_REF_DOCKER_ARCHIVE:
		return open_extracted(img, ref->path, AK_LAYOUT_DOCKER, ref->tag, err);
	case AK_REF_DIR:
		return open_layout(AK_LAYOUT_DIR, ref->path, NULL, NULL, img, err);
	case AK_REF_LOCAL:
		return open_layout(AK_LAYOUT_LOCAL, ref->path, NULL, NULL, img, err);
	case AK_REF_PATH_DIR:
		return open_dir(ref->path, img, err);
	case AK_REF_TAR:
	case AK_REF_STDIN:
	case AK_REF_PATH_FILE:
		return open_extracted(img, ref->path, AK_LAYOUT_NONE, NULL, err);
	default:
		return ak_error_set(err, AK_EXIT_ENV, "'%s': not supported", ref->path);
	}
}

void ak_image_options_init(struct ak_image_options *o)
{
	*o = (struct ak_image_options){.registry = {.tls_verify = true, .retries = -1}};
}

int ak_image_open(const char *ref, struct ak_image **out, struct ak_error **err)
{
	return ak_image_open_with(ref, NULL, out, err);
}

int ak_image_open_with(const char *ref, const struct ak_image_options *o, struct ak_image **out,
		       struct ak_error **err)
{
	struct ak_image_options defaults;
	if (!o) {
		ak_image_options_init(&defaults);
		o = &defaults;
	}
	struct ak_image *img = ak_xcalloc(1, sizeof(*img));
	img->ref = ak_xstrdup(ref);
	struct ak_ref r;
	int rc = ak_ref_parse(ref, &r, err);
	if (rc == 0) {
		rc = image_open(img, &r, o, err);
		ak_ref_clear(&r);
	}
	if (rc < 0) {
		ak_image_close(img);
		return -1;
	}
	*out = img;
	return 0;
}

int ak_image_open_source(struct ak_source *src, const char *ref, struct ak_image **out,
			 struct ak_error **err)
{
	struct ak_image *img = ak_xcalloc(1, sizeof(*img));
	img->ref = ak_xstrdup(ref);
	img->src = src;
	img->kind = src->ops->kind;
	*out = img;
	return 0;
}

const char *ak_image_kind(const struct ak_image *img)
{
	return img->kind;
}

const char *ak_image_tmpdir(const struct ak_image *img)
{
	return img->tmpdir;
}

void ak_image_close(struct ak_image *img)
{
	if (!img)
		return;
	ak_source_close(img->src);
	if (img->tmpdir)
		ak_tmpdir_remove(img->tmpdir);
	free(img->tmpdir);
	free(img->ref);
	free(img->tag);
	free(img);
}

int ak_image_open_blob(struct ak_image *img, const struct ak_descriptor *d, struct ak_stream **out,
		       struct ak_error **err)
{
	/* named by the image's kind: "local-tar" says more than its source's "local" */
	if (!img->src->ops->open_blob)
		return ak_error_set(err, AK_EXIT_ENV, "'%s' has no blobs (%s output)",
				    img->src->path, img->kind);
	return ak_source_open_blob(img->src, d, out, err);
}

/* Walk, reading only the manifests want[] may keep; then select filter[]. */
static int variants(struct ak_image *img, const struct ak_platform **want, size_t nwant,
		    const struct ak_platform **filter, size_t nfilter, struct ak_variant_list *out,
		    struct ak_error **err)
{
	struct ak_variant_list all = {0};
	*out = (struct ak_variant_list){0};
	if (ak_walk(img->src, img->tag, want, nwant, &all, err) < 0) {
		ak_variant_list_free(&all);
		return ak_error_prefix(err, "'%s'", img->ref);
	}
	return ak_variant_list_select(&all, filter, nfilter, img->ref, out, err);
}

int ak_image_variants(struct ak_image *img, const struct ak_platform **filter, size_t nfilter,
		      struct ak_variant_list *out, struct ak_error **err)
{
	return variants(img, filter, nfilter, filter, nfilter, out, err);
}

int ak_image_variants_all(struct ak_image *img, const struct ak_platform **want, size_t nwant,
			  struct ak_variant_list *out, struct ak_error **err)
{
	return variants(img, want, nwant, NULL, 0, out, err);
}
