/* Reconciling wanted QEMU handlers with what a binfmt_misc instance holds: classify each
 * (missing, in place, drifted, disabled, shadowed, native), decide what to write under a
 * --replace policy, write it, and read it back. */
#ifndef AK_BINFMT_REGISTRAR_H
#define AK_BINFMT_REGISTRAR_H

#include <stdbool.h>

#include "binfmt/entry.h"
#include "binfmt/instance.h"
#include "binfmt/interp.h"
#include "common/platform.h"

enum ak_handler_state {
	AK_HANDLER_MISSING,
	AK_HANDLER_IN_PLACE,
	AK_HANDLER_DRIFTED,  /* our name, other interpreter, flags or magic */
	AK_HANDLER_DISABLED, /* our name and content, but switched off */
	AK_HANDLER_NATIVE,   /* the host runs this code itself: never registered */
	/* another line than archkit's (a distro's qemu-binfmt, flags OPF) that accepts the
	 * same real binaries, through a static QEMU of the target, with F: left alone */
	AK_HANDLER_EQUIVALENT,
};

enum ak_replace { AK_REPLACE_NEVER, AK_REPLACE_DRIFTED, AK_REPLACE_ALWAYS };

enum ak_handler_action {
	AK_ACTION_NONE,
	AK_ACTION_REGISTER,
	AK_ACTION_REPLACE, /* remove our entry, then register */
	AK_ACTION_ENABLE,
	AK_ACTION_KEEP_DRIFTED, /* drifted or disabled, left alone by --replace never */
	AK_ACTION_FAIL,		/* cannot register: see error */
};

struct ak_handler {
	const struct ak_qemu_target *target;
	enum ak_handler_state state;
	enum ak_handler_action action;
	struct ak_interp interp;
	struct ak_binfmt_entry want; /* what archkit would write */
	char *rule;		     /* the register line for want */
	char *drift;		     /* what differs, for drifted entries */
	char **shadowed_by;	     /* other enabled entries that catch the same binaries */
	size_t shadowed_count;
	struct ak_error *error; /* why it cannot be (or was not) registered */
	bool written;		/* the entry was (re)written or enabled by apply */
};

struct ak_binfmt_options {
	const char *qemu_path; /* --qemu-path DIR or NULL */
	const char *flags;     /* default "F" */
	enum ak_replace replace;
	/* decides natives by execution (verify/native.c); NULL: nothing is native */
	bool (*is_native)(const struct ak_qemu_target *t, void *ctx);
	void *native_ctx;
};

struct ak_binfmt_plan {
	struct ak_handler *handlers;
	size_t count;
};

/* Classify each target against the table and decide the actions. Per-target problems
 * (no interpreter, dynamic interpreter with F) land in that handler's error; only
 * environment failures return < 0. */
int ak_binfmt_plan_build(const struct ak_binfmt_table *table, const struct ak_qemu_target **targets,
			 size_t ntargets, const struct ak_binfmt_options *opt,
			 struct ak_binfmt_plan *plan, struct ak_error **err);
/* Carry the plan out on the instance (lock it first) and read every written entry back. */
int ak_binfmt_plan_apply(struct ak_binfmt_instance *inst, struct ak_binfmt_plan *plan,
			 struct ak_error **err);
void ak_binfmt_plan_clear(struct ak_binfmt_plan *plan);

const char *ak_handler_state_name(enum ak_handler_state s);
const char *ak_handler_action_name(enum ak_handler_action a);
/* The OCI platform a target serves (the first in the table), or NULL for QEMU-only targets. */
const struct ak_platform *ak_target_platform(const struct ak_qemu_target *t);
/* Does an entry (under any name) serve t as well as archkit's own line would: enabled, the
 * same real binaries (ak_binfmt_entry_same_binaries), an interpreter that is a static QEMU
 * of t (ak_interp_serves), flag F, C only when want_flags has it, P where the interpreter
 * needs it? Such an entry is AK_HANDLER_EQUIVALENT. */
bool ak_binfmt_entry_equivalent(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t,
				const char *want_flags);
/* Which enabled entries of the table would catch a target's binaries (any of its reference
 * headers). */
size_t ak_binfmt_table_catchers(const struct ak_binfmt_table *table, const struct ak_qemu_target *t,
				const struct ak_binfmt_entry **out, size_t max);

#endif
