"""Keeping freed array memory mapped between training steps (glibc's malloc only).

A training step allocates its forward's arrays, keeps them until backward has used them, then
frees them all. glibc gives memory at the top of its heap back to the kernel once more than
its trim threshold is free there (about 2x the largest array seen, by default), so every
step's arrays land on fresh pages again and each 4 KiB page costs a page fault (a kernel
entry and zeroing) on first touch. Measured on `nn.TransformerBlock` forward + backward
((32, 64, 64) float32, one thread, CPU time): 6,200 page faults a step and 38 ms, against 0.5
and 21 ms with the two settings below; the hand-written NumPy block (19.5 ms) faults none
either way. Arrays up to `mmap_mib` come from the heap, and up to `trim_mib` of freed heap
stays mapped for the next step (the peak RSS is unchanged: it is the step's peak either way).

`import minigrad` applies it; set MINIGRAD_KEEP_FREED_MEMORY=0 before the import to leave
malloc as it is. Elsewhere (macOS, Windows, musl) nothing is done.
"""

from __future__ import annotations

import ctypes
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(trim_mib: int = 256, mmap_mib: int = 32) -> bool:
    """Ask glibc to serve arrays up to `mmap_mib` MiB from its heap and to keep up to
    `trim_mib` MiB of freed heap mapped (mallopt's M_MMAP_THRESHOLD, whose largest value is
    32 MiB, and M_TRIM_THRESHOLD). Returns whether both were set (False off glibc)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, ValueError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_mib << 20) == 1
    return mallopt(_M_TRIM_THRESHOLD, trim_mib << 20) == 1 and ok


def apply_default() -> bool:
    """`keep_freed_memory()` unless MINIGRAD_KEEP_FREED_MEMORY is "0"."""
    if os.environ.get("MINIGRAD_KEEP_FREED_MEMORY", "1") == "0":
        return False
    return keep_freed_memory()
