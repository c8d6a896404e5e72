"""run_translation and run_qa fine-tune T5 text-to-text (Raffel et al. 2020): T5's prefixes ("translate English to
German: ...", "question: ... context: ..."), one shared tokenizer, Seq2SeqTrainer with generation in evaluation,
scored by the same sacreBLEU and official SQuAD metric as the other families; the files, overfitting checks through
generation, truncation warnings and the errors. A tiny random hf_models T5 with a word-level tokenizer."""

from __future__ import annotations

import json
import logging
import math

import pytest
from test_glue_t5 import save_tiny_t5, word_tokenizer

from hf_models.cli_utils import InputError, run_main
from hf_models.tasks.squad import evaluate_predictions_file
from hf_models.tasks.text_to_text_tasks import qa_input_text, translation_prefix
from hf_models.tasks.translation import corpus_bleu

EN = ["Two young men are outside .", "A man rides a bike .", "A girl plays in the water .",
      "A dog runs on the grass .", "Two women sit on a bench .", "A child eats a red apple .",
      "A man plays the guitar .", "The woman reads a book ."]
DE = ["Zwei junge Männer sind im Freien .", "Ein Mann fährt Fahrrad .", "Ein Mädchen spielt im Wasser .",
      "Ein Hund rennt auf dem Gras .", "Zwei Frauen sitzen auf einer Bank .", "Ein Kind isst einen roten Apfel .",
      "Ein Mann spielt Gitarre .", "Die Frau liest ein Buch ."]
PEOPLE = [("Marie", "physicist", "Warsaw"), ("Alan", "mathematician", "London"), ("Ada", "writer", "Paris"),
          ("Niels", "chemist", "Copenhagen")]
PREFIX_WORDS = ["translate", "English", "to", "German:", "question:", "context:"]


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def squad_file(path, people=PEOPLE, filler=0):
    """An official SQuAD v1.1 file: a paragraph per person, two questions each (answers are words of the context);
    `filler` words before the answers make long contexts."""
    paragraphs = []
    for i, (name, job, city) in enumerate(people):
        pad = " ".join(["and"] * filler)
        context = f"{name} was a {job} . {pad} {name} was born in {city} ." if filler else \
            f"{name} was a {job} . {name} was born in {city} ."
        qas = [{"id": f"q{i}a", "question": f"What was {name} ?",
                "answers": [{"text": job, "answer_start": context.index(job)}]},
               {"id": f"q{i}b", "question": f"Where was {name} born ?",
                "answers": [{"text": city, "answer_start": context.rindex(city)}]}]
        paragraphs.append({"context": context, "qas": qas})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "People", "paragraphs": paragraphs}]}),
                    encoding="utf-8")
    return path


def vocabulary():
    words = set(PREFIX_WORDS)
    for line in EN + DE:
        words.update(line.split())
    for name, job, city in PEOPLE:
        words.update(f"{name} was a {job} . born in {city} What Where ? and".split())
    return sorted(words)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    return save_tiny_t5(tmp_path_factory.mktemp("tiny_t5"), word_tokenizer(vocabulary()), d_model=32)


def common(out, *extra):
    return ["--output_dir", str(out), "--use_cpu", "--report_to", "none", "--disable_tqdm", "true",
            "--save_strategy", "no", "--seed", "0", "--per_device_eval_batch_size", "8", *extra]


def translation_data(tmp_path):
    return (write_lines(tmp_path / "train.en", EN), write_lines(tmp_path / "train.de", DE))


def run_translation(argv):
    from training.run_translation import main

    return main([str(a) for a in argv])


def run_qa(argv):
    from training.run_qa import main

    return main([str(a) for a in argv])


def one_line_error(main, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, [str(a) for a in argv])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1, message
    return message


# ----------------------------------------------------------------------------------------------------------------------
# Formats
# ----------------------------------------------------------------------------------------------------------------------
def test_prefixes_are_t5s():
    assert translation_prefix("en", "de") == "translate English to German: "
    assert translation_prefix("en", "ro") == "translate English to Romanian: "
    assert translation_prefix("fr", "en") == "translate French to English: "
    assert translation_prefix("ko", "en") == "translate Korean to English: "
    assert translation_prefix("en", "xx", "my prefix: ") == "my prefix: "
    with pytest.raises(InputError, match="--target_lang xx: no language name known.*--source_prefix"):
        translation_prefix("en", "xx")
    assert qa_input_text("Who  is he?", "He is\nAl.") == "question: Who is he? context: He is Al."


# ----------------------------------------------------------------------------------------------------------------------
# Translation
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("implementation", ["hf_models", "transformers"])
def test_translation_trains_evaluates_and_writes_bleu(tiny_t5, tmp_path, caplog, implementation):
    """Through hf_models' T5 and through transformers' T5ForConditionalGeneration on the same folder."""
    source, target = translation_data(tmp_path)
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="hf_models"):
        results = run_translation(["--model_name_or_path", tiny_t5, "--implementation", implementation,
                                   "--train_source_file", source,
                                   "--train_target_file", target, "--validation_source_file", source,
                                   "--validation_target_file", target, "--test_source_file", source,
                                   "--test_target_file", target, "--do_train", "--do_eval", "--do_predict",
                                   "--predict_with_generate", "--max_steps", "3", "--learning_rate", "1e-3",
                                   "--per_device_train_batch_size", "4", *common(out)])
    assert math.isfinite(results["train_loss"]) and results["train_samples"] == 8
    # the input strings carry T5's prefix
    assert f"first example: 'translate English to German: {EN[0]}'" in caplog.text
    predictions = (out / "eval_generated_predictions.txt").read_text(encoding="utf-8").splitlines()
    assert len(predictions) == 8 and len((out / "generated_predictions.txt").read_text().splitlines()) == 8
    assert results["eval_bleu"] == pytest.approx(corpus_bleu(predictions, DE)["score"])
    saved = json.loads((out / "eval_results.json").read_text(encoding="utf-8"))
    assert saved["eval_bleu"] == pytest.approx(results["eval_bleu"]) and "predict_bleu" in results
    assert (out / "eval_bleu_by_length.json").is_file()
    # the model and its one tokenizer are saved together; no separate source/target tokenizers
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    assert not (out / "source_tokenizer").exists()
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "translation en-de" in table and f"| {implementation} |" in table


def test_translation_overfits_eight_pairs_through_generation(tiny_t5, tmp_path):
    source, target = translation_data(tmp_path)
    out = tmp_path / "out"
    results = run_translation(["--model_name_or_path", tiny_t5, "--train_source_file", source,
                               "--train_target_file", target, "--validation_source_file", source,
                               "--validation_target_file", target, "--do_train", "--do_eval",
                               "--predict_with_generate", "--generation_max_length", "16",
                               "--num_train_epochs", "150", "--learning_rate", "1e-2", "--lr_scheduler_type",
                               "constant", "--per_device_train_batch_size", "8", "--logging_steps", "50",
                               *common(out)])
    predictions = (out / "eval_generated_predictions.txt").read_text(encoding="utf-8").splitlines()
    assert predictions == DE and results["eval_bleu"] == pytest.approx(100.0)


def test_translation_errors(tiny_t5, tmp_path, capsys, caplog):
    from training.run_translation import main

    source, target = translation_data(tmp_path)
    base = ["--train_source_file", source, "--train_target_file", target, "--do_train", "--max_steps", "1"]
    # a tokenizer that cannot spell the prefix ("translate" is no word of it)
    poor = save_tiny_t5(tmp_path / "poor", word_tokenizer([w for w in vocabulary() if w != "translate"]))
    message = one_line_error(main, ["--model_name_or_path", poor, *base, *common(tmp_path / "a")], capsys)
    assert "cannot spell the task prefix 'translate English to German:'" in message and str(poor) in message
    message = one_line_error(main, ["--model_name_or_path", tiny_t5, *base, "--target_lang", "xx",
                                    *common(tmp_path / "b")], capsys)
    assert "--target_lang xx: no language name known" in message
    message = one_line_error(main, ["--model_name_or_path", tiny_t5, *base, "--source_tokenizer", tiny_t5,
                                    *common(tmp_path / "c")], capsys)
    assert "--source_tokenizer" in message and "its own tokenizer for source and target" in message
    # --source_prefix replaces T5's; new-model flags are ignored with a warning
    with caplog.at_level(logging.INFO, logger="hf_models"):
        run_translation(["--model_name_or_path", tiny_t5, *base, "--source_prefix", "translate English to German: ",
                         "--hidden_size", "64", "--tokenizer_model", "wordlevel", *common(tmp_path / "d")])
    assert "--hidden_size, --tokenizer_model (new Seq2Seq/Transformer models and their tokenizers) ignored" \
        in caplog.text


# ----------------------------------------------------------------------------------------------------------------------
# SQuAD
# ----------------------------------------------------------------------------------------------------------------------
def check_squad_outputs(out, data, results, prefix="eval"):
    """The predictions file holds a generated answer per question, and the run's metrics are the official scorer's on
    that file."""
    predictions = json.loads((out / f"{prefix}_predictions.json").read_text(encoding="utf-8"))
    assert sorted(predictions) == sorted(f"q{i}{k}" for i in range(len(PEOPLE)) for k in "ab")
    official = evaluate_predictions_file(out / f"{prefix}_predictions.json", data)
    assert results[f"{prefix}_exact_match"] == pytest.approx(official["exact_match"])
    assert results[f"{prefix}_f1"] == pytest.approx(official["f1"])
    return predictions


def test_squad_trains_evaluates_by_generation_and_writes_predictions(tiny_t5, tmp_path, caplog):
    data = squad_file(tmp_path / "train.json")
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="hf_models"):
        results = run_qa(["--model_name_or_path", tiny_t5, "--train_file", data, "--validation_file", data,
                          "--test_file", data, "--do_train", "--do_eval", "--do_predict", "--max_steps", "3",
                          "--learning_rate", "1e-3", "--per_device_train_batch_size", "4", "--max_seq_length", "64",
                          "--eval_strategy", "steps", "--eval_steps", "3", *common(out)])
    assert "first: 'question: What was Marie ? context: Marie was a physicist . Marie was born in Warsaw .' -> " \
           "'physicist'" in caplog.text
    assert math.isfinite(results["train_loss"]) and results["train_examples"] == 8
    check_squad_outputs(out, data, results)
    check_squad_outputs(out, data, results, "predict")
    history = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))["log_history"]
    assert any("eval_f1" in entry for entry in history)  # evaluation during training generates and scores
    assert "eval_exact_match" in json.loads((out / "all_results.json").read_text(encoding="utf-8"))
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "| squad |" in table and "exact_match" in table


def test_squad_overfits_eight_questions_through_generation(tiny_t5, tmp_path):
    data = squad_file(tmp_path / "train.json")
    out = tmp_path / "out"
    results = run_qa(["--model_name_or_path", tiny_t5, "--train_file", data, "--validation_file", data,
                      "--do_train", "--do_eval", "--num_train_epochs", "100", "--learning_rate", "1e-2",
                      "--lr_scheduler_type", "constant", "--per_device_train_batch_size", "8",
                      "--max_seq_length", "64", "--max_answer_length", "4", "--logging_steps", "50", *common(out)])
    predictions = check_squad_outputs(out, data, results)
    assert results["eval_exact_match"] == 100.0, predictions


def test_squad_takes_the_generation_flags(tiny_t5, tmp_path, caplog, capsys):
    """run_qa.py parses Seq2SeqTrainingArguments: a T5 answers with --generation_num_beams beams (the flag used to be
    refused as unknown)."""
    data = squad_file(tmp_path / "train.json")
    with caplog.at_level(logging.INFO, logger="hf_models"):
        results = run_qa(["--model_name_or_path", tiny_t5, "--validation_file", data, "--do_eval",
                          "--max_seq_length", "64", "--max_answer_length", "5", "--generation_num_beams", "3",
                          "--generation_max_length", "9", *common(tmp_path / "out")])
    assert "answers generated in at most 9 tokens, 3 beam(s)" in caplog.text
    assert math.isfinite(results["eval_f1"])
    from training.run_qa import main

    message = one_line_error(main, ["--model_name_or_path", tiny_t5, "--validation_file", data, "--do_eval",
                                    "--generation_max_length", "4", *common(tmp_path / "out2")], capsys)
    assert "--generation_max_length 4 is shorter than the longest answer (--max_answer_length) (32 tokens" in message


def test_long_contexts_are_truncated_with_a_warning(tiny_t5, tmp_path, caplog):
    data = squad_file(tmp_path / "long.json", filler=30)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="hf_models"):
        results = run_qa(["--model_name_or_path", tiny_t5, "--validation_file", data, "--do_eval",
                          "--max_seq_length", "24", "--doc_stride", "8", *common(out)])
    # every input is cut; the job (before the filler) survives, the city (after it) does not
    assert "validation: 8 of 8 questions are longer than --max_seq_length 24 tokens and truncated (T5 truncates " \
           "too); 4 of them lose every gold answer" in caplog.text
    assert "--doc_stride ignored" in caplog.text
    check_squad_outputs(out, data, results)


def test_questions_without_answers_are_answered_without_scores(tiny_t5, tmp_path):
    data = json.loads(squad_file(tmp_path / "with.json").read_text(encoding="utf-8"))
    for paragraph in data["data"][0]["paragraphs"]:
        for qa in paragraph["qas"]:
            del qa["answers"]
    test = tmp_path / "test.json"
    test.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "out"
    results = run_qa(["--model_name_or_path", tiny_t5, "--test_file", test, "--do_predict", *common(out)])
    predictions = json.loads((out / "predict_predictions.json").read_text(encoding="utf-8"))
    assert len(predictions) == 8 and all(isinstance(text, str) for text in predictions.values())
    assert "predict_f1" not in results and "predict_loss" not in results and results["predict_examples"] == 8
    assert not (out / "results.md").exists()  # nothing scored


def test_doc_stride_defaults_to_128_or_half_the_window():
    """A short --max_seq_length needs no --doc_stride (a T5 run ignores it; an extractive one slides by half)."""
    from hf_models.tasks.squad import DataArguments

    assert DataArguments(validation_file="v.json").doc_stride == 128
    short = DataArguments(validation_file="v.json", max_seq_length=64)
    assert short.doc_stride == 32 and not short.doc_stride_given
    assert DataArguments(validation_file="v.json", max_seq_length=64, doc_stride=16).doc_stride_given
    with pytest.raises(ValueError, match="need 0 <= --doc_stride < --max_seq_length"):
        DataArguments(validation_file="v.json", max_seq_length=64, doc_stride=64)


def test_squad_errors(tiny_t5, tmp_path, capsys):
    from training.run_qa import main

    data = squad_file(tmp_path / "train.json")
    message = one_line_error(main, ["--model_name_or_path", tiny_t5, "--validation_file", data, "--do_eval",
                                    "--version_2_with_negative", *common(tmp_path / "a")], capsys)
    assert "--version_2_with_negative" in message and "text-to-text" in message
    poor = save_tiny_t5(tmp_path / "poor", word_tokenizer([w for w in vocabulary() if w != "context:"]))
    message = one_line_error(main, ["--model_name_or_path", poor, "--validation_file", data, "--do_eval",
                                    *common(tmp_path / "b")], capsys)
    assert "cannot spell the task prefix 'context:'" in message and str(poor) in message
