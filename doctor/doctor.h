/* archkit doctor: will multi-platform builds work on this runner? A list of checks, each
 * pass / info / warn / fail / skipped with a one-line detail and, for warn and fail, the
 * exact fix; plus what each platform comes to (native, emulated, or not runnable). The
 * library only finds things out; cli/ renders them (text, archkit.doctor/v1, prometheus). */
#ifndef AK_DOCTOR_H
#define AK_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "common/platform.h"

enum ak_check_status {
	AK_CHECK_PASS,
	AK_CHECK_INFO,	  /* worth knowing, never unhealthy (an entry no platform owns) */
	AK_CHECK_WARN,	  /* works now, but will bite (no persistence, no C flag, userns) */
	AK_CHECK_FAIL,	  /* a platform does not run, or will not in a container */
	AK_CHECK_SKIPPED, /* could not be asked here (no docker): detail says why */
};

/* One finding. id is stable and documented (archkit-doctor(1)): dotted, lower case,
 * "kernel.version", "mount.filesystem", "handler.flags" ...; a check about one binfmt
 * entry or one platform names it in entry / platform, so (id, entry, platform) is unique
 * within a report. */
struct ak_check {
	char *id;
	enum ak_check_status status;
	char *detail;	/* one line, never NULL */
	char *fix;	/* a command or a config line; set for every warn and fail, else NULL */
	char *platform; /* canonical OCI name ("linux/arm64") or NULL */
	char *entry;	/* binfmt_misc entry name ("qemu-aarch64") or NULL */
};

/* How a platform runs here, after all checks (prometheus archkit_platform_ok). */
struct ak_doctor_platform {
	const struct ak_platform *platform;
	const char *how;      /* "native", "emulated" or "none" (static strings) */
	bool ok;	      /* its smoke binary ran and reported its machine */
	bool ok_in_root;      /* ... also inside a private root (proves F); false when not run */
	char *entry;	      /* the binfmt_misc entry that runs it (emulated), or NULL */
	char *qemu_version;   /* "8.2.2", or NULL when unknown / native */
};

struct ak_doctor_report {
	struct ak_check *checks;
	size_t nchecks;
	struct ak_doctor_platform *platforms;
	size_t nplatforms;
	char *kernel;	  /* uname -r */
	time_t finished;  /* wall clock at the end (archkit_doctor_last_run_timestamp_seconds) */
	uint64_t elapsed_ms;
};

struct ak_doctor_options {
	const char *mount_dir; /* NULL: /proc/sys/fs/binfmt_misc; never mounted by doctor */
	/* the platforms asked about; n == 0: every platform archkit has a smoke binary for */
	const struct ak_platform **platforms;
	size_t nplatforms;
	int timeout_ms; /* per smoke run; <= 0: AK_SMOKE_TIMEOUT_MS */
	/* where the host's root filesystem is, for the files that persist handlers
	 * (etc/binfmt.d, run/binfmt.d, usr/lib/binfmt.d, var/lib/binfmts): a DaemonSet mounts
	 * the host's / at /host. NULL: "/" */
	const char *host_root;
	const char *docker; /* the docker command (NULL: "docker" in $PATH) */
};

/* Run every check. < 0 with *err only when nothing could be checked at all; a check that
 * could not be made is a skipped (or failed) check in the report. */
int ak_doctor_run(const struct ak_doctor_options *opt, struct ak_doctor_report *r,
		  struct ak_error **err);
void ak_doctor_report_clear(struct ak_doctor_report *r);

/* Add a check to r (copies the strings; fix/platform/entry may be NULL; detail and fix
 * are printf formats only through the _f variants below). Returns the new check. */
struct ak_check *ak_doctor_add(struct ak_doctor_report *r, const char *id,
			       enum ak_check_status status, const char *platform, const char *entry,
			       const char *fix, const char *detail_fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* "pass", "info", "warn", "fail", "skipped" */
const char *ak_check_status_name(enum ak_check_status s);
/* Does the report hold a fail? (exit 1) */
bool ak_doctor_unhealthy(const struct ak_doctor_report *r);

#endif
