"""`make demo`'s own numbers beside the range the README states, and whether they fall inside.

    python benchmarks/demo_range.py runs/demo

The README's figures for the 80-epoch MNIST pair (`vaekit compare --data mnist --latent-dim 2
--epochs 80`) come from seeds 0-2 on AMD EPYC (bf16, no AMX) and Intel Xeon (bf16 with AMX); they
are kept here, in one place, and the README quotes them. Exit status 0 either way: a number
outside the range is news about this machine, not a failed set-up.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import machine  # noqa: E402

# (low, high) over seeds 0-2 on the two CPU kinds above, as the README states them
FRECHET_RATIO = (2.3, 3.5)  # the AE's prior-sample Fréchet distance over the VAE's
# share of the VAE's test codes inside the prior's 3-sigma box: 98% at seed 0 on both CPUs, and
# 95.5-97.5% already after 6 epochs over seeds 0-4 on both numeric paths (benchmarks/margins.py)
VAE_WITHIN_3SIGMA = (0.95, 1.0)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")
    result = json.loads((folder / "compare.json").read_text())
    by_kind = {entry["kind"]: entry for entry in result["models"].values()}
    ae, vae = by_kind["ae"], by_kind["vae"]
    rows = [("Fréchet distance, AE / VAE prior samples",
             f"{ae['frechet_prior']:.0f} / {vae['frechet_prior']:.0f} = "
             f"{ae['frechet_prior'] / vae['frechet_prior']:.2f}x",
             ae["frechet_prior"] / vae["frechet_prior"], FRECHET_RATIO, "{:.1f}x"),
            ("VAE test codes within 3 sigma", f"{vae['latent']['within_3sigma']:.1%}",
             vae["latent"]["within_3sigma"], VAE_WITHIN_3SIGMA, "{:.0%}")]
    print(f"make demo on {machine()}:")
    inside = True
    for name, shown, value, (low, high), fmt in rows:
        ok = low <= value <= high
        inside &= ok
        print(f"  {name}: {shown}  (README: {fmt.format(low)}-{fmt.format(high)}: "
              f"{'inside' if ok else 'OUTSIDE'})")
    # the AE's share depends on where its codes happen to fall (44% at seed 0): shown, not ranged
    print(f"  AE test codes within 3 sigma: {ae['latent']['within_3sigma']:.1%}")
    print("  all inside the README's ranges" if inside else
          "  outside the README's ranges on this machine: bf16 results differ between CPU kinds; "
          "please report it with the lines above")


if __name__ == "__main__":
    main()
