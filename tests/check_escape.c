#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/escape.h"

static void check_escape(const char *in, enum ak_escape_mode mode, const char *want)
{
	cleanup_free char *got = ak_escape_dup(in, mode);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(strcmp(got, want) == 0, "escaping '%s': got '%s', want '%s'", in, got, want);
	ck_assert_uint_eq(ak_escape(NULL, in, mode), strlen(want));
	ck_assert_int_eq(ak_escape_needed(in, mode), strcmp(in, want) != 0);
	/* the streaming form writes the same bytes */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(ak_escape_fputs(in, mode, f), 0);
	fclose(f);
	ck_assert_str_eq(buf, want);
	free(buf);
}

START_TEST(test_text_controls)
{
	check_escape("/usr/bin/tool", AK_ESCAPE_TEXT, "/usr/bin/tool");
	check_escape("a\nb\rc\td", AK_ESCAPE_TEXT, "a\\nb\\rc\\td");
	check_escape("\x1b[32mpass\x1b[0m", AK_ESCAPE_TEXT, "\\x1b[32mpass\\x1b[0m");
	check_escape("\x01\x7f", AK_ESCAPE_TEXT, "\\x01\\x7f");
	/* the escape character itself, so "\x1b" in a name is not read as ESC */
	check_escape("a\\x1b", AK_ESCAPE_TEXT, "a\\\\x1b");
	check_escape("", AK_ESCAPE_TEXT, "");
}
END_TEST

START_TEST(test_text_unicode)
{
	/* printable UTF-8 stays as it is */
	check_escape("/usr/share/caf\xc3\xa9/\xe6\x97\xa5\xf0\x9f\x98\x80", AK_ESCAPE_TEXT,
		     "/usr/share/caf\xc3\xa9/\xe6\x97\xa5\xf0\x9f\x98\x80");
	/* C1 CSI, RLO (bidi override), line separator, BOM */
	check_escape("a\xc2\x9b"
		     "b",
		     AK_ESCAPE_TEXT, "a\\u009bb");
	check_escape("x\xe2\x80\xaey", AK_ESCAPE_TEXT, "x\\u202ey");
	check_escape("\xe2\x80\xa8\xef\xbb\xbf\xef\xbf\xbf", AK_ESCAPE_TEXT,
		     "\\u2028\\ufeff\\uffff");
}
END_TEST

START_TEST(test_invalid_utf8)
{
	/* a lone high byte, a truncated sequence, an overlong '/', a surrogate, > U+10FFFF */
	check_escape("a\xff"
		     "b",
		     AK_ESCAPE_TEXT, "a\\xffb");
	check_escape("\xc3", AK_ESCAPE_TEXT, "\\xc3");
	check_escape("\xe6\x97", AK_ESCAPE_TEXT, "\\xe6\\x97");
	check_escape("\xc0\xaf", AK_ESCAPE_TEXT, "\\xc0\\xaf");
	check_escape("\xed\xa0\x80", AK_ESCAPE_TEXT, "\\xed\\xa0\\x80");
	check_escape("\xf4\x90\x80\x80", AK_ESCAPE_TEXT, "\\xf4\\x90\\x80\\x80");
	ck_assert(!ak_utf8_valid("\xc0\xaf"));
	ck_assert(ak_utf8_valid("caf\xc3\xa9"));
}
END_TEST

START_TEST(test_utf8_mode)
{
	/* valid UTF-8 is kept whole, controls and backslashes too: JSON escapes those */
	check_escape("a\\b\n\x1b", AK_ESCAPE_UTF8, "a\\b\n\x1b");
	check_escape("caf\xc3\xa9", AK_ESCAPE_UTF8, "caf\xc3\xa9");
	/* not UTF-8: the bad bytes as \xHH, backslashes doubled so that stays unambiguous */
	check_escape("caf\xe9\\x\n", AK_ESCAPE_UTF8, "caf\\xe9\\\\x\n");
	cleanup_free char *e = ak_escape_dup("\xff\xfe", AK_ESCAPE_UTF8);
	ck_assert(ak_utf8_valid(e));
	ck_assert_ptr_null(ak_escape_dup(NULL, AK_ESCAPE_UTF8));
}
END_TEST

START_TEST(test_no_truncation)
{
	/* 64 KiB of ESC: every byte becomes four, none is lost */
	size_t n = 1 << 16;
	cleanup_free char *in = malloc(n + 1);
	memset(in, 0x1b, n);
	in[n] = '\0';
	cleanup_free char *out = ak_escape_dup(in, AK_ESCAPE_TEXT);
	ck_assert_uint_eq(strlen(out), 4 * n);
	ck_assert(strncmp(out + 4 * n - 4, "\\x1b", 4) == 0);
}
END_TEST

START_TEST(test_base64)
{
	const struct {
		const char *in, *want;
	} cases[] = {
		{"", ""},	 {"f", "Zg=="},	       {"fo", "Zm8="},
		{"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"caf\xe9", "Y2Fm6Q=="},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *got = ak_base64(cases[i].in, strlen(cases[i].in));
		ck_assert_str_eq(got, cases[i].want);
		/* and back */
		unsigned char dec[16];
		size_t len = strlen(cases[i].want);
		ck_assert_int_eq(ak_base64_decode(cases[i].want, len, dec),
				 (long)strlen(cases[i].in));
		ck_assert_str_eq((char *)dec, cases[i].in);
	}
}
END_TEST

START_TEST(test_base64_decode_strict)
{
	unsigned char dec[64];
	ck_assert_int_eq(ak_base64_decode("dTpwQHNz+/8=", 12, dec), 8);
	ck_assert(memcmp(dec, "u:p@ss\xfb\xff", 8) == 0);
	/* unpadded, padding inside, too much padding, other alphabets, spaces, NUL */
	const char *bad[] = {"Zg",	 "Zg=",	 "Zg==Zm8=", "Z===", "====", "Zm9v-_8=",
			     "Zm9 Zm8=", "Zm9v\nZm8", "Zm\0v"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ak_base64_decode(bad[i], i == 8 ? 4 : strlen(bad[i]), dec) == -1,
			      "'%s' decoded", bad[i]);
}
END_TEST

Suite *escape_suite(void)
{
	Suite *s = suite_create("escape");
	TCase *tc = tcase_create("escape");
	tcase_add_test(tc, test_text_controls);
	tcase_add_test(tc, test_text_unicode);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_utf8_mode);
	tcase_add_test(tc, test_no_truncation);
	tcase_add_test(tc, test_base64);
	tcase_add_test(tc, test_base64_decode_strict);
	suite_add_tcase(s, tc);
	return s;
}
