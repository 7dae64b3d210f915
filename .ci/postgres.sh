#!/usr/bin/env bash
# Source this: starts a throw-away PostgreSQL 15 (data and socket in a temp folder, no TCP port),
# exports RAYSIGHT_TEST_POSTGRES_URL for the tests and stops it (removing the folder) on exit.
# PostgreSQL refuses to run as root: as root it runs as the user "postgres" (or "nobody").

pg_bin=""
for dir in "${PG_BIN:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin /usr/pgsql-15/bin; do
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then pg_bin="$dir"; break; fi
done
if [ -z "$pg_bin" ] && command -v pg_ctl >/dev/null; then pg_bin="$(dirname "$(command -v pg_ctl)")"; fi
if [ -z "$pg_bin" ]; then
  echo "PostgreSQL binaries (initdb, pg_ctl) not found: set PG_BIN" >&2
  return 1
fi

pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/raysight-pg.XXXXXX")"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  pg_user=postgres
  id "$pg_user" >/dev/null 2>&1 || pg_user=nobody
  chown "$pg_user" "$pg_dir"
  as_pg=(runuser -u "$pg_user" --)
fi

"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U raysight --auth=trust -E UTF8 >"$pg_dir/initdb.log" 2>&1 \
  || { cat "$pg_dir/initdb.log" >&2; return 1; }
# fsync off: a throw-away server; listen only on the unix socket in $pg_dir
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
  -o "-k $pg_dir -h '' -F -c max_connections=200" start >/dev/null \
  || { cat "$pg_dir/server.log" >&2; return 1; }

stop_postgres() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_postgres EXIT

export RAYSIGHT_TEST_POSTGRES_URL="postgresql+psycopg://raysight@/postgres?host=$pg_dir"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') for the tests at $pg_dir"
