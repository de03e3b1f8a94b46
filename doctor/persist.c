/* archkit doctor: persistence. Registrations live in the kernel and vanish at reboot; what
 * brings them back is systemd-binfmt (binfmt.d files) or binfmt-support (update-binfmts'
 * database). This reads them, needing only binfmt/entry and common/ (the checks are
 * doctor/persist-check.c's). */
#include "doctor/persist.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

/* binfmt.d(5): same file name, first folder wins */
static const char *const binfmt_d_dirs[] = {"etc/binfmt.d", "run/binfmt.d",
					    "usr/local/lib/binfmt.d", "usr/lib/binfmt.d"};
#define BINFMTS_DB "var/lib/binfmts"
#define BINFMTS_ENTRY_MAX 65536 /* ten short lines */
/* what update-binfmts registers instead of the interpreter when a detector is set */
#define RUN_DETECTORS "/usr/lib/binfmt-support/run-detectors"

struct reader {
	int rootfd;
	const char *root; /* for messages: "" for "/", else the host root without a final '/' */
	struct ak_persist_set *s;
};

static void problem(struct reader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct reader *rd, const char *fmt, ...)
{
	struct ak_persist_set *s = rd->s;
	if (s->nproblems >= AK_PERSIST_PROBLEMS_MAX) {
		s->problems_dropped++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	s->problems = ak_xreallocarray(s->problems, s->nproblems + 1, sizeof(*s->problems));
	s->problems[s->nproblems++] = ak_xvasprintf(fmt, ap);
	va_end(ap);
}

/* Open path below the host root as the host would see it: absolute links resolve inside
 * it, never out of it. O_NONBLOCK, so a FIFO does not block the open. */
static int open_in_root(struct reader *rd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, rd->rootfd, path, &how, sizeof(how));
	/* before Linux 5.6 links resolve as they would here: right for a host root of "/" */
	if (fd < 0 && errno == ENOSYS)
		fd = openat(rd->rootfd, path, (int)how.flags);
	return fd;
}

/* Read a regular file of at most max bytes; NULL after a problem naming it. */
static char *read_bounded(struct reader *rd, const char *path, size_t max)
{
	cleanup_fd int fd = open_in_root(rd, path, O_RDONLY);
	if (fd < 0) {
		problem(rd, "%s/%s: %s", rd->root, path, strerror(errno));
		return NULL;
	}
	int64_t size;
	cleanup_error struct ak_error *err = NULL;
	if (ak_fd_require_regular(fd, path, &size, &err) < 0) {
		problem(rd, "%s/%s: not a regular file: not read", rd->root, path);
		return NULL;
	}
	if ((uint64_t)size > max) {
		problem(rd, "%s/%s: larger than %zu bytes: not read", rd->root, path, max);
		return NULL;
	}
	/* one byte more than fstat said, to notice a file that grows while read */
	char *buf = ak_xmalloc((size_t)size + 2);
	long n = ak_read_full(fd, buf, (size_t)size + 1);
	if (n < 0 || n > size) {
		problem(rd, "%s/%s: %s", rd->root, path,
			n < 0 ? strerror((int)-n) : "changed while read");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n)) {
		problem(rd, "%s/%s: holds NUL bytes: not read", rd->root, path);
		free(buf);
		return NULL;
	}
	return buf;
}

static struct ak_persisted *find_rule(struct ak_persist_set *s, const char *name, bool systemd)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->rules[i].systemd == systemd && strcmp(s->rules[i].e.name, name) == 0)
			return &s->rules[i];
	return NULL;
}

static void add_rule(struct reader *rd, struct ak_binfmt_entry *e, const char *path, unsigned line,
		     bool systemd)
{
	struct ak_persist_set *s = rd->s;
	/* systemd-binfmt writes each rule after removing an entry of that name: the last
	 * rule of a name is the one that stays */
	struct ak_persisted *p = find_rule(s, e->name, systemd);
	if (!p) {
		if (s->count >= AK_PERSIST_RULES_MAX) {
			problem(rd, "%s/%s: more than %d rules in all: the rest not read", rd->root,
				path, AK_PERSIST_RULES_MAX);
			ak_binfmt_entry_clear(e);
			return;
		}
		s->rules = ak_xreallocarray(s->rules, s->count + 1, sizeof(*s->rules));
		p = &s->rules[s->count++];
	} else {
		ak_binfmt_entry_clear(&p->e);
		free(p->source);
	}
	p->e = *e;
	memset(e, 0, sizeof(*e));
	p->source = ak_xasprintf("%s/%s", rd->root, path);
	p->line = line;
	p->systemd = systemd;
	p->effective = false;
}

static void parse_binfmt_d(struct reader *rd, const char *path, char *text)
{
	unsigned lineno = 0;
	char *save = NULL;
	/* strtok_r would merge empty lines and so miscount: split by hand */
	for (char *line = text; line; line = save) {
		char *nl = strchr(line, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		while (isspace((unsigned char)*line))
			line++;
		size_t len = strlen(line);
		while (len && isspace((unsigned char)line[len - 1]))
			line[--len] = '\0';
		if (!*line || *line == '#' || *line == ';')
			continue;
		struct ak_binfmt_entry e;
		cleanup_error struct ak_error *err = NULL;
		if (ak_binfmt_rule_parse(line, &e, &err) < 0) {
			problem(rd, "%s/%s line %u: %s", rd->root, path, lineno, err->msg);
			continue;
		}
		add_rule(rd, &e, path, lineno, true);
	}
}

struct conf_file {
	char *name;
	size_t dir; /* index in binfmt_d_dirs */
};

static int conf_cmp(const void *a, const void *b)
{
	return strcmp(((const struct conf_file *)a)->name, ((const struct conf_file *)b)->name);
}

static bool is_dev_null_link(struct reader *rd, const char *path)
{
	/* relative to the root fd, so the link is read, not followed */
	char target[64];
	ssize_t n = readlinkat(rd->rootfd, path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "/dev/null") == 0;
}

/* Opens one folder of host files; NULL when it is not there (or after a problem). */
static DIR *open_dir(struct reader *rd, const char *dir)
{
	int fd = open_in_root(rd, dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		if (errno != ENOENT)
			problem(rd, "%s/%s: %s", rd->root, dir, strerror(errno));
		return NULL;
	}
	DIR *d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

static void read_binfmt_d(struct reader *rd)
{
	struct conf_file *files = NULL;
	size_t n = 0;
	for (size_t k = 0; k < sizeof(binfmt_d_dirs) / sizeof(binfmt_d_dirs[0]); k++) {
		cleanup_dir DIR *d = open_dir(rd, binfmt_d_dirs[k]);
		size_t seen = 0;
		struct dirent *de;
		while (d && (de = readdir(d))) {
			const char *nm = de->d_name;
			size_t len = strlen(nm);
			/* what systemd reads: *.conf, not hidden */
			if (nm[0] == '.' || len < 6 || strcmp(nm + len - 5, ".conf") != 0)
				continue;
			if (++seen > AK_PERSIST_DIR_MAX) {
				problem(rd, "%s/%s: more than %d files: the rest not read",
					rd->root, binfmt_d_dirs[k], AK_PERSIST_DIR_MAX);
				break;
			}
			bool dup = false;
			for (size_t i = 0; i < n && !dup; i++)
				dup = strcmp(files[i].name, nm) == 0;
			if (dup)
				continue; /* overridden by an earlier folder's file of that name */
			ak_grow_one(&files, n, sizeof(*files));
			files[n++] = (struct conf_file){.name = ak_xstrdup(nm), .dir = k};
		}
	}
	/* systemd applies the files in the order of their names, whatever their folder */
	if (n > 1)
		qsort(files, n, sizeof(*files), conf_cmp);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *path =
			ak_xasprintf("%s/%s", binfmt_d_dirs[files[i].dir], files[i].name);
		if (is_dev_null_link(rd, path)) {
			struct ak_persist_set *s = rd->s;
			s->masked = ak_xreallocarray(s->masked, s->nmasked + 1, sizeof(*s->masked));
			s->masked[s->nmasked++] = ak_xasprintf("%s/%s", rd->root, path);
		} else {
			cleanup_free char *text = read_bounded(rd, path, AK_PERSIST_FILE_MAX);
			if (text)
				parse_binfmt_d(rd, path, text);
		}
		free(files[i].name);
	}
	free(files);
}

/* binfmt-support's database: one file per entry, one field per line, in this order
 * (format.c's binfmt_load); the last four may be missing. */
enum {
	DB_PACKAGE,
	DB_TYPE,
	DB_OFFSET,
	DB_MAGIC,
	DB_MASK,
	DB_INTERPRETER,
	DB_DETECTOR,
	DB_CREDENTIALS,
	DB_PRESERVE,
	DB_FIX_BINARY,
	DB_FIELDS
};

static void parse_binfmts_entry(struct reader *rd, const char *name, const char *path, char *text)
{
	char *field[DB_FIELDS] = {0};
	size_t nf = 0;
	for (char *p = text; p && *p && nf < DB_FIELDS; nf++) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		size_t len = strlen(p);
		while (len && isspace((unsigned char)p[len - 1]))
			p[--len] = '\0';
		field[nf] = p;
		p = nl ? nl + 1 : NULL;
	}
	if (nf <= DB_INTERPRETER) {
		problem(rd, "%s/%s: %zu lines, update-binfmts needs at least %d", rd->root, path,
			nf, DB_INTERPRETER + 1);
		return;
	}
	const char *type = !strcmp(field[DB_TYPE], "magic")	  ? "M"
			   : !strcmp(field[DB_TYPE], "extension") ? "E"
								  : NULL;
	if (!type) {
		problem(rd, "%s/%s: type '%.40s' is neither magic nor extension", rd->root, path,
			field[DB_TYPE]);
		return;
	}
#define YES(i) (field[i] && !strcmp(field[i], "yes"))
	bool detector = field[DB_DETECTOR] && *field[DB_DETECTOR];
	/* the register line update-binfmts --enable writes (act_enable) */
	cleanup_free char *rule = ak_xasprintf(
		":%s:%s:%s:%s:%s:%s:%s%s%s", name, type, field[DB_OFFSET], field[DB_MAGIC],
		field[DB_MASK], detector ? RUN_DETECTORS : field[DB_INTERPRETER],
		YES(DB_CREDENTIALS) ? "C" : "", YES(DB_PRESERVE) ? "P" : "",
		YES(DB_FIX_BINARY) ? "F" : "");
#undef YES
	struct ak_binfmt_entry e;
	cleanup_error struct ak_error *err = NULL;
	if (ak_binfmt_rule_parse(rule, &e, &err) < 0) {
		problem(rd, "%s/%s: %s", rd->root, path, err->msg);
		return;
	}
	add_rule(rd, &e, path, 0, false);
}

static void read_binfmts_db(struct reader *rd)
{
	cleanup_dir DIR *d = open_dir(rd, BINFMTS_DB);
	size_t seen = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *nm = de->d_name;
		if (nm[0] == '.')
			continue;
		if (++seen > AK_PERSIST_DIR_MAX) {
			problem(rd, "%s/%s: more than %d files: the rest not read", rd->root,
				BINFMTS_DB, AK_PERSIST_DIR_MAX);
			break;
		}
		cleanup_free char *path = ak_xasprintf("%s/%s", BINFMTS_DB, nm);
		cleanup_free char *text = read_bounded(rd, path, BINFMTS_ENTRY_MAX);
		if (text)
			parse_binfmts_entry(rd, nm, path, text);
	}
}

int ak_persist_read(const char *host_root, struct ak_persist_set *s, struct ak_error **err)
{
	memset(s, 0, sizeof(*s));
	const char *root = host_root && *host_root ? host_root : "/";
	cleanup_fd int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open host root '%s'", root);
	cleanup_free char *shown = ak_xstrdup(root);
	size_t len = strlen(shown);
	while (len && shown[len - 1] == '/')
		shown[--len] = '\0';
	struct reader rd = {.rootfd = rootfd, .root = shown, .s = s};
	read_binfmt_d(&rd);
	read_binfmts_db(&rd);
	for (size_t i = 0; i < s->count; i++) {
		struct ak_persisted *p = &s->rules[i];
		p->effective = p->systemd || !find_rule(s, p->e.name, true);
	}
	return 0;
}

void ak_persist_clear(struct ak_persist_set *s)
{
	for (size_t i = 0; i < s->count; i++) {
		ak_binfmt_entry_clear(&s->rules[i].e);
		free(s->rules[i].source);
	}
	free(s->rules);
	for (size_t i = 0; i < s->nproblems; i++)
		free(s->problems[i]);
	free(s->problems);
	for (size_t i = 0; i < s->nmasked; i++)
		free(s->masked[i]);
	free(s->masked);
	memset(s, 0, sizeof(*s));
}

const struct ak_persisted *ak_persist_find(const struct ak_persist_set *s, const char *name)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->rules[i].effective && strcmp(s->rules[i].e.name, name) == 0)
			return &s->rules[i];
	return NULL;
}

static void clause(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void clause(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *c = ak_xvasprintf(fmt, ap);
	va_end(ap);
	char *joined = ak_xasprintf("%s%s%s", *out ? *out : "", *out ? "; " : "", c);
	free(*out);
	*out = joined;
}

/* "mask differs at byte 7 (0xfc persisted, 0x00 registered)": the bytes that differ, as
 * 0xNN (a backslash would be escaped again in text output), the first three of them. */
static void byte_clause(char **out, const char *what, const unsigned char *a,
			const unsigned char *b, const unsigned char *keep, size_t len)
{
	char buf[160] = "";
	size_t n = 0, shown = 0, more = 0;
	for (size_t i = 0; i < len; i++) {
		if (((a[i] ^ b[i]) & (keep ? keep[i] : 0xff)) == 0)
			continue;
		if (shown == 3) {
			more++;
			continue;
		}
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "%s%zu (0x%02x persisted, 0x%02x registered)",
				      shown ? ", " : "", i, a[i], b[i]);
		shown++;
	}
	if (!shown)
		return;
	if (more)
		clause(out, "%s differs at byte %s and %zu more", what, buf, more);
	else
		clause(out, "%s differs at byte %s", what, buf);
}

char *ak_persist_diff(const struct ak_binfmt_entry *p, const struct ak_binfmt_entry *live)
{
	char *out = NULL;
	if (p->is_extension != live->is_extension) {
		clause(&out, "type %s persisted, %s registered", p->is_extension ? "E" : "M",
		       live->is_extension ? "E" : "M");
		return out;
	}
	if (p->is_extension) {
		if (strcmp(p->extension, live->extension))
			clause(&out, "extension '%s' persisted, '%s' registered", p->extension,
			       live->extension);
	} else {
		if (p->offset != live->offset)
			clause(&out, "offset %u persisted, %u registered", p->offset, live->offset);
		if (p->magic_len != live->magic_len) {
			clause(&out, "magic of %zu bytes persisted, %zu registered", p->magic_len,
			       live->magic_len);
		} else {
			/* magic is compared on the bits both masks keep: a bit that either
			 * mask clears never decides a match, and the kernel may store it
			 * masked */
			unsigned char both[AK_MAGIC_MAX];
			for (size_t i = 0; i < p->magic_len; i++)
				both[i] = p->mask[i] & live->mask[i];
			byte_clause(&out, "magic", p->magic, live->magic, both, p->magic_len);
			byte_clause(&out, "mask", p->mask, live->mask, NULL, p->magic_len);
		}
	}
	if (strcmp(p->interpreter, live->interpreter))
		clause(&out, "interpreter '%s' persisted, '%s' registered", p->interpreter,
		       live->interpreter);
	if (strcmp(p->flags, live->flags))
		clause(&out, "flags '%s' persisted, '%s' registered", p->flags, live->flags);
	return out;
}
