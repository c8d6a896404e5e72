"""Recurrent models trained from scratch: a word-level vocabulary built from the training text, and a new checkpoint
folder (config, random weights, tokenizer) that the fine-tuning commands load like any pretrained one.

A BiLSTM sentence classifier (the GLUE paper's single-task baseline, Wang et al. 2019) or a BiLSTM tagger (Huang et
al. 2015; Lample et al. 2016) has no pretraining: its words are the training set's words. `build_word_tokenizer`
learns that vocabulary with the `tokenizers` library's `WordLevelTrainer` (words seen at least `min_frequency`
times, the `max_vocab_size` most frequent ones; the rest map to `<unk>`) and wraps it as a `PreTrainedTokenizerFast`,
so word ids, padding and `is_split_into_words` (NER) work as for BERT's tokenizer. `create_rnn_checkpoint` saves
an `RnnModel` with that vocabulary next to the tokenizer; `training/run_glue.py` and `training/run_ner.py` then add
the task head (logged as newly initialised) and train everything, as they fine-tune BERT:

    python training/create_rnn_checkpoint.py --glue_task sst2 --train_file ../shared/data/glue/SST-2/train.tsv \
        --bidirectional --classifier_pooling max --output_dir runs/bilstm-sst2-init
    python training/run_glue.py --model_name_or_path runs/bilstm-sst2-init --task_name sst2 ...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..file_utils import staged_folder
from .configuration_rnn import RnnConfig

logger = logging.getLogger("hf_models.rnn.from_scratch")

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
SEP_TOKEN = "<sep>"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, SEP_TOKEN)  # ids 0, 1, 2: padding is id 0, RnnConfig's default pad_token_id
PRE_TOKENIZERS = ("words_and_punctuation", "whitespace")


def build_word_tokenizer(
    texts: Iterable[str] | Iterable[list[str]],
    min_frequency: int = 1,
    max_vocab_size: int | None = None,
    lowercase: bool = False,
    pre_tokenizer: str = "words_and_punctuation",
    show_progress: bool = False,
):
    """A word-level `PreTrainedTokenizerFast` whose vocabulary is the training text's frequent words.

    `texts` are raw sentences (strings) or pre-split word lists (NER). Text is NFKC-normalised (and lowercased);
    `pre_tokenizer` "words_and_punctuation" splits it into runs of letters/digits and runs of punctuation (any
    script: Korean words are letters), "whitespace" only at spaces (for already tokenized text, e.g. SST-2 or
    CoNLL). Ids: `<pad>` 0, `<unk>` 1, `<sep>` 2 (between the two texts of a pair), then the words by frequency.
    """
    from tokenizers import (
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    if pre_tokenizer not in PRE_TOKENIZERS:
        raise ValueError(f"pre_tokenizer must be one of {', '.join(PRE_TOKENIZERS)}, got {pre_tokenizer!r}")
    if not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency must be a positive integer, got {min_frequency!r}")
    if max_vocab_size is not None and (not isinstance(max_vocab_size, int) or max_vocab_size <= len(SPECIAL_TOKENS)):
        raise ValueError(f"max_vocab_size must be an integer above {len(SPECIAL_TOKENS)} (the special tokens), "
                         f"got {max_vocab_size!r}")

    core = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    core.normalizer = normalizers.Sequence(steps)
    core.pre_tokenizer = (pre_tokenizers.Whitespace() if pre_tokenizer == "words_and_punctuation"
                          else pre_tokenizers.WhitespaceSplit())
    trainer = trainers.WordLevelTrainer(
        vocab_size=max_vocab_size if max_vocab_size is not None else 2**31 - 1,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=show_progress,
    )

    def lines() -> Iterable[str]:
        for text in texts:
            if isinstance(text, str):
                yield text
            else:  # a pre-split sentence: its words, each as the tokenizer will see it with is_split_into_words
                yield from text

    core.train_from_iterator(lines(), trainer=trainer)
    if core.get_vocab_size() <= len(SPECIAL_TOKENS):
        raise ValueError("build_word_tokenizer: the training text has no word seen min_frequency="
                         f"{min_frequency} times")
    sep = core.token_to_id(SEP_TOKEN)
    core.post_processor = processors.TemplateProcessing(  # a pair is "A <sep> B"; no [CLS]: the RNN pools itself
        single="$A:0", pair=f"$A:0 {SEP_TOKEN}:0 $B:1", special_tokens=[(SEP_TOKEN, sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD_TOKEN, unk_token=UNK_TOKEN, sep_token=SEP_TOKEN,
        model_input_names=["input_ids", "attention_mask"],
    )


def unknown_word_rate(tokenizer, texts: Iterable[str] | Iterable[list[str]]) -> float:
    """The fraction of the tokens of `texts` that map to `<unk>` (the vocabulary's coverage, for the logs)."""
    texts = list(texts)
    strings = [t for t in texts if isinstance(t, str)]
    word_lists = [list(t) for t in texts if not isinstance(t, str)]
    ids = []
    if strings:
        ids += tokenizer(strings, add_special_tokens=False)["input_ids"]
    if word_lists:
        ids += tokenizer(word_lists, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    total = sum(len(row) for row in ids)
    unknown = sum(row.count(tokenizer.unk_token_id) for row in ids)
    return unknown / total if total else 0.0


def create_rnn_checkpoint(output_dir: str | os.PathLike, tokenizer, overwrite: bool = False,
                          **config_fields: Any):
    """Save a randomly initialised `RnnModel` sized to `tokenizer` (and the tokenizer) as a checkpoint folder.

    `config_fields` are `RnnConfig` fields (cell_type, hidden_size, bidirectional, classifier_pooling...);
    vocab_size and pad_token_id come from the tokenizer. Returns the model. A non-empty folder is refused unless
    `overwrite`.
    """
    from .modeling_rnn import RnnModel

    output_dir = Path(output_dir)
    if output_dir.exists() and any(not name.startswith(".") for name in os.listdir(output_dir)) and not overwrite:
        raise FileExistsError(f"{output_dir} is not empty: choose another folder or pass overwrite=True "
                              "(--overwrite_output_dir)")
    for name in ("vocab_size", "pad_token_id"):
        if name in config_fields:
            raise ValueError(f"{name} comes from the tokenizer; do not pass it to create_rnn_checkpoint")
    config = RnnConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **config_fields)
    model = RnnModel(config)
    with staged_folder(output_dir) as staging:  # each file renamed into place whole, config.json last
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    logger.info(f"{output_dir}: RnnModel ({model.num_parameters():,} parameters, vocabulary {len(tokenizer):,}) "
                "and its tokenizer")
    return model


__all__ = [
    "PAD_TOKEN",
    "PRE_TOKENIZERS",
    "SEP_TOKEN",
    "UNK_TOKEN",
    "build_word_tokenizer",
    "create_rnn_checkpoint",
    "unknown_word_rate",
]
