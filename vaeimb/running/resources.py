"""What this process may use (cores, memory) and how many worker processes fit in it.

A container (Streamlit Community Cloud gives an app 690 MB to 2.7 GB and a fraction of a
core to two cores) states its memory limit in its cgroup; ``/proc/meminfo`` shows the
host's memory there, so the limit is read first. Torch-free: the app asks before it
decides whether to load torch at all.
"""

from __future__ import annotations

import ctypes
import gc
import os
from pathlib import Path

#: cgroup v2's limit of this process's group ("max" = none), and cgroup v1's.
CGROUP_V2_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")
CGROUP_V1_MEMORY_LIMIT = Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")
MEMINFO = Path("/proc/meminfo")
#: cgroup v1 writes a number near 2**63 for "no limit".
_NO_V1_LIMIT = 1 << 60
MB = 1 << 20


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity: ``taskset -c 0`` gives one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def cgroup_limit_bytes() -> int | None:
    """This process's cgroup memory limit (v2 ``memory.max``, else v1
    ``memory.limit_in_bytes``), None when there is none or it cannot be read."""
    for path in (CGROUP_V2_MEMORY_MAX, CGROUP_V1_MEMORY_LIMIT):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < _NO_V1_LIMIT else None
    return None


def available_bytes() -> int | None:
    """The machine's available memory (``MemAvailable`` of ``/proc/meminfo``), or None."""
    try:
        with MEMINFO.open() as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_limit_bytes() -> int | None:
    """The memory this process may use: the cgroup limit when there is one, else the
    machine's available memory; the smaller of the two when both are known (a container's
    ``/proc/meminfo`` shows the host). None when neither can be read."""
    known = [v for v in (cgroup_limit_bytes(), available_bytes()) if v]
    return min(known) if known else None


def app_workers(cores: int, memory_bytes: int | None, *, per_worker_mb: float, server_mb: float,
                max_workers: int) -> int:
    """How many processes the app trains in: a Run's child process and its worker
    processes, each one job at a time; 0 = in the server process.

    One per core, as many as fit in ``memory_bytes`` beside the server (``server_mb``), each
    taking ``per_worker_mb`` at its peak, at most ``max_workers``: ``n`` such that
    ``server_mb + n * per_worker_mb <= memory``. Both are proportional set sizes (Pss: a
    shared library's pages split between the processes mapping it), which is what adding
    one more process costs. On one core the child alone: the server stays torch-free and
    has nothing to give back after the Run. 0 only when not even one training process fits
    beside the server: training in the server then needs the least (one interpreter, one
    torch). Unknown memory (None) limits nothing.
    """
    if max_workers < 1:
        return 0
    n = min(max(1, int(cores)), int(max_workers))
    if memory_bytes is not None:
        n = min(n, int((memory_bytes / MB - server_mb) // per_worker_mb))
    return max(0, n)


# --------------------------------------------------------------------------------------
# glibc's heap: what a process that trains gives back
# --------------------------------------------------------------------------------------
#: ``mallopt``'s parameter number for the mmap threshold (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
#: Allocations above this many MB get their own mapping, unmapped when freed.
MMAP_THRESHOLD_MB = 4


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl)
        return None


def fix_mmap_threshold(mb: int = MMAP_THRESHOLD_MB) -> bool:
    """Serve every allocation above ``mb`` MB from its own mapping, returned to the system
    when freed; True when applied (glibc only).

    glibc raises its threshold to the largest block freed so far (up to 32 MB), so after
    the first few training tensors of several MB (a training set as float32, a test set's
    activations) the later ones come from the heap and leave it fragmented: a default Run
    in one process peaked at 1053 MB, and at 935 MB with a fixed 4 MB threshold, about 5 %
    slower (1 MB: 22 % slower; the VAE's activations then take the slow path every step).
    """
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, int(mb) << 20) == 1)


def trim_heap() -> None:
    """Collect garbage and hand the heap's free pages back to the system (after a run)."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
