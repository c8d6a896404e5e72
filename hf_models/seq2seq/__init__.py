"""Seq2Seq: an LSTM encoder-decoder with optional global attention (none, dot, general, concat)."""

from . import modeling_seq2seq
from .configuration_seq2seq import Seq2SeqConfig
from .modeling_seq2seq import *  # noqa: F403 -- modeling_seq2seq.__all__: every head of HEADS, its parts, helpers

__all__ = ["Seq2SeqConfig"]
__all__ += modeling_seq2seq.__all__
