/* doctor's docker checks against tests/integration/fake-docker, a stand-in that prints
 * what docker 24-27 and buildx 0.12+ print (no docker daemon can run here). */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "doctor/internal.h"
#include "testlib.h"

static char *fixture(const char *rel)
{
	const char *top = getenv("AK_TOP");
	char *p = ak_xasprintf("%s/tests/integration/fake-docker/%s", top && *top ? top : ".", rel);
	ck_assert_msg(access(p, F_OK) == 0, "no fixture '%s' (run from the top of the tree)", p);
	return p;
}

struct fixture_run {
	struct ak_doctor_options opt;
	struct ak_doctor_report r;
	struct ak_doctor_run run;
	char *docker;
};

static void add_platform(struct ak_doctor_report *r, const char *name, const char *how, bool ok)
{
	r->platforms = ak_xreallocarray(r->platforms, r->nplatforms + 1, sizeof(*r->platforms));
	struct ak_doctor_platform *p = &r->platforms[r->nplatforms++];
	memset(p, 0, sizeof(*p));
	p->platform = ak_platform_parse(name, NULL);
	ck_assert_ptr_nonnull(p->platform);
	p->how = how;
	p->ok = ok;
}

/* What the handler checks found on an amd64 runner with arm64, arm/v7 and arm/v5
 * registered (riscv64 registered but broken: not held against a builder). */
static void run_scenario(struct fixture_run *f, const char *scenario, int timeout_ms)
{
	memset(f, 0, sizeof(*f));
	cleanup_free char *dir = fixture(scenario);
	setenv("FAKE_DOCKER_SCENARIO", dir, 1);
	f->docker = fixture("docker");
	f->opt.docker = f->docker;
	f->opt.timeout_ms = timeout_ms;
	add_platform(&f->r, "linux/amd64", "native", true);
	add_platform(&f->r, "linux/386", "native", true);
	add_platform(&f->r, "linux/arm64", "emulated", true);
	add_platform(&f->r, "linux/arm/v7", "emulated", true);
	add_platform(&f->r, "linux/riscv64", "emulated", false);
	/* runs here, but BuildKit never looks for it: no builder is held to it */
	add_platform(&f->r, "linux/arm/v5", "emulated", true);
	f->run = (struct ak_doctor_run){.opt = &f->opt, .r = &f->r, .dirfd = -1};
	ak_doctor_check_docker(&f->run);
}

static void fixture_clear(struct fixture_run *f)
{
	ak_doctor_report_clear(&f->r);
	free(f->docker);
	unsetenv("FAKE_DOCKER_SCENARIO");
	unsetenv("FAKE_DOCKER_LOG");
}

static const struct ak_check *get(const struct fixture_run *f, const char *id, const char *entry)
{
	const struct ak_check *found = NULL;
	for (size_t i = 0; i < f->r.nchecks; i++) {
		const struct ak_check *c = &f->r.checks[i];
		if (strcmp(c->id, id) ||
		    (entry ? !c->entry || strcmp(c->entry, entry) : !!c->entry))
			continue;
		ck_assert_msg(!found, "two checks %s/%s", id, entry ? entry : "-");
		found = c;
	}
	ck_assert_msg(found, "no check %s/%s", id, entry ? entry : "-");
	return found;
}

static void expect(const struct fixture_run *f, const char *id, const char *entry,
		   enum ak_check_status st, const char *detail_part, const char *fix)
{
	const struct ak_check *c = get(f, id, entry);
	ck_assert_msg(c->status == st, "%s/%s is %s: %s", id, entry ? entry : "-",
		      ak_check_status_name(c->status), c->detail);
	if (detail_part)
		ck_assert_msg(strstr(c->detail, detail_part), "%s detail '%s' lacks '%s'", id,
			      c->detail, detail_part);
	if (fix)
		ck_assert_msg(c->fix && !strcmp(c->fix, fix), "%s fix '%s', want '%s'", id,
			      c->fix ? c->fix : "(none)", fix);
	if (st == AK_CHECK_WARN || st == AK_CHECK_FAIL)
		ck_assert_ptr_nonnull(c->fix);
}

START_TEST(test_healthy)
{
	struct fixture_run f;
	run_scenario(&f, "healthy", 5000);
	expect(&f, "docker.daemon", NULL, AK_CHECK_PASS, "docker daemon 27.3.1 answers", NULL);
	expect(&f, "docker.rootless", NULL, AK_CHECK_PASS, "not rootless", NULL);
	expect(&f, "docker.image_store", NULL, AK_CHECK_PASS, "containerd image store", NULL);
	/* ls cuts its platform column at 6: the platforms come from inspect */
	expect(&f, "docker.builder", "multiarch", AK_CHECK_PASS,
	       "lists every platform that runs here (4 that BuildKit detects)", NULL);
	expect(&f, "docker.builder", "default", AK_CHECK_PASS, "(driver docker)", NULL);
	ck_assert_uint_eq(f.r.nchecks, 5);
	ck_assert(!ak_doctor_unhealthy(&f.r));
	fixture_clear(&f);
}
END_TEST

START_TEST(test_stale_builder)
{
	struct fixture_run f;
	run_scenario(&f, "stale", 5000);
	expect(&f, "docker.daemon", NULL, AK_CHECK_PASS, "24.0.7", NULL);
	expect(&f, "docker.image_store", NULL, AK_CHECK_WARN,
	       "fails with \"docker exporter does not currently support exporting manifest lists\"",
	       "{\"features\":{\"containerd-snapshotter\":true}} in /etc/docker/daemon.json, then "
	       "sudo systemctl restart docker");
	/* the current builder (buildx 0.12 marks it "builder *") lacks what was registered
	 * after it started: builds fail now */
	expect(&f, "docker.builder", "builder", AK_CHECK_FAIL,
	       "the current builder 'builder' (driver docker-container) lacks linux/arm64, "
	       "linux/arm/v7, which run here",
	       "docker buildx rm builder && docker buildx create --name builder --driver "
	       "docker-container --use");
	/* not running: it will find the handlers when it starts */
	expect(&f, "docker.builder", "stopped", AK_CHECK_INFO, "is not running", NULL);
	expect(&f, "docker.builder", "default", AK_CHECK_PASS, NULL, NULL);
	ck_assert(ak_doctor_unhealthy(&f.r));
	fixture_clear(&f);
}
END_TEST

START_TEST(test_rootless)
{
	struct fixture_run f;
	run_scenario(&f, "rootless", 5000);
	expect(&f, "docker.rootless", NULL, AK_CHECK_WARN, "rootless",
	       "sudo archkit binfmt install all (on the host, as root)");
	expect(&f, "docker.image_store", NULL, AK_CHECK_WARN, "classic image store",
	       "{\"features\":{\"containerd-snapshotter\":true}} in ~/.config/docker/daemon.json, "
	       "then systemctl --user restart docker");
	expect(&f, "docker.builder", "arm-farm", AK_CHECK_INFO, "builds on another machine", NULL);
	/* the docker driver's builder is the daemon's own: restarting the daemon refreshes it */
	expect(&f, "docker.builder", "rootless", AK_CHECK_FAIL, "lacks linux/arm64, linux/arm/v7",
	       "systemctl --user restart docker");
	fixture_clear(&f);
}
END_TEST

START_TEST(test_daemon_down)
{
	struct fixture_run f;
	run_scenario(&f, "down", 5000);
	expect(&f, "docker.daemon", NULL, AK_CHECK_WARN,
	       "found no daemon: Cannot connect to the Docker daemon at "
	       "unix:///var/run/docker.sock. Is the docker daemon running?",
	       "sudo systemctl start docker (or set DOCKER_HOST to the daemon's socket)");
	expect(&f, "docker.rootless", NULL, AK_CHECK_SKIPPED, "did not answer", NULL);
	expect(&f, "docker.image_store", NULL, AK_CHECK_SKIPPED, "did not answer", NULL);
	expect(&f, "docker.builder", NULL, AK_CHECK_SKIPPED, "did not answer", NULL);
	/* a runner without a daemon is not an unhealthy emulation setup */
	ck_assert(!ak_doctor_unhealthy(&f.r));
	fixture_clear(&f);

	run_scenario(&f, "denied", 5000);
	expect(&f, "docker.daemon", NULL, AK_CHECK_WARN, "permission denied",
	       "sudo usermod -aG docker \"$USER\" (then log in again), or run as root");
	fixture_clear(&f);
}
END_TEST

START_TEST(test_no_buildx)
{
	struct fixture_run f;
	run_scenario(&f, "nobuildx", 5000);
	expect(&f, "docker.daemon", NULL, AK_CHECK_PASS, "25.0.5", NULL);
	expect(&f, "docker.builder", NULL, AK_CHECK_SKIPPED,
	       "'docker buildx ls' failed: docker: 'buildx' is not a docker command.", NULL);
	fixture_clear(&f);
}
END_TEST

START_TEST(test_timeout_kills_the_group)
{
	struct fixture_run f;
	char log[] = "/tmp/archkit-fake-docker-log-XXXXXX";
	int fd = mkstemp(log);
	ck_assert_int_ge(fd, 0);
	close(fd);
	setenv("FAKE_DOCKER_LOG", log, 1);
	int64_t t0 = ak_monotonic_ms();
	run_scenario(&f, "slow", 300);
	int64_t took = ak_monotonic_ms() - t0;
	ck_assert_msg(took < 3000, "took %lld ms", (long long)took);
	expect(&f, "docker.daemon", NULL, AK_CHECK_WARN, "did not answer in time (300 ms)", NULL);
	/* the fake and the sleep it started are gone, not left behind */
	cleanup_free char *text = NULL;
	ck_assert_int_eq(ak_read_file(log, 4096, &text, NULL, NULL), 0);
	long pid = strtol(text, NULL, 10);
	ck_assert_int_gt(pid, 1);
	/* killed at once; reaped by whoever inherits the orphaned sleep, soon after */
	int64_t until = ak_monotonic_ms() + 2000;
	while (kill(-(pid_t)pid, 0) == 0 && ak_monotonic_ms() < until)
		usleep(10000);
	ck_assert_int_eq(kill(-(pid_t)pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	unlink(log);
	fixture_clear(&f);
}
END_TEST

START_TEST(test_no_docker)
{
	struct ak_doctor_options opt = {.docker = "/nonexistent/bin/docker"};
	struct ak_doctor_report r = {0};
	struct ak_doctor_run run = {.opt = &opt, .r = &r, .dirfd = -1};
	ak_doctor_check_docker(&run);
	ck_assert_uint_eq(r.nchecks, 4);
	ck_assert_str_eq(r.checks[0].id, "docker.daemon");
	ck_assert_int_eq(r.checks[0].status, AK_CHECK_SKIPPED);
	ck_assert_str_eq(r.checks[0].detail, "no docker command at '/nonexistent/bin/docker'");
	for (size_t i = 1; i < r.nchecks; i++)
		ck_assert_int_eq(r.checks[i].status, AK_CHECK_SKIPPED);
	ak_doctor_report_clear(&r);

	/* looked up in $PATH */
	cleanup_free char *old = ak_xstrdup(getenv("PATH"));
	setenv("PATH", "/nonexistent/a:/nonexistent/b", 1);
	opt.docker = NULL;
	ak_doctor_check_docker(&run);
	setenv("PATH", old, 1);
	ck_assert_str_eq(r.checks[0].detail, "no 'docker' command in $PATH");
	ak_doctor_report_clear(&r);
}
END_TEST

/* Hostile output: a flood, JSON of the wrong shapes, builder names that are options. */
START_TEST(test_hostile_output)
{
	char dir[] = "/tmp/archkit-fake-scenario-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	cleanup_free char *info = ak_xasprintf("%s/info.out", dir);
	size_t big = 3u << 20;
	char *flood = ak_xmalloc(big);
	memset(flood, '{', big);
	write_file(info, flood, big);
	free(flood);

	struct fixture_run f;
	memset(&f, 0, sizeof(f));
	setenv("FAKE_DOCKER_SCENARIO", dir, 1);
	f.docker = fixture("docker");
	f.opt.docker = f.docker;
	f.opt.timeout_ms = 5000;
	f.run = (struct ak_doctor_run){.opt = &f.opt, .r = &f.r, .dirfd = -1};
	ak_doctor_check_docker(&f.run);
	expect(&f, "docker.daemon", NULL, AK_CHECK_WARN, "printed no server version", NULL);
	ak_doctor_report_clear(&f.r);

	const char *shapes =
		"{\"ServerVersion\":\"27.0.0\",\"SecurityOptions\":\"name=rootless\","
		"\"DriverStatus\":[\"driver-type\",[1,2],[\"driver-type\"]],\"Driver\":7}\n";
	write_file(info, shapes, strlen(shapes));
	cleanup_free char *ls = ak_xasprintf("%s/buildx-ls.out", dir);
	const char *names = "NAME/NODE DRIVER/ENDPOINT STATUS BUILDKIT PLATFORMS\n"
			    "--help* docker\n"
			    "$(touch /tmp/x) docker\n"
			    "ok docker\n"
			    "  ok default running v0.12.4 linux/amd64\n";
	write_file(ls, names, strlen(names));
	cleanup_free char *insp = ak_xasprintf("%s/inspect-ok.out", dir);
	const char *weird = "Name: ok\nDriver: docker\n\nNodes:\nName: ok\nStatus: running\n"
			    "Platforms: linux/amd64*, , bogus/thing, linux/arm64/v8,,\n:\n::::\n";
	write_file(insp, weird, strlen(weird));
	add_platform(&f.r, "linux/arm64", "emulated", true);
	ak_doctor_check_docker(&f.run);
	expect(&f, "docker.daemon", NULL, AK_CHECK_PASS, "storage driver unknown", NULL);
	expect(&f, "docker.rootless", NULL, AK_CHECK_PASS, NULL, NULL);
	expect(&f, "docker.image_store", NULL, AK_CHECK_WARN, NULL, NULL);
	/* only the builder with a plain name is inspected; arm64/v8 is arm64 */
	expect(&f, "docker.builder", "ok", AK_CHECK_PASS, "lists every platform that runs here (1 that BuildKit detects)",
	       NULL);
	ck_assert_uint_eq(f.r.nchecks, 4);
	fixture_clear(&f);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *doctor_docker_suite(void)
{
	Suite *s = suite_create("doctor_docker");
	TCase *tc = tcase_create("docker");
	tcase_add_test(tc, test_healthy);
	tcase_add_test(tc, test_stale_builder);
	tcase_add_test(tc, test_rootless);
	tcase_add_test(tc, test_daemon_down);
	tcase_add_test(tc, test_no_buildx);
	tcase_add_test(tc, test_timeout_kills_the_group);
	tcase_add_test(tc, test_no_docker);
	tcase_add_test(tc, test_hostile_output);
	suite_add_tcase(s, tc);
	return s;
}
