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

/* What went wrong, for callers that act on it: code never matches message text. */
enum ak_error_kind {
	AK_ERR_OTHER = 0,
	AK_ERR_DIGEST_MISMATCH, /* a blob's bytes are not what its digest names */
	AK_ERR_TRUNCATED,	/* a blob or stream ended before its size */
	AK_ERR_LIMIT,		/* a cap was reached (--max-layer-bytes, a document bound) */
};

struct ak_error {
	int status; /* one of enum ak_exit: what the CLI should exit with */
	int errnum; /* errno behind the failure, or 0 */
	enum ak_error_kind kind;
	char *msg;
};

/* Set *err (when err is not NULL and *err is NULL) and return -1. */
int ak_error_set(struct ak_error **err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like ak_error_set, with a kind (and errnum, 0 for none) for callers that act on it. */
int ak_error_set_kind(struct ak_error **err, int status, enum ak_error_kind kind, int errnum,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
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
