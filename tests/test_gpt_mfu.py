"""benchmarks/gpt_mfu.py: nanoGPT's FLOP count on the real parameter count, the peak lookup, a smoke run on a CPU."""

from __future__ import annotations

import json

import pytest
import transformers

from benchmarks import gpt_mfu


@pytest.mark.parametrize("n_inner", [None, 96])
def test_flops_per_token_is_nanogpts_count_of_the_real_parameters(n_inner):
    config = transformers.GPT2Config(vocab_size=101, n_positions=32, n_embd=24, n_layer=3, n_head=4, n_inner=n_inner)
    model = transformers.GPT2LMHeadModel(config)
    non_embedding = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()  # tied once
    assert gpt_mfu.flops_per_token(config) == 6 * non_embedding + 12 * 3 * 24 * 32


def test_gpt2_124m_count_is_nanogpts():
    """nanoGPT's GPT-2 (vocab 50,304): 123.69 M non-embedding parameters, 6 N + 12 L d T per token."""
    config = transformers.GPT2Config(vocab_size=50304)
    assert gpt_mfu.flops_per_token(config) == 6 * 123_689_472 + 12 * 12 * 768 * 1024


def test_peak_lookup():
    assert gpt_mfu.peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert gpt_mfu.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpt_mfu.peak_tflops("NVIDIA A100-SXM4-40GB") == 312.0
    assert gpt_mfu.peak_tflops("a CPU") is None


def test_smoke_run_on_a_cpu(tmp_path):
    out = tmp_path / "mfu.json"
    report = gpt_mfu.main(["--device", "cpu", "--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "8",
                           "--batch_size", "2", "--vocab_size", "64", "--steps", "1", "--warmup", "1", "--rounds", "1",
                           "--peak_tflops", "1", "--output", str(out)])
    saved = json.loads(out.read_text())
    assert saved["ratio_hf_models_over_transformers"] == report["ratio_hf_models_over_transformers"] > 0
    assert [row["implementation"] for row in saved["results"]] == ["transformers", "hf_models"]
    assert all(0 < row["mfu"] < 1 for row in saved["results"])
    with pytest.raises(SystemExit):
        gpt_mfu.main(["--device", "cpu", "--output", str(out)])  # no known peak for a CPU
