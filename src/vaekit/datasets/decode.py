"""Reading one image file as a person sees it, at a model's size.

- every format Pillow opens (``EXTENSIONS``); animations and multi-page files give their first frame;
- the EXIF orientation is applied, so phone photos come out upright;
- 16-bit, 32-bit integer and float images are scaled to 8 bits (16-bit by its full range, floats
  in [0, 1] by 255, any other range by its own minimum and maximum), never clipped;
- transparent pixels are composited on white (``BACKGROUND``), as a viewer shows them on a page;
- CMYK, palette, LA, 1-bit and YCbCr images are converted to grey or RGB;
- a file of more than ``MAX_PIXELS`` pixels (``$VAEKIT_MAX_PIXELS``) is refused before it is
  decoded: decompression bombs and accidental 100-megapixel scans cost no memory.

``read_image`` raises ``Unreadable`` with the reason; folder loaders skip and count such files.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from vaekit.errors import VaekitError

# Raster formats Pillow opens itself (no Ghostscript, no stubs that need plug-ins)
EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".dib", ".webp", ".tif", ".tiff",
    ".pgm", ".ppm", ".pbm", ".pnm", ".tga", ".ico", ".psd", ".qoi", ".avif", ".jp2", ".j2k", ".jpx",
    ".pcx", ".sgi", ".rgb", ".ras", ".dds", ".icns", ".mpo", ".xbm", ".xpm",
}
MAX_PIXELS = int(os.environ.get("VAEKIT_MAX_PIXELS", 50_000_000))  # Pillow's own limit: 89 million
BACKGROUND = 255  # white, behind transparent pixels


class Unreadable(VaekitError):
    """A file that is not an image vaekit can read, with the reason."""


def _eight_bit(im: Image.Image) -> Image.Image:
    """Deep images (I;16, I, F) -> 8-bit "L", scaled rather than clipped."""
    if im.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return im
    a = np.asarray(im, dtype=np.float64)
    if im.mode.startswith("I;16"):
        a = a / 257.0
    else:
        lo, hi = float(a.min()), float(a.max())
        if im.mode == "F" and lo >= 0 and hi <= 1:
            a = a * 255.0
        elif im.mode == "I" and lo >= 0 and hi <= 255:
            pass
        elif im.mode == "I" and lo >= 0 and hi <= 65535:
            a = a / 257.0  # 16-bit data that Pillow holds as 32-bit integers
        else:
            a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def _flatten(im: Image.Image) -> Image.Image:
    """Any mode -> "L" or "RGB", with transparency composited on white."""
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        page = Image.new("RGB", im.size, (BACKGROUND,) * 3)
        page.paste(im, mask=im.getchannel("A"))
        return page
    if im.mode in ("L", "RGB"):
        return im
    return im.convert("RGB" if im.mode in ("CMYK", "YCbCr", "LAB", "HSV") else "L")


@contextlib.contextmanager
def open_quietly(path):
    """Image.open without Pillow's decompression-bomb warning (the pixel limit here is ours) and
    without its warnings about damaged metadata (the pixels still decode; a file whose pixels do
    not is skipped and counted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        with Image.open(path) as im:
            yield im


def read_image(path: str | Path, height: int, width: int, channels: int) -> np.ndarray:
    """Decode one file, center-crop it to the aspect of (height, width) and resize to it.

    Returns (C, height, width) uint8 with C = ``channels`` (1 or 3). Raises ``Unreadable``.
    """
    try:
        with open_quietly(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise Unreadable(f"{path}: {w}x{h} = {w * h / 1e6:.0f} megapixels, over the limit of "
                                 f"{MAX_PIXELS / 1e6:.0f} ($VAEKIT_MAX_PIXELS)")
            im.seek(0)  # the first frame of an animation or multi-page file
            if im.format == "JPEG":
                im.draft("RGB" if channels == 3 else "L", (width, height))  # decode at reduced scale
            im = ImageOps.exif_transpose(im)
            im = _flatten(_eight_bit(im))
            im = im.convert("RGB" if channels == 3 else "L")
            im = ImageOps.fit(im, (width, height), method=Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except Unreadable:
        raise
    except Image.DecompressionBombError as e:  # so large Pillow refuses it before we could look
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "a decompression bomb"
        raise Unreadable(f"{path}: {size}, over the limit of {MAX_PIXELS / 1e6:.0f} "
                         "($VAEKIT_MAX_PIXELS)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise Unreadable(f"{path}: not a readable image ({reason})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def has_colour(path: str | Path) -> bool | None:
    """Whether an image file holds colour (None when it cannot be opened); reads the header only
    (and a palette's colours), so a decompression bomb costs nothing."""
    try:
        with open_quietly(path) as im:
            if im.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
                return False
            if im.mode in ("P", "PA"):
                palette = im.getpalette() or []
                rgb = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
                return bool((rgb != rgb[:, :1]).any())
            return True
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None
