"""Review kinds answered on create and never stored: access and identity reviews."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .auth import User
from .errors import ApiError
from .kinds import Kind
from .rbac import Attributes, authorize, rules_for
from .subresources import body_dict

if TYPE_CHECKING:
    from .server import ApiServer


def _user_info(user: User) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return info


def _access(server: ApiServer, user: User, spec: dict[str, Any]) -> dict[str, Any]:
    attrs = spec.get("resourceAttributes")
    if attrs is None:
        # Non-resource URLs (``can-i get /healthz``) are open to authenticated users.
        return {"allowed": True}
    attributes = Attributes(
        verb=attrs.get("verb", ""),
        group=attrs.get("group", ""),
        resource=attrs.get("resource", ""),
        subresource=attrs.get("subresource", ""),
        namespace=attrs.get("namespace", ""),
        name=attrs.get("name", ""),
    )
    if authorize(server.store, user, attributes):
        return {"allowed": True, "reason": "allowed by RBAC"}
    return {"allowed": False}


def _rules(server: ApiServer, user: User, namespace: str) -> dict[str, Any]:
    if user.is_admin:
        rules = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    else:
        rules = [copy.deepcopy(r) for r in rules_for(server.store, user, namespace)]
    return {"resourceRules": rules, "nonResourceRules": [], "incomplete": False}


def review(server: ApiServer, user: User, kind: Kind, body: Any) -> dict[str, Any]:
    """The answered review: the request with its ``status`` filled in."""
    obj = body_dict(body, kind.kind)
    obj.setdefault("apiVersion", kind.api_version)
    obj.setdefault("kind", kind.kind)
    obj.setdefault("metadata", {})
    spec = obj.setdefault("spec", {})
    if kind.kind == "SelfSubjectAccessReview":
        obj["status"] = _access(server, user, spec)
    elif kind.kind == "SubjectAccessReview":
        subject = User(spec.get("user", ""), tuple(spec.get("groups") or ()), spec.get("uid", ""))
        obj["status"] = _access(server, subject, spec)
    elif kind.kind == "SelfSubjectRulesReview":
        obj["status"] = _rules(server, user, spec.get("namespace", ""))
    elif kind.kind == "SelfSubjectReview":
        obj["status"] = {"userInfo": _user_info(user)}
    elif kind.kind == "TokenReview":
        try:
            reviewed = server.authenticator.authenticate(
                {"Authorization": f"Bearer {spec.get('token', '')}"}
            )
        except ApiError:
            obj["status"] = {"authenticated": False}
        else:
            obj["status"] = {"authenticated": True, "user": _user_info(reviewed)}
    return obj
