"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling, hierarchical softmax or the full
softmax, as a Hugging Face model with a fast multi-threaded trainer, gensim-compatible word vectors and the one-hot
baseline of the lecture.

    >>> from hf_models.word2vec import LineSentence, Word2VecConfig, build_and_train
    >>> model, stats = build_and_train(LineSentence("corpus.txt"), Word2VecConfig(architecture="skipgram"))
    >>> model.wv.most_similar("king")
    >>> model.save_pretrained("w2v")        # weights, config.json and vocab.txt
    >>> load_vectors("w2v")                 # or a word2vec .txt/.bin file, or a KeyedVectors .npz
"""

from . import modeling_word2vec
from .configuration_word2vec import ARCHITECTURES, OBJECTIVES, Word2VecConfig
from .corpus import LineSentence, as_corpus
from .keyed_vectors import KeyedVectors, Word2VecFormatError, load_vectors
from .modeling_word2vec import *  # noqa: F403 -- modeling_word2vec.__all__: every head of HEADS, its output, ...
from .one_hot import one_hot_demo, one_hot_encode
from .training import (
    EpochStats,
    TrainingStats,
    Word2VecCallback,
    build_and_train,
    train_word2vec,
)
from .vocabulary import HuffmanTree, Vocabulary

__all__ = [
    "ARCHITECTURES",
    "OBJECTIVES",
    "EpochStats",
    "HuffmanTree",
    "KeyedVectors",
    "LineSentence",
    "TrainingStats",
    "Vocabulary",
    "Word2VecCallback",
    "Word2VecConfig",
    "Word2VecFormatError",
    "as_corpus",
    "build_and_train",
    "load_vectors",
    "one_hot_demo",
    "one_hot_encode",
    "train_word2vec",
]
__all__ += modeling_word2vec.__all__
