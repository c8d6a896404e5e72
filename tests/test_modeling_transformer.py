"""Tests of the Transformer (hf_models.transformer) on tiny configs: the shared model-tester and generation-tester
suites on the paper's post-LN model and on a pre-LN, learned-position, separate-vocabulary variant; parity with
transformers' MarianMTModel in both directions (logits, greedy, beam search, sampling); the lecture's claims as
checks (order-blindness without positions, the causal mask, sqrt(d_k) scaling); config and input errors."""

from __future__ import annotations

import inspect
from typing import ClassVar

import pytest
import torch
from generation_tester import GenerationTesterMixin
from model_tester import ModelTesterMixin
from transformers import AutoModel, AutoModelForSeq2SeqLM, GenerationMixin, MarianConfig, MarianMTModel

from hf_models.transformer import (
    TransformerConfig,
    TransformerForConditionalGeneration,
    TransformerModel,
    TransformerSinusoidalPositionalEmbedding,
    causal_mask,
)

PAD, BOS, EOS = 0, 1, 2
VOCAB = 17


def tiny_config(**kwargs) -> TransformerConfig:
    fields = {
        "vocab_size": VOCAB, "d_model": 16, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
        "decoder_attention_heads": 4, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "max_position_embeddings": 32,
        "dropout": 0.0, "pad_token_id": PAD, "bos_token_id": BOS, "eos_token_id": EOS,
    }
    fields.update(kwargs)
    return TransformerConfig(**fields)


# ----------------------------------------------------------------------------------------------------------------------
# The shared model tester (encoder-decoder mode)
# ----------------------------------------------------------------------------------------------------------------------
class TransformerModelTester:
    """Sources of 7 tokens (right-padded to 7, 4, 6), targets of 6 (padded to 6, 3, 5)."""

    batch_size = 3
    seq_length = 7
    target_length = 6
    hidden_size = 16
    num_attention_heads = 4
    config_overrides: ClassVar[dict] = {}

    @property
    def num_hidden_layers(self) -> int:
        return self.get_config().decoder_layers

    @property
    def num_encoder_layers(self) -> int:
        return self.get_config().encoder_layers

    @property
    def num_decoder_layers(self) -> int:
        return self.get_config().decoder_layers

    def get_config(self) -> TransformerConfig:
        return tiny_config(dropout=0.1, **self.config_overrides)

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        mask = (torch.arange(self.seq_length)[None, :] < torch.tensor([[7], [4], [6]])).long()
        input_ids = torch.randint(3, config.vocab_size, (self.batch_size, self.seq_length)).masked_fill(mask == 0, PAD)
        target_mask = (torch.arange(self.target_length)[None, :] < torch.tensor([[6], [3], [5]])).long()
        decoder_input_ids = torch.randint(3, config.decoder_vocab_size, (self.batch_size, self.target_length))
        decoder_input_ids[:, 0] = BOS
        decoder_input_ids = decoder_input_ids.masked_fill(target_mask == 0, PAD)
        return config, {"input_ids": input_ids, "attention_mask": mask, "decoder_input_ids": decoder_input_ids,
                        "decoder_attention_mask": target_mask}


class _TransformerTestBase(ModelTesterMixin):
    all_model_classes = (TransformerModel, TransformerForConditionalGeneration)
    model_tester_class = TransformerModelTester
    auto_model_classes: ClassVar[dict] = {TransformerModel: AutoModel,
                                          TransformerForConditionalGeneration: AutoModelForSeq2SeqLM}
    training_lr = 1e-2

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs = {k: v.clone() for k, v in inputs_dict.items()}
        if return_labels and model_class is TransformerForConditionalGeneration:
            batch = inputs["decoder_input_ids"].shape[0]
            labels = torch.cat([inputs["decoder_input_ids"][:, 1:], torch.full((batch, 1), EOS)], dim=1)
            inputs["labels"] = labels.masked_fill(inputs["decoder_attention_mask"] == 0, -100)
        return inputs

    def expected_output_shapes(self, model_class, inputs_dict, config):
        batch, source = inputs_dict["input_ids"].shape
        target = inputs_dict["decoder_input_ids"].shape[1]
        encoder = (batch, source, config.d_model)
        if model_class is TransformerModel:
            return {"last_hidden_state": (batch, target, config.d_model), "encoder_last_hidden_state": encoder}
        return {"logits": (batch, target, config.decoder_vocab_size), "encoder_last_hidden_state": encoder}


class TestTransformerPostLN(_TransformerTestBase):
    """The paper's model: post-LN, sinusoidal positions, one shared vocabulary tied to the output layer."""


class PreLNTester(TransformerModelTester):
    config_overrides: ClassVar[dict] = {"layer_norm_position": "pre", "position_embedding": "learned",
                                        "share_encoder_decoder_embeddings": False, "decoder_vocab_size": 13,
                                        "tie_word_embeddings": False, "encoder_layers": 1, "decoder_layers": 3,
                                        "activation_function": "gelu"}


class TestTransformerPreLNLearnedSeparateVocabularies(_TransformerTestBase):
    model_tester_class = PreLNTester
    test_auto_registration_in_fresh_process = False  # the same classes: checked once, above


# ----------------------------------------------------------------------------------------------------------------------
# The shared generation tester: the EncoderDecoderCache of self- and cross-attention keys and values
# ----------------------------------------------------------------------------------------------------------------------
class TransformerGenerationTester:
    """Wide weights (the tests re-draw the model: see `get_config`) and three sources of lengths 6, 3 and 5."""

    config_overrides: ClassVar[dict] = {}

    def get_config(self) -> TransformerConfig:
        return tiny_config(**self.config_overrides)

    def prompts(self, config):
        generator = torch.Generator().manual_seed(3)
        return [torch.randint(3, config.vocab_size, (n,), generator=generator) for n in (6, 3, 5)]


class PreLNGenerationTester(TransformerGenerationTester):
    config_overrides: ClassVar[dict] = {"layer_norm_position": "pre", "position_embedding": "learned",
                                        "share_encoder_decoder_embeddings": False, "decoder_vocab_size": 13,
                                        "tie_word_embeddings": False, "decoder_layers": 3}


class TestTransformerGeneration(GenerationTesterMixin):
    all_generative_model_classes = (TransformerForConditionalGeneration,)
    generation_tester_class = TransformerGenerationTester


class TestTransformerGenerationPreLN(GenerationTesterMixin):
    all_generative_model_classes = (TransformerForConditionalGeneration,)
    generation_tester_class = PreLNGenerationTester


# ----------------------------------------------------------------------------------------------------------------------
# MarianMT parity: its checkpoints load, and ours load into it
# ----------------------------------------------------------------------------------------------------------------------
def marian_config(**kwargs) -> MarianConfig:
    fields = {"vocab_size": 40, "d_model": 16, "encoder_layers": 2, "decoder_layers": 2,
              "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 32,
              "decoder_ffn_dim": 32, "max_position_embeddings": 64, "pad_token_id": 39, "eos_token_id": 0,
              "decoder_start_token_id": 39, "forced_eos_token_id": 0, "scale_embedding": True,
              "activation_function": "swish", "dropout": 0.0}
    fields.update(kwargs)
    return MarianConfig(**fields)


def random_marian(seed: int = 0, **kwargs) -> MarianMTModel:
    torch.manual_seed(seed)
    model = MarianMTModel(marian_config(**kwargs)).eval()
    with torch.no_grad():  # wide weights: decisive next-token distributions, a non-zero output bias
        for name, param in model.named_parameters():
            if name.endswith("weight") and param.dim() == 2 and "embed_positions" not in name:  # sinusoids stay
                param.normal_(0.0, 0.5)
        model.final_logits_bias.normal_(0.0, 1.0)
    return model


# transformers releases whose beam search sizes the candidates by config.vocab_size (5.0 and a few after) cannot beam
# search a MarianMTModel whose target vocabulary differs from its source one
MARIAN_BEAM_NEEDS_ONE_VOCABULARY = "get_text_config().vocab_size" in inspect.getsource(GenerationMixin._beam_search)


def marian_batch():
    input_ids = torch.tensor([[5, 6, 7, 8, 9, 10, 0], [11, 12, 13, 0, 39, 39, 39]])
    decoder_input_ids = torch.tensor([[39, 3, 4, 5, 6], [39, 7, 8, 9, 10]])
    return input_ids, (input_ids != 39).long(), decoder_input_ids


@pytest.mark.parametrize("direction", ["marian->hf_models", "hf_models->marian"])
@pytest.mark.parametrize("variant", [{}, {"share_encoder_decoder_embeddings": False, "decoder_vocab_size": 45,
                                          "tie_word_embeddings": False}], ids=["shared", "separate"])
def test_marian_checkpoints_load_both_ways_with_the_same_logits_and_generations(tmp_path, direction, variant):
    marian = random_marian(**variant)
    marian.save_pretrained(tmp_path / "marian")
    ours = TransformerForConditionalGeneration.from_pretrained(tmp_path / "marian").eval()
    assert isinstance(ours.config, TransformerConfig) and ours.config.activation_function == "swish"
    if direction == "hf_models->marian":  # ours saved, read back by transformers' class
        ours.save_pretrained(tmp_path / "ours")
        marian = MarianMTModel.from_pretrained(tmp_path / "ours").eval()
    input_ids, attention_mask, decoder_input_ids = marian_batch()
    with torch.no_grad():
        expected = marian(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        got = ours(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
    torch.testing.assert_close(got.logits, expected.logits, rtol=0, atol=1e-5)
    settings = [{"num_beams": 1}, {"num_beams": 4, "num_return_sequences": 2, "length_penalty": 0.6},
                {"do_sample": True, "top_k": 5}, {"do_sample": True, "top_k": 5, "num_return_sequences": 3}]
    if variant and MARIAN_BEAM_NEEDS_ONE_VOCABULARY:  # that transformers' own beam search fails there
        settings.remove(settings[1])  # (ours is checked against the reference beam search by the generation tester)
    for kwargs in settings:
        torch.manual_seed(7)
        a = marian.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=10, **kwargs)
        torch.manual_seed(7)
        b = ours.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=10, **kwargs)
        assert torch.equal(a, b), kwargs
        assert len({tuple(row) for row in a.tolist()}) > 1  # not a degenerate constant output


def test_sinusoids_are_marians_and_the_papers_up_to_a_permutation():
    n, d = 50, 16
    table = TransformerSinusoidalPositionalEmbedding.table(n, d)
    from transformers.models.marian.modeling_marian import MarianSinusoidalPositionalEmbedding

    marian = MarianSinusoidalPositionalEmbedding(n, d)
    torch.testing.assert_close(table, marian.create_weight(), rtol=0, atol=1e-6)
    pos, i = torch.arange(n)[:, None].double(), torch.arange(d // 2)[None, :].double()
    paper = torch.empty(n, d, dtype=torch.float64)
    paper[:, 0::2] = torch.sin(pos / 10000 ** (2 * i / d))  # PE(pos, 2i)
    paper[:, 1::2] = torch.cos(pos / 10000 ** (2 * i / d))  # PE(pos, 2i + 1)
    permutation = torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)])
    torch.testing.assert_close(table.double(), paper[:, permutation], rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# The lecture's claims, on a tiny model
# ----------------------------------------------------------------------------------------------------------------------
def _encode(model, input_ids):
    with torch.no_grad():
        return model.get_encoder()(input_ids).last_hidden_state


def test_without_positions_self_attention_is_order_blind_and_with_them_it_is_not():
    source = torch.tensor([[3, 4, 5, 6, 7]])
    permutation = torch.tensor([4, 2, 0, 3, 1])
    for position_embedding, blind in (("none", True), ("sinusoidal", False), ("learned", False)):
        torch.manual_seed(0)
        model = TransformerModel(tiny_config(position_embedding=position_embedding)).eval()
        if position_embedding == "learned":
            with torch.no_grad():
                model.encoder.embed_positions.weight.normal_()
        outputs, permuted = _encode(model, source), _encode(model, source[:, permutation])
        # the outputs of the permuted sentence are the permuted outputs: nothing tells the positions apart
        same = torch.allclose(permuted, outputs[:, permutation], atol=1e-5)
        assert same == blind, position_embedding


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_the_causal_mask_hides_the_future_and_without_it_the_past_sees_it(implementation):
    source = torch.tensor([[3, 4, 5, 6]])
    target, changed = torch.tensor([[1, 7, 8, 9, 10]]), torch.tensor([[1, 7, 8, 11, 12]])  # differ from position 3
    for causal in (True, False):
        torch.manual_seed(0)
        model = TransformerForConditionalGeneration(tiny_config(causal_decoder=causal)).eval()
        model.config._attn_implementation = implementation
        with torch.no_grad():
            a = model(input_ids=source, decoder_input_ids=target).logits
            b = model(input_ids=source, decoder_input_ids=changed).logits
        earlier_unchanged = torch.allclose(a[:, :3], b[:, :3], atol=1e-6)
        assert earlier_unchanged == causal


def test_causal_mask_shape_and_offset_with_a_cache():
    assert causal_mask(3, 3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_attention_maps_are_distributions_over_allowed_keys_and_scaling_changes_their_entropy():
    torch.manual_seed(0)
    source = torch.randint(3, VOCAB, (2, 9))
    entropies = {}
    for scale in (True, False):
        torch.manual_seed(0)
        model = TransformerModel(tiny_config(d_model=64, encoder_attention_heads=1, decoder_attention_heads=1,
                                             scale_attention=scale)).eval()
        with torch.no_grad():
            out = model(input_ids=source, decoder_input_ids=source[:, :4], output_attentions=True)
        probs = out.encoder_attentions[0]
        torch.testing.assert_close(probs.sum(-1), torch.ones_like(probs.sum(-1)))
        entropies[scale] = float(-(probs * probs.clamp_min(1e-12).log()).sum(-1).mean())
    assert entropies[False] < entropies[True]  # unscaled dot products (d_k = 64): a more saturated softmax


# ----------------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields, message",
    [
        ({"d_model": 18}, r"d_model \(18\) must be divisible by encoder_attention_heads \(4\)"),
        ({"encoder_layers": 0}, "encoder_layers must be a positive integer"),
        ({"position_embedding": "rotary"}, "position_embedding must be one of"),
        ({"layer_norm_position": "middle"}, "layer_norm_position must be one of"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"decoder_vocab_size": 10}, "share_encoder_decoder_embeddings=True needs one vocabulary"),
        ({"eos_token_id": 40}, r"eos_token_id \(40\) must be a target token id"),
    ],
)
def test_bad_config_fields_are_named(fields, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**fields)


def test_bad_inputs_are_clear_errors():
    model = TransformerForConditionalGeneration(tiny_config()).eval()
    source = torch.tensor([[3, 4, 5]])
    with pytest.raises(ValueError, match=r"input_ids holds the id 99, outside \[0, vocab_size=17\)"):
        model(input_ids=torch.tensor([[3, 99]]), decoder_input_ids=source)
    with pytest.raises(ValueError, match=r"input_ids has 40 tokens but the model has positions for 32"):
        model(input_ids=torch.full((1, 40), 3), decoder_input_ids=source)
    with pytest.raises(ValueError, match="decoder_input_ids has batch size 2 but the source has 1"):
        model(input_ids=source, decoder_input_ids=torch.tensor([[1, 3], [1, 4]]))
    with pytest.raises(ValueError, match="labels hold 1 value"):
        model(input_ids=source, labels=torch.tensor([[3, 17]]))
    with pytest.raises(ValueError, match=r"batch size 3 but the source has 1 \(2 rows per source\)"):
        model(input_ids=source, decoder_input_ids=torch.tensor([[1], [1], [1]]), rows_per_source=2)
    with pytest.raises(ValueError, match="rows_per_source must be a positive integer, got 0"):
        model(input_ids=source, decoder_input_ids=torch.tensor([[1]]), rows_per_source=0)


def test_a_marian_config_json_reads_with_marians_defaults(tmp_path):
    marian_config(activation_function="gelu", scale_embedding=False).save_pretrained(tmp_path)  # both are defaults
    config = TransformerConfig.from_pretrained(tmp_path)
    assert (config.activation_function, config.scale_embedding) == ("gelu", False)
    assert (config.pad_token_id, config.decoder_start_token_id, config.position_embedding) == (39, 39, "sinusoidal")


@pytest.mark.parametrize("labels", [[[3, 4, 5, 0, -100], [6, 7, 0, -100, -100]],
                                    [[-100, 4, 5, 0, -100], [6, -100, 0, -100, -100]]],
                         ids=["right-padded", "ignored-inside"])
def test_training_loss_and_gradients_equal_marians_and_sparse_equals_dense(tmp_path, labels):
    """In training (dropout 0), the loss and every gradient equal MarianMTModel's; the sparse output projection (only
    the labelled positions, the decoder computing only the prefix up to each row's last label, the encoder skipping
    the source's padding) gives the same loss and gradients as the dense one."""
    marian = random_marian()
    marian.save_pretrained(tmp_path)
    input_ids, attention_mask, _ = marian_batch()
    labels = torch.tensor(labels)
    losses, grads = {}, {}
    for name in ("marian", "sparse", "dense"):
        model = MarianMTModel.from_pretrained(tmp_path) if name == "marian" else \
            TransformerForConditionalGeneration.from_pretrained(tmp_path, sparse_prediction=name == "sparse")
        model.train()
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        out.loss.backward()
        losses[name] = out.loss.detach()
        grads[name] = {k: p.grad for k, p in model.named_parameters()
                       if p.grad is not None and "embed_positions" not in k}  # Marian's sinusoids: fixed for us
        if name == "sparse":
            assert out.logits.shape == (int((labels != -100).sum()), 40)  # one row per labelled token
    for name in ("sparse", "dense"):
        torch.testing.assert_close(losses[name], losses["marian"], rtol=1e-5, atol=1e-6)
        assert grads[name].keys() == grads["marian"].keys()
        for key, grad in grads["marian"].items():
            torch.testing.assert_close(grads[name][key], grad, rtol=1e-4, atol=1e-5, msg=key)


def test_plot_attention_heads_draws_every_head_of_a_layer(tmp_path):
    from hf_models.transformer import plot_attention_heads

    model = TransformerForConditionalGeneration(tiny_config()).eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[3, 4, 5]]), decoder_input_ids=torch.tensor([[1, 6, 7, 8]]),
                    output_attentions=True)
    figure = plot_attention_heads(out.cross_attentions[-1], ["a", "b", "c", "d"], ["x", "y", "z"],
                                  tmp_path / "cross.png", title="cross-attention, last layer")
    assert len(figure.axes) == 4 and (tmp_path / "cross.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"must be \(heads, 4 query tokens, 2 key tokens\)"):
        plot_attention_heads(out.cross_attentions[-1], ["a", "b", "c", "d"], ["x", "y"])


# ----------------------------------------------------------------------------------------------------------------------
# Skipping work: the padding (PackedTokens), one cross-attention per source for its beams
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [{}, PreLNTester.config_overrides], ids=["post-LN", "pre-LN"])
def test_the_encoder_skips_the_padding_and_each_source_reads_as_alone(overrides):
    """A padded batch's encoder outputs (every layer's) equal each source encoded alone at the real positions, and are
    zeros at the padding, which the layers skip."""
    from hf_models.transformer.modeling_transformer import PackedTokens

    model = TransformerForConditionalGeneration(tiny_config(**overrides)).eval()
    sources = [[3, 4, 5, 6, 7], [8, 9], [10, 11, 12]]
    input_ids = torch.tensor([s + [PAD] * (5 - len(s)) for s in sources])
    attention_mask = (torch.arange(5)[None, :] < torch.tensor([5, 2, 3])[:, None]).long()
    packed_rows = []
    original_pack = PackedTokens.pack
    PackedTokens.pack = lambda self, x: packed_rows.append(len(self.index)) or original_pack(self, x)
    try:
        with torch.no_grad():
            batch = model.get_encoder()(input_ids, attention_mask, output_hidden_states=True)
    finally:
        PackedTokens.pack = original_pack
    assert packed_rows and set(packed_rows) == {10}  # the 10 real tokens of 15 positions
    for row, source in enumerate(sources):
        with torch.no_grad():
            alone = model.get_encoder()(torch.tensor([source]), output_hidden_states=True)
        n = len(source)
        for got, expected in zip((batch.last_hidden_state, *batch.hidden_states),
                                 (alone.last_hidden_state, *alone.hidden_states), strict=True):
            torch.testing.assert_close(got[row, :n], expected[0], rtol=1e-5, atol=1e-5)
            assert not got[row, n:].any()


def test_rows_per_source_equals_copying_the_source():
    """k decoder rows per source (generate()'s beams) give the logits and attention maps of the source copied k times;
    the cross-attention keys and values are cached once per source."""
    model = TransformerForConditionalGeneration(tiny_config()).eval()
    input_ids = torch.tensor([[3, 4, 5, 6], [7, 8, PAD, PAD]])
    attention_mask = (input_ids != PAD).long()
    decoder_input_ids = torch.tensor([[BOS, 3, 4], [BOS, 5, 6], [BOS, 7, 3], [BOS, 8, 8], [BOS, 9, 9], [BOS, 3, 3]])
    with torch.no_grad():
        copied = model(input_ids=input_ids.repeat_interleave(3, 0), attention_mask=attention_mask.repeat_interleave(
            3, 0), decoder_input_ids=decoder_input_ids, output_attentions=True)
        shared = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                       rows_per_source=3, output_attentions=True, use_cache=True)
    torch.testing.assert_close(shared.logits, copied.logits, rtol=1e-5, atol=1e-5)
    for got, expected in zip(shared.cross_attentions, copied.cross_attentions, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    cache = shared.cache if hasattr(shared, "cache") and shared.cache is not None else shared.past_key_values
    assert cache.cross_attention_cache.layers[0].keys.shape[0] == 2  # one row per source
    assert cache.self_attention_cache.layers[0].keys.shape[0] == 6  # one per decoder row


def test_beam_search_decodes_its_first_step_once_per_source_and_keeps_one_cross_cache_per_source():
    """generate() with 4 beams: the encoder's output stays one row per source, the first step (every beam holds the
    decoder start) runs the decoder on one row per source, and the beams equal those of a model given the source
    copied per beam."""
    model = TransformerForConditionalGeneration(tiny_config()).eval()
    input_ids = torch.tensor([[3, 4, 5, 6], [7, 8, PAD, PAD]])
    attention_mask = (input_ids != PAD).long()
    decoder_rows = []
    hook = model.get_decoder().register_forward_pre_hook(
        lambda module, args, kwargs: decoder_rows.append(args[0].shape[0]), with_kwargs=True)
    try:
        out = model.generate(input_ids=input_ids, attention_mask=attention_mask, num_beams=4, max_new_tokens=5,
                             min_new_tokens=5, return_dict_in_generate=True, output_attentions=True)
    finally:
        hook.remove()
    assert decoder_rows == [2] + [8] * 4
    cache = out.cache if hasattr(out, "cache") and out.cache is not None else out.past_key_values
    assert cache.cross_attention_cache.layers[0].keys.shape[0] == 2
    assert out.cross_attentions[1][0].shape == (8, 4, 1, 4)  # (beams of every source, heads, 1, source length)

    class Copied(TransformerForConditionalGeneration):  # transformers' way: the encoder's output copied per beam
        def _expand_inputs_for_generation(self, **kwargs):
            base = inspect.getattr_static(GenerationMixin, "_expand_inputs_for_generation")  # static up to some 5.x
            return base.__func__(**kwargs) if isinstance(base, staticmethod) else base(self, **kwargs)

    copied = Copied(model.config).eval()
    copied.load_state_dict(model.state_dict())
    expected = copied.generate(input_ids=input_ids, attention_mask=attention_mask, num_beams=4, max_new_tokens=5,
                               min_new_tokens=5, return_dict_in_generate=True, output_attentions=True)
    assert torch.equal(out.sequences, expected.sequences)
    torch.testing.assert_close(out.sequences_scores, expected.sequences_scores)
    for name in ("cross_attentions", "decoder_attentions"):  # per step, per layer: (beams, heads, 1, keys)
        for step_got, step_expected in zip(getattr(out, name), getattr(expected, name), strict=True):
            for got, want in zip(step_got, step_expected, strict=True):
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_half_precision_training_on_cpu_takes_the_eager_attention_path():
    """Under bf16 autocast in training on a CPU, "sdpa" runs the eager path (faster there): the same loss and
    gradients as the eager implementation; in inference it keeps torch's kernel."""
    from hf_models.transformer.modeling_transformer import _cpu_half_precision_training

    losses, grads = {}, {}
    for implementation in ("sdpa", "eager"):
        torch.manual_seed(0)
        model = TransformerForConditionalGeneration(tiny_config(attn_implementation=implementation)).train()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=torch.tensor([[3, 4, 5, 6]]), labels=torch.tensor([[7, 8, 2]])).loss
        loss.backward()
        losses[implementation] = loss.detach()
        grads[implementation] = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert torch.equal(losses["sdpa"], losses["eager"]) and torch.equal(grads["sdpa"], grads["eager"])
    query = torch.zeros(1, 2, 3, 4, dtype=torch.bfloat16)
    assert not _cpu_half_precision_training(query)  # no gradient: inference
    assert _cpu_half_precision_training(query.requires_grad_())
    assert not _cpu_half_precision_training(torch.zeros(1, 2, 3, 4, requires_grad=True))  # fp32
