#!/usr/bin/env python
"""Score translations with sacreBLEU (Post 2018): corpus BLEU on detokenized text, and BLEU by source-sentence length.

Two ways in:

1. A saved model (a training/run_translation.py output folder, with its source_tokenizer/ and target_tokenizer/)
   translates a source file by greedy search or beam search, and the translations are scored against the references:

       python eval/eval_translation.py --model_name_or_path runs/seq2seq-multi30k-en-de \
           --source_file ../shared/data/multi30k/test_2016_flickr.en.gz \
           --reference_file ../shared/data/multi30k/test_2016_flickr.de.gz \
           --num_beams 5 --length_penalty 1.0 --max_length 64 --batch_size 64 --plot \
           --output_dir runs/seq2seq-multi30k-en-de-test2016

2. A predictions file (one translation a line, e.g. run_translation.py's generated_predictions.txt) against the
   references; no model needed (`--source_file` is optional and gives BLEU by source length):

       python eval/eval_translation.py --predictions_file runs/seq2seq-multi30k-en-de/generated_predictions.txt \
           --reference_file ../shared/data/multi30k/test_2016_flickr.de.gz \
           --source_file ../shared/data/multi30k/test_2016_flickr.en.gz --output_dir runs/bleu-test2016

Both write OUTPUT_DIR/translation_results.json (bleu, counts, totals, precisions, bp, sys_len, ref_len and
bleu_by_length: one row per source-length bucket, `--length_buckets 10,15,20,25` gives 1-10, 11-15, 16-20, 21-25,
26+), the translations of way 1 (OUTPUT_DIR/generated_predictions.txt), with `--plot` a bar chart
(OUTPUT_DIR/bleu_by_length.png), and a row in the results table (default OUTPUT_DIR/results.md). A non-empty
OUTPUT_DIR is refused unless given --overwrite_output_dir.
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
from hf_models.tasks.translation import (
    TASK,
    bucket_names,
    load_saved_translator,
    parse_length_buckets,
    plot_bleu_by_length,
    read_lines,
    read_parallel,
    score_translations,
    translate,
    write_lines,
)

logger = logging.getLogger("hf_models.eval_translation")


@dataclass
class EvalTranslationArguments:
    """What to score: a saved model on a source file, or a predictions file; against a reference file."""

    reference_file: str = field(metadata={"help": "Reference translations, one a line (plain or .gz)."})
    source_file: str | None = field(
        default=None, metadata={"help": "Source sentences, line-aligned with the references (needed with a model; "
                                        "with a predictions file it gives BLEU by source length)."}
    )
    model_name_or_path: str | None = field(default=None, metadata={"help": "A run_translation.py output folder."})
    predictions_file: str | None = field(default=None, metadata={"help": "Translations to score, one a line."})
    source_tokenizer: str | None = field(default=None, metadata={"help": "Default MODEL/source_tokenizer."})
    target_tokenizer: str | None = field(default=None, metadata={"help": "Default MODEL/target_tokenizer."})
    num_beams: int = field(default=1, metadata={"help": "Beam size (1 = greedy search)."})
    length_penalty: float = field(
        default=1.0, metadata={"help": "Beam scores are log p / length**length_penalty (> 1 favours longer)."}
    )
    max_length: int = field(default=128, metadata={"help": "Most tokens generated per sentence (with <s>)."})
    max_source_length: int = field(default=128, metadata={"help": "Source tokens kept (with </s>)."})
    batch_size: int = field(default=32, metadata={"help": "Sentences translated at once."})
    max_samples: int | None = field(default=None, metadata={"help": "Score only the first N sentences."})
    bleu_tokenize: str = field(default="13a", metadata={"help": "sacreBLEU tokenizer (13a, intl, char, none...)."})
    bleu_lowercase: bool = field(default=False, metadata={"help": "Case-insensitive BLEU."})
    length_buckets: str = field(
        default="10,15,20,25", metadata={"help": "Upper bounds of the source-length buckets (words), comma-separated."}
    )
    plot: bool = field(default=False, metadata={"help": "Write OUTPUT_DIR/bleu_by_length.png (matplotlib)."})
    use_cpu: bool = field(default=False, metadata={"help": "Translate on the CPU even when a GPU is available."})

    def __post_init__(self):
        if (self.model_name_or_path is None) == (self.predictions_file is None):
            raise ValueError("give exactly one of --model_name_or_path (translate, then score) and --predictions_file")
        if self.model_name_or_path is not None and self.source_file is None:
            raise ValueError("--model_name_or_path needs --source_file (the sentences to translate)")
        for name in ("num_beams", "max_length", "max_source_length", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be a positive integer, got {getattr(self, name)}")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"--max_samples must be a positive integer, got {self.max_samples}")
        parse_length_buckets(self.length_buckets)  # refuse a bad value before any work


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    args, out = parse_args((EvalTranslationArguments, OutputArguments), argv)
    setup_output_command(out, "hf_models.eval_translation", inputs=input_paths(args))
    bounds = parse_length_buckets(args.length_buckets)

    if args.source_file is not None:
        sources, references = read_parallel(args.source_file, args.reference_file)
    else:
        sources, references = None, read_lines(args.reference_file)
    if args.max_samples is not None:
        references = references[: args.max_samples]
        sources = None if sources is None else sources[: args.max_samples]

    settings = {}
    if args.model_name_or_path is not None:
        import torch

        model, source_tokenizer, target_tokenizer = load_saved_translator(
            args.model_name_or_path, args.source_tokenizer, args.target_tokenizer
        )
        device = "cuda" if torch.cuda.is_available() and not args.use_cpu else "cpu"
        model.to(device)
        logger.info(f"Translating {len(sources)} sentences of {args.source_file} on {device} with "
                    f"{'greedy search' if args.num_beams == 1 else f'beam search (beam {args.num_beams})'}")
        start = time.perf_counter()
        predictions = translate(model, source_tokenizer, target_tokenizer, sources, args.batch_size, args.num_beams,
                                args.length_penalty, args.max_length, args.max_source_length)
        seconds = time.perf_counter() - start
        settings = {"model": args.model_name_or_path, "num_beams": args.num_beams,
                    "length_penalty": args.length_penalty, "max_length": args.max_length,
                    "translate_runtime": seconds, "sentences_per_second": len(sources) / max(seconds, 1e-9)}
        path = write_lines(os.path.join(out.output_dir, "generated_predictions.txt"), predictions)
        logger.info(f"Translations in {path}")
    else:
        predictions = read_lines(args.predictions_file, allow_empty=True)  # a model may translate to nothing
        if args.max_samples is not None:
            predictions = predictions[: args.max_samples]
        if len(predictions) != len(references):
            raise ValueError(f"{args.predictions_file} has {len(predictions)} lines but {args.reference_file} has "
                             f"{len(references)} (after --max_samples): the files must be line-aligned")
        settings = {"predictions_file": args.predictions_file}

    results = score_translations(predictions, references, sources, bounds, args.bleu_tokenize, args.bleu_lowercase)
    results = {**results, **settings, "source_file": args.source_file, "reference_file": args.reference_file}
    write_json(os.path.join(out.output_dir, "translation_results.json"), results)
    logger.info(f"BLEU {results['bleu']:.2f} (BP {results['bp']:.3f}, {results['sys_len']}/{results['ref_len']} "
                f"tokens) on {len(references)} sentences of {args.reference_file}")
    if "bleu_by_length" in results:
        for row in results["bleu_by_length"]:
            bleu = "-" if row["bleu"] is None else f"{row['bleu']:.2f}"
            logger.info(f"  source length {row['bucket']:>6} words: BLEU {bleu:>6} ({row['sentences']} sentences)")
        if args.plot:
            path = plot_bleu_by_length(results["bleu_by_length"], os.path.join(out.output_dir, "bleu_by_length.png"),
                                       title=f"BLEU by source length: {Path(args.reference_file).name}")
            logger.info(f"Plot in {path}")
    elif args.plot:
        logger.warning(f"--plot needs --source_file (BLEU by source length over {', '.join(bucket_names(bounds))})")

    shown = {"bleu": results["bleu"], "bp": results["bp"]}
    shown.update({f"bleu_{row['bucket']}": row["bleu"] for row in results.get("bleu_by_length", [])
                  if row["bleu"] is not None})
    table = append_results_row(
        results_table_path(out, out.output_dir),
        {"task": TASK, "split": Path(args.reference_file).name,
         "model": args.model_name_or_path or args.predictions_file, "implementation": "hf_models",
         "examples": len(references), "metrics": shown, "output_dir": out.output_dir},
    )
    logger.info(f"Appended the results to {table}")
    return results


if __name__ == "__main__":
    run_main(main)
