#!/usr/bin/env bash
# The reference for W3 on PostgreSQL: pgbench inserting single rows into a table shaped like
# the events table, with 1 and 16 clients, on the same server. Prints one JSON line per run.
#   bash bench/pgbench.sh [seconds]
set -euo pipefail
url="${EVENTSMITH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
seconds="${1:-10}"
psql -q "$url" -c "DROP TABLE IF EXISTS es_pgbench; CREATE TABLE es_pgbench (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text NOT NULL,
    stream_version bigint NOT NULL, payload bytea NOT NULL, UNIQUE (stream_id, stream_version))"
script=$(mktemp)
log=$(mktemp)
trap 'rm -f "$script" "$log"; psql -q "$url" -c "DROP TABLE IF EXISTS es_pgbench"' EXIT
cat > "$script" <<'SQL'
\set s random(1, 9000000000000000000)
INSERT INTO es_pgbench (stream_id, stream_version, payload) VALUES ('s-' || :s || '-' || :client_id, 1, '\x7b7d');
SQL
for clients in 1 16; do
    if ! pgbench -n -M prepared -c "$clients" -j "$clients" -T "$seconds" -f "$script" "$url" >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
    tps=$(awk '/^tps/ { print int($3) }' "$log" | tail -1)
    echo "{\"workload\":\"pgbench-insert\",\"backend\":\"postgres\",\"mode\":\"clients$clients\",\"tps\":$tps}"
done
