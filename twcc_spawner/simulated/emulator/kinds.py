"""The registry of kinds the emulator serves: group, version, plural, scope and discovery names.

Objects of every kind are stored under :attr:`Kind.key` (the plural for core/v1, e.g.
``pods``; ``plural.group`` otherwise, e.g. ``roles.rbac.authorization.k8s.io``), so the
scheduler and kubelet keep addressing ``pods`` and ``nodes`` by their plural.
"""

from __future__ import annotations

from dataclasses import dataclass

CRUD = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class Kind:
    """A served resource type and how discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = CRUD
    subresources: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The store key of this kind's objects."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        """``v1`` or ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        """``(group, version)``."""
        return self.group, self.version


def _core(plural: str, kind: str, namespaced: bool = True, *names: str, **extra: object) -> Kind:
    return Kind("", "v1", plural, kind, namespaced, tuple(names), **extra)  # type: ignore[arg-type]


_ALL = ("all",)

KINDS: tuple[Kind, ...] = (
    _core(
        "pods",
        "Pod",
        True,
        "po",
        categories=_ALL,
        subresources=("status", "log", "binding", "eviction", "exec", "attach", "portforward"),
    ),
    _core("events", "Event", True, "ev"),
    _core("nodes", "Node", False, "no", subresources=("status",)),
    _core("namespaces", "Namespace", False, "ns", subresources=("status",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", True, "pvc", subresources=("status",)),
    _core("persistentvolumes", "PersistentVolume", False, "pv", subresources=("status",)),
    _core("services", "Service", True, "svc", categories=_ALL, subresources=("status",)),
    _core("endpoints", "Endpoints", True, "ep"),
    _core("secrets", "Secret", True),
    _core("configmaps", "ConfigMap", True, "cm"),
    _core("serviceaccounts", "ServiceAccount", True, "sa", subresources=("token",)),
    _core("resourcequotas", "ResourceQuota", True, "quota", subresources=("status",)),
    _core("limitranges", "LimitRange", True, "limits"),
    Kind(
        "apps", "v1", "deployments", "Deployment", True, ("deploy",), _ALL, subresources=("status",)
    ),
    Kind("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), _ALL, subresources=("status",)),
    Kind(
        "apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), _ALL, subresources=("status",)
    ),
    Kind("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), _ALL, subresources=("status",)),
    Kind("batch", "v1", "jobs", "Job", True, (), _ALL, subresources=("status",)),
    Kind("batch", "v1", "cronjobs", "CronJob", True, ("cj",), _ALL, subresources=("status",)),
    Kind("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Kind("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    Kind(
        "networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), subresources=("status",)
    ),
    Kind("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    Kind(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        True,
        ("pdb",),
        subresources=("status",),
    ),
    Kind("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    Kind("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
    Kind("coordination.k8s.io", "v1", "leases", "Lease", True),
    Kind(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        verbs=CREATE_ONLY,
    ),
    Kind(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        False,
        verbs=CREATE_ONLY,
    ),
    Kind(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        False,
        verbs=CREATE_ONLY,
    ),
    Kind(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
        False,
        verbs=CREATE_ONLY,
    ),
    Kind("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, verbs=CREATE_ONLY),
)

#: Review kinds: answered on create, never stored.
REVIEWS = frozenset(k.kind for k in KINDS if k.verbs == CREATE_ONLY)

_BY_PATH: dict[tuple[str, str, str], Kind] = {(k.group, k.version, k.plural): k for k in KINDS}
_BY_KEY: dict[str, Kind] = {k.key: k for k in KINDS}


def lookup(group: str, version: str, plural: str) -> Kind | None:
    """The kind served at ``/apis/group/version/plural`` (group ``""`` for ``/api/v1``)."""
    return _BY_PATH.get((group, version, plural))


def by_key(key: str) -> Kind:
    """The kind stored under ``key`` (e.g. ``pods``)."""
    return _BY_KEY[key]


def group_versions() -> list[tuple[str, str]]:
    """Every served ``(group, version)`` but core, in registry order."""
    seen: dict[tuple[str, str], None] = {}
    for k in KINDS:
        if k.group:
            seen.setdefault(k.group_version)
    return list(seen)


def kinds_in(group: str, version: str) -> list[Kind]:
    """The kinds of one group version."""
    return [k for k in KINDS if k.group_version == (group, version)]
