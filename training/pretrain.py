#!/usr/bin/env python
"""Pretrain from scratch (or continue pretraining) with the objective `--objective` names: `mlm_nsp` (BERT's masked LM
+ next sentence prediction, Devlin et al. 2019; the default), `mlm` (masked LM alone on whole-sentence segments) or
`span_corruption` (T5, Raffel et al. 2020).

A thin command line over `hf_models.tasks.pretraining.run_pretraining`, in the manner of transformers'
`examples/pytorch` scripts: every `transformers.TrainingArguments` flag works, the output folder is resumed from its
last checkpoint, and the results are written as JSON (`train_results.json`, `eval_results.json`, `all_results.json`).

Train a WordPiece vocabulary and a tiny BERT on WikiText-2 (a document per " = Title = " heading), evaluating on the
test split (eval MLM loss/accuracy and NSP accuracy) at the start and every 400 steps, with TensorBoard logs under
OUTPUT_DIR/runs. About 4 minutes on 2 CPU cores: eval MLM loss 9.01 -> 5.93 (perplexity 8189 -> 378), MLM accuracy
0.0% -> 16.2%; NSP accuracy stays at chance (0.51 -> 0.50) at this budget, as the tiny model first learns MLM:

    python training/pretrain.py \
        --train_files ../shared/data/wikitext2/valid.txt --validation_files ../shared/data/wikitext2/test.txt \
        --document_separator wikitext --vocab_size 8000 --max_seq_length 128 --dupe_factor 5 \
        --hidden_size 128 --num_hidden_layers 2 --num_attention_heads 2 --intermediate_size 512 \
        --do_train --do_eval --output_dir /tmp/bert-tiny-wikitext2 --use_cpu --seed 0 \
        --per_device_train_batch_size 32 --per_device_eval_batch_size 64 --max_eval_samples 1000 \
        --learning_rate 1e-3 --warmup_steps 100 --max_steps 1200 --logging_steps 50 \
        --eval_strategy steps --eval_steps 400 --eval_on_start --save_steps 400 --save_total_limit 2 \
        --report_to tensorboard

`--objective span_corruption` pretrains a new T5 (hf_t5, `AutoModelForSeq2SeqLM`): `--max_seq_length` is the corrupted
input's length (512 comes from blocks of 568 tokens and gives targets of 114), `--noise_density` 0.15 and
`--mean_noise_span_length` 3 as T5; without a tokenizer it trains a SentencePiece Unigram vocabulary of `--vocab_size`
tokens whose last `--extra_ids` (100) are the sentinels, `<extra_id_0>` the very last; the size flags give d_model,
the layers of the encoder and of the decoder, the heads and d_ff. The evaluation set is corrupted once; it reports the
targets' loss, perplexity and token accuracy (sentinels and EOS included). About 4 minutes on 2 CPU cores: eval target
loss 10.67 -> 4.89 (perplexity 43,000 -> 133), target accuracy 0.2% -> 24.7%:

    python training/pretrain.py --objective span_corruption \
        --train_files ../shared/data/wikitext2/valid.txt --validation_files ../shared/data/wikitext2/test.txt \
        --document_separator wikitext --vocab_size 8000 --max_seq_length 128 \
        --hidden_size 128 --num_hidden_layers 2 --num_attention_heads 2 --intermediate_size 512 \
        --do_train --do_eval --output_dir /tmp/t5-tiny-wikitext2 --use_cpu --seed 0 \
        --per_device_train_batch_size 32 --per_device_eval_batch_size 64 --max_eval_samples 500 \
        --learning_rate 1e-3 --warmup_steps 100 --max_steps 600 --logging_steps 50 \
        --eval_strategy steps --eval_steps 200 --eval_on_start --save_steps 200 --save_total_limit 2

Run the same command again and it resumes from the last checkpoint in OUTPUT_DIR; it refuses to write into a
non-empty folder that holds no checkpoint unless given --overwrite_output_dir. Continue pretraining a checkpoint
with `--model_name_or_path PATH` (its tokenizer is used). Arguments can also come from one JSON file:
`python training/pretrain.py args.json`.

Several processes (GPUs, or CPU processes over gloo), one data-parallel replica each:

    torchrun --nproc_per_node 2 training/pretrain.py ARGS...
    accelerate launch --multi_gpu --num_processes 2 training/pretrain.py ARGS...

(On CPU, `accelerate launch --cpu --num_processes 2` silently runs a single process: use `--multi_gpu`.)
"""

from __future__ import annotations

from transformers import TrainingArguments

from hf_models.cli_utils import (
    ResultsArguments,
    parse_args,
    releases_output_dirs,
    run_main,
    setup_logging,
)
from hf_models.tasks.pretraining import (
    PretrainingDataArguments,
    PretrainingModelArguments,
    run_pretraining,
)


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, run_args, training_args = parse_args(
        (PretrainingModelArguments, PretrainingDataArguments, ResultsArguments, TrainingArguments), argv
    )
    setup_logging(training_args, "hf_models.pretrain")
    return run_pretraining(model_args, data_args, training_args, run_args)


if __name__ == "__main__":
    run_main(main)
