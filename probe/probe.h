/* `archkit probe IMAGE`: the whole audit. Opens the image, lists its variants, scans each
 * unique layer once (in parallel), builds each variant's final filesystem and judges
 * every ELF file in it against the variant's platform, plus the image-level checks
 * (platform disagreements, byte-identical variants, missing loaders).
 *
 * Codes of the image-level findings (path NULL), stable like elf/judge.h's:
 *  code               severity  when
 *  loader-missing     error     PT_INTERP names no ELF loader in the final filesystem
 *  platform-mismatch  error     index descriptor, config and folder name disagree
 *  unknown-platform   error     a platform archkit does not know, or none at all
 *  platform-missing   error     --platform asks for a platform the image has no
 *                               variant for (a variant of its own, missing set)
 *  identical-layers   error     byte-identical layers for two platforms, and an ELF
 *                               file in them is judged an error for either
 *                     info      the same, holding no ELF file or only code both run
 *  ignored            info      a file --ignore matched */
#ifndef AK_PROBE_H
#define AK_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/platform.h"
#include "elf/judge.h"
#include "image/registry.h"

struct ak_probe_options {
	const struct ak_platform **filter; /* --platform, repeatable */
	size_t nfilter;
	const char **ignore; /* --ignore GLOB: paths whose findings become info */
	size_t nignore;
	uint64_t max_layer_bytes; /* 0: the default */
	int jobs;		  /* layers scanned at once; <= 0: the CPU count */
	bool verbose;		  /* also list wrong files that a later layer removed */
	/* docker://: credentials, TLS, request log; NULL: the defaults (TLS verified) */
	const struct ak_registry_options *registry;
	/* the layer facts cache (image/layer-cache.h): cache_dir NULL is the default
	 * directory; no_cache neither reads nor writes it */
	const char *cache_dir;
	bool no_cache;
};

/* One finding with where it was found. Image-level findings have path NULL. */
struct ak_probe_finding {
	struct ak_finding f;
	char *path;  /* "/usr/bin/tool" */
	char *layer; /* digest of the layer that put the file there, or "tree" */
};

struct ak_probe_variant {
	char *name;			    /* the platform judged against, or "unknown" */
	const struct ak_platform *platform; /* NULL when unknown */
	char *index_platform, *config_platform, *folder_platform; /* as the image says */
	char *manifest_digest;
	char *ref_name;
	size_t nlayers;
	size_t files;	  /* regular files in the final filesystem */
	size_t elf_files; /* of them, ELF */
	size_t count[3];  /* findings by severity (enum ak_severity) */
	struct ak_probe_finding *findings;
	size_t nfindings;
	char **removed; /* --verbose: "path (layer N, removed by layer M): description" */
	size_t nremoved;
	bool missing; /* asked for with --platform, not in the image: no layers, one
			 platform-missing error */
};

struct ak_probe_report {
	char *kind; /* image kind: "oci", "oci-archive", ... */
	struct ak_probe_variant *variants;
	size_t n;
	size_t skipped_attestations;
	char **notes;
	size_t nnotes;
};

/* Probe an image; *out is filled on success. Unreadable, invalid or hostile input is an
 * error with status AK_EXIT_ENV (2); findings are not errors. */
int ak_probe_run(const char *ref, const struct ak_probe_options *opt, struct ak_probe_report *out,
		 struct ak_error **err);
/* The same for an image already open (borrowed: the caller closes it); ref names it. */
struct ak_image;
int ak_probe_run_image(struct ak_image *img, const char *ref, const struct ak_probe_options *opt,
		       struct ak_probe_report *out, struct ak_error **err);
void ak_probe_report_free(struct ak_probe_report *r);
/* The worst severity in the report, -1 when there are no findings. */
int ak_probe_worst(const struct ak_probe_report *r);

#endif
