#include "verify/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binfmt/registrar.h"
#include "common/util.h"
#include "common/xalloc.h"
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

void ak_verify_classify(const struct ak_platform *p, const struct ak_binfmt_table *table,
			struct ak_verify_result *r)
{
	r->platform = p;
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
		return;
	}
	const struct ak_binfmt_entry *catchers[8];
	size_t nc = table ? ak_binfmt_table_catchers(table, ak_platform_qemu(p), catchers, 8) : 0;
	if (nc)
		snprintf(r->entry, sizeof(r->entry), "%s", catchers[0]->name);
	if (!ak_smoke_passed(p, &r->smoke)) {
		r->outcome = AK_VERIFY_FAILED;
		describe_failure(p, r);
		return;
	}
	r->outcome = nc ? AK_VERIFY_EMULATED : AK_VERIFY_NATIVE;
}

/* ak_verify_platform, with the smoke file in d (a batch's directory) or, when d is NULL,
 * in a directory of its own. */
static int verify_in(struct ak_smoke_dir *d, const struct ak_platform *p,
		     const struct ak_binfmt_table *table, int timeout_ms,
		     struct ak_verify_result *r, struct ak_error **err)
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
	if ((d ? ak_smoke_run_in(d, bin, len, timeout_ms, &r->smoke, err)
	       : ak_smoke_run(bin, len, timeout_ms, &r->smoke, err)) < 0)
		return ak_error_prefix(err, "%s", p->name);
	ak_verify_classify(p, table, r);
	return 0;
}

int ak_verify_platform(const struct ak_platform *p, const struct ak_binfmt_table *table,
		       int timeout_ms, struct ak_verify_result *r, struct ak_error **err)
{
	return verify_in(NULL, p, table, timeout_ms, r, err);
}

/* Run job(i, ctx) for i in 0..n-1, one worker thread per CPU this process may use. A
 * smoke run is mostly QEMU starting up, all CPU: more side by side than there are CPUs
 * only slow each other down (and every extra thread of a process that spawns children
 * costs TLB shootdowns). A run that stalls (d->stalled) adds a worker, up to
 * AK_VERIFY_JOBS, so hung handlers wait out their timeouts together, not in turn. */
struct batch {
	size_t n;
	atomic_size_t next;
	atomic_size_t started; /* workers so far: worker k runs on the k-th allowed CPU */
	cpu_set_t allowed;     /* the caller's affinity, which it gets back at the end */
	bool pin;
	void (*job)(size_t i, void *ctx);
	void *ctx;
	pthread_mutex_t lock; /* guards tids and nt */
	pthread_t tids[AK_VERIFY_JOBS];
	size_t nt;
};

/* Worker k stays on the k-th CPU the caller may use, and so do its children: a child
 * that execve moves to an idle CPU waits for it to wake, which on a virtual machine can
 * take milliseconds (the vCPU is halted). Workers beyond the CPU count, there for hung
 * runs, get the whole set back (a thread inherits its creator's affinity). */
static void batch_pin(struct batch *b)
{
	if (!b->pin)
		return;
	size_t k = atomic_fetch_add(&b->started, 1), seen = 0;
	cpu_set_t one;
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &b->allowed) && seen++ == k) {
			CPU_SET(c, &one);
			break;
		}
	}
	const cpu_set_t *set = CPU_COUNT(&one) ? &one : &b->allowed;
	pthread_setaffinity_np(pthread_self(), sizeof(*set), set);
}

static void *batch_worker(void *arg)
{
	struct batch *b = arg;
	size_t i;
	batch_pin(b);
	while ((i = atomic_fetch_add(&b->next, 1)) < b->n)
		b->job(i, b->ctx);
	return NULL;
}

/* One more worker while jobs wait (the calling thread is one too). */
static bool batch_grow(struct batch *b)
{
	pthread_mutex_lock(&b->lock);
	bool added = b->nt + 1 < AK_VERIFY_JOBS && atomic_load(&b->next) < b->n &&
		     pthread_create(&b->tids[b->nt], NULL, batch_worker, b) == 0;
	if (added)
		b->nt++;
	pthread_mutex_unlock(&b->lock);
	return added;
}

static void batch_stalled(void *arg)
{
	batch_grow(arg);
}

static void run_batch(struct ak_smoke_dir *d, size_t n, void (*job)(size_t i, void *ctx),
		      void *ctx)
{
	struct batch b = {.n = n, .job = job, .ctx = ctx};
	atomic_init(&b.next, 0);
	pthread_mutex_init(&b.lock, NULL);
	atomic_init(&b.started, 0);
	d->stalled = batch_stalled;
	d->stalled_ctx = &b;
	size_t workers = ak_cpus_available();
	b.pin = workers > 1 && n > 1 &&
		pthread_getaffinity_np(pthread_self(), sizeof(b.allowed), &b.allowed) == 0;
	for (size_t w = 1; w < workers && w < n && batch_grow(&b); w++)
		;
	batch_worker(&b);
	/* a worker may add another until it returns: read nt again after each join */
	for (size_t t = 0;; t++) {
		pthread_mutex_lock(&b.lock);
		bool more = t < b.nt;
		pthread_t tid = more ? b.tids[t] : (pthread_t)0;
		pthread_mutex_unlock(&b.lock);
		if (!more)
			break;
		pthread_join(tid, NULL);
	}
	if (b.pin)
		pthread_setaffinity_np(pthread_self(), sizeof(b.allowed), &b.allowed);
	d->stalled = NULL;
	pthread_mutex_destroy(&b.lock);
}

struct verify_batch {
	struct ak_smoke_dir *dir;
	const struct ak_platform *const *ps;
	const struct ak_binfmt_table *table;
	int timeout_ms;
	struct ak_verify_result *r;
	struct ak_error **errs;
};

static void verify_job(size_t i, void *ctx)
{
	struct verify_batch *vb = ctx;
	verify_in(vb->dir, vb->ps[i], vb->table, vb->timeout_ms, &vb->r[i], &vb->errs[i]);
}

void ak_native_probe_init(struct ak_native_probe *np, const struct ak_binfmt_table *table)
{
	np->table = table;
	np->isolated_failed = false;
	memset(np->known, -1, sizeof(np->known));
}

static bool runs_here(struct ak_smoke_dir *d, const struct ak_qemu_target *t)
{
	size_t len = 0;
	const unsigned char *bin = ak_smoke_binary_for_target(t, &len);
	struct ak_smoke_result res;
	if (!bin)
		return false;
	int r = d ? ak_smoke_run_in(d, bin, len, 0, &res, NULL) : ak_smoke_run(bin, len, 0, &res, NULL);
	return r == 0 && res.ran && res.exit_code == 0;
}

struct native_batch {
	struct ak_smoke_dir dir;
	const struct ak_qemu_target *ts[64];
	signed char known[64];
};

static void native_job(size_t i, void *ctx)
{
	struct native_batch *nb = ctx;
	nb->known[nb->ts[i] - ak_qemu_targets] = runs_here(&nb->dir, nb->ts[i]);
}

/* Every target's smoke binary, side by side, here: known[i] says whether target i ran. */
static int probe_batch(signed char known[64])
{
	struct native_batch nb;
	memset(nb.known, 0, sizeof(nb.known));
	size_t n = ak_qemu_target_count < 64 ? ak_qemu_target_count : 64, nt = 0, len;
	for (size_t i = 0; i < n; i++)
		if (ak_smoke_binary_for_target(&ak_qemu_targets[i], &len))
			nb.ts[nt++] = &ak_qemu_targets[i];
	if (ak_smoke_dir_make(&nb.dir, NULL) < 0)
		return -1;
	run_batch(&nb.dir, nt, native_job, &nb);
	ak_smoke_dir_remove(&nb.dir);
	memcpy(known, nb.known, n);
	return 0;
}

/* In the isolated namespace (no handler registered) what ran is native. The verdicts go
 * back through the pipe in ctx. */
static int probe_all_isolated(void *ctx)
{
	int fd = *(int *)ctx;
	signed char known[64];
	size_t n = ak_qemu_target_count < 64 ? ak_qemu_target_count : 64;
	if (probe_batch(known) < 0)
		return 2;
	return ak_write_all(fd, known, n) < 0 ? 2 : 0;
}

/* Could an entry of table be what runs one of the smoke binaries probe_batch runs: an
 * enabled one whose magic matches the binary's own bytes, or one that matches by file
 * name? An entry that could not be read might be either. */
static bool catches_any(const struct ak_binfmt_table *table)
{
	if (table->unreadable_count)
		return true;
	for (size_t k = 0; k < table->count; k++) {
		const struct ak_binfmt_entry *e = &table->entries[k];
		if (!e->enabled)
			continue;
		if (e->is_extension)
			return true;
		for (size_t i = 0; i < ak_qemu_target_count; i++) {
			size_t len = 0;
			const unsigned char *bin = ak_smoke_binary_for_target(&ak_qemu_targets[i], &len);
			if (bin && ak_binfmt_entry_matches(e, bin, len))
				return true;
		}
	}
	return false;
}

/* One namespace for all targets: what a target costs there is one exec that fails with
 * ENOEXEC, or a native run. Where table shows no handler that could catch a target (a
 * fresh runner), a run here is the same proof without the namespace. */
static bool probe_all(struct ak_native_probe *np)
{
	size_t n = ak_qemu_target_count < sizeof(np->known) ? ak_qemu_target_count
							     : sizeof(np->known);
	signed char known[64];
	if (np->table && !catches_any(np->table) && probe_batch(known) == 0) {
		memcpy(np->known, known, n);
		return true;
	}
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return false;
	struct ak_error *e = NULL;
	int r = ak_sandbox_call_isolated(probe_all_isolated, &pfd[1], &e);
	ak_error_free(e);
	close(pfd[1]);
	bool ok = r == 0 && ak_read_full(pfd[0], known, n) == (long)n;
	close(pfd[0]);
	if (ok)
		memcpy(np->known, known, n);
	np->isolated_failed = !ok;
	return ok;
}

bool ak_native_target(const struct ak_qemu_target *t, void *ctx)
{
	struct ak_native_probe *np = ctx;
	size_t idx = (size_t)(t - ak_qemu_targets);
	if (idx >= sizeof(np->known))
		return false;
	if (np->known[idx] < 0 && !np->isolated_failed)
		probe_all(np);
	if (np->known[idx] < 0) {
		/* no private namespace: a direct run proves nothing when a handler is there */
		const struct ak_binfmt_entry *c[1];
		np->known[idx] = (!np->table || ak_binfmt_table_catchers(np->table, t, c, 1) == 0) &&
				 runs_here(NULL, t);
	}
	return np->known[idx] == 1;
}

int ak_verify_platforms(const struct ak_platform *const *ps, size_t n,
			const struct ak_binfmt_table *table, int timeout_ms,
			struct ak_verify_result *r, struct ak_error **err)
{
	if (n == 0)
		return 0;
	struct ak_smoke_dir dir;
	if (ak_smoke_dir_make(&dir, err) < 0)
		return -1;
	struct ak_error **errs = ak_xcalloc(n, sizeof(*errs));
	struct verify_batch vb = {&dir, ps, table, timeout_ms, r, errs};
	run_batch(&dir, n, verify_job, &vb);
	ak_smoke_dir_remove(&dir);
	int ret = 0;
	for (size_t i = 0; i < n; i++) {
		if (errs[i] && ret == 0) {
			ret = -1;
			if (err && !*err)
				*err = errs[i];
			else
				ak_error_free(errs[i]);
		} else {
			ak_error_free(errs[i]);
		}
	}
	free(errs);
	return ret;
}
