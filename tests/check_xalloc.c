#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "tests/testlib.h"

/* Run fn in a child with stderr on a pipe: its exit status (-1 when killed) and what it
 * wrote to stderr. */
static int run_child(void (*fn)(void), char *out, size_t outlen)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		fn();
		_exit(0);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < outlen && (r = read(pfd[0], out + n, outlen - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pfd[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void overflowing_array(void)
{
	/* n * size wraps to 0 in size_t: a plain realloc would hand back a tiny block */
	free(ak_xreallocarray(NULL, SIZE_MAX / 2 + 1, 2));
}

START_TEST(test_reallocarray_overflow_exits)
{
	char err[256];
	ck_assert_int_eq(run_child(overflowing_array, err, sizeof(err)), 2);
	ck_assert_msg(strncmp(err, "archkit: out of memory (allocating ", 35) == 0, "stderr: %s",
		      err);
	ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
}
END_TEST

START_TEST(test_grow_one)
{
	cleanup_free int *a = NULL;
	for (size_t n = 0; n < 1000; n++) {
		ck_assert_int_eq(ak_grow_one(&a, n, sizeof(*a)), 0);
		a[n] = (int)n;
	}
	for (size_t n = 0; n < 1000; n++)
		ck_assert_int_eq(a[n], (int)n);
}
END_TEST

static char *formatted(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *formatted(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = ak_xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

START_TEST(test_strings)
{
	ck_assert_ptr_null(ak_xstrdup(NULL));
	cleanup_free char *d = ak_xstrdup("layer");
	cleanup_free char *nd = ak_xstrndup("sha256:abc", 6);
	cleanup_free char *f = formatted("%s/%d", "arm", 7);
	ck_assert_str_eq(d, "layer");
	ck_assert_str_eq(nd, "sha256");
	ck_assert_str_eq(f, "arm/7");
}
END_TEST

START_TEST(test_parallel_jobs)
{
	cpu_set_t saved;
	pin_to_one_cpu(&saved);
	/* a cpuset of one CPU: the default is one job, whatever the host has online */
	unsigned dflt = ak_parallel_jobs(0, 64), neg = ak_parallel_jobs(-3, 64);
	unsigned asked = ak_parallel_jobs(5, 64), capped = ak_parallel_jobs(50, 8);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(saved), &saved), 0);
	ck_assert_uint_eq(dflt, 1);
	ck_assert_uint_eq(neg, 1);
	ck_assert_uint_eq(asked, 5);
	ck_assert_uint_eq(capped, 8);
	ck_assert_uint_eq(ak_parallel_jobs(0, 64), ak_cpus_available());
	ck_assert_uint_eq(ak_cpus_available(), (unsigned)CPU_COUNT(&saved));
}
END_TEST

Suite *xalloc_suite(void)
{
	Suite *s = suite_create("xalloc");
	TCase *tc = tcase_create("xalloc");
	tcase_add_test(tc, test_reallocarray_overflow_exits);
	tcase_add_test(tc, test_grow_one);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_parallel_jobs);
	suite_add_tcase(s, tc);
	return s;
}
