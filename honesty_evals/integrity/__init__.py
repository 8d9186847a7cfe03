"""Dataset integrity: a checksummed manifest of every data file (PROTOCOLS §5).

`require_verified` is the guard tasks call before they load a shipped file. This package's
`__init__` imports nothing heavy, because scanning worker processes import `scan` through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def require_verified(
    relpaths: Sequence[str],
    *,
    allow_unverified: bool = False,
    directory: Path | str | None = None,
) -> dict[str, Any]:
    """Verify data files against their manifest before use; see `verify.require_verified`."""
    from honesty_evals.integrity.verify import require_verified as _require_verified

    return _require_verified(relpaths, allow_unverified=allow_unverified, directory=directory)


def verify_if_pinned(path: Path | str, *, allow_unverified: bool = False) -> dict[str, Any]:
    """Verify a data file if a manifest above it pins it; see `verify.verify_if_pinned`."""
    from honesty_evals.integrity.verify import verify_if_pinned as _verify_if_pinned

    return _verify_if_pinned(path, allow_unverified=allow_unverified)


__all__ = ["require_verified", "verify_if_pinned"]
