/* libFuzzer target: bytes -> ak_binfmt_rule_parse, the register line up to the first NUL
 * (a binfmt.d line, or update-binfmts' database turned into one). Checks what the parser
 * promises: a result has a name the kernel takes, known flags in order and a magic that
 * fits; an error is one line and leaves nothing behind; a rule that ak_binfmt_rule_format
 * writes back parses to the same entry. Seeds: fuzz/seeds/fuzz_binfmt_rule. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binfmt/entry.h"
#include "fuzz/fuzz.h"

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_entry(const struct ak_binfmt_entry *a, const struct ak_binfmt_entry *b)
{
	return same_str(a->name, b->name) && a->enabled == b->enabled &&
	       a->is_extension == b->is_extension && same_str(a->interpreter, b->interpreter) &&
	       !strcmp(a->flags, b->flags) && a->offset == b->offset &&
	       a->magic_len == b->magic_len && !memcmp(a->magic, b->magic, a->magic_len) &&
	       !memcmp(a->mask, b->mask, a->magic_len) && same_str(a->extension, b->extension);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = fuzz_cstring(data, size);
	if (!s)
		return 0;
	struct ak_binfmt_entry e, again;
	struct ak_error *err = NULL;
	if (ak_binfmt_rule_parse(s, &e, &err) == 0) {
		char flags[8];
		if (err || !e.name || !e.interpreter || !e.enabled || e.magic_len > AK_MAGIC_MAX ||
		    (e.is_extension && !e.extension))
			__builtin_trap();
		if (ak_binfmt_name_check(e.name, &err) < 0 ||
		    ak_binfmt_flags_check(e.flags, flags, &err) < 0 || strcmp(flags, e.flags))
			__builtin_trap();
		char *line = ak_binfmt_rule_format(&e, &err);
		if (line) {
			if (ak_binfmt_rule_parse(line, &again, &err) < 0 || !same_entry(&e, &again))
				__builtin_trap();
			ak_binfmt_entry_clear(&again);
			free(line);
		} else {
			ak_error_free(err);
		}
		ak_binfmt_entry_clear(&e);
	} else {
		if (!err || !err->msg || strchr(err->msg, '\n'))
			__builtin_trap();
		ak_error_free(err);
	}
	free(s);
	return 0;
}
