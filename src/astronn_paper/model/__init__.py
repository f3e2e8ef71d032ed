"""The networks: training them, running them fast, and applying them to files.

* :mod:`.train`        the paper's two networks trained with astroNN (cached model folders)
* :mod:`.folder`       astroNN model folders checked and loaded offline, with clear errors
* :mod:`.architecture` the Keras graph of the two networks walked into the engine's arrays
* :mod:`.engine`       the fast MC-dropout inference engine (astroNN's ``.test()`` statistics)
* :mod:`.prediction`   what it returns: labels and their three uncertainties, as columns or a table
* :mod:`.kernels`      its compiled element-wise kernels (numba); :mod:`.kernels_conv` the fused
  convolution kernel (generated); :mod:`.blas` precision detection and the bf16/fp32 products
* :mod:`.predictions`  the one cache of network predictions (datasets, cluster members, the
  response test), keyed by the network, the engine and what else decides them
* :mod:`.predict`      ``python -m astronn_paper predict``: labels of apStar/aspcapStar files
* :mod:`.domain`       the out-of-domain score (``domain.npz`` in the model folder)
* :mod:`.bench`        ``python -m astronn_paper bench``: inference, memory, training speed
"""
