"""Devices and dtypes, resolved before a model loads: a device this machine lacks is one line.

One resolver serves inference (the `local` engine) and training; each says what "auto"
means off a GPU, where the two want different things (see `resolve_device_dtype`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from honesty_evals.errors import UserInputError

if TYPE_CHECKING:  # torch loads when a model does, not when a command line is parsed
    import torch

DTYPE_NAMES = ("float32", "bfloat16", "float16")


def check_device(device: str, flag: str = "--device") -> str:
    """`device` when this machine has it ("auto", "cpu", "cuda", "cuda:N", "mps")."""
    import torch

    name = str(device).strip()
    if name == "auto":
        return name
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserInputError(f"unknown {flag} '{device}': use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserInputError(
                f"{flag} '{device}': no CUDA device is available on this machine: use cpu "
                "(or auto, which picks a GPU when there is one)"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise UserInputError(
                f"{flag} '{device}': this machine has {count} CUDA device(s), numbered 0 to "
                f"{count - 1}"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise UserInputError(f"{flag} '{device}': MPS is not available here: use cpu")
    elif dev.type != "cpu":
        raise UserInputError(f"{flag} '{device}' is not supported: use auto, cpu or cuda")
    return name


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a resolved dtype name (one of `DTYPE_NAMES`)."""
    import torch

    return getattr(torch, name)


def resolve_device_dtype(
    device: str,
    dtype: str,
    *,
    cpu_dtype: str,
    device_flag: str = "device",
    dtype_flag: str = "dtype",
) -> tuple[str, str]:
    """Concrete (device, dtype) names for settings that may say "auto".

    The device is checked first (`check_device`); "auto" is CUDA when there is one, else the
    CPU. An "auto" dtype is bfloat16 on CUDA and `cpu_dtype` on any other device, which each
    caller states because inference and training differ there:

    - inference (`model.engine.CPU_DTYPE`, float32) keeps CPU results exact; `-M
      dtype=bfloat16` runs ~3x faster at bfloat16 precision;
    - training (bfloat16) keeps bf16 base weights under float32 LoRA parameters, 2-3x faster
      than float32 on CPUs with bf16 matmuls (benchmarks/README.md), as on GPUs.

    `device_flag` and `dtype_flag` name the settings in errors (`--dtype`, `-M dtype`).
    """
    import torch

    device = check_device(device, device_flag)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else cpu_dtype
    if dtype not in DTYPE_NAMES:
        raise UserInputError(
            f"unknown {dtype_flag} '{dtype}': choose auto, {', '.join(DTYPE_NAMES)}"
        )
    return device, dtype
