r"""A rule's code beside its math, read from the rule file itself (as labml.ai's annotated
implementations show them, here derived rather than typed).

The math is every line of the ``.. math::`` blocks of the rule module's docstring; the code is
the update function the factory hands to ``rule(...)`` (``_update``, ``_lookahead_update``, ...).
A line of math is put beside the first assignment (in source order, after the previous match)
whose target is the line's left-hand side: ``\hat m_t`` is ``m_hat``, ``\hat\beta_{2t}`` is
``beta2_t``, ``w_t`` is ``w``. Math whose left-hand side the code names otherwise stays in the
docstring section of the page only; nothing is guessed.
"""
from __future__ import annotations

import ast
import html
import inspect
import re

__all__ = ["equations", "lhs_names", "update_functions", "side_by_side"]

_GREEK = ("alpha beta gamma delta epsilon varepsilon zeta eta theta kappa lambda mu nu xi rho sigma "
          "tau phi varphi chi psi omega").split()
_MODIFIER = re.compile(r"\\(?:wide)?(hat|bar|tilde)\s*\{?\s*(\\?[A-Za-z]+)\s*\}?")
_STYLE = re.compile(r"\\(?:mathbf|boldsymbol|mathrm|mathit)\s*\{([^}]*)\}")
_SYMBOL = re.compile(r"\\?([A-Za-z]+)\s*(?:_\{([^}]*)\}|_(\w))?")


def equations(doc: str | None) -> list[str]:
    """Every equation line of the ``.. math::`` blocks in ``doc``, alignment marks removed."""
    out = []
    for block in re.findall(r"\.\. math::\s*\n((?:[ \t]*\n|[ \t]+\S.*\n?)+)", doc or ""):
        for eq in re.split(r"\\\\\s*\n", block):
            eq = " ".join(eq.replace("&", "").split())
            if eq:
                out.append(eq.rstrip("\\").rstrip(" ,."))
    return out


def lhs_names(eq: str) -> set[str]:
    """Python names that could hold each left-hand side of ``eq`` (several equations on one
    line are separated by ``\\quad``/``\\qquad``)."""
    names: set[str] = set()
    for part in re.split(r"\\q?quad", eq):
        if "=" not in part:
            continue
        lhs = _STYLE.sub(r"\1", part.split("=", 1)[0].strip().strip(",").strip())
        mods = [m.group(1) for m in _MODIFIER.finditer(lhs)]
        lhs = _MODIFIER.sub(r"\2", lhs)
        m = _SYMBOL.match(lhs)
        if not m:
            continue
        base = m.group(1).lower()
        if m.group(1) not in _GREEK and len(base) > 1:  # a macro like \operatorname: not a symbol
            continue
        sub = m.group(2) or m.group(3) or ""
        rest = re.sub(r"t([+-]1)?$", "", sub.replace(" ", "")).rstrip(",")
        stems = {base, base + rest, f"{base}_{rest}"} if rest else {base}
        if "t" in sub:
            stems |= {s + "_t" for s in stems}
        if mods:  # \hat m is m_hat (or hat_m), never the plain m; \hat\beta_{2t} may be beta2_t
            plain_t = {f"{base}{rest}_t"} if rest and "t" in sub else set()
            stems = {name for s in stems for mod in mods for name in (f"{s}_{mod}", f"{mod}_{s}")} | plain_t
        names |= stems
    return names


def update_functions(module, factory) -> list[ast.FunctionDef]:
    """The update functions the factory uses (``*update*`` named in its source), else all of
    the module's, else the factory itself."""
    tree = ast.parse(inspect.getsource(module))
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    factory_src = inspect.getsource(factory)
    updates = [f for f in funcs if "update" in f.name]
    used = [f for f in updates if re.search(rf"\b{f.name}\b", factory_src)]
    return used or updates or [f for f in funcs if f.name == factory.__name__]


def _assignments(func: ast.FunctionDef) -> list[tuple[int, set[str]]]:
    found = []
    for node in ast.walk(func):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        names = {n.id.lower() for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if names:
            found.append((node.lineno, names))
    return sorted(found, key=lambda x: x[0])


def _pair(func: ast.FunctionDef, eqs: list[str]) -> dict[int, list[str]]:
    """Source line number -> the equations placed beside it."""
    assigns, beside, last = _assignments(func), {}, 0
    for eq in eqs:
        wanted = lhs_names(eq)
        hits = [ln for ln, names in assigns if names & wanted]
        later = [ln for ln in hits if ln >= last]
        if hits:
            line = (later or hits)[0]
            beside.setdefault(line, []).append(eq)
            last = max(last, line)
    return beside


def side_by_side(module, factory) -> tuple[str, int]:
    """HTML: a two-column table per update function, each source line with its math to its left
    (one raw-HTML block, no blank line inside, so Markdown leaves it whole); and how many
    equations found their line."""
    source = inspect.getsource(module).splitlines()
    eqs, blocks, paired = equations(module.__doc__), [], 0
    for func in update_functions(module, factory):
        beside = _pair(func, eqs)
        paired += sum(len(v) for v in beside.values())
        rows = []
        for ln in range(func.lineno, func.end_lineno + 1):
            code = html.escape(source[ln - 1]) or "&nbsp;"
            maths = "".join(f'<span class="arithmatex">\\(\\displaystyle {html.escape(eq)}\\)</span>'
                            for eq in beside.get(ln, []))
            rows.append(f'<tr><td class="sbs-math">{maths}</td>'
                        f'<td class="sbs-code"><code>{code}</code></td></tr>')
        blocks.append('<div class="sbs-scroll"><table class="side-by-side"><thead><tr><th>math</th>'
                      '<th>the code line that computes it</th></tr></thead>'
                      f'<tbody>{"".join(rows)}</tbody></table></div>')
    return "\n".join(blocks), paired
