#!/usr/bin/env python
"""Train and evaluate hf_models' Seq2Seq (LSTM encoder-decoder with attention) for translation from parallel text.

A thin command line over `hf_models.tasks.translation.run_translation`, in the manner of transformers'
`examples/pytorch/translation/run_translation.py`: every `transformers.Seq2SeqTrainingArguments` flag works, the
output folder is resumed from its last checkpoint, and the results are written as JSON (`train_results.json`,
`eval_results.json`, `predict_results.json`, `all_results.json`), with each scored split's translations one a line
(`eval_generated_predictions.txt` for validation, `generated_predictions.txt` for test), its BLEU by source length
(`{eval,predict}_bleu_by_length.json`) and a row in OUTPUT_DIR/results.md.

Data: two line-aligned files per split, one sentence a line, plain or .gz. Source and target tokenizers (BPE or
word-level, `--lowercase`, `--source_vocab_size`/`--target_vocab_size`, `--min_frequency`) are trained with the
tokenizers library on the training pair and saved in OUTPUT_DIR/source_tokenizer and OUTPUT_DIR/target_tokenizer, or
loaded with `--source_tokenizer`/`--target_tokenizer` (a resumed run, or `--model_name_or_path` of a saved run, uses
the tokenizers saved with it). Trainer also saves the source tokenizer (the model's input side) at the top of
OUTPUT_DIR and in each checkpoint. BLEU is sacreBLEU on detokenized translations.

English -> German on Multi30k (Luong-style "general" attention, beam search in evaluation):

    python training/run_translation.py \
        --train_source_file ../shared/data/multi30k/train.en.gz --train_target_file ../shared/data/multi30k/train.de.gz \
        --validation_source_file ../shared/data/multi30k/val.en.gz \
        --validation_target_file ../shared/data/multi30k/val.de.gz \
        --test_source_file ../shared/data/multi30k/test_2016_flickr.en.gz \
        --test_target_file ../shared/data/multi30k/test_2016_flickr.de.gz \
        --source_lang en --target_lang de --tokenizer_model bpe --source_vocab_size 8000 --target_vocab_size 8000 \
        --attention_type general --embedding_size 256 --hidden_size 512 --encoder_layers 2 --decoder_layers 2 \
        --bidirectional_encoder --dropout 0.3 --do_train --do_eval --do_predict --predict_with_generate \
        --generation_num_beams 5 --generation_max_length 64 --per_device_train_batch_size 64 \
        --learning_rate 1e-3 --num_train_epochs 10 --eval_strategy epoch --save_strategy epoch \
        --save_total_limit 2 --logging_steps 50 --seed 42 --output_dir runs/seq2seq-multi30k-en-de

Run the same command again and it resumes from the last checkpoint in OUTPUT_DIR (with the tokenizers saved there);
it refuses to train into a non-empty folder that holds no checkpoint unless given --overwrite_output_dir. Score the
saved model with `eval/eval_translation.py` (beam size, length penalty, BLEU by sentence length, a plot).
"""

from __future__ import annotations

from transformers import Seq2SeqTrainingArguments

from hf_models.cli_utils import (
    parse_args,
    releases_output_dirs,
    run_main,
    setup_logging,
)
from hf_models.tasks.translation import (
    TranslationDataArguments,
    TranslationModelArguments,
    run_translation,
)
from hf_models.trainer_utils import RunArguments


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, run_args, training_args = parse_args(
        (TranslationModelArguments, TranslationDataArguments, RunArguments, Seq2SeqTrainingArguments), argv
    )
    setup_logging(training_args, "hf_models.run_translation")
    return run_translation(model_args, data_args, run_args, training_args)


if __name__ == "__main__":
    run_main(main)
