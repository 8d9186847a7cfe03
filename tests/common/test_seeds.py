"""Sampling seeds: stable across processes, distinct across what they name."""

from __future__ import annotations

import os
import subprocess
import sys

from honesty_evals.common.seeds import (
    SEED_BITS,
    choice_seed,
    request_seed,
    sample_seed,
    stable_seed,
)


def test_sample_seed_is_pinned():
    # a change here changes every seeded sample of every task: only on purpose
    assert sample_seed(0, "q00-s000", 0) == 648321571569101386
    assert sample_seed(0, 7, 1) == 4301577328167027826


def test_sample_seed_is_the_same_in_a_fresh_process():
    # unlike hash(), which is salted per process for strings
    code = "from honesty_evals.common.seeds import sample_seed; print(sample_seed(3, 'q', 2))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    )
    assert int(out.stdout) == sample_seed(3, "q", 2)


def test_sample_seeds_differ_across_samples_draws_task_seeds_and_epochs():
    seeds = [
        sample_seed(task_seed, sample_id, draw)
        for task_seed in range(3)
        for sample_id in ("q00", "q01", "q02-s001", 5)
        for draw in range(20)
    ]
    assert len(set(seeds)) == len(seeds)
    # the old scheme (task_seed * 10000 + draw) gave draw k of every question one seed
    assert sample_seed(0, "q00", 1) != sample_seed(0, "q01", 1)
    assert sample_seed(0, "q00", 1, epoch=2) != sample_seed(0, "q00", 1)
    assert sample_seed(0, "q00", 1, epoch=1) == sample_seed(0, "q00", 1)


def test_seeds_fit_a_signed_64_bit_integer():
    seeds = [sample_seed(s, "q", d) for s in (-1, 0, 2**70) for d in range(50)]
    assert all(0 <= s < 2**SEED_BITS for s in seeds)


def test_stable_seed_keeps_parts_apart():
    assert stable_seed("a", 1) != stable_seed("a1")
    assert stable_seed(1) != stable_seed("1")
    assert stable_seed("a", "b") != stable_seed("b", "a")


def test_request_and_choice_seeds():
    assert request_seed(0, "hello") == request_seed(0, "hello")
    assert request_seed(0, "hello") != request_seed(1, "hello")
    assert request_seed(0, "hello") != request_seed(0, "hello ")
    # choice 0 keeps the request's seed; the others differ from it and each other
    assert choice_seed(42, 0) == 42
    assert len({choice_seed(42, k) for k in range(10)}) == 10
