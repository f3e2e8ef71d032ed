"""Information content of the synthetic spectra, measured with The Cannon (issue 3).

Quadratic Cannon (analysis.cannon: TheCannon 0.7.3's model and test step) trained on synthetic training-box
giants at SNR 200, tested on held-out ones at SNR 150, both continuum-normalised the paper's
way. Prints the scatter per label against the issue's targets.

    python benchmarks/cannon_information.py [--train 2000] [--test 300] [--seed 2019]
"""
from __future__ import annotations

import argparse
import time
import warnings

from astronn_paper.analysis import cannon
from astronn_paper.synth import validation

TARGETS = {"teff": 50.0, "logg": 0.1, "Fe": 0.05, "Mg": 0.05, "Si": 0.05, "Ni": 0.05}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2019)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.time()
    r = cannon.information(n_train=a.train, n_test=a.test, seed=a.seed)
    meta = r.pop("_meta")
    print(f"The Cannon (quadratic, {len(validation.DISTINCT_LABELS)} labels): train {meta['n_train']} "
          f"giants at SNR {meta['snr_train']:.0f}, test {meta['n_test']} at SNR {meta['snr_test']:.0f} "
          f"({time.time() - t0:.0f} s)")
    print(f"{'label':6s} {'std':>8s} {'1.48MAD':>8s} {'bias':>8s}  target")
    for k, v in r.items():
        tgt = TARGETS.get(k)
        flag = "" if tgt is None else (f"<= {tgt:g}  {'OK' if v['std'] <= tgt else 'MISSED'}")
        kind = " (weak-line)" if k in validation.WEAK_LINE_ELEMENTS else ""
        print(f"{k:6s} {v['std']:8.3f} {v['mad']:8.3f} {v['bias']:8.3f}  {flag}{kind}")
    weak = max(r[k]["std"] for k in validation.WEAK_LINE_ELEMENTS)
    weak_min = min(r[k]["std"] for k in validation.WEAK_LINE_ELEMENTS)
    strong = max(r[k]["std"] for k in validation.STRONG_LINE_ELEMENTS)
    print(f"weak-line elements {weak_min:.3f}-{weak:.3f} dex vs strong-line (Fe, Mg, Si, Ni) <= {strong:.3f} dex: "
          f"ratio of best weak to worst strong {weak_min / strong:.1f}")


if __name__ == "__main__":
    main()
