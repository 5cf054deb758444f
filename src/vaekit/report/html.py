"""One self-contained HTML page for a comparison: every figure embedded, every number in a table."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from vaekit.files import atomic_write

CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.pair{display:flex;gap:2em;flex-wrap:wrap} .pair figure{margin:0;flex:1;min-width:300px}
figcaption{font-weight:600;margin-bottom:.4em} img{max-width:100%;image-rendering:pixelated}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:.3em .7em;text-align:right}
th:first-child,td:first-child{text-align:left}
.verdict{background:#f3f7ff;border-left:4px solid #4a7;padding:.8em 1em}
.note{color:#555;font-size:.92em}
"""


def _img(out: Path, rel: str, alt: str) -> str:
    data = base64.b64encode((out / rel).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _pair(out: Path, result: dict, key: str, what: str) -> str:
    cells = []
    for name, entry in result["models"].items():
        if key in entry["figures"]:
            cells.append(
                f"<figure><figcaption>{html.escape(name)}</figcaption>"
                f"{_img(out, entry['figures'][key], f'{name}: {what}')}</figure>"
            )
    return f'<div class="pair">{"".join(cells)}</div>'


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return html.escape(str(value))


def write_report(result: dict, out: Path) -> Path:
    """Write ``out/report.html`` from a ``compare`` result whose figures live under ``out``."""
    names = list(result["models"])
    rows = [
        ("test loss (negative ELBO, nats/image)", lambda e: e["summary"].get("test_loss", "-")),
        ("test reconstruction term", lambda e: e["summary"].get("test_recon", "-")),
        ("test KL term", lambda e: e["summary"].get("test_kl", "-")),
        ("Fréchet distance, prior samples ↓", lambda e: e.get("frechet_prior", "-")),
        ("Fréchet distance, samples of the run's own sampler ↓",
         lambda e: f"{e['frechet_own']:.1f} ({e['sampler']})" if "frechet_own" in e else "-"),
        ("Fréchet distance, reconstructions ↓", lambda e: e.get("frechet_recon", "-")),
        ("classifier confidence on prior samples ↑", lambda e: e.get("confidence_prior", "-")),
        ("classifier confidence on reconstructions", lambda e: e.get("confidence_recon", "-")),
        ("classes in prior samples (effective number) ↑", lambda e: e.get("effective_classes_prior", "-")),
        ("share of test codes within 3σ of N(0, 1)", lambda e: e["latent"]["within_3sigma"]),
        ("largest |code coordinate|", lambda e: e["latent"]["max_abs"]),
        ("active units (Cov E[z|x] > 0.01)", lambda e: e["latent"]["active_units"]),
        ("training time (s)", lambda e: e["summary"].get("train_seconds", "-")),
    ]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join(
        f"<tr><td>{label}</td>"
        + "".join(f"<td>{_fmt(get(result['models'][n]))}</td>" for n in names)
        + "</tr>"
        for label, get in rows
    )
    dims = len(result["models"][names[0]]["latent"]["mean"])
    stat_rows = "".join(
        f"<tr><td>z{d + 1}</td>"
        + "".join(
            f"<td>{e['latent']['mean'][d]:.2f}</td><td>{e['latent']['std'][d]:.2f}</td>"
            f"<td>{e['latent']['kl_per_dim'][d]:.2f}</td>"
            if "kl_per_dim" in e["latent"]
            else f"<td>{e['latent']['mean'][d]:.2f}</td><td>{e['latent']['std'][d]:.2f}</td>"
            "<td>0 (no KL)</td>"
            for e in result["models"].values()
        )
        + "</tr>"
        for d in range(min(dims, 32))
    )
    stat_head = "".join(
        f"<th>{html.escape(n)} mean</th><th>{html.escape(n)} std</th><th>{html.escape(n)} KL</th>"
        for n in names
    )
    clf = result.get("classifier")
    clf_note = (
        f"The reference classifier was trained on the training split of {html.escape(result['data'])} "
        f"({clf['epochs']} epochs) and reaches {clf['test_accuracy']:.1%} test accuracy; its 128-d "
        "penultimate features are what the Fréchet distance compares, for "
        f"{result['eval_images']} real test images against as many generated ones."
        if clf
        else "This data set has no labels, so no reference classifier and no Fréchet distance."
    )
    figs = result["figures"]
    if "latent" in figs:
        latent_html = (
            _img(out, figs["latent"], "latent codes")
            + '<p class="note">Posterior means of every test image, coloured by class, both panels at '
            "the same scale; dashed circles mark 1, 2 and 3 σ of the prior N(0, I).</p>"
        )
    else:
        latent_html = (
            _img(out, figs["pca"], "PCA of latent codes")
            + _img(out, figs["tsne"], "t-SNE of latent codes")
            + f'<p class="note">The latent space has {dims} dimensions: its test codes are shown '
            "through a PCA projection and a t-SNE embedding.</p>"
        )
    sections = [
        f"<h1>AE vs VAE on {html.escape(result['data'])}: {dims}-dimensional latent space</h1>",
        f'<p class="note">Test protocol: {html.escape(result["test_protocol"])}. Runs: '
        + ", ".join(
            f"{html.escape(n)} = <code>{html.escape(e['run'])}</code>" for n, e in result["models"].items()
        )
        + ".</p>",
        f'<div class="verdict">{html.escape(result["verdict"])}</div>',
        f"<h2>Numbers</h2><table><tr><th></th>{head}</tr>{body}</table><p class='note'>{clf_note}</p>",
        "<h2>Reconstructions</h2><p class='note'>Rows alternate: 8 test images, then their "
        "reconstructions from the posterior mean.</p>" + _pair(out, result, "recon", "reconstructions"),
        "<h2>Random points: decoding z ~ N(0, I)</h2><p class='note'>64 draws from the prior, decoded. "
        "A model that can generate turns them into plausible images.</p>"
        + _pair(out, result, "prior", "prior samples")
        + (_img(out, figs["class_shares"], "classes of prior samples")
           + "<p class='note'>The reference classifier's verdict on every decoded draw. A model whose "
           "samples cover the classes as the test images do can generate; bars piled on a few classes "
           "mean random points land in a small part of what the model learnt. The effective number "
           "of classes in the table is exp(entropy) of these shares.</p>"
           if "class_shares" in figs else ""),
        "<h2>The latent space</h2>" + latent_html,
        f"<h2>Latent statistics</h2><table><tr><th>dim</th>{stat_head}</tr>{stat_rows}</table>"
        + (_img(out, figs["kl_per_dim"], "KL per dimension") if "kl_per_dim" in figs else ""),
    ]
    if "manifold" in result["models"][names[0]]["figures"]:
        sections.append(
            "<h2>The decoded manifold over [-3, 3]²</h2><p class='note'>Each tile decodes one point "
            "of a 20 x 20 grid; z1 grows to the right, z2 upwards.</p>"
            + _pair(out, result, "manifold", "manifold")
        )
    sections.append(
        "<h2>Interpolation</h2><p class='note'>Each row walks in 10 steps between the posterior "
        "means of two test images (the first pair is a 1 and a 7 where the data has them).</p>"
        + _pair(out, result, "interpolate", "interpolation")
    )
    sections.append(
        "<h2>Traversal</h2><p class='note'>Each row varies one latent dimension from -3 to 3, the "
        "others held at the code of the first test image.</p>" + _pair(out, result, "traverse", "traversal")
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>vaekit: AE vs VAE</title>"
        f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>"
    )
    return atomic_write(out / "report.html", page)
