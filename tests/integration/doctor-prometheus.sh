#!/usr/bin/env bash
# archkit doctor --format prometheus, read by the real consumers: Debian's
# python3-prometheus-client parses what doctor writes, and Debian's
# prometheus-node-exporter, started here on 127.0.0.1 with only its textfile collector,
# serves it from the --output folder. doctor runs in 'archkit sandbox' (a private
# binfmt_misc); the host's own is never written.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
export BM=/proc/sys/fs/binfmt_misc
PROM=$AK_TMP/textfile
mkdir -p "$PROM"
export PROM

# sb SCRIPT: run a bash script inside a fresh sandbox with no handlers registered
sb() { "$AK_BIN" sandbox --platform none -- bash -c "set -u; $1"; }

exporter_pid=
stop_exporter() {
  [ -n "$exporter_pid" ] || return 0
  kill "$exporter_pid" 2>/dev/null
  wait "$exporter_pid" 2>/dev/null
  exporter_pid=
}
trap 'rc=$?; stop_exporter; (exit $rc); _ak_exit' EXIT

ak_need_sandbox_qemu

# Debian's python3, where python3-prometheus-client installs (a pyenv or venv python3
# earlier in PATH has its own modules)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# parse FILE: the metrics in FILE as prometheus_client reads them, one line per sample
# ("name{k=v,...} value", labels sorted); fails when the parser rejects the text
parse() {
  "$PY" - "$1" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding="utf-8").read()
for fam in text_string_to_metric_families(text):
    assert fam.type == "gauge", (fam.name, fam.type)
    assert fam.documentation, fam.name
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %s" % (s.name, labels, repr(float(s.value))))
EOF
}

ak_test "python3-prometheus-client is installed"
if "$PY" -c 'import prometheus_client.parser' 2>"$AK_TMP/err"; then
  have_client=1
  ak_pass
else
  have_client=
  ak_skip "no prometheus_client for $PY (apt-get install python3-prometheus-client)"
fi

ak_test "healthy: --output writes the textfile atomically, 0644, nothing else left in the folder"
before=$(date +%s)
expect_exit 0 sb '$AK_BIN binfmt install all >/dev/null && umask 077 &&
  $AK_BIN doctor --format prometheus --output $PROM/archkit.prom' &&
  [ ! -s "$AK_STDOUT" ] || ak_fail "doctor printed to stdout with --output: $(head -3 "$AK_STDOUT")"
ls -A "$PROM" >"$AK_TMP/ls"
[ "$(cat "$AK_TMP/ls")" = archkit.prom ] || ak_fail "the folder holds: $(tr '\n' ' ' <"$AK_TMP/ls")"
[ "$(stat -c %a "$PROM/archkit.prom" 2>/dev/null)" = 644 ] ||
  ak_fail "mode $(stat -c %a "$PROM/archkit.prom" 2>/dev/null), not 644"
expect_contains "$PROM/archkit.prom" "# TYPE archkit_check_ok gauge" &&
  expect_contains "$PROM/archkit.prom" 'archkit_platform_ok{platform="linux/arm64",how="emulated"} 1' &&
  expect_contains "$PROM/archkit.prom" "archkit_doctor_healthy 1" && ak_pass

ak_test "the textfile parses with prometheus_client: checks, platforms, QEMU versions, the run's time"
if [ -z "$have_client" ]; then
  ak_skip "no prometheus_client"
elif parse "$PROM/archkit.prom" >"$AK_TMP/samples" 2>"$AK_TMP/err"; then
  now=$(date +%s)
  ts=$(sed -n 's/^archkit_doctor_last_run_timestamp_seconds{} //p' "$AK_TMP/samples")
  expect_contains "$AK_TMP/samples" 'archkit_platform_ok{how=emulated,platform=linux/arm64} 1.0' &&
    expect_contains "$AK_TMP/samples" 'archkit_platform_ok{how=emulated,platform=linux/riscv64} 1.0' &&
    expect_contains "$AK_TMP/samples" 'archkit_platform_ok{how=native,platform=linux/amd64} 1.0' &&
    expect_contains "$AK_TMP/samples" 'archkit_check_ok{check=handler.enabled,entry=qemu-aarch64,platform=linux/arm64} 1.0' &&
    expect_contains "$AK_TMP/samples" 'archkit_check_ok{check=kernel.version} 1.0' &&
    expect_contains "$AK_TMP/samples" 'archkit_check_status{check=kernel.version,status=pass} 1.0' &&
    expect_contains "$AK_TMP/samples" 'archkit_doctor_healthy{} 1.0' &&
    expect_contains "$AK_TMP/samples" 'archkit_doctor_checks{status=fail} 0.0' &&
    grep -Eq '^archkit_qemu_info\{entry=qemu-aarch64,platform=linux/arm64,version=[0-9]+\.[0-9]+[^}]*\} 1\.0$' "$AK_TMP/samples" ||
    ak_fail "no archkit_qemu_info for linux/arm64: $(grep qemu_info "$AK_TMP/samples" | head -3)"
  # every check of the run is there once (a duplicate series would be refused)
  dups=$(grep '^archkit_check_ok{' "$AK_TMP/samples" | sed 's/ [^ ]*$//' | sort | uniq -d)
  [ -z "$dups" ] || ak_fail "repeated series: $dups"
  awk -v t="${ts%.0}" -v b="$before" -v n="$now" 'BEGIN { exit !(t >= b && t <= n) }' ||
    ak_fail "archkit_doctor_last_run_timestamp_seconds '$ts' is not between $before and $now"
  ak_pass
else
  ak_fail "prometheus_client rejects the textfile: $(tail -3 "$AK_TMP/err")"
fi

ak_test "unhealthy: a disabled entry reads 0 for its check and its platform, the file is still written, exit 1"
cp "$PROM/archkit.prom" "$AK_TMP/healthy.prom"
expect_exit 1 sb '$AK_BIN binfmt install arm64 >/dev/null && echo 0 > $BM/qemu-aarch64 &&
  $AK_BIN doctor --platform arm64 --format prometheus --output $PROM/archkit.prom' &&
  expect_contains "$PROM/archkit.prom" 'archkit_check_ok{check="handler.enabled",entry="qemu-aarch64",platform="linux/arm64"} 0' &&
  expect_contains "$PROM/archkit.prom" 'archkit_check_status{check="handler.enabled",entry="qemu-aarch64",platform="linux/arm64",status="fail"} 1' &&
  expect_contains "$PROM/archkit.prom" 'archkit_platform_ok{platform="linux/arm64",how="none"} 0' &&
  expect_contains "$PROM/archkit.prom" "archkit_doctor_healthy 0" &&
  { [ -z "$have_client" ] || parse "$PROM/archkit.prom" >/dev/null 2>"$AK_TMP/err" ||
    ak_fail "prometheus_client rejects it: $(tail -2 "$AK_TMP/err")"; } && ak_pass

ak_test "an --output that cannot be written: exit 2, one line naming it, the old file kept"
cp "$PROM/archkit.prom" "$AK_TMP/before.prom"
mkdir -p "$PROM/taken.prom/x"
expect_exit 2 "$AK_BIN" doctor --platform arm64 --mount-dir "$AK_TMP/none" --format prometheus \
  --output "$PROM/taken.prom" &&
  expect_contains "$AK_STDERR" "cannot write '$PROM/taken.prom'" &&
  expect_exit 2 "$AK_BIN" doctor --platform arm64 --mount-dir "$AK_TMP/none" --format prometheus \
    --output "$AK_TMP/no/such/dir/archkit.prom" &&
  expect_contains "$AK_STDERR" "cannot write '$AK_TMP/no/such/dir/archkit.prom': No such file or directory" &&
  cmp -s "$PROM/archkit.prom" "$AK_TMP/before.prom" || ak_fail "the old textfile changed"
rm -rf "$PROM/taken.prom"
[ "$(ls -A "$PROM")" = archkit.prom ] || ak_fail "left in the folder: $(ls -A "$PROM" | tr '\n' ' ')"
[ "$AK_STATE" = failed ] || ak_pass

# free_port: a TCP port on 127.0.0.1 that nothing listens on now
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ak_test "Debian's prometheus-node-exporter serves the textfile (only its textfile collector, on 127.0.0.1)"
exporter=$(command -v prometheus-node-exporter || true)
if [ -z "$exporter" ]; then
  ak_skip "no prometheus-node-exporter (apt-get install prometheus-node-exporter)"
elif ! command -v curl >/dev/null; then
  ak_skip "no curl"
else
  cp "$AK_TMP/healthy.prom" "$PROM/archkit.prom"
  port=$(free_port)
  "$exporter" --web.listen-address="127.0.0.1:$port" --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory="$PROM" >"$AK_TMP/exporter.log" 2>&1 &
  exporter_pid=$!
  up=
  for _ in $(seq 1 100); do
    if curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" >"$AK_TMP/metrics" 2>/dev/null; then
      up=1
      break
    fi
    kill -0 "$exporter_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$up" ]; then
    ak_fail "node_exporter did not serve /metrics on 127.0.0.1:$port: $(tail -3 "$AK_TMP/exporter.log")"
  else
    # node_exporter sorts labels by name and reports its own reading of each file
    expect_contains "$AK_TMP/metrics" 'archkit_platform_ok{how="emulated",platform="linux/arm64"} 1' &&
      expect_contains "$AK_TMP/metrics" 'archkit_check_ok{check="handler.enabled",entry="qemu-aarch64",platform="linux/arm64"} 1' &&
      expect_contains "$AK_TMP/metrics" 'archkit_doctor_healthy 1' &&
      expect_contains "$AK_TMP/metrics" '# HELP archkit_check_ok Whether an archkit doctor check is healthy' &&
      expect_contains "$AK_TMP/metrics" 'node_textfile_scrape_error 0' &&
      expect_contains "$AK_TMP/metrics" "node_textfile_mtime_seconds{file=\"$PROM/archkit.prom\"}" &&
      expect_not_contains "$AK_TMP/exporter.log" "level=error" &&
      # a new run replaces what it serves (the unhealthy one written over the healthy one)
      sb '$AK_BIN binfmt install arm64 >/dev/null && echo 0 > $BM/qemu-aarch64 &&
        $AK_BIN doctor --platform arm64 --format prometheus --output $PROM/archkit.prom' >/dev/null
    curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" >"$AK_TMP/metrics2" 2>/dev/null
    [ "$AK_STATE" = failed ] ||
      { expect_contains "$AK_TMP/metrics2" 'archkit_doctor_healthy 0' &&
        expect_contains "$AK_TMP/metrics2" 'node_textfile_scrape_error 0' && ak_pass; }
  fi
  stop_exporter
fi

ak_summary
