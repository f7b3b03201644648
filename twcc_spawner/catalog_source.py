"""Where the profile files are, and their live reload: edits take effect without a hub restart.

:func:`profiles_directory` turns the ``profiles_dir`` setting into a directory: the
catalog shipped in the package when unset, relative paths against the hub's
config file. :class:`CatalogSource` re-reads the files when their content changes: it
compares a digest of both files (a few KiB) on every look, so an edit of the same length
within one tick of a coarse file-system clock is seen too, as is a ConfigMap mount
swapping its symlink. A broken edit is logged once, naming every problem, and the last
good catalog keeps serving: no outage, no 500s.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from .catalog import RELEASES_FILE, SIZES_FILE, Catalog, CatalogError, load_catalog

Stamp = bytes

#: The catalog shipped in the package: the repository's ``profiles/``, copied into
#: the wheel at build time (in a source tree this is a symlink to it).
SHIPPED_PROFILES = Path(__file__).resolve().parent / "catalog_data"

log = logging.getLogger(__name__)


def profiles_directory(setting: str, base: Path) -> Path:
    """The directory a ``profiles_dir`` setting names: the shipped catalog if empty,
    a relative path taken from ``base`` (the hub's config file's directory)."""
    if not setting:
        return SHIPPED_PROFILES
    return (base / Path(setting).expanduser()).resolve()


class CatalogSource:
    """The current good catalog of one profiles directory."""

    def __init__(self, directory: Path | str, logger: logging.Logger | None = None) -> None:
        self.directory = Path(directory)
        self.log = logger or log
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._stamp: Stamp | None = None
        self._error: CatalogError | None = None

    def _read_stamp(self) -> Stamp:
        """A digest of both files' bytes (a missing file counts as its own content)."""
        digest = hashlib.blake2b(digest_size=16)
        for name in (RELEASES_FILE, SIZES_FILE):
            try:
                content = (self.directory / name).read_bytes()
            except OSError:
                digest.update(b"\0missing\0")
            else:
                digest.update(len(content).to_bytes(8, "big") + content)
        return digest.digest()

    @property
    def error(self) -> CatalogError | None:
        """Why the files on disk are not in use, if they are broken."""
        return self._error

    def get(self) -> Catalog:
        """The catalog as on disk, or the last good one if the files are now broken.

        Raises :class:`CatalogError` only if the files have never been good.
        """
        stamp = self._read_stamp()
        if stamp == self._stamp and self._catalog is not None:
            return self._catalog
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    catalog = load_catalog(self.directory)
                except CatalogError as e:
                    self._error = e
                    kept = "keeping the last good catalog" if self._catalog else "no catalog yet"
                    self.log.error("Profiles in %s rejected (%s). %s", self.directory, kept, e)
                else:
                    if self._catalog is not None:
                        self.log.info("Profiles in %s reloaded", self.directory)
                    self._catalog, self._error = catalog, None
        if self._catalog is None:
            assert self._error is not None
            raise self._error
        return self._catalog
