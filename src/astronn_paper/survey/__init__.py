"""The survey: where the chain reads allStar and apStar/aspcapStar spectra from.

* :mod:`.source`     the survey-source interface and its leaf types (ApStar, AspcapStar,
  SpectrumError)
* :mod:`.release`    the DR14 and DR17 SAS layouts and apStar row rules
* :mod:`.formats`    the FITS formats (allStar, apStar, aspcapStar, .sha1sum), read and written
* :mod:`.mirror`     a SAS mirror on disk (real, or the synthetic survey exported)
* :mod:`.synthetic`  the synthetic survey, generated in memory (:mod:`astronn_paper.synth`)
* :mod:`.normalise`  the paper's continuum normalisation and the ASPCAP-like one
* :mod:`.positions`  real positions and Gaia parallaxes of the allStar rows, galactocentric
  coordinates
* :mod:`.meszaros`   the Meszaros et al. (2013) cluster membership table layout

:func:`open_source` picks the backend.
"""
from __future__ import annotations

import os

from astronn_paper import config
from astronn_paper.survey.source import SurveySource


#: The data release of a mirror source opened without one (dr14 or dr17; default dr14).
RELEASE_ENV = "ASTRONN_PAPER_RELEASE"


def open_source(spec: dict | str | None = None, profile=None) -> SurveySource:
    """Open a survey source.

    ``spec`` is ``"synthetic"`` (the default), ``"mirror"`` (``SDSS_LOCAL_SAS_MIRROR``), or a
    dict from :meth:`SurveySource.spec` (a mirror's may name its ``"release"``, dr14 or dr17;
    without one, ``ASTRONN_PAPER_RELEASE``, else dr14). ``None`` reads ``ASTRONN_PAPER_SOURCE``.
    """
    if spec is None:
        spec = os.environ.get("ASTRONN_PAPER_SOURCE", "synthetic")
    if isinstance(spec, str):
        spec = {"kind": spec}
    kind = spec.get("kind")
    if kind == "synthetic":
        from astronn_paper.survey.synthetic import SyntheticSource

        p = config.get_profile(profile)
        return SyntheticSource(seed=spec.get("seed", p.survey_seed))
    if kind == "mirror":
        from astronn_paper.survey.mirror import MirrorSource

        return MirrorSource(spec.get("root"), columns=spec.get("columns"),
                            release=spec.get("release") or os.environ.get(RELEASE_ENV) or "dr14")
    raise ValueError(f"unknown survey source {spec!r}: use 'synthetic' or 'mirror'")
