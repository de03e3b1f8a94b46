/* Image documents: OCI and Docker indexes, manifests and configs, and docker save's
 * manifest.json, parsed into plain structs; their media types. Pure: no I/O, and every
 * error is AK_EXIT_ENV naming the document (used by the walk, by sources, by fuzz_index). */
#ifndef AK_DOC_H
#define AK_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "image/blob.h"

#define AK_IMAGE_ENTRIES_MAX 65536 /* descriptors in one index or layers in one manifest */

#define AK_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define AK_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define AK_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define AK_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define AK_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define AK_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define AK_MT_DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"
#define AK_MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define AK_MT_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

struct ak_index_entry {
	struct ak_descriptor d;
	char *os, *arch, *variant; /* from "platform", NULL when absent */
	char *ref_name;		   /* org.opencontainers.image.ref.name */
	char *image_name;	   /* io.containerd.image.name (docker save 25+, ctr export) */
	bool unknown_platform;	   /* platform unknown/unknown: no runtime runs it */
	/* vnd.docker.reference.type=attestation-manifest: what buildx marks attestations
	 * with, but runtimes match platforms only, so alone it skips nothing */
	bool attestation_annotation;
};
struct ak_index_doc {
	struct ak_index_entry *entries;
	size_t n;
};
struct ak_manifest_doc {
	struct ak_descriptor config;
	struct ak_descriptor *layers;
	size_t nlayers;
};
/* What a config says to run (its "config" object): NULL-terminated arrays, each NULL
 * when the config has none; working_dir NULL when unset. */
struct ak_process {
	char **entrypoint, **cmd, **env;
	char *working_dir;
};
struct ak_config_doc {
	char *os, *arch, *variant;
	char **diff_ids;
	size_t ndiff_ids;
	struct ak_process process;
};
/* A deep copy of src into dst (NULL arrays stay NULL); exits when memory runs out. */
void ak_process_copy(struct ak_process *dst, const struct ak_process *src);
void ak_process_clear(struct ak_process *p);
/* docker save's manifest.json: one entry per saved image */
struct ak_docker_entry {
	char *config; /* path of the config file */
	char **repo_tags;
	size_t nrepo_tags;
	char **layers; /* paths of the layer tars, bottom first */
	size_t nlayers;
};
struct ak_docker_manifest {
	struct ak_docker_entry *entries;
	size_t n;
};

/* Is mt an image index (OCI) or manifest list (Docker)? An image manifest? A config? A
 * Docker schema 1 manifest (which archkit does not read)? */
bool ak_media_type_is_index(const char *mt);
bool ak_media_type_is_manifest(const char *mt);
bool ak_media_type_is_config(const char *mt);
bool ak_media_type_is_schema1(const char *mt);

/* Parse a document (what names it goes in error messages). */
int ak_index_parse(const char *buf, size_t len, const char *what, struct ak_index_doc *out,
		   struct ak_error **err);
int ak_manifest_parse(const char *buf, size_t len, const char *what, struct ak_manifest_doc *out,
		      struct ak_error **err);
int ak_config_parse(const char *buf, size_t len, const char *what, struct ak_config_doc *out,
		    struct ak_error **err);
int ak_docker_manifest_parse(const char *buf, size_t len, struct ak_docker_manifest *out,
			     struct ak_error **err);
void ak_index_doc_free(struct ak_index_doc *d);
void ak_manifest_doc_free(struct ak_manifest_doc *d);
void ak_config_doc_free(struct ak_config_doc *d);
void ak_docker_manifest_free(struct ak_docker_manifest *m);

/* An index or an image manifest, for the walk. */
struct ak_doc {
	bool is_index;
	struct ak_index_doc idx;    /* is_index */
	struct ak_manifest_doc man; /* !is_index */
};
/* The root of a graph (index.json, skopeo's manifest.json, a registry's tag): a manifest
 * when it has "layers" and no "manifests", else an index. */
int ak_doc_parse_root(const char *buf, size_t len, const char *what, struct ak_doc *out,
		      struct ak_error **err);
/* The document d names: an index when want_index, else a manifest. A mediaType of its own
 * that says the other kind is refused: a checker and a runtime must not read one
 * document as two things. Messages name d's digest. */
int ak_doc_parse_as(const char *buf, size_t len, const struct ak_descriptor *d, bool want_index,
		    struct ak_doc *out, struct ak_error **err);
void ak_doc_free(struct ak_doc *d);
/* The error for a Docker schema 1 manifest named what, saying how to convert it. */
int ak_doc_schema1_error(const char *what, struct ak_error **err);

/* Check an oci-layout file's bytes (JSON, imageLayoutVersion 1.x); what names the layout. */
int ak_oci_layout_parse(const char *buf, size_t len, const char *what, struct ak_error **err);

#endif
