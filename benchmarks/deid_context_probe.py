"""Would context help the person tagger? A probe, not the shipped engine.

    python benchmarks/deid_context_probe.py [--layers 3] [--thresholds 0.07,0.05,0.04,0.03]

Trains the shipped tagger's model (hashed features and static word vectors, same data, same
C) with one more block of features: each word's hidden state after the first ``--layers``
layers of all-MiniLM-L6-v2 (the mean over its WordPieces, PCA to 64 whitened dimensions).
Then it runs the whole engine with that tagger over WNUT-17 dev and the Presidio synthetic
set (policy view) at each threshold, and times the encoding alone in KB of text per
CPU-second, batched and one text at a time, beside the shipped engine's speed.

Needs the embedding model wheel (requirements/embedding-model.txt). About 8 minutes at
three layers on two cores. Data: WNUT-17 (CC BY 4.0, Derczynski et al. 2017), Presidio
synthetic set (MIT, microsoft/presidio-research), BANKING77 (CC BY 4.0).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sklearn.decomposition import PCA  # noqa: E402

from nlp.deid import Deidentifier, train  # noqa: E402
from nlp.deid.evaluate import DATA, load_conll, load_presidio, policy_view, score  # noqa: E402
from nlp.deid.person import PersonTagger, tokenize  # noqa: E402
from nlp.themes.embed import _load, token_states  # noqa: E402


def word_states(sequences: list[list[str]], layers: int, batch_tokens: int = 1024) -> list[np.ndarray]:
    """Per sequence, one row per word: the mean hidden state of its pieces after ``layers``."""
    tokenizer = _load()[0]
    encoded = [tokenizer.encode(s, is_pretokenized=True) for s in sequences]
    out = [np.zeros((len(s), 384), dtype=np.float32) for s in sequences]
    order = sorted((i for i in range(len(sequences)) if sequences[i]), key=lambda i: len(encoded[i].ids))
    start = 0
    while start < len(order):
        size = max(1, batch_tokens // len(encoded[order[start]].ids))
        chunk = order[start:start + size]
        start += size
        length = max(len(encoded[i].ids) for i in chunk)
        ids = np.zeros((len(chunk), length), dtype=np.int64)
        mask = np.zeros((len(chunk), length), dtype=np.float32)
        for row, i in enumerate(chunk):
            ids[row, :len(encoded[i].ids)] = encoded[i].ids
            mask[row, :len(encoded[i].ids)] = 1.0
        states = token_states(ids, mask, layers)
        for row, i in enumerate(chunk):
            word_ids = np.array([-1 if w is None else w for w in encoded[i].word_ids])
            keep = word_ids >= 0
            sums = np.zeros((len(sequences[i]), 384), dtype=np.float32)
            np.add.at(sums, word_ids[keep], states[row, :len(word_ids)][keep])
            counts = np.bincount(word_ids[keep], minlength=len(sequences[i]))
            out[i] = sums / np.maximum(counts, 1)[:, None]
    return out


class ContextTagger(PersonTagger):
    """The shipped tagger's features plus the reduced context states, one learned weight vector."""

    def __init__(self, threshold: float = 0.06, C: float = 0.25, layers: int = 3) -> None:
        super().__init__(threshold=threshold, C=C)
        self.layers = layers

    def fit_context(self, sequences, labels, pieces) -> ContextTagger:
        import scipy.sparse as sp
        from sklearn.linear_model import LogisticRegression

        states = np.vstack([s for s in word_states(sequences, self.layers) if len(s)])
        self.pca_ = PCA(64, random_state=0).fit(states[::5])
        self.scale_ = np.sqrt(self.pca_.explained_variance_)
        reduced = (self.pca_.transform(states) / self.scale_).astype(np.float32)
        X = sp.hstack([self.design_matrix(sequences, pieces), sp.csr_matrix(reduced)]).tocsr()
        y = np.asarray([tag for _, tags in zip(sequences, labels, strict=True) for tag in tags])
        model = LogisticRegression(C=self.C, max_iter=2000, solver="liblinear").fit(X, y)
        self.context_coef_ = self.adopt(model.coef_.ravel(), float(model.intercept_[0]), pieces)
        return self

    def token_logits(self, tokens: list[str]) -> np.ndarray:
        states = self.pca_.transform(word_states([tokens], self.layers)[0]) / self.scale_
        return super().token_logits(tokens) + states @ self.context_coef_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--thresholds", default="0.07,0.05,0.04,0.03")
    args = parser.parse_args()
    seqs, labels = train.training_data(train.SHARED / "deid" / "wnut17_train.conll",
                                       train.SHARED / "themes" / "banking77" / "train.csv")
    started = time.process_time()
    tagger = ContextTagger(layers=args.layers).fit_context(seqs, labels, train.word_pieces())
    print(f"trained with {args.layers} layers of context in {time.process_time() - started:.0f} CPU-s")
    dev = load_conll(DATA / "wnut17_dev.conll")
    presidio = policy_view(load_presidio(DATA / "presidio_synth_dataset_v2.json"))
    print(f"{'threshold':>9} {'WNUT dev person R':>18} {'Presidio policy R':>18} {'P':>6}")
    for threshold in (float(t) for t in args.thresholds.split(",")):
        engine = Deidentifier(person_threshold=threshold).fit()
        tagger.threshold = threshold
        engine.tagger_ = tagger
        wnut, pres = score(dev, engine), score(presidio, engine)["overall"]["char"]
        print(f"{threshold:>9} {wnut['recall_by_gold_kind']['PERSON']['char']:>18.3f} "
              f"{pres['recall']:>18.3f} {pres['precision']:>6.3f}")
    for name, examples in (("Presidio", presidio), ("WNUT dev", dev)):
        texts = [e.text for e in examples]
        kb = sum(len(t.encode()) for t in texts) / 1024
        sequences = [[w for _, _, w in tokenize(t)] for t in texts]
        started = time.process_time()
        word_states(sequences, args.layers)
        batched = kb / (time.process_time() - started)
        started = time.process_time()
        for s in sequences:
            word_states([s], args.layers)
        single = kb / (time.process_time() - started)
        engine = Deidentifier().fit()
        started = time.process_time()
        for t in texts:
            engine.find(t)
        shipped = kb / (time.process_time() - started)
        print(f"{name}: {args.layers}-layer context {batched:.1f} KB/CPU-s batched, {single:.1f} one text at a time; "
              f"the shipped engine {shipped:.1f}")


if __name__ == "__main__":
    main()
