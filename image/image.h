/* The image graph behind `archkit probe IMAGE`: open an image in any of its forms (OCI
 * layout, oci-archive, docker save dir/archive, buildx type=local/type=tar, stdin), walk
 * its indexes and manifests, and list one variant per platform with its layers (or its
 * root filesystem tree for buildx local output). Blobs are handed out as verifying
 * streams. All errors about the input carry status AK_EXIT_ENV. */
#ifndef AK_IMAGE_H
#define AK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/platform.h"
#include "image/blob.h"
#include "image/doc.h"
#include "image/registry.h"

#define AK_IMAGE_DEPTH_MAX 8		    /* nested indexes below the root document */
#define AK_IMAGE_DOCS_MAX 4096		    /* unique documents one walk may read */
#define AK_IMAGE_DOC_BYTES_MAX (256u << 20) /* their bytes in all */
/* index entries walked plus layers listed, repeats counted: an index naming one 40k-layer
 * manifest 300 times reads it once, but would list 12M layers */
#define AK_IMAGE_DESCRIPTORS_MAX (1 << 18)

struct ak_image;

/* One platform variant of an image. Strings are owned by the list. */
struct ak_variant {
	/* platform the index descriptor claims ("linux/arm/v7"), NULL when none, and its
	 * table entry (NULL when absent or not a known platform) */
	char *index_platform;
	const struct ak_platform *index_parsed;
	/* os/architecture[/variant] from the image config, NULL without a config */
	char *config_platform;
	const struct ak_platform *config_parsed;
	/* from a buildx local/tar folder name ("linux_arm_v7" -> "linux/arm/v7") */
	char *folder_platform;
	const struct ak_platform *folder_parsed;
	/* the platform to judge against: index, else config, else folder, else the one
	 * --platform given for an output with no platform; NULL when nothing says */
	const struct ak_platform *platform;
	/* the image's name, to tell apart the variants of several images (a docker save of
	 * two images): a docker RepoTag (the first), else io.containerd.image.name, else
	 * org.opencontainers.image.ref.name; NULL for an untagged image */
	char *ref_name;
	char *manifest_digest;	      /* NULL for docker save's old format and local trees */
	struct ak_descriptor config;  /* digest NULL when there is no config */
	struct ak_descriptor *layers; /* bottom first */
	size_t nlayers;
	/* buildx local output: the root filesystem instead of layers. tree_fd is an
	 * O_DIRECTORY fd owned by the list (dup it); -1 otherwise. Absolute symlinks in a
	 * tree mean its own root: resolve with RESOLVE_IN_ROOT, never follow them plainly. */
	char *tree_path;
	int tree_fd;
	/* what its config says to run (Entrypoint, Cmd, Env, WorkingDir); empty without
	 * a config */
	struct ak_process process;
};

struct ak_variant_list {
	struct ak_variant *items;
	size_t n;
	size_t skipped_attestations; /* buildx attestation manifests left out */
	char **notes;		     /* human-readable notes ("skipped …"), n_notes of them */
	size_t n_notes;
};

/* Open an image by reference (image/ref.h): `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
 * `docker-archive:FILE[:NAME:TAG]`, `dir:DIR` (skopeo), `local:DIR` (buildx type=local,
 * also a single root filesystem), `tar:FILE` and `-` (a tar of any form, on stdin for
 * `-`), or a bare path, sniffed: a docker save dir, an OCI layout, buildx local output,
 * or a tar of any of them. A tar that holds none of them (`tar:FILE`, `-`, a bare path)
 * is one root filesystem, as buildx and buildah type=tar write for one platform: one
 * variant whose platform only a one-platform filter gives. Archives are extracted into a
 * private directory under $TMPDIR that ak_image_close() removes.
 * `docker://[HOST[:PORT]/]REPO[:TAG|@sha256:HEX]` reads from a registry (image/registry.h),
 * with the default options: anonymous unless credentials are found, TLS verified. */
int ak_image_open(const char *ref, struct ak_image **out, struct ak_error **err);
/* How an image is opened; NULL means the defaults. */
struct ak_image_options {
	struct ak_registry_options registry; /* docker://; tls_verify false means off */
};
/* ak_image_open with options (o NULL: the defaults, as ak_image_open). */
int ak_image_open_with(const char *ref, const struct ak_image_options *o, struct ak_image **out,
		       struct ak_error **err);
/* The defaults: TLS verified, the HTTP client's retries and timeouts. */
void ak_image_options_init(struct ak_image_options *o);
/* An image read through a source the caller made (an in-memory layout, say); takes
 * ownership of src, even on failure. ref names the image in messages. */
struct ak_source;
int ak_image_open_source(struct ak_source *src, const char *ref, struct ak_image **out,
			 struct ak_error **err);
/* Kind of source: "oci", "oci-archive", "docker-save", "docker-archive", "dir", "local",
 * "local-tar", "registry". */
const char *ak_image_kind(const struct ak_image *img);
/* The private extraction directory, or NULL when nothing was extracted (for tests). */
const char *ak_image_tmpdir(const struct ak_image *img);
/* Close and remove any extraction directory; NULL is fine. Variant lists stay valid
 * except their tree_path (tree_fd stays usable). */
void ak_image_close(struct ak_image *img);

/* List the variants, walking nested indexes, skipping attestation manifests (counted)
 * and unknown media types (noted); nfilter > 0 keeps the variants whose platform is one
 * of filter[] (an error lists what the image has when none matches). */
int ak_image_variants(struct ak_image *img, const struct ak_platform **filter, size_t nfilter,
		      struct ak_variant_list *out, struct ak_error **err);
/* Every variant, for callers that pick platforms themselves and report what the image
 * has: like ak_image_variants with no filter, except that a manifest whose index
 * descriptor claims a known platform outside want[] (nwant > 0) is not read, and is
 * listed by that claim alone (platform set, no config, no layers). From a registry, only
 * the wanted platforms' manifests and configs are fetched. */
int ak_image_variants_all(struct ak_image *img, const struct ak_platform **want, size_t nwant,
			  struct ak_variant_list *out, struct ak_error **err);
void ak_variant_list_free(struct ak_variant_list *l);

/* A stream of the blob d names, verified against its digest and size as it is read. */
int ak_image_open_blob(struct ak_image *img, const struct ak_descriptor *d, struct ak_stream **out,
		       struct ak_error **err);

/* Append a printf-formatted note to a list (past 1024 notes, dropped). */
/* The platforms the list holds, each once, in order ("linux/amd64, linux/arm64"; a
 * variant without one is "unknown"), into buf; what does not fit is left out. */
void ak_variant_list_platforms(const struct ak_variant_list *l, char *buf, size_t len);
void ak_variant_list_note(struct ak_variant_list *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append an empty variant (tree_fd -1) and return it, NULL past AK_IMAGE_DOCS_MAX. */
struct ak_variant *ak_variant_list_add(struct ak_variant_list *l);

#endif
