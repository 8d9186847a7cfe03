"""The one reader of users' text files: every command gives the same messages for the same
mistakes (a folder where a file belongs, a byte-order mark, bytes that are not UTF-8, an
empty file).

Imports nothing heavy, so command-line checks that run before any model loads can use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from honesty_evals.errors import UserInputError

UTF8_BOM = b"\xef\xbb\xbf"


def check_input_file(path: str | Path, what: str = "file") -> Path:
    """`path` as a Path when it names a readable file; else one line saying what is wrong.

    `what` names the file as the user knows it (`--data`, "suite file", ...).
    """
    file = Path(path).expanduser()
    if file.is_dir():
        raise UserInputError(f"{what} '{path}' is a folder, not a file: give the path of a file")
    if not file.exists():
        parent = next((p for p in file.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise UserInputError(
                f"{what} '{path}' cannot exist: '{parent}' is a file, not a folder"
            )
        raise UserInputError(f"{what} '{path}' does not exist: check the path")
    if not file.is_file():
        raise UserInputError(f"{what} '{path}' is not a regular file: give the path of a file")
    if not os.access(file, os.R_OK):
        raise UserInputError(f"cannot read {what} '{path}': permission denied")
    return file


def _bom_error(path: str | Path, what: str) -> UserInputError:
    return UserInputError(
        f"{what} '{path}' starts with a UTF-8 byte-order mark (BOM), which JSON and our "
        "readers do not allow: save it as UTF-8 without BOM (e.g. `sed -i '1s/^\\xEF\\xBB"
        "\\xBF//' FILE`)"
    )


def check_no_bom(path: str | Path, what: str = "file") -> None:
    """Refuse a file that starts with a byte-order mark (for readers that stream bytes)."""
    with Path(path).open("rb") as f:
        if f.read(len(UTF8_BOM)) == UTF8_BOM:
            raise _bom_error(path, what)


def decode_utf8(data: bytes, path: str | Path, what: str = "file") -> str:
    """`data` (the bytes of `path`) as text; a BOM or a non-UTF-8 byte is one clear line."""
    if data.startswith(UTF8_BOM):
        raise _bom_error(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserInputError(
            f"{path}:{line}: {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at byte "
            f"{column} of line {line}, offset {exc.start} of the file): save it as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8`)"
        ) from None


def read_text(path: str | Path, what: str = "file", *, allow_empty: bool = False) -> str:
    """The UTF-8 text of a user's file, refusing a folder, a BOM, non-UTF-8 bytes and (unless
    `allow_empty`) a file with nothing but whitespace in it."""
    file = check_input_file(path, what)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserInputError(f"cannot read {what} '{path}': {exc.strerror}") from None
    text = decode_utf8(data, path, what)
    if not allow_empty and not text.strip():
        raise UserInputError(f"{what} '{path}' is empty: give a file with at least one record")
    return text


def numbered_lines(
    path: str | Path, what: str = "file", *, allow_empty: bool = False
) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) for each non-blank line of a user's text file."""
    text = read_text(path, what, allow_empty=allow_empty)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def lines_without_blanks(path: str | Path, what: str, item: str) -> list[str]:
    """Every line of a one-`item`-a-line text file; a blank line is refused with its number.

    A blank line in a prompt or question file is almost always a mistake (a paragraph meant
    as one prompt, or a stray line that would become an empty prompt), so it is named
    rather than skipped. The file's final newline is not a blank line.
    """
    lines = read_text(path, what).splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise UserInputError(
                f"{path}:{number}: blank line in {what}: give one {item} a line, with no "
                "blank lines"
            )
    return [line.strip() for line in lines]
