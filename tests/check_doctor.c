/* doctor's pure judgements (doctor/checks.h) on the lines of machines this one is not:
 * an Amazon Linux 2023 mountinfo with systemd's binfmt_misc automount, triggered and not;
 * kernel releases; flags and what they cost; drifted magic; user namespace policy. And
 * the root run doctor's in-root smoke uses: one that inherits the caller's binfmt_misc
 * runs a foreign binary through the caller's F handler, where a private one has none. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binfmt/entry.h"
#include "binfmt/instance.h"
#include "binfmt/interp.h"
#include "common/cleanup.h"
#include "common/platform.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "doctor/checks.h"
#include "sandbox/root.h"
#include "sandbox/sandbox.h"
#include "verify/smoke-run.h"

/* /proc/self/mountinfo of an AL2023 EKS node, cut: systemd's automount point for
 * binfmt_misc (autofs, "systemd-1"), a path with a space, and a read-only tmpfs. */
static const char al2023_untriggered[] =
	"22 1 259:1 / / rw,noatime shared:1 - xfs /dev/nvme0n1p1 rw,attr2,inode64\n"
	"23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"24 23 0:22 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - autofs systemd-1 "
	"rw,fd=29,pgrp=1,timeout=0,minproto=5,maxproto=5,direct,pipe_ino=13974\n"
	"40 22 0:35 / /mnt/with\\040space ro,nosuid,nodev shared:20 - tmpfs tmpfs ro,size=1024k\n";
/* the same after 'ls /proc/sys/fs/binfmt_misc': binfmt_misc mounted on the automount */
static const char al2023_triggered_line[] =
	"645 24 0:53 / /proc/sys/fs/binfmt_misc rw,nosuid,nodev,noexec,relatime shared:325 - "
	"binfmt_misc binfmt_misc rw\n";

START_TEST(test_mountinfo_automount)
{
	struct ak_mountinfo m;
	ck_assert_int_eq(ak_doctor_mountinfo_find(al2023_untriggered, AK_BINFMT_DEFAULT_DIR, &m), 0);
	ck_assert_str_eq(m.fstype, "autofs");
	ck_assert_str_eq(m.source, "systemd-1");
	ck_assert(!m.read_only);
	/* untriggered: fstatfs of an O_PATH fd sees autofs's own magic, or nothing known */
	ck_assert_int_eq(ak_doctor_mount_classify(AK_AUTOFS_SUPER_MAGIC, &m), AK_MOUNT_AUTOFS);
	ck_assert_int_eq(ak_doctor_mount_classify(0, &m), AK_MOUNT_AUTOFS);
	ck_assert_int_eq(ak_doctor_mount_classify(AK_AUTOFS_SUPER_MAGIC, NULL), AK_MOUNT_AUTOFS);
	ak_mountinfo_clear(&m);

	/* triggered: the binfmt_misc mount stacked on it is the one that counts */
	char triggered[2048];
	snprintf(triggered, sizeof(triggered), "%s%s", al2023_untriggered, al2023_triggered_line);
	ck_assert_int_eq(ak_doctor_mountinfo_find(triggered, AK_BINFMT_DEFAULT_DIR, &m), 0);
	ck_assert_str_eq(m.fstype, "binfmt_misc");
	ck_assert_int_eq(ak_doctor_mount_classify(AK_BINFMTFS_MAGIC, &m), AK_MOUNT_BINFMT);
	ak_mountinfo_clear(&m);
}
END_TEST

START_TEST(test_mountinfo_other_and_none)
{
	struct ak_mountinfo m;
	/* octal escapes in mount points are undone; "ro" is the per-mount option */
	ck_assert_int_eq(ak_doctor_mountinfo_find(al2023_untriggered, "/mnt/with space", &m), 0);
	ck_assert_str_eq(m.fstype, "tmpfs");
	ck_assert(m.read_only);
	ck_assert_int_eq(ak_doctor_mount_classify(0x01021994UL /* TMPFS_MAGIC */, &m),
			 AK_MOUNT_OTHER);
	ak_mountinfo_clear(&m);
	/* a directory of its parent's filesystem: nothing mounted there */
	ck_assert_int_eq(ak_doctor_mountinfo_find(al2023_untriggered, "/proc/sys/fs", &m), -1);
	ck_assert_ptr_null(m.fstype);
	ck_assert_int_eq(ak_doctor_mount_classify(0x9fa0UL /* PROC_SUPER_MAGIC */, NULL),
			 AK_MOUNT_NONE);
	/* a prefix is not a match, nor a line without the separator */
	ck_assert_int_eq(ak_doctor_mountinfo_find(al2023_untriggered, "/proc/sys/fs/binfmt", &m), -1);
	ck_assert_int_eq(ak_doctor_mountinfo_find("1 2 0:1 / /x rw\n", "/x", &m), -1);
	ck_assert_int_eq(ak_doctor_mountinfo_find("", "/x", &m), -1);
}
END_TEST

START_TEST(test_kernel_versions)
{
	ck_assert(ak_doctor_kernel_at_least("6.7.0", 6, 7));
	ck_assert(ak_doctor_kernel_at_least("6.18.44-fc-v1045", 6, 7));
	ck_assert(ak_doctor_kernel_at_least("10.1", 6, 7));
	ck_assert(!ak_doctor_kernel_at_least("6.6.30-generic", 6, 7));
	ck_assert(!ak_doctor_kernel_at_least("5.15.0-1051-aws", 6, 7));
	ck_assert(ak_doctor_kernel_at_least("4.8.0", 4, 8));
	ck_assert(ak_doctor_kernel_at_least("4.19.0-amd64", 4, 8));
	ck_assert(!ak_doctor_kernel_at_least("4.4.0-210", 4, 8));
	ck_assert(!ak_doctor_kernel_at_least("3.10.0-1160.el7", 4, 8));
	ck_assert(!ak_doctor_kernel_at_least("unknown", 4, 8));
	ck_assert(!ak_doctor_kernel_at_least("6", 4, 8));
}
END_TEST

START_TEST(test_flag_costs)
{
	char buf[1024];
	ck_assert_int_eq(ak_doctor_flags_judge("F", false, buf, sizeof(buf)), AK_CHECK_PASS);
	ck_assert_ptr_nonnull(strstr(buf, "F: the interpreter was opened at registration"));
	ck_assert_ptr_nonnull(strstr(buf, "no C: setuid binaries (sudo, su) run without"));

	ck_assert_int_eq(ak_doctor_flags_judge("", false, buf, sizeof(buf)), AK_CHECK_FAIL);
	ck_assert_ptr_nonnull(strstr(buf, "no F: "));
	ck_assert_ptr_nonnull(strstr(buf, "fail there"));

	/* C costs a warning, whatever else is right */
	ck_assert_int_eq(ak_doctor_flags_judge("OCF", false, buf, sizeof(buf)), AK_CHECK_WARN);
	ck_assert_ptr_nonnull(strstr(buf, "C: setuid binaries run with their owner's privileges"));
	ck_assert_ptr_nonnull(strstr(buf, "sudo needs that"));
	ck_assert_ptr_nonnull(strstr(buf, "privilege escalation"));
	ck_assert_int_eq(ak_doctor_flags_judge("C", false, buf, sizeof(buf)), AK_CHECK_FAIL);

	/* Debian's -binfmt-P wrappers need P */
	ck_assert_int_eq(ak_doctor_flags_judge("OPF", true, buf, sizeof(buf)), AK_CHECK_PASS);
	ck_assert_ptr_nonnull(strstr(buf, "P: argv[0]"));
	ck_assert_int_eq(ak_doctor_flags_judge("F", true, buf, sizeof(buf)), AK_CHECK_FAIL);
	ck_assert_ptr_nonnull(strstr(buf, "no P: the -binfmt-P wrapper"));

	/* a small buffer truncates, never overflows */
	char small[16];
	ak_doctor_flags_judge("OCF", false, small, sizeof(small));
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

START_TEST(test_magic_drift_names_the_field)
{
	struct ak_binfmt_entry want, have;
	const struct ak_qemu_target *t = ak_qemu_target_find("aarch64");
	ck_assert_int_eq(ak_binfmt_entry_for_target(t, "/x", "F", &want, NULL), 0);
	ck_assert_int_eq(ak_binfmt_entry_for_target(t, "/y", "", &have, NULL), 0);
	/* interpreter and flags are not magic */
	ck_assert_ptr_null(ak_doctor_magic_drift(&have, &want));

	have.mask[16] = 0xff; /* e_type \xfe -> \xff: static-pie binaries are missed */
	cleanup_free char *d = ak_doctor_magic_drift(&have, &want);
	ck_assert_str_eq(d, "mask byte 16 (e_type) is 0xff, want 0xfe");
	have.mask[16] = want.mask[16];

	have.magic[18] = 0x3e; /* e_machine: x86-64's */
	cleanup_free char *m = ak_doctor_magic_drift(&have, &want);
	ck_assert_str_eq(m, "magic byte 18 (e_machine) is 0x3e, want 0xb7");
	have.magic[18] = want.magic[18];

	/* a byte under a zero mask is not a difference */
	have.magic[7] ^= 0x55;
	ck_assert_uint_eq(want.mask[7], 0);
	ck_assert_ptr_null(ak_doctor_magic_drift(&have, &want));

	have.offset = 2;
	cleanup_free char *o = ak_doctor_magic_drift(&have, &want);
	ck_assert_str_eq(o, "offset 2, want 0");
	have.offset = 0;
	have.magic_len = 4;
	cleanup_free char *l = ak_doctor_magic_drift(&have, &want);
	ck_assert_str_eq(l, "magic of 4 bytes, want 20");
	ak_binfmt_entry_clear(&want);
	ak_binfmt_entry_clear(&have);
}
END_TEST

START_TEST(test_userns_policy)
{
	char d[512], f[256];
	ck_assert_int_eq(ak_doctor_userns_judge(-1, 15000, -1, false, d, sizeof(d), f, sizeof(f)),
			 AK_CHECK_PASS);
	ck_assert_str_eq(f, "");
	ck_assert_int_eq(ak_doctor_userns_judge(-1, 0, -1, true, d, sizeof(d), f, sizeof(f)),
			 AK_CHECK_WARN);
	ck_assert_str_eq(f, "sysctl -w user.max_user_namespaces=15000");
	/* Debian's switch binds unprivileged users only */
	ck_assert_int_eq(ak_doctor_userns_judge(0, 15000, -1, false, d, sizeof(d), f, sizeof(f)),
			 AK_CHECK_WARN);
	ck_assert_str_eq(f, "sysctl -w kernel.unprivileged_userns_clone=1");
	ck_assert_int_eq(ak_doctor_userns_judge(0, 15000, -1, true, d, sizeof(d), f, sizeof(f)),
			 AK_CHECK_PASS);
	ck_assert_ptr_nonnull(strstr(d, "kernel.unprivileged_userns_clone=0 blocks unprivileged"));
	/* Ubuntu 24.04's AppArmor restriction */
	ck_assert_int_eq(ak_doctor_userns_judge(1, 15000, 1, false, d, sizeof(d), f, sizeof(f)),
			 AK_CHECK_WARN);
	ck_assert_ptr_nonnull(strstr(d, "kernel.apparmor_restrict_unprivileged_userns=1"));
	ck_assert_ptr_nonnull(strstr(f, "apparmor_restrict_unprivileged_userns=0"));
}
END_TEST

/* ---- ak_root_run with inherit_binfmt ---- */

static int nothing(void *ctx)
{
	(void)ctx;
	return 0;
}

/* A platform the host does not run itself: arm64, or amd64 on an arm64 host. */
static const struct ak_platform *foreign_platform(void)
{
	struct utsname u;
	uname(&u);
	return ak_platform_parse(strcmp(u.machine, "aarch64") == 0 ? "linux/amd64" : "linux/arm64",
				 NULL);
}

/* In a child (this test's process must stay as it is): a user namespace with a private
 * instance holding an F handler for p, then a root run of p's smoke binary that inherits
 * it (it must run) and one that does not (exec format error). Exit code: 0 both as
 * expected, else which step failed. */
static int inherit_child(const struct ak_platform *p, const char *interp, const char *root)
{
	struct ak_error *err = NULL;
	if (ak_sandbox_enter(NULL, &err) < 0)
		return 10;
	struct ak_binfmt_instance inst;
	struct ak_binfmt_entry e;
	if (ak_binfmt_open(AK_BINFMT_DEFAULT_DIR, false, &inst, &err) < 0 ||
	    ak_binfmt_entry_for_target(ak_platform_qemu(p), interp, "F", &e, &err) < 0)
		return 11;
	char *rule = ak_binfmt_rule_format(&e, &err);
	if (!rule || ak_binfmt_register(&inst, rule, &err) < 0)
		return 12;
	free(rule);
	ak_binfmt_entry_clear(&e);
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *argv[] = {"/smoke", NULL};
	struct ak_root_run run = {.root_fd = fd, .argv = argv, .inherit_binfmt = true,
				  .timeout_ms = 20000};
	struct ak_root_result res;
	if (ak_root_run(&run, &res, &err) < 0) {
		fprintf(stderr, "check_doctor: %s\n", err->msg);
		return 13;
	}
	res.out[strcspn(res.out, "\n")] = '\0';
	if (res.outcome != AK_ROOT_EXITED || res.exit_code != 0 ||
	    !ak_platform_uname_ok(p, res.out)) {
		fprintf(stderr, "check_doctor: inherited: outcome %d exit %d errno %d out '%s'\n",
			res.outcome, res.exit_code, res.exec_errno, res.out);
		return 14;
	}
	ak_root_result_clear(&res);
	/* without inherit_binfmt the run has a private instance of its own: no handler */
	run.inherit_binfmt = false;
	if (ak_root_run(&run, &res, &err) < 0)
		return 15;
	if (res.outcome != AK_ROOT_EXEC_FAILED || res.exec_errno != ENOEXEC)
		return 16;
	ak_root_result_clear(&res);
	return 0;
}

START_TEST(test_root_run_inherits_the_callers_instance)
{
	cleanup_error struct ak_error *err = NULL;
	if (ak_sandbox_call_isolated(nothing, NULL, &err) != 0) {
		fprintf(stderr, "check_doctor: skipped: %s\n", err ? err->msg : "?");
		return;
	}
	const struct ak_platform *p = foreign_platform();
	struct ak_interp in = {0};
	if (ak_interp_find(ak_platform_qemu(p), NULL, &in, &err) < 0 ||
	    ak_interp_check(&in, true, &err) < 0) {
		fprintf(stderr, "check_doctor: skipped: no static QEMU for %s: %s\n", p->name,
			err->msg);
		ak_interp_clear(&in);
		return;
	}
	const char *base = getenv("TMPDIR");
	char root[512], file[600];
	snprintf(root, sizeof(root), "%s/check-doctor-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(file, sizeof(file), "%s/smoke", root);
	size_t len;
	const unsigned char *bin = ak_smoke_binary(p, &len);
	ck_assert_ptr_nonnull(bin);
	{
		cleanup_fd int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ak_write_all(fd, bin, len), 0);
	}
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(inherit_child(p, in.path, root));
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ak_rmtree_signal_safe(root);
	ak_interp_clear(&in);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "inherit child: status %d", st);
}
END_TEST

Suite *doctor_suite(void)
{
	Suite *s = suite_create("doctor");
	TCase *tc = tcase_create("checks");
	tcase_add_test(tc, test_mountinfo_automount);
	tcase_add_test(tc, test_mountinfo_other_and_none);
	tcase_add_test(tc, test_kernel_versions);
	tcase_add_test(tc, test_flag_costs);
	tcase_add_test(tc, test_magic_drift_names_the_field);
	tcase_add_test(tc, test_userns_policy);
	tcase_add_test(tc, test_root_run_inherits_the_callers_instance);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
