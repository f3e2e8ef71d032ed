"""The training and test sets: the paper's cuts, the compile step and the HDF5 store.

* :mod:`.selection`  which allStar rows (the paper's cuts) and their ASPCAP labels
* :mod:`.build`      compile a selection from a survey source (parallel, resumable, atomic);
  :func:`build_standard_sets` is the cached entry point of the notebooks and the pipeline
* :mod:`.store`      the only reader and writer of the HDF5 format (:func:`load`, :func:`info`)

The names below are the stage's public API, re-exported for the notebooks.
"""
from astronn_paper.dataset.build import (COMPILE_VERSION, CompileReport, build_standard_sets,
                                         compile_dataset, input_fingerprint, standard_path)
from astronn_paper.dataset.selection import (Selection, labels_from_allstar, select,
                                             selection_mask, standard_selections)
from astronn_paper.dataset.store import KINDS, fingerprint, info, load, load_columns

__all__ = ["COMPILE_VERSION", "CompileReport", "KINDS", "Selection", "build_standard_sets",
           "compile_dataset", "fingerprint", "info", "input_fingerprint", "labels_from_allstar",
           "load", "load_columns", "select", "selection_mask", "standard_path",
           "standard_selections"]
