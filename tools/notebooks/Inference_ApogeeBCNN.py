# %% [markdown]
# # The full-spectrum network beside the censored one
#
# Leung & Bovy (2019) train a second network, **`ApogeeBCNN`** (`astroNN_0606_run001`), with
# the same data, loss and hyper-parameters as the censored one but *without censoring*: every
# label is read from the whole spectrum. It is a fair control for the one design choice of the
# paper.
#
# Why censor? In a population of Milky Way giants the abundances are strongly correlated:
# [Na/H], [V/H] or [Co/H] track [Fe/H] and [α/Fe] far better than the few weak Na, V, Co lines in
# the H band constrain them. A network free to look anywhere will learn that correlation, because
# reading an abundance off the strong Fe and Mg lines lowers its training loss more than reading
# the weak lines does. It then *predicts* a weak-line abundance from the others, which reproduces
# the population trend and erases exactly the star-to-star deviations one wants to measure (for
# example the Na–O and Mg–Al anticorrelations of globular clusters: see
# `Open_Globular_Cluster_Benchmark.ipynb`). The censored network's element branches see only their
# element's ASPCAP windows, so whatever it says about Na must come from Na lines (plus the
# stellar parameters from the shared trunk).
#
# Two measurements here:
#
# 1. the **scatter** of both networks against the ASPCAP-like labels on the high-SNR test set and
#    on its individual visits (the columns of the paper's scatter table), and, on synthetic data,
#    against the truth. The paper's full-spectrum network scatters more than the censored one
#    for every label (e.g. Co 0.170 against 0.077 dex, Ti II 0.174 against 0.092; the published
#    censored column is on visits of the training stars, the full-spectrum one on the high-SNR
#    test set): censoring costs nothing in precision;
# 2. **where each network looks**: the Jacobian ∂(label)/∂(pixel), and the fraction of its squared
#    norm that falls inside the element's own ASPCAP windows, for the weak-line elements Na, P, V,
#    Co and for all 20. The full-spectrum network's should be less concentrated.

# %% tags=["parameters"]
profile = None

# %%
import numpy as np
import pandas as pd

from astronn_paper import apogee, config, dataset, paper
from astronn_paper.analysis import inference_bcnn as compare, results, inference_visits as visits
from astronn_paper.model import train
from astronn_paper.figures import inference_bcnn as figs
from astronn_paper.figures import save

pd.set_option("display.precision", 4)
pd.set_option("display.width", 160)
P = config.get_profile(profile)
sets = dataset.build_standard_sets(P)
folders = {kind: train.ensure_model(kind, P, sets["train"]) for kind in ("censored", "bcnn")}
for kind, folder in folders.items():
    print(f"{kind:>9}: {train.NETWORKS[kind].astronn_class} in {folder.name}")
if P.name == "ci":
    print("ci profile: networks trained for a few epochs on ~1k stars - smoke-test numbers, not science")

# %% [markdown]
# ## Predictions on the high-SNR test set and its visits
#
# Both networks, fast MC dropout, cached (the censored network's predictions are the ones the other
# notebooks use).

# %%
runs = {kind: visits.predict_visits(folder, sets["test"], P, name=f"test-{kind}")
        for kind, folder in folders.items()}
c = runs["censored"]
print(f"{len(c.star_labels):,} test stars, {c.match.n:,} visits (median visit SNR {np.median(c.snr):.0f})")

# %% [markdown]
# ## Scatter against the labels, side by side
#
# Bias (median residual) and scatter (MAD standard deviation) against the ASPCAP-like labels,
# -9999 labels excluded; on synthetic data also the scatter against the truth. The paper's columns:
# the full-spectrum network on the high-SNR test set, and the censored network on visits of the
# training stars (its published headline numbers; see `Inference.ipynb`).

# %%
table = compare.scatter_table(
    {f"{kind} {where}": ((r.combined["mean"], r.star_labels, r.truth) if where == "test" else
                         (r.visits["mean"], r.labels, r.visit_truth))
     for kind, r in runs.items() for where in ("test", "visits")},
    paper={
        "paper bcnn test": paper.scatter("bcnn_highsnr_test"),
        "paper censored visits (training stars)": paper.scatter("censored_visits_of_training_stars"),
    },
)
scatter_cols = [col for col in table.columns if "scatter" in col or col.startswith("paper")]
print(table[scatter_cols].round(4).to_string())

# %%
n_better = int((table["censored test scatter"] < table["bcnn test scatter"]).sum())
print(f"censored network lower scatter than the full-spectrum one (high-SNR test, vs labels): "
      f"{n_better} of {len(table)} labels")
if "censored test scatter vs truth" in table:
    n_better_truth = int((table["censored test scatter vs truth"]
                          < table["bcnn test scatter vs truth"]).sum())
    print(f"... and against the truth: {n_better_truth} of {len(table)} labels")
fig = figs.scatter_comparison(table, {
    "censored test scatter": "censored, high-SNR test",
    "bcnn test scatter": "full spectrum, high-SNR test",
    "censored visits scatter": "censored, test visits",
    "bcnn visits scatter": "full spectrum, test visits",
    "paper bcnn test": "paper: full spectrum, high-SNR test",
    "paper censored visits (training stars)": "paper: censored, visits of training stars",
})
save(fig, "inference_bcnn_scatter_comparison", P)

# %% [markdown]
# ## Precision on visits
#
# The same visit-versus-combined test as in `Inference.ipynb`, for both networks, at visit SNR 50.

# %%
at50 = pd.DataFrame({kind: r.precision(min_count=10 if P.name != "ci" else 5).at()["vs_combined"]
                     for kind, r in runs.items()})
at50["paper censored"] = pd.Series(visits.paper_precision())
print("median |visit - combined| at SNR 50")
print(at50.round(4).to_string())

# %% [markdown]
# ## Where the networks look: Jacobian concentration in the ASPCAP windows
#
# `metrics.jacobian` differentiates each network's predicted labels (dropout off) with respect to
# the input pixels for a seeded subset of test spectra; we take the median over spectra and, for
# each element, the fraction of Σ J² that lies inside the element's ASPCAP windows. For
# comparison, a Jacobian spread evenly over the spectrum gives the windows' share of the pixels
# (grey). Censoring forces each element branch to read only its windows, so the censored network's
# abundances depend on other pixels only through the shared T<sub>eff</sub>/log g features.

# %%
n_jac = compare.JACOBIAN_SPECTRA.get(P.name, 200)
n_test = len(c.star_labels)
rows = np.sort(np.random.default_rng(config.seed_for("jacobian:bcnn", P)).choice(
    n_test, size=min(n_jac, n_test), replace=False))
x_jac = dataset.load(sets["test"], rows=rows)[0]
conc, jacs = {}, {}
for kind, folder in folders.items():
    conc[kind], jacs[kind] = compare.jacobian_concentration(folder, x_jac, return_jacobian=True)
baseline = compare.window_fractions()
conc_table = pd.DataFrame(conc).assign(window_share=pd.Series(baseline))
print(conc_table.round(3).to_string())
summary = {kind: compare.concentration_summary(v) for kind, v in conc.items()}
for group in summary["censored"]:
    cen, full = summary["censored"][group], summary["bcnn"][group]
    print(f"{group:>26}: censored {cen:.3f}, full spectrum {full:.3f} "
          f"-> full spectrum {'LESS' if full < cen else 'NOT less'} concentrated")
weak_less = {t: bool(conc["bcnn"][t] < conc["censored"][t]) for t in compare.WEAK_LINE_ELEMENTS}
print("full spectrum less concentrated, per weak-line element:", weak_less)

# %%
fig = figs.jacobian_concentration({"censored": conc["censored"], "full spectrum": conc["bcnn"]}, baseline)
save(fig, "inference_bcnn_jacobian_concentration", P)

# %%
fig = figs.jacobian_profiles({"censored": jacs["censored"], "full spectrum": jacs["bcnn"]},
                             apogee.ABUNDANCES)
save(fig, "inference_bcnn_jacobian_weak_lines", P)

# %% [markdown]
# ## Numbers for the README

# %%
out = results.write("Inference_ApogeeBCNN", {
    "models": {k: f.name for k, f in folders.items()},
    "n_test_stars": n_test, "n_test_visits": c.match.n,
    "scatter_table": {col: table[col].to_dict() for col in table.columns},
    "n_labels_censored_lower_scatter_test": n_better,
    "precision_snr50_vs_combined": {col: at50[col].to_dict() for col in at50.columns},
    "jacobian": {"n_spectra": len(rows), "concentration": conc, "window_share": baseline,
                 "summary": summary, "weak_line_bcnn_less_concentrated": weak_less},
}, P)
print("wrote", out)

# %% [markdown]
# ## The element response test: censored vs full spectrum
#
# The Jacobian above says where each network is sensitive; the response test
# (`analysis.response`, see `Inference_highSNR.ipynb` for the method) says how much of a real change
# of one true label reaches the output. For the same in-box giants of the synthetic survey, each
# label is changed alone (Teff +50 K, log g +0.1, one [X/H] +0.1 dex), the star is re-rendered and
# observed with the same noise draw, normalised as in the paper and predicted (MC mean, same
# dropout masks); R[i, i] = median Δpred_i / Δtrue_i is the **self-response** (1: measured, 0:
# ignored), and the response to all 20 [X/H] together (+0.1 dex) shows how well each output
# follows the overall metallicity. If censoring forces the abundances onto their own lines, the
# censored network's self-responses should be the larger ones, most of all for the weak-line
# elements (Na, P, V, Co); a full-spectrum network that predicts them from the population's
# correlations follows the population direction instead.

# %%
from astronn_paper.analysis import response

resp_snrs = response.DEFAULT_SNRS
resp = {kind: response.response_table(folder, P, snrs=resp_snrs) for kind, folder in folders.items()}
names = {"censored": f"censored ({folders['censored'].name})", "bcnn": f"full spectrum ({folders['bcnn'].name})"}
self_resp = {s: {kind: response.self_response(t, s) for kind, t in resp.items()} for s in resp_snrs}
for s in resp_snrs:
    fig = figs.response_comparison({names[k]: v for k, v in self_resp[s].items()},
                                   title=f"Element response at SNR {s:g} ({int(resp['censored']['n_stars'].max())} stars)")
    save(fig, f"inference_bcnn_response_snr{s:g}", P)
resp_cmp = pd.DataFrame({f"{k} R self, SNR {s:g}": self_resp[s][k]["self"] for s in resp_snrs for k in resp}
                        | {f"{k} ±, SNR {s:g}": self_resp[s][k]["self_err"] for s in resp_snrs for k in resp}
                        | {f"{k} all [X/H], SNR {s:g}": self_resp[s][k]["population"] for s in resp_snrs for k in resp})
print(resp_cmp.round(3).to_string())

# %% [markdown]
# **A plain reading** (printed from the numbers above, so it follows the re-run): for each network,
# which abundances it measures from their own lines (self-response ≥ 0.5 at SNR 200), which it
# partly measures (0.2–0.5) and which it infers from the others (< 0.2); then, label by label, which
# network follows a real change more.

# %%
ab = list(apogee.ABUNDANCES)
s_hi = max(resp_snrs)
reading = {}
for kind, sr in self_resp[s_hi].items():
    r = sr.loc[ab, "self"].sort_values(ascending=False)
    reading[kind] = {"measured": [t for t in r.index if r[t] >= 0.5],
                     "partly": [t for t in r.index if 0.2 <= r[t] < 0.5],
                     "inferred": [t for t in r.index if r[t] < 0.2]}
    print(f"{names[kind]}, SNR {s_hi:g}: median self-response of the 20 abundances {r.median():.2f}; "
          f"all [X/H] together: {sr.loc[ab, 'population'].min():.2f}-{sr.loc[ab, 'population'].max():.2f}")
    for group, members in reading[kind].items():
        print(f"   {group:>9}: " + (", ".join(f"{t} {r[t]:.2f}" for t in members) or "none"))
    print(f"   Teff {sr.loc['teff', 'self']:.2f} ± {sr.loc['teff', 'self_err']:.2f}, "
          f"log g {sr.loc['logg', 'self']:.2f} ± {sr.loc['logg', 'self_err']:.2f}")
c_sr, b_sr = self_resp[s_hi]["censored"], self_resp[s_hi]["bcnn"]
diff = c_sr.loc[ab, "self"] - b_sr.loc[ab, "self"]
sig = np.hypot(c_sr.loc[ab, "self_err"], b_sr.loc[ab, "self_err"])
cen_more = [t for t in ab if diff[t] > 2 * sig[t]]
full_more = [t for t in ab if diff[t] < -2 * sig[t]]
print(f"censored follows its own abundance more (by > 2 sigma): {', '.join(cen_more) or 'none'}")
print(f"full spectrum follows its own abundance more (by > 2 sigma): {', '.join(full_more) or 'none'}")
print("weak-line elements, self-response censored vs full spectrum: " + ", ".join(
    f"{t} {c_sr.loc[t, 'self']:.2f} vs {b_sr.loc[t, 'self']:.2f}" for t in compare.WEAK_LINE_ELEMENTS))

# %%
prev = results.read("Inference_ApogeeBCNN", P)
prev["response"] = {
    "snrs": list(resp_snrs), "models": {k: f.name for k, f in folders.items()},
    "n_stars": int(resp["censored"]["n_stars"].max()),
    "self_response": {f"{s:g}": {k: v[["self", "self_err"]].to_dict(orient="index") for k, v in self_resp[s].items()}
                      for s in resp_snrs},
    "population": {f"{s:g}": {k: v["population"].to_dict() for k, v in self_resp[s].items()} for s in resp_snrs},
    "reading_snr200": reading, "censored_follows_more": cen_more, "full_follows_more": full_more}
print("wrote", results.write("Inference_ApogeeBCNN", prev, P))
