"""The paper's continuum normalisation and the validation of input spectra."""
import numpy as np
import pytest
from astroNN.apogee import apogee_continuum, gap_delete
from fakesurvey import FakeSource, blaze, line_pixels

from astronn_paper import apogee
from astronn_paper.survey import normalise
from astronn_paper.survey.source import SpectrumError

KEEP = apogee.gap_delete_index()


@pytest.fixture(scope="module")
def spectra():
    s = FakeSource(n=6, noise=0.002)
    rows = [s.apstar(i) for i in range(4)]
    f = np.array([r.combined()[0] for r in rows])
    e = np.array([r.combined()[1] for r in rows])
    m = np.array([r.combined()[2] for r in rows])
    return f, e, m


def test_shapes_and_dtype(spectra):
    f, e, m = spectra
    spec, err = normalise.continuum(f, e, m)
    assert spec.shape == err.shape == (4, apogee.N_PIX_GAP_DELETED)
    assert spec.dtype == err.dtype == np.float32
    # a single 1-d spectrum is a batch of one
    one, _ = normalise.continuum(f[0], e[0], m[0])
    np.testing.assert_array_equal(one[0], spec[0])


def test_is_astronn_apogee_continuum_with_paper_settings(spectra):
    f, e, m = spectra
    spec, err = normalise.continuum(f, e, m)
    ref, ref_err = apogee_continuum(f, e, cont_mask=None, deg=2, dr=14, bitmask=m,
                                    target_bit=[0, 1, 2, 3, 4, 5, 6, 7, 12], mask_value=1.0)
    np.testing.assert_array_equal(spec, ref)
    np.testing.assert_array_equal(err, ref_err)


def test_line_free_pixels_are_one(spectra):
    f, e, m = spectra
    spec, _ = normalise.continuum(f, e, m)
    free = ~line_pixels()[KEEP] & (normalise.mask_of(m[:, KEEP]) == 0).all(axis=0)
    x = spec[:, free]
    # the blaze is a quadratic per chip, so a degree-2 fit removes it up to the 0.2 % noise
    assert abs(np.median(x) - 1) < 5e-4
    assert np.std(x) < 0.004
    # line pixels keep their depth (5-35 %)
    depth = 1 - np.median(spec[:, line_pixels()[KEEP]], axis=1)
    assert np.all((depth > 0.04) & (depth < 0.36))


def test_masked_bits_give_flux_one(spectra):
    f, e, m = spectra
    spec, err = normalise.continuum(f, e, m)
    mk = m[:, KEEP]
    for bit in apogee.PAPER_MASK_BITS:
        hit = (mk & (1 << bit)) != 0
        if hit.any():
            assert np.all(spec[hit] == 1.0) and np.all(err[hit] == 1.0)
    # bit 9 (PERSIST_HIGH) is not masked by the paper: those pixels keep their value
    only9 = (mk == (1 << 9))
    assert only9.sum() >= 10
    assert np.mean(spec[only9] == 1.0) < 0.05
    # a masked bit set on an otherwise clean spectrum flips exactly those pixels to 1
    m2 = np.zeros_like(m)
    m2[:, KEEP[100:110]] = 1 << 12
    s2, _ = normalise.continuum(f, e, m2)
    assert np.all(s2[:, 100:110] == 1.0)
    assert np.mean(s2[:, 110:200] == 1.0) < 0.05


def _bad(kind, f, e, m):
    f, e, m = f.copy(), e.copy(), m.copy()
    if kind == "nonfinite":
        f[1, KEEP[3000]] = np.nan
    elif kind == "inf_err":
        e[1, KEEP[10]] = np.inf
    elif kind == "all_masked":
        m[1] |= 1 << 3
    elif kind == "zero_flux":
        f[1] = 0.0
    elif kind == "chip_masked":  # every continuum pixel of the green chip masked
        cont = KEEP[apogee.continuum_pixels()]
        m[1, cont[(cont > 3274) & (cont < 6080)]] |= 1 << 0
    elif kind == "bad_error":
        e[1, KEEP[2000]] = -1.0
    return f, e, m


@pytest.mark.parametrize("kind, reason, words", [
    ("nonfinite", "nonfinite", "NaN/inf"),
    ("inf_err", "nonfinite", "NaN/inf"),
    ("all_masked", "all_masked", "every pixel"),
    ("zero_flux", "all_masked", "zero"),
    ("chip_masked", "all_masked", "green 0"),
    ("bad_error", "bad_error", "negative error"),
])
def test_bad_spectrum_is_reported_and_skipped(spectra, kind, reason, words):
    f, e, m = _bad(kind, *spectra)
    with pytest.raises(SpectrumError) as exc:
        normalise.continuum(f, e, m)
    assert exc.value.reason == reason and words in str(exc.value)
    assert str(exc.value).startswith("spectrum 1:")
    # the batch form skips star 1 only; the other stars are unchanged
    out = normalise.normalise_batch(f, e, m)
    assert out.good.tolist() == [True, False, True, True]
    assert list(out.errors) == [1] and out.errors[1].reason == reason
    ref, _ = normalise.continuum(*(a[[0, 2, 3]] for a in spectra))
    np.testing.assert_array_equal(out.spec, ref)


def test_nan_in_a_masked_non_continuum_pixel_is_fine(spectra):
    f, e, m = (a.copy() for a in spectra)
    cont = np.zeros(apogee.N_PIX, bool)
    cont[KEEP[apogee.continuum_pixels()]] = True
    pix = np.flatnonzero(~cont & (blaze() > 0))[500]
    f[0, pix], m[0, pix] = np.nan, 1
    spec, _ = normalise.continuum(f, e, m)
    assert np.isfinite(spec).all()


def test_wrong_layout():
    with pytest.raises(SpectrumError) as exc:
        normalise.continuum(np.ones((2, 8000)), np.ones((2, 8000)))
    assert exc.value.reason == "bad_layout" and "8575" in str(exc.value)
    with pytest.raises(SpectrumError) as exc:
        normalise.continuum(np.ones((2, 8575)), np.ones((3, 8575)))
    assert exc.value.reason == "bad_layout"


def test_aspcap_is_gap_deleted(spectra):
    s = FakeSource(n=4)
    a = s.aspcapstar(2)
    spec, err = normalise.aspcap(a.flux, a.err)
    assert spec.shape == (1, apogee.N_PIX_GAP_DELETED) and spec.dtype == np.float32
    np.testing.assert_array_equal(spec, gap_delete(a.flux, dr=14))
    # fake aspcapStar = apStar / true blaze: line-free pixels are exactly ~1
    free = ~line_pixels()[KEEP]
    assert abs(np.median(spec[0, free]) - 1) < 1e-3


def test_aspcap_masks_pixels_with_inflated_errors():
    s = FakeSource(n=2)
    a = s.aspcapstar(1)
    flux, err = a.flux.copy(), a.err.copy()
    kept = apogee.gap_delete_index()
    bad, none = kept[100], kept[200]
    flux[bad], err[bad] = -7.0, 5.0            # a bad pixel: its error inflated
    flux[none], err[none] = 3.0, 0.0           # no error at all
    spec, spec_err = normalise.aspcap(flux, err)
    for i in (bad, none):
        j = int(np.flatnonzero(kept == i)[0])
        assert spec[0, j] == normalise.MASK_VALUE and spec_err[0, j] == normalise.MASK_VALUE
    others = np.ones(apogee.N_PIX_GAP_DELETED, bool)
    others[[int(np.flatnonzero(kept == i)[0]) for i in (bad, none)]] = False
    np.testing.assert_array_equal(spec[0, others], gap_delete(a.flux, dr=14)[0, others])


def test_failed_normalisation_is_skipped_with_its_reason(spectra):
    """A spectrum far above its continuum after normalising (here 3 % of the pixels at twice
    the continuum, like the cool dwarfs whose fit collapses) and one whose continuum fit
    crosses zero (a chip of negative flux) are rejected after normalising; the others are
    kept unchanged."""
    f, e, m = (a.copy() for a in spectra)
    rng = np.random.default_rng(1)
    f[1, rng.choice(KEEP, size=int(0.03 * KEEP.size), replace=False)] *= 2.0
    green = KEEP[(KEEP > 3274) & (KEEP < 6080)]
    f[2, green] *= -1.0
    out = normalise.normalise_batch(f, e, m)
    assert out.good.tolist() == [True, False, False, True]
    assert {k: v.reason for k, v in out.errors.items()} == {1: "failed_normalisation",
                                                            2: "failed_normalisation"}
    assert "above 1.5" in str(out.errors[1]) and "crosses zero" in str(out.errors[2])
    ref, _ = normalise.continuum(*(a[[0, 3]] for a in spectra))
    np.testing.assert_array_equal(out.spec, ref)


def test_noisy_good_spectra_pass_the_normalisation_check():
    """Visits at SNR ~5 (2 % of pixels beyond 2 sigma by chance) are not failed normalisations:
    the criterion counts pixels beyond 3 of their own errors above 1.5 or below 0."""
    s = FakeSource(n=6, noise=0.2)
    rows = [s.apstar(i).combined() for i in range(6)]
    f, e, m = (np.array([r[k] for r in rows]) for k in range(3))
    out = normalise.normalise_batch(f, e, m)
    assert out.good.all(), {k: str(v) for k, v in out.errors.items()}
    # just over the limit fails, just under passes
    spec, err = out.spec.copy(), out.err.copy()
    n = int(np.sum(~((spec[0] == 1) & (err[0] == 1))))
    spec[0, :int(0.012 * n)] = 1.5 + 10 * err[0, :int(0.012 * n)]
    spec[1, :int(0.008 * n)] = 1.5 + 10 * err[1, :int(0.008 * n)]
    failed = normalise.failed_normalisation(spec, err)
    assert failed[0] is not None and failed[1] is None
