"""word2vec (Mikolov et al. 2013a, "Efficient Estimation of Word Representations in Vector Space"; Mikolov et al.
2013b, "Distributed Representations of Words and Phrases and their Compositionality") as a Hugging Face model.

The model is two embedding tables and one of three objectives, as the lecture draws it:

- `input_embeddings` (V x d): the word vectors v_w, gensim's `wv.vectors` (word2vec.c's syn0), the ones kept after
  training;
- `output_embeddings` (V x d): the output vectors u_w of the full softmax and of negative sampling (syn1neg),
  zero-initialised like word2vec.c and gensim;
- `hs_node_embeddings` ((V-1) x d): the vectors of the inner nodes of the Huffman tree for hierarchical softmax
  (syn1).

`forward` computes the loss in plain torch (differentiable, usable with the HF Trainer) for skip-gram pairs and CBOW
context bags; the fast multi-threaded trainer in `training.py` updates the same weights in place with compiled
kernels. The vocabulary (`model.vocab`) travels with the weights as word2vec.c's `vocab.txt`.

This file imports only torch, transformers and single-dot siblings, so a saved folder loads with
`trust_remote_code=True`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, cached_file

from .configuration_word2vec import Word2VecConfig
from .vocabulary import VOCAB_FILE, Vocabulary

logger = logging.getLogger(__name__)

_HUB_KWARGS = ("cache_dir", "force_download", "proxies", "local_files_only", "token", "revision", "subfolder")


# ----------------------------------------------------------------------------------------------------------------------
# Input checks: bad input stops here with a message that names the argument, not deep inside torch.
# ----------------------------------------------------------------------------------------------------------------------
def _check_ids(name: str, ids: torch.Tensor, upper: int, field: str) -> None:
    """Raise a clear error when `ids` is not an integer tensor with values in [0, upper)."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.LongTensor, got {type(ids).__name__}")
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer ids, got dtype {ids.dtype}")
    if ids.numel() == 0:
        return
    low, high = torch.aminmax(ids)
    low, high = int(low), int(high)
    if low < 0 or high >= upper:
        raise ValueError(f"{name} contains id {low if low < 0 else high}, outside [0, {field}={upper})")


@dataclass
class Word2VecOutput(ModelOutput):
    """Output of `Word2VecModel.forward`.

    Args:
        loss: mean loss per prediction (a skip-gram pair or a CBOW centre word).
        logits: the scores of each prediction: (N, V) over the vocabulary for the full softmax; (N, 1 + K) for
            negative sampling (the target's score first, then the K noise words'); (N, L) for hierarchical softmax
            (the scores of the inner nodes on the target's Huffman path, 0 beyond its code length).
        hidden_states: the input representation h of each prediction, (N, d): the centre word's vector
            (skip-gram) or the mean/sum of the context vectors (CBOW).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: torch.FloatTensor | None = None


class Word2VecPreTrainedModel(PreTrainedModel):
    config_class = Word2VecConfig
    base_model_prefix = "word2vec"
    main_input_name = "center_ids"
    # The loss is a mean over the batch; the Trainer must not rescale it by num_items_in_batch or the world size.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """gensim 4's init: input vectors uniform in [-1/d, 1/d) (seeded by config.seed), output vectors 0.

        word2vec.c draws from [-0.5/d, 0.5/d); gensim 4 doubled the range, and with it the vectors of a short
        training agree more between runs (on PTB, 2 CBOW epochs: 47% of the 10 nearest neighbours shared between two
        seeds, against 38% with the narrower range).
        """
        if not isinstance(module, nn.Embedding) or module.weight.is_meta:
            return
        if module is getattr(self, "input_embeddings", None):
            generator = torch.Generator().manual_seed(self.config.seed)
            values = (torch.rand(module.weight.shape, generator=generator) * 2.0 - 1.0) / self.config.vector_size
            init.copy_(module.weight, values.to(module.weight.dtype))
        else:
            init.zeros_(module.weight)


class Word2VecModel(Word2VecPreTrainedModel):
    """word2vec: skip-gram or CBOW with negative sampling, hierarchical softmax or the full softmax.

    Args:
        config: the architecture, objective and training hyperparameters.
        vocab: the vocabulary whose words index the rows (`Vocabulary.build(corpus)`); a model loaded with
            `from_pretrained` reads it from the folder's `vocab.txt`.

    Build and train it from a corpus with `hf_models.word2vec.build_and_train(corpus, config)`; the trained word
    vectors are `model.wv` (a `KeyedVectors`) and `model.get_input_embeddings()`.
    """

    def __init__(self, config: Word2VecConfig, vocab: Vocabulary | None = None):
        if vocab is not None:
            if not isinstance(vocab, Vocabulary):
                raise TypeError(f"vocab must be a hf_models.word2vec.Vocabulary, got {type(vocab).__name__}")
            if config.vocab_size == 0:
                config.vocab_size = len(vocab)
            elif config.vocab_size != len(vocab):
                raise ValueError(
                    f"Word2VecConfig.vocab_size={config.vocab_size} but the vocabulary has {len(vocab)} words"
                )
        if config.vocab_size < 1:
            raise ValueError(
                "Word2VecConfig.vocab_size is 0: build the vocabulary from a corpus first "
                "(hf_models.word2vec.build_and_train, or Word2VecModel(config, vocab=Vocabulary.build(corpus)))"
            )
        if config.objective == "hierarchical_softmax" and config.vocab_size < 2:
            raise ValueError("Word2VecConfig.vocab_size must be at least 2 for hierarchical softmax")
        super().__init__(config)
        size, dim = config.vocab_size, config.vector_size
        self.input_embeddings = nn.Embedding(size, dim)
        if config.objective == "hierarchical_softmax":
            self.hs_node_embeddings = nn.Embedding(size - 1, dim)
        else:
            self.output_embeddings = nn.Embedding(size, dim)
        self._vocab: Vocabulary | None = None
        self._tables: dict = {}
        self._wv_cache: dict | None = None  # model.wv, built on first access (see `wv`)
        if vocab is not None:
            self.vocab = vocab
        self.post_init()

    # ------------------------------------------------------------------------------------------------------------------
    # Vocabulary and the tables derived from it
    # ------------------------------------------------------------------------------------------------------------------
    @property
    def vocab(self) -> Vocabulary | None:
        """The words indexing the embedding rows, with their counts."""
        return self._vocab

    @vocab.setter
    def vocab(self, vocab: Vocabulary) -> None:
        if not isinstance(vocab, Vocabulary):
            raise TypeError(f"vocab must be a hf_models.word2vec.Vocabulary, got {type(vocab).__name__}")
        if len(vocab) != self.config.vocab_size:
            raise ValueError(
                f"the vocabulary has {len(vocab)} words, Word2VecConfig.vocab_size={self.config.vocab_size}"
            )
        self._vocab = vocab
        self._tables = {}
        self._wv_cache = None

    def _require_vocab(self) -> Vocabulary:
        if self._vocab is None:
            raise ValueError(
                "this Word2VecModel has no vocabulary: pass vocab= when creating it, or load a folder with vocab.txt"
            )
        return self._vocab

    def _table(self, name: str, device: torch.device) -> torch.Tensor:
        """Huffman codes/points/lengths or the noise distribution as tensors on `device` (cached)."""
        key = (name, str(device))
        if key not in self._tables:
            vocab = self._require_vocab()
            if name == "noise":
                value = torch.from_numpy(vocab.noise_distribution(self.config.ns_exponent)).float()
            else:
                tree = vocab.huffman_tree()
                value = torch.from_numpy(
                    {"codes": tree.codes.astype(np.int64), "points": tree.points.astype(np.int64),
                     "lengths": tree.lengths.astype(np.int64)}[name]
                )
            self._tables[key] = value.to(device)
        return self._tables[key]

    # ------------------------------------------------------------------------------------------------------------------
    # Embeddings
    # ------------------------------------------------------------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Embedding:
        return self.input_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.input_embeddings = value

    @property
    def wv(self):
        """The trained word vectors as `KeyedVectors` (with the counts), built once and kept in step with the weights.

        A float32 CPU weight is shared, not copied: `wv.vectors` is a read-only view of `input_embeddings.weight`,
        which training updates in place, and the cached norms are recomputed after every change (gensim's `wv`
        likewise is the model's own array). Another device or dtype gets a float32 copy, refreshed on the next access
        after the weight changed. The same object is returned until the weight tensor or the vocabulary is replaced
        (e.g. `set_input_embeddings`, `resize_token_embeddings`); assigning `wv.vectors = ...` detaches it from the
        model (to change the model, write into `input_embeddings.weight` or use `load_embeddings_into`).
        """
        from .keyed_vectors import KeyedVectors

        vocab = self._require_vocab()
        weight = self.input_embeddings.weight
        if weight.dim() != 2 or weight.shape[0] != len(vocab):
            raise ValueError(
                f"input_embeddings has {weight.shape[0]} rows but the vocabulary has {len(vocab)} words: after "
                "resizing the embeddings, set model.vocab to a Vocabulary of the new size"
            )
        identity = (id(vocab), id(weight), weight.data_ptr(), tuple(weight.shape), weight.dtype, weight.device)
        cache = self.__dict__.get("_wv_cache")
        if cache is not None and cache["identity"] == identity and cache["kv"].vectors is cache["array"]:
            kv = cache["kv"]
            if cache["version"] is not None and cache["version"] != weight._version:  # a stale copy
                cache["version"] = weight._version
                cache["array"] = self._copy_input_vectors()
                kv.vectors = cache["array"]  # resets the norms
            return kv
        shared = weight.device.type == "cpu" and weight.dtype == torch.float32 and weight.is_contiguous()
        if shared:
            array = weight.detach().numpy()  # shares memory and torch's version counter with the weight
            array.flags.writeable = False  # edits go through the model (training, load_embeddings_into)
        else:
            array = self._copy_input_vectors()
        version = None if shared else weight._version
        counts = None if vocab.counts_are_synthetic else vocab.counts.copy()
        kv = KeyedVectors(list(vocab.index_to_key), array, counts)
        array = kv.vectors  # the very array the KeyedVectors holds (a view of the weight when shared)
        if shared:
            kv._track_source(weight)
        self._wv_cache = {"identity": identity, "kv": kv, "array": array, "version": version}
        return kv

    def _copy_input_vectors(self) -> np.ndarray:
        return self.input_embeddings.weight.detach().to("cpu", torch.float32).numpy().copy()

    def _word_vectors_updated(self) -> None:
        """Called after the input embeddings were written in place without torch knowing (the numba trainer writes
        through numpy views): the cached `wv` recomputes its norms (shared) or its copy (other devices/dtypes)."""
        cache = self.__dict__.get("_wv_cache")
        if cache is None:
            return
        if cache["version"] is None:
            cache["kv"]._source_changed()
        else:
            cache["version"] = -1

    # ------------------------------------------------------------------------------------------------------------------
    # The objectives (each returns the loss per prediction and its logits)
    # ------------------------------------------------------------------------------------------------------------------
    def full_softmax_loss(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-log p(o | h) with p(o | h) = exp(u_o . h) / sum_w exp(u_w . h), the softmax over all V words."""
        logits = h @ self.output_embeddings.weight.t()  # (N, d) x (d, V) -> (N, V)
        return F.cross_entropy(logits, target, reduction="none"), logits

    def negative_sampling_loss(
        self, h: torch.Tensor, target: torch.Tensor, negative_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-log s(u_o . h) - sum_k log s(-u_k . h) over noise words k ~ P_n (Mikolov 2013b, eq. 4).

        A noise word equal to the target is left out of the sum, as word2vec.c and gensim skip it.
        """
        positive = (self.output_embeddings(target) * h).sum(-1)  # (N,)
        noise_vectors = self.output_embeddings(negative_ids)  # (N, K, d)
        negative = torch.einsum("nkd,nd->nk", noise_vectors, h)  # (N, K)
        keep = (negative_ids != target.unsqueeze(-1)).to(h.dtype)
        loss = -F.logsigmoid(positive) - (F.logsigmoid(-negative) * keep).sum(-1)
        return loss, torch.cat([positive.unsqueeze(-1), negative], dim=-1)

    def hierarchical_softmax_loss(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-log p(o | h) = -sum_b log s((1 - 2 code_b) v_{point_b} . h) along o's Huffman path (Mikolov 2013b 2.1)."""
        codes = self._table("codes", h.device)[target]  # (N, L)
        points = self._table("points", h.device)[target]  # (N, L)
        lengths = self._table("lengths", h.device)[target]  # (N,)
        on_path = (torch.arange(codes.shape[-1], device=h.device) < lengths.unsqueeze(-1)).to(h.dtype)  # (N, L)
        node_vectors = self.hs_node_embeddings(points)  # (N, L, d)
        scores = torch.einsum("nld,nd->nl", node_vectors, h) * on_path  # (N, L)
        sign = 1.0 - 2.0 * codes.to(h.dtype)  # code 0 -> +1 ("left": s(v . h)), code 1 -> -1
        loss = -(F.logsigmoid(sign * scores) * on_path).sum(-1)
        return loss, scores

    def sample_negatives(self, shape: tuple[int, ...], device: torch.device, generator=None) -> torch.Tensor:
        """Noise words drawn from the unigram distribution raised to ns_exponent (Mikolov 2013b, sec. 2.2)."""
        noise = self._table("noise", device)
        count = int(np.prod(shape))
        return torch.multinomial(noise, count, replacement=True, generator=generator).view(shape)

    # ------------------------------------------------------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------------------------------------------------------
    def forward(
        self,
        center_ids: torch.LongTensor | None = None,
        context_ids: torch.LongTensor | None = None,
        negative_ids: torch.LongTensor | None = None,
        context_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
    ) -> Word2VecOutput | tuple:
        r"""The word2vec loss of a batch of predictions.

        Skip-gram (predict each context word from the centre word): `center_ids` (B,) and `context_ids` (B,) — one
        pair per row — or (B, C) with `context_mask` (B, C) marking the real context words (several pairs per row).
        CBOW (predict the centre word from its context): `context_ids` (B, C), `context_mask` (B, C) (1 for a real
        context word, 0 for padding; default all ones) and `center_ids` (B,).

        Args:
            negative_ids: noise words for negative sampling, (N, K) with one row per prediction (N = B for CBOW and
                pairs, the number of real pairs for skip-gram with a context matrix, in row-major order); drawn from
                the unigram^ns_exponent distribution when None.
            labels: the words to predict, if given instead of (or equal to) `context_ids` (skip-gram) or
                `center_ids` (CBOW), so the HF Trainer sees them as labels.
            return_dict: return a `Word2VecOutput` (default) or a tuple (loss, logits, hidden_states).
        """
        config = self.config
        size = config.vocab_size
        skipgram = config.architecture == "skipgram"
        target_name = "context_ids" if skipgram else "center_ids"
        given_target = context_ids if skipgram else center_ids
        if labels is not None:
            differ = given_target is not None and (
                given_target.shape != labels.shape or not torch.equal(given_target, labels)
            )
            if differ:
                raise ValueError(f"labels and {target_name} are both given and differ: the words to predict are one")
            given_target = labels
        input_ids = center_ids if skipgram else context_ids
        input_name = "center_ids" if skipgram else "context_ids"
        if input_ids is None:
            raise ValueError(f"{config.architecture} needs {input_name} (the input words)")
        if given_target is None:
            raise ValueError(f"{config.architecture} needs {target_name} or labels (the words to predict)")
        _check_ids(input_name, input_ids, size, "vocab_size")
        _check_ids(target_name if labels is None else "labels", given_target, size, "vocab_size")

        if skipgram:
            if input_ids.dim() != 1:
                raise ValueError(f"center_ids must have shape (batch,), got {tuple(input_ids.shape)}")
            h = self.input_embeddings(input_ids)  # (B, d)
            if given_target.dim() == 1:
                if given_target.shape != input_ids.shape:
                    raise ValueError(
                        f"{target_name} has shape {tuple(given_target.shape)}, center_ids {tuple(input_ids.shape)}: "
                        "one context word per centre word, or a (batch, contexts) matrix with context_mask"
                    )
                target = given_target
            elif given_target.dim() == 2 and given_target.shape[0] == input_ids.shape[0]:
                mask = self._mask(context_mask, given_target)
                h = h.unsqueeze(1).expand(-1, given_target.shape[1], -1)[mask]  # (B, C, d) -> (N pairs, d)
                target = given_target[mask]  # (N,)
            else:
                raise ValueError(
                    f"{target_name} must have shape (batch,) or (batch, contexts) with batch = "
                    f"{input_ids.shape[0]}, got {tuple(given_target.shape)}"
                )
        else:
            if input_ids.dim() != 2:
                raise ValueError(f"context_ids must have shape (batch, contexts), got {tuple(input_ids.shape)}")
            if given_target.shape != input_ids.shape[:1]:
                raise ValueError(
                    f"{target_name if labels is None else 'labels'} must have shape ({input_ids.shape[0]},), one "
                    f"centre word per context row, got {tuple(given_target.shape)}"
                )
            mask = self._mask(context_mask, input_ids).to(self.input_embeddings.weight.dtype)  # (B, C)
            counts = mask.sum(-1)  # (B,)
            if bool((counts == 0).any()):
                row = int((counts == 0).nonzero()[0])
                raise ValueError(f"CBOW example {row} has no context word (context_mask is all 0)")
            h = (self.input_embeddings(input_ids) * mask.unsqueeze(-1)).sum(1)  # (B, C, d) -> (B, d)
            if config.cbow_mean:
                h = h / counts.unsqueeze(-1)
            target = given_target

        if negative_ids is not None and config.objective != "negative_sampling":
            raise ValueError(f"negative_ids are only used by objective='negative_sampling', not {config.objective!r}")
        if config.objective == "full_softmax":
            loss, logits = self.full_softmax_loss(h, target)
        elif config.objective == "hierarchical_softmax":
            loss, logits = self.hierarchical_softmax_loss(h, target)
        else:
            if negative_ids is None:
                negative_ids = self.sample_negatives((target.shape[0], config.negative), h.device)
            else:
                _check_ids("negative_ids", negative_ids, size, "vocab_size")
                if negative_ids.dim() != 2 or negative_ids.shape[0] != target.shape[0]:
                    raise ValueError(
                        f"negative_ids must have shape ({target.shape[0]}, K), one row of noise words per "
                        f"prediction, got {tuple(negative_ids.shape)}"
                    )
            loss, logits = self.negative_sampling_loss(h, target, negative_ids)
        loss = loss.mean()
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return loss, logits, h
        return Word2VecOutput(loss=loss, logits=logits, hidden_states=h)

    @staticmethod
    def _mask(context_mask: torch.Tensor | None, ids: torch.Tensor) -> torch.Tensor:
        """context_mask as a bool tensor of the shape of `ids` (all True when None)."""
        if context_mask is None:
            return torch.ones_like(ids, dtype=torch.bool)
        if context_mask.shape != ids.shape:
            raise ValueError(
                f"context_mask has shape {tuple(context_mask.shape)}, context_ids {tuple(ids.shape)}: they must match"
            )
        return context_mask.bool()

    # ------------------------------------------------------------------------------------------------------------------
    # Saving and loading (the vocabulary travels as vocab.txt)
    # ------------------------------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs):
        """Save weights, config and `vocab.txt` ("word count" per line, word2vec.c's -save-vocab format).

        vocab.txt is written before transformers saves (and, with push_to_hub=True, uploads) the folder, so
        `push_to_hub` carries it too.
        """
        vocab = self._require_vocab()
        if kwargs.get("is_main_process", True):
            os.makedirs(save_directory, exist_ok=True)
            vocab.save(os.path.join(save_directory, VOCAB_FILE))
        if self._auto_class is not None:  # every head of HEADS, for trust_remote_code
            self.config.auto_map = dict(AUTO_MAP)
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load weights and config as transformers does, and the vocabulary from the folder's `vocab.txt`."""
        hub_kwargs = {key: kwargs[key] for key in _HUB_KWARGS if key in kwargs}
        loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        if model.vocab is None:
            vocab_file = cached_file(
                pretrained_model_name_or_path,
                VOCAB_FILE,
                _raise_exceptions_for_missing_entries=False,
                **hub_kwargs,
            )
            if vocab_file is None:
                raise OSError(
                    f"{pretrained_model_name_or_path} has no {VOCAB_FILE}: a Word2VecModel folder holds its vocabulary "
                    "next to the weights (written by save_pretrained)"
                )
            vocab = Vocabulary.load(vocab_file)
            if len(vocab) != model.config.vocab_size:
                raise ValueError(
                    f"{vocab_file} lists {len(vocab)} words but config.json says vocab_size={model.config.vocab_size}"
                )
            model.vocab = vocab
        return loaded

    @classmethod
    def from_keyed_vectors(cls, keyed_vectors, config: Word2VecConfig | None = None, **config_kwargs):
        """A model whose input vectors are `keyed_vectors` (output vectors zero), ready to use or train further.

        Without counts (a word2vec file has none), gensim's stand-in counts V, V-1, ..., 1 are used.
        """
        vectors = np.asarray(keyed_vectors.vectors, dtype=np.float32)
        if config is None:
            config = Word2VecConfig(vocab_size=len(keyed_vectors), vector_size=vectors.shape[1], **config_kwargs)
        elif config_kwargs:
            raise ValueError("pass either a config or config keyword arguments, not both")
        if config.vector_size != vectors.shape[1]:
            raise ValueError(
                f"Word2VecConfig.vector_size={config.vector_size} but the vectors have {vectors.shape[1]} dimensions"
            )
        vocab = Vocabulary(list(keyed_vectors.index_to_key), getattr(keyed_vectors, "counts", None))
        model = cls(config, vocab=vocab)
        with torch.no_grad(), warnings.catch_warnings():
            # another model's wv is a read-only view; torch warns about wrapping it, but it is only read here
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            model.input_embeddings.weight.copy_(torch.from_numpy(vectors))
        return model

    @classmethod
    def from_word2vec_format(
        cls, path: str | os.PathLike, binary: bool = False, vocab_file: str | os.PathLike | None = None, **kwargs
    ):
        """A model from a word2vec.c/gensim vectors file (text or binary), with counts from `vocab_file` if given."""
        from .keyed_vectors import KeyedVectors

        keyed_vectors = KeyedVectors.load_word2vec_format(path, binary=binary)
        if vocab_file is not None:
            counted = Vocabulary.load(vocab_file)
            missing = [key for key in keyed_vectors.index_to_key if key not in counted]
            if missing:
                raise ValueError(f"{vocab_file} has no count for {len(missing)} words of {path}, e.g. {missing[0]!r}")
            counts = np.array([counted.count(key) for key in keyed_vectors.index_to_key], dtype=np.int64)
            keyed_vectors = KeyedVectors(list(keyed_vectors.index_to_key), keyed_vectors.vectors, counts)
        return cls.from_keyed_vectors(keyed_vectors, **kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# Word vectors into other models
# ----------------------------------------------------------------------------------------------------------------------
def _token_ids(vocab_or_tokenizer) -> Mapping[str, int]:
    """token -> row id from a tokenizer (get_vocab), a Vocabulary, a dict or a list of tokens."""
    if isinstance(vocab_or_tokenizer, Vocabulary):
        return vocab_or_tokenizer.key_to_index
    if hasattr(vocab_or_tokenizer, "get_vocab"):
        return vocab_or_tokenizer.get_vocab()
    if isinstance(vocab_or_tokenizer, Mapping):
        return vocab_or_tokenizer
    if isinstance(vocab_or_tokenizer, Sequence) and not isinstance(vocab_or_tokenizer, str):
        return {token: index for index, token in enumerate(vocab_or_tokenizer)}
    raise TypeError(
        "vocab_or_tokenizer must be a tokenizer (with get_vocab), a Vocabulary, a dict token -> id or a list of "
        f"tokens, got {type(vocab_or_tokenizer).__name__}"
    )


def load_embeddings_into(
    model_or_embedding,
    keyed_vectors,
    vocab_or_tokenizer,
    freeze: bool = False,
    case_insensitive: bool = True,
) -> int:
    """Copy word vectors into the input embedding of another model; returns the number of rows filled.

    Each token of `vocab_or_tokenizer` found among the keys of `keyed_vectors` gets its vector in the row of its id;
    with `case_insensitive`, a token not found as it is takes the vector of the most frequent key equal to it up to
    case. Other rows keep their values. The vectors' dimension must equal the embedding's.

    Args:
        model_or_embedding: an `nn.Embedding`, or a model with `get_input_embeddings()` (e.g. hf_models.BertModel).
        keyed_vectors: a `KeyedVectors` (or a `Word2VecModel`, whose `.wv` is used).
        vocab_or_tokenizer: the target's tokens: a tokenizer, a `Vocabulary`, a dict token -> id or a list.
        freeze: stop gradient updates of the embedding afterwards.
    """
    if isinstance(model_or_embedding, nn.Embedding):
        embedding = model_or_embedding
    elif hasattr(model_or_embedding, "get_input_embeddings"):
        embedding = model_or_embedding.get_input_embeddings()
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"{type(model_or_embedding).__name__}.get_input_embeddings() is not an nn.Embedding")
    else:
        raise TypeError(
            f"model_or_embedding must be an nn.Embedding or a model with get_input_embeddings(), got "
            f"{type(model_or_embedding).__name__}"
        )
    if isinstance(keyed_vectors, Word2VecModel):
        keyed_vectors = keyed_vectors.wv
    vectors = np.asarray(keyed_vectors.vectors)
    if vectors.ndim != 2 or vectors.shape[1] != embedding.embedding_dim:
        raise ValueError(
            f"the word vectors have {vectors.shape[-1]} dimensions but the embedding has embedding_dim="
            f"{embedding.embedding_dim}: train word2vec with vector_size={embedding.embedding_dim} (or build the "
            f"model with hidden_size={vectors.shape[-1]})"
        )
    key_to_index = {key: index for index, key in enumerate(keyed_vectors.index_to_key)}
    lowered: dict[str, int] = {}
    if case_insensitive:
        for index, key in enumerate(keyed_vectors.index_to_key):  # most frequent first in a trained vocabulary
            lowered.setdefault(key.lower(), index)
    rows, sources = [], []
    for token, token_id in _token_ids(vocab_or_tokenizer).items():
        if not 0 <= int(token_id) < embedding.num_embeddings:
            raise ValueError(
                f"token {token!r} has id {token_id}, outside the embedding's {embedding.num_embeddings} rows"
            )
        source = key_to_index.get(token)
        if source is None and case_insensitive:
            source = lowered.get(token.lower())
        if source is not None:
            rows.append(int(token_id))
            sources.append(source)
    if rows:
        with torch.no_grad():
            weight = embedding.weight
            values = torch.from_numpy(np.ascontiguousarray(vectors[sources])).to(weight.device, weight.dtype)
            weight[torch.tensor(rows, device=weight.device)] = values
    if freeze:
        embedding.weight.requires_grad_(False)
    logger.info(f"load_embeddings_into: filled {len(rows)} of {embedding.num_embeddings} embedding rows")
    return len(rows)


# ----------------------------------------------------------------------------------------------------------------------
# The heads, declared once: the Auto registration (hf_models.auto), config.json's `auto_map` and the exports
# (`__all__` here, in hf_models.word2vec and in hf_models) all derive from HEADS. A new head is one more entry.
# ----------------------------------------------------------------------------------------------------------------------
HEADS = {  # transformers' Auto class -> the head it builds for an hf_word2vec config
    "AutoModel": Word2VecModel,
}


# Copied from hf_models.bert.modeling_bert._auto_map
def _auto_map(config_class: type, heads: dict[str, type]) -> dict[str, str]:
    """config.json's `auto_map`: AutoConfig and every head as "module.Class" of the code saved with the weights."""
    entries = {"AutoConfig": config_class, **heads}
    return {auto_name: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for auto_name, cls in entries.items()}


# Copied from hf_models.bert.modeling_bert._register_for_auto_classes
def _register_for_auto_classes(config_class: type, heads: dict[str, type]) -> None:
    """`register_for_auto_class` for the config and every head: save_pretrained then copies the code files."""
    config_class.register_for_auto_class()
    for auto_name, cls in heads.items():  # a class under several Auto classes keeps the last one
        cls.register_for_auto_class(auto_name)


AUTO_MAP = _auto_map(Word2VecConfig, HEADS)
_register_for_auto_classes(Word2VecConfig, HEADS)

__all__ = ["Word2VecOutput", "Word2VecPreTrainedModel", "load_embeddings_into"]
__all__ += [cls.__name__ for cls in dict.fromkeys(HEADS.values())]
