#include "binfmt/registrar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

const char *ak_handler_state_name(enum ak_handler_state s)
{
	switch (s) {
	case AK_HANDLER_MISSING:
		return "missing";
	case AK_HANDLER_IN_PLACE:
		return "in place";
	case AK_HANDLER_DRIFTED:
		return "drifted";
	case AK_HANDLER_DISABLED:
		return "disabled";
	case AK_HANDLER_NATIVE:
		return "native";
	case AK_HANDLER_EQUIVALENT:
		return "in place (distro)";
	}
	return "?";
}

const char *ak_handler_action_name(enum ak_handler_action a)
{
	switch (a) {
	case AK_ACTION_NONE:
		return "none";
	case AK_ACTION_REGISTER:
		return "register";
	case AK_ACTION_REPLACE:
		return "replace";
	case AK_ACTION_ENABLE:
		return "enable";
	case AK_ACTION_KEEP_DRIFTED:
		return "keep";
	case AK_ACTION_FAIL:
		return "fail";
	}
	return "?";
}

const struct ak_platform *ak_target_platform(const struct ak_qemu_target *t)
{
	for (size_t i = 0; i < ak_platform_count; i++)
		if (strcmp(ak_platforms[i].qemu, t->name) == 0)
			return &ak_platforms[i];
	return NULL;
}

size_t ak_binfmt_table_catchers(const struct ak_binfmt_table *table, const struct ak_qemu_target *t,
				const struct ak_binfmt_entry **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < table->count && n < max; i++) {
		const struct ak_binfmt_entry *e = &table->entries[i];
		if (e->enabled && ak_binfmt_entry_catches(e, t))
			out[n++] = e;
	}
	return n;
}

/* The flags as the kernel applies them: C implies O. */
static void effective_flags(const char *in, char out[8])
{
	char tmp[8];
	snprintf(tmp, sizeof(tmp), "%s%s", in, strchr(in, 'C') && !strchr(in, 'O') ? "O" : "");
	ak_binfmt_flags_check(tmp, out, NULL);
}

/* Append "; PART" (or PART first) to a drift description. */
static void __attribute__((format(printf, 3, 4)))
drift_add(char *buf, size_t len, const char *fmt, ...)
{
	size_t n = strlen(buf);
	if (n && n + 2 < len)
		n += (size_t)snprintf(buf + n, len - n, "; ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

/* Name the first byte where a and b differ: "mask byte 16: 0xff, want 0xfe". */
static void drift_add_bytes(char *buf, size_t len, const char *what, const unsigned char *a,
			    const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i]) {
			drift_add(buf, len, "%s byte %zu: 0x%02x, want 0x%02x", what, i, a[i],
				  b[i]);
			return;
		}
}

/* What differs between an entry and the one archkit would write, field by field
 * (interpreter, flags, offset, magic, mask), or NULL when nothing does. */
static char *describe_drift(const struct ak_binfmt_entry *have, const struct ak_binfmt_entry *want)
{
	char hf[8], wf[8], buf[1400] = "";
	effective_flags(have->flags, hf);
	effective_flags(want->flags, wf);
	if (strcmp(have->interpreter, want->interpreter) != 0)
		drift_add(buf, sizeof(buf), "interpreter '%.500s', want '%.500s'",
			  have->interpreter, want->interpreter);
	if (strcmp(hf, wf) != 0)
		drift_add(buf, sizeof(buf), "flags '%s', want '%s'", hf, wf);
	if (have->is_extension) {
		drift_add(buf, sizeof(buf), "matches a file name extension, not magic");
	} else if (have->offset != want->offset) {
		drift_add(buf, sizeof(buf), "offset %u, want %u", have->offset, want->offset);
	} else if (have->magic_len != want->magic_len) {
		drift_add(buf, sizeof(buf), "magic of %zu bytes, want %zu", have->magic_len,
			  want->magic_len);
	} else if (memcmp(have->mask, want->mask, want->magic_len) != 0) {
		drift_add_bytes(buf, sizeof(buf), "mask", have->mask, want->mask, want->magic_len);
	} else {
		/* same mask: only bits under it count */
		unsigned char hm[AK_MAGIC_MAX], wm[AK_MAGIC_MAX];
		for (size_t i = 0; i < want->magic_len; i++) {
			hm[i] = have->magic[i] & have->mask[i];
			wm[i] = want->magic[i] & want->mask[i];
		}
		drift_add_bytes(buf, sizeof(buf), "magic", hm, wm, want->magic_len);
	}
	return buf[0] ? ak_xstrdup(buf) : NULL;
}

/* Another line than archkit's that serves the target as well as archkit's would (a
 * distro's qemu-binfmt, flags OPF): enabled, the same real binaries, a static QEMU of
 * the target, F (and C only when asked for, P where the interpreter needs it). */
bool ak_binfmt_entry_equivalent(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t,
				const char *want_flags)
{
	char ef[8];
	effective_flags(e->flags, ef);
	bool needs_p = false;
	if (!e->enabled || !strchr(ef, 'F') || !ak_binfmt_entry_same_binaries(e, t))
		return false;
	if ((strchr(ef, 'C') != NULL) != (strchr(want_flags, 'C') != NULL))
		return false;
	for (const char *f = want_flags; *f; f++)
		if (*f != 'P' && !strchr(ef, *f))
			return false;
	if (ak_interp_serves(e->interpreter, t, &needs_p, NULL) < 0)
		return false;
	return !needs_p || strchr(ef, 'P');
}

static void handler_clear(struct ak_handler *h)
{
	ak_interp_clear(&h->interp);
	ak_binfmt_entry_clear(&h->want);
	free(h->rule);
	free(h->drift);
	for (size_t i = 0; i < h->shadowed_count; i++)
		free(h->shadowed_by[i]);
	free(h->shadowed_by);
	ak_error_free(h->error);
}

void ak_binfmt_plan_clear(struct ak_binfmt_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++)
		handler_clear(&plan->handlers[i]);
	free(plan->handlers);
	plan->handlers = NULL;
	plan->count = 0;
}

static int plan_one(const struct ak_binfmt_table *table, const struct ak_binfmt_options *opt,
		    struct ak_handler *h, struct ak_error **err)
{
	const struct ak_qemu_target *t = h->target;
	char name[80];
	snprintf(name, sizeof(name), "qemu-%s", t->name);
	const struct ak_binfmt_entry *have = ak_binfmt_table_find(table, name);

	/* Who else catches these binaries: reported whatever archkit does. */
	const struct ak_binfmt_entry *catchers[16];
	size_t nc = ak_binfmt_table_catchers(table, t, catchers, 16);
	for (size_t i = 0; i < nc; i++) {
		if (strcmp(catchers[i]->name, name) == 0)
			continue;
		h->shadowed_by = ak_xrealloc(h->shadowed_by,
					     (h->shadowed_count + 1) * sizeof(*h->shadowed_by));
		h->shadowed_by[h->shadowed_count++] = ak_xstrdup(catchers[i]->name);
	}

	if (opt->is_native && opt->is_native(t, opt->native_ctx)) {
		h->state = AK_HANDLER_NATIVE;
		h->action = AK_ACTION_NONE;
		return 0;
	}

	const char *flags = opt->flags ? opt->flags : "F";
	struct ak_error *perr = NULL;
	if (ak_interp_find(t, opt->qemu_path, &h->interp, &perr) == 0) {
		char fl[8];
		/* Debian's ARCH-binfmt-P wrappers misread their arguments without P */
		snprintf(fl, sizeof(fl), "%s%s", flags,
			 h->interp.needs_p && !strchr(flags, 'P') ? "P" : "");
		if (ak_binfmt_entry_for_target(t, h->interp.path, fl, &h->want, &perr) == 0 &&
		    ak_interp_check(&h->interp, strchr(fl, 'F') != NULL, &perr) == 0)
			h->rule = ak_binfmt_rule_format(&h->want, &perr);
	}

	if (!have) {
		h->state = AK_HANDLER_MISSING;
	} else if (h->rule && (h->drift = describe_drift(have, &h->want))) {
		h->state = AK_HANDLER_DRIFTED;
		if (ak_binfmt_entry_equivalent(have, t, flags)) {
			h->state = AK_HANDLER_EQUIVALENT;
			free(h->drift);
			h->drift = NULL;
		}
	} else {
		h->state = have->enabled ? AK_HANDLER_IN_PLACE : AK_HANDLER_DISABLED;
	}

	if (!h->rule) {
		/* Nothing to write; an entry already in place still serves the platform. */
		h->error = perr;
		h->action = have && have->enabled ? AK_ACTION_NONE : AK_ACTION_FAIL;
		if (have && have->enabled)
			h->state = AK_HANDLER_IN_PLACE;
		return 0;
	}
	ak_error_free(perr);

	switch (h->state) {
	case AK_HANDLER_MISSING:
		h->action = AK_ACTION_REGISTER;
		break;
	case AK_HANDLER_IN_PLACE:
		h->action = opt->replace == AK_REPLACE_ALWAYS ? AK_ACTION_REPLACE : AK_ACTION_NONE;
		break;
	case AK_HANDLER_DISABLED:
		h->action = opt->replace == AK_REPLACE_NEVER	? AK_ACTION_KEEP_DRIFTED
			    : opt->replace == AK_REPLACE_ALWAYS ? AK_ACTION_REPLACE
								: AK_ACTION_ENABLE;
		break;
	case AK_HANDLER_DRIFTED:
		h->action = opt->replace == AK_REPLACE_NEVER ? AK_ACTION_KEEP_DRIFTED
							     : AK_ACTION_REPLACE;
		break;
	case AK_HANDLER_EQUIVALENT:
		/* rewriting it would drop the distro's flags until the next boot puts them back */
		h->action = opt->replace == AK_REPLACE_ALWAYS ? AK_ACTION_REPLACE : AK_ACTION_NONE;
		break;
	case AK_HANDLER_NATIVE:
		h->action = AK_ACTION_NONE;
		break;
	}
	return 0;
}

int ak_binfmt_plan_build(const struct ak_binfmt_table *table, const struct ak_qemu_target **targets,
			 size_t ntargets, const struct ak_binfmt_options *opt,
			 struct ak_binfmt_plan *plan, struct ak_error **err)
{
	memset(plan, 0, sizeof(*plan));
	plan->handlers = ak_xcalloc(ntargets, sizeof(*plan->handlers));
	for (size_t i = 0; i < ntargets; i++) {
		plan->handlers[i].target = targets[i];
		plan->count = i + 1;
		if (plan_one(table, opt, &plan->handlers[i], err) < 0)
			return -1;
	}
	return 0;
}

/* After writing, read the entry back: the kernel may have taken something else. */
static int read_back(struct ak_binfmt_instance *inst, struct ak_handler *h, struct ak_error **err)
{
	cleanup_free char *text = NULL;
	struct ak_binfmt_entry got;
	if (ak_read_file_at(inst->dirfd, h->want.name, 4096, &text, NULL, err) < 0 ||
	    ak_binfmt_entry_parse(h->want.name, text, &got, err) < 0)
		return ak_error_prefix(err, "reading back '%s'", h->want.name);
	cleanup_free char *drift = describe_drift(&got, &h->want);
	bool enabled = got.enabled;
	ak_binfmt_entry_clear(&got);
	if (drift)
		return ak_error_set(err, AK_EXIT_ENV, "'%s' reads back differently: %s",
				    h->want.name, drift);
	if (!enabled)
		return ak_error_set(err, AK_EXIT_ENV, "'%s' reads back disabled", h->want.name);
	return 0;
}

int ak_binfmt_plan_apply(struct ak_binfmt_instance *inst, struct ak_binfmt_plan *plan,
			 struct ak_error **err)
{
	if (ak_binfmt_lock(inst, err) < 0)
		return -1;
	for (size_t i = 0; i < plan->count; i++) {
		struct ak_handler *h = &plan->handlers[i];
		int r = 0;
		switch (h->action) {
		case AK_ACTION_REPLACE:
			r = ak_binfmt_unregister(inst, h->want.name, &h->error);
			if (r == 0)
				r = ak_binfmt_register(inst, h->rule, &h->error);
			break;
		case AK_ACTION_REGISTER:
			r = ak_binfmt_register(inst, h->rule, &h->error);
			break;
		case AK_ACTION_ENABLE:
			r = ak_binfmt_enable(inst, h->want.name, &h->error);
			break;
		default:
			continue;
		}
		if (r == 0)
			r = read_back(inst, h, &h->error);
		if (r == 0)
			h->written = true;
		else
			h->action = AK_ACTION_FAIL;
		/* a privilege problem applies to every entry: stop at the first */
		if (r < 0 && h->error &&
		    (h->error->errnum == EPERM || h->error->errnum == EACCES ||
		     h->error->errnum == EROFS))
			return ak_error_set(err, AK_EXIT_ENV, "%s", h->error->msg);
	}
	return 0;
}
