"""Training a seed family: the ordinary trainer once per seed, into `<out>/seed-K/`.

`train_family(config, seeds)` checks the family directory, writes `<out>/family.json`, and
calls `trainer.train` for every seed that is not finished: a finished seed is kept, an
interrupted one (`seed-K.partial/`) resumes from its checkpoint as `--resume` does. So
rerunning the same command finishes a family, and a command with more seeds adds them.

Processes (`plan_lanes`): the seeds are dealt round-robin to `jobs` processes, each
training its seeds in turn. On GPUs the default is one process per GPU, process j seeing
only GPU j (`CUDA_VISIBLE_DEVICES`, so every seed keeps the same `--device` and the same
resume fingerprint whichever GPU it lands on); on a CPU it is one process on a machine with
2 cores or fewer, else one per 2 cores, and the cores are split between them (`--threads`
each). One process trains in this one; several are spawned (`multiprocessing`'s spawn start
method, so no CUDA state is inherited), and the family card is rewritten as each finishes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from honesty_evals.common.jsonl import jsonl_text
from honesty_evals.common.outputs import check_output_dir
from honesty_evals.errors import UserInputError
from honesty_evals.model.source import FAMILY_CARD, read_json_object
from honesty_evals.training.config import TrainConfig, validate_config
from honesty_evals.training.data import file_sha256, parse_chat_jsonl
from honesty_evals.training.examples import RECORDS_FILE
from honesty_evals.training.family import (
    SEED_DIR_PREFIX,
    card_seeds,
    check_member,
    difference_kind,
    family_card,
    identity_difference,
    seed_dir,
    seeds_text,
    write_family_card,
)

_SEED_ENTRY = re.compile(rf"{SEED_DIR_PREFIX}[0-9]+(\.partial)?")  # a seed's folders


@dataclass(frozen=True)
class Lane:
    """One training process: the seeds it trains in turn, the one GPU it sees (None: it
    sees what this process sees) and its threads."""

    seeds: tuple[int, ...]
    gpu: str | None
    threads: int | None


def default_jobs(cpu_count: int, gpus: list[str]) -> int:
    """Processes at once when `--jobs` is not given: one per GPU, else one per 2 CPU cores
    (one on a machine with 2 cores or fewer)."""
    if gpus:
        return len(gpus)
    return 1 if cpu_count <= 2 else cpu_count // 2


def plan_lanes(
    seeds: tuple[int, ...],
    jobs: int | None,
    threads: int | None,
    cpu_count: int,
    gpus: list[str],
) -> list[Lane]:
    """The seeds dealt round-robin to at most `jobs` processes (never more than seeds).

    `gpus` are the GPUs to spread the processes over (none: train where `--device` says);
    several processes see one GPU each, in turn. Each gets `threads`, else an equal share of
    the CPU cores.
    """
    if not seeds:
        return []
    wanted = jobs if jobs is not None else default_jobs(cpu_count, gpus)
    n = max(1, min(wanted, len(seeds)))
    if n == 1:
        return [Lane(seeds=tuple(seeds), gpu=None, threads=threads)]
    share = threads or max(1, cpu_count // n)
    return [
        Lane(seeds=tuple(seeds[j::n]), gpu=gpus[j % len(gpus)] if gpus else None, threads=share)
        for j in range(n)
    ]


@dataclass
class SeedOutcome:
    seed: int
    status: str  # finished | failed
    error: str | None = None
    final_loss: float | None = None


@dataclass
class FamilyResult:
    out: Path
    card: dict[str, Any]
    trained: list[int]  # seeds trained (or resumed) by this run
    kept: list[int]  # seeds finished before this run, left as they were


def _data_identity(config: TrainConfig, records: list[dict[str, Any]] | None) -> dict[str, str]:
    """The data every seed trains on, as the seeds' training cards will record it."""
    if records is not None:
        # the trainer writes `jsonl_text(records)` into each seed and hashes that file
        text = jsonl_text(records).encode("utf-8")
        return {"path": RECORDS_FILE, "sha256": hashlib.sha256(text).hexdigest()}
    path = Path(config.data).expanduser()
    parse_chat_jsonl(path)  # a bad file is one line now, before any seed starts
    return {"path": str(path.resolve()), "sha256": file_sha256(path)}


def _member_status(out: Path, seed: int) -> str:
    from honesty_evals.training.output import run_status

    return run_status(seed_dir(out, seed))


def _foreign_entries(out: Path) -> list[str]:
    """What in `out` is not a family's: anything but family.json and seed-K(.partial)."""
    return sorted(
        p.name
        for p in out.iterdir()
        if p.name != FAMILY_CARD
        and not p.name.startswith(".")  # the atomic writer's temporary files
        and _SEED_ENTRY.fullmatch(p.name) is None
    )


def _check_out(
    out: Path, fresh: dict[str, Any], seeds: tuple[int, ...], overwrite: bool
) -> list[int]:
    """Refuse an `out` that holds something other than this family; the seeds an earlier
    run of the same family listed, which this run keeps (none with `overwrite`, which also
    removes the earlier seeds that `seeds` leaves out)."""
    if not out.is_dir():
        return []
    foreign = _foreign_entries(out)
    if foreign:
        raise UserInputError(
            f"--out {out} holds {', '.join(foreign[:3])}"
            + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            + f", which is not a seed family ({FAMILY_CARD} and {SEED_DIR_PREFIX}K/ folders): "
            "choose a new or empty folder for the family"
        )
    card_path = out / FAMILY_CARD
    if not card_path.is_file():
        return []
    fix = f"remove it, or choose another --out than {out}"
    old = read_json_object(card_path, "family card", fix)
    old_seeds = list(card_seeds(old, card_path))
    difference = identity_difference(old, fresh)
    if difference is not None and not overwrite:
        key, was, now = difference
        raise UserInputError(
            f"--out {out} holds a seed family with other {difference_kind(key)}: {key} "
            f"{was!r} there, {now!r} now; rerun with its settings to finish it or add seeds, "
            "pass --overwrite to retrain it, or choose another folder"
        )
    if not overwrite:
        return old_seeds
    from honesty_evals.training.output import partial_dir

    for seed in set(old_seeds) - set(seeds):
        shutil.rmtree(seed_dir(out, seed), ignore_errors=True)
        shutil.rmtree(partial_dir(seed_dir(out, seed)), ignore_errors=True)
    return []


def _check_finished(out: Path, fresh: dict[str, Any], seed: int) -> None:
    """A finished seed that a rerun keeps must be of this family."""
    fix = "pass --overwrite to retrain it, or choose another folder"
    check_member(out, seed, fresh, "this command", fix)


def _seed_config(config: TrainConfig, out: Path, seed: int, lane: Lane, quiet: bool) -> TrainConfig:
    from honesty_evals.training.output import partial_dir

    member = seed_dir(out, seed)
    return replace(
        config,
        seed=seed,
        out=str(member),
        resume=partial_dir(member).is_dir() and not config.overwrite,
        threads=lane.threads,
        progress=config.progress and not quiet,
    )


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train_seed(
    config: TrainConfig,
    records: list[dict[str, Any]] | None,
    print_fn: Callable[[str], None] = _to_stderr,
) -> SeedOutcome:
    """One seed with the ordinary trainer, its lines prefixed `seed K:`; a user's mistake
    is the seed's failure line."""
    from honesty_evals.training.trainer import train

    def say(message: str) -> None:
        print_fn(f"seed {config.seed}: {message}")

    try:
        result = train(config, records=records, print_fn=say)
    except UserInputError as exc:
        return SeedOutcome(config.seed, "failed", str(exc))
    return SeedOutcome(config.seed, "finished", final_loss=result.card.get("final_loss"))


def train_lane(
    configs: list[TrainConfig], records: list[dict[str, Any]] | None
) -> list[SeedOutcome]:
    """A spawned process's seeds, in turn (module level, so the process can find it)."""
    return [train_seed(c, records) for c in configs]


def visible_gpus(device: str) -> list[str]:
    """The GPUs a family's processes spread over: those this process sees, when `--device`
    is `auto` or `cuda` (a named `cuda:N` or `cpu` keeps every process where it says)."""
    if device not in ("auto", "cuda"):
        return []
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    ids = [v.strip() for v in visible.split(",")] if visible else []
    return ids[:count] if len(ids) >= count else [str(i) for i in range(count)]


def _see_one_gpu(gpu: str | None) -> None:
    """A spawned process's start: it sees only its GPU, so `--device` (and with it the
    seed's fingerprint, which a resume must match) stays what it was."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


class _FamilyCard:
    """The family card of one run, rewritten as seeds finish or fail."""

    def __init__(
        self, out: Path, base: str, data: dict, config: TrainConfig, seeds: list[int], jobs: int
    ) -> None:
        self.out, self.base, self.data, self.config = out, base, data, config
        self.seeds, self.jobs = seeds, jobs
        self.outcomes: dict[int, SeedOutcome] = {}

    def card(self) -> dict[str, Any]:
        members = []
        for seed in self.seeds:
            outcome = self.outcomes.get(seed)
            status = _member_status(self.out, seed)
            if outcome is not None and outcome.status == "failed" and status != "finished":
                status = "failed"
            members.append(
                {
                    "seed": seed,
                    "dir": seed_dir(self.out, seed).name,
                    "status": status,
                    "error": outcome.error if outcome and status == "failed" else None,
                }
            )
        return family_card(self.base, self.data, self.config.run_settings(), members, self.jobs)

    def write(self) -> dict[str, Any]:
        card = self.card()
        write_family_card(self.out, card)
        return card


def _seeds_named(seeds: list[int] | tuple[int, ...]) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {seeds_text(seeds)}"


def _check_request(config: TrainConfig, jobs: int | None) -> None:
    """Refuse, in one line, a family no run can train."""
    validate_config(config)
    if jobs is not None and jobs < 1:
        raise UserInputError(f"--jobs must be 1 or more (got {jobs})")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserInputError(
            "--seeds under a data-parallel launcher (torchrun, accelerate launch): run "
            "--seeds without the launcher (one process per GPU), or launch one run per seed "
            "with --seed K --out DIR/seed-K"
        )


def train_family(
    config: TrainConfig,
    seeds: tuple[int, ...],
    records: list[dict[str, Any]] | None = None,
    jobs: int | None = None,
    print_fn: Callable[[str], None] | None = None,
) -> FamilyResult:
    """Train (or finish) the seed family `seeds` of `config` in `config.out`.

    `config.seed`, `config.out` and `config.resume` are set per seed; `config.overwrite`
    retrains every seed. With `records`, each seed writes them to its own train.jsonl.
    """
    say = print_fn or _to_stderr
    _check_request(config, jobs)
    out = check_output_dir(config.out, "--out").resolve()
    data = _data_identity(config, records)
    from honesty_evals.training.build import resolve_base

    _, base_name = resolve_base(config.base)  # the embedded model is converted here, once
    fresh = family_card(base_name, data, config.run_settings(), [], 0)
    earlier = _check_out(out, fresh, seeds, config.overwrite)
    all_seeds = sorted(set(earlier) | set(seeds))
    kept = (
        [] if config.overwrite else [s for s in all_seeds if _member_status(out, s) == "finished"]
    )
    for seed in kept:
        _check_finished(out, fresh, seed)
    to_train = tuple(s for s in all_seeds if s not in kept)
    gpus = visible_gpus(config.device) if to_train else []
    lanes = plan_lanes(to_train, jobs, config.threads, os.cpu_count() or 1, gpus)
    card = _FamilyCard(out, base_name, data, config, all_seeds, max(1, len(lanes)))
    out.mkdir(parents=True, exist_ok=True)
    card.write()
    if kept:
        say(f"{_seeds_named(kept)} of {out}: finished earlier, kept")
    if to_train:
        say(
            f"training {_seeds_named(to_train)} into {out}/{SEED_DIR_PREFIX}K/ in "
            f"{len(lanes)} process(es)"
        )
    try:
        _run_lanes(lanes, out, config, records, card, say)
    finally:  # interrupted too: the card says which seeds finished and which can resume
        final = card.write()
    failed = [m for m in final["members"] if m["status"] != "finished"]
    if failed:
        first = failed[0]
        raise UserInputError(
            f"seed {first['seed']} of the family {out} did not finish"
            + (f" ({first['error']})" if first["error"] else "")
            + (f"; {len(failed) - 1} more seed(s) did not either" if len(failed) > 1 else "")
            + f"; the others are kept, see {out / FAMILY_CARD}: rerun the same command to finish"
        )
    say(f"seed family {out}: seeds {seeds_text(all_seeds)} finished ({FAMILY_CARD})")
    return FamilyResult(out=out, card=final, trained=list(to_train), kept=kept)


def _run_lanes(
    lanes: list[Lane],
    out: Path,
    config: TrainConfig,
    records: list[dict[str, Any]] | None,
    card: _FamilyCard,
    say: Callable[[str], None],
) -> None:
    """Every lane's seeds: in this process for one lane, else one spawned process each."""
    if len(lanes) == 1:
        (lane,) = lanes
        for seed in lane.seeds:
            seed_config = _seed_config(config, out, seed, lane, quiet=False)
            outcome = train_seed(seed_config, records, say)
            card.outcomes[seed] = outcome
            card.write()
        return
    if not lanes:
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no CUDA or torch thread state inherited
    with ExitStack() as stack:
        futures = []
        for lane in lanes:  # one single-process pool a lane: each sees its own GPU
            pool = ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_see_one_gpu, initargs=(lane.gpu,)
            )
            stack.enter_context(pool)
            configs = [_seed_config(config, out, s, lane, quiet=True) for s in lane.seeds]
            futures.append(pool.submit(train_lane, configs, records))
        for future in as_completed(futures):
            for outcome in future.result():
                card.outcomes[outcome.seed] = outcome
            card.write()
