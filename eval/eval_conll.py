#!/usr/bin/env python
"""Score named-entity recognition the way CoNLL-2003's conlleval.pl does: entity-level precision, recall and F1
(overall and for each entity type) and token accuracy.

Two ways in:

1. A predictions file in columns, conlleval's input: one token per line with the gold tag and the predicted tag in
   the last two columns (`word gold predicted`, as training/run_ner.py writes `eval_predictions.txt` and
   `predict_predictions.txt`), blank lines (or lines starting with `-X-`) between sentences, and `-DOCSTART- O O`
   lines between documents, which conlleval.pl counts as tokens tagged right. No model needed:

       python eval/eval_conll.py --predictions_file runs/ner-minilm-conll2003/predict_predictions.txt

   writes the metrics to PREDICTIONS_FILE.metrics.json (or --metrics_file) and appends a row to the results table
   (--results_table, default results.md beside the predictions file).

2. A saved token-classification model run on a labelled file (CoNLL columns, or csv/json/jsonl records):

       python eval/eval_conll.py --model_name_or_path runs/ner-minilm-conll2003 \
           --data_file ../shared/data/conll2003/eng.testb --output_dir runs/ner-minilm-conll2003-testb

   writes OUTPUT_DIR/predict_results.json (predict_f1, predict_LOC_f1, ...), the predictions in columns
   (OUTPUT_DIR/predict_predictions.txt, which way 1 reads) and a row in the results table (default
   OUTPUT_DIR/results.md). `--implementation transformers` runs the checkpoint through transformers' own classes.

Both print conlleval's summary, with conlleval.pl's numbers: token accuracy over every token it counts (the
`-DOCSTART-` lines included), entities found with its chunk rules (`--chunk_rules conlleval`, the default: IOB1, IOB2
and IOE tags; conlleval.pl does not know IOBES, so `S-PER S-PER` is one entity there). `--chunk_rules iobes` reads
`S-` as a one-word entity and `B-` as always opening one (seqeval's default, what evaluate's seqeval reports);
`--mode strict --scheme IOB2` counts only well-formed entities instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from hf_models.cli_utils import (
    append_results_row,
    parse_args,
    releases_output_dirs,
    run_main,
    setup_logging,
    write_json,
)
from hf_models.tasks.conll import (
    CHUNK_RULES,
    TAG_SCHEMES,
    TASK,
    DataArguments,
    check_chunk_rules,
    flatten_results,
    format_report,
    run_ner,
    score_predictions_file,
)
from hf_models.trainer_utils import IMPLEMENTATIONS, ModelArguments, RunArguments

logger = logging.getLogger("hf_models.eval_conll")


@dataclass
class EvalConllArguments:
    """What to score: a predictions file in columns, or a saved model on a labelled file."""

    predictions_file: str | None = field(
        default=None,
        metadata={"help": "Tokens in columns with the gold and the predicted tag last (conlleval's input): score it."},
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A fine-tuned token-classification model (folder or hub name) to run."}
    )
    data_file: str | None = field(
        default=None, metadata={"help": "Labelled data to run the model on: CoNLL columns or csv/json/jsonl records."}
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Where the predictions, metrics and results table go (needed with "
                                        "--model_name_or_path; default for a predictions file: next to it)."}
    )
    metrics_file: str | None = field(
        default=None, metadata={"help": "Metrics JSON of a predictions file (default PREDICTIONS_FILE.metrics.json)."}
    )
    results_table: str | None = field(
        default=None, metadata={"help": "Markdown results table to append a row to (created when absent)."}
    )
    model_label: str | None = field(
        default=None, metadata={"help": "What to call the model in the results table (predictions files)."}
    )
    chunk_rules: str | None = field(
        default=None,
        metadata={"help": f"How tags group into entities ({', '.join(CHUNK_RULES)}; default conlleval): 'conlleval' "
                          "as conlleval.pl (IOB1, IOB2, IOE; S- is not a one-word entity, E-X B-X is one entity), "
                          "'iobes' as IOBES (S- one-word entity, B- always opens one). Not with --mode strict."},
    )
    mode: str | None = field(
        default=None, metadata={"help": "None: entities by --chunk_rules; 'strict': only entities valid in --scheme."}
    )
    scheme: str | None = field(
        default=None, metadata={"help": "Tagging scheme for --mode strict: IOB1, IOB2, IOE1, IOE2, IOBES, BILOU."}
    )
    implementation: str = field(
        default="auto", metadata={"help": f"Whose classes run the model: {', '.join(IMPLEMENTATIONS)}."}
    )
    tag_scheme: str = field(
        default="iob2", metadata={"help": f"How to read the data file's tags ({', '.join(TAG_SCHEMES)})."}
    )
    word_column: int = field(default=0, metadata={"help": "Column of the word in a CoNLL data file."})
    tag_column: int = field(default=-1, metadata={"help": "Column of the gold tag in a CoNLL data file."})
    file_encoding: str = field(default="utf-8", metadata={"help": "Text encoding of the files."})
    max_seq_length: int | None = field(
        default=None, metadata={"help": "Most sub-word tokens per sentence (words cut off are predicted O, counted)."}
    )
    batch_size: int = field(default=32, metadata={"help": "Sentences per forward pass."})
    use_cpu: bool = field(default=False, metadata={"help": "Run on the CPU even when a GPU is available."})

    def __post_init__(self):
        if (self.predictions_file is None) == (self.model_name_or_path is None):
            raise ValueError("give either --predictions_file, or --model_name_or_path with --data_file and --output_dir")
        if self.model_name_or_path is not None and (self.data_file is None or self.output_dir is None):
            raise ValueError("--model_name_or_path needs --data_file (labelled data to run it on) and --output_dir")
        if self.chunk_rules is not None:
            check_chunk_rules(self.chunk_rules)
            if self.mode is not None:
                raise ValueError("--chunk_rules applies to the default mode; --mode strict reads the entities of "
                                 "--scheme: give one or the other")


def evaluate_predictions_file(args: EvalConllArguments) -> dict:
    """Score a predictions file in columns; write the metrics JSON and a results-table row; return the metrics."""
    metric_kwargs = {key: value for key, value in (("mode", args.mode), ("scheme", args.scheme)) if value is not None}
    chunk_rules = None if args.mode is not None else args.chunk_rules or "conlleval"
    results, scored = score_predictions_file(args.predictions_file, args.file_encoding, chunk_rules, **metric_kwargs)
    sentences = scored.sentences
    tokens = scored.tokens  # as conlleval.pl counts them: the words and the -DOCSTART- lines
    metrics = {**flatten_results(results, entity_level=True), "sentences": len(sentences), "tokens": tokens}
    print(format_report(results, len(sentences), tokens))
    # next to the predictions by default; in --output_dir when one is given
    folder = Path(args.output_dir) if args.output_dir else Path(args.predictions_file).parent
    metrics_file = args.metrics_file or str(folder / f"{Path(args.predictions_file).name}.metrics.json")
    write_json(metrics_file, metrics)
    table = args.results_table or folder / "results.md"
    shown = {k: v for k, v in metrics.items() if k not in ("sentences", "tokens")}
    append_results_row(table, {
        "task": TASK,
        "split": Path(args.predictions_file).name,
        "model": args.model_label or "(predictions file)",
        "implementation": "-",
        "examples": len(sentences),
        "metrics": shown,
        "output_dir": str(Path(metrics_file).parent),
    })
    print(f"metrics written to {metrics_file}; results row appended to {table}")
    return metrics


def evaluate_model(args: EvalConllArguments) -> dict:
    """Run a saved model on a labelled file through `run_ner` (--do_predict, entity-level metrics); return the metrics."""
    from transformers import TrainingArguments

    if args.mode is not None or args.scheme is not None:
        raise ValueError("--mode/--scheme apply to --predictions_file; score the model's predict_predictions.txt "
                         "with them afterwards")
    model_args = ModelArguments(model_name_or_path=args.model_name_or_path, implementation=args.implementation)
    data_args = DataArguments(
        test_file=args.data_file,
        word_column=args.word_column,
        tag_column=args.tag_column,
        tag_scheme=args.tag_scheme,
        chunk_rules=args.chunk_rules or "conlleval",
        file_encoding=args.file_encoding,
        max_seq_length=args.max_seq_length,
        return_entity_level_metrics=True,
    )
    run_args = RunArguments(results_table=args.results_table)
    training_args = TrainingArguments(
        output_dir=args.output_dir,
        do_predict=True,
        per_device_eval_batch_size=args.batch_size,
        use_cpu=args.use_cpu,
        report_to="none",
    )
    setup_logging(training_args, logger.name)
    return run_ner(model_args, data_args, run_args, training_args)


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    (args,) = parse_args((EvalConllArguments,), argv)
    if args.predictions_file is not None:
        return evaluate_predictions_file(args)
    return evaluate_model(args)


if __name__ == "__main__":
    run_main(main)
