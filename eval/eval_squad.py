#!/usr/bin/env python
"""Score SQuAD v1.1 / v2.0 answers: a predictions file (like the official evaluation scripts), or a saved model.

1. A predictions file ({question id: answer text}, e.g. eval_predictions.json of training/run_qa.py) against a SQuAD
   file, with the official scripts' semantics (the local `squad` / `squad_v2` metrics). SQuAD 2.0 data (some
   questions without an answer) is detected; `--na_prob_file` (e.g. eval_null_odds.json) adds the no-answer
   threshold and the best_exact/best_f1 search:

       python eval/eval_squad.py --predictions_file runs/qa/eval_predictions.json \\
           --data_file ../shared/data/squad/dev-v1.1.json
       python eval/eval_squad.py --predictions_file runs/qa2/eval_predictions.json \\
           --data_file ../shared/data/squad/dev-v2.0.json --na_prob_file runs/qa2/eval_null_odds.json

   The scores are printed as JSON, written to --output_file (default PREDICTIONS_scores.json next to the
   predictions) and appended as a row to --results_table (default results.md next to the output file).

   Korean data (KorQuAD 1.0, or any SQuAD-format file in Korean): `--metric korquad` scores like the official
   KorQuAD 1.0 script (character-level F1, its normalisation of quotes and brackets), so that an answer that only
   adds a particle ("서울에서" for "서울") is not worth 0; the scores go to PREDICTIONS_korquad_scores.json and the
   results row names the korquad metric:

       python eval/eval_squad.py --predictions_file runs/ko/eval_predictions.json \\
           --data_file KorQuAD_v1.0_dev.json --metric korquad

2. A saved model (any checkpoint with a QA head): answers the questions of --data_file and scores them, writing
   eval_results.json, eval_predictions.json, eval_nbest_predictions.json (and eval_null_odds.json) to --output_dir
   and a row to OUTPUT_DIR/results.md. Every flag of training/run_qa.py but --do_train works here:

       python eval/eval_squad.py --model_name_or_path runs/squad-minilm-35-articles \\
           --data_file runs/squad_split/validation.json --max_seq_length 256 --doc_stride 128 \\
           --per_device_eval_batch_size 64 --use_cpu --output_dir runs/squad-minilm-35-articles/eval
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser, Seq2SeqTrainingArguments

from hf_models.cli_utils import (
    parse_args,
    releases_output_dirs,
    run_main,
    setup_logging,
    write_json,
)
from hf_models.tasks.squad import (
    QA_METRICS,
    DataArguments,
    evaluate_predictions_file,
    metric_name,
    read_squad_file,
    record_file_results,
    run_qa,
    unanswerable_ids,
)
from hf_models.trainer_utils import ModelArguments, RunArguments


@dataclass
class PredictionsFileArguments:
    """Score a predictions file against a SQuAD file, like the official evaluation scripts."""

    predictions_file: str = field(metadata={"help": "JSON {question id: answer text} (\"\" = no answer in v2.0)."})
    data_file: str = field(metadata={"help": "SQuAD data with the gold answers (official json, flat json/jsonl/csv)."})
    na_prob_file: str | None = field(
        default=None, metadata={"help": "SQuAD 2.0: JSON {question id: no-answer score}, e.g. eval_null_odds.json."}
    )
    na_prob_thresh: float = field(
        default=1.0, metadata={"help": "SQuAD 2.0: a no-answer score above this counts as predicting no answer."}
    )
    version_2_with_negative: bool | None = field(
        default=None, metadata={"help": "Score as SQuAD 2.0 (default: when the data has unanswerable questions)."}
    )
    metric: str = field(
        default="squad",
        metadata={"help": "'squad' (the official SQuAD v1.1 / v2.0 scripts, word-level F1) or 'korquad' (the "
                          "official KorQuAD 1.0 script, character-level F1, for Korean).", "choices": list(QA_METRICS)},
    )
    output_file: str | None = field(
        default=None, metadata={"help": "Where the scores go (default: PREDICTIONS_scores.json next to predictions; "
                                        "PREDICTIONS_korquad_scores.json with --metric korquad)."}
    )
    results_table: str | None = field(
        default=None, metadata={"help": "Markdown results table to append a row to (default: results.md next to the "
                                        "output file)."}
    )


def evaluate_file(args: PredictionsFileArguments) -> dict:
    """Score the predictions file, print the scores as JSON, write them and append a results row."""
    metrics = evaluate_predictions_file(args.predictions_file, args.data_file, args.na_prob_file,
                                        args.na_prob_thresh, args.version_2_with_negative, args.metric)
    predictions = Path(args.predictions_file)
    examples = read_squad_file(args.data_file)
    v2 = bool(unanswerable_ids(examples)) if args.version_2_with_negative is None else args.version_2_with_negative
    task = metric_name(v2, args.metric)
    # the squad scores keep their name; another metric's get its own file, so that both can sit side by side
    suffix = "_scores.json" if args.metric == "squad" else f"_{args.metric}_scores.json"
    output_file = Path(args.output_file or predictions.with_name(f"{predictions.stem}{suffix}"))
    write_json(output_file, metrics)
    table = args.results_table or output_file.with_name("results.md")
    record_file_results(table, task, args.data_file, args.predictions_file, len(examples), metrics,
                        str(output_file.parent))
    print(json.dumps(metrics, indent=2))
    print(f"{task} scores written to {output_file}; row appended to {table}", file=sys.stderr)
    return metrics


def evaluate_model(argv: list[str]) -> dict:
    """Answer and score the questions of --data_file with a saved model (run_qa with --do_eval only)."""
    if "--do_train" in argv:
        raise SystemExit("eval_squad.py does not train: use training/run_qa.py --do_train")
    if not any(a == "--output_dir" or a.startswith("--output_dir=") for a in argv):
        raise SystemExit("eval_squad.py: give --output_dir for the scores and the predictions")
    argv = ["--validation_file" if a == "--data_file" else a.replace("--data_file=", "--validation_file=", 1)
            for a in argv]
    if "--do_eval" not in argv and "--do_predict" not in argv:
        argv.append("--do_eval")
    model_args, data_args, run_args, training_args = parse_args(
        (ModelArguments, DataArguments, RunArguments, Seq2SeqTrainingArguments), argv
    )
    setup_logging(training_args, "hf_models.eval_squad")
    return run_qa(model_args, data_args, run_args, training_args)


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        print("Arguments for a predictions file:\n")
        HfArgumentParser(PredictionsFileArguments).print_help()
        print("\nArguments for a saved model (--data_file is --validation_file):\n")
        HfArgumentParser((ModelArguments, DataArguments, RunArguments, Seq2SeqTrainingArguments)).print_help()
        return {}
    if any(a == "--predictions_file" or a.startswith("--predictions_file=") for a in argv):
        (args,) = HfArgumentParser(PredictionsFileArguments).parse_args_into_dataclasses(args=argv)
        for path in (args.predictions_file, args.data_file, args.na_prob_file):
            if path is not None and not os.path.isfile(path):
                raise SystemExit(f"eval_squad.py: file not found: {path}")
        return evaluate_file(args)
    return evaluate_model(argv)


if __name__ == "__main__":
    run_main(main)
