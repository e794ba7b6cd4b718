#!/usr/bin/env bash
# A two-node Ray cluster on this machine, for the cluster tests (tests/cluster/test_ray.py):
#
#   tests/cluster/ray.sh start DIR         # a head and a worker node, 1 CPU each; prints `export RAY_ADDRESS=...`
#   tests/cluster/ray.sh kill-worker DIR   # the worker node dies at once (SIGKILL), as a machine that fails
#   tests/cluster/ray.sh stop DIR          # stops both nodes (the `ray start --block` processes it started)
#
# Each node is a `ray start --block` process in the background whose pid is kept in DIR; stopping it
# stops its node. Ray's files go to DIR/t; on loopback only; ports: DIP_RAY_PORT (6390) for the head.
set -euo pipefail

command=${1:-}
dir=${2:-${DIP_RAY_DIR:-}}
if [[ -z "$command" || -z "$dir" ]]; then
    echo "usage: $0 start|kill-worker|stop DIR" >&2
    exit 2
fi
port=${DIP_RAY_PORT:-6390}
ray=${RAY:-$(dirname "$0")/../../.venv/bin/ray}
[[ -x "$ray" ]] || ray=$(command -v ray || true)
export RAY_ADDRESS=127.0.0.1:$port

node_count() {  # nodes alive, as the head's GCS sees them
    "$(dirname "$ray")/python" - <<'PY' 2>/dev/null || echo 0
import ray
ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
print(sum(node["Alive"] for node in ray.nodes()))
PY
}

stop_pid_file() {  # end the process whose pid is in $1 (SIGTERM, then SIGKILL after 20 s)
    local file=$1 pid
    [[ -f "$file" ]] || return 0
    pid=$(cat "$file")
    tr "\0" " " < "/proc/$pid/cmdline" 2>/dev/null | grep -q "ray start.*$port" || { rm -f "$file"; return 0; }  # not ours
    if [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; then
        for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

case "$command" in
start)
    [[ -n "$ray" ]] || { echo "ray not found: pip install 'ray[default]'" >&2; exit 3; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    common=(--block --node-ip-address=127.0.0.1 --num-cpus=1 --object-store-memory=100000000 --disable-usage-stats)
    setsid "$ray" start --head --port="$port" --ray-client-server-port=$((port + 1)) --dashboard-port=$((port + 2)) \
        --temp-dir="$dir/t" --include-dashboard=false "${common[@]}" \
        > "$dir/head.log" 2>&1 < /dev/null &
    echo $! > "$dir/head.pid"
    for _ in $(seq 120); do  # up to 60 s for the head
        grep -q "Ray runtime started" "$dir/head.log" && break
        kill -0 "$(cat "$dir/head.pid")" 2>/dev/null || break
        sleep 0.5
    done
    setsid "$ray" start --address="$RAY_ADDRESS" "${common[@]}" > "$dir/worker.log" 2>&1 < /dev/null &
    echo $! > "$dir/worker.pid"
    for _ in $(seq 60); do  # up to 60 s for both nodes to be alive
        if [[ "$(node_count)" == 2 ]]; then
            echo "export RAY_ADDRESS=$RAY_ADDRESS"
            exit 0
        fi
        sleep 1
    done
    echo "the Ray cluster did not come up; logs in $dir" >&2
    tail -5 "$dir/head.log" "$dir/worker.log" >&2 || true
    "$0" stop "$dir" || true
    exit 1
    ;;
kill-worker)  # the worker's raylet and its task processes, at once
    pid=$(cat "$dir/worker.pid")
    raylets=$(pgrep -P "$pid" -f raylet || true)
    [[ -n "$raylets" ]] || { echo "no raylet under the worker node's process $pid" >&2; exit 1; }
    for raylet in $raylets; do
        kill -9 $(pgrep -P "$raylet" || true) "$raylet" 2>/dev/null || true
    done
    ;;
stop)
    stop_pid_file "$dir/worker.pid"
    stop_pid_file "$dir/head.pid"
    ;;
*)
    echo "usage: $0 start|kill-worker|stop DIR" >&2
    exit 2
    ;;
esac
