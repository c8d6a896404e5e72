"""Pretraining from raw text with `transformers.Trainer`, one runner for every objective (`--objective`):

- `mlm_nsp`: BERT's masked LM + next sentence prediction (Devlin et al. 2019, section 3.1), `AutoModelForPreTraining`.
- `mlm`: masked LM alone on whole-sentence segments (RoBERTa's DOC-SENTENCES, Liu et al. 2019), `AutoModelForMaskedLM`.
- `span_corruption`: T5's span corruption (Raffel et al. 2020, section 3.1.4) on packed blocks of text,
  `AutoModelForSeq2SeqLM`; the tokenizer trained when none is given is a SentencePiece-style Unigram model with T5's
  `<extra_id_N>` sentinels at the end of its vocabulary.

An objective is a `PretrainingObjective`: how documents become examples, the collator that makes batches, the head
(an Auto class) and the model type of a new model, the tokenizer trained when none is given, and the metrics.
Causal LM (GPT) is registered the same way (`register_objective`); the run around them
(tokenizer, datasets, model, resumable output folder, JSON results) is shared. `training/pretrain.py` is the command.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import torch

from ..cli_utils import InputError, input_paths, json_safe, releases_output_dirs
from ..pretraining.documents import parse_document_separator, read_documents
from ..pretraining.masked_lm import (
    DataCollatorForBertPretraining,
    compute_pretraining_metrics,
    create_mlm_examples,
    preprocess_logits_for_metrics,
)
from ..pretraining.next_sentence import create_nsp_examples
from ..pretraining.span_corruption import (
    DataCollatorForSpanCorruption,
    compute_input_and_target_lengths,
    create_span_corruption_examples,
)
from ..trainer_utils import (
    SafeSavingMixin,
    detect_last_checkpoint,
    wait_for_everyone,
)

logger = logging.getLogger("hf_models.tasks.pretraining")


# ----------------------------------------------------------------------------------------------------------------------
# Objectives
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PretrainingObjective:
    """What one pretraining objective needs from the shared run."""

    name: str
    description: str
    auto_model_class: str  # the transformers Auto class of the head, e.g. "AutoModelForPreTraining"
    default_model_type: str  # model_type of a new model, e.g. "hf_bert"
    # (documents, tokenizer, data_args, seed, dupe_factor) -> datasets.Dataset of examples
    build_examples: Callable[..., datasets.Dataset]
    # (tokenizer, data_args, seed or None, pad_to_multiple_of or None) -> a data collator
    make_collator: Callable[..., Any]
    # (train_files, model_args, max_length) -> a new tokenizer trained on the files
    train_tokenizer: Callable[..., Any]
    # collator -> (eval dataset, seed) -> the eval dataset with its targets fixed once (static evaluation)
    fix_eval_targets: Callable[..., datasets.Dataset] | None = None
    compute_metrics: Callable[..., dict[str, float]] | None = None
    preprocess_logits_for_metrics: Callable[..., Any] | None = None
    min_documents: int = 1  # NSP draws random segments from another document: 2
    default_vocab_size: int = 30522  # --vocab_size of the tokenizer trained when none is given
    # (tokenizer, model_args, data_args) -> None; raises InputError for a tokenizer the objective cannot use, before
    # any text is read
    check_tokenizer: Callable[..., None] | None = None
    # (model_args, data_args) -> None; raises InputError for arguments the objective cannot use, before any work
    check_arguments: Callable[..., None] | None = None


OBJECTIVES: dict[str, PretrainingObjective] = {}


def register_objective(objective: PretrainingObjective) -> PretrainingObjective:
    """Make `--objective NAME` available (a name registered twice is replaced)."""
    OBJECTIVES[objective.name] = objective
    return objective


def get_objective(name: str) -> PretrainingObjective:
    if name not in OBJECTIVES:
        raise ValueError(f"--objective must be one of {', '.join(sorted(OBJECTIVES))}, got {name!r}")
    return OBJECTIVES[name]


def _train_wordpiece(train_files, model_args, max_length: int):
    from ..tokenization import train_wordpiece_tokenizer

    return train_wordpiece_tokenizer(
        train_files, vocab_size=model_args.vocab_size, min_frequency=model_args.tokenizer_min_frequency,
        lowercase=model_args.do_lower_case, max_length=max_length, input_type="files",
    )


def _mlm_collator(tokenizer, data_args, seed=None, pad_to_multiple_of=None):
    return DataCollatorForBertPretraining(
        tokenizer, data_args.mlm_probability, data_args.whole_word_masking, pad_to_multiple_of, seed=seed
    )


def _nsp_examples(documents, tokenizer, data_args, seed: int, dupe_factor: int) -> datasets.Dataset:
    return create_nsp_examples(
        documents, tokenizer, max_seq_length=data_args.max_seq_length, short_seq_prob=data_args.short_seq_prob,
        nsp_probability=data_args.nsp_probability, seed=seed, dupe_factor=dupe_factor,
    )


def _mlm_examples(documents, tokenizer, data_args, seed: int, dupe_factor: int) -> datasets.Dataset:
    # the segments are deterministic; the masks (drawn per batch) are what differs between passes
    return create_mlm_examples(documents, tokenizer, max_seq_length=data_args.max_seq_length)


def _mask_once(collator, dataset: datasets.Dataset, seed: int) -> datasets.Dataset:
    return collator.mask_dataset(dataset, seed=seed)


register_objective(PretrainingObjective(
    name="mlm_nsp",
    description="BERT: masked LM (15%; 80% [MASK], 10% random, 10% kept) + next sentence prediction",
    auto_model_class="AutoModelForPreTraining",
    default_model_type="hf_bert",
    build_examples=_nsp_examples,
    make_collator=_mlm_collator,
    train_tokenizer=_train_wordpiece,
    fix_eval_targets=_mask_once,
    compute_metrics=compute_pretraining_metrics,
    preprocess_logits_for_metrics=preprocess_logits_for_metrics,
    min_documents=2,
))
register_objective(PretrainingObjective(
    name="mlm",
    description="masked LM alone on whole-sentence segments (RoBERTa's DOC-SENTENCES, no NSP)",
    auto_model_class="AutoModelForMaskedLM",
    default_model_type="hf_bert",
    build_examples=_mlm_examples,
    make_collator=_mlm_collator,
    train_tokenizer=_train_wordpiece,
    fix_eval_targets=_mask_once,
    compute_metrics=compute_pretraining_metrics,
    preprocess_logits_for_metrics=preprocess_logits_for_metrics,
))


# -- span corruption (T5) ----------------------------------------------------------------------------------------------
T5_SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]  # T5's ids: <pad>=0 (also the decoder's start), </s>=1, <unk>=2


def _train_unigram(train_files, model_args, max_length: int):
    """T5's kind of tokenizer, trained on the files: a SentencePiece Unigram model (Kudo 2018) over Metaspace pieces
    ("▁" marks a word start, so decoding restores the spaces), with <pad>=0, </s>=1, <unk>=2 and then the
    `--extra_ids` sentinels at the END of the vocabulary in descending order, as in T5 (<extra_id_0> is the last id).
    `--vocab_size` counts everything, sentinels included (T5: 32,000 pieces + 100 sentinels = 32,100). Returned as
    transformers' `T5Tokenizer` (tokenizers-backed), which `AutoTokenizer` reloads from the saved folder with the same
    ids. Text is cased and not normalized: `--do_lower_case` and `--tokenizer_min_frequency` are WordPiece's."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    from ..tokenization import _CountingIterator, _text_batches

    num_pieces = model_args.vocab_size - model_args.extra_ids
    if num_pieces <= len(T5_SPECIAL_TOKENS) + 1:
        raise InputError(
            f"--vocab_size {model_args.vocab_size} leaves {num_pieces} entries for <pad>, </s>, <unk> and the "
            f"SentencePiece pieces once the {model_args.extra_ids} sentinels (--extra_ids) are counted: raise "
            f"--vocab_size"
        )
    tokenizer = Tokenizer(models.Unigram())
    # the pre-tokenizer and decoder T5Tokenizer builds: the pieces are learned on what they will be applied to
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(
        vocab_size=num_pieces, special_tokens=T5_SPECIAL_TOKENS, unk_token="<unk>", show_progress=False,
    )
    counter = _CountingIterator(_text_batches(train_files, "files"))
    tokenizer.train_from_iterator(counter, trainer=trainer)
    if counter.characters == 0:
        raise InputError(f"{', '.join(map(str, train_files))}: no text to train a tokenizer on (every line is blank)")
    vocab = [(piece, float(score)) for piece, score in json.loads(tokenizer.to_str())["model"]["vocab"]]
    if [piece for piece, _ in vocab[:len(T5_SPECIAL_TOKENS)]] != T5_SPECIAL_TOKENS:  # the trainer puts them first
        raise RuntimeError(f"the Unigram trainer did not put {T5_SPECIAL_TOKENS} first: {vocab[:3]}")
    if len(vocab) < num_pieces:
        logger.info(f"The Unigram vocabulary has {len(vocab)} pieces (--vocab_size asked for {num_pieces} before the "
                    f"sentinels): the text holds no more")
    vocab += [(f"<extra_id_{i}>", 0.0) for i in reversed(range(model_args.extra_ids))]  # T5: sentinels last, 0 at end
    return T5Tokenizer(vocab=vocab, extra_ids=model_args.extra_ids, model_max_length=max_length)


def _span_lengths(data_args) -> tuple[int, int]:
    """(tokens_length, targets_length): --max_seq_length is the corrupted INPUT's length (512 <- blocks of 568)."""
    try:
        return compute_input_and_target_lengths(
            data_args.max_seq_length, data_args.noise_density, data_args.mean_noise_span_length
        )
    except ValueError as err:
        raise InputError(f"--max_seq_length {data_args.max_seq_length} (the corrupted input's length): {err}") from None


def _span_collator(tokenizer, data_args, seed=None, pad_to_multiple_of=None):
    # Every input and every target of a batch has the same length: nothing is padded (pad_to_multiple_of unused).
    # No decoder_input_ids: the model shifts the labels right behind its config's decoder_start_token_id (T5: <pad>),
    # which is the checkpoint's own when continuing one. seed None: the masks come from torch's RNG, which Trainer
    # seeds from --seed and restores on resume.
    tokens_length, _ = _span_lengths(data_args)
    return DataCollatorForSpanCorruption(
        tokenizer, tokens_length, data_args.noise_density, data_args.mean_noise_span_length, seed=seed,
    )


def _span_check_tokenizer(tokenizer, model_args, data_args) -> None:
    """Refuse, before any text is read, a tokenizer without the sentinels (or EOS) span corruption needs."""
    source = tokenizer.name_or_path or f"the trained tokenizer (--extra_ids {model_args.extra_ids})"
    try:
        _span_collator(tokenizer, data_args)
    except InputError:
        raise
    except ValueError as err:
        raise InputError(f"{source}: {err}") from None
    if model_args.model_name_or_path is None and tokenizer.pad_token_id is None:
        raise InputError(f"{source}: tokenizer: has no pad_token, which a new T5 model starts its decoder from")


def _span_check_arguments(model_args, data_args) -> None:
    _span_lengths(data_args)  # the input length can be reached at this noise density and span length


def _span_examples(documents, tokenizer, data_args, seed: int, dupe_factor: int) -> datasets.Dataset:
    # packed blocks; the spans (drawn per batch) are what differs between passes
    tokens_length, _ = _span_lengths(data_args)
    return create_span_corruption_examples(documents, tokenizer, tokens_length)


def _corrupt_once(collator, dataset: datasets.Dataset, seed: int) -> datasets.Dataset:
    return collator.corrupt_dataset(dataset, seed=seed)


def compute_span_corruption_metrics(eval_prediction) -> dict[str, float]:
    """Loss, perplexity and accuracy of the targets' tokens (sentinels, the dropped spans and EOS) under teacher
    forcing: the MLM metrics (`compute_pretraining_metrics`) taken over every target token."""
    metrics = compute_pretraining_metrics(eval_prediction)
    return {
        "target_loss": metrics["mlm_loss"],
        "target_perplexity": metrics["mlm_perplexity"],
        "target_accuracy": metrics["mlm_accuracy"],
        "num_target_tokens": metrics["num_masked_tokens"],
    }


register_objective(PretrainingObjective(
    name="span_corruption",
    description="T5: span corruption (15% of each block in spans of mean length 3, replaced by sentinels; the target "
                "lists the spans)",
    auto_model_class="AutoModelForSeq2SeqLM",
    default_model_type="hf_t5",
    build_examples=_span_examples,
    make_collator=_span_collator,
    train_tokenizer=_train_unigram,
    fix_eval_targets=_corrupt_once,
    compute_metrics=compute_span_corruption_metrics,
    preprocess_logits_for_metrics=preprocess_logits_for_metrics,  # logits[0]: (batch, target_length, vocab)
    default_vocab_size=32100,
    check_tokenizer=_span_check_tokenizer,
    check_arguments=_span_check_arguments,
))


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
_SIZE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings")
# The size flags carry BERT's names; a family whose config names them otherwise gets them under its own names.
_SIZE_FIELD_NAMES = {
    "hf_t5": {"hidden_size": "d_model", "num_hidden_layers": "num_layers", "num_attention_heads": "num_heads",
              "intermediate_size": "d_ff"},
}


@dataclass
class PretrainingModelArguments:
    """Which objective, and which model and tokenizer: a checkpoint to continue from, or a new model."""

    objective: str = field(
        default="mlm_nsp",
        metadata={"help": "The pretraining objective: 'mlm_nsp' (BERT: masked LM + next sentence prediction), 'mlm' "
                          "(masked LM alone, on whole-sentence segments) or 'span_corruption' (T5)."},
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Checkpoint (folder or hub name) to continue pretraining from. Leave out to train from "
                          "scratch with the config fields below."},
    )
    model_type: str | None = field(
        default=None,
        metadata={"help": "model_type of a new model (default: the objective's: hf_bert, hf_t5 for span_corruption)."},
    )
    tokenizer_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Tokenizer (folder or hub name). Leave out to use model_name_or_path's, or to train a new "
                          "vocabulary of --vocab_size on the train files (WordPiece for the MLM objectives; a "
                          "SentencePiece Unigram model with --extra_ids sentinels for span_corruption)."},
    )
    vocab_size: int | None = field(
        default=None,
        metadata={"help": "Size of the vocabulary trained when no tokenizer is given, special tokens and sentinels "
                          "included (default: the objective's, 30522 as BERT; 32100 as T5 for span_corruption)."},
    )
    extra_ids: int = field(
        default=100,
        metadata={"help": "span_corruption: sentinels <extra_id_0> .. <extra_id_N-1> at the end of a newly trained "
                          "vocabulary (<extra_id_0> last, as in T5)."},
    )
    tokenizer_min_frequency: int = field(default=2, metadata={"help": "Minimum pair frequency of WordPiece merges."})
    do_lower_case: bool = field(
        default=True, metadata={"help": "Lowercase text in a newly trained WordPiece tokenizer (T5's is cased)."}
    )
    hidden_size: int | None = field(
        default=None, metadata={"help": "d_model of a new model (BertConfig default 768; T5Config 512)."}
    )
    num_hidden_layers: int | None = field(
        default=None, metadata={"help": "Blocks of a new model (12; T5: 6 in the encoder and 6 in the decoder)."}
    )
    num_attention_heads: int | None = field(
        default=None, metadata={"help": "Attention heads of a new model (12; T5: 8, each of d_model / heads)."}
    )
    intermediate_size: int | None = field(default=None, metadata={"help": "d_ff of a new model (3072; T5: 2048)."})
    max_position_embeddings: int | None = field(
        default=None, metadata={"help": "Positions of a new model (512); must be >= max_seq_length."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Other config fields of a new model, as in transformers' run_mlm: "
                          "'attention_probs_dropout_prob=0.0,hidden_act=gelu' (T5: 'dropout_rate=0.0,"
                          "feed_forward_proj=gated-gelu,tie_word_embeddings=false')."},
    )

    def __post_init__(self):
        objective = get_objective(self.objective)
        if self.vocab_size is None:
            self.vocab_size = objective.default_vocab_size
        if self.extra_ids < 0:
            raise ValueError(f"--extra_ids must be >= 0, got {self.extra_ids}")
        overrides = [name for name in _SIZE_FIELDS if getattr(self, name) is not None]
        if self.config_overrides:
            overrides.append("config_overrides")
        if self.model_type is not None:
            overrides.append("model_type")
        if self.model_name_or_path is not None and overrides:
            raise ValueError(
                f"--{overrides[0]} sets up a new model; it cannot be combined with --model_name_or_path "
                f"({self.model_name_or_path}), whose config fixes it"
            )
        if self.vocab_size <= 5:
            raise ValueError(f"--vocab_size must be larger than the 5 special tokens, got {self.vocab_size}")

    def new_config_fields(self) -> dict[str, Any]:
        """The config fields of a new model: the size flags, then --config_overrides (parsed and typed)."""
        fields = {name: getattr(self, name) for name in _SIZE_FIELDS if getattr(self, name) is not None}
        for item in filter(None, (part.strip() for part in (self.config_overrides or "").split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--config_overrides: {item!r} is not key=value")
            fields[key.strip()] = _parse_value(value.strip())
        return fields

    def new_model_config_fields(self, model_type: str) -> dict[str, Any]:
        """`new_config_fields` under the names of `model_type`'s config (T5: d_model, num_layers, num_heads, d_ff;
        d_kv = d_model / num_heads unless given, as in every T5 size)."""
        fields = self.new_config_fields()
        names = _SIZE_FIELD_NAMES.get(model_type)
        if names is None:
            return fields
        if "max_position_embeddings" in fields:
            raise ValueError(
                f"--max_position_embeddings: a {model_type} model has no position embeddings (relative position "
                f"buckets; set relative_attention_max_distance with --config_overrides)"
            )
        fields = {names.get(key, key): value for key, value in fields.items()}
        if model_type == "hf_t5" and "d_kv" not in fields and ({"d_model", "num_heads"} & set(fields)):
            from ..t5 import T5Config

            defaults = T5Config()
            d_model, num_heads = fields.get("d_model", defaults.d_model), fields.get("num_heads", defaults.num_heads)
            if not isinstance(d_model, int) or not isinstance(num_heads, int) or num_heads < 1 \
                    or d_model % num_heads:
                raise ValueError(f"--hidden_size {d_model} must be a multiple of --num_attention_heads {num_heads} "
                                 f"(or give d_kv with --config_overrides)")
            fields["d_kv"] = d_model // num_heads
        return fields


def _parse_value(text: str) -> Any:
    """'3' -> 3, '0.1' -> 0.1, 'true' -> True, 'none' -> None, anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass
class PretrainingDataArguments:
    """Which text to pretrain on and how to turn it into the objective's examples."""

    train_files: list[str] | None = field(default=None, metadata={"help": "UTF-8 text file(s) to pretrain on."})
    validation_files: list[str] | None = field(
        default=None, metadata={"help": "UTF-8 text file(s) to evaluate on; default: a split of the train documents."}
    )
    document_separator: str = field(
        default="blank_line",
        metadata={"help": "'blank_line' (documents separated by empty lines), 'wikitext' (a document per ' = Title = ' "
                          "heading) or a number N (every N lines form a document, e.g. for PTB)."},
    )
    split_sentences: bool = field(
        default=True, metadata={"help": "Split lines into sentences at . ! ? (lines may be paragraphs)."}
    )
    max_seq_length: int = field(
        default=128,
        metadata={"help": "Tokens per example, special tokens included (span_corruption: of the corrupted input; 512 "
                          "comes from blocks of 568 tokens and gives targets of 114)."},
    )
    short_seq_prob: float = field(default=0.1, metadata={"help": "mlm_nsp: probability of a shorter example."})
    nsp_probability: float = field(default=0.5, metadata={"help": "mlm_nsp: probability that segment B is random."})
    dupe_factor: int = field(
        default=1, metadata={"help": "Passes over the train documents, each with new examples (evaluation: one)."}
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens selected for MLM."})
    noise_density: float = field(
        default=0.15, metadata={"help": "span_corruption: fraction of each block's tokens dropped into the target."}
    )
    mean_noise_span_length: float = field(
        default=3.0, metadata={"help": "span_corruption: mean length of a dropped span."}
    )
    whole_word_masking: bool = field(default=False, metadata={"help": "Mask whole words, not single WordPieces."})
    pad_to_multiple_of: int | None = field(default=None, metadata={"help": "Pad batches to a multiple of this."})
    validation_split_percentage: int = field(
        default=5,
        metadata={"help": "Percentage of the train documents held out for evaluation when no validation_files."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep at most this many train examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep at most this many eval examples."})
    preprocessing_seed: int = field(
        default=42, metadata={"help": "Seed of the example creation, the validation split and the static eval masks."}
    )

    def __post_init__(self):
        self.document_separator = parse_document_separator(self.document_separator)
        if not 0 <= self.validation_split_percentage < 100:
            raise ValueError(f"--validation_split_percentage must be in [0, 100), got {self.validation_split_percentage}")
        if not 0.0 < self.mlm_probability <= 1.0:
            raise ValueError(f"--mlm_probability must be in (0, 1], got {self.mlm_probability}")
        if not 0.0 < self.noise_density < 1.0:
            raise ValueError(f"--noise_density must be in (0, 1), got {self.noise_density}")
        if not self.mean_noise_span_length >= 1.0:
            raise ValueError(f"--mean_noise_span_length must be >= 1, got {self.mean_noise_span_length}")
        if self.max_seq_length < 5:
            raise ValueError(f"--max_seq_length must be >= 5, got {self.max_seq_length}")
        if self.dupe_factor < 1:
            raise ValueError(f"--dupe_factor must be >= 1, got {self.dupe_factor}")


# ----------------------------------------------------------------------------------------------------------------------
# Tokenizer, datasets, model
# ----------------------------------------------------------------------------------------------------------------------
def _new_model_type(model_args) -> str:
    return model_args.model_type or get_objective(model_args.objective).default_model_type


def _load_or_train_tokenizer(model_args, data_args, training_args, last_checkpoint):
    """Load the tokenizer, or train the objective's on the train files (on process 0, then share it)."""
    from transformers import AutoConfig, AutoTokenizer

    from ..auto import register_auto_classes

    source = model_args.tokenizer_name_or_path or model_args.model_name_or_path
    if source is None and last_checkpoint is not None and os.path.isfile(os.path.join(last_checkpoint, "tokenizer.json")):
        source = last_checkpoint  # resuming: the vocabulary the checkpoint was trained with
    if source is not None:
        logger.info(f"Loading the tokenizer from {source}")
        return AutoTokenizer.from_pretrained(source)

    register_auto_classes()
    objective = get_objective(model_args.objective)
    fields = model_args.new_config_fields()
    # the longest input of the new model (BertConfig's default: 512 positions)
    max_length = fields.get("max_position_embeddings") or getattr(
        AutoConfig.for_model(_new_model_type(model_args)), "max_position_embeddings", 512
    )
    # Tokenizer training is not deterministic (ties are broken by thread order): one process trains, every process
    # uses its vocabulary.
    serialized = [None]
    tokenizer = None
    if training_args.process_index == 0:
        logger.info(f"Training a tokenizer (vocab_size={model_args.vocab_size}) on {data_args.train_files}")
        tokenizer = objective.train_tokenizer(data_args.train_files, model_args, max_length)
        serialized = [tokenizer]
    if training_args.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(serialized, src=0)
        tokenizer = serialized[0]
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"objective {objective.name}: train_tokenizer must return a fast tokenizer")
    return tokenizer


def _split_documents(documents: list[list[str]], percentage: int, seed: int, keep: int):
    """Hold out `percentage`% of the documents (whole documents, so no text is shared with the train set)."""
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    num_eval = max(keep, round(len(documents) * percentage / 100))
    if len(documents) - num_eval < keep:
        raise ValueError(
            f"the train files hold {len(documents)} documents: too few to hold out {percentage}% for evaluation and "
            f"keep {keep} for training. Give --validation_files, or --validation_split_percentage 0 without --do_eval."
        )
    eval_ids = set(order[:num_eval])
    train = [d for i, d in enumerate(documents) if i not in eval_ids]
    evaluation = [d for i, d in enumerate(documents) if i in eval_ids]
    return train, evaluation


def build_pretraining_datasets(tokenizer, data_args, do_train: bool = True, do_eval: bool = True,
                               objective: str = "mlm_nsp"):
    """Read the text files and build the objective's (train, eval) datasets; the eval set's targets are fixed once
    (static masks), so every evaluation, and every run with the same data and seed, scores the same tokens."""
    spec = get_objective(objective)
    train_documents = read_documents(data_args.train_files, data_args.document_separator, data_args.split_sentences) \
        if data_args.train_files else None
    eval_documents = None
    if data_args.validation_files:
        eval_documents = read_documents(
            data_args.validation_files, data_args.document_separator, data_args.split_sentences
        )
    elif do_eval:
        if train_documents is None:
            raise ValueError("--do_eval needs --validation_files or --train_files to hold some documents out of")
        if data_args.validation_split_percentage == 0:
            raise ValueError("--do_eval needs --validation_files or a --validation_split_percentage above 0")
        train_documents, eval_documents = _split_documents(
            train_documents, data_args.validation_split_percentage, data_args.preprocessing_seed,
            keep=max(2, spec.min_documents),
        )

    def examples(documents, seed, max_samples, dupe_factor):
        dataset = spec.build_examples(documents, tokenizer, data_args, seed, dupe_factor)
        if max_samples is not None:
            dataset = dataset.select(range(min(max_samples, len(dataset))))
        return dataset

    train_dataset = eval_dataset = None
    if do_train:
        if train_documents is None:
            raise ValueError("--do_train needs --train_files")
        train_dataset = examples(
            train_documents, data_args.preprocessing_seed, data_args.max_train_samples, data_args.dupe_factor
        )
    if do_eval:
        # one pass (dupe_factor is a training augmentation): the same evaluation set whatever the training setup
        eval_dataset = examples(eval_documents, data_args.preprocessing_seed + 1, data_args.max_eval_samples, 1)
        if spec.fix_eval_targets is not None:
            collator = spec.make_collator(tokenizer, data_args, data_args.preprocessing_seed)
            eval_dataset = spec.fix_eval_targets(collator, eval_dataset, data_args.preprocessing_seed)
    return train_dataset, eval_dataset


def build_model(model_args, data_args, tokenizer):
    """The objective's head: loaded from a checkpoint, or new, sized by the arguments and the tokenizer's vocabulary."""
    import transformers

    from ..auto import register_auto_classes

    register_auto_classes()
    objective = get_objective(model_args.objective)
    auto_class = getattr(transformers, objective.auto_model_class)
    if model_args.model_name_or_path is not None:
        model = auto_class.from_pretrained(model_args.model_name_or_path)
        if len(tokenizer) > model.config.vocab_size:
            raise ValueError(
                f"the tokenizer has {len(tokenizer)} tokens but {model_args.model_name_or_path} has vocab_size="
                f"{model.config.vocab_size}: use the checkpoint's own tokenizer"
            )
    else:
        model_type = _new_model_type(model_args)
        special_ids = {"pad_token_id": tokenizer.pad_token_id}
        if objective.auto_model_class == "AutoModelForSeq2SeqLM":  # T5: </s> ends the target, <pad> starts the decoder
            special_ids.update(eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id)
        config = transformers.AutoConfig.for_model(
            model_type, vocab_size=len(tokenizer), **special_ids, **model_args.new_model_config_fields(model_type),
        )
        model = auto_class.from_config(config)
        logger.info(f"New {type(model).__name__} ({model.num_parameters():,} parameters)")
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions is not None and data_args.max_seq_length > max_positions:
        raise ValueError(
            f"--max_seq_length {data_args.max_seq_length} is longer than the model's max_position_embeddings="
            f"{max_positions}"
        )
    return model


# ----------------------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------------------
@releases_output_dirs
def run_pretraining(model_args, data_args, training_args, run_args=None) -> dict[str, float]:
    """Pretrain with `--objective` and `transformers.Trainer`; return the metrics.

    Trains when `training_args.do_train`, evaluates when `do_eval` (both when neither is set). The output folder gets
    the model, the tokenizer, checkpoints (resumed from automatically), `train_results.json`, `eval_results.json`,
    `all_results.json` and `trainer_state.json`; TensorBoard logs with `--report_to tensorboard`. `run_args`
    (`hf_models.cli_utils.ResultsArguments`) carries `--overwrite_output_dir` and the results table.
    """
    from transformers import Trainer, set_seed

    from ..cli_utils import ResultsArguments, append_results_row, results_table_path

    run_args = run_args if run_args is not None else ResultsArguments()
    objective = get_objective(model_args.objective)
    if not training_args.do_train and not training_args.do_eval:
        logger.info("Neither --do_train nor --do_eval given: doing both")
        training_args.do_train = training_args.do_eval = True
    elif not training_args.do_train:
        logger.warning("--do_train not given: evaluating only")
    if training_args.do_train and not data_args.train_files:
        raise ValueError("--do_train needs --train_files")
    if training_args.do_eval and not (data_args.train_files or data_args.validation_files):
        raise ValueError("--do_eval needs --validation_files (or --train_files to hold some documents out of)")
    for path in list(data_args.train_files or []) + list(data_args.validation_files or []):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"text file not found: {path}")

    if model_args.model_name_or_path is None:
        model_args.new_model_config_fields(_new_model_type(model_args))  # a bad size flag fails before any work
    if objective.check_arguments is not None:
        objective.check_arguments(model_args, data_args)
    logger.info(f"Objective {objective.name}: {objective.description}")
    logger.info(f"Training/evaluation parameters {training_args}")
    # Every process reads the output folder before any process writes to it.
    last_checkpoint = detect_last_checkpoint(training_args, run_args.overwrite_output_dir,
                                             inputs=input_paths(model_args, data_args))
    wait_for_everyone(training_args)

    tokenizer = _load_or_train_tokenizer(model_args, data_args, training_args, last_checkpoint)
    if objective.check_tokenizer is not None:
        objective.check_tokenizer(tokenizer, model_args, data_args)
    with training_args.main_process_first(desc="building the pretraining datasets"):
        train_dataset, eval_dataset = build_pretraining_datasets(
            tokenizer, data_args, do_train=training_args.do_train, do_eval=training_args.do_eval,
            objective=objective.name,
        )
    for name, dataset in (("train", train_dataset), ("eval", eval_dataset)):
        if dataset is None:
            continue
        if "next_sentence_label" in dataset.column_names:
            labels = np.asarray(dataset["next_sentence_label"])
            logger.info(f"{name} examples: {len(dataset)} ({labels.mean():.1%} with a random next segment)")
        else:
            logger.info(f"{name} examples: {len(dataset)}")

    set_seed(training_args.seed)  # the same new model in every process and on every resume
    model = build_model(model_args, data_args, tokenizer)
    collator = objective.make_collator(tokenizer, data_args, None, data_args.pad_to_multiple_of)
    class PretrainingTrainer(SafeSavingMixin, Trainer):
        pass

    trainer = PretrainingTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=objective.compute_metrics if training_args.do_eval else None,
        preprocess_logits_for_metrics=objective.preprocess_logits_for_metrics if training_args.do_eval else None,
    )

    results: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model()  # the model and the tokenizer
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = len(train_dataset)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", json_safe(metrics, "train_results.json"))  # strict JSON: NaN -> null
        trainer.save_state()
        results.update({k if k.startswith("train") else f"train_{k}": v for k, v in metrics.items()})
    if training_args.do_eval:
        metrics = trainer.evaluate()
        metrics["eval_samples"] = len(eval_dataset)
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", json_safe(metrics, "eval_results.json"))  # strict JSON: NaN -> null
        results.update(metrics)
        if training_args.should_save:
            shown = {k.removeprefix("eval_"): v for k, v in metrics.items()
                     if k.removeprefix("eval_") in ("loss", "mlm_loss", "mlm_perplexity", "mlm_accuracy", "nsp_loss",
                                                    "nsp_accuracy", "target_loss", "target_perplexity",
                                                    "target_accuracy")}
            append_results_row(results_table_path(run_args, training_args.output_dir), {
                "task": f"pretraining ({objective.name})", "split": "validation",
                "model": model_args.model_name_or_path or type(model).__name__, "implementation": "hf_models"
                if type(model).__module__.startswith("hf_models") else type(model).__module__.split(".")[0],
                "examples": len(eval_dataset), "metrics": shown, "output_dir": training_args.output_dir,
            })
    return results


__all__ = [
    "OBJECTIVES",
    "PretrainingDataArguments",
    "PretrainingModelArguments",
    "PretrainingObjective",
    "build_model",
    "build_pretraining_datasets",
    "compute_span_corruption_metrics",
    "get_objective",
    "register_objective",
    "run_pretraining",
]
