"""The Trainer side of hf_models' commands: which checkpoint to fine-tune or evaluate and through which library's
classes (hf_models' or transformers' class for the same checkpoint), the output folder's last checkpoint to resume
from, barriers across processes, evaluation in order, and the results row of an evaluated split.

Families and task runners both build on it (`hf_models.tasks.*`, `hf_models.tasks.pretraining`); the parts that do
not need a Trainer (arguments, logging, JSON, results tables) are `hf_models.cli_utils`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .cli_utils import (
    InputError,
    ResultsArguments,
    append_results_row,
    json_safe,
    output_dir_contents,
    parse_args,
    prepare_output_dir,
    results_table_path,
    setup_logging,
    write_json,
)
from .file_utils import atomic_write, staged_folder

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

    def __post_init__(self):
        for name in ("max_train_samples", "max_eval_samples", "max_predict_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name} must be at least 1 (leave it out to keep every example), got {value}")


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
    _check_local_config(source, model_args.trust_remote_code)
    config = AutoConfig.from_pretrained(source, **model_args.hub_kwargs(), **overrides)
    from .gpt.configuration_gpt import TRANSFORMERS_MODEL_TYPES as GPT_FORMATS

    if config.model_type in GPT_FORMATS and model_args.implementation == "hf_models":
        from .gpt import GPTConfig  # one hf_models family for three transformers architectures

        return GPTConfig.from_transformers(config)
    if config.model_type == "hf_gpt":  # 'auto' keeps it; 'transformers' takes the class of its architecture
        return config.to_transformers() if model_args.implementation == "transformers" else config
    ours_to_theirs = _transformers_model_types()
    theirs_to_ours = {theirs: ours for ours, theirs in ours_to_theirs.items()}
    if model_args.implementation == "hf_models" and config.model_type not in ours_to_theirs:
        if config.model_type not in theirs_to_ours:
            raise ValueError(
                f"{source}: model_type {config.model_type!r} has no hf_models implementation (hf_models runs "
                f"{', '.join(sorted([*theirs_to_ours, *GPT_FORMATS]))} checkpoints); use --implementation auto or "
                "transformers"
            )
        config = AutoConfig.for_model(theirs_to_ours[config.model_type], **_config_fields(config))
    elif model_args.implementation == "transformers" and config.model_type in ours_to_theirs:
        config = AutoConfig.for_model(ours_to_theirs[config.model_type], **_config_fields(config))
    return config


def _check_local_config(source: str, trust_remote_code: bool) -> None:
    """A local config.json that is not JSON, or whose model_type neither hf_models nor this transformers knows, is an
    InputError naming it (instead of transformers' request for trust_remote_code, or its traceback)."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from .auto import FAMILIES

    path = os.path.join(source, "config.json") if os.path.isdir(source) else source
    if not os.path.isfile(path):
        return  # a hub name, or a folder without config.json: transformers says
    problem = _json_file_problem(path)
    if problem:
        raise InputError(f"{path}: {problem}; the model folder is damaged: save or copy the model again")
    with open(path, "rb") as f:
        config = json.loads(f.read().decode("utf-8-sig"))
    if not isinstance(config, dict):
        raise InputError(f"{path}: expected a JSON object of config fields, got a {type(config).__name__}")
    model_type = config.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise InputError(f"{path}: model_type must be a string, got {model_type!r}")
    if model_type and model_type in CONFIG_MAPPING:
        return
    if config.get("auto_map") and trust_remote_code:
        return  # the checkpoint brings its own code, and the user trusts it
    remote = "; its own code (auto_map) runs with --trust_remote_code, if you trust it" if config.get("auto_map") else ""
    if not model_type:
        if remote:
            raise InputError(f"{path}: no model_type{remote}")
        return  # transformers guesses the type from the name, or says it cannot
    ours = ", ".join(family.model_type for family in FAMILIES.values())
    raise InputError(f"{path}: model_type {model_type!r} is neither an hf_models model ({ours}) nor one transformers "
                     f"{transformers.__version__} knows" + (remote or "; correct it, or upgrade transformers if the "
                                                            "architecture is newer than this version"))


def _json_file_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with a JSON file of a model folder (None when it parses): cut short, not UTF-8, not JSON."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        return "the file is empty"
    try:
        json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f"line {line}: not UTF-8 text, so not JSON (binary garbage?)"
    except json.JSONDecodeError as error:
        at_end = error.pos >= len(data.decode("utf-8-sig").rstrip()) or error.msg.startswith("Unterminated string")
        end = " (the file ends there: cut short?)" if at_end else ""
        return f"line {error.lineno}: not valid JSON ({error.msg}){end}"
    return None


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
    source = model_args.model_name_or_path
    weights = _local_weights(source) if os.path.isdir(source) else []
    for path in weights:  # a damaged file is named here, not deep inside safetensors or torch.load
        problem = safetensors_problem(path) if path.endswith(".safetensors") else _torch_file_problem(path)
        if problem:
            raise InputError(f"{os.path.join(source, problem)}; the model folder is damaged (a save cut short by a "
                             "kill or a full disk?): save or copy the model again")
    if config.model_type != "hf_gpt" and _folder_model_type(source) == "hf_gpt":
        # an hf_models GPT folder run by transformers' class: written in its architecture's format first
        import tempfile

        from .gpt.convert_gpt import export_folder

        with tempfile.TemporaryDirectory(prefix="hf_models-export-") as tmp:
            export_folder(source, tmp)
            model = auto_class.from_pretrained(tmp, config=config,
                                               ignore_mismatched_sizes=model_args.ignore_mismatched_sizes)
            with torch.no_grad():
                for param in model.parameters():  # independent of the temporary file
                    param.data = param.data.clone()
        logger.info(f"Model: {type(model).__module__}.{type(model).__name__} ({model.num_parameters():,} parameters)")
        return model
    try:
        model = auto_class.from_pretrained(
            source,
            config=config,
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
            **model_args.hub_kwargs(),
        )
    except Exception as error:
        # what safetensors (SafetensorError, an Exception) and torch.load raise for a damaged file; others go on
        damaged = type(error).__name__ == "SafetensorError" or isinstance(
            error, (EOFError, pickle.UnpicklingError, zipfile.BadZipFile)) or "PytorchStreamReader" in str(error)
        if isinstance(error, RuntimeError) and "ignore_mismatched_sizes" in str(error):
            # a head of another size (a checkpoint fine-tuned on 2 labels, data with 3): the user's choice to make
            saved = _saved_num_labels(source)
            sizes = (f"the checkpoint's head has {saved} label(s), this run needs {config.num_labels}"
                     if saved is not None and saved != config.num_labels else
                     "some of the checkpoint's weights have other shapes than this run's model")
            raise InputError(f"{source}: {sizes}; pass --ignore_mismatched_sizes to start those layers afresh (or "
                             "start from a checkpoint without a head)") from error
        if not (weights and damaged):
            raise
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise InputError(f"{' or '.join(weights)}: cannot be read ({type(error).__name__}: {first_line}); the weights "
                         "file is damaged or not a model's: save or copy the model again") from error
    logger.info(f"Model: {type(model).__module__}.{type(model).__name__} ({model.num_parameters():,} parameters)")
    return model


def _saved_num_labels(source: str) -> int | None:
    """The number of labels a local checkpoint's config.json declares (id2label or num_labels), or None."""
    path = os.path.join(source, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict):
        return None
    if isinstance(saved.get("id2label"), dict):
        return len(saved["id2label"])
    return saved.get("num_labels") if isinstance(saved.get("num_labels"), int) else None


def _folder_model_type(source: str) -> str | None:
    """The model_type of a local folder's config.json (None for a Hub name or an unreadable file)."""
    path = os.path.join(source, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def _local_weights(folder: str) -> list[str]:
    """The weights files of a local model folder that from_pretrained reads (safetensors first, as transformers)."""
    for single, index in (("model.safetensors", "model.safetensors.index.json"),
                          ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        if os.path.isfile(os.path.join(folder, single)):
            return [os.path.join(folder, single)]
        index_path = os.path.join(folder, index)
        if os.path.isfile(index_path):
            problem = _json_file_problem(index_path)
            if problem:
                raise InputError(f"{index_path}: {problem}; the model folder is damaged: save or copy the model again")
            with open(index_path, encoding="utf-8-sig") as f:
                weight_map = json.load(f)
            weight_map = weight_map.get("weight_map") if isinstance(weight_map, dict) else None
            if not isinstance(weight_map, dict):
                raise InputError(f"{index_path}: no weight_map object; the model folder is damaged: save or copy the "
                                 "model again")
            shards = sorted(set(map(str, weight_map.values())))
            missing = [name for name in shards if not os.path.isfile(os.path.join(folder, name))]
            if missing:
                raise InputError(f"{index_path}: names the weights file {missing[0]}, which is missing from {folder}")
            return [os.path.join(folder, name) for name in shards]
    return []


def _torch_file_problem(path: str) -> str | None:
    """Why a pytorch_model.bin cannot be a torch.save file (None when it may be): empty, or a zip archive cut short,
    or neither a zip archive nor a legacy pickle. The message starts with the file's name."""
    name = os.path.basename(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        return f"{name} is empty"
    if zipfile.is_zipfile(path):
        return None
    if head.startswith(b"PK"):
        return f"{name} is cut short: a zip archive (torch.save's format) without its end"
    if head.startswith(b"\x80"):  # the legacy pickle format of torch.save (before PyTorch 1.6)
        return None
    return f"{name} is not a PyTorch weights file (neither torch.save's zip archive nor a pickle)"


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
    present = []
    if os.path.isdir(source):
        present = [name for name in (*TOKENIZER_FILES, *_TOKENIZER_JSON_FILES, "merges.txt")
                   if os.path.isfile(os.path.join(source, name))]
        for name in present:  # a damaged file is named here, not deep inside tokenizers or json
            path = os.path.join(source, name)
            problem = _json_file_problem(path) if name.endswith(".json") else _text_file_problem(path, name)
            if problem:
                raise InputError(f"{path}: {problem}; the tokenizer files are damaged: save or copy the tokenizer "
                                 "again")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **model_args.hub_kwargs(), **kwargs)
    except (ImportError, OSError):
        raise  # a missing library or file: transformers' message says which
    except Exception as error:
        # files that parse but do not make a tokenizer: tokenizers raises a bare Exception ("Error while initializing
        # WordPiece"), transformers a KeyError or TypeError from deep inside (a tokenizer.json of another shape)
        if not present:
            raise
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise InputError(f"{source}: cannot build its tokenizer from {', '.join(present)} ({type(error).__name__}: "
                         f"{first_line}); save or copy the tokenizer again") from error
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
# the JSON files a saved tokenizer may have besides: each must parse
_TOKENIZER_JSON_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


def _text_file_problem(path: str, name: str) -> str | None:
    """Why a vocabulary or merges text file (vocab.txt, merges.txt) cannot be one: empty, or not UTF-8 text (binary
    garbage); None for the other (binary) tokenizer files and a readable text file."""
    if not name.endswith(".txt"):
        return None
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        return "the file is empty"
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f"line {line}: not UTF-8 text (binary garbage?)"
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        return f"line {line}: a NUL byte, so not text (binary garbage?)"
    return None


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


def dataset_rows(generated, count: int):
    """The first `count` rows of generated ids gathered from several processes.

    Under torchrun, a Seq2SeqTrainer's generated predictions can come back with more rows than the dataset has: each
    process fills its last batch with repeated examples (accelerate's even batches), and the rows gathered from all
    processes then hold those repeats after the dataset's own rows, in order. Fewer rows than `count` are left as
    they are (the caller's length check names the problem)."""
    if isinstance(generated, tuple):
        generated = generated[0]
    return generated[:count] if len(generated) > count else generated


def implementation_name(model) -> str:
    """'hf_models' or 'transformers' (or the defining package) for a model instance."""
    module = type(model).__module__
    return module.split(".")[0]


# ----------------------------------------------------------------------------------------------------------------------
# Output folders, processes and results
# ----------------------------------------------------------------------------------------------------------------------
def checkpoint_problem(checkpoint: str | os.PathLike) -> str | None:
    """Why a Trainer checkpoint folder cannot be resumed from (None when it is complete).

    transformers writes a checkpoint's weights, optimizer, scheduler and random states first and trainer_state.json
    last: a checkpoint whose trainer_state.json is missing or unreadable, or whose weights file is missing or cut
    short, was interrupted (a kill, a full disk) while it was being written.
    """
    checkpoint = Path(checkpoint)
    state = checkpoint / "trainer_state.json"
    if not state.is_file():
        return "trainer_state.json, written last, is missing: the save was interrupted"
    try:
        if "global_step" not in json.loads(state.read_text(encoding="utf-8")):
            return "trainer_state.json has no global_step"
    except (ValueError, UnicodeDecodeError):
        return "trainer_state.json is cut short or not JSON: the save was interrupted"
    weights = [checkpoint / name for name in WEIGHTS_FILES if (checkpoint / name).is_file()]
    index = checkpoint / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (ValueError, KeyError, UnicodeDecodeError):
            return "model.safetensors.index.json is cut short or not a weights index"
        missing = [name for name in sorted(shards) if not (checkpoint / name).is_file()]
        if missing:
            return f"weight shard {missing[0]} is missing"
        weights += [checkpoint / name for name in shards]
    if not weights:
        return f"no weights file ({', '.join(WEIGHTS_FILES)})"
    for path in weights:
        problem = safetensors_problem(path) if path.suffix == ".safetensors" else None
        if problem:
            return problem
    return None


def safetensors_problem(path: str | os.PathLike) -> str | None:
    """Why a .safetensors file cannot be read (None when its header is whole and its data as long as the header
    says): a file cut short by a kill or a full disk, or one that is not safetensors at all."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"{path.name} is cut short ({size} bytes): not a whole safetensors file"
        header_length = int.from_bytes(head, "little")
        if header_length > size - 8:
            return f"{path.name} is cut short or not a safetensors file (its header says {header_length} bytes)"
        try:
            header = json.loads(f.read(header_length))
        except (ValueError, UnicodeDecodeError):
            return f"{path.name} is not a safetensors file (its header is not JSON)"
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    if ends and 8 + header_length + max(ends) > size:
        return f"{path.name} is cut short: {size} bytes where its header needs {8 + header_length + max(ends)}"
    return None


WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin")
INCOMPLETE_PREFIX = "incomplete-"


def last_complete_checkpoint(output_dir: str | os.PathLike, set_aside: bool = False) -> str | None:
    """The newest checkpoint-N folder of `output_dir` that is complete (see `checkpoint_problem`).

    Newer ones that are not complete are named in a warning with the reason; with `set_aside` they are renamed
    `incomplete-checkpoint-N` (kept for inspection, out of the Trainer's way: it would resume from, or rotate,
    only folders named checkpoint-N).
    """
    output_dir = str(output_dir)
    steps = {}
    for name in os.listdir(output_dir):
        match = _CHECKPOINT.match(name)
        if match and os.path.isdir(os.path.join(output_dir, name)):
            steps[int(match.group(1))] = os.path.join(output_dir, name)
    for step in sorted(steps, reverse=True):
        problem = checkpoint_problem(steps[step])
        if problem is None:
            return steps[step]
        message = f"Skipping {steps[step]}, which is not complete ({problem})"
        if set_aside:
            aside = os.path.join(output_dir, INCOMPLETE_PREFIX + os.path.basename(steps[step]))
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(steps[step], aside)
            message += f"; set aside as {aside}"
        logger.warning(message)
    return None


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def detect_last_checkpoint(training_args, overwrite_output_dir: bool, inputs=()) -> str | None:
    """Take the output folder (see `cli_utils.prepare_output_dir`: writable, held by this run alone, emptied by
    `--overwrite_output_dir`) and return the checkpoint to resume from: the newest complete one (half-written ones
    are skipped, named and set aside). A non-empty folder is refused when the run does not train, or trains but
    finds no checkpoint in it (the files are not this run's: nothing there is overwritten without asking).

    `inputs`: this run's input paths (model, tokenizer, data files), which `--overwrite_output_dir` must not delete.
    """
    output_dir = training_args.output_dir
    resume = training_args.resume_from_checkpoint
    if resume is not None and not isinstance(resume, bool):
        if not os.path.isdir(resume):
            raise InputError(f"--resume_from_checkpoint {resume} does not exist")
        problem = checkpoint_problem(resume)
        if problem is not None:
            raise InputError(f"--resume_from_checkpoint {resume} is not a complete checkpoint: {problem}")
    prepare_output_dir(output_dir, overwrite_output_dir, inputs=inputs, resumable=training_args.do_train,
                       main_process=training_args.process_index == 0)
    if resume is not None and not isinstance(resume, bool):
        return resume
    if not training_args.do_train or overwrite_output_dir:
        return None
    last_checkpoint = last_complete_checkpoint(output_dir, set_aside=training_args.process_index == 0)
    if last_checkpoint is None and output_dir_contents(output_dir):
        raise InputError(
            f"output directory {output_dir} already exists and is not empty, and holds no complete checkpoint to "
            "resume from. Use a new --output_dir, or pass --overwrite_output_dir to replace its contents."
        )
    if last_checkpoint is not None:
        logger.info(
            f"Checkpoint found in {output_dir}: resuming training from {last_checkpoint}. Pass --overwrite_output_dir "
            "to start afresh instead."
        )
    return last_checkpoint


class SafeSavingMixin:
    """For a `transformers.Trainer` subclass: every file it saves appears whole or not at all.

    The model, its config and tokenizer are written into a staging folder and renamed into place one by one,
    config.json last (`file_utils.staged_folder`); the metrics and the trainer state are written atomically, as
    strict JSON (NaN and Infinity become null, with a warning). Checkpoints keep transformers' order (weights,
    optimizer, ..., trainer_state.json last), which `checkpoint_problem` checks before resuming from one. The saved
    config keeps the model's `use_cache` (the Trainer turns it off for training).
    """

    def __init__(self, *args, **kwargs):
        model = kwargs.get("model", args[0] if args else None)
        # transformers' Trainer sets config.use_cache to TrainingArguments.use_cache (False) for training; the saved
        # config keeps the model's own value, or a saved generative model would decode without its cache (slowly)
        self._model_use_cache = getattr(getattr(model, "config", None), "use_cache", None)
        super().__init__(*args, **kwargs)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        config = getattr(self.model, "config", None)
        training_use_cache = getattr(config, "use_cache", None)
        if self._model_use_cache is not None and training_use_cache is not None:
            config.use_cache = self._model_use_cache
        try:
            with staged_folder(output_dir) as staging:
                super()._save(str(staging), state_dict=state_dict)
        finally:
            if training_use_cache is not None:
                config.use_cache = training_use_cache

    def save_metrics(self, split, metrics, combined=True):
        if not self.is_world_process_zero():
            return
        metrics = json_safe(metrics, f"{split}_results.json")
        write_json(os.path.join(self.args.output_dir, f"{split}_results.json"), dict(sorted(metrics.items())))
        if combined:
            path = os.path.join(self.args.output_dir, "all_results.json")
            all_metrics = {}
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    all_metrics = json.load(f)
            all_metrics.update(metrics)
            write_json(path, dict(sorted(all_metrics.items())))

    def save_state(self):
        if not self.is_world_process_zero():
            return
        with atomic_write(os.path.join(self.args.output_dir, "trainer_state.json")) as f:
            f.write(json.dumps(dataclasses.asdict(self.state), indent=2, sort_keys=True) + "\n")  # as save_to_json


def wait_for_everyone(training_args) -> None:
    """A barrier across the processes of a distributed run (no-op in a single process)."""
    if training_args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def run_task_cli(data_arguments_class, run_function, logger_name: str, argv: list[str] | None = None,
                 training_arguments_class=None) -> dict:
    """The body of every `training/run_<task>.py`: parse (model, data, run, training) arguments, log, run the task.
    `training_arguments_class`: TrainingArguments, or Seq2SeqTrainingArguments where an encoder-decoder (T5) answers
    by generating (its --predict_with_generate, --generation_num_beams and --generation_max_length flags)."""
    from transformers import TrainingArguments

    model_args, data_args, run_args, training_args = parse_args(
        (ModelArguments, data_arguments_class, RunArguments, training_arguments_class or TrainingArguments), argv
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
    "SafeSavingMixin",
    "checkpoint_problem",
    "dataset_rows",
    "detect_last_checkpoint",
    "implementation_name",
    "last_complete_checkpoint",
    "load_config",
    "load_model",
    "load_tokenizer",
    "record_results",
    "run_task_cli",
    "safetensors_problem",
    "wait_for_everyone",
]
