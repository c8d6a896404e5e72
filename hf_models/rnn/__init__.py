"""The recurrent family: Elman RNN, LSTM and GRU language models, sentence classifiers and taggers."""

from . import modeling_rnn
from .configuration_rnn import RnnConfig
from .from_scratch import build_word_tokenizer, create_rnn_checkpoint
from .modeling_rnn import *  # noqa: F403 -- modeling_rnn.__all__: every head of HEADS, the cells, the state
from .vanishing_gradient import (
    gradient_norms_by_step,
    plot_gradient_norms,
    vanishing_gradient_experiment,
)

__all__ = [
    "RnnConfig",
    "build_word_tokenizer",
    "create_rnn_checkpoint",
    "gradient_norms_by_step",
    "plot_gradient_norms",
    "vanishing_gradient_experiment",
]
__all__ += modeling_rnn.__all__
