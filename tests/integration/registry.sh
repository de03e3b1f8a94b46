#!/usr/bin/env bash
# archkit probe and verify on docker:// images (issue 9), against Debian's docker-registry
# started here on 127.0.0.1 with its own config and storage, and the small servers of
# tests/integration/servers/ in front of it: a Bearer token service and a proxy that
# demands its tokens, a redirect to another host that refuses Authorization as S3 does,
# and servers that drop, stall or answer 429. The sample images (real Debian binaries)
# are pushed with 'skopeo copy --all'; every verdict is compared with the probe of the
# same image's OCI layout. Every run is bounded in time, and no output of any run may
# hold a password, a base64 auth or a token.
#
#   AK_BIN=/tmp/build-x/archkit bash tests/integration/registry.sh
# AK_IMAGES=DIR keeps the sample images between runs (default: the test cache).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
. "$top/tests/integration/registry-lib.sh"
AK_BIN=$(realpath -m "${AK_BIN:-$top/build/archkit}") # the tests run in their own folder
export AK_BIN
export AK_CACHE=${AK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/archkit-tests}
IMAGES=${AK_IMAGES:-$AK_CACHE/images}
oci() { python3 "$top/tests/integration/lib-oci.py" "$@"; }
# flip FILE OFFSET: the byte at OFFSET inverted, the size kept
flip() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}
trap 'rc=$?; rl_stop_all; (exit $rc); _ak_exit' EXIT

ak_test "docker-registry, skopeo and htpasswd are here to run local registries"
if why=$(rl_missing); then
	ak_skip "$why"
	ak_summary
	exit
fi
ak_pass

names=(honest6 honest6-zstd mislabeled-arm64 mislabeled-arm64-as-amd64 stray-amd64-in-arm64
	armel-in-armv7 missing-loader identical-layers whiteout-removes-bad with-attestation dynamic
	honest-arm64)
ak_need_images "$IMAGES" "${names[@]}"

# Nothing of the user's: no ~/.docker, no containers auth.json, no layer cache of theirs.
export HOME=$AK_TMP/home XDG_CACHE_HOME=$AK_TMP/xdg-cache XDG_RUNTIME_DIR=$AK_TMP/xdg-run
export XDG_CONFIG_HOME=$AK_TMP/xdg-config
unset DOCKER_CONFIG REGISTRY_AUTH_FILE GITHUB_TOKEN
mkdir -p "$HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME"
work=$AK_TMP/work
mkdir -p "$work"
cd "$work" || exit 2
rl_init "$AK_TMP/reg"

# The secrets of this run; run() fails any run whose output holds one.
USER_=alice
PW=pw-Zq7-$RANDOM$RANDOM-s3cret
B64=$(printf '%s:%s' "$USER_" "$PW" | base64 -w0)
REFRESH=rt-$RANDOM$RANDOM-refresh
TOKSECRET=hmac-$RANDOM$RANDOM
secrets=$AK_TMP/secrets
printf '%s\n' "$PW" "$B64" "$REFRESH" >"$secrets"

# The probes of the same image from an OCI layout and from a registry must each read
# their blobs, not the layer cache: --no-cache where this archkit has it.
nocache=()
"$AK_BIN" probe --help 2>/dev/null | grep -q -- '--no-cache' && nocache=(--no-cache)
TV=--tls-verify=false

# run WANT CMD...: CMD with stdout in $AK_STDOUT and stderr in $AK_STDERR, under
# timeout. Checks the exit status (WANT, or one of WANT's "0|1"), that it neither hung
# nor crashed, that an exit 2 says why in one 'archkit: ' line (the last, after any
# --verbose lines), and that no secret of this run (passwords, base64 auths, refresh
# tokens, every token the token services issued) is anywhere in the output. Sets
# run_rc and run_ms.
run() {
	local want=$1 rc=0 t0 pat=$AK_TMP/secret-patterns
	shift
	t0=$EPOCHREALTIME
	timeout -k 5 "${RUN_TIMEOUT:-120}" "$@" >"$AK_STDOUT" 2>"$AK_STDERR" </dev/null || rc=$?
	run_ms=$(((${EPOCHREALTIME//[!0-9]/} - ${t0//[!0-9]/}) / 1000))
	run_rc=$rc
	local verbose='' shown=${*//"$PW"/***}
	printf '%s\n' "$@" | grep -qx -- '-v\|--verbose' && verbose=1
	set -- "$shown" # the command as the messages below show it
	cat "$secrets" "$RL_DIR"/tokens-*.txt 2>/dev/null | grep -v '^$' >"$pat"
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		ak_fail "'$*' hung: killed by timeout after ${run_ms} ms"
	elif [ $rc -ge 128 ]; then
		ak_fail "'$*' crashed: signal $((rc - 128))"
	elif grep -qE "Sanitizer|runtime error:" "$AK_STDERR"; then
		ak_fail "'$*': sanitizer report"
	elif grep -qF -f "$pat" "$AK_STDOUT" "$AK_STDERR"; then
		# where, not what: the output is not shown either
		ak_fail "a secret is in the output of '$*': $(grep -cF -f "$pat" "$AK_STDOUT") line(s) of stdout, $(grep -cF -f "$pat" "$AK_STDERR") of stderr"
		return 1
	elif [[ "|$want|" != *"|$rc|"* ]]; then
		ak_fail "'$*' exited $rc, expected $want"
	elif [ $rc = 2 ] && ! tail -n 1 "$AK_STDERR" | grep -q '^archkit: '; then
		ak_fail "exit 2 without an 'archkit: ' line last on stderr"
	elif [ $rc = 2 ] && [ -z "$verbose" ] && [ "$(wc -l <"$AK_STDERR")" != 1 ]; then
		ak_fail "exit 2 with more than one line on stderr"
	else
		return 0
	fi
	_ak_show stdout "$AK_STDOUT"
	_ak_show stderr "$AK_STDERR"
	return 1
}
probe() { run "$1" "$AK_BIN" probe "${@:2}"; }

# reg NAME REPO[:TAG|@DIGEST]: the docker:// reference of REPO on registry NAME
reg() { echo "docker://127.0.0.1:${RL_PORT[$1]}/$2"; }

# err_says ERE: stderr's last line matches ERE (case-insensitive)
err_says() {
	tail -n 1 "$AK_STDERR" | grep -qiE -- "$1" && return 0
	ak_fail "the error does not match /$1/: $(tail -n 1 "$AK_STDERR")"
	return 1
}

# within MS: the last run took less than MS milliseconds
within() {
	[ "$run_ms" -lt "$1" ] && return 0
	ak_fail "took $run_ms ms, more than $1"
	return 1
}

# What is compared between an OCI layout's report and a registry's: the verdict and
# everything it rests on, not where the image came from.
CANON='{ok, skipped_attestations, variants: ([.variants[] | {platform, index_platform,
	config_platform, verdict, counts, elf_files, files, layers, manifest, findings, removed}] |
	sort_by(.platform))}'
# Docker media types: the same layers, manifests of other bytes
CANON_DOCKER='{ok, variants: ([.variants[] | {platform, index_platform, config_platform, verdict,
	counts, elf_files, files, layers, findings, removed}] | sort_by(.platform))}'
# one manifest, no index: no index platform either
CANON_SINGLE='{ok, variants: ([.variants[] | {platform, config_platform, verdict, counts,
	elf_files, files, layers, findings, removed}] | sort_by(.platform))}'

# want KEY ARGS...: the OCI-side probe --json ARGS, kept as KEY's expectation
want() {
	local key=$1
	shift
	probe '0|1' --json "${nocache[@]}" "$@" || return 1
	cp "$AK_STDOUT" "$AK_TMP/want-$key.json"
	echo "$run_rc" >"$AK_TMP/want-$key.rc"
}
# same KEY ARGS...: probe --json ARGS (a registry) exits as KEY's OCI probe did and its
# report, seen through $canon (default CANON), is the same
same() {
	local key=$1 f=${canon:-$CANON}
	shift
	[ -s "$AK_TMP/want-$key.json" ] || want "$key" "$IMAGES/$key" || return 1
	probe "$(cat "$AK_TMP/want-$key.rc")" --json "$@" || return 1
	jq -S "$f" "$AK_TMP/want-$key.json" >"$AK_TMP/a.json"
	if ! jq -S "$f" "$AK_STDOUT" >"$AK_TMP/b.json" 2>/dev/null; then
		ak_fail "not a probe report: $(head -c 200 "$AK_STDOUT")"
		return 1
	fi
	cmp -s "$AK_TMP/a.json" "$AK_TMP/b.json" && return 0
	ak_fail "the registry's report differs from the OCI layout's ($key):"
	diff -u "$AK_TMP/a.json" "$AK_TMP/b.json" | sed -n '3,24p' | sed 's/^/#     /'
	return 1
}

# gets LOG OCI_DIR: how many of the layout's layers LOG shows downloaded
gets() {
	# shellcheck disable=SC2046
	rl_blob_gets "$1" $(rl_layers "$2")
}
# expect_gets N LOG OCI_DIR
expect_gets() {
	local n
	n=$(gets "$2" "$3")
	[ "$n" = "$1" ] && return 0
	ak_fail "$n layer blob downloads in ${2##*/}, expected $1"
	return 1
}
# mark LOG: remembers where LOG ends now; since LOG prints what was added after it
mark() { wc -l <"$1" >"$1.mark"; }
since() { tail -n +"$(($(cat "$1.mark") + 1))" "$1" >"$1.new"; echo "$1.new"; }

# --- the registries and what they hold ---

ak_test "local registries start on free ports and take the sample images (skopeo copy --all)"
ok=1
rl_registry anon && rl_registry auth --htpasswd "$USER_" "$PW" && rl_registry scratch --schema1 || ok=
if [ -n "$ok" ]; then
	for n in "${names[@]}"; do rl_push anon "oci:$IMAGES/$n:latest" "$n:latest" || { ok=; break; }; done
fi
[ -n "$ok" ] && rl_push anon "oci:$IMAGES/honest6:latest" honest6-docker:latest --format v2s2 &&
	rl_push anon "oci:$IMAGES/stray-amd64-in-arm64:latest" stray-docker:arm64 --format v2s2 --override-arch arm64 &&
	rl_push auth "oci:$IMAGES/stray-amd64-in-arm64:latest" stray-amd64-in-arm64:latest \
		--dest-creds "$USER_:$PW" &&
	rl_push auth "oci:$IMAGES/honest-arm64:latest" honest-arm64:latest --dest-creds "$USER_:$PW" || ok=
if [ -z "$ok" ]; then
	ak_fail "cannot set up the registries (log: $(tail -n 2 "$RL_DIR/push.log" 2>/dev/null))"
	ak_summary
	exit
fi
ak_pass

# --- the same verdicts as from the OCI layouts ---

for n in "${names[@]}"; do
	ak_test "docker://…/$n gives the OCI layout's verdict and findings"
	want "$n" "$IMAGES/$n" && same "$n" $TV "${nocache[@]}" "$(reg anon "$n:latest")" && ak_pass
done

ak_test "honest6 and stray-amd64-in-arm64 from the registry: pass, and the stray file with its layer"
probe 0 $TV "${nocache[@]}" "$(reg anon honest6:latest)" && expect_contains "$AK_STDOUT" "6 variants" &&
	probe 1 --json $TV "${nocache[@]}" "$(reg anon stray-amd64-in-arm64)" &&
	l=$(oci layer "$IMAGES/stray-amd64-in-arm64" arm64 1 | xargs basename) &&
	expect_jq ".variants[] | select(.platform == \"linux/arm64\") | .findings[] |
		select(.code == \"wrong-machine\" and .path == \"/usr/local/bin/tool\" and .layer == \"sha256:$l\")" &&
	ak_pass

ak_test "attestation manifests pushed to a registry are skipped with the OCI layout's note"
probe 0 --json $TV "${nocache[@]}" "$(reg anon with-attestation:latest)" &&
	expect_jq '.skipped_attestations == 2' &&
	{ [ "$(jq -c .notes "$AK_STDOUT")" = "$(jq -c .notes "$AK_TMP/want-with-attestation.json")" ] ||
		ak_fail "notes differ: $(jq -c .notes "$AK_STDOUT")"; } && ak_pass

ak_test "a Docker manifest list of Docker v2s2 manifests (skopeo --format v2s2) gives honest6's verdicts"
mt=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
	"${RL_URL[anon]}/v2/honest6-docker/manifests/latest" | jq -r .mediaType)
if [ "$mt" != application/vnd.docker.distribution.manifest.list.v2+json ]; then
	ak_fail "skopeo did not push a Docker manifest list ($mt): the case tests nothing"
else
	canon=$CANON_DOCKER same honest6 $TV "${nocache[@]}" "$(reg anon honest6-docker:latest)" && ak_pass
fi

ak_test "one Docker v2s2 manifest, no list: the arm64 variant's verdict and finding"
want stray-arm64 --platform linux/arm64 "$IMAGES/stray-amd64-in-arm64" &&
	canon=$CANON_SINGLE same stray-arm64 $TV "${nocache[@]}" "$(reg anon stray-docker:arm64)" && ak_pass

ak_test "a reference by digest (REPO@sha256:…) gives the tag's verdict"
idx=$(jq -r '.manifests[0].digest' "$IMAGES/stray-amd64-in-arm64/index.json")
same stray-amd64-in-arm64 $TV "${nocache[@]}" "$(reg anon "stray-amd64-in-arm64@$idx")" && ak_pass

# --- what a registry can get wrong, and what a user can ---

ak_test "a repository the registry does not have: exit 2, one line naming it as a repository"
probe 2 $TV "$(reg anon no/such-repo:latest)" && expect_contains "$AK_STDERR" "no/such-repo" &&
	err_says 'repositor' && cp "$AK_STDERR" "$AK_TMP/err-repo" && ak_pass

ak_test "a tag the repository does not have: exit 2, one line naming the tag, not the repository"
probe 2 $TV "$(reg anon honest6:no-such-tag)" && expect_contains "$AK_STDERR" "no-such-tag" &&
	err_says 'tag' && {
	! grep -qiE "repository .*(not|unknown|no such)" "$AK_STDERR" ||
		ak_fail "a missing tag is called a missing repository: $(cat "$AK_STDERR")"
} && ak_pass
# Debian's docker-registry answers MANIFEST_UNKNOWN for both; only /tags/list tells them apart

ak_test "a layer blob missing from the registry's storage: exit 2, one line naming the blob"
rl_push scratch "oci:$IMAGES/honest-arm64:latest" missing:latest &&
	layer=$(rl_layers "$IMAGES/honest-arm64") && rm -f "$(rl_blob_file scratch "$layer")" &&
	probe 2 $TV "${nocache[@]}" "$(reg scratch missing:latest)" && err_says 'not found|404|unknown|does not have' &&
	expect_contains "$AK_STDERR" "${layer:7:12}" && ak_pass

ak_test "a blob corrupted in the registry's storage is caught by the digest check"
# the stray layer of stray-amd64-in-arm64: a byte of its gzip header's MTIME, which
# inflating does not check (only the digest can tell), the size kept
rl_push scratch "oci:$IMAGES/stray-amd64-in-arm64:latest" corrupt:latest &&
	layer=$(oci layer "$IMAGES/stray-amd64-in-arm64" arm64 1 | xargs basename) &&
	f=$(rl_blob_file scratch "sha256:$layer") && flip "$f" 4 &&
	probe 2 $TV "${nocache[@]}" "$(reg scratch corrupt:latest)" && err_says 'digest' && ak_pass

ak_test "a manifest whose bytes are not the digest it was fetched by: exit 2, saying so"
# the proxy changes one byte of each manifest fetched by digest, the size kept
rl_server tamper proxy --upstream "127.0.0.1:${RL_PORT[anon]}" --tamper-manifests &&
	probe 2 $TV "${nocache[@]}" "$(reg tamper honest-arm64:latest)" && err_says 'digest' &&
	grep -q '"edit": "tampered"' "${RL_LOG[tamper]}" &&
	probe 2 $TV "${nocache[@]}" "$(reg tamper "honest-arm64@$(jq -r '.manifests[0].digest' "$IMAGES/honest-arm64/index.json")")" &&
	err_says 'digest' && ak_pass

ak_test "a Docker-Content-Digest that is not the manifest's: not trusted, and said so"
rl_server wrongdcd proxy --upstream "127.0.0.1:${RL_PORT[anon]}" --wrong-digest-header &&
	same stray-amd64-in-arm64 $TV "${nocache[@]}" "$(reg wrongdcd stray-amd64-in-arm64:latest)" &&
	{ grep -q 'Docker-Content-Digest' "$AK_STDOUT" "$AK_STDERR" ||
		ak_fail "nothing says the Docker-Content-Digest header disagreed"; } && ak_pass

ak_test "a Docker schema 1 manifest is refused with a clear message"
skopeo copy -q --format v2s1 --override-arch arm64 --dest-tls-verify=false "oci:$IMAGES/honest-arm64:latest" \
	"$(reg scratch old:v1)" >"$AK_TMP/push1.log" 2>&1 || ak_fail "cannot push a schema 1 manifest: $(tail -1 "$AK_TMP/push1.log")"
probe 2 $TV "$(reg scratch old:v1)" && err_says 'schema ?(1|version 1)|schema1' && ak_pass

ak_test "plain http without --tls-verify=false is refused, saying --tls-verify=false"
probe 2 "$(reg anon honest-arm64:latest)" && expect_contains "$AK_STDERR" "--tls-verify=false" && ak_pass

ak_test "a self-signed https registry: refused, saying --tls-verify=false; read with it"
rl_registry tls --tls && rl_push tls "oci:$IMAGES/honest-arm64:latest" honest-arm64:latest &&
	probe 2 "$(reg tls honest-arm64:latest)" && expect_contains "$AK_STDERR" "--tls-verify=false" &&
	want honest-arm64 "$IMAGES/honest-arm64" &&
	same honest-arm64 $TV "${nocache[@]}" "$(reg tls honest-arm64:latest)" && ak_pass

ak_test "nothing listening on the port: exit 2 at once, one line naming the host"
port=$(_rl_free_port)
probe 2 $TV "docker://127.0.0.1:$port/x:y" && expect_contains "$AK_STDERR" "127.0.0.1:$port" && {
	[ "$run_ms" -lt 30000 ] || ak_fail "took $run_ms ms to find nothing listening"
} && ak_pass

ak_test "malformed docker:// references: exit 2, one line each"
for r in 'docker://127.0.0.1:1/UPPER/case:x' 'docker://127.0.0.1:1/repo@sha256:abc' \
	'docker://127.0.0.1:1/repo:bad tag' 'docker://' 'docker://127.0.0.1:1/repo:'; do
	probe 2 $TV "$r" && err_says 'invalid|reference' && within 10000 || break
done && ak_pass

# --- Basic auth: docker-registry with an htpasswd file ---

dockercfg() { # FILE KEY AUTHJSON: a config.json holding one auths entry
	mkdir -p "$(dirname "$1")"
	jq -n --arg k "$2" --argjson v "$3" '{auths: {($k): $v}}' >"$1"
}
authkey=127.0.0.1:${RL_PORT[auth]}
stray_auth=$(reg auth stray-amd64-in-arm64:latest)

ak_test "Basic auth: --creds USER:PASS (with --verbose, no secret in any output)"
same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose --creds "$USER_:$PW" "$stray_auth" && ak_pass

ak_test "--verbose: one line per HTTP request on stderr, without the credentials"
probe 1 $TV "${nocache[@]}" --verbose --creds "$USER_:$PW" "$stray_auth" &&
	{ grep -q "/v2/stray-amd64-in-arm64/manifests/" "$AK_STDERR" || ak_fail "no manifest request on stderr"; } &&
	{ grep -q "/v2/stray-amd64-in-arm64/blobs/sha256:" "$AK_STDERR" || ak_fail "no blob request on stderr"; } &&
	{ ! grep -qi 'authorization: *basic' "$AK_STDERR" || ak_fail "an Authorization header is printed"; } && ak_pass

ak_test "Basic auth from a config.json given with --creds-file"
dockercfg "$work/cf/config.json" "$authkey" "{\"auth\": \"$B64\"}" &&
	same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose --creds-file "$work/cf/config.json" "$stray_auth" && ak_pass

ak_test "Basic auth from \$DOCKER_CONFIG/config.json"
dockercfg "$work/dc/config.json" "$authkey" "{\"auth\": \"$B64\"}" &&
	DOCKER_CONFIG=$work/dc same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose "$stray_auth" && ak_pass

ak_test "Basic auth from ~/.docker/config.json"
dockercfg "$work/home/.docker/config.json" "$authkey" "{\"auth\": \"$B64\"}" &&
	HOME=$work/home same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose "$stray_auth" && ak_pass

ak_test "Basic auth from \$REGISTRY_AUTH_FILE (a containers auth.json)"
dockercfg "$work/auth.json" "$authkey" "{\"auth\": \"$B64\"}" &&
	REGISTRY_AUTH_FILE=$work/auth.json same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose "$stray_auth" && ak_pass

ak_test "Basic auth from \${XDG_RUNTIME_DIR}/containers/auth.json"
dockercfg "$work/run/containers/auth.json" "$authkey" "{\"auth\": \"$B64\"}" &&
	XDG_RUNTIME_DIR=$work/run same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose "$stray_auth" && ak_pass

ak_test "--creds-env VAR holding USER:PASS"
AK_TEST_CREDS="$USER_:$PW" same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose --creds-env AK_TEST_CREDS "$stray_auth" &&
	ak_pass

ak_test "a credential helper (credHelpers: docker-credential-NAME get)"
mkdir -p "$work/bin" && cat >"$work/bin/docker-credential-aktest" <<EOF
#!/bin/sh
# what docker's credential helpers do: the server on stdin, the secret as JSON
[ "\$1" = get ] || exit 1
read -r server
echo "\$server" >>"$work/helper.log"
printf '{"ServerURL": "%s", "Username": "%s", "Secret": "%s"}\n' "\$server" "$USER_" "$PW"
EOF
chmod +x "$work/bin/docker-credential-aktest" &&
	dockercfg "$work/ch/config.json" "$authkey" '{}' &&
	jq --arg k "$authkey" '.credHelpers = {($k): "aktest"} | del(.auths)' "$work/ch/config.json" >"$work/ch/c.json" &&
	mv "$work/ch/c.json" "$work/ch/config.json" &&
	PATH=$work/bin:$PATH DOCKER_CONFIG=$work/ch same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose "$stray_auth" &&
	expect_contains "$work/helper.log" "$authkey" && ak_pass

ak_test "no credentials: 401, exit 2, one line naming the repository and the files read"
dockercfg "$work/other/config.json" "other.example:5000" "{\"auth\": \"$(printf 'x:y' | base64)\"}" &&
	DOCKER_CONFIG=$work/other probe 2 $TV "$stray_auth" && expect_contains "$AK_STDERR" "stray-amd64-in-arm64" &&
	expect_contains "$AK_STDERR" "$work/other/config.json" && err_says 'credential|401|unauthori|login' && ak_pass

ak_test "a wrong password: exit 2, one line naming where the credentials came from"
probe 2 $TV --creds "$USER_:wrong-$PW" "$stray_auth" && expect_contains "$AK_STDERR" "--creds" &&
	expect_not_contains "$AK_STDERR" "wrong-" &&
	dockercfg "$work/bad/config.json" "$authkey" "{\"auth\": \"$(printf '%s:wrong' "$USER_" | base64)\"}" &&
	probe 2 $TV --creds-file "$work/bad/config.json" "$stray_auth" &&
	expect_contains "$AK_STDERR" "$work/bad/config.json" && ak_pass

# --- Bearer tokens: token_service.py, and proxy.py demanding its tokens ---

# bearer NAME [TOKEN_SERVICE_ARGS...]: a token service NAME-tok and a proxy NAME in
# front of the anonymous registry that accepts only its tokens
bearer() {
	local name=$1
	shift
	rl_server "$name-tok" token_service --secret "$TOKSECRET" --user "$USER_" --password "$PW" \
		--refresh-token "$REFRESH" --tokens-file "$RL_DIR/tokens-$name.txt" "$@" &&
		rl_server "$name" proxy --upstream "127.0.0.1:${RL_PORT[anon]}" --bearer --secret "$TOKSECRET" \
			--realm "${RL_URL[$name-tok]}/token" "${proxy_args[@]}"
}
proxy_args=()

ak_test "Bearer: 401 with a challenge, a token from the realm with Basic credentials, then the image"
bearer bt && same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose --creds "$USER_:$PW" \
	"$(reg bt stray-amd64-in-arm64:latest)" &&
	expect_jq 'any(.[]; .status == 200 and .creds == true and
		(.scopes | index("repository:stray-amd64-in-arm64:pull")))' <(jq -s . "${RL_LOG[bt-tok]}") &&
	expect_jq 'any(.[]; .status == 401 and .auth == "none") and
		any(.[]; .status == 200 and .auth == "bearer" and (.path | test("/manifests/")))' <(jq -s . "${RL_LOG[bt]}") &&
	ak_pass

ak_test "Bearer without credentials (anonymous pulls, as GHCR's)"
bearer ba --anonymous && same honest6 $TV "${nocache[@]}" --verbose "$(reg ba honest6:latest)" &&
	expect_jq 'any(.[]; .status == 200 and .creds == false)' <(jq -s . "${RL_LOG[ba-tok]}") && ak_pass

ak_test "a token service that answers access_token, not token"
bearer bat --anonymous --field access_token && same honest6 $TV "${nocache[@]}" "$(reg bat honest6:latest)" && ak_pass

ak_test "a token that expires during a long probe is renewed"
# tokens for 1 s, each blob answered after 0.4 s: honest6's 12 blobs outlive several
proxy_args=(--delay-blobs 0.4)
bearer bexp --anonymous --ttl 1 && same honest6 $TV "${nocache[@]}" --jobs 1 "$(reg bexp honest6:latest)" &&
	n=$(grep -c '"status": 200' "${RL_LOG[bexp-tok]}") &&
	{ [ "$n" -ge 2 ] || ak_fail "$n tokens fetched: none was renewed"; } && ak_pass
proxy_args=()

ak_test "Bearer with a wrong password: exit 2, one line naming the repository"
probe 2 $TV --creds "$USER_:wrong-$PW" "$(reg bt stray-amd64-in-arm64:latest)" &&
	expect_contains "$AK_STDERR" "stray-amd64-in-arm64" && expect_not_contains "$AK_STDERR" "wrong-" && ak_pass

ak_test "an identitytoken in config.json is exchanged at the realm (OAuth2 refresh_token grant)"
dockercfg "$work/it/config.json" "127.0.0.1:${RL_PORT[bt]}" "{\"identitytoken\": \"$REFRESH\"}" &&
	mark "${RL_LOG[bt-tok]}" &&
	DOCKER_CONFIG=$work/it same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose \
		"$(reg bt stray-amd64-in-arm64:latest)" &&
	expect_jq 'any(.[]; .status == 200 and .grant == "refresh_token")' <(jq -s . "$(since "${RL_LOG[bt-tok]}")") &&
	ak_pass

# --- redirects to another host: the Authorization header stays behind ---

# redirect NAME HOST: a blob store NAME-bs and a Bearer proxy NAME redirecting blob GETs
# to http://HOST:PORT-of-the-blob-store
redirect() {
	local rc=0
	rl_server "$1-bs" blobstore --upstream "127.0.0.1:${RL_PORT[anon]}" || return 1
	proxy_args=(--redirect-blobs "http://$2:${RL_PORT[$1-bs]}")
	bearer "$1" || rc=$?
	proxy_args=()
	return $rc
}
# no_auth_reached NAME OCI_DIR: NAME's blob store served every layer, and no request
# there carried Authorization
no_auth_reached() {
	local log=${RL_LOG[$1-bs]}
	[ -s "$log" ] || { ak_fail "nothing reached the blob store: the redirect was not followed"; return 1; }
	expect_jq 'all(.[]; .auth == "none")' <(jq -s . "$log") && expect_gets "$(rl_layers "$2" | wc -l)" "$log" "$2"
}

ak_test "a blob redirected (307) to another host gets no Authorization there"
redirect rdh localhost &&
	same stray-amd64-in-arm64 $TV "${nocache[@]}" --verbose --creds "$USER_:$PW" "$(reg rdh stray-amd64-in-arm64:latest)" &&
	no_auth_reached rdh "$IMAGES/stray-amd64-in-arm64" &&
	expect_jq 'any(.[]; .status == 307 and .auth == "bearer")' <(jq -s . "${RL_LOG[rdh]}") && ak_pass

ak_test "a redirect to the same address on another port gets no Authorization either"
redirect rdp 127.0.0.1 &&
	same stray-amd64-in-arm64 $TV "${nocache[@]}" --creds "$USER_:$PW" "$(reg rdp stray-amd64-in-arm64:latest)" &&
	no_auth_reached rdp "$IMAGES/stray-amd64-in-arm64" && ak_pass

# --- servers that fail: bounded retries, one clear line, in bounded time ---

# faulty NAME ARGS...: a proxy in front of the anonymous registry with proxy.py's ARGS
faulty() {
	local name=$1
	shift
	rl_server "$name" proxy --upstream "127.0.0.1:${RL_PORT[anon]}" "$@"
}
# faults NAME: how many faults NAME's proxy applied
faults() { jq -s '[.[] | select(.fault != null)] | length' "${RL_LOG[$1]}"; }
# tries_between NAME LO HI: NAME's proxy applied from LO to HI faults
tries_between() {
	local n
	n=$(faults "$1")
	[ "$n" -ge "$2" ] && [ "$n" -le "$3" ] && return 0
	ak_fail "$n tries, expected $2 to $3"
	return 1
}
# waited NAME SECONDS: every request for a blob that got a fault came at least SECONDS
# after the one before it (Retry-After honoured)
waited() {
	local short
	short=$(jq -s --argjson s "$2" '([.[] | select(.fault != null) | .path] | unique) as $p |
		[.[] | select(.method == "GET" and (.path as $x | $p | index($x))) | .t] | sort |
		[range(1; length) as $i | .[$i] - .[$i - 1] | select(. < $s)] | length' "${RL_LOG[$1]}")
	[ "$short" = 0 ] && return 0
	ak_fail "$short retries came sooner than Retry-After's $2 s"
	return 1
}
one=honest-arm64:latest # one variant, one 1 MiB layer

ak_test "a connection reset mid-blob, every time: exit 2, one line naming the repository, bounded"
faulty drop --fault drop && probe 2 $TV "${nocache[@]}" "$(reg drop $one)" &&
	expect_contains "$AK_STDERR" "honest-arm64" && tries_between drop 1 11 && within 60000 && ak_pass

ak_test "429 with Retry-After every time: exit 2 after bounded retries, each after Retry-After"
faulty r429 --fault 429 && probe 2 $TV "${nocache[@]}" "$(reg r429 $one)" &&
	expect_contains "$AK_STDERR" "honest-arm64" && err_says '429|too many|rate' &&
	tries_between r429 2 11 && waited r429 0.9 && within 60000 && ak_pass

ak_test "429 twice, then the blob: the probe waits as told and passes"
faulty r429b --fault 429 --fault-times 2 && same honest-arm64 $TV "${nocache[@]}" "$(reg r429b $one)" &&
	tries_between r429b 2 2 && waited r429b 0.9 && within 60000 && ak_pass

ak_test "503 every time: exit 2 after bounded retries"
faulty r503 --fault 503 --retry-after -1 && probe 2 $TV "${nocache[@]}" "$(reg r503 $one)" &&
	expect_contains "$AK_STDERR" "honest-arm64" && tries_between r503 2 11 && within 90000 && ak_pass

ak_test "a server that stalls mid-blob: exit 2, one line, within the stall timeout"
# the default stall timeout is 30 s; a few of them with retries is still bounded
faulty stall --fault stall --stall-seconds 150 && RUN_TIMEOUT=200 probe 2 $TV "${nocache[@]}" "$(reg stall $one)" &&
	expect_contains "$AK_STDERR" "honest-arm64" && tries_between stall 1 11 && within 160000 && ak_pass
rl_stop stall

# --- the layer cache ---

rl_server count proxy --upstream "127.0.0.1:${RL_PORT[anon]}" || ak_fail "cannot start the counting proxy"
cnt=${RL_LOG[count]}

ak_test "a second probe downloads no layer blob (the default cache, \$XDG_CACHE_HOME/archkit/layers)"
# a cache of its own, so that nothing probed before counts
xdg=$work/xdg-fresh
mark "$cnt" && XDG_CACHE_HOME=$xdg same honest6 $TV "$(reg count honest6:latest)" &&
	expect_gets 6 "$(since "$cnt")" "$IMAGES/honest6" &&
	{ [ -n "$(find "$xdg/archkit/layers" -type f 2>/dev/null)" ] || ak_fail "nothing in \$XDG_CACHE_HOME/archkit/layers"; } &&
	mark "$cnt" && XDG_CACHE_HOME=$xdg same honest6 $TV "$(reg count honest6:latest)" &&
	expect_gets 0 "$(since "$cnt")" "$IMAGES/honest6" && ak_pass

ak_test "--cache-dir DIR is where the cache is; --no-cache neither reads nor writes it"
c1=$work/cache1 c2=$work/cache2
mark "$cnt" && same stray-amd64-in-arm64 $TV --cache-dir "$c1" "$(reg count stray-amd64-in-arm64:latest)" &&
	expect_gets 3 "$(since "$cnt")" "$IMAGES/stray-amd64-in-arm64" &&
	{ [ -n "$(find "$c1" -type f 2>/dev/null)" ] || ak_fail "nothing in --cache-dir"; } &&
	mark "$cnt" && same stray-amd64-in-arm64 $TV --no-cache --cache-dir "$c1" "$(reg count stray-amd64-in-arm64:latest)" &&
	expect_gets 3 "$(since "$cnt")" "$IMAGES/stray-amd64-in-arm64" &&
	mark "$cnt" && same stray-amd64-in-arm64 $TV --no-cache --cache-dir "$c2" "$(reg count stray-amd64-in-arm64:latest)" &&
	expect_gets 3 "$(since "$cnt")" "$IMAGES/stray-amd64-in-arm64" &&
	{ [ -z "$(find "$c2" -type f 2>/dev/null)" ] || ak_fail "--no-cache wrote $(find "$c2" -type f | head -1)"; } &&
	mark "$cnt" && same stray-amd64-in-arm64 $TV --cache-dir "$c1" "$(reg count stray-amd64-in-arm64:latest)" &&
	expect_gets 0 "$(since "$cnt")" "$IMAGES/stray-amd64-in-arm64" && ak_pass

ak_test "corrupted cache files are ignored and rewritten"
# every file of the cache: a byte changed in the middle of one half, the other half cut short
mapfile -t cfiles < <(find "$c1" -type f | sort)
ok=1
for i in "${!cfiles[@]}"; do
	f=${cfiles[$i]} size=$(stat -c %s "${cfiles[$i]}")
	if ((i % 2)); then
		truncate -s $((size / 2)) "$f"
	else
		flip "$f" $((size / 2))
	fi
	cp "$f" "$work/bad-$i" || ok=
done
[ ${#cfiles[@]} -gt 0 ] || { ok=; ak_fail "no cache files to corrupt"; }
[ -n "$ok" ] && mark "$cnt" &&
	same stray-amd64-in-arm64 $TV --cache-dir "$c1" "$(reg count stray-amd64-in-arm64:latest)" &&
	{ [ "$(gets "$(since "$cnt")" "$IMAGES/stray-amd64-in-arm64")" -ge 1 ] ||
		ak_fail "nothing downloaded again: the corrupted files were used"; } &&
	for i in "${!cfiles[@]}"; do
		[ -e "${cfiles[$i]}" ] && ! cmp -s "${cfiles[$i]}" "$work/bad-$i" && continue
		ak_fail "'${cfiles[$i]#"$c1"/}' was not rewritten"
		break
	done && mark "$cnt" && same stray-amd64-in-arm64 $TV --cache-dir "$c1" "$(reg count stray-amd64-in-arm64:latest)" &&
	expect_gets 0 "$(since "$cnt")" "$IMAGES/stray-amd64-in-arm64" && ak_pass

ak_test "a rebuilt image that shares its base layer downloads only its new layer"
rm -rf "$work/rebuilt" && cp -a "$IMAGES/honest-arm64" "$work/rebuilt" &&
	tar -xOzf "$(oci layer "$IMAGES/honest-arm64" arm64)" bin/busybox >"$work/busybox-arm64" &&
	oci tar "$work/new.tar" "from:usr/local/bin/app=$work/busybox-arm64" && gzip -n -f "$work/new.tar" &&
	oci set-layer "$work/rebuilt" arm64 "$work/new.tar.gz" --append && rl_push anon "oci:$work/rebuilt:latest" rebuilt:latest &&
	new=$(oci layer "$work/rebuilt" arm64 1 | xargs basename) && c3=$work/cache3 &&
	same honest-arm64 $TV --cache-dir "$c3" "$(reg count $one)" &&
	want rebuilt "oci:$work/rebuilt:latest" && mark "$cnt" &&
	same rebuilt $TV --cache-dir "$c3" "$(reg count rebuilt:latest)" &&
	expect_gets 1 "$(since "$cnt")" "$work/rebuilt" &&
	{ [ "$(rl_blob_gets "$cnt.new" "sha256:$new")" = 1 ] || ak_fail "the new layer was not the one downloaded"; } &&
	ak_pass

ak_test "the cache serves OCI layouts and registries alike (one cache by layer digest)"
c4=$work/cache4
probe 0 --cache-dir "$c4" "$IMAGES/honest6" && mark "$cnt" &&
	same honest6 $TV --cache-dir "$c4" "$(reg count honest6:latest)" && expect_gets 0 "$(since "$cnt")" "$IMAGES/honest6" &&
	ak_pass

# --- verify IMAGE from a registry ---

ak_test "archkit verify docker://…/honest6 runs every variant, as from the OCI layout"
if ak_emulation linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; then
	run 0 "$AK_BIN" verify --json $TV "$(reg anon honest6:latest)" &&
		expect_jq '(.variants | length) == 6 and all(.variants[]; .status == "passed") and .ok == true' &&
		expect_jq '[.variants[].platform] == ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386", "linux/ppc64le", "linux/s390x"]' &&
		ak_pass
fi

ak_test "archkit verify takes --creds for a registry that needs them"
if ak_emulation linux/arm64; then
	run 0 "$AK_BIN" verify $TV --creds "$USER_:$PW" "$(reg auth honest-arm64:latest)" &&
		grep -qE '^linux/arm64 +passed' "$AK_STDOUT" && ak_pass
fi

ak_test "archkit verify: a missing tag and missing credentials, each one line and exit 2"
run 2 "$AK_BIN" verify $TV "$(reg anon honest6:no-such-tag)" && expect_contains "$AK_STDERR" "no-such-tag" &&
	run 2 "$AK_BIN" verify $TV "$(reg auth honest-arm64:latest)" && expect_contains "$AK_STDERR" "honest-arm64" &&
	ak_pass

ak_summary
