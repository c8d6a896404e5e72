"""hf_models' recurrent family (hf_models.rnn): the shared model-tester suite on every head, the shared generation
suite on the language model (the recurrent state is the cache: greedy and beam search against no-cache references,
padding, one token per step, both cache names), the lecture cells equal torch's fused kernels, padding, the heads,
save/load, tied embeddings, remote code, config errors."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from typing import ClassVar

import pytest
import torch
from conftest import REFUSE_HF_MODELS
from generation_tester import GenerationTesterMixin
from model_tester import ModelTesterMixin, max_abs_diff
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from hf_models.rnn import (
    GRUCell,
    LSTMCell,
    RNNCell,
    RnnConfig,
    RnnForCausalLM,
    RnnForSequenceClassification,
    RnnForTokenClassification,
    RnnModel,
    RnnState,
)

CELL_TYPES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
ALL_HEADS = (RnnModel, RnnForCausalLM, RnnForSequenceClassification, RnnForTokenClassification)
AUTO = {
    RnnModel: AutoModel,
    RnnForCausalLM: AutoModelForCausalLM,
    RnnForSequenceClassification: AutoModelForSequenceClassification,
    RnnForTokenClassification: AutoModelForTokenClassification,
}


def tiny_config(**overrides) -> RnnConfig:
    settings = {"vocab_size": 23, "hidden_size": 8, "num_layers": 2, "dropout": 0.0, "initializer_range": 0.5, "num_labels": 3}
    settings.update(overrides)
    return RnnConfig(**settings)


def right_padding_mask(lengths, seq) -> torch.Tensor:
    return (torch.arange(seq)[None, :] < torch.tensor(lengths)[:, None]).long()


# ----------------------------------------------------------------------------------------------------------------------
# The shared model tester
# ----------------------------------------------------------------------------------------------------------------------
class RnnModelTester:
    """A unidirectional 2-layer LSTM, fused kernels; hidden states all have width hidden_size."""

    batch_size = 3
    seq_length = 7
    num_hidden_layers = 2
    hidden_size = 16
    config_overrides: ClassVar[dict] = {}

    def get_config(self) -> RnnConfig:
        settings = {
            "cell_type": "lstm", "vocab_size": 31, "embedding_size": self.hidden_size, "hidden_size": self.hidden_size,
            "num_layers": self.num_hidden_layers, "dropout": 0.1, "num_labels": 3,
        }
        settings.update(self.config_overrides)
        return RnnConfig(**settings)

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        input_ids = torch.randint(1, config.vocab_size, (self.batch_size, self.seq_length))
        mask = right_padding_mask([self.seq_length, self.seq_length - 3, self.seq_length - 1], self.seq_length)
        return config, {"input_ids": input_ids.masked_fill(mask == 0, config.pad_token_id), "attention_mask": mask}


class BiGruCellsTester(RnnModelTester):
    """A bidirectional 2-layer GRU run by the lecture cells; embedding_size = 2 * hidden so every state has one width."""

    hidden_size = 12  # width of every hidden state: 2 directions x 6
    config_overrides: ClassVar[dict] = {"cell_type": "gru", "hidden_size": 6, "bidirectional": True, "implementation": "cells"}


class _RnnTestBase(ModelTesterMixin):
    has_attentions = False
    test_sdpa = False
    training_lr = 1e-2
    auto_model_classes = AUTO

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs = {k: v.clone() for k, v in inputs_dict.items()}
        if return_labels:
            ids, mask = inputs["input_ids"], inputs["attention_mask"]
            if model_class is RnnForCausalLM:
                inputs["labels"] = ids.masked_fill(mask == 0, -100)
            elif model_class is RnnForSequenceClassification:
                inputs["labels"] = torch.tensor([0, 2, 1])
            elif model_class is RnnForTokenClassification:
                inputs["labels"] = torch.randint(0, 3, ids.shape).masked_fill(mask == 0, -100)
        return inputs

    def expected_output_shapes(self, model_class, inputs_dict, config):
        batch, seq = inputs_dict["input_ids"].shape
        return {
            RnnModel: {"last_hidden_state": (batch, seq, config.output_size)},
            RnnForCausalLM: {"logits": (batch, seq, config.vocab_size)},
            RnnForSequenceClassification: {"logits": (batch, config.num_labels)},
            RnnForTokenClassification: {"logits": (batch, seq, config.num_labels)},
        }[model_class]



class TestRnnLstmFused(_RnnTestBase):
    all_model_classes = ALL_HEADS
    model_tester_class = RnnModelTester


class TestRnnBiGruCells(_RnnTestBase):
    all_model_classes = (RnnModel, RnnForSequenceClassification, RnnForTokenClassification)
    model_tester_class = BiGruCellsTester
    test_auto_registration_in_fresh_process = False  # same classes as TestRnnLstmFused: checked there once


# ----------------------------------------------------------------------------------------------------------------------
# The shared generation tester: the recurrent state is the cache
# ----------------------------------------------------------------------------------------------------------------------
class RnnGenerationTester:
    """A 2-layer LSTM language model over 11 tokens (0 is padding) with wide initial weights, so that its choices are
    far from uniform; three prompts of lengths 5, 2 and 4."""

    config_overrides: ClassVar[dict] = {}

    def get_config(self) -> RnnConfig:
        settings = {"cell_type": "lstm", "vocab_size": 11, "hidden_size": 16, "initializer_range": 1.0,
                    **self.config_overrides}
        return tiny_config(**settings)

    def prompts(self, config):
        generator = torch.Generator().manual_seed(7)
        return [torch.randint(1, config.vocab_size, (n,), generator=generator) for n in (5, 2, 4)]


class GruCellsGenerationTester(RnnGenerationTester):
    """The same with a GRU run by the lecture cells (the state carried across left padding by the cell loop)."""

    config_overrides: ClassVar[dict] = {"cell_type": "gru", "implementation": "cells"}


class TestRnnGenerationLstm(GenerationTesterMixin):
    all_generative_model_classes = (RnnForCausalLM,)
    generation_tester_class = RnnGenerationTester


class TestRnnGenerationGruCells(GenerationTesterMixin):
    all_generative_model_classes = (RnnForCausalLM,)
    generation_tester_class = GruCellsGenerationTester


# ----------------------------------------------------------------------------------------------------------------------
# The lecture cells equal torch's fused kernels
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "torch_cell"),
    [(RNNCell("tanh"), nn.RNNCell(5, 4)), (RNNCell("relu"), nn.RNNCell(5, 4, nonlinearity="relu")),
     (LSTMCell(), nn.LSTMCell(5, 4)), (GRUCell(), nn.GRUCell(5, 4))],
    ids=["rnn_tanh", "rnn_relu", "lstm", "gru"],
)
def test_single_cell_equals_torch_cell(cell, torch_cell):
    """One step of each lecture cell equals torch's nn.*Cell with the same weights."""
    x, h = torch.randn(3, 5), torch.randn(3, 4)
    weights = (torch_cell.weight_ih, torch_cell.weight_hh, torch_cell.bias_ih, torch_cell.bias_hh)
    if isinstance(torch_cell, nn.LSTMCell):
        c = torch.randn(3, 4)
        ours = cell(x, (h, c), *weights)
        theirs = torch_cell(x, (h, c))
        assert max_abs_diff(ours[0], theirs[0]) <= 1e-6 and max_abs_diff(ours[1], theirs[1]) <= 1e-6
    else:
        assert max_abs_diff(cell(x, h, *weights), torch_cell(x, h)) <= 1e-6


def _run(model, ids, mask=None, state=None, implementation="fused", hidden=True):
    """Outputs of `model` with the given implementation; `hidden` also asks for every layer's hidden states (the
    fused path then runs layer by layer instead of torch's stacked module)."""
    model.config.implementation = implementation
    with torch.no_grad():
        return model(ids, attention_mask=mask, past_key_values=state, output_hidden_states=hidden)


def _final(state: RnnState) -> list[torch.Tensor]:
    return [state.hidden] + ([state.cell] if state.cell is not None else [])


@pytest.mark.parametrize("cell_type", CELL_TYPES)
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, False), (1, True), (2, True)])
def test_cells_equal_fused(cell_type, num_layers, bidirectional):
    """The cells path and torch's fused module (one set of parameters) give the same outputs, every layer's hidden
    states and final states, to 1e-5, from a zero and from a given initial state."""
    model = RnnModel(tiny_config(cell_type=cell_type, num_layers=num_layers, bidirectional=bidirectional,
                                 embedding_size=5)).eval()
    assert {k for k in model.state_dict() if "rnn." in k} == {
        f"rnn.{kind}_l{layer}{suffix}"
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        for layer in range(num_layers)
        for suffix in (("", "_reverse") if bidirectional else ("",))
    }
    ids = torch.randint(1, 23, (3, 6))
    fused, cells = _run(model, ids), _run(model, ids, implementation="cells")
    # the fused path is torch's own module: check it against a fresh nn.* loaded from the same state dict
    reference = type(model.rnn)(**{k: getattr(model.rnn, k) for k in ("input_size", "hidden_size", "num_layers",
                                   "bidirectional", "batch_first")}, **(
        {"nonlinearity": model.rnn.nonlinearity} if isinstance(model.rnn, nn.RNN) else {}))
    reference.load_state_dict(model.rnn.state_dict())
    expected, _ = reference(model.embeddings(ids))
    assert max_abs_diff(fused.last_hidden_state, expected) <= 1e-6
    assert max_abs_diff(cells.last_hidden_state, fused.last_hidden_state) <= 1e-5
    assert len(cells.hidden_states) == len(fused.hidden_states) == num_layers + 1
    for a, b in zip(cells.hidden_states, fused.hidden_states):
        assert max_abs_diff(a, b) <= 1e-5
    assert torch.equal(fused.hidden_states[-1], fused.last_hidden_state)
    stacked = _run(model, ids, hidden=False)  # torch's stacked multi-layer module
    assert stacked.hidden_states is None
    assert max_abs_diff(stacked.last_hidden_state, cells.last_hidden_state) <= 1e-5
    for a, b, c in zip(_final(cells.past_key_values), _final(fused.past_key_values), _final(stacked.past_key_values)):
        assert max_abs_diff(a, b) <= 1e-5 and max_abs_diff(c, b) <= 1e-5
    if not bidirectional:  # continuing from a state
        more = torch.randint(1, 23, (3, 4))
        cont_fused = _run(model, more, state=fused.past_key_values)
        cont_cells = _run(model, more, state=cells.past_key_values, implementation="cells")
        whole = _run(model, torch.cat([ids, more], dim=1))
        assert max_abs_diff(cont_cells.last_hidden_state, cont_fused.last_hidden_state) <= 1e-5
        assert max_abs_diff(cont_fused.last_hidden_state, whole.last_hidden_state[:, 6:]) <= 1e-5
        assert cont_fused.past_key_values.get_seq_length() == 10


@pytest.mark.parametrize("cell_type", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("implementation", ["fused", "cells"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_padded_batch_equals_single_examples(cell_type, implementation, padding_side):
    """A padded batch (right or left) gives, on every real token, the outputs and final states of each sequence run
    alone; pad positions are zero."""
    model = RnnModel(tiny_config(cell_type=cell_type, bidirectional=True)).eval()
    lengths, seq = [6, 3, 1, 5], 6
    ids = torch.randint(1, 23, (4, seq))
    mask = right_padding_mask(lengths, seq)
    if padding_side == "left":
        mask = mask.flip(1)
    batched = _run(model, ids.masked_fill(mask == 0, 0), mask, implementation=implementation)
    stacked = _run(model, ids.masked_fill(mask == 0, 0), mask, implementation=implementation, hidden=False)
    assert max_abs_diff(stacked.last_hidden_state, batched.last_hidden_state) <= 1e-5
    for a, b in zip(_final(batched.past_key_values), _final(stacked.past_key_values)):
        assert max_abs_diff(a, b) <= 1e-5
    for i, length in enumerate(lengths):
        real = mask[i].bool()
        alone = _run(model, ids[i : i + 1, real], implementation=implementation)
        assert max_abs_diff(batched.last_hidden_state[i, real], alone.last_hidden_state[0]) <= 1e-5
        for a, b in zip(batched.hidden_states, alone.hidden_states):
            assert max_abs_diff(a[i, real], b[0]) <= 1e-5
        assert torch.all(batched.last_hidden_state[i, ~real] == 0.0)
        for a, b in zip(_final(batched.past_key_values), _final(alone.past_key_values)):
            assert max_abs_diff(a[:, i], b[:, 0]) <= 1e-5


def test_mask_with_holes_and_bad_inputs_are_refused():
    model = RnnModel(tiny_config()).eval()
    ids = torch.randint(1, 23, (2, 5))
    with pytest.raises(ValueError, match="attention_mask row 1 has holes"):
        model(ids, attention_mask=torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 0, 0]]))
    with pytest.raises(ValueError, match="attention_mask row 0 has no real token"):
        model(ids, attention_mask=torch.tensor([[0, 0, 0, 0, 0], [1, 1, 1, 1, 1]]))
    with pytest.raises(ValueError, match=r"input_ids contains id 23, outside \[0, vocab_size=23\)"):
        model(torch.tensor([[1, 23]]))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(ids, attention_mask=torch.ones(3, 5))


# ----------------------------------------------------------------------------------------------------------------------
# Generation: the recurrent state is the cache
# ----------------------------------------------------------------------------------------------------------------------
def _lm(cell_type="lstm", **overrides) -> RnnForCausalLM:
    settings = {"cell_type": cell_type, "vocab_size": 11, "hidden_size": 16, "initializer_range": 1.0, **overrides}
    return RnnForCausalLM(tiny_config(**settings)).eval()


def test_generate_refuses_right_padded_prompts():
    """Batched prompts must be left-padded: a right-padded batch is refused with a message that says so."""
    model = _lm("lstm")
    ids = torch.randint(1, 11, (2, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with pytest.raises(ValueError, match="right-padded"):
        model.generate(ids, attention_mask=mask, max_new_tokens=2, do_sample=False, pad_token_id=0)


def test_generate_from_inputs_embeds():
    """generate(inputs_embeds=...) continues like generate(input_ids=...)."""
    model = _lm("lstm")
    prompt = torch.randint(1, 11, (2, 4))
    from_ids = model.generate(prompt, max_new_tokens=5, do_sample=False, pad_token_id=0)
    with torch.no_grad():
        embeds = model.get_input_embeddings()(prompt)
    from_embeds = model.generate(inputs_embeds=embeds, max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert torch.equal(from_embeds, from_ids[:, 4:])


def test_causal_lm_loss_is_shifted_cross_entropy():
    model = _lm("gru")
    ids = torch.randint(1, 11, (2, 6))
    labels = ids.clone()
    labels[1, 4:] = -100
    with torch.no_grad():
        out = model(ids, labels=labels)
    logp = out.logits.log_softmax(-1)
    terms = [-logp[b, t - 1, ids[b, t]] for b in range(2) for t in range(1, 6) if labels[b, t] != -100]
    assert abs(out.loss.item() - torch.stack(terms).mean().item()) <= 1e-5


# ----------------------------------------------------------------------------------------------------------------------
# Heads, tying, save/load, config
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("embedding_size", "hidden_size"), [(8, 8), (6, 10)])
def test_tied_embeddings_survive_save_load(tmp_path, embedding_size, hidden_size):
    """tie_word_embeddings: the LM head is the embedding matrix, also after from_pretrained (with a projection when
    embedding_size != hidden_size); untied models keep two matrices."""
    model = RnnForCausalLM(tiny_config(embedding_size=embedding_size, hidden_size=hidden_size))
    assert model.lm_head.weight is model.model.embeddings.weight
    assert (model.projection is None) == (embedding_size == hidden_size)
    model.save_pretrained(tmp_path / "tied")
    loaded = RnnForCausalLM.from_pretrained(tmp_path / "tied")
    assert loaded.lm_head.weight.data_ptr() == loaded.model.embeddings.weight.data_ptr()
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    with torch.no_grad():
        loaded.model.embeddings.weight[3, 0] += 1.0
    assert loaded.lm_head.weight[3, 0] == loaded.model.embeddings.weight[3, 0]

    untied = RnnForCausalLM(tiny_config(tie_word_embeddings=False))
    untied.save_pretrained(tmp_path / "untied")
    loaded = RnnForCausalLM.from_pretrained(tmp_path / "untied")
    assert loaded.lm_head.weight.data_ptr() != loaded.model.embeddings.weight.data_ptr()
    assert torch.equal(loaded.lm_head.weight, untied.lm_head.weight)


def test_saved_config_lists_every_head(tmp_path):
    RnnForTokenClassification(tiny_config()).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "hf_rnn"
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForCausalLM",
                                       "AutoModelForSequenceClassification", "AutoModelForTokenClassification"}
    assert (tmp_path / "modeling_rnn.py").is_file() and (tmp_path / "configuration_rnn.py").is_file()


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_sequence_classification_pooling_and_problem_types(pooling):
    config = tiny_config(bidirectional=True, classifier_pooling=pooling)
    model = RnnForSequenceClassification(config).eval()
    ids = torch.randint(1, 23, (2, 5))
    mask = right_padding_mask([5, 3], 5)
    with torch.no_grad():
        out = model(ids, attention_mask=mask, labels=torch.tensor([0, 2]))
        alone = model(ids[1:, :3])
        hidden = model.model(ids[1:, :3]).last_hidden_state[0]  # (3, 2 * hidden)
    assert model.config.problem_type == "single_label_classification"
    assert max_abs_diff(out.logits[1], alone.logits[0]) <= 1e-5
    expected_pooled = {
        "last": torch.cat([hidden[-1, :8], hidden[0, 8:]]), "max": hidden.max(0).values, "mean": hidden.mean(0),
    }[pooling]
    assert max_abs_diff(model.classifier(expected_pooled), alone.logits[0]) <= 1e-5
    multi = RnnForSequenceClassification(tiny_config()).eval()
    loss = multi(ids, labels=torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])).loss
    assert multi.config.problem_type == "multi_label_classification" and torch.isfinite(loss)
    regression = RnnForSequenceClassification(tiny_config(num_labels=1)).eval()
    assert torch.isfinite(regression(ids, labels=torch.tensor([0.5, -1.0])).loss)
    with pytest.raises(ValueError, match=r"labels must be class ids in \[0, num_labels=3\)"):
        RnnForSequenceClassification(tiny_config())(ids, labels=torch.tensor([0, 3]))


def test_token_classification_accepts_tokenizer_outputs():
    """A BiLSTM tagger takes what a tokenizer returns (token_type_ids included); -100 labels are ignored."""
    model = RnnForTokenClassification(tiny_config(bidirectional=True)).eval()
    ids = torch.randint(1, 23, (2, 5))
    mask = right_padding_mask([5, 2], 5)
    labels = torch.tensor([[0, 1, 2, 1, -100], [2, 2, -100, -100, -100]])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids), labels=labels)
    keep = labels != -100
    expected = torch.nn.functional.cross_entropy(out.logits[keep], labels[keep])
    assert abs(out.loss.item() - expected.item()) <= 1e-5
    with pytest.raises(ValueError, match="labels must be in"):
        model(input_ids=ids, labels=torch.full_like(ids, 7))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"cell_type": "transformer"}, "RnnConfig.cell_type"),
        ({"hidden_size": 0}, "RnnConfig.hidden_size"),
        ({"num_layers": 1.5}, "RnnConfig.num_layers"),
        ({"embedding_size": -3}, "RnnConfig.embedding_size"),
        ({"vocab_size": True}, "RnnConfig.vocab_size"),
        ({"dropout": 1.0}, "RnnConfig.dropout"),
        ({"classifier_dropout": -0.1}, "RnnConfig.classifier_dropout"),
        ({"implementation": "cudnn"}, "RnnConfig.implementation"),
        ({"classifier_pooling": "cls"}, "RnnConfig.classifier_pooling"),
        ({"pad_token_id": 23}, "RnnConfig.pad_token_id"),
        ({"initializer_range": 0}, "RnnConfig.initializer_range"),
    ],
)
def test_bad_config_names_the_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**overrides)


def test_bad_bidirectional_and_causal_lm_refuses_bidirectional():
    with pytest.raises(TypeError, match="RnnConfig.bidirectional"):
        tiny_config(bidirectional="yes")
    with pytest.raises(ValueError, match="RnnConfig.bidirectional=False"):
        RnnForCausalLM(tiny_config(bidirectional=True))


def test_config_roundtrip(tmp_path):
    config = tiny_config(cell_type="gru", embedding_size=6, bidirectional=True, implementation="cells")
    config.save_pretrained(tmp_path)
    loaded = RnnConfig.from_pretrained(tmp_path)
    for key in ("cell_type", "embedding_size", "hidden_size", "bidirectional", "implementation", "num_layers"):
        assert getattr(loaded, key) == getattr(config, key)
    assert loaded.output_size == 16


def test_the_test_data_is_not_degenerate():
    """Guard for the tests above: tiny models give distinct outputs for distinct inputs."""
    model = RnnModel(tiny_config()).eval()
    outs = [model(torch.tensor([list(p)])).last_hidden_state for p in itertools.permutations([1, 2, 3])]
    assert all(max_abs_diff(a, b) > 1e-3 for a, b in itertools.combinations(outs, 2))


# Runs in a fresh interpreter where `import hf_models` is refused: only the folder's saved code can build the model.
REMOTE_CHILD = REFUSE_HF_MODELS + textwrap.dedent(
    r"""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

    folder, ids = sys.argv[1], torch.tensor(json.loads(sys.argv[2]))
    lm = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    tagger = AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True)
    with torch.no_grad():
        logits = lm(ids).logits.tolist()
    beams = lm.generate(ids, max_new_tokens=4, num_beams=2, do_sample=False, pad_token_id=0).tolist()
    print("RESULT " + json.dumps({
        "module": type(lm).__module__, "class": type(lm).__name__, "tagger": type(tagger).__name__,
        "logits": logits, "beams": beams, "tied": lm.lm_head.weight is lm.model.embeddings.weight,
        "hf_models_imported": any(m == "hf_models" or m.startswith("hf_models.") for m in sys.modules),
    }))
    """
)


@pytest.mark.slow
def test_saved_folder_loads_with_trust_remote_code(tmp_path):
    """Without hf_models, the folder's own code (configuration_rnn.py, modeling_rnn.py) builds the model through the
    Auto classes: same logits, same beam search, tied embeddings, every head listed in auto_map."""
    model = _lm("gru")
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    ids = torch.randint(1, 11, (2, 5))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["HF_HOME"] = str(tmp_path / "hf_home")
    proc = subprocess.run(
        [sys.executable, "-I", "-c", REMOTE_CHILD, str(folder), json.dumps(ids.tolist())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, f"child failed:\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result in child output:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["hf_models_imported"] is False
    assert result["class"] == "RnnForCausalLM" and result["module"].startswith("transformers_modules.")
    assert result["tagger"] == "RnnForTokenClassification" and result["tied"] is True
    with torch.no_grad():
        assert max_abs_diff(torch.tensor(result["logits"]), model(ids).logits) <= 1e-6
    expected = model.generate(ids, max_new_tokens=4, num_beams=2, do_sample=False, pad_token_id=0)
    assert result["beams"] == expected.tolist()


def test_trainer_evaluates_and_predicts_the_language_model(tmp_path):
    """The HF Trainer trains, evaluates and predicts with the LM head (the recurrent state is not gathered)."""
    from transformers import Trainer, TrainingArguments

    model = _lm("lstm")
    rows = [{"input_ids": ids, "labels": ids} for ids in torch.randint(1, 11, (4, 6))]
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, per_device_train_batch_size=2,
                             per_device_eval_batch_size=2, max_steps=2, report_to=[], save_strategy="no")
    trainer = Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows)
    trainer.train()
    metrics = trainer.evaluate()
    assert metrics["eval_loss"] > 0
    predictions = trainer.predict(rows)
    assert predictions.predictions.shape == (4, 6, 11)


def test_rnn_state_batch_operations():
    """reorder_cache / batch_repeat_interleave / batch_select_indices act on the batch dimension of h and c."""
    hidden, cell = torch.arange(12.0).view(2, 3, 2), -torch.arange(12.0).view(2, 3, 2)  # (layers, batch, hidden)
    state = RnnState(hidden.clone(), cell.clone(), seen_tokens=4)
    state.reorder_cache(torch.tensor([2, 2, 0]))
    assert torch.equal(state.hidden, hidden[:, [2, 2, 0]]) and torch.equal(state.cell, cell[:, [2, 2, 0]])
    state.batch_repeat_interleave(2)
    assert torch.equal(state.hidden, hidden[:, [2, 2, 2, 2, 0, 0]]) and state.cell.shape == (2, 6, 2)
    state.batch_select_indices(torch.tensor([5]))
    assert torch.equal(state.hidden, hidden[:, [0]]) and torch.equal(state.cell, cell[:, [0]])
    assert state.get_seq_length() == 4
    gru_state = RnnState(hidden.clone())
    gru_state.reorder_cache(torch.tensor([1, 0, 1]))
    assert gru_state.cell is None and torch.equal(gru_state.to_tuple(), hidden[:, [1, 0, 1]])
