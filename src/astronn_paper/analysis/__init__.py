"""The numbers behind each notebook: one module per notebook, named like its
:mod:`astronn_paper.figures` twin.

* :mod:`.inference_highsnr`  high-SNR test set: errors, calibration, out-of-box, Jacobian
* :mod:`.inference_visits`   individual visits: precision versus SNR
* :mod:`.inference_bcnn`     the full-spectrum network beside the censored one
* :mod:`.clusters`           open and globular cluster benchmark
* :mod:`.catalog`            the whole-survey catalog and its Milky Way maps
* :mod:`.cannon`             The Cannon comparison catalog
* :mod:`.aspcap_norm`        ASPCAP- versus continuum-normalised training
* :mod:`.small_data`         scatter versus training-set size
* :mod:`.scoring`            a network scored on a held-out set (shared by the studies)
* :mod:`.response`           the element response test
* :mod:`.decorrelated`       the censored network trained without the population's correlations
* :mod:`.out_of_domain`      spectra rendered with other physics, scored for the domain flag
* :mod:`.metrics`            scatter, bias, binned statistics, training box (shared)
* :mod:`.isochrones`         PARSEC isochrones
* :mod:`.results`            each notebook's numbers as JSON
* :mod:`.commands`           the ``catalog``, ``cannon`` and ``response`` commands
"""
