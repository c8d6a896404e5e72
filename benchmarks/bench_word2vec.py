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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

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
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "word2vec.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    corpus = args.corpus
    corpus_stats = None
    if corpus is None:
        corpus = args.output_dir / "corpus.txt"
        if not corpus.exists():
            from nltk_corpus import export

            corpus_stats = export(args.data_dir, corpus)
    eval_dir = args.data_dir / "word_embedding_eval"

    # compile the kernels before any timing (numba caches them on disk after the first run)
    from hf_models.word2vec import build_and_train

    for architecture in args.architectures:
        build_and_train([["a", "b", "c", "a", "b"]] * 50, architecture=architecture, min_count=1, epochs=1,
                        vector_size=8, progress=False)

    runs = []
    for architecture in args.architectures:
        for library, run in (("gensim", run_gensim), ("hf_models", run_hf_models)):
            print(f"== {library} {architecture}", flush=True)
            stats, kv = run(corpus, architecture, args.epochs, args.workers, args.seed)
            start = time.perf_counter()
            stats.update(evaluate(kv, eval_dir))
            stats["eval_seconds"] = time.perf_counter() - start
            stats.update({"library": library, "architecture": architecture})
            print(json.dumps(stats, indent=1), flush=True)
            runs.append(stats)

    ratios = {}
    for architecture in args.architectures:
        ours = next(r for r in runs if r["library"] == "hf_models" and r["architecture"] == architecture)
        theirs = next(r for r in runs if r["library"] == "gensim" and r["architecture"] == architecture)
        ratios[architecture] = {
            key: ours[key] / theirs[key]
            for key in ("words_per_second", "analogy_accuracy", "wordsim353_spearman", "simlex999_spearman")
            if theirs[key]
        }
    import gensim
    import numba

    results = {
        "command": "python benchmarks/bench_word2vec.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "corpus": {"path": str(corpus), "words": runs[0]["raw_words_per_epoch"], "export": corpus_stats},
        "settings": {**SETTINGS, "epochs": args.epochs, "workers": args.workers, "seed": args.seed},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "gensim": gensim.__version__, "numba": numba.__version__},
        "runs": runs,
        "ratios_hf_models_over_gensim": ratios,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown_table(results))
    return results


def markdown_table(results: dict) -> str:
    lines = ["| model | library | words/s | analogy acc. (sem / syn) | WordSim-353 ρ | SimLex-999 ρ |",
             "|---|---|---|---|---|---|"]
    for r in results["runs"]:
        lines.append(
            f"| {r['architecture']} | {r['library']} | {r['words_per_second'] / 1e6:.2f} M | "
            f"{100 * r['analogy_accuracy']:.1f}% ({100 * r['analogy_semantic']:.1f} / "
            f"{100 * r['analogy_syntactic']:.1f}) | {r['wordsim353_spearman']:.3f} | {r['simlex999_spearman']:.3f} |"
        )
    for architecture, ratio in results["ratios_hf_models_over_gensim"].items():
        lines.append(f"| {architecture} | **ratio** | {ratio['words_per_second']:.2f}x | "
                     f"{ratio['analogy_accuracy']:.2f}x | {ratio['wordsim353_spearman']:.2f}x | "
                     f"{ratio['simlex999_spearman']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
