// Render every formula pymdownx.arithmatex marked (generic mode: \( \) inline, \[ \] display)
// with the KaTeX shipped in assets/katex/. Only .arithmatex elements are read, so a "$" in
// code is never taken for math. A formula KaTeX cannot parse is a console error, which the
// browser test (tests/docs/test_site.py) fails on.
document$.subscribe(function () {
  document.querySelectorAll(".arithmatex").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
      errorCallback: function (msg, err) { console.error("KaTeX: " + msg, err); },
    });
  });
});
