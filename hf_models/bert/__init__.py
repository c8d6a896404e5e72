"""BERT: configuration, encoder and heads (its pretraining data is `hf_models.pretraining`)."""

from . import modeling_bert
from .configuration_bert import BertConfig
from .modeling_bert import *  # noqa: F403 -- modeling_bert.__all__: every head of HEADS, and BertPreTrainedModel

__all__ = ["BertConfig"]
__all__ += modeling_bert.__all__
