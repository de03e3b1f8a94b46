/* Scope-bound cleanup helpers (after bubblewrap's utils.h). Destructors accept NULL/-1
 * and keep errno, so a cleanup on an error path does not hide the cause. */
#ifndef AK_CLEANUP_H
#define AK_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/error.h"

static inline void ak_freep(void *p)
{
	int saved = errno;
	free(*(void **)p);
	errno = saved;
}
static inline void ak_closep(int *fd)
{
	int saved = errno;
	if (*fd >= 0)
		close(*fd);
	errno = saved;
}
static inline void ak_fclosep(FILE **f)
{
	int saved = errno;
	if (*f)
		fclose(*f);
	errno = saved;
}
static inline void ak_closedirp(DIR **d)
{
	int saved = errno;
	if (*d)
		closedir(*d);
	errno = saved;
}
static inline void ak_errorp(struct ak_error **e)
{
	ak_error_free(*e);
}

#define cleanup_free __attribute__((cleanup(ak_freep)))
#define cleanup_fd __attribute__((cleanup(ak_closep)))
#define cleanup_file __attribute__((cleanup(ak_fclosep)))
#define cleanup_dir __attribute__((cleanup(ak_closedirp)))
#define cleanup_error __attribute__((cleanup(ak_errorp)))

/* Hand ownership out of a cleanup-managed variable; type-checked like bubblewrap's. */
static inline void *ak_steal_pointer_(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))ak_steal_pointer_(pp))

static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#endif
