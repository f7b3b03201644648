"""Pod security: user pods get no more privilege than a notebook needs.

TWCCSpawner's defaults drop every capability, forbid privilege escalation and
use the runtime's default seccomp profile; KubeSpawner already keeps the
service-account token out of user pods. Containers the operator adds
(KubeSpawner's ``init_containers`` and ``extra_containers``) get the same
defaults wherever they set none (:func:`restricted_container_context`).

:func:`settings_problems` finds, in the operator's settings, what explicitly
breaks the rules (a privileged container, added capabilities, host namespaces,
a hostPath volume), each named by its setting, so the hub refuses it once at
start-up. :func:`pod_security_problems` checks the finished pod as well, which
catches what only exists per spawn (a ``modify_pod_hook``, a profile override).
Containers the operator vouches for by name are left as they are by both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

CONTAINER_SECURITY_CONTEXT: Mapping[str, Any] = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY_CONTEXT: Mapping[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


_ATTRIBUTES: dict[tuple[type, str], str] = {}


def _get(obj: Any, key: str) -> Any:
    """Field ``key`` (as the API names it) of a manifest dict or a kubernetes model."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    kind = type(obj)
    attribute = _ATTRIBUTES.get((kind, key))
    if attribute is None:
        names = getattr(kind, "attribute_map", {})
        attribute = _ATTRIBUTES[kind, key] = next((a for a, k in names.items() if k == key), "")
    return getattr(obj, attribute, None) if attribute else None


def _as_manifest(obj: Any) -> Any:
    """A kubernetes model (or a dict holding some) as a manifest dict with the API's names."""
    if isinstance(obj, Mapping):
        return {key: _as_manifest(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_as_manifest(value) for value in obj]
    names = getattr(type(obj), "attribute_map", None)
    if names is None:
        return obj
    values = ((key, getattr(obj, attribute)) for attribute, key in names.items())
    return {key: _as_manifest(value) for key, value in values if value is not None}


def restricted_container_context(context: Any) -> dict[str, Any]:
    """A container's ``securityContext`` (dict, model or None) with the restricted
    defaults filled in wherever it sets none; what it does set is kept."""
    filled = dict(_as_manifest(context) or {})
    for key in ("allowPrivilegeEscalation", "privileged"):
        if filled.get(key) is None:
            filled[key] = CONTAINER_SECURITY_CONTEXT[key]
    capabilities = dict(filled.get("capabilities") or {})
    if capabilities.get("drop") is None:
        capabilities["drop"] = ["ALL"]
    filled["capabilities"] = capabilities
    return filled


def restrict_containers(pod: Any, names: Collection[str]) -> Any:
    """``pod`` (KubeSpawner's V1Pod) with the restricted defaults filled into the
    security context of its containers named ``names``."""
    spec = pod.spec
    for container in [*(spec.init_containers or []), *(spec.containers or [])]:
        if container.name in names:
            container.security_context = restricted_container_context(container.security_context)
    return pod


def _container_problems(container: Any) -> Iterator[str]:
    name = _get(container, "name")
    context = _get(container, "securityContext")
    if _get(context, "privileged"):
        yield f"container {name!r} is privileged"
    if _get(context, "allowPrivilegeEscalation") is not False:
        yield f"container {name!r} may escalate privileges"
    capabilities = _get(context, "capabilities")
    if "ALL" not in (_get(capabilities, "drop") or []):
        yield f"container {name!r} does not drop all capabilities"
    if added := _get(capabilities, "add"):
        yield f"container {name!r} adds capabilities {', '.join(added)}"


def _host_namespace_problems(spec: Any) -> list[str]:
    return [f"{key} is set" for key in HOST_NAMESPACES if _get(spec, key)]


def _volume_problems(volumes: Iterable[Any]) -> list[str]:
    return [
        f"volume {_get(volume, 'name')!r} is a hostPath"
        for volume in volumes
        if _get(volume, "hostPath") is not None
    ]


def _seccomp_problems(context: Any) -> list[str]:
    seccomp = _get(_get(context, "seccompProfile"), "type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        return ["no seccomp profile (RuntimeDefault) is set"]
    return []


TOKEN_MOUNTED = "the service-account token is mounted"


def pod_security_problems(pod: Any, trusted: Collection[str] = ()) -> list[str]:
    """What in a pod (a manifest dict, or the V1Pod KubeSpawner builds) breaks the
    user-pod security rules; containers named in ``trusted`` are not checked."""
    spec = _get(pod, "spec")
    problems = _host_namespace_problems(spec) + _volume_problems(_get(spec, "volumes") or [])
    if _get(spec, "automountServiceAccountToken") is not False:
        problems.append(TOKEN_MOUNTED)
    problems += _seccomp_problems(_get(spec, "securityContext"))
    for container in [*(_get(spec, "initContainers") or []), *(_get(spec, "containers") or [])]:
        if _get(container, "name") not in trusted:
            problems.extend(_container_problems(container))
    return problems


@dataclass(frozen=True)
class PodSettings:
    """The operator's settings that shape every user pod's security, as configured
    (KubeSpawner's traits; containers and volumes as dicts or kubernetes models)."""

    init_containers: tuple[Any, ...] = ()
    extra_containers: tuple[Any, ...] = ()
    container_security_context: Mapping[str, Any] = field(default_factory=dict)
    extra_container_config: Mapping[str, Any] = field(default_factory=dict)
    pod_security_context: Mapping[str, Any] = field(default_factory=dict)
    extra_pod_config: Mapping[str, Any] = field(default_factory=dict)
    volumes: tuple[Any, ...] = ()
    token_mounted: bool = False
    trusted: frozenset[str] = frozenset()


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _camel_keys(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """KubeSpawner's ``extra_*_config`` accept snake_case or camelCase keys."""
    return {_camel(key): value for key, value in mapping.items()}


def settings_problems(settings: PodSettings) -> list[str]:
    """What in the operator's settings explicitly breaks the user-pod rules, each
    prefixed by the setting to change. Operator containers are judged with the
    restricted defaults filled in, as they will run."""
    problems = []
    for setting in ("init_containers", "extra_containers"):
        for container in getattr(settings, setting):
            name = _get(container, "name")
            if name in settings.trusted:
                continue
            context = restricted_container_context(_get(container, "securityContext"))
            found = _container_problems({"name": name, "securityContext": context})
            problems += [f"{setting}: {problem}" for problem in found]
    extra_container = _camel_keys(settings.extra_container_config)
    setting, context = "container_security_context", settings.container_security_context
    if extra_container.get("securityContext") is not None:
        setting, context = "extra_container_config", extra_container["securityContext"]
    found = _container_problems({"name": "notebook", "securityContext": _as_manifest(context)})
    problems += [f"{setting}: {problem}" for problem in found]
    problems += [
        f"extra_pod_config: {p}"
        for p in _host_namespace_problems(_camel_keys(settings.extra_pod_config))
    ]
    volumes = [
        _camel_keys(v) if isinstance(v, Mapping) else _as_manifest(v) for v in settings.volumes
    ]
    problems += [f"volumes: {p}" for p in _volume_problems(volumes)]
    if settings.token_mounted:
        problems.append(f"automount_service_account_token / service_account: {TOKEN_MOUNTED}")
    pod_context = _camel_keys(settings.extra_pod_config).get("securityContext")
    setting = "pod_security_context" if pod_context is None else "extra_pod_config"
    context = settings.pod_security_context if pod_context is None else pod_context
    problems += [f"{setting}: {p}" for p in _seccomp_problems(_as_manifest(context))]
    return problems
