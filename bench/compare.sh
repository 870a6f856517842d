#!/usr/bin/env bash
# Run the benchmark against the reference Prefect server and against ours, one after the other, on the same
# kind of database. Usage (from the repository root):
#
#   bench/compare.sh sqlite|postgres [more bench/run.py options, e.g. --only lifecycles]
#
# The reference server comes from a separate virtual environment made by hand (see bench/README.md);
# set REFERENCE_VENV if it is not /tmp/refvenv. Never commit that environment.
# With postgres, the databases bench_reference and bench_ours on 127.0.0.1:5432 (user postgres) are created
# if missing and kept between runs, so the 10,000 filter runs are seeded only once.
set -euo pipefail

database_kind=${1:?usage: bench/compare.sh sqlite|postgres [bench/run.py options]}
shift
repository=$(cd "$(dirname "$0")/.." && pwd)
reference_venv=${REFERENCE_VENV:-/tmp/refvenv}
python="$repository/.venv/bin/python"
work_dir=$(mktemp -d /tmp/bench-compare.XXXXXX)
server_pid=""

free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

database_url() {  # $1: name for this server
    if [ "$database_kind" = postgres ]; then
        psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1 \
            || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $1"
        echo "postgresql+asyncpg://postgres@127.0.0.1:5432/$1"
    else
        echo "sqlite+aiosqlite:///$work_dir/$1.db"
    fi
}

wait_until_up() {  # $1: port; gives up after 120 s
    for _ in $(seq 240); do
        curl -sf "http://127.0.0.1:$1/api/admin/version" >/dev/null && return 0
        sleep 0.5
    done
    echo "server on port $1 did not come up; see $work_dir" >&2
    return 1
}

stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM -- "-$server_pid" 2>/dev/null || true  # its own process group, started with setsid
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

run_against() {  # $1: label, $2: port
    wait_until_up "$2"
    "$python" "$repository/bench/run.py" --api-url "http://127.0.0.1:$2/api" --label "$1" "${@:3}"
    stop_server
}

port=$(free_port)
PREFECT_HOME="$work_dir/reference-home" \
PREFECT_API_DATABASE_CONNECTION_URL=$(database_url bench_reference) \
PREFECT_UI_ENABLED=false PREFECT_SERVER_ANALYTICS_ENABLED=false \
    setsid "$reference_venv/bin/prefect" server start --host 127.0.0.1 --port "$port" \
    >"$work_dir/reference.log" 2>&1 &
server_pid=$!
run_against "reference-$database_kind" "$port" "$@"

port=$(free_port)
cd "$repository"
PREFECT_HOME="$work_dir/ours-home" \
PREFECT_API_DATABASE_CONNECTION_URL=$(database_url bench_ours) \
    setsid "$python" manage.py serve --port "$port" >"$work_dir/ours.log" 2>&1 &
server_pid=$!
run_against "ours-$database_kind" "$port" "$@"

echo "server logs: $work_dir" >&2
