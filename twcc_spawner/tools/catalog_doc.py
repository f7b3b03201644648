"""The catalog as a Markdown page for the docs, generated from profiles/ at build time."""

from __future__ import annotations

from ..catalog import Catalog, Release
from ..profiles import size_summary


def _fact(release: Release, field: str) -> str:
    value = getattr(release, field)
    if value is None:
        return "–"
    if isinstance(value, tuple):
        value = ", ".join(value)
    mark = ""
    if field in release.conflicting:
        mark = " (conflicting sources)"
    elif field in release.unverified:
        mark = " (unverified)"
    note = release.notes.get(field) if release.notes else None
    return f"{value}{mark}" + (f" [^{release.release}-{field}]" if note else "")


def catalog_markdown(catalog: Catalog, registry: str = "nvcr.io/nvidia/pytorch") -> str:
    """A page listing every release with its facts and sources, and every size."""
    lines = [
        "# The image catalog",
        "",
        "Generated from `profiles/releases.yaml` and `profiles/sizes.yaml` when the docs are",
        "built. A value marked *unverified* could not be checked against NVIDIA's text, one",
        "marked *conflicting sources* has sources that disagree (its footnote names them);",
        "footnotes say where other values came from when not from the release notes.",
        "",
        "## Releases",
        "",
        "| Release | Image | PyTorch | CUDA | cuDNN | NCCL | Python | Ubuntu "
        "| Min. driver | Data-center drivers | GPUs | Status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    footnotes = []
    for r in catalog.releases:
        status = "hidden" if r.hidden else (f"deprecated: {r.deprecated}" if r.deprecated else "")
        if r.default:
            status = "default"
        if r.groups is not None:
            status = (status + "; " if status else "") + "groups: " + ", ".join(sorted(r.groups))
        datacenter = ", ".join(r.driver.datacenter) or "–"
        lines.append(
            f"| [{r.release}]({r.source}) | `{r.image_ref(registry)}` | {_fact(r, 'pytorch')} "
            f"| {_fact(r, 'cuda')} | {_fact(r, 'cudnn')} | {_fact(r, 'nccl')} "
            f"| {_fact(r, 'python')} | {_fact(r, 'ubuntu')} | {r.driver.minimum} | {datacenter} "
            f"| {_fact(r, 'architectures')} | {status} |"
        )
        footnotes += [
            f"[^{r.release}-{field}]: {note}"
            for field, note in (r.notes or {}).items()
            if field in {"pytorch", "cuda", "cudnn", "nccl", "python", "ubuntu", "architectures"}
        ]
    lines += ["", "## GPU sizes", "", "| Name | Offered as | Status |", "|---|---|---|"]
    for s in catalog.sizes:
        status = "hidden" if s.hidden else ("default" if s.default else "")
        lines.append(f"| `{s.name}` | {size_summary(s)} | {status} |")
    return "\n".join([*lines, "", *footnotes, ""])
