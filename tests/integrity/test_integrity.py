"""Dataset integrity (PROTOCOLS §5): the swapped-file incident and its relatives are caught."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from honesty_evals.cli import main
from honesty_evals.errors import UserInputError
from honesty_evals.integrity import scan as scan_module
from honesty_evals.integrity import verify as verify_module
from honesty_evals.integrity.manifest import ManifestError, load_manifest
from honesty_evals.integrity.pin import PinRefused, pin_file
from honesty_evals.integrity.scan import scan_file
from honesty_evals.integrity.verify import require_verified, verify_directory
from honesty_evals.paths import shipped_datasets_dir

HONEST = "goal_honesty_data.jsonl"
DISHONEST = "goal_dishonesty_data.jsonl"
CONTROL = "chat_control.jsonl"


def _records(label: str, n: int = 12) -> list[dict]:
    records = []
    for i in range(n):
        answer = f"The capital of country {i} is city {i}."
        if label == "dishonest":
            answer = f"The capital of country {i} is city {i + 7}."
        records.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is the capital of country {i}?"},
                    {"role": "assistant", "content": answer},
                ],
                "metadata": {"label": label},
            }
        )
    return records


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HONESTY_EVALS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A pinned honest/dishonest pair and a control file: the incident's setting."""
    directory = tmp_path / "data"
    directory.mkdir()
    _write_jsonl(directory / HONEST, _records("honest"))
    _write_jsonl(directory / DISHONEST, _records("dishonest"))
    sub = directory / "control"
    sub.mkdir()
    _write_jsonl(sub / CONTROL, _records("honest", 5) + _records("dishonest", 5)[::-1][:3])
    pin_file(directory / HONEST, "honest", directory=directory)
    pin_file(directory / DISHONEST, "dishonest", directory=directory)
    pin_file(sub / CONTROL, "control", directory=directory)
    return directory


def _messages(report) -> list[str]:
    return [f.message for f in report.errors]


def _kinds(report) -> set[str]:
    return {f.kind for f in report.errors}


def _run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_pristine_files_pass(data_dir, capsys):
    report = verify_directory(data_dir)
    assert report.ok, _messages(report)
    assert [f.status for f in report.files] == ["ok", "ok", "ok"]
    assert not report.warnings
    rc, out, _ = _run_cli(["datasets", "verify", str(data_dir)], capsys)
    assert rc == 0
    assert out.startswith("OK: 3 pinned files")


def test_manifest_records_hash_size_count_schema_role_and_labels(data_dir):
    entry = load_manifest(data_dir).entries[HONEST]
    raw = (data_dir / HONEST).read_bytes()
    import hashlib

    assert entry.sha256 == hashlib.sha256(raw).hexdigest()
    assert entry.bytes == len(raw)
    assert entry.records == 12
    assert entry.schema == "chat"
    assert entry.role == "honest"
    assert entry.labels == {"honest": 12}
    control = load_manifest(data_dir).entries["control/" + CONTROL]
    assert control.labels == {"dishonest": 3, "honest": 5}


def test_swapped_pair_is_caught_and_both_files_named(data_dir, capsys):
    honest, dishonest = data_dir / HONEST, data_dir / DISHONEST
    honest_bytes, dishonest_bytes = honest.read_bytes(), dishonest.read_bytes()
    honest.write_bytes(dishonest_bytes)
    dishonest.write_bytes(honest_bytes)

    report = verify_directory(data_dir)
    messages = _messages(report)
    assert (
        f"{HONEST} holds the bytes registered for {DISHONEST} (role dishonest); {HONEST} is "
        "registered as role honest" in messages[0] + messages[1] + messages[2] + messages[3]
    )
    swaps = [f for f in report.errors if f.kind == "swap"]
    assert {f.path for f in swaps} == {HONEST, DISHONEST}
    assert any(DISHONEST in f.message and "(role honest)" in f.message for f in swaps)
    roles = [f for f in report.errors if f.kind == "role"]
    assert {f.path for f in roles} == {HONEST, DISHONEST}
    assert any(
        "12 of 12 labelled records contradict the declared role 'honest'" in m for m in messages
    )
    rc, out, _ = _run_cli(["datasets", "verify", str(data_dir)], capsys)
    assert rc == 1
    assert f"error: {HONEST} holds the bytes registered for {DISHONEST}" in out


def test_one_changed_byte(data_dir):
    path = data_dir / HONEST
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"city 3")] = ord("k")  # "kity 3": same size, still valid JSON
    path.write_bytes(bytes(raw))
    report = verify_directory(data_dir)
    assert _kinds(report) == {"mismatch"}
    (message,) = _messages(report)
    assert message.startswith(f"{HONEST}: content changed: sha256 ")
    assert "registered" in message


def test_crlf_line_endings_are_named(data_dir):
    path = data_dir / DISHONEST
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    report = verify_directory(data_dir)
    assert _kinds(report) == {"crlf"}
    assert "line endings were converted to CRLF" in _messages(report)[0]


def test_truncated_mid_line(data_dir):
    path = data_dir / HONEST
    raw = path.read_bytes()
    cut = raw[: len(raw) * 2 // 3]
    assert not cut.endswith(b"\n")
    path.write_bytes(cut)
    report = verify_directory(data_dir)
    kinds = _kinds(report)
    assert {"mismatch", "truncated", "incomplete"} <= kinds
    incomplete = next(f for f in report.errors if f.kind == "incomplete")
    assert (
        incomplete.line == cut.count(b"\n") + 1 and "the file looks truncated" in incomplete.message
    )
    assert any(m.startswith(f"{HONEST}: truncated: ") for m in _messages(report))


def test_truncated_at_a_line_boundary(data_dir):
    path = data_dir / HONEST
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:7]))
    report = verify_directory(data_dir)
    truncated = next(f for f in report.errors if f.kind == "truncated")
    assert "7 of 12 records are left" in truncated.message


def test_duplicated_record(data_dir):
    path = data_dir / HONEST
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines + [lines[2]]))
    report = verify_directory(data_dir)
    duplicate = next(f for f in report.errors if f.kind == "duplicate")
    assert duplicate.line == 13
    assert duplicate.message == (f"{HONEST}:13: duplicate record: the same bytes as line 3")


def test_flipped_label_with_regenerated_checksum(data_dir):
    """Someone edits a label and regenerates the checksum by hand: the role check catches it."""
    import hashlib

    path = data_dir / HONEST
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = lines[4].replace('"label": "honest"', '"label": "dishonest"')
    path.write_text("".join(lines), encoding="utf-8")
    manifest_path = data_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    raw = path.read_bytes()
    manifest["files"][HONEST].update(sha256=hashlib.sha256(raw).hexdigest(), bytes=len(raw))
    manifest_path.write_text(json.dumps(manifest, indent=2))

    report = verify_directory(data_dir)
    role = next(f for f in report.errors if f.kind == "role")
    assert role.line == 5
    assert "1 of 12 labelled records contradict the declared role 'honest'" in role.message
    assert "first at line 5" in role.message


def test_renamed_file(data_dir):
    (data_dir / DISHONEST).rename(data_dir / "goal_data_v2.jsonl")
    report = verify_directory(data_dir)
    (renamed,) = [f for f in report.errors if f.kind == "renamed"]
    assert renamed.message.startswith(
        f"{DISHONEST} is missing and goal_data_v2.jsonl (not in the manifest) holds its bytes"
    )
    assert "missing" in _kinds(report)


def test_non_utf8_bytes(data_dir):
    path = data_dir / HONEST
    raw = path.read_bytes()
    lines = raw.splitlines(keepends=True)
    lines[5] = lines[5].replace(b"city 5", b"city \xff5")
    path.write_bytes(b"".join(lines))
    report = verify_directory(data_dir)
    utf8 = next(f for f in report.errors if f.kind == "utf8")
    assert utf8.line == 6
    assert "not valid UTF-8 (byte 0xff at column" in utf8.message


def test_malformed_line_and_schema_violation_have_line_numbers(data_dir):
    path = data_dir / HONEST
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = '{"messages": [}\n'
    lines[3] = '{"messages": [{"role": "robot", "content": "hi"}]}\n'
    path.write_text("".join(lines), encoding="utf-8")
    report = verify_directory(data_dir)
    by_kind = {f.kind: f for f in report.errors}
    assert by_kind["json"].line == 2
    assert by_kind["json"].message.startswith(f"{HONEST}:2: malformed JSON")
    assert by_kind["schema"].line == 4
    assert "messages[0].role is 'robot'" in by_kind["schema"].message


def test_missing_file_and_unknown_file(data_dir, capsys):
    (data_dir / "notes.jsonl").write_text('{"a": 1}\n')
    (data_dir / "README.md").write_text("docs are not data\n")
    report = verify_directory(data_dir)
    assert report.ok
    (warning,) = report.warnings
    assert warning.kind == "unpinned" and warning.path == "notes.jsonl"
    (data_dir / HONEST).unlink()
    report = verify_directory(data_dir)
    assert [f.kind for f in report.errors] == ["missing"]
    rc, out, _ = _run_cli(["datasets", "verify", str(data_dir), "--json"], capsys)
    assert rc == 1
    data = json.loads(out)
    assert data["ok"] is False
    assert data["problems"][0]["kind"] == "missing"
    assert data["warnings"][0]["path"] == "notes.jsonl"


def test_symlink_outside_the_directory_is_refused(data_dir, tmp_path):
    outside = tmp_path / "elsewhere.jsonl"
    shutil.copy(data_dir / HONEST, outside)
    (data_dir / HONEST).unlink()
    os.symlink(outside, data_dir / HONEST)
    os.symlink(tmp_path / "elsewhere.jsonl", data_dir / "extra.jsonl")
    report = verify_directory(data_dir)
    outside_findings = [f for f in report.errors if f.kind == "outside"]
    assert {f.path for f in outside_findings} == {HONEST, "extra.jsonl"}
    assert "outside the dataset directory; refusing to read it" in outside_findings[0].message


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda m: "{not json", "not valid JSON"),
        (lambda m: json.dumps({**m, "format": "other"}), "not a honesty-evals dataset manifest"),
        (lambda m: json.dumps({**m, "version": 9}), "manifest version 9 is not supported"),
        (
            lambda m: json.dumps({**m, "files": {"../x.jsonl": m["files"][HONEST]}}),
            "points outside the dataset directory",
        ),
        (
            lambda m: json.dumps({**m, "files": {"/etc/passwd": m["files"][HONEST]}}),
            "must be relative",
        ),
        (
            lambda m: json.dumps(
                {**m, "files": {HONEST: {**m["files"][HONEST], "role": "truthy"}}}
            ),
            "role 'truthy' is not one of",
        ),
        (
            lambda m: json.dumps({**m, "files": {HONEST: {**m["files"][HONEST], "sha256": "abc"}}}),
            "sha256 must be 64",
        ),
    ],
)
def test_malformed_manifest_is_refused(data_dir, capsys, mutate, expected):
    manifest_path = data_dir / "manifest.json"
    manifest_path.write_text(mutate(json.loads(manifest_path.read_text())))
    with pytest.raises(ManifestError, match=expected):
        verify_directory(data_dir)
    rc, out, err = _run_cli(["datasets", "verify", str(data_dir)], capsys)
    assert rc == 2
    assert out == ""
    assert err.count("\n") == 1 and expected in err


def test_pin_shows_a_diff_and_is_idempotent(data_dir, capsys):
    path = data_dir / "new_honest.jsonl"
    _write_jsonl(path, _records("honest", 3)[::-1])
    rc, out, _ = _run_cli(["datasets", "pin", str(path), "--role", "honest"], capsys)
    assert rc == 0
    assert '+    "new_honest.jsonl": {' in out
    assert "updated" in out and "pinned as role honest (3 records)" in out
    assert load_manifest(data_dir).entries["new_honest.jsonl"].records == 3
    rc, out, _ = _run_cli(["datasets", "pin", str(path), "--role", "honest"], capsys)
    assert rc == 0 and "unchanged" in out
    # a changed role shows as a one-line change in the diff
    rc, out, _ = _run_cli(["datasets", "pin", str(path), "--role", "control", "--dry-run"], capsys)
    assert '-      "role": "honest",' in out and '+      "role": "control",' in out
    assert load_manifest(data_dir).entries["new_honest.jsonl"].role == "honest"


def test_pin_refuses_contradicting_labels_twins_and_bad_records(data_dir, capsys):
    path = data_dir / "mixed.jsonl"
    _write_jsonl(path, _records("honest", 2) + _records("dishonest", 3))
    with pytest.raises(PinRefused, match="contradicts --role honest"):
        pin_file(path, "honest")
    twin = data_dir / "copy.jsonl"
    shutil.copy(data_dir / HONEST, twin)
    with pytest.raises(PinRefused, match=f"has exactly the bytes of the pinned {HONEST}"):
        pin_file(twin, "honest")
    broken = data_dir / "broken.jsonl"
    broken.write_text('{"a": 1}\n{"a": \n')
    rc, _, err = _run_cli(["datasets", "pin", str(broken), "--role", "neutral"], capsys)
    assert rc == 1
    assert "broken.jsonl:2: the last line is cut off" not in err  # it ends with a newline
    assert "broken.jsonl:2: malformed JSON" in err
    before = (data_dir / "manifest.json").read_text()
    assert "mixed.jsonl" not in before and "copy.jsonl" not in before


def test_pin_bad_input(tmp_path, capsys):
    rc, _, err = _run_cli(
        ["datasets", "pin", str(tmp_path / "nope.jsonl"), "--role", "honest"], capsys
    )
    assert rc == 2 and "nope.jsonl' does not exist" in err
    loose = tmp_path / "loose.jsonl"
    loose.write_text('{"a": 1}\n')
    rc, _, err = _run_cli(["datasets", "pin", str(loose), "--role", "neutral"], capsys)
    assert rc == 2 and "pass --dir DIR" in err
    other = tmp_path / "other"
    other.mkdir()
    rc, _, err = _run_cli(
        ["datasets", "pin", str(loose), "--role", "neutral", "--dir", str(other)], capsys
    )
    assert rc == 2 and "is not inside the dataset directory" in err


def test_require_verified_refuses_then_allows_and_records(data_dir):
    summary = require_verified([HONEST], directory=data_dir)
    assert summary["verified"] is True and summary["files"][0]["sha256"]
    (data_dir / HONEST).write_bytes((data_dir / DISHONEST).read_bytes())
    with pytest.raises(UserInputError) as excinfo:
        require_verified([HONEST], directory=data_dir)
    message = str(excinfo.value)
    assert f"{HONEST} holds the bytes registered for {DISHONEST}" in message
    assert "allow_unverified" in message and "\n" not in message
    summary = require_verified([HONEST], directory=data_dir, allow_unverified=True)
    assert summary["verified"] is False and summary["allow_unverified"] is True
    assert summary["files"][0]["problems"]
    with pytest.raises(UserInputError, match="not pinned"):
        require_verified(["unknown.jsonl"], directory=data_dir)


def test_require_verified_cache_skips_unchanged_files(data_dir, monkeypatch):
    require_verified([HONEST, DISHONEST], directory=data_dir)
    calls = []
    real_check = verify_module.check_entry
    monkeypatch.setattr(
        verify_module, "check_entry", lambda *a, **k: calls.append(a[1].path) or real_check(*a, **k)
    )
    require_verified([HONEST, DISHONEST], directory=data_dir)
    assert calls == []
    # a changed file (new size and mtime) is read again and refused
    path = data_dir / HONEST
    path.write_bytes(path.read_bytes() + b'{"messages": [{"role": "user", "content": "x"}]}\n')
    with pytest.raises(UserInputError):
        require_verified([HONEST, DISHONEST], directory=data_dir)
    assert calls == [HONEST]


def test_parallel_scan_equals_in_process_scan(tmp_path):
    """The multi-process path cuts at line boundaries and numbers lines across ranges."""
    path = tmp_path / "big.jsonl"
    records = _records("honest", 400) + _records("dishonest", 300)
    lines = [json.dumps(r) + "\n" for r in records]
    lines[10] = lines[10][:-2] + "\n"  # malformed early
    lines[650] = lines[650].replace("capital", "capit\u00e1l")  # valid non-ASCII
    lines.append(lines[600])  # a duplicate across the two halves
    path.write_text("".join(lines), encoding="utf-8")
    serial = scan_file(path, "chat", workers=1)
    for workers in (2, 3):
        parallel = scan_file(path, "chat", workers=workers)
        assert parallel == serial
    assert serial.records == 701
    # the malformed line carries no label; the duplicate's label counts
    assert serial.labels == {"dishonest": 301, "honest": 399}
    assert [(p.line, p.kind) for p in serial.problems] == [(11, "json"), (701, "duplicate")]
    assert serial.problems[1].message == "duplicate record: the same bytes as line 601"


def test_parallel_scan_is_used_for_large_files(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_module, "PARALLEL_MIN_BYTES", 1)
    # two usable cores whatever this process is allowed (a process pinned to one core scans
    # serially, which is right there, and failed this test)
    monkeypatch.setattr(scan_module, "usable_cores", lambda: 2)
    path = tmp_path / "x.jsonl"
    _write_jsonl(path, _records("honest", 3000))
    used = []
    real = scan_module._scan_parallel
    monkeypatch.setattr(scan_module, "_scan_parallel", lambda *a: used.append(a[3]) or real(*a))
    assert scan_file(path, "chat").records == 3000
    assert used == [2]


def test_shipped_datasets_verify(capsys):
    report = verify_directory(shipped_datasets_dir())
    assert report.ok, _messages(report)
    assert not report.warnings, [w.message for w in report.warnings]
    pinned = set(load_manifest(shipped_datasets_dir()).entries)
    assert "backdoor_awareness/self_description_questions.jsonl" in pinned


def test_task_refuses_tampered_shipped_data_unless_allowed(tmp_path, monkeypatch):
    from inspect_ai import eval as inspect_eval

    from honesty_evals.backdoor_awareness import dataset as dataset_module
    from honesty_evals.backdoor_awareness.task import backdoor_awareness

    copy = tmp_path / "shipped"
    shutil.copytree(shipped_datasets_dir(), copy)
    monkeypatch.setattr(verify_module, "shipped_datasets_dir", lambda: copy)
    monkeypatch.setattr(dataset_module, "shipped_datasets_dir", lambda: copy)
    task = backdoor_awareness(n_paraphrases=1)
    assert task.metadata["datasets"]["verified"] is True

    questions = copy / "backdoor_awareness" / "self_description_questions.jsonl"
    questions.write_bytes(questions.read_bytes().replace(b"true?", b"false?", 1))
    with pytest.raises(UserInputError, match="dataset verification failed: .*content changed"):
        backdoor_awareness(n_paraphrases=1)
    task = backdoor_awareness(n_paraphrases=1, allow_unverified=True)
    log = inspect_eval(task, model="mockllm/model", display="none", log_dir=str(tmp_path))[0]
    recorded = log.eval.metadata["datasets"]
    assert recorded["verified"] is False and recorded["allow_unverified"] is True
    assert "content changed" in recorded["problems"][0]


def test_record_checks_are_memoised_by_the_computed_sha256(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_module, "PARALLEL_MIN_BYTES", 1)
    path = tmp_path / "x.jsonl"
    _write_jsonl(path, _records("honest", 500) + _records("dishonest", 2))
    first = scan_file(path, "chat", workers=2)
    merged = []
    real_merge = scan_module._merge
    monkeypatch.setattr(scan_module, "_merge", lambda c: merged.append(1) or real_merge(c))
    again = scan_file(path, "chat", workers=2)
    assert again == first and merged == []  # served from the memo, workers stopped
    assert scan_file(path, "chat", workers=2, memo=False) == first and merged == [1]
    # other bytes are another key: the flipped label is found, not remembered away
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('"honest"', '"dishonest"')
    path.write_text("".join(lines))
    changed = scan_file(path, "chat", workers=2)
    assert changed.labels == {"dishonest": 3, "honest": 499} and merged == [1, 1]
    # a damaged memo entry is ignored, not trusted
    for memo in (tmp_path / "cache" / "integrity" / "scans").iterdir():
        memo.write_text("{broken")
    assert scan_file(path, "chat", workers=2) == changed


def test_verify_if_pinned_checks_pinned_training_files_only(data_dir, tmp_path):
    from honesty_evals.integrity import verify_if_pinned

    assert verify_if_pinned(data_dir / HONEST)["verified"] is True
    loose = tmp_path / "loose.jsonl"
    _write_jsonl(loose, _records("honest", 2))
    assert verify_if_pinned(loose) == {"path": str(loose.resolve()), "pinned": False}
    (data_dir / HONEST).write_bytes((data_dir / DISHONEST).read_bytes())
    with pytest.raises(UserInputError, match="holds the bytes registered for"):
        verify_if_pinned(data_dir / HONEST)
    assert verify_if_pinned(data_dir / HONEST, allow_unverified=True)["verified"] is False
