"""Framework-free text library (no Flask, no research_repo imports).

``nlp.deid`` de-identifies (detectors, the person tagger, the engine and its pseudonyms);
``nlp.segment`` cuts text into speaker turns and paragraphs; ``nlp.themes`` vectorizes,
clusters, labels and matches themes across runs; ``nlp.evaldata`` finds the public
evaluation sets.
"""
