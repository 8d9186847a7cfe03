"""Model construction for training: the base model's files, its tokenizer and weights, the
LoRA adapter on top, and the float32 master copies of the adapter's weights.

- attention is computed eagerly (plain matmuls) on CPUs, where it beat the fused kernel;
- `bfloat16` keeps the frozen base weights and the LoRA weights the model computes with in
  bf16, while AdamW, clipping and checkpoints work on float32 master copies of the LoRA
  weights (`MasterWeights`), and the loss is computed in float32.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from honesty_evals.common.records import file_sha256
from honesty_evals.errors import UserInputError
from honesty_evals.model.embedded import EMBEDDED_MODEL_NAME, ensure_embedded_model
from honesty_evals.model.source import (
    adapter_weights_file,
    diagnose_model_dir,
    is_embedded_alias,
    resolve_model_source,
)
from honesty_evals.training.config import TrainConfig


@dataclass(frozen=True)
class TrainingBase:
    """What `--base` names, resolved: the full model's files, the name the adapter records
    as its base, and the organism adapters (innermost first) merged into the full model
    before the new LoRA goes on (none for a plain model)."""

    model_dir: Path
    name: str
    adapters: tuple[Path, ...] = ()

    def adapter_records(self) -> list[dict[str, str]]:
        """Each organism adapter merged, innermost first: its folder and its weights' sha256
        (the training card's provenance)."""
        return [
            {"path": str(a), "weights_sha256": file_sha256(adapter_weights_file(a))}
            for a in self.adapters
        ]

    def identity(self) -> str:
        """The base in a run's fingerprint: its name, and for an organism the weights of
        every adapter merged (a retrained organism at the same path is another base)."""
        if not self.adapters:
            return self.name  # as before organisms could be bases: fingerprints are kept
        return json.dumps({"base": self.name, "adapters": self.adapter_records()})


def resolve_training_base(base: str) -> TrainingBase:
    """`--base` resolved, never downloading: the embedded model, a model folder, or an
    organism (a peft adapter folder, followed down to its full model)."""
    if is_embedded_alias(base):
        return TrainingBase(ensure_embedded_model(), EMBEDDED_MODEL_NAME)
    path = Path(base).expanduser()
    if (path / "adapter_config.json").is_file():
        # an organism: every adapter of its chain and the model under them diagnosed now
        source = resolve_model_source(str(path), base_flag=None)
        adapters = tuple(a.resolve() for a in source.adapters)
        return TrainingBase(source.model_path.resolve(), str(path.resolve()), adapters)
    if not (path / "config.json").is_file():
        raise UserInputError(
            f"unknown base model '{base}': use --base {EMBEDDED_MODEL_NAME} (the embedded "
            "SmolLM2-135M-Instruct), a local Hugging Face model directory with config.json, "
            "or an organism's adapter folder with adapter_config.json (nothing is downloaded)"
        )
    diagnose_model_dir(path)  # no weights or tokenizer: one line now, not at load time
    return TrainingBase(path.resolve(), str(path.resolve()))


def resolve_base(base: str) -> tuple[Path, str]:
    """(full model directory, name recorded in the adapter) for `--base`; never downloads."""
    resolved = resolve_training_base(base)
    return resolved.model_dir, resolved.name


def load_tokenizer(model_dir: Path, trust_remote_code: bool) -> Any:
    """The base model's tokenizer; it must have a chat template (the loss mask needs one)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        model_dir, local_files_only=True, trust_remote_code=trust_remote_code
    )
    if tokenizer.chat_template is None:
        raise UserInputError(f"the base model's tokenizer in {model_dir} has no chat template")
    return tokenizer


def padding_id(tokenizer: Any) -> int:
    """The token that pads micro-batches (never trained on): pad, else end of sequence."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def attention_implementation(attention: str, device: torch.device) -> str:
    """`--attention` with auto resolved for `device`."""
    if attention == "auto":
        # on CPUs, torch's flash-attention backward was 16% of a SmolLM2 step, and eager
        # (matmul) attention made the whole step ~15% faster at these short lengths
        return "eager" if device.type == "cpu" else "sdpa"
    return attention


def load_base_model(
    model_dir: Path, dtype: torch.dtype, attention: str, trust_remote_code: bool
) -> Any:
    """The frozen base model in `dtype`, without a KV cache (training never decodes)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        model_dir,
        dtype=dtype,
        local_files_only=True,
        trust_remote_code=trust_remote_code,
        attn_implementation=attention,
    )
    model.config.use_cache = False
    return model


def load_training_base(
    base: TrainingBase, dtype: torch.dtype, attention: str, trust_remote_code: bool
) -> Any:
    """The frozen model a new LoRA trains over: the base model, with an organism's adapters
    merged into it (peft `merge_and_unload`, as the `local` provider loads the organism), so
    the new LoRA's `disable_adapter()` (a persona's prefix) leaves the organism on."""
    from honesty_evals.model.engine import merge_adapters

    model = load_base_model(base.model_dir, dtype, attention, trust_remote_code)
    return merge_adapters(model, base.adapters)


def attach_lora(model: Any, config: TrainConfig, device: torch.device) -> Any:
    """The peft model: `config`'s LoRA adapter on `model`, on `device`, in training mode."""
    from peft import LoraConfig, get_peft_model

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
    return model


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
