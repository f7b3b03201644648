"""Fault injection: rules that make matching API requests fail, stall or lose their watch."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class FaultRule:
    """Applies to requests whose method and path match the regexes (``re.search``).

    ``status`` answers with that error code instead of serving the request; ``delay``
    stalls it first; ``drop_watch`` ends a watch right after its headers. ``times``
    limits how often the rule fires (None: forever). ``retry_after`` adds that
    ``Retry-After`` header to the error (e.g. with 429); ``reset`` closes the
    connection without an answer; ``gone`` makes a watch send a 410 ``Expired``
    ERROR event, as an API server does when the watch's resourceVersion is too old.
    """

    path: str = ""
    method: str = ""
    status: int | None = None
    delay: float = 0.0
    drop_watch: bool = False
    times: int | None = None
    retry_after: int | None = None
    reset: bool = False
    gone: bool = False
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        if self.times is not None and self.hits >= self.times:
            return False
        return bool(re.search(self.method, method) and re.search(self.path, path))


class Faults:
    """The active fault rules, consulted by the server for every request."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        """Activate a rule; returns it so tests can inspect ``hits``."""
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove all rules."""
        self.rules.clear()

    def match(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule (counting the hit), or None."""
        for rule in self.rules:
            if rule.matches(method, path):
                rule.hits += 1
                return rule
        return None
