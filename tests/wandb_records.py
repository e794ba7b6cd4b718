"""Reads back what an offline W&B run recorded (its .wandb file), so that tests can check values.

The file is W&B's transaction log: a 7-byte header (":W&B", a magic number, a version), then blocks of
32 KiB holding records, each with a 7-byte header (checksum, length, type: full, first, middle, last)
and a protobuf `Record`; a block's last bytes are padding when a record header no longer fits."""

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    position, pending, found = HEADER, b"", []
    while position + HEADER <= len(data):
        room = BLOCK - position % BLOCK
        if room < HEADER:  # padding at the end of a block
            position += room
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + HEADER])
        if length == 0 and kind == 0:
            position += room
            continue
        chunk = data[position + HEADER : position + HEADER + length]
        position += HEADER + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
    return found


def run_record(folder: Path) -> dict:
    """config, summary, the run's group / job type / name / tags, the image keys it logged and every key
    it logged (images, tables, metrics)."""
    (log_file,) = Path(folder).glob("wandb/offline-run-*/*.wandb")
    config, summary, logged, identity = {}, {}, set(), {}
    for record in records(log_file):
        kind = record.WhichOneof("record_type")
        if kind == "config":
            config.update({_key(item): json.loads(item.value_json) for item in record.config.update})
        elif kind == "summary":
            summary.update({_key(item): json.loads(item.value_json) for item in record.summary.update})
        elif kind == "history":
            keys = {item.key or item.nested_key[0] for item in record.history.item}
            logged |= keys
        elif kind == "run":
            run = record.run
            identity = {"group": run.run_group, "job_type": run.job_type, "name": run.display_name}
            identity["tags"] = list(run.tags)
            config.update({_key(item): json.loads(item.value_json) for item in run.config.update})
    images = {key for key in logged if key.startswith("images/")}
    return {"config": config, "summary": summary, "images": images, "logged": logged, **identity}


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)
