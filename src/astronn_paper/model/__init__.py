"""The networks: training them, running them fast, and applying them to files.

* :mod:`.train`        the paper's two networks trained with astroNN (cached model folders)
* :mod:`.engine`       the fast MC-dropout inference engine (astroNN's ``.test()`` statistics)
* :mod:`.kernels`      its compiled element-wise kernels (numba); :mod:`.kernels_conv` the fused
  convolution kernel (generated); :mod:`.blas` precision detection and the bf16/fp32 products
* :mod:`.predictions`  predictions of a model on a compiled dataset, cached by fingerprint
* :mod:`.predict`      ``python -m astronn_paper predict``: labels of apStar/aspcapStar files
* :mod:`.domain`       the out-of-domain score (``domain.npz`` in the model folder)
* :mod:`.bench`        ``python -m astronn_paper bench``: inference, memory, training speed
"""
