/* Temporary directories that must not outlive the process, even when a signal ends it.
 * A directory is registered once created; the handler that ak_tmpdirs_catch_signals()
 * installs removes every registered directory with async-signal-safe calls only, then
 * re-raises the signal so the exit status stays 128 + signal. */
#ifndef AK_TMPDIRS_H
#define AK_TMPDIRS_H

#define AK_TMPDIRS_MAX 16 /* registered at once */

/* mkdtemp(tmpl) with the catchable signals blocked until the new directory is
 * registered, so no signal falls between the two; NULL (errno set) on failure, or
 * ENOSPC when AK_TMPDIRS_MAX are registered. */
char *ak_tmpdir_create(char *tmpl);
/* Remove path (no symlink followed) and forget it; NULL is fine. */
void ak_tmpdir_forget_remove(const char *path);
/* Install the handler for SIGINT, SIGTERM, SIGHUP and SIGQUIT (those not ignored at
 * start: a shell's background job keeps ignoring SIGINT); idempotent. */
void ak_tmpdirs_catch_signals(void);
/* Remove a directory tree with async-signal-safe calls only (openat, getdents64,
 * unlinkat, close): the handler's remover, usable anywhere. 0, or -1 when something
 * stayed. */
int ak_rmtree_signal_safe(const char *path);
/* The same for path below dirfd (AT_FDCWD allowed), for trees made with *at calls. */
int ak_rmtree_at(int dirfd, const char *path);

#endif
