"""What researchers read about the queue, in their language."""

from __future__ import annotations

from typing import Any

from ..i18n import translate
from .model import QueueStatus


def queue_text(locale: str, key: str, gpus: int, status: QueueStatus) -> str:
    """``No 2-GPU slot is free: 3 people are waiting ahead of you, about 20 min``.

    ``key`` is ``queue.form`` (before Start) or ``queue.progress`` (while waiting).
    """
    ahead = status.ahead
    people = {0: translate(locale, "queue.nobody"), 1: translate(locale, "queue.person")}.get(
        ahead
    ) or translate(locale, "queue.people", n=ahead)
    text = translate(locale, key, gpus=gpus, people=people, position=status.position)
    if status.estimate is not None:
        text += translate(locale, "queue.about", minutes=max(1, round(status.estimate / 60)))
    return text


def lost_place_text(locale: str, record: dict[str, Any]) -> str:
    """The form's notice after a hub restart ended a wait (``record``: the saved wait)."""
    since = str(record.get("since", ""))
    time = since[11:16] if len(since) >= 16 else "?"  # HH:MM of the ISO UTC time
    return translate(locale, "queue.lost", gpus=record.get("gpus", "?"), time=time)
