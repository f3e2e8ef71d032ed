"""The synthetic APOGEE DR14 survey (the project's embedded default data).

* :mod:`.population` true labels of the 277,371 allStar rows (a Galactic population on the
  real positions and Gaia parallaxes, 18 open and globular clusters, field
  second-generation stars);
* :mod:`.catalog` the allStar table (ASPCAP-like measured labels, flags, survey design),
  the truth table and the cluster membership table (Meszaros et al. 2013 layout);
* :mod:`.spectra`, :mod:`.lines`, :mod:`.instrument` the forward model of the spectra;
* :mod:`.validation` the forward model's Jacobian, Cramer-Rao bounds and a ridge baseline;
* :mod:`.source` the synthetic survey as an in-memory survey source;
* :mod:`.export` the export as a SAS mirror (the ``synth`` command,
  :mod:`astronn_paper.dataset.export`, picks the rows).

The generator only: it is read through :class:`.source.SyntheticSource` (the survey-source
interface), and the astronomy that real data needs too (positions, the
Meszaros table layout) lives in :mod:`astronn_paper.survey`.
"""
