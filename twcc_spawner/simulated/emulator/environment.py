"""Container environment: env vars with ``valueFrom`` and ``$(VAR)`` expansion."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

from .store import Obj, Store

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_MAP_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` references like the kubelet (``$$`` escapes, unknown stay)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def _field_ref(pod: Obj, path: str, pod_ip: str) -> str:
    meta, spec = pod["metadata"], pod["spec"]
    if match := _MAP_FIELD.match(path):
        return meta.get(match.group(1), {}).get(match.group(2), "")
    return {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.hostIP": "127.0.0.1",
    }.get(path, "")


def _key_ref(store: Store, namespace: str, plural: str, ref: Mapping[str, str]) -> str:
    obj = store.find(plural, namespace, ref.get("name", "")) or {}
    value = obj.get("data", {}).get(ref["key"], "")
    return base64.b64decode(value).decode() if plural == "secrets" else value


def container_env(pod: Obj, container: Obj, store: Store, pod_ip: str) -> dict[str, str]:
    """The container's own environment variables, resolved as the kubelet would."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for var in container.get("env", []):
        source = var.get("valueFrom") or {}
        if "fieldRef" in source:
            value = _field_ref(pod, source["fieldRef"]["fieldPath"], pod_ip)
        elif "secretKeyRef" in source:
            value = _key_ref(store, namespace, "secrets", source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            value = _key_ref(store, namespace, "configmaps", source["configMapKeyRef"])
        else:
            value = expand(var.get("value", ""), env)
        env[var["name"]] = value
    return env


def _link_variables(name: str, ip: str, ports: list[Obj]) -> dict[str, str]:
    """The Docker-link style variables the kubelet makes for one service."""
    prefix = name.upper().replace("-", "_")
    env = {f"{prefix}_SERVICE_HOST": ip}
    for index, port in enumerate(ports):
        number, protocol = str(port["port"]), port.get("protocol", "TCP")
        url = f"{protocol.lower()}://{ip}:{number}"
        if index == 0:
            env[f"{prefix}_SERVICE_PORT"] = number
            env[f"{prefix}_PORT"] = url
        if port.get("name"):
            env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = number
        base = f"{prefix}_PORT_{number}_{protocol.upper()}"
        env.update(
            {
                base: url,
                f"{base}_PROTO": protocol.lower(),
                f"{base}_PORT": number,
                f"{base}_ADDR": ip,
            }
        )
    return env


def service_env(store: Store, pod: Obj, api: tuple[str, int]) -> dict[str, str]:
    """The service environment variables of ``pod``, as the kubelet sets them.

    With ``enableServiceLinks`` (the default) every service of the pod's namespace that
    has a cluster IP; always the ``kubernetes`` service, which here is the emulator's
    API server at ``api`` (host, port; it speaks plain HTTP, not HTTPS).
    """
    env: dict[str, str] = {}
    if pod["spec"].get("enableServiceLinks", True):
        for service in store.items("services", pod["metadata"]["namespace"]):
            ip = service.get("spec", {}).get("clusterIP")
            if ip and ip != "None":
                ports = service["spec"].get("ports") or []
                env.update(_link_variables(service["metadata"]["name"], ip, ports))
    host, port = api
    env.update(_link_variables("kubernetes", host, [{"name": "https", "port": port}]))
    return env
