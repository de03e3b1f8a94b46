/* Error objects that carry a message and an exit status up the stack (as crun does).
 * A fallible function takes `struct ak_error **err`, returns < 0 after setting it, and
 * leaves *err alone on success. Callers add context with ak_error_prefix(). */
#ifndef AK_ERROR_H
#define AK_ERROR_H

#include <stdarg.h>

/* Exit statuses used everywhere (see STYLE.md). */
enum ak_exit {
	AK_EXIT_OK = 0,
	AK_EXIT_FAIL = 1,  /* a check failed: mismatch, unhealthy, smoke test failed */
	AK_EXIT_ENV = 2,   /* bad input or environment: unreadable image, no privilege */
	AK_EXIT_USAGE = 64 /* wrong flag or argument */
};

struct ak_error {
	int status; /* one of enum ak_exit: what the CLI should exit with */
	int errnum; /* errno behind the failure, or 0 */
	char *msg;
};

/* Set *err (when err is not NULL and *err is NULL) and return -1. */
int ak_error_set(struct ak_error **err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like ak_error_set, appending ": strerror(errnum)". */
int ak_error_errno(struct ak_error **err, int status, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prepend "context: " to an existing error's message; returns -1 for tail calls. */
int ak_error_prefix(struct ak_error **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ak_error_free(struct ak_error *e);
/* Free *err and set it to NULL (for cleanup attributes and for retrying). */
void ak_error_clear(struct ak_error **err);

#endif
