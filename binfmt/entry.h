/* binfmt_misc entries: the files /proc/sys/fs/binfmt_misc/NAME, parsed, and the rule
 * line that registers one (":name:type:offset:magic:mask:interpreter:flags"). */
#ifndef AK_BINFMT_ENTRY_H
#define AK_BINFMT_ENTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/platform.h"

/* The kernel bounds a name only by its register line (MAX_REGISTER_LENGTH, 1920 bytes,
 * in fs/binfmt_misc.c) and by the entry being a file: NAME_MAX (255). */
#define AK_BINFMT_NAME_MAX 255
#define AK_BINFMT_RULE_MAX 1920 /* the longest register line the kernel parses */
#define AK_BINFMT_FLAGS "POCF"	/* the flags the kernel knows (C implies O) */

struct ak_binfmt_entry {
	char *name;
	bool enabled;
	bool is_extension; /* 'E' entries match a file name extension, not magic */
	char *interpreter;
	char flags[8]; /* subset of "POCF", in that order */
	unsigned offset;
	unsigned char magic[AK_MAGIC_MAX];
	unsigned char mask[AK_MAGIC_MAX]; /* all 0xff when the entry has no mask */
	size_t magic_len;
	char *extension; /* for 'E' entries */
};

/* The set of entries in one binfmt_misc instance; malformed files are kept aside. */
struct ak_binfmt_table {
	struct ak_binfmt_entry *entries;
	size_t count;
	char **unreadable; /* "NAME: why" for entries that could not be parsed */
	size_t unreadable_count;
};

/* Parse the text of an entry file (as the kernel prints it) into e. */
int ak_binfmt_entry_parse(const char *name, const char *text, struct ak_binfmt_entry *e,
			  struct ak_error **err);
void ak_binfmt_entry_clear(struct ak_binfmt_entry *e);
/* Read every entry of the instance open at dirfd (skips register and status). */
int ak_binfmt_table_read(int dirfd, struct ak_binfmt_table *t, struct ak_error **err);
void ak_binfmt_table_clear(struct ak_binfmt_table *t);
const struct ak_binfmt_entry *ak_binfmt_table_find(const struct ak_binfmt_table *t,
						   const char *name);
/* Does the entry match a file whose first bytes are hdr (magic under mask at offset)? */
bool ak_binfmt_entry_matches(const struct ak_binfmt_entry *e, const unsigned char *hdr, size_t len);
/* Does the entry match any of the target's reference headers (it catches some of its
 * binaries)? */
bool ak_binfmt_entry_catches(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t);
/* Does the entry accept the same real binaries as the target's own magic and mask: every
 * reference header of the target, none of any other target, and none of the target's
 * headers changed to another class, byte order or machine (unless the table's own rule
 * takes that too)? Masks may differ in bits no real binary sets. */
bool ak_binfmt_entry_same_binaries(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t);
/* Do two entries match exactly the same files (same offset, same masked magic)? */
bool ak_binfmt_entry_same_magic(const struct ak_binfmt_entry *a, const struct ak_binfmt_entry *b);

/* Check that a name is one the kernel accepts and archkit may write: not empty, no '/',
 * not "." "..", "register" or "status", printable, at most AK_BINFMT_NAME_MAX bytes. */
int ak_binfmt_name_check(const char *name, struct ak_error **err);
/* Check a flags string: only letters of AK_BINFMT_FLAGS, each once; normalises the
 * order into out (8 bytes). Status AK_EXIT_USAGE when an unknown letter is given. */
int ak_binfmt_flags_check(const char *flags, char out[8], struct ak_error **err);
/* The wanted entry for a QEMU target: name "qemu-TARGET", its magic and mask. */
int ak_binfmt_entry_for_target(const struct ak_qemu_target *t, const char *interpreter,
			       const char *flags, struct ak_binfmt_entry *e, struct ak_error **err);
/* The register line for e, validated (name, magic <= 128 bytes, no ':' in fields,
 * interpreter absolute, at most AK_BINFMT_RULE_MAX bytes); caller frees. */
char *ak_binfmt_rule_format(const struct ak_binfmt_entry *e, struct ak_error **err);
/* Parse a register line as the kernel does (the first character is the delimiter; \xNN
 * escapes in magic and mask; empty offset 0, empty mask all 0xff; C implies O, as the
 * kernel reads it back) into e, enabled. What systemd-binfmt's binfmt.d files hold. */
int ak_binfmt_rule_parse(const char *line, struct ak_binfmt_entry *e, struct ak_error **err);

#endif
