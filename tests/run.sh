#!/usr/bin/env bash
# Runs every Flare test on a fresh Debian machine with only the Rust toolchain:
# installs what the tests need from Debian's packages when missing (as root), starts a
# throwaway PostgreSQL cluster on a free port (unless FLARE_TEST_DATABASE_URL is set),
# runs the whole suite, and stops what it started, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'tests/run.sh: %s\n' "$*" >&2; }

need_pkgs=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || need_pkgs+=(postgresql)
command -v ngircd >/dev/null 2>&1 || [ -x /usr/sbin/ngircd ] || need_pkgs+=(ngircd)
command -v inspircd >/dev/null 2>&1 || [ -x /usr/sbin/inspircd ] || need_pkgs+=(inspircd)
# The IRC TLS test makes its own CA and certificates with the openssl command.
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
command -v setpriv >/dev/null 2>&1 || need_pkgs+=(util-linux)
# tests/http.rs checks /metrics with `promtool check metrics` (policy-rc.d below keeps the
# package's Prometheus server from starting).
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${need_pkgs[*]} (run as root, or: sudo apt-get install ${need_pkgs[*]})"
    exit 1
  fi
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Package scripts must not start system-wide servers on the default ports.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((40000 + RANDOM % 10000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

workdir=$(mktemp -d /tmp/flare-tests.XXXXXX)
chmod 755 "$workdir"
pg_started=""
cleanup() {
  status=$?
  if [ -n "$pg_started" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$workdir/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$workdir"
  exit $status
}
trap cleanup EXIT INT TERM

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "${FLARE_TEST_DATABASE_URL:-}" ]; then
  port=$(free_port)
  mkdir -p "$workdir/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$workdir/pg"
  as_pg "$pg_bin/initdb" -D "$workdir/pg" -U flare --auth=trust -E UTF8 >/dev/null
  as_pg "$pg_bin/pg_ctl" -D "$workdir/pg" -l "$workdir/pg/log" -w \
    -o "-p $port -k $workdir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  pg_started=1
  export FLARE_TEST_DATABASE_URL="postgres://flare@127.0.0.1:$port/postgres"
  log "throwaway PostgreSQL on 127.0.0.1:$port"
fi

# Benches run in their quick smoke mode under `cargo test` (they check for --bench).
cargo test --all-targets --locked --no-fail-fast -- --test-threads="${FLARE_TEST_THREADS:-4}"
