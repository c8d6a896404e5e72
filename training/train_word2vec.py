#!/usr/bin/env python
"""Train word2vec (skip-gram or CBOW; negative sampling, hierarchical softmax or the full softmax) on text files.

A thin command line over `hf_models.word2vec`, in the manner of transformers' `examples/pytorch` scripts. Every field
of `Word2VecConfig` is a flag with gensim's default; the corpus is one sentence per line, tokens separated by
whitespace (plain, .gz or .bz2 files; a folder stands for all its files). The model is saved as a Hugging Face folder
(config.json, model.safetensors and word2vec.c's vocab.txt), optionally with the vectors in word2vec's text/binary
format; `train_results.json` has the vocabulary size, the words/s and the loss of every epoch, and a row is appended
to the results table. Skip-gram with negative sampling on Penn Treebank, 5 epochs (seconds on 2 CPU cores):

    python training/train_word2vec.py --train_file ../shared/data/ptb/ptb.train.txt \
        --output_dir /tmp/w2v-ptb --architecture skipgram --objective negative_sampling \
        --vector_size 100 --window 5 --min_count 5 --epochs 5 --workers 2 --save_word2vec_format binary \
        --word_pairs_file ../shared/data/word_embedding_eval/wordsim353_combined.tab \
        --analogy_file ../shared/data/word_embedding_eval/questions-words.txt

Load the result with `Word2VecModel.from_pretrained("/tmp/w2v-ptb")` (its `.wv` are the word vectors) or the
vectors file with gensim. The command refuses a non-empty --output_dir unless given --overwrite_output_dir.
Arguments can also come from one JSON file: `python training/train_word2vec.py args.json`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields

from hf_models.cli_utils import (
    OutputArguments,
    append_results_row,
    input_paths,
    parse_args,
    releases_output_dirs,
    results_table_path,
    run_main,
    setup_output_command,
    write_json,
)
from hf_models.file_utils import staged_folder
from hf_models.word2vec import (
    LineSentence,
    Word2VecConfig,
    Word2VecModel,
    train_word2vec,
)
from hf_models.word2vec.configuration_word2vec import ARCHITECTURES, OBJECTIVES
from hf_models.word2vec.training import build_vocab

logger = logging.getLogger("hf_models.train_word2vec")

_DEFAULTS = Word2VecConfig()
WORD2VEC_FORMATS = ("text", "binary", "both")


@dataclass
class Word2VecModelArguments:
    """The fields of Word2VecConfig (gensim's defaults)."""

    architecture: str = field(
        default=_DEFAULTS.architecture,
        metadata={"help": "skipgram: predict each context word from the centre word; cbow: predict the centre word "
                          "from the bag of its context words.", "choices": list(ARCHITECTURES)},
    )
    objective: str = field(
        default=_DEFAULTS.objective,
        metadata={"help": "negative_sampling, hierarchical_softmax (Huffman tree) or full_softmax (O(V) per "
                          "prediction, trained through torch).", "choices": list(OBJECTIVES)},
    )
    vector_size: int = field(default=_DEFAULTS.vector_size, metadata={"help": "Dimension of the word vectors."})
    window: int = field(default=_DEFAULTS.window, metadata={"help": "Largest distance centre word - context word."})
    negative: int = field(default=_DEFAULTS.negative, metadata={"help": "Noise words per prediction."})
    ns_exponent: float = field(
        default=_DEFAULTS.ns_exponent, metadata={"help": "Exponent of the counts in the noise distribution."}
    )
    cbow_mean: bool = field(
        default=_DEFAULTS.cbow_mean, metadata={"help": "CBOW input is the mean (true) or the sum of the context."}
    )
    sample: float = field(
        default=_DEFAULTS.sample, metadata={"help": "Subsampling threshold of frequent words (0: none)."}
    )
    min_count: int = field(default=_DEFAULTS.min_count, metadata={"help": "Drop words seen fewer times than this."})
    max_vocab_size: int | None = field(
        default=None, metadata={"help": "Prune the rarest words during the vocabulary scan beyond this size."}
    )
    max_final_vocab: int | None = field(default=None, metadata={"help": "Keep at most this many words."})
    alpha: float = field(default=_DEFAULTS.alpha, metadata={"help": "Initial learning rate."})
    min_alpha: float = field(default=_DEFAULTS.min_alpha, metadata={"help": "Final learning rate (linear decay)."})
    epochs: int = field(default=_DEFAULTS.epochs, metadata={"help": "Passes over the corpus."})
    seed: int = field(default=_DEFAULTS.seed, metadata={"help": "Seed of the initialisation and the sampling."})
    shrink_windows: bool = field(
        default=_DEFAULTS.shrink_windows, metadata={"help": "Dynamic window: sample each word's window in 1..window."}
    )
    lowercase: bool = field(default=_DEFAULTS.lowercase, metadata={"help": "Lowercase every token."})
    batch_words: int = field(default=_DEFAULTS.batch_words, metadata={"help": "Words per job of a worker thread."})
    max_sentence_length: int = field(
        default=_DEFAULTS.max_sentence_length, metadata={"help": "Longer lines are split into sentences this long."}
    )


@dataclass
class Word2VecRunArguments:
    """Data, output folder, threads and the optional evaluation at the end."""

    train_file: list[str] = field(
        metadata={"help": "Text files or folders (one sentence per line; .gz/.bz2 read transparently).",
                  "nargs": "+"}
    )
    workers: int = field(default=2, metadata={"help": "Training threads."})
    encoding: str = field(default="utf-8", metadata={"help": "Text encoding of the training files."})
    save_word2vec_format: str | None = field(
        default=None,
        metadata={"help": "Also write the vectors in word2vec's format: OUTPUT_DIR/vectors.txt (text), "
                          "vectors.bin (binary) or both.", "choices": list(WORD2VEC_FORMATS)},
    )
    analogy_file: str | None = field(
        default=None, metadata={"help": "Evaluate on analogy questions (questions-words.txt format) at the end."}
    )
    word_pairs_file: list[str] = field(
        default_factory=list,
        metadata={"help": "Evaluate on word-similarity files (WordSim-353, SimLex-999) at the end.", "nargs": "+"},
    )
    restrict_vocab: int = field(
        default=300000, metadata={"help": "Evaluate among the most frequent words only (gensim's restrict_vocab)."}
    )


def evaluate(model: Word2VecModel, run_args: Word2VecRunArguments) -> dict:
    """Analogy accuracy and word-similarity correlations of the trained vectors (KeyedVectors' evaluations)."""
    kv = model.wv
    results: dict = {}
    if run_args.analogy_file:
        score, sections = kv.evaluate_word_analogies(run_args.analogy_file, restrict_vocab=run_args.restrict_vocab)
        results["analogy_accuracy"] = float(score)
        results["analogy_questions_answered"] = sum(len(s["correct"]) + len(s["incorrect"]) for s in sections[-1:])
        results["analogy_sections"] = {
            s["section"]: {
                "correct": len(s["correct"]),
                "incorrect": len(s["incorrect"]),
                "accuracy": len(s["correct"]) / max(len(s["correct"]) + len(s["incorrect"]), 1),
            }
            for s in sections
        }
        logger.info(f"analogies ({run_args.analogy_file}): accuracy {score:.4f}")
    for path in run_args.word_pairs_file:
        (pearson, _), (spearman, _), oov = kv.evaluate_word_pairs(path, restrict_vocab=run_args.restrict_vocab)
        name = os.path.splitext(os.path.basename(path))[0]
        results[f"{name}_pearson"] = float(pearson)
        results[f"{name}_spearman"] = float(spearman)
        results[f"{name}_oov_percent"] = float(oov)
        logger.info(f"word pairs ({path}): Pearson {pearson:.4f}, Spearman {spearman:.4f}, OOV {oov:.1f}%")
    return results


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    model_args, run_args, out = parse_args((Word2VecModelArguments, Word2VecRunArguments, OutputArguments), argv)
    setup_output_command(out, logger.name, inputs=input_paths(model_args, run_args))
    if run_args.workers < 1:
        raise ValueError(f"--workers must be a positive integer, got {run_args.workers}")
    for path in [run_args.analogy_file, *run_args.word_pairs_file]:
        if path and not os.path.isfile(path):
            raise FileNotFoundError(f"evaluation file {path} does not exist")

    config = Word2VecConfig(**{f.name: getattr(model_args, f.name) for f in fields(model_args)})
    corpus = LineSentence(
        run_args.train_file, max_sentence_length=config.max_sentence_length, encoding=run_args.encoding
    )
    logger.info(f"Building the vocabulary of {corpus}")
    vocab = build_vocab(corpus, config)
    config.vocab_size = len(vocab)
    logger.info(f"Vocabulary: {len(vocab)} words, {vocab.total_words} raw words in {vocab.corpus_count} sentences")
    model = Word2VecModel(config, vocab=vocab)
    stats = train_word2vec(model, corpus, workers=run_args.workers, progress=not out.disable_tqdm)

    with staged_folder(out.output_dir) as staging:  # each file renamed into place whole, config.json last
        model.save_pretrained(staging)
    logger.info(f"Model saved to {out.output_dir} (config.json, model.safetensors, vocab.txt)")
    if run_args.save_word2vec_format:
        kv = model.wv
        formats = ["text", "binary"] if run_args.save_word2vec_format == "both" else [run_args.save_word2vec_format]
        for fmt in formats:
            path = os.path.join(out.output_dir, "vectors.bin" if fmt == "binary" else "vectors.txt")
            kv.save_word2vec_format(path, binary=fmt == "binary")
            logger.info(f"Vectors saved to {path} (word2vec {fmt} format)")

    train_results = {
        "vocab_size": len(vocab),
        "corpus_sentences": vocab.corpus_count,
        "corpus_words": vocab.total_words,
        "architecture": config.architecture,
        "objective": config.objective,
        "vector_size": config.vector_size,
        **{k: v for k, v in stats.to_dict().items() if k != "per_epoch"},
        "loss_per_epoch": [e.loss for e in stats.epochs],
        "words_per_second_per_epoch": [e.words_per_second for e in stats.epochs],
        "seconds_per_epoch": [e.seconds for e in stats.epochs],
        "per_epoch": stats.to_dict()["per_epoch"],
    }
    write_json(os.path.join(out.output_dir, "train_results.json"), train_results)
    results = {"train": train_results}

    eval_results = evaluate(model, run_args)
    if eval_results:
        write_json(os.path.join(out.output_dir, "eval_results.json"), eval_results)
        results["eval"] = eval_results

    shown = {"words_per_second": stats.words_per_second, "loss": stats.loss if stats.loss is not None else "n/a"}
    shown.update({k: v for k, v in eval_results.items() if isinstance(v, float) and not k.endswith("oov_percent")})
    table = results_table_path(out, out.output_dir)
    append_results_row(
        table,
        {
            "task": "word2vec",
            "split": "train",
            "model": f"{config.architecture}/{config.objective} d={config.vector_size}",
            "implementation": "hf_models",
            "examples": stats.raw_words,
            "metrics": shown,
            "output_dir": out.output_dir,
        },
    )
    logger.info(f"Results written to {out.output_dir}/train_results.json and appended to {table}")
    return results


if __name__ == "__main__":
    run_main(main)
