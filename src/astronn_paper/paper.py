"""The paper's published numbers (``data/paper_results.json``), for side-by-side tables."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def results() -> dict:
    """Everything transcribed from Leung & Bovy (2019); see the file's ``source`` key."""
    return json.loads(resources.files("astronn_paper").joinpath("data/paper_results.json").read_text())


def scatter(column: str) -> dict[str, float]:
    """Published scatter per target for one column of the paper's table, e.g.
    ``"censored_visits_of_training_stars"``, ``"bcnn_highsnr_test"``,
    ``"censored_aspcap_normalised_highsnr_test"``."""
    table = results()["scatter"]
    if column not in table:
        raise KeyError(f"no published column {column!r}; have {sorted(table)}")
    return dict(table[column])


#: Published values that are placements inside a published range, not single numbers (the
#: JSON's ``_note`` of each section says which range).
APPROXIMATE = {"precision_snr50_visit_vs_combined": ("C", "N", "Al", "Ti2")}


def approximate(section: str) -> tuple[str, ...]:
    """Targets whose value in ``section`` of :func:`results` is approximate."""
    return APPROXIMATE.get(section, ())
