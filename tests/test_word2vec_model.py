"""word2vec as a Hugging Face model: the config, the vocabulary and its tables (Huffman tree, noise table,
subsampling), the torch objectives against naive per-pair references, SGD on `forward`, save/load with vocab.txt,
push_to_hub, remote code, the `wv` bridge to KeyedVectors and `load_embeddings_into` other models."""

from __future__ import annotations

import bisect
import json
import math
import os

import numpy as np
import pytest
import torch
from conftest import run_without_hf_models
from scipy.stats import chisquare

from hf_models.word2vec import (
    KeyedVectors,
    Vocabulary,
    Word2VecConfig,
    Word2VecModel,
    load_embeddings_into,
)
from hf_models.word2vec.vocabulary import build_cum_table, build_huffman_tree

WORDS = ["the", "cat", "sat", "on", "mat", "고양이", "개", "a", "dog", "ran"]
COUNTS = [120, 40, 33, 30, 18, 12, 9, 7, 4, 2]
OBJECTIVES = ["negative_sampling", "hierarchical_softmax", "full_softmax"]
ARCHITECTURES = ["skipgram", "cbow"]


def tiny_vocab() -> Vocabulary:
    return Vocabulary(WORDS, COUNTS)


def tiny_model(architecture="skipgram", objective="negative_sampling", vector_size=8, random_weights=True, **kw):
    config = Word2VecConfig(architecture=architecture, objective=objective, vector_size=vector_size, negative=3, **kw)
    model = Word2VecModel(config, vocab=tiny_vocab())
    if random_weights:  # output vectors start at 0: give every table values so that every term of the loss matters
        generator = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


# ----------------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"vector_size": 0}, "vector_size"),
        ({"window": -1}, "window"),
        ({"architecture": "skip-gram"}, "architecture"),
        ({"objective": "softmax"}, "objective"),
        ({"negative": 0}, "negative"),
        ({"negative": 2.5}, "negative"),
        ({"min_count": 0}, "min_count"),
        ({"sample": -0.1}, "sample"),
        ({"alpha": 0}, "alpha"),
        ({"min_alpha": 0.5}, "min_alpha"),
        ({"epochs": 0}, "epochs"),
        ({"max_final_vocab": 0}, "max_final_vocab"),
        ({"max_vocab_size": -5}, "max_vocab_size"),
        ({"sg": 2}, "sg"),
        ({"hs": "yes"}, "hs"),
        ({"ns_exponent": "0.75"}, "ns_exponent"),
        ({"cbow_mean": "mean"}, "cbow_mean"),
        ({"vocab_size": 1, "objective": "hierarchical_softmax"}, "vocab_size"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"Word2VecConfig\.{field}"):
        Word2VecConfig(**kwargs)


def test_config_defaults_are_gensims_and_gensim_switches_are_accepted():
    """The defaults are read off gensim's own Word2Vec signature, not restated (except sg: gensim's CBOW default is
    hf_models' skip-gram, the lecture's model, chosen on purpose)."""
    import inspect

    from gensim.models import Word2Vec

    theirs = {name: p.default for name, p in inspect.signature(Word2Vec.__init__).parameters.items()}
    config = Word2VecConfig()
    for name in ("vector_size", "window", "negative", "sample", "min_count", "alpha", "min_alpha", "epochs",
                 "ns_exponent", "hs", "cbow_mean"):
        assert getattr(config, name) == theirs[name], name
    assert theirs["sg"] == 0 and config.sg == 1 and config.architecture == "skipgram"
    assert config.objective == "negative_sampling"
    config = Word2VecConfig(sg=0, hs=1)
    assert config.architecture == "cbow" and config.objective == "hierarchical_softmax"
    assert (config.sg, config.hs, config.hidden_size) == (0, 1, 100)
    assert Word2VecConfig(sg=1).architecture == "skipgram"


def test_config_roundtrip(tmp_path):
    config = Word2VecConfig(vocab_size=7, architecture="cbow", objective="full_softmax", window=3, lowercase=True)
    config.save_pretrained(tmp_path)
    loaded = Word2VecConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "hf_word2vec"


def test_model_needs_a_vocabulary_size():
    with pytest.raises(ValueError, match="vocab_size is 0"):
        Word2VecModel(Word2VecConfig())
    with pytest.raises(ValueError, match="vocab_size=5 but the vocabulary has 10"):
        Word2VecModel(Word2VecConfig(vocab_size=5), vocab=tiny_vocab())


# ----------------------------------------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------------------------------------
def test_vocabulary_build_counts_min_count_and_first_seen_ties():
    corpus = [["b", "a", "c"], ["a", "b", "d", "a"], ["e", "e", "c", "고양이", "고양이"]]
    vocab = Vocabulary.build(corpus, min_count=2)
    # a:3; b, c, e, 고양이: 2 each, in the order first seen; d (1) dropped
    assert vocab.index_to_key == ["a", "b", "c", "e", "고양이"]
    assert vocab.counts.tolist() == [3, 2, 2, 2, 2]
    assert vocab.total_words == 12 and vocab.corpus_count == 3
    assert vocab["고양이"] == 4 and "d" not in vocab and vocab.count("a") == 3
    assert Vocabulary.build(corpus, min_count=1, lowercase=True).count("a") == 3
    assert Vocabulary.build([["A", "a"]], min_count=1, lowercase=True).index_to_key == ["a"]


def test_vocabulary_matches_gensim_build_vocab():
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    probabilities = 1.0 / np.arange(1, 301)
    probabilities /= probabilities.sum()
    corpus = [list(rng.choice(words, size=12, p=probabilities)) for _ in range(400)]
    ours = Vocabulary.build(corpus, min_count=3)
    theirs = gensim.models.Word2Vec(min_count=3, sample=1e-3, hs=1, negative=5)
    theirs.build_vocab(corpus)
    wv = theirs.wv
    assert set(ours.index_to_key) == set(wv.index_to_key)
    assert all(ours.count(k) == wv.get_vecattr(k, "count") for k in wv.index_to_key)
    # sorted by descending count (gensim breaks ties the other way round: last seen first)
    assert [ours.count(k) for k in ours.index_to_key] == [wv.get_vecattr(k, "count") for k in wv.index_to_key]
    sample_ints = ours.sample_ints(1e-3)
    assert all(sample_ints[ours[k]] == wv.get_vecattr(k, "sample_int") for k in wv.index_to_key)
    # both Huffman trees are optimal: the same expected code length
    ours_length = sum(ours.count(k) * ours.huffman_tree().lengths[ours[k]] for k in ours.index_to_key)
    theirs_length = sum(wv.get_vecattr(k, "count") * len(wv.get_vecattr(k, "code")) for k in wv.index_to_key)
    assert ours_length == theirs_length
    # gensim's max_final_vocab rule
    for limit in (10, 57, 1000):
        capped = Vocabulary.build(corpus, min_count=1, max_final_vocab=limit)
        g = gensim.models.Word2Vec(min_count=1, max_final_vocab=limit)
        g.build_vocab(corpus)
        assert set(capped.index_to_key) == set(g.wv.index_to_key)


def test_vocabulary_max_vocab_size_prunes_during_the_scan():
    corpus = [["common"] * 5 + [f"rare{i}"] for i in range(50)]
    vocab = Vocabulary.build(corpus, min_count=1, max_vocab_size=10)
    assert "common" in vocab and vocab.count("common") == 250
    assert len(vocab) <= 10


def test_vocabulary_file_roundtrip_and_errors(tmp_path):
    vocab = tiny_vocab()
    path = tmp_path / "vocab.txt"
    vocab.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "the 120" and lines[5] == "고양이 12" and len(lines) == len(WORDS)
    assert Vocabulary.load(path) == vocab
    path.write_text("the 3\ncat x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab\.txt, line 2: count 'x' of 'cat' is not an integer"):
        Vocabulary.load(path)
    path.write_text("the 3\ncat 2 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: expected 'word count'"):
        Vocabulary.load(path)
    path.write_text("the 3\nthe 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: duplicate word 'the' \(first on line 1\)"):
        Vocabulary.load(path)
    with pytest.raises(ValueError, match="whitespace"):
        Vocabulary(["new york"], [1]).save(tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="duplicate word 'a'"):
        Vocabulary(["a", "b", "a"])


def test_vocabulary_rejects_untokenized_sentences():
    with pytest.raises(TypeError, match="is a str"):
        Vocabulary.build(["the cat sat", "on the mat"])


def test_huffman_codes_are_prefix_free_and_frequent_words_get_short_codes():
    rng = np.random.default_rng(1)
    counts = np.sort(rng.integers(1, 10_000, size=200))[::-1].copy()
    counts[50:60] = counts[50]  # ties
    tree = build_huffman_tree(counts)
    codes = ["".join(map(str, tree.codes[w, : tree.lengths[w]])) for w in range(len(counts))]
    assert len(set(codes)) == len(codes)
    for a in codes:
        for b in codes:
            assert a == b or not b.startswith(a), f"{a} is a prefix of {b}"
    # a more frequent word never has a longer code
    for w in range(len(counts) - 1):
        if counts[w] > counts[w + 1]:
            assert tree.lengths[w] <= tree.lengths[w + 1]
    # every path starts at the root (inner node V-2) and visits inner nodes 0..V-2
    assert (tree.points[:, 0] == len(counts) - 2).all()
    assert tree.points.max() <= len(counts) - 2 and tree.points.min() >= 0
    # Kraft equality: a full binary tree
    assert math.isclose(sum(2.0 ** -tree.lengths), 1.0)
    # unsorted counts get the same code lengths per word
    order = rng.permutation(len(counts))
    shuffled = build_huffman_tree(counts[order])
    assert (shuffled.lengths * counts[order]).sum() == (tree.lengths * counts).sum()
    with pytest.raises(ValueError, match="at least 2 words"):
        build_huffman_tree(np.array([5]))


def test_negative_sampling_table_follows_unigram_to_the_075():
    from hf_models.word2vec import kernels

    counts = np.array(COUNTS)
    table = build_cum_table(counts, 0.75)
    expected = counts**0.75 / (counts**0.75).sum()
    assert table[-1] == 2**31 - 1
    assert np.allclose(np.diff(np.concatenate([[0], table.astype(np.float64)])) / table[-1], expected, atol=1e-9)
    # the kernels' draws (LCG + bisection through the guide table) are gensim's and follow the distribution
    guide, shift = kernels.build_guide_table(table)
    state = np.uint64(12345)
    draws = []
    for _ in range(20_000):
        x = int((int(state) >> 16) % int(table[-1]))
        word = kernels.draw_noise_word(table, guide, shift, state)
        assert word == bisect.bisect_left(table.tolist(), x)
        draws.append(word)
        state = kernels.next_random_state(state)
    observed = np.bincount(draws, minlength=len(counts))
    assert chisquare(observed, expected * len(draws)).pvalue > 1e-3
    # a uniform sampler would fail the same test
    assert chisquare(observed, np.full(len(counts), len(draws) / len(counts))).pvalue < 1e-6
    # the torch path samples from the same distribution
    torch.manual_seed(0)
    model = tiny_model()
    sampled = model.sample_negatives((20_000,), torch.device("cpu")).numpy()
    assert chisquare(np.bincount(sampled, minlength=len(counts)), expected * 20_000).pvalue > 1e-3


def test_subsampling_keep_probabilities_follow_gensims_formula():
    vocab = Vocabulary(["a", "b", "c"], [10_000, 100, 1])
    total = 10_101
    t = 1e-3
    expected = [min(1.0, (math.sqrt(c / (t * total)) + 1) * (t * total) / c) for c in (10_000, 100, 1)]
    assert np.allclose(vocab.keep_probabilities(t), expected)
    assert vocab.sample_ints(t).tolist() == [int(p * (2**32 - 1)) for p in expected]
    assert (vocab.keep_probabilities(0) == 1).all()


# ----------------------------------------------------------------------------------------------------------------------
# The objectives against naive per-pair references
# ----------------------------------------------------------------------------------------------------------------------
def log_sigmoid(x: float) -> float:
    return -np.logaddexp(0.0, -x)


def reference_loss(model, inputs: list[list[int]], targets: list[int], negatives=None) -> float:
    """Mean word2vec loss, one prediction at a time in float64 numpy (h = input word or context mean/sum)."""
    config = model.config
    w_in = model.input_embeddings.weight.detach().double().numpy()
    losses = []
    for p, (words, target) in enumerate(zip(inputs, targets)):
        h = w_in[words].sum(0)
        if config.architecture == "cbow" and config.cbow_mean:
            h = h / len(words)
        if config.objective == "full_softmax":
            logits = model.output_embeddings.weight.detach().double().numpy() @ h
            loss = np.logaddexp.reduce(logits) - logits[target]
        elif config.objective == "negative_sampling":
            w_out = model.output_embeddings.weight.detach().double().numpy()
            loss = -log_sigmoid(w_out[target] @ h)
            for k in negatives[p]:
                if k != target:
                    loss -= log_sigmoid(-(w_out[k] @ h))
        else:
            tree = model.vocab.huffman_tree()
            nodes = model.hs_node_embeddings.weight.detach().double().numpy()
            loss = 0.0
            for b in range(tree.lengths[target]):
                sign = 1.0 - 2.0 * tree.codes[target, b]
                loss -= log_sigmoid(sign * (nodes[tree.points[target, b]] @ h))
        losses.append(loss)
    return float(np.mean(losses))


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_loss_matches_a_naive_reference(architecture, objective):
    model = tiny_model(architecture, objective)
    rng = np.random.default_rng(7)
    negatives = rng.integers(0, len(WORDS), size=(5, 3))
    negatives[0, 1] = 2  # a noise word equal to the target is left out, as word2vec does
    targets = [2, 0, 5, 9, 6]
    if architecture == "skipgram":
        centers = [1, 3, 5, 0, 8]
        out = model(
            center_ids=torch.tensor(centers),
            context_ids=torch.tensor(targets),
            negative_ids=torch.tensor(negatives) if objective == "negative_sampling" else None,
        )
        expected = reference_loss(model, [[c] for c in centers], targets, negatives)
        assert torch.equal(out.hidden_states, model.input_embeddings.weight[centers])
    else:
        contexts = [[1, 3, 0, 0], [4, 5, 6, 7], [0, 0, 0, 0], [2, 9, 9, 0], [1, 0, 0, 0]]
        lengths = [2, 4, 3, 3, 1]
        mask = torch.tensor([[i < n for i in range(4)] for n in lengths])
        out = model(
            context_ids=torch.tensor(contexts),
            context_mask=mask,
            center_ids=torch.tensor(targets),
            negative_ids=torch.tensor(negatives) if objective == "negative_sampling" else None,
        )
        expected = reference_loss(model, [c[:n] for c, n in zip(contexts, lengths)], targets, negatives)
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    assert out.logits.shape[0] == 5
    if objective == "full_softmax":
        assert out.logits.shape == (5, len(WORDS))


@pytest.mark.parametrize("cbow_mean", [True, False])
def test_cbow_sum_and_mean(cbow_mean):
    model = tiny_model("cbow", "full_softmax", cbow_mean=cbow_mean)
    out = model(context_ids=torch.tensor([[1, 2, 3]]), center_ids=torch.tensor([0]))
    assert out.loss.item() == pytest.approx(reference_loss(model, [[1, 2, 3]], [0]), rel=1e-5)


def test_hierarchical_softmax_is_a_distribution_over_the_vocabulary():
    """sum_w p(w | h) = 1 when p is the product of the decisions along w's Huffman path."""
    model = tiny_model("skipgram", "hierarchical_softmax")
    size = len(WORDS)
    center = torch.full((size,), 4)
    out = model(center_ids=center, context_ids=torch.arange(size), return_dict=True)
    per_word = []
    for w in range(size):
        per_word.append(model(center_ids=torch.tensor([4]), context_ids=torch.tensor([w])).loss.item())
    assert sum(math.exp(-loss) for loss in per_word) == pytest.approx(1.0, abs=1e-5)
    assert out.loss.item() == pytest.approx(np.mean(per_word), rel=1e-5)


def test_skipgram_context_matrix_equals_the_flattened_pairs():
    model = tiny_model("skipgram", "full_softmax")
    contexts = torch.tensor([[1, 2, 0], [3, 0, 0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    matrix = model(center_ids=torch.tensor([5, 6]), context_ids=contexts, context_mask=mask).loss
    flat = model(center_ids=torch.tensor([5, 5, 6]), context_ids=torch.tensor([1, 2, 3])).loss
    assert matrix.item() == pytest.approx(flat.item(), rel=1e-6)


def test_labels_are_the_words_to_predict():
    model = tiny_model("skipgram", "full_softmax")
    a = model(center_ids=torch.tensor([1, 2]), labels=torch.tensor([3, 4])).loss
    b = model(center_ids=torch.tensor([1, 2]), context_ids=torch.tensor([3, 4])).loss
    assert a.item() == b.item()
    with pytest.raises(ValueError, match="labels and context_ids are both given and differ"):
        model(center_ids=torch.tensor([1, 2]), context_ids=torch.tensor([3, 4]), labels=torch.tensor([3, 5]))
    loss, logits, hidden = model(center_ids=torch.tensor([1]), labels=torch.tensor([3]), return_dict=False)
    assert loss.ndim == 0 and logits.shape == (1, len(WORDS)) and hidden.shape == (1, 8)


def test_forward_input_errors_name_the_argument():
    model = tiny_model("skipgram", "negative_sampling")
    with pytest.raises(ValueError, match=r"center_ids contains id 10, outside \[0, vocab_size=10\)"):
        model(center_ids=torch.tensor([10]), context_ids=torch.tensor([1]))
    with pytest.raises(ValueError, match=r"context_ids contains id -1"):
        model(center_ids=torch.tensor([1]), context_ids=torch.tensor([-1]))
    with pytest.raises(TypeError, match="center_ids must hold integer ids"):
        model(center_ids=torch.tensor([1.0]), context_ids=torch.tensor([1]))
    with pytest.raises(ValueError, match="negative_ids must have shape"):
        model(center_ids=torch.tensor([1, 2]), context_ids=torch.tensor([1, 3]), negative_ids=torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="needs context_ids or labels"):
        model(center_ids=torch.tensor([1]))
    with pytest.raises(ValueError, match="negative_ids are only used by objective='negative_sampling'"):
        tiny_model("skipgram", "full_softmax")(center_ids=torch.tensor([1]), context_ids=torch.tensor([2]),
                                               negative_ids=torch.tensor([[3]]))
    cbow = tiny_model("cbow", "negative_sampling")
    with pytest.raises(ValueError, match="CBOW example 1 has no context word"):
        cbow(context_ids=torch.tensor([[1, 2], [3, 4]]), context_mask=torch.tensor([[1, 0], [0, 0]]),
             center_ids=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="context_ids must have shape"):
        cbow(context_ids=torch.tensor([1, 2]), center_ids=torch.tensor([0, 1]))


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_sgd_steps_on_forward_lower_the_loss(architecture, objective):
    model = tiny_model(architecture, objective)
    if architecture == "skipgram":
        batch = {"center_ids": torch.tensor([0, 1, 2, 3, 4, 5]), "context_ids": torch.tensor([1, 0, 3, 2, 5, 4])}
    else:
        batch = {"context_ids": torch.tensor([[1, 2], [0, 2], [0, 1], [4, 5]]),
                 "center_ids": torch.tensor([0, 1, 2, 3])}
    if objective == "negative_sampling":
        batch["negative_ids"] = torch.tensor([[7, 8, 9]] * len(batch["center_ids"]))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    first = model(**batch).loss.item()
    for _ in range(30):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.7 * first
    assert all(p.grad is not None for p in model.parameters())


def test_trainer_trains_on_forward(tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    model = tiny_model("skipgram", "negative_sampling", random_weights=False)
    rng = np.random.default_rng(0)
    data = Dataset.from_dict({"center_ids": rng.integers(0, 10, 64), "labels": rng.integers(0, 10, 64)})
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=16, max_steps=4, use_cpu=True,
                             learning_rate=0.5, report_to="none", save_strategy="no", disable_tqdm=True)
    before = model.output_embeddings.weight.detach().clone()
    result = Trainer(model=model, args=args, train_dataset=data).train()
    assert math.isfinite(result.training_loss)
    assert not torch.equal(before, model.output_embeddings.weight)


# ----------------------------------------------------------------------------------------------------------------------
# Initialisation, saving, loading
# ----------------------------------------------------------------------------------------------------------------------
def test_initialisation_like_gensim():
    model = tiny_model(vector_size=20, random_weights=False, seed=5)
    weight = model.input_embeddings.weight
    assert weight.abs().max() <= 1 / 20 and weight.abs().max() > 0.8 / 20 and weight.std() > 0.4 / 20
    assert (model.output_embeddings.weight == 0).all()
    again = tiny_model(vector_size=20, random_weights=False, seed=5)
    assert torch.equal(weight, again.input_embeddings.weight)
    assert not torch.equal(weight, tiny_model(vector_size=20, random_weights=False, seed=6).input_embeddings.weight)
    hs = tiny_model(objective="hierarchical_softmax", random_weights=False)
    assert hs.hs_node_embeddings.weight.shape == (len(WORDS) - 1, 8) and (hs.hs_node_embeddings.weight == 0).all()
    assert not hasattr(hs, "output_embeddings")


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_save_and_load_roundtrip_with_vocab_txt(tmp_path, objective):
    model = tiny_model("cbow", objective)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()[5] == "고양이 12"
    loaded = Word2VecModel.from_pretrained(tmp_path)
    assert loaded.vocab == model.vocab
    ignore = {"_name_or_path"}
    assert {k: v for k, v in loaded.config.to_dict().items() if k not in ignore} == {
        k: v for k, v in model.config.to_dict().items() if k not in ignore
    }
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert np.array_equal(loaded.wv.vectors, model.wv.vectors)
    batch = {"context_ids": torch.tensor([[1, 2]]), "center_ids": torch.tensor([0])}
    if objective == "negative_sampling":
        batch["negative_ids"] = torch.tensor([[3, 4, 5]])
    assert loaded(**batch).loss.item() == model(**batch).loss.item()


def test_from_pretrained_without_vocab_txt_is_a_clear_error(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    os.remove(tmp_path / "vocab.txt")
    with pytest.raises(OSError, match="has no vocab.txt"):
        Word2VecModel.from_pretrained(tmp_path)
    Vocabulary(WORDS[:4], COUNTS[:4]).save(tmp_path / "vocab.txt")
    with pytest.raises(ValueError, match="lists 4 words but config.json says vocab_size=10"):
        Word2VecModel.from_pretrained(tmp_path)


def test_push_to_hub_uploads_vocab_txt(monkeypatch):
    from compat import record_hub_commits

    commits = record_hub_commits(monkeypatch)
    tiny_model().push_to_hub("someone/tiny-word2vec")
    uploaded = commits[-1]["files"]
    assert {"vocab.txt", "config.json", "model.safetensors", "modeling_word2vec.py", "vocabulary.py"} <= set(uploaded)
    assert uploaded["vocab.txt"].decode("utf-8").splitlines()[:2] == ["the 120", "cat 40"]


@pytest.mark.slow
def test_saved_folder_loads_with_remote_code_without_hf_models(tmp_path):
    model = tiny_model("skipgram", "hierarchical_softmax")
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_word2vec.Word2VecModel"
    result = run_without_hf_models(
        r"""
        import torch
        from transformers import AutoModel

        model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)
        out = model(center_ids=torch.tensor([1, 2]), context_ids=torch.tensor([3, 5]))
        print(json.dumps({"loss": out.loss.item(), "words": model.vocab.index_to_key,
                          "module": type(model).__module__}))
        """,
        tmp_path,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert not payload["module"].startswith("hf_models")
    assert payload["words"] == WORDS
    expected = model(center_ids=torch.tensor([1, 2]), context_ids=torch.tensor([3, 5])).loss.item()
    assert payload["loss"] == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# Word vectors: wv, from_keyed_vectors, word2vec files, other models
# ----------------------------------------------------------------------------------------------------------------------
def test_wv_is_keyed_vectors_of_the_input_embeddings():
    model = tiny_model()
    kv = model.wv
    assert isinstance(kv, KeyedVectors)
    assert kv.index_to_key == WORDS and kv.vectors.dtype == np.float32
    assert np.array_equal(kv.vectors, model.input_embeddings.weight.detach().numpy())
    assert kv.counts.tolist() == COUNTS
    assert np.array_equal(kv["고양이"], kv.vectors[5])
    before = model.input_embeddings.weight.detach().clone()
    with pytest.raises(ValueError, match="read-only"):  # a view of the weights: edits go through the model
        kv.vectors[0] += 1
    assert torch.equal(model.input_embeddings.weight, before)


def _assert_wv_matches(model, kv):
    """kv holds the model's current input vectors, and its similarities come from them (no stale norms)."""
    weight = model.input_embeddings.weight.detach().to("cpu", torch.float32).numpy()
    assert kv.index_to_key == list(model.vocab.index_to_key)
    assert np.array_equal(kv.vectors, weight)
    unit = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    np.testing.assert_allclose(kv.get_normed_vectors(), unit, rtol=1e-5, atol=1e-6)
    assert kv.similarity("cat", "dog") == pytest.approx(float(unit[1] @ unit[8]), abs=1e-5)
    nearest = [key for key, _ in kv.most_similar("cat", topn=3)]
    scores = unit @ unit[1]
    scores[1] = -np.inf
    assert nearest == [model.vocab.index_to_key[i] for i in np.argsort(-scores, kind="stable")[:3]]


def test_wv_is_built_once_and_shares_the_weights_memory():
    model = tiny_model()
    kv = model.wv
    assert model.wv is kv  # not a new table on every access
    assert np.shares_memory(kv.vectors, model.input_embeddings.weight.detach().numpy())  # and not a copy
    kv.most_similar("cat")  # fills the norms cache
    # an in-place update through torch (an optimizer step, load_state_dict): same object, new values and norms
    with torch.no_grad():
        model.input_embeddings.weight[1] *= -3.0
        model.input_embeddings.weight[8].copy_(model.input_embeddings.weight[2] * 2)
    assert model.wv is kv
    _assert_wv_matches(model, kv)
    model.load_state_dict({k: torch.randn_like(v) for k, v in model.state_dict().items()})
    assert model.wv is kv
    _assert_wv_matches(model, kv)


def test_wv_follows_replaced_weights_vocabularies_and_loads(tmp_path):
    model = tiny_model()
    kv = model.wv
    kv.most_similar("cat")
    # load_embeddings_into a Word2VecModel writes rows of its weight
    source = KeyedVectors(["cat", "dog"], np.full((2, 8), 0.25, dtype=np.float32))
    assert load_embeddings_into(model, source, model.vocab) == 2
    assert model.wv is kv and np.allclose(kv["cat"], 0.25)
    _assert_wv_matches(model, kv)
    # the user assigns new weights: a new Parameter, a new Embedding, new data under the same Parameter
    model.input_embeddings.weight = torch.nn.Parameter(torch.randn(len(WORDS), 8))
    assert model.wv is not kv
    _assert_wv_matches(model, model.wv)
    model.set_input_embeddings(torch.nn.Embedding(len(WORDS), 8))
    _assert_wv_matches(model, model.wv)
    held = model.wv
    model.input_embeddings.weight.data = torch.randn(len(WORDS), 8)
    assert model.wv is not held
    _assert_wv_matches(model, model.wv)
    # resizing the embeddings needs a vocabulary of the new size
    model.resize_token_embeddings(len(WORDS) + 2)
    with pytest.raises(ValueError, match=r"input_embeddings has 12 rows but the vocabulary has 10 words"):
        _ = model.wv
    model.vocab = Vocabulary(WORDS + ["새", "bird"], COUNTS + [1, 1])
    assert model.wv.index_to_key[-2:] == ["새", "bird"]
    _assert_wv_matches(model, model.wv)
    # a saved and loaded model: its own vectors
    model = tiny_model()
    model.save_pretrained(tmp_path / "saved")
    loaded = Word2VecModel.from_pretrained(tmp_path / "saved")
    assert loaded.wv is loaded.wv
    _assert_wv_matches(loaded, loaded.wv)
    assert np.array_equal(loaded.wv.vectors, model.wv.vectors)
    # assigning wv.vectors detaches that object; the model's wv stays the model's vectors
    detached = loaded.wv
    detached.vectors = np.zeros_like(detached.vectors)
    assert loaded.wv is not detached
    _assert_wv_matches(loaded, loaded.wv)


def test_wv_of_weights_in_another_dtype_is_a_refreshed_copy():
    model = tiny_model().double()
    kv = model.wv
    assert kv.vectors.dtype == np.float32 and model.wv is kv
    kv.most_similar("cat")
    with torch.no_grad():
        model.input_embeddings.weight[1] *= -3.0
    assert model.wv is kv  # refreshed in place
    _assert_wv_matches(model, kv)
    assert not np.shares_memory(kv.vectors, model.input_embeddings.weight.detach().numpy())


def test_from_keyed_vectors_and_word2vec_files(tmp_path):
    model = tiny_model()
    kv = model.wv
    rebuilt = Word2VecModel.from_keyed_vectors(kv, objective="hierarchical_softmax")
    assert rebuilt.vocab == model.vocab and rebuilt.config.objective == "hierarchical_softmax"
    assert torch.equal(rebuilt.input_embeddings.weight, model.input_embeddings.weight)
    kv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    model.vocab.save(tmp_path / "counts.txt")
    from_file = Word2VecModel.from_word2vec_format(tmp_path / "v.bin", binary=True, vocab_file=tmp_path / "counts.txt")
    assert from_file.vocab == model.vocab
    assert torch.equal(from_file.input_embeddings.weight, model.input_embeddings.weight)
    without_counts = Word2VecModel.from_word2vec_format(tmp_path / "v.bin", binary=True)
    assert without_counts.vocab.counts.tolist() == list(range(len(WORDS), 0, -1))  # gensim's stand-in counts
    with pytest.raises(ValueError, match="vector_size=4 but the vectors have 8 dimensions"):
        Word2VecModel.from_keyed_vectors(kv, config=Word2VecConfig(vocab_size=10, vector_size=4))


def test_load_embeddings_into_a_tiny_bert_with_a_word_level_vocab():
    from hf_models import BertConfig, BertModel

    w2v = tiny_model(vector_size=16)
    kv = w2v.wv
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "The", "cat", "고양이", "unknown", "DOG"]
    bert = BertModel(BertConfig(vocab_size=len(tokens), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32))
    before = bert.get_input_embeddings().weight.detach().clone()
    filled = load_embeddings_into(bert, kv, {t: i for i, t in enumerate(tokens)})
    weight = bert.get_input_embeddings().weight.detach()
    assert filled == 4  # The -> the, cat, 고양이, DOG -> dog (case-insensitive fallback)
    assert np.allclose(weight[4].numpy(), kv["the"]) and np.allclose(weight[6].numpy(), kv["고양이"])
    assert np.allclose(weight[8].numpy(), kv["dog"])
    assert torch.equal(weight[7], before[7]) and torch.equal(weight[0], before[0])
    assert load_embeddings_into(bert, kv, tokens, case_insensitive=False) == 2
    out = bert(input_ids=torch.tensor([[2, 4, 5, 6, 3]]))
    assert out.last_hidden_state.shape == (1, 5, 16)


def test_load_embeddings_into_an_embedding_freezes_and_checks_dimensions():
    kv = tiny_model(vector_size=8).wv
    embedding = torch.nn.Embedding(4, 8)
    assert load_embeddings_into(embedding, kv, ["cat", "sat", "zzz", "개"], freeze=True) == 3
    assert np.allclose(embedding.weight[3].detach().numpy(), kv["개"])
    assert not embedding.weight.requires_grad
    with pytest.raises(ValueError, match="8 dimensions but the embedding has embedding_dim=5"):
        load_embeddings_into(torch.nn.Embedding(4, 5), kv, ["cat"])
    with pytest.raises(ValueError, match="token 'cat' has id 9, outside the embedding's 4 rows"):
        load_embeddings_into(embedding, kv, {"cat": 9})
    with pytest.raises(TypeError, match="nn.Embedding or a model"):
        load_embeddings_into(object(), kv, ["cat"])
    # a Word2VecModel works as the source too
    assert load_embeddings_into(torch.nn.Embedding(2, 8), tiny_model(vector_size=8), ["the", "mat"]) == 2
    assert load_embeddings_into(torch.nn.Embedding(3, 8), kv, Vocabulary(["a", "b", "the"])) == 2


def test_vectors_load_into_an_lstm_language_model():
    """The learned input embedding becomes the embedding layer of hf_models' LSTM (issue 4: 'for example as an LSTM's
    embedding layer'); words the vectors do not know keep their own initialisation."""
    from hf_models import RnnConfig, RnnForCausalLM

    model = tiny_model()
    kv = model.wv
    words = kv.index_to_key[:3]
    vocab = {"<pad>": 0, **{word: i + 1 for i, word in enumerate(words)}, "미지의": len(words) + 1}
    lstm = RnnForCausalLM(RnnConfig(vocab_size=len(vocab), embedding_size=kv.vector_size, hidden_size=8,
                                    num_layers=1))
    before = lstm.get_input_embeddings().weight[len(words) + 1].clone()
    assert load_embeddings_into(lstm, kv, vocab) == len(words)
    weight = lstm.get_input_embeddings().weight
    for word in words:
        torch.testing.assert_close(weight[vocab[word]], torch.tensor(kv[word]))
    torch.testing.assert_close(weight[len(words) + 1], before)
