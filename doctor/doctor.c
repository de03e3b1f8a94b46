#include "doctor/doctor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "binfmt/instance.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "doctor/internal.h"
#include "verify/smoke-run.h"

const char *ak_check_status_name(enum ak_check_status s)
{
	switch (s) {
	case AK_CHECK_PASS:
		return "pass";
	case AK_CHECK_INFO:
		return "info";
	case AK_CHECK_WARN:
		return "warn";
	case AK_CHECK_FAIL:
		return "fail";
	case AK_CHECK_SKIPPED:
		return "skipped";
	}
	return "?";
}

struct ak_check *ak_doctor_add(struct ak_doctor_report *r, const char *id,
			       enum ak_check_status status, const char *platform, const char *entry,
			       const char *fix, const char *detail_fmt, ...)
{
	r->checks = ak_xreallocarray(r->checks, r->nchecks + 1, sizeof(*r->checks));
	struct ak_check *c = &r->checks[r->nchecks++];
	va_list ap;
	va_start(ap, detail_fmt);
	c->detail = ak_xvasprintf(detail_fmt, ap);
	va_end(ap);
	c->id = ak_xstrdup(id);
	c->status = status;
	c->platform = platform ? ak_xstrdup(platform) : NULL;
	c->entry = entry ? ak_xstrdup(entry) : NULL;
	c->fix = fix ? ak_xstrdup(fix) : NULL;
	return c;
}

bool ak_doctor_unhealthy(const struct ak_doctor_report *r)
{
	for (size_t i = 0; i < r->nchecks; i++)
		if (r->checks[i].status == AK_CHECK_FAIL)
			return true;
	return false;
}

void ak_doctor_report_clear(struct ak_doctor_report *r)
{
	for (size_t i = 0; i < r->nchecks; i++) {
		struct ak_check *c = &r->checks[i];
		free(c->id);
		free(c->detail);
		free(c->fix);
		free(c->platform);
		free(c->entry);
	}
	free(r->checks);
	for (size_t i = 0; i < r->nplatforms; i++) {
		free(r->platforms[i].entry);
		free(r->platforms[i].qemu_version);
	}
	free(r->platforms);
	free(r->kernel);
	memset(r, 0, sizeof(*r));
}

int ak_doctor_run(const struct ak_doctor_options *opt, struct ak_doctor_report *r,
		  struct ak_error **err)
{
	memset(r, 0, sizeof(*r));
	int64_t t0 = ak_monotonic_ms();
	struct utsname u;
	r->kernel = ak_xstrdup(uname(&u) == 0 ? u.release : "unknown");

	struct ak_doctor_run run = {
		.opt = opt,
		.r = r,
		.mount_dir = opt->mount_dir ? opt->mount_dir : AK_BINFMT_DEFAULT_DIR,
		.dirfd = -1,
	};
	if (opt->nplatforms) {
		run.platforms = ak_xreallocarray(NULL, opt->nplatforms, sizeof(*run.platforms));
		memcpy(run.platforms, opt->platforms, opt->nplatforms * sizeof(*run.platforms));
		run.nplatforms = opt->nplatforms;
	} else {
		run.platforms = ak_xreallocarray(NULL, ak_platform_count, sizeof(*run.platforms));
		for (size_t i = 0; i < ak_platform_count; i++) {
			size_t len;
			if (ak_smoke_binary(&ak_platforms[i], &len))
				run.platforms[run.nplatforms++] = &ak_platforms[i];
		}
	}

	/* order matters: handlers read the table system opened; docker compares builders
	 * with the platforms handlers found running */
	ak_doctor_check_system(&run);
	ak_doctor_check_handlers(&run);
	ak_doctor_check_persistence(&run);
	ak_doctor_check_docker(&run);

	if (run.dirfd >= 0)
		close(run.dirfd);
	ak_binfmt_table_clear(&run.table);
	free(run.platforms);
	r->finished = time(NULL);
	r->elapsed_ms = (uint64_t)(ak_monotonic_ms() - t0);
	(void)err;
	return 0;
}
