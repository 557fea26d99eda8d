"""Keep freed memory in the process for reuse: fewer page faults when many large arrays come and go.

One evaluation of the whole metric catalogue on a 640×480 triple allocates and frees a few hundred megabytes of
image-sized arrays, and so does one forward pass of the network (its feature maps: 0.21 s instead of 0.25 s per
640×480 pair on the 2-core machine, docs/speed.md). glibc's malloc hands large blocks back to the kernel on free,
so the next evaluation pays a page fault per 4 KiB page again (10,000–90,000 faults, 30–130 ms of system time per
triple on the 2-core reference machine, and uneven timings). :func:`retain_freed_memory` raises malloc's
thresholds so that freed blocks stay in the heap. The cost: the process keeps its peak heap size (a few hundred MB
for the metrics, up to 1 GiB of it free) until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_MAX_BLOCK = 32 * 1024 * 1024  # glibc's ceiling for the mmap threshold on 64-bit systems
_done = False


def retain_freed_memory(trim_threshold: int = 1 << 30) -> bool:
    """Make glibc keep up to ``trim_threshold`` bytes of freed heap, serve blocks up to 32 MiB from the heap, and
    use one heap for all threads (with glibc's default heap per thread, the metric threads' heaps still hand
    memory back: measured 10,000–50,000 page faults per 640×480 triple instead of none).

    Process-wide and idempotent; fusion on the CPU (:func:`wavecross.engine.fuse_tensors`), ``wavecross
    evaluate`` and ``wavecross benchmark`` call it.
    Returns whether the setting took effect (False where the C library is not glibc, e.g. macOS or Windows,
    whose allocators need no such help).
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, _MMAP_MAX_BLOCK), (_M_TRIM_THRESHOLD, trim_threshold))
    _done = all(mallopt(param, value) for param, value in settings)
    return _done
