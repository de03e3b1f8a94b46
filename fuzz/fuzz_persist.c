/* libFuzzer target: bytes -> host files -> ak_persist_read. The input is cut at lines
 * "%%" into up to five files below a private host root (a vendor and an overriding
 * binfmt.d file, one more binfmt.d file, two update-binfmts entries); what is not given
 * is absent. Checks that the set keeps its bounds, that ak_persist_find gives each name's
 * effective rule (systemd's when it has one), that a rule agrees with itself and that
 * ak_persist_diff of any two rules is bounded. Seeds: fuzz/seeds/fuzz_persist. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor/persist.h"

static const char *const files[] = {
	"usr/lib/binfmt.d/qemu-aarch64.conf",
	"etc/binfmt.d/qemu-aarch64.conf",
	"run/binfmt.d/local.conf",
	"var/lib/binfmts/qemu-aarch64",
	"var/lib/binfmts/qemu-arm",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static char root[64];

static void mkdirs(const char *sub)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", root, sub);
	for (char *c = p + strlen(root) + 1; *c; c++)
		if (*c == '/') {
			*c = '\0';
			mkdir(p, 0755);
			*c = '/';
		}
}

static void remove_root(void)
{
	char p[128];
	for (size_t i = 0; i < NFILES; i++) {
		snprintf(p, sizeof(p), "%s/%s", root, files[i]);
		unlink(p);
		/* the file's folders, innermost first (rmdir fails while one is in use) */
		for (char *c; (c = strrchr(p, '/')) && c > p + strlen(root);) {
			*c = '\0';
			rmdir(p);
		}
	}
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof(root), "%s/ak-fuzz-persist-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (strlen(root) > 60 || !mkdtemp(root))
		abort();
	for (size_t i = 0; i < NFILES; i++)
		mkdirs(files[i]);
	atexit(remove_root);
	return 0;
}

static void put(size_t i, const uint8_t *data, size_t len)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", root, files[i]);
	if (!data) {
		unlink(p);
		return;
	}
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	const uint8_t *p = data, *end = data + size;
	for (size_t i = 0; i < NFILES; i++) {
		if (!p) {
			put(i, NULL, 0);
			continue;
		}
		const uint8_t *cut = NULL;
		for (const uint8_t *q = p; q + 3 <= end; q++)
			if ((q == p || q[-1] == '\n') && !memcmp(q, "%%\n", 3)) {
				cut = q;
				break;
			}
		put(i, p, (size_t)((cut ? cut : end) - p));
		p = cut ? cut + 3 : NULL;
	}

	struct ak_persist_set s;
	struct ak_error *err = NULL;
	if (ak_persist_read(root, &s, &err) < 0)
		abort();
	if (s.count > AK_PERSIST_RULES_MAX || s.nproblems > AK_PERSIST_PROBLEMS_MAX ||
	    (s.problems_dropped && s.nproblems < AK_PERSIST_PROBLEMS_MAX))
		__builtin_trap();
	for (size_t i = 0; i < s.nproblems; i++)
		if (strchr(s.problems[i], '\n'))
			__builtin_trap();
	for (size_t i = 0; i < s.count; i++) {
		const struct ak_persisted *r = &s.rules[i], *f = ak_persist_find(&s, r->e.name);
		if (!r->source || !f || strcmp(f->e.name, r->e.name) || (r->systemd && f != r) ||
		    (r->effective && f != r))
			__builtin_trap();
		char *d = ak_persist_diff(&r->e, &r->e);
		if (d)
			__builtin_trap();
		d = ak_persist_diff(&r->e, &s.rules[(i + 1) % s.count].e);
		if (d && (strlen(d) > 8192 || strchr(d, '\n')))
			__builtin_trap();
		free(d);
	}
	ak_persist_clear(&s);
	return 0;
}
