"""word2vec training: the compiled kernels against the torch objective (weight updates of one pair), learning on
corpora with a known structure (all architectures and objectives, and gensim on the same corpus), the threaded
trainer (1 and 2 workers, determinism, learning-rate schedule, callbacks, errors), the corpus readers and the
train_word2vec command line end to end."""

from __future__ import annotations

import bisect
import bz2
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import requires_shared_data

from hf_models.word2vec import (
    KeyedVectors,
    LineSentence,
    Vocabulary,
    Word2VecCallback,
    Word2VecConfig,
    Word2VecModel,
    as_corpus,
    build_and_train,
    kernels,
    train_word2vec,
)

WORDS = ["the", "cat", "sat", "on", "mat", "고양이"]
COUNTS = [50, 30, 20, 10, 7, 3]


def topic_corpus(sentences=600, length=8, seed=0):
    """Sentences drawn from one of two disjoint vocabularies (Latin and Korean words): a structure to learn."""
    rng = np.random.default_rng(seed)
    first = [f"a{i}" for i in range(20)]
    second = [f"나{i}" for i in range(20)]
    corpus = [list(rng.choice(first if s % 2 == 0 else second, size=length)) for s in range(sentences)]
    return corpus, first, second


def separation(kv: KeyedVectors, first, second) -> tuple[float, float]:
    """Mean cosine similarity of same-topic pairs and of cross-topic pairs."""
    unit = kv.get_normed_vectors()
    a = [kv.get_index(w) for w in first]
    b = [kv.get_index(w) for w in second]
    sims = unit @ unit.T
    n = len(a)
    within = (sims[np.ix_(a, a)].sum() - n + sims[np.ix_(b, b)].sum() - n) / (2 * n * (n - 1))
    return float(within), float(sims[np.ix_(a, b)].mean())


# ----------------------------------------------------------------------------------------------------------------------
# Kernels against the torch objective
# ----------------------------------------------------------------------------------------------------------------------
def random_model(architecture, objective, cbow_mean=True, vector_size=12):
    config = Word2VecConfig(architecture=architecture, objective=objective, vector_size=vector_size, negative=3,
                            window=1, shrink_windows=False, sample=0, cbow_mean=cbow_mean)
    model = Word2VecModel(config, vocab=Vocabulary(WORDS, COUNTS))
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


def run_kernel(model, sentence, alpha, state):
    """One train_batch call on numpy copies of the weights; returns the updated copies and the summed loss."""
    config = model.config
    vocab = model.vocab
    syn0 = model.input_embeddings.weight.detach().numpy().copy()
    size = config.vector_size
    hierarchical = config.objective == "hierarchical_softmax"
    empty = np.zeros((0, size), np.float32)
    syn1neg = empty if hierarchical else model.output_embeddings.weight.detach().numpy().copy()
    syn1 = model.hs_node_embeddings.weight.detach().numpy().copy() if hierarchical else np.zeros((0, size), np.float32)
    tree = vocab.huffman_tree()
    table = vocab.cum_table()
    guide, shift = kernels.build_guide_table(table)
    effective, loss, predictions, _ = kernels.train_batch(
        syn0, syn1neg, syn1, np.array(sentence, np.int32), np.array([0, len(sentence)], np.int64),
        vocab.sample_ints(0), table, guide, shift, tree.codes, tree.points, tree.lengths,
        config.architecture == "skipgram", hierarchical, 0 if hierarchical else config.negative, config.window,
        False, config.cbow_mean, False, alpha, alpha, np.uint64(state), True,
    )
    assert effective == len(sentence)
    return {"input_embeddings": syn0, "output_embeddings": syn1neg, "hs_node_embeddings": syn1}, loss, predictions


def gensim_draws(table, state, count):
    """The noise words word2vec.c/gensim draw from `state`: bisect_left((state >> 16) mod table[-1]), then the LCG."""
    words = []
    for _ in range(count):
        words.append(bisect.bisect_left(table.tolist(), (state >> 16) % int(table[-1])))
        state = (state * 25214903917 + 11) & 0xFFFFFFFFFFFF
    return words


def torch_gradients(model, batch):
    """Gradients of the summed loss of `batch` (a single prediction or several) with respect to every table."""
    model.zero_grad()
    out = model(**batch)
    (out.loss * len(batch["center_ids"])).backward()
    grads = {name.split(".")[0]: p.grad.detach().numpy().copy() for name, p in model.named_parameters()}
    return grads, out.loss.item() * len(batch["center_ids"])


@pytest.mark.parametrize("objective", ["negative_sampling", "hierarchical_softmax"])
def test_skipgram_kernel_updates_are_sgd_steps_on_the_torch_loss(objective):
    """Sentence [cat, on], window 1: the pairs (input on -> predict cat) then (input cat -> predict on)."""
    model = random_model("skipgram", objective)
    state = 987654321
    alpha = 1e-3
    updated, kernel_loss, predictions = run_kernel(model, [1, 3], alpha, state)
    assert predictions == 2
    batch = {"center_ids": torch.tensor([3, 1]), "context_ids": torch.tensor([1, 3])}
    if objective == "negative_sampling":
        batch["negative_ids"] = torch.tensor(gensim_draws(model.vocab.cum_table(), state, 6)).view(2, 3)
    grads, torch_loss = torch_gradients(model, batch)
    assert kernel_loss == pytest.approx(torch_loss, rel=1e-3)
    for name, p in model.named_parameters():
        name = name.split(".")[0]
        step = (updated[name] - p.detach().numpy()) / alpha
        np.testing.assert_allclose(step, -grads[name], rtol=2e-2, atol=2e-3, err_msg=name)
        assert np.abs(grads[name]).max() > 0.05, name  # the comparison is not vacuous


@pytest.mark.parametrize("cbow_mean", [True, False])
@pytest.mark.parametrize("objective", ["negative_sampling", "hierarchical_softmax"])
def test_cbow_kernel_updates_are_gensims_steps_on_the_torch_loss(objective, cbow_mean):
    """Sentence [cat, sat, mat], window 1: predict cat from {sat}, sat from {cat, mat}, mat from {sat}.

    The output vectors take exact SGD steps. As in word2vec.c and gensim, each context vector receives the gradient
    of h itself: with the mean that is n times dL/dv (n context words), with the sum gensim divides it by n.
    """
    model = random_model("cbow", objective, cbow_mean=cbow_mean)
    state = 42
    alpha = 1e-3
    sentence = [1, 2, 4]
    updated, kernel_loss, predictions = run_kernel(model, sentence, alpha, state)
    assert predictions == 3
    contexts = [[2], [1, 4], [2]]
    draws = gensim_draws(model.vocab.cum_table(), state, 9)
    expected = {name.split(".")[0]: np.zeros_like(p.detach().numpy()) for name, p in model.named_parameters()}
    total_loss = 0.0
    for i, context in enumerate(contexts):
        batch = {"context_ids": torch.tensor([context]), "center_ids": torch.tensor([sentence[i]])}
        if objective == "negative_sampling":
            batch["negative_ids"] = torch.tensor([draws[3 * i: 3 * i + 3]])
        grads, loss = torch_gradients(model, batch)
        total_loss += loss
        factor = len(context) if cbow_mean else 1.0 / len(context)
        for name in expected:
            expected[name] -= grads[name] * (factor if name == "input_embeddings" else 1.0)
    assert kernel_loss == pytest.approx(total_loss, rel=1e-3)
    for name, p in model.named_parameters():
        name = name.split(".")[0]
        step = (updated[name] - p.detach().numpy()) / alpha
        np.testing.assert_allclose(step, expected[name], rtol=2e-2, atol=2e-3, err_msg=name)


def test_kernel_skips_out_of_vocabulary_ids_and_subsamples():
    model = random_model("skipgram", "negative_sampling")
    _, _, predictions = run_kernel(model, [1, 3], 0.01, 1)
    vocab = model.vocab
    syn0 = model.input_embeddings.weight.detach().numpy().copy()
    table = vocab.cum_table()
    guide, shift = kernels.build_guide_table(table)
    empty = np.zeros((0, 0), np.int32)
    args = (syn0, model.output_embeddings.weight.detach().numpy().copy(), np.zeros((0, 12), np.float32))
    # ids -1 (unknown words) are dropped: [cat, <unk>, on] trains the same two pairs as [cat, on]
    effective, _, predictions_unk, _ = kernels.train_batch(
        *args, np.array([1, -1, 3], np.int32), np.array([0, 3], np.int64), vocab.sample_ints(0), table, guide,
        shift, empty.astype(np.uint8), empty, np.zeros(0, np.int32), True, False, 3, 1, False, True, False, 0.01,
        0.01, np.uint64(1), True)
    assert (effective, predictions_unk) == (2, predictions)
    # subsampling with a tiny threshold drops most occurrences of the frequent words
    ids = np.zeros(10_000, np.int32)
    effective, _, _, _ = kernels.train_batch(
        *args, ids, np.array([0, 10_000], np.int64), vocab.sample_ints(1e-5), table, guide, shift,
        empty.astype(np.uint8), empty, np.zeros(0, np.int32), True, False, 3, 1, False, True, True, 0.0, 0.0,
        np.uint64(1), False)
    keep = vocab.keep_probabilities(1e-5)[0]
    assert abs(effective / 10_000 - keep) < 0.02


# ----------------------------------------------------------------------------------------------------------------------
# Learning
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "architecture, objective",
    [("skipgram", "negative_sampling"), ("cbow", "negative_sampling"), ("skipgram", "hierarchical_softmax"),
     ("cbow", "hierarchical_softmax"), ("skipgram", "full_softmax"), ("cbow", "full_softmax")],
)
def test_training_learns_two_disjoint_topics(architecture, objective):
    corpus, first, second = topic_corpus()
    config = Word2VecConfig(architecture=architecture, objective=objective, vector_size=16, window=3, min_count=1,
                            sample=0, epochs=4)
    model, stats = build_and_train(corpus, config, workers=2, progress=False)
    within, cross = separation(model.wv, first, second)
    assert within > 0.8 and within - cross > 0.5, (within, cross)
    losses = [e.loss for e in stats.epochs]
    assert losses[-1] < losses[0]
    assert stats.raw_words == 4 * sum(len(s) for s in corpus)


def test_gensim_learns_the_same_structure_and_reads_our_vectors(tmp_path):
    gensim = pytest.importorskip("gensim")
    corpus, first, second = topic_corpus()
    ours, _ = build_and_train(corpus, vector_size=16, window=3, min_count=1, sample=0, epochs=4, progress=False)
    theirs = gensim.models.Word2Vec(corpus, vector_size=16, window=3, min_count=1, sample=0, epochs=4, sg=1, seed=1)
    ours_within, ours_cross = separation(ours.wv, first, second)
    theirs_within, theirs_cross = separation(KeyedVectors(theirs.wv.index_to_key, theirs.wv.vectors), first, second)
    assert ours_within - ours_cross > 0.5 and theirs_within - theirs_cross > 0.5
    assert abs(ours_within - theirs_within) < 0.1
    ours.wv.save_word2vec_format(str(tmp_path / "ours.bin"), binary=True)
    loaded = gensim.models.KeyedVectors.load_word2vec_format(str(tmp_path / "ours.bin"), binary=True)
    assert loaded.index_to_key == ours.vocab.index_to_key
    assert np.array_equal(loaded.vectors, ours.wv.vectors)


def test_one_worker_is_deterministic_and_two_workers_train_too():
    corpus, first, second = topic_corpus(sentences=400)
    config = {"vector_size": 12, "window": 2, "min_count": 1, "epochs": 3, "sample": 0}
    a, _ = build_and_train(corpus, workers=1, progress=False, **config)
    b, _ = build_and_train(corpus, workers=1, progress=False, **config)
    assert torch.equal(a.input_embeddings.weight, b.input_embeddings.weight)
    assert torch.equal(a.output_embeddings.weight, b.output_embeddings.weight)
    c, stats = build_and_train(corpus, workers=2, progress=False, **config)
    assert stats.workers == 2 and stats.effective_words > 0
    assert not torch.equal(c.input_embeddings.weight, Word2VecModel(c.config, vocab=c.vocab).input_embeddings.weight)
    within, cross = separation(c.wv, first, second)
    assert within - cross > 0.3
    # a second call draws fresh random numbers instead of repeating the first call's
    d, _ = build_and_train(corpus, workers=1, progress=False, **config)
    before = d.input_embeddings.weight.detach().clone()
    train_word2vec(a, corpus, epochs=1, workers=1, progress=False)
    train_word2vec(d, corpus, epochs=1, workers=1, progress=False)
    assert torch.equal(a.input_embeddings.weight, d.input_embeddings.weight)
    assert not torch.equal(before, d.input_embeddings.weight)


def test_learning_rate_schedule_callbacks_and_stats():
    corpus, _, _ = topic_corpus(sentences=300)
    config = Word2VecConfig(vector_size=8, min_count=1, epochs=3, alpha=0.05, min_alpha=0.001, batch_words=500)
    events = []

    class Recorder(Word2VecCallback):
        def on_train_begin(self, model):
            events.append("begin")

        def on_epoch_begin(self, model, epoch):
            events.append(f"epoch {epoch}")

        def on_epoch_end(self, model, epoch, stats):
            events.append((epoch, stats.alpha))

        def on_train_end(self, model, stats):
            events.append("end")

    _, stats = build_and_train(corpus, config, workers=2, progress=False, callbacks=[Recorder()])
    assert events[0] == "begin" and events[-1] == "end" and events[1] == "epoch 0"
    alphas = [e[1] for e in events if isinstance(e, tuple)]
    # the rate decays linearly over all words: 2/3, 1/3 and none of the way left after each epoch
    assert alphas == pytest.approx([0.05 - 0.049 / 3, 0.05 - 2 * 0.049 / 3, 0.001], rel=1e-6)
    assert len(stats.epochs) == 3 and stats.raw_words == 3 * 2400
    summary = stats.to_dict()
    assert summary["epochs"] == 3 and len(summary["per_epoch"]) == 3 and summary["words_per_second"] > 0
    json.dumps(summary)


def test_unknown_words_count_as_raw_words_only():
    corpus = [["a", "b", "a", f"rare{i}"] for i in range(40)]
    model, stats = build_and_train(corpus, vector_size=4, min_count=3, sample=0, epochs=1, progress=False)
    assert model.vocab.index_to_key == ["a", "b"]
    assert stats.raw_words == 160 and stats.effective_words == 120  # the 40 rare words are read, not trained


def test_long_sentences_are_split_and_other_dtypes_are_trained_through_a_copy():
    corpus = [[f"w{i % 7}" for i in range(25)]] * 4
    config = Word2VecConfig(vector_size=6, min_count=1, sample=0, epochs=1, max_sentence_length=10)
    model, stats = build_and_train(corpus, config, progress=False)
    assert stats.raw_words == 100 and stats.effective_words == 100
    model = model.to(torch.float64)
    before = model.input_embeddings.weight.detach().clone()
    train_word2vec(model, corpus, epochs=1, progress=False)
    assert model.input_embeddings.weight.dtype == torch.float64
    assert not torch.equal(before, model.input_embeddings.weight)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_wv_follows_the_kernels_in_place_updates(dtype):
    """model.wv is built once; the kernels write the weights through numpy (torch sees no change), yet wv, a reference
    held across training and what a callback reads at each epoch's end all give the trained vectors and norms."""
    corpus, _, _ = topic_corpus(sentences=200)
    model, _ = build_and_train(corpus, vector_size=8, min_count=1, sample=0, epochs=1, workers=1, progress=False)
    model = model.to(dtype)  # float32: wv views the weights; float64: trained through a copy, wv is a copy too
    kv = model.wv
    assert model.wv is kv
    kv.most_similar("a0")  # fills the cached norms
    seen = []

    class Reader(Word2VecCallback):
        def on_epoch_end(self, model, epoch, stats):
            wv = model.wv
            seen.append((wv is kv, np.array_equal(wv.vectors, model.input_embeddings.weight.detach().float().numpy()),
                         wv.vectors.copy()))

    train_word2vec(model, corpus, epochs=2, workers=1, progress=False, callbacks=[Reader()])
    assert [(same, equal) for same, equal, _ in seen] == [(True, True), (True, True)]
    assert not np.array_equal(seen[0][2], seen[1][2])  # each epoch's end saw that epoch's vectors
    weight = model.input_embeddings.weight.detach().float().numpy()
    assert model.wv is kv and np.array_equal(kv.vectors, weight)
    unit = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    np.testing.assert_allclose(kv.get_normed_vectors(), unit, rtol=1e-5, atol=1e-6)
    assert kv.similarity("a0", "나0") == pytest.approx(float(unit[kv.get_index("a0")] @ unit[kv.get_index("나0")]),
                                                      abs=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# The kernels' compilation: announced, and cached in the user's cache folder (never inside the package)
# ----------------------------------------------------------------------------------------------------------------------
def test_kernel_cache_dir_honours_numba_then_hf_models_then_xdg(monkeypatch, tmp_path):
    for name in ("NUMBA_CACHE_DIR", "HF_MODELS_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert kernels.kernel_cache_dir() == str(tmp_path / "home" / ".cache" / "hf_models" / "numba")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernels.kernel_cache_dir() == str(tmp_path / "xdg" / "hf_models" / "numba")
    monkeypatch.setenv("HF_MODELS_CACHE", str(tmp_path / "hf"))
    assert kernels.kernel_cache_dir() == str(tmp_path / "hf" / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert kernels.kernel_cache_dir() == str(tmp_path / "numba")


_TRAIN_ONCE = textwrap.dedent("""
    from hf_models.word2vec import build_and_train
    build_and_train([["a", "b", "c", "a", "b"]] * 5, vector_size=4, min_count=1, epochs=1, workers=1, progress=False)
""")
# a copy of kernels.py in a read-only folder, imported as a module of its own, compiling its smallest kernel
_READ_ONLY_COPY = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    spec = importlib.util.spec_from_file_location("kernels_copy", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.next_random_state(np.uint64(1)) == 25214903928
""")


def _run(code, env, *args):
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=1200,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_kernels_announce_their_compilation_and_cache_in_the_user_folder(tmp_path):
    """A cold cache compiles with a warning (shown without any logging set up) naming the cache folder, which is
    $XDG_CACHE_HOME/hf_models/numba; a warm one loads silently; nothing is written inside the package, and a package
    folder that is read-only still gets its kernels cached; NUMBA_CACHE_DIR, when set, is where they go."""
    package = Path(kernels.__file__).parent

    def in_tree():
        return {path: path.stat().st_mtime_ns for path in package.rglob("*.nb[ic]")}

    before = in_tree()
    env = {key: value for key, value in os.environ.items() if key not in ("NUMBA_CACHE_DIR", "HF_MODELS_CACHE")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    cache = tmp_path / "xdg" / "hf_models" / "numba"

    cold = _run(_TRAIN_ONCE, env)
    names = [path.name for path in cache.rglob("*") if path.is_file()]
    assert any(name.startswith("kernels.train_batch") and name.endswith(".nbi") for name in names), names
    assert any(name.startswith("kernels.train_batch") and name.endswith(".nbc") for name in names), names
    assert "Compiling the word2vec kernel train_batch with numba" in cold.stderr
    assert str(cache) in cold.stderr
    assert in_tree() == before, "kernels were cached inside the package"

    warm = _run(_TRAIN_ONCE, env)
    assert "Compiling" not in warm.stderr + warm.stdout

    read_only = tmp_path / "read_only_package"
    read_only.mkdir()
    shutil.copy(package / "kernels.py", read_only / "kernels.py")
    read_only.chmod(0o555)
    try:
        copy = _run(_READ_ONLY_COPY, env, str(read_only / "kernels.py"))
    finally:
        read_only.chmod(0o755)
    assert sorted(path.name for path in read_only.iterdir()) == ["kernels.py"]
    assert "Compiling the word2vec kernel next_random_state" in copy.stderr
    assert list(cache.glob("read_only_package_*/kernels.next_random_state-*.nbi"))

    numba_dir = tmp_path / "numba_cache_dir"
    _run(_READ_ONLY_COPY, {**env, "NUMBA_CACHE_DIR": str(numba_dir)}, str(read_only / "kernels.py"))
    assert list(numba_dir.glob("read_only_package_*/kernels.next_random_state-*.nbi"))


def test_errors_in_the_corpus_reach_the_caller_instead_of_hanging():
    class Flaky:
        def __init__(self):
            self.passes = 0

        def __iter__(self):
            self.passes += 1
            for i in range(200):
                if self.passes > 1 and i == 150:
                    raise RuntimeError("disk went away")
                yield ["a", "b", "c", "a"]

    config = Word2VecConfig(vector_size=4, min_count=1, batch_words=40)
    with pytest.raises(RuntimeError, match="disk went away"):
        build_and_train(Flaky(), config, workers=2, progress=False)
    with pytest.raises(TypeError, match="one-shot iterator"):
        build_and_train((s for s in [["a", "b"]]), vector_size=4, min_count=1)
    with pytest.raises(TypeError, match="not of token lists"):
        build_and_train(["a b c", "d e f"], vector_size=4, min_count=1)
    with pytest.raises(TypeError, match="lists of tokens, the first one is a str"):
        build_and_train(("a b c", ["d", "e"]), vector_size=4, min_count=1)
    with pytest.raises(ValueError, match="min_count=5"):
        build_and_train([["a", "b"]], vector_size=4)
    model, _ = build_and_train([["a", "b"]] * 5, vector_size=4, min_count=1, epochs=1, progress=False)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        train_word2vec(model, [["a", "b"]], workers=0)


# ----------------------------------------------------------------------------------------------------------------------
# Corpora
# ----------------------------------------------------------------------------------------------------------------------
def test_line_sentence_reads_plain_gz_bz2_and_folders(tmp_path):
    text = "the cat sat\n\n고양이 가 잤다\n  spaced   out  \n"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "docs" / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    with bz2.open(tmp_path / "c.bz2", "wt", encoding="utf-8") as f:
        f.write(text)
    expected = [["the", "cat", "sat"], ["고양이", "가", "잤다"], ["spaced", "out"]]
    assert list(LineSentence(tmp_path / "docs" / "a.txt")) == expected
    assert list(LineSentence(tmp_path / "docs")) == expected * 2
    assert list(LineSentence([tmp_path / "c.bz2", tmp_path / "docs" / "b.txt.gz"])) == expected * 2
    assert list(LineSentence(tmp_path / "c.bz2", lowercase=True, limit=1)) == [["the", "cat", "sat"]]
    assert list(LineSentence(tmp_path / "docs" / "a.txt", max_sentence_length=2))[:2] == [["the", "cat"], ["sat"]]
    corpus = LineSentence(tmp_path / "docs" / "a.txt")
    assert list(corpus) == list(corpus)  # re-iterable
    assert list(as_corpus(str(tmp_path / "c.bz2"))) == expected


def test_line_sentence_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt does not exist"):
        LineSentence(tmp_path / "missing.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no files"):
        LineSentence(tmp_path / "empty")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"ok line\n" * 3000 + b"caf\xe9 au lait\n" + b"more\n")
    with pytest.raises(ValueError, match=r"latin1\.txt, line 3001: not valid utf-8"):
        list(LineSentence(bad))
    assert list(LineSentence(bad, encoding="latin-1"))[3000] == ["café", "au", "lait"]
    with pytest.raises(TypeError, match="a list of str, not of token lists"):
        as_corpus(["not a file", "nor this"])


# ----------------------------------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------------------------------
def test_train_word2vec_cli_end_to_end(tmp_path):
    from training.train_word2vec import main

    corpus, _, _ = topic_corpus(sentences=300)
    train = tmp_path / "train.txt"
    train.write_text("\n".join(" ".join(s) for s in corpus) + "\n", encoding="utf-8")
    pairs = tmp_path / "pairs.tab"
    pairs.write_text("Word 1\tWord 2\tHuman (mean)\na0\ta1\t9.0\na0\t나1\t1.0\n나2\t나3\t8.5\na3\t나4\t0.5\n"
                     "a5\tmissing\t3.0\n", encoding="utf-8")
    analogies = tmp_path / "questions.txt"
    analogies.write_text(": topics\na0 a1 나0 나1\na2 a3 나2 나3\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["--train_file", str(train), "--output_dir", str(out), "--vector_size", "16", "--window", "3",
            "--min_count", "1", "--sample", "0", "--epochs", "4", "--workers", "2", "--save_word2vec_format", "both",
            "--word_pairs_file", str(pairs), "--analogy_file", str(analogies), "--disable_tqdm"]
    results = main(args)
    for name in ("config.json", "model.safetensors", "vocab.txt", "vectors.txt", "vectors.bin", "train_results.json",
                 "eval_results.json", "results.md"):
        assert (out / name).exists(), name
    train_results = json.loads((out / "train_results.json").read_text(encoding="utf-8"))
    assert train_results["vocab_size"] == 40 and len(train_results["loss_per_epoch"]) == 4
    assert train_results["raw_words"] == 4 * 2400 and train_results["words_per_second"] > 0
    assert results["eval"]["pairs_spearman"] > 0.5  # same-topic pairs are the similar ones
    assert results["eval"]["pairs_oov_percent"] == pytest.approx(20.0)
    model = Word2VecModel.from_pretrained(out)
    assert "나1" in model.vocab and model.config.vector_size == 16
    text_vectors = KeyedVectors.load_word2vec_format(str(out / "vectors.txt"))
    assert np.allclose(text_vectors["나1"], model.wv["나1"], atol=1e-5)
    table = (out / "results.md").read_text(encoding="utf-8").splitlines()
    assert len(table) == 3 and "word2vec" in table[2] and "skipgram/negative_sampling" in table[2]

    with pytest.raises(ValueError, match="already exists and is not empty"):
        main(args)
    main([*args, "--overwrite_output_dir", "--epochs", "1", "--architecture", "cbow"])
    # --overwrite_output_dir: the folder holds the new run alone, its table the new run's row
    assert len((out / "results.md").read_text(encoding="utf-8").splitlines()) == 3
    with pytest.raises(SystemExit):
        main(["--train_file", str(train), "--output_dir", str(tmp_path / "x"), "--objective", "softmax"])
    with pytest.raises(FileNotFoundError, match="evaluation file"):
        main(["--train_file", str(train), "--output_dir", str(tmp_path / "y"), "--analogy_file", "nope.txt"])


# ----------------------------------------------------------------------------------------------------------------------
# Real data
# ----------------------------------------------------------------------------------------------------------------------
@requires_shared_data
def test_penn_treebank_two_workers_learn_like_gensim(shared_data_dir):
    gensim = pytest.importorskip("gensim")
    path = shared_data_dir / "ptb" / "ptb.train.txt"
    sentences = list(LineSentence(path))
    model, stats = build_and_train(sentences, architecture="cbow", epochs=2, workers=2, progress=False)
    assert len(model.vocab) == 9858 and stats.raw_words == 2 * 887521
    assert stats.epochs[1].loss < stats.epochs[0].loss
    theirs = gensim.models.Word2Vec(sentences, sg=0, epochs=2, workers=2, seed=1)
    ours_kv = model.wv
    probes = model.vocab.index_to_key[100:200]
    overlap = np.mean([
        len({w for w, _ in ours_kv.most_similar(p, topn=10)} & {w for w, _ in theirs.wv.most_similar(p, topn=10)})
        for p in probes
    ]) / 10
    assert overlap > 0.38, overlap  # two gensim runs with different seeds share 0.47
    assert math.isfinite(stats.loss)
