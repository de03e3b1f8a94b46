#!/usr/bin/env bash
# The GitHub Action (action.yml, probe/action.yml) and the README's CI recipe, for real:
# the action's own run: steps are run in order by run-action.py, as the runner would,
# with GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and the inputs, inside 'archkit sandbox' (a
# private binfmt_misc: the host's is never written). The build step builds into the
# build under test (ARCHKIT_BUILD), which is then already up to date.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
IMAGES=${AK_IMAGES:-${AK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/archkit-tests}/images}
BM=/proc/sys/fs/binfmt_misc
runner=$top/tests/integration/run-action.py
out=$AK_TMP/github-output
summary=$AK_TMP/step-summary
report=$AK_TMP/report.json

ak_test "action.yml declares setup-qemu-action's inputs and output, and archkit's own"
# (expect_exit runs its command with stdin from /dev/null: the script goes in a file)
cat >"$AK_TMP/check-yml.py" <<'EOF'
import re, sys, yaml
main, probe = (yaml.safe_load(open(p)) for p in sys.argv[1:3])
def check(cond, msg):
    if not cond:
        print("wrong:", msg)
        sys.exit(1)
defaults = {"platforms": "all", "reset": "false", "image": "", "cache-image": "",
            "verify": "true", "fail": "true"}
ins = main["inputs"]
check(set(ins) == set(defaults), f"inputs are {sorted(ins)}")
for name, want in defaults.items():
    check(str(ins[name].get("default")) == want, f"{name} defaults to {ins[name].get('default')!r}")
    check(not ins[name].get("required"), f"{name} is required")
check(list(main["outputs"]) == ["platforms"], "outputs")
check("steps.platforms.outputs.platforms" in main["outputs"]["platforms"]["value"], "output value")
pins = probe["inputs"]
check(set(pins) == {"image", "platforms", "verify", "command"}, f"probe inputs are {sorted(pins)}")
check(pins["image"].get("required") is True, "probe's image is not required")
check(str(pins["verify"]["default"]) == "true", "probe's verify default")
allowed = re.compile(r"inputs\.[a-z-]+|github\.action_path|steps\.[a-z]+\.outputs\.[a-z_]+")
for doc in (main, probe):
    check(doc["runs"]["using"] == "composite", "not composite")
    for step in doc["runs"]["steps"]:
        check(step.get("shell") == "bash", f"step {step.get('id')} shell")
        # script injection: an input spliced into shell text
        check("${{" not in step["run"], f"step {step.get('id')} has an expression in run:")
        for value in (step.get("env") or {}).values():
            for expr in re.findall(r"\$\{\{\s*(.*?)\s*\}\}", str(value)):
                check(allowed.fullmatch(expr), f"expression {expr}")
print("ok")
EOF
expect_exit 0 python3 "$AK_TMP/check-yml.py" "$top/action.yml" "$top/probe/action.yml" &&
  expect_contains "$AK_STDOUT" "ok" && ak_pass

ak_test "the runner refuses an expression in a run: script, and an unknown input"
cat >"$AK_TMP/bad.yml" <<'EOF'
inputs: {x: {default: 'a'}}
runs:
  using: composite
  steps:
    - {id: s, shell: bash, run: 'echo "${{ inputs.x }}"'}
EOF
expect_exit 2 python3 "$runner" "$AK_TMP/bad.yml" &&
  expect_contains "$AK_STDERR" "an expression in run:" &&
  expect_exit 2 python3 "$runner" --input y=1 "$top/action.yml" &&
  expect_contains "$AK_STDERR" "input 'y' is not declared" && ak_pass

if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
  ak_test "sandbox available"
  ak_skip "$(cat "$AK_TMP/why")"
  ak_summary
  exit
fi

# action [--before SCRIPT] [--input NAME=VALUE]...: the action's steps in a fresh sandbox
# with no handlers, after SCRIPT (bash, as root of the sandbox); afterwards
# $AK_TMP/entries lists the entries left in the sandbox's binfmt_misc.
action() {
  local before=true
  if [ "${1:-}" = --before ]; then before=$2; shift 2; fi
  : >"$out"
  : >"$summary"
  rm -f "$report"
  "$AK_BIN" sandbox --platform none -- env GITHUB_OUTPUT="$out" GITHUB_STEP_SUMMARY="$summary" \
    ARCHKIT_BUILD="$(dirname "$AK_BIN")" RUNNER_TEMP="$AK_TMP" BEFORE="$before" \
    RUNNER="$runner" REPORT="$report" ENTRIES="$AK_TMP/entries" \
    bash -c 'eval "$BEFORE" || exit 99
      python3 "$RUNNER" --report "$REPORT" "$@"; rc=$?
      ls '"$BM"' >"$ENTRIES"; exit $rc' bash "$@" "$top/action.yml"
}
# the platforms output, one per line
platforms() { sed -n 's/^platforms=//p' "$out" | tr ',' '\n'; }
has_platform() {
  platforms | grep -qx "$1" && return 0
  ak_fail "output platforms='$(sed -n 's/^platforms=//p' "$out")' lacks $1"
  return 1
}
lacks_platform() {
  platforms | grep -qx "$1" || return 0
  ak_fail "output platforms='$(sed -n 's/^platforms=//p' "$out")' has $1"
  return 1
}

ak_test "platforms: arm64,riscv64 registers both; the output lists them and the natives"
expect_exit 0 action --input platforms=arm64,riscv64 &&
  has_platform linux/amd64 && has_platform linux/386 && has_platform linux/arm64 &&
  has_platform linux/riscv64 && lacks_platform linux/s390x && lacks_platform linux/arm/v7 &&
  expect_contains "$AK_STDOUT" "::group::archkit binfmt install arm64 riscv64" &&
  expect_contains "$AK_STDOUT" "linux/riscv64    qemu-riscv64     missing   register  ok: emulated by qemu-riscv64" &&
  expect_contains "$AK_STDOUT" "::group::archkit verify" &&
  expect_contains "$AK_STDOUT" "::notice title=archkit verify::2 of 2 platforms ran" &&
  expect_contains "$AK_STDOUT" "::group::archkit doctor" &&
  expect_contains "$AK_TMP/entries" "qemu-aarch64" &&
  expect_not_contains "$AK_STDOUT" "::error" &&
  expect_jq '[.steps[].id] == ["inputs","build","install","verify","platforms","doctor","result"] and .failed == null' "$report" &&
  expect_contains "$summary" "| linux/arm64 | emulated by qemu-aarch64 | aarch64 |" &&
  expect_contains "$summary" "| linux/amd64 | native | x86_64 |" &&
  expect_contains "$summary" "Not available here: " &&
  expect_contains "$summary" "<details><summary>archkit doctor: " && ak_pass
cp "$AK_STDOUT" "$AK_TMP/first.stdout"
cp "$summary" "$AK_TMP/first.summary"

ak_test "archkit doctor runs in the action and finds this sandbox healthy"
# a private instance is a warning (its handlers do not reach a Docker daemon), not a fail
expect_contains "$AK_TMP/first.stdout" "platform.smoke_in_root   linux/arm64      ran in a private root" &&
  expect_contains "$AK_TMP/first.stdout" "warn    namespace.user" &&
  expect_contains "$AK_TMP/first.summary" "<details><summary>archkit doctor: healthy</summary>" &&
  expect_contains "$AK_TMP/first.summary" "platform.smoke           linux/riscv64" &&
  expect_not_contains "$AK_TMP/first.stdout" "::warning title=archkit doctor" && ak_pass

ak_test "an unhealthy runner is a doctor warning with the fixes in the summary, not a failure"
# a shadowing entry: doctor fails it, install and verify (which the newer qemu-aarch64
# entry wins) do not
shadow='echo ":zz-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F" >'"$BM"'/register'
expect_exit 0 action --before "$shadow" --input platforms=arm64 &&
  expect_contains "$AK_STDOUT" "::warning title=archkit doctor::this runner is not healthy" &&
  expect_contains "$summary" "<details><summary>archkit doctor: not healthy</summary>" &&
  expect_contains "$summary" "fix: " && ak_pass

ak_test "OCI names, newlines and blanks in platforms work as comma-separated names do"
expect_exit 0 action --input platforms=$'linux/arm64\n  linux/riscv64 ,\n\n' &&
  has_platform linux/arm64 && has_platform linux/riscv64 && lacks_platform linux/s390x &&
  expect_contains "$AK_STDOUT" "::group::archkit binfmt install linux/arm64 linux/riscv64" && ak_pass

ak_test "platforms defaults to all: every platform archkit knows runs, natives included"
expect_exit 0 action &&
  has_platform linux/amd64 && has_platform linux/arm64 && has_platform linux/arm/v7 &&
  has_platform linux/arm/v6 && has_platform linux/s390x && has_platform linux/ppc64le &&
  has_platform linux/mips64le && has_platform linux/loong64 &&
  expect_contains "$AK_STDOUT" "::group::archkit binfmt install all" && ak_pass

ak_test "image and cache-image are accepted and ignored with a notice"
expect_exit 0 action --input platforms=arm64 --input image=tonistiigi/binfmt:qemu-v8.1.5 \
  --input cache-image=false &&
  expect_contains "$AK_STDOUT" "::notice title=archkit::input 'image' is ignored" &&
  expect_contains "$AK_STDOUT" "::notice title=archkit::input 'cache-image' is ignored" &&
  has_platform linux/arm64 && ak_pass

ak_test "without image and cache-image there is no notice about them"
expect_exit 0 action --input platforms=arm64 &&
  expect_not_contains "$AK_STDOUT" "is ignored" && ak_pass

ak_test "reset: true removes qemu-* handlers registered before (others stay)"
pre='"$AK_BIN" binfmt install s390x >/dev/null &&
  echo ":other-s390x:M::\x7fELF\x02\x02\x01:\xff\xff\xff\xff\xff\xff\xff:/bin/true:" >'"$BM"'/register'
expect_exit 0 action --before "$pre" --input platforms=arm64 --input reset=true &&
  expect_contains "$AK_STDOUT" "::group::Removing the qemu-* handlers" &&
  expect_not_contains "$AK_TMP/entries" "qemu-s390x" &&
  expect_contains "$AK_TMP/entries" "other-s390x" &&
  expect_contains "$AK_TMP/entries" "qemu-aarch64" &&
  has_platform linux/arm64 && ak_pass

ak_test "reset: false keeps them, and the output lists what they run"
expect_exit 0 action --before '"$AK_BIN" binfmt install s390x >/dev/null' --input platforms=arm64 &&
  expect_not_contains "$AK_STDOUT" "Removing the qemu-* handlers" &&
  expect_contains "$AK_TMP/entries" "qemu-s390x" &&
  has_platform linux/s390x && has_platform linux/arm64 && ak_pass

# the riscv64 interpreter made unusable inside the sandbox's mount namespace only
hide_riscv='mount --bind /dev/null /usr/bin/qemu-riscv64-static'
ak_test "fail: true (the default): a platform that cannot run fails the step"
expect_exit 1 action --before "$hide_riscv" --input platforms=arm64,riscv64 &&
  expect_contains "$AK_STDOUT" "::error title=archkit verify linux/riscv64::no handler" &&
  expect_contains "$AK_STDOUT" "::error title=archkit::a requested platform does not run here" &&
  expect_contains "$AK_STDERR" "no interpreter for 'riscv64'" &&
  expect_jq '.failed == "result" and ([.steps[].id] | index("doctor")) != null' "$report" &&
  has_platform linux/arm64 && lacks_platform linux/riscv64 && ak_pass

ak_test "fail: false: the same passes with a warning, as setup-qemu-action would"
expect_exit 0 action --before "$hide_riscv" --input platforms=arm64,riscv64 --input fail=false &&
  expect_contains "$AK_STDOUT" "::warning title=archkit::a requested platform does not run here" &&
  expect_not_contains "$AK_STDOUT" "::error title=archkit::" &&
  has_platform linux/arm64 && lacks_platform linux/riscv64 && ak_pass

ak_test "verify: false skips verify and doctor; install's own check still decides"
expect_exit 0 action --input platforms=arm64 --input verify=false &&
  expect_not_contains "$AK_STDOUT" "::group::archkit verify" &&
  expect_not_contains "$AK_STDOUT" "::group::archkit doctor" && has_platform linux/arm64 &&
  expect_exit 1 action --before "$hide_riscv" --input platforms=riscv64 --input verify=false &&
  expect_contains "$AK_STDOUT" "::error title=archkit::a requested platform does not run here" && ak_pass

ak_test "an unknown platform fails the step even with fail: false; so does a bad boolean"
expect_exit 1 action --input platforms=arm64,sparc99 --input fail=false &&
  expect_contains "$AK_STDOUT" "::error title=archkit::install failed with exit 64" &&
  expect_exit 1 action --input reset=yes &&
  expect_contains "$AK_STDOUT" "::error title=archkit::input 'reset' is 'yes': use true or false" &&
  expect_jq '.failed == "inputs"' "$report" && ak_pass

ak_test "an input cannot reach the shell as code"
injected=$AK_TMP/injected
expect_exit 1 action --input "platforms=arm64 \$(touch $injected)" &&
  { [ ! -e "$injected" ] || { ak_fail "the input ran as a command"; false; }; } &&
  expect_contains "$AK_STDERR" "\$(touch" && ak_pass

# ---- probe/action.yml and the README's shell recipe, on a real oci-archive ----
ak_need_images "$IMAGES" honest6.oci-archive.tar stray-amd64-in-arm64
cp "$IMAGES/honest6.oci-archive.tar" "$AK_TMP/image.tar"
# an oci-archive of the stray image, as 'outputs: type=oci,dest=image.tar' writes one
"$top/tests/fixtures/convert" "$IMAGES/stray-amd64-in-arm64" oci-archive "$AK_TMP/stray.tar" >/dev/null 2>&1 ||
  { ak_test "an oci-archive of the stray image"; ak_fail "tests/fixtures/convert failed"; }

ak_test "the README's CI recipes: the workflow uses both actions on an oci export"
# the archkit commands of the shell script and of the GitLab job, as the README has them
cat >"$AK_TMP/check-readme.py" <<'EOF'
import re, sys, yaml
text = open(sys.argv[1]).read()
section = text[text.index("## CI: GitHub Actions, GitLab CI, a shell script"):]
section = section[:section.index("\n## ", 3)]
def fail(msg):
    print("README:", msg)
    sys.exit(1)
docs = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]
workflow = next((d for d in docs if isinstance(d, dict) and "jobs" in d), None) or fail("no workflow")
steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
uses = [s.get("uses", "") for s in steps]
"OWNER/archkit@v1" in uses or fail("the workflow does not use OWNER/archkit@v1")
"OWNER/archkit/probe@v1" in uses or fail("the workflow does not use OWNER/archkit/probe@v1")
buildx = next(i for i, u in enumerate(uses) if u.startswith("docker/setup-buildx-action"))
uses.index("OWNER/archkit@v1") < buildx or fail("QEMU after buildx")
build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action"))
build["with"]["outputs"] == "type=oci,dest=image.tar" or fail("not an oci export")
build["with"]["platforms"] == "linux/amd64,linux/arm64" or fail("platforms")
"load" not in build["with"] or fail("load: true")
probe = next(s for s in steps if s.get("uses") == "OWNER/archkit/probe@v1")
probe["with"]["image"] == "oci-archive:image.tar" or fail("probe's image")
gitlab = next((d for d in docs if isinstance(d, dict) and "check-image" in d), None) or fail("no GitLab job")
lines = [l for l in gitlab["check-image"]["script"] if l.startswith("archkit ")]
shell = re.findall(r"```sh\n(#!/bin/sh.*?)```", section, re.S) or fail("no shell script")
lines += [l.split("  #")[0].strip() for l in shell[0].splitlines() if l.startswith("archkit ")]
len(lines) == 4 or fail(f"archkit commands: {lines}")
open(sys.argv[2], "w").write("set -e\n" + "\n".join(lines) + "\n")
print("ok")
EOF
expect_exit 0 python3 "$AK_TMP/check-readme.py" "$top/README.md" "$AK_TMP/readme-checks.sh" &&
  expect_contains "$AK_STDOUT" "ok" && ak_pass

ak_test "the README's archkit commands pass on a real exported image"
expect_exit 0 bash -c 'cd "$1" && PATH=$(dirname "$2"):$PATH bash readme-checks.sh' bash "$AK_TMP" "$AK_BIN" &&
  expect_contains "$AK_STDOUT" "linux/arm64           1       1      1       0         0     0  pass" &&
  expect_contains "$AK_STDOUT" "6 variants: 6 passed, 0 failed, 0 timed out, 0 not runnable" && ak_pass

ak_test "and fail on an arm64 variant that ships amd64 code"
cp "$AK_TMP/image.tar" "$AK_TMP/good.tar" && cp "$AK_TMP/stray.tar" "$AK_TMP/image.tar"
expect_exit 1 bash -c 'cd "$1" && PATH=$(dirname "$2"):$PATH bash readme-checks.sh' bash "$AK_TMP" "$AK_BIN" &&
  expect_contains "$AK_STDOUT" "wrong-machine        /usr/local/bin/tool" && ak_pass
cp "$AK_TMP/good.tar" "$AK_TMP/image.tar"

# probe [--input NAME=VALUE]...: probe/action.yml with archkit on PATH, from $AK_TMP
probe_action() {
  : >"$out"
  (cd "$AK_TMP" && PATH=$(dirname "$AK_BIN"):$PATH GITHUB_OUTPUT="$out" RUNNER_TEMP="$AK_TMP" \
    python3 "$runner" --report "$report" "$@" "$top/probe/action.yml")
}

ak_test "probe/action.yml: a good image passes, with verify's notice"
expect_exit 0 probe_action --input image=oci-archive:image.tar &&
  expect_contains "$AK_STDOUT" "::group::archkit probe oci-archive:image.tar" &&
  expect_contains "$AK_STDOUT" "::notice title=archkit verify::oci-archive:image.tar: 6 variants: 6 passed" &&
  expect_not_contains "$AK_STDOUT" "::error" && ak_pass

ak_test "probe/action.yml: the stray amd64 binary is an error annotation and fails the step"
expect_exit 1 probe_action --input image=oci-archive:stray.tar &&
  expect_contains "$AK_STDOUT" "::error title=archkit probe linux/arm64%3A wrong-machine::/usr/local/bin/tool: found x86-64" &&
  expect_contains "$AK_STDOUT" "::group::archkit verify oci-archive:stray.tar" && ak_pass

ak_test "probe/action.yml: platforms and command reach verify; a failing command fails"
expect_exit 0 probe_action --input image=oci-archive:image.tar --input $'platforms=arm64\nlinux/s390x' \
  --input "command=sh -c 'uname -m | grep -q .'" &&
  expect_contains "$AK_STDOUT" "2 variants: 2 passed" &&
  expect_exit 1 probe_action --input image=oci-archive:image.tar --input platforms=arm64 \
    --input "command=sh -c 'echo \"50% done\" >&2; exit 3'" &&
  expect_contains "$AK_STDOUT" "::error title=archkit verify linux/arm64::failed: exit status 3%0Astderr:%0A50%25 done" && ak_pass

ak_test "probe/action.yml: an image that cannot be read fails with an error"
expect_exit 1 probe_action --input image=oci-archive:missing.tar --input verify=false &&
  expect_contains "$AK_STDOUT" "::error title=archkit probe::could not read the image (exit 2)" && ak_pass

ak_summary
