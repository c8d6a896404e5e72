"""The model-tester mixin every family of hf_models reuses (BERT now; GPT, T5, LSTM, ... later).

In the manner of transformers' `ModelTesterMixin`, but pytest-native: a family writes a small "model tester" that
builds a tiny config and inputs, and a test class that mixes in `ModelTesterMixin`. Every generic test below then runs
once per model class in `all_model_classes` (the test id names the class).

What a family's test class provides
-----------------------------------
- `all_model_classes`: tuple of the `PreTrainedModel` classes to test.
- `model_tester_class`: a class whose instances (one fresh instance per test, built with no arguments) have
    - `get_config()` -> a tiny config,
    - `prepare_config_and_inputs_for_common()` -> `(config, inputs_dict)`; `inputs_dict` holds `input_ids`
      (batch, seq) and, when the family supports padding, an `attention_mask` of 1/0 with right padding,
    - the attributes `batch_size`, `seq_length`, `num_hidden_layers`, `hidden_size` and, when
      `has_attentions`, `num_attention_heads`.
- optionally `_config_for_class(config, model_class)` -> the config adapted to one head (default: unchanged).
- `_prepare_for_class(inputs_dict, model_class, return_labels=False)` -> the inputs for that head (for example
  reshaped to (batch, num_choices, seq) for multiple choice), plus that head's labels when `return_labels`.
- `expected_output_shapes(model_class, inputs_dict, config)` -> `{output name: shape}` for every tensor output of
  the head in eval mode without labels (hidden states and attentions excluded: they are tested separately).
- `auto_model_classes`: `{model class: transformers Auto class}` (for example `{BertModel: AutoModel}`).

Optional switches (class attributes): `has_attentions` (True), `test_sdpa` (True; also needs `_supports_sdpa` on the
class), `test_padding` (True: the batching test pads; False: it batches equal-length sequences),
`pad_token_id_attr` ("pad_token_id": the config field used for padding), `training_steps` (8), `training_lr`
(1e-3), `batching_atol` (1e-5), `sdpa_atol` (1e-5).

A head without a loss (the bare encoder) is trained and differentiated through a fixed random projection of its
outputs (`_surrogate_loss`), so "gradients reach every parameter" still means something for it.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
from transformers import AutoConfig
from transformers.utils import ModelOutput

# Output fields that are per-layer tuples; they are tested by test_hidden_states_and_attentions_output
_PER_LAYER_KEYS = ("hidden_states", "attentions", "encoder_hidden_states", "encoder_attentions",
                   "decoder_hidden_states", "decoder_attentions", "cross_attentions")


# ----------------------------------------------------------------------------------------------------------------------
# Helpers usable by every family's tests
# ----------------------------------------------------------------------------------------------------------------------
def flatten_outputs(outputs: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """{"logits": t, "hidden_states.0": t, ...}: every tensor of a ModelOutput / tuple / dict, by a stable name."""
    flat: dict[str, torch.Tensor] = {}
    if isinstance(outputs, torch.Tensor):
        flat[prefix or "output"] = outputs
    elif isinstance(outputs, (ModelOutput, dict)):
        for key, value in outputs.items():
            if value is not None:
                flat.update(flatten_outputs(value, f"{prefix}.{key}" if prefix else key))
    elif isinstance(outputs, (tuple, list)):
        for i, value in enumerate(outputs):
            if value is not None:
                flat.update(flatten_outputs(value, f"{prefix}.{i}" if prefix else str(i)))
    return flat


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}"
    if a.numel() == 0:
        return 0.0
    return (a.detach().float() - b.detach().float()).abs().max().item()


def assert_outputs_close(actual: Any, expected: Any, atol: float, what: str = "") -> int:
    """Every tensor of `expected` is in `actual` with the same shape and max abs diff <= atol; returns the count."""
    flat_a, flat_e = flatten_outputs(actual), flatten_outputs(expected)
    assert flat_e, f"{what}: nothing to compare"
    assert set(flat_a) == set(flat_e), f"{what}: outputs differ: {sorted(flat_a)} vs {sorted(flat_e)}"
    for name, exp in flat_e.items():
        diff = max_abs_diff(flat_a[name], exp)
        assert diff <= atol, f"{what}: {name} max abs diff {diff:.3g} > {atol}"
    return len(flat_e)


def loss_of(outputs: Any) -> torch.Tensor | None:
    if isinstance(outputs, ModelOutput) or isinstance(outputs, dict):
        return outputs.get("loss")
    return None


def clone_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)) for k, v in inputs.items()}


# ----------------------------------------------------------------------------------------------------------------------
# The mixin
# ----------------------------------------------------------------------------------------------------------------------
class ModelTesterMixin:
    all_model_classes: tuple = ()
    model_tester_class: type | None = None
    auto_model_classes: dict = {}

    has_attentions = True
    test_sdpa = True
    test_padding = True
    pad_token_id_attr = "pad_token_id"
    training_steps = 8
    training_lr = 1e-3
    batching_atol = 1e-5
    sdpa_atol = 1e-5

    # --- pytest plumbing ----------------------------------------------------------------------------------------------
    def pytest_generate_tests(self, metafunc):
        """Run every test that takes `model_class` once per class of `all_model_classes` (unless the test
        parametrizes `model_class` itself)."""
        for marker in metafunc.definition.iter_markers("parametrize"):
            names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            if "model_class" in names:
                return
        if "model_class" in metafunc.fixturenames:
            classes = list(self.all_model_classes)
            assert classes, f"{type(self).__name__}.all_model_classes is empty"
            metafunc.parametrize("model_class", classes, ids=[c.__name__ for c in classes])

    def setup_method(self, method=None):
        assert self.model_tester_class is not None, f"{type(self).__name__} must set model_tester_class"
        self.model_tester = self.model_tester_class()

    # --- hooks a family overrides -------------------------------------------------------------------------------------
    def _prepare_for_class(self, inputs_dict: dict, model_class: type, return_labels: bool = False) -> dict:
        return clone_inputs(inputs_dict)

    def expected_output_shapes(self, model_class: type, inputs_dict: dict, config) -> dict[str, tuple]:
        raise NotImplementedError(f"{type(self).__name__} must implement expected_output_shapes")

    # --- helpers ------------------------------------------------------------------------------------------------------
    def _config_for_class(self, config, model_class):
        """Hook: adapt the common config to a head (for example num_labels=2 for extractive QA)."""
        return config

    def _config_and_inputs(self, model_class, return_labels=False, **config_overrides):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        config = self._config_for_class(config, model_class)
        for key, value in config_overrides.items():
            setattr(config, key, value)
        return config, self._prepare_for_class(inputs, model_class, return_labels=return_labels)

    def _surrogate_loss(self, outputs: ModelOutput) -> torch.Tensor:
        """A fixed random linear read-out of every main output, for heads that have no loss of their own.

        A plain sum would be useless after a LayerNorm (the sum of a normalised vector does not depend on its
        input), so each output is weighted by fixed N(0, 1) noise.
        """
        generator = torch.Generator().manual_seed(1234)
        total = None
        for key, value in outputs.items():
            if key in _PER_LAYER_KEYS or not isinstance(value, torch.Tensor) or not value.is_floating_point():
                continue
            weights = torch.randn(value.shape, generator=generator).to(value.device, value.dtype)
            term = (value * weights).sum() / math.sqrt(value.numel())
            total = term if total is None else total + term
        assert total is not None, "no floating output to build a surrogate loss from"
        return total

    def _loss(self, model, inputs) -> torch.Tensor:
        outputs = model(**inputs)
        loss = loss_of(outputs)
        return loss if loss is not None else self._surrogate_loss(outputs)

    def _seq_dim(self, inputs: dict) -> int:
        return inputs["input_ids"].dim() - 1

    def _padding_mask(self, inputs: dict) -> torch.Tensor | None:
        return inputs.get("attention_mask")

    # ------------------------------------------------------------------------------------------------------------------
    # Generic tests
    # ------------------------------------------------------------------------------------------------------------------
    def test_model_outputs_shapes(self, model_class):
        """Every head returns exactly the tensors its family announces, with the announced shapes, and a scalar loss
        when given labels."""
        config, inputs = self._config_and_inputs(model_class)
        model = model_class(config).eval()
        expected = self.expected_output_shapes(model_class, inputs, config)
        assert expected, "expected_output_shapes returned nothing"
        with torch.no_grad():
            outputs = model(**inputs)
        got = {k: tuple(v.shape) for k, v in outputs.items() if isinstance(v, torch.Tensor)}
        assert got == {k: tuple(v) for k, v in expected.items()}, f"{model_class.__name__}: {got} != {expected}"
        for name, value in outputs.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                assert torch.isfinite(value).all(), f"{name} has non-finite values"

        _, labeled = self._config_and_inputs(model_class, return_labels=True)
        if set(labeled) != set(inputs):
            with torch.no_grad():
                outputs = model(**labeled)
            assert outputs.loss is not None, "labels were given but no loss came back"
            assert outputs.loss.shape == (), f"loss has shape {tuple(outputs.loss.shape)}, expected a scalar"
            assert torch.isfinite(outputs.loss)
            for name, shape in expected.items():  # in eval mode the labels change nothing but the loss
                assert tuple(outputs[name].shape) == tuple(shape), name

    def test_save_load_roundtrip(self, model_class, tmp_path):
        """save_pretrained then from_pretrained: same class, same weights, identical outputs; safetensors + config."""
        config, inputs = self._config_and_inputs(model_class, return_labels=True)
        model = model_class(config).eval()
        with torch.no_grad():
            before = model(**inputs)
        model.save_pretrained(tmp_path)
        assert (tmp_path / "model.safetensors").is_file(), sorted(p.name for p in tmp_path.iterdir())
        assert (tmp_path / "config.json").is_file()
        assert not (tmp_path / "pytorch_model.bin").exists()

        loaded, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
        loaded.eval()
        assert type(loaded) is model_class
        for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
            assert not info.get(kind), f"{kind}: {info[kind]}"
        ignored = ("architectures", "auto_map", "transformers_version", "dtype", "torch_dtype")
        for key, value in model.config.to_diff_dict().items():
            if key not in ignored:
                assert getattr(loaded.config, key) == value, f"config.{key} changed in the roundtrip"
        state, loaded_state = model.state_dict(), loaded.state_dict()
        assert set(state) == set(loaded_state)
        for key, value in state.items():
            assert torch.equal(value, loaded_state[key]), f"weight {key} changed in the roundtrip"
        with torch.no_grad():
            after = loaded(**inputs)
        assert_outputs_close(after, before, atol=0.0, what="after save/load")

    def test_batching_equivalence(self, model_class):
        """A right-padded batch of different-length sequences gives, on every real position, the outputs of each
        sequence run alone without padding."""
        config, inputs = self._config_and_inputs(model_class)
        model = model_class(config).eval()
        seq_dim = self._seq_dim(inputs)
        full_len = inputs["input_ids"].shape[seq_dim]
        batch = inputs["input_ids"].shape[0]
        assert batch >= 2, "the batching test needs a batch of at least 2"

        if self.test_padding:
            # different lengths, the longest one unpadded: full, full-2, full-4, ... (at least 2 tokens)
            lengths = [max(2, full_len - 2 * i) for i in range(batch)]
            assert len(set(lengths)) > 1, "the batching test needs sequences of different lengths"
            mask = torch.zeros(inputs["input_ids"].shape, dtype=torch.long)
            for i, length in enumerate(lengths):
                mask.narrow(seq_dim, 0, length)[i] = 1
            pad_id = getattr(config, self.pad_token_id_attr, None)
            pad_id = 0 if pad_id is None else pad_id
            inputs["input_ids"] = inputs["input_ids"].masked_fill(mask == 0, pad_id)
            inputs["attention_mask"] = mask
        else:
            lengths = [full_len] * batch
            inputs.pop("attention_mask", None)

        with torch.no_grad():
            batched = flatten_outputs(model(**inputs, output_hidden_states=True))
        compared = token_level = 0
        for i, length in enumerate(lengths):
            alone_inputs = {}
            for key, value in inputs.items():
                if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == batch:
                    value = value[i : i + 1]
                    if value.dim() > seq_dim and value.shape[seq_dim] == full_len and key in (
                        "input_ids", "attention_mask", "token_type_ids", "position_ids"
                    ):
                        value = value.narrow(seq_dim, 0, length)
                alone_inputs[key] = value
            if self.test_padding:
                assert alone_inputs["attention_mask"].all()
                alone_inputs.pop("attention_mask")  # alone: no padding, no mask
            with torch.no_grad():
                alone = flatten_outputs(model(**alone_inputs, output_hidden_states=True))
            assert set(alone) == set(batched)
            for name, single in alone.items():
                full = batched[name]
                if full.shape[0] != batch or single.shape[0] != 1:
                    continue  # e.g. multiple choice hidden states, (batch * choices, ...)
                row = full[i : i + 1]
                for dim in range(1, row.dim()):  # cut the padded positions away, dimension by dimension
                    if row.shape[dim] != single.shape[dim]:
                        assert row.shape[dim] == full_len and single.shape[dim] == length, (
                            f"{name}: batched {tuple(full.shape)} vs alone {tuple(single.shape)}"
                        )
                        row = row.narrow(dim, 0, length)
                        token_level += 1
                diff = max_abs_diff(row, single)
                assert diff <= self.batching_atol, (
                    f"{name} of example {i} (length {length}): batched vs alone max abs diff {diff:.3g}"
                )
                compared += 1
        assert compared > 0, "no output was compared"
        if self.test_padding and model_class.__name__.endswith("Model"):
            assert token_level > 0, "the bare model's per-token outputs were not compared"

    def test_training_lowers_loss(self, model_class):
        """A few AdamW steps on one fixed batch, dropout on, lower the (eval-mode) loss."""
        config, inputs = self._config_and_inputs(model_class, return_labels=True)
        model = model_class(config)
        with torch.no_grad():
            before = loss_of(model.eval()(**inputs))
        if before is None:
            pytest.skip(f"{model_class.__name__} has no loss of its own")
        before = before.item()
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.training_lr)
        for _ in range(self.training_steps):
            optimizer.zero_grad()
            loss = model(**inputs).loss
            assert torch.isfinite(loss)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            after = model.eval()(**inputs).loss.item()
        assert math.isfinite(after)
        assert after < before - 1e-3, f"loss did not go down: {before:.4f} -> {after:.4f}"

    def test_sdpa_matches_eager(self, model_class, tmp_path, monkeypatch):
        """attn_implementation="sdpa" and "eager" give the same outputs (same weights, padded batch), and the sdpa
        model really calls torch's scaled_dot_product_attention."""
        if not self.test_sdpa or not getattr(model_class, "_supports_sdpa", False):
            pytest.skip(f"{model_class.__name__} does not support sdpa")
        config, inputs = self._config_and_inputs(model_class, return_labels=True)
        mask = self._padding_mask(inputs)
        assert mask is not None and not bool(mask.bool().all()), "the sdpa test needs a padded batch"
        model_class(config).save_pretrained(tmp_path)
        eager = model_class.from_pretrained(tmp_path, attn_implementation="eager").eval()
        sdpa = model_class.from_pretrained(tmp_path, attn_implementation="sdpa").eval()
        assert eager.config._attn_implementation == "eager"
        assert sdpa.config._attn_implementation == "sdpa"

        calls = []
        real_sdpa = torch.nn.functional.scaled_dot_product_attention

        def counting_sdpa(*args, **kwargs):
            calls.append(1)
            return real_sdpa(*args, **kwargs)

        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting_sdpa)
        with torch.no_grad():
            out_eager = eager(**inputs)
            assert not calls, "the eager model called scaled_dot_product_attention"
            out_sdpa = sdpa(**inputs)
            assert calls, "the sdpa model never called scaled_dot_product_attention"
        assert_outputs_close(out_sdpa, out_eager, atol=self.sdpa_atol, what="sdpa vs eager")

    def test_gradients_reach_every_parameter(self, model_class):
        """loss.backward() gives every trainable parameter (shared ones counted once) a finite, non-zero gradient."""
        config, inputs = self._config_and_inputs(model_class, return_labels=True)
        model = model_class(config).train()
        self._loss(model, inputs).backward()
        problems = []
        seen = set()
        for name, param in model.named_parameters():  # named_parameters() yields a shared tensor only once
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            if param.grad is None:
                problems.append(f"{name}: no grad")
            elif not torch.isfinite(param.grad).all():
                problems.append(f"{name}: non-finite grad")
            elif not param.grad.abs().sum() > 0:
                problems.append(f"{name}: all-zero grad")
        assert seen, "the model has no trainable parameters"
        assert not problems, "gradients do not reach every parameter:\n" + "\n".join(problems)

    def test_hidden_states_and_attentions_output(self, model_class):
        """output_hidden_states gives num_layers + 1 states, output_attentions num_layers maps whose rows are
        probability distributions over the unmasked keys."""
        config, inputs = self._config_and_inputs(model_class)
        model = model_class(config).eval()
        tester = self.model_tester
        ids = inputs["input_ids"]
        rows, seq = math.prod(ids.shape[:-1]), ids.shape[-1]  # multiple choice: (batch * choices) rows
        with torch.no_grad():
            out = model(**inputs, output_hidden_states=True, output_attentions=self.has_attentions)
        hidden = out.hidden_states
        assert hidden is not None and len(hidden) == tester.num_hidden_layers + 1
        for layer, h in enumerate(hidden):
            assert tuple(h.shape) == (rows, seq, tester.hidden_size), f"hidden_states[{layer}]: {tuple(h.shape)}"
        if "last_hidden_state" in out:
            assert torch.equal(hidden[-1], out.last_hidden_state)
        assert not torch.equal(hidden[0], hidden[-1])

        with torch.no_grad():
            plain = model(**inputs)
        assert plain.get("hidden_states") is None and plain.get("attentions") is None, "given without being asked"

        if not self.has_attentions:
            return
        attentions = out.attentions
        assert attentions is not None and len(attentions) == tester.num_hidden_layers
        mask = self._padding_mask(inputs)
        key_mask = (mask.reshape(rows, seq).bool() if mask is not None else torch.ones(rows, seq, dtype=torch.bool))
        key_mask = key_mask[:, None, None, :]  # (rows, 1, 1, seq_k)
        for layer, probs in enumerate(attentions):
            assert tuple(probs.shape) == (rows, tester.num_attention_heads, seq, seq), tuple(probs.shape)
            assert (probs >= 0).all()
            sums = (probs * key_mask).sum(-1)
            torch.testing.assert_close(sums, torch.ones_like(sums), atol=1e-5, rtol=0)
            masked = probs.masked_select(~key_mask.expand_as(probs))
            assert masked.numel() == 0 or masked.abs().max() <= 1e-6, f"layer {layer} attends to padding"

    def test_return_dict_false(self, model_class):
        """return_dict=False gives a plain tuple whose elements are the ModelOutput's fields, in order."""
        config, inputs = self._config_and_inputs(model_class, return_labels=True)
        model = model_class(config).eval()
        for extra in ({}, {"output_hidden_states": True}):
            with torch.no_grad():
                as_dict = model(**inputs, **extra)
                as_tuple = model(**inputs, **extra, return_dict=False)
            assert isinstance(as_tuple, tuple) and not isinstance(as_tuple, ModelOutput)
            expected = as_dict.to_tuple()
            assert len(as_tuple) == len(expected), f"{len(as_tuple)} elements vs {len(expected)}"
            assert_outputs_close(as_tuple, expected, atol=0.0, what="return_dict=False")
        config.return_dict = False  # the config switch does the same
        model = model_class(config).eval()
        with torch.no_grad():
            out = model(**inputs)
        assert isinstance(out, tuple) and not isinstance(out, ModelOutput)

    @pytest.mark.parametrize("dtype", ["fp32", "bf16"])
    def test_training_step_precision(self, model_class, dtype):
        """A training forward and backward run in fp32 and under bf16 autocast: finite loss and gradients; the bf16
        loss is close to the fp32 one."""
        config, inputs = self._config_and_inputs(model_class, return_labels=True)
        model = model_class(config)
        with torch.no_grad():
            reference = self._loss(model.eval(), inputs).float()
        model.train()
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=(dtype == "bf16"))
        with autocast:
            loss = self._loss(model, inputs)
        assert loss.shape == () and torch.isfinite(loss), f"{dtype} loss {loss}"
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert all(p.dtype == torch.float32 for p in model.parameters()), "autocast must not change the weights"
        with torch.no_grad(), autocast:
            evaluated = self._loss(model.eval(), inputs).float()
        tolerance = 1e-5 if dtype == "fp32" else 0.05 * max(1.0, abs(reference.item()))
        assert abs(evaluated.item() - reference.item()) <= tolerance, (
            f"{dtype} eval loss {evaluated.item():.5f} vs fp32 {reference.item():.5f}"
        )

    def test_auto_classes(self, model_class, tmp_path):
        """After `import hf_models`, AutoConfig.for_model and AutoModel*.from_config / from_pretrained build this class."""
        import hf_models  # noqa: F401  (registers every config and model with the Auto classes)

        auto_class = self.auto_model_classes.get(model_class)
        assert auto_class is not None, f"{type(self).__name__}.auto_model_classes lacks {model_class.__name__}"
        config, _ = self._config_and_inputs(model_class)
        settings = {k: v for k, v in config.to_diff_dict().items() if k not in ("model_type", "transformers_version")}
        auto_config = AutoConfig.for_model(config.model_type, **settings)
        assert type(auto_config) is type(config), f"AutoConfig.for_model gave {type(auto_config).__name__}"
        assert auto_config.to_diff_dict() == config.to_diff_dict()
        model = auto_class.from_config(config)
        assert type(model) is model_class, f"{auto_class.__name__}.from_config gave {type(model).__name__}"
        model.save_pretrained(tmp_path)
        assert type(AutoConfig.from_pretrained(tmp_path)) is type(config)
        loaded = auto_class.from_pretrained(tmp_path)
        assert type(loaded) is model_class, f"{auto_class.__name__}.from_pretrained gave {type(loaded).__name__}"
