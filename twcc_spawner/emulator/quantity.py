"""Parsing of Kubernetes resource quantities (``500m``, ``16Gi``, ``1e3``)."""

from __future__ import annotations

from fractions import Fraction

_SUFFIXES: dict[str, Fraction] = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}


def parse_quantity(value: str | int | float) -> Fraction:
    """Return the exact numeric value of a quantity; raise ``ValueError`` if malformed."""
    if isinstance(value, int | float):
        return Fraction(value)
    text = value.strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            number = text[: -len(suffix)]
            break
    else:
        suffix, number = "", text
    try:
        return Fraction(number) * _SUFFIXES[suffix]
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"invalid quantity {value!r}") from exc
