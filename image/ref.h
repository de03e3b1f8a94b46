/* Image references, as `archkit probe IMAGE` takes them: the documented forms
 * (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME:TAG]`, `dir:DIR`,
 * `local:DIR`, `tar:FILE`, `-`, `docker://REF`) and a bare path, and what a directory
 * holds, told by the files in it. Nothing here opens an image. */
#ifndef AK_REF_H
#define AK_REF_H

#include "common/error.h"

enum ak_ref_form {
	AK_REF_OCI,	       /* oci:DIR[:TAG] */
	AK_REF_OCI_ARCHIVE,    /* oci-archive:FILE[:TAG] */
	AK_REF_DOCKER_ARCHIVE, /* docker-archive:FILE[:NAME:TAG] */
	AK_REF_DIR,	       /* dir:DIR (skopeo) */
	AK_REF_LOCAL,	       /* local:DIR (buildx type=local, or one root filesystem) */
	AK_REF_TAR,	       /* tar:FILE: a tar of any form, or of one root filesystem */
	AK_REF_STDIN,	       /* -: an archive on stdin */
	AK_REF_PATH_DIR,       /* a bare path to a directory: sniff it */
	AK_REF_PATH_FILE,      /* a bare path to a file or FIFO: an archive */
	AK_REF_REGISTRY,       /* docker://[HOST[:PORT]/]REPO[:TAG|@sha256:HEX] */
};

struct ak_ref {
	enum ak_ref_form form;
	char *path; /* "-" for AK_REF_STDIN; the reference after docker:// for a registry */
	char *tag;  /* TAG (or NAME:TAG of a docker-archive), NULL for all */
};

/* Parse ref. A TAG is split off only where the path without it exists and the whole
 * does not, so a file named "a:b" is still found. A bare path must exist. A docker://
 * reference is checked here (image/registry.h's grammar), its tag left in path. */
int ak_ref_parse(const char *ref, struct ak_ref *out, struct ak_error **err);
void ak_ref_clear(struct ak_ref *r);

/* What a directory holds, by the files in it. */
enum ak_layout {
	AK_LAYOUT_NONE,	  /* none of these: a root filesystem, if anything */
	AK_LAYOUT_OCI,	  /* oci-layout or index.json */
	AK_LAYOUT_DOCKER, /* docker save: manifest.json (with index.json: Docker 25+) */
	AK_LAYOUT_DIR,	  /* skopeo dir: manifest.json and version */
	AK_LAYOUT_LOCAL,  /* buildx type=local: linux_* folders */
};
/* Sniff the directory at path into *out; -1 only when it cannot be opened. */
int ak_ref_sniff(const char *path, enum ak_layout *out, struct ak_error **err);

#endif
