#include "verify/verify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "binfmt/registrar.h"
#include "sandbox/sandbox.h"

const char *ak_verify_outcome_name(enum ak_verify_outcome o)
{
	switch (o) {
	case AK_VERIFY_NATIVE:
		return "native";
	case AK_VERIFY_EMULATED:
		return "emulated";
	case AK_VERIFY_FAILED:
		return "failed";
	case AK_VERIFY_NO_HANDLER:
		return "no handler";
	case AK_VERIFY_NO_SMOKE:
		return "no smoke binary";
	}
	return "?";
}

bool ak_verify_ok(const struct ak_verify_result *r)
{
	return r->outcome == AK_VERIFY_NATIVE || r->outcome == AK_VERIFY_EMULATED;
}

static void describe_failure(const struct ak_platform *p, struct ak_verify_result *r)
{
	const struct ak_smoke_result *s = &r->smoke;
	char tail[300] = "";
	if (s->stderr_tail[0]) {
		snprintf(tail, sizeof(tail), ": %.280s", s->stderr_tail);
		tail[strcspn(tail, "\n")] = '\0';
	}
	if (s->timed_out)
		snprintf(r->why, sizeof(r->why), "timed out%s", tail);
	else if (s->signal)
		snprintf(r->why, sizeof(r->why), "killed by signal %d (%s)%s", s->signal,
			 strsignal(s->signal), tail);
	else if (s->exit_code != 0)
		snprintf(r->why, sizeof(r->why), "exited %d%s", s->exit_code, tail);
	else
		snprintf(r->why, sizeof(r->why), "reported machine '%s', expected one of: %s",
			 s->machine, p->uname);
}

int ak_verify_platform(const struct ak_platform *p, const struct ak_binfmt_table *table,
		       int timeout_ms, struct ak_verify_result *r, struct ak_error **err)
{
	memset(r, 0, sizeof(*r));
	r->platform = p;
	size_t len = 0;
	const unsigned char *bin = ak_smoke_binary(p, &len);
	if (!bin) {
		r->outcome = AK_VERIFY_NO_SMOKE;
		snprintf(r->why, sizeof(r->why), "archkit has no smoke binary for %s", p->name);
		return 0;
	}
	if (ak_smoke_run(bin, len, timeout_ms, &r->smoke, err) < 0)
		return ak_error_prefix(err, "%s", p->name);
	if (!r->smoke.ran) {
		int e = r->smoke.exec_errno;
		r->outcome = e == ENOEXEC ? AK_VERIFY_NO_HANDLER : AK_VERIFY_FAILED;
		if (e == ENOEXEC)
			snprintf(r->why, sizeof(r->why),
				 "exec format error: no binfmt_misc handler runs %s code here "
				 "(archkit binfmt install %s)",
				 p->name, p->name);
		else
			snprintf(r->why, sizeof(r->why), "cannot execute: %s%s", strerror(e),
				 e == ENOENT ? " (the handler's interpreter is missing)" : "");
		return 0;
	}
	const struct ak_binfmt_entry *catchers[8];
	size_t nc = table ? ak_binfmt_table_catchers(table, ak_platform_qemu(p), catchers, 8) : 0;
	if (!ak_smoke_passed(p, &r->smoke)) {
		r->outcome = AK_VERIFY_FAILED;
		describe_failure(p, r);
		if (nc)
			snprintf(r->entry, sizeof(r->entry), "%s", catchers[0]->name);
		return 0;
	}
	if (nc) {
		r->outcome = AK_VERIFY_EMULATED;
		snprintf(r->entry, sizeof(r->entry), "%s", catchers[0]->name);
	} else {
		r->outcome = AK_VERIFY_NATIVE;
	}
	return 0;
}

void ak_native_probe_init(struct ak_native_probe *np, const struct ak_binfmt_table *table)
{
	np->table = table;
	memset(np->known, -1, sizeof(np->known));
}

static int run_isolated(void *ctx)
{
	const struct ak_qemu_target *t = ctx;
	size_t len = 0;
	const unsigned char *bin = ak_smoke_binary_for_target(t, &len);
	struct ak_smoke_result res;
	if (!bin || ak_smoke_run(bin, len, 0, &res, NULL) < 0)
		return 2;
	return res.ran && res.exit_code == 0 ? 0 : 1;
}

bool ak_native_target(const struct ak_qemu_target *t, void *ctx)
{
	struct ak_native_probe *np = ctx;
	size_t idx = (size_t)(t - ak_qemu_targets);
	if (idx < sizeof(np->known) && np->known[idx] >= 0)
		return np->known[idx] == 1;
	size_t len = 0;
	bool native = false;
	if (ak_smoke_binary_for_target(t, &len)) {
		struct ak_error *e = NULL;
		int r = ak_sandbox_call_isolated(run_isolated, (void *)t, &e);
		if (r >= 0) {
			native = r == 0;
		} else {
			/* no private namespace: a direct run proves nothing when a handler is there
			 */
			const struct ak_binfmt_entry *c[1];
			if (!np->table || ak_binfmt_table_catchers(np->table, t, c, 1) == 0)
				native = run_isolated((void *)t) == 0;
		}
		ak_error_free(e);
	}
	if (idx < sizeof(np->known))
		np->known[idx] = native;
	return native;
}

int ak_verify_platforms(const struct ak_platform *const *ps, size_t n,
			const struct ak_binfmt_table *table, int timeout_ms,
			struct ak_verify_result *r, struct ak_error **err)
{
	for (size_t i = 0; i < n; i++)
		if (ak_verify_platform(ps[i], table, timeout_ms, &r[i], err) < 0)
			return -1;
	return 0;
}
