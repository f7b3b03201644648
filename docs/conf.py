"""Sphinx configuration: MyST Markdown pages, the trait reference from the code,
and the catalog page generated from profiles/."""

from pathlib import Path

from kubespawner import KubeSpawner

from twcc_spawner import TWCCSpawner
from twcc_spawner.catalog import load_catalog, schema
from twcc_spawner.tools.catalog_doc import catalog_markdown
from twcc_spawner.tools.schema_doc import FILES, schema_markdown

ROOT = Path(__file__).resolve().parent.parent

project = "twcc-spawner"
author = "twcc-spawner developers"
extensions = ["myst_parser", "autodoc_traits", "sphinx.ext.autodoc"]
myst_enable_extensions = ["colon_fence"]
myst_footnote_transition = False
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["myst.header"]


SPAWNER_PAGE = """# TWCCSpawner configuration

Generated from the code: the options TWCCSpawner adds. It also accepts every
[KubeSpawner option](https://jupyterhub-kubespawner.readthedocs.io/en/latest/spawner.html).

```{{eval-rst}}
.. autoconfigurable:: twcc_spawner.TWCCSpawner
   :noindex:
   :exclude-members: {inherited}
```
"""


def _write(name: str, text: str) -> None:
    page = ROOT / "docs" / "reference" / name
    page.parent.mkdir(exist_ok=True)
    if not page.exists() or page.read_text() != text:
        page.write_text(text)


inherited = sorted(set(KubeSpawner.class_traits(config=True)) - set(TWCCSpawner.class_own_traits()))
_write("catalog.md", catalog_markdown(load_catalog(ROOT / "profiles")))
_write("spawner.md", SPAWNER_PAGE.format(inherited=", ".join(inherited)))
_write("profiles-schema.md", schema_markdown({name: schema(name) for name, _ in FILES}))
