"""Tests of GPT (hf_models.gpt) on tiny configs: the shared model-tester and generation-tester suites on GPT-2 (pre-LN),
GPT-1 (post-LN) and the Llama switches (rotary, RMSNorm, SwiGLU, grouped-query attention); parity with transformers'
OpenAIGPTLMHeadModel, GPT2LMHeadModel and LlamaForCausalLM in both directions (logits, greedy, beam search,
sampling); GPT-1's fine-tuning heads; config and input errors. The real SmolLM2-135M-Instruct is in
tests/test_gpt_real_weights.py."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch
import transformers
from generation_tester import GenerationTesterMixin
from model_tester import ModelTesterMixin
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
)

from hf_models.gpt import (
    GPTConfig,
    GPTDoubleHeadsModel,
    GPTForCausalLM,
    GPTForSequenceClassification,
    GPTModel,
    export_checkpoint,
)
from hf_models.gpt import modeling_gpt

PAD, BOS, EOS = 0, 1, 2
VOCAB = 23


def tiny_config(**kwargs) -> GPTConfig:
    fields = {"vocab_size": VOCAB, "n_positions": 32, "n_embd": 16, "n_layer": 2, "n_head": 4, "embd_pdrop": 0.0,
              "resid_pdrop": 0.0, "attn_pdrop": 0.0, "summary_first_dropout": 0.0, "pad_token_id": PAD,
              "bos_token_id": BOS, "eos_token_id": EOS, "num_labels": 3}
    fields.update(kwargs)
    return GPTConfig(**fields)


GPT1 = {"layer_norm_position": "post", "final_layer_norm": False}
LLAMA = {"position_embedding": "rotary", "norm_type": "rmsnorm", "feed_forward": "swiglu", "activation_function": "silu",
         "bias": False, "n_kv_head": 2, "n_inner": 24, "tie_word_embeddings": False}


# ----------------------------------------------------------------------------------------------------------------------
# The shared model tester
# ----------------------------------------------------------------------------------------------------------------------
class GPTModelTester:
    """Sequences of 7 tokens, right-padded to 7, 4 and 6."""

    batch_size = 3
    seq_length = 7
    hidden_size = 16
    num_attention_heads = 4
    num_hidden_layers = 2
    config_overrides: ClassVar[dict] = {}

    def get_config(self) -> GPTConfig:
        return tiny_config(**self.config_overrides)

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        input_ids = torch.randint(3, config.vocab_size, (self.batch_size, self.seq_length))
        lengths = torch.tensor([self.seq_length, self.seq_length - 3, self.seq_length - 1])
        mask = (torch.arange(self.seq_length)[None, :] < lengths[:, None]).long()
        # the padding is marked by the mask only: a pad id inside a sequence that the batching test cuts shorter
        # would be read as its end by the classification heads (as transformers' GPT-2 does)
        return config, {"input_ids": input_ids, "attention_mask": mask}


class _GPTTestBase(ModelTesterMixin):
    all_model_classes = (GPTModel, GPTForCausalLM, GPTForSequenceClassification, GPTDoubleHeadsModel)
    model_tester_class = GPTModelTester
    is_causal = True
    auto_model_classes: ClassVar[dict] = {GPTModel: AutoModel, GPTForCausalLM: AutoModelForCausalLM,
                                          GPTForSequenceClassification: AutoModelForSequenceClassification}
    classes_without_auto_class = (GPTDoubleHeadsModel,)

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs = {k: v.clone() for k, v in inputs_dict.items()}
        if return_labels:
            ids, mask = inputs["input_ids"], inputs["attention_mask"]
            if model_class is GPTForCausalLM:
                inputs["labels"] = ids.masked_fill(mask == 0, -100)
            elif model_class in (GPTForSequenceClassification, GPTDoubleHeadsModel):
                inputs["labels"] = torch.tensor([0, 2, 1])
        return inputs

    def expected_output_shapes(self, model_class, inputs_dict, config):
        batch, seq = inputs_dict["input_ids"].shape
        return {
            GPTModel: {"last_hidden_state": (batch, seq, config.n_embd)},
            GPTForCausalLM: {"logits": (batch, seq, config.vocab_size)},
            GPTForSequenceClassification: {"logits": (batch, config.num_labels)},
            GPTDoubleHeadsModel: {"logits": (batch, config.num_labels), "lm_logits": (batch, seq, config.vocab_size)},
        }[model_class]


class TestGPT2(_GPTTestBase):
    """GPT-2: pre-LN, a final LayerNorm, learned positions, tied output layer."""


class GPT1Tester(GPTModelTester):
    config_overrides: ClassVar[dict] = GPT1


class TestGPT1(_GPTTestBase):
    model_tester_class = GPT1Tester
    test_auto_registration_in_fresh_process = False  # the same classes: checked once, above


class LlamaTester(GPTModelTester):
    config_overrides: ClassVar[dict] = LLAMA


class TestGPTLlamaSwitches(_GPTTestBase):
    model_tester_class = LlamaTester
    test_auto_registration_in_fresh_process = False


# ----------------------------------------------------------------------------------------------------------------------
# The shared generation tester: DynamicCache, left-padded prompts
# ----------------------------------------------------------------------------------------------------------------------
class GPTGenerationTester:
    """Wide weights (a large initializer_range) and three prompts of lengths 5, 2 and 4."""

    config_overrides: ClassVar[dict] = {}
    seed = 3

    def get_config(self) -> GPTConfig:
        return tiny_config(initializer_range=0.5, **self.config_overrides)

    def prompts(self, config):
        generator = torch.Generator().manual_seed(self.seed)
        return [torch.randint(3, config.vocab_size, (n,), generator=generator) for n in (5, 2, 4)]


class GPT1GenerationTester(GPTGenerationTester):
    config_overrides: ClassVar[dict] = GPT1


class LlamaGenerationTester(GPTGenerationTester):
    config_overrides: ClassVar[dict] = LLAMA
    seed = 4  # prompts on which every beam-search stopping rule changes the answer (5.0 and 5.25 alike)


class TestGPT2Generation(GenerationTesterMixin):
    all_generative_model_classes = (GPTForCausalLM,)
    generation_tester_class = GPTGenerationTester


class TestGPT1Generation(GenerationTesterMixin):
    all_generative_model_classes = (GPTForCausalLM,)
    generation_tester_class = GPT1GenerationTester


class TestGPTLlamaGeneration(GenerationTesterMixin):
    all_generative_model_classes = (GPTForCausalLM,)
    generation_tester_class = LlamaGenerationTester


# ----------------------------------------------------------------------------------------------------------------------
# Parity with transformers' classes, both directions
# ----------------------------------------------------------------------------------------------------------------------
def reference_model(fmt: str, seed: int = 0):
    """A random transformers model of `fmt` with wide weights (decisive next-token distributions)."""
    torch.manual_seed(seed)
    common = {"vocab_size": 41, "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD}
    if fmt == "gpt2":
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
            n_positions=48, n_embd=16, n_layer=2, n_head=4, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0, **common))
    elif fmt == "openai-gpt":
        common.pop("bos_token_id"), common.pop("eos_token_id")
        model = transformers.OpenAIGPTLMHeadModel(transformers.OpenAIGPTConfig(
            n_positions=48, n_embd=16, n_layer=2, n_head=4, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0, **common))
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=48, rope_theta=500.0, **common))
    with torch.no_grad():  # wide matrices; the norms stay at 1
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0.0, 0.4)
    return model.eval()


FORMATS = ["openai-gpt", "gpt2", "llama"]


@pytest.mark.parametrize("direction", ["transformers->hf_models", "hf_models->transformers"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_transformers_checkpoints_load_both_ways_with_the_same_logits_and_generations(tmp_path, fmt, direction):
    reference = reference_model(fmt)
    reference.save_pretrained(tmp_path / "reference")
    ours = GPTForCausalLM.from_pretrained(tmp_path / "reference").eval()
    assert ours.config.checkpoint_format() == fmt
    if direction == "hf_models->transformers":  # ours written in the format, read back by transformers' class
        export_checkpoint(ours, tmp_path / "exported")
        assert json.loads((tmp_path / "exported" / "config.json").read_text())["model_type"] == fmt
        reference = type(reference).from_pretrained(tmp_path / "exported").eval()
    input_ids = torch.randint(3, 41, (2, 9), generator=torch.Generator().manual_seed(1))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 6:] = 0  # right padding: the same positions in both
    with torch.no_grad():
        expected = reference(input_ids=input_ids, attention_mask=attention_mask).logits
        got = ours(input_ids=input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(got[1, :6], expected[1, :6], rtol=0, atol=1e-5)
    prompt = input_ids[:, :4]
    settings = [{"num_beams": 1}, {"num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.6},
                {"do_sample": True, "top_k": 8, "temperature": 0.9}, {"do_sample": True, "top_p": 0.8}]
    for kwargs in settings:
        torch.manual_seed(7)
        a = reference.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8,
                               pad_token_id=PAD, eos_token_id=None, **kwargs)
        torch.manual_seed(7)
        b = ours.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8,
                          pad_token_id=PAD, eos_token_id=None, **kwargs)
        assert torch.equal(a, b), kwargs
        assert len({tuple(row) for row in a[:, 4:].tolist()}) > 1  # not a degenerate constant output


@pytest.mark.parametrize("fmt", ["gpt2", "llama"])
def test_left_padded_generation_equals_transformers(tmp_path, fmt):
    """A left-padded batch: transformers' generate() derives the positions from the mask, as hf_models' model does."""
    reference = reference_model(fmt, seed=2)
    reference.save_pretrained(tmp_path)
    ours = GPTForCausalLM.from_pretrained(tmp_path).eval()
    input_ids = torch.tensor([[PAD, PAD, 5, 6, 7], [8, 9, 10, 11, 12]])
    attention_mask = (input_ids != PAD).long()
    a = reference.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=6, do_sample=False,
                           pad_token_id=PAD, eos_token_id=None)
    b = ours.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=6, do_sample=False,
                      pad_token_id=PAD, eos_token_id=None)
    assert torch.equal(a, b)


def test_training_loss_and_gradients_equal_gpt2s(tmp_path):
    reference = reference_model("gpt2")
    reference.save_pretrained(tmp_path)
    ours = GPTForCausalLM.from_pretrained(tmp_path)
    input_ids = torch.randint(3, 41, (2, 8), generator=torch.Generator().manual_seed(4))
    labels = input_ids.clone()
    labels[1, 5:] = -100
    losses, grads = {}, {}
    for name, model in (("transformers", reference), ("hf_models", ours)):
        model.train()
        loss = model(input_ids=input_ids, labels=labels).loss
        loss.backward()
        losses[name] = loss.detach()
        grads[name] = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    torch.testing.assert_close(losses["hf_models"], losses["transformers"], rtol=1e-5, atol=1e-6)
    for key, grad in grads["transformers"].items():
        expected = grad.t() if key.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")) else grad
        torch.testing.assert_close(grads["hf_models"][key], expected, rtol=1e-4, atol=1e-5, msg=key)


# ----------------------------------------------------------------------------------------------------------------------
# The lecture's pieces
# ----------------------------------------------------------------------------------------------------------------------
def test_rotary_scores_depend_only_on_relative_position():
    from hf_models.gpt import GPTRotaryEmbedding, apply_rotary

    rotary = GPTRotaryEmbedding(tiny_config(**LLAMA))
    q, k = torch.randn(1, 1, 1, 4), torch.randn(1, 1, 1, 4)

    def score(m, n):
        cos_m, sin_m = rotary(q, torch.tensor([[m]]))
        cos_n, sin_n = rotary(q, torch.tensor([[n]]))
        q_m, _ = apply_rotary(q, q, cos_m, sin_m)
        k_n, _ = apply_rotary(k, k, cos_n, sin_n)
        return float((q_m * k_n).sum())

    assert score(3, 1) == pytest.approx(score(10, 8), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)


def test_the_causal_mask_hides_the_future_and_left_padding():
    from hf_models.gpt import attention_mask_4d

    mask = attention_mask_4d(torch.tensor([[0, 1, 1], [1, 1, 1]]), torch.arange(3), 3)
    assert mask.shape == (2, 1, 3, 3)
    assert mask[1, 0].tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    # the padding is hidden from real tokens; the pad query itself sees everything (its output is unused)
    assert mask[0, 0].tolist() == [[True, True, True], [False, True, False], [False, True, True]]
    model = GPTForCausalLM(tiny_config()).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        full = model(ids).logits
        changed = model(torch.tensor([[5, 6, 7, 9]])).logits
    torch.testing.assert_close(full[:, :3], changed[:, :3])  # no position sees a later token


def test_grouped_query_attention_shares_each_key_value_head():
    model = GPTForCausalLM(tiny_config(**LLAMA))
    attention = model.transformer.h[0].attn
    assert attention.c_attn.out_features == (4 + 2 * 2) * 4  # 4 query heads, 2 key/value heads of 4 dims
    with torch.no_grad():
        out = model(torch.tensor([[3, 4, 5]]), output_attentions=True)
    assert out.attentions[0].shape == (1, 4, 3, 3)


def test_double_heads_loss_is_task_plus_lambda_lm():
    torch.manual_seed(0)
    model = GPTDoubleHeadsModel(tiny_config(lm_loss_coef=0.5)).eval()
    ids = torch.tensor([[BOS, 5, 6, 7, EOS], [BOS, 8, 9, EOS, PAD]])
    mask = (ids != PAD).long()
    out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([1, 2]))
    torch.testing.assert_close(out.loss, out.classification_loss + 0.5 * out.lm_loss)
    lm = GPTForCausalLM(model.config).eval()
    lm.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("score.")}, strict=False)
    expected_lm = lm(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
    torch.testing.assert_close(out.lm_loss, expected_lm)
    # the classifier reads the extract token: the last real one of each row
    classifier = GPTForSequenceClassification(model.config).eval()
    classifier.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("lm_head.")},
                               strict=False)
    torch.testing.assert_close(classifier(input_ids=ids, attention_mask=mask).logits, out.logits)
    plain = GPTDoubleHeadsModel(tiny_config(lm_loss_coef=0.0))(input_ids=ids, attention_mask=mask,
                                                                labels=torch.tensor([1, 2]))
    assert plain.lm_loss is None and torch.equal(plain.loss, plain.classification_loss)


# ----------------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n_embd": 18}, r"n_embd \(18\) must be divisible by n_head \(4\)"),
        ({"n_kv_head": 3}, r"n_head \(4\) must be a multiple of n_kv_head \(3\)"),
        ({"norm_type": "batchnorm"}, "norm_type must be one of"),
        ({"feed_forward": "moe"}, "feed_forward must be one of"),
        ({"position_embedding": "sinusoidal"}, "position_embedding must be one of"),
        ({"n_layer": 0}, "n_layer must be a positive integer"),
        ({"eos_token_id": 99}, r"eos_token_id \(99\) must be a token id"),
        ({"attn_pdrop": 1.0}, r"attn_pdrop must be in \[0, 1\)"),
    ],
)
def test_bad_config_fields_are_named(fields, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**fields)


def test_bad_inputs_are_clear_errors():
    model = GPTForCausalLM(tiny_config()).eval()
    with pytest.raises(ValueError, match=r"input_ids holds the id 99, outside \[0, vocab_size=23\)"):
        model(torch.tensor([[3, 99]]))
    with pytest.raises(ValueError, match=r"the sequence reaches 40 tokens but the model has positions for 32"):
        model(torch.full((1, 40), 3))
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        model(torch.tensor([[3, 4, 5]]), attention_mask=torch.ones(1, 2))
    rotary = GPTForCausalLM(tiny_config(**LLAMA)).eval()
    rotary(torch.full((1, 40), 3))  # rotary positions extend past n_positions
    with pytest.raises(ValueError, match="none of transformers' openai-gpt, gpt2 or llama"):
        tiny_config(position_embedding="rotary").checkpoint_format()


def test_a_config_json_of_each_format_reads_with_its_defaults(tmp_path):
    transformers.GPT2Config(n_layer=3).save_pretrained(tmp_path / "gpt2")
    config = GPTConfig.from_pretrained(tmp_path / "gpt2")
    assert (config.n_layer, config.n_embd, config.vocab_size, config.layer_norm_position) == (3, 768, 50257, "pre")
    transformers.OpenAIGPTConfig().save_pretrained(tmp_path / "gpt1")
    config = GPTConfig.from_pretrained(tmp_path / "gpt1")
    assert (config.layer_norm_position, config.final_layer_norm, config.vocab_size) == ("post", False, 40478)
    transformers.LlamaConfig(num_key_value_heads=8).save_pretrained(tmp_path / "llama")
    config = GPTConfig.from_pretrained(tmp_path / "llama")
    assert (config.n_kv_head, config.norm_type, config.feed_forward, config.bias) == (8, "rmsnorm", "swiglu", False)
    transformers.BertConfig().save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="hf_gpt|openai-gpt"):
        GPTForCausalLM.from_pretrained(tmp_path / "bert")


# ----------------------------------------------------------------------------------------------------------------------
# The task commands' loading (hf_models.trainer_utils): either library's classes for either checkpoint format
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_commands_run_either_format_through_either_library(tmp_path, fmt):
    from hf_models.trainer_utils import ModelArguments, load_config, load_model

    reference = reference_model(fmt)
    reference.save_pretrained(tmp_path / "reference")
    ours = GPTForCausalLM.from_pretrained(tmp_path / "reference").eval()
    ours.save_pretrained(tmp_path / "ours")
    ids = torch.randint(3, 41, (2, 7), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = reference(ids).logits
    for folder, implementation, cls in (("reference", "hf_models", GPTForCausalLM),
                                        ("ours", "transformers", type(reference)),
                                        ("ours", "auto", GPTForCausalLM), ("reference", "auto", type(reference))):
        args = ModelArguments(model_name_or_path=str(tmp_path / folder), implementation=implementation)
        model = load_model(AutoModelForCausalLM, args, load_config(args)).eval()
        assert type(model) is cls, (folder, implementation)
        with torch.no_grad():
            torch.testing.assert_close(model(ids).logits, expected, rtol=0, atol=1e-5)
    # a classification head on the language model's checkpoint, then the same head in the other library
    args = ModelArguments(model_name_or_path=str(tmp_path / "reference"), implementation="hf_models")
    classifier = load_model(AutoModelForSequenceClassification, args, load_config(args, num_labels=3))
    assert type(classifier) is GPTForSequenceClassification and classifier.config.num_labels == 3
    classifier.save_pretrained(tmp_path / "classifier")
    args = ModelArguments(model_name_or_path=str(tmp_path / "classifier"), implementation="transformers")
    theirs = load_model(AutoModelForSequenceClassification, args, load_config(args)).eval()
    assert type(theirs).__name__.endswith("ForSequenceClassification") and theirs.config.num_labels == 3
    with torch.no_grad():
        torch.testing.assert_close(theirs(ids).logits, classifier.eval()(ids).logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("overrides", [{}, LLAMA], ids=["gpt2", "llama"])
def test_a_static_cache_decodes_as_the_dynamic_one(overrides):
    """generate(cache_implementation="static"): the keys and values go to preallocated slots, which the mask hides
    until they are filled; greedy and beam search give the dynamic cache's tokens, left padding included."""
    torch.manual_seed(0)
    model = GPTForCausalLM(tiny_config(initializer_range=0.5, **overrides)).eval()
    input_ids = torch.tensor([[PAD, PAD, 5, 6, 7], [8, 9, 10, 11, 12]])
    attention_mask = (input_ids != PAD).long()
    for kwargs in ({"do_sample": False}, {"num_beams": 3}):
        common = {"input_ids": input_ids, "attention_mask": attention_mask, "max_new_tokens": 6, "pad_token_id": PAD,
                  "eos_token_id": None, **kwargs}
        dynamic = model.generate(**common)
        static = model.generate(**common, cache_implementation="static", return_dict_in_generate=True)
        assert torch.equal(static.sequences, dynamic), kwargs
        cache = getattr(static, "cache", None) or static.past_key_values
        assert type(cache).__name__ == "StaticCache"


@pytest.mark.slow
def test_torch_compile_with_a_static_cache_decodes_as_eager():
    """torch.compile of the forward, decoding into a static cache: the same tokens as the eager model."""
    torch.manual_seed(0)
    model = GPTForCausalLM(tiny_config(initializer_range=0.5)).eval()
    input_ids = torch.tensor([[5, 6, 7, 8]])
    kwargs = {"input_ids": input_ids, "max_new_tokens": 6, "do_sample": False, "pad_token_id": PAD,
              "eos_token_id": None}
    eager = model.generate(**kwargs)
    model.forward = torch.compile(model.forward, dynamic=False)
    assert torch.equal(model.generate(**kwargs, cache_implementation="static"), eager)


def test_half_precision_training_on_cpu_takes_the_eager_attention_path_with_the_causal_mask():
    """Under bf16 autocast in training on a CPU, "sdpa" runs the eager path: the loss and gradients of the eager
    implementation, and still causal (a later token changes no earlier position's output)."""
    losses, grads = {}, {}
    ids = torch.tensor([[3, 4, 5, 6, 7]])
    for implementation in ("sdpa", "eager"):
        torch.manual_seed(0)
        model = GPTForCausalLM(tiny_config(attn_implementation=implementation)).train()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        losses[implementation] = loss.detach()
        grads[implementation] = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            a = model.transformer(ids).last_hidden_state
            b = model.transformer(torch.tensor([[3, 4, 5, 6, 9]])).last_hidden_state
        torch.testing.assert_close(a[:, :4], b[:, :4])
    assert torch.equal(losses["sdpa"], losses["eager"]) and torch.equal(grads["sdpa"], grads["eager"])


@pytest.mark.parametrize("rows", [1, 3], ids=["one sequence", "a batch"])
def test_decoding_reads_the_output_layer_transposed_with_the_same_logits(rows, monkeypatch):
    """A decoding step's rows (up to _TRANSPOSED_OUTPUT_ROWS) read a transposed copy of W, with the same logits."""
    monkeypatch.setattr(modeling_gpt, "_TRANSPOSED_OUTPUT_ROWS", 4)
    model = GPTForCausalLM(tiny_config()).eval()
    ids = torch.tensor([[3, 4, 5], [6, 7, 8], [9, 10, 11]])[:rows]
    with torch.no_grad():
        fast = model(ids, logits_to_keep=1).logits  # a row per sequence: the transposed copy
        dense = model.lm_head(model.transformer(ids).last_hidden_state[:, -1:])
        torch.testing.assert_close(fast, dense, rtol=1e-6, atol=1e-6)
        assert "_transposed_output_weight" in model.__dict__
        del model.__dict__["_transposed_output_weight"]
        torch.testing.assert_close(model(ids).logits, model.lm_head(model.transformer(ids).last_hidden_state))
        assert ("_transposed_output_weight" in model.__dict__) == (3 * rows <= 4)  # every position: 3 or 9 rows
        model.lm_head.weight.mul_(2.0)  # the weights change: the copy is made again
        torch.testing.assert_close(model(ids, logits_to_keep=1).logits,
                                   model.lm_head(model.transformer(ids).last_hidden_state[:, -1:]))


def test_a_saved_double_heads_model_carries_the_family_code(tmp_path):
    """GPTDoubleHeadsModel has no Auto class, but its folder still holds modeling_gpt.py and its siblings, and an
    auto_map, so that it loads with trust_remote_code and can be pushed to the Hub."""
    model = GPTDoubleHeadsModel(tiny_config())
    model.save_pretrained(tmp_path)
    for name in ("modeling_gpt.py", "configuration_gpt.py", "convert_gpt.py"):
        assert (tmp_path / name).is_file(), name
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_gpt.GPTForCausalLM"
    reloaded = GPTDoubleHeadsModel.from_pretrained(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key
    assert not GPTForSequenceClassification.accepts_loss_kwargs and not GPTDoubleHeadsModel.accepts_loss_kwargs


@pytest.mark.parametrize("overrides", [{}, LLAMA], ids=["gpt2", "llama"])
def test_beams_and_samples_read_each_prompt_once(overrides):
    """generate() copies each prompt for its beams (or samples): the first forward reads each prompt once and copies
    its cache and logits, with the beams, scores and attention maps of the copied computation."""
    import inspect as _inspect

    from transformers import GenerationMixin

    torch.manual_seed(0)
    model = GPTForCausalLM(tiny_config(initializer_range=0.5, **overrides)).eval()
    input_ids = torch.tensor([[PAD, PAD, 5, 6, 7], [8, 9, 10, 11, 12]])
    attention_mask = (input_ids != PAD).long()

    class Copied(GPTForCausalLM):  # transformers' way: every copy of a prompt read in full
        def _expand_inputs_for_generation(self, **kwargs):
            base = _inspect.getattr_static(GenerationMixin, "_expand_inputs_for_generation")
            return base.__func__(**kwargs) if isinstance(base, staticmethod) else base(self, **kwargs)

    copied = Copied(model.config).eval()
    copied.load_state_dict(model.state_dict())
    for kwargs in ({"num_beams": 3, "num_return_sequences": 2}, {"do_sample": True, "num_return_sequences": 3}):
        rows = []
        hook = model.transformer.register_forward_pre_hook(
            lambda module, args, kw: rows.append((args[0] if args else kw["input_ids"]).shape), with_kwargs=True)
        common = {"input_ids": input_ids, "attention_mask": attention_mask, "max_new_tokens": 4, "pad_token_id": PAD,
                  "eos_token_id": None, "return_dict_in_generate": True, "output_scores": True, **kwargs}
        try:
            torch.manual_seed(1)
            got = model.generate(**common)
        finally:
            hook.remove()
        torch.manual_seed(1)
        expected = copied.generate(**common)
        copies = kwargs.get("num_beams", kwargs["num_return_sequences"])
        assert rows[0] == (2, 5) and rows[1] == (2 * copies, 1), rows[:2]  # each prompt once, then every row
        assert torch.equal(got.sequences, expected.sequences), kwargs
        for a, b in zip(got.scores, expected.scores, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16 autocast"])
@pytest.mark.parametrize("num_items", [None, 7], ids=["mean", "num_items_in_batch"])
def test_the_loss_and_its_gradients_are_transformers_cross_entropys(bf16, num_items, monkeypatch):
    """LinearCrossEntropy (dL/dz = softmax(z) - onehot(y), formed in the backward pass, slice by slice) gives the loss,
    logits and gradients of nn.Linear + transformers' ForCausalLMLoss: ignored labels, a gradient reaching the
    returned logits as well, a second backward over a kept graph."""
    from transformers.loss.loss_utils import ForCausalLMLoss

    monkeypatch.setattr(modeling_gpt, "_LOSS_SLICE_ELEMENTS", 3 * VOCAB)  # slices of 3 rows: 5 slices of 14 rows
    torch.manual_seed(0)
    model = GPTForCausalLM(tiny_config(initializer_range=0.5, embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0))
    ids = torch.randint(3, VOCAB, (2, 7))
    labels = ids.clone()
    labels[0, 2] = labels[1, :3] = -100
    results, applied = {}, []
    apply = modeling_gpt.LinearCrossEntropy.apply
    monkeypatch.setattr(modeling_gpt.LinearCrossEntropy, "apply", lambda *a: applied.append(1) or apply(*a))
    for path in ("fused", "reference"):
        model.zero_grad()
        if path == "reference":  # nn.Linear + ForCausalLMLoss: the path taken when the output layer is replaced
            monkeypatch.setattr(modeling_gpt, "_plain_output_layer", lambda layer: False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(ids, labels=labels, num_items_in_batch=num_items)
        assert out.logits.dtype == (torch.bfloat16 if bf16 else torch.float32)
        if path == "reference":
            reference = ForCausalLMLoss(out.logits, labels, vocab_size=VOCAB, num_items_in_batch=num_items)
            torch.testing.assert_close(out.loss, reference)
        extra = (out.logits.float()[:, :, 5] ** 2).sum() * 1e-3  # a second loss on the logits
        (out.loss + extra).backward(retain_graph=True)
        first = [p.grad.clone() for p in model.parameters()]
        out.loss.backward()  # again, over the kept graph: the loss's gradient once more
        results[path] = (out.loss.detach(), out.logits.detach(), first, [p.grad.clone() for p in model.parameters()])
    assert len(applied) == 1  # the fused path ran once, the reference never
    tolerance = {"rtol": 2e-2, "atol": 2e-3} if bf16 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(results["fused"][0], results["reference"][0], **tolerance)
    torch.testing.assert_close(results["fused"][1], results["reference"][1], **tolerance)
    for index in (2, 3):
        for fused, reference in zip(results["fused"][index], results["reference"][index]):
            torch.testing.assert_close(fused, reference, **tolerance)


def test_the_loss_of_no_labelled_token_is_nan_as_transformers():
    model = GPTForCausalLM(tiny_config())
    out = model(torch.tensor([[3, 4, 5]]), labels=torch.tensor([[3, -100, -100]]))
    assert torch.isnan(out.loss) and out.logits.shape == (1, 3, VOCAB)
