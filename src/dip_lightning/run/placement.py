"""Where a run runs, when a scheduler placed it: its SLURM job and node (and how often SLURM has
requeued it), or its Ray node. Logged at the start of each run, so a sweep's logs say which machine ran
which job, and a requeued job's log shows each of its starts."""

import os
import sys


def placement() -> str | None:
    """'SLURM job 12_3 on node gpu07 (requeued 1 time)', 'Ray node 5f0c... (10.0.0.7)', or None."""
    if job := os.environ.get("SLURM_JOB_ID"):
        array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
        name = f"{array}_{task}" if array and task else job
        node = os.environ.get("SLURMD_NODENAME", "?")
        restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
        requeued = f" (requeued {restarts} time{'s' if restarts > 1 else ''})" if restarts else ""
        return f"SLURM job {name} on node {node}{requeued}"
    ray = sys.modules.get("ray")  # loaded by the Ray launcher's task; never imported here
    if ray is not None and ray.is_initialized():
        context = ray.get_runtime_context()
        if context.get_task_id() is not None:
            return f"Ray node {context.get_node_id()} ({ray.util.get_node_ip_address()})"
    return None
