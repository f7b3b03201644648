"""The spawn form's HTML parsed into what a browser would offer (stdlib html.parser)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Element:
    """One element: its tag, attributes (valueless ones map to ""), and its text."""

    tag: str
    attrs: dict[str, str]
    text: str = ""

    def has(self, attribute: str) -> bool:
        return attribute in self.attrs


@dataclass
class Form:
    """Every element of the form, in document order; the ones with an id by id."""

    elements: list[Element] = field(default_factory=list)
    by_id: dict[str, Element] = field(default_factory=dict)

    def options(self, select_id: str) -> list[Element]:
        """The ``<option>`` elements of the ``<select>`` with that id."""
        return [e for e in self.elements if e.tag == "option" and e.attrs["_parent"] == select_id]

    def radios(self, name: str) -> dict[str, Element]:
        """The radio inputs named ``name``, by value."""
        return {
            e.attrs["value"]: e
            for e in self.elements
            if e.tag == "input" and e.attrs.get("type") == "radio" and e.attrs.get("name") == name
        }

    def label_for(self, element_id: str) -> str:
        """The text of the ``<label for=...>`` of an element, whitespace collapsed."""
        (label,) = [
            e for e in self.elements if e.tag == "label" and e.attrs.get("for") == element_id
        ]
        return " ".join(label.text.split())

    def text(self, element_id: str) -> str:
        """The text inside the element with that id, whitespace collapsed."""
        return " ".join(self.by_id[element_id].text.split())


_VOID = frozenset({"input", "br", "img", "meta", "link", "hr"})


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form = Form()
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        parent = next((e.attrs["id"] for e in reversed(self.open) if "id" in e.attrs), "")
        element = Element(tag, {**values, "_parent": parent})
        self.form.elements.append(element)
        if "id" in values:
            assert values["id"] not in self.form.by_id, f"duplicate id {values['id']}"
            self.form.by_id[values["id"]] = element
        if tag not in _VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1].tag == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.text += data


def parse_form(html: str) -> Form:
    """Parse the form; fails on unbalanced tags or duplicate ids."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    assert not parser.open, f"unclosed: {[e.tag for e in parser.open]}"
    return parser.form
