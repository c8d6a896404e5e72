"""Machine translation with hf_models' Seq2Seq (LSTM encoder-decoder with attention) from parallel text files.

The pieces of `training/run_translation.py` and `eval/eval_translation.py`: readers of parallel text (one sentence a
line, plain or .gz, errors that name the file and line), source and target tokenizers trained with the `tokenizers`
library (word-level or BPE, reversible so that generated ids decode to detokenized text), `Seq2SeqTrainer` training
with generation in evaluation, and detokenized sacreBLEU (Post 2018), overall and by source-sentence length.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cli_utils import input_paths, json_safe, releases_output_dirs, write_json
from ..file_utils import GZIP_ERRORS, atomic_write, open_binary
from ..trainer_utils import (
    InOrderEvaluationMixin,
    RunArguments,
    SafeSavingMixin,
    dataset_rows,
    detect_last_checkpoint,
    implementation_name,
    record_results,
    wait_for_everyone,
)

logger = logging.getLogger("hf_models.tasks.translation")

TASK = "translation"
IGNORE_INDEX = -100
# Special tokens in id order: the ids match Seq2SeqConfig's pad_token_id=0, bos_token_id=1, eos_token_id=2.
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
PAD, BOS, EOS, UNK = SPECIAL_TOKENS
TOKENIZER_MODELS = ("bpe", "wordlevel")
SOURCE_TOKENIZER_DIR = "source_tokenizer"
TARGET_TOKENIZER_DIR = "target_tokenizer"
DEFAULT_LENGTH_BUCKETS = (10, 15, 20, 25)
SPLIT_PREFIXES = {"validation": "eval", "test": "predict"}


class ParallelDataError(ValueError):
    """A parallel text file that cannot be read: the message names the file and the line."""


# ----------------------------------------------------------------------------------------------------------------------
# Reading parallel text
# ----------------------------------------------------------------------------------------------------------------------
def read_lines(path: str | os.PathLike, allow_empty: bool = False) -> list[str]:
    """The lines of a UTF-8 text file (plain, or gzip when it ends in .gz or starts like gzip), without line ends."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    lines = []
    try:
        with open_binary(path) as f:  # bytes, decoded line by line, so that a decoding error knows its line
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as error:
                    raise ParallelDataError(f"{path}, line {number}: not valid UTF-8 ({error.reason} at byte "
                                            f"{error.start})") from None
                if number == 1:
                    line = line.removeprefix("\ufeff")  # a byte-order mark is not text
                if not allow_empty and not line.strip():
                    raise ParallelDataError(f"{path}, line {number}: empty line (every line must hold a sentence)")
                lines.append(line)
    except (OSError, *GZIP_ERRORS) as error:  # e.g. a .gz file that is not gzip, is cut short or corrupt
        raise ParallelDataError(f"{path}: cannot be read ({error})") from None
    return lines


def read_parallel(source_path: str | os.PathLike, target_path: str | os.PathLike,
                  allow_empty_target: bool = False) -> tuple[list[str], list[str]]:
    """(source sentences, target sentences) of two line-aligned files; refuse files of different lengths."""
    sources = read_lines(source_path)
    targets = read_lines(target_path, allow_empty=allow_empty_target)
    if len(sources) != len(targets):
        shorter, longer = (source_path, target_path) if len(sources) < len(targets) else (target_path, source_path)
        raise ParallelDataError(
            f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}: the files must be "
            f"line-aligned (line {min(len(sources), len(targets)) + 1} of {longer} has no counterpart in {shorter})"
        )
    if not sources:
        raise ParallelDataError(f"{source_path}: no sentences")
    return sources, targets


# ----------------------------------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------------------------------
def build_tokenizer(lines: list[str], model: str = "bpe", vocab_size: int = 8000, min_frequency: int = 2,
                    lowercase: bool = False, show_progress: bool = False):
    """A reversible word-level or BPE tokenizer (Sennrich et al. 2016) trained on `lines`, as a fast HF tokenizer.

    Text is NFKC-normalised (and lowercased); words are split at spaces, which become the "▁" of the following token
    (Metaspace), and punctuation is split off; the decoder undoes both, so decoded ids are detokenized text.
    Special tokens: <pad>=0, <s>=1, </s>=2, <unk>=3 (Seq2SeqConfig's ids); encoding appends </s>.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    if model not in TOKENIZER_MODELS:
        raise ValueError(f"--tokenizer_model must be one of {', '.join(TOKENIZER_MODELS)}, got {model!r}")
    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be an integer above {len(SPECIAL_TOKENS)}, got {vocab_size!r}")
    if not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"--min_frequency must be a positive integer, got {min_frequency!r}")
    if model == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(SPECIAL_TOKENS), show_progress=show_progress)
    else:
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=list(SPECIAL_TOKENS), show_progress=show_progress)
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
         pre_tokenizers.Punctuation(behavior="isolated")]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.train_from_iterator(lines, trainer=trainer, length=len(lines))
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != expected_id:  # cannot happen with the trainers above; guard the contract
            raise RuntimeError(f"special token {token} got id {tokenizer.token_to_id(token)}, expected {expected_id}")
    tokenizer.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                   unk_token=UNK, clean_up_tokenization_spaces=False)


def load_translation_tokenizer(path: str | os.PathLike, side: str):
    """A saved fast tokenizer, checked to have the special-token ids the Seq2Seq config expects."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"--{side}_tokenizer {path}: not a fast (tokenizers-backed) tokenizer")
    check_special_tokens(tokenizer, f"--{side}_tokenizer {path}")
    return tokenizer


def check_special_tokens(tokenizer, name: str) -> None:
    """Refuse a tokenizer whose pad/bos/eos ids are not 0/1/2 (the ids in the model's config)."""
    expected = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    for attribute, expected_id in expected.items():
        actual = getattr(tokenizer, attribute, None)
        if actual != expected_id:
            raise ValueError(f"{name}: {attribute} is {actual!r}, expected {expected_id} (special tokens "
                             f"{', '.join(SPECIAL_TOKENS)} in this order)")


def decode_generated(tokenizer, generated) -> list[str]:
    """Detokenized sentences from generated ids (padding, -100 and special tokens dropped)."""
    generated = np.asarray(generated)
    generated = np.where(generated < 0, tokenizer.pad_token_id, generated)
    texts = tokenizer.batch_decode(generated.tolist(), skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return [text.strip() for text in texts]


# ----------------------------------------------------------------------------------------------------------------------
# BLEU
# ----------------------------------------------------------------------------------------------------------------------
def corpus_bleu(predictions: list[str], references: list[str], tokenize: str = "13a", lowercase: bool = False,
                metric=None) -> dict[str, Any]:
    """sacreBLEU corpus BLEU of detokenized predictions against one reference each (Post 2018)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if metric is None:
        from ..metrics import load_metric

        metric = load_metric("sacrebleu")
    return metric.compute(predictions=predictions, references=[[r] for r in references], tokenize=tokenize,
                          lowercase=lowercase)


def bleu_signature(tokenize: str = "13a", lowercase: bool = False) -> str:
    """sacreBLEU's signature of the settings (e.g. nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0), the
    string Post (2018) asks papers to report next to the score."""
    import sacrebleu

    bleu = sacrebleu.BLEU(tokenize=tokenize, lowercase=lowercase)
    bleu.num_refs = 1  # what the signature reports as nrefs; set by corpus_score otherwise
    return str(bleu.get_signature())


def parse_length_buckets(text: str | None) -> tuple[int, ...]:
    """'10,15,20,25' -> (10, 15, 20, 25): the upper bounds of all buckets but the last (26+)."""
    if text is None or text == "":
        return DEFAULT_LENGTH_BUCKETS
    try:
        bounds = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise ValueError(f"--length_buckets must be increasing integers separated by commas, got {text!r}") from None
    if not bounds or bounds[0] < 1 or any(b >= c for b, c in itertools.pairwise(bounds)):
        raise ValueError(f"--length_buckets must be increasing positive integers, got {text!r}")
    return bounds


def bucket_names(bounds: tuple[int, ...]) -> list[str]:
    """(10, 15) -> ['1-10', '11-15', '16+']."""
    lows = (1, *(b + 1 for b in bounds))
    return [f"{low}-{high}" for low, high in zip(lows, bounds)] + [f"{lows[-1]}+"]


def bleu_by_length(sources: list[str], predictions: list[str], references: list[str],
                   bounds: tuple[int, ...] = DEFAULT_LENGTH_BUCKETS, tokenize: str = "13a",
                   lowercase: bool = False, metric=None) -> list[dict[str, Any]]:
    """Corpus BLEU of the sentences in each source-length bucket (length in whitespace-separated words), as in
    Bahdanau et al. (2015, figure 2): one {"bucket", "min_words", "max_words", "sentences", "bleu"} per bucket."""
    if not len(sources) == len(predictions) == len(references):
        raise ValueError(f"{len(sources)} sources, {len(predictions)} predictions and {len(references)} references")
    if metric is None:
        from ..metrics import load_metric

        metric = load_metric("sacrebleu")
    names = bucket_names(bounds)
    members: list[list[int]] = [[] for _ in names]
    for i, source in enumerate(sources):
        words = len(source.split())
        members[int(np.searchsorted(bounds, words, side="left"))].append(i)
    lows = (1, *(b + 1 for b in bounds))
    rows = []
    for k, (name, indices) in enumerate(zip(names, members)):
        bleu = None
        if indices:
            bleu = corpus_bleu([predictions[i] for i in indices], [references[i] for i in indices], tokenize,
                               lowercase, metric)["score"]
        rows.append({"bucket": name, "min_words": lows[k], "max_words": bounds[k] if k < len(bounds) else None,
                     "sentences": len(indices), "bleu": bleu})
    return rows


def plot_bleu_by_length(rows: list[dict[str, Any]] | dict[str, list[dict[str, Any]]], path: str | os.PathLike,
                        title: str | None = None) -> Path:
    """BLEU per source-length bucket (Bahdanau et al. 2015, figure 2), written as a PNG.

    `rows` is one model's `bleu_by_length` output (a bar chart), or {model name: its rows} for several models over
    the same buckets (one line per model, as the lecture's plot of attention against the bottleneck model).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = rows if isinstance(rows, dict) else {"": rows}
    if not models:
        raise ValueError("plot_bleu_by_length: no model rows to plot")
    names = [row["bucket"] for row in next(iter(models.values()))]
    for model, model_rows in models.items():
        if [row["bucket"] for row in model_rows] != names:
            raise ValueError(f"plot_bleu_by_length: model {model!r} has buckets "
                             f"{[row['bucket'] for row in model_rows]}, expected {names}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 4) if len(models) == 1 else (7, 5.2))
    first = next(iter(models.values()))
    if len(models) == 1:
        scores = [row["bleu"] if row["bleu"] is not None else 0.0 for row in first]
        bars = axis.bar(names, scores, color="tab:blue")
        for bar, row in zip(bars, first):
            axis.annotate(f"n={row['sentences']}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=8)
        top = max(scores)
    else:
        positions = list(range(len(names)))
        top = 0.0
        for model, model_rows in models.items():
            scores = [row["bleu"] if row["bleu"] is not None else float("nan") for row in model_rows]
            axis.plot(positions, scores, marker="o", label=model)
            top = max([top, *(v for v in scores if not math.isnan(v))])
        axis.set_xticks(positions, [f"{name}\n(n={row['sentences']})" for name, row in zip(names, first)])
        # below the axes, where no line can run under it
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)
        axis.grid(alpha=0.3)
    axis.set_ylim(0.0, max(1.0, top * 1.15))  # room above the highest point
    axis.set_xlabel("source sentence length (words)")
    axis.set_ylabel("BLEU")
    axis.set_title(title or "BLEU by source sentence length")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


class TranslationScorer:
    """`compute_metrics` for Seq2SeqTrainer with predict_with_generate: detokenized sacreBLEU and mean output length.

    Keeps the decoded predictions of the last call (`self.predictions`) for the predictions file.
    """

    def __init__(self, references: list[str], target_tokenizer, tokenize: str = "13a", lowercase: bool = False):
        from ..metrics import load_metric

        self.references = references
        self.tokenizer = target_tokenizer
        self.tokenize = tokenize
        self.lowercase = lowercase
        self.metric = load_metric("sacrebleu")
        self.predictions: list[str] = []

    def __call__(self, eval_prediction) -> dict[str, float]:
        generated = dataset_rows(eval_prediction.predictions, len(self.references))
        self.predictions = decode_generated(self.tokenizer, generated)
        if len(self.predictions) != len(self.references):
            raise ValueError(f"{len(self.predictions)} generated sentences for {len(self.references)} references")
        bleu = corpus_bleu(self.predictions, self.references, self.tokenize, self.lowercase, self.metric)
        generated = np.asarray(generated)
        return {"bleu": bleu["score"], "bp": bleu["bp"], "gen_len": float(np.mean(generated_lengths(
            generated, self.tokenizer.pad_token_id, self.tokenizer.eos_token_id)))}


def generated_lengths(generated, pad_token_id: int, eos_token_id: int | None) -> np.ndarray:
    """Tokens generated per row up to and including the first </s>: beam search fills a finished row with </s> (or
    padding), and the Trainer pads rows across batches with -100; none of that counts."""
    generated = np.asarray(generated)
    real = (generated != pad_token_id) & (generated >= 0)
    if eos_token_id is not None:
        after_eos = np.cumsum(generated == eos_token_id, axis=-1) - (generated == eos_token_id) > 0
        real &= ~after_eos
    return real.sum(axis=-1)


def write_lines(path: str | os.PathLike, lines: list[str]) -> Path:
    """One sentence a line (UTF-8); line breaks inside a sentence become spaces so the file stays line-aligned."""
    path = Path(path)
    with atomic_write(path, newline="\n") as f:  # whole or not at all
        for line in lines:
            f.write(" ".join(line.splitlines()) + "\n")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
MODEL_FAMILIES = ("seq2seq", "transformer")


@dataclass
class TranslationModelArguments:
    """The translation model: a saved one to continue from, or the family and shape of a new one."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A saved hf_models translation folder (Seq2Seq or Transformer) to start from (its "
                          "source_tokenizer/ and target_tokenizer/ are used unless given), or an encoder-decoder "
                          "checkpoint (T5: hf_models' or transformers' folder) fine-tuned text-to-text with its own "
                          "tokenizer and T5's prefix (--source_prefix); default: a new model built from the flags "
                          "below."},
    )
    implementation: str = field(
        default="auto",
        metadata={"help": "A T5 checkpoint: whose classes run it, 'auto', 'hf_models' or 'transformers' (as run_glue)."},
    )
    model_family: str = field(
        default="seq2seq",
        metadata={"help": "The family of a new model: seq2seq (LSTM encoder-decoder with attention) or transformer "
                          "(Vaswani et al. 2017).", "choices": list(MODEL_FAMILIES)},
    )
    attention_type: str = field(default="general", metadata={"help": "seq2seq: none | dot | general | concat."})
    embedding_size: int = field(default=256, metadata={"help": "seq2seq: width of the word embeddings."})
    hidden_size: int = field(
        default=512, metadata={"help": "seq2seq: width of every LSTM layer (per direction); transformer: d_model."}
    )
    encoder_layers: int = field(default=2, metadata={"help": "Stacked layers of the encoder."})
    decoder_layers: int = field(default=2, metadata={"help": "Stacked layers of the decoder."})
    bidirectional_encoder: bool = field(default=False, metadata={"help": "seq2seq: the encoder reads both ways."})
    dropout: float = field(default=0.2, metadata={"help": "Dropout (seq2seq: embeddings, between layers, h~_t; "
                                                          "transformer: embeddings and every sub-layer output)."})
    input_feeding: bool = field(default=False, metadata={"help": "seq2seq: Luong et al.'s input feeding."})
    teacher_forcing_ratio: float = field(
        default=1.0, metadata={"help": "seq2seq: probability of feeding the gold previous token in training."}
    )
    init_range: float = field(default=0.1, metadata={"help": "seq2seq: uniform initialisation in [-r, r]."})
    tie_word_embeddings: bool = field(
        default=False, metadata={"help": "Share the decoder embedding with the output layer (seq2seq: needs "
                                         "embedding_size = hidden_size)."}
    )
    num_attention_heads: int = field(default=8, metadata={"help": "transformer: heads h of every attention."})
    ffn_dim: int = field(default=2048, metadata={"help": "transformer: inner width d_ff of the feed-forward network."})
    position_embedding: str = field(default="sinusoidal", metadata={"help": "transformer: sinusoidal | learned | "
                                                                            "none."})
    layer_norm_position: str = field(default="post", metadata={"help": "transformer: post (the paper) | pre."})
    attention_dropout: float = field(default=0.0, metadata={"help": "transformer: dropout on attention weights."})
    activation_function: str = field(default="relu", metadata={"help": "transformer: of the feed-forward network."})
    max_position_embeddings: int = field(default=256, metadata={"help": "transformer: the longest sequence."})

    def __post_init__(self):
        if self.model_family not in MODEL_FAMILIES:
            raise ValueError(f"--model_family must be one of {', '.join(MODEL_FAMILIES)}, got {self.model_family!r}")

    def config_fields(self) -> dict[str, Any]:
        """The config fields these flags set, for the chosen family (Seq2SeqConfig or TransformerConfig)."""
        if self.model_family == "transformer":
            return {"d_model": self.hidden_size, "encoder_layers": self.encoder_layers,
                    "decoder_layers": self.decoder_layers, "encoder_attention_heads": self.num_attention_heads,
                    "decoder_attention_heads": self.num_attention_heads, "encoder_ffn_dim": self.ffn_dim,
                    "decoder_ffn_dim": self.ffn_dim, "dropout": self.dropout,
                    "attention_dropout": self.attention_dropout, "position_embedding": self.position_embedding,
                    "layer_norm_position": self.layer_norm_position, "activation_function": self.activation_function,
                    "max_position_embeddings": self.max_position_embeddings,
                    "tie_word_embeddings": self.tie_word_embeddings}
        names = ("attention_type", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers",
                 "bidirectional_encoder", "dropout", "input_feeding", "teacher_forcing_ratio", "init_range",
                 "tie_word_embeddings")
        return {name: getattr(self, name) for name in names}


@dataclass
class TranslationDataArguments:
    """Parallel text files (one sentence a line, plain or .gz) and the tokenizers."""

    train_source_file: str | None = field(default=None, metadata={"help": "Training source sentences."})
    train_target_file: str | None = field(default=None, metadata={"help": "Training target sentences."})
    validation_source_file: str | None = field(default=None, metadata={"help": "Validation source (--do_eval)."})
    validation_target_file: str | None = field(default=None, metadata={"help": "Validation references."})
    test_source_file: str | None = field(default=None, metadata={"help": "Test source (--do_predict)."})
    test_target_file: str | None = field(default=None, metadata={"help": "Test references."})
    source_lang: str = field(default="en", metadata={"help": "Source language code (the results table; a T5 "
                                                              "checkpoint's prefix: en -> English)."})
    target_lang: str = field(default="de", metadata={"help": "Target language code (the results table; a T5 "
                                                              "checkpoint's prefix: de -> German)."})
    source_prefix: str | None = field(
        default=None,
        metadata={"help": "Text put before every source sentence of an encoder-decoder checkpoint (T5) fine-tuned "
                          "text-to-text; default: T5's 'translate English to German: ' from the language codes."},
    )
    source_tokenizer: str | None = field(
        default=None, metadata={"help": "A saved source tokenizer folder; default: trained on the training sources."}
    )
    target_tokenizer: str | None = field(
        default=None, metadata={"help": "A saved target tokenizer folder; default: trained on the training targets."}
    )
    tokenizer_model: str = field(default="bpe", metadata={"help": "Tokenizers to train: bpe | wordlevel."})
    source_vocab_size: int = field(default=8000, metadata={"help": "Vocabulary size of a trained source tokenizer."})
    target_vocab_size: int = field(default=8000, metadata={"help": "Vocabulary size of a trained target tokenizer."})
    min_frequency: int = field(default=2, metadata={"help": "Minimum count of a (sub)word in a trained tokenizer."})
    lowercase: bool = field(default=False, metadata={"help": "Trained tokenizers lowercase their input."})
    max_source_length: int = field(default=128, metadata={"help": "Source tokens kept (with </s>)."})
    max_target_length: int = field(default=128, metadata={"help": "Target tokens kept in training labels."})
    bleu_tokenize: str = field(default="13a", metadata={"help": "sacreBLEU tokenizer (13a, intl, char, none...)."})
    bleu_lowercase: bool = field(default=False, metadata={"help": "Case-insensitive BLEU (e.g. with --lowercase)."})
    length_buckets: str = field(
        default="10,15,20,25",
        metadata={"help": "Upper bounds (words) of the source-length buckets of BLEU by length: 1-10, ..., 26+."},
    )

    def __post_init__(self):
        parse_length_buckets(self.length_buckets)
        if self.tokenizer_model not in TOKENIZER_MODELS:
            raise ValueError(f"--tokenizer_model must be one of {', '.join(TOKENIZER_MODELS)}, "
                             f"got {self.tokenizer_model!r}")
        for name in ("source_vocab_size", "target_vocab_size", "min_frequency", "max_source_length",
                     "max_target_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name} must be a positive integer, got {value!r}")

    def files(self, split: str) -> tuple[str | None, str | None]:
        """(source file, target file) of 'train', 'validation' or 'test'."""
        return getattr(self, f"{split}_source_file"), getattr(self, f"{split}_target_file")


# ----------------------------------------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------------------------------------
def _needed_splits(data_args: TranslationDataArguments, model_args: TranslationModelArguments,
                   training_args) -> list[str]:
    """The splits of the run, their files checked before anything is written."""
    flags = {"train": "--do_train", "validation": "--do_eval", "test": "--do_predict"}
    wanted = {"train": training_args.do_train, "validation": training_args.do_eval,
              "test": training_args.do_predict}
    needed = [split for split, on in wanted.items() if on]
    if not needed:
        raise ValueError("nothing to do: give --do_train, --do_eval and/or --do_predict")
    if not training_args.do_train and model_args.model_name_or_path is None:
        raise ValueError("--do_eval/--do_predict without --do_train score a trained model: give --model_name_or_path "
                         "(a run_translation.py output folder)")
    for split in needed:
        for side, path in zip(("source", "target"), data_args.files(split)):
            if path is None:
                raise ValueError(f"{flags[split]} needs --{split}_{side}_file")
            if not os.path.isfile(path):
                raise FileNotFoundError(f"--{split}_{side}_file not found: {path}")
    return needed


def _tokenizer_source(side: str, data_args, model_args, output_dir: str, last_checkpoint: str | None) -> str | None:
    """Where this run's `side` tokenizer comes from: the flag, the starting model, the resumed run (its folder, or
    the folder holding the checkpoint), or None (train a new one)."""
    given = getattr(data_args, f"{side}_tokenizer")
    if given is not None:
        return given
    folder = SOURCE_TOKENIZER_DIR if side == "source" else TARGET_TOKENIZER_DIR
    if model_args.model_name_or_path is not None:
        if os.path.isdir(os.path.join(model_args.model_name_or_path, folder)):
            return os.path.join(model_args.model_name_or_path, folder)
        raise ValueError(f"{model_args.model_name_or_path} has no {folder}/ folder: give --{side}_tokenizer")
    if last_checkpoint is not None:
        checkpoint = os.path.normpath(last_checkpoint)
        for base in (checkpoint, os.path.dirname(checkpoint), output_dir):
            if os.path.isdir(os.path.join(base, folder)):
                return os.path.join(base, folder)
        raise ValueError(f"resuming from {last_checkpoint}, but neither it, its folder nor {output_dir} holds the "
                         f"{folder}/ it was trained with: give --{side}_tokenizer")
    return None


def prepare_tokenizers(data_args, model_args, training_args, train_pair: tuple[list[str], list[str]] | None,
                       last_checkpoint: str | None = None):
    """(source tokenizer, target tokenizer): loaded where one exists, else trained on the training sentences."""
    tokenizers = []
    for side, index in (("source", 0), ("target", 1)):
        location = _tokenizer_source(side, data_args, model_args, training_args.output_dir, last_checkpoint)
        if location is not None:
            tokenizer = load_translation_tokenizer(location, side)
            logger.info(f"{side} tokenizer: {location} ({len(tokenizer)} tokens)")
        else:
            if train_pair is None:
                raise ValueError(f"no {side} tokenizer: give --{side}_tokenizer or --model_name_or_path, or train one "
                                 "with --do_train")
            vocab_size = getattr(data_args, f"{side}_vocab_size")
            tokenizer = build_tokenizer(train_pair[index], data_args.tokenizer_model, vocab_size,
                                        data_args.min_frequency, data_args.lowercase)
            logger.info(f"{side} tokenizer: {data_args.tokenizer_model} trained on {len(train_pair[index])} "
                        f"sentences ({len(tokenizer)} tokens)")
        tokenizers.append(tokenizer)
    return tuple(tokenizers)


def tokenize_pairs(sources: list[str], targets: list[str], source_tokenizer, target_tokenizer,
                   max_source_length: int, max_target_length: int):
    """A datasets.Dataset of input_ids, attention_mask and labels (target ids + </s>), truncated to the lengths."""
    import datasets

    encoded_sources = source_tokenizer(sources, truncation=True, max_length=max_source_length)
    encoded_targets = target_tokenizer(targets, truncation=True, max_length=max_target_length)
    return datasets.Dataset.from_dict({
        "input_ids": encoded_sources["input_ids"],
        "attention_mask": encoded_sources["attention_mask"],
        "labels": encoded_targets["input_ids"],
    })


def vocabulary_sizes(config) -> tuple[int, int]:
    """(source, target) vocabulary sizes of a translation model's config, whichever the family."""
    if getattr(config, "model_type", "") == "hf_transformer":
        return config.vocab_size, config.decoder_vocab_size
    return config.source_vocab_size, config.target_vocab_size


def _describe(model) -> str:
    config = model.config
    if config.model_type == "hf_transformer":
        return (f"Transformer {config.encoder_layers}+{config.decoder_layers} layers, d_model={config.d_model}, "
                f"{config.encoder_attention_heads} heads, {config.layer_norm_position}-LN, "
                f"{config.position_embedding} positions")
    return f"attention={config.attention_type}"


def load_translation_model(path: str):
    """A saved hf_models translation model (Seq2Seq or Transformer), by its config.json's model_type."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    from ..auto import register_auto_classes

    register_auto_classes()
    config = AutoConfig.from_pretrained(path)
    if config.model_type not in ("hf_seq2seq", "hf_transformer"):
        raise ValueError(f"{path}: model_type {config.model_type!r} is not an hf_models translation model "
                         "(hf_seq2seq, hf_transformer)")
    return AutoModelForSeq2SeqLM.from_pretrained(path)


def build_model(model_args: TranslationModelArguments, source_tokenizer, target_tokenizer):
    """A saved model (checked against the tokenizers) or a new one of `--model_family`, sized to the tokenizers'
    vocabularies (separate source and target vocabularies; <pad>=0, <s>=1, </s>=2 on both sides)."""
    if model_args.model_name_or_path is not None:
        model = load_translation_model(model_args.model_name_or_path)
        for side, tokenizer, size in zip(("source", "target"), (source_tokenizer, target_tokenizer),
                                         vocabulary_sizes(model.config)):
            if len(tokenizer) > size:
                raise ValueError(f"the {side} tokenizer has {len(tokenizer)} tokens but {model_args.model_name_or_path}"
                                 f" has a {side} vocabulary of {size}: use the model's own tokenizers")
    elif model_args.model_family == "transformer":
        from ..transformer import TransformerConfig, TransformerForConditionalGeneration

        config = TransformerConfig(vocab_size=len(source_tokenizer), decoder_vocab_size=len(target_tokenizer),
                                   share_encoder_decoder_embeddings=False, pad_token_id=0, bos_token_id=1,
                                   eos_token_id=2, decoder_start_token_id=1, **model_args.config_fields())
        model = TransformerForConditionalGeneration(config)
    else:
        from ..seq2seq import Seq2SeqConfig, Seq2SeqForConditionalGeneration

        config = Seq2SeqConfig(source_vocab_size=len(source_tokenizer), target_vocab_size=len(target_tokenizer),
                               pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                               **model_args.config_fields())
        model = Seq2SeqForConditionalGeneration(config)
    logger.info(f"Model: {type(model).__name__} ({model.num_parameters():,} parameters), {_describe(model)}")
    return model


def save_tokenizers(output_dir: str, source_tokenizer, target_tokenizer) -> None:
    """Save both tokenizers into OUTPUT_DIR/source_tokenizer and OUTPUT_DIR/target_tokenizer."""
    source_tokenizer.save_pretrained(os.path.join(output_dir, SOURCE_TOKENIZER_DIR))
    target_tokenizer.save_pretrained(os.path.join(output_dir, TARGET_TOKENIZER_DIR))


def predictions_file_name(prefix: str) -> str:
    """generated_predictions.txt for the test split (as transformers' run_translation), eval_... for validation."""
    return "generated_predictions.txt" if prefix == "predict" else f"{prefix}_generated_predictions.txt"


@releases_output_dirs
def run_translation(model_args: TranslationModelArguments, data_args: TranslationDataArguments,
                    run_args: RunArguments, training_args) -> dict:
    """Train and/or evaluate a Seq2Seq translation model with `Seq2SeqTrainer`; return the metrics.

    --do_train trains on the training pair (resuming from the output folder's last checkpoint) and saves the model
    and both tokenizers; --do_eval scores the validation pair, --do_predict the test pair, by generating translations
    (`--predict_with_generate`, `--generation_num_beams`, `--generation_max_length`) and computing detokenized
    sacreBLEU. Each scored split gets `{eval,predict}_results.json`, its translations (one a line), BLEU by source
    length (`{eval,predict}_bleu_by_length.json`) and a row in the results table; `all_results.json` gathers all.
    """
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, set_seed

    from .text_to_text_tasks import (
        fix_loss_kwargs,
        prepare_text_to_text_translation,
        text_to_text_translation_config,
    )

    needed = _needed_splits(data_args, model_args, training_args)
    if any(split != "train" for split in needed) and not training_args.predict_with_generate:
        raise ValueError("--do_eval/--do_predict score generated translations with BLEU: add --predict_with_generate")
    # an encoder-decoder checkpoint (T5) that is no Seq2Seq/Transformer folder is fine-tuned text-to-text
    text_to_text = text_to_text_translation_config(model_args.model_name_or_path, model_args.implementation)
    if (data_args.lowercase and text_to_text is None and not data_args.bleu_lowercase
            and data_args.target_tokenizer is None):
        logger.warning("--lowercase: the translations come out lowercased but BLEU compares them with the cased "
                       "references; add --bleu_lowercase for case-insensitive BLEU")
    logger.info(f"Training/evaluation parameters {training_args}")
    last_checkpoint = detect_last_checkpoint(training_args, run_args.overwrite_output_dir,
                                             inputs=input_paths(model_args, data_args))
    wait_for_everyone(training_args)

    limits = {"train": run_args.max_train_samples, "validation": run_args.max_eval_samples,
              "test": run_args.max_predict_samples}
    pairs = {}
    for split in needed:
        sources, targets = read_parallel(*data_args.files(split))
        if limits[split] is not None:
            sources, targets = sources[: limits[split]], targets[: limits[split]]
        pairs[split] = (sources, targets)
        logger.info(f"{split}: {len(sources)} sentence pairs from {data_args.files(split)[0]}")

    if text_to_text is not None:  # one shared tokenizer, T5's prefix before every source
        set_seed(training_args.seed)
        tokenizer, model, datasets_, _, training_args = prepare_text_to_text_translation(
            model_args, data_args, training_args, pairs, text_to_text)
        source_tokenizer = target_tokenizer = tokenizer
    else:
        source_tokenizer, target_tokenizer = prepare_tokenizers(
            data_args, model_args, training_args, pairs.get("train"), last_checkpoint
        )
        set_seed(training_args.seed)
        model = build_model(model_args, source_tokenizer, target_tokenizer)
        datasets_ = {split: tokenize_pairs(*pairs[split], source_tokenizer, target_tokenizer,
                                           data_args.max_source_length, data_args.max_target_length)
                     for split in needed}
    scorers = {split: TranslationScorer(pairs[split][1], target_tokenizer, data_args.bleu_tokenize,
                                        data_args.bleu_lowercase)
               for split in ("validation", "test") if split in pairs}
    collator = DataCollatorForSeq2Seq(
        source_tokenizer, model=model, label_pad_token_id=IGNORE_INDEX,
        pad_to_multiple_of=8 if training_args.fp16 or training_args.bf16 else None,
    )
    class TranslationTrainer(SafeSavingMixin, InOrderEvaluationMixin, Seq2SeqTrainer):
        """Generated translations come back in the order of their references, also with length-grouped batches."""

    trainer = TranslationTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets_.get("train"),
        eval_dataset=datasets_.get("validation"),
        data_collator=collator,
        compute_metrics=scorers.get("validation"),
        # a text-to-text checkpoint's one tokenizer is saved with the model (the families' two go to their folders)
        processing_class=source_tokenizer if text_to_text is not None else None,
    )
    if text_to_text is not None:
        fix_loss_kwargs(trainer, model)

    results: dict[str, Any] = {}
    if training_args.should_save:
        os.makedirs(training_args.output_dir, exist_ok=True)
    if training_args.do_train and training_args.should_save and text_to_text is None:  # before training: checkpoints resume with them
        save_tokenizers(training_args.output_dir, source_tokenizer, target_tokenizer)
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model()
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = len(datasets_["train"])
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", json_safe(metrics, "train_results.json"))  # strict JSON: NaN -> null
        trainer.save_state()
        results.update({k if k.startswith("train") else f"train_{k}": v for k, v in metrics.items()})

    bounds = parse_length_buckets(data_args.length_buckets)
    for split, prefix in SPLIT_PREFIXES.items():
        if split not in scorers:
            continue
        scorer = scorers[split]
        trainer.compute_metrics = scorer
        if split == "validation":
            metrics = trainer.evaluate(metric_key_prefix=prefix)
        else:
            metrics = trainer.predict(datasets_[split], metric_key_prefix=prefix).metrics
        metrics[f"{prefix}_samples"] = len(datasets_[split])
        trainer.log_metrics(prefix, metrics)
        trainer.save_metrics(prefix, json_safe(metrics, f"{prefix}_results.json"))  # strict JSON: NaN -> null
        results.update(metrics)
        if trainer.is_world_process_zero():
            sources, references = pairs[split]
            path = write_lines(os.path.join(training_args.output_dir, predictions_file_name(prefix)),
                               scorer.predictions)
            rows = bleu_by_length(sources, scorer.predictions, references, bounds, data_args.bleu_tokenize,
                                  data_args.bleu_lowercase, scorer.metric)
            write_json(os.path.join(training_args.output_dir, f"{prefix}_bleu_by_length.json"), rows)
            logger.info(f"{split}: BLEU {metrics[f'{prefix}_bleu']:.2f}, translations in {path}; by source length: "
                        + ", ".join(f"{r['bucket']}: {_format_bleu(r['bleu'])} ({r['sentences']})" for r in rows))
        record_results(training_args, run_args, f"{TASK} {data_args.source_lang}-{data_args.target_lang}",
                       f"{split}: {Path(data_args.files(split)[0]).name}",
                       model_args.model_name_or_path or training_args.output_dir,
                       implementation_name(trainer.model) if text_to_text is not None else "hf_models",
                       len(datasets_[split]), metrics)
    return results


def _format_bleu(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


# ----------------------------------------------------------------------------------------------------------------------
# Translating with a saved model (eval/eval_translation.py)
# ----------------------------------------------------------------------------------------------------------------------
def translate(model, source_tokenizer, target_tokenizer, sentences: list[str], batch_size: int = 32,
              num_beams: int = 1, length_penalty: float = 1.0, max_length: int = 128,
              max_source_length: int = 128, show_progress: bool = True) -> list[str]:
    """Translations of `sentences` by greedy (num_beams=1) or beam search, in batches of similar source length."""
    import torch
    from tqdm.auto import tqdm

    if batch_size < 1 or num_beams < 1 or max_length < 1:
        raise ValueError(f"batch_size, num_beams and max_length must be positive, got {batch_size}, {num_beams}, "
                         f"{max_length}")
    model.eval()
    device = next(model.parameters()).device
    encoded = source_tokenizer(sentences, truncation=True, max_length=max_source_length)["input_ids"]
    order = sorted(range(len(sentences)), key=lambda i: len(encoded[i]), reverse=True)  # less padding per batch
    translations: list[str] = [""] * len(sentences)
    batches = range(0, len(order), batch_size)
    for start in tqdm(batches, desc="translating", disable=not show_progress):
        indices = order[start:start + batch_size]
        batch = source_tokenizer.pad({"input_ids": [encoded[i] for i in indices]}, return_tensors="pt")
        with torch.no_grad():
            generated = model.generate(
                input_ids=batch["input_ids"].to(device),
                attention_mask=batch["attention_mask"].to(device),
                num_beams=num_beams,
                length_penalty=length_penalty,
                max_length=max_length,
                do_sample=False,
                early_stopping=num_beams > 1,
            )
        for i, text in zip(indices, decode_generated(target_tokenizer, generated.cpu().numpy())):
            translations[i] = text
    return translations


def translate_with_alignment(model, source_tokenizer, target_tokenizer, sentence: str, num_beams: int = 1,
                             max_length: int = 128) -> dict[str, Any]:
    """One sentence's translation with its source-target alignment a_t(s) (Bahdanau et al. 2015, fig. 3).

    Decodes by greedy or beam search, then reads the decoder's attention over the source for each output token by
    teacher-forcing the translation (the weights with which token y_t was predicted). Returns {"translation",
    "source_tokens", "target_tokens", "attentions": (target_len, source_len) array (the top layer's cross-attention,
    averaged over its heads), "cross_attentions": every layer's (heads, target_len, source_len), and
    "encoder_self_attentions": the Transformer encoder's (heads, source_len, source_len) per layer}; attentions is
    None for a model without attention (attention_type "none").
    """
    import torch

    model.eval()
    device = next(model.parameters()).device
    batch = source_tokenizer([sentence], return_tensors="pt")
    input_ids = batch["input_ids"].to(device)
    attention_mask = batch["attention_mask"].to(device)
    with torch.no_grad():
        generated = model.generate(input_ids=input_ids, attention_mask=attention_mask, num_beams=num_beams,
                                   max_length=max_length, do_sample=False, early_stopping=num_beams > 1)
        # generated = [start, y_1, ..., y_n]: position t of the decoder input predicts y_{t+1}
        outputs = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=generated[:, :-1],
                        output_attentions=True, return_dict=True)
    # cross-attention per layer: (batch, heads, target, source); the LSTM's is one layer with one "head"
    cross = [layer[0].float().cpu().numpy() for layer in outputs.cross_attentions or ()]
    encoder_self = [layer[0].float().cpu().numpy() for layer in getattr(outputs, "encoder_attentions", None) or ()]
    return {
        "translation": decode_generated(target_tokenizer, generated.cpu().numpy())[0],
        "source_tokens": source_tokenizer.convert_ids_to_tokens(input_ids[0].tolist()),
        "target_tokens": target_tokenizer.convert_ids_to_tokens(generated[0, 1:].tolist()),
        "attentions": cross[-1].mean(axis=0) if cross else None,  # the top layer's, averaged over its heads
        "cross_attentions": cross,  # every layer's, every head's: (heads, target, source) each
        "encoder_self_attentions": encoder_self,  # the Transformer's encoder: (heads, source, source) each
    }


def load_saved_translator(model_path: str, source_tokenizer: str | None = None, target_tokenizer: str | None = None):
    """(model, source tokenizer, target tokenizer) of a folder saved by run_translation.py (either family)."""
    if not os.path.isdir(model_path):
        raise FileNotFoundError(f"--model_name_or_path {model_path}: no such folder")
    source = load_translation_tokenizer(source_tokenizer or os.path.join(model_path, SOURCE_TOKENIZER_DIR), "source")
    target = load_translation_tokenizer(target_tokenizer or os.path.join(model_path, TARGET_TOKENIZER_DIR), "target")
    model = load_translation_model(model_path)
    sizes = vocabulary_sizes(model.config)
    if len(source) > sizes[0] or len(target) > sizes[1]:
        raise ValueError(f"{model_path}: the tokenizers ({len(source)}, {len(target)} tokens) do not fit the model's "
                         f"vocabularies ({sizes[0]}, {sizes[1]})")
    return model, source, target


__all__ = [
    "DEFAULT_LENGTH_BUCKETS",
    "IGNORE_INDEX",
    "MODEL_FAMILIES",
    "SOURCE_TOKENIZER_DIR",
    "SPECIAL_TOKENS",
    "TARGET_TOKENIZER_DIR",
    "TASK",
    "TOKENIZER_MODELS",
    "ParallelDataError",
    "TranslationDataArguments",
    "TranslationModelArguments",
    "TranslationScorer",
    "bleu_by_length",
    "bleu_signature",
    "bucket_names",
    "build_model",
    "build_tokenizer",
    "check_special_tokens",
    "corpus_bleu",
    "decode_generated",
    "generated_lengths",
    "load_saved_translator",
    "load_translation_model",
    "load_translation_tokenizer",
    "parse_length_buckets",
    "plot_bleu_by_length",
    "predictions_file_name",
    "prepare_tokenizers",
    "read_lines",
    "read_parallel",
    "run_translation",
    "save_tokenizers",
    "score_translations",
    "tokenize_pairs",
    "translate",
    "translate_with_alignment",
    "vocabulary_sizes",
    "write_lines",
]


def score_translations(predictions: list[str], references: list[str], sources: list[str] | None = None,
                       bounds: tuple[int, ...] = DEFAULT_LENGTH_BUCKETS, tokenize: str = "13a",
                       lowercase: bool = False) -> dict[str, Any]:
    """Corpus sacreBLEU (score, counts, totals, precisions, bp, sys_len, ref_len) and, given the sources, BLEU by
    source-sentence length."""
    from ..metrics import load_metric

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references: the files must be "
                         "line-aligned")
    metric = load_metric("sacrebleu")
    bleu = corpus_bleu(predictions, references, tokenize, lowercase, metric)
    results: dict[str, Any] = {"bleu": bleu.pop("score"), **bleu, "sentences": len(predictions),
                               "bleu_signature": bleu_signature(tokenize, lowercase)}
    if sources is not None:
        results["bleu_by_length"] = bleu_by_length(sources, predictions, references, bounds, tokenize, lowercase,
                                                   metric)
    return results
