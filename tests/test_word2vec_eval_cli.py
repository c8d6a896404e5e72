"""eval/eval_word2vec.py end to end: word2vec text / binary files and saved model folders in, the same numbers as
the KeyedVectors API out (eval_results.json, analogy_results.json, a row of the results table, printed tables), and
the refusals: a non-empty output folder, unknown words, malformed flags, paths that are not vectors."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.eval_word2vec import main as eval_main
from hf_models.word2vec.keyed_vectors import (
    KeyedVectors,
    Word2VecFormatError,
    is_binary_word2vec_name,
)

REPO = Path(__file__).resolve().parents[1]
GENDER = [("king", "queen"), ("man", "woman"), ("boy", "girl"), ("father", "mother"), ("brother", "sister"),
          ("son", "daughter")]
KOREAN = [("왕", "여왕"), ("남자", "여자"), ("아버지", "어머니"), ("아들", "딸")]
PAIRS = [("king", "queen", 8.5), ("man", "woman", 8.3), ("boy", "w3", 1.2), ("왕", "여왕", 8.0),
         ("father", "w9", 0.5), ("w1", "w2", 0.3), ("sister", "brother", 7.0), ("unknownword", "king", 3.0)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Vectors with planted gender offsets (as .txt, .bin and .txt.gz), an analogy file and two pairs files."""
    folder = tmp_path_factory.mktemp("w2v_eval")
    rng = np.random.default_rng(0)
    words = [w for pairs in (GENDER, KOREAN) for pair in pairs for w in pair]
    keys = words + [f"w{i}" for i in range(300 - len(words))]
    vectors = rng.standard_normal((len(keys), 16)).astype(np.float32)
    for pairs in (GENDER, KOREAN):
        offset = 2.0 * rng.standard_normal(16).astype(np.float32)
        for x, y in pairs:
            vectors[keys.index(y)] = vectors[keys.index(x)] + offset + 0.7 * rng.standard_normal(16)
    kv = KeyedVectors(keys, vectors)
    kv.save_word2vec_format(folder / "vectors.txt")
    kv.save_word2vec_format(folder / "vectors.bin", binary=True)
    kv.save_word2vec_format(folder / "vectors.txt.gz")
    analogies = [": family", *(f"{a} {b} {c} {d}" for (a, b), (c, d) in itertools.permutations(GENDER, 2)),
                 "king queen prince princess", ": 가족", *(f"{a} {b} {c} {d}" for (a, b), (c, d) in
                                                             itertools.permutations(KOREAN, 2))]
    (folder / "analogies.txt").write_text("\n".join(analogies) + "\n", encoding="utf-8")
    (folder / "wordsim.tab").write_text("Word 1\tWord 2\tHuman (mean)\n" + "".join(
        f"{a}\t{b}\t{s}\n" for a, b, s in PAIRS), encoding="utf-8")
    header = "word1\tword2\tPOS\tSimLex999\tconc(w1)\tconc(w2)\tconcQ\tAssoc(USF)\tSimAssoc333\tSD(SimLex)\r\n"
    (folder / "SimLex-999.txt").write_text(header + "".join(
        f"{a}\t{b}\tN\t{s / 2}\t1\t2\t3\t4\t0\t0.5\r\n" for a, b, s in PAIRS), encoding="utf-8", newline="")
    return {"folder": folder, "kv": kv}


def run(data, out, *extra):
    folder = data["folder"]
    return eval_main([
        "--model_name_or_path", str(folder / "vectors.txt"), "--output_dir", str(out),
        "--analogy_file", str(folder / "analogies.txt"),
        "--word_pairs_file", str(folder / "wordsim.tab"), "--word_pairs_file", str(folder / "SimLex-999.txt"),
        *extra,
    ])


def test_eval_word2vec_end_to_end_matches_the_api(data, tmp_path, capsys):
    kv, folder, out = data["kv"], data["folder"], tmp_path / "out"
    results = run(data, out, "--most_similar", "king", "왕", "--topn", "3", "--one_hot_pairs", "king,queen;왕,여왕")

    score, sections = kv.evaluate_word_analogies(folder / "analogies.txt")
    assert 0.2 < score < 1.0
    assert results["analogy"]["accuracy"] == score
    assert results["analogy"]["sections"] == [
        {"section": s["section"], "accuracy": len(s["correct"]) / (len(s["correct"]) + len(s["incorrect"])),
         "correct": len(s["correct"]), "total": len(s["correct"]) + len(s["incorrect"])} for s in sections]
    assert results["analogy"]["questions"] == 30 + 1 + 12 and results["analogy"]["oov_questions"] == 1
    for name, path in (("wordsim", "wordsim.tab"), ("SimLex-999", "SimLex-999.txt")):
        pearson, spearman, oov = kv.evaluate_word_pairs(folder / path)
        assert results["word_pairs"][name]["spearman"] == spearman[0]
        assert results["word_pairs"][name]["pearson"] == pearson[0]
        assert results["word_pairs"][name]["oov_ratio"] == oov == pytest.approx(100 / 8)
    assert results["most_similar"]["왕"] == [[k, s] for k, s in kv.most_similar("왕", topn=3)]
    assert [row["one_hot_dot"] for row in results["one_hot"]] == [0, 0]

    assert json.loads((out / "eval_results.json").read_text(encoding="utf-8")) == results
    saved_sections = json.loads((out / "analogy_results.json").read_text(encoding="utf-8"))
    assert saved_sections == [{**s, "correct": [list(q) for q in s["correct"]],
                               "incorrect": [list(q) for q in s["incorrect"]]} for s in sections]
    table = (out / "results.md").read_text(encoding="utf-8").splitlines()
    assert len(table) == 3 and "word_vectors" in table[2] and f"analogy_accuracy={score:.4f}" in table[2]
    assert "wordsim_spearman=" in table[2] and "SimLex-999_spearman=" in table[2]

    printed = capsys.readouterr().out
    assert f"Analogy accuracy (3CosAdd): {100 * score:.2f}%" in printed
    assert "Nearest neighbours of '왕'" in printed
    assert "one-hot dot" in printed and "여왕" in printed


def test_binary_files_are_recognised_by_their_name(data, tmp_path):
    folder = data["folder"]
    assert is_binary_word2vec_name("v.bin") and is_binary_word2vec_name("v.bin.gz")
    assert not is_binary_word2vec_name("v.txt.gz") and not is_binary_word2vec_name("binary.txt")
    for name in ("vectors.bin", "vectors.txt.gz"):
        results = eval_main(["--model_name_or_path", str(folder / name), "--output_dir", str(tmp_path / name),
                             "--analogy_file", str(folder / "analogies.txt"), "--analogy_method", "3CosMul"])
        assert results["analogy"]["method"] == "3CosMul" and results["vocab_size"] == 300
    assert results["analogy"]["accuracy"] == data["kv"].evaluate_word_analogies(
        folder / "analogies.txt", similarity_function="3CosMul")[0]
    with pytest.raises(Word2VecFormatError, match="vectors.bin"):  # --binary false overrides the name
        eval_main(["--model_name_or_path", str(folder / "vectors.bin"), "--binary", "false", "--output_dir",
                   str(tmp_path / "forced"), "--analogy_file", str(folder / "analogies.txt")])


def test_output_dir_is_never_overwritten_silently(data, tmp_path):
    out = tmp_path / "out"
    run(data, out)
    with pytest.raises(ValueError, match="already exists and is not empty.*--overwrite_output_dir"):
        run(data, out)
    shared = tmp_path / "shared.md"
    run(data, out, "--overwrite_output_dir", "--restrict_vocab", "20", "--results_table", str(shared))
    run(data, tmp_path / "out2", "--results_table", str(shared))
    assert not (out / "results.md").exists()  # overwrite: the folder holds the new run alone
    rows = shared.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 4  # header, separator and one row per run: a shared table only grows


@pytest.mark.parametrize(
    "args, error, message",
    [
        ([], ValueError, "nothing to evaluate"),
        (["--analogy_file", "missing.txt"], FileNotFoundError, "--analogy_file missing.txt: no such file"),
        (["--most_similar", "King"], ValueError, r"--most_similar: \['King'\] not in the vocabulary"),
        (["--one_hot_pairs", "king,queen;king"], ValueError, "expected two words"),
        (["--one_hot_pairs", "king,prince"], ValueError, r"--one_hot_pairs: \['prince'\] not in the vocabulary"),
        (["--most_similar", "king", "--restrict_vocab", "0"], ValueError, "--restrict_vocab must be a positive"),
    ],
)
def test_bad_arguments_are_clear_errors(data, tmp_path, args, error, message):
    with pytest.raises(error, match=message):
        eval_main(["--model_name_or_path", str(data["folder"] / "vectors.txt"), "--output_dir", str(tmp_path / "o"),
                   *args])


def test_paths_that_are_not_vectors(data, tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="folder without config.json"):
        eval_main(["--model_name_or_path", str(tmp_path / "folder"), "--output_dir", str(tmp_path / "o"),
                   "--most_similar", "king"])
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        eval_main(["--model_name_or_path", str(tmp_path / "nope.bin"), "--output_dir", str(tmp_path / "o"),
                   "--most_similar", "king"])


def test_native_npz_and_saved_model_folder(data, tmp_path):
    kv, folder = data["kv"], data["folder"]
    reference = run(data, tmp_path / "reference")
    kv.save(tmp_path / "vectors.npz")
    npz = eval_main(["--model_name_or_path", str(tmp_path / "vectors.npz"), "--output_dir", str(tmp_path / "npz"),
                     "--analogy_file", str(folder / "analogies.txt"), "--word_pairs_file", str(folder / "wordsim.tab"),
                     str(folder / "SimLex-999.txt")])
    assert npz["analogy"] == reference["analogy"] and npz["word_pairs"] == reference["word_pairs"]
    try:
        from hf_models.word2vec import Word2VecModel
    except ImportError as error:  # the model lives in another module of the package
        pytest.skip(f"hf_models.word2vec.Word2VecModel is not available: {error}")
    model_dir = tmp_path / "model"
    Word2VecModel.from_keyed_vectors(kv).save_pretrained(model_dir)
    from_folder = eval_main(["--model_name_or_path", str(model_dir), "--output_dir", str(tmp_path / "from_folder"),
                             "--analogy_file", str(folder / "analogies.txt"), "--word_pairs_file",
                             str(folder / "wordsim.tab"), str(folder / "SimLex-999.txt")])
    assert from_folder["analogy"] == reference["analogy"] and from_folder["word_pairs"] == reference["word_pairs"]


def test_help_lists_the_options():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(REPO / "eval" / "eval_word2vec.py"), "--help"], capture_output=True,
                            text=True, env=env, check=True, timeout=120)
    for flag in ("--model_name_or_path", "--analogy_file", "--word_pairs_file", "--analogy_method", "--restrict_vocab",
                 "--one_hot_pairs", "--most_similar", "--overwrite_output_dir", "--binary"):
        assert flag in result.stdout, flag
