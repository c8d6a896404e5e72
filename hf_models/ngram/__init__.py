"""Smoothed n-gram language models (MLE, add-k, Kneser-Ney, modified Kneser-Ney as KenLM's lmplz) with ARPA I/O."""

from .arpa import ARPAFormatError, BackoffTables, read_arpa, write_arpa
from .configuration_ngram import NGramConfig
from .counting import NGramVocabulary
from .modeling_ngram import (
    NGramForCausalLM,
    NGramLanguageModel,
    NGramPreTrainedModel,
    TokenScore,
    train_ngram,
)

__all__ = [
    "ARPAFormatError",
    "BackoffTables",
    "NGramConfig",
    "NGramForCausalLM",
    "NGramLanguageModel",
    "NGramPreTrainedModel",
    "NGramVocabulary",
    "TokenScore",
    "read_arpa",
    "train_ngram",
    "write_arpa",
]
