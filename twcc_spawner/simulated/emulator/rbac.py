"""RBAC authorization over the stored Roles, ClusterRoles and their bindings.

``system:masters`` members are always allowed (as kube-apiserver does before RBAC);
everyone else needs a rule bound to their user, a group of theirs or their
ServiceAccount. ClusterRole aggregation is not evaluated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .store import Obj, Store

if TYPE_CHECKING:
    from .auth import User

RBAC = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = f"roles.{RBAC}", f"clusterroles.{RBAC}"
BINDINGS, CLUSTER_BINDINGS = f"rolebindings.{RBAC}", f"clusterrolebindings.{RBAC}"


@dataclass(frozen=True)
class Attributes:
    """What a request does, as RBAC sees it."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def _matches(values: list[str] | None, value: str) -> bool:
    return bool(values) and ("*" in values or value in values)  # type: ignore[operator]


def _resource_matches(resources: list[str] | None, resource: str, sub: str) -> bool:
    wanted = f"{resource}/{sub}" if sub else resource
    for pattern in resources or []:
        if pattern in ("*", wanted) or (sub and pattern in (f"*/{sub}", f"{resource}/*")):
            return True
    return False


def rule_allows(rule: dict[str, Any], attributes: Attributes) -> bool:
    """Whether one PolicyRule grants ``attributes``."""
    names = rule.get("resourceNames") or []
    return (
        _matches(rule.get("verbs"), attributes.verb)
        and _matches(rule.get("apiGroups"), attributes.group)
        and _resource_matches(rule.get("resources"), attributes.resource, attributes.subresource)
        and (not names or attributes.name in names)
    )


def _subject_is(subject: dict[str, Any], user: User, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.service_account == (namespace, name)
    return False


def _role_rules(store: Store, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    if ref.get("kind") == "ClusterRole":
        role = store.find(CLUSTER_ROLES, "", ref.get("name", ""))
    else:
        role = store.find(ROLES, namespace, ref.get("name", ""))
    return (role or {}).get("rules") or []


def rules_for(store: Store, user: User, namespace: str) -> Iterator[dict[str, Any]]:
    """Every rule that applies to ``user`` in ``namespace`` (``""``: cluster-wide only)."""
    bindings: list[tuple[Obj, str]] = [(b, "") for b in store.items(CLUSTER_BINDINGS)]
    if namespace:
        bindings += [(b, namespace) for b in store.items(BINDINGS, namespace)]
    for binding, scope in bindings:
        if any(_subject_is(s, user, scope) for s in binding.get("subjects") or []):
            yield from _role_rules(store, binding.get("roleRef") or {}, scope)


def authorize(store: Store, user: User, attributes: Attributes) -> bool:
    """Whether ``user`` may do ``attributes``."""
    if user.is_admin:
        return True
    return any(rule_allows(r, attributes) for r in rules_for(store, user, attributes.namespace))


def bootstrap_policy() -> list[tuple[str, Obj]]:
    """The default roles every cluster has that the emulator needs: ``(store key, object)``."""

    def cluster_role(name: str, rules: list[dict[str, Any]]) -> tuple[str, Obj]:
        return CLUSTER_ROLES, {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": rules,
        }

    def binding(name: str, group: str) -> tuple[str, Obj]:
        return CLUSTER_BINDINGS, {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": group}],
        }

    everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    basic = [
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            "verbs": ["create"],
        },
        {
            "apiGroups": ["authentication.k8s.io"],
            "resources": ["selfsubjectreviews"],
            "verbs": ["create"],
        },
    ]
    return [
        cluster_role("cluster-admin", everything),
        binding("cluster-admin", "system:masters"),
        cluster_role("system:basic-user", basic),
        binding("system:basic-user", "system:authenticated"),
    ]
