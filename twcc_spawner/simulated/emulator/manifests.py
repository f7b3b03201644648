"""Applying YAML manifests straight into the store (validated like API requests).

For tests and the demo: e.g. the project's RBAC objects, so that a ServiceAccount
token is held to exactly what the shipped manifests grant.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .errors import ApiError
from .kinds import KINDS, Kind
from .resources import prepare_new
from .store import Obj, Store
from .validation import validate

_BY_TYPE = {(k.api_version, k.kind): k for k in KINDS}


def documents(sources: Iterable[str | Path]) -> list[Obj]:
    """The objects of YAML files (or YAML text), skipping empty documents."""
    found: list[Obj] = []
    for source in sources:
        text = Path(source).read_text() if isinstance(source, Path) else source
        found += [doc for doc in yaml.safe_load_all(text) if doc]
    return found


def _kind_of(obj: Obj) -> Kind:
    kind = _BY_TYPE.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if kind is None:
        raise ApiError(404, f"no kind {obj.get('kind')!r} in {obj.get('apiVersion')!r} is served")
    return kind


def apply_objects(store: Store, objects: Iterable[Obj], namespace: str | None = None) -> list[Obj]:
    """Create or replace each object; ``namespace`` overrides the namespaces they name.

    ServiceAccount subjects of bindings that named the overridden namespace follow it.
    """
    applied = []
    for original in objects:
        obj: dict[str, Any] = copy.deepcopy(original)
        kind = _kind_of(obj)
        meta = obj.setdefault("metadata", {})
        ns = (namespace or meta.get("namespace") or "default") if kind.namespaced else ""
        if namespace:
            for subject in obj.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = namespace
        validate(kind, obj)
        current = store.find(kind.key, ns, meta["name"])
        if current is None:
            applied.append(store.create(kind.key, prepare_new(kind, obj, ns)))
        else:
            meta["namespace"] = ns
            if not kind.namespaced:
                meta.pop("namespace")
            meta.pop("resourceVersion", None)
            applied.append(store.update(kind.key, {**current, **obj}))
    return applied
