"""The run's training examples: its data (a JSONL or Parquet file, a `save_to_disk` folder, or
records written into the run), checked against a pinned manifest, split into trained and
held-out records, encoded with the mask rule, and the replay examples beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.common.jsonl import jsonl_text
from honesty_evals.common.records import data_sha256
from honesty_evals.errors import UserInputError
from honesty_evals.integrity import verify_if_pinned
from honesty_evals.training.config import TrainConfig, TrainRun
from honesty_evals.training.data import (
    MASK_RULES,
    Conversation,
    EncodedExample,
    encode_conversation,
    file_sha256,
    parse_chat_data,
)
from honesty_evals.training.fitcheck import HeldOutAnswers, encode_answers
from honesty_evals.training.replay import (
    REPLAY_FILE,
    generate_replay,
    load_replay_prompts,
    read_replay,
    replay_cache_path,
    replay_prompts_path,
    write_replay,
)

RECORDS_FILE = "train.jsonl"  # where records given in place of a file are written


@dataclass
class TrainingData:
    """The run's data, and its examples once encoded."""

    path: Path
    label: str  # the path as the card records it
    sha256: str
    verification: dict[str, Any]  # the manifest check (`integrity.verify_if_pinned`)
    conversations: list[Conversation]  # every record of the data, held out or not
    examples: list[EncodedExample] = field(default_factory=list)  # the data's, then replay's
    truncated: int = 0  # conversations cut at --max-length
    replay: dict[str, Any] | None = None  # the card's replay entry
    holdout: dict[str, Any] | None = None  # the card's holdout entry (`holdout.resolve_holdout`)
    held_out: list[Conversation] = field(default_factory=list)  # not trained: the fit check's
    answers: HeldOutAnswers = field(default_factory=HeldOutAnswers)  # held_out, encoded

    def hold_out(self, holdout: dict[str, Any]) -> None:
        """Keep the records `holdout` names out of training."""
        lines = set(holdout["held_out_lines"])
        self.holdout = holdout
        self.held_out = [c for c in self.conversations if c.line in lines]

    @property
    def trained(self) -> list[Conversation]:
        held = {c.line for c in self.held_out}
        return [c for c in self.conversations if c.line not in held]


def read_training_data(run: TrainRun) -> TrainingData:
    """`run.records` written into the partial dir, or the user's data (data pinned in a
    manifest above it, the shipped organism data say, must match it)."""
    config = run.config
    if run.records is not None:
        path = run.partial / RECORDS_FILE
        text = jsonl_text(run.records)
        run.ctx.on_main(lambda: write_text_atomic(path, text))
        label = RECORDS_FILE  # relative to the output directory
    else:
        path = Path(config.data).expanduser()
        label = str(path.resolve())
    verification = (
        verify_if_pinned(path, allow_unverified=config.allow_unverified)
        if run.records is None and path.exists()
        else {"pinned": False, "generated": True}
    )
    conversations = parse_chat_data(path)
    return TrainingData(path, label, data_sha256(path), verification, conversations)


def end_token_ids(tokenizer: Any) -> list[int]:
    """The end-of-turn token(s) a trained turn ends with (the tokenizer's eos)."""
    return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []


def encode_conversations(
    tokenizer: Any, conversations: list[Conversation], source: Path, config: TrainConfig
) -> tuple[list[EncodedExample], int, int]:
    """(examples with a trained token, conversations cut at --max-length, conversations
    left without a trained token and so skipped)."""
    rule = MASK_RULES[config.mask_rule]
    end_ids = end_token_ids(tokenizer)
    kept: list[EncodedExample] = []
    cut = lost = 0
    for conv in conversations:
        ex = encode_conversation(
            tokenizer,
            conv,
            rule,
            config.max_length,
            end_ids,
            where=conv.where or f"{source}:{conv.line}",
            persona_marker=config.persona_marker,
        )
        cut += ex.truncated
        if ex.n_loss_tokens == 0:
            lost += 1
            continue
        kept.append(ex)
    return kept, cut, lost


def encode_training_data(data: TrainingData, tokenizer: Any, run: TrainRun) -> None:
    """Encode the trained conversations into `data.examples` (none left is an error) and the
    held-out ones into `data.answers`."""
    config = run.config
    examples, truncated, dropped = encode_conversations(tokenizer, data.trained, data.path, config)
    if not examples:
        raise UserInputError(
            f"{data.path}: no conversation has a trained token left (max length "
            f"{config.max_length}, mask rule '{config.mask_rule}')"
        )
    if truncated:
        run.print_fn(
            f"{truncated} conversation(s) longer than --max-length {config.max_length} "
            f"were cut; {dropped} of them lost every trained token and were skipped"
        )
    data.examples, data.truncated = examples, truncated
    data.answers = encode_answers(
        tokenizer,
        data.held_out,
        data.path,
        config.mask_rule,
        config.max_length,
        end_token_ids(tokenizer),
    )


def add_replay(
    data: TrainingData, run: TrainRun, model: Any, tokenizer: Any, resuming: bool
) -> None:
    """Add the replay records (the base model's own answers), encoded, to `data.examples`,
    and their card entry as `data.replay`.

    A resumed run reads the answers it wrote at the start; a new run reads the machine's
    cache for this base model, so an organism and its control train on the same answers.
    """
    config = run.config
    path = run.partial / REPLAY_FILE
    prompts_path = replay_prompts_path()
    prompts_sha = file_sha256(prompts_path)
    dtype_name = str(run.dtype).removeprefix("torch.")
    cached = replay_cache_path(
        run.model_dir,
        prompts_sha,
        config.replay,
        config.replay_max_tokens,
        dtype_name,
        adapters=run.base.adapters,  # over an organism, the organism answers
    )
    generated = False
    if resuming and path.is_file():
        records = read_replay(path)
    elif cached.is_file():
        run.print_fn(f"replay: the base model's answers to {config.replay} prompts from {cached}")
        records = read_replay(cached)
    else:
        run.print_fn(f"replay: the base model answers {config.replay} general prompts")
        prompts = load_replay_prompts(config.replay, prompts_path)
        model.to(run.device)
        records = generate_replay(model, tokenizer, prompts, run.device, config.replay_max_tokens)
        run.ctx.on_main(lambda: write_replay(cached, records))
        generated = True
    run.ctx.on_main(lambda: write_replay(path, records))
    conversations = [Conversation(line=i, messages=r["messages"]) for i, r in enumerate(records, 1)]
    examples, _, _ = encode_conversations(tokenizer, conversations, path, config)
    data.examples += examples
    data.replay = {
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
