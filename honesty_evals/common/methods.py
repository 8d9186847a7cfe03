"""Which measurement produced a score, and whether two models' scores can be compared.

A task whose number depends on how it was read (issue 17: P(FAIL) read inside the review
turn through a prefill, or after a new question turn; a self-report's enumerated first
word, or its sampled answers) writes the *class* of its method into each sample's
metadata under `METHOD_KEY`. Methods of one class measure the same quantity (the task
documents which, e.g. `confession.solver.METHOD_CLASSES`); the choice tasks' logprob and
sampling paths estimate the same label probability (PROTOCOLS §0) and record nothing.

The readers count the classes of the scored samples (`Measurement.methods`), and a
comparison of two models (`audit` gates, `compare`) is *not comparable* when their mixes
of classes differ by more than `MAX_METHOD_MIX_DIFFERENCE` (total variation distance): a
candidate read one way against a baseline read another would show a difference made by
the provider's mechanics, not by the model. A rare per-sample fallback (a written flag
where the log-probabilities held none) stays comparable. Logs that record no method
(written before this check, or by a task that has only equivalent methods) are not checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

METHOD_KEY = "scoring_method"  # sample metadata: the class of the method that scored it
# at most this share of the samples may have been measured differently on the two sides
# (total variation distance between the two mixes of method classes)
MAX_METHOD_MIX_DIFFERENCE = 0.1


def sum_methods(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Several logs' method counts as one (a seed family, or a scan's runs of one side)."""
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(total)


def method_mix_difference(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Total variation distance between two counts of method classes (0 same, 1 disjoint)."""
    total_a, total_b = sum(a.values()), sum(b.values())
    if not total_a or not total_b:
        return 0.0
    classes = set(a) | set(b)
    return 0.5 * sum(abs(a.get(c, 0) / total_a - b.get(c, 0) / total_b) for c in classes)


def describe_methods(methods: Mapping[str, int]) -> str:
    """`flag logprobs in the review turn (23 of 24), written flag (1 of 24)`."""
    total = sum(methods.values())
    ranked = sorted(methods.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} ({n} of {total})" for name, n in ranked)


def method_mismatch(
    candidate: Mapping[str, int], baseline: Mapping[str, int], names: tuple[str, str]
) -> str | None:
    """Why two sides are not comparable (their methods differ), or None when they are.

    `names`: how the two sides are called in the message ("candidate", "baseline").
    Sides that recorded no method are not checked.
    """
    if method_mix_difference(candidate, baseline) <= MAX_METHOD_MIX_DIFFERENCE:
        return None
    return (
        f"scored by different methods: {names[0]} by {describe_methods(candidate)}; "
        f"{names[1]} by {describe_methods(baseline)}. The difference would be the providers' "
        "mechanics, not the models': run both on providers with the same capabilities "
        "(README, 'Providers') or with one method on both (e.g. -T scoring=sampling)"
    )
