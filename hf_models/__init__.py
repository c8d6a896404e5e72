"""hf_models: the arc of modern NLP as Hugging Face models (BERT first; GPT, T5, Transformer, RNN/LSTM, Seq2Seq,
word2vec and n-gram models follow the same pattern).

`import hf_models` registers every config and model with transformers' Auto classes.
"""

__version__ = "0.1.0"

from .auto import register_auto_classes
from .bert import (
    BertConfig,
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertPreTrainedModel,
)

register_auto_classes()

__all__ = [
    "BertConfig",
    "BertForMaskedLM",
    "BertForMultipleChoice",
    "BertForNextSentencePrediction",
    "BertForPreTraining",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertModel",
    "BertPreTrainedModel",
    "register_auto_classes",
]
