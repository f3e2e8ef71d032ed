"""The survey: where the chain reads allStar and apStar/aspcapStar spectra from.

* :mod:`.source`     the survey-source interface and its leaf types (ApStar, AspcapStar,
  SpectrumError)
* :mod:`.release`    the DR14 and DR17 SAS layouts and apStar row rules
* :mod:`.formats`    the FITS formats (allStar, apStar, aspcapStar, .sha1sum), read and written
* :mod:`.mirror`     a SAS mirror on disk (real, or the synthetic survey exported)
* :mod:`.normalise`  the paper's continuum normalisation and the ASPCAP-like one
* :mod:`.positions`  real positions and Gaia parallaxes of the allStar rows, galactocentric
  coordinates
* :mod:`.meszaros`   the Meszaros et al. (2013) cluster membership table layout

The synthetic survey, generated in memory, is the generator's
(:mod:`astronn_paper.synth.source`); :func:`astronn_paper.dataset.sources.open_source` picks
the backend.
"""
from __future__ import annotations
