"""The pretraining command line, training/pretrain.py, end to end on a tiny corpus: it trains a tokenizer and a
tiny BERT, learns, writes its results, resumes from its checkpoint, refuses to write into a folder that is not its
own, and runs as two processes under torchrun."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "training" / "pretrain.py"

TOPICS = {
    "lobster": "the european lobster lives in the atlantic ocean and grows large claws in cold water",
    "river": "the river flows through the old city and floods the low fields every spring",
    "train": "the night train leaves the station at ten and reaches the coast before dawn",
    "garden": "my grandmother keeps a small garden with tomatoes beans and bright yellow flowers",
    "korean": "자연어 처리는 재미있다 컴퓨터가 사람의 언어를 이해하도록 돕는 연구 분야이다",
}


def write_corpus(path: Path, num_documents: int = 24, seed: int = 0) -> Path:
    """Documents separated by blank lines; each sentence shuffles words of its document's topic."""
    rng = random.Random(seed)
    names = list(TOPICS)
    documents = []
    for d in range(num_documents):
        words = TOPICS[names[d % len(names)]].split()
        sentences = [" ".join(rng.sample(words, rng.randint(5, 10))) + " ." for _ in range(rng.randint(6, 12))]
        documents.append("\n".join(sentences))
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


def tiny_args(train_file: Path, output_dir: Path, max_steps: int, *extra: str) -> list[str]:
    return [
        "--train_files", str(train_file), "--output_dir", str(output_dir),
        "--vocab_size", "400", "--max_seq_length", "32",
        "--hidden_size", "32", "--num_hidden_layers", "2", "--num_attention_heads", "2", "--intermediate_size", "64",
        "--do_train", "--do_eval", "--validation_split_percentage", "20",
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16",
        "--learning_rate", "5e-3", "--max_steps", str(max_steps), "--save_steps", "10", "--logging_steps", "5",
        "--use_cpu", "--seed", "0", "--disable_tqdm", "true", *extra,
    ]


def run_cli(args: list[str], launcher: list[str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    command = (launcher or [sys.executable]) + [str(SCRIPT), *args]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_help_exits_zero():
    result = check(run_cli(["--help"]))
    for flag in ("--train_files", "--document_separator", "--whole_word_masking", "--overwrite_output_dir",
                 "--vocab_size", "--model_name_or_path", "--report_to", "--noise_density", "--mean_noise_span_length",
                 "--extra_ids"):
        assert flag in result.stdout


def test_train_evaluate_and_resume(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "out"
    first = check(run_cli(tiny_args(corpus, out, 20, "--eval_strategy", "steps", "--eval_steps", "20",
                                    "--eval_on_start", "--report_to", "tensorboard")))
    # --disable_tqdm silences every library's bars, transformers' "Writing model shards" among them
    assert "Writing model shards" not in first.stderr + first.stdout
    assert "it/s]" not in first.stderr + first.stdout
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "all_results.json",
                 "train_results.json", "eval_results.json", "trainer_state.json", "checkpoint-20"):
        assert (out / name).exists(), name
    assert list((out / "runs").rglob("events.out.tfevents.*")), "no TensorBoard event file"
    results = json.loads((out / "all_results.json").read_text())
    for key in ("train_loss", "eval_loss", "eval_mlm_loss", "eval_mlm_accuracy", "eval_nsp_accuracy", "eval_samples",
                "train_samples"):
        assert key in results, key
    # learning happens: the masked-token loss falls from about ln(vocab size) (5.6 -> 4.8 in 20 steps here)
    evals = [entry for entry in json.loads((out / "trainer_state.json").read_text())["log_history"]
             if "eval_mlm_loss" in entry]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 20
    assert evals[-1]["eval_mlm_loss"] < evals[0]["eval_mlm_loss"] - 0.4, evals

    # the saved folder is a BERT checkpoint with its tokenizer
    from transformers import AutoModelForPreTraining, AutoTokenizer

    import hf_models

    model = AutoModelForPreTraining.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert isinstance(model, hf_models.BertForPreTraining)
    assert model.config.vocab_size == len(tokenizer) and model.config.hidden_size == 32
    assert tokenizer.model_max_length == model.config.max_position_embeddings == 512
    assert tokenizer.unk_token_id not in tokenizer("자연어 처리는 재미있다")["input_ids"]

    # the same command with more steps resumes from checkpoint-20 (same tokenizer, optimizer and step count)
    resumed = check(run_cli(tiny_args(corpus, out, 30)))
    assert "resuming training from" in resumed.stdout + resumed.stderr
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 30 and (out / "checkpoint-30").is_dir()
    assert AutoTokenizer.from_pretrained(out).get_vocab() == tokenizer.get_vocab()


def test_progress_bars_show_without_disable_tqdm(tmp_path):
    """The counterpart of the --disable_tqdm check above: the same run draws transformers' bars when not asked."""
    corpus = write_corpus(tmp_path / "corpus.txt")
    args = tiny_args(corpus, tmp_path / "out", 2, "--save_strategy", "no", "--do_eval", "false")
    args[args.index("--disable_tqdm") + 1] = "false"
    result = check(run_cli(args))
    assert "Writing model shards" in result.stderr


def test_mlm_objective_trains_a_masked_lm_without_nsp(tmp_path):
    """--objective mlm: whole-sentence segments, AutoModelForMaskedLM, MLM metrics and no NSP anywhere."""
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "mlm"
    check(run_cli(tiny_args(corpus, out, 12, "--objective", "mlm", "--eval_strategy", "steps", "--eval_steps", "12",
                            "--eval_on_start", "--config_overrides", "hidden_dropout_prob=0.0")))
    from transformers import AutoConfig, AutoModelForMaskedLM

    import hf_models

    model = AutoModelForMaskedLM.from_pretrained(out)
    assert isinstance(model, hf_models.BertForMaskedLM)
    assert AutoConfig.from_pretrained(out).hidden_dropout_prob == 0.0
    results = json.loads((out / "all_results.json").read_text())
    assert "eval_mlm_accuracy" in results and not any("nsp" in key for key in results)
    evals = [entry for entry in json.loads((out / "trainer_state.json").read_text())["log_history"]
             if "eval_mlm_loss" in entry]
    assert evals[-1]["eval_mlm_loss"] < evals[0]["eval_mlm_loss"], evals
    assert "pretraining (mlm)" in (out / "results.md").read_text(encoding="utf-8")


def test_unknown_objective_is_named(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    result = run_cli(tiny_args(corpus, tmp_path / "out", 2, "--objective", "mlm_plus"))
    assert result.returncode != 0
    from hf_models.tasks.pretraining import OBJECTIVES

    assert f"--objective must be one of {', '.join(sorted(OBJECTIVES))}, got 'mlm_plus'" in result.stderr
    assert "span_corruption" in OBJECTIVES


def test_refuses_to_overwrite_a_folder_that_is_not_a_run(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("do not lose me", encoding="utf-8")
    result = run_cli(tiny_args(corpus, out, 2))
    assert result.returncode != 0
    assert "not empty" in result.stderr and "--overwrite_output_dir" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    check(run_cli(tiny_args(corpus, out, 2, "--overwrite_output_dir", "--save_strategy", "no")))
    # asked to overwrite: the folder holds the new run alone
    assert (out / "model.safetensors").exists() and not (out / "notes.txt").exists()


def test_missing_train_file_is_named(tmp_path):
    result = run_cli(tiny_args(tmp_path / "nowhere.txt", tmp_path / "out", 2))
    assert result.returncode != 0 and "nowhere.txt" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_torchrun_two_processes(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "ddp"
    result = check(run_cli(tiny_args(corpus, out, 6), launcher=["torchrun", "--nproc_per_node", "2"], timeout=180))
    log = result.stdout + result.stderr
    assert "Process rank: 1" in log and "distributed training: True" in log
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert json.loads((out / "all_results.json").read_text())["train_samples"] > 0
