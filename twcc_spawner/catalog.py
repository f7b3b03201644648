"""The versioned image catalog: ``profiles/releases.yaml`` and ``profiles/sizes.yaml``.

Both files are checked against the JSON Schemas in ``twcc_spawner/schemas`` and
against the rules a schema cannot express (duplicates, defaults, labels). Every
problem in every file is collected and reported at once, each naming its file,
entry and field, so an operator fixes a broken edit in one go.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .quantity import parse_quantity

RELEASES_FILE = "releases.yaml"
SIZES_FILE = "sizes.yaml"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a profile file."""

    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.entry, self.field) if part)
        return f"{where}: {self.message}"


class CatalogError(ValueError):
    """The profile files are broken; ``problems`` lists everything wrong."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the profiles:\n{lines}")


@dataclass(frozen=True)
class Driver:
    """Driver needs of a release: a minimum, or one of the data-center branches."""

    minimum: str
    datacenter: tuple[str, ...] = ()


@dataclass(frozen=True)
class Release:
    """One NGC PyTorch container release."""

    release: str
    tag: str
    pytorch: str
    cuda: str
    python: str
    driver: Driver
    architectures: tuple[str, ...]
    source: str
    cudnn: str | None = None
    nccl: str | None = None
    ubuntu: str | None = None
    image: str | None = None
    default: bool = False
    deprecated: str | None = None
    hidden: bool = False
    groups: frozenset[str] | None = None
    prepull: bool = False
    image_size: int | None = None
    """Compressed image size in bytes (what a first start downloads), if known."""
    image_size_estimated: bool = False
    notes: Mapping[str, str] | None = None
    unverified: frozenset[str] = frozenset()
    """Fields not checked against NVIDIA's text, the ``conflicting`` ones included."""
    conflicting: frozenset[str] = frozenset()
    """Fields whose sources disagree (``notes`` names them)."""

    @property
    def title(self) -> str:
        """``PyTorch 21.11``: the release as researchers name it."""
        return f"PyTorch {self.release}"

    def image_ref(self, registry: str) -> str:
        """The container reference, from ``image`` or ``registry:tag``."""
        return self.image or f"{registry}:{self.tag}"

    def available_to(self, groups: frozenset[str]) -> bool:
        """Whether a user in ``groups`` may see and start this release."""
        return not self.hidden and (self.groups is None or bool(self.groups & groups))


@dataclass(frozen=True)
class Size:
    """A GPU size: GPUs, CPU cores, memory and /dev/shm for one container."""

    name: str
    gpus: int
    cpu: float
    memory: str
    shm: str
    label: str
    default: bool = False
    hidden: bool = False
    groups: frozenset[str] | None = None

    def available_to(self, groups: frozenset[str]) -> bool:
        """Whether a user in ``groups`` may see and start this size."""
        return not self.hidden and (self.groups is None or bool(self.groups & groups))


@dataclass(frozen=True)
class Catalog:
    """Releases (newest first) and sizes, validated."""

    releases: tuple[Release, ...]
    sizes: tuple[Size, ...]

    def release(self, release: str) -> Release | None:
        """The release with this ``YY.MM`` id, hidden ones included."""
        return next((r for r in self.releases if r.release == release), None)

    def size(self, name: str) -> Size | None:
        """The size with this name, hidden ones included."""
        return next((s for s in self.sizes if s.name == name), None)

    def releases_for(self, groups: frozenset[str]) -> tuple[Release, ...]:
        """Releases a user in ``groups`` may see, newest first."""
        return tuple(r for r in self.releases if r.available_to(groups))

    def sizes_for(self, groups: frozenset[str]) -> tuple[Size, ...]:
        """Sizes a user in ``groups`` may see, in file order."""
        return tuple(s for s in self.sizes if s.available_to(groups))

    def default_release(self, groups: frozenset[str]) -> Release | None:
        """The release preselected for a user: the default if they may start it, else the newest."""
        offered = self.releases_for(groups)
        return next((r for r in offered if r.default), offered[0] if offered else None)

    def default_size(self, groups: frozenset[str]) -> Size | None:
        """The size preselected for a user: the default if they may start it, else the first."""
        offered = self.sizes_for(groups)
        return next((s for s in offered if s.default), offered[0] if offered else None)


def gpu_label(gpus: int) -> str:
    """``1 GPU`` / ``2 GPUs``."""
    return f"{gpus} GPU" if gpus == 1 else f"{gpus} GPUs"


# --- loading ---------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema for ``releases`` or ``sizes``, as a dict."""
    text = resources.files(__package__).joinpath(f"schemas/{name}.schema.yaml").read_text()
    return yaml.safe_load(text)


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema(name))


def _read(path: Path, problems: list[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        problems.append(Problem(path.name, "", "", f"cannot be read: {e.strerror or e}"))
        return None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        what = getattr(e, "problem", None) or str(e)
        problems.append(Problem(path.name, where, "", f"is not valid YAML: {what}"))
        return None


def _entry_name(document: Any, path: list[Any], id_key: str) -> tuple[str, list[Any]]:
    """Split a JSON path into ``releases[3] (21.06)`` and the field path inside it."""
    if len(path) >= 2 and isinstance(path[1], int):
        key, index = path[0], path[1]
        try:
            ident = document[key][index].get(id_key)
        except (AttributeError, LookupError, TypeError):
            ident = None
        label = f"{key}[{index}]" + (f" ({ident})" if isinstance(ident, str | int) else "")
        return label, path[2:]
    return "", path


def _describe(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """The field path and a readable message for one schema error."""
    path = list(error.absolute_path)
    value = error.instance
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in value if k not in allowed)
        return path + extra[:1], (
            f"unknown key(s) {', '.join(map(repr, extra))}; allowed: {', '.join(sorted(allowed))}"
        )
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        return [*path, missing], "is required"
    if error.validator == "pattern":
        examples = error.schema.get("examples")
        hint = f"; expected a form like {', '.join(map(str, examples))}" if examples else ""
        return path, f"{value!r} is not valid{hint}"
    if error.validator == "enum":
        return path, f"{value!r} is not one of {', '.join(map(str, error.validator_value))}"
    return path, error.message


def _schema_problems(file: str, name: str, document: Any, id_key: str) -> list[Problem]:
    problems = []
    for error in sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path)):
        path, message = _describe(error)
        entry, field = _entry_name(document, path, id_key)
        problems.append(Problem(file, entry, ".".join(map(str, field)), message))
    return problems


def _duplicates(file: str, kind: str, key: str, items: list[dict[str, Any]]) -> Iterator[Problem]:
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        value = item[key]
        if value in seen:
            yield Problem(
                file, f"{kind}[{index}] ({value})", key, f"duplicates {kind}[{seen[value]}]"
            )
        else:
            seen[value] = index


def _default_problems(
    file: str, kind: str, key: str, items: list[dict[str, Any]]
) -> Iterator[Problem]:
    defaults = [i for i, item in enumerate(items) if item.get("default")]
    for index in defaults[1:]:
        yield Problem(
            file,
            f"{kind}[{index}] ({items[index][key]})",
            "default",
            f"only one entry may be the default; {kind}[{defaults[0]}] already is",
        )
    for index in defaults:
        if items[index].get("hidden"):
            yield Problem(
                file,
                f"{kind}[{index}] ({items[index][key]})",
                "default",
                "the default is hidden, so it does not exist for users",
            )
    if not any(not item.get("hidden") for item in items):
        yield Problem(file, "", kind, "every entry is hidden; nothing could be started")


def _release_rules(file: str, releases: list[dict[str, Any]]) -> Iterator[Problem]:
    yield from _duplicates(file, "releases", "release", releases)
    yield from _default_problems(file, "releases", "release", releases)
    for index, item in enumerate(releases):
        if not item["tag"].startswith(item["release"] + "-"):
            yield Problem(
                file,
                f"releases[{index}] ({item['release']})",
                "tag",
                f"{item['tag']!r} does not belong to release {item['release']}",
            )


def _size_rules(file: str, sizes: list[dict[str, Any]]) -> Iterator[Problem]:
    yield from _duplicates(file, "sizes", "name", sizes)
    yield from _default_problems(file, "sizes", "name", sizes)
    labels: dict[str, str] = {}
    for index, item in enumerate(sizes):
        entry = f"sizes[{index}] ({item['name']})"
        if parse_quantity(item["shm"]) > parse_quantity(item["memory"]):
            yield Problem(file, entry, "shm", "/dev/shm cannot be larger than the memory limit")
        label = item.get("label") or gpu_label(item["gpus"])
        if not item.get("hidden"):
            if label in labels:
                yield Problem(
                    file, entry, "label", f"{label!r} is also the label of {labels[label]}"
                )
            labels.setdefault(label, entry)


def _groups(item: Mapping[str, Any]) -> frozenset[str] | None:
    return frozenset(item["groups"]) if "groups" in item else None


def _build_release(item: dict[str, Any]) -> Release:
    deprecated, size = item.get("deprecated"), item.get("image_size")
    return Release(
        release=item["release"],
        tag=item["tag"],
        image=item.get("image"),
        pytorch=item["pytorch"],
        cuda=item["cuda"],
        cudnn=item.get("cudnn"),
        nccl=item.get("nccl"),
        python=item["python"],
        ubuntu=item.get("ubuntu"),
        driver=Driver(item["driver"]["minimum"], tuple(item["driver"].get("datacenter", ()))),
        architectures=tuple(item["architectures"]),
        source=item["source"],
        default=item.get("default", False),
        deprecated="deprecated" if deprecated is True else (deprecated or None),
        hidden=item.get("hidden", False),
        groups=_groups(item),
        prepull=item.get("prepull", False),
        image_size=int(parse_quantity(size["compressed"])) if size else None,
        image_size_estimated=bool(size and "estimated" in size),
        notes=dict(item.get("notes", {})),
        unverified=frozenset(item.get("unverified", ())) | frozenset(item.get("conflicting", ())),
        conflicting=frozenset(item.get("conflicting", ())),
    )


def _build_size(item: dict[str, Any]) -> Size:
    return Size(
        name=item["name"],
        gpus=item["gpus"],
        cpu=float(item["cpu"]),
        memory=item["memory"],
        shm=item["shm"],
        label=item.get("label") or gpu_label(item["gpus"]),
        default=item.get("default", False),
        hidden=item.get("hidden", False),
        groups=_groups(item),
    )


def load_catalog(directory: Path | str) -> Catalog:
    """Load and validate ``releases.yaml`` and ``sizes.yaml`` from ``directory``.

    Raises :class:`CatalogError` listing every problem found in both files.
    """
    directory = Path(directory)
    problems: list[Problem] = []
    documents = {}
    for file, name, key in ((RELEASES_FILE, "releases", "release"), (SIZES_FILE, "sizes", "name")):
        document = _read(directory / file, problems)
        if document is None and not any(p.file == file for p in problems):
            problems.append(Problem(file, "", "", "is empty"))
        elif document is not None:
            found = _schema_problems(file, name, document, key)
            problems.extend(found)
            if not found:
                documents[name] = document[name]
    if "releases" in documents:
        problems.extend(_release_rules(RELEASES_FILE, documents["releases"]))
    if "sizes" in documents:
        problems.extend(_size_rules(SIZES_FILE, documents["sizes"]))
    if problems:
        raise CatalogError(problems)
    return Catalog(
        releases=tuple(_build_release(item) for item in documents["releases"]),
        sizes=tuple(_build_size(item) for item in documents["sizes"]),
    )


__all__ = [
    "Catalog",
    "CatalogError",
    "Driver",
    "Problem",
    "Release",
    "Size",
    "gpu_label",
    "load_catalog",
    "schema",
]
