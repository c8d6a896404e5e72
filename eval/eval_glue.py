#!/usr/bin/env python
"""Evaluate on a GLUE task: a saved model (run on a dev or test file), or a predictions file against the gold labels.

A saved model (hf_models' or transformers', any folder or hub name with a sequence-classification head); the
metrics go to OUTPUT_DIR/eval_results.json, the predictions to OUTPUT_DIR/eval_predictions_<task>.tsv (GLUE
submission format) and a row to the results table (`--results_table`, default OUTPUT_DIR/results.md):

    python eval/eval_glue.py --model_name_or_path /tmp/minilm-rte --task_name rte \
        --validation_file ../shared/data/glue/RTE/dev.tsv --output_dir /tmp/minilm-rte-eval --use_cpu

A model trained on another task with the same kind of labels, mapped by name (an MRPC model scored on QQP):

    python eval/eval_glue.py --model_name_or_path /tmp/minilm-mrpc --task_name qqp \
        --validation_file ../shared/data/glue/QQP/validation-00000-of-00001.parquet \
        --label_mapping not_equivalent=not_duplicate,equivalent=duplicate --output_dir /tmp/mrpc-on-qqp --use_cpu

A predictions file (`index<TAB>prediction`, the GLUE submission format, header optional) against a labelled file:

    python eval/eval_glue.py --task_name rte --predictions_file preds.tsv \
        --validation_file ../shared/data/glue/RTE/dev.tsv --output_dir /tmp/rte-scores

Your own data: leave out --task_name and give the columns as run_glue does (--text_column_names,
--label_column_name, ...); a model keeps its own labels (config.id2label, matched to the data's by name):

    python eval/eval_glue.py --model_name_or_path /tmp/nsmc-model --validation_file ratings_test.txt \
        --output_dir /tmp/nsmc-eval --use_cpu

Every `transformers.Seq2SeqTrainingArguments` flag works for the model mode (batch size, --bf16, --use_cpu, ...; a T5
model generates its label words with --generation_num_beams and --generation_max_length).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from transformers import Seq2SeqTrainingArguments

from hf_models.cli_utils import (
    InputError,
    append_results_row,
    input_paths,
    parse_args,
    prepare_output_dir,
    releases_output_dirs,
    run_main,
    setup_logging,
    write_json,
)
from hf_models.tasks.glue import (
    GlueDataArguments,
    read_raw_table,
    run_glue,
    score_predictions_file,
    user_task,
)
from hf_models.trainer_utils import ModelArguments, RunArguments

logger = logging.getLogger("hf_models.eval_glue")


@dataclass
class EvalArguments:
    """What to evaluate: a saved model, or a predictions file."""

    model_name_or_path: str | None = field(default=None, metadata={"help": "The model to evaluate (folder or hub)."})
    implementation: str = field(default="auto", metadata={"help": "auto, hf_models or transformers (see run_glue)."})
    predictions_file: str | None = field(
        default=None, metadata={"help": "Score this predictions file (index<TAB>prediction) instead of a model."}
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow code from the checkpoint folder."})


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    eval_args, data_args, run_args, training_args = parse_args(
        (EvalArguments, GlueDataArguments, RunArguments, Seq2SeqTrainingArguments), argv
    )
    setup_logging(training_args, logger.name)
    if (eval_args.model_name_or_path is None) == (eval_args.predictions_file is None):
        raise ValueError("give exactly one of --model_name_or_path (evaluate a model) and --predictions_file")
    if eval_args.model_name_or_path is not None:
        training_args.do_train = False
        if not training_args.do_predict:
            training_args.do_eval = True
        model_args = ModelArguments(model_name_or_path=eval_args.model_name_or_path,
                                    implementation=eval_args.implementation,
                                    trust_remote_code=eval_args.trust_remote_code)
        return run_glue(model_args, data_args, run_args, training_args)

    prepare_output_dir(training_args.output_dir, run_args.overwrite_output_dir,
                       inputs=[eval_args.predictions_file, *input_paths(data_args)])
    files = data_args.split_files()
    task = data_args.task
    if task is None:  # your own data: its labels and columns from the labelled file(s) scored against
        tables = {split: read_raw_table(path) for split, path in files.items() if split.startswith("validation")}
        if not tables:
            raise InputError("--predictions_file needs the labelled file to score against: --validation_file")
        task = user_task(tables, data_args, labelled_splits=list(tables))
        if task.is_multi_label:
            raise InputError(f"--predictions_file: multi-label predictions are scored by evaluating the model "
                             f"(--model_name_or_path), not from a file ({next(iter(tables.values())).path})")
    results = {}
    for split, prefix in (("validation", "eval"), ("validation_matched", "eval"),
                          ("validation_mismatched", "eval_mismatched")):
        if split not in files:
            continue
        scores = score_predictions_file(eval_args.predictions_file, files[split], task,
                                        mismatched=split.endswith("mismatched"))
        results.update({f"{prefix}_{k}": v for k, v in scores.items()})
        append_results_row(
            run_args.results_table or os.path.join(training_args.output_dir, "results.md"),
            {"task": task.name, "split": split, "model": eval_args.predictions_file,
             "implementation": "predictions file", "examples": "", "metrics": scores,
             "output_dir": training_args.output_dir},
        )
        logger.info(f"{split}: {scores}")
    if not results:
        raise ValueError("--predictions_file needs the labelled file to score against: --validation_file or --data_dir")
    write_json(os.path.join(training_args.output_dir, "eval_results.json"), results)
    return results


if __name__ == "__main__":
    run_main(main)
