"""Causal language modelling: pretrain or fine-tune a decoder on raw text with `transformers.Trainer`, in the manner
of transformers' `examples/pytorch/language-modeling/run_clm.py`, and evaluate causal language models.

Training (`run_clm`, the command `training/run_clm.py`):

- text: local files (`--train_file`, `--validation_file`; UTF-8, .gz allowed; every non-empty line one text) or a
  hub dataset (`--dataset_name`); a validation split is held out of the train texts when none is given;
- tokenizer: any saved one (`--tokenizer_name`, or the checkpoint's), or a new one trained on the train texts
  (`--train_tokenizer`): byte-level BPE as GPT-2's (`--tokenizer_type bpe`, with `<|endoftext|>`), or word-level
  over whitespace-separated words (`--tokenizer_type word`, with `<unk>` and `<eos>`), whose perplexity is per word
  as the n-gram and LSTM language models of hf_models report it on PTB;
- model: a checkpoint to continue (`--model_name_or_path`, through hf_models' or transformers' classes,
  `--implementation`), or a new one (`--model_type gpt` with `--architecture gpt1|gpt2|llama` and
  `--config_overrides "n_embd=256,n_layer=4"`; any transformers model_type works too), its vocabulary the tokenizer's;
- data: each text followed by the eos token, all concatenated and cut into blocks of `--block_size` tokens
  (`group_texts`); the labels are the inputs (the model shifts them): L = -1/T sum_t log p(x_t | x_<t);
- results: eval loss, perplexity = exp(eval loss) and next-token accuracy, as JSON and a results-table row.

Evaluation (`eval/eval_perplexity.py`):

- `sliding_window_perplexity`: the strided sliding window of the Hugging Face guide "Perplexity of fixed-length
  models": windows of `max_length` tokens every `stride` tokens, each token scored once, with the most context the
  window gives it (the first max_length - stride tokens of every window after the first are context only). Also the
  word-level perplexity exp(NLL / words) and bits per byte NLL / (bytes ln 2), as lm-evaluation-harness defines them.
- `score_lambada`: LAMBADA last-word prediction with the GPT-2 paper's protocol as lm-evaluation-harness's
  `lambada_openai` task runs it: context = the passage without its last word, target = " " + last word; correct iff
  greedy decoding reproduces every target token; perplexity = exp(-mean over passages of log p(target | context)).
  Encoded as lm-evaluation-harness's HF model encodes (`encode_pair`, `lm_eval_encode`: the tokenizer's own special
  tokens, so a tokenizer that adds a BOS gets it before the context there and here).
- `score_documents`: lm-evaluation-harness's `loglikelihood_rolling` over documents, as its wikitext task: a file
  split into documents (`split_documents`: WikiText's top-level headings as EleutherAI/wikitext_document_level, one
  per line, or the whole file), optionally detokenised (`wikitext_detokenizer`), each scored whole after a prefix
  token by disjoint windows of max_length tokens (`rolling_token_windows`, `rolling_loglikelihoods`); word and byte
  perplexity and bits per byte over the original pages' words and bytes (`document_scores`).
"""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..cli_utils import (
    LOG_LEVELS,
    InputError,
    OutputArguments,
    append_results_row,
    input_paths,
    json_safe,
    parse_args,
    prepare_output_dir,
    releases_output_dirs,
    results_table_path,
    setup_cli_logging,
    setup_logging,
    write_json,
)
from ..file_utils import read_text
from ..trainer_utils import (
    ModelArguments,
    RunArguments,
    SafeSavingMixin,
    detect_last_checkpoint,
    implementation_name,
    load_config,
    load_model,
    load_tokenizer,
    record_results,
    wait_for_everyone,
)

logger = logging.getLogger("hf_models.tasks.causal_lm")

BPE_EOS_TOKEN = "<|endoftext|>"  # GPT-2's end of text: separates documents, and is the bos and unk token too
WORD_EOS_TOKEN = "<eos>"  # the end of a line in the word-level corpora (PTB, WikiText), as hf_models.rnn
WORD_UNK_TOKEN = "<unk>"  # PTB's and WikiText's own unknown-word token
TOKENIZER_TYPES = ("bpe", "word")
ARCHITECTURES = ("gpt1", "gpt2", "llama")
TEXT_FORMATS = ("auto", "raw", "lines")
IGNORE_INDEX = -100


# ----------------------------------------------------------------------------------------------------------------------
# 1. Text files
# ----------------------------------------------------------------------------------------------------------------------
def read_text_file(path: str | os.PathLike, flag: str = "text file") -> str:
    """The whole UTF-8 text of a file (plain or gzip); a missing, empty or undecodable file is an InputError naming
    it (`flag`: the command-line option that gave it)."""
    path = str(path)
    if not os.path.exists(path):
        raise InputError(f"{flag} {path}: no such file")
    if not os.path.isfile(path):
        raise InputError(f"{flag} {path}: not a regular file")
    text = read_text(path, error=InputError)
    if not text.strip():
        raise InputError(f"{flag} {path}: the file is empty (no text to model)")
    return text


def read_text_lines(path: str | os.PathLike, flag: str = "text file") -> list[str]:
    """The non-empty lines of a text file, without their line ends (leading spaces kept: they are text to a
    byte-level BPE), each one text of the corpus."""
    return [line for line in read_text_file(path, flag).splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------------------------------
# 2. Tokenizers: trained on the train texts, or loaded
# ----------------------------------------------------------------------------------------------------------------------
def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2,
                        max_length: int = 1024):
    """A byte-level BPE vocabulary learned on `texts` (Sennrich et al. 2016 over bytes, as GPT-2, Radford et al.
    2019): every byte is a base token, so no text is ever unknown; `<|endoftext|>` is the eos, bos and unk token.

    Returns a `PreTrainedTokenizerFast` (saved with `save_pretrained`, reloaded with `AutoTokenizer`)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if not isinstance(vocab_size, int) or vocab_size <= len(alphabet):
        raise InputError(f"--vocab_size must be larger than the {len(alphabet)} byte tokens of a byte-level BPE "
                         f"(plus {BPE_EOS_TOKEN}), got {vocab_size}")
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2's: " word" is one pre-token
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[BPE_EOS_TOKEN],
                                  initial_alphabet=alphabet, show_progress=False)
    core.train_from_iterator(_checked_texts(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token=BPE_EOS_TOKEN, bos_token=BPE_EOS_TOKEN,
                                   unk_token=BPE_EOS_TOKEN, model_max_length=max_length)


def train_word_tokenizer(texts: Iterable[str], vocab_size: int | None = None, min_frequency: int = 1,
                         max_length: int = 1024):
    """A word-level vocabulary over whitespace-separated words (the `tokenizers` library's WordLevel model): the
    `vocab_size` most frequent words seen at least `min_frequency` times, `<unk>` for every other word and `<eos>`
    for the end of each text, so a model's token perplexity is the per-word perplexity of the n-gram and recurrent
    language models (each line's words and its `<eos>` predicted and counted).

    Returns a `PreTrainedTokenizerFast`; `decode` joins the words with single spaces."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = [WORD_UNK_TOKEN, WORD_EOS_TOKEN]
    if vocab_size is not None and (not isinstance(vocab_size, int) or vocab_size <= len(special)):
        raise InputError(f"--vocab_size must be larger than the {len(special)} special tokens {special} of a "
                         f"word-level tokenizer, got {vocab_size}")
    core = Tokenizer(models.WordLevel(unk_token=WORD_UNK_TOKEN))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size or 2**31 - 1, min_frequency=min_frequency,
                                        special_tokens=special, show_progress=False)
    # a special token written in the text (PTB's own <unk>) is that token, not a word to count: counted, it would
    # get a second id and leave a hole in the vocabulary
    words = (" ".join(w for w in text.split() if w not in special) for text in _checked_texts(texts))
    core.train_from_iterator(words, trainer=trainer)
    vocab = core.get_vocab()
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise RuntimeError("the word-level vocabulary's ids are not 0..V-1")
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token=WORD_UNK_TOKEN, eos_token=WORD_EOS_TOKEN,
                                   model_max_length=max_length)


def _checked_texts(texts: Iterable[str]):
    """Pass the texts through, refusing an empty corpus (the trainers would return a vocabulary of specials)."""
    seen = False
    for text in texts:
        if text.strip():
            seen = True
        yield text
    if not seen:
        raise InputError("the training text is empty: no tokenizer can be learned from it")


def is_word_level(tokenizer) -> bool:
    """Whether a fast tokenizer's model is WordLevel (whitespace words: line ends are only seen as eos tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    try:
        return json.loads(backend.to_str())["model"]["type"] == "WordLevel"
    except (AttributeError, KeyError, TypeError, ValueError):
        return False


def load_lm_tokenizer(source: str, model_args: ModelArguments | None = None):
    """The tokenizer saved in `source` (a folder or a hub name). A folder holding only OpenAI's GPT-2 vocabulary
    files (vocab.json = encoder.json, merges.txt = vocab.bpe, no tokenizer_config.json) is read as GPT-2's
    byte-level BPE; anything else through `AutoTokenizer` (`trainer_utils.load_tokenizer`: damaged files named)."""
    if os.path.isdir(source):
        names = set(os.listdir(source))
        if {"vocab.json", "merges.txt"} <= names and not names & {"tokenizer.json", "tokenizer_config.json",
                                                                   "config.json"}:
            from transformers import GPT2Tokenizer

            logger.info(f"{source}: GPT-2 vocabulary files (vocab.json, merges.txt) read as GPT-2's tokenizer")
            return GPT2Tokenizer.from_pretrained(source)
    hub = {name: getattr(model_args, name) for name in ("cache_dir", "revision", "token", "trust_remote_code")} \
        if model_args is not None else {}
    return load_tokenizer(ModelArguments(model_name_or_path=source, tokenizer_name=source, **hub))


# ----------------------------------------------------------------------------------------------------------------------
# 3. Examples: texts -> token ids + eos -> blocks of block_size
# ----------------------------------------------------------------------------------------------------------------------
def tokenize_function(tokenizer, text_column: str = "text", add_eos: bool = True):
    """A batched map function: each text's token ids (no special tokens), followed by the eos token when `add_eos`
    (the boundary between texts that the model learns to predict, as GPT-2's <|endoftext|> between documents)."""
    eos = tokenizer.eos_token_id
    if add_eos and eos is None:
        raise InputError(f"the tokenizer ({type(tokenizer).__name__}) has no eos_token to put between texts: use a "
                         "tokenizer with one, or --add_eos false")

    def tokenize(batch):
        encoded = tokenizer(batch[text_column], add_special_tokens=False, verbose=False)["input_ids"]
        return {"input_ids": [ids + [eos] for ids in encoded] if add_eos else encoded}

    return tokenize


def group_texts(examples: dict[str, list[list[int]]], block_size: int) -> dict[str, list[list[int]]]:
    """run_clm's group_texts: concatenate the batch's token ids and cut them into blocks of `block_size` tokens
    (the remainder, shorter than a block, is dropped); labels = input_ids (the model shifts them by one)."""
    concatenated = [token for ids in examples["input_ids"] for token in ids]
    total = (len(concatenated) // block_size) * block_size
    blocks = [concatenated[i: i + block_size] for i in range(0, total, block_size)]
    return {"input_ids": blocks, "labels": [list(block) for block in blocks]}


def build_lm_dataset(texts, tokenizer, block_size: int, add_eos: bool = True, text_column: str = "text",
                     group_batch_size: int = 1000, num_proc: int | None = None, name: str = "train"):
    """Texts (a list of strings or a `datasets.Dataset` with a text column) -> a dataset of `block_size`-token
    blocks with labels."""
    import datasets

    if not isinstance(texts, datasets.Dataset):
        texts = datasets.Dataset.from_dict({text_column: list(texts)})
    if text_column not in texts.column_names:
        raise InputError(f"the {name} data has no column {text_column!r} (columns: {texts.column_names}): name the "
                         "text column with --text_column_name")
    texts = texts.filter(lambda batch: [isinstance(t, str) and bool(t.strip()) for t in batch[text_column]],
                         batched=True, num_proc=num_proc, desc=f"Dropping empty {name} texts")
    if len(texts) == 0:
        raise InputError(f"the {name} data holds no text")
    tokenized = texts.map(tokenize_function(tokenizer, text_column, add_eos), batched=True, num_proc=num_proc,
                          remove_columns=texts.column_names, desc=f"Tokenizing the {name} texts")
    num_tokens = sum(len(ids) for ids in tokenized["input_ids"])
    blocks = tokenized.map(group_texts, batched=True, batch_size=group_batch_size, num_proc=num_proc,
                           fn_kwargs={"block_size": block_size}, desc=f"Grouping the {name} texts in blocks of "
                                                                       f"{block_size}")
    if len(blocks) == 0:
        raise InputError(f"the {name} data holds {num_tokens} tokens, fewer than one block of --block_size "
                         f"{block_size}: give more text or a smaller --block_size")
    logger.info(f"{name}: {len(texts):,} texts, {num_tokens:,} tokens, {len(blocks):,} blocks of {block_size}")
    return blocks


# ----------------------------------------------------------------------------------------------------------------------
# 4. Arguments
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class CausalLMModelArguments(ModelArguments):
    """Which model and tokenizer: a checkpoint to continue from, or a new model and a new or given tokenizer."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Checkpoint to fine-tune or continue pretraining (a folder saved by hf_models or "
                          "transformers, or a hub name). Leave out to train a new model (--model_type)."},
    )
    model_type: str | None = field(
        default=None,
        metadata={"help": "model_type of a new model: 'gpt' (hf_models' GPT, the default; --architecture picks "
                          "GPT-1, GPT-2 or Llama settings) or any transformers model_type (e.g. gpt2, llama)."},
    )
    architecture: str = field(
        default="gpt2",
        metadata={"help": "The settings of a new hf_models GPT: gpt1 (post-LN, learned positions), gpt2 (pre-LN, "
                          "final LayerNorm) or llama (RMSNorm, rotary positions, SwiGLU, no biases).",
                  "choices": list(ARCHITECTURES)},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config fields of a new model, as in transformers' run_clm: "
                          "'n_embd=256,n_layer=4,n_head=4,n_positions=256,embd_pdrop=0.0'."},
    )
    train_tokenizer: bool = field(
        default=False,
        metadata={"help": "Train a new tokenizer on the train texts (--tokenizer_type, --vocab_size) instead of "
                          "loading one; saved with the model."},
    )
    tokenizer_type: str = field(
        default="bpe",
        metadata={"help": "The tokenizer --train_tokenizer learns: 'bpe' (byte-level BPE, GPT-2's, eos "
                          "<|endoftext|>) or 'word' (whitespace words, <unk> and <eos>: per-word perplexity, e.g. "
                          "PTB).", "choices": list(TOKENIZER_TYPES)},
    )
    vocab_size: int | None = field(
        default=None,
        metadata={"help": "Size of the trained vocabulary, special tokens included (default: 8000 for bpe; every "
                          "word seen --tokenizer_min_frequency times for word)."},
    )
    tokenizer_min_frequency: int | None = field(
        default=None,
        metadata={"help": "bpe: how often a pair must occur to be merged (default 2); word: how often a word must "
                          "occur to get its own id (default 1)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.model_name_or_path is not None:
            given = [name for name in ("model_type", "config_overrides") if getattr(self, name) is not None]
            if given:
                raise InputError(f"--{given[0]} sets up a new model; it cannot be combined with --model_name_or_path "
                                 f"({self.model_name_or_path}), whose config fixes it")
        if self.train_tokenizer and self.tokenizer_name:
            raise InputError("give --tokenizer_name (a saved tokenizer) or --train_tokenizer (a new one), not both")
        if not self.train_tokenizer:
            given = [flag for flag, value in (("tokenizer_type", self.tokenizer_type != "bpe"),
                                              ("vocab_size", self.vocab_size is not None),
                                              ("tokenizer_min_frequency", self.tokenizer_min_frequency is not None))
                     if value]
            if given:
                raise InputError(f"--{given[0]} describes the tokenizer --train_tokenizer learns: add "
                                 "--train_tokenizer, or leave it out")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise InputError(f"--vocab_size must be positive, got {self.vocab_size}")
        if self.tokenizer_min_frequency is not None and self.tokenizer_min_frequency < 1:
            raise InputError(f"--tokenizer_min_frequency must be at least 1, got {self.tokenizer_min_frequency}")

    @property
    def new_model_type(self) -> str:
        return "hf_gpt" if self.model_type in (None, "gpt", "hf_gpt") else self.model_type


@dataclass
class CausalLMDataArguments:
    """Which text to train and evaluate on, and how it becomes blocks of tokens."""

    train_file: str | None = field(
        default=None, metadata={"help": "UTF-8 text file to train on (.gz allowed); every non-empty line is a text."}
    )
    validation_file: str | None = field(
        default=None,
        metadata={"help": "UTF-8 text file to evaluate on; default: --validation_split_percentage of the train texts."},
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "A hub dataset to train on instead of files (e.g. Salesforce/wikitext)."}
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "The hub dataset's config (e.g. wikitext-2-raw-v1)."}
    )
    text_column_name: str = field(default="text", metadata={"help": "The text column of a hub dataset."})
    validation_split_percentage: int = field(
        default=5,
        metadata={"help": "Percentage of the train texts (the first ones, as run_clm) held out for evaluation when "
                          "there is no validation file or split."},
    )
    block_size: int | None = field(
        default=None,
        metadata={"help": "Tokens per training example (the texts are concatenated and cut into blocks); default: "
                          "the model's positions, at most 1024."},
    )
    add_eos: bool = field(
        default=True, metadata={"help": "Put the eos token after every text (line), as a document boundary."}
    )
    group_batch_size: int = field(
        default=1000,
        metadata={"help": "Texts concatenated at a time before cutting blocks (run_clm's map batch; each group's "
                          "remainder shorter than a block is dropped)."},
    )
    compute_accuracy: bool = field(
        default=True, metadata={"help": "Report the next-token accuracy with the eval loss and perplexity."}
    )

    def __post_init__(self):
        if self.dataset_name and (self.train_file or self.validation_file):
            raise InputError("give --dataset_name or --train_file/--validation_file, not both")
        if not 0 <= self.validation_split_percentage < 100:
            raise InputError(f"--validation_split_percentage must be in [0, 100), got "
                             f"{self.validation_split_percentage}")
        if self.block_size is not None and self.block_size < 2:
            raise InputError(f"--block_size must be at least 2 (a token and the next), got {self.block_size}")
        if self.group_batch_size < 1:
            raise InputError(f"--group_batch_size must be at least 1, got {self.group_batch_size}")
        for flag in ("train_file", "validation_file"):
            path = getattr(self, flag)
            if path is not None and not os.path.isfile(path):
                raise InputError(f"--{flag} {path}: no such file")


# ----------------------------------------------------------------------------------------------------------------------
# 5. Texts, tokenizer and model of a run
# ----------------------------------------------------------------------------------------------------------------------
def load_raw_texts(data_args: CausalLMDataArguments, model_args: CausalLMModelArguments, do_train: bool,
                   do_eval: bool):
    """(train texts, validation texts): lists of strings from files, or `datasets.Dataset`s from the hub; each None
    when not needed. Without a validation file or split, the first --validation_split_percentage % of the train
    texts are held out (as run_clm)."""
    train = validation = None
    if data_args.dataset_name:
        import datasets

        raw = datasets.load_dataset(data_args.dataset_name, data_args.dataset_config_name,
                                    cache_dir=model_args.cache_dir, token=model_args.token)
        train, validation = raw.get("train"), raw.get("validation")
        if do_eval and validation is None and train is not None and data_args.validation_split_percentage:
            held = max(1, len(train) * data_args.validation_split_percentage // 100)
            train, validation = train.select(range(held, len(train))), train.select(range(held))
    else:
        if data_args.train_file and (do_train or model_args.train_tokenizer or (do_eval and not
                                                                                   data_args.validation_file)):
            train = read_text_lines(data_args.train_file, "--train_file")
        if data_args.validation_file and do_eval:
            validation = read_text_lines(data_args.validation_file, "--validation_file")
        elif do_eval and train is not None and data_args.validation_split_percentage:
            held = max(1, len(train) * data_args.validation_split_percentage // 100)
            if held >= len(train):
                raise InputError(f"--train_file {data_args.train_file} holds {len(train)} non-empty lines: too few to "
                                 f"hold {data_args.validation_split_percentage}% out for evaluation; give "
                                 "--validation_file")
            train, validation = train[held:], train[:held]
    if do_train and train is None:
        raise InputError("--do_train needs --train_file or --dataset_name (with a train split)")
    if do_eval and validation is None:
        raise InputError("--do_eval needs --validation_file, a hub dataset with a validation split, or train texts "
                         "to hold --validation_split_percentage (> 0) out of")
    return train, validation


def _texts_of(texts, column: str) -> Iterable[str]:
    if isinstance(texts, list):
        return texts
    return (text for text in texts[column] if isinstance(text, str))


def load_or_train_tokenizer(model_args: CausalLMModelArguments, data_args: CausalLMDataArguments, train_texts,
                            training_args, last_checkpoint: str | None, max_length: int = 1024):
    """The run's tokenizer: a resumed checkpoint's, --tokenizer_name's, the model's, or a new one trained on the
    train texts (by process 0, then shared: tokenizer training breaks ties by thread order)."""
    if last_checkpoint is not None and os.path.isfile(os.path.join(last_checkpoint, "tokenizer_config.json")):
        logger.info(f"Resuming: the tokenizer of {last_checkpoint}")
        return load_lm_tokenizer(last_checkpoint, model_args)
    if not model_args.train_tokenizer:
        source = model_args.tokenizer_name or model_args.model_name_or_path
        if source is None:
            raise InputError("no tokenizer: give --tokenizer_name (e.g. a GPT-2 tokenizer folder), "
                             "--model_name_or_path, or --train_tokenizer to learn one on the train texts")
        logger.info(f"Loading the tokenizer from {source}")
        return load_lm_tokenizer(source, model_args)
    if train_texts is None:
        raise InputError("--train_tokenizer needs train texts (--train_file or --dataset_name)")
    shared = [None]
    if training_args.process_index == 0:
        kind = model_args.tokenizer_type
        logger.info(f"Training a {kind} tokenizer on the train texts")
        texts = _texts_of(train_texts, data_args.text_column_name)
        if kind == "bpe":
            tokenizer = train_bpe_tokenizer(texts, model_args.vocab_size or 8000,
                                            model_args.tokenizer_min_frequency or 2, max_length)
        else:
            tokenizer = train_word_tokenizer(texts, model_args.vocab_size, model_args.tokenizer_min_frequency or 1,
                                             max_length)
        logger.info(f"Trained a {kind} vocabulary of {len(tokenizer):,} tokens")
        shared = [tokenizer]
    if training_args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(shared, src=0)
    return shared[0]


def parse_config_overrides(text: str | None) -> dict[str, Any]:
    """'n_embd=256,n_layer=4,bias=false' -> {'n_embd': 256, 'n_layer': 4, 'bias': False} (ints, floats, booleans,
    none; anything else a string)."""
    fields: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--config_overrides: {item!r} is not key=value")
        value = value.strip()
        lowered = value.lower()
        if lowered in ("true", "false"):
            parsed: Any = lowered == "true"
        elif lowered in ("none", "null"):
            parsed = None
        else:
            parsed = value
            for kind in (int, float):
                try:
                    parsed = kind(value)
                    break
                except ValueError:
                    pass
        fields[key.strip()] = parsed
    return fields


def new_model_config(model_args: CausalLMModelArguments, tokenizer):
    """The config of a new model: the architecture's defaults, the tokenizer's vocabulary and special tokens, then
    --config_overrides (names checked; aliases such as hidden_size read as the config's own field)."""
    from transformers import AutoConfig

    from ..auto import register_auto_classes

    register_auto_classes()
    model_type = model_args.new_model_type
    overrides = parse_config_overrides(model_args.config_overrides)
    if model_type == "hf_gpt":
        from ..gpt import GPTConfig

        factory = {"gpt1": GPTConfig.gpt1, "gpt2": GPTConfig.gpt2, "llama": GPTConfig.llama}[model_args.architecture]
        reference = factory()
    else:
        if model_args.architecture != "gpt2":
            raise InputError(f"--architecture is for hf_models' GPT (--model_type gpt), not {model_type!r}")
        try:
            reference = AutoConfig.for_model(model_type)
        except ValueError as error:
            raise InputError(f"--model_type {model_type!r}: {error}") from None

        def factory(**fields):
            return AutoConfig.for_model(model_type, **fields)

    aliases = getattr(reference, "attribute_map", {}) or {}
    fields = {}
    for key, value in overrides.items():
        name = aliases.get(key, key)
        if not hasattr(reference, name):
            raise InputError(f"--config_overrides: {type(reference).__name__} has no field {key!r}")
        fields[name] = value
    if "vocab_size" in fields and fields["vocab_size"] != len(tokenizer):
        raise InputError(f"--config_overrides: vocab_size={fields['vocab_size']} differs from the tokenizer's "
                         f"{len(tokenizer)} tokens (a new model takes the tokenizer's)")
    ids = {"vocab_size": len(tokenizer), "eos_token_id": tokenizer.eos_token_id,
           "bos_token_id": tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    try:
        return factory(**{**ids, **fields})
    except (ValueError, TypeError) as error:
        raise InputError(f"--config_overrides: {error}") from None


def model_context_length(config) -> int | None:
    """The longest sequence a model's config declares (n_positions / max_position_embeddings / n_ctx)."""
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def build_causal_lm(model_args: CausalLMModelArguments, tokenizer):
    """The causal LM of the run: the checkpoint through the chosen implementation, or a new model."""
    from transformers import AutoModelForCausalLM

    if model_args.model_name_or_path is not None:
        config = load_config(model_args)
        model = load_model(AutoModelForCausalLM, model_args, config)
        if len(tokenizer) > model.config.vocab_size:
            raise InputError(f"the tokenizer has {len(tokenizer)} tokens but {model_args.model_name_or_path} has "
                             f"vocab_size={model.config.vocab_size}: use the checkpoint's own tokenizer")
        return model
    config = new_model_config(model_args, tokenizer)
    model = AutoModelForCausalLM.from_config(config)
    logger.info(f"New {type(model).__module__}.{type(model).__name__} ({model.num_parameters():,} parameters): "
                f"{config.to_json_string(use_diff=True).strip()}")
    return model


# ----------------------------------------------------------------------------------------------------------------------
# 6. Trainer and metrics
# ----------------------------------------------------------------------------------------------------------------------
def perplexity_of(loss: float | None) -> float:
    """exp(mean cross-entropy in nats): the perplexity (inf when it overflows, NaN for a NaN loss)."""
    if loss is None:
        return float("nan")
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def preprocess_logits_for_metrics(logits, labels):
    """Keep only each position's predicted token (the argmax), not the (batch, block, vocab) logits."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def compute_accuracy(eval_prediction) -> dict[str, float]:
    """Next-token accuracy: the prediction at position t against the label at t + 1 (-100 ignored)."""
    predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
    predictions, labels = np.asarray(predictions)[:, :-1], np.asarray(labels)[:, 1:]
    mask = labels != IGNORE_INDEX
    return {"accuracy": float((predictions[mask] == labels[mask]).mean()) if mask.any() else float("nan")}


class PerplexityMixin:
    """For a `transformers.Trainer` subclass: every evaluation also reports <prefix>_perplexity = exp(<prefix>_loss),
    logged with the loss (TensorBoard included)."""

    def evaluation_loop(self, *args, **kwargs):
        output = super().evaluation_loop(*args, **kwargs)
        bound = inspect.signature(super().evaluation_loop).bind(*args, **kwargs)
        prefix = bound.arguments.get("metric_key_prefix", "eval")
        loss = output.metrics.get(f"{prefix}_loss")
        if loss is not None:
            output.metrics[f"{prefix}_perplexity"] = perplexity_of(loss)
        return output


def _make_trainer_class():
    from transformers import Trainer

    class CausalLMTrainer(SafeSavingMixin, PerplexityMixin, Trainer):
        """Trainer for causal LMs: whole-or-nothing saves, perplexity with every evaluation, exact losses."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # Every block has block_size - 1 predicted tokens, so each batch's own mean loss (divided by the
            # gradient accumulation steps) is the exact mean over tokens. The Trainer's token count, which it would
            # hand to the model otherwise, is labels != -100 *before* the shift in transformers 5.0 and, in later
            # releases, for models whose loss_type it does not recognise (GPT2LMHeadModel): it would scale the
            # train and eval losses by (block_size - 1) / block_size, and the perplexity with them. (It also keeps
            # DDP from multiplying the loss by the world size.)
            self.model_accepts_loss_kwargs = False

    return CausalLMTrainer


# ----------------------------------------------------------------------------------------------------------------------
# 7. The run
# ----------------------------------------------------------------------------------------------------------------------
@releases_output_dirs
def run_clm(model_args: CausalLMModelArguments, data_args: CausalLMDataArguments, run_args: RunArguments,
            training_args) -> dict[str, float]:
    """Train (--do_train) and evaluate (--do_eval) a causal language model; return the metrics.

    The output folder gets the model and its tokenizer, checkpoints (resumed from automatically),
    `train_results.json`, `eval_results.json` (eval_loss, eval_perplexity, eval_accuracy), `all_results.json`,
    `trainer_state.json` and a row in the results table; TensorBoard logs with `--report_to tensorboard`.
    """
    from transformers import default_data_collator, set_seed

    if not (training_args.do_train or training_args.do_eval):
        raise InputError("nothing to do: give --do_train and/or --do_eval")
    logger.info(f"Training/evaluation parameters {training_args}")
    last_checkpoint = detect_last_checkpoint(training_args, run_args.overwrite_output_dir,
                                             inputs=input_paths(model_args, data_args))
    wait_for_everyone(training_args)

    train_texts, eval_texts = load_raw_texts(data_args, model_args, training_args.do_train, training_args.do_eval)
    set_seed(training_args.seed)  # the same new model in every process and on every resume
    planned_positions = None
    if model_args.model_name_or_path is None:
        planned_positions = parse_config_overrides(model_args.config_overrides).get("n_positions")
    tokenizer = load_or_train_tokenizer(model_args, data_args, train_texts, training_args, last_checkpoint,
                                        max_length=planned_positions or data_args.block_size or 1024)
    model = build_causal_lm(model_args, tokenizer)

    positions = model_context_length(model.config)
    block_size = data_args.block_size or min(1024, positions or 1024)
    if positions is not None and block_size > positions:
        raise InputError(f"--block_size {block_size} is longer than the model's {positions} positions "
                         f"(n_positions / max_position_embeddings): use --block_size {positions} or less"
                         + (", or a new model with --config_overrides n_positions=..." if
                            model_args.model_name_or_path is None else ""))
    if model_args.train_tokenizer or tokenizer.model_max_length > 10**8:
        tokenizer.model_max_length = positions or block_size
    logger.info(f"Blocks of {block_size} tokens")

    train_dataset = eval_dataset = None
    with training_args.main_process_first(desc="tokenizing and grouping the texts"):
        common = {"add_eos": data_args.add_eos, "text_column": data_args.text_column_name,
                  "group_batch_size": data_args.group_batch_size, "num_proc": run_args.preprocessing_num_workers}
        if training_args.do_train:
            train_dataset = build_lm_dataset(train_texts, tokenizer, block_size, name="train", **common)
            if run_args.max_train_samples is not None:
                train_dataset = train_dataset.select(range(min(run_args.max_train_samples, len(train_dataset))))
        if training_args.do_eval:
            eval_dataset = build_lm_dataset(eval_texts, tokenizer, block_size, name="validation", **common)
            if run_args.max_eval_samples is not None:
                eval_dataset = eval_dataset.select(range(min(run_args.max_eval_samples, len(eval_dataset))))

    accuracy = training_args.do_eval and data_args.compute_accuracy
    trainer = _make_trainer_class()(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        data_collator=default_data_collator,
        compute_metrics=compute_accuracy if accuracy else None,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics if accuracy else None,
    )

    results: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model()  # the model and its tokenizer
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = len(train_dataset)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", json_safe(metrics, "train_results.json"))
        trainer.save_state()
        results.update(metrics)
    if training_args.do_eval:
        metrics = trainer.evaluate()
        metrics.setdefault("eval_perplexity", perplexity_of(metrics.get("eval_loss")))
        metrics["eval_samples"] = len(eval_dataset)
        metrics["eval_tokens"] = len(eval_dataset) * block_size
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", json_safe(metrics, "eval_results.json"))
        results.update(metrics)
        record_results(training_args, run_args, task="causal_lm", split="validation",
                       model_name=model_args.model_name_or_path or f"new {type(model).__name__}",
                       implementation=implementation_name(trainer.model), examples=len(eval_dataset),
                       metrics={k.removeprefix("eval_"): v for k, v in metrics.items()
                                if k in ("eval_loss", "eval_perplexity", "eval_accuracy", "eval_tokens")})
    if training_args.push_to_hub and training_args.do_train:
        kwargs = {"finetuned_from": model_args.model_name_or_path, "tasks": "text-generation"}
        if data_args.dataset_name:
            kwargs.update(dataset_tags=data_args.dataset_name, dataset=data_args.dataset_name)
        trainer.push_to_hub(**kwargs)
    return results


def run_clm_cli(argv: list[str] | None = None) -> dict:
    """The body of `training/run_clm.py`: parse (model, data, run, training) arguments, log, run."""
    from transformers import TrainingArguments

    model_args, data_args, run_args, training_args = parse_args(
        (CausalLMModelArguments, CausalLMDataArguments, RunArguments, TrainingArguments), argv
    )
    setup_logging(training_args, "hf_models.run_clm")
    return run_clm(model_args, data_args, run_args, training_args)


# ----------------------------------------------------------------------------------------------------------------------
# 8. Sliding-window perplexity of a text
# ----------------------------------------------------------------------------------------------------------------------
def plan_windows(num_tokens: int, max_length: int, stride: int) -> list[tuple[int, int, int]]:
    """The windows (begin, end, first scored token) of the strided evaluation: a window of up to `max_length` tokens
    starts every `stride` tokens; it scores the tokens the previous window did not reach, [previous end, end), each
    with the window's tokens before it as context (a token needs one before it: the text's first token, and with
    stride == max_length each window's first, are context only). Every other token is scored exactly once.

    The guide's loop weights each window's mean loss by (scored tokens - 1): exact for the first window and for
    stride == max_length, one token short for every later window when stride < max_length (its first target does
    have context there). Here each token's -log p is summed, so the NLL and the token count are exact."""
    if max_length < 2:
        raise InputError(f"--max_length must be at least 2, got {max_length}")
    if not 1 <= stride <= max_length:
        raise InputError(f"--stride must be between 1 and --max_length ({max_length}), got {stride}")
    windows = []
    previous_end = 0
    for begin in range(0, num_tokens, stride):
        end = min(begin + max_length, num_tokens)
        first = max(previous_end, begin + 1)
        if first < end:
            windows.append((begin, end, first))
        previous_end = end
        if end == num_tokens:
            break
    return windows


def model_device(model) -> torch.device:
    """Where a model's tensors are: its first parameter's device, else its first buffer's (a count-based model such as
    hf_models' n-gram LM has buffers and no parameters), else its `device` attribute, else the CPU."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    if tensor is not None:
        return tensor.device
    device = getattr(model, "device", None)
    return torch.device(device) if isinstance(device, (str, torch.device)) else torch.device("cpu")


def _forward_logits(model, input_ids, attention_mask=None, position_ids=None) -> torch.Tensor:
    kwargs = {"input_ids": input_ids, "use_cache": False}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask
    if position_ids is not None:
        kwargs["position_ids"] = position_ids
    output = model(**kwargs)
    return output.logits if hasattr(output, "logits") else output[0]


@torch.no_grad()
def sliding_window_nll(model, input_ids, max_length: int, stride: int, batch_size: int = 1,
                       show_progress: bool = False) -> dict[str, float]:
    """Total negative log-likelihood (nats) of a token sequence under a causal LM, by strided sliding windows (see
    `plan_windows`): {"nll": sum over scored tokens of -log p(x_t | window context), "tokens": number scored,
    "windows": number of forward passes' rows}. Windows of the same length run `batch_size` at a time."""
    from tqdm.auto import tqdm

    ids = torch.as_tensor(input_ids, dtype=torch.long).flatten()
    if ids.numel() < 2:
        raise InputError(f"the text is {ids.numel()} token(s) long: perplexity needs at least 2")
    windows = plan_windows(ids.numel(), max_length, stride)
    device = model_device(model)
    batches: list[list[tuple[int, int, int]]] = []
    for window in windows:  # consecutive windows of one length share a forward pass
        if batches and len(batches[-1]) < batch_size and \
                batches[-1][0][1] - batches[-1][0][0] == window[1] - window[0]:
            batches[-1].append(window)
        else:
            batches.append([window])
    nll, scored = 0.0, 0
    for batch in tqdm(batches, desc="Scoring windows", unit=" batch", disable=not show_progress):
        inputs = torch.stack([ids[begin:end] for begin, end, _ in batch]).to(device)  # (batch, window)
        logits = _forward_logits(model, inputs)  # (batch, window, vocab)
        for row, (begin, end, first) in enumerate(batch):
            targets = torch.arange(first, end, device=device) - begin  # positions of the scored tokens
            # the logits at position t - 1 predict the token at t
            nll += torch.nn.functional.cross_entropy(logits[row, targets - 1].float(), inputs[row, targets],
                                                     reduction="sum").item()
            scored += end - first
    return {"nll": nll, "tokens": scored, "windows": len(windows)}


def text_to_ids(tokenizer, text: str, text_format: str = "raw") -> list[int]:
    """The token ids of a text: 'raw' tokenizes it whole, as the Hugging Face perplexity guide (the tokenizer's
    special tokens included, e.g. a Llama BOS); 'lines' tokenizes each non-empty line and puts the eos token after
    it, as run_clm's training stream (and the PTB convention: each line's end is predicted and counted)."""
    if text_format == "raw":
        return tokenizer(text, verbose=False)["input_ids"]
    if text_format != "lines":
        raise InputError(f"--text_format must be one of {', '.join(TEXT_FORMATS)}, got {text_format!r}")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise InputError("--text_format lines puts the eos token after each line, but the tokenizer has none: use "
                         "--text_format raw")
    lines = [line for line in text.splitlines() if line.strip()]
    ids: list[int] = []
    for encoded in tokenizer(lines, add_special_tokens=False, verbose=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(eos)
    return ids


def sliding_window_perplexity(model, tokenizer, text: str, max_length: int, stride: int, text_format: str = "auto",
                              batch_size: int = 1, show_progress: bool = False) -> dict[str, Any]:
    """Perplexity of a causal LM on a text by strided sliding windows, with lm-evaluation-harness's per-word and
    per-byte figures: perplexity = exp(NLL / tokens scored), word_perplexity = exp(NLL / words) (words: the text's
    whitespace-separated words), bits_per_byte = NLL / (UTF-8 bytes x ln 2)."""
    if text_format == "auto":
        text_format = "lines" if is_word_level(tokenizer) else "raw"
    ids = text_to_ids(tokenizer, text, text_format)
    scores = sliding_window_nll(model, ids, max_length, stride, batch_size, show_progress)
    words = len(text.split())
    num_bytes = len(text.encode("utf-8"))
    nll = scores["nll"]
    return {
        "text_format": text_format, "max_length": max_length, "stride": stride,
        "total_tokens": len(ids), "tokens": scores["tokens"], "windows": scores["windows"],
        "words": words, "bytes": num_bytes, "nll": nll,
        "loss": nll / scores["tokens"],
        "perplexity": perplexity_of(nll / scores["tokens"]),
        "word_perplexity": perplexity_of(nll / words) if words else float("nan"),
        "bits_per_byte": nll / (num_bytes * math.log(2)) if num_bytes else float("nan"),
    }


# ----------------------------------------------------------------------------------------------------------------------
# 9. LAMBADA
# ----------------------------------------------------------------------------------------------------------------------
def read_lambada(path: str | os.PathLike, text_field: str = "text", max_samples: int | None = None) -> list[str]:
    """The passages of a LAMBADA file: JSON lines with a `text_field` string (OpenAI's lambada_test.jsonl, as
    lm-evaluation-harness's lambada_openai), or, for any other extension, one passage per non-empty line."""
    path = str(path)
    text = read_text_file(path, "--text_file")
    json_lines = path.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz"))
    passages = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if json_lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}, line {number}: not a JSON object ({error.msg})") from None
            if not isinstance(record, dict) or text_field not in record:
                raise InputError(f"{path}, line {number}: no {text_field!r} field (give the passage's field with "
                                 "--text_field)")
            passage = record[text_field]
            if not isinstance(passage, str) or not passage.strip():
                raise InputError(f"{path}, line {number}: field {text_field!r} must be a non-empty string, got "
                                 f"{passage!r:.60}")
        else:
            passage = line
        passages.append(passage)
        if max_samples is not None and len(passages) >= max_samples:
            break
    return passages


def lambada_split(passage: str) -> tuple[str, str]:
    """(context, target) of a passage as lambada_openai: split on single spaces, the last word is the target, with
    its space: ("... I don't care about", " signs")."""
    words = passage.split(" ")
    return " ".join(words[:-1]), " " + words[-1]


def lm_eval_prefix_token_id(tokenizer) -> int:
    """The token lm-evaluation-harness's HF model (`HFLM.prefix_token_id`) conditions on where there is no context
    (a text scored whole, an empty LAMBADA context): the tokenizer's bos token, else its eos token."""
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token is None:
        raise InputError(f"the tokenizer ({type(tokenizer).__name__}) has neither a bos nor an eos token to condition "
                         "the first token of a text on")
    return token


def lm_eval_encode(tokenizer, text: str, add_special_tokens: bool | None = None) -> list[int]:
    """lm-evaluation-harness's `HFLM.tok_encode`: the token ids of `text` with the tokenizer's own special-token
    handling (`add_special_tokens=None`: its default, e.g. a Llama or OPT tokenizer's BOS), except that a text
    already starting with the prefix token's string gets none added; True/False force it."""
    kwargs = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
    if add_special_tokens is None:
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if prefix is not None and text.startswith(tokenizer.decode([prefix])):
            kwargs["add_special_tokens"] = False
    return list(tokenizer(text, verbose=False, **kwargs)["input_ids"])


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's `loglikelihood` encoding (`_encode_pair` for a causal model): trailing spaces of the
    context move to the continuation; context ids = tok_encode(context), continuation ids = tok_encode(context +
    continuation) after as many tokens (so merges across the boundary are as in the whole text), both with the
    tokenizer's default special tokens (`lm_eval_encode`: a tokenizer that adds a BOS puts it before the context).
    An empty context is the prefix token (`lm_eval_prefix_token_id`) before the continuation encoded without special
    tokens, or the continuation's own first token when that is the prefix token."""
    if context.strip() == "":  # lm_eval: context == ""; one of spaces only would leave _encode_pair no context
        continuation = context + continuation
        prefix = lm_eval_prefix_token_id(tokenizer)
        continuation_ids = lm_eval_encode(tokenizer, continuation, add_special_tokens=False)
        if continuation_ids and continuation_ids[0] == prefix:
            return continuation_ids[:1], continuation_ids[1:]
        return [prefix], continuation_ids
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = lm_eval_encode(tokenizer, context + continuation)
    context_ids = lm_eval_encode(tokenizer, context)
    return context_ids, whole[len(context_ids):]


@torch.no_grad()
def score_continuations(model, requests: Sequence[tuple[list[int], list[int]]], max_length: int,
                        batch_size: int = 8, padding_side: str = "right", pad_token_id: int = 0,
                        show_progress: bool = False) -> list[dict[str, Any]]:
    """log p(continuation | context) and whether greedy decoding gives the continuation, for (context ids,
    continuation ids) pairs, as lm-evaluation-harness's `_loglikelihood_tokens`: the input is
    (context + continuation)[-(max_length + 1):][:-1] (cut on the left when too long); the logits at the last
    len(continuation) positions score the continuation. Batches are padded on `padding_side` with an attention mask
    (left padding also passes the positions of the real tokens)."""
    from tqdm.auto import tqdm

    if padding_side not in ("left", "right"):
        raise InputError(f"--padding_side must be left or right, got {padding_side!r}")
    if padding_side == "left" and "position_ids" not in inspect.signature(model.forward).parameters:
        raise InputError(f"{type(model).__name__} takes no position_ids, which left padding needs: use "
                         "--padding_side right")
    device = model_device(model)
    rows = []
    for index, (context, continuation) in enumerate(requests):
        if not continuation:
            raise InputError(f"example {index}: the continuation has no tokens")
        if len(continuation) > max_length:
            raise InputError(f"example {index}: the continuation is {len(continuation)} tokens, longer than the "
                             f"model's {max_length}")
        rows.append((index, (list(context) + list(continuation))[-(max_length + 1):][:-1], list(continuation)))
    rows.sort(key=lambda row: -len(row[1]))  # longest first: batches of similar length, little padding
    results: list[dict[str, Any] | None] = [None] * len(rows)
    batches = [rows[i: i + batch_size] for i in range(0, len(rows), batch_size)]
    for batch in tqdm(batches, desc="Scoring", unit=" batch", disable=not show_progress):
        width = max(len(inp) for _, inp, _ in batch)
        input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (_, inp, _) in enumerate(batch):
            span = slice(width - len(inp), width) if padding_side == "left" else slice(0, len(inp))
            input_ids[row, span] = torch.tensor(inp)
            mask[row, span] = 1
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0) if padding_side == "left" else None
        logits = _forward_logits(model, input_ids.to(device), mask.to(device),
                                 position_ids.to(device) if position_ids is not None else None)
        for row, (index, inp, continuation) in enumerate(batch):
            end = width if padding_side == "left" else len(inp)
            scores = torch.log_softmax(logits[row, end - len(continuation): end].float(), dim=-1)  # (cont, vocab)
            target = torch.tensor(continuation, device=scores.device)
            log_likelihood = scores.gather(-1, target[:, None]).squeeze(-1).double().sum().item()
            greedy = bool((scores.argmax(dim=-1) == target).all())
            results[index] = {"log_likelihood": log_likelihood, "is_greedy": greedy, "tokens": len(continuation)}
    return results


def score_lambada(model, tokenizer, passages: Sequence[str], max_length: int, batch_size: int = 8,
                  padding_side: str = "right", show_progress: bool = False) -> dict[str, Any]:
    """LAMBADA last-word accuracy and perplexity as lm-evaluation-harness's lambada_openai: accuracy = mean of
    is_greedy; perplexity = exp(-mean over passages of log p(target | context)) (its `perplexity` aggregation)."""
    requests = [encode_pair(tokenizer, *lambada_split(passage)) for passage in passages]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    scores = score_continuations(model, requests, max_length, batch_size, padding_side, pad, show_progress)
    log_likelihoods = [s["log_likelihood"] for s in scores]
    return {
        "examples": len(scores),
        "accuracy": float(np.mean([s["is_greedy"] for s in scores])),
        "perplexity": perplexity_of(-float(np.mean(log_likelihoods))),
        "target_tokens_mean": float(np.mean([s["tokens"] for s in scores])),
        "per_example": scores,
    }


# ----------------------------------------------------------------------------------------------------------------------
# 10. Documents: lm-evaluation-harness's loglikelihood_rolling (its wikitext task's protocol)
# ----------------------------------------------------------------------------------------------------------------------
DOCUMENT_SPLITS = ("wikitext", "lines", "file")
DETOKENIZERS = ("none", "wikitext")


def split_wikitext_documents(text: str) -> list[str]:
    """The documents (Wikipedia articles) of a WikiText file, as EleutherAI's `wikitext_document_level` dataset
    builds its `page` field: the text split on "\\n"; a line that is a top-level heading (" = Title = ": after
    writing "= = =" as "===" and "= =" as "==", it starts with "= " and ends with " =") starts a new document; the
    lines before it (joined by "\\n") are one document unless they are only whitespace. The last document is always
    kept, even when empty. Section headings (" = = Career = = ") stay inside their document."""
    documents: list[str] = []
    lines: list[str] = []
    for line in text.split("\n"):
        heading = line.replace("= = =", "===").replace("= =", "==").strip()
        if heading.startswith("= ") and heading.endswith(" ="):
            page = "\n".join(lines)
            if page.strip():
                documents.append(page)
            lines = []
        lines.append(line)
    documents.append("\n".join(lines))
    return documents


def split_documents(text: str, document_split: str = "wikitext") -> list[str]:
    """A text cut into documents: 'wikitext' (`split_wikitext_documents`: a file without top-level headings is one
    document), 'lines' (each non-blank line, without its line end) or 'file' (the whole text). Line ends are read as
    Python's text mode reads them (universal newlines: "\\r\\n" and "\\r" are "\\n"), as the dataset script does."""
    if document_split not in DOCUMENT_SPLITS:
        raise InputError(f"--document_split must be one of {', '.join(DOCUMENT_SPLITS)}, got {document_split!r}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if document_split == "wikitext":
        return split_wikitext_documents(text)
    if document_split == "lines":
        return [line for line in text.split("\n") if line.strip()]
    return [text]


def read_documents(path: str | os.PathLike, document_split: str = "wikitext",
                   max_samples: int | None = None) -> list[str]:
    """The documents of a text file (UTF-8, .gz allowed; `split_documents`), the first `max_samples` only if given."""
    documents = split_documents(read_text_file(path, "--text_file"), document_split)
    return documents[:max_samples] if max_samples is not None else documents


def wikitext_detokenizer(page: str) -> str:
    """Undo WikiText's tokenisation (" @-@ " -> "-", " , " -> ", ", brackets, quotes, headings) exactly as
    lm-evaluation-harness's wikitext task (tasks/wikitext/preprocess_wikitext.py, task version 2.0): this string is
    what the model scores; the words and bytes are counted on the page before it."""
    string = page
    # contractions
    string = string.replace("s '", "s'")
    string = re.sub(r"/' [0-9]/", r"/'[0-9]/", string)
    # number separators
    string = string.replace(" @-@ ", "-")
    string = string.replace(" @,@ ", ",")
    string = string.replace(" @.@ ", ".")
    # punctuation
    string = string.replace(" : ", ": ")
    string = string.replace(" ; ", "; ")
    string = string.replace(" . ", ". ")
    string = string.replace(" ! ", "! ")
    string = string.replace(" ? ", "? ")
    string = string.replace(" , ", ", ")
    # double brackets
    string = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", string)
    string = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", string)
    string = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", string)
    string = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', string)
    string = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", string)
    # miscellaneous
    string = string.replace("= = = =", "====")
    string = string.replace("= = =", "===")
    string = string.replace("= =", "==")
    string = string.replace(" " + chr(176) + " ", chr(176))
    string = string.replace(" \n", "\n")
    string = string.replace("\n ", "\n")
    string = string.replace(" N ", " 1 ")
    string = string.replace(" 's", "'s")
    return string


def count_words(page: str) -> int:
    """lm_eval's wikitext word count: `len(re.split(r"\\s+", page))` of the page before detokenisation (the empty
    strings at its ends included, as lm_eval counts them)."""
    return len(re.split(r"\s+", page))


def count_bytes(page: str) -> int:
    """lm_eval's wikitext byte count: UTF-8 bytes of the page before detokenisation."""
    return len(page.encode("utf-8"))


def document_scores(loglikelihoods: Sequence[float], pages: Sequence[str]) -> dict[str, Any]:
    """lm_eval's wikitext aggregation over documents (weighted perplexities of the summed log-likelihoods):
    word_perplexity = exp(-sum ll / sum words), byte_perplexity = exp(-sum ll / sum bytes), bits_per_byte =
    -sum ll / (sum bytes x ln 2), words and bytes of the original pages."""
    ll = float(sum(loglikelihoods))
    words = sum(count_words(page) for page in pages)
    num_bytes = sum(count_bytes(page) for page in pages)
    return {"word_perplexity": math.exp(-ll / words) if words else float("nan"),
            "byte_perplexity": math.exp(-ll / num_bytes) if num_bytes else float("nan"),
            "bits_per_byte": -ll / num_bytes / math.log(2) if num_bytes else float("nan"),
            "loglikelihood": ll, "words": words, "bytes": num_bytes}


def rolling_token_windows(token_ids: Sequence[int], prefix_token_id: int, max_length: int
                          ) -> list[tuple[list[int], list[int]]]:
    """The windows in which lm_eval scores a whole text (`get_rolling_token_windows` with context_len=1, then
    `make_disjoint_window` and `_loglikelihood_tokens`' input (context + continuation)[-(max_length + 1):][:-1]),
    as (model input, scored tokens): the logits at the input's last len(scored) positions predict the scored tokens.

    - the first window is [prefix] + tokens[:max_length - 1] and scores tokens[:max_length] (every token of a text
      that fits, the first one conditioned on the prefix token only);
    - each later window scores the next max_length tokens (fewer in the last one) with the max_length tokens before
      its last target as input: windows never overlap in what they score, and a full window's first target sees
      only the one token before it (context_len=1); the last, shorter window gets a full max_length input.
    Every token is scored exactly once."""
    if max_length < 1:
        raise InputError(f"--max_length must be at least 1, got {max_length}")
    tokens = list(token_ids)
    if not tokens:
        return []
    first = min(max_length, len(tokens))
    windows = [([prefix_token_id] + tokens[: first - 1], tokens[:first])]
    predicted = first
    while predicted < len(tokens):
        end = predicted + min(len(tokens) - predicted, max_length)
        windows.append((tokens[end - max_length - 1: end - 1], tokens[predicted:end]))
        predicted = end
    return windows


def _config_prefix_token_id(model) -> int:
    config = model.config
    token = config.bos_token_id if config.bos_token_id is not None else config.eos_token_id
    if token is None:
        raise InputError("give prefix_token_id: the model's config names no bos or eos token")
    return token


@torch.no_grad()
def rolling_loglikelihoods(model, documents: Sequence[Sequence[int]], max_length: int,
                           prefix_token_id: int | None = None, batch_size: int = 1,
                           show_progress: bool = False) -> list[dict[str, Any]]:
    """lm_eval's `loglikelihood_rolling` for several token sequences: each one's log p(text), summed over every token
    by its rolling windows (`rolling_token_windows`), as {"loglikelihood", "tokens", "windows"} per sequence.

    `prefix_token_id`: what the first token is conditioned on (default: the model config's bos, else eos token;
    lm_eval uses the tokenizer's, `lm_eval_prefix_token_id`). The windows of all sequences run `batch_size` at a
    time, longest first, padded on the right with an attention mask (a causal model's real positions never attend
    to the padding on their right); each window's log-likelihood is summed in float64, and each sequence's windows
    in their order, so the figures do not depend on the batch."""
    from tqdm.auto import tqdm

    if prefix_token_id is None:
        prefix_token_id = _config_prefix_token_id(model)
    windows = [(doc, inputs, targets) for doc, ids in enumerate(documents)
               for inputs, targets in rolling_token_windows(ids, prefix_token_id, max_length)]
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i][1]))  # stable: documents' order kept
    window_ll = [0.0] * len(windows)
    device = model_device(model)
    batches = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc="Scoring documents", unit=" batch", disable=not show_progress):
        lengths = [len(windows[i][1]) for i in batch]
        width = max(lengths)
        input_ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            input_ids[row, : lengths[row]] = torch.tensor(windows[i][1])
            mask[row, : lengths[row]] = 1
        padded = min(lengths) < width  # no mask when nothing is padded: the model's plain causal path
        logits = _forward_logits(model, input_ids.to(device), mask.to(device) if padded else None)
        for row, i in enumerate(batch):  # logits: (batch, width, vocab)
            _, inputs, targets = windows[i]
            # position t predicts token t + 1: the input's last len(targets) positions predict the targets
            log_probs = torch.log_softmax(logits[row, len(inputs) - len(targets): len(inputs)].float(), dim=-1)
            target = torch.tensor(targets, device=log_probs.device)
            window_ll[i] = log_probs.gather(-1, target[:, None]).double().sum().item()
    results = [{"loglikelihood": 0.0, "tokens": 0, "windows": 0} for _ in documents]
    for i, (doc, _, targets) in enumerate(windows):  # each document's windows summed in order
        results[doc]["loglikelihood"] += window_ll[i]
        results[doc]["tokens"] += len(targets)
        results[doc]["windows"] += 1
    return results


def rolling_loglikelihood(model, token_ids: Sequence[int], max_length: int, prefix_token_id: int | None = None,
                          batch_size: int = 1) -> dict[str, Any]:
    """log p(text) under a causal LM, summed over every token, by lm_eval's rolling windows (`rolling_token_windows`,
    `rolling_loglikelihoods` for one text): {"loglikelihood": sum of log p(x_t | window), "tokens": scored tokens,
    "windows": forward rows}."""
    return rolling_loglikelihoods(model, [token_ids], max_length, prefix_token_id, batch_size)[0]


def score_documents(model, tokenizer, pages: Sequence[str], max_length: int, detokenize: str = "none",
                    batch_size: int = 1, show_progress: bool = False) -> dict[str, Any]:
    """lm-evaluation-harness's `loglikelihood_rolling` over documents, with its wikitext task's metrics: each page
    (detokenised first with `detokenize='wikitext'`, `wikitext_detokenizer`) is encoded as lm_eval's HF model does
    (`lm_eval_encode`: the tokenizer's default special tokens) and scored whole by `rolling_loglikelihoods` after the
    prefix token (`lm_eval_prefix_token_id`); word_perplexity, byte_perplexity and bits_per_byte count the words
    (re.split(r"\\s+")) and UTF-8 bytes of the original pages (`document_scores`); perplexity is per scored token."""
    if detokenize not in DETOKENIZERS:
        raise InputError(f"--detokenize must be one of {', '.join(DETOKENIZERS)}, got {detokenize!r}")
    if not pages:
        raise InputError("there are no documents to score")
    prefix = lm_eval_prefix_token_id(tokenizer)
    texts = [wikitext_detokenizer(page) for page in pages] if detokenize == "wikitext" else list(pages)
    ids = [lm_eval_encode(tokenizer, text) for text in texts]
    scores = rolling_loglikelihoods(model, ids, max_length, prefix, batch_size, show_progress)
    metrics = document_scores([s["loglikelihood"] for s in scores], pages)
    tokens = sum(s["tokens"] for s in scores)
    return {
        "documents": len(pages), "detokenize": detokenize, "max_length": max_length, "prefix_token_id": prefix,
        **metrics, "tokens": tokens, "windows": sum(s["windows"] for s in scores),
        "perplexity": perplexity_of(-metrics["loglikelihood"] / tokens) if tokens else float("nan"),
        "per_example": [{**s, "words": count_words(page), "bytes": count_bytes(page)}
                        for s, page in zip(scores, pages)],
    }


# ----------------------------------------------------------------------------------------------------------------------
# 11. The evaluation command
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class CausalLMEvalArguments:
    """What to evaluate, and how."""

    task: str = field(
        metadata={"help": "'perplexity' (strided sliding-window perplexity of --text_file), 'lambada' (last-word "
                          "accuracy and perplexity, lm-evaluation-harness's lambada_openai) or 'documents' "
                          "(lm-evaluation-harness's loglikelihood_rolling over the file's documents, its wikitext "
                          "task's word and byte perplexities).",
                  "choices": ["perplexity", "lambada", "documents"]}
    )
    text_file: str = field(
        metadata={"help": "perplexity, documents: a UTF-8 text file (.gz allowed); lambada: a JSON-lines file with "
                          "a 'text' field (OpenAI's lambada_test.jsonl), or one passage per line."}
    )
    max_length: int | None = field(
        default=None, metadata={"help": "Tokens per window / longest input (default: the model's positions)."}
    )
    stride: int | None = field(
        default=None, metadata={"help": "perplexity: tokens between window starts (default max_length // 2; "
                                        "max_length: non-overlapping windows)."}
    )
    text_format: str = field(
        default="auto",
        metadata={"help": "perplexity: 'raw' (the file tokenized whole, as the Hugging Face guide), 'lines' (each "
                          "line + eos, as run_clm trains; PTB's convention) or 'auto' (lines for a word-level "
                          "tokenizer, raw otherwise).", "choices": list(TEXT_FORMATS)},
    )
    text_field: str = field(default="text", metadata={"help": "lambada: the JSON field holding each passage."})
    document_split: str = field(
        default="wikitext",
        metadata={"help": "documents: 'wikitext' (a new document at each top-level ' = Title = ' heading, as "
                          "EleutherAI/wikitext_document_level; a file without one is one document), 'lines' (one "
                          "document per non-blank line) or 'file' (the whole file).",
                  "choices": list(DOCUMENT_SPLITS)},
    )
    detokenize: str = field(
        default="none",
        metadata={"help": "documents: 'wikitext' scores each document after lm-evaluation-harness's "
                          "wikitext_detokenizer (words and bytes are counted before it), 'none' as written.",
                  "choices": list(DETOKENIZERS)},
    )
    batch_size: int = field(default=4, metadata={"help": "Windows / passages per forward pass."})
    padding_side: str = field(
        default="right", metadata={"help": "lambada: pad batches on the right or the left.", "choices": ["right",
                                                                                                          "left"]}
    )
    max_samples: int | None = field(
        default=None, metadata={"help": "lambada / documents: score the first N passages / documents only."}
    )
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1, ... (default: cuda if present)."})
    dtype: str = field(
        default="float32", metadata={"help": "The model's dtype.", "choices": ["float32", "bfloat16", "float16"]}
    )
    write_predictions: bool = field(
        default=False, metadata={"help": "lambada: keep each passage's log-likelihood and is_greedy in the JSON; "
                                         "documents: each document's log-likelihood, tokens, words and bytes."}
    )

    def __post_init__(self):
        if not os.path.isfile(self.text_file):
            raise InputError(f"--text_file {self.text_file}: no such file")
        for name in ("max_length", "stride", "batch_size", "max_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name} must be at least 1, got {value}")


@dataclass
class EvalOutputArguments(OutputArguments):
    """Where the results go: a JSON file, an output folder (eval_results.json and the results table), or both."""

    output_dir: str | None = field(
        default=None, metadata={"help": "Folder for eval_results.json and the results table (results.md)."}
    )
    output_file: str | None = field(default=None, metadata={"help": "Write the results JSON to this file."})

    def __post_init__(self):
        if not isinstance(self.log_level, str) or self.log_level.lower() not in LOG_LEVELS:
            raise InputError(f"--log_level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if not self.output_dir and not self.output_file:
            raise InputError("give --output_file or --output_dir for the results")
        if self.output_file and os.path.exists(self.output_file) and not self.overwrite_output_dir:
            raise InputError(f"--output_file {self.output_file} already exists: pass --overwrite_output_dir to "
                             "replace it, or name another file")


@releases_output_dirs
def eval_causal_lm_cli(argv: list[str] | None = None) -> dict[str, Any]:
    """The body of `eval/eval_perplexity.py`: load a causal LM (hf_models' or transformers' classes,
    --implementation) and its tokenizer, score --text_file, write the results."""
    from transformers import AutoModelForCausalLM

    args, model_args, out = parse_args((CausalLMEvalArguments, ModelArguments, EvalOutputArguments), argv)
    setup_cli_logging(out.log_level, "hf_models.eval_perplexity", disable_tqdm=out.disable_tqdm)
    if out.output_dir:
        prepare_output_dir(out.output_dir, out.overwrite_output_dir, inputs=input_paths(args, model_args))
    tokenizer = load_lm_tokenizer(model_args.tokenizer_name or model_args.model_name_or_path, model_args)
    config = load_config(model_args)
    model = load_model(AutoModelForCausalLM, model_args, config)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device=device, dtype=getattr(torch, args.dtype)).eval()
    context = model_context_length(model.config)
    max_length = args.max_length or context
    if max_length is None:
        raise InputError(f"{model_args.model_name_or_path}: the config declares no context length: give --max_length")
    if context is not None and max_length > context:
        raise InputError(f"--max_length {max_length} is longer than the model's {context} positions")

    started = time.perf_counter()
    results: dict[str, Any] = {"task": args.task, "text_file": args.text_file, "model": model_args.model_name_or_path,
                               "implementation": implementation_name(model), "dtype": args.dtype}
    if args.task == "perplexity":
        text = read_text_file(args.text_file, "--text_file")
        stride = args.stride or max(1, max_length // 2)
        scores = sliding_window_perplexity(model, tokenizer, text, max_length, stride, args.text_format,
                                           args.batch_size, out.show_progress)
        results.update(scores)
        logger.info(f"{args.text_file}: perplexity {scores['perplexity']:.3f} over {scores['tokens']:,} tokens "
                    f"(word-level {scores['word_perplexity']:.3f} over {scores['words']:,} words, "
                    f"{scores['bits_per_byte']:.4f} bits per byte; max_length {max_length}, stride {stride}, "
                    f"text format {scores['text_format']})")
        shown = {k: scores[k] for k in ("perplexity", "word_perplexity", "bits_per_byte", "tokens")}
        examples = scores["tokens"]
    elif args.task == "documents":
        pages = read_documents(args.text_file, args.document_split, args.max_samples)
        scores = score_documents(model, tokenizer, pages, max_length, args.detokenize, args.batch_size,
                                 out.show_progress)
        per_example = scores.pop("per_example")
        results.update(scores, document_split=args.document_split)
        if args.write_predictions:
            results["predictions"] = per_example
        logger.info(f"{args.text_file}: word perplexity {scores['word_perplexity']:.4f}, byte perplexity "
                    f"{scores['byte_perplexity']:.5f}, {scores['bits_per_byte']:.5f} bits per byte "
                    f"({scores['documents']:,} documents, {scores['tokens']:,} tokens, max_length {max_length})")
        shown = {k: scores[k] for k in ("word_perplexity", "byte_perplexity", "bits_per_byte", "tokens")}
        examples = scores["documents"]
    else:
        passages = read_lambada(args.text_file, args.text_field, args.max_samples)
        scores = score_lambada(model, tokenizer, passages, max_length, args.batch_size, args.padding_side,
                               out.show_progress)
        per_example = scores.pop("per_example")
        results.update(scores, max_length=max_length, padding_side=args.padding_side)
        if args.write_predictions:
            results["predictions"] = per_example
        logger.info(f"{args.text_file}: LAMBADA accuracy {scores['accuracy']:.4f}, perplexity "
                    f"{scores['perplexity']:.3f} ({scores['examples']:,} passages)")
        shown = {k: scores[k] for k in ("accuracy", "perplexity")}
        examples = scores["examples"]
    results["seconds"] = time.perf_counter() - started
    if out.output_file:
        write_json(out.output_file, results)
    if out.output_dir:
        write_json(os.path.join(out.output_dir, "eval_results.json"), results)
        append_results_row(results_table_path(out, out.output_dir), {
            "task": args.task, "split": os.path.basename(args.text_file), "model": model_args.model_name_or_path,
            "implementation": results["implementation"], "examples": examples, "metrics": shown,
            "output_dir": out.output_dir,
        })
    return results


__all__ = [
    "BPE_EOS_TOKEN",
    "WORD_EOS_TOKEN",
    "WORD_UNK_TOKEN",
    "CausalLMDataArguments",
    "CausalLMEvalArguments",
    "CausalLMModelArguments",
    "EvalOutputArguments",
    "PerplexityMixin",
    "build_causal_lm",
    "build_lm_dataset",
    "compute_accuracy",
    "count_bytes",
    "count_words",
    "document_scores",
    "encode_pair",
    "eval_causal_lm_cli",
    "group_texts",
    "is_word_level",
    "lambada_split",
    "lm_eval_encode",
    "lm_eval_prefix_token_id",
    "load_lm_tokenizer",
    "model_context_length",
    "model_device",
    "new_model_config",
    "parse_config_overrides",
    "plan_windows",
    "read_documents",
    "read_lambada",
    "read_text_file",
    "read_text_lines",
    "rolling_loglikelihood",
    "rolling_loglikelihoods",
    "rolling_token_windows",
    "run_clm",
    "run_clm_cli",
    "score_continuations",
    "score_documents",
    "score_lambada",
    "sliding_window_nll",
    "sliding_window_perplexity",
    "split_documents",
    "split_wikitext_documents",
    "text_to_ids",
    "train_bpe_tokenizer",
    "train_word_tokenizer",
    "wikitext_detokenizer",
]
