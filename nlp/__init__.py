"""Framework-free text library (no Flask, no research_repo imports).

Planned modules, each its own issue: ``nlp.deid`` (de-identification), ``nlp.segment``
(passages and speaker turns), ``nlp.themes`` (vectorize, cluster, label). Nothing here yet.
"""
