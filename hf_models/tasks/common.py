"""What every fine-tuning and evaluation command shares: which model to load (hf_models' or transformers' class for
the same checkpoint), the output folder (resume, never overwrite silently), logging, JSON results and the results
table that every run appends a row to.

The task modules (`glue`, `squad`, `conll`) build on these pieces; `training/run_*.py` and `eval/eval_*.py` are thin
command lines over the task modules.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger("hf_models.tasks")

IMPLEMENTATIONS = ("auto", "hf_models", "transformers")


# ----------------------------------------------------------------------------------------------------------------------
# Arguments shared by every task command
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
class RunArguments:
    """Output-folder and bookkeeping options shared by every task command."""

    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Train into a non-empty output_dir that holds no checkpoint (its files are overwritten), or "
                          "start afresh instead of resuming from its last checkpoint."},
    )
    results_table: str | None = field(
        default=None,
        metadata={"help": "Markdown table that each evaluation appends a row to (created with a header when absent); "
                          "default OUTPUT_DIR/results.md. Point several runs at one file to compare them."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N train examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep the first N test examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})


# ----------------------------------------------------------------------------------------------------------------------
# Models: hf_models' or transformers' class for the same checkpoint
# ----------------------------------------------------------------------------------------------------------------------
def _transformers_model_types() -> dict[str, str]:
    """hf_models model_type -> the transformers model_type of the same architecture (and checkpoint format)."""
    from ..auto import TRANSFORMERS_MODEL_TYPES

    return dict(TRANSFORMERS_MODEL_TYPES)


def load_config(model_args: ModelArguments, **overrides):
    """The checkpoint's config as the chosen implementation reads it, with task fields (num_labels, id2label, ...)."""
    from transformers import AutoConfig

    from ..auto import register_auto_classes

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
    from ..auto import register_auto_classes

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

    from ..auto import register_auto_classes

    register_auto_classes()
    source = model_args.tokenizer_name or model_args.model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(source, **model_args.hub_kwargs(), **kwargs)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{source}: the tokenizer is not a fast (tokenizers-backed) one; offsets and word ids need it")
    return tokenizer


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
# Output folders, logging, results
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


def parse_args(dataclass_types, argv: list[str] | None = None):
    """The dataclasses filled from the command line, or from a single .json file of arguments."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(dataclass_types)
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


def run_task_cli(data_arguments_class, run_function, logger_name: str, argv: list[str] | None = None) -> dict:
    """The body of every `training/run_<task>.py`: parse (model, data, run, training) arguments, log, run the task."""
    from transformers import TrainingArguments

    model_args, data_args, run_args, training_args = parse_args(
        (ModelArguments, data_arguments_class, RunArguments, TrainingArguments), argv
    )
    setup_logging(training_args, logger_name)
    return run_function(model_args, data_args, run_args, training_args)


def setup_logging(training_args, *logger_names: str) -> None:
    """Log like transformers' examples: timestamps to stdout; INFO on the main process, WARNING on the others."""
    import datasets
    import transformers

    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()  # the default of training_args.log_level is passive
    log_level = training_args.get_process_log_level()
    for name in ("hf_models", *logger_names):
        logging.getLogger(name).setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    logger.warning(
        f"Process rank: {training_args.process_index}, device: {training_args.device}, "
        f"n_gpu: {training_args.n_gpu}, distributed training: {training_args.parallel_mode.value == 'distributed'}"
    )


LOG_LEVELS = ("debug", "info", "warning", "error")


def setup_cli_logging(level: str, *logger_names: str) -> None:
    """Logging of the commands that do not run a Trainer (n-gram, word2vec): timestamps to stdout, `level` for
    hf_models, the named loggers and transformers."""
    import transformers

    if not isinstance(level, str) or level.lower() not in LOG_LEVELS:
        raise ValueError(f"--log_level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    numeric = getattr(logging, level.upper())
    for name in ("hf_models", *logger_names):
        logging.getLogger(name).setLevel(numeric)
    transformers.utils.logging.set_verbosity(numeric)


def check_output_dir(output_dir: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to write into a non-empty folder unless `--overwrite_output_dir` (what the user saved there may be
    wanted), and refuse a path that is a file."""
    output_dir = str(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"--output_dir {output_dir} exists and is not a folder")
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise ValueError(f"output directory {output_dir} already exists and is not empty. Use a new --output_dir, or "
                         "pass --overwrite_output_dir to write into it anyway.")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented UTF-8 JSON (non-ASCII text kept readable), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


RESULTS_COLUMNS = ("date", "task", "split", "model", "implementation", "examples", "metrics", "output_dir")


def _format_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def append_results_row(table: str | os.PathLike, row: dict[str, Any]) -> Path:
    """Append one row (keys of RESULTS_COLUMNS; `metrics` a dict) to a Markdown results table, creating it if absent.

    Existing rows are never rewritten: the file only grows, so several runs (and both implementations) can share it.
    """
    table = Path(table)
    table.parent.mkdir(parents=True, exist_ok=True)
    row = dict(row)
    row.setdefault("date", datetime.datetime.now().isoformat(timespec="seconds"))
    metrics = row.get("metrics") or {}
    row["metrics"] = "; ".join(f"{k}={_format_metric(v)}" for k, v in metrics.items())
    cells = [str(row.get(column, "")).replace("|", "\\|").replace("\n", " ") for column in RESULTS_COLUMNS]
    new_file = not table.exists() or table.stat().st_size == 0
    with table.open("a", encoding="utf-8") as f:
        if new_file:
            f.write("| " + " | ".join(RESULTS_COLUMNS) + " |\n")
            f.write("|" + "---|" * len(RESULTS_COLUMNS) + "\n")
        f.write("| " + " | ".join(cells) + " |\n")
    return table


def record_results(training_args, run_args: RunArguments, task: str, split: str, model_name: str,
                   implementation: str, examples: int, metrics: dict[str, Any]) -> None:
    """Append the evaluation of one split to the results table (main process only)."""
    if not training_args.should_save:
        return
    table = run_args.results_table or os.path.join(training_args.output_dir, "results.md")
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
    "append_results_row",
    "detect_last_checkpoint",
    "implementation_name",
    "load_config",
    "load_model",
    "load_tokenizer",
    "parse_args",
    "record_results",
    "run_task_cli",
    "setup_logging",
    "wait_for_everyone",
    "write_json",
]
