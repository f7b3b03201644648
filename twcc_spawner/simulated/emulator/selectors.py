"""Label and field selectors as accepted by list and watch requests."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ApiError

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_EXPR = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_EXPR = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*(\S*)\s*$")

#: Fields usable in a ``fieldSelector``, by resource plural (all support name/namespace).
FIELDS: dict[str, frozenset[str]] = {
    "pods": frozenset({"spec.nodeName", "status.phase", "spec.schedulerName", "status.podIP"}),
    "events": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
        }
    ),
    "nodes": frozenset({"spec.unschedulable"}),
    "secrets": frozenset({"type"}),
    "namespaces": frozenset({"status.phase"}),
}
_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` parentheses."""
    terms, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    if match := _EQ_EXPR.match(term):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _SET_EXPR.match(term):
        negate, key, op, values = match.groups()
        if op:
            choices = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                return lambda labels: labels.get(key) in choices
            return lambda labels: labels.get(key) not in choices
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise ApiError(400, f"unable to parse requirement: {term!r}")


def label_selector(selector: str | None) -> Predicate:
    """Compile a label selector string into a predicate on objects."""
    terms = [_label_term(term) for term in _split_terms(selector or "")]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field path (missing fields are ``""``)."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def field_selector(plural: str, selector: str | None) -> Predicate:
    """Compile a field selector string for ``plural`` into a predicate on objects."""
    allowed = _COMMON_FIELDS | FIELDS.get(plural, frozenset())
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector or ""):
        match = _EQ_EXPR.match(term)
        if not match:
            raise ApiError(400, f"invalid field selector: {term!r}")
        path, op, value = match.groups()
        if path not in allowed:
            raise ApiError(400, f'field label not supported: "{path}"')
        terms.append((path, op != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, path) == value) is eq for path, eq, value in terms)

    return matches
