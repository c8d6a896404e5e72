#!/usr/bin/env python
"""PTB word-level LSTM language modelling: hf_models' `RnnForCausalLM` against pytorch/examples' word_language_model.

In one run, on the same data pipeline and hyper-parameters (2-layer LSTM, 200 units, dropout 0.2, lr 20, clip 0.25,
bptt 35, batch 20, eval batch 10, lr / 4 when validation stops improving):

1. the peer: a faithful copy of pytorch/examples' `word_language_model` `RNNModel` (LSTM) and its train / evaluate
   loop (below, BSD-3-Clause, Copyright (c) 2017 PyTorch contributors, https://github.com/pytorch/examples);
2. hf_models' fused path (`RnnForCausalLM`, torch's nn.LSTM kernel) through `hf_models.rnn.language_modeling`;
3. the training speed of all three (the peer, the fused path and the lecture-style cells, `implementation="cells"`)
   measured interleaved: alternating blocks of `--speed_block` batches from the same initial weights, so that any
   other load on the machine slows all three alike (`--speed_only` redoes just this measurement).

Both full runs report seconds/epoch, tokens/s and valid/test perplexity, and ours/peer ratios. JSON goes to
`benchmarks/results/rnn_ptb.json`, a Markdown table to stdout. The full run (3 epochs each, about 5 minutes an epoch
on 2 cores) is

    python benchmarks/bench_rnn_ptb.py --epochs 3

and a smoke run `python benchmarks/bench_rnn_ptb.py --epochs 1 --max_train_tokens 20000 --max_eval_tokens 5000`.
Reference numbers: Zaremba et al. 2014 small (non-regularised, 200 units) 114.5 test ppl, medium 82.7; the example
reaches 138.6 test ppl after 3 epochs at about 10k tokens/s.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hf_models.rnn import RnnForCausalLM
from hf_models.rnn.language_modeling import (
    batchify,
    build_vocab,
    encode_file,
    evaluate_perplexity,
    init_like_word_language_model,
    train_tbptt,
    word_language_model_config,
)

logger = logging.getLogger("hf_models.bench_rnn_ptb")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "ptb"


# ----------------------------------------------------------------------------------------------------------------------
# The peer: pytorch/examples word_language_model (model.py RNNModel, main.py train/evaluate), LSTM case.
# BSD 3-Clause License, Copyright (c) 2017, PyTorch contributors. Kept as in the example except for arguments passed
# explicitly instead of through the global `args`.
# ----------------------------------------------------------------------------------------------------------------------
class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder (pytorch/examples word_language_model)."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        """U(-0.1, 0.1) encoder and decoder weights, zero decoder bias (LSTM keeps torch's default)."""
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        """Log-probabilities of the next word, (seq * batch, ntoken), and the new hidden state."""
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        """Zero (h, c) for `bsz` streams."""
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def peer_batchify(data, bsz):
    """main.py `batchify`: the stream as bsz columns, (nbatch, bsz)."""
    # Work out how cleanly we can divide the dataset into bsz parts.
    nbatch = data.size(0) // bsz
    # Trim off any extra elements that wouldn't cleanly fit (remainders).
    data = data.narrow(0, 0, nbatch * bsz)
    # Evenly divide the data across the bsz batches.
    data = data.view(bsz, -1).t().contiguous()
    return data


def peer_get_batch(source, i, bptt):
    """main.py `get_batch`: inputs source[i:i+seq_len], targets shifted by one and flattened."""
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def peer_repackage_hidden(h):
    """main.py `repackage_hidden`: wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(peer_repackage_hidden(v) for v in h)


def peer_evaluate(model, data_source, eval_batch_size, bptt):
    """main.py `evaluate`: mean next-word NLL over a batchified stream, hidden state carried."""
    criterion = nn.NLLLoss()
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = peer_get_batch(data_source, i, bptt)
            output, hidden = model(data, hidden)
            hidden = peer_repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def peer_train_step(model, criterion, data, targets, hidden, lr, clip):
    """The body of main.py `train`'s loop: detach the state, forward, backward, clip, SGD; (loss, hidden)."""
    hidden = peer_repackage_hidden(hidden)
    model.zero_grad()
    output, hidden = model(data, hidden)
    loss = criterion(output, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    return loss.item(), hidden


def peer_train(model, train_data, batch_size, bptt, lr, clip, max_batches=None):
    """main.py `train`: one epoch of truncated BPTT with manual SGD; returns (mean loss, tokens)."""
    criterion = nn.NLLLoss()
    model.train()
    total_loss, tokens, batches = 0.0, 0, 0
    hidden = model.init_hidden(batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        if max_batches is not None and batch >= max_batches:
            break
        data, targets = peer_get_batch(train_data, i, bptt)
        loss, hidden = peer_train_step(model, criterion, data, targets, hidden, lr, clip)
        total_loss += loss
        tokens += targets.numel()
        batches += 1
    return total_loss / max(batches, 1), tokens


# ----------------------------------------------------------------------------------------------------------------------
# hf_models <-> peer weights
# ----------------------------------------------------------------------------------------------------------------------
def peer_state_dict_to_ours(peer_state: dict) -> dict:
    """The peer's state_dict under hf_models' names: encoder -> model.embeddings, rnn -> model.rnn, decoder -> lm_head."""
    renames = {"encoder.": "model.embeddings.", "rnn.": "model.rnn.", "decoder.": "lm_head."}
    ours = {}
    for key, value in peer_state.items():
        prefix = next(p for p in renames if key.startswith(p))
        ours[renames[prefix] + key[len(prefix):]] = value
    return ours


# ----------------------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------------------
def _load_data(args):
    data_dir = Path(args.data_dir)
    vocab = build_vocab(data_dir / "ptb.train.txt")
    splits = {name: encode_file(data_dir / f"ptb.{name}.txt", vocab) for name in ("train", "valid", "test")}
    if args.max_train_tokens:
        splits["train"] = splits["train"][: args.max_train_tokens]
    if args.max_eval_tokens:
        splits["valid"] = splits["valid"][: args.max_eval_tokens]
        splits["test"] = splits["test"][: args.max_eval_tokens]
    return vocab, splits


def run_peer(args, vocab_size, splits) -> dict:
    """The example's main.py loop: epochs of train + evaluate, lr / 4 on no improvement, best model on test."""
    torch.manual_seed(args.seed)
    model = RNNModel("LSTM", vocab_size, args.emsize, args.nhid, args.nlayers, args.dropout)
    train_data = peer_batchify(splits["train"], args.batch_size)
    val_data = peer_batchify(splits["valid"], args.eval_batch_size)
    test_data = peer_batchify(splits["test"], args.eval_batch_size)
    lr, best_val_loss, best_state, epochs = args.lr, None, None, []
    for epoch in range(1, args.epochs + 1):
        begin = time.perf_counter()
        train_loss, tokens = peer_train(model, train_data, args.batch_size, args.bptt, lr, args.clip)
        seconds = time.perf_counter() - begin
        val_loss = peer_evaluate(model, val_data, args.eval_batch_size, args.bptt)
        epochs.append({"epoch": epoch, "lr": lr, "train_loss": train_loss, "seconds": seconds,
                       "tokens_per_second": tokens / seconds, "valid_ppl": math.exp(val_loss)})
        logger.info(f"peer epoch {epoch}: {seconds:.1f} s, {tokens / seconds:,.0f} tok/s, valid ppl {math.exp(val_loss):.2f}")
        if best_val_loss is None or val_loss < best_val_loss:
            best_val_loss, best_state = val_loss, {k: v.clone() for k, v in model.state_dict().items()}
        else:
            lr /= 4.0
    model.load_state_dict(best_state)
    test_ppl = math.exp(peer_evaluate(model, test_data, args.eval_batch_size, args.bptt))
    return _summary(epochs, math.exp(best_val_loss), test_ppl)


def _new_ours(args, vocab_size, implementation="fused") -> RnnForCausalLM:
    config = word_language_model_config(vocab_size, embedding_size=args.emsize, hidden_size=args.nhid,
                                        num_layers=args.nlayers, dropout=args.dropout, implementation=implementation)
    return init_like_word_language_model(RnnForCausalLM(config))


def run_ours(args, vocab_size, splits) -> dict:
    """hf_models' fused path through `train_tbptt` / `evaluate_perplexity`, same settings."""
    torch.manual_seed(args.seed)
    model = _new_ours(args, vocab_size)
    if not args.own_init:
        # Start from the very weights the peer starts from, and with the random generator where the peer's training
        # starts (seeded, then the init's draws): the dropout masks are then the peer's too, and the two runs differ
        # only by floating-point summation order.
        torch.manual_seed(args.seed)
        peer = RNNModel("LSTM", vocab_size, args.emsize, args.nhid, args.nlayers, args.dropout)
        model.load_state_dict(peer_state_dict_to_ours(peer.state_dict()))
    history = train_tbptt(model, splits["train"], splits["valid"], args.epochs, lr=args.lr, clip=args.clip,
                          bptt=args.bptt, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
                          progress=not args.no_progress)
    epochs = [{k: row[k] for k in ("epoch", "lr", "train_loss", "seconds", "tokens_per_second", "valid_ppl")}
              for row in history]
    test_ppl = evaluate_perplexity(model, splits["test"], args.eval_batch_size, args.bptt)
    return _summary(epochs, min(row["valid_ppl"] for row in epochs), test_ppl)


def _summary(epochs, best_valid_ppl, test_ppl) -> dict:
    seconds = [row["seconds"] for row in epochs]
    return {"epochs": epochs, "seconds_per_epoch": sum(seconds) / len(seconds),
            "tokens_per_second": sum(r["tokens_per_second"] for r in epochs) / len(epochs),
            "valid_ppl": best_valid_ppl, "test_ppl": test_ppl}


def run_interleaved_speed(args, vocab_size, splits) -> dict:
    """Training speed of the peer, hf_models' fused path and its lecture-style cells, measured interleaved.

    The three train side by side on the same batches from the same initial weights, in alternating blocks of
    `--speed_block` batches (the order rotating every round) for `--speed_rounds` rounds; each is timed over its
    own blocks only. Steady load on the machine slows all three alike; a burst of other work lands on a few blocks,
    so the speeds and ratios come from each one's median block (the totals are kept beside them).
    """
    from hf_models.rnn.language_modeling import get_batch, train_step

    torch.manual_seed(args.seed)
    peer = RNNModel("LSTM", vocab_size, args.emsize, args.nhid, args.nlayers, args.dropout)
    contestants = {"peer": peer}
    for implementation in ("fused", "cells"):
        model = _new_ours(args, vocab_size, implementation)
        model.load_state_dict(peer_state_dict_to_ours(peer.state_dict()))
        contestants[implementation] = model
    for model in contestants.values():
        model.train()
    train_data = batchify(splits["train"], args.batch_size)
    starts = list(range(0, train_data.size(0) - 1, args.bptt))
    criterion = nn.NLLLoss()
    params = {name: [p for p in m.parameters() if p.requires_grad] for name, m in contestants.items()}
    states = {"peer": peer.init_hidden(args.batch_size), "fused": None, "cells": None}
    position = dict.fromkeys(contestants, 0)
    seconds = dict.fromkeys(contestants, 0.0)
    block_rates = {name: [] for name in contestants}  # tokens/s of each block
    tokens = dict.fromkeys(contestants, 0)
    losses = {name: [] for name in contestants}
    names = list(contestants)
    for round_ in range(args.speed_rounds):
        order = names[round_ % 3:] + names[: round_ % 3]
        for name in order:
            model = contestants[name]
            begin, block_start_tokens = time.perf_counter(), tokens[name]
            for _ in range(args.speed_block):
                i = starts[position[name] % len(starts)]
                position[name] += 1
                data, targets = get_batch(train_data, i, args.bptt)
                if name == "peer":
                    loss, states[name] = peer_train_step(model, criterion, data, targets, states[name], args.lr,
                                                         args.clip)
                else:
                    loss, states[name] = train_step(model, params[name], data, targets, states[name], args.lr,
                                                    args.clip)
                losses[name].append(loss)
                tokens[name] += targets.numel()
            elapsed = time.perf_counter() - begin
            seconds[name] += elapsed
            block_rates[name].append((tokens[name] - block_start_tokens) / elapsed)
        logger.info(f"speed round {round_ + 1}/{args.speed_rounds}: "
                    + ", ".join(f"{n} {block_rates[n][-1]:,.0f} tok/s" for n in names))
    result = {"block_batches": args.speed_block, "rounds": args.speed_rounds, "threads": torch.get_num_threads(),
              "speed": "tokens per second of the median block"}
    for name in names:
        result[name] = {"tokens_per_second": statistics.median(block_rates[name]),
                        "total_tokens_per_second": tokens[name] / seconds[name], "seconds": seconds[name],
                        "block_tokens_per_second": [round(x, 1) for x in block_rates[name]], "batches": position[name],
                        "tokens": tokens[name], "mean_train_loss": sum(losses[name]) / len(losses[name])}
    result["fused_over_peer"] = result["fused"]["tokens_per_second"] / result["peer"]["tokens_per_second"]
    result["fused_over_cells"] = result["fused"]["tokens_per_second"] / result["cells"]["tokens_per_second"]
    return result


def markdown(results: dict) -> str:
    """The results as a Markdown table."""
    peer, ours = results["peer"], results["hf_models_fused"]
    lines = ["| run | s/epoch | tokens/s | valid ppl | test ppl |", "|---|---|---|---|---|"]
    for name, r in (("pytorch/examples word_language_model", peer), ("hf_models RnnForCausalLM (fused)", ours)):
        lines.append(f"| {name} | {r['seconds_per_epoch']:.1f} | {r['tokens_per_second']:,.0f} | "
                     f"{r['valid_ppl']:.2f} | {r['test_ppl']:.2f} |")
    ratios = results["ratios_ours_over_peer"]
    lines.append(f"| ratio ours/peer | {ratios['seconds_per_epoch']:.3f} | {ratios['tokens_per_second']:.3f} | "
                 f"{ratios['valid_ppl']:.3f} | {ratios['test_ppl']:.3f} |")
    speed = results.get("interleaved_speed")
    if speed:
        title = (f"Training speed measured interleaved ({speed['rounds']} rounds of {speed['block_batches']} "
                 f"batches each, {speed['threads']} threads; tokens/s of each one's median block):")
        lines += ["", title, "",
                  "| implementation | tokens/s |", "|---|---|",
                  f"| pytorch/examples (peer) | {speed['peer']['tokens_per_second']:,.0f} |",
                  f"| hf_models fused | {speed['fused']['tokens_per_second']:,.0f} |",
                  f"| hf_models cells | {speed['cells']['tokens_per_second']:,.0f} |",
                  f"| fused / peer | {speed['fused_over_peer']:.3f}x |",
                  f"| fused / cells | {speed['fused_over_cells']:.2f}x |"]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data_dir", default=str(DEFAULT_DATA), help="Folder with ptb.{train,valid,test}.txt.")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--emsize", type=int, default=200)
    parser.add_argument("--nhid", type=int, default=200)
    parser.add_argument("--nlayers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=20.0)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--batch_size", type=int, default=20)
    parser.add_argument("--eval_batch_size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1111, help="The example's default seed.")
    parser.add_argument("--own_init", action="store_true",
                        help="Start hf_models from its own init_like_word_language_model draw (the same distribution) "
                             "instead of the peer's initial weights.")
    parser.add_argument("--speed_block", type=int, default=20,
                        help="Interleaved speed measurement: batches per block (0: skip the measurement).")
    parser.add_argument("--speed_rounds", type=int, default=15, help="Interleaved speed measurement: rounds.")
    parser.add_argument("--speed_only", action="store_true",
                        help="Only the interleaved speed measurement, merged into an existing --output JSON.")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's).")
    parser.add_argument("--max_train_tokens", type=int, default=None, help="Smoke runs: keep the first N tokens.")
    parser.add_argument("--max_eval_tokens", type=int, default=None, help="Smoke runs: keep N valid/test tokens.")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "rnn_ptb.json"))
    parser.add_argument("--no_progress", action="store_true", help="No tqdm bars.")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO,
                        handlers=[logging.StreamHandler(sys.stdout)])
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (Path(args.data_dir) / "ptb.train.txt").is_file():
        raise SystemExit(f"{args.data_dir}: ptb.train.txt not found (pass --data_dir)")
    vocab, splits = _load_data(args)
    logger.info(f"PTB: vocab {len(vocab)}, tokens train {len(splits['train']):,} valid {len(splits['valid']):,} "
                f"test {len(splits['test']):,}")
    output = Path(args.output)
    if args.speed_only:
        if not output.is_file():
            raise SystemExit(f"--speed_only: {output} does not exist (run the full benchmark first)")
        results = json.loads(output.read_text(encoding="utf-8"))
        results["interleaved_speed"] = run_interleaved_speed(args, len(vocab), splits)
        results["interleaved_speed"]["measured"] = time.strftime("%Y-%m-%d %H:%M:%S")
    else:
        peer = run_peer(args, len(vocab), splits)
        ours = run_ours(args, len(vocab), splits)
        results = {
            "settings": {**{k: v for k, v in vars(args).items() if k not in ("output", "no_progress", "speed_only")},
                         "data_dir": os.path.relpath(Path(args.data_dir).resolve(), REPO)},
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "vocab_size": len(vocab),
            "peer": peer,
            "hf_models_fused": ours,
            "ratios_ours_over_peer": {
                key: ours[key] / peer[key] for key in ("seconds_per_epoch", "tokens_per_second", "valid_ppl", "test_ppl")
            },
            "interleaved_speed": run_interleaved_speed(args, len(vocab), splits) if args.speed_block else None,
            "references": {"zaremba_2014_small_test_ppl": 114.5, "zaremba_2014_medium_test_ppl": 82.7,
                           "word_language_model_3_epochs_test_ppl_reported": 138.6},
        }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(results))
    print(f"\nwritten to {output}")
    return results


if __name__ == "__main__":
    main()
