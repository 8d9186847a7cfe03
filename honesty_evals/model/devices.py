"""Device names checked before a model loads: a device this machine lacks is one line."""

from __future__ import annotations

from honesty_evals.errors import UserInputError


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
