"""Reproducible companion of Leung & Bovy (2019), *Deep learning of multi-element
abundances from high-resolution spectroscopic data* (MNRAS 483, 3255; arXiv:1808.04428).

The package holds the logic; the top-level notebooks tell the science.

* :mod:`astronn_paper.config`   profiles (ci / default / paper), paths, seeds
* :mod:`astronn_paper.apogee`   DR14 constants (targets, elements, grid, bits)
* :mod:`astronn_paper.survey.source`  survey sources: a SAS mirror on disk or the synthetic survey
* :mod:`astronn_paper.synth`    the synthetic DR14 survey
* :mod:`astronn_paper.dataset`  compile the HDF5 training/test sets and load them
* :mod:`astronn_paper.model.train`    the paper's two networks, trained with astroNN
* :mod:`astronn_paper.model.engine`    fast MC-dropout inference
* :mod:`astronn_paper.pipeline.stages` runs the notebooks in order, caching stages
"""

from astronn_paper.config import quiet_tensorflow as _quiet_tensorflow

__version__ = "0.1.0"

_quiet_tensorflow()   # before any TensorFlow import: keeps the notebooks' stderr readable
