"""Word-level language modelling with truncated backpropagation through time (Zaremba et al. 2014), the pipeline of
pytorch/examples' `word_language_model` on hf_models' `RnnForCausalLM`.

The corpus is one long stream of word ids (every line of a file, then `<eos>`), cut into `batch_size` parallel
streams (`batchify`); training walks the streams `bptt` steps at a time (`get_batch`), carrying the recurrent state
from one chunk to the next but cutting the graph there (`repackage_hidden`), so gradients flow back at most `bptt`
steps while the state sees the whole past.

The vocabulary is a word-level `PreTrainedTokenizerFast` (the `tokenizers` library's `WordLevel` model on whitespace
split words), ids in order of first appearance in the training file as the example's `data.Dictionary`. It is saved
next to the model (`tokenizer.json`), so `AutoTokenizer.from_pretrained(folder)` reloads it. Words of the validation
or test file that the training file lacks are an error naming file and line, unless an `unk_token` is configured (it
then joins the vocabulary, and unseen words map to it).

Dropout matches the example's `RNNModel`: on the embeddings, between the LSTM layers (inside `nn.LSTM`) and on the
last layer's outputs before the decoder. The example's initialisation (U(-0.1, 0.1) encoder and decoder weights,
zero decoder bias, torch's default LSTM init) is `init_like_word_language_model`. Two differences from the example,
neither active in its default model: `RnnConfig.pad_token_id` must be None here (the config's default 0 would freeze
a real word's embedding row; `word_language_model_config` sets it), and when `embedding_size != hidden_size`
`RnnForCausalLM` adds a learned projection hidden -> embedding before the decoder (the example's decoder reads the
hidden state directly, and refuses tying then).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..file_utils import complete_folder, replace_folder, staged_folder
from .configuration_rnn import RnnConfig
from .modeling_rnn import CACHE_NAME, RnnForCausalLM, RnnState

logger = logging.getLogger("hf_models.rnn.language_modeling")

EOS_TOKEN = "<eos>"


# ----------------------------------------------------------------------------------------------------------------------
# Vocabulary and corpus
# ----------------------------------------------------------------------------------------------------------------------
def _read_lines(path: str | os.PathLike) -> Iterator[tuple[int, list[str]]]:
    """(line number, words + <eos>) for every line of a UTF-8 text file, as the example's `Corpus.tokenize`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as f:  # decoded line by line, so a bad byte is reported on its own line
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}, line {number}: not valid UTF-8 text ({error.reason})") from None
            yield number, [*line.split(), EOS_TOKEN]


def build_vocab(train_file: str | os.PathLike, unk_token: str | None = None) -> dict[str, int]:
    """Word -> id in order of first appearance in the training file (each line + <eos>), as `data.Dictionary`."""
    vocab: dict[str, int] = {}
    for _, words in _read_lines(train_file):
        for word in words:
            if word not in vocab:
                vocab[word] = len(vocab)
    if len(vocab) <= 1:
        raise ValueError(f"{train_file}: the training file has no words")
    if unk_token is not None and unk_token not in vocab:
        vocab[unk_token] = len(vocab)
    return vocab


def build_tokenizer(vocab: dict[str, int], unk_token: str | None = None):
    """A word-level `PreTrainedTokenizerFast` over `vocab` (whitespace-split words, `<eos>` as eos_token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if unk_token is not None and unk_token not in vocab:
        raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
    core = Tokenizer(models.WordLevel(vocab=dict(vocab), unk_token=unk_token))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    special = {"eos_token": EOS_TOKEN} if EOS_TOKEN in vocab else {}
    if unk_token is not None:
        special["unk_token"] = unk_token
    return PreTrainedTokenizerFast(tokenizer_object=core, **special)


def vocab_from_tokenizer(tokenizer) -> dict[str, int]:
    """The word -> id map of a (reloaded) word-level tokenizer."""
    return dict(tokenizer.get_vocab())


def encode_file(path: str | os.PathLike, vocab: dict[str, int], unk_token: str | None = None) -> torch.LongTensor:
    """The file as one stream of word ids (each line + <eos>); an unseen word is an error naming file and line."""
    unk_id = vocab.get(unk_token) if unk_token is not None else None
    if unk_token is not None and unk_id is None:
        raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
    ids: list[int] = []
    for number, words in _read_lines(path):
        for word in words:
            index = vocab.get(word, unk_id)
            if index is None:
                raise ValueError(
                    f"{path}, line {number}: word {word!r} is not in the training vocabulary; configure an unk_token "
                    "(e.g. --unk_token '<unk>') to map unseen words to it"
                )
            ids.append(index)
    return torch.tensor(ids, dtype=torch.long)


# ----------------------------------------------------------------------------------------------------------------------
# Truncated BPTT batching (pytorch/examples word_language_model)
# ----------------------------------------------------------------------------------------------------------------------
def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut one id stream into `batch_size` parallel streams, dropping the remainder: (num_steps, batch_size)."""
    if ids.dim() != 1:
        raise ValueError(f"batchify: ids must be one stream of shape (tokens,), got {tuple(ids.shape)}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    num_steps = ids.size(0) // batch_size
    if num_steps < 2:
        raise ValueError(f"batchify: {ids.size(0)} tokens are too few for {batch_size} streams of at least 2 tokens")
    ids = ids.narrow(0, 0, num_steps * batch_size)
    return ids.view(batch_size, -1).t().contiguous()  # (batch_size, num_steps) -> (num_steps, batch_size)


def get_batch(source: torch.Tensor, i: int, bptt: int = 35) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs source[i:i+L] and next-word targets source[i+1:i+1+L] (flattened), L = min(bptt, len - 1 - i)."""
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i : i + seq_len]  # (seq_len, batch)
    target = source[i + 1 : i + 1 + seq_len].reshape(-1)  # (seq_len * batch,)
    return data, target


def repackage_hidden(state):
    """Cut the graph behind the carried recurrent state: values kept, gradients stop here (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, RnnState):
        cell = state.cell.detach() if state.cell is not None else None
        return RnnState(state.hidden.detach(), cell, state.seen_tokens)
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(repackage_hidden(v) for v in state)


# ----------------------------------------------------------------------------------------------------------------------
# The model of the example, its init, one step
# ----------------------------------------------------------------------------------------------------------------------
def word_language_model_config(vocab_size: int, **overrides) -> RnnConfig:
    """RnnConfig of the example's default model: 2-layer LSTM, 200 units, dropout 0.2, untied, no padding row."""
    fields = {"cell_type": "lstm", "vocab_size": vocab_size, "embedding_size": 200, "hidden_size": 200,
              "num_layers": 2, "dropout": 0.2, "tie_word_embeddings": False, "pad_token_id": None}
    fields.update(overrides)
    return RnnConfig(**fields)


@torch.no_grad()
def init_like_word_language_model(model: RnnForCausalLM, init_range: float = 0.1) -> RnnForCausalLM:
    """The example's `RNNModel.init_weights`: U(-0.1, 0.1) encoder/decoder weights, zero decoder bias, default LSTM."""
    model.model.embeddings.weight.uniform_(-init_range, init_range)
    model.model.rnn.reset_parameters()  # torch's default: U(-1/sqrt(hidden), 1/sqrt(hidden))
    if model.projection is not None:
        model.projection.reset_parameters()
    if model.lm_head.weight is not model.model.embeddings.weight:
        model.lm_head.weight.uniform_(-init_range, init_range)
    model.lm_head.bias.zero_()
    return model


@torch.no_grad()
def init_uniform(model: nn.Module, init_range: float = 0.1) -> nn.Module:
    """Zaremba et al. (2014): every parameter, recurrent weights and biases included, drawn from U(-r, r)."""
    if not init_range > 0:
        raise ValueError(f"init_range must be positive, got {init_range!r}")
    for parameter in model.parameters():
        parameter.uniform_(-init_range, init_range)
    return model


def chunk_loss(model: RnnForCausalLM, data: torch.Tensor, targets: torch.Tensor, state: RnnState | None):
    """Mean cross-entropy of the next words of one (seq, batch) chunk, continuing from `state`; returns (loss, state)."""
    seq, batch = data.shape
    input_ids = data.t()  # (seq, batch) -> (batch, seq), the model's API is batch-first
    outputs = model(input_ids=input_ids, past_key_values=state, use_cache=True)
    # the logits are a (batch, seq, vocab) view of time-major memory: read back time-major, they flatten without a
    # copy in the targets' order (seq-major, as the example's get_batch)
    logits = outputs.logits.transpose(0, 1).reshape(seq * batch, -1)  # (seq * batch, vocab)
    return F.cross_entropy(logits, targets), getattr(outputs, CACHE_NAME)


def _check_stream(name: str, source: torch.Tensor, vocab_size: int) -> None:
    if source.dim() != 2 or source.size(0) < 2:
        raise ValueError(f"{name} must be batchified ids of shape (steps >= 2, batch), got {tuple(source.shape)}")
    if source.numel() and (int(source.min()) < 0 or int(source.max()) >= vocab_size):
        raise ValueError(f"{name} holds ids outside [0, vocab_size={vocab_size})")


# ----------------------------------------------------------------------------------------------------------------------
# Evaluation and training
# ----------------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_perplexity(model: RnnForCausalLM, ids: torch.Tensor, batch_size: int = 10, bptt: int = 35) -> float:
    """exp(mean next-word NLL) over a stream, state carried across chunks, as the example's `evaluate`.

    `ids` is a 1-D stream (batchified here into `batch_size` streams) or an already batchified (steps, batch) tensor.
    """
    source = batchify(ids, batch_size) if ids.dim() == 1 else ids
    _check_stream("evaluate_perplexity: ids", source, model.config.vocab_size)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    source = source.to(device)
    total_loss, state = 0.0, None
    for i in range(0, source.size(0) - 1, bptt):
        data, targets = get_batch(source, i, bptt)
        loss, state = chunk_loss(model, data, targets, state)
        total_loss += len(data) * loss.item()  # every chunk weighs by its length (the last may be shorter)
    model.train(was_training)
    return _perplexity(total_loss / (len(source) - 1))


def _perplexity(mean_nll: float) -> float:
    """exp(mean NLL), inf when it overflows (a diverged model)."""
    return math.exp(mean_nll) if mean_nll < 700.0 else math.inf


def train_step(model: RnnForCausalLM, params: list[torch.Tensor], data: torch.Tensor, targets: torch.Tensor,
               state: RnnState | None, lr: float, clip: float = 0.25) -> tuple[float, RnnState]:
    """One truncated-BPTT update on a (seq, batch) chunk: backprop into this chunk only, clip, p -= lr * grad."""
    state = repackage_hidden(state)
    model.zero_grad(set_to_none=True)
    loss, state = chunk_loss(model, data, targets, state)
    loss.backward()
    if clip and clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-lr)
    return loss.item(), state


def train_epoch(model: RnnForCausalLM, train_data: torch.Tensor, lr: float, clip: float = 0.25, bptt: int = 35,
                max_batches: int | None = None, progress: bool = True, description: str = "train") -> dict:
    """One pass of truncated BPTT with plain SGD (p -= lr * grad) after gradient-norm clipping, as the example."""
    from tqdm.auto import tqdm

    model.train()
    starts = list(range(0, train_data.size(0) - 1, bptt))
    if max_batches is not None:
        starts = starts[:max_batches]
    params = [p for p in model.parameters() if p.requires_grad]
    total_loss, tokens, state = 0.0, 0, None
    begin = time.perf_counter()
    bar = tqdm(starts, desc=description, unit="batch", disable=not progress, leave=False)
    for batch, i in enumerate(bar):
        data, targets = get_batch(train_data, i, bptt)
        loss, state = train_step(model, params, data, targets, state, lr, clip)
        total_loss += loss
        tokens += targets.numel()
        if batch % 20 == 0 or batch == len(starts) - 1:
            elapsed = time.perf_counter() - begin
            bar.set_postfix(loss=f"{total_loss / (batch + 1):.3f}", tok_s=f"{tokens / max(elapsed, 1e-9):,.0f}", lr=lr)
    seconds = time.perf_counter() - begin
    mean_loss = total_loss / max(len(starts), 1)
    return {"train_loss": mean_loss, "train_ppl": _perplexity(mean_loss), "seconds": seconds,
            "tokens": tokens, "tokens_per_second": tokens / max(seconds, 1e-9), "batches": len(starts)}


def train_tbptt(
    model: RnnForCausalLM,
    train_ids: torch.Tensor,
    valid_ids: torch.Tensor,
    epochs: int,
    lr: float = 20.0,
    clip: float = 0.25,
    bptt: int = 35,
    batch_size: int = 20,
    eval_batch_size: int = 10,
    save_dir: str | os.PathLike | None = None,
    max_batches: int | None = None,
    progress: bool = True,
    lr_decay: float | None = None,
    constant_lr_epochs: int = 0,
    resume: bool = False,
) -> list[dict]:
    """Train by truncated BPTT (Zaremba et al. 2014 / pytorch/examples): lr /= 4 when valid loss stops improving.

    With `lr_decay` the schedule is Zaremba et al.'s fixed one instead: lr for epoch e (from 1) is
    lr * lr_decay ** max(0, e - constant_lr_epochs), whatever the validation loss does.
    Zaremba et al. sum the loss over the `bptt` steps (averaged over the batch) and use lr 1 and clip 5; this loop
    averages over steps too, so their run is lr = bptt and clip = 5 / bptt here (plain SGD: the same updates).

    The best model (lowest validation loss) is kept: saved to `save_dir` with `save_pretrained` after each
    improvement when given, and loaded back into `model` at the end. Returns one dict per epoch: epoch, lr,
    train_loss, valid_loss, valid_ppl, seconds, tokens_per_second.

    With `save_dir`, every finished epoch also leaves `save_dir/last_epoch` (its weights, the history, the next lr
    and the random generator states); `resume=True` continues from there, and the continued run equals the
    uninterrupted one step for step. `epochs` may then be larger than the first run's; the other settings must match.
    """
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    for name, value in (("lr", lr), ("bptt", bptt)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if lr_decay is not None and not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay!r}")
    if not isinstance(constant_lr_epochs, int) or constant_lr_epochs < 0:
        raise ValueError(f"constant_lr_epochs must be a non-negative integer, got {constant_lr_epochs!r}")
    initial_lr = lr
    device = next(model.parameters()).device
    train_data = batchify(train_ids, batch_size).to(device) if train_ids.dim() == 1 else train_ids.to(device)
    valid_data = batchify(valid_ids, eval_batch_size).to(device) if valid_ids.dim() == 1 else valid_ids.to(device)
    _check_stream("train_ids", train_data, model.config.vocab_size)
    _check_stream("valid_ids", valid_data, model.config.vocab_size)

    settings = {"lr": initial_lr, "clip": clip, "bptt": bptt, "batch_size": batch_size,
                "eval_batch_size": eval_batch_size, "max_batches": max_batches, "lr_decay": lr_decay,
                "constant_lr_epochs": constant_lr_epochs}
    history, best_val_loss, best_state = [], None, None
    if resume:
        if save_dir is None:
            raise ValueError("resume=True needs the save_dir of the interrupted run")
        history, lr, best_val_loss, best_state = _load_last_epoch(model, save_dir, settings)
        logger.info(f"Resuming after epoch {len(history)} (lr {lr:g}, best valid ppl "
                    f"{min(row['valid_ppl'] for row in history):.2f})")
    for epoch in range(len(history) + 1, epochs + 1):
        if lr_decay is not None:  # Zaremba et al.'s fixed schedule: constant, then x lr_decay every epoch
            lr = initial_lr * lr_decay ** max(0, epoch - constant_lr_epochs)
        stats = train_epoch(model, train_data, lr, clip, bptt, max_batches, progress, f"epoch {epoch}/{epochs}")
        eval_begin = time.perf_counter()
        valid_ppl = evaluate_perplexity(model, valid_data, eval_batch_size, bptt)
        val_loss = math.log(valid_ppl) if valid_ppl > 0 else -math.inf
        row = {"epoch": epoch, "lr": lr, **stats, "valid_loss": val_loss, "valid_ppl": valid_ppl,
               "eval_seconds": time.perf_counter() - eval_begin}
        history.append(row)
        logger.info(f"epoch {epoch}: {stats['seconds']:.1f} s, {stats['tokens_per_second']:,.0f} tokens/s, "
                    f"train loss {stats['train_loss']:.3f}, valid ppl {valid_ppl:.2f}, lr {lr:g}")
        if best_val_loss is None or val_loss < best_val_loss:
            best_val_loss = val_loss
            best_state = copy.deepcopy(model.state_dict())
            if save_dir is not None:
                with staged_folder(save_dir) as staging:  # each file renamed into place whole, config.json last
                    model.save_pretrained(staging)
        elif lr_decay is None:
            lr /= 4.0  # anneal the learning rate when no improvement is seen on the validation set
        if save_dir is not None:
            _save_last_epoch(model, save_dir, history, lr, best_val_loss, settings)
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


LAST_EPOCH_DIR = "last_epoch"
TRAINING_STATE = "training_state.json"
RNG_STATE = "rng_state.pt"


def _save_last_epoch(model: RnnForCausalLM, save_dir, history: list[dict], next_lr: float, best_val_loss: float,
                     settings: dict) -> None:
    """What resuming needs after a finished epoch: weights, history, next lr, best loss, settings, RNG states.

    Written as a new folder swapped in whole (`file_utils.replace_folder`): a kill or a full disk during the save
    leaves the previous epoch's folder complete, never new weights beside the old state."""
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    state = {"epochs_done": len(history), "next_lr": next_lr, "best_val_loss": best_val_loss, "settings": settings,
             "history": history}

    def build(path: Path) -> None:
        model.save_pretrained(path)
        torch.save(rng, path / RNG_STATE)
        (path / TRAINING_STATE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")  # the marker, last

    replace_folder(Path(save_dir) / LAST_EPOCH_DIR, build)


def _is_complete_epoch(path: Path) -> bool:
    try:
        json.loads((path / TRAINING_STATE).read_text(encoding="utf-8"))["epochs_done"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (path / RNG_STATE).is_file()


def last_epoch_folder(save_dir) -> Path | None:
    """The folder of the last finished epoch under `save_dir` that was saved completely (None when there is none)."""
    return complete_folder(Path(save_dir) / LAST_EPOCH_DIR, _is_complete_epoch)


def _load_last_epoch(model: RnnForCausalLM, save_dir, settings: dict) -> tuple[list[dict], float, float, dict]:
    """Restore `model` and the RNG from `save_dir/last_epoch`; returns (history, next lr, best loss, best weights)."""
    path = last_epoch_folder(save_dir)
    if path is None:
        raise FileNotFoundError(f"{Path(save_dir) / LAST_EPOCH_DIR}: no finished epoch to resume from "
                                f"({TRAINING_STATE} missing)")
    if path.name != LAST_EPOCH_DIR:
        logger.warning(f"{Path(save_dir) / LAST_EPOCH_DIR} is missing or incomplete (a save was interrupted): "
                       f"resuming from the previous complete one, {path}")
    state = json.loads((path / TRAINING_STATE).read_text(encoding="utf-8"))
    for name, value in settings.items():
        saved = state["settings"].get(name)
        if saved != value:
            raise ValueError(f"resume: {name} is {value!r} but the run in {save_dir} used {saved!r}; resume with "
                             f"the same settings (only the number of epochs may change)")
    last = type(model).from_pretrained(path)
    best = type(model).from_pretrained(save_dir)
    for name in ("cell_type", "vocab_size", "embedding_size", "hidden_size", "num_layers", "bidirectional",
                 "tie_word_embeddings"):
        if getattr(last.config, name, None) != getattr(model.config, name, None):
            raise ValueError(f"resume: the model's {name} is {getattr(model.config, name, None)!r} but the run in "
                             f"{save_dir} has {getattr(last.config, name, None)!r}")
    device = next(model.parameters()).device
    model.load_state_dict(last.state_dict())
    best_state = {k: v.to(device) for k, v in best.state_dict().items()}
    rng = torch.load(path / RNG_STATE, weights_only=True)
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return state["history"], state["next_lr"], state["best_val_loss"], best_state


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (a tied matrix counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "EOS_TOKEN",
    "LAST_EPOCH_DIR",
    "TRAINING_STATE",
    "batchify",
    "build_tokenizer",
    "build_vocab",
    "chunk_loss",
    "count_parameters",
    "last_epoch_folder",
    "encode_file",
    "evaluate_perplexity",
    "get_batch",
    "init_like_word_language_model",
    "init_uniform",
    "repackage_hidden",
    "train_epoch",
    "train_step",
    "train_tbptt",
    "vocab_from_tokenizer",
    "word_language_model_config",
]
