"""GLUE as text-to-text (Raffel et al. 2020, section 2.4 and appendix D): run_glue's path for encoder-decoder language
models (hf_models' T5, transformers' T5, any `config.is_encoder_decoder` checkpoint with an AutoModelForSeq2SeqLM head).

Every task becomes "text in, text out", as the t5 library's GLUE preprocessors write it:

- the input is the task name followed by each text field as `field: text`, the fields in alphabetical order (the t5
  library sorts them): "sst2 sentence: ...", "mrpc sentence1: ... sentence2: ...", "mnli hypothesis: ... premise: ...",
  "qnli question: ... sentence: ...", "qqp question1: ... question2: ...";
- the target is the label as a word, the class names of the task ("positive"/"negative", "acceptable"/"unacceptable",
  "equivalent"/"not_equivalent", "duplicate"/"not_duplicate", "entailment"/"neutral"/"contradiction",
  "entailment"/"not_entailment"); for STS-B the score rounded to the nearest 0.2 and written with one decimal ("3.8"),
  computed as the t5 library computes it (float32, round half to even: `tf.round(label * 5) / 5`).

The model is fine-tuned by `Seq2SeqTrainer` on the targets' token cross-entropy and scored by generating (greedy unless
`--generation_num_beams`, at most as many tokens as the longest label word). The generated text is mapped back to a
label (exact match after stripping; STS-B: a number in [0, 5]) and scored by the same `compute_glue_metrics` as every
other family. A generation that is no label counts as wrong, as in the t5 library's `f1_score_with_invalid`: it is
scored as the label farthest from the gold one (the other class of a binary task, the next class of MNLI, 0.0 or 5.0
for STS-B, whichever is farther from the gold score); `{prefix}_invalid_predictions` and `{prefix}_invalid_fraction`
report how many, and the predictions file holds each raw generation beside the label it was scored as. An unlabelled
(test) split has no gold label: an invalid generation is written as the task's first label (0.0 for STS-B) there, and
counted the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..cli_utils import InputError, json_safe, write_json
from ..trainer_utils import (
    InOrderEvaluationMixin,
    ModelArguments,
    RunArguments,
    SafeSavingMixin,
    dataset_rows,
    implementation_name,
    load_model,
    load_tokenizer,
    record_results,
)
from .glue import (
    GlueDataArguments,
    GlueTask,
    compute_glue_metrics,
    parse_label_mapping,
    write_glue_predictions,
)

logger = logging.getLogger("hf_models.tasks.text_to_text")

IGNORE_INDEX = -100
STSB_STEP = 0.2  # STS-B scores become text on a grid of 0.2: 26 "classes" 0.0, 0.2, ..., 5.0
STSB_TEXTS = tuple(f"{i / 5:.1f}" for i in range(26))


# ----------------------------------------------------------------------------------------------------------------------
# 1. Inputs and targets as the t5 library writes them
# ----------------------------------------------------------------------------------------------------------------------
def is_text_to_text(config) -> bool:
    """Whether run_glue fine-tunes this checkpoint text-to-text: an encoder-decoder language model (T5)."""
    return bool(getattr(config, "is_encoder_decoder", False))


def input_text(task: GlueTask, fields: dict[str, str]) -> str:
    """The task prefix format of the t5 library's `glue` preprocessor: the task name, then `field: text` for each text
    field in alphabetical order, joined by spaces ("mnli hypothesis: ... premise: ...")."""
    parts = [task.name]
    for name in sorted(task.text_fields):
        parts += [f"{name}:", fields[name]]
    return " ".join(parts)


def stsb_text(score: float) -> str:
    """An STS-B score as T5's target: rounded to the nearest 0.2 and written with one decimal ("3.8"), in float32 with
    round half to even, as `tf.as_string(tf.round(label * 5) / 5, precision=1)` on the float32 label."""
    value = np.round(np.float32(score) * np.float32(5)) / np.float32(5)
    return f"{float(value):.1f}"


def label_words(task: GlueTask) -> tuple[str, ...]:
    """Every target text of the task: its class names by id, or the 26 scores 0.0 ... 5.0 of STS-B."""
    if task.is_regression:
        return STSB_TEXTS
    if not task.label_names:
        raise InputError(f"GLUE task {task.name} has no label names: text-to-text fine-tuning needs a word per label")
    return tuple(task.label_names)


def label_text(task: GlueTask, label: float) -> str:
    """The target text of one gold label (a class id, or an STS-B score)."""
    if task.is_regression:
        return stsb_text(label)
    label = int(label)
    if not 0 <= label < task.num_labels:
        raise ValueError(f"{task.name} label id {label} has no label word (0..{task.num_labels - 1})")
    return task.label_names[label]


def parse_generated(task: GlueTask, text: str, label_mapping: dict[str, str] | None = None) -> float | int | None:
    """The label a generated text names, or None when it names none: exact match of a label word after stripping
    (a model label of --label_mapping too); for STS-B a number in [0, 5]."""
    text = text.strip()
    if task.is_regression:
        try:
            score = float(text)
        except ValueError:
            return None
        return score if math.isfinite(score) and 0.0 <= score <= 5.0 else None
    if label_mapping and text in label_mapping:
        text = label_mapping[text]
    if text in task.label_names:
        return task.label_names.index(text)
    return None


def wrong_label(task: GlueTask, gold: float | None) -> float | int:
    """What an invalid generation is scored as: the label farthest from the gold one, so that it counts as wrong (the
    other class of a binary task, as the t5 library's `f1_score_with_invalid`; the next class of MNLI; 0.0 or 5.0 for
    STS-B, whichever is farther from the gold score). Without a gold label (a test split): the first label, 0.0."""
    if task.is_regression:
        return 0.0 if gold is None or gold == -1 or gold >= 2.5 else 5.0
    if gold is None or gold == -1:
        return 0
    return (int(gold) + 1) % task.num_labels


def map_generations(task: GlueTask, texts: list[str], gold=None,
                    label_mapping: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(labels to score, valid mask) of generated texts; invalid ones become `wrong_label` of their gold label."""
    labels, valid = [], []
    for i, text in enumerate(texts):
        label = parse_generated(task, text, label_mapping)
        valid.append(label is not None)
        labels.append(label if label is not None else wrong_label(task, None if gold is None else gold[i]))
    dtype = np.float64 if task.is_regression else np.int64
    return np.asarray(labels, dtype=dtype), np.asarray(valid, dtype=bool)


# ----------------------------------------------------------------------------------------------------------------------
# 2. The tokenizer's side: label words as token ids, generated ids as text
# ----------------------------------------------------------------------------------------------------------------------
class LabelTargets:
    """The token ids of every label word (each ends with EOS), checked to come back as the same text, and the
    generation length they need."""

    def __init__(self, task: GlueTask, tokenizer, source: str, vocab_size: int | None = None):
        self.task = task
        if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
            missing = " and no ".join(name for name in ("pad", "EOS")
                                      if getattr(tokenizer, f"{name.lower()}_token_id") is None)
            raise InputError(f"{source}: the tokenizer has no {missing} token; text-to-text fine-tuning pads the label "
                             "words and ends them with EOS (a T5 tokenizer has <pad> and </s>)")
        self.ids: dict[str, list[int]] = {}
        for word in label_words(task):
            ids = list(tokenizer(text_target=word)["input_ids"])
            if not ids or ids[-1] != tokenizer.eos_token_id:  # a tokenizer that does not end texts with EOS
                ids.append(tokenizer.eos_token_id)
            back = decode_ids(tokenizer, ids).strip()
            unknown = tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids
            if back != word or unknown:
                raise InputError(
                    f"{source}: the tokenizer cannot encode {task.name}'s label word {word!r} (it comes back as "
                    f"{back!r}); text-to-text fine-tuning generates the label as text, so the tokenizer must spell "
                    "every label word exactly (use a T5 tokenizer, or one trained with the label words)"
                )
            if vocab_size is not None and max(ids) >= vocab_size:
                raise InputError(f"{source}: the tokenizer encodes the label word {word!r} with token id {max(ids)}, "
                                 f"outside the model's vocabulary of {vocab_size}")
            self.ids[word] = ids
        # generate() counts the decoder start token in max_length
        self.generation_max_length = 1 + max(len(ids) for ids in self.ids.values())

    def __call__(self, label: float) -> list[int]:
        return self.ids[label_text(self.task, label)]


def decode_ids(tokenizer, ids, decoder_start_token_id: int | None = None) -> str:
    """The text of one generated row: up to its first EOS, without padding (-100 too) or the decoder start token.
    Other special tokens stay in the text (a sentinel such as <extra_id_0> is no label word)."""
    row = [int(i) for i in ids]
    if row and decoder_start_token_id is not None and row[0] == decoder_start_token_id:
        row = row[1:]
    if tokenizer.eos_token_id in row:
        row = row[: row.index(tokenizer.eos_token_id)]
    row = [i for i in row if i >= 0 and i != tokenizer.pad_token_id]
    return tokenizer.decode(row, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def decode_generations(tokenizer, generated, decoder_start_token_id: int | None = None) -> list[str]:
    """The texts of generated id rows (Seq2SeqTrainer's predictions with predict_with_generate)."""
    if isinstance(generated, tuple):
        generated = generated[0]
    return [decode_ids(tokenizer, row, decoder_start_token_id) for row in np.asarray(generated)]


class TextToTextScorer:
    """`compute_metrics` of Seq2SeqTrainer (predict_with_generate) for one labelled split, in dataset order: the GLUE
    metric of the labels the generations name, plus how many named none."""

    def __init__(self, task: GlueTask, tokenizer, gold, metric_config: str, decoder_start_token_id: int | None,
                 label_mapping: dict[str, str] | None = None):
        self.task, self.tokenizer, self.gold = task, tokenizer, list(gold)
        self.metric_config, self.decoder_start_token_id = metric_config, decoder_start_token_id
        self.label_mapping = label_mapping

    def __call__(self, eval_prediction) -> dict[str, float]:
        texts = decode_generations(self.tokenizer, dataset_rows(eval_prediction.predictions, len(self.gold)),
                                   self.decoder_start_token_id)
        if len(texts) != len(self.gold):
            raise ValueError(f"{len(texts)} generations for {len(self.gold)} examples")
        return score_generations(self.task, self.metric_config, texts, self.gold, self.label_mapping)[0]


def score_generations(task: GlueTask, metric_config: str, texts: list[str], gold,
                      label_mapping: dict[str, str] | None = None) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """(metrics, labels scored, valid mask): compute_glue_metrics of the mapped labels, invalid_predictions (count)
    and invalid_fraction."""
    labels, valid = map_generations(task, texts, gold, label_mapping)
    metrics = dict(compute_glue_metrics(task, metric_config, labels, list(gold)))
    metrics.update(invalid_counts(valid))
    return metrics, labels, valid


def invalid_counts(valid: np.ndarray) -> dict[str, float]:
    invalid = int((~valid).sum())
    return {"invalid_predictions": invalid, "invalid_fraction": invalid / len(valid) if len(valid) else 0.0}


# ----------------------------------------------------------------------------------------------------------------------
# 3. The run
# ----------------------------------------------------------------------------------------------------------------------
def seq2seq_arguments(training_args, generation_max_length: int, target: str = "label word"):
    """The run's arguments as `Seq2SeqTrainingArguments` with generation in evaluation: `predict_with_generate` on,
    `generation_max_length` the longest target's length (`target` names it in the error when the flag is shorter)
    and `generation_num_beams` 1 (greedy) unless given.

    A copy: training/run_glue.py parses Seq2SeqTrainingArguments; plain TrainingArguments (eval/eval_glue.py, code)
    become the subclass, which only adds fields (so no __post_init__ is run again on values it already processed)."""
    from transformers import Seq2SeqTrainingArguments

    args = copy.copy(training_args)
    if not isinstance(args, Seq2SeqTrainingArguments):
        args.__class__ = Seq2SeqTrainingArguments
        for f in dataclasses.fields(Seq2SeqTrainingArguments):
            if f.name not in vars(args):
                setattr(args, f.name, f.default)
    if not args.predict_with_generate:
        logger.info("Text-to-text: evaluation generates the label words (predict_with_generate on)")
        args.predict_with_generate = True
    if args.generation_max_length is None:
        args.generation_max_length = generation_max_length
    elif args.generation_max_length < generation_max_length:
        raise InputError(f"--generation_max_length {args.generation_max_length} is shorter than the longest {target} "
                         f"({generation_max_length} tokens with the decoder start token and EOS): no generation "
                         "could name it")
    if args.generation_num_beams is None:
        args.generation_num_beams = 1
    return args


def _check_flags(data_args: GlueDataArguments, config, source: str, do_train: bool) -> dict[str, str]:
    """The GPT-only flags are refused for a text-to-text model; the label mapping (evaluation only) is returned."""
    if data_args.input_transformation == "gpt":
        raise InputError(f"--input_transformation gpt is GPT-1's input format, but {source} is an encoder-decoder "
                         f"({config.model_type}) fine-tuned text-to-text with T5's task prefixes; leave it at auto")
    if data_args.lm_loss_coef > 0:
        raise InputError(f"--lm_loss_coef {data_args.lm_loss_coef}: the auxiliary LM loss is GPT-1's fine-tuning of a "
                         f"GPT, but {source} is a {config.model_type} encoder-decoder fine-tuned text-to-text; leave "
                         "--lm_loss_coef at 0")
    mapping = parse_label_mapping(data_args.label_mapping)
    task = data_args.task
    if mapping and do_train:
        raise InputError("--label_mapping is for evaluating a model trained on another task, not for training")
    if mapping and task.is_regression:
        raise InputError("--label_mapping maps label words of a classification task; stsb is scored by its numbers")
    unknown = sorted(d for d in mapping.values() if d not in task.label_names)
    if unknown:
        raise InputError(f"--label_mapping: {unknown} are not {task.name} labels ({list(task.label_names)})")
    return mapping


def run_text_to_text(model_args: ModelArguments, data_args: GlueDataArguments, run_args: RunArguments, training_args,
                     config, raw, eval_splits: list[tuple[str, str]], test_splits: list[tuple[str, str]],
                     last_checkpoint: str | None) -> dict[str, float]:
    """run_glue for an encoder-decoder: fine-tune text-to-text (--do_train), score the generated label words on dev
    (--do_eval) and write the generated test labels (--do_predict). Same files as the other families: the model,
    `{train,eval,predict}_results.json`, `all_results.json`, the predictions files (with the raw generations in a
    `generated` column) and a results-table row per evaluated split. `raw`, the splits and the checkpoint to resume
    from are run_glue's."""
    from transformers import (
        AutoModelForSeq2SeqLM,
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
    )

    task = data_args.task
    source = model_args.model_name_or_path
    label_mapping = _check_flags(data_args, config, source, training_args.do_train)
    for split in ["train"] * training_args.do_train + [split for split, _ in eval_splits]:
        labels = np.asarray(raw[split]["label"])
        if (labels == -1).any():
            first = int(np.asarray(raw[split]["idx"])[labels == -1][0])
            raise InputError(f"the {split} split of {task.name} has unlabelled examples (label -1, first idx {first}): "
                             f"text-to-text {'training' if split == 'train' else 'evaluation'} needs each label as "
                             "its target text")
    tokenizer = load_tokenizer(model_args)
    targets = LabelTargets(task, tokenizer, model_args.tokenizer_name or source, getattr(config, "vocab_size", None))
    model = load_model(AutoModelForSeq2SeqLM, model_args, config)
    args = seq2seq_arguments(training_args, targets.generation_max_length)
    start_id = getattr(model.config, "decoder_start_token_id", None)
    logger.info(f"Text-to-text {task.name}: targets {list(targets.ids)[:6]}{' ...' if len(targets.ids) > 6 else ''}; "
                f"generation: at most {args.generation_max_length} tokens, {args.generation_num_beams} beam(s)")

    padding = "max_length" if data_args.pad_to_max_length else False

    def tokenize_function(with_labels: bool):
        def tokenize(batch):
            count = len(batch[task.text_fields[0]])
            texts = [input_text(task, {f: batch[f][i] for f in task.text_fields}) for i in range(count)]
            features = dict(tokenizer(texts, max_length=data_args.max_seq_length, truncation=True, padding=padding,
                                          return_token_type_ids=False))
            if with_labels:
                features["labels"] = [targets(label) for label in batch["label"]]
            return features

        return tokenize

    limits = {"train": run_args.max_train_samples}
    limits.update({split: run_args.max_eval_samples for split, _ in eval_splits})
    limits.update({split: run_args.max_predict_samples for split, _ in test_splits})
    processed, gold = {}, {}
    with args.main_process_first(desc="tokenizing the dataset"):
        for split, limit in limits.items():
            if split not in raw or (split == "train" and not args.do_train):
                continue
            dataset = raw[split] if limit is None else raw[split].select(range(min(limit, len(raw[split]))))
            labelled = all(label != -1 for label in dataset["label"])
            processed[split] = dataset.map(
                tokenize_function(labelled), batched=True, num_proc=run_args.preprocessing_num_workers,
                remove_columns=list(task.text_fields), desc=f"Tokenizing {split}",
            )
            gold[split] = list(dataset["label"]) if labelled else None
            if len(dataset):
                example = {f: dataset[0][f] for f in task.text_fields}
                logger.info(f"{split}, first example: {input_text(task, example)!r} -> "
                            f"{label_text(task, dataset[0]['label']) if labelled else '(unlabelled)'!r}")
            lengths = [len(ids) for ids in processed[split]["input_ids"][:2000]]
            truncated = sum(n >= data_args.max_seq_length for n in lengths)
            logger.info(f"{split}: {len(dataset)} examples; of the first {len(lengths)}, {truncated} reach "
                        f"max_seq_length={data_args.max_seq_length}")

    def model_inputs(split: str):
        return processed[split].remove_columns(["label", "idx"])

    seq2seq_collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=IGNORE_INDEX,
                                              pad_to_multiple_of=8 if args.fp16 or args.bf16 else None)

    def collator(features):
        batch = seq2seq_collator(features)
        if batch.get("labels") is None:  # an unlabelled test split: the collator says labels=None, which would make
            batch.pop("labels", None)  # Seq2SeqTrainer compute a loss without decoder inputs
        return batch

    eval_split = eval_splits[0][0] if eval_splits else None

    class TextToTextTrainer(SafeSavingMixin, InOrderEvaluationMixin, Seq2SeqTrainer):
        """Seq2SeqTrainer whose generations come back in dataset order (the scorer and the predictions files pair
        them with the examples by position)."""

    trainer = TextToTextTrainer(
        model=model,
        args=args,
        train_dataset=model_inputs("train") if "train" in processed else None,
        eval_dataset=model_inputs(eval_split) if eval_split else None,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=TextToTextScorer(task, tokenizer, gold[eval_split], task.metric_configs[0], start_id,
                                         label_mapping) if eval_split else None,
    )
    if implementation_name(model) != "hf_models":
        # transformers' T5 takes **kwargs but averages its loss over the batch's tokens itself, ignoring
        # num_items_in_batch: the Trainer must divide by the accumulation steps (hf_models' T5 honours it)
        trainer.model_accepts_loss_kwargs = False

    results: dict[str, Any] = {}
    if args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model()
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = len(processed["train"])
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", json_safe(metrics, "train_results.json"))
        trainer.save_state()
        results.update(metrics)

    impl = implementation_name(trainer.model)
    trainer.compute_metrics = None  # each split is scored below with its own metric config
    for kind, splits in (("eval", eval_splits), ("predict", test_splits)):
        for split, prefix in splits:
            dataset = processed[split]
            labelled = gold[split] is not None
            output = trainer.predict(model_inputs(split), metric_key_prefix=prefix)
            texts = decode_generations(tokenizer, dataset_rows(output.predictions, len(dataset)), start_id)
            metrics = dict(output.metrics)
            if labelled:
                metric_config = task.metric_configs[1 if split.endswith("mismatched") else 0]
                scores, preds, valid = score_generations(task, metric_config, texts, gold[split], label_mapping)
            else:
                preds, valid = map_generations(task, texts, None, label_mapping)
                scores = invalid_counts(valid)
            metrics.update({f"{prefix}_{k}": v for k, v in scores.items()})
            metrics[f"{prefix}_samples"] = len(dataset)
            if (~valid).any():
                shown = sorted({text for text, ok in zip(texts, valid) if not ok})[:3]
                logger.warning(f"{split}: {int((~valid).sum())} of {len(texts)} generations are no {task.name} label "
                               f"(e.g. {shown}); they count as wrong")
            trainer.log_metrics(prefix, metrics)
            trainer.save_metrics(prefix, json_safe(metrics, f"{prefix}_results.json"))
            results.update(metrics)
            file_name = f"{'eval_predictions' if kind == 'eval' else 'predict_results'}_{task.name}"
            file_name += "_mismatched" if split.endswith("mismatched") else ""
            if args.should_save:
                write_glue_predictions(Path(args.output_dir) / f"{file_name}.tsv", task, dataset["idx"], preds,
                                       gold=gold[split], extra_columns={"generated": texts})
            if labelled:
                record_results(args, run_args, task=task.name, split=split, model_name=source, implementation=impl,
                               examples=len(dataset),
                               metrics={k[len(prefix) + 1:]: v for k, v in metrics.items()
                                        if k.startswith(prefix + "_")})
    if args.should_save:
        write_json(os.path.join(args.output_dir, "all_results.json"), results)
    if args.push_to_hub and args.do_train:
        trainer.push_to_hub(finetuned_from=source, tasks="text2text-generation", dataset_tags="glue",
                            dataset_args=task.name, dataset=f"GLUE {task.name.upper()}")
    return results


__all__ = [
    "STSB_TEXTS",
    "LabelTargets",
    "TextToTextScorer",
    "decode_generations",
    "input_text",
    "is_text_to_text",
    "label_text",
    "label_words",
    "map_generations",
    "parse_generated",
    "run_text_to_text",
    "score_generations",
    "seq2seq_arguments",
    "stsb_text",
    "wrong_label",
]
