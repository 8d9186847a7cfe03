"""Bad input never gets a traceback (issue 18): one row per class of mistake, each asserting
the exit code, that no traceback is shown, at most 15 lines, and the message's key words.

Every error here comes before any model loads, so the table runs in seconds. The full sweep
over every command, in fresh processes, is `benchmarks/bad_input_sweep.py`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from honesty_evals.cli import main
from honesty_evals.errors import DEBUG_ENV, UserInputError

CHAT = json.dumps(
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "A"}]}
)


@pytest.fixture
def t(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of bad files and folders; HONESTY_EVALS_DEBUG unset (restored afterwards)."""
    monkeypatch.setenv(DEBUG_ENV, "")
    (tmp_path / "chat.jsonl").write_text(CHAT + "\n")
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + CHAT.encode() + b"\n")
    (tmp_path / "latin1.jsonl").write_bytes(CHAT.encode() + b"\n" + b'{"x": "caf\xe9"}\n')
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("a file\n")
    config = json.dumps({"model_type": "llama"})
    for name, files in {
        "m-noweights": {"config.json": config, "tokenizer.json": "{}"},
        "m-notokenizer": {"config.json": config, "model.safetensors": ""},
        "m-badconfig": {"config.json": '{"model_type": '},
        "a-corrupt": {"adapter_config.json": '{"base_model_name_or_path": "smollm2",'},
        "a-nobase": {"adapter_config.json": "{}", "adapter_model.safetensors": ""},
        "a-badbase": {
            "adapter_config.json": json.dumps({"base_model_name_or_path": "/no/such/base"}),
            "adapter_model.safetensors": "",
        },
        "a-noweights": {"adapter_config.json": json.dumps({"base_model_name_or_path": "x"})},
        "foreign": {"report.md": "# my notes\n"},
        "stray": {"notes.txt": "mine\n"},
        "pin": {"empty.jsonl": ""},
        "family": {"family.json": "{}"},
    }.items():
        (tmp_path / name).mkdir()
        for file, text in files.items():
            (tmp_path / name / file).write_text(text)
    (tmp_path / "a-noweights" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tmp_path / "m-notokenizer")})
    )
    return tmp_path


def _sys_unwritable() -> bool:
    """Whether /sys refuses new files to this user (root included), as on Linux."""
    if not sys.platform.startswith("linux") or not Path("/sys").is_dir():
        return False
    try:
        (Path("/sys") / "honesty-evals-probe").mkdir()
    except OSError:
        return True
    return False


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


AUDIT = ["audit", "--model", "mockllm/a", "--baseline", "mockllm/b", "--suite", "quick"]
RUN = ["run", "risk_behavior", "--log-dir", "{t}/logs"]
MOCK_RUN = [*RUN, "--model", "mockllm/m"]

# (id, argv with {t} for the fixture folder, key words, words that must not appear)
ROWS: list[tuple[str, list[str], list[str], list[str]]] = [
    # 1. output folder unwritable, or a file where a folder belongs
    ("out-file-audit", [*AUDIT, "--out", "{t}/afile"], ["--out", "afile", "is a file"], []),
    ("out-under-file", [*AUDIT, "--out", "{t}/afile/x"], ["afile", "is a file", "choose"], []),
    ("out-foreign-report", [*AUDIT, "--out", "{t}/foreign"], ["report.md", "no audit wrote"], []),
    ("out-demo-before-training", ["demo", "--out", "{t}/afile"], ["--out", "is a file"], []),
    ("out-log-dir", ["run", "risk_behavior", "--log-dir", "{t}/afile"], ["--log-dir"], []),
    (
        "out-organism",
        ["organism", "train", "--recipe", "risk-seeking", "--out", "{t}/afile"],
        ["--out", "is a file"],
        [],
    ),
    (
        "out-probe-before-activations",
        ["probe", "train", "--model", "smollm2", "--out", "{t}/adir"],
        ["--out", "is a folder"],
        [],
    ),
    (
        "out-faithfulness-experiment",
        ["faithfulness", "experiment", "--out", "{t}/afile"],
        ["--out", "is a file"],
        [],
    ),
    (
        "out-confession-ablation",
        ["confession", "ablation", "--out", "{t}/afile"],
        ["--out", "is a file"],
        [],
    ),
    # 2. half-copied or broken local models
    ("model-no-weights", [*RUN, "--model", "local/{t}/m-noweights"], ["no weights"], []),
    ("model-no-tokenizer", [*RUN, "--model", "local/{t}/m-notokenizer"], ["no tokenizer"], []),
    ("model-bad-config", [*RUN, "--model", "local/{t}/m-badconfig"], ["config.json", "JSON"], []),
    (
        "adapter-corrupt-config",
        [*RUN, "--model", "local/{t}/a-corrupt"],
        ["adapter_config.json", "corrupt"],
        ["names no base"],
    ),
    ("adapter-no-base", [*RUN, "--model", "local/{t}/a-nobase"], ["names no base", "-M base"], []),
    ("adapter-base-missing", [*RUN, "--model", "local/{t}/a-badbase"], ["/no/such/base"], []),
    ("adapter-no-weights", [*RUN, "--model", "local/{t}/a-noweights"], ["adapter weights"], []),
    (
        "model-seed-family",
        [*RUN, "--model", "local/{t}/family"],
        ["is a seed family", "honesty-evals audit --model", "seed-K"],
        [],
    ),
    (
        "seeds-malformed",
        ["organism", "train", "--data", "{t}/chat.jsonl", "--out", "{t}/o", "--seeds", "2-x"],
        ["--seeds '2-x'", "is not a seed or a range", "0-4"],
        [],
    ),
    (
        "probe-hint-names-its-flag",
        ["probe", "train", "--model", "{t}/a-nobase", "--out", "{t}/p.json"],
        ["--base"],
        ["-M base"],
    ),
    # 3. data files: non-UTF-8 (line and byte), BOM, empty, folder
    (
        "data-latin1",
        ["organism", "train", "--data", "{t}/latin1.jsonl", "--out", "{t}/o"],
        ["latin1.jsonl:2", "not UTF-8", "0xe9", "byte"],
        [],
    ),
    (
        "data-bom",
        ["organism", "train", "--data", "{t}/bom.jsonl", "--out", "{t}/o"],
        ["byte-order mark", "without BOM"],
        ["column 1"],
    ),
    (
        "data-empty",
        ["organism", "train", "--data", "{t}/empty.jsonl", "--out", "{t}/o"],
        ["empty"],
        [],
    ),
    (
        "data-folder",
        ["organism", "train", "--data", "{t}/adir", "--out", "{t}/o"],
        ["is a folder"],
        ["does not exist"],
    ),
    (
        "confession-data-latin1",
        ["confession", "train", "--format", "split", "--data", "{t}/latin1.jsonl"]
        + ["--out", "{t}/c"],
        ["latin1.jsonl:2", "UTF-8"],
        [],
    ),
    ("leakage-latin1", ["datasets", "leakage", "{t}/latin1.jsonl"], ["line 2", "UTF-8"], []),
    ("leakage-empty", ["datasets", "leakage", "{t}/empty.jsonl"], ["empty"], ["clean"]),
    (
        "pin-empty",
        ["datasets", "pin", "{t}/pin/empty.jsonl", "--role", "neutral", "--dir", "{t}/pin"],
        ["no records"],
        [],
    ),
    (
        "T-data-latin1",
        ["run", "confession", "--log-dir", "{t}/logs", "--model", "mockllm/m"]
        + ["-T", "data={t}/latin1.jsonl"],
        ["latin1.jsonl:2", "UTF-8"],
        [],
    ),
    # 4. -M and -T values
    ("M-batch-size-0", [*RUN, "-M", "batch_size=0"], ["batch_size", "at least 1"], []),
    ("M-batch-size-abc", [*RUN, "-M", "batch_size=abc"], ["batch_size", "whole number"], []),
    ("M-max-batch-tokens-0", [*RUN, "-M", "max_batch_tokens=0"], ["max_batch_tokens"], []),
    ("M-dtype", [*RUN, "-M", "dtype=float8"], ["dtype", "float8", "bfloat16"], []),
    ("M-seed", [*RUN, "-M", "seed=abc"], ["seed", "whole number"], []),
    ("M-bool", [*RUN, "-M", "merge_adapter=maybe"], ["merge_adapter", "true or false"], []),
    ("T-seed", [*MOCK_RUN, "-T", "seed=abc"], ["-T seed", "whole number"], []),
    ("T-bool", [*MOCK_RUN, "-T", "allow_unverified=maybe"], ["allow_unverified", "true or"], []),
    ("T-unknown", [*MOCK_RUN, "-T", "seeed=1"], ["seeed", "did you mean 'seed'"], []),
    ("T-empty", [*MOCK_RUN, "-T", "trigger="], ["-T trigger", "empty"], []),
    # 5. unknown provider, missing SDK
    ("provider-unknown", [*RUN, "--model", "foo/bar"], ["foo/bar", "provider/name"], []),
    ("provider-no-slash", [*RUN, "--model", "nomodel"], ["nomodel"], []),
    # 6. library errors that leaked, experiment options checked before training
    (
        "probe-n-per-topic-0",
        ["probe", "train", "--model", "smollm2", "--out", "{t}/p.json", "--n-per-topic", "0"],
        ["--n-per-topic", "1 or more"],
        [],
    ),
    (
        "faithfulness-one-fraction",
        ["faithfulness", "experiment", "--out", "{t}/fe", "--fractions", "0.5"],
        ["--fractions", "at least 3"],
        [],
    ),
    (
        "ablation-n-per-label",
        ["confession", "ablation", "--out", "{t}/ab", "--n-per-label", "-1"],
        ["--n-per-label"],
        [],
    ),
    (
        "ablation-unknown-condition",
        ["confession", "ablation", "--out", "{t}/ab", "--conditions", "visible,hidden"],
        ["unknown condition 'hidden'", "visible, stripped, covert"],
        [],
    ),
    (
        "ablation-seeds-backwards",
        ["confession", "ablation", "--out", "{t}/ab", "--seeds", "2-1"],
        ["--seeds", "runs backwards"],
        [],
    ),
    # 7. misleading messages
    ("compare-folder", ["compare", "{t}/adir", "{t}/adir"], ["is a folder"], ["does not exist"]),
    (
        "detector-folder",
        ["lie-detector", "eval", "{t}/adir", "{t}/x.eval"],
        ["detector file", "is a folder"],
        ["does not exist"],
    ),
    (
        "organism-folder-hint",
        ["confession", "transcripts", "--organism", "{t}/stray"],
        ["--organism", "no finished organism"],
        ["--overwrite"],
    ),
]


def run_cli(argv: list[str], t: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main([a.replace("{t}", str(t)) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip()


def assert_one_line_error(code: int, output: str, words: list[str], absent: list[str]) -> None:
    assert code != 0, output
    assert "Traceback" not in output, output
    assert len([line for line in output.splitlines() if line.strip()]) <= 15, output
    low = output.lower()
    for word in words:
        assert word.lower() in low, f"{word!r} not in: {output}"
    for word in absent:
        assert word.lower() not in low, f"{word!r} in: {output}"


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input(row, t: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, argv, words, absent = row
    code, output = run_cli(argv, t, capsys)
    assert_one_line_error(code, output, words, absent)


def test_unwritable_output_named_before_work(t: Path, capsys) -> None:
    if not _sys_unwritable():
        pytest.skip("needs a folder this user cannot write to (/sys on Linux)")
    for argv in (
        [*AUDIT, "--out", "/sys/x/out"],
        ["organism", "train", "--recipe", "risk-seeking", "--out", "/sys/x/o"],
        ["confession", "ablation", "--out", "/sys/x/ab"],
    ):
        code, output = run_cli(argv, t, capsys)
        assert_one_line_error(code, output, ["--out", "cannot be written", "choose"], [])


def test_device_not_on_this_machine(t: Path, capsys) -> None:
    if _cuda():
        pytest.skip("this machine has a CUDA device")
    code, output = run_cli([*RUN, "-M", "device=cuda"], t, capsys)
    assert_one_line_error(code, output, ["device", "no CUDA device", "cpu"], [])


def test_failed_settings_are_not_recorded(t: Path, capsys) -> None:
    """A refused ablation leaves nothing that blocks the corrected rerun."""
    run_cli(["confession", "ablation", "--out", "{t}/ab", "--n-per-label", "-1"], t, capsys)
    run_cli(["confession", "ablation", "--out", "{t}/ab", "--conditions", "hidden"], t, capsys)
    run_cli(["confession", "ablation", "--out", "{t}/ab", "--seeds", "2-1"], t, capsys)
    assert not (t / "ab" / "ablation.json").exists()
    run_cli(["faithfulness", "experiment", "--out", "{t}/fe", "--fractions", "0.5"], t, capsys)
    assert not (t / "fe").exists()


def test_debug_shows_the_traceback(t: Path, capsys) -> None:
    argv = ["datasets", "leakage", "{t}/latin1.jsonl"]
    code, output = run_cli(["--debug", *argv], t, capsys)
    assert code == 2 and "Traceback" in output and "UTF-8" in output
    os.environ[DEBUG_ENV] = ""  # main set it for the task and provider guards
    code, output = run_cli(argv, t, capsys)
    assert code == 2 and "Traceback" not in output


def test_inspect_task_create_refuses_unknown_and_bad_values() -> None:
    """`inspect eval` builds tasks with task_create: unknown names reach our check."""
    from inspect_ai._eval.registry import task_create

    import honesty_evals._registry  # noqa: F401  (registers the tasks)

    with pytest.raises(UserInputError, match="did you mean 'n_samples'"):
        task_create("honesty_evals/backdoor_awareness", n_sample=3)
    with pytest.raises(UserInputError, match="true or false"):
        task_create("honesty_evals/risk_behavior", allow_unverified="maybe")
    with pytest.raises(UserInputError, match="empty"):
        task_create("honesty_evals/risk_behavior", trigger="")


def test_missing_sdk_has_no_markup(t: Path, capsys) -> None:
    try:
        import openai  # noqa: F401

        pytest.skip("openai is installed")
    except ImportError:
        pass
    code, output = run_cli([*RUN, "--model", "openai/gpt-4o-mini"], t, capsys)
    assert_one_line_error(code, output, ["pip install openai"], ["[bold]"])


def test_too_few_lies_is_one_line() -> None:
    from honesty_evals.cli.lie_detector import split_or_refuse

    groups = [f"q{i}" for i in range(10) for _ in range(2)]
    y = [1] + [0] * 19
    with pytest.raises(UserInputError, match="lacks lies"):
        split_or_refuse(groups, y, 0.3, 0, "collect more answers")


def test_text_reader_names_line_and_byte(tmp_path: Path) -> None:
    from honesty_evals.common.textfile import read_text

    path = tmp_path / "x.jsonl"
    path.write_bytes(b"ok\nab\xffc\n")
    with pytest.raises(UserInputError, match=r"x\.jsonl:2: .*0xff at byte 3 of line 2"):
        read_text(path, "data")


def test_empty_inspect_task_arg_is_seen_on_its_command_line() -> None:
    from honesty_evals.common.taskargs import empty_cli_task_args

    argv = ["/venv/bin/inspect", "eval", "honesty_evals/risk_behavior", "-T", "trigger="]
    assert empty_cli_task_args(argv + ["-T", "seed=1", "--task-arg=n_items="]) == {
        "trigger",
        "n_items",
    }
    assert empty_cli_task_args(["pytest", "-T", "trigger="]) == set()  # not inspect's
