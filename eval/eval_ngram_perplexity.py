#!/usr/bin/env python
"""Perplexity of an n-gram language model on text files (one sentence per line, whitespace-separated words).

The model is a folder saved by `NGramLanguageModel.save_pretrained` (or `training/train_ngram.py`), a hub name, or an
ARPA file from any toolkit (KenLM's lmplz, SRILM, `save_arpa`; `.arpa` or `.arpa.gz`). Each sentence is scored as
`<s> w1 .. wn </s>`; the tokens are the words and `</s>`. Out-of-vocabulary words are scored as `<unk>` and counted
(KenLM's convention) unless `--exclude_oov` (SRILM's). The results (perplexity, log10 probability, tokens, OOV,
tokens/s) go to OUTPUT_DIR/eval_results.json and a row per file to the results table (`--results_table`, default
OUTPUT_DIR/results.md):

    python eval/eval_ngram_perplexity.py --model_name_or_path /tmp/ptb-kn5 \
        --test_file ../shared/data/ptb/ptb.valid.txt ../shared/data/ptb/ptb.test.txt --output_dir /tmp/ptb-kn5-eval

    python eval/eval_ngram_perplexity.py --model_name_or_path lmplz.arpa --test_file test.txt --output_dir /tmp/eval
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
    input_paths,
    parse_args,
    releases_output_dirs,
    results_table_path,
    run_main,
    setup_output_command,
    write_json,
)
from hf_models.ngram import NGramLanguageModel

logger = logging.getLogger("hf_models.eval_ngram_perplexity")


@dataclass
class NGramEvalArguments:
    """Which model, on which files, and where the results go."""

    model_name_or_path: str = field(
        metadata={"help": "A folder saved by NGramLanguageModel.save_pretrained, a hub name, or an ARPA file "
                          "(.arpa or .arpa.gz)."}
    )
    test_file: list[str] = field(
        metadata={"help": "Text files to score (one sentence per line; UTF-8, .gz allowed); several may follow the "
                          "flag, or the flag may be repeated.", "nargs": "+", "action": "extend"}
    )
    exclude_oov: bool = field(
        default=False,
        metadata={"help": "Leave out-of-vocabulary words out of the perplexity (SRILM); default: score them as "
                          "<unk> and count them (KenLM)."},
    )

    def __post_init__(self):
        for path in self.test_file:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"--test_file {path}: no such file")
        if self.model_name_or_path.endswith((".arpa", ".arpa.gz")) and not os.path.isfile(self.model_name_or_path):
            raise FileNotFoundError(f"--model_name_or_path {self.model_name_or_path}: no such ARPA file")


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    args, out = parse_args((NGramEvalArguments, OutputArguments), argv)
    setup_output_command(out, logger.name, inputs=input_paths(args))
    started = time.perf_counter()
    model = NGramLanguageModel.from_pretrained(args.model_name_or_path)
    load_seconds = time.perf_counter() - started
    config = model.config
    logger.info(f"Loaded a {config.order}-gram {config.smoothing} model ({config.vocab_size:,} words, n-grams per "
                f"order {config.ngram_counts}) from {args.model_name_or_path} in {load_seconds:.2f}s")
    table = results_table_path(out, out.output_dir)
    results = {"model": args.model_name_or_path, "order": config.order, "smoothing": config.smoothing,
               "load_seconds": load_seconds, "files": {}}
    from tqdm.auto import tqdm

    for path in tqdm(args.test_file, desc="Scoring", unit=" file", disable=len(args.test_file) < 2):
        started = time.perf_counter()
        scores = model.perplexity(Path(path), exclude_oov=args.exclude_oov)
        seconds = time.perf_counter() - started
        scores["seconds"] = seconds
        scores["tokens_per_second"] = scores["tokens"] / seconds if seconds > 0 else float("inf")
        results["files"][path] = scores
        logger.info(f"{path}: perplexity {scores['perplexity']:.3f} ({scores['tokens']:,} tokens, {scores['oov']:,} "
                    f"OOV{' excluded' if args.exclude_oov else ''}, {scores['tokens_per_second']:,.0f} tokens/s)")
        append_results_row(table, {
            "task": "language_modeling", "split": os.path.basename(path), "model": args.model_name_or_path,
            "implementation": "hf_models", "examples": scores["sentences"],
            "metrics": {"perplexity": scores["perplexity"], "tokens": scores["tokens"], "oov": scores["oov"]},
            "output_dir": out.output_dir,
        })
    if len(args.test_file) == 1:  # the usual case: the scores at the top level too
        results.update(results["files"][args.test_file[0]])
    write_json(os.path.join(out.output_dir, "eval_results.json"), results)
    return results


if __name__ == "__main__":
    run_main(main)
