"""`honesty-evals lie-detector train|eval` and `honesty-evals probe train|eval`.

Kept free of heavy imports at module level: building the command-line parser stays instant.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from honesty_evals.errors import UserInputError

DEFAULT_TEST_SIZE = 0.3


def add_lie_detection_parsers(sub: Any) -> None:
    """Register `lie-detector` and `probe` on the top-level subparsers of `honesty-evals`."""
    det = sub.add_parser(
        "lie-detector", help="black-box lie detector on lie_detection follow-up features"
    )
    det_actions = det.add_subparsers(dest="detector_command", required=True)
    train = det_actions.add_parser(
        "train",
        help="fit on lie_detection logs; report held-out and cross-topic AUROC and recall",
        description=(
            "Fit StandardScaler + LogisticRegression on the follow-up features of lie_detection "
            "logs. The train/test split is grouped by question; the stored threshold flags "
            "--fpr of the honest training answers (out-of-fold scores), so it needs at least "
            "ceil(1/FPR) of them (100 at 1%). Recall and the achieved FPR are reported at "
            "that fixed threshold, never at one read off the evaluated rows."
        ),
    )
    train.add_argument("logs", nargs="+", type=Path, help="lie_detection .eval logs")
    train.add_argument("--out", required=True, type=Path, help="detector file to write (JSON)")
    train.add_argument("--topics", help="train (and test in distribution) on these topics only")
    train.add_argument(
        "--cross-topic",
        action="store_true",
        help="also train on each topic alone and test on all the others",
    )
    _common_fit_args(train)
    train.set_defaults(func=cmd_detector_train)

    ev = det_actions.add_parser(
        "eval",
        help="apply a stored detector to lie_detection logs",
        description=(
            "AUROC, and recall and achieved FPR at the stored threshold (set on the training "
            "logs' honest answers, so not reported on those logs)."
        ),
    )
    ev.add_argument("detector", type=Path, help="file written by `lie-detector train`")
    ev.add_argument("logs", nargs="+", type=Path, help="lie_detection .eval logs")
    ev.add_argument("--topics", help="evaluate on these topics only")
    _common_eval_args(ev)
    ev.set_defaults(func=cmd_detector_eval)

    probe = sub.add_parser("probe", help="white-box linear probe on residual-stream activations")
    probe_actions = probe.add_subparsers(dest="probe_command", required=True)
    ptrain = probe_actions.add_parser(
        "train",
        help="fit a probe on honest/deceptive instruction contrast pairs",
        description=(
            "Read mean response activations at --layer for contrast pairs (the same true "
            "statement after a truth and after a lie instruction) on --topics, fit the probe, "
            "report held-out pair AUROC, and set the threshold at --fpr of an honest control "
            "set (no instruction, true answers, train split of every topic), which needs at "
            "least ceil(1/FPR) control answers (100 at 1%)."
        ),
    )
    _model_args(ptrain)
    ptrain.add_argument("--out", required=True, type=Path, help="probe file to write (JSON)")
    ptrain.add_argument(
        "--topics", default="capitals,opposites,colours", help="training topics (%(default)s)"
    )
    ptrain.add_argument("--n-per-topic", type=int, default=40, help="items per topic (40)")
    ptrain.add_argument(
        "--n-control-per-topic", type=int, default=20, help="control items per topic (20)"
    )
    _common_fit_args(ptrain)
    ptrain.set_defaults(func=cmd_probe_train)

    peval = probe_actions.add_parser(
        "eval",
        help="evaluate a stored probe on another setting",
        description=(
            "Without --log: instructed lies (truth instruction + true answer vs lie instruction "
            "+ false answer) on --topics (default: every topic the probe was not trained on), "
            "test split. With --log: the model's own lie/truth answers from lie_detection logs, "
            "with the instruction hidden unless --show-instruction."
        ),
    )
    peval.add_argument("probe", type=Path, help="file written by `probe train`")
    _model_args(peval, required=False)
    peval.add_argument("--topics", help="topics to evaluate on (default: the untrained ones)")
    peval.add_argument("--n-per-topic", type=int, default=40, help="items per topic (40)")
    peval.add_argument("--log", nargs="+", type=Path, help="lie_detection logs of this model")
    peval.add_argument(
        "--show-instruction",
        action="store_true",
        help="with --log: keep the system instruction in the probed conversation",
    )
    _common_eval_args(peval)
    peval.set_defaults(func=cmd_probe_eval)


def _common_fit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--test-size", type=float, default=DEFAULT_TEST_SIZE, help="held-out share (0.3)"
    )
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength (1.0)")
    p.add_argument(
        "--fpr",
        type=float,
        default=0.01,
        help="false-positive rate of the threshold on control data; needs ceil(1/FPR) honest "
        "control answers (0.01: 100)",
    )
    p.add_argument("--seed", type=int, default=0, help="split and bootstrap seed (0)")
    p.add_argument("--report", type=Path, help="also write the figures to this JSON file")


def _common_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    p.add_argument("--report", type=Path, help="also write the figures to this JSON file")


def _model_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--model",
        required=required,
        help="local model: smollm2, a model directory, or a peft adapter directory",
    )
    p.add_argument("--base", help="base model of an adapter (default: its adapter_config)")
    p.add_argument("--layer", type=int, help="hidden-state layer (default: the middle one)")
    p.add_argument("--dtype", default="auto", help="auto (float32 on CPU), float32, bfloat16")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--max-batch-tokens", type=int, default=2048, help="padded tokens per batch")


# -- shared pieces ---------------------------------------------------------------------------


def _check_fit_args(args: argparse.Namespace) -> None:
    if not 0.0 < args.test_size < 1.0:
        raise UserInputError(f"--test-size {args.test_size} is out of range: give e.g. 0.3")
    if not 0.0 < args.fpr < 0.5:
        raise UserInputError(f"--fpr {args.fpr} is out of range: give e.g. 0.01")
    if args.C <= 0:
        raise UserInputError(f"--C must be positive (got {args.C})")


def _check_outputs(args: argparse.Namespace) -> None:
    """--out and --report checked before any log is read or model loaded."""
    from honesty_evals.common.outputs import check_output_file

    if getattr(args, "out", None) is not None:
        check_output_file(args.out, "--out")
    if args.report is not None:
        check_output_file(args.report, "--report")


def split_or_refuse(
    groups: list[str], y: Any, test_size: float, seed: int, fix: str
) -> tuple[Any, Any]:
    """`grouped_split`, refused in one line (with `fix`) when either side would lack lies or
    honest answers: checked before fitting, and for the probe before any activation."""
    import numpy as np

    from honesty_evals.lie_detection.detector import grouped_split

    y = np.asarray(y)
    n_questions = len(set(groups))
    counts = f"{int((y == 1).sum())} lies and {int((y == 0).sum())} honest answers"
    try:
        train, test = grouped_split(groups, test_size, seed)
    except ValueError:  # sklearn: "the resulting train set will be empty"
        raise UserInputError(
            f"cannot split {n_questions} question(s) ({counts}) into training and held-out "
            f"parts at --test-size {test_size:g}: {fix}"
        ) from None
    for part, mask in (("training", train), ("held-out", test)):
        if len(set(y[mask].tolist())) < 2:
            raise UserInputError(
                f"the {part} part of {n_questions} question(s) ({counts} in all) lacks "
                f"{'lies' if not (y[mask] == 1).any() else 'honest answers'}: {fix}"
            )
    return train, test


def _refuse_threshold(what: str, n_control: int, noun: str, fpr: float, fix: str) -> None:
    """One-line refusal of a threshold at `fpr` set on too few control negatives (`noun`)."""
    from honesty_evals.lie_detection.evaluation import min_control_negatives, percent

    needed = min_control_negatives(fpr)
    if n_control >= needed:
        return
    # the smallest rate this many negatives can set, rounded up to 3 decimals
    smallest = math.ceil(1000.0 / n_control) / 1000.0 if n_control else math.inf
    larger = f", or give --fpr {smallest:g} or more" if smallest < 0.5 else ""
    raise UserInputError(
        f"cannot set the {what} threshold at {percent(fpr)} FPR: {n_control} {noun}, need at "
        f"least {needed} (ceil(1/{fpr:g})): {fix}{larger}"
    )


def _emit(report: dict[str, Any], path: Path | None) -> None:
    if path is not None:
        from honesty_evals.common.atomic import write_text_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(report, indent=1) + "\n")
        print(f"figures written to {path}")


def _evaluate(
    y: Any,
    scores: Any,
    groups: list[str],
    seed: int,
    control: Any,
    not_reported: str | None = None,
    fpr: float | None = None,
) -> Any:
    """`evaluate_scores` with a `ControlThreshold` (or None, and why), errors as one line."""
    from honesty_evals.lie_detection.evaluation import DEFAULT_FPR, NO_CONTROL, evaluate_scores

    try:
        return evaluate_scores(
            y,
            scores,
            groups,
            threshold=control,
            fpr=DEFAULT_FPR if fpr is None else fpr,
            not_reported=not_reported or NO_CONTROL,
            seed=seed,
        )
    except ValueError as exc:
        raise UserInputError(f"cannot evaluate: {exc}") from None


# -- lie-detector ------------------------------------------------------------------------------


def cmd_detector_train(args: argparse.Namespace) -> int:
    import numpy as np

    from honesty_evals.lie_detection.dataset import parse_topics
    from honesty_evals.lie_detection.detector import (
        LinearDetector,
        out_of_fold_control,
        scored_out_of_fold,
    )
    from honesty_evals.lie_detection.evaluation import percent
    from honesty_evals.lie_detection.features import load_feature_table

    _check_fit_args(args)
    _check_outputs(args)
    table = load_feature_table(args.logs)
    print(
        f"models: {', '.join(table.models)}; features: {len(table.feature_names)} "
        f"follow-ups ({table.feature_kind})"
    )
    print(table.counts_line())
    if args.topics:
        table = table.subset(table.topic_mask(parse_topics(args.topics)))
    fix = "collect more answers (-T n_per_topic on lie_detection), or a smaller --test-size"
    train, test = split_or_refuse(table.question_ids, table.y, args.test_size, args.seed, fix)
    tr, te = table.subset(train), table.subset(test)
    # the stored threshold is set on the honest training answers: refuse before fitting when
    # they are too few to set it at --fpr
    noun = "honest training answers (the control negatives)"
    _refuse_threshold("detector", int((tr.y == 0).sum()), noun, args.fpr, fix)
    detector = LinearDetector(C=args.C, seed=args.seed)
    detector.fit(tr.X, tr.y, table.feature_names, table.feature_set)
    control = out_of_fold_control(detector, tr.X, tr.y, tr.question_ids, args.fpr, args.seed)
    # folds with one class only score nothing, so fewer may remain than were counted above
    _refuse_threshold("detector", control.n_control, noun, args.fpr, fix)
    detector.set_control(control)
    report: dict[str, Any] = {
        "models": table.models,
        "logs": [str(p) for p in args.logs],
        # `eval` on these logs reports no recall: their honest answers set the threshold
        "logs_resolved": [str(p.resolve()) for p in args.logs],
        "label_counts": dict(table.label_counts),
        "train_rows": int(train.sum()),
        "test_rows": int(test.sum()),
        "topics": sorted(set(table.topics)),
    }
    indist = _evaluate(
        te.y, detector.decision_function(te.X), te.question_ids, args.seed, detector.control()
    )
    print(indist.line("in distribution (held-out questions)"))
    report["in_distribution"] = indist.to_json()
    # the held-out split is small; every row scored out of fold uses all the data
    labels, scores, groups = scored_out_of_fold(
        LinearDetector(C=args.C, seed=args.seed), table.X, table.y, table.question_ids, args.seed
    )
    cv = _evaluate(
        labels,
        scores,
        groups,
        args.seed,
        None,
        "not reported: every row is scored, so no separate control rows are left to fix a "
        "threshold on",
        args.fpr,
    )
    print(cv.line("in distribution (grouped 5-fold, every row out of fold)"))
    report["in_distribution_cv"] = cv.to_json()
    if args.cross_topic:
        report["cross_topic"] = {}
        full = load_feature_table(args.logs)
        for topic in sorted(set(full.topics)):
            inside = full.subset(full.topic_mask([topic]))
            outside = full.subset(~full.topic_mask([topic]))
            if len(set(inside.y.tolist())) < 2 or len(set(outside.y.tolist())) < 2:
                print(f"train on {topic}: skipped (needs lies and honest answers on both sides)")
                continue
            one = LinearDetector(C=args.C, seed=args.seed).fit(
                inside.X, inside.y, full.feature_names, full.feature_set
            )
            # the training topic's own honest answers, scored out of fold, are the control
            # set: none of them is among the other topics' rows that are evaluated
            topic_control = out_of_fold_control(
                LinearDetector(C=args.C, seed=args.seed),
                inside.X,
                inside.y,
                inside.question_ids,
                args.fpr,
                args.seed,
                f"honest {topic} answers, scored out of fold",
            )
            result = _evaluate(
                outside.y,
                one.decision_function(outside.X),
                outside.question_ids,
                args.seed,
                topic_control,
            )
            print(result.line(f"train on {topic}, test on the other topics"))
            report["cross_topic"][topic] = result.to_json()
        if report["cross_topic"]:
            aurocs = [r["auroc"] for r in report["cross_topic"].values()]
            print(
                f"cross-topic AUROC, mean over {len(aurocs)} training topics: "
                f"{float(np.mean(aurocs)):.3f} (range {min(aurocs):.3f}-{max(aurocs):.3f})"
            )
    detector.info_ = report
    detector.save(args.out)
    print(
        f"detector written to {args.out} (threshold {control.threshold:.3f} flags at most "
        f"{percent(args.fpr)} of {control.n_control} {control.source})"
    )
    _emit(report, args.report)
    return 0


def cmd_detector_eval(args: argparse.Namespace) -> int:
    from honesty_evals.lie_detection.dataset import parse_topics
    from honesty_evals.lie_detection.detector import LinearDetector
    from honesty_evals.lie_detection.features import load_feature_table

    _check_outputs(args)
    detector = LinearDetector.load(args.detector)
    table = load_feature_table(args.logs)
    detector.check_features(table.feature_names, table.feature_set)
    if args.topics:
        table = table.subset(table.topic_mask(parse_topics(args.topics)))
    print(table.counts_line())
    control, why = detector.control(), detector.why_no_control()
    trained_on = {Path(p) for p in detector.info_.get("logs_resolved", [])}
    reused = [str(p) for p in args.logs if Path(p).resolve() in trained_on]
    if control is not None and reused:
        # its honest answers set the threshold: the evaluated rows are not separate from it
        control = None
        why = (
            f"not reported: the threshold was set on honest answers of {', '.join(reused)}, "
            "which is evaluated here; evaluate on other logs"
        )
    result = _evaluate(
        table.y,
        detector.decision_function(table.X),
        table.question_ids,
        args.seed,
        control,
        why,
        detector.threshold_fpr_,
    )
    print(result.line("evaluation"))
    _emit({"logs": [str(p) for p in args.logs], "evaluation": result.to_json()}, args.report)
    return 0


# -- probe -------------------------------------------------------------------------------------


def _reader(args: argparse.Namespace, model: str, layer: int | None) -> Any:
    from honesty_evals.lie_detection.activations import ActivationReader
    from honesty_evals.model.devices import check_device
    from honesty_evals.model.source import resolve_model_source

    # the device and the model folder are diagnosed before anything loads, with this
    # command's own flag names in the messages
    check_device(args.device, "--device")
    if args.max_batch_tokens < 1:
        raise UserInputError(f"--max-batch-tokens must be 1 or more (got {args.max_batch_tokens})")
    resolve_model_source(model.removeprefix("local/"), base=args.base, base_flag="--base")

    return ActivationReader(
        model,
        layer,
        base=args.base,
        dtype=args.dtype,
        device=args.device,
        max_batch_tokens=args.max_batch_tokens,
    )


def _speed_line(reader: Any) -> str:
    s = reader.stats
    return (
        f"activations: {s.conversations} conversations, {s.tokens} tokens in "
        f"{s.seconds:.1f} s ({s.tokens_per_second:.0f} tokens/s; layer {reader.layer} of "
        f"{reader.n_layers})"
    )


def cmd_probe_train(args: argparse.Namespace) -> int:
    import numpy as np

    from honesty_evals.lie_detection.dataset import parse_topics
    from honesty_evals.lie_detection.detector import CONTROL_SOURCE, LinearDetector
    from honesty_evals.lie_detection.evaluation import percent
    from honesty_evals.lie_detection.probe import shipped_examples

    _check_fit_args(args)
    _check_outputs(args)
    for flag, value in (
        ("--n-per-topic", args.n_per_topic),
        ("--n-control-per-topic", args.n_control_per_topic),
    ):
        if value < 1:
            raise UserInputError(f"{flag} must be 1 or more (got {value})")
    topics = parse_topics(args.topics)
    pairs = shipped_examples("pairs", topics, "train", args.n_per_topic, args.seed)
    control = shipped_examples("control", None, "train", args.n_control_per_topic, args.seed + 1)
    # refuse before loading the model and reading activations
    _refuse_threshold(
        "probe", len(control), "honest control answers", args.fpr, "raise --n-control-per-topic"
    )
    groups = [e.question_id for e in pairs]
    train, test = split_or_refuse(
        groups, [e.label for e in pairs], args.test_size, args.seed, "raise --n-per-topic"
    )
    reader = _reader(args, args.model, args.layer)
    X = reader.read([e.messages for e in pairs], progress=True)
    y = np.array([e.label for e in pairs])
    X_control = reader.read([e.messages for e in control], progress=True)
    print(_speed_line(reader))
    probe = LinearDetector(C=args.C, seed=args.seed)
    probe.fit(X[train], y[train], reader.feature_names(), reader.feature_set)
    # the threshold comes from the control conversations (no instruction), never from the
    # held-out pairs it is then applied to
    probe.set_threshold(X_control, args.fpr, CONTROL_SOURCE)
    indist = _evaluate(
        y[test],
        probe.decision_function(X[test]),
        [groups[i] for i in np.nonzero(test)[0]],
        args.seed,
        probe.control(),
    )
    print(indist.line("in distribution (held-out contrast pairs)"))
    report = {
        "model": args.model,
        "layer": reader.layer,
        "train_topics": list(topics),
        "pairs": len(pairs) // 2,
        "control_rows": len(control),
        "in_distribution": indist.to_json(),
        "extraction": {
            "tokens": reader.stats.tokens,
            "seconds": reader.stats.seconds,
            "tokens_per_second": reader.stats.tokens_per_second,
        },
    }
    probe.info_ = report
    probe.save(args.out)
    print(
        f"probe written to {args.out} (threshold {probe.threshold_:.3f} flags at most "
        f"{percent(args.fpr)} of {len(control)} {CONTROL_SOURCE})"
    )
    _emit(report, args.report)
    return 0


def cmd_probe_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from honesty_evals.lie_detection.dataset import parse_topics
    from honesty_evals.lie_detection.detector import LinearDetector
    from honesty_evals.lie_detection.features import load_feature_table
    from honesty_evals.lie_detection.probe import log_examples, shipped_examples
    from honesty_evals.lie_detection.qa import TOPICS

    _check_outputs(args)
    if args.n_per_topic < 1:
        raise UserInputError(f"--n-per-topic must be 1 or more (got {args.n_per_topic})")
    probe = LinearDetector.load(args.probe)
    stored = probe.feature_set_
    if stored.get("kind") != "activations":
        raise UserInputError(
            f"{args.probe} is a follow-up-question detector, not a probe: use "
            "`honesty-evals lie-detector eval`"
        )
    model = args.model or stored["model"]
    layer = args.layer if args.layer is not None else stored["layer"]
    reader = _reader(args, model, layer)
    probe.check_features(reader.feature_names(), reader.feature_set)
    if args.log:
        table = load_feature_table(args.log, keep_rows=True)
        if args.topics:
            table = table.subset(table.topic_mask(parse_topics(args.topics)))
        print(table.counts_line())
        examples = log_examples(table, hide_instruction=not args.show_instruction)
        setting = "own answers, instruction " + ("shown" if args.show_instruction else "hidden")
    else:
        trained = probe.info_.get("train_topics", [])
        topics = (
            parse_topics(args.topics)
            if args.topics
            else tuple(t for t in TOPICS if t not in trained)
        )
        examples = shipped_examples("instructed-lies", topics, "test", args.n_per_topic, args.seed)
        setting = f"instructed lies on {', '.join(topics)} (test split)"
    X = reader.read([e.messages for e in examples], progress=True)
    print(_speed_line(reader))
    y = np.array([e.label for e in examples])
    result = _evaluate(
        y,
        probe.decision_function(X),
        [e.question_id for e in examples],
        args.seed,
        probe.control(),
        probe.why_no_control(),
        probe.threshold_fpr_,
    )
    print(result.line(setting))
    _emit(
        {"setting": setting, "model": model, "layer": layer, "evaluation": result.to_json()},
        args.report,
    )
    return 0
