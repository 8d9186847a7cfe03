"""Data-parallel training across processes (`accelerate launch`, `torchrun`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from honesty_evals.errors import UserInputError


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run (`accelerate launch`, `torchrun`).

    Every rank holds the whole model and walks the same deterministic batch plan; each
    computes gradients on its share of every micro-batch, the shares are summed across
    ranks, and all ranks take the same optimizer step. The result is the single-process run
    with the same batch size (up to float summation order). Rank 0 alone writes files.
    """

    rank: int = 0
    world: int = 1
    owns_group: bool = False  # we started the process group, so we end it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, batch: list[Any]) -> list[Any]:
        return batch[self.rank :: self.world]

    def on_main(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on rank 0; every rank gets its result, or raises its UserInputError."""
        box: list[Any] = [None]
        if self.is_main:
            try:
                box = [("ok", fn())]
            except UserInputError as exc:
                box = [("error", str(exc))]
        if self.world > 1:
            import torch.distributed as dist

            dist.broadcast_object_list(box, src=0)  # between our own processes only
        status, value = box[0]
        if status == "error":
            raise UserInputError(value)
        return value

    def sum_gradients(self, params: list[torch.Tensor]) -> None:
        if self.world == 1:
            return
        import torch.distributed as dist

        grads = []
        for p in params:
            if p.grad is None:  # this rank's share was empty
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        flat = torch.cat([g.reshape(-1) for g in grads])  # one collective, not hundreds
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def sum(self, value: float, device: torch.device) -> float:
        if self.world == 1:
            return value
        import torch.distributed as dist

        total = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return float(total.item())


def distributed_setup(device: torch.device) -> tuple[Distributed, torch.device]:
    """Join the process group a launcher described in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), device
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank=rank, world=world, owns_group=owns_group), device
