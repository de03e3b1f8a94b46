/* archkit doctor: kernel, mount, namespace, privileges (issue 8: being written). Placeholder until its checks land; adds nothing. */
#include "doctor/internal.h"

void ak_doctor_check_system(struct ak_doctor_run *run)
{
	(void)run;
}
