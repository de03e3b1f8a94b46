# shellcheck shell=bash disable=SC2034 # the RL_* arrays are read by the scripts that source this
# Local registries and the servers around them, for tests/integration/registry.sh and
# bench/registry. Everything listens on 127.0.0.1 only, on a port the kernel picked,
# keeps its files under one directory, and is stopped by the pid it was started with.
#
#   rl_init DIR                     # where registries and servers keep their files
#   why=$(rl_missing) && skip "$why"   # a tool that is not installed, if any
#   rl_registry NAME [--htpasswd USER PASS] [--tls] [--schema1]
#                                   # Debian's docker-registry; RL_PORT[NAME], RL_URL[NAME]
#   rl_push NAME SRC REPO:TAG [SKOPEO_ARGS...]   # skopeo copy --all SRC docker://...
#   rl_server NAME SCRIPT ARGS...   # servers/SCRIPT.py; RL_PORT[NAME], RL_LOG[NAME]
#   rl_blob_file NAME DIGEST        # the blob's data file in NAME's storage
#   rl_blob_gets LOG DIGEST...      # how many GETs of those blobs LOG records
#   rl_layers OCI_DIR               # the layer digests of every manifest in a layout
#   rl_stop_all                     # stops every registry and server started here
#
# A caller's EXIT trap must call rl_stop_all (servers also stop by themselves after
# RL_LIFETIME seconds, default 900, so none outlives a killed test for long).

RL_DIR=
RL_PIDS=()
RL_LIFETIME=${RL_LIFETIME:-900}
RL_SERVERS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/servers
declare -A RL_PORT RL_URL RL_LOG RL_STORAGE RL_CONF RL_PID

rl_init() {
	RL_DIR=$1
	mkdir -p "$RL_DIR"
}

# rl_missing: prints what this machine lacks to run local registries, and returns 0;
# returns 1 (printing nothing) when everything is there.
rl_missing() {
	local t
	for t in docker-registry skopeo htpasswd python3 curl jq openssl; do
		if ! command -v "$t" >/dev/null; then
			echo "'$t' is not installed (apt-get install docker-registry skopeo apache2-utils python3 curl jq openssl)"
			return 0
		fi
	done
	return 1
}

# _rl_free_port: a port nobody listens on now (the kernel's pick for port 0).
_rl_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# _rl_wait_http URL PID: waits (10 s at most) until URL answers anything HTTP.
_rl_wait_http() {
	local i code
	for ((i = 0; i < 100; i++)); do
		kill -0 "$2" 2>/dev/null || return 1
		code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 2 "$1") || code=000
		[ "$code" != 000 ] && return 0
		sleep 0.1
	done
	return 1
}

# rl_registry NAME [--htpasswd USER PASS] [--tls] [--schema1]: starts docker-registry
# with its own config and storage under $RL_DIR/NAME. --htpasswd: Basic auth against
# an htpasswd file (bcrypt); --tls: https with a self-signed certificate for
# 127.0.0.1; --schema1: it takes Docker schema 1 manifests too.
rl_registry() {
	local name=$1 dir=$RL_DIR/$1 user='' pass='' tls='' schema1='' port pid scheme=http
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--htpasswd) user=$2 pass=$3; shift 3 ;;
		--tls) tls=1; shift ;;
		--schema1) schema1=1; shift ;;
		*) echo "rl_registry: unknown option '$1'" >&2; return 2 ;;
		esac
	done
	mkdir -p "$dir/storage"
	if [ -n "$user" ]; then
		htpasswd -Bbn "$user" "$pass" >"$dir/htpasswd" 2>/dev/null || return 1
	fi
	if [ -n "$tls" ]; then
		scheme=https
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
			-addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
			>/dev/null 2>&1 || return 1
	fi
	# another process may take the port between the pick and the bind: try again
	for _ in 1 2 3 4 5; do
		port=$(_rl_free_port) || return 1
		{
			cat <<-EOF
				version: 0.1
				log:
				  level: info
				  formatter: text
				  accesslog:
				    disabled: false
				storage:
				  filesystem:
				    rootdirectory: $dir/storage
				  delete:
				    enabled: true
				  maintenance:
				    uploadpurging:
				      enabled: false
				http:
				  addr: 127.0.0.1:$port
				  secret: archkit-test-$RANDOM$RANDOM
			EOF
			if [ -n "$tls" ]; then
				printf '  tls:\n    certificate: %s\n    key: %s\n' "$dir/cert.pem" "$dir/key.pem"
			fi
			if [ -n "$schema1" ]; then
				printf 'compatibility:\n  schema1:\n    enabled: true\n'
			fi
			if [ -n "$user" ]; then
				printf 'auth:\n  htpasswd:\n    realm: archkit-test\n    path: %s\n' "$dir/htpasswd"
			fi
		} >"$dir/config.yml"
		docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 &
		pid=$!
		RL_PIDS+=("$pid")
		if _rl_wait_http "$scheme://127.0.0.1:$port/v2/" "$pid"; then
			RL_PORT[$name]=$port RL_URL[$name]=$scheme://127.0.0.1:$port RL_LOG[$name]=$dir/log
			RL_STORAGE[$name]=$dir/storage RL_CONF[$name]=$dir/config.yml RL_PID[$name]=$pid
			return 0
		fi
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	echo "rl_registry: docker-registry did not start: $(tail -n 3 "$dir/log" | tr '\n' ' ')" >&2
	return 1
}

# rl_push NAME SRC REPO:TAG [SKOPEO_ARGS...]: every image of SRC (oci:DIR:TAG, ...) into
# registry NAME, as 'docker buildx build --push' leaves it; with --override-arch ARCH
# in SKOPEO_ARGS, that platform's image alone.
rl_push() {
	local name=$1 src=$2 dest=$3 all=--all
	shift 3
	[[ " $* " = *" --override-arch "* ]] && all=
	skopeo copy -q $all --dest-tls-verify=false "$@" "$src" \
		"docker://127.0.0.1:${RL_PORT[$name]}/$dest" >>"$RL_DIR/push.log" 2>&1 || {
		echo "rl_push: skopeo copy $src to $name/$dest failed: $(tail -n 2 "$RL_DIR/push.log" | tr '\n' ' ')" >&2
		return 1
	}
}

# rl_server NAME SCRIPT ARGS...: starts servers/SCRIPT.py (proxy, token_service,
# blobstore) with a request log at $RL_DIR/NAME.log; waits for the port it bound.
rl_server() {
	local name=$1 script=$RL_SERVERS/$2.py pf=$RL_DIR/$1.port pid i
	shift 2
	rm -f "$pf"
	: >"$RL_DIR/$name.log"
	PYTHONDONTWRITEBYTECODE=1 python3 "$script" --port-file "$pf" --log "$RL_DIR/$name.log" \
		--lifetime "$RL_LIFETIME" "$@" >"$RL_DIR/$name.out" 2>&1 &
	pid=$!
	RL_PIDS+=("$pid")
	for ((i = 0; i < 100; i++)); do
		if [ -s "$pf" ]; then
			RL_PORT[$name]=$(cat "$pf") RL_URL[$name]=http://127.0.0.1:$(cat "$pf")
			RL_LOG[$name]=$RL_DIR/$name.log RL_PID[$name]=$pid
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "rl_server: $name ($script) did not start: $(tail -n 3 "$RL_DIR/$name.out" | tr '\n' ' ')" >&2
	return 1
}

# rl_stop NAME: stops one registry or server.
rl_stop() {
	local pid=${RL_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "RL_PID[$1]"
}

rl_stop_all() {
	local pid
	for pid in "${RL_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${RL_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	RL_PIDS=()
}

# rl_blob_file NAME DIGEST: where registry NAME keeps the bytes of blob DIGEST.
rl_blob_file() {
	local hex=${2#sha256:}
	echo "${RL_STORAGE[$1]}/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

# rl_blob_gets LOG DIGEST...: the GETs of these blobs that LOG records as answered
# with the bytes or a redirect to them (200, 206, 307), from a registry's access log
# or a server's JSON log.
rl_blob_gets() {
	local log=$1 d n=0 c
	shift
	for d in "$@"; do
		if [ "$(head -c 1 "$log")" = '{' ]; then
			c=$(jq -s --arg d "$d" '[.[] | select(.method == "GET" and (.path | test("/blobs/" + $d)) and
				(.status == 200 or .status == 206 or .status == 307))] | length' "$log")
		else
			c=$(grep -cE "^[0-9.]+ - .*\"GET /v2/[^ ]+/blobs/$d HTTP/[0-9.]+\" (200|206|307) " "$log")
		fi
		n=$((n + c))
	done
	echo "$n"
}

# rl_layers OCI_DIR: the layer digests of every image manifest in the layout (nested
# indexes followed), one a line, each once.
rl_layers() {
	local top=$1
	_rl_walk() {
		local doc=$1 d
		for d in $(jq -r '.manifests[]?.digest' "$doc"); do
			_rl_walk "$top/blobs/sha256/${d#sha256:}"
		done
		jq -r '.layers[]?.digest' "$doc"
	}
	_rl_walk "$top/index.json" | sort -u
}
