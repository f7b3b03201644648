"""The e2e teardown's reading of the hub's log (no hub runs here)."""

from __future__ import annotations

from .conftest import logged_tracebacks, unexpected_tracebacks

LOG = """[I 2026-12-01 12:00:00.000 JupyterHub app:1] Starting
[E 2026-12-01 12:00:01.000 JupyterHub web:2] Uncaught exception
    Traceback (most recent call last):
      File "x.py", line 1, in f
        raise ValueError("bad")
    ValueError: bad
Traceback (most recent call last):
  File "y.py", line 2, in g
    boom()
kubernetes_asyncio.client.exceptions.ApiException: (500)
Reason: Internal Server Error
[I 2026-12-01 12:00:02.000 JupyterHub app:3] Bye
"""


def test_each_traceback_is_named_by_its_exception_line() -> None:
    assert logged_tracebacks(LOG) == [
        "ValueError: bad",  # indented, as JupyterHub's log formatter writes it
        "kubernetes_asyncio.client.exceptions.ApiException: (500)",
    ]
    assert logged_tracebacks("[I ...] all fine\n") == []


def test_allowed_tracebacks_are_not_reported() -> None:
    assert unexpected_tracebacks(LOG, (r"ApiException: \(500\)",)) == ["ValueError: bad"]
    assert unexpected_tracebacks(LOG, (r"^ValueError", r"ApiException")) == []
