#!/usr/bin/env python
"""Evaluate word vectors: analogy accuracy (Mikolov et al. 2013), correlation with human similarity judgements
(WordSim-353, SimLex-999), nearest neighbours, and the one-hot versus embedding demo of the lecture.

The vectors come from a folder saved by `hf_models.word2vec.Word2VecModel.save_pretrained`, a file in the format of
the original word2vec tool (text, or binary for *.bin; .gz/.bz2 read transparently) or a `KeyedVectors.save` .npz.
The scores go to OUTPUT_DIR/eval_results.json (per-section analogy results in OUTPUT_DIR/analogy_results.json) and a
row to the results table (`--results_table`, default OUTPUT_DIR/results.md):

    python eval/eval_word2vec.py --model_name_or_path /tmp/w2v-ptb \
        --analogy_file ../shared/data/word_embedding_eval/questions-words.txt \
        --word_pairs_file ../shared/data/word_embedding_eval/wordsim353_combined.tab \
            ../shared/data/word_embedding_eval/SimLex-999.txt \
        --most_similar king money --one_hot_pairs "king,queen;king,car" --output_dir /tmp/w2v-ptb-eval

    python eval/eval_word2vec.py --model_name_or_path GoogleNews-vectors-negative300.bin.gz --limit 300000 \
        --analogy_file questions-words.txt --analogy_method 3CosMul --output_dir /tmp/googlenews-eval
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

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
from hf_models.word2vec import KeyedVectors, load_vectors
from hf_models.word2vec.one_hot import (
    format_one_hot_demo,
    one_hot_demo,
    parse_word_pairs,
)

logger = logging.getLogger("hf_models.eval_word2vec")

ANALOGY_METHODS = {"3cosadd": "most_similar", "3cosmul": "most_similar_cosmul"}


@dataclass
class Word2VecEvalArguments:
    """Which vectors to evaluate, on what, and where the results go."""

    model_name_or_path: str = field(
        metadata={"help": "A folder saved by Word2VecModel.save_pretrained (or a hub name), a word2vec-format file "
                          "(text, or binary when it ends in .bin; .gz/.bz2/.xz decompressed), or a KeyedVectors .npz."}
    )
    analogy_file: str | None = field(
        default=None, metadata={"help": "Analogy questions 'a b c d' under ': section' lines (questions-words.txt)."}
    )
    word_pairs_file: list[str] = field(
        default_factory=list,
        metadata={"help": "Word-similarity files (WordSim-353 .tab, SimLex-999.txt, 'word1<TAB>word2<TAB>score'); "
                          "give several after one flag, or repeat the flag.", "action": "extend"},
    )
    word_pairs_score_column: str | None = field(
        default=None,
        metadata={"help": "Column of the score in the word-pairs files (0-based index or header name); default: the "
                          "third, or 'SimLex999' in SimLex-999.txt."},
    )
    analogy_method: str = field(
        default="3CosAdd",
        metadata={"help": "3CosAdd (vector offset, Mikolov et al. 2013) or 3CosMul (Levy & Goldberg 2014).",
                  "choices": ["3CosAdd", "3CosMul"]},
    )
    restrict_vocab: int = field(
        default=300000,
        metadata={"help": "Only the first N words (the most frequent) answer analogies; questions and pairs with "
                          "other words count as out-of-vocabulary."},
    )
    case_insensitive: bool = field(default=True, metadata={"help": "Compare words upper-cased, as gensim does."})
    dummy4unknown: bool = field(
        default=False, metadata={"help": "Count out-of-vocabulary questions as wrong (and pairs as similarity 0)."}
    )
    binary: bool | None = field(
        default=None, metadata={"help": "Read the word2vec file as binary (default: when its name ends in .bin)."}
    )
    no_header: bool = field(default=False, metadata={"help": "The word2vec text file has no 'V d' line (GloVe)."})
    limit: int | None = field(default=None, metadata={"help": "Read only the first N vectors of a word2vec file."})
    unicode_errors: str = field(
        default="strict",
        metadata={"help": "How to decode words that are not valid UTF-8: strict, replace or ignore.",
                  "choices": ["strict", "replace", "ignore"]},
    )
    most_similar: list[str] = field(
        default_factory=list,
        metadata={"help": "Print (and save) the nearest neighbours of these words.", "action": "extend"},
    )
    topn: int = field(default=10, metadata={"help": "How many neighbours --most_similar lists."})
    one_hot_pairs: str | None = field(
        default=None,
        metadata={"help": "Word pairs 'king,queen;king,car': print their one-hot dot products (always 0 for two "
                          "different words) next to the cosine similarity of the learned vectors."},
    )

    def __post_init__(self):
        if self.restrict_vocab <= 0:
            raise ValueError(f"--restrict_vocab must be a positive integer, got {self.restrict_vocab}")
        if self.topn <= 0:
            raise ValueError(f"--topn must be a positive integer, got {self.topn}")
        if self.limit is not None and self.limit <= 0:
            raise ValueError(f"--limit must be a positive integer, got {self.limit}")
        if not (self.analogy_file or self.word_pairs_file or self.most_similar or self.one_hot_pairs):
            raise ValueError("nothing to evaluate: give --analogy_file, --word_pairs_file, --most_similar and/or "
                             "--one_hot_pairs")
        for flag, path in [("--analogy_file", self.analogy_file)] + [("--word_pairs_file", p)
                                                                      for p in self.word_pairs_file]:
            if path is not None and not os.path.isfile(path):
                raise FileNotFoundError(f"{flag} {path}: no such file")
        if self.word_pairs_score_column is not None and self.word_pairs_score_column.isdigit():
            self.word_pairs_score_column = int(self.word_pairs_score_column)


def load_keyed_vectors(args: Word2VecEvalArguments) -> KeyedVectors:
    """The vectors of --model_name_or_path: a model folder or Hub id, a word2vec file or a KeyedVectors .npz
    (`hf_models.word2vec.load_vectors`, which refuses the word2vec-file flags for the other kinds of path)."""
    return load_vectors(args.model_name_or_path, binary=args.binary, limit=args.limit, no_header=args.no_header,
                        unicode_errors=args.unicode_errors)


def _check_words(kv: KeyedVectors, words: list[str], flag: str) -> None:
    missing = [word for word in words if word not in kv]
    if missing:
        raise ValueError(f"{flag}: {missing} not in the vocabulary of {len(kv)} words (words are case-sensitive)")


def _unique_names(paths: list[str]) -> list[str]:
    """A short name per file (its stem), numbered when two files share one."""
    stems = [Path(path).name.split(".")[0] for path in paths]
    return [stem if stems.count(stem) == 1 else f"{stem}_{number}" for number, stem in enumerate(stems, start=1)]


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    args, out = parse_args((Word2VecEvalArguments, OutputArguments), argv)
    setup_output_command(out, logger.name, inputs=input_paths(args))
    one_hot_pairs = parse_word_pairs(args.one_hot_pairs) if args.one_hot_pairs else []

    kv = load_keyed_vectors(args)
    logger.info(f"Vectors: {len(kv):,} words of dimension {kv.vector_size}")
    _check_words(kv, args.most_similar, "--most_similar")
    _check_words(kv, [word for pair in one_hot_pairs for word in pair], "--one_hot_pairs")

    results: dict = {"model": args.model_name_or_path, "vocab_size": len(kv), "vector_size": kv.vector_size}
    metrics: dict = {}
    examples = []
    if args.analogy_file:
        method = ANALOGY_METHODS[args.analogy_method.lower()]
        logger.info(f"Analogies ({args.analogy_method}) on {args.analogy_file}")
        score, sections, stats = kv.evaluate_word_analogies(
            args.analogy_file, restrict_vocab=args.restrict_vocab, case_insensitive=args.case_insensitive,
            dummy4unknown=args.dummy4unknown, similarity_function=method, progress=True, return_stats=True,
        )
        section_scores = []
        for section in sections:
            correct, total = len(section["correct"]), len(section["correct"]) + len(section["incorrect"])
            section_scores.append({"section": section["section"], "accuracy": correct / total if total else 0.0,
                                   "correct": correct, "total": total})
        results["analogy"] = {
            "file": args.analogy_file, "method": args.analogy_method, "restrict_vocab": args.restrict_vocab,
            "case_insensitive": args.case_insensitive, "dummy4unknown": args.dummy4unknown,
            "accuracy": score, **stats, "sections": section_scores,
        }
        write_json(os.path.join(out.output_dir, "analogy_results.json"),
                   [{**section, "correct": [list(q) for q in section["correct"]],
                     "incorrect": [list(q) for q in section["incorrect"]]} for section in sections])
        metrics["analogy_accuracy"] = score
        metrics["analogy_oov_ratio"] = stats["oov_ratio"]
        examples.append(f"{stats['evaluated']} analogies")
        print(f"\nAnalogy accuracy ({args.analogy_method}): {100 * score:.2f}% of {stats['evaluated']} questions "
              f"({stats['oov_ratio']:.1f}% had out-of-vocabulary words)")

    if args.word_pairs_file:
        results["word_pairs"] = {}
        for name, path in zip(_unique_names(args.word_pairs_file), args.word_pairs_file):
            logger.info(f"Word similarity on {path}")
            pearson, spearman, oov_ratio = kv.evaluate_word_pairs(
                path, restrict_vocab=args.restrict_vocab, case_insensitive=args.case_insensitive,
                dummy4unknown=args.dummy4unknown, score_column=args.word_pairs_score_column,
            )
            results["word_pairs"][name] = {
                "file": path, "pearson": pearson[0], "pearson_p_value": pearson[1], "spearman": spearman[0],
                "spearman_p_value": spearman[1], "oov_ratio": oov_ratio,
            }
            metrics[f"{name}_spearman"] = spearman[0]
            metrics[f"{name}_pearson"] = pearson[0]
            metrics[f"{name}_oov_ratio"] = oov_ratio
            examples.append(name)
            print(f"{name}: Spearman {spearman[0]:.4f}, Pearson {pearson[0]:.4f} ({oov_ratio:.1f}% pairs OOV)")

    if args.most_similar:
        results["most_similar"] = {}
        for word in args.most_similar:
            neighbours = kv.most_similar(word, topn=args.topn)
            results["most_similar"][word] = [[key, similarity] for key, similarity in neighbours]
            print(f"\nNearest neighbours of {word!r}:")
            for key, similarity in neighbours:
                print(f"  {similarity:7.4f}  {key}")

    if one_hot_pairs:
        rows = one_hot_demo(kv, one_hot_pairs)
        results["one_hot"] = rows
        print("\nOne-hot vectors versus learned vectors:\n" + format_one_hot_demo(rows))

    write_json(os.path.join(out.output_dir, "eval_results.json"), results)
    if metrics:
        table = append_results_row(
            results_table_path(out, out.output_dir),
            {"task": "word_vectors", "split": "+".join(Path(p).name for p in
                                                       ([args.analogy_file] if args.analogy_file else [])
                                                       + args.word_pairs_file),
             "model": args.model_name_or_path, "implementation": "hf_models", "examples": ", ".join(examples),
             "metrics": metrics, "output_dir": out.output_dir},
        )
        logger.info(f"Appended the results to {table}")
    logger.info(f"Results written to {os.path.join(out.output_dir, 'eval_results.json')}")
    return results


if __name__ == "__main__":
    run_main(main)
