"""What this machine's CPU can do, read without importing torch (spec validation must stay light)."""

from __future__ import annotations

from functools import cache

__all__ = ["cpu_multiplies_bf16"]


@cache
def cpu_multiplies_bf16() -> bool:
    """Whether the CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX), from Linux's
    /proc/cpuinfo flags; False where they cannot be read. Where it is False, bf16 matmuls are
    emulated and slower than fp32, so callers choose bf16 only where this is True."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            flags = next((line for line in info if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
