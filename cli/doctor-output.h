/* doctor's renderings that are more than a loop over checks: node_exporter's textfile
 * format, and the atomic file writer --output uses for every format. */
#ifndef AK_CLI_DOCTOR_OUTPUT_H
#define AK_CLI_DOCTOR_OUTPUT_H

#include <stdio.h>

#include "common/error.h"
#include "doctor/doctor.h"

/* Write r as Prometheus text exposition (node_exporter textfile collector): # HELP and
 * # TYPE lines, archkit_check_ok{check,entry,platform}, archkit_platform_ok{platform,how},
 * archkit_qemu_info{platform,version} 1, archkit_doctor_last_run_timestamp_seconds. */
void doctor_write_prometheus(const struct ak_doctor_report *r, FILE *f);

/* Write what `write` produces to path atomically: a temp file in path's folder, fsync,
 * rename over path (mode 0644). A reader sees the old file or the new one, never half. */
int cli_write_atomic(const char *path, void (*write)(FILE *f, void *ctx), void *ctx,
		     struct ak_error **err);

#endif
