#!/usr/bin/env python
"""Create a new, untrained recurrent checkpoint (RnnModel + a word-level tokenizer learnt from the training text, or
a saved subword tokenizer) for training a BiLSTM classifier or tagger from scratch with `training/run_glue.py` or
`training/run_ner.py`.

The vocabulary is the training file's words (`--min_frequency`, `--max_vocab_size`; the rest become `<unk>`), read
as the fine-tuning command will read them: `--glue_task` for a GLUE tsv/csv/json file (its text columns), `--conll`
for a CoNLL column file (its words, so each word is one token); your own table (csv, tsv, json, jsonl, parquet, or a
.txt whose first line is a tab-separated header, as NSMC's ratings_train.txt) through run_glue's flags
(`--text_column_names`, `--label_column_name`, `--remove_columns`, `--text_column_delimiter`; the text columns are
inferred when not named); otherwise one sentence per line. OUTPUT_DIR gets config.json, model.safetensors, the
tokenizer and `vocabulary.json` (its size and the `<unk>` rate of the file).

The GLUE paper's single-task BiLSTM on SST-2, from scratch:

    python training/create_rnn_checkpoint.py --glue_task sst2 --train_file ../shared/data/glue/SST-2/train.tsv \
        --pre_tokenizer whitespace --bidirectional --num_layers 1 --hidden_size 512 --embedding_size 300 \
        --classifier_pooling max --output_dir runs/bilstm-sst2-init
    python training/run_glue.py --model_name_or_path runs/bilstm-sst2-init --task_name sst2 \
        --data_dir ../shared/data/glue/SST-2 --do_train --do_eval --learning_rate 1e-3 ... --output_dir runs/bilstm-sst2

Your own data, a Korean review corpus (id, document, label):

    python training/create_rnn_checkpoint.py --train_file ratings_train.txt --text_column_names document \
        --bidirectional --output_dir runs/bilstm-nsmc-init
    python training/run_glue.py --model_name_or_path runs/bilstm-nsmc-init --train_file ratings_train.txt \
        --validation_file ratings_test.txt --text_column_names document --do_train --do_eval ... --output_dir runs/nsmc

A BiLSTM tagger for CoNLL-2003: `--conll --train_file ../shared/data/conll2003/eng.train --pre_tokenizer whitespace`,
then `training/run_ner.py --model_name_or_path FOLDER ...`.

A subword vocabulary instead of words: `--tokenizer_name PATH_OR_HUB_NAME` (a WordPiece or BPE tokenizer, e.g. the one
`training/pretrain.py` trained and saved in its output folder) gives the RNN that tokenizer's normaliser,
pre-tokenizer, vocabulary and decoder, and an embedding row per entry. Words the training text never spelled out
are then pieces, not `<unk>` (Korean words, which carry their particles, most of all). The tokenizer is saved into
OUTPUT_DIR as the RNN reads it, the same way as the word tokenizer: a pair is `A SEP B`, with the tokenizer's own
separator and no [CLS] or closing [SEP] (the RNN pools over every position itself), no length limit (no position
embeddings), inputs `input_ids` and `attention_mask`. A tokenizer without a pad or a separator token (GPT-2's BPE)
gets `<pad>` or `<sep>` added: the model is trained from scratch, so a new row is like any other. `--train_file`
is then optional (its `[UNK]` rate goes to `vocabulary.json`), and the flags that build a word vocabulary
(`--min_frequency`, `--max_vocab_size`, `--lowercase`, `--pre_tokenizer`) are refused:

    python training/create_rnn_checkpoint.py --tokenizer_name runs/klue-bert --train_file $TRAIN \
        --text_column_names premise,hypothesis --bidirectional --output_dir runs/klue-bilstm-wordpiece-init
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hf_models.cli_utils import (
    InputError,
    OutputArguments,
    input_paths,
    parse_args,
    releases_output_dirs,
    run_main,
    setup_output_command,
    write_json,
)
from hf_models.file_utils import GZIP_ERRORS, open_binary
from hf_models.rnn.configuration_rnn import CELL_TYPES, POOLINGS
from hf_models.rnn.from_scratch import (
    PRE_TOKENIZERS,
    build_word_tokenizer,
    create_rnn_checkpoint,
    unknown_word_rate,
)
from hf_models.tasks.glue import read_user_texts
from hf_models.tasks.texts import read_training_texts

logger = logging.getLogger("hf_models.create_rnn_checkpoint")


@dataclass
class VocabularyArguments:
    """Where the training text is, how to read it, and which words to keep."""

    train_file: str | None = field(
        default=None, metadata={"help": "Training text: a GLUE file (--glue_task), a CoNLL file (--conll), your own "
                                        "table, or one sentence per line (needed unless --tokenizer_name)."}
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "A saved subword tokenizer (folder or hub name; WordPiece, BPE, ...) for the "
                                        "RNN instead of a word vocabulary built from --train_file."}
    )
    glue_task: str | None = field(default=None, metadata={"help": "Read --train_file as this GLUE task's file."})
    conll: bool = field(default=False, metadata={"help": "Read --train_file as a CoNLL column file (words)."})
    text_column_names: str | None = field(
        default=None, metadata={"help": "Your own table: its text column(s), comma-separated, as run_glue's flag "
                                        "(default: inferred)."}
    )
    label_column_name: str | None = field(
        default=None, metadata={"help": "Your own table: its label column (not text; default: label)."}
    )
    remove_columns: str | None = field(default=None, metadata={"help": "Your own table: columns to ignore."})
    text_column_delimiter: str | None = field(
        default=None, metadata={"help": "Your own table: join the text columns into one text with this string."}
    )
    min_frequency: int = field(default=1, metadata={"help": "Keep words seen at least this often."})
    max_vocab_size: int | None = field(default=None, metadata={"help": "Keep at most this many entries."})
    lowercase: bool = field(default=False, metadata={"help": "Lowercase the text (vocabulary and inputs)."})
    pre_tokenizer: str = field(
        default="words_and_punctuation",
        metadata={"help": "words_and_punctuation (split punctuation off words) or whitespace (already tokenized "
                          "text).", "choices": list(PRE_TOKENIZERS)},
    )

    def __post_init__(self):
        if self.tokenizer_name is None:
            if self.train_file is None:
                raise ValueError("--train_file is needed to build the word vocabulary (or give --tokenizer_name)")
            return
        for name in WORD_VOCABULARY_FLAGS:
            if getattr(self, name) != VocabularyArguments.__dataclass_fields__[name].default:
                raise ValueError(f"--{name} is for building a word vocabulary from --train_file; with --tokenizer_name "
                                 f"the vocabulary is {self.tokenizer_name}'s: leave --{name} out")


@dataclass
class RnnArguments:
    """The recurrent encoder (RnnConfig fields); the task head is added by run_glue / run_ner."""

    cell_type: str = field(default="lstm", metadata={"help": "lstm, gru, rnn_tanh or rnn_relu.",
                                                      "choices": list(CELL_TYPES)})
    embedding_size: int = field(default=300, metadata={"help": "Width of the word embeddings."})
    hidden_size: int = field(default=256, metadata={"help": "Units per recurrent layer and direction."})
    num_layers: int = field(default=1, metadata={"help": "Stacked recurrent layers."})
    bidirectional: bool = field(default=False, metadata={"help": "A BiLSTM: both directions, concatenated."})
    dropout: float = field(default=0.3, metadata={"help": "Dropout on embeddings, between layers and on outputs."})
    classifier_pooling: str = field(default="max", metadata={"help": "Sentence summary for classification.",
                                                              "choices": list(POOLINGS)})
    seed: int = field(default=42, metadata={"help": "Seed of the random initial weights."})


USER_FLAGS = ("text_column_names", "label_column_name", "remove_columns", "text_column_delimiter")
# the flags that only shape a word vocabulary learnt from --train_file (refused with --tokenizer_name)
WORD_VOCABULARY_FLAGS = ("min_frequency", "max_vocab_size", "lowercase", "pre_tokenizer")


def is_user_table(vocab_args: VocabularyArguments) -> bool:
    """Whether --train_file is read as the user's own table (run_glue without --task_name): a table format, a .txt
    whose first line is a tab-separated header, or any of the column flags given."""
    if any(getattr(vocab_args, name) is not None for name in USER_FLAGS):
        return True
    suffix = Path(vocab_args.train_file.removesuffix(".gz")).suffix.lower()
    if suffix in (".csv", ".tsv", ".json", ".jsonl", ".parquet"):
        return True
    if suffix == ".txt" and os.path.isfile(vocab_args.train_file):
        with contextlib.suppress(OSError, *GZIP_ERRORS), open_binary(vocab_args.train_file) as f:
            return b"\t" in f.readline()
    return False


def read_texts(vocab_args: VocabularyArguments) -> list:
    """The training texts, read as the fine-tuning command reads them (see the module's docstring)."""
    given = [name for name in USER_FLAGS if getattr(vocab_args, name) is not None]
    if given and (vocab_args.glue_task or vocab_args.conll):
        raise InputError(f"--{given[0]} is for your own table: leave out --{'glue_task' if vocab_args.glue_task else 'conll'}")
    if vocab_args.glue_task or vocab_args.conll or not is_user_table(vocab_args):
        return read_training_texts(vocab_args.train_file, vocab_args.glue_task, vocab_args.conll)
    logger.info(f"{vocab_args.train_file}: read as a table with a header row (its text columns, as run_glue reads it)")
    return read_user_texts(vocab_args.train_file, vocab_args)


def subword_rnn_tokenizer(source: str):
    """The tokenizer `source` (a folder or hub name) as an RNN reads it, the word tokenizer's layout on its pieces.

    Its normaliser, pre-tokenizer, model (vocabulary) and decoder are kept; the post-processor becomes the word
    tokenizer's: one text as is, a pair `A SEP B` with the tokenizer's separator (no [CLS], no closing [SEP]: the
    RNN pools over the positions itself). A missing pad or separator token is added as `<pad>` / `<sep>` (a new
    embedding row, trained from scratch like every other). Returned as a plain `PreTrainedTokenizerFast` (saved with
    `tokenizer_class` TokenizersBackend), so a reload reads tokenizer.json as saved: a class such as BertTokenizer
    would rebuild BERT's `[CLS] A [SEP] B [SEP]` template from its vocabulary. No `model_max_length` (an RNN has no
    position limit), inputs `input_ids` and `attention_mask` (no segments), as the word tokenizer. Returns the
    tokenizer and the tokens added."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    from hf_models.rnn.from_scratch import PAD_TOKEN, SEP_TOKEN
    from hf_models.trainer_utils import ModelArguments, load_tokenizer

    original = load_tokenizer(ModelArguments(model_name_or_path=source, tokenizer_name=source))
    core = Tokenizer.from_str(original.backend_tokenizer.to_str())
    special = {name: getattr(original, name) for name in ("unk_token", "pad_token", "sep_token", "cls_token",
                                                           "mask_token", "bos_token", "eos_token")}
    special = {name: str(token) for name, token in special.items() if token is not None}
    added = []
    for name, token in (("pad_token", PAD_TOKEN), ("sep_token", SEP_TOKEN)):
        if name not in special:
            core.add_special_tokens([token])
            special[name] = token
            added.append(token)
    sep = special["sep_token"]
    sep_id = core.token_to_id(sep)
    if sep_id is None or core.token_to_id(special["pad_token"]) is None:
        raise InputError(f"{source}: its tokenizer names {sep!r} / {special['pad_token']!r} as separator / pad token, "
                         "but they are not in its vocabulary; save the tokenizer again")
    core.post_processor = processors.TemplateProcessing(  # as build_word_tokenizer: "A <sep> B", no [CLS]
        single="$A:0", pair=f"$A:0 {sep}:0 $B:1", special_tokens=[(sep, sep_id)]
    )
    if added:
        logger.info(f"{source}: the tokenizer has no {' and no '.join(added)} token; added (new embedding rows)")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, model_input_names=["input_ids", "attention_mask"],
                                        **special)
    return tokenizer, added


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    import torch

    vocab_args, rnn_args, out_args = parse_args((VocabularyArguments, RnnArguments, OutputArguments), argv)
    setup_output_command(out_args, logger.name, "hf_models.rnn.from_scratch", inputs=input_paths(vocab_args, rnn_args))
    texts = read_texts(vocab_args) if vocab_args.train_file is not None else None
    if texts is not None and not texts:
        raise ValueError(f"{vocab_args.train_file}: no text")
    added = []
    if vocab_args.tokenizer_name is not None:
        tokenizer, added = subword_rnn_tokenizer(vocab_args.tokenizer_name)
    else:
        tokenizer = build_word_tokenizer(texts, vocab_args.min_frequency, vocab_args.max_vocab_size,
                                         vocab_args.lowercase, vocab_args.pre_tokenizer)
    unk_rate = unknown_word_rate(tokenizer, texts) if texts is not None else None
    if texts is not None:
        logger.info(f"{vocab_args.train_file}: {len(texts):,} texts, vocabulary {len(tokenizer):,} entries, "
                    f"{unk_rate:.2%} of its tokens are {tokenizer.unk_token or 'unknown'}")
    if vocab_args.tokenizer_name is not None:
        logger.info(f"{vocab_args.tokenizer_name}: its vocabulary of {len(tokenizer):,} entries for the RNN")
    fields = asdict(rnn_args)
    torch.manual_seed(fields.pop("seed"))
    model = create_rnn_checkpoint(out_args.output_dir, tokenizer, overwrite=True, **fields)
    summary = {"train_file": vocab_args.train_file, "texts": None if texts is None else len(texts),
               "vocab_size": len(tokenizer), "unk_rate": unk_rate, "num_parameters": model.num_parameters(),
               "tokenizer": vocab_args.tokenizer_name or "word-level, built from --train_file",
               "added_tokens": added,
               "arguments": {**asdict(vocab_args), **asdict(rnn_args), **asdict(out_args)}}
    write_json(Path(out_args.output_dir) / "vocabulary.json", summary)
    return summary


if __name__ == "__main__":
    run_main(main)
