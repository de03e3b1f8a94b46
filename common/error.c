#include "common/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static int set_message(struct ak_error **err, int status, int errnum, char *msg)
{
	if (!err || *err) {
		free(msg);
		return -1;
	}
	struct ak_error *e = calloc(1, sizeof(*e));
	if (!e) {
		free(msg);
		return -1;
	}
	e->status = status;
	e->errnum = errnum;
	e->msg = msg ? msg : strdup("out of memory");
	*err = e;
	return -1;
}

int ak_error_set_kind(struct ak_error **err, int status, enum ak_error_kind kind, int errnum,
		      const char *fmt, ...)
{
	bool fresh = err && !*err;
	va_list ap;
	va_start(ap, fmt);
	char *msg = vformat(fmt, ap);
	va_end(ap);
	set_message(err, status, errnum, msg);
	if (fresh && *err)
		(*err)->kind = kind;
	return -1;
}

int ak_error_set(struct ak_error **err, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = vformat(fmt, ap);
	va_end(ap);
	return set_message(err, status, 0, msg);
}

int ak_error_errno(struct ak_error **err, int status, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *head = vformat(fmt, ap);
	va_end(ap);
	char *msg = NULL;
	if (head && asprintf(&msg, "%s: %s", head, strerror(errnum)) < 0)
		msg = NULL;
	free(head);
	return set_message(err, status, errnum, msg);
}

int ak_error_prefix(struct ak_error **err, const char *fmt, ...)
{
	if (!err || !*err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *head = vformat(fmt, ap);
	va_end(ap);
	char *msg = NULL;
	if (head && asprintf(&msg, "%s: %s", head, (*err)->msg) >= 0) {
		free((*err)->msg);
		(*err)->msg = msg;
	}
	free(head);
	return -1;
}

void ak_error_free(struct ak_error *e)
{
	if (!e)
		return;
	free(e->msg);
	free(e);
}

void ak_error_clear(struct ak_error **err)
{
	if (err) {
		ak_error_free(*err);
		*err = NULL;
	}
}
