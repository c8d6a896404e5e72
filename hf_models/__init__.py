"""hf_models: the arc of modern NLP as Hugging Face models: n-gram language models, word2vec, RNN/LSTM/GRU,
Seq2Seq with attention, the Transformer and BERT so far; GPT and T5 follow the same pattern.

`import hf_models` registers every config and model with transformers' Auto classes. The package exports every
family's config and heads (each family declares its heads once, in `HEADS` of its modeling file: see `hf_models.auto`)
and the few other names below.
"""

__version__ = "0.1.0"

from .auto import FAMILIES, register_auto_classes
from .bert import BertPreTrainedModel
from .ngram import NGramForCausalLM, train_ngram
from .word2vec import KeyedVectors, LineSentence, build_and_train, train_word2vec

register_auto_classes()

# Every family's config and heads, from its HEADS, bound here (hf_models.BertModel, ...) and added to __all__.
_FAMILY_CLASSES = {name: cls for family in FAMILIES.values() for name, cls in family.public_classes.items()}
globals().update(_FAMILY_CLASSES)

__all__ = [
    "BertPreTrainedModel",
    "KeyedVectors",
    "LineSentence",
    "NGramForCausalLM",
    "build_and_train",
    "register_auto_classes",
    "train_ngram",
    "train_word2vec",
]
__all__ += [name for name in _FAMILY_CLASSES]
