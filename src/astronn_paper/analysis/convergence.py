"""Whether a training run converged, read from its loss history, and the verdict's wording of it."""
from __future__ import annotations

from dataclasses import dataclass

from astronn_paper.analysis.verdicts import num

import numpy as np


@dataclass(frozen=True)
class Convergence:
    """One run's validation loss around the epoch ``slow`` (from 1) from which the learning rate is
    negligible (None if it never gets there); ``spread`` is the epoch-to-epoch standard deviation
    of the validation loss from ``slow`` on (over the last third of the run when ``slow`` is None)."""
    epochs: int
    slow: int | None
    at_slow: float
    last: float
    best: float
    best_epoch: int
    spread: float
    train_last: float
    tail_best: float

    @property
    def gap(self) -> float:
        """|final training loss − final validation loss|."""
        return abs(self.train_last - self.last)

    @property
    def settled(self) -> bool:
        """After ``slow`` the validation loss ends within a spread of its value there and never falls
        more than two spreads below it (a fluctuation, not a late improvement)."""
        return (self.slow is not None and abs(self.last - self.at_slow) <= self.spread
                and self.at_slow - self.tail_best <= 2 * self.spread)


def convergence(history, slow: int | None) -> Convergence:
    """:class:`Convergence` of an astroNN ``training_history`` (columns ``output_loss`` and
    ``val_output_loss`` per epoch)."""
    val = history["val_output_loss"].to_numpy(float)
    start = slow - 1 if slow is not None else len(val) - max(2, len(val) // 3)
    tail = val[max(start, 0):]
    return Convergence(epochs=len(val), slow=slow, at_slow=float(val[max(start, 0)]),
                       last=float(val[-1]), best=float(val.min()), best_epoch=int(val.argmin()) + 1,
                       spread=float(tail.std()), train_last=float(history["output_loss"].to_numpy()[-1]),
                       tail_best=float(tail.min()))


def sentence(name: str, c: Convergence) -> str:
    """One markdown sentence on a run's last epochs, its numbers included."""
    if c.slow is None:
        return (f"The {name} network's learning rate never becomes negligible in its {c.epochs} epochs: "
                f"its validation loss ends at {num(c.last)} (best {num(c.best)}, epoch {c.best_epoch}), "
                f"so this run says nothing about convergence.")
    move = (f"its validation loss goes from {num(c.at_slow)} at epoch {c.slow} to {num(c.last)} at epoch "
            f"{c.epochs}, with its best, {num(c.best)}, at epoch {c.best_epoch}; its epoch-to-epoch "
            f"spread from epoch {c.slow} on is {num(c.spread)}")
    if c.settled:
        return f"The {name} network is done by epoch {c.slow}: {move}, so the last epochs change nothing."
    return (f"The {name} network still moves after epoch {c.slow}: {move}. One run cannot tell a late "
            f"improvement from a fluctuation, but its last epochs are not idle.")
