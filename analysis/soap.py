r"""SOAP is Adam in the eigenbasis of Shampoo's factors (Vyas et al. 2024, arXiv 2409.11321, §1 and
Algorithm 3): checked against Adam itself, run by hand in a basis recomputed every step.

The hand loop is independent of ``refopt.soap``: it builds :math:`L, R` as running means of
:math:`GG^\top, G^\top G` in NumPy, takes their eigenvectors with ``numpy.linalg.eigh`` (largest
first) before every step, rotates the gradient, and runs ``refopt.adam``'s own step on it (at
params 0, so that the step is what comes back), then rotates the step back. What "Adam in the
eigenbasis" means when the basis moves decides whether this is exact, and three forms are run:

* **re-expressed**: before each step Adam's first moment is carried into the new basis,
  :math:`m \leftarrow Q_t^\top Q_{t-1}\, m\, Q_{t-1}^\top Q_t` (per side), its second moment left slot
  for slot. This is what SOAP does by keeping :math:`M` in the params' coordinates and :math:`V` in
  the rotated ones.
* **naive**: Adam's state carried as it is (both moments mix bases).
* SOAP itself at ``precondition_frequency=1``, with ``refresh="eigh"`` (exact eigenvectors every
  step) and with its default ``refresh="qr"`` (Algorithm 4: one power iteration and a QR).

The claim holds exactly (rounding) for SOAP with exact eigenvectors against the re-expressed
form; the paper's wording needs both conditions, each measured: the QR refresh is an approximation
of the eigenbasis, and plain Adam run on rotated gradients (naive) is another optimizer unless
:math:`\beta_1 = 0` (then the first moment holds no past basis), which is run too.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

import refopt

from .claim import Verdict, claim, figure

SHAPE = (5, 4)
HYPER = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8)
EXACT = 1e-12  # the re-expressed form against SOAP with eigh refreshes: rounding only
APART = 1e-6   # what a form must differ by to count as another optimizer


def gradients(steps: int, seed: int = 0) -> list[np.ndarray]:
    """Dense gradients of a slowly turning quadratic: the factors' eigenbasis moves every step."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(SHAPE)
    return [base + 0.5 * rng.standard_normal(SHAPE) for _ in range(steps)]


def _basis(P: np.ndarray) -> np.ndarray:
    return np.linalg.eigh(P)[1][:, ::-1]


def adam_in_eigenbasis(grads, w0, reexpress: bool, beta1: float = HYPER["beta1"]) -> list[np.ndarray]:
    """The params after each call of the hand loop (the first call only builds the factors)."""
    adam = refopt.adam(lr=HYPER["lr"], beta1=beta1, beta2=HYPER["beta2"], eps=HYPER["eps"])
    b = HYPER["beta2"]  # Algorithm 3's factors decay with beta2
    L, R = np.zeros((SHAPE[0],) * 2), np.zeros((SHAPE[1],) * 2)
    w, state, zero, out, QL, QR = w0.copy(), adam.init(np.zeros(SHAPE)), np.zeros(SHAPE), [], None, None
    for g in grads:
        if QL is not None:
            new_L, new_R = _basis(L), _basis(R)
            if reexpress:
                state = state._replace(m=new_L.T @ QL @ state.m @ QR.T @ new_R)
            QL, QR = new_L, new_R
            step, state = adam.step(zero, QL.T @ g @ QR, state)
            w = w + QL @ step @ QR.T
        L, R = b * L + (1 - b) * g @ g.T, b * R + (1 - b) * g.T @ g
        if QL is None:
            QL, QR = _basis(L), _basis(R)
        out.append(w.copy())
    return out


def soap_run(grads, w0, refresh: str, beta1: float = HYPER["beta1"]) -> list[np.ndarray]:
    opt = refopt.soap(weight_decay=0.0, precondition_frequency=1, refresh=refresh, beta1=beta1,
                      **{k: v for k, v in HYPER.items() if k != "beta1"})
    w, state, out = w0, opt.init(w0), []
    for g in grads:
        w, state = opt.step(w, g, state)
        out.append(w)
    return out


def gap(a, b, w0) -> float:
    """Largest params difference over the run, relative to the largest displacement of ``a``."""
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b)) / max(float(np.max(np.abs(x - w0)))
                                                                       for x in a)


def per_step(a, b, w0) -> np.ndarray:
    scale = max(float(np.max(np.abs(x - w0))) for x in a)
    return np.array([float(np.max(np.abs(x - y))) / scale for x, y in zip(a, b)])


@lru_cache(maxsize=2)
def runs(quick: bool) -> dict:
    grads = gradients(20 if quick else 200)
    w0 = np.random.default_rng(1).standard_normal(SHAPE)
    exact = soap_run(grads, w0, "eigh")
    return {"w0": w0, "soap_eigh": exact, "soap_qr": soap_run(grads, w0, "qr"),
            "reexpressed": adam_in_eigenbasis(grads, w0, True), "naive": adam_in_eigenbasis(grads, w0, False),
            "soap_eigh_b0": soap_run(grads, w0, "eigh", 0.0),
            "naive_b0": adam_in_eigenbasis(grads, w0, False, 0.0)}


def verdict_of(f: dict) -> str:
    """conditional: exact with eigh refreshes and the first moment re-expressed, and each condition
    needed (the QR refresh and the naive form both measurably apart, the naive form exact at beta1 = 0);
    holds if no condition were needed; false if even the exact form is apart."""
    if f["soap_eigh_vs_reexpressed"] > EXACT or f["soap_eigh_vs_naive_beta1_0"] > EXACT:
        return "false"
    needed = f["soap_qr_vs_reexpressed"] > APART and f["soap_eigh_vs_naive"] > APART
    return "conditional" if needed else "holds"


@claim("soap-adam-in-eigenbasis",
       "[Vyas et al. 2024, beyond the notes] SOAP equals Adam run in the eigenbasis of Shampoo's "
       "factors L, R when the basis is refreshed every step (precondition_frequency = 1)",
       source_line=46)  # the notes' Shampoo row: "eigendecomp must be done periodically"
def soap_adam_in_eigenbasis(quick: bool) -> Verdict:
    r = runs(quick)
    w0 = r["w0"]
    figs = {"steps": float(len(r["soap_eigh"])),
            "soap_eigh_vs_reexpressed": gap(r["reexpressed"], r["soap_eigh"], w0),
            "soap_qr_vs_reexpressed": gap(r["reexpressed"], r["soap_qr"], w0),
            "soap_eigh_vs_naive": gap(r["naive"], r["soap_eigh"], w0),
            "soap_eigh_vs_naive_beta1_0": gap(r["naive_b0"], r["soap_eigh_b0"], w0)}
    verdict = verdict_of(figs)
    return Verdict(
        verdict, figs, key="soap_eigh_vs_reexpressed",
        detail=(f"{figs['steps']:.0f} steps of a {SHAPE[0]}x{SHAPE[1]} stream whose factors turn every step "
                f"(lr {HYPER['lr']}, betas {HYPER['beta1']}/{HYPER['beta2']}, float64; gaps relative to the "
                f"largest displacement). SOAP refreshed by eigh every step against Adam run by hand in the "
                f"eigh basis with its first moment carried into each new basis and its second moment kept "
                f"slot for slot: {figs['soap_eigh_vs_reexpressed']:.1e} (exact). "
                f"The condition on the refresh: "
                f"SOAP's own refresh (Algorithm 4, one power iteration and QR) is "
                f"{figs['soap_qr_vs_reexpressed']:.1e} away, an approximation of the eigenbasis. "
                f"The condition "
                f"on the moments: plain Adam on the rotated gradients (its first moment mixing bases) is "
                f"{figs['soap_eigh_vs_naive']:.1e} away, and {figs['soap_eigh_vs_naive_beta1_0']:.1e} at "
                f"beta1 = 0, where the first moment holds no past basis. So: SOAP with f = 1 is Adam in the "
                f"current eigenbasis with the first moment re-expressed in it and the second not, when the "
                f"refresh is an exact eigendecomposition."),
    )


@figure("soap_adam_in_eigenbasis")
def draw(quick: bool, outdir) -> None:
    import matplotlib.pyplot as plt
    r = runs(quick)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for key, label in (("soap_eigh", "SOAP, eigh refresh"), ("soap_qr", "SOAP, QR refresh (Algorithm 4)"),
                       ("naive", "plain Adam on rotated gradients")):
        d = per_step(r["reexpressed"], r[key], r["w0"])
        ax.semilogy(np.arange(1, len(d) + 1), np.maximum(d, 1e-17), label=label)
    ax.set(xlabel="call", ylabel="params gap / largest displacement",
           title="Against Adam in the eigenbasis with its first moment re-expressed (f = 1)")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(outdir / "soap_adam_in_eigenbasis.png", dpi=120)
    plt.close(fig)
