#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the cluster tests (tests/cluster/test_slurm.py):
#
#   tests/cluster/slurm.sh start DIR   # munged, slurmctld, slurmd; prints `export SLURM_CONF=DIR/slurm.conf`
#   tests/cluster/slurm.sh stop DIR    # cancels every job, stops the daemons it started, by their pid files
#
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root (slurmd runs jobs as
# their users). Everything lives in DIR: the munge key and socket, slurm.conf, state, spool and logs;
# nothing is written to /etc. Two partitions share the node: `debug` (the default) and `urgent`,
# whose jobs preempt debug's by requeueing them, as a busy cluster does. No accounting storage, as
# on many small clusters: sacct answers with an error. Ports: DIP_SLURM_PORT (6817) and the next one.
set -euo pipefail

command=${1:-}
dir=${2:-${DIP_SLURM_DIR:-}}
if [[ -z "$command" || -z "$dir" ]]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi
port=${DIP_SLURM_PORT:-6817}
host=$(hostname -s)

stop_pid_file() {  # kill the daemon whose pid is in $1, wait up to 10 s for it to end
    local file=$1 pid
    [[ -f "$file" ]] || return 0
    pid=$(cat "$file")
    grep -q -- "$dir" "/proc/$pid/cmdline" 2>/dev/null || { rm -f "$file"; return 0; }  # not ours (any more)
    if [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

descendants() {  # the processes under $1, deepest first
    local child
    for child in $(pgrep -P "$1" || true); do
        descendants "$child"
        echo "$child"
    done
}

case "$command" in
start)
    for binary in munged slurmctld slurmd sbatch; do
        command -v "$binary" >/dev/null || { echo "$binary not found: apt-get install slurm-wlm munge" >&2; exit 3; }
    done
    mkdir -p "$dir"/{munge,state,spool,log}
    dir=$(cd "$dir" && pwd)
    chmod 700 "$dir/munge"
    head -c 1024 /dev/urandom > "$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
    memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    cat > "$dir/slurm.conf" <<CONF
ClusterName=dip-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=15
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
KillWait=30
MinJobAge=600
SlurmdTimeout=60
SlurmctldTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=10
CONF
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -f "$SLURM_CONF" -L "$dir/log/slurmctld.log"
    slurmd -f "$SLURM_CONF" -L "$dir/log/slurmd.log"
    for _ in $(seq 300); do  # up to 30 s for the node to be idle
        state=$(sinfo -h -n "$host" -o %t 2>/dev/null | head -1 || true)
        if [[ "$state" == idle ]]; then
            echo "export SLURM_CONF=$SLURM_CONF"
            exit 0
        fi
        sleep 0.1
    done
    echo "the node did not come up (state: ${state:-none}); logs in $dir/log" >&2
    tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    "$0" stop "$dir" || true
    exit 1
    ;;
stop)
    dir=$(cd "$dir" 2>/dev/null && pwd || echo "$dir")
    if [[ -f "$dir/slurm.conf" ]]; then  # cancel every job of this cluster, give them up to 30 s to end
        export SLURM_CONF=$dir/slurm.conf
        scancel --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 150); do [[ -z "$(squeue -h 2>/dev/null)" ]] && break; sleep 0.2; done
    fi
    stop_pid_file "$dir/slurmd.pid"
    stop_pid_file "$dir/slurmctld.pid"
    stop_pid_file "$dir/munge/munged.pid"
    # job steps still there (their slurmd went first): those whose environment names this cluster
    for pid in $(pgrep -x slurmstepd || true); do
        if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$dir/slurm.conf"; then
            kill -9 $(descendants "$pid") "$pid" 2>/dev/null || true
        fi
    done
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
