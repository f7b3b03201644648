"""``twcc-profiles add-release``: a new NGC release entry, inserted as text into releases.yaml.

The file is edited as text, not loaded and dumped again, so every comment and
the layout stay as the operators wrote them. The new entry is ``hidden`` and
copies the facts of the nearest release with every one of them listed under
``unverified``: the file stays valid (the live hub keeps serving it) and nobody
is offered a release until an operator has checked its facts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

RELEASE_ID = re.compile(r"^[0-9]{2}\.(0[1-9]|1[0-2])$")
RELEASE_NOTES = "https://docs.nvidia.com/deeplearning/frameworks/pytorch-release-notes/rel_{}.html"
FACTS = ("pytorch", "cuda", "cudnn", "nccl", "python", "ubuntu", "driver", "architectures")
_ENTRY = re.compile(r'^  - release: *["\']?([0-9]{2}\.[0-9]{2})["\']? *$')


class ScaffoldError(ValueError):
    """The release cannot be added; the message says why."""


def _scalar(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str | list) else str(value).lower()


def release_entry(release: str, template: Mapping[str, Any]) -> str:
    """The YAML text of a hidden entry for ``release``, with ``template``'s facts to check."""
    lines = [
        f'  - release: "{release}"',
        f"    tag: {release}-py3",
        "    # Added by `twcc-profiles add-release`. The facts below are copied from",
        f"    # {template['release']}: check each against the release notes in `source`, remove",
        "    # it from `unverified` once checked, then remove `hidden` to offer the release.",
        "    hidden: true",
    ]
    for field in FACTS:
        if field not in template:
            continue
        value = template[field]
        if isinstance(value, Mapping):
            lines.append(f"    {field}:")
            lines += [f"      {key}: {_scalar(item)}" for key, item in value.items()]
        else:
            lines.append(f"    {field}: {_scalar(value)}")
    lines.append(f"    source: {RELEASE_NOTES.format(release.replace('.', '-'))}")
    unverified = [field for field in FACTS if field in template]
    lines.append(f"    unverified: [{', '.join(unverified)}]")
    return "\n".join(lines) + "\n"


def add_release(text: str, release: str) -> str:
    """``releases.yaml``'s text with a new entry for ``release``, in newest-first order."""
    if not RELEASE_ID.match(release):
        raise ScaffoldError(f"{release!r} is not an NGC release; expected YY.MM, e.g. 22.03")
    releases = (yaml.safe_load(text) or {}).get("releases") or []
    if not releases:
        raise ScaffoldError("releases.yaml has no release to copy the fields from")
    if any(str(item.get("release")) == release for item in releases):
        raise ScaffoldError(f"release {release} is already in releases.yaml")
    lines = text.splitlines(keepends=True)
    at = len(lines)
    for index, line in enumerate(lines):
        match = _ENTRY.match(line.rstrip("\n"))
        if match and match.group(1) < release:
            at = index
            while at > 0 and lines[at - 1].lstrip().startswith("#"):
                at -= 1
            break
    nearest = min(releases, key=lambda item: abs(_months(item["release"]) - _months(release)))
    entry = release_entry(release, nearest)
    if at == len(lines):
        head = "".join(lines)
        return head + ("" if head.endswith("\n") else "\n") + "\n" + entry
    return "".join(lines[:at]) + entry + "\n" + "".join(lines[at:])


def _months(release: str) -> int:
    year, month = str(release).split(".")
    return int(year) * 12 + int(month)
