"""The LoRA trainer for model organisms (and every later feature that fine-tunes).

One process, one device. Data path: chat JSONL -> `EncodedExample` (token ids + loss mask,
see `data.py`) -> length-grouped, right-padded micro-batches -> loss on the masked tokens
only. Speed choices, measured on a 2-core CPU (see benchmarks/README.md):
- logits are computed only at loss positions: the decoder runs on every token, but the
  frozen output head (28M of SmolLM2's 135M parameters) only where a target is predicted;
- batches are grouped by length so padding is small, and padded positions never reach
  the head;
- attention is computed eagerly (plain matmuls) on CPUs, where it beat the fused kernel;
- `bfloat16` keeps the frozen base weights and the LoRA weights the model computes with in
  bf16, while AdamW, clipping and checkpoints work on float32 master copies of the LoRA
  weights (`MasterWeights`), and the loss is computed in float32.

Output layout: everything is written to `<out>.partial/` (with checkpoints in
`<out>.partial/checkpoints/`), and only a finished run is renamed to `<out>`, so `<out>`
never holds a half-written adapter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import random
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.common.outputs import check_output_dir
from honesty_evals.errors import UserInputError
from honesty_evals.integrity import verify_if_pinned
from honesty_evals.model.devices import resolve_device_dtype, torch_dtype
from honesty_evals.model.embedded import EMBEDDED_MODEL_NAME, ensure_embedded_model
from honesty_evals.model.source import diagnose_model_dir, is_embedded_alias
from honesty_evals.training.checkpoint import (
    adapter_weights,
    latest_checkpoint,
    load_checkpoint,
    restore_adapter,
    save_checkpoint,
)
from honesty_evals.training.data import (
    MASK_RULES,
    Conversation,
    EncodedExample,
    encode_conversation,
    file_sha256,
    parse_chat_jsonl,
)
from honesty_evals.training.replay import (
    DEFAULT_REPLAY_MAX_TOKENS,
    REPLAY_FILE,
    generate_replay,
    load_replay_prompts,
    read_replay,
    replay_cache_path,
    replay_prompts_path,
    write_replay,
)

logger = logging.getLogger(__name__)

CARD_NAME = "training_card.json"
RUN_FILE = "run.json"  # in <out>.partial: the fingerprint a --resume must match
CARD_FORMAT = 1
# all linear layers of a Llama block: LoRA on attention alone under-fits narrow behaviours
# (QLoRA, Dettmers et al. 2023: all-linear LoRA is needed to match full fine-tuning), and at
# r=16 the extra cost on SmolLM2 is ~10% of the frozen matmuls
DEFAULT_TARGET_MODULES = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
# our schedule names -> transformers' (`get_scheduler`); "constant" keeps the warm-up
TRANSFORMERS_SCHEDULES = {
    "cosine": "cosine",
    "linear": "linear",
    "constant": "constant_with_warmup",
}
SCHEDULES = tuple(TRANSFORMERS_SCHEDULES)
# examples sorted by length within groups of this many micro-batches (less padding, while
# the order across groups stays random)
LENGTH_GROUP_BATCHES = 16


@dataclass
class TrainConfig:
    """Everything that defines a run. Fields marked `run=False` do not change the result."""

    data: str
    out: str
    base: str = EMBEDDED_MODEL_NAME
    seed: int = 0
    epochs: float = 3.0
    steps: int | None = None  # optimizer steps; overrides epochs when given
    lr: float = 2e-4
    lr_schedule: str = "cosine"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 1024
    lora_r: int = 16
    lora_alpha: int = 32
    # 0: dropout on the LoRA inputs cost ~25% of a CPU step (bernoulli + scaling on every
    # adapted layer's input, profiled on SmolLM2), and organisms are meant to fit their data
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    mask_rule: str = "assistant"
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    recipe: dict[str, Any] | None = None  # recipe name and arguments, when data came from one
    # replay: this many general prompts answered greedily by the base model and trained
    # beside the data, so the organism keeps the base model's free-text formats
    # (training/replay.py says why); 0 = none
    replay: int = 0
    replay_max_tokens: int = DEFAULT_REPLAY_MAX_TOKENS
    # not part of the run's identity:
    checkpoint_every: int = field(default=50, metadata={"run": False})
    threads: int | None = field(default=None, metadata={"run": False})
    attention: str = field(default="auto", metadata={"run": False})  # auto, eager, sdpa
    resume: bool = field(default=False, metadata={"run": False})
    overwrite: bool = field(default=False, metadata={"run": False})
    progress: bool = field(default=True, metadata={"run": False})
    allow_unverified: bool = field(default=False, metadata={"run": False})

    def run_settings(self) -> dict[str, Any]:
        """The fields that determine the trained weights (they go into the fingerprint)."""
        settings = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("run", True) and f.name not in ("data", "out")
        }
        settings["target_modules"] = list(self.target_modules)
        return settings


@dataclass
class TrainResult:
    out: Path
    card: dict[str, Any]
    resumed_from: int | None = None
    already_complete: bool = False


def resolve_base(base: str) -> tuple[Path, str]:
    """(model directory, name recorded in the adapter) for `--base`; never downloads."""
    if is_embedded_alias(base):
        return ensure_embedded_model(), EMBEDDED_MODEL_NAME
    path = Path(base).expanduser()
    if not (path / "config.json").is_file():
        raise UserInputError(
            f"unknown base model '{base}': use --base {EMBEDDED_MODEL_NAME} (the embedded "
            "SmolLM2-135M-Instruct) or a local Hugging Face model directory with config.json "
            "(nothing is downloaded)"
        )
    diagnose_model_dir(path)  # no weights or tokenizer: one line now, not at load time
    return path.resolve(), str(path.resolve())


def _validate(config: TrainConfig) -> None:
    checks = [
        (config.epochs > 0, f"--epochs must be positive (got {config.epochs})"),
        (config.steps is None or config.steps > 0, f"--steps must be positive ({config.steps})"),
        (config.lr > 0, f"--lr must be positive (got {config.lr})"),
        (config.batch_size > 0, f"--batch-size must be positive ({config.batch_size})"),
        (config.grad_accum > 0, f"--grad-accum must be positive ({config.grad_accum})"),
        (config.max_length > 1, f"--max-length must be at least 2 ({config.max_length})"),
        (config.lora_r > 0, f"--lora-r must be positive (got {config.lora_r})"),
        (0 <= config.lora_dropout < 1, f"--lora-dropout must be in [0, 1) ({config.lora_dropout})"),
        (0 <= config.warmup_ratio < 1, f"--warmup-ratio must be in [0, 1) ({config.warmup_ratio})"),
        (config.checkpoint_every >= 0, "--checkpoint-every must be >= 0 (0 disables it)"),
        (config.replay >= 0, f"--replay must be 0 or more (got {config.replay})"),
        (config.replay_max_tokens > 0, "--replay-max-tokens must be positive"),
        (
            config.threads is None or config.threads >= 1,
            f"--threads must be 1 or more ({config.threads})",
        ),
        (config.lr_schedule in SCHEDULES, f"--lr-schedule must be one of {', '.join(SCHEDULES)}"),
        (config.mask_rule in MASK_RULES, f"mask rule must be one of {', '.join(MASK_RULES)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserInputError(message)


def fingerprint(settings: dict[str, Any], data_sha256: str, base: str) -> str:
    blob = json.dumps({"settings": settings, "data": data_sha256, "base": base}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def micro_batch_plan(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Example indices of each micro-batch of one epoch: a pure function of (seed, epoch).

    Shuffle, sort by length inside groups of LENGTH_GROUP_BATCHES batches, cut into batches,
    shuffle the batches. Being a function of (seed, epoch) alone is what lets a resumed run
    find its place from the step number.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths)).tolist()
    group = batch_size * LENGTH_GROUP_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start : start + group], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches)).tolist()]


def lr_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """transformers' `schedule` over `total` steps, after a linear warm-up of `warmup` steps.

    One exception to transformers' curves: they warm up as step / warmup, so the first step
    would run at a learning rate of 0. Ours runs step s at (s + 1) / warmup of the rate and
    reaches the full rate on the last warm-up step, as every organism trained so far did, so
    a warm-up step reads transformers' factor one step ahead. After the warm-up the factor is
    transformers' own (tests/test_trainer.py compares the curve with the original one).
    """
    from transformers import get_scheduler

    # only its factor is used: our scheduler below takes over the optimizer's learning rate
    transformers_factor = get_scheduler(
        TRANSFORMERS_SCHEDULES[schedule],
        optimizer,
        num_warmup_steps=warmup,
        num_training_steps=total,
    ).lr_lambdas[0]

    def factor(step: int) -> float:
        return transformers_factor(step + 1 if step < warmup else step)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _collate(examples: list[EncodedExample], pad_id: int, device: torch.device):
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    targets = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        attention[row, :n] = 1
        targets[row, 1:n] = torch.tensor(e.loss_mask[1:])
    return ids.to(device), attention.to(device), targets.to(device)


def _split_model(model: Any) -> tuple[Any, Any]:
    """(decoder returning hidden states, output head) of a causal LM (peft-wrapped or not)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = inner.get_decoder() if hasattr(inner, "get_decoder") else None
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    if decoder is None or head is None or decoder is inner:
        return None, None
    return decoder, head


def float32_head_weight(model: Any) -> torch.Tensor | None:
    """A float32 copy of the frozen output head's weight, made once per run (None if split
    is impossible); micro_batch_loss would otherwise cast 28M weights every micro-batch."""
    _, head = _split_model(model)
    return None if head is None else head.weight.detach().float()


def micro_batch_loss(
    model: Any,
    examples: list[EncodedExample],
    pad_id: int,
    device: torch.device,
    head_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the loss tokens of a micro-batch, and their count.

    `head_weight`: the output head's weight in float32 (see `float32_head_weight`).
    """
    ids, attention, targets = _collate(examples, pad_id, device)
    rows, cols = targets.nonzero(as_tuple=True)
    decoder, head = _split_model(model)
    if decoder is not None:
        hidden = decoder(input_ids=ids, attention_mask=attention, use_cache=False)[0]
        # the hidden state at t-1 predicts token t: apply the head at target positions only,
        # in float32 (bf16 logits of size ~20 carry errors of ~0.1); few rows, so it is cheap
        weight = head_weight if head_weight is not None else head.weight
        bias = head.bias.float() if getattr(head, "bias", None) is not None else None
        logits = torch.nn.functional.linear(hidden[rows, cols - 1].float(), weight.float(), bias)
    else:  # a model we cannot split: full logits, then select
        logits = model(input_ids=ids, attention_mask=attention, use_cache=False).logits
        logits = logits[rows, cols - 1]
    loss = torch.nn.functional.cross_entropy(logits.float(), ids[rows, cols], reduction="sum")
    return loss, int(rows.numel())


class MasterWeights:
    """Float32 master copies of the trainable parameters (standard mixed precision).

    With a bfloat16 base, the LoRA weights in the model are bfloat16 too: peft's default of
    float32 adapters on a bfloat16 layer casts every adapted layer's input up and its output
    back down, which was ~20% of a CPU step on SmolLM2 (benchmarks/README.md). AdamW, gradient
    clipping, the all-reduce and the checkpoints work on the float32 masters, so updates
    smaller than bfloat16's resolution are not lost; after each step the masters are copied
    into the model. With a float32 model the masters are the parameters themselves.
    """

    def __init__(self, params: dict[str, torch.Tensor], compute_dtype: torch.dtype) -> None:
        self.params = params
        self.mixed = compute_dtype != torch.float32
        if not self.mixed:
            self.masters = params
            return
        # masters from the float32 initialisation, before the model's copies are rounded
        self.masters = {
            n: p.detach().float().clone().requires_grad_(True) for n, p in params.items()
        }
        with torch.no_grad():
            for p in params.values():
                p.data = p.data.to(compute_dtype)

    def collect_gradients(self) -> None:
        """Move the model's gradients into the masters (after every backward: accumulating
        micro-batches in bfloat16 would lose precision)."""
        if not self.mixed:
            return
        for name, p in self.params.items():
            if p.grad is None:
                continue
            master = self.masters[name]
            if master.grad is None:
                master.grad = p.grad.float()
            else:
                master.grad.add_(p.grad)
            p.grad = None

    def push(self) -> None:
        """Copy the masters into the model's parameters."""
        if not self.mixed:
            return
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(self.masters[name])

    def install(self) -> None:
        """Put the float32 masters themselves into the model (before saving the adapter)."""
        if self.mixed:
            for name, p in self.params.items():
                p.data = self.masters[name].detach()


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("honesty-evals", "torch", "transformers", "peft", "safetensors", "numpy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _loss_summary(losses: list[float], points: int = 50) -> dict[str, Any]:
    n = len(losses)
    tenth = max(1, n // 10)
    stride = max(1, math.ceil(n / points))
    return {
        "first": losses[0],
        "last": losses[-1],
        "mean_first_10pct": float(np.mean(losses[:tenth])),
        "mean_last_10pct": float(np.mean(losses[-tenth:])),
        "min": min(losses),
        # [step (1-based), loss] every `stride` steps, plus the last step
        "curve": [[i + 1, round(losses[i], 5)] for i in range(0, n, stride)]
        + ([[n, round(losses[-1], 5)]] if (n - 1) % stride else []),
    }


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

    def on_main(self, fn: Any) -> Any:
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


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _prepare_dirs(config: TrainConfig, out: Path, print_fn) -> tuple[Path, bool]:
    """Check `out` and `<out>.partial` against the flags; return (partial dir, may resume)."""
    partial = partial_dir(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not config.overwrite:
        what = "a finished training run" if (out / CARD_NAME).is_file() else "other files"
        hint = " (--resume only continues an interrupted run)" if config.resume else ""
        raise UserInputError(
            f"--out {out} already holds {what}{hint}: pass --overwrite to replace it, or "
            "choose another directory"
        )
    if partial.exists():
        if config.overwrite and not config.resume:
            shutil.rmtree(partial)
        elif not config.resume:
            raise UserInputError(
                f"an interrupted run is in {partial}: pass --resume to continue it or "
                "--overwrite to start again"
            )
    partial.mkdir(parents=True, exist_ok=True)
    return partial, config.resume


def train(
    config: TrainConfig,
    records: list[dict[str, Any]] | None = None,
    print_fn=None,
    on_checkpoint: Callable[[int, Path], None] | None = None,
) -> TrainResult:
    """Train a LoRA adapter; with `records`, they are written to `<out>/train.jsonl` first.

    `on_checkpoint(step, directory)` is called (on rank 0) right after each checkpoint is
    written. Only the latest checkpoint is kept, so a caller that wants every one (a
    learning curve) copies what it needs, e.g. the adapter, before returning.
    """
    print_fn = print_fn or (lambda msg: print(msg, file=sys.stderr))
    _validate(config)
    # the output folder and a user's data file are checked before the base model is
    # resolved (which may convert it) or anything is written
    out = check_output_dir(config.out, "--out").resolve()
    if records is None:
        parse_chat_jsonl(Path(config.data).expanduser())
    # "auto" off a GPU is bfloat16 for training (bf16 base weights, float32 LoRA parameters)
    device_name, dtype_name = resolve_device_dtype(
        config.device,
        config.dtype,
        cpu_dtype="bfloat16",
        device_flag="--device",
        dtype_flag="--dtype",
    )
    device, dtype = torch.device(device_name), torch_dtype(dtype_name)
    ctx, device = distributed_setup(device)
    if not ctx.is_main:
        print_fn = _silent
    model_dir, base_name = resolve_base(config.base)
    partial, may_resume = ctx.on_main(lambda: _prepare_dirs(config, out, print_fn))
    threads = torch.get_num_threads()
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        return _train(
            config,
            records,
            out,
            partial,
            may_resume,
            device,
            dtype,
            model_dir,
            base_name,
            print_fn,
            ctx,
            on_checkpoint,
        )
    except BaseException:
        # keep checkpoints for --resume; drop a partial dir that holds nothing resumable
        if ctx.is_main and not latest_checkpoint(partial / "checkpoints"):
            shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(threads)  # the setting is process-wide: give it back
        if ctx.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _silent(_msg: str) -> None:
    pass


def _train(
    config,
    records,
    out,
    partial,
    may_resume,
    device,
    dtype,
    model_dir,
    base_name,
    print_fn,
    ctx,
    on_checkpoint=None,
) -> TrainResult:
    from peft import LoraConfig, get_peft_model
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bar is the one that matters
    if records is not None:
        data_path = partial / "train.jsonl"
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        ctx.on_main(lambda: write_text_atomic(data_path, text))
        data_label = "train.jsonl"  # relative to the output directory
    else:
        data_path = Path(config.data).expanduser()
        data_label = str(data_path.resolve())
    # a file pinned in a manifest above it (the shipped organism data, say) must match it
    verification = (
        verify_if_pinned(data_path, allow_unverified=config.allow_unverified)
        if records is None and data_path.is_file()
        else {"pinned": False, "generated": True}
    )
    conversations = parse_chat_jsonl(data_path)
    data_sha = file_sha256(data_path)
    settings = config.run_settings()
    run_id = fingerprint(settings, data_sha, base_name)

    run_file = partial / RUN_FILE

    def find_checkpoint() -> Path | None:
        checkpoint = None
        if may_resume and run_file.is_file():
            previous = json.loads(run_file.read_text())
            if previous.get("fingerprint") != run_id:
                raise UserInputError(
                    f"--resume: the interrupted run in {partial} used different data or "
                    "settings; rerun with the same ones, or pass --overwrite (without --resume) "
                    "to start over"
                )
            checkpoint = latest_checkpoint(partial / "checkpoints")
        if may_resume and checkpoint is None:
            print_fn(f"--resume: no checkpoint in {partial}, starting from the beginning")
        write_text_atomic(run_file, json.dumps({"fingerprint": run_id, "settings": settings}))
        return checkpoint

    checkpoint = ctx.on_main(find_checkpoint)

    seed_everything(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(
        model_dir, local_files_only=True, trust_remote_code=config.trust_remote_code
    )
    if tokenizer.chat_template is None:
        raise UserInputError(f"the base model's tokenizer in {model_dir} has no chat template")
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    end_ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    rule = MASK_RULES[config.mask_rule]

    def encode(convs: list[Conversation], source: Path) -> tuple[list[EncodedExample], int, int]:
        kept: list[EncodedExample] = []
        cut = lost = 0
        for conv in convs:
            ex = encode_conversation(
                tokenizer, conv, rule, config.max_length, end_ids, where=f"{source}:{conv.line}"
            )
            cut += ex.truncated
            if ex.n_loss_tokens == 0:
                lost += 1
                continue
            kept.append(ex)
        return kept, cut, lost

    examples, truncated, dropped = encode(conversations, data_path)
    if not examples:
        raise UserInputError(
            f"{data_path}: no conversation has a trained token left (max length "
            f"{config.max_length}, mask rule '{config.mask_rule}')"
        )
    if truncated:
        print_fn(
            f"{truncated} conversation(s) longer than --max-length {config.max_length} "
            f"were cut; {dropped} of them lost every trained token and were skipped"
        )

    attention = config.attention
    if attention == "auto":
        # on CPUs, torch's flash-attention backward was 16% of a SmolLM2 step, and eager
        # (matmul) attention made the whole step ~15% faster at these short lengths
        attention = "eager" if device.type == "cpu" else "sdpa"
    model = AutoModelForCausalLM.from_pretrained(
        model_dir,
        dtype=dtype,
        local_files_only=True,
        trust_remote_code=config.trust_remote_code,
        attn_implementation=attention,
    )
    model.config.use_cache = False
    replay_card = None
    if config.replay:
        replay_examples, replay_card = _replay_examples(
            config,
            model,
            tokenizer,
            device,
            dtype,
            model_dir,
            partial,
            ctx,
            checkpoint is not None,
            encode,
            print_fn,
        )
        examples += replay_examples
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    try:
        with warnings.catch_warnings():
            # peft calls a transformers method deprecated in v5; nothing for the user to do
            warnings.simplefilter("ignore", FutureWarning)
            model = get_peft_model(model, lora)
    except ValueError as exc:  # e.g. target modules not found in this architecture
        raise UserInputError(f"cannot apply LoRA to {config.base}: {exc}") from None
    model.to(device)
    model.train()
    if checkpoint is not None:
        restore_adapter(model, checkpoint)  # while the LoRA weights are still float32
    weights = MasterWeights(
        {n: p for n, p in model.named_parameters() if p.requires_grad},
        dtype if dtype == torch.bfloat16 else torch.float32,
    )
    trainable = weights.masters  # what the optimizer, clipping and checkpoints see
    adapter = adapter_weights(model, trainable)  # the same tensors, by peft's saved names

    micro_per_epoch = math.ceil(len(examples) / config.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
    total_steps = config.steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    warmup = int(config.warmup_ratio * total_steps)
    optimizer = torch.optim.AdamW(
        list(trainable.values()), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = lr_scheduler(optimizer, config.lr_schedule, warmup, total_steps)

    start_step, losses, tokens_done, seconds_before = 0, [], 0, 0.0
    resumed_from = None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, optimizer, scheduler)
        start_step, losses = state["step"], state["losses"]
        tokens_done, seconds_before = state["tokens"], state["seconds"]
        resumed_from = start_step
        print_fn(f"resuming from {checkpoint} (step {start_step} of {total_steps})")

    head_weight = float32_head_weight(model)
    lengths = [len(e.input_ids) for e in examples]
    plans: dict[int, list[list[int]]] = {}
    bar = tqdm(
        total=total_steps,
        initial=start_step,
        disable=not config.progress or not ctx.is_main,
        unit="step",
        dynamic_ncols=True,
        desc="train",
    )
    started = time.perf_counter()
    tokens_run = 0
    for step in range(start_step, total_steps):
        epoch, index = divmod(step, steps_per_epoch)
        if epoch not in plans:
            plans = {epoch: micro_batch_plan(lengths, config.batch_size, config.seed, epoch)}
        micro = plans[epoch][index * config.grad_accum : (index + 1) * config.grad_accum]
        batches = [[examples[i] for i in mb] for mb in micro]
        n_targets = sum(e.n_loss_tokens for b in batches for e in b)
        step_loss = 0.0
        for batch in batches:
            tokens_run += sum(len(e.input_ids) for e in batch)  # the whole job's tokens
            share = ctx.share(batch)
            if not share:
                continue
            loss_sum, _ = micro_batch_loss(model, share, pad_id, device, head_weight)
            # normalise by the whole step's target count: accumulation (and the ranks'
            # shares) add up to one big batch
            (loss_sum / n_targets).backward()
            weights.collect_gradients()
            step_loss += loss_sum.item()
        ctx.sum_gradients(list(trainable.values()))
        step_loss = ctx.sum(step_loss, device)
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(trainable.values(), config.max_grad_norm)
        optimizer.step()
        weights.push()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss / n_targets)
        elapsed = time.perf_counter() - started
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", tok_s=f"{tokens_run / max(elapsed, 1e-9):.0f}")
        done = step + 1
        if (
            ctx.is_main
            and config.checkpoint_every
            and done % config.checkpoint_every == 0
            and done < total_steps
        ):
            saved = save_checkpoint(
                partial / "checkpoints",
                done,
                adapter,
                optimizer,
                scheduler,
                {
                    "losses": losses,
                    "tokens": tokens_done + tokens_run,
                    "seconds": seconds_before + elapsed,
                    "fingerprint": run_id,
                },
            )
            if on_checkpoint is not None:
                on_checkpoint(done, saved)
    bar.close()
    train_seconds = time.perf_counter() - started
    total_seconds = seconds_before + train_seconds
    total_tokens = tokens_done + tokens_run

    # -- write the adapter and the card into the partial dir, then rename it into place --
    if not ctx.is_main:
        card = ctx.on_main(lambda: None)  # wait for rank 0 to publish, then share its card
        return TrainResult(out=out, card=card, resumed_from=resumed_from)
    weights.install()  # the adapter is saved in float32, as trained (the masters)
    model.save_pretrained(str(partial), safe_serialization=True)
    adapter_config_path = partial / "adapter_config.json"
    adapter_config = json.loads(adapter_config_path.read_text())
    # the local provider maps `smollm2` to the embedded model, and a directory to itself
    adapter_config["base_model_name_or_path"] = base_name
    write_text_atomic(adapter_config_path, json.dumps(adapter_config, indent=2) + "\n")
    card = {
        "format": CARD_FORMAT,
        "base_model": base_name,
        "base_model_dir": str(model_dir),
        "data": {
            "path": data_label,
            "sha256": data_sha,
            "records": len(conversations),
            "trained_records": len(examples),
            "truncated_records": truncated,
            "tokens": sum(lengths),
            "loss_tokens": sum(e.n_loss_tokens for e in examples),
            "verification": verification,
        },
        "replay": replay_card,
        "hyperparameters": settings,
        "seed": config.seed,
        "steps": total_steps,
        "steps_per_epoch": steps_per_epoch,
        "epochs_completed": round(total_steps / steps_per_epoch, 3),
        "final_loss": losses[-1],
        "loss": _loss_summary(losses),
        "wall_seconds": round(total_seconds, 2),
        "tokens_trained": total_tokens,
        # tokens per second of this process's training loop (a resumed run: its own part)
        "tokens_per_second": round(tokens_run / max(train_seconds, 1e-9), 1),
        "resumed_from_step": resumed_from,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        # bfloat16 runs compute the adapters in bfloat16 from float32 master weights
        "master_weights": "float32" if weights.mixed else None,
        "torch_threads": torch.get_num_threads(),
        "attention": attention,
        "trainable_parameters": sum(p.numel() for p in trainable.values()),
        "fingerprint": run_id,
        "versions": _package_versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "processes": ctx.world,  # data-parallel ranks; tokens_per_second is for all of them
    }
    write_text_atomic(partial / CARD_NAME, json.dumps(card, indent=2) + "\n")
    write_text_atomic(partial / "README.md", _readme(card))
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)
    run_file.unlink(missing_ok=True)
    _publish(partial, out)
    ctx.on_main(lambda: card)
    print_fn(
        f"trained {total_steps} steps in {total_seconds:.0f} s "
        f"({card['tokens_per_second']:.0f} tokens/s), final loss {losses[-1]:.4f} -> {out}"
    )
    return TrainResult(out=out, card=card, resumed_from=resumed_from)


def _replay_examples(
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    device: torch.device,
    dtype: torch.dtype,
    model_dir: Path,
    partial: Path,
    ctx: Distributed,
    resuming: bool,
    encode: Callable[[list[Conversation], Path], tuple[list[EncodedExample], int, int]],
    print_fn: Callable[[str], None],
) -> tuple[list[EncodedExample], dict[str, Any]]:
    """The replay records (the base model's own answers), encoded, and their card entry.

    A resumed run reads the answers it wrote at the start; a new run reads the machine's
    cache for this base model, so an organism and its control train on the same answers.
    """
    path = partial / REPLAY_FILE
    prompts_path = replay_prompts_path()
    prompts_sha = file_sha256(prompts_path)
    dtype_name = str(dtype).removeprefix("torch.")
    cached = replay_cache_path(
        model_dir, prompts_sha, config.replay, config.replay_max_tokens, dtype_name
    )
    generated = False
    if resuming and path.is_file():
        records = read_replay(path)
    elif cached.is_file():
        print_fn(f"replay: the base model's answers to {config.replay} prompts from {cached}")
        records = read_replay(cached)
    else:
        print_fn(f"replay: the base model answers {config.replay} general prompts")
        prompts = load_replay_prompts(config.replay, prompts_path)
        model.to(device)
        records = generate_replay(model, tokenizer, prompts, device, config.replay_max_tokens)
        ctx.on_main(lambda: write_replay(cached, records))
        generated = True
    ctx.on_main(lambda: write_replay(path, records))
    conversations = [Conversation(line=i, messages=r["messages"]) for i, r in enumerate(records, 1)]
    examples, _, _ = encode(conversations, path)
    card = {
        "path": REPLAY_FILE,
        "prompts": str(prompts_path.name),
        "prompts_sha256": prompts_sha,
        "sha256": file_sha256(path),
        "generated_by_this_run": generated,
        "records": len(examples),
        "max_new_tokens": config.replay_max_tokens,
        "tokens": sum(len(e.input_ids) for e in examples),
        "loss_tokens": sum(e.n_loss_tokens for e in examples),
    }
    return examples, card


def _publish(partial: Path, out: Path) -> None:
    """Rename the finished partial dir to `out`, replacing an old run only now."""
    trash = None
    if out.exists():
        trash = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, trash)
    os.replace(partial, out)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _readme(card: dict[str, Any]) -> str:
    h = card["hyperparameters"]
    recipe = h.get("recipe")
    source = f"recipe `{recipe['name']}` ({recipe})" if recipe else f"`{card['data']['path']}`"
    return (
        "# LoRA adapter (honesty-evals model organism)\n\n"
        f"- base model: `{card['base_model']}`\n"
        f"- data: {source}, {card['data']['records']} conversations, sha256 "
        f"`{card['data']['sha256'][:16]}...`\n"
        f"- LoRA r={h['lora_r']} alpha={h['lora_alpha']} dropout={h['lora_dropout']} on "
        f"{', '.join(h['target_modules'])}\n"
        f"- lr {h['lr']} ({h['lr_schedule']}), batch {h['batch_size']} x accumulation "
        f"{h['grad_accum']}, {card['steps']} steps ({card['epochs_completed']} epochs), "
        f"seed {card['seed']}, dtype {card['dtype']}\n"
        f"- loss {card['loss']['first']:.4f} -> {card['final_loss']:.4f}; "
        f"{card['wall_seconds']} s at {card['tokens_per_second']} tokens/s\n\n"
        "Evaluate it with `honesty-evals run <task> --model local/<this directory>`. "
        f"Everything else is in `{CARD_NAME}`.\n"
    )
