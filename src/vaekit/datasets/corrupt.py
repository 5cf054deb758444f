"""Corruptions for denoising: applied to a batch on the fly, so every epoch sees fresh noise.

A corruption is named by a short spec, the value of ``--denoise`` (vaekit.settings.denoise:
``gaussian:0.5``, ``saltpepper:0.2``, ``erase:0.25``, ``watermark[:TEXT]``, ``logo:PATH``).

Every kind works on (B, C, H, W) float tensors in [0, 1] on any device, with no loop over images.
Randomness comes from ``generator`` when given, else from the global RNG (which the trainer
seeds per epoch, so a resumed run sees the same noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vaekit.errors import VaekitError
from vaekit.settings.denoise import parse_denoise

OPACITY = (0.4, 0.9)  # range the overlay's opacity is drawn from, per image
MARK_WIDTH = 0.7  # text marks span this share of the image width; logos 0.4


@dataclass
class Corruption:
    """A parsed ``--denoise`` spec; call it on a batch to corrupt it."""

    kind: str
    value: str
    _marks: dict = field(default_factory=dict, repr=False)  # (C, H, W, device) -> (colour, alpha)

    @property
    def spec(self) -> str:
        """The spec string this was parsed from, normalised (``gaussian:0.5``)."""
        return f"{self.kind}:{self.value}"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Corrupt a batch: (B, C, H, W) float in [0, 1] -> a new tensor of the same shape."""
        if x.dim() != 4:
            raise VaekitError(f"{self.spec}: expected a batch (B, C, H, W), got shape "
                              f"{tuple(x.shape)}", "denoise")
        if self.kind == "gaussian":
            noise = torch.randn(x.shape, device=x.device, generator=generator, dtype=x.dtype)
            return (x + float(self.value) * noise).clamp_(0, 1)
        if self.kind == "saltpepper":
            u = torch.rand(x.shape, device=x.device, generator=generator, dtype=x.dtype)
            rate = float(self.value)
            out = x.clone()
            out[u < rate / 2] = 0.0
            out[(u >= rate / 2) & (u < rate)] = 1.0
            return out
        if self.kind == "erase":
            return x * (1 - _rectangles(x, float(self.value), generator))
        return self._overlay(x, generator)

    def _overlay(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        b, c, h, w = x.shape
        key = (c, h, w, str(x.device))
        if key not in self._marks:
            self._marks[key] = _render_mark(self, c, h, w, x.device)
        colour, alpha = self._marks[key]  # (C, mh, mw), (1, mh, mw)
        mh, mw = alpha.shape[-2:]
        r = torch.rand(b, 3, device=x.device, generator=generator)
        top = (r[:, 0] * (h - mh + 1)).long()  # (B,) positions that keep the mark inside
        left = (r[:, 1] * (w - mw + 1)).long()
        opacity = OPACITY[0] + (OPACITY[1] - OPACITY[0]) * r[:, 2]
        # Gather the mark into each image's frame: canvas pixel (i, j) reads mark pixel
        # (i - top, j - left) where that lies inside the mark, else nothing.
        rows = torch.arange(h, device=x.device)[None, :] - top[:, None]  # (B, H)
        cols = torch.arange(w, device=x.device)[None, :] - left[:, None]  # (B, W)
        inside = ((rows >= 0) & (rows < mh))[:, :, None] & ((cols >= 0) & (cols < mw))[:, None, :]
        ri, ci = rows.clamp(0, mh - 1)[:, :, None], cols.clamp(0, mw - 1)[:, None, :]
        a = alpha[0][ri, ci] * inside * opacity[:, None, None]  # (B, H, W)
        col = colour[:, ri, ci].permute(1, 0, 2, 3)  # (B, C, H, W)
        a = a[:, None].to(x.dtype)
        return x * (1 - a) + col.to(x.dtype) * a


def parse_corruption(spec: str) -> Corruption:
    """Parse a ``--denoise`` spec (see vaekit.settings.denoise); raises VaekitError if malformed."""
    return Corruption(*parse_denoise(spec))


def _rectangles(x: torch.Tensor, area: float, generator: torch.Generator | None) -> torch.Tensor:
    """A (B, 1, H, W) 0/1 mask with one random rectangle per image of up to ``area`` of the image."""
    b, _, h, w = x.shape
    r = torch.rand(b, 4, device=x.device, generator=generator)
    share = area * (0.5 + 0.5 * r[:, 0])  # between half and all of the allowed area
    aspect = torch.exp((r[:, 1] - 0.5) * 1.4)  # width / height between 0.5 and 2
    rh = (torch.sqrt(share / aspect) * h).clamp(1, h).long()
    rw = (torch.sqrt(share * aspect) * w).clamp(1, w).long()
    top = (r[:, 2] * (h - rh + 1)).long()
    left = (r[:, 3] * (w - rw + 1)).long()
    i = torch.arange(h, device=x.device)[None, :]
    j = torch.arange(w, device=x.device)[None, :]
    in_rows = (i >= top[:, None]) & (i < (top + rh)[:, None])  # (B, H)
    in_cols = (j >= left[:, None]) & (j < (left + rw)[:, None])  # (B, W)
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None].to(x.dtype)


def _render_mark(c: Corruption, channels: int, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The overlay at this image size: colour (C, mh, mw) and alpha (1, mh, mw), both in [0, 1]."""
    from PIL import Image, ImageDraw, ImageFont

    if c.kind == "watermark":
        # Draw large, then shrink with antialiasing: small fonts render poorly at 28 pixels.
        font = ImageFont.load_default(size=64)
        box = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), c.value, font=font)
        canvas = Image.new("L", (box[2] - box[0] + 8, box[3] - box[1] + 8))
        ImageDraw.Draw(canvas).text((4 - box[0], 4 - box[1]), c.value, fill=255, font=font)
        mask = canvas
        colour_img = None
        width = MARK_WIDTH
    else:
        try:
            with Image.open(Path(c.value).expanduser()) as im:
                im.load()
                rgba = im.convert("RGBA")
        except OSError as e:
            raise VaekitError(f"logo:{c.value}: not a readable image ({e})", "denoise") from None
        mask, colour_img = rgba.getchannel("A"), rgba.convert("RGB" if channels == 3 else "L")
        width = 0.4
    mw = max(1, min(w, round(width * w)))
    mh = max(1, min(h, round(mask.height * mw / mask.width)))
    alpha = np.asarray(mask.resize((mw, mh), Image.LANCZOS), dtype=np.float32) / 255.0
    if colour_img is None:
        colour = np.ones((channels, mh, mw), dtype=np.float32)
    else:
        arr = np.asarray(colour_img.resize((mw, mh), Image.LANCZOS), dtype=np.float32) / 255.0
        colour = arr.transpose(2, 0, 1) if arr.ndim == 3 else arr[None]
    alpha_t = torch.from_numpy(alpha)[None].clamp(0, 1)
    return torch.from_numpy(np.ascontiguousarray(colour)).to(device), alpha_t.to(device)

