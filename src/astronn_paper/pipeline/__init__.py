"""Running the chain: the notebooks in order.

* :mod:`.stages`     ``python -m astronn_paper run``: papermill per notebook, stages cached by
  fingerprint; ``python -m astronn_paper test``: the README's test command
* :mod:`.schedule`   child processes run a few at a time, each after those it reads from
* :mod:`.notebooks`  the ``.ipynb`` files built from their percent-format sources
  (``tools/notebooks/*.py``, read with jupytext), and the checks of their outputs and prose
* :mod:`.reproduce`  ``python -m astronn_paper test --reproduce``: the committed notebooks
  re-executed under nbval and compared (:mod:`.nbval_tolerance`: one unit in a last digit)
"""
