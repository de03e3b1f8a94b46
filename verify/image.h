/* `archkit verify IMAGE`: `docker run --platform` for every variant of an image, with no
 * daemon, no registry and no root. One scan of the unique layers writes their files to a
 * private store (image/rootfs.h, image/unpack.h); each variant's final filesystem is then
 * materialised into its own temporary root and a command runs there in a sandbox with
 * private QEMU handlers (sandbox/root.h). Running in another root is what proves flag F,
 * which a smoke run from the host cannot. */
#ifndef AK_VERIFY_IMAGE_H
#define AK_VERIFY_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/platform.h"
#include "image/registry.h"

#define AK_VERIFY_IMAGE_TIMEOUT_MS 30000

struct ak_verify_image_options {
	const struct ak_platform **filter; /* --platform, repeatable */
	size_t nfilter;
	char *const *cmd;	   /* -- CMD ARGS (NULL-terminated), NULL for the default */
	int timeout_ms;		   /* per variant; <= 0: AK_VERIFY_IMAGE_TIMEOUT_MS */
	int jobs;		   /* layers scanned at once; <= 0: the CPU count */
	uint64_t max_layer_bytes;  /* 0: the default */
	uint64_t max_unpack_bytes; /* all files written; 0: AK_UNPACK_MAX_BYTES_DEFAULT */
	const char *qemu_path;	   /* --qemu-path DIR, NULL: the usual places */
	/* docker://: credentials, TLS; NULL: the defaults (TLS verified) */
	const struct ak_registry_options *registry;
	/* called before each variant runs (progress on a terminal); may be NULL */
	void (*starting)(const char *platform, void *ctx);
	void *ctx;
};

enum ak_vi_status {
	AK_VI_PASSED,
	AK_VI_FAILED,
	AK_VI_TIMED_OUT,
	AK_VI_NOT_RUNNABLE, /* no interpreter for its code here, or exec format error */
};

struct ak_vi_variant {
	char *name; /* the platform ("linux/arm64"), "unknown" when the image says none */
	const struct ak_platform *platform;
	char *ref_name; /* tag of a multi-image archive, NULL otherwise */
	char *manifest_digest;
	enum ak_vi_status status;
	char **command; /* what ran, NULL-terminated */
	bool emulated;
	char *interpreter; /* the QEMU that emulated it, NULL when native or not run */
	int exit_code;	   /* -1 when it did not exit by itself */
	int signal;	   /* what killed it, 0 when none */
	char *machine;	   /* first line of stdout for the default command, else NULL */
	char *out;	   /* stdout (its first bytes) */
	char *err_tail;	   /* stderr (its last bytes) */
	uint64_t elapsed_ms;
	char *detail; /* one line: what happened */
	char *fix;    /* what to do, NULL when passed */
	char *why;    /* not runnable: where archkit looked for QEMU; else NULL */
	uint64_t files, bytes; /* what was unpacked */
};

struct ak_vi_report {
	char *kind; /* image kind: "oci", "oci-archive", ... */
	struct ak_vi_variant *variants;
	size_t n;
	size_t count[4]; /* by enum ak_vi_status */
	char **notes;	 /* skipped attestations and the like */
	size_t nnotes;
};

/* Verify every variant; *out is filled when the image could be read (failures of the
 * variants are results). < 0 with *err: the image cannot be read (AK_EXIT_ENV), or the
 * sandbox cannot be made. */
int ak_verify_image(const char *ref, const struct ak_verify_image_options *opt,
		    struct ak_vi_report *out, struct ak_error **err);
void ak_vi_report_free(struct ak_vi_report *r);
/* "passed", "failed", "timed-out", "not-runnable" */
const char *ak_vi_status_name(enum ak_vi_status s);

#endif
