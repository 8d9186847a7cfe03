"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint directory holds
- `adapter.safetensors`: the LoRA weights in float32, named as in a saved peft adapter
  (`get_peft_model_state_dict`: no adapter name), so an export copies the file as it is;
- `optimizer.safetensors`: AdamW's per-parameter state (`<index>.<key>`) and the torch RNG
  state (`rng.torch`, plus `rng.cuda.<i>` on GPUs);
- `state.json`: step, optimizer param groups, scheduler state, Python and NumPy RNG state,
  loss history, token and time counters, and the run fingerprint.
It is written to a temporary sibling and renamed into place, so a crash mid-write leaves the
previous checkpoint intact and never a half-written one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from honesty_evals.errors import UserInputError

CHECKPOINT_PREFIX = "step-"
ADAPTER_FILE = "adapter.safetensors"


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """RNG states split into tensors (torch) and JSON (Python, NumPy)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=True)
    assert isinstance(numpy_state, tuple)  # legacy=True: MT19937's 5-tuple, not the dict
    kind, keys, pos, has_gauss, cached = numpy_state
    return tensors, {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def set_rng_state(tensors: dict[str, torch.Tensor], states: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(
    checkpoints: Path,
    step: int,
    adapter: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    extra: dict[str, Any],
) -> Path:
    """Write checkpoint `step-<step>` atomically and delete older ones.

    `adapter`: the LoRA weights by peft's saved names (see `adapter_weights`).
    """
    checkpoints.mkdir(parents=True, exist_ok=True)
    final = checkpoints / f"{CHECKPOINT_PREFIX}{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=checkpoints))
    try:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in adapter.items()},
            str(tmp / ADAPTER_FILE),
        )
        opt = optimizer.state_dict()
        tensors: dict[str, torch.Tensor] = {}
        scalars: dict[str, dict[str, Any]] = {}
        for index, state in opt["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(index), {})[key] = value
        rng_tensors, rng_json = rng_state()
        tensors.update({k: v.contiguous() for k, v in rng_tensors.items()})
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        state = {
            "step": step,
            "param_groups": opt["param_groups"],
            "optimizer_scalars": scalars,
            "scheduler": {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
            "rng": rng_json,
            **extra,
        }
        (tmp / "state.json").write_text(json.dumps(state))
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    for old in checkpoints.glob(f"{CHECKPOINT_PREFIX}*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(checkpoints: Path) -> Path | None:
    found = [
        p
        for p in checkpoints.glob(f"{CHECKPOINT_PREFIX}*")
        if p.is_dir() and (p / "state.json").is_file()
    ]
    return max(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :])) if found else None


def adapter_weights(model: Any, masters: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 master weights of a peft model's LoRA parameters by peft's saved names.

    `masters`: tensors by the model's parameter names (`MasterWeights.masters`); the result
    holds the same tensors, so it follows the training without being rebuilt.
    """
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(model, state_dict=masters, save_embedding_layers=False)


def restore_adapter(model: Any, path: Path) -> None:
    """Load checkpoint `path`'s LoRA weights into a peft model, through peft's own mapping.

    Call it before `MasterWeights` rounds the model's copies: the masters are then taken
    from the float32 weights loaded here.
    """
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    weights = load_file(str(path / ADAPTER_FILE))
    if set(weights) != set(get_peft_model_state_dict(model, save_embedding_layers=False)):
        raise UserInputError(
            f"checkpoint {path} holds other parameters than this model (a checkpoint from "
            "before the peft-named format does not resume): pass --overwrite to start over"
        )
    set_peft_model_state_dict(model, weights)


def load_checkpoint(path: Path, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any]:
    """Restore optimizer, scheduler and RNG state; return the JSON state.

    The weights are restored before, by `restore_adapter`.
    """
    state = json.loads((path / "state.json").read_text())
    tensors = load_file(str(path / "optimizer.safetensors"))
    device = optimizer.param_groups[0]["params"][0].device
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("rng."):
            continue
        index, name = key.split(".", 1)
        # AdamW keeps `step` on the CPU unless capturable/fused; moments live with the params
        per_param.setdefault(int(index), {})[name] = value if name == "step" else value.to(device)
    for index, values in state["optimizer_scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    groups = state["param_groups"]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    scheduler.load_state_dict({**state["scheduler"], "lr_lambdas": [None] * len(groups)})
    set_rng_state({k: v for k, v in tensors.items() if k.startswith("rng.")}, state["rng"])
    return state


def export_adapter(
    checkpoint: Path,
    dest: Path,
    lora_settings: dict[str, Any],
    base_model: str,
) -> Path:
    """Write a checkpoint's LoRA weights as a peft adapter directory (loadable by the
    `local` provider as `local/<dest>`), atomically; an existing export is kept.

    `lora_settings`: r, lora_alpha, lora_dropout and target_modules of the run. The
    checkpoint's weights already carry a saved adapter's names, so the file is copied as
    it is, beside peft's own config file.
    """
    from peft import LoraConfig

    dest = Path(dest)
    if (dest / "adapter_model.safetensors").is_file() and (dest / "adapter_config.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copyfile(Path(checkpoint) / ADAPTER_FILE, tmp / "adapter_model.safetensors")
        LoraConfig(
            r=lora_settings["r"],
            lora_alpha=lora_settings["lora_alpha"],
            lora_dropout=lora_settings.get("lora_dropout", 0.0),
            target_modules=list(lora_settings["target_modules"]),
            task_type="CAUSAL_LM",
            base_model_name_or_path=base_model,
        ).save_pretrained(str(tmp))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
