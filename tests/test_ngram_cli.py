"""The n-gram command lines end to end on tiny files: training/train_ngram.py builds, saves (folder and ARPA) and
evaluates a model; eval/eval_ngram_perplexity.py scores a saved folder or an ARPA file the same way; both refuse to
write into a non-empty folder unless told to."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hf_models.ngram import NGramLanguageModel

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ate the fish",
    "the cat ate a rat",
    "the dog ate the cat",
    "a dog sat on the mat",
    "고양이 가 매트 위에 앉았다",
    "고양이 가 생선 을 먹었다",
]
TEST = ["the cat sat on the log", "a dog ate the fish", "고양이 가 매트 위에 앉았다", "an unknown word"]


@pytest.fixture
def files(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(TRAIN) + "\n", encoding="utf-8")
    test = tmp_path / "test.txt"
    test.write_text("\n".join(TEST) + "\n", encoding="utf-8")
    return train, test


def train(argv):
    from training.train_ngram import main

    return main([str(a) for a in argv])


def evaluate(argv):
    from eval.eval_ngram_perplexity import main

    return main([str(a) for a in argv])


def test_train_saves_the_model_the_arpa_file_and_the_results(tmp_path, files):
    train_file, test_file = files
    out = tmp_path / "model"
    results = train(["--train_file", train_file, "--order", 3, "--smoothing", "kneser_ney", "--discount", 0.7,
                     "--validation_file", test_file, "--test_file", test_file, "--arpa", "--output_dir", out])
    for name in ("config.json", "model.safetensors", "vocab.txt", "model.arpa", "train_results.json", "results.md"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "train_results.json").read_text(encoding="utf-8"))
    assert saved["ngram_counts"] == results["ngram_counts"] and len(saved["ngram_counts"]) == 3
    assert saved["build_seconds"] > 0 and saved["sentences"] == len(TRAIN) and saved["discounts"] == [[0.7]] * 3
    model = NGramLanguageModel.from_pretrained(out)
    expected = model.perplexity(test_file)
    assert saved["test_perplexity"] == pytest.approx(expected["perplexity"])
    assert saved["test_tokens"] == sum(len(s.split()) + 1 for s in TEST) and saved["test_oov"] == 3
    assert NGramLanguageModel.from_arpa(out / "model.arpa").perplexity(test_file)["perplexity"] == pytest.approx(
        expected["perplexity"], rel=1e-6)
    table = (out / "results.md").read_text(encoding="utf-8").splitlines()
    assert len(table) == 4 and "| validation |" in table[2] and "| test |" in table[3]


def test_train_refuses_a_non_empty_output_dir(tmp_path, files):
    train_file, _ = files
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    args = ["--train_file", train_file, "--order", 2, "--smoothing", "add_k", "--output_dir", out]
    with pytest.raises(ValueError, match="not empty.*--overwrite_output_dir"):
        train(args)
    assert not (out / "config.json").exists()
    assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"  # refused: nothing touched
    train([*args, "--overwrite_output_dir"])  # overwrite: the folder holds the new run alone
    assert (out / "config.json").is_file() and not (out / "keep.txt").exists()


def test_train_errors_name_the_argument(tmp_path, files):
    train_file, _ = files
    with pytest.raises(FileNotFoundError, match="--train_file .*missing.txt"):
        train(["--train_file", tmp_path / "missing.txt", "--output_dir", tmp_path / "out"])
    with pytest.raises(ValueError, match=r"NGramConfig\.discount"):
        train(["--train_file", train_file, "--smoothing", "modified_kneser_ney", "--discount", 0.5,
               "--output_dir", tmp_path / "out"])
    with pytest.raises(ValueError, match="discount_fallback"):  # the tiny corpus cannot estimate the discounts
        train(["--train_file", train_file, "--smoothing", "modified_kneser_ney", "--no_discount_fallback",
               "--output_dir", tmp_path / "out2"])
    results = train(["--train_file", train_file, "--smoothing", "modified_kneser_ney", "--output_dir", tmp_path / "out3"])
    assert [0.5, 1.0, 1.5] in results["discounts"]  # KenLM's fallback, with a warning


@pytest.mark.parametrize("source", ["folder", "arpa"])
def test_eval_scores_a_folder_or_an_arpa_file(tmp_path, files, source):
    train_file, test_file = files
    model_dir = tmp_path / "model"
    train(["--train_file", train_file, "--train_file", train_file, "--order", 2, "--smoothing", "add_k", "--k", 0.5,
           "--arpa", "--output_dir", model_dir])
    model = model_dir if source == "folder" else model_dir / "model.arpa"
    out = tmp_path / "eval"
    results = evaluate(["--model_name_or_path", model, "--test_file", test_file, "--output_dir", out])
    saved = json.loads((out / "eval_results.json").read_text(encoding="utf-8"))
    expected = NGramLanguageModel.from_pretrained(model_dir).perplexity(test_file)
    assert saved["perplexity"] == pytest.approx(expected["perplexity"], rel=1e-6)
    assert (saved["tokens"], saved["oov"], saved["sentences"]) == (expected["tokens"], 3, len(TEST))
    assert saved["tokens_per_second"] > 0 and results["perplexity"] == saved["perplexity"]
    assert "| test.txt |" in (out / "results.md").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="not empty"):
        evaluate(["--model_name_or_path", model, "--test_file", test_file, "--output_dir", out])
    again = evaluate(["--model_name_or_path", model, "--test_file", test_file, test_file, "--exclude_oov",
                      "--output_dir", out, "--overwrite_output_dir"])
    scores = again["files"][str(test_file)]
    assert scores["tokens"] == expected["tokens"] - 3 and scores["oov_excluded"]
    # --overwrite_output_dir: the folder holds the new run alone (its table has the new run's two rows)
    assert len((out / "results.md").read_text(encoding="utf-8").splitlines()) == 2 + 2


def test_eval_reports_infinite_perplexity_honestly(tmp_path, files):
    train_file, test_file = files
    train(["--train_file", train_file, "--order", 2, "--smoothing", "mle", "--output_dir", tmp_path / "mle"])
    results = evaluate(["--model_name_or_path", tmp_path / "mle", "--test_file", test_file,
                        "--output_dir", tmp_path / "eval"])
    assert results["perplexity"] == math.inf and results["zero_probability_tokens"] > 0
    # strict JSON: an infinite perplexity is written as null (with a warning), never as a bare Infinity
    saved = json.loads((tmp_path / "eval" / "eval_results.json").read_text(encoding="utf-8"),
                       parse_constant=lambda name: pytest.fail(f"bare {name} in eval_results.json"))
    assert saved["perplexity"] is None and saved["zero_probability_tokens"] > 0


@pytest.mark.parametrize(("script", "flag"), [("training/train_ngram.py", "--smoothing"),
                                              ("eval/eval_ngram_perplexity.py", "--model_name_or_path")])
def test_help(script, flag):
    result = subprocess.run([sys.executable, str(ROOT / script), "--help"], check=False, capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--output_dir" in result.stdout and flag in result.stdout
