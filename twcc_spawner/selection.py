"""What a researcher asked for: ``user_options`` to a (release, size) selection.

The documented ``user_options`` keys (REST API, ``/hub/spawn?opt-...`` and the
form all end up here):

``release``
    The NGC release, e.g. ``"21.11"``. Default: the catalog's default release.
``gpus``
    The GPU count, e.g. ``2`` or ``"2"``: the first offered size with that count.
``size``
    A size by name, e.g. ``"c.xsuper"``, for sizes that share a GPU count.
``image``
    Only where the operators allow free-text images (``allowed_images``): an
    image built on the release, e.g. ``"registry.twcc.ai/lab-a/torch:21.11-v2"``,
    matching one of their patterns. The release's facts (driver, GPUs) still apply.

KubeSpawner's spelling of the same choice is accepted too, since the catalog is
a KubeSpawner profile list: ``profile`` (a release's profile slug, e.g.
``"pytorch-21-11"``) for ``release``, with ``size`` the profile's one option; in
the form and the spawn URL its option field is ``profile-option-<slug>--size``.

Anything else is refused, and so is anything not offered to the user: the
message names what is offered, so a person can pick again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .catalog import Catalog, Release, Size

OPTION_KEYS = ("release", "gpus", "size")
IMAGE_KEY = "image"
#: KubeSpawner's keys: the profile slug, and the form field of a profile's option.
PROFILE_KEY = "profile"
PROFILE_OPTION_PREFIX = "profile-option-"
_MAX_SHOWN = 40

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
#: A container image reference: [registry[:port]/]path[:tag][@sha256:digest].
IMAGE_REFERENCE = re.compile(
    rf"(?:{_HOST}(?:\.{_HOST})*(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::\w[\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?",
    re.ASCII,
)
_MAX_IMAGE = 255


@dataclass(frozen=True)
class Selection:
    """A release and a size, both offered to the user, and an allowed image built on the
    release if the user named one."""

    release: Release
    size: Size
    image: str | None = None

    @property
    def label(self) -> str:
        """The short, stable label: ``PyTorch 21.11 / 2 GPUs`` (and the user's image)."""
        label = f"{self.release.title} / {self.size.label}"
        return f"{label} ({self.image})" if self.image else label

    def image_ref(self, registry: str) -> str:
        """The image the server runs: the user's, else the release's."""
        return self.image or self.release.image_ref(registry)

    def user_options(self) -> dict[str, str]:
        """The canonical ``user_options`` that select this again."""
        options = {"release": self.release.release, "size": self.size.name}
        return options | ({IMAGE_KEY: self.image} if self.image else {})


class SelectionError(ValueError):
    """``user_options`` that do not name something offered; the message is for the user."""


def _shown(value: Any) -> str:
    """A user-supplied value, quoted and cut short, for a message."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _release_asked(catalog: Catalog, options: Mapping[str, Any], groups: frozenset[str]) -> Any:
    """The ``release`` asked for, given as such or as KubeSpawner's ``profile`` slug
    (empty: the default profile, as in KubeSpawner)."""
    slug = options.get(PROFILE_KEY)
    if slug is None or slug == "":
        return options.get("release")
    offered = catalog.releases_for(groups)
    match = next((r for r in offered if profile_slug(r) == slug), None)
    if match is None:
        slugs = ", ".join(profile_slug(r) for r in offered)
        raise SelectionError(f"Profile {_shown(slug)} is not offered; pick one of: {slugs}.")
    if "release" in options and options["release"] != match.release:
        raise SelectionError(
            f"Profile {slug} is PyTorch release {match.release}, not "
            f"{_shown(options['release'])}; give one of profile and release."
        )
    return match.release


def _pick_release(catalog: Catalog, value: Any, groups: frozenset[str]) -> Release:
    offered = catalog.releases_for(groups)
    if value is None:
        default = catalog.default_release(groups)
        if default is None:
            raise SelectionError("No PyTorch release is offered to you. Ask the hub's operators.")
        return default
    match = (
        next((r for r in offered if r.release == value), None) if isinstance(value, str) else None
    )
    if match is None:
        names = ", ".join(r.release for r in offered)
        raise SelectionError(
            f"PyTorch release {_shown(value)} is not offered; pick one of: {names}."
        )
    return match


def _parse_gpus(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        return int(value)
    return None


def _pick_size(catalog: Catalog, options: Mapping[str, Any], groups: frozenset[str]) -> Size:
    offered = catalog.sizes_for(groups)
    counts = ", ".join(dict.fromkeys(str(s.gpus) for s in offered))
    by_name: Size | None = None
    if "size" in options:
        name = options["size"]
        by_name = (
            next((s for s in offered if s.name == name), None) if isinstance(name, str) else None
        )
        if by_name is None:
            names = ", ".join(s.name for s in offered)
            raise SelectionError(f"Size {_shown(name)} is not offered; pick one of: {names}.")
    if "gpus" in options:
        gpus = _parse_gpus(options["gpus"])
        by_count = next((s for s in offered if s.gpus == gpus), None)
        if by_count is None:
            raise SelectionError(
                f"{_shown(options['gpus'])} GPUs is not offered; pick one of: {counts} GPUs."
            )
        if by_name is not None and by_name.gpus != by_count.gpus:
            raise SelectionError(
                f"Size {by_name.name} has {by_name.gpus} GPUs, not {by_count.gpus}; "
                "give one of size and gpus."
            )
        return by_name or by_count
    if by_name is not None:
        return by_name
    default = catalog.default_size(groups)
    if default is None:
        raise SelectionError("No GPU size is offered to you. Ask the hub's operators.")
    return default


def _pick_image(value: Any, patterns: Sequence[str]) -> str | None:
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) > _MAX_IMAGE
        or not IMAGE_REFERENCE.fullmatch(value)
    ):
        raise SelectionError(
            f"Image {_shown(value)} is not an image reference such as "
            "registry.example.org/team/pytorch:21.11-custom."
        )
    if not any(fnmatchcase(value, pattern) for pattern in patterns):
        raise SelectionError(
            f"Image {_shown(value)} is not allowed here; allowed: {', '.join(patterns)}."
        )
    return value


#: The keys of JupyterHub 6's REST start body: ``{"user_options": {...}, "display_name": ...}``.
REQUEST_BODY_KEYS = frozenset({"user_options", "display_name"})


def unwrap_request_body(options: Any) -> Any:
    """The options in a JupyterHub 6 style start body that a 5.x hub saved whole.

    JupyterHub 5.x takes the entire REST body as ``user_options``; 6.x reads them
    from its ``user_options`` key. Unwrapping once lets clients send 6's body to
    either hub.
    """
    wrapped = isinstance(options, Mapping) and "user_options" in options
    return options["user_options"] if wrapped and set(options) <= REQUEST_BODY_KEYS else options


def resolve(
    catalog: Catalog,
    options: Any,
    groups: frozenset[str] = frozenset(),
    image_patterns: Sequence[str] = (),
) -> Selection:
    """The selection ``options`` asks for, for a user in ``groups``.

    ``image_patterns`` (shell-style, e.g. ``registry.twcc.ai/lab-a/*``) allow the
    ``image`` option; without them it is refused like any unknown key.

    Raises :class:`SelectionError` with a message for the user when the options
    are malformed, carry unknown keys, or name something not offered.
    """
    options = unwrap_request_body(options)
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise SelectionError(
            'user_options must be an object such as {"release": "21.11", "gpus": 2}.'
        )
    keys = (*OPTION_KEYS, IMAGE_KEY) if image_patterns else OPTION_KEYS
    unknown = [k for k in options if k not in (*keys, PROFILE_KEY)]
    if unknown:
        shown = ", ".join(_shown(k) for k in unknown[:5])
        raise SelectionError(
            f"Unknown option(s) {shown}; the options are: {', '.join(keys)} "
            f"(or KubeSpawner's {PROFILE_KEY} and size)."
        )
    return Selection(
        _pick_release(catalog, _release_asked(catalog, options, groups), groups),
        _pick_size(catalog, options, groups),
        _pick_image(options.get(IMAGE_KEY), image_patterns) if image_patterns else None,
    )


def profile_slug(release: Release) -> str:
    """The KubeSpawner profile slug of a release: ``pytorch-21-11``."""
    return "pytorch-" + release.release.replace(".", "-")


def _value(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else list(values)


def options_from_form(formdata: Mapping[str, list[Any]]) -> dict[str, Any]:
    """``user_options`` from the spawn form or the ``/hub/spawn?opt-...`` query.

    Each field's single value is taken as is; a field given twice stays a list,
    which :func:`resolve` refuses. KubeSpawner's option fields of the chosen
    profile, ``profile-option-<slug>--<option>``, become ``<option>`` (as
    KubeSpawner turns them into ``user_options``), and those of other profiles are
    dropped, since a KubeSpawner form posts every profile's fields. Nothing else is
    dropped, so unknown fields (and option fields without a ``profile``) are
    refused by :func:`resolve` rather than silently ignored.
    """
    options = {
        key: _value(values)
        for key, values in formdata.items()
        if key != "_xsrf" and not key.startswith(PROFILE_OPTION_PREFIX)
    }
    profile = options.get(PROFILE_KEY)
    chosen = f"{PROFILE_OPTION_PREFIX}{profile}--" if isinstance(profile, str) else None
    for key, values in formdata.items():
        if not key.startswith(PROFILE_OPTION_PREFIX):
            continue
        if chosen is None or not profile:
            options[key] = _value(values)
        elif key.startswith(chosen):
            name, value = key[len(chosen) :], _value(values)
            options[name] = value if options.get(name, value) == value else [options[name], value]
    return options
