/* archkit doctor: handlers and platforms (being written). Placeholder until its checks land; adds nothing. */
#include "doctor/internal.h"

void ak_doctor_check_handlers(struct ak_doctor_run *run)
{
	(void)run;
}
