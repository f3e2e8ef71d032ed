"""The survey's leaf types: the arrays of one apStar or aspcapStar file, and why a spectrum
cannot be used (:class:`SpectrumError`, with a reason from :data:`SKIP_REASONS`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from astronn_paper import apogee
from astronn_paper.config import UserError

#: Why a star can be skipped (``SpectrumError.reason``).
SKIP_REASONS = (
    "missing_file", "bad_checksum", "corrupt_fits", "bad_layout", "all_masked", "nonfinite",
    "bad_error", "failed_normalisation", "duplicate",
)


class SpectrumError(UserError):
    """A spectrum that cannot be used; ``reason`` in :data:`SKIP_REASONS`, ``path`` the file.

    A :class:`~astronn_paper.config.UserError`: the file is the user's data, so one that ends
    a command (the allStar file of a mirror, say) gives one line, not a traceback."""

    def __init__(self, reason: str, message: str, path: str | None = None):
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.path = path


class MirrorFileMissing(SpectrumError, FileNotFoundError):
    """A file absent from the mirror: the message names the path and SDSS_LOCAL_SAS_MIRROR."""

    def __init__(self, path: str):
        super().__init__(
            "missing_file",
            f"{path} does not exist. The SAS mirror is taken from the environment variable "
            "SDSS_LOCAL_SAS_MIRROR; point it at a DR14 mirror (or export the synthetic survey "
            "with 'python -m astronn_paper synth --mirror DIR'). Nothing is downloaded.",
            path,
        )


@dataclass
class ApStar:
    """The arrays of one apStar file, in the file's own row layout.

    ``flux``, ``err`` (float32) and ``bitmask`` (int) have shape (nrows, 8575): one row when
    NVISITS == 1, else 2 + NVISITS rows (pixel-weighted combined, global-weighted combined,
    then the visits).
    """

    apogee_id: str
    flux: np.ndarray
    err: np.ndarray
    bitmask: np.ndarray
    header: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def nvisits(self) -> int:
        return int(self.header.get("NVISITS", 1 if self.flux.shape[0] == 1 else self.flux.shape[0] - 2))

    def combined(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flux, err, bitmask) of the combined spectrum the paper uses (1-d, 8575)."""
        r = apogee.combined_row(self.nvisits, self.flux.shape[0])
        return self.flux[r], self.err[r], self.bitmask[r]

    def visits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flux, err, bitmask) of the individual visits, shape (NVISITS, 8575)."""
        rows = apogee.visit_rows(self.nvisits, self.flux.shape[0])
        return self.flux[rows], self.err[rows], self.bitmask[rows]

    def visit_snr(self) -> np.ndarray:
        """SNR of each visit from the SNRVIS<n> header keys (NaN where absent)."""
        n = self.nvisits
        return np.array([float(self.header.get(f"SNRVIS{i + 1}", np.nan)) for i in range(n)])


@dataclass
class AspcapStar:
    """ASPCAP-normalised spectrum of one star (aspcapStar HDU 1 and 2, 8575 pixels)."""

    apogee_id: str
    flux: np.ndarray
    err: np.ndarray
    header: dict = field(default_factory=dict)
    path: str | None = None
