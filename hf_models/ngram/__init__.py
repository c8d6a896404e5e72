"""Smoothed n-gram language models (MLE, add-k, Kneser-Ney, modified Kneser-Ney as KenLM's lmplz) with ARPA I/O."""

from . import modeling_ngram
from .arpa import ARPAFormatError, BackoffTables, read_arpa, write_arpa
from .configuration_ngram import NGramConfig
from .counting import NGramVocabulary
from .modeling_ngram import *  # noqa: F403 -- modeling_ngram.__all__: every head of HEADS, TokenScore, train_ngram

__all__ = [
    "ARPAFormatError",
    "BackoffTables",
    "NGramConfig",
    "NGramVocabulary",
    "read_arpa",
    "write_arpa",
]
__all__ += modeling_ngram.__all__
