"""Word lists the person tagger looks words up in: public-domain 1990 US Census first names
and surnames (from the ``names`` package) and English word frequencies (``wordfreq``)."""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

TITLES = frozenset(
    "mr mrs ms miss mx dr doctor prof professor sgt sergeant cpl corporal pvt lt lieutenant capt captain col colonel "
    "maj major gen general adm admiral rev reverend fr father sr sister br brother hon sen senator rep gov judge "
    "officer agent nurse coach uncle aunt auntie grandma grandpa mom dad madam sir dear".split()
)
# Token pattern shared by training and tagging: words (with inner apostrophes, as in
# O'Brien, but not a possessive 's, so "Szczepańska's" yields the name), or one symbol.
TOKEN = re.compile(r"[^\W_]+(?:['’](?![sS]\b)[^\W_]+)*|\S")


@dataclass(frozen=True)
class Lexicon:
    first_rank: dict[str, int]
    last_rank: dict[str, int]
    zipf: dict[str, float]

    def zipf_of(self, lower: str) -> float:
        return self.zipf.get(lower, 0.0)


def _census(path: Path) -> dict[str, int]:
    ranks: dict[str, int] = {}
    with path.open(encoding="ascii") as handle:
        for line in handle:
            parts = line.split()
            if parts:
                ranks.setdefault(parts[0].lower(), int(parts[3]))
    return ranks


@functools.lru_cache(maxsize=1)
def load() -> Lexicon:
    """Load once per process (about 0.3 s); every tagger in the process shares it."""
    import names
    from wordfreq import get_frequency_dict

    base = Path(names.__file__).parent
    first = _census(base / "dist.male.first")
    for name, rank in _census(base / "dist.female.first").items():
        first[name] = min(rank, first.get(name, rank))
    last = _census(base / "dist.all.last")
    freq = get_frequency_dict("en", wordlist="large")
    zipf = {w: round(math.log10(f) + 9, 1) for w, f in freq.items() if f >= 1e-8}
    return Lexicon(first_rank=first, last_rank=last, zipf=zipf)
