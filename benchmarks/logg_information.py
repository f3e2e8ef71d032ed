"""How much log g information the synthetic spectra carry (the network's log g shortfall).

Two numbers beside the network's 0.12 dex against the truth:

* the Cramér-Rao bound of log g from the forward model at the high-SNR test set's SNR (140),
  all 20 labels free, median over training-box giants with [Fe/H] > -1 (and the bound with
  every other label known, to show how much the abundances blur it);
* a ridge regression of log g (and Teff) on the continuum-normalised flux, trained on giants
  at SNR 300 with labels as noisy as the ASPCAP-like ones, tested at SNR 140.

    python benchmarks/logg_information.py [--stars 30] [--train 7200] [--test 2000]   (~15 min)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from astronn_paper.synth import spectra, validation

#: Scatter of the ASPCAP-like labels about the truth on the default test set.
LABEL_NOISE = {"teff": 35.0, "logg": 0.062}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stars", type=int, default=30, help="stars of the Cramér-Rao median")
    ap.add_argument("--train", type=int, default=7200)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--snr", type=float, default=140.0)
    ap.add_argument("--seed", type=int, default=2019)
    a = ap.parse_args()
    t0 = time.time()
    lab = validation.training_box_giants(a.stars, a.seed)
    b = [validation.fisher_bounds(t, g, x, a.snr) for t, g, x in zip(lab["teff"], lab["logg"], lab["xh"])]
    med = {k: float(np.median([d[k] for d in b])) for k in b[0]}
    print(f"Cramér-Rao bounds at SNR {a.snr:g}, median over {a.stars} giants ({time.time() - t0:.0f} s):")
    print(f"  Teff {med['teff']:.1f} K, logg {med['logg']:.3f} dex (every other label known: "
          f"{med['logg|rest']:.4f}), Fe {med['Fe']:.4f}, Mg {med['Mg']:.4f}")
    n = a.train + a.test
    lab = validation.training_box_giants(n, a.seed + 1)
    x = spectra.render(lab["teff"], lab["logg"], lab["xh"], lab["vmicro"])
    ftr, _ = validation.observe_and_normalise(x[:a.train], 300.0, lab["teff"][:a.train], 1)
    fte, _ = validation.observe_and_normalise(x[a.train:], a.snr, lab["teff"][a.train:], 2)
    rng = np.random.default_rng(a.seed)
    print(f"ridge regression on the flux, {a.train} training giants at SNR 300 with noisy labels, "
          f"{a.test} test giants at SNR {a.snr:g} ({time.time() - t0:.0f} s):")
    for name, unit in (("teff", "K"), ("logg", "dex")):
        y = lab[name]
        ytr = y[:a.train] + LABEL_NOISE[name] * rng.standard_normal(a.train)
        best = min((validation.ridge_scatter(ftr, ytr, fte, y[a.train:], lam), lam)
                   for lam in (0.3, 1.0, 3.0, 10.0))
        print(f"  {name}: scatter against the truth {best[0]:.3g} {unit} (penalty {best[1]:g})")


if __name__ == "__main__":
    main()
