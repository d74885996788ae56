"""Run inside the Presidio venv: read texts (JSON list) on stdin, print spans and CPU time."""
import json
import sys
import time

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

model = sys.argv[1]
provider = NlpEngineProvider(nlp_configuration={
    "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
texts = json.load(sys.stdin)
analyzer.analyze(texts[0], language="en")  # warm-up: load recognizers once, as a server would
started = time.process_time()
results = [[(r.start, r.end, r.entity_type) for r in analyzer.analyze(t, language="en")] for t in texts]
cpu = time.process_time() - started
json.dump({"cpu": cpu, "spans": results}, sys.stdout)
