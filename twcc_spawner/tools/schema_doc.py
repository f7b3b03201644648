"""The profile files' reference for the docs, generated from their JSON Schemas.

Like Zero-to-JupyterHub's ``parse_schema``: every key of ``releases.yaml`` and
``sizes.yaml`` gets a heading with an anchor, its description, type and
constraints, so the schema stays the one source of truth.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

FILES = (("releases", "releases.yaml"), ("sizes", "sizes.yaml"))


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with a local ``$ref`` merged in (the node's own keys win)."""
    ref = node.get("$ref")
    if not ref:
        return dict(node)
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(target, root), **{k: v for k, v in node.items() if k != "$ref"}}


def _facts(node: Mapping[str, Any], required: bool) -> list[str]:
    facts = []
    kind = node.get("type") or ("one of" if "enum" in node else None)
    if kind:
        facts.append("type: " + (" or ".join(kind) if isinstance(kind, list) else kind))
    if required:
        facts.append("**required**")
    if "enum" in node:
        facts.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    if "pattern" in node:
        facts.append(f"pattern `{node['pattern']}`")
    if "examples" in node:
        facts.append("e.g. " + ", ".join(f"`{v}`" for v in node["examples"]))
    for key, text in (("minimum", "at least"), ("maximum", "at most")):
        if key in node:
            facts.append(f"{text} {node[key]}")
    return facts


def _walk(
    node: Mapping[str, Any], path: str, root: Mapping[str, Any], required: bool
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    node = _resolve(node, root)
    yield path, node, required
    if node.get("type") == "array" and "items" in node:
        items = _resolve(node["items"], root)
        if "properties" in items:
            yield from _walk(items, path + "[]", root, False)
        return
    needed = set(node.get("required", ()))
    for key, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{key}" if path else key, root, key in needed)


def schema_markdown(schemas: Mapping[str, Mapping[str, Any]]) -> str:
    """A Markdown page documenting every key of the profile files."""
    lines = [
        "# Profile files reference",
        "",
        "Generated from `twcc_spawner/schemas/*.schema.yaml`, the schemas every edit is",
        "checked against (`twcc-profiles validate`, and the hub on every reload).",
    ]
    for name, file in FILES:
        root = schemas[name]
        lines += ["", f"## `{file}`", "", root.get("description", "")]
        for path, node, required in _walk(root, "", root, False):
            if not path or ("properties" in node and path.endswith("[]")):
                continue
            lines += ["", f"(schema_{name}.{path})=", f"### `{path}`", ""]
            if node.get("description"):
                lines += [" ".join(node["description"].split()), ""]
            facts = _facts(node, required)
            if node.get("type") == "array" and "items" in node:
                items = _resolve(node["items"], root)
                facts += [f"items: {fact}" for fact in _facts(items, False) if "type" not in fact]
            lines.append("; ".join(facts))
    return "\n".join(lines) + "\n"
