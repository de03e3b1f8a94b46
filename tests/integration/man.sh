#!/usr/bin/env bash
# The man pages and the --help texts agree: for archkit and every command `archkit
# --help` lists, each long option of its --help is in its man page and each option of
# the page's OPTIONS section is in its --help; both list the same exit codes; the help
# names its page; each page renders without warnings; make install installs them all.
. "$(dirname "$0")/../lib.sh"
: "${AK_BIN:?}" "${AK_TOP:?}"
MAN=$AK_TOP/man

# compare.py HELP PAGE: one line per disagreement, exit 1 when there is any
cat >"$AK_TMP/compare.py" <<'EOF'
import re, sys

help_text = open(sys.argv[1]).read()
page = open(sys.argv[2]).read()
problems = []

# --help: option lines start with two spaces and a dash ("  -v, --verbose  ...")
help_opts = set(re.findall(r'^  (?:-[A-Za-z], )?--([a-z0-9][a-z0-9-]*)', help_text, re.M))

def code_set(text):
    return set(re.findall(r'(?<![\w.+-])(\d+\+N|\d+)(?![\w.+-]|\+)', text))

m = re.search(r'^Exit status:(.*?)(?:\n\s*\n|\Z)', help_text, re.M | re.S)
help_codes = code_set(m.group(1)) if m else set()
if not m:
    problems.append('--help has no "Exit status:" paragraph')

# the page: sections by .SH; the tag of each .TP is the line after it
sections = {}
name = None
for line in page.splitlines():
    if line.startswith('.SH '):
        name = line[4:].strip().strip('"')
        sections[name] = []
    elif name:
        sections[name].append(line)

def tags(lines):
    return [lines[i + 1] for i, l in enumerate(lines[:-1]) if l.strip() == '.TP']

def roman(s):
    # what a tag says, without its macros and font escapes
    s = re.sub(r'^\.[A-Z]+ ?', '', s)
    s = re.sub(r'\\f[BIRP]', '', s)
    return s.replace('\\-', '-').replace('"', '')

for opt in sorted(help_opts):
    escaped = re.escape(opt.replace('-', '\\-'))
    if not re.search(r'\\-\\-' + escaped + r'(?![a-z0-9]|\\-[a-z])', page):
        problems.append('--%s is in --help but not in the page' % opt)

page_opts = set()
for t in tags(sections.get('OPTIONS', [])):
    page_opts |= set(re.findall(r'--([a-z0-9][a-z0-9-]*[a-z0-9])', roman(t)))
if 'OPTIONS' not in sections:
    problems.append('the page has no OPTIONS section')
for opt in sorted(page_opts - help_opts):
    problems.append('--%s is in the page\'s OPTIONS but not in --help' % opt)

page_codes = set()
for t in tags(sections.get('EXIT STATUS', [])):
    page_codes |= code_set(roman(t))
if not page_codes:
    problems.append('the page has no exit codes under EXIT STATUS')
for c in sorted(help_codes - page_codes):
    problems.append('exit code %s is in --help but not in the page' % c)
for c in sorted(page_codes - help_codes):
    problems.append('exit code %s is in the page but not in --help' % c)

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF

# the commands `archkit --help` lists, under "Commands:"
"$AK_BIN" --help >"$AK_TMP/help" 2>&1
commands=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$AK_TMP/help")

ak_test "archkit --help lists the commands, and archkit(1) names each command's page"
if [ -z "$commands" ]; then
	ak_fail "no commands under 'Commands:' in archkit --help"
else
	missing=
	for c in $commands; do
		grep -qF ".BR archkit\\-$c (1)" "$MAN/archkit.1" || missing="$missing $c"
	done
	[ -z "$missing" ] && ak_pass || ak_fail "archkit(1) does not point to the page of:$missing"
fi

ak_test "archkit --help and archkit(1): same options and exit codes, and the help names the page"
if ! python3 "$AK_TMP/compare.py" "$AK_TMP/help" "$MAN/archkit.1" >"$AK_TMP/diff"; then
	ak_fail "archkit(1) and archkit --help disagree: $(paste -sd';' "$AK_TMP/diff")"
else
	expect_contains "$AK_TMP/help" "See archkit(1)" && ak_pass
fi

for c in $commands; do
	page=$MAN/archkit-$c.1
	ak_test "archkit $c --help and archkit-$c(1): every option and exit code in both"
	if [ ! -f "$page" ]; then
		# the doctor's page comes with the doctor command, from its own branch
		if [ "$c" = doctor ]; then
			ak_skip "man/archkit-doctor.1 is not there yet (it comes with archkit doctor)"
		else
			ak_fail "no man page man/archkit-$c.1 for '$c'"
		fi
		continue
	fi
	expect_exit 0 "$AK_BIN" "$c" --help || continue
	cp "$AK_STDOUT" "$AK_TMP/help-$c"
	if ! python3 "$AK_TMP/compare.py" "$AK_TMP/help-$c" "$page" >"$AK_TMP/diff"; then
		ak_fail "archkit-$c(1) and archkit $c --help disagree: $(paste -sd';' "$AK_TMP/diff")"
		continue
	fi
	# the last line of the help names the page
	last=$(grep -v '^$' "$AK_TMP/help-$c" | tail -1)
	if [ "$last" != "See archkit-$c(1)." ]; then
		ak_fail "archkit $c --help ends with '$last', not 'See archkit-$c(1).'"
		continue
	fi
	ak_pass
done

ak_test "every man page renders with man -l, without warnings"
if ! command -v man >/dev/null; then
	ak_skip "no man here (apt-get install man-db)"
else
	bad=
	for p in "$MAN"/*.1; do
		if ! MANWIDTH=80 man --warnings -l "$p" >"$AK_TMP/render" 2>"$AK_TMP/warn" ||
			[ -s "$AK_TMP/warn" ] || [ ! -s "$AK_TMP/render" ]; then
			bad="$bad ${p##*/}: $(head -2 "$AK_TMP/warn" | paste -sd' ')"
		fi
	done
	[ -z "$bad" ] && ak_pass || ak_fail "man --warnings:$bad"
fi

ak_test "make install DESTDIR=... installs archkit and every man page"
dest=$AK_TMP/dest
if make -s -C "$AK_TOP" --no-print-directory install DESTDIR="$dest" PREFIX=/usr \
	BUILD="${AK_BUILD:-$AK_TOP/build}" >"$AK_TMP/install.log" 2>&1; then
	missing=
	for p in "$MAN"/*.1; do
		cmp -s "$p" "$dest/usr/share/man/man1/${p##*/}" || missing="$missing ${p##*/}"
	done
	if [ -n "$missing" ]; then
		ak_fail "not installed in $dest/usr/share/man/man1:$missing"
	elif [ ! -x "$dest/usr/bin/archkit" ]; then
		ak_fail "no $dest/usr/bin/archkit"
	else
		# and man finds an installed page by name
		if command -v man >/dev/null; then
			expect_exit 0 env MANPATH="$dest/usr/share/man" MANWIDTH=80 man archkit-binfmt &&
				expect_contains "$AK_STDOUT" "archkit-binfmt" && ak_pass
		else
			ak_pass
		fi
	fi
else
	ak_fail "make install failed: $(tail -3 "$AK_TMP/install.log")"
fi

ak_summary
