"""What machine a benchmark ran on, in words: the CPU's name and the flags that decide its speed (AVX2,
AVX-512, AVX-512 BF16, AMX), read from /proc/cpuinfo where there is one."""

import platform
from pathlib import Path

SPEED_FLAGS = ("avx2", "avx512", "amx")  # prefixes of the flags that matter for convolutions and bf16


def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> str:
    """The speed-deciding flags, e.g. 'avx2 avx512f ... avx512_bf16'; 'unknown' without /proc/cpuinfo."""
    flags = _cpuinfo_field("flags")
    if flags is None:
        return "unknown"
    return " ".join(flag for flag in flags.split() if flag.startswith(SPEED_FLAGS)) or "none of avx2, avx512, amx"
