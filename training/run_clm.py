#!/usr/bin/env python
"""Train a causal language model (GPT) from scratch, or fine-tune / continue pretraining one, on raw text, in the
manner of transformers' `examples/pytorch/language-modeling/run_clm.py`, for hf_models' GPT and for transformers'
own causal LMs.

A thin command line over `hf_models.tasks.causal_lm.run_clm`: every `transformers.TrainingArguments` flag works,
the output folder is resumed from its last checkpoint (a non-empty folder without one is refused), the metrics are
written as JSON (`train_results.json`, `eval_results.json` with eval_loss, eval_perplexity = exp(eval_loss) and
eval_accuracy, `all_results.json`) and each evaluation appends a row to a Markdown results table (`--results_table`,
default OUTPUT_DIR/results.md). The texts are every non-empty line of the files, each followed by the eos token,
concatenated and cut into blocks of `--block_size` tokens.

A tiny GPT-2 with a byte-level BPE vocabulary learned on the shipped WikiText-2 sample, evaluated on WikiText-2 test,
TensorBoard logs under OUTPUT_DIR/runs:

    python training/run_clm.py --train_file hf_models/data/wikitext2_sample.txt \
        --validation_file ../shared/data/wikitext2/test.txt \
        --train_tokenizer --vocab_size 4000 --model_type gpt --architecture gpt2 \
        --config_overrides "n_embd=128,n_layer=2,n_head=2,n_positions=128" --block_size 128 \
        --do_train --do_eval --max_steps 300 --learning_rate 1e-3 --warmup_steps 30 \
        --per_device_train_batch_size 16 --per_device_eval_batch_size 32 --max_eval_samples 200 \
        --logging_steps 50 --eval_strategy steps --eval_steps 100 --save_steps 100 --save_total_limit 2 \
        --output_dir /tmp/gpt-tiny-wikitext2 --use_cpu --seed 0 --report_to tensorboard

Word-level PTB (`--train_tokenizer --tokenizer_type word`: whitespace words, <unk>, <eos> after each line), so the
eval perplexity is per word like the n-gram and LSTM results on PTB:

    python training/run_clm.py --train_file ../shared/data/ptb/ptb.train.txt \
        --validation_file ../shared/data/ptb/ptb.valid.txt --train_tokenizer --tokenizer_type word \
        --model_type gpt --architecture llama \
        --config_overrides "n_embd=256,n_layer=4,n_head=4,n_kv_head=2,n_inner=688,n_positions=256" --block_size 256 \
        --do_train --do_eval --num_train_epochs 10 --learning_rate 1e-3 --warmup_steps 200 \
        --per_device_train_batch_size 32 --eval_strategy epoch --save_strategy epoch --save_total_limit 2 \
        --output_dir /tmp/gpt-ptb --use_cpu --seed 0

Fine-tune a saved model (its tokenizer; `--implementation hf_models|transformers` picks whose classes run it, e.g. a
transformers GPT-2 or Llama checkpoint through hf_models' GPT): `--model_name_or_path PATH`. With the real GPT-2
tokenizer on a new model: `--tokenizer_name ../shared/data/tokenizers/gpt2`. A hub dataset (online):
`--dataset_name Salesforce/wikitext --dataset_config_name wikitext-2-raw-v1`.

Several processes (GPUs, or CPU processes over gloo), one data-parallel replica each:

    torchrun --nproc_per_node 2 training/run_clm.py ARGS...

Arguments can also come from one JSON file: `python training/run_clm.py args.json`.
"""

from __future__ import annotations

from hf_models.cli_utils import releases_output_dirs, run_main
from hf_models.tasks.causal_lm import run_clm_cli


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    return run_clm_cli(argv)


if __name__ == "__main__":
    run_main(main)
