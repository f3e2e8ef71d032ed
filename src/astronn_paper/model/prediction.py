"""What the inference engine returns: :class:`Prediction`, N spectra's labels and their three
uncertainties, with its flat-column and astropy-table exports (:data:`LABEL_COLUMNS` says what
each column holds)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The four columns of one label in :meth:`Prediction.to_dict` (name suffix -> what it holds),
#: all in the label's unit.
LABEL_COLUMNS = {
    "": "MC-dropout mean",
    "_err": "total uncertainty, a standard deviation: _err**2 = _err_model**2 + _err_predictive**2",
    "_err_model": "model (epistemic) uncertainty: standard deviation over the MC-dropout passes",
    "_err_predictive": "predictive (aleatoric) uncertainty: the standard deviation the network "
                       "predicts for the spectrum (its variance output, averaged over the passes)",
}



def label_column_description(label: str, suffix: str = "") -> str:
    """What the column ``label + suffix`` of :meth:`Prediction.to_dict` holds, in words."""
    from astronn_paper import apogee

    if not suffix:
        return f"{apogee.TARGET_DESCRIPTIONS.get(label, label)} ({LABEL_COLUMNS['']})"
    return f"{apogee.TARGET_TEXT.get(label, label)} {LABEL_COLUMNS[suffix]}"


@dataclass
class Prediction:
    """Labels and uncertainties of N spectra (denormalised, in the labels' units).

    ``mean`` is the MC-dropout mean; ``total``, ``model`` (epistemic, the MC standard
    deviation) and ``predictive`` (aleatoric, from the network's variance head) are standard
    deviations with ``total**2 = model**2 + predictive**2``, exactly as astroNN's
    ``.test()`` returns them.
    """

    mean: np.ndarray
    total: np.ndarray
    model: np.ndarray
    predictive: np.ndarray
    targetname: tuple[str, ...]
    meta: dict = field(default_factory=dict)
    #: with ``return_samples=True``: every pass's output (N, mc, n_labels), denormalised
    samples: np.ndarray | None = None
    #: with ``return_samples=True``: every pass's log aleatoric variance (N, mc, n_labels),
    #: log of the variance in the labels' units squared
    samples_logvar: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    @property
    def uncertainties(self) -> dict[str, np.ndarray]:
        """``{'total', 'model', 'predictive'}`` as astroNN's ``.test()`` returns them."""
        return {"total": self.total, "model": self.model, "predictive": self.predictive}

    def as_astronn(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(predictions, uncertainties)``: the return value of astroNN's ``.test()``."""
        return self.mean, self.uncertainties

    def __getitem__(self, index) -> "Prediction":
        """The predictions of a subset of the spectra (index, slice or boolean mask)."""
        def pick(a, nd=2):
            return None if a is None else a[index] if np.ndim(a[index]) == nd else a[index][None]
        return Prediction(pick(self.mean), pick(self.total), pick(self.model),
                          pick(self.predictive), self.targetname, dict(self.meta),
                          pick(self.samples, 3), pick(self.samples_logvar, 3))

    def column(self, name: str, kind: str = "mean") -> np.ndarray:
        """One label's ``mean`` / ``total`` / ``model`` / ``predictive`` column by name."""
        j = self.targetname.index(name)
        return getattr(self, kind)[:, j]

    def to_dict(self, ids=None) -> dict[str, np.ndarray]:
        """Flat columns: ``<label>``, ``<label>_err`` (total), ``<label>_err_model``,
        ``<label>_err_predictive`` for each label, preceded by ``id`` if ids are given."""
        out: dict[str, np.ndarray] = {}
        if ids is not None:
            ids = np.asarray(ids)
            if len(ids) != len(self):
                raise ValueError(f"{len(ids)} ids for {len(self)} predictions")
            out["id"] = ids
        for j, name in enumerate(self.targetname):
            out[name] = self.mean[:, j]
            out[f"{name}_err"] = self.total[:, j]
            out[f"{name}_err_model"] = self.model[:, j]
            out[f"{name}_err_predictive"] = self.predictive[:, j]
        return out

    def to_table(self, ids=None):
        """An :class:`astropy.table.Table` of :meth:`to_dict`, provenance in ``meta``, units
        from :data:`astronn_paper.apogee.TARGET_UNITS` where known."""
        from astropy.table import Table

        from astronn_paper import apogee

        table = Table(self.to_dict(ids))
        for name in self.targetname:
            unit = apogee.TARGET_UNITS.get(name)
            for suffix in LABEL_COLUMNS:
                col = table[name + suffix]
                col.description = label_column_description(name, suffix)
                if unit:
                    col.unit = unit
        table.meta.update({k: v for k, v in self.meta.items()
                           if isinstance(v, (str, int, float, bool))})
        return table
