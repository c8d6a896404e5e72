"""Tests of T5 (hf_models.t5) on tiny configs: the shared model-tester and generation-tester suites for T5 v1.0 (ReLU,
tied output layer) and v1.1 (gated GELU, separate output layer, more decoder than encoder layers, num_heads * d_kv !=
d_model); parity with transformers' T5ForConditionalGeneration and T5EncoderModel in both directions (logits, loss,
gradients, greedy, beam search and sampling); padding on either side; the real T5 SentencePiece vocabulary; config
and input errors."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch
import transformers
from conftest import requires_shared_data, shared_data_dir
from generation_tester import INSTALLED_CACHE_NAME, GenerationTesterMixin
from model_tester import ModelTesterMixin
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSeq2SeqLM,
    AutoModelForTextEncoding,
)

import hf_models
from hf_models.t5 import (
    T5Config,
    T5EncoderModel,
    T5ForConditionalGeneration,
    T5Model,
    relative_position_bucket,
)

PAD, EOS = 0, 1
VOCAB = 32


def tiny_config(**kwargs) -> T5Config:
    """2 encoder and 2 decoder layers, 3 heads of d_kv 6 over d_model 16 (18 != 16: allowed in T5), 8 buckets."""
    fields = {"vocab_size": VOCAB, "d_model": 16, "d_kv": 6, "d_ff": 24, "num_layers": 2, "num_heads": 3,
              "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16, "dropout_rate": 0.0}
    fields.update(kwargs)
    return T5Config(**fields)


V11 = {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "num_decoder_layers": 3}


# ----------------------------------------------------------------------------------------------------------------------
# The shared model tester (encoder-decoder mode; T5EncoderModel as an encoder)
# ----------------------------------------------------------------------------------------------------------------------
class T5ModelTester:
    """Sources of 7 tokens (right-padded to 7, 4, 6), targets of 6 (padded to 6, 3, 5) behind the start token."""

    batch_size = 3
    seq_length = 7
    target_length = 6
    hidden_size = 16
    num_attention_heads = 3
    config_overrides: ClassVar[dict] = {}

    @property
    def num_hidden_layers(self) -> int:
        return self.get_config().num_decoder_layers

    @property
    def num_encoder_layers(self) -> int:
        return self.get_config().num_layers

    @property
    def num_decoder_layers(self) -> int:
        return self.get_config().num_decoder_layers

    def get_config(self) -> T5Config:
        return tiny_config(dropout_rate=0.1, **self.config_overrides)

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        mask = (torch.arange(self.seq_length)[None, :] < torch.tensor([[7], [4], [6]])).long()
        input_ids = torch.randint(2, config.vocab_size, (self.batch_size, self.seq_length)).masked_fill(mask == 0, PAD)
        target_mask = (torch.arange(self.target_length)[None, :] < torch.tensor([[6], [3], [5]])).long()
        decoder_input_ids = torch.randint(2, config.vocab_size, (self.batch_size, self.target_length))
        decoder_input_ids[:, 0] = config.decoder_start_token_id
        decoder_input_ids = decoder_input_ids.masked_fill(target_mask == 0, PAD)
        return config, {"input_ids": input_ids, "attention_mask": mask, "decoder_input_ids": decoder_input_ids,
                        "decoder_attention_mask": target_mask}


class _T5TestBase(ModelTesterMixin):
    all_model_classes = (T5Model, T5ForConditionalGeneration, T5EncoderModel)
    model_tester_class = T5ModelTester
    auto_model_classes: ClassVar[dict] = {T5Model: AutoModel, T5ForConditionalGeneration: AutoModelForSeq2SeqLM,
                                          T5EncoderModel: AutoModelForTextEncoding}
    training_lr = 1e-2

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs = {k: v.clone() for k, v in inputs_dict.items()}
        if model_class is T5EncoderModel:
            return {k: v for k, v in inputs.items() if not k.startswith("decoder_")}
        if return_labels and model_class is T5ForConditionalGeneration:
            batch = inputs["decoder_input_ids"].shape[0]
            labels = torch.cat([inputs["decoder_input_ids"][:, 1:], torch.full((batch, 1), EOS)], dim=1)
            inputs["labels"] = labels.masked_fill(inputs["decoder_attention_mask"] == 0, -100)
        return inputs

    def expected_output_shapes(self, model_class, inputs_dict, config):
        batch, source = inputs_dict["input_ids"].shape
        encoder = (batch, source, config.d_model)
        if model_class is T5EncoderModel:
            return {"last_hidden_state": encoder}
        target = inputs_dict["decoder_input_ids"].shape[1]
        if model_class is T5Model:
            return {"last_hidden_state": (batch, target, config.d_model), "encoder_last_hidden_state": encoder}
        return {"logits": (batch, target, config.vocab_size), "encoder_last_hidden_state": encoder}

    def expected_hidden_states(self, model_class, inputs, config):
        if model_class is not T5EncoderModel:
            return super().expected_hidden_states(model_class, inputs, config)
        batch, source = inputs["input_ids"].shape
        return {"hidden_states": (config.num_layers + 1, (batch, source, config.d_model))}

    def expected_attentions(self, model_class, inputs, config):
        if model_class is not T5EncoderModel:
            return super().expected_attentions(model_class, inputs, config)
        batch, source = inputs["input_ids"].shape
        allowed = inputs["attention_mask"].bool()[:, None, None, :]
        return {"attentions": (config.num_layers, (batch, config.num_heads, source, source), allowed)}


class TestT5V10(_T5TestBase):
    """T5 v1.0: ReLU feed-forward network, the output layer tied to the embeddings (with the d_model^-0.5 rescale)."""


class V11Tester(T5ModelTester):
    config_overrides: ClassVar[dict] = V11


class TestT5V11(_T5TestBase):
    """T5 v1.1: gated GELU, a separate output layer, and a decoder deeper than the encoder."""

    model_tester_class = V11Tester
    test_auto_registration_in_fresh_process = False  # the same classes: checked once, above


# ----------------------------------------------------------------------------------------------------------------------
# The shared generation tester: the EncoderDecoderCache of self- and cross-attention keys and values
# ----------------------------------------------------------------------------------------------------------------------
class T5GenerationTester:
    """Three sources of lengths 6, 3 and 5 (the weights are widened by the test classes, below)."""

    config_overrides: ClassVar[dict] = {}

    def get_config(self) -> T5Config:
        return tiny_config(eos_token_id=None, **self.config_overrides)

    def prompts(self, config):
        generator = torch.Generator().manual_seed(3)
        return [torch.randint(2, config.vocab_size, (n,), generator=generator) for n in (6, 3, 5)]


class V11GenerationTester(T5GenerationTester):
    config_overrides: ClassVar[dict] = V11


def widen(model, std: float = 1.0, bias_std: float = 3.0, seed: int = 0):
    """Every projection drawn from N(0, std^2) and the position biases from N(0, bias_std^2), wider than T5's
    initialisation: decisive next-token distributions (near-ties say nothing) and a decoder whose output changes from
    step to step (at T5's initialisation, with v1.0's tied output layer, the embedding of the input token dominates
    the residual stream and the decoder repeats it)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2:  # every weight from this generator: the same model on every transformers release
                scale = {"shared.weight": 1.0}.get(name, bias_std if "relative_attention_bias" in name else std)
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return model


class _T5GenerationTestBase(GenerationTesterMixin):
    all_generative_model_classes = (T5ForConditionalGeneration,)
    # relative positions only: a random T5 changes its output less from step to step than a model with absolute
    # positions, so the stopping rules of beam search need a few more steps to make a difference
    max_new_tokens = 10
    # the widened weights (`widen`) make activations of tens to hundreds: cached and recomputed log-probabilities then
    # differ by float32 rounding of up to a few 1e-5 (relative ~1e-6); a misplaced position or key is off by whole units
    logits_atol = 1e-4

    def _model_and_prompts(self, generative_class, eos=None):
        model, prompts = super()._model_and_prompts(generative_class)
        widen(model)
        if eos == "hit":
            model.generation_config.eos_token_id = self._frequent_token(model, prompts)
        return model, prompts


class TestT5V10Generation(_T5GenerationTestBase):
    generation_tester_class = T5GenerationTester


class TestT5V11Generation(_T5GenerationTestBase):
    generation_tester_class = V11GenerationTester


# ----------------------------------------------------------------------------------------------------------------------
# Parity with transformers' T5: its checkpoints load, and ours load into it
# ----------------------------------------------------------------------------------------------------------------------
VARIANTS = {"v1.0": {"feed_forward_proj": "relu", "tie_word_embeddings": True},
            "v1.1": {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False}}


def random_transformers_t5(variant: str, seed: int = 0, model_class=transformers.T5ForConditionalGeneration):
    """transformers' T5 with random weights: the norms' gains and the position biases drawn too (so a misplaced one
    would show); v1.1 with an output layer of its own."""
    torch.manual_seed(seed)
    config = transformers.T5Config(vocab_size=40, d_model=16, d_kv=6, d_ff=24, num_layers=2, num_heads=3,
                                   relative_attention_num_buckets=8, relative_attention_max_distance=16,
                                   dropout_rate=0.0, decoder_start_token_id=0, **VARIANTS[variant])
    model = model_class(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                param.uniform_(0.5, 1.5)
            elif "relative_attention_bias" in name:
                param.normal_(0.0, 1.0)
            elif name != "shared.weight":
                param.mul_(1.5)  # wider than the initialisation: decisive generations
        if variant == "v1.1" and hasattr(model, "lm_head"):
            model.lm_head.weight = torch.nn.Parameter(torch.randn(40, 16))
            model.config.tie_word_embeddings = False
    # transformers 5.0.0's T5Config rescales every model (its `kwargs.get("tie_word_embeddings")` never sees the named
    # parameter), v1.1 included; later releases derive it from tie_word_embeddings. Said explicitly, it holds on both.
    model.config.scale_decoder_outputs = variant == "v1.0"
    return model


def parity_batch():
    """Two sources, the second right-padded; labels of different lengths (-100 after the second's EOS)."""
    input_ids = torch.tensor([[5, 6, 7, 8, 9, 10, 1], [11, 12, 13, 1, 0, 0, 0]])
    labels = torch.tensor([[3, 4, 5, 6, 1], [7, 8, 1, -100, -100]])
    return input_ids, (input_ids != 0).long(), labels


def _models_both_ways(tmp_path, variant, direction, model_class=transformers.T5ForConditionalGeneration,
                      ours_class=T5ForConditionalGeneration):
    theirs = random_transformers_t5(variant, model_class=model_class)
    theirs.save_pretrained(tmp_path / "theirs")
    ours, info = ours_class.from_pretrained(tmp_path / "theirs", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert isinstance(ours.config, T5Config)
    if direction == "hf_models->transformers":  # ours saved, read back by transformers' class
        ours.save_pretrained(tmp_path / "ours")
        assert json.loads((tmp_path / "ours" / "config.json").read_text())["model_type"] == "hf_t5"
        theirs, info = model_class.from_pretrained(tmp_path / "ours", output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], info
    return ours.eval(), theirs.eval()


@pytest.mark.parametrize("direction", ["transformers->hf_models", "hf_models->transformers"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_transformers_checkpoints_load_both_ways_with_the_same_logits_loss_gradients_and_generations(
        tmp_path, variant, direction):
    ours, theirs = _models_both_ways(tmp_path, variant, direction)
    tied = variant == "v1.0"
    assert ours.config.tie_word_embeddings == tied and ours.config.scale_decoder_outputs == tied
    assert (ours.lm_head.weight is ours.shared.weight) == tied
    torch.testing.assert_close(ours.lm_head.weight, theirs.lm_head.weight, rtol=0, atol=0)
    input_ids, attention_mask, labels = parity_batch()
    for implementation in ("eager", "sdpa"):
        ours.config._attn_implementation = implementation
        with torch.no_grad():
            expected = theirs(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            got = ours(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        torch.testing.assert_close(got.logits, expected.logits, rtol=0, atol=1e-5)
        torch.testing.assert_close(got.encoder_last_hidden_state, expected.encoder_last_hidden_state, rtol=0,
                                   atol=1e-5)
        torch.testing.assert_close(got.loss, expected.loss, rtol=0, atol=1e-5)

    grads = {}
    for name, model in (("theirs", theirs), ("ours", ours)):  # training mode (dropout 0): the same gradients
        model.train()
        model.zero_grad()
        model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
        grads[name] = {k: p.grad for k, p in model.named_parameters()}
        model.eval()
    assert grads["ours"].keys() == grads["theirs"].keys()
    for key, grad in grads["theirs"].items():
        assert grads["ours"][key] is not None, key
        torch.testing.assert_close(grads["ours"][key], grad, rtol=1e-4, atol=1e-5, msg=key)

    settings = [{"num_beams": 1}, {"num_beams": 4, "num_return_sequences": 2, "length_penalty": 0.6},
                {"do_sample": True, "top_k": 5, "num_return_sequences": 2}]
    for kwargs in settings:
        torch.manual_seed(7)
        a = theirs.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=10, **kwargs)
        torch.manual_seed(7)
        b = ours.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=10, **kwargs)
        assert torch.equal(a, b), (kwargs, a.tolist(), b.tolist())
        assert len({tuple(row) for row in a[:, 1:].tolist()}) > 1  # not a degenerate constant output
    beams = {name: model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=10, num_beams=4,
                                  num_return_sequences=4, output_scores=True, return_dict_in_generate=True)
             for name, model in (("theirs", theirs), ("ours", ours))}
    assert torch.equal(beams["ours"].sequences, beams["theirs"].sequences)
    torch.testing.assert_close(beams["ours"].sequences_scores, beams["theirs"].sequences_scores, rtol=0, atol=1e-5)


@pytest.mark.parametrize("direction", ["transformers->hf_models", "hf_models->transformers"])
def test_encoder_model_equals_transformers_t5_encoder_model(tmp_path, direction):
    ours, theirs = _models_both_ways(tmp_path, "v1.1", direction, transformers.T5EncoderModel, T5EncoderModel)
    input_ids, attention_mask, _ = parity_batch()
    with torch.no_grad():
        expected = theirs(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        got = ours(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    torch.testing.assert_close(got.last_hidden_state, expected.last_hidden_state, rtol=0, atol=1e-5)
    assert len(got.hidden_states) == len(expected.hidden_states)
    torch.testing.assert_close(got.hidden_states[-1], expected.hidden_states[-1], rtol=0, atol=1e-5)


def test_the_encoder_of_a_seq2seq_checkpoint_loads_as_t5_encoder_model(tmp_path):
    """A transformers T5ForConditionalGeneration folder read by T5EncoderModel (and AutoModelForTextEncoding): the
    decoder's weights are left out without a warning-worthy mismatch, and the encoder gives the same states."""
    theirs = random_transformers_t5("v1.1")
    theirs.save_pretrained(tmp_path)
    encoder, info = T5EncoderModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    input_ids, attention_mask, _ = parity_batch()
    with torch.no_grad():
        expected = theirs.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        got = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_relative_position_buckets_equal_transformers():
    from transformers.models.t5.modeling_t5 import T5Attention

    relative = torch.arange(-300, 301)[None, :]
    for bidirectional in (True, False):
        for buckets, distance in ((32, 128), (8, 16), (4, 3)):
            expected = T5Attention._relative_position_bucket(relative, bidirectional, buckets, distance)
            got = relative_position_bucket(relative, bidirectional, buckets, distance)
            assert torch.equal(got, expected), (bidirectional, buckets, distance)
            assert int(got.min()) >= 0 and int(got.max()) < buckets
    causal = relative_position_bucket(torch.arange(-5, 6), bidirectional=False, num_buckets=32, max_distance=128)
    assert causal.tolist() == [5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0]  # the future all in bucket 0 (masked anyway)
    both = relative_position_bucket(torch.arange(-3, 4), bidirectional=True, num_buckets=32, max_distance=128)
    assert both.tolist() == [3, 2, 1, 0, 17, 18, 19]  # keys after the query in the second half


# ----------------------------------------------------------------------------------------------------------------------
# The lecture's claims, on a tiny model
# ----------------------------------------------------------------------------------------------------------------------
def test_only_the_first_block_of_each_stack_has_the_position_bias_and_the_others_share_it():
    model = T5ForConditionalGeneration(tiny_config(**V11)).eval()
    owners = sorted(name for name, _ in model.named_parameters() if "relative_attention_bias" in name)
    assert owners == ["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                      "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    calls = []
    for stack in (model.encoder, model.decoder):
        attention = stack.block[0].layer[0].SelfAttention
        original = attention.compute_bias
        attention.compute_bias = lambda *a, original=original, **k: calls.append(1) or original(*a, **k)
    with torch.no_grad():
        model(input_ids=torch.tensor([[3, 4, 5]]), decoder_input_ids=torch.tensor([[0, 6, 7]]))
    assert len(calls) == 2  # once per stack, not once per layer


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_padding_on_either_side_of_the_source_changes_nothing_for_the_real_tokens(implementation):
    """Relative positions: a source padded on the left (or right) gives the encoder states of its real tokens and the
    decoder logits of the source alone (the distances between real tokens are unchanged)."""
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config(initializer_factor=2.0, attn_implementation=implementation)).eval()
    source = [5, 6, 7, 8, 1]
    target = torch.tensor([[0, 9, 10, 11]])
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([source]), decoder_input_ids=target)
        for side in ("left", "right"):
            padded = [PAD, PAD, PAD] + source if side == "left" else source + [PAD, PAD, PAD]
            ids = torch.tensor([padded, [12, 13, 14, 15, 16, 17, 1, PAD]])
            mask = (ids != PAD).long()
            mask[1, :7] = 1
            out = model(input_ids=ids, attention_mask=mask, decoder_input_ids=target.repeat(2, 1))
            real = slice(3, 8) if side == "left" else slice(0, 5)
            torch.testing.assert_close(out.encoder_last_hidden_state[0, real], alone.encoder_last_hidden_state[0],
                                       rtol=0, atol=1e-5)
            torch.testing.assert_close(out.logits[:1], alone.logits, rtol=0, atol=1e-5)
            # and without the mask the padding would be read: the test can tell
            unmasked = model(input_ids=ids, decoder_input_ids=target.repeat(2, 1))
            assert not torch.allclose(unmasked.logits[:1], alone.logits, atol=1e-3)


def test_left_padded_sources_generate_what_each_source_alone_generates():
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config(initializer_factor=2.0, eos_token_id=None)).eval()
    sources = [[5, 6, 7, 8, 9, 1], [10, 11, 1]]
    ids = torch.tensor([[5, 6, 7, 8, 9, 1], [PAD, PAD, PAD, 10, 11, 1]])
    with torch.no_grad():
        batched = model.generate(input_ids=ids, attention_mask=(ids != PAD).long(), max_new_tokens=6, num_beams=3)
        for row, source in enumerate(sources):
            alone = model.generate(input_ids=torch.tensor([source]), max_new_tokens=6, num_beams=3)
            assert batched[row].tolist() == alone[0].tolist()


def test_attention_is_unscaled_softmax_of_scores_plus_position_bias():
    """The eager attention is softmax(Q K^T + B) V, with no 1/sqrt(d_kv): recomputed by hand from the weights."""
    torch.manual_seed(0)
    model = T5EncoderModel(tiny_config(num_layers=1)).eval()
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        layer = model.encoder.block[0].layer[0]
        x = layer.layer_norm(out.hidden_states[0])  # (1, 4, d_model)
        attention = layer.SelfAttention
        q = attention.q(x).view(1, 4, 3, 6).transpose(1, 2)
        k = attention.k(x).view(1, 4, 3, 6).transpose(1, 2)
        bias = attention.compute_bias(4, 4)  # (1, heads, 4, 4)
        expected = torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1)
    torch.testing.assert_close(out.attentions[0], expected, rtol=0, atol=1e-6)


def test_v10_rescales_the_decoder_output_before_the_tied_output_layer():
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config()).eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[3, 4, 5]]), decoder_input_ids=torch.tensor([[0, 6]]))
        base = T5Model(model.config)
        base.load_state_dict(model.state_dict(), strict=False)
        hidden = base.eval()(input_ids=torch.tensor([[3, 4, 5]]), decoder_input_ids=torch.tensor([[0, 6]]))
    expected = hidden.last_hidden_state * 16**-0.5 @ model.shared.weight.T
    torch.testing.assert_close(out.logits, expected, rtol=0, atol=1e-6)


def test_labels_give_shifted_decoder_inputs_and_the_loss_honours_num_items_in_batch():
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config()).eval()
    ids = torch.tensor([[3, 4, 5], [6, 7, 8]])
    labels = torch.tensor([[9, 10, 1], [11, 1, -100]])
    with torch.no_grad():
        from_labels = model(input_ids=ids, labels=labels)
        explicit = model(input_ids=ids, decoder_input_ids=torch.tensor([[0, 9, 10], [0, 11, 1]]))
        summed = model(input_ids=ids, labels=labels, num_items_in_batch=torch.tensor(10))
    torch.testing.assert_close(from_labels.logits, explicit.logits, rtol=0, atol=0)
    assert model.prepare_decoder_input_ids_from_labels(labels).tolist() == [[0, 9, 10], [0, 11, 1]]  # -100 -> pad
    per_token = torch.nn.functional.cross_entropy(explicit.logits.reshape(-1, VOCAB), labels.reshape(-1),
                                                  reduction="none", ignore_index=-100)
    torch.testing.assert_close(from_labels.loss, per_token.sum() / 5)
    torch.testing.assert_close(summed.loss, per_token.sum() / 10)  # the Trainer's count over the whole batch


@pytest.mark.parametrize("variant", [{}, V11], ids=["v1.0", "v1.1"])
def test_resizing_the_vocabulary_resizes_every_use_of_it(variant):
    """resize_token_embeddings (new tokens, e.g. sentinels): the encoder and the decoder read the new matrix, the
    output layer grows with it (tied in v1.0), and the old tokens keep their rows."""
    model = T5ForConditionalGeneration(tiny_config(**variant)).eval()
    old_embeddings, old_head = model.shared.weight.detach().clone(), model.lm_head.weight.detach().clone()
    model.resize_token_embeddings(VOCAB + 8)
    assert model.encoder.embed_tokens is model.shared and model.decoder.embed_tokens is model.shared
    assert model.shared.weight.shape == (VOCAB + 8, 16) and model.lm_head.weight.shape == (VOCAB + 8, 16)
    assert (model.lm_head.weight is model.shared.weight) == (not variant)
    torch.testing.assert_close(model.shared.weight[:VOCAB], old_embeddings, rtol=0, atol=0)
    torch.testing.assert_close(model.lm_head.weight[:VOCAB], old_head, rtol=0, atol=0)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[3, VOCAB + 7]]), labels=torch.tensor([[VOCAB + 5, 1]]))
    assert out.logits.shape == (1, 2, VOCAB + 8) and torch.isfinite(out.loss)


# ----------------------------------------------------------------------------------------------------------------------
# Speed paths: packed tokens in training, the fused output layer + loss, one source row per beam group
# ----------------------------------------------------------------------------------------------------------------------
def _loss_and_grads(model, batch, bf16=False, **kwargs):
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(**batch, **kwargs)
    out.loss.backward()
    return out, {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("variant", [{}, V11], ids=["v1.0", "v1.1"])
def test_training_skips_padding_with_the_same_loss_and_gradients(variant, bf16, monkeypatch):
    """sparse_prediction (the default): in training the encoder packs the source's real tokens, the decoder stops at
    each row's last label and the output layer + loss (LinearCrossEntropy on a CPU) read the labelled rows only; the
    loss and every gradient equal the plain path's, and the encoder's real positions are unchanged."""
    from hf_models.t5 import modeling_t5

    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config(vocab_size=40, **variant)).train()
    lengths, label_lengths = torch.tensor([[7], [3], [5], [6]]), torch.tensor([[6], [2], [4], [1]])
    mask = (torch.arange(7)[None, :] < lengths).long()
    labels = torch.randint(2, 40, (4, 6)).masked_fill(torch.arange(6)[None, :] >= label_lengths, -100)
    batch = {"input_ids": torch.randint(2, 40, (4, 7)) * mask, "attention_mask": mask, "labels": labels}
    packed_rows, fused = [], []
    real_pack = modeling_t5.PackedTokens.pack
    monkeypatch.setattr(modeling_t5.PackedTokens, "pack",
                        lambda self, x: packed_rows.append(self.index.numel()) or real_pack(self, x))
    real_apply = modeling_t5.LinearCrossEntropy.apply
    monkeypatch.setattr(modeling_t5.LinearCrossEntropy, "apply",
                        lambda *args: fused.append(args[0].shape[0]) or real_apply(*args))
    for num_items in (None, torch.tensor(30)):
        kwargs = {} if num_items is None else {"num_items_in_batch": num_items}
        model.config.sparse_prediction = True
        packed_rows.clear(), fused.clear()
        sparse, sparse_grads = _loss_and_grads(model, batch, bf16, **kwargs)
        assert 7 + 3 + 5 + 6 in packed_rows and 6 + 2 + 4 + 1 in packed_rows  # source tokens, decoder prefixes
        assert fused == [13]  # the labelled rows only
        assert sparse.logits.shape == (13, 40)
        model.config.sparse_prediction = False
        packed_rows.clear(), fused.clear()
        plain, plain_grads = _loss_and_grads(model, batch, bf16, **kwargs)
        assert 6 + 2 + 4 + 1 not in packed_rows and not fused and plain.logits.shape == (4, 6, 40)
        tolerance = {"rtol": 2e-2, "atol": 2e-2} if bf16 else {"rtol": 1e-5, "atol": 1e-6}
        torch.testing.assert_close(sparse.loss, plain.loss, **tolerance)
        torch.testing.assert_close(sparse.logits.float(), plain.logits[labels != -100].float(), **tolerance)
        real = mask.bool()
        torch.testing.assert_close(sparse.encoder_last_hidden_state[real], plain.encoder_last_hidden_state[real],
                                   **tolerance)
        assert sparse_grads.keys() == plain_grads.keys()
        for key, grad in plain_grads.items():
            torch.testing.assert_close(sparse_grads[key], grad, msg=key,
                                       **({"rtol": 5e-2, "atol": 5e-3} if bf16 else {"rtol": 1e-4, "atol": 1e-6}))


def test_the_fused_loss_is_exact_for_logits_wide_enough_to_underflow_exp():
    """An untied output layer at N(0, 1) with hidden states of norm sqrt(d) gives logits whose softmax underflows
    fp32 (exponents far below -87, where the fused loss raises them to -87 for speed): the loss and gradients still
    equal F.cross_entropy's."""
    from hf_models.t5.modeling_t5 import LinearCrossEntropy

    torch.manual_seed(0)
    hidden = (torch.randn(37, 64) * 6).requires_grad_()
    weight = torch.randn(500, 64, requires_grad=True)
    labels = torch.randint(0, 500, (37,))
    labels[::5] = -100
    loss, logits = LinearCrossEntropy.apply(hidden, weight, labels, (labels != -100).sum(), 8)
    assert ((logits - logits.logsumexp(-1, keepdim=True)) < -104).float().mean() > 0.5  # exp underflows to 0
    (loss + 0.1 * logits.square().mean()).backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad, weight.grad = None, None
    expected_logits = hidden @ weight.t()
    expected = torch.nn.functional.cross_entropy(expected_logits, labels, ignore_index=-100)
    (expected + 0.1 * expected_logits.square().mean()).backward()
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(grads[0], hidden.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[1], weight.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"num_beams": 3}, {"do_sample": True, "num_return_sequences": 2, "top_k": 4}],
                         ids=["beam", "sample"])
def test_beams_and_samples_share_one_source_row_and_equal_copied_sources(kwargs):
    """generate() does not copy the encoder's output for beams or samples: the decoder reads one row per source
    (the cross-attention keys and values are projected and cached once), and the first step runs once per source;
    the result equals decoding from sources copied per row."""
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config(vocab_size=40, **V11)).eval()
    input_ids, attention_mask, _ = parity_batch()
    input_ids = input_ids.clamp(max=39)
    seen = []
    hook = model.decoder.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append((kwargs["input_ids"].shape[0],
                                                  kwargs["encoder_hidden_states"].shape[0])), with_kwargs=True)
    torch.manual_seed(3)
    got = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=6, **kwargs)
    hook.remove()
    rows = kwargs.get("num_beams", 1) * kwargs.get("num_return_sequences", 1)
    assert seen[0] == (2, 2)  # the first step: once per source
    assert all(step == (2 * rows, 2) for step in seen[1:])  # then every row, the source once
    # the same decoding with the rows_per_source path off: each source copied per row
    model._expand_inputs_for_generation = lambda *a, **k: transformers.GenerationMixin._expand_inputs_for_generation(
        model, *a, **k)
    torch.manual_seed(3)
    copied = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=6, **kwargs)
    assert torch.equal(got, copied)


def test_decoding_reads_a_transposed_output_layer_cast_once_under_autocast():
    """Decoding on a CPU (few rows, no gradient): the output layer reads a copy of W kept in the product's dtype,
    transposed in fp32, bf16 under autocast (not cast again at every step), with the logits of nn.Linear."""
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config(vocab_size=40, **V11)).eval()
    input_ids, attention_mask, _ = parity_batch()
    input_ids = input_ids.clamp(max=39)
    decoder_input_ids = torch.tensor([[0, 5], [0, 6]])
    for bf16, dtype in ((False, torch.float32), (True, torch.bfloat16)):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                        output_hidden_states=True)
            expected = model.lm_head(out.decoder_hidden_states[-1])
        cached = model.__dict__["_transposed_output_weight"][1]
        assert cached.dtype == dtype and cached.shape == ((40, 16) if bf16 else (16, 40))  # transposed in fp32
        assert out.logits.dtype == expected.dtype == dtype
        torch.testing.assert_close(out.logits, expected, **({"rtol": 2e-2, "atol": 2e-2} if bf16 else {}))


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    input_ids, attention_mask, labels = parity_batch()
    results = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(tiny_config(vocab_size=40, **V11)).train()
        if checkpointing:  # renamed activation checkpointing in later 5.x releases
            enable = getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)
            enable()
            assert all(block.gradient_checkpointing for block in model.decoder.block)
        calls = []
        model.decoder.block[1].layer[0].register_forward_pre_hook(lambda *args, calls=calls: calls.append(1))
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, use_cache=True).loss
        loss.backward()
        assert len(calls) == (2 if checkpointing else 1)  # checkpointed: run again in the backward pass
        results.append((loss.detach(), {k: p.grad for k, p in model.named_parameters()}))
    (loss, grads), (checkpointed_loss, checkpointed_grads) = results
    torch.testing.assert_close(checkpointed_loss, loss, rtol=0, atol=0)
    for key, grad in grads.items():
        torch.testing.assert_close(checkpointed_grads[key], grad, rtol=1e-6, atol=1e-7, msg=key)


# ----------------------------------------------------------------------------------------------------------------------
# Configs: transformers' T5 config.json files, the Auto classes, trainer_utils
# ----------------------------------------------------------------------------------------------------------------------
def test_transformers_t5_config_files_are_read_as_ours(tmp_path):
    # the original t5-small config.json (no scale_decoder_outputs field): v1.0, tied and rescaled
    t5_small = {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "d_ff": 2048, "d_kv": 64,
                "d_model": 512, "decoder_start_token_id": 0, "dropout_rate": 0.1, "eos_token_id": 1,
                "initializer_factor": 1.0, "is_encoder_decoder": True, "layer_norm_epsilon": 1e-06,
                "n_positions": 512, "num_heads": 8, "num_layers": 6, "output_past": True, "pad_token_id": 0,
                "relative_attention_num_buckets": 32, "vocab_size": 32128}
    (tmp_path / "config.json").write_text(json.dumps(t5_small))
    config = T5Config.from_pretrained(tmp_path)
    assert (config.model_type, config.feed_forward_proj, config.dense_act_fn, config.is_gated_act) == (
        "hf_t5", "relu", "relu", False)
    assert config.tie_word_embeddings and config.scale_decoder_outputs and config.num_decoder_layers == 6
    assert config.relative_attention_max_distance == 128 and config.decoder_start_token_id == 0
    # flan-t5-small's: v1.1, untied, no rescale, a deeper decoder
    flan = {"model_type": "t5", "d_ff": 1024, "d_kv": 64, "d_model": 512, "decoder_start_token_id": 0,
            "dense_act_fn": "gelu_new", "feed_forward_proj": "gated-gelu", "is_gated_act": True, "num_decoder_layers": 8,
            "num_heads": 6, "num_layers": 8, "tie_word_embeddings": False, "vocab_size": 32128}
    config = T5Config.from_transformers(flan)
    assert (config.dense_act_fn, config.is_gated_act, config.tie_word_embeddings, config.scale_decoder_outputs) == (
        "gelu_new", True, False, False)
    assert config.num_heads * config.d_kv != config.d_model  # 6 x 64 over 512: T5 allows it
    # and back: transformers' class reads ours with the same architecture
    back = config.to_transformers()
    assert isinstance(back, transformers.T5Config)
    assert (back.dense_act_fn, back.is_gated_act, back.scale_decoder_outputs, back.num_decoder_layers) == (
        "gelu_new", True, False, 8)


def test_trainer_utils_runs_a_t5_checkpoint_through_either_library(tmp_path):
    from hf_models.trainer_utils import ModelArguments, load_config

    theirs = random_transformers_t5("v1.1")
    theirs.save_pretrained(tmp_path / "theirs")
    config = load_config(ModelArguments(str(tmp_path / "theirs"), implementation="hf_models"))
    assert isinstance(config, T5Config) and not config.scale_decoder_outputs
    ours = T5ForConditionalGeneration.from_pretrained(tmp_path / "theirs")
    ours.save_pretrained(tmp_path / "ours")
    config = load_config(ModelArguments(str(tmp_path / "ours"), implementation="transformers"))
    assert type(config) is transformers.T5Config and config.is_gated_act and not config.scale_decoder_outputs
    assert isinstance(AutoConfig.from_pretrained(tmp_path / "ours"), T5Config)  # 'auto': what config.json says


def test_saved_folder_loads_with_trust_remote_code_auto_map(tmp_path):
    model = T5ForConditionalGeneration(tiny_config())
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration_t5.T5Config", "AutoModel": "modeling_t5.T5Model",
                                  "AutoModelForSeq2SeqLM": "modeling_t5.T5ForConditionalGeneration",
                                  "AutoModelForTextEncoding": "modeling_t5.T5EncoderModel"}
    assert (tmp_path / "modeling_t5.py").is_file() and (tmp_path / "configuration_t5.py").is_file()
    assert hf_models.T5ForConditionalGeneration is T5ForConditionalGeneration


# ----------------------------------------------------------------------------------------------------------------------
# The real T5 SentencePiece vocabulary
# ----------------------------------------------------------------------------------------------------------------------
@requires_shared_data
def test_a_tiny_t5_generates_with_the_real_t5_tokenizer():
    tokenizer = transformers.AutoTokenizer.from_pretrained(shared_data_dir() / "tokenizers" / "t5")
    assert tokenizer("translate English to German: The house is wonderful.").input_ids == [
        13959, 1566, 12, 2968, 10, 37, 629, 19, 1627, 5, 1]
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (PAD, EOS)
    torch.manual_seed(0)
    config = tiny_config(vocab_size=32128, initializer_factor=2.0)  # t5-small's vocabulary size (32,100 + padding)
    model = T5ForConditionalGeneration(config).eval()
    texts = ["translate English to German: The house is wonderful.", "sst2 sentence: 좋은 영화였다"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        cached = model.generate(**batch, max_new_tokens=8, num_beams=2)
        uncached = model.generate(**batch, max_new_tokens=8, num_beams=2, use_cache=False)
        alone = model.generate(**tokenizer(texts[1:], return_tensors="pt"), max_new_tokens=8, num_beams=2)
    assert torch.equal(cached, uncached)
    assert cached[1, : alone.shape[1]].tolist() == alone[0].tolist()
    assert int(cached.max()) < config.vocab_size and bool((cached[:, 0] == config.decoder_start_token_id).all())
    decoded = tokenizer.batch_decode(cached, skip_special_tokens=True)
    assert len(decoded) == 2 and all(isinstance(text, str) for text in decoded)
    targets = tokenizer(["Das Haus ist wunderbar.", "positive"], padding=True, return_tensors="pt")
    labels = targets.input_ids.masked_fill(targets.attention_mask == 0, -100)  # EOS-terminated, padding ignored
    loss = model(**batch, labels=labels).loss
    loss.backward()
    assert torch.isfinite(loss) and model.shared.weight.grad is not None


# ----------------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields, message",
    [
        ({"feed_forward_proj": "swiglu"}, r"feed_forward_proj must be 'ACT' or 'gated-ACT'.*got 'swiglu'"),
        ({"feed_forward_proj": "gated-gelu-tanh"}, "feed_forward_proj must be"),
        ({"feed_forward_proj": "gelu-gated"}, "feed_forward_proj must be"),
        ({"relative_attention_num_buckets": 1}, "relative_attention_num_buckets must be at least 4"),
        ({"relative_attention_num_buckets": 3}, "relative_attention_num_buckets must be at least 4"),
        ({"relative_attention_num_buckets": 0}, "relative_attention_num_buckets must be a positive integer"),
        ({"relative_attention_max_distance": 4}, r"relative_attention_max_distance \(4\) must exceed"),
        ({"num_heads": 0}, "num_heads must be a positive integer"),
        ({"d_kv": 2.5}, "d_kv must be a positive integer"),
        ({"dropout_rate": 1.0}, r"dropout_rate must be in \[0, 1\)"),
        ({"layer_norm_epsilon": 0}, "layer_norm_epsilon must be a positive number"),
        ({"eos_token_id": 40}, r"eos_token_id \(40\) must be a token id in \[0, vocab_size=32\)"),
        ({"decoder_start_token_id": -1}, "decoder_start_token_id"),
    ],
)
def test_bad_config_fields_are_named(fields, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**fields)


def test_d_model_need_not_be_num_heads_times_d_kv():
    config = tiny_config(d_model=20, num_heads=3, d_kv=5)
    model = T5ForConditionalGeneration(config).eval()
    assert model.encoder.block[0].layer[0].SelfAttention.q.weight.shape == (15, 20)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[3, 4]]), decoder_input_ids=torch.tensor([[0]]))
    assert out.logits.shape == (1, 1, VOCAB)


def test_bad_inputs_are_clear_errors():
    model = T5ForConditionalGeneration(tiny_config()).eval()
    source = torch.tensor([[3, 4, 5]])
    with pytest.raises(ValueError, match=r"input_ids holds the id 99, outside \[0, vocab_size=32\)"):
        model(input_ids=torch.tensor([[3, 99]]), decoder_input_ids=source)
    with pytest.raises(ValueError, match=r"decoder_input_ids holds the id -2"):
        model(input_ids=source, decoder_input_ids=torch.tensor([[0, -2]]))
    with pytest.raises(ValueError, match=r"labels have shape \(1, 2\) but the decoder inputs have shape \(1, 3\)"):
        model(input_ids=source, decoder_input_ids=torch.tensor([[0, 3, 4]]), labels=torch.tensor([[3, 4]]))
    with pytest.raises(ValueError, match=r"labels must have shape \(batch, target_length\), got \(3,\)"):
        model(input_ids=source, labels=torch.tensor([3, 4, 1]))
    with pytest.raises(ValueError, match=r"labels hold 1 value\(s\) outside \[0, vocab_size=32\)"):
        model(input_ids=source, labels=torch.tensor([[3, 32]]))
    with pytest.raises(ValueError, match="decoder_input_ids has batch size 2 but the source has 1"):
        model(input_ids=source, decoder_input_ids=torch.tensor([[0, 3], [0, 4]]))
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 2\), expected \(1, 3\)"):
        model(input_ids=source, attention_mask=torch.ones(1, 2), decoder_input_ids=torch.tensor([[0]]))
    with pytest.raises(ValueError, match=r"decoder_attention_mask has shape \(1, 3\), expected \(1, 2\)"):
        model(input_ids=source, decoder_input_ids=torch.tensor([[0, 3]]), decoder_attention_mask=torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"decoder_input_ids \(or labels, for T5ForConditionalGeneration\) are required"):
        model(input_ids=source)
    with pytest.raises(ValueError, match="give exactly one of input_ids and its embeddings"):
        model.get_encoder()(input_ids=source, inputs_embeds=torch.zeros(1, 3, 16))
    first = model(input_ids=source, decoder_input_ids=torch.tensor([[0]]), use_cache=True)
    state = first[INSTALLED_CACHE_NAME]
    with pytest.raises(ValueError, match="past_key_values or as cache, not both"):
        model(input_ids=source, decoder_input_ids=torch.tensor([[3]]), past_key_values=state,
              cache=type(state)(type(state.self_attention_cache)(), type(state.cross_attention_cache)()))
