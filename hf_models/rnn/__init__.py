"""The recurrent family: Elman RNN, LSTM and GRU language models, sentence classifiers and taggers."""

from .configuration_rnn import RnnConfig
from .from_scratch import build_word_tokenizer, create_rnn_checkpoint
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
from .vanishing_gradient import (
    gradient_norms_by_step,
    plot_gradient_norms,
    vanishing_gradient_experiment,
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
    "build_word_tokenizer",
    "create_rnn_checkpoint",
    "gradient_norms_by_step",
    "plot_gradient_norms",
    "vanishing_gradient_experiment",
]
