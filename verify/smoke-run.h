/* archkit's built-in smoke binaries (verify/smoke/) and the one way to run them: a real
 * execve() of a file, so the kernel's binfmt_misc decides how it runs, as it would for a
 * container's process. */
#ifndef AK_SMOKE_RUN_H
#define AK_SMOKE_RUN_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/error.h"
#include "common/platform.h"

#define AK_SMOKE_TIMEOUT_MS 10000 /* used when a caller passes timeout_ms <= 0 */

/* The smoke binary built for a platform, its size in *len; NULL (and *len 0) when archkit
 * has none for it. Variants get their own (arm/v5 soft-float ARMv5TE, amd64/v3 runs an
 * AVX2 instruction first), never another variant's. */
const unsigned char *ak_smoke_binary(const struct ak_platform *p, size_t *len);
/* The smoke binary that every CPU a QEMU target emulates can run (baseline x86-64 for
 * x86_64, the ARMv5TE one for arm); NULL when archkit has none for the target. */
const unsigned char *ak_smoke_binary_for_target(const struct ak_qemu_target *t, size_t *len);

struct ak_smoke_result {
	int ran;	  /* execve succeeded */
	int exit_code;	  /* when it exited; -1 when killed by a signal or not run */
	int signal;	  /* the signal that killed it, or 0 */
	int timed_out;	  /* killed by archkit after timeout_ms */
	int exec_errno;	  /* why execve failed: ENOEXEC = no binfmt handler ("exec format error") */
	char machine[65]; /* first line of its stdout, without the newline */
	char stderr_tail[512]; /* the last bytes it wrote to stderr */
};

/* Write bin to a private temporary directory under $TMPDIR (or /tmp), execve it with
 * stdin /dev/null and a fixed PATH, collect its output, and kill it (and its process
 * group) after timeout_ms. What the program did lands in *res, returning 0 even when it
 * could not be executed; < 0 only when the environment fails (temporary files, pipes,
 * fork, a noexec $TMPDIR). */
int ak_smoke_run(const unsigned char *bin, size_t len, int timeout_ms, struct ak_smoke_result *res,
		 struct ak_error **err);

/* A run still going after this long is waiting or hung, not starting up (a healthy one
 * takes a few ms): see ak_smoke_dir.stalled. */
#define AK_SMOKE_BUSY_MS 100

/* Files kept in an ak_smoke_dir for the threads that run in it (more threads than this
 * get a file per run). */
#define AK_SMOKE_SLOTS 64

/* A private temporary directory under $TMPDIR (or /tmp) for several runs at once: one
 * directory and one noexec check for a batch. Each thread that runs in it gets a file
 * of its own, rewritten for each of its runs (the thread waits for one run to end
 * before the next): creating and unlinking a file per run costs more CPU than archkit
 * spends on anything else in a batch (an ext4 inode allocation scans for recently
 * deleted ones), and two threads creating files at once contend for the directory. */
struct ak_smoke_dir {
	char path[4096];
	atomic_uint next; /* names the next file */
	pthread_mutex_t lock; /* guards the slots */
	struct {
		pthread_t owner;
		unsigned name; /* the file is smoke-NAME */
	} slots[AK_SMOKE_SLOTS];
	size_t nslots;
	/* when set, called (on the run's thread) once by each run still going after
	 * AK_SMOKE_BUSY_MS: a batch starts another worker so a hung one holds up no other */
	void (*stalled)(void *ctx);
	void *stalled_ctx;
};
/* Make it; the error names a noexec mount or what else stops it. */
int ak_smoke_dir_make(struct ak_smoke_dir *d, struct ak_error **err);
/* Remove it and the threads' files. */
void ak_smoke_dir_remove(struct ak_smoke_dir *d);
/* ak_smoke_run with the file in d; safe to call from several threads with the same d. */
int ak_smoke_run_in(struct ak_smoke_dir *d, const unsigned char *bin, size_t len, int timeout_ms,
		    struct ak_smoke_result *res, struct ak_error **err);

/* Did the run pass for p: ran, exited 0, and reported a machine p accepts? */
bool ak_smoke_passed(const struct ak_platform *p, const struct ak_smoke_result *res);

#endif
