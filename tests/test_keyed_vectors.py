"""KeyedVectors against gensim 4 itself (same vectors, same answers): lookup, most_similar (3CosAdd),
most_similar_cosmul (3CosMul), similarity and doesnt_match, word analogies (identical score and sections, batched),
word-pair correlations (WordSim-353 and SimLex-999 layouts), the word2vec text and binary formats in both directions
(Korean words included) with their error messages, the native format, `to_embedding`, and the one-hot demo."""

from __future__ import annotations

import bz2
import gzip
import itertools
import logging
import math

import numpy as np
import pytest
import torch
from conftest import requires_shared_data
from gensim.models import KeyedVectors as GensimKeyedVectors

from hf_models.word2vec.keyed_vectors import KeyedVectors, Word2VecFormatError
from hf_models.word2vec.one_hot import (
    format_one_hot_demo,
    one_hot_demo,
    one_hot_encode,
    parse_word_pairs,
)

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")  # gensim's own init_sims

CAPITALS = [("athens", "greece"), ("berlin", "germany"), ("paris", "france"), ("rome", "italy"),
            ("madrid", "spain"), ("tokyo", "japan"), ("cairo", "egypt"), ("lima", "peru"), ("oslo", "norway"),
            ("seoul", "korea")]
GENDER = [("king", "queen"), ("man", "woman"), ("boy", "girl"), ("father", "mother"), ("brother", "sister"),
          ("son", "daughter"), ("uncle", "aunt"), ("husband", "wife")]
KOREAN = [("왕", "여왕"), ("남자", "여자"), ("아버지", "어머니"), ("아들", "딸"), ("소년", "소녀")]


def analogy_lines(pairs):
    return [f"{a} {b} {c} {d}" for (a, b), (c, d) in itertools.permutations(pairs, 2)]


def planted_vectors(keys, sections, d, noise, rng):
    """Random vectors where, within each section, the second word of a pair is the first plus a shared offset (plus
    noise): analogies are often, not always, answered right."""
    index = {key: i for i, key in enumerate(keys)}
    vectors = rng.standard_normal((len(keys), d)).astype(np.float32)
    assigned = set()
    for pairs in sections:
        offset = 1.5 * rng.standard_normal(d).astype(np.float32)
        for x, y in pairs:
            if x in index and y in index and y not in assigned and x != y:
                vectors[index[y]] = vectors[index[x]] + offset + noise * rng.standard_normal(d).astype(np.float32)
                assigned.add(y)
    return vectors


def gensim_copy(kv: KeyedVectors) -> GensimKeyedVectors:
    gensim_kv = GensimKeyedVectors(kv.vector_size)
    gensim_kv.add_vectors(list(kv.index_to_key), kv.vectors.copy())
    return gensim_kv


@pytest.fixture(scope="module")
def vocabulary_words():
    words = [w for pairs in (CAPITALS, GENDER, KOREAN) for pair in pairs for w in pair]
    # Case variants: "King" ranks before "king" (the first variant stands for the upper-cased word), "QUEEN" after.
    return ["the", "King", *words, "QUEEN", "Paris"]


@pytest.fixture(scope="module")
def kv_pair(vocabulary_words):
    """(ours, gensim's) over the same 2000 random float32 vectors of dimension 20."""
    rng = np.random.default_rng(0)
    keys = vocabulary_words + [f"w{i}" for i in range(2000 - len(vocabulary_words))]
    vectors = planted_vectors(keys, [CAPITALS, GENDER, KOREAN], 20, 0.6, rng)
    ours = KeyedVectors(keys, vectors)
    return ours, gensim_copy(ours)


@pytest.fixture(scope="module")
def analogy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("analogies") / "analogies.txt"
    lines = [": capital-common-countries", *analogy_lines(CAPITALS),
             ": family", *analogy_lines(GENDER), "king queen unknownword unknownqueen", "King Queen Man Woman",
             ": 한국어", *analogy_lines(KOREAN),
             ": empty-section"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def use_cosmul(gensim_kv):
    """gensim's evaluate_word_analogies always calls most_similar (its similarity_function is ignored): route it to
    most_similar_cosmul, the reference for our 3CosMul."""
    gensim_kv.most_similar = lambda positive, negative, topn, restrict_vocab: GensimKeyedVectors.most_similar_cosmul(
        gensim_kv, positive, negative, topn)
    return gensim_kv


# ----------------------------------------------------------------------------------------------------------------------
# Construction and lookup
# ----------------------------------------------------------------------------------------------------------------------
def test_lookup_like_a_dict_of_vectors():
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    kv = KeyedVectors(["a", "b", "왕", "d"], vectors, counts=[9, 5, 3, 1])
    assert len(kv) == 4 and kv.vector_size == 3 and list(kv) == ["a", "b", "왕", "d"]
    assert "왕" in kv and "zz" not in kv and kv.key_to_index["왕"] == 2
    np.testing.assert_array_equal(kv["왕"], vectors[2])
    np.testing.assert_array_equal(kv[["d", "a"]], vectors[[3, 0]])
    assert kv.get_index("b") == 1 and kv.get_index(3) == 3 and kv.get_index("zz", -1) == -1
    np.testing.assert_allclose(kv.get_vector("b", norm=True), vectors[1] / np.linalg.norm(vectors[1]), rtol=1e-6)
    assert kv.get_count("b") == 5 and kv.vectors.dtype == np.float32
    with pytest.raises(KeyError, match="'zz' not present"):
        kv["zz"]
    with pytest.raises(ValueError):
        kv.get_vector("a")[0] = 1.0  # read-only: editing would make the cached norms stale
    assert repr(kv) == "KeyedVectors<vector_size=3, 4 keys>"
    assert KeyedVectors(["x"], np.ones((1, 2), dtype=np.int64)).vectors.dtype == np.float32


@pytest.mark.parametrize(
    "keys, vectors, message",
    [
        (["a", "b", "a"], np.ones((3, 2)), r"duplicate key 'a' at positions 0 and 2"),
        (["a", "b"], np.ones((3, 2)), r"3 rows but index_to_key has 2 keys"),
        (["a", 7], np.ones((2, 2)), r"index_to_key\[1\] must be a str"),
        (["a", "b"], np.ones(2), r"2-D"),
        (["a", "b"], np.array([[1.0, 0.0], [np.nan, 1.0]]), r"vector of 'b' \(row 1\) holds NaN"),
    ],
)
def test_constructor_errors_name_the_field(keys, vectors, message):
    with pytest.raises((ValueError, TypeError), match=message):
        KeyedVectors(keys, vectors)


def test_zero_vectors_are_safe_and_the_norm_cache_follows_new_vectors():
    kv = KeyedVectors(["zero", "x", "y"], np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]], dtype=np.float32))
    normed = kv.get_normed_vectors()
    np.testing.assert_array_equal(normed[0], [0.0, 0.0])
    np.testing.assert_allclose(normed[1], [0.6, 0.8])
    assert kv.similarity("zero", "x") == 0.0
    assert [key for key, _ in kv.most_similar("x")] == ["y", "zero"]
    assert not np.isnan(kv.most_similar("x", topn=None)).any()
    kv.vectors = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 1.0]], dtype=np.float32)  # resets the cached norms
    np.testing.assert_allclose(kv.get_normed_vectors()[1], [0.0, 1.0])
    assert kv.most_similar("x", topn=1) == [("y", 1.0)]


# ----------------------------------------------------------------------------------------------------------------------
# Similarity queries against gensim
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "positive, negative, kwargs",
    [
        (["king", "woman"], ["man"], {}),
        ("paris", None, {"topn": 5}),
        (["여왕", "남자"], ["왕"], {"restrict_vocab": 300}),
        ([("berlin", 2.0), "france"], [("paris", -0.5)], {}),
        (["King"], None, {"clip_start": 10, "clip_end": 500}),
        (["athens", "w5"], ["w7", "greece"], {"topn": 25}),
    ],
)
def test_most_similar_matches_gensim(kv_pair, positive, negative, kwargs):
    ours, theirs = kv_pair
    assert ours.most_similar(positive, negative, **kwargs) == theirs.most_similar(positive, negative, **kwargs)


def test_most_similar_takes_vectors_and_returns_all_scores_like_gensim(kv_pair):
    ours, theirs = kv_pair
    vector = ours["king"] - ours["man"]
    assert ours.most_similar(positive=[vector, "woman"]) == theirs.most_similar(positive=[vector, "woman"])
    assert ours.similar_by_vector(vector, topn=7) == theirs.similar_by_vector(vector, topn=7)
    assert ours.similar_by_key("queen", topn=3) == theirs.similar_by_key("queen", topn=3)
    np.testing.assert_array_equal(ours.most_similar("queen", topn=None), theirs.most_similar("queen", topn=None))
    assert ours.most_similar("queen", topn=0) == []
    with pytest.raises(KeyError, match="nope"):
        ours.most_similar(["king", "nope"])


@pytest.mark.parametrize(
    "positive, negative",
    [(["king", "woman"], ["man"]), (["seoul"], None), (["여왕", "남자"], ["왕"]),
     (["rome", "germany", "w3"], ["berlin", "w9"])],
)
def test_most_similar_cosmul_matches_gensim(kv_pair, positive, negative):
    ours, theirs = kv_pair
    assert ours.most_similar_cosmul(positive, negative, topn=8) == theirs.most_similar_cosmul(positive, negative, topn=8)
    np.testing.assert_array_equal(ours.most_similar_cosmul(positive, negative, topn=None),
                                  theirs.most_similar_cosmul(positive, negative, topn=None))


def test_cosmul_restrict_vocab_limits_the_candidates(kv_pair):
    ours, _ = kv_pair
    result = ours.most_similar_cosmul(["king", "woman"], ["man"], topn=50, restrict_vocab=100)
    assert len(result) == 50 and all(ours.get_index(key) < 100 for key, _ in result)


def test_similarity_distance_and_odd_one_out_match_gensim(kv_pair):
    ours, theirs = kv_pair
    for a, b in [("king", "queen"), ("왕", "여왕"), ("paris", "w17"), ("King", "king")]:
        assert ours.similarity(a, b) == theirs.similarity(a, b)
        assert ours.distance(a, b) == theirs.distance(a, b)
        assert ours.rank(a, b) == theirs.rank(a, b)
    assert ours.n_similarity(["king", "man"], ["queen", "woman"]) == theirs.n_similarity(["king", "man"],
                                                                                         ["queen", "woman"])
    np.testing.assert_array_equal(ours.distances("king"), theirs.distances("king"))
    np.testing.assert_array_equal(ours.distances("king", ["queen", "w1"]), theirs.distances("king", ["queen", "w1"]))
    for words in (["king", "queen", "man", "woman", "w42"], ["왕", "여왕", "남자", "paris"], ["athens", "rome", "w3"]):
        assert ours.doesnt_match(words) == theirs.doesnt_match(words)
        assert [w for _, w in ours.rank_by_centrality(words)] == [w for _, w in theirs.rank_by_centrality(words)]
    assert ours.most_similar_to_given("king", ["w1", "queen", "w2"]) == theirs.most_similar_to_given(
        "king", ["w1", "queen", "w2"])
    assert ours.closer_than("king", "queen") == theirs.closer_than("king", "queen")


# ----------------------------------------------------------------------------------------------------------------------
# Word analogies
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("similarity_function", ["most_similar", "most_similar_cosmul"])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"restrict_vocab": 40}, {"dummy4unknown": True}, {"case_insensitive": False},
     {"restrict_vocab": 1000, "dummy4unknown": True, "case_insensitive": False}],
)
def test_evaluate_word_analogies_matches_gensim(kv_pair, analogy_file, similarity_function, kwargs):
    ours, theirs = kv_pair
    if similarity_function == "most_similar_cosmul":
        # gensim's most_similar_cosmul searches every vector whatever restrict_vocab says: give it only the first ones.
        restrict = min(kwargs.get("restrict_vocab", len(ours)), len(ours))
        theirs = use_cosmul(gensim_copy(KeyedVectors(ours.index_to_key[:restrict], ours.vectors[:restrict])))
    score, sections = ours.evaluate_word_analogies(analogy_file, similarity_function=similarity_function, **kwargs)
    expected_score, expected_sections = theirs.evaluate_word_analogies(analogy_file, **kwargs)
    assert score == expected_score
    assert sections == expected_sections
    assert [s["section"] for s in sections] == ["capital-common-countries", "family", "한국어", "empty-section",
                                                "Total accuracy"]
    assert 0.1 < score < 1.0  # neither trivially right nor trivially wrong: the comparison means something


def test_analogy_answers_do_not_depend_on_batching_and_ties_are_broken_like_gensim(kv_pair, analogy_file):
    ours, _ = kv_pair
    reference = ours.evaluate_word_analogies(analogy_file)
    assert ours.evaluate_word_analogies(analogy_file, batch_size=1) == reference
    assert ours.evaluate_word_analogies(analogy_file, batch_size=7, similarity_function="3CosMul") == \
        ours.evaluate_word_analogies(analogy_file, similarity_function="3CosMul")
    # Exact ties (copies of the vectors of likely answers) are ranked as gensim ranks them.
    vectors = ours.vectors.copy()
    keys = list(ours.index_to_key)
    for source, target in [("queen", "w1"), ("woman", "w2"), ("france", "w3"), ("여왕", "w4")]:
        vectors[keys.index(target)] = vectors[keys.index(source)]
    tied = KeyedVectors(keys, vectors)
    assert tied.evaluate_word_analogies(analogy_file) == gensim_copy(tied).evaluate_word_analogies(analogy_file)


@pytest.mark.parametrize("similarity_function", ["3CosAdd", "3CosMul"])
def test_tiny_vocabulary_analogies_match_gensim(tmp_path, similarity_function):
    """12 words: no batching, and fewer than 5 candidates may be left once the query words are removed."""
    keys = [w for pair in GENDER[:5] for w in pair] + ["x", "y"]
    kv = KeyedVectors(keys, planted_vectors(keys, [GENDER], 6, 0.3, np.random.default_rng(5)))
    path = tmp_path / "tiny.txt"
    path.write_text(": family\n" + "\n".join(analogy_lines(GENDER[:5])) + "\n", encoding="utf-8")
    theirs = gensim_copy(kv) if similarity_function == "3CosAdd" else use_cosmul(gensim_copy(kv))
    result = kv.evaluate_word_analogies(path, similarity_function=similarity_function)
    assert result == theirs.evaluate_word_analogies(path) and result[0] > 0.5


def test_batched_scores_are_within_the_tie_tolerance_of_gensims_products(kv_pair):
    ours, _ = kv_pair
    questions = np.random.default_rng(1).integers(0, len(ours), size=(64, 3))
    for cosmul in (False, True):
        batch = ours._analogy_scores_batch(questions[:, 0], questions[:, 1], questions[:, 2], len(ours), cosmul)
        exact = np.stack([ours._analogy_scores_exact(*map(int, q), len(ours), cosmul) for q in questions])
        np.testing.assert_allclose(batch, exact, rtol=1e-6, atol=1e-6)


@requires_shared_data
def test_evaluate_word_analogies_on_questions_words_matches_gensim(shared_data_dir):
    """The 19,544 Google analogy questions on random vectors (with planted offsets) over their 905 words."""
    path = shared_data_dir / "word_embedding_eval" / "questions-words.txt"
    words, sections = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            sections.append([])
            continue
        w = line.lower().split()
        words.extend(w)
        sections[-1] += [(w[0], w[1]), (w[2], w[3])]
    words = list(dict.fromkeys(words))
    rng = np.random.default_rng(0)
    keys = words + [f"filler{i}" for i in range(1200 - len(words))]
    vectors = planted_vectors(keys, sections, 20, 0.8, rng)
    order = rng.permutation(len(keys))
    ours = KeyedVectors([keys[i] for i in order], vectors[order])
    theirs = gensim_copy(ours)
    for kwargs in ({}, {"restrict_vocab": 1000}):
        score, result = ours.evaluate_word_analogies(path, **kwargs)
        assert (score, result) == theirs.evaluate_word_analogies(path, **kwargs)
        assert 0.2 < score < 0.9 and len(result) == 15
    _, _, stats = ours.evaluate_word_analogies(path, return_stats=True, similarity_function="3CosMul")
    assert stats["questions"] == 19544 and stats["oov_questions"] == 0


@pytest.mark.parametrize(
    "lines, message",
    [
        (["athens greece berlin germany"], r"line 1: missing section header"),
        ([": capitals", "athens greece berlin germany", "athens greece berlin"], r"line 3: expected 4 words"),
        ([": capitals", "athens greece berlin germany extra"], r"line 2: expected 4 words"),
        ([": capitals", ": empty"], r"no analogy questions found"),
    ],
)
def test_malformed_analogy_files_name_the_line(kv_pair, tmp_path, lines, message):
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}.*{message}" if "line" in message else message):
        kv_pair[0].evaluate_word_analogies(path)


def test_analogy_arguments_are_checked(kv_pair, analogy_file, tmp_path):
    ours, _ = kv_pair
    with pytest.raises(ValueError, match="similarity_function"):
        ours.evaluate_word_analogies(analogy_file, similarity_function="3CosSum")
    with pytest.raises(ValueError, match="restrict_vocab"):
        ours.evaluate_word_analogies(analogy_file, restrict_vocab=0)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b": s\nathens greece caf\xe9 france\n")
    with pytest.raises(ValueError, match=r"latin1.txt, line 2: not valid utf8"):
        ours.evaluate_word_analogies(latin1)


# ----------------------------------------------------------------------------------------------------------------------
# Word pairs
# ----------------------------------------------------------------------------------------------------------------------
PAIRS = [("king", "queen", 8.5), ("man", "woman", 8.3), ("paris", "france", 7.9), ("athens", "w3", 1.2),
         ("왕", "여왕", 8.0), ("boy", "w9", 0.5), ("tokyo", "japan", 8.1), ("w1", "w2", 0.3), ("King", "rome", 2.2),
         ("unknownword", "king", 3.0), ("berlin", "germany", 7.5), ("sister", "w30", 1.0)]


def write_pairs(path, rows, header=None, comment=True):
    lines = (["# a comment line"] if comment else []) + ([header] if header else [])
    lines += ["\t".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"dummy4unknown": True}, {"case_insensitive": False}, {"restrict_vocab": 30}],
)
def test_evaluate_word_pairs_matches_gensim(kv_pair, tmp_path, kwargs):
    ours, theirs = kv_pair
    path = write_pairs(tmp_path / "pairs.tsv", PAIRS)
    (pearson, spearman, oov) = ours.evaluate_word_pairs(path, **kwargs)
    (their_pearson, their_spearman, their_oov) = theirs.evaluate_word_pairs(str(path), **kwargs)
    assert pearson == (float(their_pearson[0]), float(their_pearson[1]))
    assert spearman == (float(their_spearman[0]), float(their_spearman[1]))
    assert oov == their_oov and oov > 0


def test_word_pairs_header_and_simlex_layout(kv_pair, tmp_path):
    ours, _ = kv_pair
    plain = ours.evaluate_word_pairs(write_pairs(tmp_path / "plain.tsv", PAIRS))
    wordsim = write_pairs(tmp_path / "wordsim.tab", PAIRS, header="Word 1\tWord 2\tHuman (mean)", comment=False)
    assert ours.evaluate_word_pairs(wordsim) == plain
    simlex_rows = [(a, b, "N", score, 0.5 * score + 1, 3.9, 4, 1.0, 0, 0.4) for a, b, score in PAIRS]
    header = "word1\tword2\tPOS\tSimLex999\tconc(w1)\tconc(w2)\tconcQ\tAssoc(USF)\tSimAssoc333\tSD(SimLex)"
    simlex = write_pairs(tmp_path / "SimLex-999.txt", simlex_rows, header=header, comment=False)
    simlex.write_bytes(simlex.read_bytes().replace(b"\n", b"\r\n"))  # the real file has CRLF line ends
    assert ours.evaluate_word_pairs(simlex) == plain
    assert ours.evaluate_word_pairs(simlex, score_column="SimLex999") == plain
    assert ours.evaluate_word_pairs(simlex, score_column=3) == plain
    pearson, spearman, oov = ours.evaluate_word_pairs(simlex, score_column="conc(w1)")  # 0.5 * score + 1
    assert pearson[0] == pytest.approx(plain[0][0]) and spearman[0] == pytest.approx(plain[1][0]) and oov == plain[2]


@pytest.mark.parametrize(
    "rows, kwargs, message",
    [
        ([("king", "queen", 8.5), ("man", "woman")], {}, r"line 3: expected at least 3"),
        ([("king", "queen", 8.5), ("man", "woman", "high")], {}, r"line 3: the score 'high' \(column 2\)"),
        ([("king", "queen", "N", 8.5), ("man", "woman", "N", 8.0)], {}, r"line 2: cannot tell which of the columns"),
        ([("king", "queen", 8.5, 1), ("man", "woman", 8.0, 2)], {}, r"line 2: expected 3 '\\t'-separated fields"),
        ([("king", "queen", 8.5)], {"score_column": "SimLex999"}, r"names a header column but the file has no header"),
        ([("king", "queen", 8.5), ("", "woman", 2.0)], {}, r"line 3: empty word"),
        ([("king", "queen", "nan"), ("man", "woman", 2.0)], {}, r"line 2: the score 'nan' is not finite"),
        ([("unknownword", "zzz", 1.0), ("qqq", "king", 2.0)], {}, r"No valid similarity judgements"),
    ],
)
def test_malformed_word_pairs_files_name_the_line(kv_pair, tmp_path, rows, kwargs, message):
    path = write_pairs(tmp_path / "pairs.tsv", rows)
    with pytest.raises(ValueError, match=message):
        kv_pair[0].evaluate_word_pairs(path, **kwargs)


@requires_shared_data
def test_real_wordsim353_and_simlex999_match_gensim(shared_data_dir, tmp_path):
    folder = shared_data_dir / "word_embedding_eval"
    wordsim, simlex = folder / "wordsim353_combined.tab", folder / "SimLex-999.txt"
    simlex_rows = [line.split("\t") for line in simlex.read_text(encoding="utf-8").splitlines()[1:]]
    words = {w.strip() for path in (wordsim, simlex) for line in path.read_text(encoding="utf-8").splitlines()[1:]
             for w in line.split("\t")[:2]}
    keys = sorted(words)[: int(len(words) * 0.9)] + ["filler"]  # ~10% of the words missing: some pairs are OOV
    ours = KeyedVectors(keys, np.random.default_rng(0).standard_normal((len(keys), 30)).astype(np.float32))
    theirs = gensim_copy(ours)
    # gensim reads WordSim-353 (its header line is skipped as invalid) but not SimLex-999's ten columns: compare on
    # the three columns it can read.
    simlex3 = tmp_path / "simlex3.tsv"
    simlex3.write_text("\n".join(f"{r[0]}\t{r[1]}\t{r[3]}" for r in simlex_rows) + "\n", encoding="utf-8")
    for ours_path, their_path in ((wordsim, wordsim), (simlex, simlex3)):
        pearson, spearman, oov = ours.evaluate_word_pairs(ours_path)
        their_pearson, their_spearman, their_oov = theirs.evaluate_word_pairs(str(their_path))
        assert pearson == (float(their_pearson[0]), float(their_pearson[1]))
        assert spearman == (float(their_spearman[0]), float(their_spearman[1]))
        assert oov == their_oov and 1 < oov < 50


# ----------------------------------------------------------------------------------------------------------------------
# word2vec file formats
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture
def small_kv():
    keys = ["the", "왕", "여왕", "café", "서울", "naïve", "x"]
    vectors = np.random.default_rng(3).standard_normal((len(keys), 5)).astype(np.float32)
    vectors[6] = [1e-8, -3.5e7, 0.1, 0.0, -0.0]  # exponents and signed zeros survive the text format
    return KeyedVectors(keys, vectors, counts=[50, 40, 30, 20, 10, 5, 1])


def assert_same_vectors(ours: KeyedVectors, theirs) -> None:
    assert list(ours.index_to_key) == list(theirs.index_to_key)
    np.testing.assert_array_equal(ours.vectors, theirs.vectors)


@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2"])
def test_text_format_is_byte_identical_to_gensims_and_read_both_ways(small_kv, tmp_path, suffix):
    ours_path, their_path = tmp_path / f"ours.txt{suffix}", tmp_path / f"theirs.txt{suffix}"
    small_kv.save_word2vec_format(ours_path)
    gensim_copy(small_kv).save_word2vec_format(str(their_path))
    decompress = {"": lambda b: b, ".gz": gzip.decompress, ".bz2": bz2.decompress}[suffix]
    assert decompress(ours_path.read_bytes()) == decompress(their_path.read_bytes())
    assert decompress(ours_path.read_bytes()).decode("utf-8").splitlines()[:2] == [
        "7 5", "the " + " ".join(str(v) for v in small_kv["the"])]
    assert_same_vectors(small_kv, GensimKeyedVectors.load_word2vec_format(str(ours_path)))
    assert_same_vectors(KeyedVectors.load_word2vec_format(their_path), GensimKeyedVectors.load_word2vec_format(
        str(their_path)))


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_binary_format_is_word2vec_c_layout_and_read_both_ways(small_kv, tmp_path, suffix):
    ours_path, their_path = tmp_path / f"ours.bin{suffix}", tmp_path / f"theirs.bin{suffix}"
    small_kv.save_word2vec_format(ours_path, binary=True)
    expected = b"7 5\n" + b"".join(key.encode("utf-8") + b" " + small_kv[key].astype("<f4").tobytes() + b"\n"
                                   for key in small_kv.index_to_key)
    data = ours_path.read_bytes()
    assert (gzip.decompress(data) if suffix else data) == expected
    assert_same_vectors(small_kv, GensimKeyedVectors.load_word2vec_format(str(ours_path), binary=True))
    gensim_copy(small_kv).save_word2vec_format(str(their_path), binary=True)  # gensim writes no newlines
    assert_same_vectors(small_kv, KeyedVectors.load_word2vec_format(their_path, binary=True))
    from hf_models.word2vec import keyed_vectors as module

    with module._open(ours_path, "rb") as fin:  # 3-byte reads: every record straddles chunks
        header = fin.readline()
        keys, vectors, _ = module._read_binary_vectors(fin, "f", 7, 5, np.float32, "utf8", "strict", True, 7,
                                                       chunk_size=3)
    assert header == b"7 5\n" and keys == small_kv.index_to_key
    np.testing.assert_array_equal(vectors, small_kv.vectors)
    assert KeyedVectors.load_word2vec_format(ours_path, binary=True, limit=3).index_to_key == small_kv.index_to_key[:3]


def test_limit_datatype_no_header_and_fvocab(small_kv, tmp_path):
    path, vocab = tmp_path / "v.txt", tmp_path / "vocab.txt"
    small_kv.save_word2vec_format(path, fvocab=vocab)
    loaded = KeyedVectors.load_word2vec_format(path, fvocab=vocab, limit=4, datatype=np.float64)
    assert loaded.index_to_key == small_kv.index_to_key[:4] and loaded.vectors.dtype == np.float64
    np.testing.assert_array_equal(loaded.counts, [50, 40, 30, 20])
    gensim_loaded = GensimKeyedVectors.load_word2vec_format(str(path), fvocab=str(vocab))
    assert [gensim_loaded.get_vecattr(k, "count") for k in small_kv.index_to_key] == small_kv.counts.tolist()
    glove = tmp_path / "glove.txt"
    small_kv.save_word2vec_format(glove, write_header=False)
    assert_same_vectors(small_kv, GensimKeyedVectors.load_word2vec_format(str(glove), no_header=True))
    glove.write_bytes(glove.read_bytes() + b"\n")  # a trailing blank line is not a vector
    assert_same_vectors(small_kv, KeyedVectors.load_word2vec_format(glove, no_header=True))
    assert KeyedVectors.load_word2vec_format(glove, no_header=True, limit=2).index_to_key == ["the", "왕"]
    with pytest.raises(ValueError, match="no_header is only available for text"):
        KeyedVectors.load_word2vec_format(glove, no_header=True, binary=True)


TEXT_ERRORS = [
    (b"", r"t.txt: the file is empty"),
    (b"2 3 4\na 1 2 3\n", r"t.txt, line 1: expected a header 'vocab_size vector_size'"),
    (b"a 1 2 3\n", r"t.txt, line 1: expected a header"),
    (b"2 3\na 1 2 3\nb 1 2\n", r"t.txt, line 3: expected 3 values after the word 'b', found 2"),
    (b"2 3\na 1 2 3\nb 1 2 3 4\n", r"t.txt, line 3: expected 3 values after the word 'b', found 4"),
    (b"2 3\na 1 2 3\nb 1 two 3\n", r"t.txt, line 3: 'two' \(a value of 'b'\) is not a number"),
    (b"3 3\na 1 2 3\nb 1 2 3\n", r"t.txt, line 4: unexpected end of file after 2 vectors; the header declares 3"),
    (b"1 3\na 1 2 3\nb 1 2 3\n", r"t.txt, line 3: the header declares 1 vectors but the file has more"),
    (b"2 3\na 1 2 3\n\nb 1 2 3\n", r"t.txt, line 3: empty line"),
    (b"2 3\na 1 2 3\nb 1 nan 3\n", r"t.txt, line 3: the vector of 'b' holds NaN"),
    (b"1 2\n\xff\xfe 1 2\n", r"t.txt, line 2: not valid utf8"),
    (b"1 2\n 1 2\n", r"t.txt, line 2: the line does not start with a word"),
]


@pytest.mark.parametrize("content, message", TEXT_ERRORS)
def test_malformed_text_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    with pytest.raises(Word2VecFormatError, match=message):
        KeyedVectors.load_word2vec_format(path)


def test_malformed_binary_files_name_the_vector(tmp_path):
    def record(word, values):
        return word.encode() + b" " + np.asarray(values, dtype="<f4").tobytes() + b"\n"

    path = tmp_path / "b.bin"
    good = b"2 2\n" + record("a", [1, 2]) + record("왕", [3, 4])
    cases = [
        (good[:-6], r"b.bin, vector #2 \(byte \d+\): the file is truncated \(a vector shorter than 2 floats\)"),
        (good[: good.index("왕".encode()) + 2], r"vector #2 .*truncated \(a word without its vector\)"),
        (b"3 2\n" + good[4:], r"unexpected end of file after 2 vectors .*the header declares 3"),
        (good + record("b", [5, 6]), r"the header declares 2 vectors but the file has more data"),
        (b"1 2\n" + b"\xff\xfe" + record("", [1, 2])[0:], r"vector #1 \(byte 4\): not valid utf8"),
    ]
    for content, message in cases:
        path.write_bytes(content)
        with pytest.raises(Word2VecFormatError, match=message):
            KeyedVectors.load_word2vec_format(path, binary=True)
    path.write_bytes(b"1 2\n" + b"\xed\x95" + record("", [1, 2])[0:])  # a word cut inside a Hangul syllable
    kv = KeyedVectors.load_word2vec_format(path, binary=True, unicode_errors="replace")
    assert kv.index_to_key == ["\ufffd"]


def test_duplicate_words_keep_the_first_vector_with_a_warning(tmp_path, caplog):
    path = tmp_path / "dup.txt"
    path.write_bytes(b"3 2\na 1 2\nb 3 4\na 5 6\n")
    with caplog.at_level(logging.WARNING):
        kv = KeyedVectors.load_word2vec_format(path)
    assert kv.index_to_key == ["a", "b"] and kv["a"].tolist() == [1.0, 2.0]
    assert "line 4: duplicate word 'a' (first on line 2)" in caplog.text


def test_keys_with_whitespace_cannot_be_saved(tmp_path):
    for key in ("new york", "tab\there", "", "line\n"):
        kv = KeyedVectors(["ok", key], np.ones((2, 2), dtype=np.float32))
        with pytest.raises(ValueError, match="cannot be read back"):
            kv.save_word2vec_format(tmp_path / "v.txt")
    with pytest.raises(ValueError, match="no counts"):
        KeyedVectors(["ok"], np.ones((1, 2))).save_word2vec_format(tmp_path / "v.txt", fvocab=tmp_path / "c.txt")


def test_native_format_roundtrip_and_gensim_conversion(small_kv, tmp_path):
    path = tmp_path / "sub" / "vectors.kv"  # no .npz suffix added
    small_kv.save(path)
    loaded = KeyedVectors.load(path)
    assert_same_vectors(small_kv, loaded)
    np.testing.assert_array_equal(loaded.counts, small_kv.counts)
    small_kv.save(tmp_path / "c.npz", compress=True)
    assert_same_vectors(small_kv, KeyedVectors.load(tmp_path / "c.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        KeyedVectors.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="not a KeyedVectors file"):
        KeyedVectors.load(tmp_path / "other.npz")
    converted = KeyedVectors.from_gensim(small_kv.to_gensim())
    assert_same_vectors(small_kv, converted)
    np.testing.assert_array_equal(converted.counts, small_kv.counts)


# ----------------------------------------------------------------------------------------------------------------------
# load_vectors: any place vectors are kept
# ----------------------------------------------------------------------------------------------------------------------
def test_load_vectors_reads_every_format(small_kv, tmp_path):
    from hf_models.word2vec import Word2VecModel, load_vectors

    small_kv.save_word2vec_format(tmp_path / "v.txt")
    small_kv.save_word2vec_format(tmp_path / "v.txt.gz")
    small_kv.save_word2vec_format(tmp_path / "v.bin", binary=True)
    small_kv.save_word2vec_format(tmp_path / "v.bin.bz2", binary=True)
    small_kv.save_word2vec_format(tmp_path / "binary_named.vec", binary=True)
    small_kv.save_word2vec_format(tmp_path / "glove.txt", write_header=False)
    small_kv.save(tmp_path / "v.npz")
    small_kv.save(tmp_path / "native.kv")  # KeyedVectors.save under another name: recognised by its content
    for name in ("v.txt", "v.txt.gz", "v.bin", "v.bin.bz2", "v.npz", "native.kv"):
        assert_same_vectors(small_kv, load_vectors(tmp_path / name))
    assert_same_vectors(small_kv, load_vectors(str(tmp_path / "binary_named.vec"), binary=True))
    assert_same_vectors(small_kv, load_vectors(tmp_path / "glove.txt", no_header=True))
    limited = load_vectors(tmp_path / "v.bin", limit=3)
    assert limited.index_to_key == small_kv.index_to_key[:3]
    np.testing.assert_array_equal(load_vectors(tmp_path / "native.kv").counts, small_kv.counts)
    with pytest.raises(Word2VecFormatError, match="v.bin"):  # binary=False overrides the name
        load_vectors(tmp_path / "v.bin", binary=False)

    Word2VecModel.from_keyed_vectors(small_kv).save_pretrained(tmp_path / "model")
    from_folder = load_vectors(tmp_path / "model")
    assert_same_vectors(small_kv, from_folder)
    np.testing.assert_array_equal(from_folder.counts, small_kv.counts)


def test_load_vectors_errors_name_the_path(small_kv, tmp_path):
    from hf_models.word2vec import Word2VecModel, load_vectors

    with pytest.raises(FileNotFoundError, match=r"nope\.bin: no such file or folder"):
        load_vectors(tmp_path / "nope.bin")
    with pytest.raises(FileNotFoundError, match="no-such-org/no-such-model: no such file or folder, and the Hub"):
        load_vectors("no-such-org/no-such-model")  # read as a Hub id; the Hub is offline in the tests
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty is a folder without config\.json"):
        load_vectors(tmp_path / "empty")
    # files that are not word vectors
    (tmp_path / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ValueError, match=r"weights\.safetensors: unknown word-vectors format \(model weights\)"):
        load_vectors(tmp_path / "weights.safetensors")
    import pickle

    (tmp_path / "gensim.model").write_bytes(pickle.dumps({"not": "vectors"}, protocol=4))
    with pytest.raises(ValueError, match=r"gensim\.model: unknown word-vectors format \(a pickle\).*from_gensim"):
        load_vectors(tmp_path / "gensim.model")
    (tmp_path / "model").mkdir()
    Word2VecModel.from_keyed_vectors(small_kv).save_pretrained(tmp_path / "model")
    torch.save({"x": torch.ones(1)}, tmp_path / "model" / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"pytorch_model\.bin: unknown word-vectors format.*pass its folder"):
        load_vectors(tmp_path / "model" / "pytorch_model.bin")
    (tmp_path / "notes.txt").write_text("just some text\n", encoding="utf-8")
    with pytest.raises(Word2VecFormatError, match=r"notes\.txt, line 1: expected a header"):
        load_vectors(tmp_path / "notes.txt")
    # word2vec-file options where they cannot apply
    small_kv.save(tmp_path / "v.npz")
    with pytest.raises(ValueError, match=r"v\.npz is a KeyedVectors \.npz file: limit applies only"):
        load_vectors(tmp_path / "v.npz", limit=2)
    with pytest.raises(ValueError, match=r"model is a model folder: binary applies only"):
        load_vectors(tmp_path / "model", binary=True)


# ----------------------------------------------------------------------------------------------------------------------
# torch.nn.Embedding
# ----------------------------------------------------------------------------------------------------------------------
def test_to_embedding(small_kv, caplog):
    embedding = small_kv.to_embedding()
    assert isinstance(embedding, torch.nn.Embedding) and embedding.weight.requires_grad
    np.testing.assert_array_equal(embedding.weight.detach().numpy(), small_kv.vectors)
    assert not small_kv.to_embedding(freeze=True).weight.requires_grad

    with caplog.at_level(logging.WARNING):
        embedding, missing = small_kv.to_embedding(["<pad>", "여왕", "unseen", "the"], padding_idx=0,
                                                   return_missing=True)
    weight = embedding.weight.detach().numpy()
    assert missing == ["<pad>", "unseen"] and "2 of 4 keys have no vector" in caplog.text
    np.testing.assert_array_equal(weight[1], small_kv["여왕"])
    np.testing.assert_array_equal(weight[3], small_kv["the"])
    np.testing.assert_array_equal(weight[0], np.zeros(5))
    assert embedding.padding_idx == 0 and np.abs(weight[2]).max() <= 0.5 / 5 and np.abs(weight[2]).max() > 0

    class Tokenizer:
        def get_vocab(self):
            return {"[PAD]": 0, "서울": 1, "x": 4}

    embedding = small_kv.to_embedding(Tokenizer())
    assert embedding.num_embeddings == 5
    np.testing.assert_array_equal(embedding.weight[4].detach().numpy(), small_kv["x"])
    np.testing.assert_array_equal(embedding(torch.tensor([1])).detach().numpy()[0], small_kv["서울"])
    with pytest.raises(ValueError, match="padding_idx 9 is out of range"):
        small_kv.to_embedding(padding_idx=9)
    with pytest.raises(ValueError, match="indices must be non-negative"):
        small_kv.to_embedding({"a": -1})
    with pytest.raises(TypeError, match="not a single str"):
        small_kv.to_embedding("the")


# ----------------------------------------------------------------------------------------------------------------------
# One-hot vectors versus embeddings
# ----------------------------------------------------------------------------------------------------------------------
def test_one_hot_vectors_are_orthogonal():
    vocabulary = ["the", "king", "queen", "왕", "여왕"]
    encoded = one_hot_encode(vocabulary, vocabulary)
    np.testing.assert_array_equal(encoded @ encoded.T, np.eye(5))  # x_u . x_v = 1 if u = v else 0
    np.testing.assert_array_equal(one_hot_encode("왕", vocabulary), [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(one_hot_encode(["queen"], {"queen": 1, "king": 0}), [[0, 1]])
    with pytest.raises(KeyError, match="'prince' is not in the vocabulary of 5 words"):
        one_hot_encode(["king", "prince"], vocabulary)
    with pytest.raises(ValueError, match="lists 'king' twice"):
        one_hot_encode("king", ["king", "queen", "king"])


def test_one_hot_demo_and_table(kv_pair):
    ours, _ = kv_pair
    rows = one_hot_demo(ours, "king,queen;king,king;왕,여왕")
    assert [(r["word_1"], r["word_2"], r["one_hot_dot"]) for r in rows] == [
        ("king", "queen", 0), ("king", "king", 1), ("왕", "여왕", 0)]
    assert rows[0]["one_hot_distance"] == pytest.approx(math.sqrt(2)) and rows[1]["one_hot_distance"] == 0.0
    assert rows[0]["embedding_cosine"] == ours.similarity("king", "queen")
    assert rows[1]["embedding_cosine"] == pytest.approx(1.0)
    assert one_hot_encode(["king"], ours).shape == (1, len(ours))
    table = format_one_hot_demo(rows)
    lines = table.splitlines()
    assert lines[0].split("  ")[0] == "word 1" and "여왕" in lines[3]
    from hf_models.word2vec.one_hot import _display_width

    assert len({_display_width(line) for line in lines}) == 1  # right-aligned numbers: Hangul counted double width
    with pytest.raises(KeyError, match="'prince' .* has no learned vector"):
        one_hot_demo(ours, [("king", "prince")])
    with pytest.raises(ValueError, match="expected two words"):
        parse_word_pairs("king,queen;king")
    assert parse_word_pairs(" a , b ; c,d; ") == [("a", "b"), ("c", "d")]
