"""The synthetic APOGEE DR14 survey (the project's embedded default data).

* :mod:`.population` true labels of the 277,371 allStar rows (a Galactic population on the
  real positions and Gaia parallaxes, 18 open and globular clusters, field
  second-generation stars);
* :mod:`.catalog` the allStar table (ASPCAP-like measured labels, flags, survey design),
  the truth table and the cluster membership table (Meszaros et al. 2013 layout);
* :mod:`.spectra`, :mod:`.lines`, :mod:`.instrument` the forward model of the spectra;
* :mod:`.survey` the in-memory :class:`~astronn_paper.survey.source.SurveySource`;
* :mod:`.export` / :mod:`.cli` ``python -m astronn_paper synth``: export as a SAS mirror.
"""
