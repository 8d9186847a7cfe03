"""Dataset integrity: a checksummed manifest of every shipped data file (PROTOCOLS §5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def require_verified(relpaths: Sequence[str], *, allow_unverified: bool = False) -> dict[str, Any]:
    """Verify shipped dataset files (paths relative to `datasets/`) against the manifest.

    Raises UserInputError on a mismatch unless `allow_unverified`; returns a summary for the
    eval log's task metadata (key "datasets"). Placeholder until the manifest lands.
    """
    return {"files": list(relpaths), "allow_unverified": allow_unverified}
