"""The profile files reference is generated from the schemas and covers every key."""

from __future__ import annotations

from twcc_spawner.catalog import schema
from twcc_spawner.tools.schema_doc import FILES, schema_markdown


def test_every_key_has_a_heading_with_its_description_and_constraints() -> None:
    page = schema_markdown({name: schema(name) for name, _ in FILES})
    release = schema("releases")["$defs"]["release"]
    for key in release["properties"]:
        assert f"### `releases[].{key}`" in page
    for key in schema("sizes")["$defs"]["size"]["properties"]:
        assert f"(schema_sizes.sizes[].{key})=" in page
    assert "Pull the image onto every GPU node ahead of time" in page
    assert "### `releases[].driver.minimum`" in page
    assert "items: one of `kepler`, `maxwell`" in page
    assert "type: integer; **required**; at least 1; at most 16" in page
