"""What every command line of hf_models shares, with or without a Trainer: the common arguments (declared once here),
argument parsing (flags or one JSON file), logging, progress bars, output folders that are never overwritten
silently, JSON results and the Markdown results table every evaluation appends a row to.

`training/*.py` and `eval/*.py` are thin commands over the library; the Trainer side of them (which checkpoint to
load through which library's classes, resuming, barriers) is `hf_models.trainer_utils`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import functools
import json
import logging
import math
import os
import re
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .file_utils import atomic_write

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
    try:
        if len(argv) == 1 and argv[0].endswith(".json"):
            return parser.parse_json_file(json_file=argv[0])
        return parser.parse_args_into_dataclasses(args=argv)
    except ValueError as err:  # an argument's own check (ours or TrainingArguments'): the user's to fix
        raise InputError(f"arguments: {err}") from None


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


def setup_output_command(args: OutputArguments, *logger_names: str, inputs: tuple = (), resumable: bool = False
                         ) -> None:
    """The start of every command without a Trainer: logging as asked, then take the output folder (see
    `prepare_output_dir`: writable, held by this run alone, refused when not empty unless `--overwrite_output_dir`)."""
    setup_cli_logging(args.log_level, *logger_names, disable_tqdm=args.disable_tqdm)
    prepare_output_dir(args.output_dir, args.overwrite_output_dir, inputs=inputs, resumable=resumable)


# ----------------------------------------------------------------------------------------------------------------------
# Errors the user can fix: one line and exit status 2
# ----------------------------------------------------------------------------------------------------------------------
class InputError(ValueError):
    """Bad input that the user can fix (a file, a folder, a flag): a command prints the message alone, as one line,
    and exits with status 2. The message names the file (and line or field) and the problem."""


EXIT_BAD_INPUT = 2
# errno values of a write that found no room: no space, quota exceeded, file larger than allowed
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# what torch.save and safetensors raise when a write fails for lack of room
_NO_ROOM_TEXT = ("No space left on device", "file write failed", "inline_container", "os error 28", "os error 27",
                 "File too large", "Disk quota exceeded")
_HF_MODELS_DIR = os.path.dirname(os.path.abspath(__file__))


def is_no_room_error(err: BaseException) -> bool:
    """Whether `err` is a write that failed for lack of room (a full disk, a quota, a file size limit), including
    torch.save's and safetensors' wrappers of it."""
    if isinstance(err, OSError) and err.errno in _NO_ROOM:
        return True
    if isinstance(err, (RuntimeError, OSError)) or type(err).__name__ == "SafetensorError":
        return any(text in str(err) for text in _NO_ROOM_TEXT)
    return False


def _raised_by_us(err: BaseException) -> bool:
    """Whether `err` was raised by hf_models' own code or a command's script (a deliberate check of the input),
    not deep inside another library (a bug, whose traceback is wanted)."""
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = os.path.abspath(tb.tb_frame.f_code.co_filename)
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    ours = [_HF_MODELS_DIR] + ([os.path.dirname(os.path.abspath(main))] if main else [])
    return any(filename.startswith(folder + os.sep) for folder in ours)


def user_error_message(err: BaseException) -> str | None:
    """The one-line message of an error the user can fix, or None for one that deserves its traceback."""
    if isinstance(err, InputError):
        return str(err)
    if is_no_room_error(err):
        where = getattr(err, "filename", None) or ", ".join(sorted(_HELD_LOCKS)) or "the output folder"
        free = ""
        with contextlib.suppress(OSError, TypeError):
            folder = where if os.path.isdir(where) else os.path.dirname(where) or "."
            free = f" ({shutil.disk_usage(folder).free / 2**20:.1f} MiB free there)"
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return (f"no room left on the device while writing {where}{free}: {first_line}. Nothing half-written was "
                "kept; free some space (or use another --output_dir) and run the command again (a training resumes "
                "from its last complete checkpoint)")
    if isinstance(err, OSError) and err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot use {err.filename or 'a file'}: {err.strerror}"
    if isinstance(err, UnicodeDecodeError):
        return f"a file is not UTF-8 text: {err}"
    if isinstance(err, (ValueError, OSError, KeyError)) and _raised_by_us(err):
        return str(err)
    return None


def run_main(main: Callable, argv: list[str] | None = None) -> Any:
    """Run a command's `main(argv)` as a program: an error the user can fix (bad input, a full disk, a read-only
    folder; see `user_error_message`) is printed as one line `PROG: error: MESSAGE` on stderr with exit status 2,
    as argparse does for a bad flag. Set HF_MODELS_TRACEBACK=1 to see its traceback as well; other errors keep it."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # noqa: BLE001 - sorted below: the user's errors become one line, the rest re-raised
        message = user_error_message(err)
        if message is None or os.environ.get("HF_MODELS_TRACEBACK"):
            raise
        prog = os.path.basename(sys.argv[0]) or "hf_models"
        if prog == "__main__.py":  # python -m PACKAGE: the command the user typed, not the module's file name
            prog = f"python -m {os.path.basename(os.path.dirname(os.path.abspath(sys.argv[0])))}"
        print(f"{prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


# ----------------------------------------------------------------------------------------------------------------------
# Output folders: checked at the start, held by one run, emptied only when asked
# ----------------------------------------------------------------------------------------------------------------------
LOCK_FILE = ".hf_models.lock"
# where --overwrite_output_dir keeps the previous run's files until the new run has succeeded
PREVIOUS_RUN_PREFIX = ".hf_models-previous-run-"


@dataclass
class _Hold:
    """This process's hold of an output folder."""

    fd: int  # the open, locked OUTPUT_DIR/.hf_models.lock
    count: int = 1  # holders in this process (a command and the runner it calls)
    was_empty: bool = False  # the folder held nothing when the run took it
    previous: str | None = None  # the previous run's files, moved aside by --overwrite_output_dir
    created: bool = False  # the run created the folder


# process-wide: output folder (real path) -> its hold
_HELD_LOCKS: dict[str, _Hold] = {}


def _is_leftover(name: str) -> bool:
    """Entries a run's machinery leaves (the locks, a killed save's staging folder or temporary file, a killed
    overwrite's previous run): not the user's."""
    return name.startswith(".") and (name.endswith((".tmp", ".lock")) or name.startswith(".hf_models-"))


def output_dir_contents(output_dir: str | os.PathLike) -> list[str]:
    """The names in `output_dir` that a run or the user put there (not the lock or a killed save's leftovers)."""
    if not os.path.isdir(output_dir):
        return []
    return sorted(name for name in os.listdir(output_dir) if not _is_leftover(name))


def check_output_dir(output_dir: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to write into a non-empty folder unless `--overwrite_output_dir` (what the user saved there may be
    wanted), and refuse a path that is a file."""
    output_dir = str(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise InputError(f"--output_dir {output_dir} exists and is not a folder")
    contents = output_dir_contents(output_dir)
    if contents and not overwrite:
        shown = ", ".join(contents[:5]) + (", ..." if len(contents) > 5 else "")
        raise InputError(f"output directory {output_dir} already exists and is not empty ({shown}): its files would "
                         "be overwritten. Use a new --output_dir, or pass --overwrite_output_dir to replace its "
                         "contents with this run's.")


def lock_output_dir(output_dir: str | os.PathLike) -> None:
    """Hold `output_dir` for this process (an exclusive lock on OUTPUT_DIR/.hf_models.lock, released by the
    operating system when the process ends, even by a kill): a second run into the same folder is refused with the
    holder's pid and command. Re-entrant within one process."""
    key = os.path.realpath(output_dir)
    if key in _HELD_LOCKS:
        _HELD_LOCKS[key].count += 1
        return
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: the other checks still apply
        return
    path = os.path.join(key, LOCK_FILE)
    for _ in range(10):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise InputError(f"--output_dir {output_dir} is not writable ({err.strerror}): choose a folder this user "
                             "can write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise InputError(f"output directory {output_dir} is in use by another run ({holder or 'unknown'}): wait "
                             "for it to finish, or use another --output_dir") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and our lock: take the new one
    else:
        raise InputError(f"could not lock {path}")
    info = (f"pid {os.getpid()} on {socket.gethostname()} since "
            f"{datetime.datetime.now().isoformat(timespec='seconds')}: {' '.join(sys.argv)[:300]}")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode("utf-8") + b"\n", 0)
    except OSError as err:
        os.close(fd)
        raise InputError(f"--output_dir {output_dir} is not writable ({err.strerror})") from None
    _HELD_LOCKS[key] = _Hold(fd)


def keep_output_dir(output_dir: str | os.PathLike) -> None:
    """Mark what this run has written into `output_dir` as worth keeping: a later failure (or Ctrl-C) of the run does
    not take the folder back to empty, as `releases_output_dirs` does for a run that saved nothing (for runs that save
    results piece by piece and resume from them)."""
    held = _HELD_LOCKS.get(os.path.realpath(output_dir))
    if held is not None:
        held.was_empty = False


def release_output_dir(output_dir: str | os.PathLike) -> None:
    """Give up this process's hold of `output_dir` (the lock file goes when the last holder releases it)."""
    key = os.path.realpath(output_dir)
    held = _HELD_LOCKS.get(key)
    if held is None:
        return
    held.count -= 1
    if held.count > 0:
        return
    del _HELD_LOCKS[key]
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(key, LOCK_FILE))
    os.close(held.fd)


def releases_output_dirs(function: Callable) -> Callable:
    """Decorator of a command's main or a task runner: the output folders it took are released when it returns
    or raises (a process that ends releases them anyway), and a run that fails before saving a model or a
    checkpoint leaves its folder as it found it: empty again (so that the corrected command can run into it), or
    with the previous run that `--overwrite_output_dir` had set aside put back (see `_finish_output_dir`)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        before = {key: held.count for key, held in _HELD_LOCKS.items()}
        succeeded = False
        try:
            result = function(*args, **kwargs)
            succeeded = True
            return result
        finally:
            for key, held in list(_HELD_LOCKS.items()):
                taken = held.count - before.get(key, 0)
                if taken > 0 and held.count == taken:  # this call took the folder: its run ends here
                    _finish_output_dir(key, held, succeeded)
                for _ in range(taken):
                    release_output_dir(key)

    return wrapper


# what a failed run keeps: a saved model (its config.json), a checkpoint or a finished epoch to resume from
_WORTH_KEEPING = re.compile(r"^(config\.json|checkpoint-\d+|last_epoch(\.old)?)$")


def _remove_entries(folder: str, names: list[str]) -> None:
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _finish_output_dir(output_dir: str, held: _Hold, succeeded: bool) -> None:
    """The end of a run in `output_dir`.

    Success: the previous run set aside by `--overwrite_output_dir` is deleted (the folder holds the new run alone).
    Failure before the run saved anything worth keeping (a model, a checkpoint, a finished epoch to resume from):
    what it wrote (a tokenizer, logs, partial results) is removed and the previous run, if one was set aside, is put
    back, so that the folder is as the run found it and the corrected command can run into it again.
    """
    contents = output_dir_contents(output_dir)
    keep_new = succeeded or any(_WORTH_KEEPING.match(name) for name in contents)
    if not keep_new and (held.was_empty or held.previous):
        _remove_entries(output_dir, contents)
        if contents:
            logger.warning(f"The run failed before saving a model or a checkpoint: removed what it had written to "
                           f"{output_dir} ({', '.join(contents[:5])}{', ...' if len(contents) > 5 else ''})")
        if held.previous:
            for name in os.listdir(held.previous):
                os.replace(os.path.join(held.previous, name), os.path.join(output_dir, name))
            logger.warning(f"{output_dir}: the previous run's files, set aside by --overwrite_output_dir, are back")
    if held.previous:
        shutil.rmtree(held.previous, ignore_errors=True)
    if not keep_new and held.created and not output_dir_contents(output_dir):
        shutil.rmtree(output_dir, ignore_errors=True)  # the run made the folder: it goes with the run


def _is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def clear_output_dir(output_dir: str | os.PathLike, inputs=(), aside: str | None = None) -> list[str]:
    """`--overwrite_output_dir`: take the previous run's files out of the folder, so that it ends up holding the new
    run alone: into `aside` (a folder inside it, deleted when the new run succeeds and put back when it fails early;
    see `releases_output_dirs`), or deleted when `aside` is None. Refused for a folder that holds one of this run's
    inputs (the model to evaluate, a data file), for the home, the current or the root folder, and for a git work
    tree."""
    output_dir = str(output_dir)
    for source in inputs:
        if source and os.path.exists(source) and _is_inside(source, output_dir):
            raise InputError(f"--overwrite_output_dir would empty {output_dir}, which holds this run's input {source}:"
                             " use another --output_dir")
    real = os.path.realpath(output_dir)
    protected = {os.path.realpath(os.sep), os.path.realpath(os.path.expanduser("~"))}
    if real in protected or _is_inside(os.getcwd(), real) or os.path.exists(os.path.join(real, ".git")):
        raise InputError(f"--overwrite_output_dir will not empty {output_dir} (the root, home or current folder, or a "
                         "git work tree): use a folder of its own for the run")
    removed = output_dir_contents(output_dir)
    if aside is not None:
        os.makedirs(aside, exist_ok=True)
    for name in removed:
        path = os.path.join(output_dir, name)
        if aside is not None:
            os.replace(path, os.path.join(aside, name))
        elif os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    if removed:
        logger.warning(f"--overwrite_output_dir: the previous contents of {output_dir} "
                       f"({', '.join(removed[:5])}{', ...' if len(removed) > 5 else ''}) make way for this run")
    return removed


def input_paths(*arguments) -> list[str]:
    """The paths a run reads, from its argument dataclasses (model, tokenizer and config names, data files and
    folders): what `--overwrite_output_dir` must never delete."""
    paths = []
    for args in arguments:
        if args is None or not dataclasses.is_dataclass(args):
            continue
        for item in dataclasses.fields(args):
            name = item.name
            if name in ("model_name_or_path", "tokenizer_name", "config_name", "data_dir", "resume_from_checkpoint") \
                    or name.endswith(("_file", "_files", "_path", "_tokenizer")):
                value = getattr(args, name)
                values = value if isinstance(value, (list, tuple)) else [value]
                paths += [str(v) for v in values if isinstance(v, (str, os.PathLike))]
    return paths


def prepare_output_dir(output_dir: str | os.PathLike, overwrite: bool, *, inputs=(), resumable: bool = False,
                       main_process: bool = True) -> None:
    """Everything a run checks about its output folder before it does any work, so that a problem shows at the
    start, not after training:

    - it is a folder (created when absent) that this user can write to;
    - no other run is writing into it (see `lock_output_dir`; the other processes of a distributed run skip this);
    - the leftovers of a killed save (staging folders, temporary files) are removed;
    - a non-empty folder is refused (nothing saved there is overwritten without asking), unless `resumable` (a
      training that resumes from its checkpoints decides itself) or `--overwrite_output_dir`, which sets the
      previous run aside so that the folder holds the new run alone (deleted when the new run succeeds, put back if
      it fails before saving anything: see `clear_output_dir` and `releases_output_dirs`).
    """
    output_dir = str(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise InputError(f"--output_dir {output_dir} exists and is not a folder")
    created = not os.path.isdir(output_dir)
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as err:
        raise InputError(f"--output_dir {output_dir} cannot be created ({err.strerror})") from None
    if not main_process:
        return
    try:
        lock_output_dir(output_dir)
    except InputError:
        if created:
            shutil.rmtree(output_dir, ignore_errors=True)
        raise
    held = _HELD_LOCKS.get(os.path.realpath(output_dir))
    if held is not None and held.count > 1:  # already taken and prepared by this run (a command calling a runner)
        return
    if held is not None:
        held.created = created
    for name in os.listdir(output_dir):
        if _is_leftover(name) and not name.endswith(".lock"):
            path = os.path.join(output_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
    if overwrite:
        aside = os.path.join(output_dir, f"{PREVIOUS_RUN_PREFIX}{os.getpid()}") if held is not None else None
        if clear_output_dir(output_dir, inputs, aside) and held is not None:
            held.previous = aside
        elif aside is not None and os.path.isdir(aside):
            os.rmdir(aside)
    elif not resumable:
        check_output_dir(output_dir, overwrite=False)
    if held is not None:
        held.was_empty = not output_dir_contents(output_dir)


# ----------------------------------------------------------------------------------------------------------------------
# JSON and results tables
# ----------------------------------------------------------------------------------------------------------------------
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
    """Write `obj` as indented UTF-8 JSON (non-ASCII text kept readable), creating the folder; atomically (the file
    appears whole or not at all).

    The file is strict JSON: NaN and Infinity are written as null, with a warning naming the keys (see `json_safe`).
    """
    path = Path(path)
    text = json.dumps(json_safe(obj, str(path)), indent=2, ensure_ascii=False, sort_keys=False, allow_nan=False)
    with atomic_write(path) as f:  # whole or not at all: a kill or a full disk never leaves half a JSON file
        f.write(text + "\n")


RESULTS_COLUMNS = ("date", "task", "split", "model", "implementation", "examples", "metrics", "output_dir")


def _format_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def append_results_row(table: str | os.PathLike, row: dict[str, Any]) -> Path:
    """Append one row (keys of RESULTS_COLUMNS; `metrics` a dict) to a Markdown results table, creating it if absent.

    Existing rows are kept as they are: the file only grows, so several runs (and both implementations) can share
    it; the new version replaces the old one whole (a kill never leaves half a row), one run at a time.
    """
    table = Path(table)
    table.parent.mkdir(parents=True, exist_ok=True)
    row = dict(row)
    row.setdefault("date", datetime.datetime.now().isoformat(timespec="seconds"))
    metrics = row.get("metrics") or {}
    row["metrics"] = "; ".join(f"{k}={_format_metric(v)}" for k, v in metrics.items())
    cells = [str(row.get(column, "")).replace("|", "\\|").replace("\n", " ") for column in RESULTS_COLUMNS]
    line = "| " + " | ".join(cells) + " |\n"
    with _table_lock(table):  # several runs may share the table: one at a time reads it and writes it back
        previous = table.read_text(encoding="utf-8") if table.exists() else ""
        if previous and not previous.endswith("\n"):
            previous += "\n"  # a row cut by a kill of an older version: keep it, start the new one on its own line
        if not previous.strip():
            previous = "| " + " | ".join(RESULTS_COLUMNS) + " |\n" + "|" + "---|" * len(RESULTS_COLUMNS) + "\n"
        with atomic_write(table) as f:  # the table gains the row whole, or stays as it was
            f.write(previous + line)
    return table


@contextlib.contextmanager
def _table_lock(table: Path):
    """An exclusive lock on .TABLE.lock beside it while a run appends to a results table shared by several runs."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(table.with_name(f".{table.name}.lock"), "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def results_table_path(args: ResultsArguments, output_dir: str | os.PathLike) -> str:
    """The results table of a run: `--results_table`, or OUTPUT_DIR/results.md."""
    return str(args.results_table or os.path.join(output_dir, "results.md"))


__all__ = [
    "EXIT_BAD_INPUT",
    "LOCK_FILE",
    "LOG_LEVELS",
    "PREVIOUS_RUN_PREFIX",
    "RESULTS_COLUMNS",
    "InputError",
    "OutputArguments",
    "ResultsArguments",
    "append_results_row",
    "check_output_dir",
    "clear_output_dir",
    "disable_progress_bars",
    "input_paths",
    "is_no_room_error",
    "json_safe",
    "keep_output_dir",
    "lock_output_dir",
    "output_dir_contents",
    "parse_args",
    "prepare_output_dir",
    "release_output_dir",
    "releases_output_dirs",
    "results_table_path",
    "run_main",
    "setup_cli_logging",
    "setup_logging",
    "setup_output_command",
    "user_error_message",
    "write_json",
]
