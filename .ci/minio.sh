#!/usr/bin/env bash
# Start a throwaway MinIO on loopback for the integration tests.
#
#   eval "$(bash .ci/minio.sh)"     # prints export lines on stdout
#   . .ci/minio.sh                  # or source it: exports into this shell
#
# Exports S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_USE_SSL, MINIO_PID,
# MINIO_PID_FILE and MINIO_DIR (data + log; remove it after killing the pid).
# Everything else (progress, logs, errors) goes to stderr so stdout stays
# eval-safe.
#
# Knobs: MINIO_VERSION (pinned pseudo-version for go install), MINIO_PORT
# (preferred port, default 9000), MINIO_START_TIMEOUT (seconds, default 60),
# MINIO_PROGRESS_EVERY (seconds between progress lines of the first build, default 30),
# MINIO_PID_FILE (default $MINIO_DIR/minio.pid).

_minio_main() {
	set -euo pipefail

	local version="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
	local user="tbackend-ci"
	local pass="tbackend-ci-secret-key"
	local timeout="${MINIO_START_TIMEOUT:-60}"

	log() { printf 'minio.sh: %s\n' "$*" >&2; }
	die() {
		log "ERROR: $*"
		exit 1
	}

	# build_minio compiles the pinned server once with go install, saying what it does and how
	# long it takes, with a line every MINIO_PROGRESS_EVERY seconds (default 30), so the first
	# run is never a silent wait of several minutes.
	build_minio() {
		local version="$1" gobin="$2" every="${MINIO_PROGRESS_EVERY:-30}"
		log "MinIO is not installed: building it from source (go install github.com/minio/minio@$version)."
		log "This happens once and takes ~5-11 min on 2 cores; later runs reuse $gobin/minio."
		log "(To skip it: put a minio binary on PATH, or export S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY of an S3 server you run.)"
		local start=$SECONDS next=$((SECONDS + every))
		# Outside any module, so the project's go.mod is neither read nor touched.
		(cd / && exec go install "github.com/minio/minio@$version") >&2 &
		local pid=$!
		# A background job ignores Ctrl-C in a script: stop it with us.
		trap "kill $pid 2>/dev/null" EXIT
		trap "kill $pid 2>/dev/null; exit 130" INT TERM
		while kill -0 "$pid" 2>/dev/null; do
			sleep 1
			if [ "$SECONDS" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
				log "still building MinIO: $(elapsed $start) elapsed (usually 5-11 min)"
				next=$((next + every))
			fi
		done
		local status=0
		wait "$pid" || status=$?
		trap - EXIT INT TERM
		[ "$status" = 0 ] || die "go install github.com/minio/minio@$version failed after $(elapsed $start) (see output above)"
		log "built $gobin/minio in $(elapsed $start)"
	}
	elapsed() {
		local s=$((SECONDS - $1))
		printf '%dm%02ds' $((s / 60)) $((s % 60))
	}

	# go install drops binaries in GOBIN, else the first GOPATH entry's bin.
	local gobin=""
	if command -v go >/dev/null 2>&1; then
		gobin="$(go env GOBIN)"
		if [ -z "$gobin" ]; then
			gobin="$(go env GOPATH | cut -d: -f1)/bin"
		fi
	fi

	local bin=""
	if command -v minio >/dev/null 2>&1; then
		bin="$(command -v minio)"
	elif [ -n "$gobin" ] && [ -x "$gobin/minio" ]; then
		bin="$gobin/minio"
	else
		command -v go >/dev/null 2>&1 || die "no minio binary and no go toolchain to install one"
		build_minio "$version" "$gobin"
		bin="$gobin/minio"
		[ -x "$bin" ] || die "go install succeeded but $bin is missing"
	fi
	log "using $bin"

	# A port is taken if something accepts connections on it.
	port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
	local port="${MINIO_PORT:-9000}"
	local tries=0
	while port_busy "$port"; do
		tries=$((tries + 1))
		[ "$tries" -lt 200 ] || die "no free port found from ${MINIO_PORT:-9000} upward"
		port=$((port + 1))
	done

	local dir
	dir="$(mktemp -d "${TMPDIR:-/tmp}/tbackend-minio.XXXXXX")"
	local pidfile="${MINIO_PID_FILE:-$dir/minio.pid}"
	mkdir -p "$dir/data"

	# stdin/stdout/stderr must not be inherited: $(...) in the caller would
	# otherwise wait for the server to exit. The console is off: tests need
	# only the S3 API, and it would want a second port.
	MINIO_ROOT_USER="$user" MINIO_ROOT_PASSWORD="$pass" MINIO_BROWSER=off \
		nohup "$bin" server --quiet --address "127.0.0.1:$port" "$dir/data" \
		</dev/null >"$dir/minio.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$pidfile"
	log "started pid $pid on 127.0.0.1:$port (data and log in $dir)"

	health_ok() {
		if command -v curl >/dev/null 2>&1; then
			curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/minio/health/live" 2>/dev/null
			return
		fi
		local status
		status="$(
			exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
			printf 'GET /minio/health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
			head -n1 <&3
		)" 2>/dev/null || return 1
		[[ "$status" == *" 200"* ]]
	}

	local deadline=$((SECONDS + timeout))
	until health_ok; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "minio exited during startup; its log:"
			tail -n 50 "$dir/minio.log" >&2 || true
			rm -rf "$dir"
			die "minio failed to start"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "minio not live after ${timeout}s; its log:"
			tail -n 50 "$dir/minio.log" >&2 || true
			kill "$pid" 2>/dev/null || true
			rm -rf "$dir"
			die "minio health check timed out"
		fi
		sleep 0.5
	done
	log "live at http://127.0.0.1:$port/minio/health/live"

	printf 'export S3_ENDPOINT=%q\n' "127.0.0.1:$port"
	printf 'export S3_ACCESS_KEY=%q\n' "$user"
	printf 'export S3_SECRET_KEY=%q\n' "$pass"
	printf 'export S3_USE_SSL=false\n'
	printf 'export MINIO_PID=%q\n' "$pid"
	printf 'export MINIO_PID_FILE=%q\n' "$pidfile"
	printf 'export MINIO_DIR=%q\n' "$dir"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
	# Sourced: run as a separate bash so set -e and exit cannot hit the
	# caller's shell (and -e is not suspended by the if), then import.
	if _minio_out="$(bash "${BASH_SOURCE[0]}")"; then
		eval "$_minio_out"
		unset _minio_out
	else
		unset _minio_out
		return 1
	fi
	unset -f _minio_main
else
	_minio_main
fi
