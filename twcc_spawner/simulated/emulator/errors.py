"""Kubernetes ``Status`` error bodies."""

from __future__ import annotations

from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "AlreadyExists",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An API failure that is answered with a Kubernetes ``Status`` body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``Status`` object describing this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(plural: str, name: str) -> ApiError:
    """404 for a missing object, worded like the API server."""
    return ApiError(404, f'{plural} "{name}" not found', details={"name": name, "kind": plural})


def already_exists(plural: str, name: str) -> ApiError:
    """409 for a name collision on create."""
    return ApiError(
        409, f'{plural} "{name}" already exists', details={"name": name, "kind": plural}
    )


def conflict(plural: str, name: str) -> ApiError:
    """409 for a stale ``resourceVersion`` on update."""
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {plural} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        reason="Conflict",
        details={"name": name, "kind": plural},
    )


def gone(resource_version: str) -> ApiError:
    """410 for a watch starting before the retained history."""
    return ApiError(410, f"too old resource version: {resource_version}", reason="Expired")


def qualified_kind(kind: str, group: str) -> str:
    """``Pod``, or ``Deployment.apps`` for a grouped kind, as error messages name it."""
    return f"{kind}.{group}" if group else kind


def invalid(kind: Any, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 ``Invalid`` listing field causes, worded like the API server."""
    summary = [f"{c['field']}: {c['message']}" for c in causes]
    listed = summary[0] if len(summary) == 1 else f"[{', '.join(summary)}]"
    qualified = qualified_kind(kind.kind, kind.group)
    return ApiError(
        422,
        f'{qualified} "{name}" is invalid: {listed}',
        details={"name": name, "group": kind.group, "kind": kind.kind, "causes": causes},
    )
