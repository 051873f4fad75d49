"""Numerical verification of the claims in the notes. ``python -m analysis`` runs it.

One module per topic; each checkable claim is a function registered with
``@claim(id, statement, source_line)`` that runs the real refopt rules and returns a
``Verdict``. This package uses refopt and is never imported by it.
"""
