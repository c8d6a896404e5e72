"""Seq2Seq: an LSTM encoder-decoder with optional global attention (none, dot, general, concat)."""

from .configuration_seq2seq import Seq2SeqConfig
from .modeling_seq2seq import (
    Seq2SeqDecoderState,
    Seq2SeqEncoderOutput,
    Seq2SeqForConditionalGeneration,
    Seq2SeqModel,
    Seq2SeqPreTrainedModel,
    plot_attention,
    shift_tokens_right,
)

__all__ = [
    "Seq2SeqConfig",
    "Seq2SeqDecoderState",
    "Seq2SeqEncoderOutput",
    "Seq2SeqForConditionalGeneration",
    "Seq2SeqModel",
    "Seq2SeqPreTrainedModel",
    "plot_attention",
    "shift_tokens_right",
]
