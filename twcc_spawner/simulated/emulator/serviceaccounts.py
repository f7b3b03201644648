"""The ServiceAccount controller's one duty here: every namespace has ``default``.

Kubernetes creates it moments after the namespace; the emulator does so in the same
write, so that a pod created right after its namespace is not refused by admission.
"""

from __future__ import annotations

from collections.abc import Callable

from .references import DEFAULT_SERVICE_ACCOUNT
from .store import Change, Store


def create_default_service_accounts(store: Store) -> Callable[[], None]:
    """Give every namespace created in ``store`` from now on its ``default`` ServiceAccount."""

    def on_change(change: Change) -> None:
        if change.plural != "namespaces" or change.type != "ADDED":
            return
        namespace = change.object["metadata"]["name"]
        if store.find("serviceaccounts", namespace, DEFAULT_SERVICE_ACCOUNT) is None:
            store.create(
                "serviceaccounts",
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": namespace},
                },
            )

    return store.subscribe(on_change)
