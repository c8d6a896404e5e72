"""Tests of the LSTM encoder-decoder with attention (hf_models.seq2seq) on tiny configs: the shared model-tester and
generation-tester suites on four architecture variants, plus Seq2Seq-specific tests (the loss, cached decoding with
attention weights, teacher forcing, remote code, the Trainer, the attention plot, config errors)."""

from __future__ import annotations

import json
import math
import warnings
from typing import ClassVar

import pytest
import torch
from conftest import run_without_hf_models
from generation_tester import GenerationTesterMixin
from model_tester import ModelTesterMixin
from transformers import AutoModel, AutoModelForSeq2SeqLM

from hf_models.seq2seq import (
    Seq2SeqConfig,
    Seq2SeqDecoderState,
    Seq2SeqForConditionalGeneration,
    Seq2SeqModel,
    plot_attention,
    shift_tokens_right,
)

PAD, BOS, EOS = 0, 1, 2
SOURCE_VOCAB, TARGET_VOCAB = 13, 11
# (attention_type, extra config): each attention type, plus the bidirectional bridge and input feeding
VARIANTS = [
    ("none", {}),
    ("dot", {}),
    ("general", {}),
    ("concat", {}),
    ("general", {"bidirectional_encoder": True}),
    ("concat", {"input_feeding": True, "bidirectional_encoder": True}),
    ("dot", {"encoder_layers": 1, "decoder_layers": 2}),
]
VARIANT_IDS = [a + "".join(f"-{k}={v}" for k, v in extra.items()) for a, extra in VARIANTS]


def tiny_config(attention_type: str = "general", **kwargs) -> Seq2SeqConfig:
    fields = {
        "source_vocab_size": SOURCE_VOCAB, "target_vocab_size": TARGET_VOCAB, "embedding_size": 8, "hidden_size": 16,
        "encoder_layers": 2, "decoder_layers": 2, "dropout": 0.0, "attention_type": attention_type,
        "pad_token_id": PAD, "bos_token_id": BOS, "eos_token_id": EOS,
    }
    fields.update(kwargs)
    return Seq2SeqConfig(**fields)


def tiny_model(attention_type: str = "general", **kwargs) -> Seq2SeqForConditionalGeneration:
    return Seq2SeqForConditionalGeneration(tiny_config(attention_type, **kwargs)).eval()


def source_batch():
    """Two right-padded source sentences of lengths 6 and 3."""
    input_ids = torch.tensor([[3, 4, 5, 6, 7, 8], [9, 10, 11, PAD, PAD, PAD]])
    attention_mask = (input_ids != PAD).long()
    return input_ids, attention_mask


# ----------------------------------------------------------------------------------------------------------------------
# The shared model tester (encoder-decoder mode) on four variants
# ----------------------------------------------------------------------------------------------------------------------
class Seq2SeqModelTester:
    """Sources of 7 tokens (right-padded to 7, 4, 6 by the batching test), targets of 6; one width for every state."""

    batch_size = 3
    seq_length = 7
    target_length = 6
    hidden_size = 16  # decoder states h~_t
    config_overrides: ClassVar[dict] = {"attention_type": "general"}

    @property
    def num_hidden_layers(self) -> int:
        return self.get_config().decoder_layers

    def get_config(self) -> Seq2SeqConfig:
        overrides = dict(self.config_overrides)
        bidirectional = overrides.get("bidirectional_encoder", False)
        # embeddings as wide as the encoder states, so that encoder_hidden_states = (embeddings, h_s) share a shape
        overrides.setdefault("embedding_size", self.hidden_size * (2 if bidirectional else 1))
        return tiny_config(hidden_size=self.hidden_size, dropout=0.1, **overrides)

    @property
    def encoder_width(self) -> int:
        return self.hidden_size * (2 if self.config_overrides.get("bidirectional_encoder") else 1)

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        mask = (torch.arange(self.seq_length)[None, :] < torch.tensor([[7], [4], [6]])).long()
        input_ids = torch.randint(3, SOURCE_VOCAB, (self.batch_size, self.seq_length)).masked_fill(mask == 0, PAD)
        decoder_input_ids = torch.randint(3, TARGET_VOCAB, (self.batch_size, self.target_length))
        decoder_input_ids[:, 0] = BOS
        return config, {"input_ids": input_ids, "attention_mask": mask, "decoder_input_ids": decoder_input_ids,
                        "decoder_attention_mask": torch.ones_like(decoder_input_ids)}


class _Seq2SeqTestBase(ModelTesterMixin):
    all_model_classes = (Seq2SeqModel, Seq2SeqForConditionalGeneration)
    model_tester_class = Seq2SeqModelTester
    auto_model_classes: ClassVar[dict] = {Seq2SeqModel: AutoModel,
                                          Seq2SeqForConditionalGeneration: AutoModelForSeq2SeqLM}
    test_sdpa = False
    test_auto_registration_in_fresh_process = False
    training_lr = 1e-2

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs = {k: v.clone() for k, v in inputs_dict.items()}
        if return_labels and model_class is Seq2SeqForConditionalGeneration:
            # the next target token at every position, -100 where the decoder input is padding
            labels = torch.cat([inputs["decoder_input_ids"][:, 1:], torch.full((self.model_tester.batch_size, 1), EOS)],
                               dim=1)
            inputs["labels"] = labels.masked_fill(inputs["decoder_attention_mask"] == 0, -100)
        return inputs

    def expected_output_shapes(self, model_class, inputs_dict, config):
        batch, source = inputs_dict["input_ids"].shape
        target = inputs_dict["decoder_input_ids"].shape[1]
        encoder = (batch, source, self.model_tester.encoder_width)
        if model_class is Seq2SeqModel:
            return {"last_hidden_state": (batch, target, config.hidden_size), "encoder_last_hidden_state": encoder}
        return {"logits": (batch, target, TARGET_VOCAB), "encoder_last_hidden_state": encoder}

    def expected_hidden_states(self, model_class, inputs, config):
        """The LSTMs expose their embeddings and top layer: encoder (embeddings, h_s); decoder (h~_t,) only."""
        batch, source = inputs["input_ids"].shape
        target = inputs["decoder_input_ids"].shape[1]
        return {"encoder_hidden_states": (2, (batch, source, self.model_tester.encoder_width)),
                "decoder_hidden_states": (1, (batch, target, config.hidden_size))}

    def expected_attentions(self, model_class, inputs, config):
        """One cross-attention map a_t(s), one "head"; none without attention."""
        if config.attention_type == "none":
            return {}
        batch, source = inputs["input_ids"].shape
        target = inputs["decoder_input_ids"].shape[1]
        allowed = inputs["attention_mask"].bool()[:, None, None, :]  # (batch, 1, 1, source)
        return {"cross_attentions": (1, (batch, 1, target, source), allowed)}


class TestSeq2SeqGeneral(_Seq2SeqTestBase):
    test_auto_registration_in_fresh_process = True  # the variants share the classes: checked once, here


class ConcatBidirectionalTester(Seq2SeqModelTester):
    config_overrides: ClassVar[dict] = {"attention_type": "concat", "bidirectional_encoder": True,
                                        "input_feeding": True}


class TestSeq2SeqConcatBidirectionalInputFeeding(_Seq2SeqTestBase):
    model_tester_class = ConcatBidirectionalTester


class DotDeeperDecoderTester(Seq2SeqModelTester):
    config_overrides: ClassVar[dict] = {"attention_type": "dot", "encoder_layers": 1, "decoder_layers": 2}


class TestSeq2SeqDotDeeperDecoder(_Seq2SeqTestBase):
    model_tester_class = DotDeeperDecoderTester


class NoAttentionTester(Seq2SeqModelTester):
    config_overrides: ClassVar[dict] = {"attention_type": "none"}


class TestSeq2SeqNoAttention(_Seq2SeqTestBase):
    model_tester_class = NoAttentionTester


# ----------------------------------------------------------------------------------------------------------------------
# The shared generation tester (encoder-decoder mode): the decoder state is the cache
# ----------------------------------------------------------------------------------------------------------------------
class Seq2SeqGenerationTester:
    """Wide initial weights (init_range 0.5) so that the tiny model's choices are far from uniform; three source
    sentences of lengths 6, 3 and 5."""

    config_overrides: ClassVar[dict] = {"attention_type": "concat", "bidirectional_encoder": True,
                                        "input_feeding": True}

    def get_config(self) -> Seq2SeqConfig:
        return tiny_config(init_range=0.5, **self.config_overrides)

    def prompts(self, config):
        generator = torch.Generator().manual_seed(3)
        return [torch.randint(3, SOURCE_VOCAB, (n,), generator=generator) for n in (6, 3, 5)]


class DotGenerationTester(Seq2SeqGenerationTester):
    config_overrides: ClassVar[dict] = {"attention_type": "dot", "encoder_layers": 1, "decoder_layers": 2}


class TestSeq2SeqGenerationConcatInputFeeding(GenerationTesterMixin):
    """Input feeding puts h~_{t-1} in the state; the bidirectional encoder's final states go through the bridge."""

    all_generative_model_classes = (Seq2SeqForConditionalGeneration,)
    generation_tester_class = Seq2SeqGenerationTester


class TestSeq2SeqGenerationDot(GenerationTesterMixin):
    """The whole-sequence decoder path; every decoder layer starts from the encoder's top layer."""

    all_generative_model_classes = (Seq2SeqForConditionalGeneration,)
    generation_tester_class = DotGenerationTester


# ----------------------------------------------------------------------------------------------------------------------
# Seq2Seq-specific tests
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("attention_type", "extra"), VARIANTS, ids=VARIANT_IDS)
def test_loss_is_token_cross_entropy_and_padding_gets_no_attention(attention_type, extra):
    """The loss is the mean cross-entropy over the labels that are not -100; source padding gets exactly zero
    attention and every real source token some."""
    model = tiny_model(attention_type, **extra)
    input_ids, attention_mask = source_batch()
    labels = torch.tensor([[3, 4, 5, EOS], [6, 7, EOS, -100]])
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_attentions=True)
    manual = torch.nn.functional.cross_entropy(out.logits.reshape(-1, TARGET_VOCAB), labels.reshape(-1),
                                               ignore_index=-100)
    torch.testing.assert_close(out.loss, manual)
    if attention_type == "none":
        assert out.cross_attentions is None
        return
    (weights,) = out.cross_attentions
    assert torch.all(weights[1, :, :, 3:] == 0), "source padding must get exactly zero attention"
    assert torch.all(weights[0] > 0)


@pytest.mark.parametrize(("attention_type", "extra"), VARIANTS, ids=VARIANT_IDS)
def test_cached_decoding_equals_full_sequence(attention_type, extra):
    model = tiny_model(attention_type, **extra)
    input_ids, attention_mask = source_batch()
    decoder_input_ids = torch.tensor([[BOS, 3, 4, 5, 6], [BOS, 6, 7, 8, 9]])
    full = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                 output_attentions=True)
    encoder_outputs = model.get_encoder()(input_ids, attention_mask)
    state, steps, weights = None, [], []
    for t in range(decoder_input_ids.shape[1]):
        out = model(attention_mask=attention_mask, encoder_outputs=encoder_outputs,
                    decoder_input_ids=decoder_input_ids[:, t : t + 1], past_key_values=state, use_cache=True,
                    output_attentions=True)
        state = out.past_key_values
        assert isinstance(state, Seq2SeqDecoderState) and state.get_seq_length() == t + 1
        steps.append(out.logits)
        if out.cross_attentions is not None:
            weights.append(out.cross_attentions[0])
    torch.testing.assert_close(torch.cat(steps, dim=1), full.logits, atol=1e-5, rtol=1e-5)
    if weights:
        torch.testing.assert_close(torch.cat(weights, dim=2), full.cross_attentions[0], atol=1e-5, rtol=1e-5)
    # a state consumed two tokens at a time gives the same logits too
    first = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids[:, :2],
                  use_cache=True)
    rest = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids[:, 2:],
                 past_key_values=first.past_key_values)
    torch.testing.assert_close(rest.logits, full.logits[:, 2:], atol=1e-5, rtol=1e-5)


def strip(sequence: torch.Tensor) -> list[int]:
    """Tokens of a generated row up to and including EOS (generate pads finished rows)."""
    tokens = sequence.tolist()
    return tokens[: tokens.index(EOS) + 1] if EOS in tokens[1:] else tokens


def reverse_batch(batch_size: int, generator: torch.Generator, max_len: int = 5) -> dict:
    """The toy reverse task: source a b c (symbols 3..10), target c b a EOS; right-padded, labels -100 on padding."""
    lengths = torch.randint(2, max_len + 1, (batch_size,), generator=generator)
    input_ids = torch.full((batch_size, max_len), PAD)
    labels = torch.full((batch_size, max_len + 1), -100)
    for i, n in enumerate(lengths.tolist()):
        symbols = torch.randint(3, TARGET_VOCAB, (n,), generator=generator)
        input_ids[i, :n] = symbols
        labels[i, :n] = symbols.flip(0)
        labels[i, n] = EOS
    return {"input_ids": input_ids, "attention_mask": (input_ids != PAD).long(), "labels": labels}


def test_attention_learns_the_reverse_task():
    """With attention, a small model learns to reverse sequences of up to 5 symbols in 400 steps (speed is measured
    by the benchmarks, not here)."""
    torch.manual_seed(0)
    config = tiny_config("general", embedding_size=32, hidden_size=64, encoder_layers=1, decoder_layers=1)
    model = Seq2SeqForConditionalGeneration(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(400):
        loss = model(**reverse_batch(64, generator)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    test = reverse_batch(100, torch.Generator().manual_seed(123))
    generated = model.generate(input_ids=test["input_ids"], attention_mask=test["attention_mask"], max_new_tokens=7)
    correct = 0
    for row, labels in zip(generated, test["labels"]):
        correct += strip(row)[1:] == labels[labels != -100].tolist()
    assert correct >= 90, f"only {correct}/100 sequences reversed exactly"


def test_teacher_forcing_ratio_zero_feeds_own_predictions():
    base = tiny_model("general")
    free_running = Seq2SeqForConditionalGeneration(tiny_config("general", teacher_forcing_ratio=0.0))
    free_running.load_state_dict(base.state_dict())
    batch = reverse_batch(8, torch.Generator().manual_seed(2))
    base.train()
    free_running.train()
    forced = base(**batch)
    own = free_running(**batch)
    assert not torch.allclose(forced.logits, own.logits)
    torch.testing.assert_close(forced.logits[:, 0], own.logits[:, 0])  # step 1 reads the start token in both
    own.loss.backward()
    assert free_running.lm_head.weight.grad is not None
    # in evaluation the ratio does not apply: the gold decoder inputs are read
    free_running.eval()
    base.eval()
    torch.testing.assert_close(free_running(**batch).logits, base(**batch).logits)
    # the free-running logits equal decoding with the model's own argmax fed back step by step
    own_inputs = [torch.full((8,), BOS)]
    steps = []
    for _ in range(batch["labels"].shape[1]):
        logits = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                      decoder_input_ids=torch.stack(own_inputs, dim=1)).logits[:, -1]
        steps.append(logits)
        own_inputs.append(logits.argmax(-1))
    torch.testing.assert_close(torch.stack(steps, dim=1), own.logits.detach(), atol=1e-5, rtol=1e-5)


def test_shift_tokens_right_and_labels():
    labels = torch.tensor([[5, 6, EOS], [7, EOS, -100]])
    assert shift_tokens_right(labels, PAD, BOS).tolist() == [[BOS, 5, 6], [BOS, 7, EOS]]
    model = tiny_model("dot")
    assert model.prepare_decoder_input_ids_from_labels(labels).tolist() == [[BOS, 5, 6], [BOS, 7, EOS]]
    with pytest.raises(ValueError, match="labels"):
        model(input_ids=torch.tensor([[3, 4]]), labels=torch.tensor([[3, 99]]))
    with pytest.raises(ValueError, match="input_ids"):
        model(input_ids=torch.tensor([[3, 40]]), labels=torch.tensor([[3, 4]]))
    with pytest.raises(ValueError, match="right-padded"):
        model(input_ids=torch.tensor([[3, 4]]), attention_mask=torch.tensor([[0, 1]]), labels=torch.tensor([[3, 4]]))


@pytest.mark.slow
def test_save_load_roundtrip_and_remote_code(tmp_path):
    model = tiny_model("concat", bidirectional_encoder=True, input_feeding=True)
    input_ids, attention_mask = source_batch()
    decoder_input_ids = torch.tensor([[BOS, 3, 4], [BOS, 5, 6]])
    expected = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids).logits
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert saved["model_type"] == "hf_seq2seq" and saved["attention_type"] == "concat"
    assert saved["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_seq2seq.Seq2SeqForConditionalGeneration"
    loaded = Seq2SeqForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert loaded.config.input_feeding and loaded.config.bidirectional_encoder
    got = loaded(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids).logits
    torch.testing.assert_close(got, expected)
    # a process that cannot import hf_models loads the folder from the code files saved next to the weights
    result = run_without_hf_models(
        r"""
        import torch
        from transformers import AutoModelForSeq2SeqLM

        model = AutoModelForSeq2SeqLM.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
        inputs = {k: torch.tensor(v) for k, v in json.loads(sys.argv[2]).items()}
        with torch.no_grad():
            logits = model(**inputs).logits
        print(json.dumps({"module": type(model).__module__, "logits": logits.tolist()}))
        """,
        tmp_path,
        json.dumps({"input_ids": input_ids.tolist(), "attention_mask": attention_mask.tolist(),
                    "decoder_input_ids": decoder_input_ids.tolist()}),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["module"].startswith("transformers_modules")
    torch.testing.assert_close(torch.tensor(payload["logits"]), expected, rtol=1e-5, atol=1e-5)
    bare = Seq2SeqModel.from_pretrained(tmp_path)
    assert bare.encoder.lstm.bidirectional


def test_tied_word_embeddings():
    model = tiny_model("general", embedding_size=16, tie_word_embeddings=True)
    assert model.lm_head.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()
    untied = tiny_model("general")
    assert untied.lm_head.weight.data_ptr() != untied.model.decoder.embed_tokens.weight.data_ptr()


def test_seq2seq_trainer_predict_with_generate(tmp_path):
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    generator = torch.Generator().manual_seed(0)

    def examples(n):
        batch = reverse_batch(n, generator)
        return [{k: v[i] for k, v in batch.items()} for i in range(n)]

    def collate(features):
        return {k: torch.stack([f[k] for f in features]) for k in features[0]}

    def compute_metrics(eval_prediction):
        predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
        assert predictions.ndim == 2 and predictions.shape[0] == 16
        return {"first_token_accuracy": float((predictions[:, 1] == labels[:, 0]).mean())}

    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=8, per_device_eval_batch_size=8,
        num_train_epochs=1, learning_rate=1e-2, predict_with_generate=True, generation_max_length=8,
        generation_num_beams=2, use_cpu=True, report_to="none", save_strategy="no", logging_steps=1,
        remove_unused_columns=False,
    )
    trainer = Seq2SeqTrainer(model=tiny_model("general"), args=args, train_dataset=examples(32),
                             eval_dataset=examples(16), data_collator=collate, compute_metrics=compute_metrics)
    trainer.train()
    metrics = trainer.evaluate()
    assert math.isfinite(metrics["eval_loss"])
    assert 0.0 <= metrics["eval_first_token_accuracy"] <= 1.0


def test_plot_attention_writes_png(tmp_path):
    model = tiny_model("dot")
    input_ids, _ = source_batch()
    out = model(input_ids=input_ids[:1], decoder_input_ids=torch.tensor([[BOS, 3, 4]]), output_attentions=True)
    source = ["나는", "학교에", "간다", ".", "</s>", "x"]  # Korean tokens work
    path = tmp_path / "alignment.png"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph")  # the default font may lack Hangul glyphs
        figure = plot_attention(out.cross_attentions[0][0], source, ["<s>", "I", "go"], path=path)
    assert path.stat().st_size > 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.axes[0].get_xticklabels()[0].get_text() == "나는"
    with pytest.raises(ValueError, match="source_tokens"):
        plot_attention(out.cross_attentions[0][0], source[:2], ["<s>", "I", "go"])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"source_vocab_size": "10"}, "source_vocab_size"),
        ({"attention_type": "additive"}, "attention_type"),
        ({"attention_type": "dot", "bidirectional_encoder": True}, "attention_type"),
        ({"attention_type": "none", "input_feeding": True}, "input_feeding"),
        ({"dropout": 1.0}, "dropout"),
        ({"teacher_forcing_ratio": 1.5}, "teacher_forcing_ratio"),
        ({"eos_token_id": 11}, "eos_token_id"),
        ({"tie_word_embeddings": True}, "tie_word_embeddings"),
        ({"init_range": 0}, "init_range"),
    ],
)
def test_config_errors_name_the_field(fields, field):
    with pytest.raises(ValueError, match=f"Seq2SeqConfig.{field}"):
        tiny_config(**fields)


def test_config_defaults():
    config = tiny_config()
    assert config.is_encoder_decoder and config.vocab_size == TARGET_VOCAB
    assert config.decoder_start_token_id == BOS
    model = Seq2SeqForConditionalGeneration(config)
    assert model.generation_config.decoder_start_token_id == BOS
    assert model.generation_config.eos_token_id == EOS


def test_decoder_state_reorder_and_tuple_outputs():
    model = tiny_model("general", input_feeding=True)
    input_ids, attention_mask = source_batch()
    decoder_input_ids = torch.tensor([[BOS, 3], [BOS, 4]])
    out = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                use_cache=True)
    state = out.past_key_values
    hidden, cell, feed = state.hidden.clone(), state.cell.clone(), state.input_feed.clone()
    state.reorder_cache(torch.tensor([1, 1]))
    assert torch.equal(state.hidden[:, 0], hidden[:, 1]) and torch.equal(state.cell[:, 0], cell[:, 1])
    assert torch.equal(state.input_feed[0], feed[1])
    state.batch_repeat_interleave(3)
    assert state.hidden.shape == (2, 6, 16) and state.input_feed.shape == (6, 16)
    # return_dict=False gives tuples; encoder outputs can be passed back as a tuple
    encoder_tuple = model.get_encoder()(input_ids, attention_mask, return_dict=False)
    assert len(encoder_tuple) == 3
    logits = model(attention_mask=attention_mask, encoder_outputs=encoder_tuple, decoder_input_ids=decoder_input_ids,
                   return_dict=False)[0]
    torch.testing.assert_close(logits, out.logits)


def test_initialisation_and_bare_model():
    config = tiny_config("general", init_range=0.05)
    model = Seq2SeqModel(config).eval()
    for name, param in model.named_parameters():
        assert float(param.detach().abs().max()) <= 0.05, name
    assert torch.all(model.encoder.embed_tokens.weight[PAD] == 0)
    assert torch.all(model.decoder.embed_tokens.weight[PAD] == 0)
    input_ids, attention_mask = source_batch()
    out = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=torch.tensor([[BOS, 3]] * 2))
    assert out.last_hidden_state.shape == (2, 2, 16)
    assert torch.all(out.last_hidden_state.abs() < 1)  # h~_t = tanh(W_c [c_t; h_t])
    with pytest.raises(TypeError):
        model(input_ids=input_ids, decoder_input_ids=input_ids[:, :2], labels=input_ids)  # no head, no labels
