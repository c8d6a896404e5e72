"""run_glue fine-tunes T5 text-to-text (Raffel et al. 2020, appendix D): the task-prefix inputs and label words of
every GLUE task, STS-B's scores rounded to 0.2, Seq2SeqTrainer training with generation in evaluation, generations
mapped back to labels and scored by the same metrics (invalid ones counted as wrong and reported), through hf_models'
T5 and transformers' T5 on the same folder, and the errors."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from conftest import requires_shared_data, shared_data_dir

from hf_models import T5Config, T5ForConditionalGeneration
from hf_models.cli_utils import InputError, run_main
from hf_models.tasks.glue import (
    GLUE_TASKS,
    compute_glue_metrics,
    get_task,
    parse_label,
    score_predictions_file,
)
from hf_models.tasks.text_to_text import (
    STSB_TEXTS,
    LabelTargets,
    input_text,
    label_text,
    label_words,
    map_generations,
    parse_generated,
    stsb_text,
    wrong_label,
)

T5_TOKENIZER = shared_data_dir() / "tokenizers" / "t5"
NEUTRAL = [f"w{i}" for i in range(24)]
POSITIVE, NEGATIVE = ["good", "great", "fine"], ["bad", "awful", "poor"]
PREFIX_WORDS = [f"{name}" for name in GLUE_TASKS] + [
    f"{field}:" for task in GLUE_TASKS.values() for field in task.text_fields]
ALL_LABEL_WORDS = sorted({word for task in GLUE_TASKS.values() for word in label_words(task)})


# ----------------------------------------------------------------------------------------------------------------------
# 1. The inputs and targets of every task
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("task", "fields", "expected", "labels"), [
    ("cola", {"sentence": "The boy ran."}, "cola sentence: The boy ran.", {0: "unacceptable", 1: "acceptable"}),
    ("sst2", {"sentence": "a gem ."}, "sst2 sentence: a gem .", {0: "negative", 1: "positive"}),
    ("mrpc", {"sentence1": "A.", "sentence2": "B."}, "mrpc sentence1: A. sentence2: B.",
     {0: "not_equivalent", 1: "equivalent"}),
    ("qqp", {"question1": "Why?", "question2": "How?"}, "qqp question1: Why? question2: How?",
     {0: "not_duplicate", 1: "duplicate"}),
    ("stsb", {"sentence1": "A man.", "sentence2": "A person."}, "stsb sentence1: A man. sentence2: A person.",
     {3.8: "3.8", 5.0: "5.0", 0.0: "0.0"}),
    ("mnli", {"premise": "P.", "hypothesis": "H."}, "mnli hypothesis: H. premise: P.",
     {0: "entailment", 1: "neutral", 2: "contradiction"}),
    ("qnli", {"question": "Who?", "sentence": "Him."}, "qnli question: Who? sentence: Him.",
     {0: "entailment", 1: "not_entailment"}),
    ("rte", {"sentence1": "A.", "sentence2": "B."}, "rte sentence1: A. sentence2: B.",
     {0: "entailment", 1: "not_entailment"}),
    ("wnli", {"sentence1": "A.", "sentence2": "B."}, "wnli sentence1: A. sentence2: B.",
     {0: "not_entailment", 1: "entailment"}),
])
def test_task_prefixes_and_label_words_are_t5s(task, fields, expected, labels):
    task = get_task(task)
    assert input_text(task, fields) == expected
    for label, word in labels.items():
        assert label_text(task, label) == word
        assert parse_generated(task, f" {word}\n") == label  # exact match after stripping
    if not task.is_regression:
        assert label_words(task) == tuple(labels[i] for i in range(task.num_labels))
        assert parse_generated(task, labels[0].upper()) is None and parse_generated(task, "") is None


def test_stsb_scores_round_to_the_nearest_fifth_as_t5_does():
    """tf.round(label * 5) / 5 on the float32 label: round half to even, one decimal."""
    cases = {3.8: "3.8", 3.75: "3.8", 3.9: "4.0", 1.23: "1.2", 1.31: "1.4", 4.95: "5.0", 0.0: "0.0", 5.0: "5.0",
             2.5: "2.4",  # 12.5 rounds half to even: 12 -> 2.4
             0.1: "0.0"}  # float32: 0.1 * 5 is exactly 0.5, which rounds to 0 (float64 would give 0.2)
    for score, text in cases.items():
        assert stsb_text(score) == text, score
    assert STSB_TEXTS == tuple(f"{i / 5:.1f}" for i in range(26)) and label_words(get_task("stsb")) == STSB_TEXTS
    stsb = get_task("stsb")
    assert parse_generated(stsb, "3.8") == pytest.approx(3.8) and parse_generated(stsb, "3.7") == pytest.approx(3.7)
    for bad in ("", "high", "nan", "inf", "5.2", "-0.2", "3.8 3.8"):
        assert parse_generated(stsb, bad) is None, bad


def test_invalid_generations_are_scored_as_the_farthest_label():
    sst2, mnli, stsb = get_task("sst2"), get_task("mnli"), get_task("stsb")
    labels, valid = map_generations(sst2, ["positive", "posit", "<extra_id_0>", "negative"], [1, 1, 0, 1])
    assert labels.tolist() == [1, 0, 1, 0] and valid.tolist() == [True, False, False, True]
    assert [wrong_label(mnli, g) for g in (0, 1, 2)] == [1, 2, 0]
    assert wrong_label(stsb, 4.0) == 0.0 and wrong_label(stsb, 1.0) == 5.0 and wrong_label(stsb, 2.5) == 0.0
    assert wrong_label(sst2, None) == 0 and wrong_label(stsb, None) == 0.0  # no gold (a test split)
    labels, valid = map_generations(stsb, ["3.8", "x"], [3.6, 1.0])
    assert labels.tolist() == pytest.approx([3.8, 5.0]) and valid.tolist() == [True, False]
    # a label mapping: the words of an MRPC model read as QQP labels
    qqp = get_task("qqp")
    mapping = {"not_equivalent": "not_duplicate", "equivalent": "duplicate"}
    assert parse_generated(qqp, "equivalent", mapping) == 1 and parse_generated(qqp, "not_equivalent", mapping) == 0


@requires_shared_data
def test_the_real_t5_tokenizer_spells_every_label_word():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(T5_TOKENIZER)
    for task in GLUE_TASKS.values():
        targets = LabelTargets(task, tokenizer, str(T5_TOKENIZER), vocab_size=32128)
        assert all(ids[-1] == tokenizer.eos_token_id for ids in targets.ids.values())
        assert targets.generation_max_length <= 8, task.name  # a few tokens: "not_equivalent" is the longest
    assert tokenizer.decode(LabelTargets(get_task("stsb"), tokenizer, "t5").ids["3.8"][:-1]) == "3.8"


# ----------------------------------------------------------------------------------------------------------------------
# 2. A tiny T5 and GLUE-format data
# ----------------------------------------------------------------------------------------------------------------------
def word_tokenizer(words):
    """A T5-shaped word-level tokenizer: <pad>=0, </s>=1 (appended to every text), <unk>=2, words split at spaces."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in words:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def save_tiny_t5(path, tokenizer, seed=0, d_model=32, vocab_size=None):
    import torch

    torch.manual_seed(seed)
    config = T5Config(vocab_size=vocab_size or len(tokenizer), d_model=d_model, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    T5ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    """A tiny random hf_models T5 with a word-level tokenizer that spells every GLUE label word."""
    words = NEUTRAL + POSITIVE + NEGATIVE + PREFIX_WORDS + ALL_LABEL_WORDS
    return save_tiny_t5(tmp_path_factory.mktemp("tiny_t5"), word_tokenizer(words))


def sst2_rows(count, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = i % 2
        words = rng.sample(NEUTRAL, 3) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_sst2(path, rows):
    path.write_text("sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in rows), encoding="utf-8")
    return path


def write_stsb(path, count, seed):
    rng = random.Random(seed)
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    lines = [header]
    for i in range(count):
        a, b = " ".join(rng.sample(NEUTRAL, 4)), " ".join(rng.sample(NEUTRAL, 4))
        lines.append(f"{i}\tmain\tf\t2012\t{i}\tnone\tnone\t{a}\t{b}\t{rng.uniform(0, 5):.3f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli_args(out, *extra):
    return ["--output_dir", str(out), "--use_cpu", "--per_device_train_batch_size", "8",
            "--per_device_eval_batch_size", "16", "--disable_tqdm", "true", "--report_to", "none",
            "--save_strategy", "no", "--max_seq_length", "32", *extra]


def read_predictions(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return header, [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def check_outputs(out, task_name, results, data_file=None):
    """The predictions file, the metrics and the results table agree: the metric is compute_glue_metrics of the
    file's labels, and the invalid count is the number of its generations that name no label."""
    task = get_task(task_name)
    header, rows = read_predictions(out / f"eval_predictions_{task.name}.tsv")
    assert header == ["index", "prediction", "label", "generated"]
    preds = [parse_label(task, r["prediction"], "prediction") for r in rows]  # as the GLUE tsv files write them
    gold = [parse_label(task, r["label"], "label") for r in rows]
    valid_words = set(label_words(task))
    if task.is_regression:
        def is_valid(text):
            try:
                return 0.0 <= float(text.strip()) <= 5.0
            except ValueError:
                return False
    else:
        def is_valid(text):
            return text.strip() in valid_words
    invalid = [r for r in rows if not is_valid(r["generated"])]
    assert results["eval_invalid_predictions"] == len(invalid)
    assert results["eval_invalid_fraction"] == pytest.approx(len(invalid) / len(rows))
    for r, pred, label in zip(rows, preds, gold):
        if not is_valid(r["generated"]):  # scored as wrong: the farthest label from the gold one
            assert pred == ((0.0 if label >= 2.5 else 5.0) if task.is_regression else 1 - label)
        elif task.is_regression:
            assert pred == pytest.approx(float(r["generated"]), abs=1e-3)
        else:
            assert task.label_names[pred] == r["generated"].strip()
    expected = compute_glue_metrics(task, task.name, preds, gold)
    for key, value in expected.items():
        got = results[f"eval_{key}"]
        assert (got is None and math.isnan(value)) or got == pytest.approx(value, abs=1e-6), key
    saved = json.loads((out / "eval_results.json").read_text(encoding="utf-8"))
    assert saved["eval_invalid_predictions"] == len(invalid) and "eval_loss" in saved
    assert "eval_invalid_predictions" in json.loads((out / "all_results.json").read_text(encoding="utf-8"))
    if data_file is None:
        return rows
    # the file is a GLUE predictions file: scoring it gives the same metric
    rescored = score_predictions_file(str(out / f"eval_predictions_{task.name}.tsv"), str(data_file), task)
    for key, value in expected.items():
        assert (math.isnan(value) and math.isnan(rescored[key])) or rescored[key] == pytest.approx(value, abs=1e-3)
    return rows


# ----------------------------------------------------------------------------------------------------------------------
# 3. run_glue end to end
# ----------------------------------------------------------------------------------------------------------------------
def test_sst2_trains_evaluates_by_generation_and_writes_every_file(tiny_t5, tmp_path):
    from training.run_glue import main

    train = write_sst2(tmp_path / "train.tsv", sst2_rows(24, seed=1))
    dev = write_sst2(tmp_path / "dev.tsv", sst2_rows(12, seed=2))
    test = tmp_path / "test.tsv"
    test.write_text("index\tsentence\n" + "".join(f"{i}\t{s}\n" for i, (s, _) in enumerate(sst2_rows(5, 3))),
                    encoding="utf-8")
    out = tmp_path / "out"
    results = main(["--model_name_or_path", tiny_t5, "--task_name", "sst2", "--train_file", str(train),
                    "--validation_file", str(dev), "--test_file", str(test), "--do_train", "--do_eval",
                    "--do_predict", "--max_steps", "4", "--learning_rate", "1e-3", "--eval_strategy", "steps",
                    "--eval_steps", "2", *cli_args(out)])
    assert results["train_samples"] == 24 and math.isfinite(results["train_loss"])
    # evaluation during training generates and scores too
    history = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))["log_history"]
    during = [entry for entry in history if "eval_accuracy" in entry]
    assert [entry["step"] for entry in during] == [2, 4]
    assert all(0 <= entry["eval_invalid_predictions"] <= 12 for entry in during)
    check_outputs(out, "sst2", results, dev)
    header, rows = read_predictions(out / "predict_results_sst2.tsv")
    assert header == ["index", "prediction", "generated"] and len(rows) == 5
    assert all(r["prediction"] in ("0", "1") for r in rows)  # the GLUE submission's labels
    assert results["predict_invalid_predictions"] == sum(r["generated"].strip() not in ("positive", "negative")
                                                         for r in rows)
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "sst2" in table and "hf_models" in table and "invalid_predictions" in table
    # the saved folder is a fine-tuned hf_models T5 with its tokenizer
    model = T5ForConditionalGeneration.from_pretrained(out)
    assert model.config.vocab_size == T5Config.from_pretrained(tiny_t5).vocab_size
    assert (out / "tokenizer.json").is_file()


def test_an_untrained_t5_generates_invalid_labels_that_count_as_wrong(tiny_t5, tmp_path):
    """An untrained model's generations are mostly no label: each is counted, and scored as wrong."""
    from training.run_glue import main

    dev = write_sst2(tmp_path / "dev.tsv", sst2_rows(16, seed=4))
    out = tmp_path / "sst2"
    results = main(["--model_name_or_path", tiny_t5, "--task_name", "sst2", "--validation_file", str(dev),
                    "--do_eval", *cli_args(out)])
    rows = check_outputs(out, "sst2", results, dev)
    assert results["eval_invalid_predictions"] >= len(rows) // 2
    if results["eval_invalid_predictions"] == len(rows):
        assert results["eval_accuracy"] == 0.0  # every one wrong


def test_stsb_trains_and_scores_generated_numbers(tiny_t5, tmp_path):
    from training.run_glue import main

    train, dev = write_stsb(tmp_path / "train.tsv", 16, seed=5), write_stsb(tmp_path / "dev.tsv", 12, seed=6)
    out = tmp_path / "out"
    results = main(["--model_name_or_path", tiny_t5, "--task_name", "stsb", "--train_file", str(train),
                    "--validation_file", str(dev), "--do_train", "--do_eval", "--max_steps", "3",
                    "--learning_rate", "1e-3", "--generation_num_beams", "2", *cli_args(out)])
    rows = check_outputs(out, "stsb", results, dev)
    assert len(rows) == 12 and {"eval_pearson", "eval_spearmanr", "eval_combined_score"} <= set(results)


def test_the_text_to_text_path_learns_sixteen_examples_through_either_library(tiny_t5, tmp_path):
    """Overfitting: 16 examples of 2 label words, trained long enough, are all generated right, through hf_models'
    T5 and through transformers' T5ForConditionalGeneration on the same folder (the same weights and batches: the
    same training loss)."""
    from training.run_glue import main

    train = write_sst2(tmp_path / "train.tsv", sst2_rows(16, seed=7))
    losses = {}
    for implementation in ("hf_models", "transformers"):
        out = tmp_path / implementation
        results = main(["--model_name_or_path", tiny_t5, "--implementation", implementation, "--task_name", "sst2",
                        "--train_file", str(train), "--validation_file", str(train), "--do_train", "--do_eval",
                        "--num_train_epochs", "30", "--learning_rate", "1e-2", "--lr_scheduler_type", "constant",
                        "--logging_steps", "10", "--seed", "0",
                        *cli_args(out, "--per_device_train_batch_size", "16")])
        assert results["eval_accuracy"] == 1.0 and results["eval_invalid_predictions"] == 0, implementation
        check_outputs(out, "sst2", results, train)
        row = (out / "results.md").read_text(encoding="utf-8").splitlines()[-1]
        assert f"| {implementation} |" in row
        losses[implementation] = results["train_loss"]
    assert losses["hf_models"] == pytest.approx(losses["transformers"], rel=1e-4)


@requires_shared_data
def test_the_real_t5_tokenizer_with_a_tiny_t5(tmp_path):
    """The T5 vocabulary (SentencePiece, 32100 tokens, in a model of 32128 rows as t5-small): label words are spelt
    by several pieces and generated back as text."""
    from transformers import AutoTokenizer

    from training.run_glue import main

    model = save_tiny_t5(tmp_path / "model", AutoTokenizer.from_pretrained(T5_TOKENIZER), d_model=16,
                         vocab_size=32128)
    dev = shared_data_dir() / "glue" / "RTE" / "dev.tsv"
    out = tmp_path / "out"
    results = main(["--model_name_or_path", model, "--task_name", "rte", "--train_file", str(dev),
                    "--validation_file", str(dev), "--do_train", "--do_eval", "--max_train_samples", "8",
                    "--max_eval_samples", "8", "--max_steps", "2", *cli_args(out)])
    rows = check_outputs(out, "rte", results)
    assert len(rows) == 8


def test_the_help_lists_the_generation_flags(capsys):
    from training.run_glue import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--generation_num_beams", "--generation_max_length", "--predict_with_generate", "--task_name"):
        assert flag in help_text, flag


# ----------------------------------------------------------------------------------------------------------------------
# 4. Errors
# ----------------------------------------------------------------------------------------------------------------------
def run_cli(argv, capsys):
    from training.run_glue import main

    with pytest.raises(SystemExit) as exit_info:
        run_main(main, argv)
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1, message
    return message


def test_a_tokenizer_that_cannot_spell_the_label_words_is_refused(tmp_path, capsys):
    model = save_tiny_t5(tmp_path / "model", word_tokenizer(NEUTRAL + POSITIVE + NEGATIVE + ["negative"]))
    dev = write_sst2(tmp_path / "dev.tsv", sst2_rows(4, seed=8))
    message = run_cli(["--model_name_or_path", model, "--task_name", "sst2", "--validation_file", str(dev),
                       "--do_eval", *cli_args(tmp_path / "out")], capsys)
    assert "cannot encode sst2's label word 'positive'" in message and str(tmp_path / "model") in message


def test_flags_that_do_not_fit_a_text_to_text_run_are_refused(tiny_t5, tmp_path, capsys):
    train = write_sst2(tmp_path / "train.tsv", sst2_rows(4, seed=9))
    base = ["--model_name_or_path", tiny_t5, "--task_name", "sst2", "--train_file", str(train), "--validation_file",
            str(train), "--do_train", "--do_eval", "--max_steps", "1"]
    assert "--generation_max_length 2 is shorter than the longest label word" in run_cli(
        [*base, "--generation_max_length", "2", *cli_args(tmp_path / "a")], capsys)
    assert "--input_transformation gpt" in run_cli(
        [*base, "--input_transformation", "gpt", *cli_args(tmp_path / "b")], capsys)
    assert "--lm_loss_coef" in run_cli([*base, "--lm_loss_coef", "0.5", *cli_args(tmp_path / "c")], capsys)
    assert "--label_mapping is for evaluating" in run_cli(
        [*base, "--label_mapping", "good=positive", *cli_args(tmp_path / "d")], capsys)


def test_a_split_without_labels_is_refused(tiny_t5, tmp_path, capsys):
    """A train file without a label column (the reader's check), and unlabelled examples (label -1, as the hub's
    test splits) in a split to train on (the text-to-text run's own check)."""
    import datasets

    from hf_models.tasks.glue import GlueDataArguments
    from hf_models.tasks.text_to_text import run_text_to_text
    from hf_models.trainer_utils import ModelArguments, RunArguments, load_config

    train = tmp_path / "train.tsv"
    train.write_text("index\tsentence\n0\tw1 w2 good\n", encoding="utf-8")
    message = run_cli(["--model_name_or_path", tiny_t5, "--task_name", "sst2", "--train_file", str(train),
                       "--do_train", *cli_args(tmp_path / "a")], capsys)
    assert "train.tsv" in message and "label" in message

    from transformers import Seq2SeqTrainingArguments

    raw = datasets.DatasetDict({"train": datasets.Dataset.from_dict(
        {"sentence": ["w1 good", "w2 bad"], "label": [1, -1], "idx": [0, 7]})})
    model_args = ModelArguments(model_name_or_path=tiny_t5)
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path / "b"), do_train=True, use_cpu=True, report_to="none")
    with pytest.raises(InputError, match=r"the train split of sst2 has unlabelled examples \(label -1, first idx 7\)"):
        run_text_to_text(model_args, GlueDataArguments(task_name="sst2"), RunArguments(), args,
                         load_config(model_args), raw, [], [], None)


def test_eval_glue_runs_the_text_to_text_path_with_plain_training_arguments(tiny_t5, tmp_path):
    """eval/eval_glue.py parses TrainingArguments (no generation flags): the run takes them as
    Seq2SeqTrainingArguments with generation on."""
    from eval.eval_glue import main

    dev = write_sst2(tmp_path / "dev.tsv", sst2_rows(6, seed=10))
    out = tmp_path / "out"
    results = main(["--model_name_or_path", tiny_t5, "--task_name", "sst2", "--validation_file", str(dev),
                    "--output_dir", str(out), "--use_cpu", "--report_to", "none", "--max_seq_length", "32",
                    "--disable_tqdm", "true"])
    check_outputs(out, "sst2", results, dev)
    assert np.isfinite(results["eval_loss"])


@pytest.mark.slow
def test_two_processes_under_torchrun_train_and_generate_as_one(tiny_t5, tmp_path):
    """torchrun with 2 CPU processes (gloo): one T5 replica each, the evaluation's generations gathered from both
    (13 dev sentences: one process gets a padded duplicate, dropped) and scored once; the same predictions file and
    accuracy as one process evaluating the saved model."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not installed")
    train = write_sst2(tmp_path / "train.tsv", sst2_rows(32, seed=1))
    dev = write_sst2(tmp_path / "dev.tsv", sst2_rows(13, seed=2))
    script = str(Path(__file__).resolve().parents[1] / "training" / "run_glue.py")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    out = tmp_path / "ddp"
    result = subprocess.run(
        ["torchrun", "--nproc_per_node", "2", script, "--model_name_or_path", tiny_t5, "--task_name", "sst2",
         "--train_file", str(train), "--validation_file", str(dev), "--do_train", "--do_eval", "--max_steps", "3",
         "--learning_rate", "1e-3", "--generation_num_beams", "2", *cli_args(out)],
        capture_output=True, text=True, env=env, timeout=240, check=False)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Process rank: 1" in log and "distributed training: True" in log
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 3
    results = json.loads((out / "all_results.json").read_text())
    assert results["eval_samples"] == 13
    assert (out / "results.md").read_text().count("| sst2 |") == 1  # written by the main process only
    _, ddp_rows = read_predictions(out / "eval_predictions_sst2.tsv")

    from training.run_glue import main

    single = tmp_path / "single"
    again = main(["--model_name_or_path", str(out), "--task_name", "sst2", "--validation_file", str(dev),
                  "--do_eval", "--generation_num_beams", "2", *cli_args(single)])
    _, single_rows = read_predictions(single / "eval_predictions_sst2.tsv")
    assert ddp_rows == single_rows and len(ddp_rows) == 13
    assert again["eval_accuracy"] == results["eval_accuracy"]
    assert again["eval_invalid_predictions"] == results["eval_invalid_predictions"]
