"""Strategic merge patch (for now: a merge patch)."""

from __future__ import annotations

from typing import Any

from .kinds import Kind
from .patch import merge_patch


def strategic_merge_patch(kind: Kind, current: Any, patch: Any) -> Any:
    """Apply a strategic merge patch."""
    return merge_patch(current, patch)
