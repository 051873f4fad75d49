r"""Newton-Schulz coefficient presets for the Muon family, selectable by name: one table, each
entry with its source.

Iteration :math:`k` (from 1) of ``newton_schulz`` applies
:math:`X \leftarrow a_k X + (b_k A + c_k A^2) X`, :math:`A = XX^\top`, so on every singular
value :math:`\sigma \mapsto a_k\sigma + b_k\sigma^3 + c_k\sigma^5`. A preset is the sequence of
triples :math:`(a_k, b_k, c_k)` and a norm safety factor :math:`s`: the input is divided by
:math:`s\lVert G\rVert_F + \epsilon` before the first iteration. A schedule shorter than the
number of steps repeats its last triple; a longer one is cut (Polar Express's Algorithm 1, and
pytorch-optimizer's ``zero_power_via_newton_schulz_5``; optax runs exactly the triples it is
given and refuses more triples than ``ns_steps``).

=============================  ======  ==================================================
name (aliases)                 s       source
=============================  ======  ==================================================
``jordan`` (``standard``,      1       Jordan et al. 2024 (kellerjordan.github.io/posts/muon):
``original``)                          one triple, every step. optax.contrib ``standard``,
                                       pytorch-optimizer ``original``
``polar_express``              1.01    Amsel, Persson, Musco & Gower 2025, "The Polar Express",
                                       arXiv 2505.16932, Algorithm 1: eight triples (degree 5,
                                       optimal for :math:`\ell = 10^{-3}`), the first seven
                                       divided by :math:`(1.01, 1.01^3, 1.01^5)`, the input
                                       norm multiplied by 1.01
``dion`` (``quintic``)         1       optax.contrib ``dion`` (cites Ahn et al. 2025, "Dion",
                                       arXiv 2504.05295); pytorch-optimizer ``quintic``
                                       (credited to modded-nanogpt): the same five triples
``polar_express_l1e-3_s1e-2``  1       pytorch-optimizer ``polar_express``, eight triples its
                                       source comments as "safety 1e-2" (other numbers than
                                       the paper's Algorithm 1; their origin not checked)
``polar_express_s2e-2``        1       pytorch-optimizer ``polar_express_safer`` ("safety
                                       2e-2" in its comment)
=============================  ======  ==================================================

The numbers are checked against each source: the libraries' constants read from the installed
packages at test time, the paper's Algorithm 1 typed from the paper (tests/rules/test_ns_presets.py).
``LIBRARY_NAMES`` maps optax's and pytorch-optimizer's preset names to these; their flavors take
them (tests/flavors/test_ns_preset_flavors.py). ``muon``, ``moonlight``, ``normuon`` and ``mars_m``
take a name or triples as ``ns_coefficients``.
"""
from __future__ import annotations

import math
from typing import NamedTuple


class Preset(NamedTuple):
    coefficients: tuple  # the (a, b, c) of each iteration
    safety: float        # the input is divided by safety * ||G||_F + eps
    source: str


JORDAN = (3.4445, -4.7750, 2.0315)

# Amsel et al. 2025, Algorithm 1, before its safety rescaling (the last triple is exempt from it)
POLAR_EXPRESS_RAW = (
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),
)
POLAR_EXPRESS_SAFETY = 1.01


def _with_safety(raw, s):
    """p(x / s) for every polynomial but the last (Algorithm 1's rescaling)."""
    return tuple((a / s, b / s**3, c / s**5) for a, b, c in raw[:-1]) + (raw[-1],)


DION = ((4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377), (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046), (2.8366, -3.0525, 1.2012))

PYTORCH_OPTIMIZER_POLAR_EXPRESS = (
    (8.237312490495555, -23.157747414558198, 16.680568411445915),
    (4.082441999064835, -2.893047735332586, 0.5252849256975648),
    (3.9263479922546582, -2.8547468034765298, 0.5318022422894988),
    (3.2982187133085143, -2.424541981026706, 0.48632008358844075),
    (2.2970369434552573, -1.63662558125903, 0.4002628455953627),
    (1.8763805351440397, -1.2347896577722228, 0.35891887501668385),
    (1.8564423485617974, -1.2132449880935525, 0.3568003487825883),
    (1.8749994008682747, -1.2499988017229169, 0.3749994008546422),
)
PYTORCH_OPTIMIZER_POLAR_EXPRESS_SAFER = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.0429299351667245, -2.808917465908704, 0.5000178451051299),
    (3.8916678022926563, -2.7724841532176825, 0.5060648178503389),
    (3.285753657755658, -2.3681294933425394, 0.46449024233003117),
    (2.3005307116270983, -1.6111665557258408, 0.3833374427545273),
    (1.8631210546382593, -1.2042160621002727, 0.3421879560523383),
    (1.8382572152247512, -1.1779263289537742, 0.3396513038637379),
    (1.8749999923301852, -1.2499999836060613, 0.374999991275876),
)

PRESETS = {
    "jordan": Preset((JORDAN,), 1.0, "Jordan et al. 2024, Muon blog"),
    "polar_express": Preset(_with_safety(POLAR_EXPRESS_RAW, POLAR_EXPRESS_SAFETY), POLAR_EXPRESS_SAFETY,
                            "Amsel et al. 2025, arXiv 2505.16932, Algorithm 1"),
    "dion": Preset(DION, 1.0, "optax.contrib 'dion' (Ahn et al. 2025, arXiv 2504.05295)"),
    "polar_express_l1e-3_s1e-2": Preset(PYTORCH_OPTIMIZER_POLAR_EXPRESS, 1.0,
                                        "pytorch-optimizer 'polar_express'"),
    "polar_express_s2e-2": Preset(PYTORCH_OPTIMIZER_POLAR_EXPRESS_SAFER, 1.0,
                                  "pytorch-optimizer 'polar_express_safer'"),
}
ALIASES = {"standard": "jordan", "original": "jordan", "quintic": "dion"}
# each library's preset names -> ours (pytorch-optimizer's "polar_express" is not the paper's)
LIBRARY_NAMES = {
    "optax.contrib": {"standard": "jordan", "dion": "dion"},
    "pytorch_optimizer": {"original": "jordan", "quintic": "dion",
                          "polar_express": "polar_express_l1e-3_s1e-2",
                          "polar_express_safer": "polar_express_s2e-2"},
}


def preset(name: str) -> Preset:
    """The preset called ``name`` (or one of its aliases); ValueError listing the known names."""
    key = ALIASES.get(name, name)
    if key not in PRESETS:
        known = ", ".join(repr(k) for k in (*PRESETS, *ALIASES))
        raise ValueError(f"ns_coefficients: unknown preset {name!r}; known presets: {known}")
    return PRESETS[key]


def _triple(x) -> bool:
    return (isinstance(x, (tuple, list)) and len(x) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in x))


def validated(ns_coefficients):
    """A preset name (returned as given), one triple (a, b, c) or a non-empty sequence of
    per-iteration triples (returned as floats); anything else is a ValueError naming
    ``ns_coefficients``."""
    if isinstance(ns_coefficients, str):
        preset(ns_coefficients)
        return ns_coefficients
    if _triple(ns_coefficients):
        return tuple(float(v) for v in ns_coefficients)
    if (isinstance(ns_coefficients, (tuple, list)) and len(ns_coefficients) > 0
            and all(_triple(x) for x in ns_coefficients)):
        return tuple(tuple(float(v) for v in x) for x in ns_coefficients)
    raise ValueError(f"ns_coefficients must be a preset name, three finite numbers (a, b, c) or a "
                     f"non-empty sequence of such triples (one per iteration), got {ns_coefficients!r}")


def unscaled_schedule(coefficients, steps: int, who: str) -> tuple:
    """``schedule``'s triples for an implementation whose normalisation has no safety factor (torch's,
    pytorch-optimizer's): a preset that scales the norm is a ValueError naming ``who``."""
    triples, safety = schedule(coefficients, steps)
    if safety != 1.0:
        raise ValueError(f"ns_coefficients={coefficients!r} divides by {safety} ||G||_F, which {who}'s "
                         f"Newton-Schulz does not; pass its triples instead")
    return triples


def schedule(coefficients, steps: int) -> tuple[tuple, float]:
    """(the ``steps`` triples to apply, the norm safety factor) for a validated value."""
    if isinstance(coefficients, str):
        triples, safety = preset(coefficients)[:2]
    elif _triple(coefficients):
        triples, safety = (tuple(coefficients),), 1.0
    else:
        triples, safety = tuple(coefficients), 1.0
    return tuple(triples[min(k, len(triples) - 1)] for k in range(steps)), safety
