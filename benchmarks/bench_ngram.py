"""n-gram language models: perplexity of every smoothing method and order on Penn Treebank, and speed end to end
against KenLM (`lmplz` and the `kenlm` module) on PTB and on a larger corpus with Korean text, and against NLTK.

1. hf_models: for each smoothing (MLE, add-1, add-0.01, interpolated Kneser-Ney, modified Kneser-Ney) and order 1-5,
   fit on PTB train and score PTB valid and test: perplexity (KenLM's convention: every word and each sentence's
   `</s>`, `<s>` never predicted) and wall seconds to build and to score.
2. KenLM, in the same run, modified Kneser-Ney 5-gram:
   - end to end, as a user gets an ARPA file: `lmplz -o 5` (built from the `kenlm` sdist, see below) from the text
     to the ARPA file it writes, against hf_models' `NGramLanguageModel.fit` + `save_arpa` to an ARPA file, the two
     interleaved (which one runs first alternates) `--repeats` times: medians and the ratio ours / lmplz;
   - reading an ARPA file (lmplz's): `NGramLanguageModel.from_arpa` against `kenlm.Model`, each in a fresh Python
     process (interleaved, `--repeats` times): load seconds (medians) and peak resident memory, in all and above
     the process after its imports;
   - lmplz's test perplexity with the `kenlm` module (the 141.19 anchor on PTB), the `kenlm` module's perplexity of
     the ARPA file hf_models writes, and every n-gram probability and backoff of hf_models' ARPA against lmplz's
     (max |difference| in log10).
   lmplz refuses the literal `<unk>` in its text, so on PTB `<unk>` is renamed `UNK` for lmplz alone, which makes it
   an ordinary word as it is for hf_models (PTB has no other OOV word). That run is the 141.19 anchor.
3. NLTK (`nltk.lm`), in the same run: `KneserNeyInterpolated(5)` fit time on PTB train and scoring speed (tokens/s) on
   the first sentences of PTB test (it scores a few tokens a second: the whole test set would take over an hour),
   with hf_models' interpolated KN 5-gram on the same sentences; and `Laplace(2)` on the whole test set, whose
   conventions (one `<s>`, one `</s>`) match hf_models' add-1 bigram up to the vocabulary size.

    python benchmarks/bench_ngram.py --lmplz PATH/TO/lmplz                      # PTB: all of the above
    python benchmarks/bench_ngram.py --lmplz PATH/TO/lmplz --corpus ko_mixed    # the larger corpus: part 2 only

`--corpus ko_mixed` builds a larger corpus from ../shared/data (2.3 M words): the Korean sentences of KLUE-NLI train
(premises and hypotheses, each once), Multi30k train (English and German), WikiText-2 valid and test and PTB train,
one sentence a line, `<unk>` written `UNK` for both tools; KLUE-NLI dev (Korean) is its test set. Its 5-gram ARPA
file is about 240 MB. Results: benchmarks/results/ngram_ptb.json and ngram_ko_mixed.json.

lmplz is not on PyPI as a binary. To build it from the `kenlm` sdist (Debian: `apt-get install build-essential cmake
libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev
liblzma-dev`):

    pip download --no-deps --no-binary kenlm kenlm -d /tmp/kenlm   # only kenlm from source (`--no-binary :all:`
    cd /tmp/kenlm && tar xzf kenlm-*.tar.gz && cd kenlm-*/          # would also compile cmake, for ten minutes)
    mkdir build && cd build && cmake -DCMAKE_BUILD_TYPE=Release .. && make -j2 lmplz
    # the binary is build/bin/lmplz

Without `--lmplz` (or lmplz on PATH) the lmplz parts are skipped and recorded as such.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import shutil
import statistics
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


def run_lmplz(lmplz: str, train: Path, arpa: Path, work: Path) -> float:
    """Seconds for `lmplz -o 5` to read `train` and write its ARPA file."""
    start = time.perf_counter()
    with train.open("rb") as stdin, arpa.open("wb") as stdout:
        subprocess.run([lmplz, "-o", "5", "-S", "2G", "-T", str(work)], stdin=stdin, stdout=stdout,
                       stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def run_ours(train: Path, arpa: Path) -> tuple[float, float]:
    """Seconds for hf_models to fit the modified Kneser-Ney 5-gram and to write its ARPA file."""
    from hf_models.ngram import NGramLanguageModel

    start = time.perf_counter()
    model = NGramLanguageModel.fit(train, order=5, smoothing="modified_kneser_ney")
    fitted = time.perf_counter()
    model.save_arpa(arpa)
    return fitted - start, time.perf_counter() - fitted


def end_to_end(train_ours: Path, train_lmplz: Path, lmplz: str, work: Path, repeats: int) -> dict:
    """Text -> ARPA file, hf_models (fit + save_arpa) against lmplz, interleaved; medians and ratios ours / lmplz."""
    ours_arpa, lmplz_arpa = work / "hf_models_mkn5.arpa", work / "lmplz_mkn5.arpa"
    fit, write, theirs = [], [], []
    for repeat in range(repeats):
        first_lmplz = repeat % 2 == 0
        if first_lmplz:
            theirs.append(run_lmplz(lmplz, train_lmplz, lmplz_arpa, work))
        seconds = run_ours(train_ours, ours_arpa)
        fit.append(seconds[0])
        write.append(seconds[1])
        if not first_lmplz:
            theirs.append(run_lmplz(lmplz, train_lmplz, lmplz_arpa, work))
        print(f"  end to end, repeat {repeat + 1}/{repeats}: hf_models fit {fit[-1]:.2f}s + ARPA {write[-1]:.2f}s = "
              f"{fit[-1] + write[-1]:.2f}s; lmplz {theirs[-1]:.2f}s", flush=True)
    total = [f + w for f, w in zip(fit, write)]
    return {
        "repeats": repeats,
        "hf_models": {"fit_seconds": fit, "arpa_write_seconds": write, "fit_plus_arpa_seconds": total,
                      "median_fit_seconds": statistics.median(fit), "median_arpa_write_seconds": statistics.median(write),
                      "median_fit_plus_arpa_seconds": statistics.median(total), "arpa_bytes": ours_arpa.stat().st_size,
                      "what": "NGramLanguageModel.fit(text, order=5, smoothing='modified_kneser_ney') + save_arpa"},
        "lmplz": {"seconds": theirs, "median_seconds": statistics.median(theirs),
                  "arpa_bytes": lmplz_arpa.stat().st_size, "what": "lmplz -o 5 -S 2G < text > ARPA"},
        "ratio_hf_models_over_lmplz": statistics.median(total) / statistics.median(theirs),
        "median_of_per_repeat_ratios": statistics.median(t / s for t, s in zip(total, theirs)),
    }


_LOAD_SCRIPT = r"""
import json, sys, time
def peak_rss_mb():  # VmHWM: this process's peak resident memory (ru_maxrss would count the parent's, from fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
which, path, warm = sys.argv[1:4]
if which == "hf_models":
    from hf_models.ngram import NGramLanguageModel, arpa
    sections, arpa._PARALLEL_LINES = arpa._PARALLEL_LINES, 1  # every kernel, the parallel ones included
    NGramLanguageModel.from_arpa(warm)  # numba kernels from their cache (or compiled), outside the timing
    arpa._PARALLEL_LINES = sections
    load = NGramLanguageModel.from_arpa
else:
    import kenlm
    load = kenlm.Model
before = peak_rss_mb()
start = time.perf_counter()
model = load(path)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rss_before_mb": before}))
"""


def arpa_read(arpa: Path, work: Path, repeats: int) -> dict:
    """Loading an ARPA file: hf_models' from_arpa against kenlm.Model, each in a fresh process, interleaved."""
    from hf_models.ngram import NGramLanguageModel

    warm = work / "warm.arpa"
    NGramLanguageModel.fit([["a", "b", "c"], ["a", "c"]] * 5, order=3).save_arpa(warm)
    runs = {"hf_models": [], "kenlm": []}
    for repeat in range(repeats):
        for which in (("hf_models", "kenlm") if repeat % 2 == 0 else ("kenlm", "hf_models")):
            out = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, which, str(arpa), str(warm)], check=True,
                                 capture_output=True, text=True, cwd=ROOT)
            runs[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  ARPA read, repeat {repeat + 1}/{repeats}: hf_models {runs['hf_models'][-1]['seconds']:.2f}s "
              f"({runs['hf_models'][-1]['peak_rss_mb']:.0f} MB peak); kenlm {runs['kenlm'][-1]['seconds']:.2f}s "
              f"({runs['kenlm'][-1]['peak_rss_mb']:.0f} MB peak)", flush=True)
    section = {"arpa_bytes": arpa.stat().st_size, "repeats": repeats}
    for which, values in runs.items():
        section[which] = {
            "seconds": [v["seconds"] for v in values],
            "median_seconds": statistics.median(v["seconds"] for v in values),
            "median_peak_rss_mb": statistics.median(v["peak_rss_mb"] for v in values),
            "median_rss_added_by_loading_mb": statistics.median(v["peak_rss_mb"] - v["rss_before_mb"] for v in values),
            "what": "NGramLanguageModel.from_arpa(path)" if which == "hf_models" else "kenlm.Model(path)",
        }
    section["ratio_hf_models_over_kenlm_seconds"] = section["hf_models"]["median_seconds"] / \
        section["kenlm"]["median_seconds"]
    section["ratio_hf_models_over_kenlm_rss_added"] = section["hf_models"]["median_rss_added_by_loading_mb"] / \
        section["kenlm"]["median_rss_added_by_loading_mb"]
    return section


def kenlm_section(ptb: Path, lmplz: str | None, work: Path, repeats: int) -> dict:
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
    section["hf_models"] = {"fit_seconds": build, "score_seconds": score, "test_perplexity": result["perplexity"],
                            "arpa_write_seconds": write, "kenlm_module_perplexity_of_our_arpa": kenlm_on_ours,
                            "kenlm_module_score_seconds": kenlm_on_ours_seconds}
    print(f"hf_models MKN5: ppl {result['perplexity']:.4f}, fit {build:.2f}s + ARPA {write:.2f}s, score {score:.2f}s; "
          f"kenlm module on our ARPA: {kenlm_on_ours:.4f}", flush=True)
    lmplz = lmplz or shutil.which("lmplz")
    if not lmplz:
        section["lmplz"] = "skipped: no lmplz binary (pass --lmplz)"
        return section
    rename = {"<unk>": "UNK"}
    train_renamed = work / "ptb.train.UNK.txt"
    train_renamed.write_text("".join(" ".join(rename.get(w, w) for w in line.split()) + "\n"
                                     for line in (ptb / "ptb.train.txt").open(encoding="utf-8")), encoding="utf-8")
    section["end_to_end"] = end_to_end(ptb / "ptb.train.txt", train_renamed, lmplz, work, repeats)
    kenlm_arpa = work / "lmplz_mkn5.arpa"
    section["arpa_read"] = arpa_read(kenlm_arpa, work, repeats)
    kenlm_model = kenlm.Model(str(kenlm_arpa))
    perplexity, seconds = kenlm_perplexity(kenlm_model, ptb / "ptb.test.txt", rename)
    section["lmplz"] = {"score_seconds": seconds, "test_perplexity": perplexity,
                        "command": "lmplz -o 5 -S 2G < ptb.train.txt with <unk> renamed UNK"}
    section["arpa_comparison"] = compare_arpa(work / "hf_models_mkn5.arpa", kenlm_arpa, rename)
    section["ratios_hf_models_over_kenlm"] = {
        "test_perplexity": result["perplexity"] / perplexity,
        "end_to_end_seconds_fit_plus_arpa": section["end_to_end"]["ratio_hf_models_over_lmplz"],
        "arpa_read_seconds": section["arpa_read"]["ratio_hf_models_over_kenlm_seconds"],
        "arpa_read_rss_added": section["arpa_read"]["ratio_hf_models_over_kenlm_rss_added"],
    }
    print(f"lmplz MKN5: ppl {perplexity:.4f}; ratios {json.dumps(section['ratios_hf_models_over_kenlm'])}", flush=True)
    return section


def build_ko_mixed(data_dir: Path, work: Path) -> tuple[Path, Path, dict]:
    """The larger corpus (see the module docstring): (train file, test file, its description)."""
    def klue(name):
        rows = json.loads((data_dir / "klue" / name).read_text(encoding="utf-8"))
        return list(dict.fromkeys(" ".join(row[key].split()) for row in rows for key in ("premise", "hypothesis")))

    def lines(path):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            return [" ".join(line.split()) for line in f]

    parts = {
        "klue-nli-v1.1_train.json (Korean)": klue("klue-nli-v1.1_train.json"),
        "multi30k/train.en.gz": lines(data_dir / "multi30k" / "train.en.gz"),
        "multi30k/train.de.gz": lines(data_dir / "multi30k" / "train.de.gz"),
        "wikitext2/valid.txt": lines(data_dir / "wikitext2" / "valid.txt"),
        "wikitext2/test.txt": lines(data_dir / "wikitext2" / "test.txt"),
        "ptb/ptb.train.txt": lines(data_dir / "ptb" / "ptb.train.txt"),
    }
    train, test = work / "ko_mixed.train.txt", work / "ko_mixed.test.txt"
    with train.open("w", encoding="utf-8") as f:
        for sentences in parts.values():
            for sentence in sentences:
                if sentence:
                    f.write(sentence.replace("<unk>", "UNK") + "\n")
    test.write_text("".join(s + "\n" for s in klue("klue-nli-v1.1_dev.json") if s), encoding="utf-8")
    description = {name: {"sentences": sum(1 for s in v if s), "words": sum(len(s.split()) for s in v)}
                   for name, v in parts.items()}
    description["test"] = "klue-nli-v1.1_dev.json premises and hypotheses (Korean), each once"
    return train, test, description


def ko_mixed_section(data_dir: Path, lmplz: str | None, work: Path, repeats: int) -> dict:
    import kenlm

    lmplz = lmplz or shutil.which("lmplz")
    if not lmplz:
        return {"skipped": "no lmplz binary (pass --lmplz)"}
    train, test, description = build_ko_mixed(data_dir, work)
    section = {"corpus": description}
    section["end_to_end"] = end_to_end(train, train, lmplz, work, repeats)
    section["arpa_read"] = arpa_read(work / "lmplz_mkn5.arpa", work, repeats)
    ours, _ = kenlm_perplexity(kenlm.Model(str(work / "hf_models_mkn5.arpa")), test)
    theirs, _ = kenlm_perplexity(kenlm.Model(str(work / "lmplz_mkn5.arpa")), test)
    section["test_perplexity_kenlm_module"] = {"hf_models_arpa": ours, "lmplz_arpa": theirs, "ratio": ours / theirs}
    section["ratios_hf_models_over_kenlm"] = {
        "end_to_end_seconds_fit_plus_arpa": section["end_to_end"]["ratio_hf_models_over_lmplz"],
        "arpa_read_seconds": section["arpa_read"]["ratio_hf_models_over_kenlm_seconds"],
        "arpa_read_rss_added": section["arpa_read"]["ratio_hf_models_over_kenlm_rss_added"],
    }
    print(f"ko_mixed: ppl (kenlm module) ours {ours:.3f} lmplz {theirs:.3f}; ratios "
          f"{json.dumps(section['ratios_hf_models_over_kenlm'])}", flush=True)
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
    parser.add_argument("--corpus", choices=["ptb", "ko_mixed"], default="ptb",
                        help="ptb: everything on Penn Treebank; ko_mixed: the speed against KenLM on the larger corpus.")
    parser.add_argument("--repeats", type=int, default=5,
                        help="Interleaved repetitions of each timing against KenLM (medians are reported).")
    parser.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--nltk_sentences", type=int, default=10,
                        help="Sentences of PTB test that NLTK's Kneser-Ney scores (it scores a few tokens a second).")
    parser.add_argument("--skip_nltk", action="store_true")
    parser.add_argument("--skip_grid", action="store_true", help="Leave out the smoothing x order grid on PTB.")
    parser.add_argument("--results", type=Path, default=None,
                        help="Results JSON (default: benchmarks/results/ngram_ptb.json or ngram_ko_mixed.json).")
    parser.add_argument("--work_dir", type=Path, default=None,
                        help="Folder for the corpora and ARPA files (default: a temporary folder, removed after).")
    args = parser.parse_args(argv)
    results_path = args.results or ROOT / "benchmarks" / "results" / f"ngram_{args.corpus}.json"
    ptb = args.data_dir / "ptb"
    if not ptb.is_dir():
        sys.exit(f"{ptb} not found: the benchmark needs PTB (../shared/data/ptb)")

    # warm up (numba compilation or cache, page cache) so that the timings are of the work itself
    from hf_models.ngram import NGramLanguageModel

    with tempfile.TemporaryDirectory(prefix="bench_ngram_warm_") as warm:
        model = NGramLanguageModel.fit([["a", "b", "c"], ["a", "c"]] * 5, order=3)
        model.perplexity([["a", "b"]])
        model.save_arpa(Path(warm) / "warm.arpa")
        NGramLanguageModel.from_arpa(Path(warm) / "warm.arpa")

    results = {
        "command": "python benchmarks/bench_ngram.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    with tempfile.TemporaryDirectory(prefix="bench_ngram_") as temporary:
        work = args.work_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        if args.corpus == "ko_mixed":
            results["kenlm"] = ko_mixed_section(args.data_dir, args.lmplz, work, args.repeats)
        else:
            results["anchor"] = {"lmplz_mkn5_test_perplexity": 141.19, "mikolov_kn5": 141.2}
            results["kenlm"] = kenlm_section(ptb, args.lmplz, work, args.repeats)
    if args.corpus == "ptb" and not args.skip_grid:
        results["grid"] = hf_models_grid(ptb, args.orders)
    if args.corpus == "ptb" and not args.skip_nltk:
        import nltk

        results["machine"]["nltk"] = nltk.__version__
        results["nltk"] = nltk_section(ptb, args.nltk_sentences)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(_finite(results), indent=2) + "\n")
    if "grid" in results:
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
