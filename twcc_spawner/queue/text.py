"""What researchers read about the queue, in their language."""

from __future__ import annotations

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
