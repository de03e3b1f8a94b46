/* What the parts of doctor share while one run goes: the options, the report being
 * filled, and the binfmt_misc instance as the system checks found it. */
#ifndef AK_DOCTOR_INTERNAL_H
#define AK_DOCTOR_INTERNAL_H

#include "binfmt/entry.h"
#include "doctor/doctor.h"

struct ak_doctor_run {
	const struct ak_doctor_options *opt;
	struct ak_doctor_report *r;
	const char *mount_dir; /* opt->mount_dir or the default */
	int dirfd;	       /* the instance, -1 when it could not be opened */
	struct ak_binfmt_table table; /* what is registered (empty when unreadable) */
	bool table_read;
	/* the platforms asked about (opt's, or every one with a smoke binary) */
	const struct ak_platform **platforms;
	size_t nplatforms;
};

/* doctor/system.c: kernel, mount, namespace, privileges; opens dirfd and reads table. */
void ak_doctor_check_system(struct ak_doctor_run *run);
/* doctor/handlers.c: every entry and every platform's handler, QEMU versions, native
 * platforms and smoke runs (host and private root); fills r->platforms. */
void ak_doctor_check_handlers(struct ak_doctor_run *run);
/* doctor/persist-check.c: binfmt.d files and update-binfmts' database against the table. */
void ak_doctor_check_persistence(struct ak_doctor_run *run);
/* doctor/docker.c: daemon, rootless, image store, buildx builders against r->platforms. */
void ak_doctor_check_docker(struct ak_doctor_run *run);

#endif
