/* Where an image's documents and blobs come from. A source knows how to fetch bytes;
 * image.c knows what they mean. File sources (OCI layout, skopeo dir, docker save, buildx
 * local) read below one directory fd with RESOLVE_BENEATH; archives are extracted into a
 * private directory first and then read as one. A registry source (docker://) plugs in
 * by implementing read_root and open_blob over HTTP. */
#ifndef AK_SOURCE_H
#define AK_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "image/blob.h"
#include "image/image.h"
#include "image/stream.h"

struct ak_source;

struct ak_source_ops {
	const char *kind; /* "oci", "dir", "docker-save", "local" */
	/* The root document: index.json, skopeo's manifest.json, a registry's manifest for
	 * the tag. An index or a manifest; read with the AK_JSON_MAX cap. */
	int (*read_root)(struct ak_source *src, char **doc, size_t *len, struct ak_error **err);
	/* The raw bytes of a blob; the caller verifies them (ak_image_open_blob wraps). */
	int (*open_blob)(struct ak_source *src, const struct ak_descriptor *d,
			 struct ak_stream **out, struct ak_error **err);
	/* For sources whose variants are not just a manifest graph (docker save, buildx
	 * local): list them directly. NULL: image.c walks from read_root. */
	int (*list_variants)(struct ak_source *src, struct ak_image *img,
			     struct ak_variant_list *out, struct ak_error **err);
	void (*close)(struct ak_source *src); /* frees src */
};

struct ak_source {
	const struct ak_source_ops *ops;
	int dirfd;  /* root directory of a file source, -1 otherwise */
	char *path; /* for messages */
	char *tag;  /* TAG of oci:DIR:TAG (or a docker RepoTag), NULL for all */
};

/* OCI image layout directory (oci-layout, index.json, blobs/ALG/HEX). */
int ak_source_oci_new(const char *dir, const char *tag, struct ak_source **out,
		      struct ak_error **err);
/* Check a layout's oci-layout file: a JSON object whose imageLayoutVersion is 1.x. When
 * required (an OCI layout), its absence is an error; otherwise (docker save 25+) only a
 * present file is checked. Messages name src->path. */
int ak_source_oci_layout_check(struct ak_source *src, bool required, struct ak_error **err);
/* skopeo's dir: transport (manifest.json, blobs named by hex, version). */
int ak_source_skopeo_dir_new(const char *dir, struct ak_source **out, struct ak_error **err);
/* docker save output: old (<id>/layer.tar) or Docker 25+ (OCI layout + manifest.json). */
int ak_source_docker_new(const char *dir, const char *tag, struct ak_source **out,
			 struct ak_error **err);
/* buildx type=local output: linux_ARCH[_VARIANT]/ folders, or one root filesystem. */
int ak_source_local_new(const char *dir, struct ak_source **out, struct ak_error **err);
/* One file of an OCI layout held in memory, its path relative to the layout's root. */
struct ak_mem_file {
	const char *path;
	const void *data;
	size_t len;
};
/* An OCI layout held in memory (files borrowed: they must outlive the source); name is
 * for messages. Serves what the oci source serves, with no file system in between. */
int ak_source_mem_new(const struct ak_mem_file *files, size_t n, const char *name,
		      struct ak_source **out, struct ak_error **err);
void ak_source_close(struct ak_source *src);

/* Open path below dirfd without leaving it (RESOLVE_BENEATH, no magic links). */
int ak_source_openat(int dirfd, const char *path, int flags, struct ak_error **err);
/* Open the regular file at path below dirfd (its size in *size when not NULL); a FIFO,
 * device, socket or directory is refused without blocking. Returns the fd. */
int ak_source_open_regular(int dirfd, const char *path, int64_t *size, struct ak_error **err);
/* A raw stream of the regular file at path below dirfd, its size in *size. */
int ak_source_open_file(int dirfd, const char *path, struct ak_stream **out, int64_t *size,
			struct ak_error **err);
/* Common free for file sources: closes dirfd, frees path and tag and src. */
void ak_source_free_common(struct ak_source *src);
/* A file source with ops, rooted at dir (opened here). */
int ak_source_file_new(const struct ak_source_ops *ops, const char *dir, const char *tag,
		       struct ak_source **out, struct ak_error **err);
/* close() of a file source. */
void ak_source_file_close(struct ak_source *src);
/* open_blob() of a layout: d->path when set, else blobs/ALG/HEX; a size on disk other
 * than the descriptor's is refused before reading. */
int ak_source_layout_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			       struct ak_stream **out, struct ak_error **err);

/* Extract a tar archive (any compression; "-" reads stdin) into a new private
 * directory under $TMPDIR (returned in *tmpdir). Only regular files, directories and
 * links that stay inside are created; an entry named with ".." or an absolute path is an
 * error. Absolute symlinks in buildx linux_ARCH folders are rewritten relative to the
 * folder; elsewhere they are dropped. */
int ak_archive_extract(const char *file, char **tmpdir, struct ak_error **err);
/* Remove a directory tree without following symlinks, and forget it if it was an
 * extraction directory (see common/tmpdirs.h: removed on a fatal signal too); NULL is
 * fine. */
void ak_tmpdir_remove(const char *path);

/* The source an image reads from. */
struct ak_source *ak_image_source(struct ak_image *img);
/* For sources: walk the root document of img's source as a generic OCI graph. */
int ak_image_walk_root(struct ak_image *img, struct ak_variant_list *out, struct ak_error **err);
/* For sources: read a (verified) JSON blob with the AK_JSON_MAX cap. */
int ak_image_read_blob(struct ak_image *img, const struct ak_descriptor *d, char **out, size_t *len,
		       struct ak_error **err);

#endif
