"""``predict`` on real-format files of both releases: DR17 apStar of 1 and 3 visits built from
the DR17 row rule with the survey.formats writers, DR14 apStar, an lco25m asStar, aspcapStar
of both releases; the model's provenance and the synthetic-survey warning; one clear line
and exit status 2 for every bad argument."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astronn_paper import apogee, config
from astronn_paper.cli import main
from astronn_paper.model import predict
from astronn_paper.survey import formats, release
from astronn_paper.survey.source import AspcapStar
from astronn_paper.synth.source import SyntheticSource
from astronn_paper.synth.export import as_release


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Synthetic stars of 1 and 3 visits written as DR14 and DR17 apStar files, one of them
    again as an lco25m asStar, aspcapStar files of both releases, and a file whose rows fit
    no rule."""
    d = tmp_path_factory.mktemp("spectra")
    src = SyntheticSource(seed=config.get_profile("ci").survey_seed)
    a = src.allstar()
    ok = (a["TELESCOPE"] == b"apo25m") & (a["SNR"] > 100) & (a["TEFF"] > 4200) & (a["TEFF"] < 5000)
    i1 = int(np.flatnonzero(ok & (a["NVISITS"] == 1))[0])
    i3 = int(np.flatnonzero(ok & (a["NVISITS"] == 3))[0])
    out = {"rows": {"one": i1, "three": i3}}
    for key, i in (("one", i1), ("three", i3)):
        star, row = src.apstar(i), a[i]
        aid = star.apogee_id
        for rel in ("dr14", "dr17"):
            layout = release.layout(rel)
            path = d / layout.apstar_relpath(aid, row["TELESCOPE"], row["LOCATION_ID"],
                                             row["FIELD"]).split("/")[-1]
            formats.write_apstar(path, as_release(star, row, rel), release=rel)
            out[f"{rel}_{key}"] = path
        asp = src.aspcapstar(i, apstar=star)
        for rel in ("dr14", "dr17"):
            path = d / release.layout(rel).aspcapstar_relpath(
                aid, row["TELESCOPE"], row["LOCATION_ID"], row["FIELD"]).split("/")[-1]
            formats.write_aspcapstar(path, AspcapStar(aid, asp.flux, asp.err, header=dict(asp.header)))
            out[f"aspcap_{rel}_{key}"] = path
    # the single-visit star observed from LCO: a DR17 asStar file, FIELD an LCO field name
    s17 = as_release(src.apstar(i1), a[i1], "dr17")
    s17.header["FIELD"] = "K04_083+13"
    out["lco"] = d / release.layout("dr17").apstar_relpath(s17.apogee_id, "lco25m", None,
                                                            "K04_083+13").split("/")[-1]
    formats.write_apstar(out["lco"], s17, release="dr17")
    # a star of the APO 1-m telescope, DR14 layout (folder apo1m/<FIELD>/)
    j = int(np.flatnonzero((a["TELESCOPE"] == b"apo1m") & (a["TEFF"] > 4200) & (a["TEFF"] < 5000))[0])
    out["rows"]["apo1m"] = j
    out["apo1m"] = d / ("apo1m-" + release.layout("dr14").apstar_relpath(
        a["APOGEE_ID"][j], "apo1m", a["LOCATION_ID"][j], a["FIELD"][j]).split("/")[-1])
    formats.write_apstar(out["apo1m"], src.apstar(j))
    # four rows with NVISITS = 1: no rule
    flux = np.ones((4, apogee.N_PIX), np.float32)
    bad = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(flux), fits.ImageHDU(flux),
                        fits.ImageHDU(np.zeros(flux.shape, np.int16))])
    bad[0].header["NVISITS"] = 1
    out["bad"] = d / "apStar-dr17-2M00000000+0000000.fits"
    bad.writeto(out["bad"])
    return out


def test_fixtures_follow_the_dr17_row_rule(files):
    with fits.open(files["dr17_one"]) as h:
        assert h[1].data.shape == (2, apogee.N_PIX) and h[0].header["NVISITS"] == 1
    with fits.open(files["dr17_three"]) as h:
        assert h[1].data.shape == (5, apogee.N_PIX) and h[0].header["NVISITS"] == 3
        assert "TELESCOP" not in h[0].header and h[0].header["FIELD"]
    with fits.open(files["dr14_one"]) as h:
        assert h[1].data.shape == (apogee.N_PIX,)                 # DR14: one 1-d row
    assert files["lco"].name.startswith("asStar-dr17-")
    assert files["aspcap_dr17_one"].name.startswith("aspcapStar-dr17-")


def test_both_releases_give_the_same_normalised_spectrum(files):
    for key, row, rule in (("one", 0, "dr17-single"), ("three", 1, "multi")):
        s14 = predict.read_spectrum(files[f"dr14_{key}"])
        s17 = predict.read_spectrum(files[f"dr17_{key}"])
        assert s17.kind == "apStar" and (s17.row, s17.rule) == (row, rule)
        assert s14.row == row and s14.rule == ("dr14-single" if key == "one" else "multi")
        np.testing.assert_array_equal(s14.spec, s17.spec)
        np.testing.assert_array_equal(s14.spec_err, s17.spec_err)
        assert s17.spec.shape == (apogee.N_PIX_GAP_DELETED,) and np.all(np.isfinite(s17.spec))
    one_m = predict.read_spectrum(files["apo1m"])
    assert one_m.kind == "apStar" and one_m.row == (0 if one_m.nvisits == 1 else 1)
    assert np.all(np.isfinite(one_m.spec))
    lco = predict.read_spectrum(files["lco"])
    np.testing.assert_array_equal(lco.spec, predict.read_spectrum(files["dr17_one"]).spec)
    for rel in ("dr14", "dr17"):
        s = predict.read_spectrum(files[f"aspcap_{rel}_three"])
        assert s.kind == "aspcapStar" and s.row == -1
    with pytest.raises(predict.InputError, match=r"4 rows with NVISITS=1 fit no apStar row rule "
                                                 r"\(dr14-single.*dr17-single.*\[bad_layout\]"):
        predict.read_spectrum(files["bad"])


def test_predict_reads_both_releases_and_prints_the_provenance(files, tmp_path, capsys):
    model = config.shipped_model_dir()
    names = ["dr17_one", "dr17_three", "dr14_one", "lco", "aspcap_dr17_three", "aspcap_dr14_one",
             "apo1m", "bad"]
    out = tmp_path / "labels.csv"
    status = predict.run([files[k] for k in names], model, mc=4, seed=3, out=out)
    err = capsys.readouterr().err
    assert status == predict.EXIT_BAD_INPUT                         # the bad file; the rest written
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "fit no apStar row rule" in lines[0] and "Traceback" not in err
    assert "model trained on: synthetic DR14 survey (seed 2019); profile default, seed " \
           "1918971306, 8,000 stars" in err
    assert err.count(predict.SYNTHETIC_WARNING) == 1
    t = Table.read(out, format="ascii.csv", comment="#")
    assert list(t["row"][:6]) == [0, 1, 0, 0, -1, -1] and t["kind"][6] == "apStar"
    assert list(t["row_rule"][:6].filled("")) == ["dr17-single", "multi", "dr14-single",
                                                  "dr17-single", "", ""]
    assert list(t["nvisits"][:4]) == [1, 3, 1, 1] and len(t) == 7
    assert np.all(np.isfinite(t["teff"])) and np.all(t["Fe_err"] > 0)
    # same spectrum, same position in the batch -> same labels: DR17 1-visit vs its DR14 twin
    again = tmp_path / "again.csv"
    assert predict.run([files["dr14_one"]], model, mc=4, seed=3, out=again) == 0
    assert Table.read(again, format="ascii.csv", comment="#")["teff"][0] == pytest.approx(t["teff"][0])
    text = out.read_text()
    for line in ("# trained_survey = synthetic DR14 survey (seed 2019)", "# trained_synthetic = True",
                 "# trained_profile = default", "# trained_seed = 1918971306",
                 "# trained_n_stars = 8000", "# warning = this model was trained on the synthetic"):
        assert line in text, line
    # FITS: the same provenance in the header
    fits_out = tmp_path / "labels.fits"
    assert predict.run([files["dr17_three"]], model, mc=4, seed=3, out=fits_out) == 0
    h = fits.getheader(fits_out, 1)
    assert h["TRSURVEY"] == "synthetic DR14 survey (seed 2019)" and h["TRSYNTH"]
    assert h["TRNSTARS"] == 8000 and h["TRPROFIL"] == "default"
    assert "not physical" in h["WARNING"]


def test_model_provenance_of_other_folders(tmp_path):
    import json

    info = predict.model_provenance(tmp_path)                # no provenance.json
    assert info["synthetic"] is None and "unknown" in info["survey"]
    assert predict.provenance_lines(info) == [
        "model trained on: unknown (no provenance.json); profile ?, seed ?, ? stars"]
    (tmp_path / "provenance.json").write_text(json.dumps({
        "profile": "paper", "seed": 7, "n_train": 900, "n_validation": 100,
        "source": {"kind": "mirror", "spec": {"kind": "mirror", "root": "/sas", "release": "dr17"}}}))
    info = predict.model_provenance(tmp_path)
    assert info["survey"] == "DR17 SAS mirror /sas" and info["release"] == "dr17"
    assert info["n_stars"] == 1000 and info["synthetic"] is None
    assert len(predict.provenance_lines(info)) == 1                 # no warning for real data
    # the dataset gone: the folder's note still tells a synthetic training set
    (tmp_path / "provenance.json").write_text(json.dumps({
        "profile": "ci", "seed": 5, "n_train": 90, "dataset": "gone/train.h5",
        "about": "Trained on the synthetic DR14 survey", "profile_settings": {"survey_seed": 11}}))
    info = predict.model_provenance(tmp_path)
    assert info["synthetic"] is True and info["survey_seed"] == 11 and info["n_stars"] == 90
    assert predict.provenance_lines(info)[1] == predict.SYNTHETIC_WARNING


# --------------------------------------------------------------------------- which network
def test_each_kind_goes_to_its_own_network_unless_model_is_given(files, tmp_path, capsys):
    """Without --model an aspcapStar is predicted by aspcapStar_BCNNCensored and an apStar by
    astroNN_0617_run001, in the input order, each with one line saying which network and why;
    the labels are those of the same network named with --model. An explicit --model wins."""
    paths = [files["aspcap_dr17_three"], files["dr14_three"], files["aspcap_dr14_one"]]
    auto, csv = tmp_path / "auto.fits", tmp_path / "auto.csv"
    assert predict.run(paths, mc=4, seed=3, out=auto) == 0
    err = capsys.readouterr().err
    chosen = [ln for ln in err.splitlines() if ln.startswith("network ")]
    assert chosen == [
        "network aspcapStar_BCNNCensored for 2 aspcapStar files: the censored network trained on "
        "ASPCAP-normalised aspcapStar spectra (--model chooses another)",
        "network astroNN_0617_run001 for 1 apStar file: the paper's network, trained on "
        "continuum-normalised apStar spectra (--model chooses another)"]
    assert err.count(predict.SYNTHETIC_WARNING) == 1
    t = fits.getdata(auto, 1)
    assert list(t["file"]) == [str(f) for f in paths]
    assert list(t["model"]) == ["aspcapStar_BCNNCensored", "astroNN_0617_run001", "aspcapStar_BCNNCensored"]
    # the aspcapStar network has no domain model: NaN there, a score for the apStar
    assert np.isnan(t["DOMAIN_SCORE"][0]) and np.isfinite(t["DOMAIN_SCORE"][1])
    h = fits.getheader(auto, 1)
    assert h["MODEL"].startswith("aspcapStar: ") and "astroNN_0617_run001" in h["MODEL"]
    assert h["MC"] == 4 and h["TRSURVEY"] == "synthetic DR14 survey (seed 2019)"
    aspcap = config.shipped_model_dir("aspcapStar_BCNNCensored")
    assert predict.run([paths[0], paths[2]], aspcap, mc=4, seed=3, out=csv) == 0
    assert "network aspcapStar_BCNNCensored for 2 aspcapStar files: given by --model" in \
        capsys.readouterr().err
    explicit = Table.read(csv, format="ascii.csv", comment="#")
    for name in ("teff", "logg", "Fe", "Fe_err"):
        np.testing.assert_allclose(t[name][[0, 2]], explicit[name], rtol=1e-5)
    # an explicit --model wins: the apStar network on the aspcapStar too
    assert predict.run([paths[0]], config.shipped_model_dir(), mc=4, seed=3, out=csv) == 0
    assert "network astroNN_0617_run001 for 1 aspcapStar file: given by --model" in capsys.readouterr().err
    wrong = Table.read(csv, format="ascii.csv", comment="#")
    assert list(wrong["model"]) == ["astroNN_0617_run001"]
    # why it matters: the aspcapStar and the apStar of one star (rows 0 and 1) agree when each
    # has its own network, not when the aspcapStar goes to the apStar network
    assert abs(t["Fe"][0] - t["Fe"][1]) < 0.05 and abs(t["C"][0] - t["C"][1]) < 0.1
    assert abs(wrong["C"][0] - t["C"][1]) > 0.3


def test_mc_and_seed_default_to_the_profile(files, tmp_path, capsys):
    out = tmp_path / "ci.csv"
    assert main(["predict", str(files["dr14_one"]), "--profile", "ci", "--out", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    assert f"# mc = {config.get_profile('ci').mc_passes}" in text
    assert f"# seed = {config.seed_for('predict', 'ci')}" in text


# --------------------------------------------------------------------------- bad arguments
def _one_error(capsys, *, argparse_usage=False):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1, err
    if argparse_usage:             # one line, pointing to the help instead of the usage block
        assert err.splitlines() == errors and "(see 'python -m astronn_paper predict --help')" in err
    return errors[0]


@pytest.mark.parametrize("option,value,expect", [
    ("--mc", "1", "argument --mc: 1: the number of MC-dropout passes must be >= 2"),
    ("--mc", "-3", "must be >= 2"),
    ("--mc", "many", "argument --mc: 'many' is not an integer"),
    ("--seed", "-1", "argument --seed: -1: the seed must be in 0 .. 2**32-1"),
    ("--seed", "1.5", "'1.5' is not an integer"),
])
def test_bad_numbers_are_usage_errors(files, capsys, option, value, expect):
    with pytest.raises(SystemExit) as e:
        main(["predict", str(files["dr14_one"]), option, value])
    assert e.value.code == 2
    assert expect in _one_error(capsys, argparse_usage=True)


def test_bad_paths_give_one_line_and_status_2(files, tmp_path, capsys):
    f = str(files["dr14_one"])
    model = str(config.shipped_model_dir())
    assert main(["predict", f, "--model", f]) == 2
    assert "--model " + f + ": is a file, not a model folder" in _one_error(capsys)
    assert main(["predict", f, "--model", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: does not exist" in _one_error(capsys)
    assert main(["predict", f, "--model", str(tmp_path)]) == 2           # a folder, not a model
    assert "--model: model folder" in _one_error(capsys)
    assert main(["predict", f, "--model", model, "--out", str(tmp_path / "x.txt")]) == 2
    assert "x.txt: the output must end in .csv or .fits" in _one_error(capsys)
    (tmp_path / "dir.csv").mkdir()
    assert main(["predict", f, "--model", model, "--out", str(tmp_path / "dir.csv")]) == 2
    assert "dir.csv: is a folder" in _one_error(capsys)
    assert main(["predict", str(tmp_path / "missing.fits"), "--model", model]) == 2
    err = capsys.readouterr().err
    assert "missing.fits: no such file" in err and "Traceback" not in err
    # the API says the same without argparse
    assert predict.argument_problems(mc=0, seed=-1, out="a.txt", model_dir=f) == [
        "--mc 0: the number of MC-dropout passes must be an integer >= 2",
        "--seed -1: the seed must be an integer in 0 .. 2**32-1",
        "--out a.txt: the output must end in .csv or .fits",
        (f"--model {f}: is a file, not a model folder (pass the folder that holds "
         "astroNN_model_parameter.json and model_weights.h5)")]
    assert predict.run([f], model, mc=0) == 2
    assert "--mc 0" in _one_error(capsys)


# --------------------------------------------------------------------------- self-describing
def test_outputs_describe_every_column(files, tmp_path, capsys):
    """CSV: a '#' block naming every column (pandas reads it); FITS: a unit where there is one,
    TCOMMn and a TTYPEn comment on every column, a comment on every keyword; the printed table:
    what the numbers are and DOMAIN_SCORE with its threshold, to 2 decimals."""
    import io
    import re

    import pandas as pd

    model = config.shipped_model_dir()
    paths = [files["dr14_three"], files["aspcap_dr14_one"]]
    csv, fits_out = tmp_path / "l.csv", tmp_path / "l.fits"
    assert predict.run(paths, model, mc=4, seed=3, out=csv) == 0
    assert predict.run(paths, model, mc=4, seed=3, out=fits_out) == 0
    capsys.readouterr()

    header = [ln[2:] for ln in csv.read_text().splitlines() if ln.startswith("# ")]
    table = pd.read_csv(csv, comment="#")
    assert len(table) == 2 and table.shape[1] == len(predict.INFO_COLUMNS) + 4 * len(apogee.TARGETS)
    described = {ln.split()[0] for ln in header if ln.startswith("  ")}
    assert set(predict.INFO_COLUMNS) | set(apogee.TARGETS) <= described
    assert {"<label>", "<label>_err", "<label>_err_model", "<label>_err_predictive"} <= described
    text = "\n".join(header)
    assert "[C I/H]: carbon from atomic (neutral) C I lines" in text and "[Ti II/H]" in text
    assert "_err**2 = _err_model**2 + _err_predictive**2" in text and "dex relative to the Sun" in text
    np.testing.assert_allclose(table["Fe_err"] ** 2, table["Fe_err_model"] ** 2
                               + table["Fe_err_predictive"] ** 2, rtol=1e-6)

    with fits.open(fits_out) as hdul:
        h = hdul[1].header
        n = h["TFIELDS"]
        assert n == table.shape[1] and hdul[1].name == "LABELS"
        for i in range(1, n + 1):
            name = h[f"TTYPE{i}"]
            assert h[f"TCOMM{i}"] and h.comments[f"TTYPE{i}"], name
            unit = apogee.TARGET_UNITS.get(re.sub("_err.*", "", name))
            assert h.get(f"TUNIT{i}") == unit, name
        commented = {c.split(":")[0] for c in h["COMMENT"]}
        for card in h.cards:
            if card.keyword not in ("COMMENT", "CONTINUE", "") and not card.keyword.startswith("TCOMM"):
                assert card.comment or card.keyword in commented, card.keyword
        assert h["MC"] == 4 and h["TRSURVEY"] == "synthetic DR14 survey (seed 2019)"

    out = io.StringIO()
    from astropy.table import Table

    t = Table.read(csv, format="ascii.csv", comment="#")
    t["DOMAIN_SCORE"] = [1.0028, 0.944]         # whatever the shipped folder's domain model says
    t["OUT_OF_DOMAIN"] = [False, False]
    predict._print(t, apogee.TARGETS, stream=out, threshold=1.346)
    printed = out.getvalue().splitlines()
    assert printed[0].startswith("labels +- total uncertainty: teff in K")
    assert printed[1].startswith("DOMAIN_SCORE is below 1 for 98 % of spectra like the training "
                                 "set's; above 1.35 the spectrum is unlike anything")
    assert re.search(r"DOMAIN_SCORE \d+\.\d\d$", printed[2]), printed[2]
