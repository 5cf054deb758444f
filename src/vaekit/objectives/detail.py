"""Image terms that care about detail, beyond a per-pixel error: the focal frequency loss, SSIM
and MS-SSIM sized for small images, and the high-frequency share of a spectrum.

They compare images in [0, 1] of shape (B, C, H, W) and return one value per image (B,), so
they serve both as training terms, in float32 (vaekit.objectives.sharp), and as measurements
(SSIM in float64: `vaekit evaluate`, the denoising scores, benchmarks/faces.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Wang, Simoncelli & Bovik (2003): the five scales' weights, coarse last
MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
C1, C2 = 0.01 ** 2, 0.03 ** 2  # SSIM's stabilisers for a data range of 1
MS_WINDOW = 7  # MS-SSIM's Gaussian window on small images (SSIM's usual 11 leaves 28x28 two scales)


def focal_frequency(pred: torch.Tensor, target: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Focal frequency loss (Jiang et al. 2021) per image: (B, C, H, W) x2 -> (B,).

    The squared distance of the two images' 2-D spectra at every frequency, weighted by that
    distance to the power ``alpha``, normalised to at most 1 in each image and channel and held
    constant (detached): the frequencies the model gets most wrong weigh most, so the fine
    detail a pixel loss averages away is not given up. The spectra are orthonormal, so with
    equal weights the sum would be the summed squared error (Parseval): the term is on the
    scale of the per-image reconstruction sums.
    """
    diff = torch.fft.fft2(pred.float(), norm="ortho") - torch.fft.fft2(target.float(), norm="ortho")
    distance = diff.real.square() + diff.imag.square()  # (B, C, H, W)
    with torch.no_grad():
        weight = distance.sqrt().pow(alpha)
        weight = weight / weight.amax(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
    return (weight * distance).flatten(1).sum(1)


def gradient_spectrum(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The squared distance of the amplitude spectra of the two images' gradients, phases left
    out: (B, C, H, W) x2 -> (B,).

    A pixel loss (and the focal frequency loss, which compares complex spectra) is least when the
    detail a code cannot place is left out: a hair or an eyelid drawn a pixel off costs twice, so
    the decoder blurs. Amplitudes say how much detail there is at each frequency and not where,
    so this term asks for detail of the originals' strength wherever it lands. The gradient's
    spectrum is the image's times 2 pi |f| (f in cycles per pixel): the fine detail a blurred
    reconstruction lacks counts, not the coarse shape the pixel terms already match.

    Each image is mirrored into a (2H, 2W) tile first, the even extension a cosine transform
    assumes, so that the spectrum has no seam where the periodic transform joins the top row to
    the bottom one. On ORL the seam's energy made the decoder draw stripes and bright corner
    pixels to supply it. The sum is divided by the 4 copies: it is then at most the summed
    squared error of the gradients (the triangle inequality at each frequency, then Parseval), on
    the scale of the other per-image terms.
    """
    def mirrored_amplitude(x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x, x.flip(-1)], -1).float()
        f = torch.fft.fft2(torch.cat([x, x.flip(-2)], -2), norm="ortho")
        return (f.real.square() + f.imag.square() + 1e-12).sqrt()  # the epsilon: a finite gradient at 0

    fy = torch.fft.fftfreq(2 * pred.shape[-2], device=pred.device).view(-1, 1)
    fx = torch.fft.fftfreq(2 * pred.shape[-1], device=pred.device).view(1, -1)
    derivative = (2 * math.pi) ** 2 * (fy.square() + fx.square())  # (2H, 2W)
    distance = (mirrored_amplitude(pred) - mirrored_amplitude(target)).square() * derivative
    return distance.flatten(1).sum(1) / 4


def _gaussian_taps(size: int, sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)  # (size,), sums to 1


def _band(n: int, taps: torch.Tensor) -> torch.Tensor:
    """The valid filtering of a length-``n`` signal by ``taps`` (s,) as a matrix (n - s + 1, n)."""
    s = len(taps)
    rows = torch.arange(n - s + 1, device=taps.device)
    band = torch.zeros(n - s + 1, n, dtype=taps.dtype, device=taps.device)
    band[rows[:, None], rows[:, None] + torch.arange(s, device=taps.device)] = taps
    return band


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, taps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The SSIM map and its contrast-structure factor, each (N, C, H - s + 1, W - s + 1), with the
    separable window ``taps`` (s,) fitted where it fits. The five local moments are blurred
    together, as two matrix products with banded matrices: as single-channel convolutions they ran
    16x slower on CPU (MS-SSIM's forward and backward on 32 RGB faces of 128x128: 2.2 s against
    0.14 s, AMD EPYC)."""
    n, c, h, w = x.shape
    planes = torch.stack([x, y, x * x, y * y, x * y], 1)  # (N, 5, C, H, W)
    blurred = _band(h, taps) @ planes @ _band(w, taps).T  # (N, 5, C, H - s + 1, W - s + 1)
    mu_x, mu_y, xx, yy, xy = blurred.unbind(1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    cs = (2 * cov + C2) / (var_x + var_y + C2)
    return (2 * mu_x * mu_y + C1) / (mu_x**2 + mu_y**2 + C1) * cs, cs


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5,
         chunk: int = 2048) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004), for pixel values in [0, 1].

    a, b: (N, C, H, W) -> (N,) float64. The standard setting: an 11x11 Gaussian window with
    sigma 1.5, K1 = 0.01, K2 = 0.03, the SSIM map averaged over the positions where the window
    fits (images smaller than the window use a window of their size) and over channels, ``chunk``
    images at a time.
    """
    size = min(window, a.shape[-2], a.shape[-1])
    # a measurement: float64, so that var = E[x^2] - mu^2 does not cancel to noise
    taps = _gaussian_taps(size, sigma, a.device, torch.float64)
    out = [_ssim_maps(a[s : s + chunk].double(), b[s : s + chunk].double(), taps)[0].flatten(1).mean(1)
           for s in range(0, len(a), chunk)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def ms_scales(height: int, width: int, window: int = MS_WINDOW) -> int:
    """How many scales MS-SSIM uses on an image: as many of the five as keep the coarsest at
    least one window wide (28 -> 3, 64 -> 4, 128 -> 5; at least 1)."""
    side = min(height, width)
    return max(1, min(len(MS_WEIGHTS), int(math.floor(math.log2(max(side / window, 1)))) + 1))


def ms_ssim(pred: torch.Tensor, target: torch.Tensor, window: int = MS_WINDOW,
            sigma: float = 1.5) -> torch.Tensor:
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) per image, (B, C, H, W) x2 -> (B,).

    Sized for small images: a 7-tap window, and only the scales the image holds (``ms_scales``)
    with the standard weights of those scales renormalised to sum to 1. The contrast-structure
    term of every scale but the coarsest, and the full SSIM of the coarsest, are combined as a
    weighted geometric mean; values are clamped at 1e-6 first, so a negative term (possible for
    anti-correlated images) neither makes a NaN nor a gradient.
    """
    pred, target = pred.float(), target.float()
    size = min(window, pred.shape[-2], pred.shape[-1])
    taps = _gaussian_taps(size, sigma, pred.device)
    levels = ms_scales(*pred.shape[-2:], window=size)
    weights = torch.tensor(MS_WEIGHTS[:levels], device=pred.device)
    weights = weights / weights.sum()
    logs = []
    for level in range(levels):
        full, cs = (m.flatten(1).mean(1) for m in _ssim_maps(pred, target, taps))
        logs.append((full if level == levels - 1 else cs).clamp(min=1e-6).log())
        if level < levels - 1:
            pred, target = F.avg_pool2d(pred, 2, ceil_mode=True), F.avg_pool2d(target, 2, ceil_mode=True)
    return torch.exp((torch.stack(logs, 1) * weights).sum(1))


def high_frequency_share(images: torch.Tensor, cutoff: float = 0.25) -> float:
    """The share of a set of images' spectral power above ``cutoff`` cycles per pixel (radial;
    0.25 is half the Nyquist frequency), each image's mean taken out: (N, C, H, W) -> a number
    in [0, 1]. Blur lowers it; a reconstruction that keeps the originals' detail keeps it."""
    x = images.float() - images.float().mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x, norm="ortho").abs().square().mean(dim=(0, 1))  # (H, W)
    fy = torch.fft.fftfreq(x.shape[-2]).abs().view(-1, 1)
    fx = torch.fft.fftfreq(x.shape[-1]).abs().view(1, -1)
    high = (fy.square() + fx.square()).sqrt() > cutoff
    return float(power[high].sum() / power.sum().clamp(min=1e-20))
