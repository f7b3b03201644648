"""Validation beyond the schema, worded as kube-apiserver words it (field causes of a 422).

Names, label keys and values, quantities, extended resources (integers, request equal
to limit), required pod fields and enums. Each check returns ``{reason, message,
field}`` causes; :func:`check` gathers them for one object.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ...quantity import parse_quantity
from .kinds import Kind

Cause = dict[str, str]

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + "(\\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_KEY = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_VALUE = "(" + _KEY + ")?"


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    shown = "".join(f"{' or ' if i else ''}'{e}', " for i, e in enumerate(examples))
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


_LABEL_MSG = _regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character",
    _LABEL,
    "my-name",
    "123-abc",
)
_SUBDOMAIN_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character",
    _SUBDOMAIN,
    "example.com",
)
_DNS1035_MSG = _regex_error(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character",
    _DNS1035,
    "my-name",
    "abc-123",
)
_KEY_MSG = _regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character",
    _KEY,
    "MyName",
    "my.name",
    "123-abc",
)
_VALUE_MSG = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character",
    _VALUE,
    "MyValue",
    "my_value",
    "12345",
)
_NAME_RULES = {  # kind -> (pattern, message, max length); the rest are DNS-1123 subdomains
    "Namespace": (_LABEL, _LABEL_MSG, 63),
    "Service": (_DNS1035, _DNS1035_MSG, 63),
}
_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_NATIVE = {"cpu", "memory", "ephemeral-storage", "storage", "pods"}


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def required(field: str, detail: str = "") -> Cause:
    """A ``Required value`` cause."""
    message = "Required value" + (f": {detail}" if detail else "")
    return {"reason": "FieldValueRequired", "message": message, "field": field}


def invalid(field: str, value: Any, detail: str) -> Cause:
    """An ``Invalid value`` cause."""
    message = f"Invalid value: {_quote(value)}: {detail}"
    return {"reason": "FieldValueInvalid", "message": message, "field": field}


def unsupported(field: str, value: Any, supported: tuple[str, ...]) -> Cause:
    """An ``Unsupported value`` cause."""
    choices = ", ".join(f'"{s}"' for s in supported)
    message = f"Unsupported value: {_quote(value)}: supported values: {choices}"
    return {"reason": "FieldValueNotSupported", "message": message, "field": field}


def forbidden(field: str, detail: str) -> Cause:
    """A ``Forbidden`` cause."""
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def _name(kind: str, meta: dict[str, Any]) -> list[Cause]:
    name = meta.get("name") or ""
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    pattern, message, limit = _NAME_RULES.get(kind, (_SUBDOMAIN, _SUBDOMAIN_MSG, 253))
    causes = []
    if len(name) > limit:
        causes.append(invalid("metadata.name", name, f"must be no more than {limit} characters"))
    if not _matches(pattern, name):
        causes.append(invalid("metadata.name", name, message))
    return causes


def _label_key(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/") if "/" in key else ("", "", key)
    errors = []
    if "/" in key:
        if not prefix:
            errors.append("prefix part must be non-empty")
        elif len(prefix) > 253 or not _matches(_SUBDOMAIN, prefix):
            errors.append("prefix part " + _SUBDOMAIN_MSG)
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _matches(_KEY, name):
        errors.append("name part " + _KEY_MSG)
    return errors


def _labels(labels: dict[str, Any], field: str) -> list[Cause]:
    causes = []
    for key, value in (labels or {}).items():
        causes += [invalid(field, key, error) for error in _label_key(key)]
        text = value if isinstance(value, str) else str(value)
        if len(text) > 63:
            causes.append(invalid(f"{field}", text, "must be no more than 63 characters"))
        if not _matches(_VALUE, text):
            causes.append(invalid(field, text, _VALUE_MSG))
    return causes


def _is_extended(resource: str) -> bool:
    return (
        resource not in _NATIVE
        and not resource.startswith("hugepages-")
        and "/" in resource
        and not resource.startswith("kubernetes.io/")
    )


def _quantities(values: dict[str, Any], field: str) -> tuple[dict[str, Decimal], list[Cause]]:
    parsed, causes = {}, []
    for resource, raw in (values or {}).items():
        where = f"{field}[{resource}]"
        try:
            quantity = parse_quantity(raw)
        except (ValueError, TypeError, AttributeError):
            continue  # the schema check reports a value of the wrong type
        parsed[resource] = quantity
        if quantity < 0:
            causes.append(invalid(where, str(raw), "must be greater than or equal to 0"))
        if _is_extended(resource) and quantity != quantity.to_integral_value():
            causes.append(invalid(where, str(raw), "must be an integer"))
    return parsed, causes


def _resources(resources: dict[str, Any], field: str) -> list[Cause]:
    limits, causes = _quantities(resources.get("limits") or {}, f"{field}.limits")
    requests, more = _quantities(resources.get("requests") or {}, f"{field}.requests")
    causes += more
    for resource, request in requests.items():
        where = f"{field}.requests[{resource}]"
        shown = str((resources.get("requests") or {})[resource])
        if resource in limits:
            limit = str((resources.get("limits") or {})[resource])
            if _is_extended(resource) and request != limits[resource]:
                detail = f"must be equal to {resource} limit of {limit}"
                causes.append(invalid(where, shown, detail))
            elif request > limits[resource]:
                detail = f"must be less than or equal to {resource} limit of {limit}"
                causes.append(invalid(where, shown, detail))
        elif _is_extended(resource):
            causes.append(
                required(f"{field}.limits", "Limit must be set for non overcommitable resources")
            )
    return causes


def _containers(containers: list[Any], field: str) -> list[Cause]:
    causes, seen = [], set()
    for index, container in enumerate(containers or []):
        where = f"{field}[{index}]"
        if not isinstance(container, dict):
            continue
        name = container.get("name") or ""
        if not name:
            causes.append(required(f"{where}.name"))
        elif not _matches(_LABEL, name) or len(name) > 63:
            causes.append(invalid(f"{where}.name", name, _LABEL_MSG))
        elif name in seen:
            causes.append(
                {
                    "reason": "FieldValueDuplicate",
                    "message": f'Duplicate value: "{name}"',
                    "field": f"{where}.name",
                }
            )
        seen.add(name)
        if not container.get("image"):
            causes.append(required(f"{where}.image"))
        policy = container.get("imagePullPolicy")
        if policy is not None and policy not in _PULL_POLICIES:
            causes.append(unsupported(f"{where}.imagePullPolicy", policy, _PULL_POLICIES))
        causes += _resources(container.get("resources") or {}, f"{where}.resources")
    return causes


def _pod_spec(spec: dict[str, Any], field: str) -> list[Cause]:
    causes = []
    if not spec.get("containers"):
        causes.append(required(f"{field}.containers"))
    causes += _containers(spec.get("containers") or [], f"{field}.containers")
    causes += _containers(spec.get("initContainers") or [], f"{field}.initContainers")
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in _RESTART_POLICIES:
        causes.append(unsupported(f"{field}.restartPolicy", policy, _RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in _DNS_POLICIES:
        causes.append(unsupported(f"{field}.dnsPolicy", dns, _DNS_POLICIES))
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        causes.append(
            invalid(
                f"{field}.terminationGracePeriodSeconds",
                grace,
                "must be greater than or equal to 0",
            )
        )
    return causes


def _template_spec(obj: dict[str, Any]) -> list[Cause]:
    template = (obj.get("spec") or {}).get("template") or {}
    causes = _labels(
        (template.get("metadata") or {}).get("labels") or {}, "spec.template.metadata.labels"
    )
    return causes + _pod_spec(template.get("spec") or {}, "spec.template.spec")


def check(kind: Kind, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """Every semantic violation of ``obj`` (``old``: the stored object, on an update)."""
    meta = obj.get("metadata") or {}
    causes = _name(kind.kind, meta) + _labels(meta.get("labels") or {}, "metadata.labels")
    if kind.kind == "Pod":
        causes += _pod_spec(obj.get("spec") or {}, "spec")
    elif kind.kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"):
        causes += _template_spec(obj)
    return causes
