"""Simulated images: a local root directory standing in for an image's file system.

Images are never pulled. Instead, an image reference may map to a local *root*
holding what the image would (e.g. ``<root>/opt/conda/bin/python``). The kubelet
rewrites the absolute paths in a container's command, args, env values and
working directory that fall under that root's top-level entries, or under the
container's volume mounts and termination-message path, to their local
materialisation, the same way it rewrites ``0.0.0.0`` to the pod IP. Paths
outside all of these (``/bin/sh``) are the host's.

A value is rewritten as a whole, or as ``:``-separated pieces (``PATH``-like);
a value containing whitespace (an inline script) is left alone, so a script
must take its paths from arguments or the environment.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

#: Builds an image's root into an empty directory.
RootBuilder = Callable[[Path], None]
#: Picks the builder for an image reference, or None if it is not simulated.
ImageRule = Callable[[str], RootBuilder | None]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class SimulatedImages:
    """Image reference → local root: fixed ``roots`` first, then ``rules`` that build one."""

    def __init__(
        self, roots: Mapping[str, Path] | None = None, rules: tuple[ImageRule, ...] = ()
    ) -> None:
        self.roots = {ref: Path(path) for ref, path in (roots or {}).items()}
        self.rules = rules

    def root(self, image: str, cache: Path) -> Path | None:
        """The root of ``image``, built under ``cache`` on first use; None if not simulated."""
        if image in self.roots:
            return self.roots[image]
        builder = next((b for rule in self.rules if (b := rule(image)) is not None), None)
        if builder is None:
            return None
        path = cache / _UNSAFE.sub("_", image)
        if not path.exists():
            cache.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=cache, prefix=".building-"))
            builder(staging)
            staging.chmod(0o755)  # as an image's /: root's, open to every user
            staging.rename(path)
            log.info("SIMULATED: image %s is the local root %s", image, path)
        self.roots[image] = path
        return path


def path_table(
    mounts: Mapping[str, str], root: Path | None, files: Mapping[str, str]
) -> dict[str, str]:
    """Container path prefix → local path: the root's top-level entries, mounts and files."""
    entries = {f"/{entry.name}": str(entry) for entry in (root.iterdir() if root else ())}
    return {**entries, **mounts, **files}


def _rewrite_piece(piece: str, table: Mapping[str, str]) -> str:
    if not piece.startswith("/") or piece.startswith("//"):
        return piece
    for prefix in sorted(table, key=len, reverse=True):
        base = prefix.rstrip("/")
        if piece == base or piece.startswith(base + "/"):
            return table[prefix].rstrip("/") + piece[len(base) :]
    return piece


def rewrite_paths(value: str, table: Mapping[str, str]) -> str:
    """``value`` with its container paths made local (see the module docstring)."""
    if not table or any(c.isspace() for c in value):
        return value
    return ":".join(_rewrite_piece(piece, table) for piece in value.split(":"))
