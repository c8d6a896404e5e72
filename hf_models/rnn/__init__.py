"""The recurrent family: Elman RNN, LSTM and GRU language models, sentence classifiers and taggers."""

from .configuration_rnn import RnnConfig
from .modeling_rnn import (
    GRUCell,
    LSTMCell,
    RNNCell,
    RnnForCausalLM,
    RnnForSequenceClassification,
    RnnForTokenClassification,
    RnnModel,
    RnnPreTrainedModel,
    RnnState,
)

__all__ = [
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "RnnConfig",
    "RnnForCausalLM",
    "RnnForSequenceClassification",
    "RnnForTokenClassification",
    "RnnModel",
    "RnnPreTrainedModel",
    "RnnState",
]
