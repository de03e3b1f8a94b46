/* Placeholder until the prometheus renderer and atomic writer land (issue 8). */
#include "cli/doctor-output.h"

void doctor_write_prometheus(const struct ak_doctor_report *r, FILE *f)
{
	(void)r;
	(void)f;
}

int cli_write_atomic(const char *path, void (*write)(FILE *f, void *ctx), void *ctx,
		     struct ak_error **err)
{
	return ak_error_set(err, AK_EXIT_ENV, "%s: --output is not written yet", path);
}
