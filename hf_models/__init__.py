"""hf_models: the arc of modern NLP as Hugging Face models: n-gram language models, word2vec, RNN/LSTM/GRU,
Seq2Seq with attention and BERT so far; the Transformer, GPT and T5 follow the same pattern.

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
from .ngram import NGramConfig, NGramForCausalLM, NGramLanguageModel, train_ngram
from .rnn import (
    RnnConfig,
    RnnForCausalLM,
    RnnForSequenceClassification,
    RnnForTokenClassification,
    RnnModel,
)
from .seq2seq import Seq2SeqConfig, Seq2SeqForConditionalGeneration, Seq2SeqModel
from .word2vec import (
    KeyedVectors,
    LineSentence,
    Word2VecConfig,
    Word2VecModel,
    build_and_train,
    train_word2vec,
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
    "KeyedVectors",
    "LineSentence",
    "NGramConfig",
    "NGramForCausalLM",
    "NGramLanguageModel",
    "RnnConfig",
    "RnnForCausalLM",
    "RnnForSequenceClassification",
    "RnnForTokenClassification",
    "RnnModel",
    "Seq2SeqConfig",
    "Seq2SeqForConditionalGeneration",
    "Seq2SeqModel",
    "Word2VecConfig",
    "Word2VecModel",
    "build_and_train",
    "register_auto_classes",
    "train_ngram",
    "train_word2vec",
]
