#include "common/xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

static void __attribute__((noreturn)) out_of_memory(size_t n)
{
	/* no stdio buffers: they may need the memory that just ran out */
	char msg[96];
	int len = snprintf(msg, sizeof(msg), "archkit: out of memory (allocating %zu bytes)\n", n);
	if (len > 0 && write(STDERR_FILENO, msg, (size_t)len) < 0)
		_exit(AK_EXIT_ENV);
	_exit(AK_EXIT_ENV);
}

void *ak_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

void *ak_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory(n * size);
	return p;
}

void *ak_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		out_of_memory(n);
	return q;
}

void *ak_xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		out_of_memory(SIZE_MAX);
	return ak_xrealloc(p, n * size);
}

char *ak_xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *p = strdup(s);
	if (!p)
		out_of_memory(strlen(s) + 1);
	return p;
}

char *ak_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		out_of_memory(n + 1);
	return p;
}

char *ak_xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		out_of_memory(0);
	return s;
}

char *ak_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = ak_xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

char **ak_xstrv_dup(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = 0;
	while (v[n])
		n++;
	char **out = ak_xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = ak_xstrdup(v[i]);
	return out;
}

void ak_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}
