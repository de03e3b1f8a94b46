# shellcheck shell=bash
# Shared helpers for archkit's benchmarks (bench/*). Source it after setting
# BENCH_NAME, then:
#
#   bench_init                      # temp dir in $BENCH_TMP, removed on any exit
#   bench_build "$top"              # make archkit in $AK_BUILD (default build/); sets $AK
#   bench_need_sandbox              # exit 77 with the reason when no sandbox can be made
#   t0=$EPOCHREALTIME ... t1=$EPOCHREALTIME
#   us=$(bench_us_between "$t0" "$t1")
#   bench_children_cpu_us c0 ... bench_children_cpu_us c1   # children's CPU, c1-c0
#   bench_median 5 3 9              # prints 5 (integers; the mean of the middle two when even)
#   bench_ratio 300 100             # prints 3.00
#   runs=$(bench_runs "$runs") || exit 64   # a --runs value checked, as a plain number
#   bench_verdict 3.00 '>=' 5       # prints PASS or MISS
#
# Benchmarks print ratios measured side by side in one run, never absolute
# targets: the machine and its load change, the ratio much less.
# Exit codes: 0 measured, 1 a side did not do its job, 64 usage, 77 cannot run here.

BENCH_NAME=${BENCH_NAME:-bench}
BENCH_TMP=

# bench_die MSG: a side failed or the environment is broken; exit 1.
bench_die() {
  echo "$BENCH_NAME: $*" >&2
  exit 1
}

# bench_skip REASON: this machine cannot run the benchmark; exit 77.
bench_skip() {
  echo "$BENCH_NAME: skipped: $*" >&2
  exit 77
}

# bench_usage_error MSG: bad arguments; exit 64.
bench_usage_error() {
  echo "$BENCH_NAME: $*" >&2
  echo "try '$BENCH_NAME --help'" >&2
  exit 64
}

# bench_init: needs bash 5 (EPOCHREALTIME times a step without a fork); makes
# $BENCH_TMP and removes it however the script ends.
bench_init() {
  [ -n "${EPOCHREALTIME:-}" ] || bench_skip "needs bash 5 or later for EPOCHREALTIME (this is bash $BASH_VERSION)"
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/archkit-${BENCH_NAME//\//-}.XXXXXX") ||
    bench_die "cannot make a temp dir in '${TMPDIR:-/tmp}'"
  # readable by the sandbox's root, which is our own uid mapped; nobody else's business
  chmod 0700 "$BENCH_TMP"
  trap 'rm -rf -- "$BENCH_TMP"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# bench_build TOP: builds archkit out of tree in $AK_BUILD (relative to TOP, default
# build) with make's output on stderr, and sets AK to the binary. A build dir this
# user cannot write (a root-owned build run by another user) is used as it is.
bench_build() {
  local top=$1
  AK_BUILD=${AK_BUILD:-build}
  case "$AK_BUILD" in /*) ;; *) AK_BUILD=$top/$AK_BUILD ;; esac
  AK=$AK_BUILD/archkit
  if [ ! -e "$AK_BUILD" ] || [ -w "$AK_BUILD" ]; then
    make -C "$top" -j2 -s --no-print-directory BUILD="$AK_BUILD" all >&2 ||
      bench_die "cannot build archkit in '$AK_BUILD'"
  fi
  [ -x "$AK" ] || bench_die "no archkit binary at '$AK' (and '$AK_BUILD' is not writable to build it)"
}

# bench_need_sandbox: exits 77 with archkit's own reason when 'archkit sandbox'
# (a private user + mount namespace with its own binfmt_misc) cannot be made here.
bench_need_sandbox() {
  if ! "$AK" sandbox --platform none -- true 2>"$BENCH_TMP/sandbox.err"; then
    bench_skip "cannot make an archkit sandbox: $(tail -n 1 "$BENCH_TMP/sandbox.err")"
  fi
}

# bench_us_between T0 T1: microseconds between two $EPOCHREALTIME stamps (which
# always carry six decimals; the separator follows the locale, so drop it).
bench_us_between() {
  local a=${1//[!0-9]/} b=${2//[!0-9]/}
  echo $((10#$b - 10#$a))
}

# bench_children_cpu_us VAR: sets VAR to the user + system CPU microseconds
# (millisecond resolution) of every child this shell has waited for so far, from the
# 'times' builtin. No subshell: a forked one would report its own children, none.
# Needs bench_init's $BENCH_TMP.
bench_children_cpu_us() {
  # locals carry a prefix so that no caller's VAR name is shadowed by them
  local -n _bcc_out=$1
  local _bcc_line _bcc_u _bcc_s _bcc_t _bcc_m _bcc_sec _bcc_total=0
  times >"$BENCH_TMP/times"
  { read -r _bcc_line; read -r _bcc_u _bcc_s; } <"$BENCH_TMP/times"
  for _bcc_t in "$_bcc_u" "$_bcc_s"; do
    _bcc_m=${_bcc_t%%m*} _bcc_sec=${_bcc_t#*m}
    _bcc_sec=${_bcc_sec%s} _bcc_sec=${_bcc_sec//[!0-9]/}
    _bcc_total=$((_bcc_total + 10#$_bcc_m * 60000000 + 10#$_bcc_sec * 1000))
  done
  _bcc_out=$_bcc_total
}

# bench_median N...: the median of integers (the mean of the middle two when even).
bench_median() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_min N...: the smallest of integers.
bench_min() {
  printf '%s\n' "$@" | sort -n | head -n 1
}

# bench_ms US: microseconds as milliseconds with one decimal.
bench_ms() {
  awk -v us="$1" 'BEGIN { printf "%.1f\n", us / 1000 }'
}

# bench_ratio NUM DEN: NUM/DEN with two decimals ("inf" when DEN is 0).
bench_ratio() {
  awk -v n="$1" -v d="$2" 'BEGIN { if (d == 0) print "inf"; else printf "%.2f\n", n / d }'
}

# bench_runs VALUE: prints VALUE as a number when it is a whole number from 1 to 1000;
# else says so on stderr (with the usage hint) and returns 1.
bench_runs() {
  local ok=
  # digits only and at most four of them, before arithmetic sees it
  case $1 in
  '' | *[!0-9]* | ?????*) ;;
  *) ok=$(((10#$1) >= 1 && (10#$1) <= 1000)) ;;
  esac
  if [ "$ok" != 1 ]; then
    echo "$BENCH_NAME: --runs wants a whole number from 1 to 1000, not '$1'" >&2
    echo "try '$BENCH_NAME --help'" >&2
    return 1
  fi
  echo $((10#$1))
}

# bench_verdict VALUE OP LIMIT: PASS or MISS, OP one of <=, < and >= ("n/a" when VALUE is).
bench_verdict() {
  [ "$1" = n/a ] && { echo n/a; return; }
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    ok = (op == "<=") ? v <= l : (op == "<") ? v < l : v >= l
    print ok ? "PASS" : "MISS" }'
}

# bench_side_json NAME LABEL: one side as JSON, from the caller's associative arrays
# samples and cpu_samples (space-separated microseconds per side) and med, min, cpu.
# shellcheck disable=SC2154
bench_side_json() {
  local -a s c
  read -r -a s <<<"${samples[$1]}"
  read -r -a c <<<"${cpu_samples[$1]}"
  printf '{"label": "%s", "median_us": %d, "min_us": %d, "samples_us": %s, "cpu_median_us": %d, "cpu_samples_us": %s}' \
    "$2" "${med[$1]}" "${min[$1]}" "$(bench_json_ints "${s[@]}")" "${cpu[$1]}" "$(bench_json_ints "${c[@]}")"
}

# bench_ratio_json MEDIAN MIN CPU TARGET VERDICT: one ratio as JSON.
bench_ratio_json() {
  printf '{"median": %s, "min": %s, "cpu_median": %s, "target": "%s", "verdict": "%s"}' "$1" "$2" "$3" "$4" "$5"
}

# bench_json_ints N...: a JSON array of integers.
bench_json_ints() {
  local IFS=,
  echo "[$*]"
}

# bench_json_strings S...: a JSON array of plain strings (no quotes or backslashes).
bench_json_strings() {
  local s out=
  for s in "$@"; do out+=${out:+,}\"$s\"; done
  echo "[$out]"
}
