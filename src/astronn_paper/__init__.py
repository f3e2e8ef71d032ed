"""Reproducible companion of Leung & Bovy (2019), *Deep learning of multi-element
abundances from high-resolution spectroscopic data* (MNRAS 483, 3255; arXiv:1808.04428).

The package holds the logic; the top-level notebooks tell the science. Its rooms follow
the chain, each stage reading the one before only through that stage's API::

    survey ──► dataset ──► model ──► analysis ──► figures      (pipeline runs the notebooks)
      ▲
    synth (the synthetic survey behind the same survey interface)

* :mod:`~astronn_paper.config`    profiles (ci / default / paper), paths, seeds
* :mod:`~astronn_paper.apogee`    APOGEE constants (targets, elements, pixel grid, bits, windows)
* :mod:`~astronn_paper.paper`     the paper's published numbers
* :mod:`~astronn_paper.cache`     fingerprints, atomic writes, chunked resume, version stamps
* :mod:`~astronn_paper.progress`  the progress bars of the long steps (one tqdm factory)
* :mod:`~astronn_paper.survey`    survey sources (a SAS mirror on disk or the synthetic survey),
  FITS formats, positions, the Meszaros cluster table, normalisation
* :mod:`~astronn_paper.synth`     the synthetic DR14 survey generator (population, lines,
  spectra, instrument, allStar catalog, export to a SAS mirror)
* :mod:`~astronn_paper.dataset`   the paper's cuts, compile, and the HDF5 store
* :mod:`~astronn_paper.model`     training, the fast MC-dropout engine, prediction caches,
  ``predict`` on files
* :mod:`~astronn_paper.analysis`  one module per notebook: the numbers behind each figure
* :mod:`~astronn_paper.figures`   one module per notebook, one function per figure
* :mod:`~astronn_paper.pipeline`  runs the notebooks in order (papermill), caching stages
* :mod:`~astronn_paper.cli`       ``python -m astronn_paper <command>``
"""

from astronn_paper.config import quiet_tensorflow as _quiet_tensorflow

__version__ = "0.1.0"

_quiet_tensorflow()   # before any TensorFlow import: keeps the notebooks' stderr readable
