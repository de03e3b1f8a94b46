#!/usr/bin/env bash
# archkit doctor's docker checks. No docker daemon can run on the machines these tests run
# on, so tests/integration/fake-docker/docker stands in for the docker command, first in
# PATH: it prints what docker 24-27 and buildx 0.12+ print, recorded per scenario. doctor
# runs in 'archkit sandbox' after 'binfmt install all', so the builders are held against
# platforms that really run. A real docker client, where there is one, is also asked
# with a daemon socket that is not there.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
FAKE=$top/tests/integration/fake-docker
REAL_PATH=$PATH

# sb SCRIPT ARGS...: a bash script in a fresh sandbox with no handlers, ARGS as its "$@"
sb() { "$AK_BIN" sandbox --platform none -- bash -c "set -u; $1" bash "${@:2}"; }

ak_need_sandbox_qemu

# with_docker SCENARIO ARGS...: doctor ARGS after 'binfmt install all', the fake docker
# playing SCENARIO; stdout, stderr and the exit status as expect_exit leaves them
with_docker() {
  local scenario=$1
  shift
  PATH=$FAKE:$REAL_PATH FAKE_DOCKER_SCENARIO=$FAKE/$scenario FAKE_DOCKER_LOG=$AK_TMP/docker.log \
    sb '$AK_BIN binfmt install all >/dev/null && exec $AK_BIN doctor "$@"' "$@"
}

ak_test "docker 27 with the containerd store and fresh builders: every docker check passes"
expect_exit 0 with_docker healthy &&
  expect_contains "$AK_STDOUT" "pass    docker.daemon" &&
  expect_contains "$AK_STDOUT" "docker daemon 27.3.1 answers (storage driver overlayfs)" &&
  expect_contains "$AK_STDOUT" "pass    docker.rootless" &&
  expect_contains "$AK_STDOUT" "pass    docker.image_store" &&
  expect_contains "$AK_STDOUT" "builder 'multiarch' (driver docker-container) lists every platform that runs here" &&
  expect_contains "$AK_STDOUT" "builder 'default' (driver docker) lists every platform that runs here" &&
  expect_not_contains "$AK_STDOUT" "fail    docker." && ak_pass

ak_test "a builder started before registration: the current one fails, naming the platforms and the fix"
expect_exit 1 with_docker stale --json &&
  expect_jq '.checks[] | select(.id == "docker.builder" and .entry == "builder") |
    .status == "fail" and (.detail | contains("lacks linux/arm64, linux/arm/v7, linux/arm/v6, linux/ppc64le, linux/s390x, linux/riscv64, which run here"))
    and .fix == "docker buildx rm builder && docker buildx create --name builder --driver docker-container --use"' &&
  expect_jq '.checks[] | select(.id == "docker.builder" and .entry == "stopped") | .status == "info"' &&
  expect_jq '.checks[] | select(.id == "docker.builder" and .entry == "default") | .status == "pass"' &&
  expect_jq '.checks[] | select(.id == "docker.image_store") | .status == "warn" and
    (.detail | contains("docker exporter does not currently support exporting manifest lists")) and
    (.fix | startswith("{\"features\":{\"containerd-snapshotter\":true}} in /etc/docker/daemon.json"))' && ak_pass

ak_test "rootless docker: warned that the host must hold the handlers; its daemon builder refreshes by restart"
expect_exit 1 with_docker rootless &&
  expect_contains "$AK_STDOUT" "warn    docker.rootless" &&
  expect_contains "$AK_STDOUT" "  fix: sudo archkit binfmt install all (on the host, as root)" &&
  expect_contains "$AK_STDOUT" "fail    docker.builder           rootless" &&
  expect_contains "$AK_STDOUT" "  fix: systemctl --user restart docker" &&
  expect_contains "$AK_STDOUT" "info    docker.builder           arm-farm" && ak_pass

ak_test "a docker command without a daemon: a warning with the fix, the rest skipped, still healthy"
expect_exit 0 with_docker down --platform arm64 &&
  expect_contains "$AK_STDOUT" "warn    docker.daemon" &&
  expect_contains "$AK_STDOUT" "found no daemon: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" &&
  expect_contains "$AK_STDOUT" "  fix: sudo systemctl start docker (or set DOCKER_HOST to the daemon's socket)" &&
  expect_contains "$AK_STDOUT" "skipped docker.builder" && ak_pass

ak_test "no buildx plugin: docker.builder skipped, saying why"
expect_exit 0 with_docker nobuildx --platform arm64 &&
  expect_contains "$AK_STDOUT" "skipped docker.builder           -                'docker buildx ls' failed: docker: 'buildx' is not a docker command." && ak_pass

ak_test "a daemon that never answers: doctor gives up at --timeout and leaves no docker process behind"
: >"$AK_TMP/docker.log"
start=$(date +%s%N)
expect_exit 0 with_docker slow --platform arm64 --timeout 500 &&
  expect_contains "$AK_STDOUT" "did not answer in time (500 ms)"
took_ms=$((($(date +%s%N) - start) / 1000000))
[ "$took_ms" -lt 10000 ] || ak_fail "doctor took $took_ms ms"
pid=$(awk 'NR == 1 { print $1 }' "$AK_TMP/docker.log")
if [ -z "$pid" ]; then
  ak_fail "the fake docker was not run"
else
  for _ in $(seq 1 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.02; done
  ! kill -0 -- "-$pid" 2>/dev/null || ak_fail "docker's process group $pid is still there"
fi
[ "$AK_STATE" = failed ] || ak_pass

ak_test "no docker command: the docker checks are skipped with the reason"
mkdir -p "$AK_TMP/bin"
if PATH=$AK_TMP/bin:/usr/bin:/bin command -v docker >/dev/null; then
  ak_skip "a docker command in /usr/bin or /bin"
else
  expect_exit 0 env PATH="$AK_TMP/bin:/usr/bin:/bin" "$AK_BIN" sandbox --platform none -- \
    bash -c '$AK_BIN binfmt install arm64 >/dev/null && exec $AK_BIN doctor --platform arm64' &&
    expect_contains "$AK_STDOUT" "skipped docker.daemon            -                no 'docker' command in \$PATH" &&
    expect_contains "$AK_STDOUT" "skipped docker.image_store       -                no docker command" && ak_pass
fi

ak_test "a real docker client whose daemon socket is not there"
real=$(PATH=$REAL_PATH command -v docker || true)
if [ -z "$real" ] || [ "$real" = "$FAKE/docker" ]; then
  ak_skip "no docker client installed"
else
  expect_exit 0 env DOCKER_HOST="unix://$AK_TMP/no-daemon.sock" DOCKER_CONFIG="$AK_TMP/docker-config" \
    "$AK_BIN" sandbox --platform none -- \
    bash -c '$AK_BIN binfmt install arm64 >/dev/null && exec $AK_BIN doctor --platform arm64' &&
    expect_contains "$AK_STDOUT" "warn    docker.daemon" &&
    expect_contains "$AK_STDOUT" "found no daemon: Cannot connect to the Docker daemon at unix://$AK_TMP/no-daemon.sock" && ak_pass
fi

ak_summary
