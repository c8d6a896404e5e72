"""Translation and SQuAD as text-to-text (Raffel et al. 2020, section 2.4): run_translation's and run_qa's path for an
encoder-decoder language model (hf_models' T5, transformers' T5, any `config.is_encoder_decoder` checkpoint with an
AutoModelForSeq2SeqLM head and one tokenizer for both sides).

- Translation: the input is "translate English to German: {source}" (the language names from `--source_lang` /
  `--target_lang`, or `--source_prefix`), the target the reference sentence, both through the checkpoint's shared
  tokenizer. Scored by the same detokenized sacreBLEU as the other translation families (`translation.py`).
- SQuAD: the input is "question: {question} context: {context}", the target the first gold answer's text, as the
  t5 library's `squad` preprocessor writes them. The generated answer is scored by the same official SQuAD metric
  (exact match, F1) as the extractive models, and written to the same `{eval,predict}_predictions.json`. A context
  too long for `--max_seq_length` is truncated (T5 truncates too): how many inputs are cut, and how many of those
  lose their gold answer, is logged as a warning.

GLUE's text-to-text path is `text_to_text.py`; its pieces (Seq2Seq arguments with generation on) are reused here.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..cli_utils import InputError

logger = logging.getLogger("hf_models.tasks.text_to_text_tasks")

IGNORE_INDEX = -100
# ISO 639-1 codes -> the English language names of T5's "translate X to Y: " prefix
LANGUAGE_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "fi": "Finnish", "fr": "French", "gu": "Gujarati", "hi": "Hindi",
    "hu": "Hungarian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean", "lt": "Lithuanian",
    "lv": "Latvian", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}
QA_QUESTION_PREFIX, QA_CONTEXT_PREFIX = "question:", "context:"
# Seq2Seq / Transformer families of run_translation (their own source and target tokenizers)
TRANSLATION_MODEL_TYPES = ("hf_seq2seq", "hf_transformer")


# ----------------------------------------------------------------------------------------------------------------------
# Shared pieces
# ----------------------------------------------------------------------------------------------------------------------
def check_spelling(tokenizer, text: str, source: str, what: str) -> None:
    """Refuse a tokenizer that cannot write `text` (a task prefix) back as itself, or that needs <unk> for it: the
    model would read the prefix as something else."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    back = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    unknown = tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids
    if unknown or " ".join(back.split()) != " ".join(text.split()):
        raise InputError(f"{source}: the tokenizer cannot spell the {what} {text.strip()!r} (it comes back as "
                         f"{back.strip()!r}); text-to-text fine-tuning feeds it to the model as text, so use a T5 "
                         "tokenizer or one that spells it")


def check_special_tokens(tokenizer, source: str) -> None:
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise InputError(f"{source}: the tokenizer has no {'pad' if tokenizer.pad_token_id is None else 'EOS'} token; "
                         "text-to-text fine-tuning pads the targets and ends them with EOS (a T5 tokenizer has <pad> "
                         "and </s>)")


def model_arguments(model_name_or_path: str, implementation: str = "auto"):
    """trainer_utils' ModelArguments for a run whose own arguments have no such dataclass (run_translation)."""
    from ..trainer_utils import ModelArguments

    return ModelArguments(model_name_or_path=model_name_or_path, implementation=implementation)


def text_to_text_trainer_class():
    """Seq2SeqTrainer that saves safely and evaluates in dataset order (predictions pair with examples by position)."""
    from transformers import Seq2SeqTrainer

    from ..trainer_utils import InOrderEvaluationMixin, SafeSavingMixin

    class TextToTextTrainer(SafeSavingMixin, InOrderEvaluationMixin, Seq2SeqTrainer):
        pass

    return TextToTextTrainer


def fix_loss_kwargs(trainer, model) -> None:
    """transformers' T5 averages its loss itself, ignoring num_items_in_batch: the Trainer must divide by the
    accumulation steps (hf_models' T5 honours num_items_in_batch)."""
    from ..trainer_utils import implementation_name

    if implementation_name(model) != "hf_models":
        trainer.model_accepts_loss_kwargs = False


# ----------------------------------------------------------------------------------------------------------------------
# Translation
# ----------------------------------------------------------------------------------------------------------------------
def translation_prefix(source_lang: str, target_lang: str, source_prefix: str | None = None) -> str:
    """T5's prefix "translate English to German: ", from the language codes (or --source_prefix as given)."""
    if source_prefix is not None:
        return source_prefix
    names = []
    for flag, code in (("--source_lang", source_lang), ("--target_lang", target_lang)):
        name = LANGUAGE_NAMES.get(code.lower().split("_")[0].split("-")[0])
        if name is None:
            raise InputError(f"{flag} {code}: no language name known for T5's prefix 'translate X to Y: ' (known: "
                             f"{', '.join(sorted(LANGUAGE_NAMES))}); give the prefix with --source_prefix")
        names.append(name)
    return f"translate {names[0]} to {names[1]}: "


def text_to_text_translation_config(model_name_or_path: str | None, implementation: str = "auto"):
    """The config of a run_translation checkpoint that is fine-tuned text-to-text (an encoder-decoder that is not one of
    hf_models' Seq2Seq/Transformer translation folders), else None."""
    import json

    if model_name_or_path is None:
        return None
    config_file = os.path.join(model_name_or_path, "config.json")
    if os.path.isdir(model_name_or_path):
        if not os.path.isfile(config_file):
            return None  # not a model folder: the translation path says what is missing
        try:
            with open(config_file, encoding="utf-8") as f:
                model_type = json.load(f).get("model_type")
        except (OSError, ValueError, AttributeError):
            return None  # a damaged config: load_translation_model names it
        if model_type in TRANSLATION_MODEL_TYPES:
            return None
    elif os.path.exists(model_name_or_path) or model_name_or_path.startswith((".", os.sep)) \
            or model_name_or_path.count("/") > 1:
        return None  # a file, or a local folder that is not there: the translation path says what is missing
    from ..trainer_utils import load_config

    config = load_config(model_arguments(model_name_or_path, implementation))
    if config.model_type in TRANSLATION_MODEL_TYPES:
        return None
    if not getattr(config, "is_encoder_decoder", False):
        raise InputError(f"--model_name_or_path {model_name_or_path}: model_type {config.model_type!r} is not an "
                         "encoder-decoder; run_translation trains hf_models' Seq2Seq/Transformer folders or fine-tunes "
                         "an encoder-decoder (T5) text-to-text")
    return config


def check_translation_flags(model_args, data_args) -> None:
    """Flags of the Seq2Seq/Transformer families mean nothing for a pretrained text-to-text checkpoint: separate
    tokenizers are refused, the rest (new-model shape, tokenizer training) is ignored with a warning."""
    from dataclasses import fields

    if data_args.source_tokenizer is not None or data_args.target_tokenizer is not None:
        flag = "--source_tokenizer" if data_args.source_tokenizer is not None else "--target_tokenizer"
        raise InputError(f"{flag}: {model_args.model_name_or_path} is fine-tuned text-to-text with its own tokenizer "
                         "for source and target; leave --source_tokenizer/--target_tokenizer out")
    ignored = []
    for args, names in ((model_args, set(model_args.config_fields()) | {"model_family"}),
                        (data_args, {"tokenizer_model", "source_vocab_size", "target_vocab_size", "min_frequency",
                                     "lowercase"})):
        for f in fields(args):
            if f.name in names and getattr(args, f.name) != f.default:
                ignored.append(f"--{f.name}")
    if ignored:
        logger.warning(f"{model_args.model_name_or_path} is a pretrained encoder-decoder fine-tuned text-to-text: "
                       f"{', '.join(sorted(ignored))} (new Seq2Seq/Transformer models and their tokenizers) ignored")


def prepare_text_to_text_translation(model_args, data_args, training_args, pairs: dict[str, tuple[list, list]],
                                     config):
    """(tokenizer, model, {split: dataset}, prefix, generation arguments): the checkpoint's shared tokenizer (checked
    to spell the prefix), its AutoModelForSeq2SeqLM, the prefixed sources and the targets as token ids, and the
    training arguments with `generation_max_length` defaulting to --max_target_length."""
    import copy

    import datasets
    from transformers import AutoModelForSeq2SeqLM

    from ..trainer_utils import load_model, load_tokenizer

    check_translation_flags(model_args, data_args)
    margs = model_arguments(model_args.model_name_or_path, getattr(model_args, "implementation", "auto"))
    source = margs.model_name_or_path
    tokenizer = load_tokenizer(margs)
    check_special_tokens(tokenizer, source)
    prefix = translation_prefix(data_args.source_lang, data_args.target_lang, data_args.source_prefix)
    if prefix.strip():
        check_spelling(tokenizer, prefix, source, "task prefix")
    model = load_model(AutoModelForSeq2SeqLM, margs, config)
    logger.info(f"Text-to-text translation with {type(model).__name__} ({model.num_parameters():,} parameters), "
                f"prefix {prefix!r}, one tokenizer ({len(tokenizer)} tokens) for source and target")
    datasets_ = {}
    for split, (sources, targets) in pairs.items():
        inputs = tokenizer([prefix + s for s in sources], truncation=True, max_length=data_args.max_source_length)
        labels = tokenizer(text_target=targets, truncation=True, max_length=data_args.max_target_length)
        cut = sum(len(ids) >= data_args.max_source_length for ids in inputs["input_ids"])
        if cut:
            logger.warning(f"{split}: {cut} of {len(sources)} prefixed sources reach --max_source_length "
                           f"{data_args.max_source_length} tokens and may be truncated")
        datasets_[split] = datasets.Dataset.from_dict({"input_ids": inputs["input_ids"],
                                                       "attention_mask": inputs["attention_mask"],
                                                       "labels": labels["input_ids"]})
        if sources:
            logger.info(f"{split}, first example: {prefix + sources[0]!r} -> {targets[0]!r}")
    args = copy.copy(training_args)
    if getattr(args, "generation_max_length", None) is None:
        args.generation_max_length = data_args.max_target_length
    return tokenizer, model, datasets_, prefix, args


# ----------------------------------------------------------------------------------------------------------------------
# SQuAD
# ----------------------------------------------------------------------------------------------------------------------
def qa_input_text(question: str, context: str) -> str:
    """The t5 library's SQuAD input: "question: {question} context: {context}" (whitespace collapsed)."""
    return f"{QA_QUESTION_PREFIX} {' '.join(question.split())} {QA_CONTEXT_PREFIX} {' '.join(context.split())}"


def qa_target_text(answers: dict[str, list]) -> str:
    """The target: the first gold answer's text (SQuAD's training questions have one)."""
    return answers["text"][0]


def check_qa_flags(data_args, source: str) -> None:
    """SQuAD 2.0 is refused; the extractive post-processing flags are ignored with a warning."""
    from dataclasses import fields

    if data_args.version_2_with_negative:
        raise InputError(f"--version_2_with_negative: {source} is an encoder-decoder fine-tuned text-to-text on answer "
                         "texts (SQuAD v1.1, as the T5 paper); unanswerable questions are only supported by the "
                         "extractive models")
    defaults = {f.name: f.default for f in fields(data_args)}
    ignored = [f"--{name}" for name in ("n_best_size", "null_score_diff_threshold")
               if getattr(data_args, name) != defaults[name]]
    if getattr(data_args, "doc_stride_given", False):
        ignored.insert(0, "--doc_stride")
    if ignored:
        logger.warning(f"{', '.join(ignored)} ignored: {source} is fine-tuned text-to-text, reading the question and "
                       "one context window truncated at --max_seq_length and generating the answer (at most "
                       "--max_answer_length tokens); there are no windows or spans to rank")


class SquadGenerationScorer:
    """`compute_metrics` of Seq2SeqTrainer (predict_with_generate) for SQuAD questions in dataset order: the official
    SQuAD metric (exact match, F1) of the generated answers. Keeps the last {id: answer} for the predictions file."""

    def __init__(self, examples, tokenizer, metric):
        self.examples, self.tokenizer, self.metric = examples, tokenizer, metric
        self.predictions: dict[str, str] = {}

    def answers(self, generated) -> dict[str, str]:
        from ..trainer_utils import dataset_rows
        from .translation import decode_generated

        texts = decode_generated(self.tokenizer, dataset_rows(generated, len(self.examples)))
        if len(texts) != len(self.examples):
            raise ValueError(f"{len(texts)} generated answers for {len(self.examples)} questions")
        self.predictions = dict(zip(self.examples["id"], texts))
        return self.predictions

    def __call__(self, eval_prediction) -> dict[str, float]:
        from .squad import QAPredictions, compute_squad_metrics

        predictions = self.answers(eval_prediction.predictions)
        return compute_squad_metrics(self.metric, QAPredictions(predictions, nbest={}), self.examples, False)


def _tokenize_qa(examples, tokenizer, max_seq_length: int, max_answer_length: int, pad: bool, split: str):
    """input_ids, attention_mask (and labels with answers) of the questions; warn how many inputs are truncated, how
    many of those lose their gold answer, and how many answers are cut at --max_answer_length."""
    import datasets

    questions, contexts = examples["question"], examples["context"]
    texts = [qa_input_text(q, c) for q, c in zip(questions, contexts)]
    encoded = tokenizer(texts, truncation=True, max_length=max_seq_length, padding="max_length" if pad else False,
                        return_offsets_mapping=True)
    columns = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    full_lengths = [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]
    cut = [i for i, n in enumerate(full_lengths) if n > max_seq_length]
    if "answers" in examples.column_names:
        answers = examples["answers"]
        lost = 0
        for i in cut:  # no gold answer is left in the part of the context that the model still reads
            kept = max((end for _, end in encoded["offset_mapping"][i]), default=0)
            context_start = len(qa_input_text(questions[i], "")) + 1
            if not any(a in texts[i][context_start:kept] for a in answers[i]["text"]):
                lost += 1
        targets = [qa_target_text(a) for a in answers]
        labels = tokenizer(text_target=targets, truncation=True, max_length=max_answer_length + 1)["input_ids"]
        long = sum(n > max_answer_length + 1 for n in
                   (len(ids) for ids in tokenizer(text_target=targets)["input_ids"]))
        if long:
            logger.warning(f"{split}: {long} of {len(targets)} answers are longer than --max_answer_length "
                           f"{max_answer_length} tokens and are cut in the training targets")
        columns["labels"] = labels
        if cut:
            logger.warning(f"{split}: {len(cut)} of {len(texts)} questions are longer than --max_seq_length "
                           f"{max_seq_length} tokens and truncated (T5 truncates too); {lost} of them lose every gold "
                           "answer")
    elif cut:
        logger.warning(f"{split}: {len(cut)} of {len(texts)} questions are longer than --max_seq_length "
                       f"{max_seq_length} tokens and truncated (T5 truncates too)")
    if texts:
        target = f" -> {qa_target_text(examples[0]['answers'])!r}" if "answers" in examples.column_names else ""
        logger.info(f"{split}: {len(texts)} questions, first: {texts[0][:200]!r}{target}")
    return datasets.Dataset.from_dict(columns)


def run_text_to_text_qa(model_args, data_args, run_args, training_args, config, raw,
                        last_checkpoint: str | None) -> dict[str, float]:
    """run_qa for an encoder-decoder: fine-tune on "question: ... context: ..." -> answer text (--do_train), score the
    generated answers with the official SQuAD metric (--do_eval, and --do_predict when the test file has answers).
    Same files as the extractive path: the model, `{train,eval,predict}_results.json`, `all_results.json`,
    `{eval,predict}_predictions.json` ({id: answer}) and a results-table row per scored split."""
    from transformers import AutoModelForSeq2SeqLM, DataCollatorForSeq2Seq

    from ..cli_utils import json_safe
    from ..cli_utils import write_json as write_json_file
    from ..metrics import load_metric
    from ..trainer_utils import (
        implementation_name,
        load_model,
        load_tokenizer,
        record_results,
    )
    from .squad import _scores_only, _select, metric_name
    from .text_to_text import seq2seq_arguments

    source = model_args.model_name_or_path
    check_qa_flags(data_args, source)
    tokenizer = load_tokenizer(model_args)
    tokenizer_source = model_args.tokenizer_name or source
    check_special_tokens(tokenizer, tokenizer_source)
    for prefix in (QA_QUESTION_PREFIX, QA_CONTEXT_PREFIX):
        check_spelling(tokenizer, prefix, tokenizer_source, "task prefix")
    model = load_model(AutoModelForSeq2SeqLM, model_args, config)
    # generate() counts the decoder start token in max_length: start + answer tokens + EOS
    args = seq2seq_arguments(training_args, data_args.max_answer_length + 2, "answer (--max_answer_length)")
    max_seq_length = min(data_args.max_seq_length, tokenizer.model_max_length)
    logger.info(f"Text-to-text SQuAD with {type(model).__name__}: inputs of at most {max_seq_length} tokens, answers "
                f"generated in at most {args.generation_max_length} tokens, {args.generation_num_beams} beam(s)")

    examples, features = {}, {}
    limits = {"train": run_args.max_train_samples, "validation": run_args.max_eval_samples,
              "test": run_args.max_predict_samples}
    with args.main_process_first(desc="tokenizing the questions"):
        for split, (dataset, _) in raw.items():
            examples[split] = _select(dataset, limits[split])
            features[split] = _tokenize_qa(examples[split], tokenizer, max_seq_length, data_args.max_answer_length,
                                           data_args.pad_to_max_length, split)
    metric = load_metric(metric_name(False, data_args.metric))
    scorers = {split: SquadGenerationScorer(examples[split], tokenizer, metric) for split in examples
               if split != "train" and "answers" in examples[split].column_names}
    seq2seq_collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=IGNORE_INDEX,
                                              pad_to_multiple_of=8 if args.fp16 or args.bf16 else None)

    def collator(batch_features):
        batch = seq2seq_collator(batch_features)
        if batch.get("labels") is None:  # questions without answers: no labels, no loss
            batch.pop("labels", None)
        return batch

    trainer = text_to_text_trainer_class()(
        model=model, args=args, train_dataset=features.get("train"), eval_dataset=features.get("validation"),
        processing_class=tokenizer, data_collator=collator, compute_metrics=scorers.get("validation"),
    )
    fix_loss_kwargs(trainer, model)

    task = metric_name(False, data_args.metric)  # squad or korquad, named in the results
    results: dict[str, Any] = {}
    if args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model()
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = metrics["train_examples"] = len(features["train"])
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", json_safe(metrics, "train_results.json"))
        trainer.save_state()
        results.update(metrics)
    impl = implementation_name(trainer.model)
    for split, prefix, wanted in (("validation", "eval", args.do_eval), ("test", "predict", args.do_predict)):
        if not wanted:
            continue
        scorer = scorers.get(split) or SquadGenerationScorer(examples[split], tokenizer, None)
        trainer.compute_metrics = scorers.get(split)
        output = trainer.predict(features[split], metric_key_prefix=prefix)
        predictions = scorer.answers(output.predictions)
        metrics = dict(output.metrics)
        metrics[f"{prefix}_samples"] = metrics[f"{prefix}_examples"] = len(examples[split])
        if split in scorers:
            metrics[f"{prefix}_metric"] = task  # which official script the exact match and F1 are those of
        trainer.log_metrics(prefix, metrics)
        trainer.save_metrics(prefix, json_safe(metrics, f"{prefix}_results.json"))
        if args.should_save:
            path = os.path.join(args.output_dir, f"{prefix}_predictions.json")
            write_json_file(path, predictions)
            logger.info(f"{split}: generated answers in {path}")
        if split in scorers:
            record_results(args, run_args, task, "validation" if split == "validation" else "test", source, impl,
                           len(examples[split]), _scores_only(metrics))
        results.update(metrics)
    if args.push_to_hub and args.do_train:
        card = {"finetuned_from": source, "tasks": "text2text-generation"}
        if data_args.dataset_name is not None:
            card["dataset_tags"] = card["dataset"] = data_args.dataset_name
        trainer.push_to_hub(**card)
    return results


__all__ = [
    "LANGUAGE_NAMES",
    "SquadGenerationScorer",
    "check_spelling",
    "prepare_text_to_text_translation",
    "qa_input_text",
    "qa_target_text",
    "run_text_to_text_qa",
    "text_to_text_translation_config",
    "translation_prefix",
]
