"""The spawn form: the profile list rendered as HTML, in the researcher's language."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jinja2

from .i18n import translate


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("twcc_spawner", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _cell(choice: dict[str, Any]) -> str | dict[str, str] | None:
    if choice.get("queue"):
        return {"queue": choice["status"]}
    return None if choice["available"] else choice["status"]


def availability_matrix(
    profile_list: list[dict[str, Any]],
) -> dict[str, dict[str, str | dict[str, str] | None]]:
    """release → size → why it cannot start (``None`` if it can; ``{"queue": text}`` if it
    would wait in the queue), for the form's script."""
    return {
        profile["release"]: {
            name: _cell(choice)
            for name, choice in profile["profile_options"]["size"]["choices"].items()
        }
        for profile in profile_list
    }


def checked_size(profile_list: list[dict[str, Any]]) -> str | None:
    """The size to check: the preselected one if it can start (or wait), else the first that
    can start now, else the first that can wait."""
    selected = next((p for p in profile_list if p["default"]), None)
    if selected is None:
        return None
    choices = selected["profile_options"]["size"]["choices"]
    startable = [name for name, choice in choices.items() if choice["available"]]
    now = [name for name in startable if not choices[name].get("queue")]
    preferred = [name for name in startable if choices[name]["default"]]
    return (preferred or now or startable or [None])[0]


class ImageField(NamedTuple):
    """The free-text image field: shown only if the operators allow some images."""

    patterns: tuple[str, ...] = ()
    value: str | None = None


NO_IMAGE_FIELD = ImageField()


def render_form(
    profile_list: list[dict[str, Any]],
    locale: str,
    simulated: bool = False,
    image: ImageField = NO_IMAGE_FIELD,
    notice: str | None = None,
) -> str:
    """The form's HTML for JupyterHub's spawn page; ``notice``: a message above it."""
    return (
        _environment()
        .get_template("form.html")
        .render(
            profile_list=profile_list,
            locale=locale,
            simulated=simulated,
            image=image,
            notice=notice,
            matrix=availability_matrix(profile_list),
            checked=checked_size(profile_list),
            t=functools.partial(translate, locale),
        )
    )
