"""The model-tester mixin every family of hf_models reuses (BERT, RNN, Seq2Seq now; Transformer, GPT, T5 later).

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
- `auto_model_classes`: `{model class: transformers Auto class}` (for example `{BertModel: AutoModel}`);
  `classes_without_auto_class`: the heads that transformers has no Auto class for (GPT-1's double-heads model),
  listed explicitly, which the Auto tests skip.

Encoder-decoders (the config says `is_encoder_decoder=True`)
-------------------------------------------------------------
`inputs_dict` then also holds the target: `decoder_input_ids` (batch, target_seq) and, when the family takes it, a
right-padded `decoder_attention_mask`; with `return_labels` the head adds its `labels` (batch, target_seq). The
batching test pads the source *and* the target (different lengths in each), and cuts every output along the source
or the target axis, whichever matches. The hidden-state and attention test reads `encoder_hidden_states`,
`decoder_hidden_states`, `encoder_attentions`, `decoder_attentions` (causal) and `cross_attentions`; the tester may
set `num_encoder_layers` / `num_decoder_layers` (default `num_hidden_layers`). A family whose outputs differ from
transformers' layout overrides `expected_hidden_states` / `expected_attentions` (below). The generation tests live in
`tests/generation_tester.py` (`GenerationTesterMixin`), which can be mixed into the same test class.

Hooks for the per-layer outputs
-------------------------------
- `expected_hidden_states(model_class, inputs, config)` -> `{output name: (number of tensors, shape of each)}` with
  `output_hidden_states=True`; the last one must equal `last_hidden_state` / `encoder_last_hidden_state`.
- `expected_attentions(model_class, inputs, config)` -> `{output name: (number of maps, shape, allowed)}` with
  `output_attentions=True`, `allowed` a bool tensor broadcastable to the shape (False: padding, future positions):
  every row must be a probability distribution over the allowed keys. The defaults follow transformers' layout and
  the switches `has_attentions` and `is_causal` (False; True for a decoder-only model's self-attention).

Optional switches (class attributes): `has_attentions` (True), `is_causal` (False), `test_sdpa` (True; also needs
`_supports_sdpa` on the class), `test_padding` (True: the batching test pads; False: it batches equal-length
sequences), `pad_token_id_attr` ("pad_token_id": the config field used for padding), `training_steps` (8),
`training_lr` (1e-3), `batching_atol` (1e-5), `sdpa_atol` (1e-5), `test_auto_registration_in_fresh_process` (True;
False in a variant class whose heads another class already checks: it costs one interpreter start).

The Auto registration is checked where a user meets it: a fresh interpreter that only runs `import hf_models` loads
each head's saved folder with `AutoConfig` / the head's Auto class (no `trust_remote_code`) and must get the head's
own class. Nothing in the tests registers anything.

A head without a loss (the bare encoder) is trained and differentiated through a fixed random projection of its
outputs (`_surrogate_loss`), so "gradients reach every parameter" still means something for it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
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
    classes_without_auto_class: tuple = ()

    has_attentions = True
    is_causal = False
    test_sdpa = True
    test_auto_registration_in_fresh_process = True
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
        parametrized = False
        for marker in metafunc.definition.iter_markers("parametrize"):
            names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            parametrized = parametrized or "model_class" in names
        if "model_class" in metafunc.fixturenames and not parametrized:
            classes = list(self.all_model_classes)
            assert classes, f"{type(self).__name__}.all_model_classes is empty"
            metafunc.parametrize("model_class", classes, ids=[c.__name__ for c in classes])
        parent = getattr(super(), "pytest_generate_tests", None)
        if parent is not None:  # cooperate with GenerationTesterMixin in the same test class
            parent(metafunc)

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

    @staticmethod
    def _is_encoder_decoder(config) -> bool:
        return bool(getattr(config, "is_encoder_decoder", False))

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
        sequence run alone without padding (an encoder-decoder: source and target both padded)."""
        config, inputs = self._config_and_inputs(model_class)
        model = model_class(config).eval()
        seq_dim = self._seq_dim(inputs)
        batch = inputs["input_ids"].shape[0]
        assert batch >= 2, "the batching test needs a batch of at least 2"
        pad_id = getattr(config, self.pad_token_id_attr, None)
        pad_id = 0 if pad_id is None else pad_id

        # (ids key, mask key, keys cut like the ids, full length, lengths): the source, and an encoder-decoder's target
        streams = [("input_ids", "attention_mask", ("token_type_ids", "position_ids"))]
        if self._is_encoder_decoder(config) and "decoder_input_ids" in inputs:
            streams.append(("decoder_input_ids", "decoder_attention_mask", ("decoder_position_ids", "labels")))
        cuts = []  # (ids key, mask key, keys to cut, full length, lengths)
        for k, (ids_key, mask_key, others) in enumerate(streams):
            full_len = inputs[ids_key].shape[seq_dim]
            if self.test_padding:
                # different lengths, the longest unpadded: source full, full-2, full-4, ...; target full, full-1, ...
                lengths = [max(2, full_len - (2 if k == 0 else 1) * i) for i in range(batch)]
                assert len(set(lengths)) > 1, f"the batching test needs {ids_key} of different lengths"
                mask = torch.zeros(inputs[ids_key].shape, dtype=torch.long)
                for i, length in enumerate(lengths):
                    mask.narrow(seq_dim, 0, length)[i] = 1
                inputs[ids_key] = inputs[ids_key].masked_fill(mask == 0, pad_id)
                if k == 0 or mask_key in inputs:
                    inputs[mask_key] = mask
            else:
                lengths = [full_len] * batch
                inputs.pop(mask_key, None)
            cuts.append((ids_key, mask_key, (ids_key, mask_key, *others), full_len, lengths))

        with torch.no_grad():
            batched = flatten_outputs(model(**inputs, output_hidden_states=True))
        compared = token_level = 0
        for i in range(batch):
            alone_inputs = {}
            for key, value in inputs.items():
                if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == batch:
                    value = value[i : i + 1]
                    for _, _, keys, full_len, lengths in cuts:
                        if key in keys and value.dim() > seq_dim and value.shape[seq_dim] == full_len:
                            value = value.narrow(seq_dim, 0, lengths[i])
                alone_inputs[key] = value
            for _, mask_key, _, _, _ in cuts:
                if mask_key in alone_inputs:
                    assert alone_inputs[mask_key].all()
                    alone_inputs.pop(mask_key)  # alone: no padding, no mask
            with torch.no_grad():
                alone = flatten_outputs(model(**alone_inputs, output_hidden_states=True))
            assert set(alone) == set(batched)
            allowed_cuts = {(full_len, lengths[i]) for _, _, _, full_len, lengths in cuts}
            for name, single in alone.items():
                full = batched[name]
                if full.shape[0] != batch or single.shape[0] != 1:
                    continue  # e.g. multiple choice hidden states, (batch * choices, ...)
                row = full[i : i + 1]
                for dim in range(1, row.dim()):  # cut the padded positions away, dimension by dimension
                    if row.shape[dim] != single.shape[dim]:
                        assert (row.shape[dim], single.shape[dim]) in allowed_cuts, (
                            f"{name}: batched {tuple(full.shape)} vs alone {tuple(single.shape)}"
                        )
                        row = row.narrow(dim, 0, single.shape[dim])
                        token_level += 1
                diff = max_abs_diff(row, single)
                assert diff <= self.batching_atol, (
                    f"{name} of example {i} (lengths {[c[4][i] for c in cuts]}): batched vs alone max abs diff "
                    f"{diff:.3g}"
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

    def expected_hidden_states(self, model_class, inputs: dict, config) -> dict[str, tuple[int, tuple]]:
        """{output name: (number of tensors, shape of each)} with output_hidden_states=True (transformers' layout:
        the embeddings, then one tensor per layer)."""
        tester = self.model_tester
        if not self._is_encoder_decoder(config):
            ids = inputs["input_ids"]
            rows, seq = math.prod(ids.shape[:-1]), ids.shape[-1]  # multiple choice: (batch * choices) rows
            return {"hidden_states": (tester.num_hidden_layers + 1, (rows, seq, tester.hidden_size))}
        batch, source, target = inputs["input_ids"].shape[0], inputs["input_ids"].shape[-1], inputs[
            "decoder_input_ids"].shape[-1]
        encoder_layers = getattr(tester, "num_encoder_layers", tester.num_hidden_layers)
        decoder_layers = getattr(tester, "num_decoder_layers", tester.num_hidden_layers)
        return {"encoder_hidden_states": (encoder_layers + 1, (batch, source, tester.hidden_size)),
                "decoder_hidden_states": (decoder_layers + 1, (batch, target, tester.hidden_size))}

    def expected_attentions(self, model_class, inputs: dict, config) -> dict[str, tuple[int, tuple, torch.Tensor]]:
        """{output name: (number of maps, shape, allowed keys)} with output_attentions=True; `allowed` is a bool
        tensor broadcastable to the shape: padding (and, causally, the future) must get zero weight."""
        if not self.has_attentions:
            return {}
        tester = self.model_tester
        heads = tester.num_attention_heads

        def allowed(mask, rows, queries, keys, causal):
            ok = mask.reshape(rows, keys).bool() if mask is not None else torch.ones(rows, keys, dtype=torch.bool)
            ok = ok[:, None, None, :]  # (rows, 1, 1, keys)
            if causal:
                ok = ok & torch.ones(queries, keys, dtype=torch.bool).tril()[None, None]
            return ok

        if not self._is_encoder_decoder(config):
            ids = inputs["input_ids"]
            rows, seq = math.prod(ids.shape[:-1]), ids.shape[-1]
            return {"attentions": (tester.num_hidden_layers, (rows, heads, seq, seq),
                                   allowed(self._padding_mask(inputs), rows, seq, seq, self.is_causal))}
        batch, source, target = inputs["input_ids"].shape[0], inputs["input_ids"].shape[-1], inputs[
            "decoder_input_ids"].shape[-1]
        encoder_layers = getattr(tester, "num_encoder_layers", tester.num_hidden_layers)
        decoder_layers = getattr(tester, "num_decoder_layers", tester.num_hidden_layers)
        source_mask, target_mask = inputs.get("attention_mask"), inputs.get("decoder_attention_mask")
        return {
            "encoder_attentions": (encoder_layers, (batch, heads, source, source),
                                   allowed(source_mask, batch, source, source, False)),
            "decoder_attentions": (decoder_layers, (batch, heads, target, target),
                                   allowed(target_mask, batch, target, target, True)),
            "cross_attentions": (decoder_layers, (batch, heads, target, source),
                                 allowed(source_mask, batch, target, source, False)),
        }

    def test_hidden_states_and_attentions_output(self, model_class):
        """output_hidden_states gives the announced states (embeddings + one per layer, the last one the model's
        last hidden state); output_attentions the announced maps, whose rows are probability distributions over the
        allowed (unpadded, and for causal attention past) keys; neither comes back unasked."""
        config, inputs = self._config_and_inputs(model_class)
        model = model_class(config).eval()
        expected_hidden = self.expected_hidden_states(model_class, inputs, config)
        expected_attn = self.expected_attentions(model_class, inputs, config)
        assert expected_hidden, "expected_hidden_states announced nothing"
        with torch.no_grad():
            out = model(**inputs, output_hidden_states=True,
                        output_attentions=bool(expected_attn) or self.has_attentions)
        for name in _PER_LAYER_KEYS:
            if name not in expected_hidden and name not in expected_attn:
                assert out.get(name) is None, f"{name} came back but is not announced"
        for name, (count, shape) in expected_hidden.items():
            hidden = out.get(name)
            assert hidden is not None and len(hidden) == count, f"{name}: {None if hidden is None else len(hidden)} " \
                f"tensors, expected {count}"
            for layer, h in enumerate(hidden):
                assert tuple(h.shape) == tuple(shape), f"{name}[{layer}]: {tuple(h.shape)}, expected {tuple(shape)}"
            last = {"hidden_states": "last_hidden_state", "decoder_hidden_states": "last_hidden_state",
                    "encoder_hidden_states": "encoder_last_hidden_state"}.get(name)
            if last is not None and out.get(last) is not None:
                assert torch.equal(hidden[-1], out[last]), f"{name}[-1] is not {last}"
            if count > 1:
                assert not torch.equal(hidden[0], hidden[-1]), f"{name}: the layers changed nothing"

        with torch.no_grad():
            plain = model(**inputs)
        for name in _PER_LAYER_KEYS:
            assert plain.get(name) is None, f"{name} given without being asked"

        for name, (count, shape, allowed) in expected_attn.items():
            attentions = out.get(name)
            assert attentions is not None and len(attentions) == count, f"{name}: expected {count} maps"
            for layer, probs in enumerate(attentions):
                assert tuple(probs.shape) == tuple(shape), f"{name}[{layer}]: {tuple(probs.shape)}"
                assert (probs >= 0).all()
                keep = allowed.expand_as(probs)
                sums = (probs * keep).sum(-1)
                torch.testing.assert_close(sums, torch.ones_like(sums), atol=1e-5, rtol=0)
                masked = probs.masked_select(~keep)
                assert masked.numel() == 0 or masked.abs().max() <= 1e-6, f"{name}[{layer}] attends to padding"

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

    def test_auto_classes(self, model_class):
        """After `import hf_models`, AutoConfig.for_model and the head's Auto class build this class from a config."""
        import hf_models  # noqa: F401  (registers every config and model with the Auto classes)

        if model_class in self.classes_without_auto_class:
            pytest.skip(f"transformers has no Auto class for {model_class.__name__}")
        auto_class = self.auto_model_classes.get(model_class)
        assert auto_class is not None, f"{type(self).__name__}.auto_model_classes lacks {model_class.__name__}"
        config, _ = self._config_and_inputs(model_class)
        settings = {k: v for k, v in config.to_diff_dict().items() if k not in ("model_type", "transformers_version")}
        auto_config = AutoConfig.for_model(config.model_type, **settings)
        assert type(auto_config) is type(config), f"AutoConfig.for_model gave {type(auto_config).__name__}"
        assert auto_config.to_diff_dict() == config.to_diff_dict()
        model = auto_class.from_config(config)
        assert type(model) is model_class, f"{auto_class.__name__}.from_config gave {type(model).__name__}"

    @pytest.mark.slow
    def test_auto_registration_in_a_fresh_process(self, tmp_path):
        """A fresh interpreter that only runs `import hf_models` loads every head's saved folder with AutoConfig and
        the head's Auto class (no trust_remote_code) and gets the head's own class: the registration is
        `import hf_models`'s, not the test's."""
        if not self.test_auto_registration_in_fresh_process:
            pytest.skip(f"{type(self).__name__}: these heads' registration is checked by another test class")
        cases = []
        for model_class in self.all_model_classes:
            if model_class in self.classes_without_auto_class:
                continue
            auto_class = self.auto_model_classes.get(model_class)
            assert auto_class is not None, f"{type(self).__name__}.auto_model_classes lacks {model_class.__name__}"
            config, _ = self._config_and_inputs(model_class)
            folder = tmp_path / model_class.__name__
            model_class(config).save_pretrained(folder)
            cases.append([str(folder), auto_class.__name__, model_class.__module__, model_class.__qualname__,
                          type(config).__module__, type(config).__qualname__])
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
        proc = subprocess.run([sys.executable, "-c", _FRESH_AUTO_CHILD, json.dumps(cases)], cwd=tmp_path, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, f"the child process failed:\n{proc.stderr[-4000:]}"
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        assert lines, f"no result from the child:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        results = json.loads(lines[-1][len("RESULT "):])
        assert len(results) == len(cases)
        problems = [f"{case[1]}.from_pretrained({case[0]!r}): {result}" for case, result in zip(cases, results)
                    if result != "ok"]
        assert not problems, "the Auto registration of `import hf_models` fails:\n" + "\n".join(problems)


# The child of test_auto_registration_in_a_fresh_process: `import hf_models` is its only registration.
_FRESH_AUTO_CHILD = r"""
import importlib, json, sys
import hf_models  # noqa: F401
import transformers
from transformers import AutoConfig

results = []
for folder, auto_name, module, qualname, config_module, config_qualname in json.loads(sys.argv[1]):
    try:
        config = AutoConfig.from_pretrained(folder)
        model = getattr(transformers, auto_name).from_pretrained(folder)
    except Exception as error:  # reported per head, so the failure names it
        results.append(f"{type(error).__name__}: {error}"[:500])
        continue
    want_config = getattr(importlib.import_module(config_module), config_qualname)
    want_model = getattr(importlib.import_module(module), qualname)
    if type(config) is not want_config:
        results.append(f"AutoConfig gave {type(config).__module__}.{type(config).__qualname__}")
    elif type(model) is not want_model:
        results.append(f"gave {type(model).__module__}.{type(model).__qualname__}, expected {module}.{qualname}")
    else:
        results.append("ok")
print("\nRESULT " + json.dumps(results))  # on a line of its own, after any prompt transformers printed
"""
