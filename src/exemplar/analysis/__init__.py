"""The analysis of result tables: pure functions from the tidy rows in ``results/`` to the numbers
the chapters and the report show (summaries, optima, speedups, the answer's figures).

It sits below both :mod:`exemplar.experiments` (which runs and writes the rows) and
:mod:`exemplar.reporting` (which turns numbers into tables, figures and sentences), so that neither
imports the other: one module per chapter, named as the chapter's module, and two for the whole
report: :mod:`~exemplar.analysis.stages` (the plan of notebooks and their stage times) and
:mod:`~exemplar.analysis.provenance` (a provenance's figures, read one way).
"""
