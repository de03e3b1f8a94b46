/* doctor's Prometheus rendering (node_exporter's textfile collector) and the atomic writer
 * --output uses. The textfile collector reads whatever *.prom file it finds at scrape time,
 * so a half-written file is a scrape of garbage: write a temp file and rename it. */
#include "cli/doctor-output.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/escape.h"
#include "common/xalloc.h"

/* A label value as the text exposition format wants it: '\' '"' and LF escaped, and valid
 * UTF-8 (a scraper rejects anything else, and with it the whole file): a byte that is not
 * part of a valid sequence is written as the four characters \xHH, its backslash escaped. */
static void put_label_value(FILE *f, const char *s)
{
	while (*s) {
		uint32_t cp;
		size_t n = ak_utf8_sequence(s, &cp);
		if (n == 0) {
			fprintf(f, "\\\\x%02x", (unsigned char)*s);
			s++;
			continue;
		}
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fwrite(s, 1, n, f);
		s += n;
	}
}

/* Writes {k1="v1",k2="v2"} from NULL-terminated (name, value) pairs, leaving out the pairs
 * whose value is NULL (a label that does not apply is absent, not empty). */
static void put_labels(FILE *f, const char *const *kv)
{
	bool first = true;
	for (; kv[0]; kv += 2) {
		if (!kv[1])
			continue;
		fprintf(f, "%s%s=\"", first ? "{" : ",", kv[0]);
		put_label_value(f, kv[1]);
		fputc('"', f);
		first = false;
	}
	if (!first)
		fputc('}', f);
}

static void put_family(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static bool check_ok(enum ak_check_status s)
{
	return s != AK_CHECK_WARN && s != AK_CHECK_FAIL;
}

/* How bad a status is, for merging duplicates: fail > warn > the rest. */
static int severity(enum ak_check_status s)
{
	return s == AK_CHECK_FAIL      ? 4
	       : s == AK_CHECK_WARN    ? 3
	       : s == AK_CHECK_INFO    ? 2
	       : s == AK_CHECK_SKIPPED ? 1
				       : 0;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_series(const struct ak_check *a, const struct ak_check *b)
{
	return strcmp(a->id, b->id) == 0 && str_eq(a->entry, b->entry) &&
	       str_eq(a->platform, b->platform);
}

/* (id, entry, platform) is unique in a report; should a part ever repeat one, a scraper
 * would reject the file for a duplicate series, so repeats fold into the first, with the
 * worst status. Returns that status, or -1 when c repeats an earlier check. */
static int series_status(const struct ak_doctor_report *r, size_t i)
{
	const struct ak_check *c = &r->checks[i];
	for (size_t j = 0; j < i; j++)
		if (same_series(&r->checks[j], c))
			return -1;
	enum ak_check_status worst = c->status;
	for (size_t j = i + 1; j < r->nchecks; j++)
		if (same_series(&r->checks[j], c) &&
		    severity(r->checks[j].status) > severity(worst))
			worst = r->checks[j].status;
	return (int)worst;
}

/* One series per check: archkit_check_ok 1/0, or (with_status) archkit_check_status 1
 * with the status as a label. */
static void put_check_series(FILE *f, const struct ak_doctor_report *r, const char *name,
			     bool with_status)
{
	for (size_t i = 0; i < r->nchecks; i++) {
		int st = series_status(r, i);
		if (st < 0)
			continue;
		const struct ak_check *c = &r->checks[i];
		enum ak_check_status s = (enum ak_check_status)st;
		fputs(name, f);
		put_labels(f, (const char *const[]){"check", c->id, "entry", c->entry, "platform",
						    c->platform, "status",
						    with_status ? ak_check_status_name(s) : NULL,
						    NULL});
		fprintf(f, " %d\n", with_status || check_ok(s));
	}
}

void doctor_write_prometheus(const struct ak_doctor_report *r, FILE *f)
{
	put_family(f, "archkit_check_ok",
		   "Whether an archkit doctor check is healthy: 1 pass, info or skipped; 0 warn "
		   "or fail. check is the id in archkit-doctor(1); entry and platform are set "
		   "when the check is about one binfmt_misc entry or platform.");
	put_check_series(f, r, "archkit_check_ok", false);
	put_family(f, "archkit_check_status",
		   "The status of each archkit doctor check (pass, info, warn, fail, skipped): "
		   "one series per check, value 1, its status in the status label.");
	put_check_series(f, r, "archkit_check_status", true);

	if (r->nplatforms) {
		put_family(
			f, "archkit_platform_ok",
			"Whether code of a platform runs on this machine: 1 its smoke binary ran "
			"and reported its machine. how is native, emulated or none.");
		for (size_t i = 0; i < r->nplatforms; i++) {
			const struct ak_doctor_platform *p = &r->platforms[i];
			fputs("archkit_platform_ok", f);
			put_labels(f, (const char *const[]){"platform", p->platform->name, "how",
							    p->how, NULL});
			fprintf(f, " %d\n", p->ok);
		}
	}

	bool any_qemu = false;
	for (size_t i = 0; i < r->nplatforms; i++)
		any_qemu |= r->platforms[i].qemu_version != NULL;
	if (any_qemu) {
		put_family(f, "archkit_qemu_info",
			   "The QEMU version behind a platform's binfmt_misc entry (always 1).");
		for (size_t i = 0; i < r->nplatforms; i++) {
			const struct ak_doctor_platform *p = &r->platforms[i];
			if (!p->qemu_version)
				continue;
			fputs("archkit_qemu_info", f);
			put_labels(f, (const char *const[]){"platform", p->platform->name, "entry",
							    p->entry, "version", p->qemu_version,
							    NULL});
			fputs(" 1\n", f);
		}
	}

	put_family(f, "archkit_doctor_checks", "How many archkit doctor checks have each status.");
	static const enum ak_check_status all[] = {AK_CHECK_PASS, AK_CHECK_INFO, AK_CHECK_WARN,
						   AK_CHECK_FAIL, AK_CHECK_SKIPPED};
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		size_t n = 0;
		for (size_t i = 0; i < r->nchecks; i++) {
			int st = series_status(r, i);
			n += st >= 0 && (enum ak_check_status)st == all[k];
		}
		fprintf(f, "archkit_doctor_checks{status=\"%s\"} %zu\n",
			ak_check_status_name(all[k]), n);
	}

	put_family(f, "archkit_doctor_healthy",
		   "1 when no archkit doctor check failed (archkit doctor exits 0), else 0.");
	fprintf(f, "archkit_doctor_healthy %d\n", !ak_doctor_unhealthy(r));
	put_family(f, "archkit_doctor_last_run_timestamp_seconds",
		   "When archkit doctor finished, in seconds since the Unix epoch.");
	fprintf(f, "archkit_doctor_last_run_timestamp_seconds %" PRIdMAX "\n",
		(intmax_t)r->finished);
	put_family(f, "archkit_doctor_duration_seconds", "How long archkit doctor took.");
	fprintf(f, "archkit_doctor_duration_seconds %" PRIu64 ".%03" PRIu64 "\n",
		r->elapsed_ms / 1000, r->elapsed_ms % 1000);
}

int cli_write_atomic(const char *path, void (*render)(FILE *f, void *ctx), void *ctx,
		     struct ak_error **err)
{
	/* the temp file sits beside path, so rename() replaces path in one step; its name
	 * starts with '.' and does not end in .prom, so no textfile collector reads it */
	const char *slash = strrchr(path, '/');
	cleanup_free char *dir =
		slash ? ak_xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
		      : ak_xstrdup(".");
	const char *base = slash ? slash + 1 : path;
	if (!*base)
		return ak_error_set(err, AK_EXIT_ENV, "cannot write '%s': it names a directory",
				    path);
	cleanup_free char *tmp = ak_xasprintf("%s/.%s.XXXXXX", strcmp(dir, "/") ? dir : "", base);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot write '%s'", path);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot write '%s'", path);
	}
	render(f, ctx);
	/* each step is tried only when the ones before it worked; errno is the first failure's */
	int e = 0;
	if (ferror(f))
		e = errno ? errno : EIO;
	else if (fflush(f) != 0 || fsync(fd) < 0 || fchmod(fd, 0644) < 0)
		e = errno;
	if (fclose(f) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot write '%s'", path);
	}
	/* the rename itself survives a crash only once the folder is synced; a reader
	 * already sees the new file, so a failure here is not worth failing for */
	cleanup_fd int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	return 0;
}
