/* `archkit verify` (smoke mode): does code for each platform really run here? Executes the
 * platform's smoke binary through the kernel and says how it ran: natively, emulated by
 * a named binfmt_misc entry, failed (why), or not at all (no handler). */
#ifndef AK_VERIFY_H
#define AK_VERIFY_H

#include <stdbool.h>

#include "binfmt/entry.h"
#include "common/platform.h"
#include "verify/smoke-run.h"

enum ak_verify_outcome {
	AK_VERIFY_NATIVE,
	AK_VERIFY_EMULATED,
	AK_VERIFY_FAILED,
	AK_VERIFY_NO_HANDLER, /* exec format error: nothing here runs this code */
	AK_VERIFY_NO_SMOKE,   /* archkit has no smoke binary for the platform */
};

struct ak_verify_result {
	const struct ak_platform *platform;
	enum ak_verify_outcome outcome;
	char entry[80]; /* the binfmt_misc entry that ran it (emulated) */
	char why[512];	/* for failed / no handler: what went wrong */
	struct ak_smoke_result smoke;
};

/* Run p's smoke binary and classify the run; table (may be NULL) names the entry that
 * emulated it. < 0 only when the environment fails. */
int ak_verify_platform(const struct ak_platform *p, const struct ak_binfmt_table *table,
		       int timeout_ms, struct ak_verify_result *r, struct ak_error **err);
#define AK_VERIFY_JOBS 16 /* smoke runs at once, at most */
/* The same for n platforms (results in r[0..n-1]): one run per CPU this process may use
 * side by side, and one more for each that has run AK_SMOKE_BUSY_MS, up to AK_VERIFY_JOBS
 * (threads; each run has its own temporary file, pipes and child). < 0 only when the
 * environment fails (the first such error). */
int ak_verify_platforms(const struct ak_platform *const *ps, size_t n,
			const struct ak_binfmt_table *table, int timeout_ms,
			struct ak_verify_result *r, struct ak_error **err);
const char *ak_verify_outcome_name(enum ak_verify_outcome o);
/* Is a run a success (native or emulated)? */
bool ak_verify_ok(const struct ak_verify_result *r);

/* Classify a smoke run already in r->smoke for p (native, emulated by the entry of table
 * that catches it, failed, no handler): a run that printed the right machine but did not
 * exit 0 failed. */
void ak_verify_classify(const struct ak_platform *p, const struct ak_binfmt_table *table,
			struct ak_verify_result *r);

/* Cache of which QEMU targets the host runs natively, found by executing every target's
 * smoke binary in one namespace with an empty binfmt_misc (so no handler can be what ran
 * it), the first time any target is asked about; here, without that namespace, when no
 * handler in table catches any target. Where no such namespace can be made, a direct run
 * counts only when no handler in table catches the target. */
struct ak_native_probe {
	const struct ak_binfmt_table *table;
	signed char known[64]; /* per ak_qemu_targets index: -1 unknown, 0 no, 1 yes */
	bool isolated_failed;  /* no namespace could be made: decide target by target */
};
void ak_native_probe_init(struct ak_native_probe *np, const struct ak_binfmt_table *table);
/* Fits ak_binfmt_options.is_native (ctx is the struct ak_native_probe). */
bool ak_native_target(const struct ak_qemu_target *t, void *ctx);

#endif
