"""n-gram language models on Penn Treebank: perplexity of every smoothing method and order, against KenLM and NLTK.

1. hf_models: for each smoothing (MLE, add-1, add-0.01, interpolated Kneser-Ney, modified Kneser-Ney) and order 1-5,
   fit on PTB train and score PTB valid and test: perplexity (KenLM's convention: every word and each sentence's
   `</s>`, `<s>` never predicted) and wall seconds to build and to score.
2. KenLM, in the same run:
   - `lmplz -o 5` (built from the `kenlm` sdist, see below) on PTB train, scored with the `kenlm` Python module. lmplz
     refuses the literal `<unk>` of PTB's text, so for lmplz alone `<unk>` is renamed `UNK` in train and test, which
     makes it an ordinary word as it is for hf_models (PTB has no other OOV word). That run is the 141.19 anchor.
   - the `kenlm` Python module reads the ARPA file hf_models writes and must give the same perplexity;
   - every n-gram probability and backoff of hf_models' ARPA is compared with lmplz's (max |difference| in log10).
3. NLTK (`nltk.lm`), in the same run: `KneserNeyInterpolated(5)` fit time on PTB train and scoring speed (tokens/s) on
   the first sentences of PTB test (it scores a few tokens a second: the whole test set would take over an hour),
   with hf_models' interpolated KN 5-gram on the same sentences; and `Laplace(2)` on the whole test set, whose
   conventions (one `<s>`, one `</s>`) match hf_models' add-1 bigram up to the vocabulary size.

    python benchmarks/bench_ngram.py [--lmplz PATH]

lmplz is not on PyPI as a binary. To build it: `pip download --no-deps --no-binary :all: kenlm`, unpack, then
`cmake -DCMAKE_BUILD_TYPE=Release .. && make lmplz` (needs Boost program_options/system/thread and zlib headers).
Without `--lmplz` (or lmplz on PATH) that part is skipped and recorded as such.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOOTHINGS = (
    ("mle", {}),
    ("add_k", {"k": 1.0}),
    ("add_k", {"k": 0.01}),
    ("kneser_ney", {}),
    ("modified_kneser_ney", {}),
)


def _label(smoothing: str, kwargs: dict) -> str:
    return f"add-{kwargs['k']:g}" if smoothing == "add_k" else smoothing


def hf_models_grid(ptb: Path, orders) -> list[dict]:
    from hf_models.ngram import NGramLanguageModel

    rows = []
    for smoothing, kwargs in SMOOTHINGS:
        for order in orders:
            start = time.perf_counter()
            model = NGramLanguageModel.fit(ptb / "ptb.train.txt", order=order, smoothing=smoothing, **kwargs)
            build = time.perf_counter() - start
            row = {"smoothing": _label(smoothing, kwargs), "order": order, "build_seconds": build,
                   "ngram_counts": model.config.ngram_counts}
            for split in ("valid", "test"):
                start = time.perf_counter()
                result = model.perplexity(ptb / f"ptb.{split}.txt")
                row[f"{split}_perplexity"] = result["perplexity"]
                row[f"{split}_score_seconds"] = time.perf_counter() - start
                row[f"{split}_tokens"] = result["tokens"]
                row[f"{split}_zero_probability_tokens"] = result["zero_probability_tokens"]
            print(f"{row['smoothing']:>20s} order {order}: test ppl {row['test_perplexity']:.2f} "
                  f"(build {build:.2f}s, score {row['test_score_seconds']:.2f}s)", flush=True)
            rows.append(row)
    return rows


def _read_arpa(path: Path) -> dict:
    """{order: {ngram: (log10 p, log10 backoff)}} of an ARPA file (plain or .gz)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    tables, order = {}, None
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("\\") and line.endswith("-grams:"):
                order = int(line[1:-7])
                tables[order] = {}
            elif line.startswith("\\end\\"):
                break
            elif order is not None and line:
                fields = line.split("\t")
                backoff = float(fields[2]) if len(fields) > 2 else 0.0
                tables[order][fields[1]] = (float(fields[0]), backoff)
    return tables


def compare_arpa(ours: Path, theirs: Path, rename: dict) -> dict:
    """Max |difference| of log10 probabilities and backoffs between two ARPA files, n-gram by n-gram."""
    a, b = _read_arpa(ours), _read_arpa(theirs)
    report = {}
    for order in sorted(set(a) | set(b)):
        ours_order = {" ".join(rename.get(w, w) for w in k.split(" ")): v for k, v in a.get(order, {}).items()}
        theirs_order = b.get(order, {})
        common = ours_order.keys() & theirs_order.keys()
        # <s> has no probability of its own (KenLM writes 0 or -99 for it): compare its backoff only
        dp = max((abs(ours_order[k][0] - theirs_order[k][0]) for k in common if k != "<s>"), default=0.0)
        db = max((abs(ours_order[k][1] - theirs_order[k][1]) for k in common), default=0.0)
        report[order] = {"ours": len(ours_order), "kenlm": len(theirs_order), "common": len(common),
                         "max_abs_diff_log10_prob": dp, "max_abs_diff_log10_backoff": db}
    return report


def kenlm_perplexity(model, path: Path, rename: dict | None = None) -> tuple[float, float]:
    start = time.perf_counter()
    total, tokens = 0.0, 0
    for line in path.open(encoding="utf-8"):
        words = [rename.get(w, w) for w in line.split()] if rename else line.split()
        total += model.score(" ".join(words), bos=True, eos=True)
        tokens += len(words) + 1
    return 10 ** (-total / tokens), time.perf_counter() - start


def kenlm_section(ptb: Path, lmplz: str | None, work: Path) -> dict:
    import kenlm

    from hf_models.ngram import NGramLanguageModel

    section = {}
    start = time.perf_counter()
    ours = NGramLanguageModel.fit(ptb / "ptb.train.txt", order=5, smoothing="modified_kneser_ney")
    build = time.perf_counter() - start
    start = time.perf_counter()
    result = ours.perplexity(ptb / "ptb.test.txt")
    score = time.perf_counter() - start
    arpa = work / "hf_models_mkn5.arpa"
    start = time.perf_counter()
    ours.save_arpa(arpa)
    write = time.perf_counter() - start
    reader = kenlm.Model(str(arpa))
    kenlm_on_ours, kenlm_on_ours_seconds = kenlm_perplexity(reader, ptb / "ptb.test.txt")
    section["hf_models"] = {"build_seconds": build, "score_seconds": score, "build_plus_score_seconds": build + score,
                            "test_perplexity": result["perplexity"], "arpa_write_seconds": write,
                            "kenlm_module_perplexity_of_our_arpa": kenlm_on_ours,
                            "kenlm_module_score_seconds": kenlm_on_ours_seconds}
    print(f"hf_models MKN5: ppl {result['perplexity']:.4f}, build {build:.2f}s + score {score:.2f}s; kenlm module on "
          f"our ARPA: {kenlm_on_ours:.4f}", flush=True)
    lmplz = lmplz or shutil.which("lmplz")
    if not lmplz:
        section["lmplz"] = "skipped: no lmplz binary (pass --lmplz)"
        return section
    rename = {"<unk>": "UNK"}
    train_renamed = work / "ptb.train.UNK.txt"
    train_renamed.write_text("".join(" ".join(rename.get(w, w) for w in line.split()) + "\n"
                                     for line in (ptb / "ptb.train.txt").open(encoding="utf-8")), encoding="utf-8")
    kenlm_arpa = work / "lmplz_5.arpa"
    start = time.perf_counter()
    with train_renamed.open("rb") as stdin, kenlm_arpa.open("wb") as stdout:
        subprocess.run([lmplz, "-o", "5", "-S", "2G", "-T", str(work)], stdin=stdin, stdout=stdout,
                       stderr=subprocess.DEVNULL, check=True)
    lmplz_seconds = time.perf_counter() - start
    kenlm_model = kenlm.Model(str(kenlm_arpa))
    perplexity, seconds = kenlm_perplexity(kenlm_model, ptb / "ptb.test.txt", rename)
    section["lmplz"] = {"build_seconds": lmplz_seconds, "score_seconds": seconds, "test_perplexity": perplexity,
                        "command": "lmplz -o 5 -S 2G < ptb.train.txt with <unk> renamed UNK"}
    section["arpa_comparison"] = compare_arpa(arpa, kenlm_arpa, rename)
    section["ratios_hf_models_over_kenlm"] = {
        "test_perplexity": result["perplexity"] / perplexity,
        "build_seconds": build / lmplz_seconds,
    }
    print(f"lmplz MKN5: ppl {perplexity:.4f}, build {lmplz_seconds:.2f}s; ARPA diff "
          f"{json.dumps(section['arpa_comparison'])}", flush=True)
    return section


def _read_sentences(path: Path, limit: int | None = None) -> list[list[str]]:
    sentences = [line.split() for line in path.open(encoding="utf-8") if line.strip()]
    return sentences[:limit] if limit else sentences


def nltk_section(ptb: Path, sentences: int) -> dict:
    from nltk.lm import KneserNeyInterpolated, Laplace
    from nltk.lm.preprocessing import padded_everygram_pipeline
    from nltk.util import pad_sequence

    from hf_models.ngram import NGramLanguageModel

    train = _read_sentences(ptb / "ptb.train.txt")
    test = _read_sentences(ptb / "ptb.test.txt")
    section = {}

    def nltk_score(model, order, sents):
        start = time.perf_counter()
        total, tokens = 0.0, 0
        for sentence in sents:
            padded = list(pad_sequence(sentence, order, pad_left=True, pad_right=True, left_pad_symbol="<s>",
                                       right_pad_symbol="</s>"))
            # score every word and the first </s>, each given its n-1 predecessors (never <s> itself)
            for i in range(order - 1, order + len(sentence)):
                total += model.logscore(padded[i], padded[i - order + 1:i])
                tokens += 1
        return 2 ** (-total / tokens), tokens, time.perf_counter() - start

    # Kneser-Ney 5-gram: fit on all of train, score the first sentences of test
    start = time.perf_counter()
    data, vocab = padded_everygram_pipeline(5, train)
    kn = KneserNeyInterpolated(5)
    kn.fit(data, vocab)
    fit_seconds = time.perf_counter() - start
    head = test[:sentences]
    perplexity, tokens, seconds = nltk_score(kn, 5, head)
    ours = NGramLanguageModel.fit(ptb / "ptb.train.txt", order=5, smoothing="kneser_ney")
    start = time.perf_counter()
    ours_result = ours.perplexity(head)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    NGramLanguageModel.fit(ptb / "ptb.train.txt", order=5, smoothing="kneser_ney")
    ours_fit = time.perf_counter() - start
    section["kneser_ney_5"] = {
        "test_sentences": len(head), "tokens": tokens,
        "nltk": {"fit_seconds": fit_seconds, "score_seconds": seconds, "tokens_per_second": tokens / seconds,
                 "perplexity": perplexity, "estimator": "nltk.lm.KneserNeyInterpolated(5), discount 0.1"},
        "hf_models": {"fit_seconds": ours_fit, "score_seconds": ours_seconds,
                      "tokens_per_second": ours_result["tokens"] / ours_seconds,
                      "perplexity": ours_result["perplexity"],
                      "estimator": "interpolated Kneser-Ney, discounts n1/(n1+2 n2) per order"},
    }
    print(f"NLTK KN5: fit {fit_seconds:.1f}s, {tokens / seconds:.1f} tokens/s, ppl {perplexity:.2f} on {tokens} "
          f"tokens; hf_models: ppl {ours_result['perplexity']:.2f}", flush=True)

    # Laplace bigram on the whole test set (same padding as hf_models' add-1 bigram)
    start = time.perf_counter()
    data, vocab = padded_everygram_pipeline(2, train)
    laplace = Laplace(2)
    laplace.fit(data, vocab)
    fit_seconds = time.perf_counter() - start
    perplexity, tokens, seconds = nltk_score(laplace, 2, test)
    start = time.perf_counter()
    ours = NGramLanguageModel.fit(ptb / "ptb.train.txt", order=2, smoothing="add_k", k=1.0)
    ours_fit = time.perf_counter() - start
    ours_result = ours.perplexity(ptb / "ptb.test.txt")
    section["laplace_2"] = {
        "tokens": tokens,
        "nltk": {"fit_seconds": fit_seconds, "score_seconds": seconds, "tokens_per_second": tokens / seconds,
                 "perplexity": perplexity, "vocabulary": len(laplace.vocab)},
        "hf_models": {"fit_seconds": ours_fit, "score_seconds": ours_result["score_seconds"],
                      "tokens_per_second": ours_result["tokens"] / ours_result["score_seconds"],
                      "perplexity": ours_result["perplexity"], "vocabulary": ours.config.vocab_size},
    }
    print(f"NLTK Laplace(2): ppl {perplexity:.2f}, {tokens / seconds:.0f} tokens/s; hf_models add-1 bigram: "
          f"{ours_result['perplexity']:.2f}", flush=True)
    return section


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=ROOT / ".." / "shared" / "data")
    parser.add_argument("--lmplz", default=None, help="Path of KenLM's lmplz binary (default: lmplz on PATH).")
    parser.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--nltk_sentences", type=int, default=10,
                        help="Sentences of PTB test that NLTK's Kneser-Ney scores (it scores a few tokens a second).")
    parser.add_argument("--skip_nltk", action="store_true")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "ngram_ptb.json")
    args = parser.parse_args(argv)
    ptb = args.data_dir / "ptb"
    if not ptb.is_dir():
        sys.exit(f"{ptb} not found: the benchmark needs PTB (../shared/data/ptb)")

    # warm up (numba compilation, page cache) so that the timings are of the work itself
    from hf_models.ngram import NGramLanguageModel

    NGramLanguageModel.fit([["a", "b", "c"], ["a", "c"]] * 5, order=3).perplexity([["a", "b"]])

    results = {
        "command": "python benchmarks/bench_ngram.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "anchor": {"lmplz_mkn5_test_perplexity": 141.19, "mikolov_kn5": 141.2},
    }
    with tempfile.TemporaryDirectory(prefix="bench_ngram_") as work:
        results["kenlm"] = kenlm_section(ptb, args.lmplz, Path(work))
    results["grid"] = hf_models_grid(ptb, args.orders)
    if not args.skip_nltk:
        import nltk

        results["machine"]["nltk"] = nltk.__version__
        results["nltk"] = nltk_section(ptb, args.nltk_sentences)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(_finite(results), indent=2) + "\n")
    print(markdown_tables(results))
    return results


def _finite(value):
    """JSON has no infinity: MLE's infinite perplexities are written as the string "inf"."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def markdown_tables(results: dict) -> str:
    grid = results["grid"]
    orders = sorted({r["order"] for r in grid})
    lines = ["| smoothing | " + " | ".join(f"order {o}" for o in orders) + " |",
             "|---|" + "---|" * len(orders)]
    for label in dict.fromkeys(r["smoothing"] for r in grid):
        cells = []
        for o in orders:
            row = next(r for r in grid if r["smoothing"] == label and r["order"] == o)
            ppl = row["test_perplexity"]
            cells.append("inf" if math.isinf(ppl) else f"{ppl:.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
