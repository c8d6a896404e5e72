"""The Trainer side of hf_models' commands: which checkpoint to fine-tune or evaluate and through which library's
classes (hf_models' or transformers' class for the same checkpoint), the output folder's last checkpoint to resume
from, barriers across processes, evaluation in order, and the results row of an evaluated split.

Families and task runners both build on it (`hf_models.tasks.*`, `hf_models.tasks.pretraining`); the parts that do
not need a Trainer (arguments, logging, JSON, results tables) are `hf_models.cli_utils`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from .cli_utils import ResultsArguments, append_results_row, parse_args, results_table_path, setup_logging

logger = logging.getLogger("hf_models.tasks")

IMPLEMENTATIONS = ("auto", "hf_models", "transformers")


# ----------------------------------------------------------------------------------------------------------------------
# Arguments shared by every Trainer task command
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class ModelArguments:
    """Which checkpoint to fine-tune or evaluate, and through which library's classes."""

    model_name_or_path: str = field(
        metadata={"help": "Checkpoint to start from: a folder (saved by hf_models or transformers) or a hub name."}
    )
    implementation: str = field(
        default="auto",
        metadata={
            "help": "Whose classes run the checkpoint: 'auto' (what its config.json says: hf_models' for model_type "
            "hf_bert, transformers' for bert), 'hf_models' (hf_models' family of the same architecture, e.g. a "
            "transformers BERT checkpoint run by hf_models.BertFor...) or 'transformers' (transformers' own class, "
            "e.g. to compare both libraries on the same weights in the same run)."
        },
    )
    config_name: str | None = field(default=None, metadata={"help": "Config to use instead of the checkpoint's."})
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer to use instead of the checkpoint's."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where downloads from the hub are cached."})
    revision: str = field(default="main", metadata={"help": "Hub revision (branch, tag or commit) of the checkpoint."})
    token: str | None = field(default=None, metadata={"help": "Hub token for private checkpoints."})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow checkpoints whose code lives in the checkpoint folder or hub repo."}
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={"help": "Start a head afresh when its size differs from the checkpoint's (e.g. a new label set)."},
    )

    def __post_init__(self):
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"--implementation must be one of {', '.join(IMPLEMENTATIONS)}, got {self.implementation!r}")

    def hub_kwargs(self) -> dict[str, Any]:
        """The keyword arguments every `from_pretrained` call of this run gets."""
        return {
            "cache_dir": self.cache_dir,
            "revision": self.revision,
            "token": self.token,
            "trust_remote_code": self.trust_remote_code,
        }


@dataclass
class RunArguments(ResultsArguments):
    """Output-folder and bookkeeping options shared by every Trainer task command."""

    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N train examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep the first N test examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})


# ----------------------------------------------------------------------------------------------------------------------
# Models: hf_models' or transformers' class for the same checkpoint
# ----------------------------------------------------------------------------------------------------------------------
def _transformers_model_types() -> dict[str, str]:
    """hf_models model_type -> the transformers model_type of the same architecture (and checkpoint format)."""
    from .auto import TRANSFORMERS_MODEL_TYPES

    return dict(TRANSFORMERS_MODEL_TYPES)


def load_config(model_args: ModelArguments, **overrides):
    """The checkpoint's config as the chosen implementation reads it, with task fields (num_labels, id2label, ...)."""
    from transformers import AutoConfig

    from .auto import register_auto_classes

    register_auto_classes()
    source = model_args.config_name or model_args.model_name_or_path
    config = AutoConfig.from_pretrained(source, **model_args.hub_kwargs(), **overrides)
    ours_to_theirs = _transformers_model_types()
    theirs_to_ours = {theirs: ours for ours, theirs in ours_to_theirs.items()}
    if model_args.implementation == "hf_models" and config.model_type not in ours_to_theirs:
        if config.model_type not in theirs_to_ours:
            raise ValueError(
                f"{source}: model_type {config.model_type!r} has no hf_models implementation (hf_models runs "
                f"{', '.join(sorted(theirs_to_ours))} checkpoints); use --implementation auto or transformers"
            )
        config = AutoConfig.for_model(theirs_to_ours[config.model_type], **_config_fields(config))
    elif model_args.implementation == "transformers" and config.model_type in ours_to_theirs:
        config = AutoConfig.for_model(ours_to_theirs[config.model_type], **_config_fields(config))
    return config


def _config_fields(config) -> dict[str, Any]:
    fields = config.to_dict()
    for key in ("model_type", "architectures", "auto_map", "transformers_version"):
        fields.pop(key, None)
    return fields


def load_model(auto_class, model_args: ModelArguments, config):
    """`auto_class` (e.g. AutoModelForSequenceClassification) instantiated from the checkpoint with `config`.

    The config's class picks the implementation (see `load_config`), so the same checkpoint runs through
    hf_models' or transformers' classes; heads that the checkpoint lacks start from random weights (logged).
    """
    from .auto import register_auto_classes

    register_auto_classes()
    model = auto_class.from_pretrained(
        model_args.model_name_or_path,
        config=config,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        **model_args.hub_kwargs(),
    )
    logger.info(f"Model: {type(model).__module__}.{type(model).__name__} ({model.num_parameters():,} parameters)")
    return model


def load_tokenizer(model_args: ModelArguments, **kwargs):
    """The checkpoint's tokenizer (a fast one: QA and NER need offset mappings and word ids)."""
    from transformers import AutoTokenizer

    from .auto import register_auto_classes

    register_auto_classes()
    source = model_args.tokenizer_name or model_args.model_name_or_path
    if os.path.isdir(source) and not any(os.path.isfile(os.path.join(source, name)) for name in TOKENIZER_FILES):
        raise ValueError(
            f"{source} holds no tokenizer (none of {', '.join(TOKENIZER_FILES)}): copy the tokenizer that the model "
            "was trained with into it, or name it with --tokenizer_name"
        )
    tokenizer = AutoTokenizer.from_pretrained(source, **model_args.hub_kwargs(), **kwargs)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{source}: the tokenizer is not a fast (tokenizers-backed) one; offsets and word ids need it")
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):
        # transformers builds a tokenizer of special tokens alone when the vocabulary files are missing: every word
        # would become [UNK] and the model would be scored on nothing
        raise ValueError(
            f"{source}: the tokenizer has no vocabulary ({len(tokenizer)} entries, all special tokens): its vocabulary "
            "file is missing or empty"
        )
    return tokenizer


# files of which a saved tokenizer has at least one: the fast tokenizer, or the vocabulary a slow one is built from
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")


class InOrderEvaluationMixin:
    """For a `transformers.Trainer` subclass: evaluation and prediction read the dataset in order.

    With `--train_sampling_strategy group_by_length`, transformers 5 also groups the *evaluation* batches by length
    (in a shuffled order), and the predictions come back in that order: predictions files and post-processing that
    map outputs to examples by position would silently pair them with the wrong examples.
    """

    def _get_eval_sampler(self, eval_dataset):
        from torch.utils.data import SequentialSampler
        from transformers.trainer_pt_utils import LengthGroupedSampler

        sampler = super()._get_eval_sampler(eval_dataset)
        if isinstance(sampler, LengthGroupedSampler):  # several processes: None lets accelerate shard in order
            return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None
        return sampler


def implementation_name(model) -> str:
    """'hf_models' or 'transformers' (or the defining package) for a model instance."""
    module = type(model).__module__
    return module.split(".")[0]


# ----------------------------------------------------------------------------------------------------------------------
# Output folders, processes and results
# ----------------------------------------------------------------------------------------------------------------------
def detect_last_checkpoint(training_args, overwrite_output_dir: bool) -> str | None:
    """The checkpoint to resume from; refuse to train into a non-empty folder that holds none (it is not ours)."""
    from transformers.trainer_utils import get_last_checkpoint

    if training_args.resume_from_checkpoint is not None:
        if not os.path.isdir(training_args.resume_from_checkpoint):
            raise FileNotFoundError(f"--resume_from_checkpoint {training_args.resume_from_checkpoint} does not exist")
        return training_args.resume_from_checkpoint
    output_dir = training_args.output_dir
    if not training_args.do_train or not os.path.isdir(output_dir) or overwrite_output_dir:
        return None
    last_checkpoint = get_last_checkpoint(output_dir)
    if last_checkpoint is None and os.listdir(output_dir):
        raise ValueError(
            f"output directory {output_dir} already exists and is not empty, and holds no checkpoint to resume "
            "from. Use a new --output_dir, or pass --overwrite_output_dir to train into it anyway."
        )
    if last_checkpoint is not None:
        logger.info(
            f"Checkpoint found in {output_dir}: resuming training from {last_checkpoint}. Pass --overwrite_output_dir "
            "to start afresh instead."
        )
    return last_checkpoint


def wait_for_everyone(training_args) -> None:
    """A barrier across the processes of a distributed run (no-op in a single process)."""
    if training_args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def run_task_cli(data_arguments_class, run_function, logger_name: str, argv: list[str] | None = None) -> dict:
    """The body of every `training/run_<task>.py`: parse (model, data, run, training) arguments, log, run the task."""
    from transformers import TrainingArguments

    model_args, data_args, run_args, training_args = parse_args(
        (ModelArguments, data_arguments_class, RunArguments, TrainingArguments), argv
    )
    setup_logging(training_args, logger_name)
    return run_function(model_args, data_args, run_args, training_args)


def record_results(training_args, run_args: RunArguments, task: str, split: str, model_name: str,
                   implementation: str, examples: int, metrics: dict[str, Any]) -> None:
    """Append the evaluation of one split to the results table (main process only)."""
    if not training_args.should_save:
        return
    table = results_table_path(run_args, training_args.output_dir)
    shown = {k: v for k, v in metrics.items()
             if not k.endswith(("runtime", "per_second", "samples", "epoch", "model_preparation_time"))}
    append_results_row(
        table,
        {
            "task": task,
            "split": split,
            "model": model_name,
            "implementation": implementation,
            "examples": examples,
            "metrics": shown,
            "output_dir": training_args.output_dir,
        },
    )
    logger.info(f"Appended the {task} {split} results to {table}")


__all__ = [
    "IMPLEMENTATIONS",
    "InOrderEvaluationMixin",
    "ModelArguments",
    "RunArguments",
    "detect_last_checkpoint",
    "implementation_name",
    "load_config",
    "load_model",
    "load_tokenizer",
    "record_results",
    "run_task_cli",
    "wait_for_everyone",
]
