/* The parts of doctor's system and handler checks that are pure functions of what was
 * read (mountinfo text, a kernel release, an entry's flags and bytes), so that
 * tests/check_doctor.c can feed them the lines of machines it cannot be. */
#ifndef AK_DOCTOR_CHECKS_H
#define AK_DOCTOR_CHECKS_H

#include <stdbool.h>
#include <stddef.h>

#include "binfmt/entry.h"
#include "doctor/doctor.h"

#define AK_BINFMTFS_MAGIC 0x42494e4dUL
#define AK_AUTOFS_SUPER_MAGIC 0x0187UL

/* One line of /proc/self/mountinfo, the fields doctor reads (octal escapes undone). */
struct ak_mountinfo {
	char *mount_point;
	char *fstype;
	char *source;
	bool read_only; /* the per-mount "ro" option */
};

/* The topmost mount whose mount point is path (the last such line: a mount stacked on a
 * mount point comes after it). 0 and *out filled, or -1 when nothing is mounted there. */
int ak_doctor_mountinfo_find(const char *text, const char *path, struct ak_mountinfo *out);
void ak_mountinfo_clear(struct ak_mountinfo *m);

enum ak_mount_kind {
	AK_MOUNT_BINFMT,  /* a binfmt_misc instance */
	AK_MOUNT_AUTOFS,  /* an automount not triggered yet (systemd's, on AL2023 / EKS) */
	AK_MOUNT_OTHER,	  /* another filesystem mounted there (tmpfs ...) */
	AK_MOUNT_NONE,	  /* nothing mounted there: a plain directory of its parent */
};
/* What is at the path: fs_magic from fstatfs of an O_PATH fd (no automount triggered),
 * m the mountinfo line for it or NULL. */
enum ak_mount_kind ak_doctor_mount_classify(unsigned long fs_magic, const struct ak_mountinfo *m);

/* Is the kernel release ("6.8.0-45-generic") at least major.minor? false when unparsable. */
bool ak_doctor_kernel_at_least(const char *release, int major, int minor);

/* What an entry's flags cost, one clause per flag that matters, in buf: fail without F
 * (containers and chroots), fail without P for a -binfmt-P wrapper, warn with C. */
enum ak_check_status ak_doctor_flags_judge(const char *flags, bool wrapper_needs_p, char *buf,
					   size_t len);

/* How an entry's offset, magic and mask differ from want's, naming the field and the ELF
 * header field at that byte ("mask byte 16 (e_type) is 0xff, want 0xfe"); NULL when the
 * same. Caller frees. */
char *ak_doctor_magic_drift(const struct ak_binfmt_entry *have, const struct ak_binfmt_entry *want);

/* The user namespace policy: each sysctl's value, -1 where absent; privileged when this
 * process has CAP_SYS_ADMIN (the policies bind unprivileged users only). Detail and fix
 * (fix "" when none) into the buffers. */
enum ak_check_status ak_doctor_userns_judge(long unprivileged_clone, long max_userns,
					    long apparmor_restrict, bool privileged, char *detail,
					    size_t dlen, char *fix, size_t flen);

#endif
