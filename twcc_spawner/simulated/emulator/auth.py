"""Bearer-token authentication: the admin kubeconfig's token and issued ServiceAccount tokens.

Deviation from kube-apiserver: a request without credentials is served as the admin
(the emulator listens on localhost for tests and the demo, and older clients connect
without a token); an unknown token is refused with 401.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from .errors import ApiError
from .rbac import Attributes

ADMIN_TOKEN = "twcc-emulator-token"
ADMIN_GROUPS = ("system:masters", "system:authenticated")


@dataclass(frozen=True)
class User:
    """An authenticated user."""

    name: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        """Members of ``system:masters`` bypass authorization, as on a real cluster."""
        return "system:masters" in self.groups

    @property
    def service_account(self) -> tuple[str, str] | None:
        """``(namespace, name)`` for a ServiceAccount user."""
        parts = self.name.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            return parts[2], parts[3]
        return None


ADMIN = User("kubernetes-admin", ADMIN_GROUPS)
#: Where the server keeps a request's user.
USER = web.RequestKey("user", User)


def service_account_user(namespace: str, name: str, uid: str = "") -> User:
    """The user a ServiceAccount's token authenticates as."""
    return User(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
        uid,
    )


class Authenticator:
    """Maps bearer tokens to users."""

    def __init__(self) -> None:
        self._tokens: dict[str, User] = {ADMIN_TOKEN: ADMIN}

    def issue(self, user: User) -> str:
        """A new token for ``user``."""
        token = f"twcc-sa.{secrets.token_urlsafe(24)}"
        self._tokens[token] = user
        return token

    def authenticate(self, headers: Mapping[str, str]) -> User:
        """The user of a request (see the module's note on requests without a token)."""
        header = headers.get("Authorization", "")
        if not header:
            return ADMIN
        scheme, _, token = header.partition(" ")
        user = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise ApiError(401, "Unauthorized", reason="Unauthorized")
        return user


def forbidden(user: User, attributes: Attributes) -> ApiError:
    """403 worded as kube-apiserver's RBAC authorizer words it."""
    resource = attributes.resource
    if attributes.subresource:
        resource += f"/{attributes.subresource}"
    where = (
        f'in the namespace "{attributes.namespace}"'
        if attributes.namespace
        else "at the cluster scope"
    )
    subject = (
        f'{attributes.resource} "{attributes.name}"' if attributes.name else attributes.resource
    )
    message = (
        f'{subject} is forbidden: User "{user.name}" cannot {attributes.verb} resource '
        f'"{resource}" in API group "{attributes.group}" {where}'
    )
    details = {"name": attributes.name, "group": attributes.group, "kind": attributes.resource}
    return ApiError(403, message, details=details)
