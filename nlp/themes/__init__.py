"""Themes: vectorize passages once, cluster the stored vectors, describe each theme, and keep
theme identity across runs. Framework-free; scikit-learn estimators."""
from .cluster import ThemeModel, choose_k
from .describe import ThemeScores, class_terms, label_for, representative, scores
from .identity import changed, match
from .vectorize import VERSION as LSA_VERSION
from .vectorize import LsaVectorizer

__all__ = ["LSA_VERSION", "LsaVectorizer", "ThemeModel", "ThemeScores", "changed", "choose_k", "class_terms",
           "label_for", "match", "representative", "scores"]
