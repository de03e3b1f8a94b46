/* Where an image's documents and blobs come from. A source fetches bytes and hands its
 * root over as data; the walk (walk.h) says what they mean, and a source never calls
 * back into it. File sources (OCI layout, skopeo dir, docker save, buildx local) read
 * below one directory fd with RESOLVE_BENEATH; archives are extracted into a private
 * directory first and then read as one. A registry source (docker://) plugs in by
 * implementing read_root and open_blob over HTTP. */
#ifndef AK_SOURCE_H
#define AK_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/blob.h"
#include "image/doc.h"
#include "image/stream.h"

/* What a source's root is. */
enum ak_root_form {
	AK_ROOT_GRAPH,	/* doc: an index, or one manifest (skopeo dir:, a registry's tag) */
	AK_ROOT_DOCKER, /* docker save: docker and files; doc: Docker 25+'s index.json, or NULL */
	AK_ROOT_TREES,	/* buildx local: root filesystem trees, no document */
};

/* A file docker save's manifest.json names: its size, or why it cannot be read (with
 * the source's name in front), which the walk reports only if it uses the file. */
struct ak_source_file {
	int64_t size;
	struct ak_error *error;
};
struct ak_source_docker_files {
	struct ak_source_file config;
	struct ak_source_file *layers; /* as many as the entry's layers */
};

/* One root filesystem of buildx local output. */
struct ak_source_tree {
	char *os, *arch, *variant; /* from its folder's name ("linux_arm_v7"); all NULL for
				    * the single root filesystem of one-platform output */
	int fd;			   /* O_DIRECTORY, owned; the walk takes it */
	char *path;		   /* where it is, NULL when unknown */
};

/* A source's root, as data for the walk; ak_source_root_clear frees it. */
struct ak_source_root {
	enum ak_root_form form;
	const char *name; /* the document's name in messages: "index.json", "manifest.json" */
	char *doc;	  /* NUL-terminated, at most AK_JSON_MAX bytes */
	size_t len;
	char *note; /* for the variant list's notes, NULL for none (a registry's digest
		     * header that its manifest's bytes disagree with) */
	/* AK_ROOT_DOCKER: manifest.json, and the files of entry i in files[i] */
	struct ak_docker_manifest docker;
	struct ak_source_docker_files *files;
	/* AK_ROOT_TREES: sorted by folder name */
	struct ak_source_tree *trees;
	size_t ntrees;
};
void ak_source_root_clear(struct ak_source_root *r);

struct ak_source;

struct ak_source_ops {
	const char *kind; /* "oci", "dir", "docker-save", "local", "registry" */
	/* The root: index.json, skopeo's manifest.json, a registry's manifest for the tag,
	 * docker save's manifest.json, buildx local's trees. *out starts zeroed. */
	int (*read_root)(struct ak_source *src, struct ak_source_root *out, struct ak_error **err);
	/* The raw bytes of a blob, unverified (ak_source_open_blob verifies). NULL: the
	 * source has no blobs (buildx local). */
	int (*open_blob)(struct ak_source *src, const struct ak_descriptor *d,
			 struct ak_stream **out, struct ak_error **err);
	void (*close)(struct ak_source *src); /* frees src */
};

struct ak_source {
	const struct ak_source_ops *ops;
	int dirfd;  /* root directory of a file source, -1 otherwise */
	char *path; /* for messages */
};

/* The blob d names, verified against its digest and size as it is read. */
int ak_source_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			struct ak_stream **out, struct ak_error **err);
/* A document blob (index, manifest, config): verified, at most AK_JSON_MAX bytes. */
int ak_source_read_doc(struct ak_source *src, const struct ak_descriptor *d, char **out,
		       size_t *len, struct ak_error **err);
void ak_source_close(struct ak_source *src);

/* OCI image layout directory (oci-layout, index.json, blobs/ALG/HEX). */
int ak_source_oci_new(const char *dir, struct ak_source **out, struct ak_error **err);
/* Check a layout's oci-layout file: a JSON object whose imageLayoutVersion is 1.x. When
 * required (an OCI layout), its absence is an error; otherwise (docker save 25+) only a
 * present file is checked. Messages name src->path. */
int ak_source_oci_layout_check(struct ak_source *src, bool required, struct ak_error **err);
/* skopeo's dir: transport (manifest.json, blobs named by hex, version). */
int ak_source_skopeo_dir_new(const char *dir, struct ak_source **out, struct ak_error **err);
/* docker save output: old (<id>/layer.tar) or Docker 25+ (OCI layout + manifest.json). */
int ak_source_docker_new(const char *dir, struct ak_source **out, struct ak_error **err);
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

/* --- for sources --- */

#define AK_BLOB_PATH_MAX (16 + 8 + 128 + 1)
/* "blobs/ALG/HEX": where a layout keeps the blob a validated digest names. */
void ak_source_blob_path(const char *digest, char out[AK_BLOB_PATH_MAX]);

/* Open path below dirfd without leaving it (RESOLVE_BENEATH, no magic links). */
int ak_source_openat(int dirfd, const char *path, int flags, struct ak_error **err);
/* Open the regular file at path below dirfd (its size in *size when not NULL); a FIFO,
 * device, socket or directory is refused without blocking. Returns the fd. */
int ak_source_open_regular(int dirfd, const char *path, int64_t *size, struct ak_error **err);
/* A raw stream of the regular file at path below dirfd, its size in *size. */
int ak_source_open_file(int dirfd, const char *path, struct ak_stream **out, int64_t *size,
			struct ak_error **err);
/* Read a JSON document (at most AK_JSON_MAX bytes) from s, or from the file name below
 * src's directory; read errors name it. */
int ak_source_read_json_stream(struct ak_stream *s, const char *name, char **doc, size_t *len,
			       struct ak_error **err);
int ak_source_read_json(struct ak_source *src, const char *name, char **doc, size_t *len,
			struct ak_error **err);
/* A file source with ops, rooted at dir (opened here). */
int ak_source_file_new(const struct ak_source_ops *ops, const char *dir, struct ak_source **out,
		       struct ak_error **err);
/* close() of a file source: closes dirfd, frees path and src. */
void ak_source_file_close(struct ak_source *src);
/* open_blob() of a layout: d->path when set, else blobs/ALG/HEX; a size on disk other
 * than the descriptor's is refused before reading, and a missing blob is an error with
 * errnum ENOENT. */
int ak_source_layout_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			       struct ak_stream **out, struct ak_error **err);

/* Absolute symlinks outside buildx linux_* folders that an extraction held back: they
 * mean nothing in an image layout, and the root itself in a root filesystem tar. */
struct ak_archive_links;
/* Extract a tar archive (any compression; "-" reads stdin) into a new private
 * directory under $TMPDIR (returned in *tmpdir). Only regular files, directories and
 * links that stay inside are created; an entry named with ".." or an absolute path is an
 * error. Absolute symlinks in buildx linux_ARCH folders are rewritten relative to the
 * folder; the others are left out, and listed in *held when held is not NULL. */
int ak_archive_extract(const char *file, char **tmpdir, struct ak_archive_links **held,
		       struct ak_error **err);
/* Make the held links in the extraction directory dir, relative to its root, for an
 * archive that is one root filesystem. Where a later entry took a link's path, that
 * entry wins. */
int ak_archive_links_make(const char *dir, const struct ak_archive_links *held,
			  struct ak_error **err);
void ak_archive_links_free(struct ak_archive_links *held);
/* Remove a directory tree without following symlinks, and forget it if it was an
 * extraction directory (see common/tmpdirs.h: removed on a fatal signal too); NULL is
 * fine. */
void ak_tmpdir_remove(const char *path);

#endif
