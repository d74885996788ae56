#!/usr/bin/env bash
# Run the test suite on a throwaway PostgreSQL server on loopback: Debian's postgresql package
# (15 on Debian 12), a cluster made with initdb in a temporary directory, stopped and removed at
# the end. Arguments go to pytest. CI runs this after the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql) >/dev/null
fi
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PORT=${RESEARCH_REPO_PG_PORT:-54329}
dir=$(mktemp -d /tmp/rr-pg.XXXXXX)
as_owner=()
if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root: the server runs as postgres
    chown postgres "$dir"
    as_owner=(runuser -u postgres --)
fi
stop() {
    "${as_owner[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
"${as_owner[@]}" "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
# wal_keep_size: the byte searches read the write-ahead log a test wrote, so a checkpoint must
# not recycle it first. fsync=off: a throwaway server; no test crashes PostgreSQL itself.
"${as_owner[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $PORT -k $dir -c listen_addresses=127.0.0.1 -c wal_keep_size=1GB -c fsync=off" start >/dev/null
"$PG_BIN/postgres" --version

.venv/bin/pip install -q -e '.[postgres]'
RESEARCH_REPO_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres" .venv/bin/python -m pytest "$@"
