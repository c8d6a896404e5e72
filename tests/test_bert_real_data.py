"""Real-data checks with calibrated thresholds: BERT learns on WikiText-2 and the quickstart learns sentiment.

Thresholds come from the runs recorded in benchmarks/results (bert_pretraining.json, the quickstart's 74.9% on SST-2
dev) with a wide margin, so they flag a model or recipe that stops learning, not run-to-run noise.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import requires_shared_data, shared_data_dir

from hf_models import quickstart

REPO = Path(__file__).resolve().parents[1]


@requires_shared_data
def test_pretraining_on_wikitext2_lowers_mlm_loss(tmp_path):
    """200 steps of a tiny BERT on WikiText-2 valid: eval MLM loss on WikiText-2 test falls from ~9.0 to below 7.0."""
    data = shared_data_dir() / "wikitext2"
    out = tmp_path / "run"
    command = [
        sys.executable, str(REPO / "training" / "pretrain.py"),
        "--train_files", str(data / "valid.txt"), "--validation_files", str(data / "test.txt"),
        "--document_separator", "wikitext", "--vocab_size", "8000", "--max_seq_length", "128", "--dupe_factor", "1",
        "--hidden_size", "128", "--num_hidden_layers", "2", "--num_attention_heads", "2", "--intermediate_size", "512",
        "--do_train", "--do_eval", "--output_dir", str(out), "--use_cpu", "--seed", "0",
        "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "64", "--max_eval_samples", "200",
        "--learning_rate", "5e-4", "--warmup_steps", "20", "--max_steps", "200",
        "--eval_strategy", "steps", "--eval_steps", "200", "--eval_on_start", "--save_strategy", "no",
        "--report_to", "none", "--disable_tqdm", "true",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    evals = [h for h in history if "eval_mlm_loss" in h]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 200
    assert evals[0]["eval_mlm_loss"] > 8.5, evals[0]  # ln(8000) = 9.0 before training
    assert evals[-1]["eval_mlm_loss"] < 7.0, evals
    assert evals[-1]["eval_mlm_accuracy"] > 0.04, evals


@pytest.mark.slow
@pytest.mark.threads(2)  # a real training run: both cores
def test_quickstart_defaults_learn_sentiment(tmp_path):
    """The quickstart as users run it: SST-2 dev accuracy well above the majority class (50.9%)."""
    results = quickstart.main(["--output_dir", str(tmp_path / "qs")])
    sentiment = results["sentiment"]
    assert sentiment["eval_accuracy"] > 0.65, sentiment
    assert results["pretraining"]["mlm_loss_after"] < results["pretraining"]["mlm_loss_before"] - 2.0
