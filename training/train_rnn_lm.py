#!/usr/bin/env python
"""Train a word-level RNN/LSTM language model by truncated BPTT (Zaremba et al. 2014; pytorch/examples'
word_language_model) with hf_models' `RnnForCausalLM`.

Text files hold one sentence per line, words separated by whitespace (UTF-8); every line ends with `<eos>`. The
vocabulary comes from `--train_file`; a word of the validation or test file that it lacks is an error naming file
and line, unless `--unk_token` is given (PTB's text already holds `<unk>`, and every valid/test word is in train).

OUTPUT_DIR gets the best model (lowest validation perplexity; `save_pretrained`: config.json, model.safetensors), the
word-level tokenizer (tokenizer.json, so `AutoTokenizer.from_pretrained(OUTPUT_DIR)` reloads it),
`train_results.json` (per-epoch loss, perplexity, seconds, tokens/s), `eval_results.json` (valid/test perplexity)
and a row per evaluated split in the results table (`--results_table`, default OUTPUT_DIR/results.md).
The example's default model on Penn Treebank:

    python training/train_rnn_lm.py --train_file ../shared/data/ptb/ptb.train.txt \
        --validation_file ../shared/data/ptb/ptb.valid.txt --test_file ../shared/data/ptb/ptb.test.txt \
        --epochs 3 --output_dir /tmp/ptb-lstm

Zaremba et al.'s small (non-regularised) configuration: their lr 1 and clip 5 apply to the loss summed over the
bptt steps, which is lr 20 and clip 0.25 on the per-token mean used here (bptt 20):

    python training/train_rnn_lm.py ... --epochs 13 --bptt 20 --dropout 0 --init_range 0.1 --lr 20 --clip 0.25 \
        --lr_decay 0.5 --constant_lr_epochs 4 --output_dir /tmp/ptb-zaremba-small

and their medium (regularised) one, lr 1 / clip 5 on the sum over 35 steps (a GPU run: `--device` picks cuda):

    python training/train_rnn_lm.py ... --epochs 39 --embedding_size 650 --hidden_size 650 --dropout 0.5 \
        --init_range 0.05 --lr 35 --clip 0.142857 --lr_decay 0.8333333 --constant_lr_epochs 6 \
        --output_dir /tmp/ptb-zaremba-medium

Every finished epoch leaves OUTPUT_DIR/last_epoch; the same command with `--resume` continues an interrupted run
exactly where it stopped (the same updates as an uninterrupted run).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from hf_models.cli_utils import (
    OutputArguments,
    append_results_row,
    input_paths,
    parse_args,
    prepare_output_dir,
    releases_output_dirs,
    results_table_path,
    run_main,
    setup_cli_logging,
    write_json,
)
from hf_models.file_utils import staged_folder
from hf_models.rnn import RnnForCausalLM
from hf_models.rnn.configuration_rnn import CELL_TYPES, IMPLEMENTATIONS
from hf_models.rnn.language_modeling import (
    LAST_EPOCH_DIR,
    TRAINING_STATE,
    build_tokenizer,
    build_vocab,
    count_parameters,
    encode_file,
    evaluate_perplexity,
    init_like_word_language_model,
    init_uniform,
    last_epoch_folder,
    train_tbptt,
    word_language_model_config,
)

logger = logging.getLogger("hf_models.train_rnn_lm")


@dataclass
class DataArguments:
    """Where the text is (where the model goes: `hf_models.cli_utils.OutputArguments`)."""

    train_file: str = field(metadata={"help": "Training text (one sentence per line, whitespace-separated words)."})
    validation_file: str | None = field(
        default=None, metadata={"help": "Validation text: lr annealing and best-model selection (needed for training)."}
    )
    test_file: str | None = field(default=None, metadata={"help": "Test text, evaluated with the best model."})
    unk_token: str | None = field(
        default=None, metadata={"help": "Map words unseen in the training file to this token (e.g. '<unk>'); "
                                        "without it they are an error."}
    )
    resume: bool = field(
        default=False, metadata={"help": "Continue the run in OUTPUT_DIR after its last finished epoch (same "
                                         "settings; --epochs may be raised)."}
    )
    max_train_tokens: int | None = field(default=None, metadata={"help": "Smoke runs: keep the first N train tokens."})


@dataclass
class ModelArguments:
    """The recurrent language model (defaults: the example's 2-layer LSTM, 200 units)."""

    cell_type: str = field(default="lstm", metadata={"help": "lstm, gru, rnn_tanh or rnn_relu.",
                                                      "choices": list(CELL_TYPES)})
    embedding_size: int = field(default=200, metadata={"help": "Width of the word embeddings (the example's emsize)."})
    hidden_size: int = field(default=200, metadata={"help": "Units per recurrent layer (the example's nhid)."})
    num_layers: int = field(default=2, metadata={"help": "Stacked recurrent layers."})
    dropout: float = field(default=0.2, metadata={"help": "Dropout on embeddings, between layers and on outputs."})
    tie_word_embeddings: bool = field(default=False, metadata={"help": "Share input and output word matrices."})
    implementation: str = field(
        default="fused", metadata={"help": "fused (torch kernels) or cells (lecture-style cells, slower).",
                                   "choices": list(IMPLEMENTATIONS)}
    )


@dataclass
class TrainingArguments:
    """Truncated BPTT with plain SGD, as pytorch/examples word_language_model."""

    epochs: int = field(default=3, metadata={"help": "Passes over the training text."})
    lr: float = field(default=20.0, metadata={"help": "Initial SGD learning rate; divided by 4 when validation "
                                                      "perplexity does not improve."})
    clip: float = field(default=0.25, metadata={"help": "Gradient-norm clipping threshold (0: none)."})
    bptt: int = field(default=35, metadata={"help": "Truncated BPTT length (tokens per chunk)."})
    batch_size: int = field(default=20, metadata={"help": "Parallel training streams."})
    eval_batch_size: int = field(default=10, metadata={"help": "Parallel evaluation streams."})
    seed: int = field(default=1111, metadata={"help": "Random seed (the example's default)."})
    lr_decay: float | None = field(
        default=None, metadata={"help": "Zaremba et al.'s fixed schedule instead of annealing on plateau: after "
                                        "--constant_lr_epochs epochs, multiply the lr by this every epoch."}
    )
    constant_lr_epochs: int = field(default=0, metadata={"help": "Epochs at the initial lr before --lr_decay."})
    init_range: float | None = field(
        default=None, metadata={"help": "Draw every parameter from U(-r, r) (Zaremba et al.); default: the "
                                        "example's init (U(-0.1, 0.1) embeddings/decoder, torch's LSTM init)."}
    )
    device: str = field(
        default="auto", metadata={"help": "Where to train: auto (cuda when available, else cpu), cpu, cuda, cuda:1."}
    )

    def __post_init__(self):
        for name in ("epochs", "bptt", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"--{name} must be a positive integer, got {value}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        if self.clip < 0:
            raise ValueError(f"--clip must be >= 0, got {self.clip}")
        if self.lr_decay is not None and not 0 < self.lr_decay <= 1:
            raise ValueError(f"--lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.constant_lr_epochs < 0:
            raise ValueError(f"--constant_lr_epochs must be >= 0, got {self.constant_lr_epochs}")
        if self.init_range is not None and not self.init_range > 0:
            raise ValueError(f"--init_range must be positive, got {self.init_range}")
        self.device = resolve_device(self.device)


def resolve_device(name: str) -> str:
    """--device: 'auto' picks cuda when torch sees a GPU; an unusable name is an error naming the option."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"--device: {name!r} is not a torch device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: torch sees no CUDA GPU on this machine (use cpu or auto)")
    return name


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    data_args, model_args, train_args, out_args = parse_args(
        (DataArguments, ModelArguments, TrainingArguments, OutputArguments), argv
    )
    setup_cli_logging(out_args.log_level, logger.name, "hf_models.rnn.language_modeling",
                      disable_tqdm=out_args.disable_tqdm)
    if data_args.validation_file is None:
        raise ValueError("--validation_file is needed: it selects the best model and anneals the learning rate")
    if data_args.resume and out_args.overwrite_output_dir:
        raise ValueError("--resume continues the run in --output_dir and --overwrite_output_dir empties it: give one")
    # writable, held by this run alone, refused when not empty (unless resuming, or asked to overwrite)
    prepare_output_dir(out_args.output_dir, out_args.overwrite_output_dir, resumable=data_args.resume,
                       inputs=input_paths(data_args))
    if data_args.resume and last_epoch_folder(out_args.output_dir) is None:
        raise ValueError(f"--resume: {out_args.output_dir} holds no finished epoch to resume from "
                         f"({LAST_EPOCH_DIR}/{TRAINING_STATE} missing)")
    torch.manual_seed(train_args.seed)

    vocab = build_vocab(data_args.train_file, data_args.unk_token)
    train_ids = encode_file(data_args.train_file, vocab, data_args.unk_token)
    if data_args.max_train_tokens is not None:
        train_ids = train_ids[: data_args.max_train_tokens]
    valid_ids = encode_file(data_args.validation_file, vocab, data_args.unk_token)
    test_ids = encode_file(data_args.test_file, vocab, data_args.unk_token) if data_args.test_file else None
    logger.info(f"Vocabulary: {len(vocab):,} words; tokens: train {len(train_ids):,}, valid {len(valid_ids):,}"
                + (f", test {len(test_ids):,}" if test_ids is not None else ""))

    config = word_language_model_config(len(vocab), **asdict(model_args))
    model = RnnForCausalLM(config)
    if train_args.init_range is not None:
        init_uniform(model, train_args.init_range)
    else:
        init_like_word_language_model(model)
    model.to(train_args.device)  # initialised on the cpu first, so a seed gives the same weights on any device
    logger.info(f"Model: {count_parameters(model):,} parameters ({config.cell_type}, {config.num_layers} x "
                f"{config.hidden_size}, {config.implementation}) on {train_args.device}")

    output_dir = Path(out_args.output_dir)
    tokenizer = build_tokenizer(vocab, data_args.unk_token)
    with staged_folder(output_dir, marker=None) as staging:  # each file renamed into place whole
        tokenizer.save_pretrained(staging)
    history = train_tbptt(
        model, train_ids, valid_ids, train_args.epochs, lr=train_args.lr, clip=train_args.clip, bptt=train_args.bptt,
        batch_size=train_args.batch_size, eval_batch_size=train_args.eval_batch_size, save_dir=output_dir,
        progress=out_args.show_progress, lr_decay=train_args.lr_decay,
        constant_lr_epochs=train_args.constant_lr_epochs, resume=data_args.resume,
    )
    train_results = {
        "epochs": history,
        "train_tokens": len(train_ids),
        "vocab_size": len(vocab),
        "num_parameters": count_parameters(model),
        "train_seconds": sum(row["seconds"] for row in history),
        "tokens_per_second": sum(row["tokens"] for row in history) / sum(row["seconds"] for row in history),
        "arguments": {**asdict(data_args), **asdict(model_args), **asdict(train_args), **asdict(out_args)},
    }
    write_json(output_dir / "train_results.json", train_results)

    # the best epoch's validation perplexity was measured on exactly the weights train_tbptt restored
    eval_results = {"valid_ppl": min(row["valid_ppl"] for row in history)}
    if test_ids is not None:
        eval_results["test_ppl"] = evaluate_perplexity(model, test_ids, train_args.eval_batch_size, train_args.bptt)
    eval_results["valid_loss"] = math.log(eval_results["valid_ppl"])
    write_json(output_dir / "eval_results.json", eval_results)
    logger.info("Perplexity: " + ", ".join(f"{k} {v:.2f}" for k, v in eval_results.items() if k.endswith("ppl")))

    table = results_table_path(out_args, output_dir)
    for split, ids in (("validation", valid_ids), ("test", test_ids)):
        if ids is None:
            continue
        key = "valid_ppl" if split == "validation" else "test_ppl"
        append_results_row(table, {
            "task": "word_lm", "split": split, "model": f"{config.cell_type} {config.num_layers}x{config.hidden_size}",
            "implementation": f"hf_models ({config.implementation})", "examples": len(ids),
            "metrics": {"perplexity": eval_results[key], "epochs": train_args.epochs}, "output_dir": str(output_dir),
        })
    return {"train": train_results, "eval": eval_results}


if __name__ == "__main__":
    run_main(main)
