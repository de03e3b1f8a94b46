/* Allocation that cannot fail: archkit cannot do anything useful once malloc fails (as
 * crun and git decide too), so these print one line and exit with AK_EXIT_ENV instead
 * of returning NULL. Code that can degrade gracefully (a capped buffer, an optional
 * cache) keeps calling malloc itself. */
#ifndef AK_XALLOC_H
#define AK_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *ak_xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *ak_xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *ak_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
/* Room for n elements of size bytes; n * size overflowing counts as out of memory. */
void *ak_xreallocarray(void *p, size_t n, size_t size) __attribute__((returns_nonnull));
/* NULL stays NULL, so optional strings copy in one call. */
char *ak_xstrdup(const char *s) __attribute__((malloc));
char *ak_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
char *ak_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), malloc,
							returns_nonnull));
char *ak_xvasprintf(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0), malloc, returns_nonnull));

/* A copy of a NULL-terminated string array (NULL stays NULL), and its free. */
char **ak_xstrv_dup(char *const *v);
void ak_strv_free(char **v);

#endif
