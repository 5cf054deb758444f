"""The ``--denoise`` spec: which corruption a denoising run trains against, as a short string.

    gaussian:0.5        add N(0, 0.5^2) to every pixel, clip to [0, 1]
    saltpepper:0.2      set 20% of pixels to 0 or 1 (half each)
    erase:0.25          blank a random rectangle covering up to 25% of the image
    watermark[:TEXT]    overlay TEXT (default "SAMPLE") in white at a random place and opacity
    logo:PATH           overlay an image file (its alpha channel, if any, as the mask) likewise

Parsed and checked here, with the other settings, before any work; the corruptions themselves
are vaekit.datasets.corrupt.
"""

from __future__ import annotations

from pathlib import Path

from vaekit.errors import VaekitError

KINDS = ("gaussian", "saltpepper", "erase", "watermark", "logo")
DEFAULTS = {"gaussian": "0.5", "saltpepper": "0.2", "erase": "0.25", "watermark": "SAMPLE"}


def parse_denoise(spec: str) -> tuple[str, str]:
    """A ``--denoise`` spec -> (kind, value), normalised (``sp`` -> saltpepper, ``0.50`` -> 0.5);
    VaekitError naming ``--denoise`` if malformed, or if its logo file cannot be read."""
    kind, _, value = spec.partition(":")
    kind = kind.strip().lower().replace("-", "").replace("_", "")
    if kind == "sp":
        kind = "saltpepper"
    if kind not in KINDS:
        raise VaekitError(f"{spec!r}: expected one of {', '.join(k + ':...' for k in KINDS)}", "denoise")
    value = value or DEFAULTS.get(kind, "")
    if kind in ("gaussian", "saltpepper", "erase"):
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        upper = float("inf") if kind == "gaussian" else 1.0
        if not 0 < number <= upper:
            what = "a noise std > 0" if kind == "gaussian" else "a fraction in (0, 1]"
            raise VaekitError(f"{spec!r}: expected {kind}:X with X {what}, got {value!r}", "denoise")
        value = f"{number:g}"
    if kind == "logo":
        if not value:
            raise VaekitError(f"{spec!r}: give the logo image as logo:PATH", "denoise")
        if not Path(value).expanduser().is_file():
            raise VaekitError(f"{spec!r}: logo file {value} does not exist", "denoise")
        from PIL import Image

        try:  # read it now, so a bad logo stops a run before its folder is written
            with Image.open(Path(value).expanduser()) as im:
                im.load()
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise VaekitError(f"logo:{value}: not a readable image ({e})", "denoise") from None
    return kind, value
