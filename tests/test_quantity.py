"""Kubernetes quantities, shared by the catalog, the preflight and the emulator."""

from decimal import Decimal

import pytest

from twcc_spawner.quantity import parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("90G", Decimal(90 * 10**9)),
        ("16Gi", Decimal(16 * 2**30)),
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        (4, Decimal(4)),
        (0.5, Decimal("0.5")),
        ("1e3", Decimal(1000)),
        ("100n", Decimal("1e-7")),
    ],
)
def test_quantities(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "G", "90GB", "ten", "1.2.3", True])
def test_malformed(text: object) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(text)  # type: ignore[arg-type]
