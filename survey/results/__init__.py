"""Results: count tables, the one results service, published snapshots and the open-data schema.

How a number travels: a rating → :mod:`survey.results.counts` (count tables, exactly once) →
:mod:`survey.results.queries` (counts per unit × period × cluster × answer) →
:func:`analysis.satisfaction_table` → :func:`survey.results.service.results_table` (one options
object) → :mod:`survey.results.snapshots` (published revisions) → pages, open data, API, CLI.
"""
