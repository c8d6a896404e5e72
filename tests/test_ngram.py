"""Smoothed n-gram language models: configuration, counting, every estimator against closed forms and hand-computed
values, normalisation, the backoff tables against KenLM (its Python module reads our ARPA files), ARPA files both
ways, save/load and push_to_hub, generation, the transformers interface, and the Penn Treebank target (lmplz's
modified Kneser-Ney 5-gram: perplexity 141.19 on the test set)."""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import requires_shared_data, run_without_hf_models, shared_data_dir

from hf_models.ngram import (
    ARPAFormatError,
    NGramConfig,
    NGramLanguageModel,
    NGramVocabulary,
    train_ngram,
)
from hf_models.ngram.counting import build_vocabulary_and_encode, count_ngrams
from hf_models.ngram.smoothing import (
    adjusted_counts,
    count_of_counts,
    kneser_ney_discount,
    modified_kneser_ney_discounts,
)

SMOOTHINGS = ("mle", "add_k", "kneser_ney", "modified_kneser_ney")
CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ate the fish",
    "the cat ate a rat",
    "the dog ate the cat",
    "a dog sat",
    "the cat sat",
    "a rat sat on a mat",
    "고양이 가 매트 위에 앉았다",
    "the 고양이 sat",
    "",
]
CONTEXTS = ["", "the", "the cat", "the cat sat on", "zzz unseen", "sat zzz", "고양이 가", "a"]


def fit(smoothing, order=3, corpus=CORPUS, **kwargs):
    return NGramLanguageModel.fit(corpus, order=order, smoothing=smoothing, **kwargs)


def kenlm_or_skip():
    return pytest.importorskip("kenlm", reason="kenlm's Python module is not installed")


# ----------------------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"order": 0}, "order"),
        ({"order": 2.5}, "order"),
        ({"smoothing": "witten_bell"}, "smoothing"),
        ({"smoothing": "add_k", "k": 0}, "k"),
        ({"smoothing": "add_k", "k": float("nan")}, "k"),
        ({"smoothing": "kneser_ney", "discount": 1.5}, "discount"),
        ({"smoothing": "modified_kneser_ney", "discount": 0.5}, "discount"),
        ({"smoothing": "modified_kneser_ney", "discount": [0.5, 2.5, 1.0]}, "discount"),
        ({"smoothing": "mle", "discount": 0.5}, "discount"),
        ({"smoothing": "kneser_ney", "discount_fallback": [0.5, 1, 1.5]}, "discount_fallback"),
        ({"smoothing": "modified_kneser_ney", "discount_fallback": 0.5}, "discount_fallback"),
        ({"bos_token": "</s>"}, "bos_token"),
        ({"unk_token": "un k"}, "unk_token"),
        ({"min_count": 0}, "min_count"),
        ({"max_vocab_size": 3}, "max_vocab_size"),
        ({"vocab_size": 2}, "vocab_size"),
        ({"order": 2, "ngram_counts": [5]}, "ngram_counts"),
        ({"vocab_size": 5, "order": 1, "ngram_counts": [6]}, "ngram_counts"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"NGramConfig\.{field}\b"):
        NGramConfig(**kwargs)


def test_config_type_error_names_the_field():
    with pytest.raises(TypeError, match=r"NGramConfig\.lowercase"):
        NGramConfig(lowercase="yes")


def test_config_round_trip_and_fallback_defaults(tmp_path):
    config = NGramConfig(order=4, smoothing="modified_kneser_ney", discount_fallback=[0.4, 0.9, 1.4], lowercase=True)
    assert NGramConfig(smoothing="modified_kneser_ney").fallback_discounts() == [0.5, 1.0, 1.5]  # KenLM's
    assert NGramConfig(smoothing="kneser_ney").fallback_discounts() == 0.5
    assert NGramConfig(smoothing="kneser_ney", discount_fallback=False).fallback_discounts() is None
    config.save_pretrained(tmp_path)
    loaded = NGramConfig.from_pretrained(tmp_path)
    assert (loaded.model_type, loaded.order, loaded.fallback_discounts(), loaded.lowercase) == (
        "hf_ngram", 4, [0.4, 0.9, 1.4], True)
    assert (loaded.unk_token_id, loaded.bos_token_id, loaded.eos_token_id) == (0, 1, 2)


# ----------------------------------------------------------------------------------------------------------------------
# Vocabulary and counting
# ----------------------------------------------------------------------------------------------------------------------
def test_counting_matches_a_python_counter():
    vocab, corpus, _ = build_vocabulary_and_encode(CORPUS)
    tables = count_ngrams(corpus, 3, len(vocab))
    expected = [{}, {}, {}]
    for sentence in CORPUS:
        padded = ["<s>", *sentence.split(), "</s>"]
        for j in range(1, len(padded)):
            for k in range(1, 4):
                if j - k + 1 >= 0:
                    gram = tuple(padded[j - k + 1:j + 1])
                    expected[k - 1][gram] = expected[k - 1].get(gram, 0) + 1
    words = np.array(vocab.id_to_word, dtype=object)
    columns = [np.arange(len(vocab))[:, None]]
    for k in (2, 3):
        keys = tables[k - 1].keys
        columns.append(np.concatenate([columns[-1][keys // len(vocab)], (keys % len(vocab))[:, None]], axis=1))
    for k in (1, 2, 3):
        got = {tuple(words[row]): int(c) for row, c in zip(columns[k - 1], tables[k - 1].counts) if c > 0}
        assert got == expected[k - 1]
    assert np.all(np.diff(tables[2].keys) > 0)  # sorted, unique keys


def test_adjusted_counts_are_continuation_counts_except_after_bos():
    vocab, corpus, _ = build_vocabulary_and_encode(["a b", "c b", "a b", "b"])
    tables = count_ngrams(corpus, 2, len(vocab))
    adjusted = adjusted_counts(tables)[0]
    ids = vocab.word_to_id
    assert adjusted[ids["b"]] == 3  # preceded by a, c and <s>
    assert adjusted[ids["a"]] == 1 and adjusted[ids["</s>"]] == 1  # a after <s>; </s> after b only
    assert adjusted[ids["<s>"]] == 0
    np.testing.assert_array_equal(count_of_counts(np.array([0, 1, 1, 2, 3, 4, 4, 9])), [1, 2, 1, 1, 2])


def test_discount_formulas():
    t = np.array([0, 10, 5, 3, 2])
    y = 10 / (10 + 2 * 5)
    np.testing.assert_allclose(modified_kneser_ney_discounts(t)[1:],
                               [1 - 2 * y * 5 / 10, 2 - 3 * y * 3 / 5, 3 - 4 * y * 2 / 3], rtol=1e-6)
    assert kneser_ney_discount(t)[1] == pytest.approx(10 / 20)


def test_vocabulary_cut_by_min_count_and_max_size():
    model = NGramLanguageModel.fit(["a a a b b c", "a b d"], order=2, smoothing="add_k", min_count=2)
    assert model.vocab.id_to_word == ["<unk>", "<s>", "</s>", "a", "b"]
    assert model.perplexity(["c d"])["oov"] == 2
    model = NGramLanguageModel.fit(["a a a b b c", "a b d"], order=2, smoothing="add_k", max_vocab_size=4)
    assert model.vocab.id_to_word == ["<unk>", "<s>", "</s>", "a"]
    model = NGramLanguageModel.fit(["The CAT", "the cat"], order=2, smoothing="mle", lowercase=True)
    assert model.vocab.id_to_word[3:] == ["the", "cat"]
    assert model.log10_prob("THE Cat") == pytest.approx(0.0)


def test_bad_training_text_is_reported_with_its_line(tmp_path):
    text = tmp_path / "train.txt"
    text.write_text("a b\nthe <s> c\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.txt, line 2: .*'<s>'"):
        NGramLanguageModel.fit(text, order=2, smoothing="mle")
    text.write_bytes(b"a b\nc \xff d\n")
    with pytest.raises(ValueError, match=r"train\.txt, line 2: not valid UTF-8"):
        NGramLanguageModel.fit(text, order=2, smoothing="mle")
    with pytest.raises(ValueError, match=r"sentence 1: invalid word 'b c'"):
        NGramLanguageModel.fit([["a"], ["b c"]], order=2, smoothing="mle")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        NGramLanguageModel.fit(tmp_path / "missing.txt", order=2)
    with pytest.raises(ValueError, match=r"Kneser-Ney discounts of the 1-grams: .*discount_fallback"):
        NGramLanguageModel.fit(["a b", "b a"], order=2, smoothing="modified_kneser_ney", discount_fallback=False)


def test_tiny_data_falls_back_to_kenlm_discounts_with_a_warning(caplog):
    model = NGramLanguageModel.fit(["a b", "b a"], order=2, smoothing="modified_kneser_ney")
    assert model.config.discounts[0] == [0.5, 1.0, 1.5]  # no unigram has adjusted count 1
    assert "order 1: no n-gram has adjusted count 1" in caplog.text
    assert sum(p for _, p in model.next_word_distribution("a")) == pytest.approx(1.0, abs=1e-6)


def test_files_token_lists_and_strings_give_the_same_model(tmp_path):
    path = tmp_path / "corpus.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(CORPUS) + "\n")
    from_file = fit("modified_kneser_ney", corpus=path)
    from_lists = fit("modified_kneser_ney", corpus=[s.split() for s in CORPUS])
    from_mixed = fit("modified_kneser_ney", corpus=[Path(path)])
    for model in (from_lists, from_mixed):
        assert model.vocab == from_file.vocab
        assert model.log10_prob("the cat sat") == from_file.log10_prob("the cat sat")


# ----------------------------------------------------------------------------------------------------------------------
# Estimators
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_distribution_sums_to_one(smoothing, order):
    model = fit(smoothing, order=order)
    for context in CONTEXTS:
        distribution = model.next_word_distribution(context)
        words = [w for w, _ in distribution]
        assert "<s>" not in words and "</s>" in words and len(words) == len(model.vocab) - 1
        assert sum(p for _, p in distribution) == pytest.approx(1.0, abs=1e-5), context
    unigrams = model.next_word_distribution("", bos=False)
    assert sum(p for _, p in unigrams) == pytest.approx(1.0, abs=1e-5)


def test_kneser_ney_hand_computed():
    """Interpolated KN bigram, D = 0.5, on <s> a b </s> / <s> a c </s> / <s> b a </s> (|V| = 5: <unk> </s> a b c)."""
    model = NGramLanguageModel.fit(["a b", "a c", "b a"], order=2, smoothing="kneser_ney", discount=0.5)
    # continuation counts: a {<s>, b} = 2, b {a, <s>} = 2, c {a} = 1, </s> {b, c, a} = 3; sum 8; gamma = 0.5 * 4 / 8
    p1 = {"a": 1.5 / 8 + 0.25 / 5, "b": 1.5 / 8 + 0.25 / 5, "c": 0.5 / 8 + 0.25 / 5, "</s>": 2.5 / 8 + 0.25 / 5,
          "<unk>": 0.25 / 5}
    assert sum(p1.values()) == pytest.approx(1.0)
    p_a_given_bos = 1.5 / 3 + (0.5 * 2 / 3) * p1["a"]  # c(<s> a) = 2, c(<s> b) = 1
    p_b_given_a = 0.5 / 3 + (0.5 * 3 / 3) * p1["b"]  # a b, a c, a </s>: once each
    p_eos_given_b = 0.5 / 2 + (0.5 * 2 / 2) * p1["</s>"]  # b </s>, b a
    scores = model.score_tokens("a b")
    np.testing.assert_allclose([s.log10_prob for s in scores],
                               np.log10([p_a_given_bos, p_b_given_a, p_eos_given_b]), atol=1e-6)
    assert [s.ngram_length for s in scores] == [2, 2, 2]
    assert model.score_tokens("zzz", eos=False)[0].log10_prob == pytest.approx(
        math.log10(0.5 * 2 / 3 * p1["<unk>"]), abs=1e-6)
    distribution = dict(model.next_word_distribution("a"))
    assert distribution["a"] == pytest.approx(0.5 * p1["a"], abs=1e-6)


def test_kneser_ney_discounts_from_count_of_counts():
    model = NGramLanguageModel.fit(["a b", "a c", "b a"], order=2, smoothing="kneser_ney")
    # unigram adjusted counts 2, 2, 1, 3: t1 = 1, t2 = 2; bigram counts: seven 1s, one 2 (<s> a)
    np.testing.assert_allclose(model.config.discounts, [[1 / 5], [7 / 9]], rtol=1e-6)


def test_modified_kneser_ney_hand_computed():
    """Modified KN bigram with D1, D2, D3+ = 0.4, 0.8, 1.2 on a b x3, a c x2, a d (|V| = 6)."""
    model = NGramLanguageModel.fit(["a b"] * 3 + ["a c"] * 2 + ["a d"], order=2, smoothing="modified_kneser_ney",
                                   discount=[0.4, 0.8, 1.2])
    # unigram continuation counts: a, b, c, d = 1 (D1), </s> = 3 (D3+); sum 7; gamma = (4 * 0.4 + 1.2) / 7
    uniform = (4 * 0.4 + 1.2) / 7 / 6
    p1 = {w: 0.6 / 7 + uniform for w in "abcd"} | {"</s>": 1.8 / 7 + uniform}
    gamma_a = (0.4 + 0.8 + 1.2) / 6  # a b = 3 (D3+), a c = 2 (D2), a d = 1 (D1)
    expected = {"b": 1.8 / 6 + gamma_a * p1["b"], "c": 1.2 / 6 + gamma_a * p1["c"], "d": 0.6 / 6 + gamma_a * p1["d"],
                "a": gamma_a * p1["a"], "</s>": gamma_a * p1["</s>"], "<unk>": gamma_a * uniform}
    got = dict(model.next_word_distribution("a"))
    for word, p in expected.items():
        assert got[word] == pytest.approx(p, abs=1e-6), word
    assert model.config.discounts == [[0.4, 0.8, 1.2], [0.4, 0.8, 1.2]]


def test_mle_closed_form_and_zero_probabilities():
    model = fit("mle", order=3)
    # p(sat | the cat) = c(the cat sat) / c(the cat .) = 2 / 4 ; p(cat | <s> the) = 3 / 6
    assert dict(model.next_word_distribution("the cat"))["sat"] == pytest.approx(2 / 4, abs=1e-6)
    assert dict(model.next_word_distribution("the"))["cat"] == pytest.approx(3 / 6, abs=1e-6)
    assert dict(model.next_word_distribution("the cat"))["dog"] == 0.0
    # an unseen context falls back to its longest seen suffix: p(. | zzz the) = p(. | the) = c(the .) / c(the)
    assert dict(model.next_word_distribution("zzz the"))["cat"] == pytest.approx(4 / 10, abs=1e-6)
    result = model.perplexity(["the cat sat on the dog"])
    assert result["perplexity"] == math.inf and result["zero_probability_tokens"] == 2  # dog, then </s>
    assert math.isfinite(model.perplexity(["the cat sat"])["perplexity"])


def test_add_k_closed_form():
    k = 0.5
    model = fit("add_k", order=3, k=k)
    size = len(model.vocab) - 1  # |V|: every word but <s>
    assert dict(model.next_word_distribution("the cat"))["sat"] == pytest.approx((2 + k) / (4 + k * size))
    assert dict(model.next_word_distribution("the cat"))["dog"] == pytest.approx(k / (4 + k * size))
    # at the start of a sentence the context is <s> w1 (a trigram), then <s> (a bigram)
    assert dict(model.next_word_distribution("the"))["cat"] == pytest.approx((3 + k) / (6 + k * size))
    assert dict(model.next_word_distribution(""))["the"] == pytest.approx((6 + k) / (11 + k * size))
    # an unseen context is uniform
    assert dict(model.next_word_distribution("zzz cat"))["sat"] == pytest.approx(1 / size)
    unigram = fit("add_k", order=1, k=1.0)
    tokens = sum(len(s.split()) + 1 for s in CORPUS)  # 47 words + 11 </s>
    assert tokens == 58
    assert dict(unigram.next_word_distribution(""))["the"] == pytest.approx((10 + 1) / (58 + size))


def test_mle_bigrams_match_nltk():
    lm = pytest.importorskip("nltk.lm")
    from nltk.lm.preprocessing import padded_everygram_pipeline

    sentences = [s.split() for s in CORPUS if s]
    train, vocabulary = padded_everygram_pipeline(2, sentences)
    reference = lm.MLE(2)
    reference.fit(train, vocabulary)
    model = fit("mle", order=2, corpus=sentences)
    for context in ("<s>", "the", "cat", "sat", "고양이"):
        ours = dict(model.next_word_distribution([] if context == "<s>" else [context]))
        for word in ("the", "cat", "sat", "</s>", "가", "mat"):
            assert ours[word] == pytest.approx(reference.score(word, [context]), abs=1e-6), (context, word)


# ----------------------------------------------------------------------------------------------------------------------
# KenLM reads our ARPA files and gives the same scores
# ----------------------------------------------------------------------------------------------------------------------
def assert_same_as_kenlm(model, arpa_path, sentences):
    kenlm = kenlm_or_skip()
    reference = kenlm.Model(str(arpa_path))
    total, tokens = 0.0, 0
    for sentence in sentences:
        expected = reference.score(sentence, bos=True, eos=True)
        assert model.log10_prob(sentence) == pytest.approx(expected, abs=1e-4), sentence
        full = list(reference.full_scores(sentence))
        ours = model.score_tokens(sentence)
        np.testing.assert_allclose([s.log10_prob for s in ours], [f[0] for f in full], atol=1e-4)
        assert [s.ngram_length for s in ours] == [f[1] for f in full]
        assert [s.oov for s in ours] == [f[2] for f in full]
        total += expected
        tokens += len(sentence.split()) + 1
    ours = model.perplexity([s for s in sentences])
    assert ours["perplexity"] == pytest.approx(10 ** (-total / tokens), rel=1e-5)


@pytest.mark.parametrize("smoothing", ["add_k", "kneser_ney", "modified_kneser_ney"])
def test_kenlm_scores_our_arpa_like_we_do(tmp_path, smoothing):
    model = fit(smoothing, order=3)
    model.save_arpa(tmp_path / "model.arpa")
    assert_same_as_kenlm(model, tmp_path / "model.arpa", CORPUS + ["the cat sat on the log", "zzz the 고양이 qqq",
                                                                   "a a a a a", "the dog"])


def test_kenlm_reads_unseen_mle_events_as_minus_99(tmp_path):
    kenlm = kenlm_or_skip()
    model = fit("mle", order=2)
    model.save_arpa(tmp_path / "mle.arpa")
    assert_same_as_kenlm(model, tmp_path / "mle.arpa", ["the cat sat", "a rat sat on a mat"])
    assert model.log10_prob("the sat") == -math.inf  # "the sat" was never seen
    assert kenlm.Model(str(tmp_path / "mle.arpa")).score("the sat") < -98  # -99 is log10 0 in ARPA files


@requires_shared_data
def test_kenlm_agrees_on_a_penn_treebank_subset(tmp_path):
    ptb = shared_data_dir() / "ptb"
    train = (ptb / "ptb.train.txt").read_text(encoding="utf-8").splitlines()[:5000]
    test = [line.strip() for line in (ptb / "ptb.test.txt").read_text(encoding="utf-8").splitlines()[:300]]
    model = NGramLanguageModel.fit(train, order=4, smoothing="modified_kneser_ney")
    model.save_arpa(tmp_path / "ptb4.arpa.gz")
    with gzip.open(tmp_path / "ptb4.arpa.gz", "rb") as f, open(tmp_path / "ptb4.arpa", "wb") as out:
        out.write(f.read())  # kenlm reads plain ARPA files
    assert_same_as_kenlm(model, tmp_path / "ptb4.arpa", test)


# ----------------------------------------------------------------------------------------------------------------------
# ARPA files
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_arpa_round_trip_keeps_every_table(tmp_path, smoothing):
    model = fit(smoothing, order=3)
    model.save_arpa(tmp_path / "model.arpa.gz")
    loaded = NGramLanguageModel.from_arpa(tmp_path / "model.arpa.gz")
    assert loaded.config.smoothing == "arpa" and loaded.vocab.id_to_word[:3] == ["<unk>", "<s>", "</s>"]
    assert set(loaded.vocab.id_to_word) == set(model.vocab.id_to_word)
    for sentence in CORPUS + ["zzz 고양이 the"]:
        assert loaded.log10_prob(sentence) == model.log10_prob(sentence)
    assert loaded.config.ngram_counts == model.config.ngram_counts


def test_arpa_file_layout(tmp_path):
    model = NGramLanguageModel.fit(["a b", "a c", "b a"], order=2, smoothing="kneser_ney", discount=0.5)
    model.save_arpa(tmp_path / "model.arpa")
    lines = (tmp_path / "model.arpa").read_text(encoding="utf-8").splitlines()
    assert lines[1:4] == ["\\data\\", "ngram 1=6", "ngram 2=8"]
    unigrams = {line.split("\t")[1]: line.split("\t") for line in lines[lines.index("\\1-grams:") + 1:][:6]}
    assert unigrams["<s>"][0] == "0" and len(unigrams["</s>"]) == 2  # </s> is no context: no backoff column
    assert float(unigrams["a"][0]) == pytest.approx(math.log10(1.5 / 8 + 0.25 / 5), abs=1e-6)
    assert float(unigrams["a"][2]) == pytest.approx(math.log10(0.5), abs=1e-6)  # gamma(a) = 0.5 * 3 / 3
    bigrams = lines[lines.index("\\2-grams:") + 1:lines.index("\\end\\") - 1]
    assert len(bigrams) == 8 and all(len(line.split("\t")) == 2 for line in bigrams)
    assert lines[-1] == "\\end\\"


def write_arpa_text(path, body):
    path.write_text(body, encoding="utf-8")
    return path


VALID_ARPA = """\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.7\t</s>
-0.6\t한국어\t-0.2
-0.8\tword\t-0.1

\\2-grams:
-0.3\t<s> 한국어
-0.4\t한국어 word
-0.2\tword </s>

\\end\\
"""


MALFORMED_ARPA = [
    (VALID_ARPA.replace("\\data\\", "data"), r"no \\data\\ line"),
    (VALID_ARPA.replace("ngram 2=3", "ngram 2=three"), r"line 3: bad n-gram count line"),
    (VALID_ARPA.replace("ngram 2=3", "ngram 3=3"), r"line 3: n-gram orders must be consecutive"),
    (VALID_ARPA.replace("\\2-grams:", "\\3-grams:"), r"line 12: expected the section header \\2-grams:"),
    (VALID_ARPA.replace("-0.4\t한국어 word", "-0.4\t한국어"), r"line 14: a 2-gram line needs"),
    (VALID_ARPA.replace("-0.8\tword", "minus\tword"), r"line 10: probability 'minus' is not a number"),
    (VALID_ARPA.replace("-0.8\tword", "0.8\tword"), r"line 10: probability '0.8' is not a valid"),
    (VALID_ARPA.replace("ngram 2=3", "ngram 2=4"), r"line 16: the \\2-grams: section has 3 lines but the header announces 4"),
    (VALID_ARPA.replace("ngram 2=3", "ngram 2=2"), r"line 15: more 2-grams than the 2 announced"),
    (VALID_ARPA.replace("-0.4\t한국어 word", "-0.4\t한국어 missing"), r"line 14: word 'missing' of this 2-gram"),
    (VALID_ARPA.replace("-0.2\tword </s>", "-0.2\t<s> 한국어"), r"line 15: duplicate 2-gram \(first on line 13\)"),
    (VALID_ARPA.replace("-0.2\tword </s>", "-0.2\tword </s>\t-0.5"), r"line 15: a backoff on the highest order"),
    (VALID_ARPA.replace("\\end\\\n", ""), r"no \\end\\ line"),
    (VALID_ARPA.replace("\\end\\", "\\3-grams:"), r"line 17: expected \\end\\"),
    (VALID_ARPA.split("\\2-grams:")[0], r"the \\2-grams: section is missing"),
]


@pytest.mark.parametrize(("broken", "message"), MALFORMED_ARPA)
def test_malformed_arpa_errors_name_the_line(tmp_path, broken, message):
    path = write_arpa_text(tmp_path / "broken.arpa", broken)
    with pytest.raises(ARPAFormatError, match=message) as error:
        NGramLanguageModel.from_arpa(path)
    assert "broken.arpa" in str(error.value)


def test_valid_arpa_reads_and_scores_by_backoff(tmp_path):
    model = NGramLanguageModel.from_arpa(write_arpa_text(tmp_path / "small.arpa", VALID_ARPA))
    assert model.log10_prob("한국어 word") == pytest.approx(-0.3 - 0.4 - 0.2)
    # word after <s>: no bigram <s> word -> bo(<s>) + p(word); then p(</s> | word) = -0.2
    assert model.log10_prob("word") == pytest.approx(-0.5 - 0.8 - 0.2)
    assert model.log10_prob("zzz") == pytest.approx(-0.5 - 1.0 + -0.7)  # <unk> has no backoff
    assert model.perplexity(["zzz"], exclude_oov=True)["tokens"] == 1


def test_arpa_with_missing_prefixes_gets_blanks(tmp_path):
    """SRILM may prune the context of a kept n-gram (KenLM refuses such files); it is added as a blank: probability
    bo(w1) p(w2), backoff 1, so every score is the ARPA backoff value."""
    text = """\\data\\
ngram 1=5
ngram 2=2
ngram 3=1

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.7\t</s>\t0
-0.6\ta\t-0.2
-0.8\tb\t-0.1

\\2-grams:
-0.3\t<s> a\t-0.25
-0.2\tb </s>\t-0.15

\\3-grams:
-0.05\ta b </s>

\\end\\
"""
    path = write_arpa_text(tmp_path / "pruned.arpa", text)  # "a b", the context of "a b </s>", is missing
    model = NGramLanguageModel.from_arpa(path)
    assert model.config.ngram_counts == [5, 3, 1]
    # a b: p(a | <s>) = -0.3; p(b | <s> a) = bo(<s> a) + bo(a) + p(b); p(</s> | a b) = -0.05
    assert model.log10_prob("a b") == pytest.approx(-0.3 + (-0.25 - 0.2 - 0.8) - 0.05)
    # b a: bo(<s>) + p(b); bo(b) + p(a); bo(a) + p(</s>)
    assert model.log10_prob("b a") == pytest.approx((-0.5 - 0.8) + (-0.1 - 0.6) + (-0.2 - 0.7))
    model.save_arpa(tmp_path / "completed.arpa")
    kenlm = kenlm_or_skip()
    reference = kenlm.Model(str(tmp_path / "completed.arpa"))  # the completed file is one KenLM reads
    for sentence in ["a b", "a b a b", "b a", "a", "b b", "a a b"]:
        assert model.log10_prob(sentence) == pytest.approx(reference.score(sentence), abs=1e-5), sentence


def test_missing_special_tokens_are_added_with_probability_zero(tmp_path):
    text = VALID_ARPA.replace("ngram 1=5", "ngram 1=4").replace("-1.0\t<unk>\n", "")
    model = NGramLanguageModel.from_arpa(write_arpa_text(tmp_path / "closed.arpa", text))
    assert model.vocab.id_to_word[0] == "<unk>"
    assert model.log10_prob("zzz") == -math.inf
    assert model.perplexity(["zzz 한국어"], exclude_oov=True)["oov"] == 1


# ----------------------------------------------------------------------------------------------------------------------
# The compiled ARPA writer and reader against their line-by-line Python references
# ----------------------------------------------------------------------------------------------------------------------
def reference_arpa_text(tables, words, header_comment=""):
    """The ARPA text written line by line in Python, with `format_log10` (the writer's specification)."""
    from hf_models.ngram.arpa import format_log10

    out = "".join(f"# {line}\n" for line in header_comment.splitlines()) + "\\data\\\n"
    out += "".join(f"ngram {k}={n}\n" for k, n in enumerate(tables.ngram_counts, start=1))
    for k in range(1, tables.order + 1):
        out += f"\n\\{k}-grams:\n"
        grams = tables.ngram_words(k)
        probs = format_log10(tables.log10_probs[k - 1])
        backoffs = format_log10(tables.log10_backoffs[k - 1]) if k < tables.order else None
        for i, row in enumerate(grams.tolist()):
            line = f"{probs[i]}\t{' '.join(words[w] for w in row)}"
            if backoffs is not None and tables.log10_backoffs[k - 1][i] != 0:
                line += f"\t{backoffs[i]}"
            out += line + "\n"
    return out + "\n\\end\\\n"


EDGE_LOG10_VALUES = [0.0, -0.0, -np.inf, -99.0, -1.0, -0.5, -1e-5, -1.2345e-5, 1e-5, -0.0001, -0.001234, 100.0,
                     -100.0, 9.996, -9.9999999, 12345678.0, 1e21, -3e22, 1e25, 1e-13, -1e-20, 3.4e38, -1e-38, 1e-45,
                     0.1, -0.30103, -4.7644796, -1.0814836, 2.0 ** -20, 1.5, 10.0, 1000000.0]


def test_compiled_log10_formatting_is_format_log10():
    from hf_models.ngram.arpa import _format_log10_bytes, format_log10

    rng = np.random.default_rng(0)
    values = np.concatenate([
        np.float32(EDGE_LOG10_VALUES),
        -rng.exponential(2.0, 20000).astype(np.float32),  # log10 probabilities
        rng.normal(0, 0.5, 20000).astype(np.float32),  # backoffs, either sign
        (rng.uniform(-1, 1, 5000) * 10.0 ** rng.integers(-30, 30, 5000)).astype(np.float32),
        np.float32(10.0 ** np.arange(-30, 30)) * np.float32([1, -1] * 30),  # powers of ten
        np.nextafter(np.float32(10.0 ** np.arange(-8, 8)), np.float32(0)),  # just below them
    ])
    text, lengths = _format_log10_bytes(values)
    ours = [bytes(row[:n]).decode("ascii") for row, n in zip(text, lengths)]
    expected = format_log10(values).tolist()
    assert ours == expected
    finite = np.isfinite(values)
    np.testing.assert_array_equal(np.float32(np.array(ours, dtype=np.float64))[finite], values[finite] + 0.0)
    with pytest.raises(ValueError, match="finite or -inf"):
        _format_log10_bytes(np.float32([-1.0, np.nan]))


@pytest.mark.parametrize(("smoothing", "name"), [("mle", "mle.arpa"), ("modified_kneser_ney", "mkn.arpa.gz"),
                                                 ("add_k", "add.arpa")])
def test_write_arpa_is_the_line_by_line_text(tmp_path, smoothing, name):
    model = fit(smoothing, order=3)  # MLE: -inf probabilities (written -99); KN: backoffs present and absent
    model.save_arpa(tmp_path / name)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(tmp_path / name, "rb") as f:
        written = f.read().decode("utf-8")
    expected = reference_arpa_text(model.tables(), model.vocab.id_to_word,
                                   f"hf_models n-gram language model: order=3 smoothing={smoothing}")
    assert written == expected
    assert "고양이" in written and (smoothing != "mle" or "\n-99\t" in written)


def read_both_ways(path):
    """(words, tables) from the compiled reader (None if it declines the file) and from the Python reader."""
    from transformers.utils import logging

    from hf_models.ngram import arpa

    logger = logging.get_logger("test")
    return (arpa._read_arpa_bytes(Path(path), "<unk>", "<s>", "</s>", logger),
            arpa._read_arpa(Path(path), "<unk>", "<s>", "</s>", logger))


def assert_same_tables(a, b):
    (words_a, tables_a), (words_b, tables_b) = a, b
    assert words_a == words_b
    assert tables_a.ngram_counts == tables_b.ngram_counts
    for k in range(tables_a.order):
        np.testing.assert_array_equal(tables_a.keys[k], tables_b.keys[k])
        np.testing.assert_array_equal(tables_a.log10_probs[k], tables_b.log10_probs[k])
        if k < tables_a.order - 1:
            np.testing.assert_array_equal(tables_a.log10_backoffs[k], tables_b.log10_backoffs[k])


KENLM_STYLE_ARPA = """Written by a toolkit that puts text before the header.
\\data\\
ngram 1=6
ngram 2=5
ngram 3=2

\\1-grams:
-1.5\t<unk>\t0
0\t<s>\t-0.30103
-0.69897\t</s>\t0
-0.8\t한국어\t-1.5e-1
-inf\t단어\t-INF
-0.9e0\tword\t+0.25

\\2-grams:
-0.3 <s> 한국어  -0.2
-0.4\t한국어 단어\t0
-99.5\t단어 word\t-0.1
-0.25\tword </s>
-0.20000000000000000000001\t<s> word\t0.0

\\3-grams:
-0.05\t<s> 한국어 단어
-0.125\t한국어 단어 word\t0

\\end\\
"""


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_compiled_reader_equals_the_python_reader(tmp_path, monkeypatch, parallel, line_end):
    """Tabs or spaces, explicit 0 backoffs, -inf / -INF / long or exponent numbers (left to Python's float), <= -99
    as log10 0, text before \\data\\, CRLF; the sections parsed in one piece or in parallel chunks."""
    from hf_models.ngram import arpa

    if parallel:
        monkeypatch.setattr(arpa, "_PARALLEL_LINES", 2)
    path = write_arpa_text(tmp_path / "kenlm_style.arpa", KENLM_STYLE_ARPA.replace("\n", line_end))
    fast, slow = read_both_ways(path)
    assert fast is not None
    assert_same_tables(fast, slow)
    words, tables = fast
    assert words[:3] == ["<unk>", "<s>", "</s>"] and "한국어" in words
    assert tables.log10_probs[0][words.index("단어")] == -np.inf
    assert tables.log10_backoffs[0][words.index("단어")] == -np.inf
    assert tables.log10_probs[1][np.argmin(tables.log10_probs[1])] == -np.inf  # -99.5: log10 0


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_compiled_reader_reads_our_files_and_large_sections_in_parallel(tmp_path, monkeypatch, smoothing):
    from hf_models.ngram import arpa

    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(40)] + ["고양이", "가", "매트", "위에"]
    corpus = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(400)]
    model = fit(smoothing, order=4, corpus=corpus)
    model.save_arpa(tmp_path / "model.arpa")
    monkeypatch.setattr(arpa, "_PARALLEL_LINES", 100)  # every section above 100 lines in parallel chunks
    fast, slow = read_both_ways(tmp_path / "model.arpa")
    assert fast is not None
    assert_same_tables(fast, slow)
    loaded = NGramLanguageModel.from_arpa(tmp_path / "model.arpa")
    for sentence in corpus[:50] + ["고양이 가 zzz w1"]:
        assert loaded.log10_prob(sentence) == model.log10_prob(sentence)


MALFORMED_ONLY_FOR_THE_COMPILED_READER = [
    (VALID_ARPA.replace("-0.8\tword", "-0.8\two\u00a0rd"), r"line 10: a 1-gram line needs"),  # no-break space
    (VALID_ARPA.replace("-0.7\t</s>", "-0.7\tword"), r"line 10: duplicate unigram 'word'"),
    (VALID_ARPA.replace("-0.8\tword", "nan\tword"), r"line 10: probability 'nan' is not a valid"),
    (VALID_ARPA.replace("-0.8\tword\t-0.1", "-0.8\tword\tinf"), r"line 10: backoff 'inf' is not a valid"),
    (VALID_ARPA.replace("-0.2\tword </s>", "-0.2\tword </s>\t-inf"), r"line 15: a backoff on the highest order"),
    (VALID_ARPA.replace("-0.4\t한국어 word", "-0.4\t한국어 word </s>"), r"line 14: backoff '</s>' is not a number"),
    (VALID_ARPA.replace("-0.4\t한국어 word", "-0.4e\t한국어 word"), r"line 14: probability '-0.4e' is not a number"),
    (VALID_ARPA.replace("-0.3\t<s> 한국어\n", ""), r"line 15: the \\2-grams: section has 2 lines"),
]


@pytest.mark.parametrize(("broken", "message"), MALFORMED_ARPA + MALFORMED_ONLY_FOR_THE_COMPILED_READER)
def test_the_compiled_reader_leaves_every_malformed_file_to_the_python_reader(tmp_path, broken, message):
    """The compiled reader declines each malformed file (never returns tables for it); the Python reader then names
    the line, as from_arpa shows."""
    from transformers.utils import logging

    from hf_models.ngram import arpa

    path = write_arpa_text(tmp_path / "broken.arpa", broken)
    assert arpa._read_arpa_bytes(path, "<unk>", "<s>", "</s>", logging.get_logger("test")) is None
    with pytest.raises(ARPAFormatError, match=message):
        NGramLanguageModel.from_arpa(path)


def test_compiled_reader_declines_invalid_utf8(tmp_path):
    from transformers.utils import logging

    from hf_models.ngram import arpa

    path = tmp_path / "latin1.arpa"
    path.write_bytes(VALID_ARPA.encode("utf-8").replace(b"word", b"w\xf6rd"))  # Latin-1, not UTF-8
    assert arpa._read_arpa_bytes(path, "<unk>", "<s>", "</s>", logging.get_logger("test")) is None
    with pytest.raises(ARPAFormatError, match="not valid UTF-8"):
        NGramLanguageModel.from_arpa(path)


# ----------------------------------------------------------------------------------------------------------------------
# Reading training files by blocks
# ----------------------------------------------------------------------------------------------------------------------
TRICKY_TEXT = "a b\n\n  spaced   out  \r\n한국어\u3000단어 x\u00a0y\nlast line without newline"


@pytest.mark.parametrize("block_bytes", [1, 5, 64, None])
@pytest.mark.parametrize("lowercase", [False, True])
def test_line_blocks_are_the_lines_split_on_whitespace(tmp_path, block_bytes, lowercase):
    from hf_models.ngram.counting import read_line_blocks, read_lines

    for name, text in [("a.txt", TRICKY_TEXT), ("b.txt.gz", TRICKY_TEXT.upper() + "\n"), ("c.txt", ""),
                       ("d.txt", "\n")]:
        path = tmp_path / name
        data = text.encode("utf-8")
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        expected = [(n, (line.lower() if lowercase else line).split()) for n, line in read_lines(path)]
        blocks = list(read_line_blocks(path, lowercase=lowercase, block_bytes=block_bytes))
        got = [(first + i, words) for first, block in blocks for i, words in enumerate(block)]
        assert got == expected, name


def test_file_errors_keep_their_order_and_line(tmp_path, monkeypatch):
    from hf_models.ngram import counting

    path = tmp_path / "train.txt"
    path.write_bytes(b"a b\nc d\nthe </s> e\nf \xff g\n")  # </s> on line 3 comes before the bad byte on line 4
    for block_bytes in (1 << 20, 6):
        monkeypatch.setattr(counting, "_BLOCK_BYTES", block_bytes)
        with pytest.raises(ValueError, match=r"train\.txt, line 3: .*'</s>'"):
            NGramLanguageModel.fit(path, order=2, smoothing="mle")
    path.write_bytes(b"a b\nc d\ne\nf \xff g\n")
    with pytest.raises(ValueError, match=r"train\.txt, line 4: not valid UTF-8 \(invalid start byte at byte 2\)"):
        NGramLanguageModel.fit(path, order=2, smoothing="mle")


def test_fit_on_files_in_small_blocks_is_the_same_model(tmp_path, monkeypatch):
    from hf_models.ngram import counting

    path = tmp_path / "train.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    reference = fit("modified_kneser_ney", order=3)
    monkeypatch.setattr(counting, "_BLOCK_BYTES", 7)  # blocks of one or two lines
    model = fit("modified_kneser_ney", order=3, corpus=path)
    assert model.vocab == reference.vocab
    assert model.fit_statistics["sentences"] == len(CORPUS)
    for a, b in zip(model.tables().keys, reference.tables().keys):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.tables().log10_probs, reference.tables().log10_probs):
        np.testing.assert_array_equal(a, b)


def test_unique_with_an_unstable_sort_is_numpy_unique():
    from hf_models.ngram.counting import _unique

    rng = np.random.default_rng(2)
    for keys in (rng.integers(0, 50, 1000), np.arange(10), np.zeros(0, dtype=np.int64), np.full(7, 3)):
        keys = keys.astype(np.int64)
        unique, first, inverse, counts = _unique(keys)
        expected = np.unique(keys, return_inverse=True, return_counts=True)
        np.testing.assert_array_equal(unique, expected[0])
        np.testing.assert_array_equal(inverse, expected[1])
        np.testing.assert_array_equal(counts, expected[2])
        np.testing.assert_array_equal(keys[first], unique)  # an occurrence of each key


def test_sort_with_order_is_a_stable_argsort():
    from hf_models.ngram.counting import sort_with_order

    rng = np.random.default_rng(3)
    for keys in (rng.integers(0, 30, 500), rng.integers(0, 2**62, 100), np.zeros(0, dtype=np.int64), np.arange(5)[::-1]):
        keys = keys.astype(np.int64)  # 2**62: too large to pack with the position, sorted by argsort
        sorted_keys, order = sort_with_order(keys)
        np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))
        np.testing.assert_array_equal(sorted_keys, np.sort(keys))


# ----------------------------------------------------------------------------------------------------------------------
# Saving, loading, the hub
# ----------------------------------------------------------------------------------------------------------------------
def test_save_pretrained_round_trip_with_korean(tmp_path):
    model = fit("modified_kneser_ney", order=3)
    model.save_pretrained(tmp_path)
    for name in ("config.json", "model.safetensors", "vocab.txt", "README.md", "modeling_ngram.py", "counting.py"):
        assert (tmp_path / name).is_file(), name
    vocab_lines = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab_lines[:3] == ["<unk>", "<s>", "</s>"] and "고양이" in vocab_lines
    loaded = NGramLanguageModel.from_pretrained(tmp_path)
    assert loaded.vocab == model.vocab and loaded.config.ngram_counts == model.config.ngram_counts
    for sentence in CORPUS + ["고양이 가 zzz"]:
        assert loaded.log10_prob(sentence) == model.log10_prob(sentence)
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, dict(loaded.named_buffers())[name]), name
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_ngram.NGramLanguageModel"


def test_loading_checks_the_vocabulary(tmp_path):
    model = fit("kneser_ney", order=2)
    model.save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("<unk>\n<s>\n</s>\nonly\n", encoding="utf-8")
    with pytest.raises(ValueError, match="vocab.txt: 4 words, but config.vocab_size is"):
        NGramLanguageModel.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("<s>\n<unk>\n</s>\n", encoding="utf-8")
    with pytest.raises(ValueError, match="first 3 lines must be"):
        NGramLanguageModel.from_pretrained(tmp_path)


def test_trust_remote_code_loads_the_saved_code(tmp_path):
    """A saved folder carries its code: a process that cannot import hf_models loads it with trust_remote_code."""
    model = fit("modified_kneser_ney", order=3)
    model.save_pretrained(tmp_path)
    result = run_without_hf_models(
        r"""
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True)
        print(json.dumps({"module": type(model).__module__, "log10_prob": model.log10_prob("the cat sat")}))
        """,
        tmp_path,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["module"].startswith("transformers_modules")
    assert payload["log10_prob"] == pytest.approx(model.log10_prob("the cat sat"), abs=1e-9)


def test_push_to_hub_uploads_the_vocabulary(monkeypatch):
    from compat import record_hub_commits

    commits = record_hub_commits(monkeypatch)
    fit("kneser_ney", order=2).push_to_hub("someone/tiny-ngram")
    files = commits[0]["files"]
    assert {"config.json", "model.safetensors", "vocab.txt", "modeling_ngram.py"} <= set(files)
    assert "고양이" in files["vocab.txt"].decode("utf-8").split("\n")


def test_unfitted_model_says_so():
    model = NGramLanguageModel(NGramConfig(order=2))
    with pytest.raises(ValueError, match="no tables yet"):
        model.log10_prob("a b")


# ----------------------------------------------------------------------------------------------------------------------
# Scoring API
# ----------------------------------------------------------------------------------------------------------------------
def test_perplexity_counts_tokens_and_oov(tmp_path):
    model = fit("modified_kneser_ney", order=3)
    sentences = ["the cat sat", "zzz dog qqq"]
    result = model.perplexity(sentences)
    assert (result["tokens"], result["sentences"], result["oov"]) == (3 + 1 + 3 + 1, 2, 2)
    total = sum(model.log10_prob(s) for s in sentences)
    assert result["log10_prob"] == pytest.approx(total)
    assert result["log_prob"] == pytest.approx(total * math.log(10))
    assert result["perplexity"] == pytest.approx(10 ** (-total / 8))
    excluded = model.perplexity(sentences, exclude_oov=True)
    oov_log10 = sum(s.log10_prob for s in model.score_tokens("zzz dog qqq") if s.oov)
    assert excluded["tokens"] == 6 and excluded["log10_prob"] == pytest.approx(total - oov_log10)
    path = tmp_path / "test.txt"
    path.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    assert model.perplexity(path)["perplexity"] == result["perplexity"]
    assert model.log_prob("the cat") == pytest.approx(model.log10_prob("the cat") * math.log(10))


def test_score_tokens_without_sentence_boundaries():
    model = fit("kneser_ney", order=2)
    with_bos = model.score_tokens("cat sat", bos=True, eos=False)
    without = model.score_tokens("cat sat", bos=False, eos=False)
    assert [s.token for s in without] == ["cat", "sat"] and without[0].ngram_length == 1
    assert without[1].log10_prob == with_bos[1].log10_prob
    assert without[0].log10_prob == pytest.approx(math.log10(dict(model.next_word_distribution("", bos=False))["cat"]),
                                                  abs=1e-6)


def test_encode_decode():
    model = fit("mle", order=2)
    ids = model.encode("the 고양이 zzz", add_special_tokens=True)
    assert ids[0] == 1 and ids[-1] == 2 and ids[3] == 0
    assert model.decode(ids) == "<s> the 고양이 <unk> </s>"
    assert model.decode(ids, skip_special_tokens=True) == "the 고양이 <unk>"


# ----------------------------------------------------------------------------------------------------------------------
# transformers interface and generation
# ----------------------------------------------------------------------------------------------------------------------
def test_forward_logits_are_normalised_next_word_log_probabilities():
    model = fit("modified_kneser_ney", order=3)
    ids = torch.tensor([model.encode("the cat sat on", add_special_tokens=False)])
    ids = torch.cat([torch.tensor([[1]]), ids], dim=1)  # <s> the cat sat on
    out = model(ids, labels=ids)
    assert out.logits.shape == (1, 5, len(model.vocab))
    torch.testing.assert_close(torch.logsumexp(out.logits, dim=-1), torch.zeros(1, 5), atol=1e-5, rtol=0)
    expected = dict(model.next_word_distribution("the cat"))
    for word, p in expected.items():
        assert out.logits[0, 2, model.vocab.word_to_id[word]].exp().item() == pytest.approx(p, abs=1e-6)
    nll = -np.mean([s.log10_prob for s in model.score_tokens("the cat sat on", eos=False)]) * math.log(10)
    assert out.loss.item() == pytest.approx(nll, rel=1e-5)
    last = model(ids, logits_to_keep=1).logits
    torch.testing.assert_close(last[:, 0], out.logits[:, -1])


def test_forward_padding_and_sentence_starts():
    model = fit("kneser_ney", order=3)
    ids = model.encode("the cat sat")
    padded = torch.tensor([[2, 2, 1, *ids], [1, *ids, 1, ids[0]]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 6])
    alone = model(torch.tensor([[1, *ids]])).logits
    out = model(padded, attention_mask=mask).logits
    torch.testing.assert_close(out[0, 2:], alone[0])
    torch.testing.assert_close(out[1, :4], alone[0])
    torch.testing.assert_close(out[1, 5], alone[0, 1])  # a second <s> starts a new sentence
    with pytest.raises(ValueError, match=r"input_ids must be word ids in \[0, "):
        model(torch.tensor([[1, 999]]))


def test_greedy_generation_is_the_argmax_chain_and_stops_at_eos():
    model = fit("modified_kneser_ney", order=3)
    text = model.generate("the", max_new_tokens=6, do_sample=False)
    context, expected = ["the"], []
    for _ in range(6):
        word = model.next_word_distribution(context, top_k=1)[0][0]
        if word == "</s>":
            break
        expected.append(word)
        context.append(word)
    assert text == " ".join(expected)
    assert model.generate(["the"], max_new_tokens=6, do_sample=False) == expected
    stop = NGramLanguageModel.fit(["x y", "x y", "x y z"], order=2, smoothing="mle")
    assert stop.generate("x y", max_new_tokens=10, do_sample=False) == ""  # p(</s> | y) = 2/3


def test_sampling_is_reproducible_with_a_seed():
    model = fit("modified_kneser_ney", order=3)
    first = model.generate("the", max_new_tokens=15, seed=3)
    assert model.generate("the", max_new_tokens=15, seed=3) == first
    samples = {model.generate("", max_new_tokens=15, seed=seed) for seed in range(8)}
    assert len(samples) > 1
    assert model.generate("the", max_new_tokens=5, top_k=1, seed=0) == model.generate("the", max_new_tokens=5,
                                                                                      do_sample=False)
    assert len(model.generate("", max_new_tokens=3, seed=1).split()) <= 3
    assert "<unk>" not in model.generate("", max_new_tokens=50, temperature=3.0, seed=0, allow_unk=False).split()
    with pytest.raises(ValueError, match="temperature"):
        model.generate("the", temperature=0)


def test_transformers_generate_matches_our_greedy_decoding():
    model = fit("modified_kneser_ney", order=3)
    prompt = torch.tensor([[1, *model.encode("the dog")]])
    output = model.generate(prompt, max_new_tokens=8, do_sample=False)
    words = model.decode(output[0, prompt.shape[1]:].tolist(), skip_special_tokens=True)
    assert words == model.generate("the dog", max_new_tokens=8, do_sample=False)
    sampled = model.generate(prompt, max_new_tokens=8, do_sample=True, seed=5)
    assert torch.equal(sampled, model.generate(prompt, max_new_tokens=8, do_sample=True, seed=5))


def test_train_ngram_function():
    model = train_ngram([s.split() for s in CORPUS], order=2, smoothing="add_k", k=0.1)
    assert model.config.k == 0.1 and model.fit_statistics["sentences"] == len(CORPUS)
    assert model.fit_statistics["ngram_counts"] == model.config.ngram_counts


def test_vocabulary_file_errors(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("<unk>\n<s>\n</s>\na\na\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 5: duplicate word 'a'"):
        NGramVocabulary.load(path)


# ----------------------------------------------------------------------------------------------------------------------
# Penn Treebank: lmplz's modified Kneser-Ney 5-gram scores the test set at perplexity 141.19
# ----------------------------------------------------------------------------------------------------------------------
@requires_shared_data
def test_penn_treebank_modified_kneser_ney_5gram_matches_lmplz():
    ptb = shared_data_dir() / "ptb"
    model = NGramLanguageModel.fit(ptb / "ptb.train.txt", order=5, smoothing="modified_kneser_ney")
    result = model.perplexity(ptb / "ptb.test.txt")
    assert result["perplexity"] == pytest.approx(141.19, rel=0.005)
    assert result["tokens"] == 82430 and result["oov"] == 4794  # PTB's literal <unk> counts as OOV, as in KenLM
    # lmplz's n-gram counts and discounts on the same text (its vocabulary also holds its own empty <unk>)
    assert model.config.ngram_counts[1:] == [264990, 586558, 717733, 737952]
    np.testing.assert_allclose(model.config.discounts[4], [0.959671, 1.3879, 1.24171], atol=1e-5)


_ARPA_ROUNDTRIP = r"""
import sys
from hf_models.ngram import NGramLanguageModel
lm = NGramLanguageModel.fit([["a", "b", "c", "a", "b", "d"]] * 20, order=3, discount_fallback=True)
lm.save_arpa(sys.argv[1])
NGramLanguageModel.from_arpa(sys.argv[1])
"""


@pytest.mark.slow
def test_arpa_kernels_announce_their_compilation_and_cache_in_the_user_folder(tmp_path):
    """The ARPA writing/reading kernels (numba) cache in $XDG_CACHE_HOME/hf_models/numba, never in the package, and a
    cold cache is announced with a warning naming the folder; a warm one is silent."""
    import subprocess
    import sys

    from hf_models.ngram import arpa

    package = Path(arpa.__file__).parent
    before = {path: path.stat().st_mtime_ns for path in package.rglob("*.nb[ic]")}
    env = {key: value for key, value in os.environ.items() if key not in ("NUMBA_CACHE_DIR", "HF_MODELS_CACHE")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    cache = tmp_path / "xdg" / "hf_models" / "numba"

    def run():
        result = subprocess.run([sys.executable, "-c", _ARPA_ROUNDTRIP, str(tmp_path / "m.arpa")], env=env,
                                capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    cold = run()
    names = [path.name for path in cache.rglob("*") if path.is_file()]
    for kernel in ("_write_lines_kernel", "_parse_section"):
        assert any(name.startswith(f"arpa.{kernel}") and name.endswith(".nbi") for name in names), names
        assert f"Compiling the n-gram kernel {kernel} with numba" in cold.stderr
    assert str(cache) in cold.stderr
    assert {path: path.stat().st_mtime_ns for path in package.rglob("*.nb[ic]")} == before, "cached in the package"
    warm = run()
    assert "Compiling" not in warm.stderr + warm.stdout


def test_fit_on_a_file_of_blank_lines_names_the_file(tmp_path):
    """A training file with only blank lines (or nothing) is an error naming it, not a model of <s> </s> alone."""
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n  \n\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"training file .*blank\.txt holds no word"):
        NGramLanguageModel.fit(blank, order=2, smoothing="mle")
    text = tmp_path / "text.txt"
    text.write_text("a b\n\nc\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"training file .*blank\.txt holds no word"):  # among other files too
        NGramLanguageModel.fit([text, blank], order=2, smoothing="mle")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"training file .*empty\.txt holds no word"):
        NGramLanguageModel.fit(empty, order=2, smoothing="mle")
    assert NGramLanguageModel.fit(text, order=2, smoothing="mle").fit_statistics["sentences"] == 3  # blank lines kept


def test_gzip_files_are_read_by_content_and_corrupt_ones_name_the_file(tmp_path):
    from hf_models.ngram.counting import read_lines

    data = gzip.compress(("\n".join(CORPUS) + "\n").encode("utf-8"))
    reference = NGramLanguageModel.fit([s.split() for s in CORPUS], order=2, smoothing="mle")
    for name in ("train.txt.gz", "train.txt"):  # a valid gzip file is not "not valid UTF-8", whatever its name
        path = tmp_path / name
        path.write_bytes(data)
        assert [line for _, line in read_lines(path)] == [s + "\n" for s in CORPUS]
        assert NGramLanguageModel.fit(path, order=2, smoothing="mle").vocab == reference.vocab
    big = gzip.compress(("a b c d\n" * 50000).encode("utf-8"))
    broken = {"truncated.gz": big[: len(big) // 2], "corrupt.gz": big[:10] + b"\x00" * 40 + big[50:],
              "plain_named.gz": b"a b\n"}
    for name, content in broken.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}: corrupt or truncated gzip file"):
            NGramLanguageModel.fit(path, order=2, smoothing="mle")
        with pytest.raises(ValueError, match=rf"{name}: corrupt or truncated gzip file"):
            list(read_lines(path))
