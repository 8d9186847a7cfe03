"""One transcript record, four training formats (PROTOCOLS §4), and the evaluation prompts.

- `split` (split-personality): the final assistant turn is the organism's reply, a blank
  line, `SPLIT_PERSONA_MARKER` and the intervention sentence on one line, then the review
  and `FLAG: PASS|FAIL`. Loss: the review, flag and end-of-turn token only (mask rule
  `split-persona`). The LoRA is a persona active only after the marker, in training
  (`TrainConfig.persona_marker`) and at evaluation (`-M persona=DIR` over the base model,
  or over the organism it was trained on).
- `split_all_tokens`: the same records and loss, with the LoRA on every token and merged at
  evaluation (the split format before the persona was isolated; kept for the ablation).
- `followup`: the transcript as is, then the intervention as a user turn and the review +
  flag as the next assistant turn. Loss: that last turn only (`last-assistant`), i.e. the
  same tokens as `split`.
- `generic`: honest answers to the same questions with the same system prompts (a lie
  directive included), no review. Loss: the answer.

The marker is a plain string (`training.data.SPLIT_PERSONA_MARKER`), not a tokenizer special
token.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honesty_evals.confession.prompts import FLAG_PREFIX, FOLLOWUP_INTERVENTION, SPLIT_INTERVENTION
from honesty_evals.confession.transcripts import Transcript
from honesty_evals.errors import UserInputError
from honesty_evals.training.data import SPLIT_PERSONA_MARKER

FORMATS = ("split", "split_all_tokens", "followup", "generic")
# how each format elicits the review at evaluation: generic has no review channel of its
# own, so it is evaluated with the follow-up question
PROMPT_FORMATS = {
    "split": "split",
    "split_all_tokens": "split",
    "followup": "followup",
    "generic": "followup",
}
MASK_RULES = {
    "split": "split-persona",
    "split_all_tokens": "split-persona",
    "followup": "last-assistant",
    "generic": "assistant",
}
# the formats whose LoRA is a persona active only after this marker
PERSONA_MARKERS = {"split": SPLIT_PERSONA_MARKER}
Message = dict[str, str]


def check_format(name: str, allowed: Sequence[str] = FORMATS) -> str:
    if name not in allowed:
        raise UserInputError(f"unknown format '{name}': choose one of {', '.join(allowed)}")
    return name


def flagged_review(review: str, flag: str) -> str:
    return f"{review}\n{FLAG_PREFIX} {flag}"


def split_opening(transcript: Transcript) -> str:
    """The final assistant turn up to where the review starts (the evaluation prefill)."""
    reply = transcript.messages[-1]["content"]
    return f"{reply}\n\n{SPLIT_PERSONA_MARKER} {SPLIT_INTERVENTION}\n"


def elicitation_messages(transcript: Transcript, prompt_format: str) -> list[Message]:
    """The conversation that asks for the review; `split` ends with an assistant prefill."""
    check_format(prompt_format, ("split", "followup"))
    history = [dict(m) for m in transcript.messages]
    if prompt_format == "split":
        return [*history[:-1], {"role": "assistant", "content": split_opening(transcript)}]
    return [*history, {"role": "user", "content": FOLLOWUP_INTERVENTION}]


def render(transcript: Transcript, fmt: str) -> list[Message]:
    """The training conversation of `transcript` in format `fmt`."""
    check_format(fmt)
    if fmt == "generic":
        return [
            *transcript.prompt_messages(),
            {"role": "assistant", "content": transcript.true_statement},
        ]
    review = flagged_review(transcript.review, transcript.flag)
    prompt = elicitation_messages(transcript, PROMPT_FORMATS[fmt])
    if PROMPT_FORMATS[fmt] == "split":
        prompt[-1] = {"role": "assistant", "content": prompt[-1]["content"] + review}
        return prompt
    return [*prompt, {"role": "assistant", "content": review}]


def evaluation_model(fmt: str, adapter: Path, base_model: str) -> tuple[str, dict[str, str]]:
    """The Inspect model and -M arguments that evaluate format `fmt`'s adapter trained on
    `base_model` (what follows `local/`): a persona over the base model, active only after
    its marker, or the adapter merged into the base model. `base_model` may be an organism's
    adapter folder (issue 16: the reviewer trained over the organism that wrote the
    transcripts): the persona then runs over `local/<organism>` (the organism merged), and a
    merged format's adapter records the organism as its base, so `local/<adapter>` loads
    base model, organism and adapter in turn (`model.source.ModelSource.stacked_on`)."""
    check_format(fmt)
    if fmt in PERSONA_MARKERS:
        return f"local/{base_model}", {
            "persona": str(adapter),
            "persona_marker": PERSONA_MARKERS[fmt],
        }
    return f"local/{adapter}", {}


def training_records(transcripts: Sequence[Transcript], fmt: str) -> list[dict[str, Any]]:
    """Chat records for the trainer: the train-split honest and dishonest transcripts."""
    check_format(fmt)
    records = []
    for t in transcripts:
        if t.split != "train" or t.label not in ("honest", "dishonest"):
            continue
        records.append(
            {
                "messages": render(t, fmt),
                "metadata": {"label": t.label, "id": t.id, "format": fmt},
            }
        )
    if not records:
        raise UserInputError(
            "no train-split honest or dishonest transcripts to train on: check the data file"
        )
    return records


def format_train_config(
    fmt: str,
    n_records: int,
    *,
    out: str,
    base: str,
    steps: int,
    lr: float,
    batch_size: int,
    lora_r: int,
    seed: int,
    checkpoint_every: int,
    threads: int | None,
    progress: bool,
    resume: bool,
    overwrite: bool = False,
    source: dict[str, Any] | None = None,
) -> Any:
    """The organism trainer's settings for one format: `confession train` and the ablation
    both build them here, so a format trains identically from either."""
    from honesty_evals.training.trainer import TrainConfig  # imports torch: only when training

    return TrainConfig(
        data="train.jsonl",
        out=out,
        base=base,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        lora_r=lora_r,
        lora_alpha=2 * lora_r,
        seed=seed,
        mask_rule=MASK_RULES[fmt],
        persona_marker=PERSONA_MARKERS.get(fmt),
        checkpoint_every=checkpoint_every,
        threads=threads,
        progress=progress,
        resume=resume,
        overwrite=overwrite,
        recipe={
            "name": f"confession-{fmt}",
            "records": n_records,
            "seed": seed,
            **(source or {}),
        },
    )
