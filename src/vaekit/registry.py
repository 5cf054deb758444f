"""Every registry in one listing: what `vaekit models` prints.

The registries themselves live beside what they register: ``MODELS``, ``BACKBONES``, ``PRIORS``
(vaekit.models), ``OBJECTIVES`` (vaekit.objectives), ``KERNELS`` (vaekit.mmd), ``SAMPLERS``
(vaekit.tasks.generate).
"""

from __future__ import annotations


def about(entry) -> str:
    """An entry's one line: its ``about`` where it has one (a model kind, an objective), else the
    first paragraph of its docstring (a backbone, a prior, a kernel, a sampler)."""
    if hasattr(entry, "about"):
        return entry.about
    doc = (getattr(entry, "__doc__", None) or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def entries() -> dict[str, list[tuple[str, str]]]:
    """{registry: [(name, one line), ...]} for every registry."""
    from vaekit.mmd import KERNELS
    from vaekit.models import BACKBONES, MODELS, PRIORS
    from vaekit.objectives import OBJECTIVES
    from vaekit.tasks.generate import SAMPLERS

    return {
        "models (--model)": [(n, about(k)) for n, k in MODELS.items()],
        "backbones (--backbone)": [(n, about(f)) for n, f in BACKBONES.items()],
        "priors (--prior)": [(n, about(p)) for n, p in PRIORS.items()],
        "objectives (--objective)": [(n, about(o)) for n, o in OBJECTIVES.items()],
        "MMD kernels (--mmd-kernel)": [(n, about(f)) for n, f in KERNELS.items()],
        "samplers (vaekit sample --sampler)": [(n, about(f)) for n, f in SAMPLERS.items()],
    }


def describe() -> str:
    """The listing as text, one line per entry, each followed by its own settings (flag, default,
    help)."""
    from vaekit.config import knobs
    from vaekit.errors import flag

    owned: dict[tuple[str, str], list] = {}
    for knob in knobs().values():
        owned.setdefault((knob.chooser, knob.entry), []).append(knob)
    lines = []
    for title, rows in entries().items():
        lines.append(title)
        chooser = title.rsplit("(--", 1)[-1].rstrip(")")
        width = max(len(n) for n, _ in rows)
        for n, about in rows:
            lines.append(f"  {n:<{width}}  {about}")
            lines += [f"  {'':<{width}}    {flag(k.field.name)} {k.default()!r}: "
                      f"{k.field.metadata.get('help', '')}" for k in owned.get((chooser, n), [])]
    return "\n".join(lines)
