"""One FITS table writer for every product: each column has its unit, a short and a full
description; every keyword has a comment; the file is written atomically with checksums."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astronn_paper import fitstable


def _table():
    return Table({"APOGEE_ID": np.array(["2M00000002+7417074", "2M0001"]),
                  "teff": np.array([4700.5, 5012.25], np.float32),
                  "labels": np.arange(6, dtype=np.float32).reshape(2, 3),
                  "flag": np.array([0, 129], np.uint8)})


DESCRIBE = {"APOGEE_ID": ("identifier", "2MASS-style APOGEE identifier"),
            "teff": ("Teff", "effective temperature, MC-dropout mean"),
            "labels": ("three labels", "Teff, log g, [Fe/H] " + "in that order; " * 7 + "(a long one)"),
            "flag": ("flag bits", "1 Teff, 2 log g outside the training box; 128 not predicted")}


def test_every_column_and_keyword_describes_itself(tmp_path):
    hdu = fitstable.table_hdu(_table(), "LABELS", DESCRIBE, {"teff": "K", "labels": "K; dex"},
                              comments=["what the file is"])
    fitstable.card(hdu.header, "MODEL", "astroNN_0617_run001", "astroNN model folder")
    fitstable.card(hdu.header, "PROVNOTE", "x" * 60, "a comment too long to share the card")
    path = fitstable.write(tmp_path / "t.fits", [fits.PrimaryHDU(), hdu])
    with fits.open(path, checksum=True) as hdul:
        h, data = hdul[1].header, hdul[1].data
        assert hdul[1].name == "LABELS" and "CHECKSUM" in h and "DATASUM" in h
        assert [h[f"TTYPE{i}"] for i in range(1, 5)] == ["APOGEE_ID", "teff", "labels", "flag"]
        assert [h.comments[f"TTYPE{i}"] for i in range(1, 5)] == [d[0] for d in DESCRIBE.values()]
        assert [h[f"TCOMM{i}"] for i in range(1, 5)] == [d[1] for d in DESCRIBE.values()]
        assert h["TUNIT2"] == "K" and h["TUNIT3"] == "K; dex" and "TUNIT1" not in h
        assert h["TFORM3"] == "3E" and h.comments["TFORM3"] == "format: 32-bit float"
        assert h.comments["TFORM4"] == "format: 8-bit integer"
        commented = {c.split(":")[0] for c in h["COMMENT"]}
        assert "PROVNOTE" in commented and "what the file is" in h["COMMENT"]
        for c in h.cards:
            if c.keyword not in ("COMMENT", "CONTINUE", "") and not c.keyword.startswith("TCOMM"):
                assert c.comment or c.keyword in commented, c.keyword
        assert list(data["APOGEE_ID"]) == ["2M00000002+7417074", "2M0001"]
        np.testing.assert_array_equal(data["labels"], np.arange(6).reshape(2, 3))
        assert data["flag"][1] == 129 and data["teff"][1] == np.float32(5012.25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.fits"]      # no temporary left


def test_a_column_without_a_description_is_refused():
    with pytest.raises(KeyError, match="flag"):
        fitstable.table_hdu(_table(), "LABELS", {k: v for k, v in DESCRIBE.items() if k != "flag"})
