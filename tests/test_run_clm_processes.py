"""run_clm.py under torchrun: two CPU processes (gloo), one data-parallel replica each, train and evaluate together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_run_clm_trains_with_two_processes_under_torchrun(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat .\nthe dog sat on the log .\na bird flew over the tree .\n" * 200)
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT")}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
               str(ROOT / "training" / "run_clm.py"), "--model_type", "gpt", "--architecture", "gpt2",
               "--config_overrides", "n_embd=32,n_layer=1,n_head=2,n_positions=64", "--train_tokenizer",
               "--tokenizer_type", "word", "--train_file", str(corpus), "--block_size", "32", "--do_train",
               "--do_eval", "--per_device_train_batch_size", "4", "--max_steps", "6", "--output_dir", str(out),
               "--use_cpu", "--report_to", "none", "--disable_tqdm", "True", "--seed", "0"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    # 142 blocks, 2 processes x 4 per step: 6 steps are 48 blocks, a third of an epoch (one process: a sixth)
    assert state["global_step"] == 6 and abs(state["epoch"] - 6 * 8 / 142) < 0.02, state["epoch"]
    results = json.loads((out / "all_results.json").read_text())
    assert results["eval_perplexity"] > 1.0 and (out / "model.safetensors").is_file()
