#!/usr/bin/env python
"""Build a smoothed n-gram language model from text files (one sentence per line, whitespace-separated words).

The model is saved with `save_pretrained` in OUTPUT_DIR (config.json, model.safetensors, vocab.txt; load it with
`NGramLanguageModel.from_pretrained(OUTPUT_DIR)`), optionally as OUTPUT_DIR/model.arpa for KenLM or SRILM (`--arpa`).
The build statistics (seconds, n-gram counts, discounts) and the perplexity of `--validation_file` / `--test_file`
go to OUTPUT_DIR/train_results.json, and a row per evaluated file to the results table (`--results_table`, default
OUTPUT_DIR/results.md). The modified Kneser-Ney 5-gram of KenLM's lmplz on Penn Treebank:

    python training/train_ngram.py --train_file ../shared/data/ptb/ptb.train.txt --order 5 \
        --smoothing modified_kneser_ney --validation_file ../shared/data/ptb/ptb.valid.txt \
        --test_file ../shared/data/ptb/ptb.test.txt --arpa --output_dir /tmp/ptb-kn5

Other estimators: `--smoothing mle`, `--smoothing add_k --k 0.1`, `--smoothing kneser_ney [--discount 0.75]`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from hf_models.cli_utils import (
    OutputArguments,
    append_results_row,
    parse_args,
    releases_output_dirs,
    results_table_path,
    run_main,
    setup_output_command,
    write_json,
)
from hf_models.file_utils import staged_folder
from hf_models.ngram import NGramConfig, NGramLanguageModel
from hf_models.ngram.configuration_ngram import SMOOTHINGS

logger = logging.getLogger("hf_models.train_ngram")


@dataclass
class NGramTrainingArguments:
    """What to count, how to smooth it, and where the model goes."""

    train_file: list[str] = field(
        metadata={"help": "Training text: one sentence per line, words separated by whitespace (UTF-8, .gz "
                          "allowed). Several files may follow the flag, or repeat it.", "nargs": "+", "action": "extend"}
    )
    order: int = field(default=3, metadata={"help": "n, the length of the longest n-gram."})
    smoothing: str = field(
        default="modified_kneser_ney",
        metadata={"help": "mle, add_k, kneser_ney (one discount per order) or modified_kneser_ney (D1, D2, D3+ per "
                          "order, as KenLM's lmplz).", "choices": [s for s in SMOOTHINGS if s != "arpa"]},
    )
    k: float = field(default=1.0, metadata={"help": "Pseudo-count of add-k smoothing (1 = Laplace)."})
    discount: list[float] | None = field(
        default=None,
        metadata={"help": "Fixed discounts instead of estimating them: one value (kneser_ney) or D1 D2 D3+ "
                          "(modified_kneser_ney).", "nargs": "+"},
    )
    discount_fallback: bool = field(
        default=True,
        metadata={"help": "Where the count-of-counts give no valid discounts (tiny data), use KenLM's fallback "
                          "(D1=0.5, D2=1, D3+=1.5; 0.5 for kneser_ney) with a warning; --no_discount_fallback stops "
                          "with an error instead (lmplz's default)."},
    )
    min_count: int = field(default=1, metadata={"help": "Words seen fewer times become <unk>."})
    max_vocab_size: int | None = field(
        default=None, metadata={"help": "Keep only the most frequent words (special tokens included)."}
    )
    lowercase: bool = field(default=False, metadata={"help": "Lowercase the text before counting and scoring."})
    arpa: bool = field(default=False, metadata={"help": "Also write OUTPUT_DIR/model.arpa (for KenLM or SRILM)."})
    validation_file: str | None = field(default=None, metadata={"help": "Report the perplexity of this file."})
    test_file: str | None = field(default=None, metadata={"help": "Report the perplexity of this file."})
    exclude_oov: bool = field(
        default=False,
        metadata={"help": "Leave out-of-vocabulary words out of the perplexity (SRILM); default: score them as "
                          "<unk> and count them (KenLM)."},
    )

    def __post_init__(self):
        for flag, path in [("--train_file", p) for p in self.train_file] + [
            ("--validation_file", self.validation_file), ("--test_file", self.test_file)
        ]:
            if path is not None and not os.path.isfile(path):
                raise FileNotFoundError(f"{flag} {path}: no such file")

    def config(self) -> NGramConfig:
        """The NGramConfig these arguments describe (validated there, with errors naming the field)."""
        discount = self.discount
        if discount is not None and self.smoothing == "kneser_ney" and len(discount) == 1:
            discount = discount[0]
        return NGramConfig(order=self.order, smoothing=self.smoothing, k=self.k, discount=discount,
                           discount_fallback=self.discount_fallback, min_count=self.min_count,
                           max_vocab_size=self.max_vocab_size, lowercase=self.lowercase)


def evaluate_file(model: NGramLanguageModel, path: str, exclude_oov: bool) -> dict:
    """Perplexity of a text file, with the speed of scoring it (reading included)."""
    started = time.perf_counter()
    result = model.perplexity(Path(path), exclude_oov=exclude_oov)
    seconds = time.perf_counter() - started
    result["seconds"] = seconds
    result["tokens_per_second"] = result["tokens"] / seconds if seconds > 0 else float("inf")
    return result


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    args, out = parse_args((NGramTrainingArguments, OutputArguments), argv)
    setup_output_command(out, logger.name, inputs=[*args.train_file, args.validation_file, args.test_file])
    config = args.config()
    logger.info(f"Building a {config.order}-gram {config.smoothing} model from {', '.join(args.train_file)}")
    sources = [Path(p) for p in args.train_file]
    model = NGramLanguageModel.fit(sources, config, progress=out.show_progress)
    stats = model.fit_statistics
    with staged_folder(out.output_dir) as staging:  # each file renamed into place whole, config.json last
        model.save_pretrained(staging)
    results = {
        "order": config.order,
        "smoothing": config.smoothing,
        "train_files": args.train_file,
        **stats,
    }
    if args.arpa:
        started = time.perf_counter()
        arpa_path = os.path.join(out.output_dir, "model.arpa")
        model.save_arpa(arpa_path)
        results["arpa_file"] = arpa_path
        results["arpa_seconds"] = time.perf_counter() - started
        logger.info(f"Wrote {arpa_path} in {results['arpa_seconds']:.2f}s")
    table = results_table_path(out, out.output_dir)
    for split, path in (("validation", args.validation_file), ("test", args.test_file)):
        if path is None:
            continue
        scores = evaluate_file(model, path, args.exclude_oov)
        results[f"{split}_file"] = path
        results.update({f"{split}_{key}": value for key, value in scores.items()})
        logger.info(f"{split} perplexity {scores['perplexity']:.3f} ({scores['tokens']:,} tokens, {scores['oov']:,} "
                    f"OOV, {scores['tokens_per_second']:,.0f} tokens/s)")
        append_results_row(table, {
            "task": "language_modeling", "split": split, "model": f"{config.order}-gram {config.smoothing}",
            "implementation": "hf_models", "examples": scores["sentences"],
            "metrics": {"perplexity": scores["perplexity"], "tokens": scores["tokens"], "oov": scores["oov"]},
            "output_dir": out.output_dir,
        })
    write_json(os.path.join(out.output_dir, "train_results.json"), results)
    logger.info(f"Saved the model and train_results.json to {out.output_dir}")
    return results


if __name__ == "__main__":
    run_main(main)
