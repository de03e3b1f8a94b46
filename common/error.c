#include "common/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static int set_message(struct ak_error **err, int status, int errnum, char *msg)
{
	if (!err || *err) {
		free(msg);
		return -1;
	}
	struct ak_error *e = ak_xcalloc(1, sizeof(*e));
	e->status = status;
	e->errnum = errnum;
	e->msg = msg;
	*err = e;
	return -1;
}

int ak_error_set_kind(struct ak_error **err, int status, enum ak_error_kind kind, int errnum,
		      const char *fmt, ...)
{
	bool fresh = err && !*err;
	va_list ap;
	va_start(ap, fmt);
	char *msg = ak_xvasprintf(fmt, ap);
	va_end(ap);
	set_message(err, status, errnum, msg);
	if (fresh)
		(*err)->kind = kind;
	return -1;
}

int ak_error_set(struct ak_error **err, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = ak_xvasprintf(fmt, ap);
	va_end(ap);
	return set_message(err, status, 0, msg);
}

int ak_error_errno(struct ak_error **err, int status, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *head = ak_xvasprintf(fmt, ap);
	va_end(ap);
	char *msg = ak_xasprintf("%s: %s", head, strerror(errnum));
	free(head);
	return set_message(err, status, errnum, msg);
}

int ak_error_prefix(struct ak_error **err, const char *fmt, ...)
{
	if (!err || !*err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *head = ak_xvasprintf(fmt, ap);
	va_end(ap);
	char *msg = ak_xasprintf("%s: %s", head, (*err)->msg);
	free(head);
	free((*err)->msg);
	(*err)->msg = msg;
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
