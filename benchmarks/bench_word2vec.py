"""word2vec against gensim on the same corpus, settings and machine, in one run: words/s and embedding quality.

The corpus is the largest English text in `../shared/data`: the NLTK corpora plus PTB train (about 8.4M words once
lowercased and stripped of punctuation, see `benchmarks/nltk_corpus.py`). Both libraries train with gensim's defaults
(vector_size 100, window 5, negative 5, min_count 5, sample 1e-3, alpha 0.025 -> 1e-4, 5 epochs) and 2 worker threads,
streaming the same file sentence by sentence (gensim's `LineSentence`, hf_models' `LineSentence`). Words/s is raw
corpus words x epochs / wall seconds of the training call (the vocabulary scan is timed apart), for both libraries.

Quality is measured with the same evaluation code on both models (hf_models' `KeyedVectors`, whose answers equal
gensim's, see tests/test_keyed_vectors.py): accuracy on Google's analogy questions (3CosAdd, questions with a word
outside the 300k most frequent skipped, as gensim does), and Spearman correlation with WordSim-353 and SimLex-999.

    python benchmarks/bench_word2vec.py --output_dir runs/bench_word2vec
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

METRICS = ("words_per_second", "analogy_accuracy", "analogy_semantic", "analogy_syntactic", "wordsim353_spearman",
           "simlex999_spearman")
SETTINGS = {"vector_size": 100, "window": 5, "negative": 5, "min_count": 5, "sample": 1e-3, "alpha": 0.025,
            "min_alpha": 1e-4}


def evaluate(kv, eval_dir: Path) -> dict:
    """Analogy accuracy (total, semantic, syntactic) and word-pair Spearman of a `KeyedVectors`."""
    score, sections = kv.evaluate_word_analogies(eval_dir / "questions-words.txt")
    by_name = {s["section"]: s for s in sections}
    semantic = [s for s in sections if not s["section"].startswith("gram") and s["section"] != "Total accuracy"]
    syntactic = [s for s in sections if s["section"].startswith("gram")]

    def accuracy(group):
        correct = sum(len(s["correct"]) for s in group)
        total = correct + sum(len(s["incorrect"]) for s in group)
        return correct / total if total else 0.0

    total = by_name["Total accuracy"]
    results = {
        "analogy_accuracy": score,
        "analogy_semantic": accuracy(semantic),
        "analogy_syntactic": accuracy(syntactic),
        "analogy_questions_answered": len(total["correct"]) + len(total["incorrect"]),
    }
    for name, path in (("wordsim353", eval_dir / "wordsim353_combined.tab"), ("simlex999", eval_dir / "SimLex-999.txt")):
        _, (spearman, _), oov = kv.evaluate_word_pairs(path)
        results[f"{name}_spearman"] = spearman
        results[f"{name}_oov_percent"] = oov
    return results


def run_gensim(corpus: Path, architecture: str, epochs: int, workers: int, seed: int) -> tuple[dict, object]:
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    from hf_models.word2vec import KeyedVectors

    model = Word2Vec(sg=1 if architecture == "skipgram" else 0, workers=workers, seed=seed, epochs=epochs, **SETTINGS)
    start = time.perf_counter()
    model.build_vocab(LineSentence(str(corpus)))
    vocab_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.train(LineSentence(str(corpus)), total_examples=model.corpus_count, epochs=epochs)
    seconds = time.perf_counter() - start
    raw_words = model.corpus_total_words
    stats = {"vocab_size": len(model.wv), "raw_words_per_epoch": raw_words, "vocab_seconds": vocab_seconds,
             "train_seconds": seconds, "words_per_second": raw_words * epochs / seconds}
    return stats, KeyedVectors.from_gensim(model.wv)


def run_hf_models(corpus: Path, architecture: str, epochs: int, workers: int, seed: int) -> tuple[dict, object]:
    from hf_models.word2vec import (
        LineSentence,
        Word2VecConfig,
        Word2VecModel,
        train_word2vec,
    )
    from hf_models.word2vec.training import build_vocab

    config = Word2VecConfig(architecture=architecture, objective="negative_sampling", epochs=epochs, seed=seed,
                            **SETTINGS)
    sentences = LineSentence(corpus)
    start = time.perf_counter()
    vocab = build_vocab(sentences, config)
    vocab_seconds = time.perf_counter() - start
    config.vocab_size = len(vocab)
    model = Word2VecModel(config, vocab=vocab)
    start = time.perf_counter()
    train_stats = train_word2vec(model, sentences, workers=workers, progress=False, compute_loss=False)
    seconds = time.perf_counter() - start
    raw_words = vocab.total_words
    stats = {"vocab_size": len(vocab), "raw_words_per_epoch": raw_words, "vocab_seconds": vocab_seconds,
             "train_seconds": seconds, "words_per_second": raw_words * epochs / seconds,
             "kernel_words_per_second": train_stats.words_per_second}
    return stats, model.wv


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", type=Path, default=ROOT / "runs" / "bench_word2vec")
    parser.add_argument("--data_dir", type=Path, default=ROOT / ".." / "shared" / "data")
    parser.add_argument("--corpus", type=Path, default=None, help="Training text (default: export the NLTK corpora "
                        "plus PTB train to OUTPUT_DIR/corpus.txt).")
    parser.add_argument("--architectures", nargs="+", default=["skipgram", "cbow"], choices=["skipgram", "cbow"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--ptb", action=argparse.BooleanOptionalAction, default=True,
                        help="Also train on PTB train alone (where the issue measured gensim's words/s).")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "word2vec.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    corpus = args.corpus
    corpus_stats = None
    if corpus is None:
        corpus = args.output_dir / "corpus.txt"
        if not corpus.exists():
            if __package__:
                from .nltk_corpus import export
            else:  # python benchmarks/bench_word2vec.py
                from nltk_corpus import export

            corpus.with_suffix(".json").write_text(json.dumps(export(args.data_dir, corpus), indent=2) + "\n")
        if corpus.with_suffix(".json").exists():
            corpus_stats = json.loads(corpus.with_suffix(".json").read_text())
    eval_dir = args.data_dir / "word_embedding_eval"

    # compile the kernels before any timing (numba caches them on disk after the first run)
    from hf_models.word2vec import build_and_train

    for architecture in args.architectures:
        build_and_train([["a", "b", "c", "a", "b"]] * 50, architecture=architecture, min_count=1, epochs=1,
                        vector_size=8, progress=False)

    corpora = {"nltk+ptb": corpus}
    if args.ptb:
        corpora["ptb"] = args.data_dir / "ptb" / "ptb.train.txt"
    runs = []
    for corpus_name, corpus_path in corpora.items():
        for architecture in args.architectures:
            for seed in args.seeds:
                for library, run in (("gensim", run_gensim), ("hf_models", run_hf_models)):
                    print(f"== {corpus_name} {library} {architecture} seed {seed}", flush=True)
                    stats, kv = run(corpus_path, architecture, args.epochs, args.workers, seed)
                    start = time.perf_counter()
                    stats.update(evaluate(kv, eval_dir))
                    stats["eval_seconds"] = time.perf_counter() - start
                    stats.update({"corpus": corpus_name, "library": library, "architecture": architecture,
                                  "seed": seed})
                    print(json.dumps(stats), flush=True)
                    runs.append(stats)

    summary, ratios = [], {}
    for corpus_name in corpora:
        for architecture in args.architectures:
            means = {}
            for library in ("gensim", "hf_models"):
                group = [r for r in runs if (r["corpus"], r["architecture"], r["library"]) ==
                         (corpus_name, architecture, library)]
                mean = {key: statistics.mean(r[key] for r in group) for key in METRICS}
                spread = {f"{key}_stdev": statistics.stdev(r[key] for r in group) if len(group) > 1 else 0.0
                          for key in METRICS}
                means[library] = mean
                summary.append({"corpus": corpus_name, "architecture": architecture, "library": library,
                                "seeds": len(group), **mean, **spread})
            ratios[f"{corpus_name}/{architecture}"] = {
                key: means["hf_models"][key] / means["gensim"][key] for key in METRICS if means["gensim"][key]
            }
    import gensim
    import numba

    results = {
        "command": "python benchmarks/bench_word2vec.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "corpora": {name: {"path": str(path), "words": next(r["raw_words_per_epoch"] for r in runs
                                                             if r["corpus"] == name)}
                    for name, path in corpora.items()},
        "corpus_export": corpus_stats,
        "settings": {**SETTINGS, "epochs": args.epochs, "workers": args.workers, "seeds": args.seeds},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "gensim": gensim.__version__, "numba": numba.__version__},
        "summary_mean_over_seeds": summary,
        "ratios_hf_models_over_gensim": ratios,
        "runs": runs,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown_table(results))
    return results


def markdown_table(results: dict) -> str:
    lines = ["| corpus | model | library | words/s | analogy acc. (sem / syn) | WordSim-353 ρ | SimLex-999 ρ |",
             "|---|---|---|---|---|---|---|"]
    for r in results["summary_mean_over_seeds"]:
        lines.append(
            f"| {r['corpus']} | {r['architecture']} | {r['library']} | {r['words_per_second'] / 1e6:.2f} M | "
            f"{100 * r['analogy_accuracy']:.1f}% ± {100 * r['analogy_accuracy_stdev']:.1f} "
            f"({100 * r['analogy_semantic']:.1f} / {100 * r['analogy_syntactic']:.1f}) | "
            f"{r['wordsim353_spearman']:.3f} ± {r['wordsim353_spearman_stdev']:.3f} | "
            f"{r['simlex999_spearman']:.3f} ± {r['simlex999_spearman_stdev']:.3f} |"
        )
    for key, ratio in results["ratios_hf_models_over_gensim"].items():
        corpus, architecture = key.split("/")
        lines.append(f"| {corpus} | {architecture} | **ratio** | {ratio['words_per_second']:.2f}x | "
                     f"{ratio['analogy_accuracy']:.2f}x | {ratio['wordsim353_spearman']:.2f}x | "
                     f"{ratio['simlex999_spearman']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
