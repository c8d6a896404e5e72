"""What every command line of hf_models shares, with or without a Trainer: the common arguments (declared once here),
argument parsing (flags or one JSON file), logging, progress bars, output folders that are never overwritten
silently, JSON results and the Markdown results table every evaluation appends a row to.

`training/*.py` and `eval/*.py` are thin commands over the library; the Trainer side of them (which checkpoint to
load through which library's classes, resuming, barriers) is `hf_models.trainer_utils`.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("hf_models.cli")

LOG_LEVELS = ("debug", "info", "warning", "error")


# ----------------------------------------------------------------------------------------------------------------------
# Arguments every command shares
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class ResultsArguments:
    """The output folder's safety and the results table: shared by every command, Trainer or not."""

    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Write into a non-empty output_dir (its files are replaced); for a training run with "
                          "checkpoints, start afresh instead of resuming from the last one."},
    )
    results_table: str | None = field(
        default=None,
        metadata={"help": "Markdown table that each evaluation appends a row to (created with a header when absent); "
                          "default OUTPUT_DIR/results.md. Point several runs at one file to compare them."},
    )


@dataclass
class OutputArguments(ResultsArguments):
    """Where a command without a Trainer writes, and how loudly (a Trainer command has TrainingArguments for these)."""

    output_dir: str | None = field(
        default=None,
        metadata={"help": "Where the model or results, the JSON files and the results table are written.",
                  "required": True},
    )
    log_level: str = field(default="info", metadata={"help": "Logging level.", "choices": list(LOG_LEVELS)})
    disable_tqdm: bool = field(default=False, metadata={"help": "No progress bars (ours, transformers', datasets')."})

    def __post_init__(self):
        if not self.output_dir:
            raise ValueError("--output_dir is required")
        if not isinstance(self.log_level, str) or self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"--log_level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")

    @property
    def show_progress(self) -> bool:
        """Whether the command draws its own progress bars."""
        return not self.disable_tqdm and self.log_level in ("debug", "info")


def parse_args(dataclass_types, argv: list[str] | None = None):
    """The dataclasses filled from the command line, or from a single .json file of arguments."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(dataclass_types)
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


# ----------------------------------------------------------------------------------------------------------------------
# Logging and progress bars
# ----------------------------------------------------------------------------------------------------------------------
def _basic_config() -> None:
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )


def disable_progress_bars() -> None:
    """Silence every progress bar of the HF libraries: transformers' ("Loading weights", "Writing model shards"),
    datasets' (map, filter) and huggingface_hub's (downloads). `--disable_tqdm` must mean no bars at all."""
    import datasets
    import huggingface_hub
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()


def setup_logging(training_args, *logger_names: str) -> None:
    """Log like transformers' examples: timestamps to stdout; INFO on the main process, WARNING on the others.
    `--disable_tqdm` silences every library's progress bars, not only the Trainer's."""
    import datasets
    import transformers

    _basic_config()
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()  # the default of training_args.log_level is passive
    log_level = training_args.get_process_log_level()
    for name in ("hf_models", *logger_names):
        logging.getLogger(name).setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    if training_args.disable_tqdm:
        disable_progress_bars()
    logger.warning(
        f"Process rank: {training_args.process_index}, device: {training_args.device}, "
        f"n_gpu: {training_args.n_gpu}, distributed training: {training_args.parallel_mode.value == 'distributed'}"
    )


def setup_cli_logging(level: str, *logger_names: str, disable_tqdm: bool = False) -> None:
    """Logging of the commands that do not run a Trainer (n-gram, word2vec, RNN LM, evaluation): timestamps to
    stdout, `level` for hf_models, the named loggers and transformers; `disable_tqdm` silences every progress bar."""
    import transformers

    if not isinstance(level, str) or level.lower() not in LOG_LEVELS:
        raise ValueError(f"--log_level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    _basic_config()
    numeric = getattr(logging, level.upper())
    for name in ("hf_models", *logger_names):
        logging.getLogger(name).setLevel(numeric)
    transformers.utils.logging.set_verbosity(numeric)
    if disable_tqdm:
        disable_progress_bars()


def setup_output_command(args: OutputArguments, *logger_names: str) -> None:
    """The start of every command without a Trainer: logging as asked, then refuse a non-empty output folder."""
    setup_cli_logging(args.log_level, *logger_names, disable_tqdm=args.disable_tqdm)
    check_output_dir(args.output_dir, args.overwrite_output_dir)


# ----------------------------------------------------------------------------------------------------------------------
# Output folders and results
# ----------------------------------------------------------------------------------------------------------------------
def check_output_dir(output_dir: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to write into a non-empty folder unless `--overwrite_output_dir` (what the user saved there may be
    wanted), and refuse a path that is a file."""
    output_dir = str(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"--output_dir {output_dir} exists and is not a folder")
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise ValueError(f"output directory {output_dir} already exists and is not empty. Use a new --output_dir, or "
                         "pass --overwrite_output_dir to write into it anyway.")


def _without_non_finite(obj: Any, key: str, bad: list[str]) -> Any:
    """`obj` with every NaN/Infinity float (at any depth) replaced by None; their keys appended to `bad`."""
    if isinstance(obj, float) and not math.isfinite(obj):
        bad.append(f"{key or '<top level>'}={obj}")
        return None
    if isinstance(obj, dict):
        return {k: _without_non_finite(v, f"{key}.{k}" if key else str(k), bad) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_without_non_finite(v, f"{key}[{i}]", bad) for i, v in enumerate(obj)]
    return obj


def json_safe(obj: Any, where: str) -> Any:
    """`obj` ready for strict JSON: NaN and Infinity (which `json.dumps` writes bare, and which no JSON parser but
    Python's reads) become null, with one warning naming `where` and the keys (e.g. a Pearson correlation of constant
    predictions, or a loss that overflowed). Use it on a metrics dict before `Trainer.save_metrics`."""
    bad: list[str] = []
    clean = _without_non_finite(obj, "", bad)
    if bad:
        logger.warning(f"{where}: {len(bad)} value(s) are not finite numbers, written as null (JSON has no NaN or "
                       f"Infinity): {', '.join(bad)}")
    return clean


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented UTF-8 JSON (non-ASCII text kept readable), creating the folder.

    The file is strict JSON: NaN and Infinity are written as null, with a warning naming the keys (see `json_safe`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = json_safe(obj, str(path))
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False, allow_nan=False) + "\n",
                    encoding="utf-8")


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


def results_table_path(args: ResultsArguments, output_dir: str | os.PathLike) -> str:
    """The results table of a run: `--results_table`, or OUTPUT_DIR/results.md."""
    return str(args.results_table or os.path.join(output_dir, "results.md"))


__all__ = [
    "LOG_LEVELS",
    "RESULTS_COLUMNS",
    "OutputArguments",
    "ResultsArguments",
    "append_results_row",
    "check_output_dir",
    "disable_progress_bars",
    "json_safe",
    "parse_args",
    "results_table_path",
    "setup_cli_logging",
    "setup_logging",
    "setup_output_command",
    "write_json",
]
