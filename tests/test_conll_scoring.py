"""NER scoring exactly as conlleval.pl: its token accuracy (`-DOCSTART-` lines are tokens), and the chunk rules made
explicit (`--chunk_rules conlleval`, the default, where S-/E- are not IOBES; `--chunk_rules iobes`).

The oracle is a line-by-line port of conlleval.pl's main loop over the lines of a file (below, on the port of its
startOfChunk/endOfChunk in tests/test_conll.py). Where perl and conlleval.pl itself are at hand (the environment
variable CONLLEVAL_PL names the script, which is not shipped), the same files are also scored by conlleval.pl.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import requires_shared_data, shared_data_dir
from test_conll import _split, end_of_chunk, perturb, start_of_chunk

from hf_models.tasks.conll import (
    ConllFormatError,
    DataArguments,
    NerScorer,
    Sentence,
    TokenizedSplit,
    read_conlleval_file,
    read_ner_file,
    score_predictions_file,
    to_iob2,
    write_predictions,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# The oracles: conlleval.pl's main loop over a file's lines, and conlleval.pl itself when available
# ----------------------------------------------------------------------------------------------------------------------
def conlleval_file(path: Path) -> dict:
    """conlleval.pl (2004-01-26) on a file, default options: fields split on single spaces; an empty line or a line
    whose first field is -X- is a boundary (O O, no token); every other line is a token, -DOCSTART- lines included."""
    boundary = "-X-"
    correct_chunk = found_correct = found_guessed = correct_tags = token_counter = 0
    correct_by_type, found_correct_by_type, found_guessed_by_type = Counter(), Counter(), Counter()
    in_correct = False
    last_correct, last_correct_type, last_guessed, last_guessed_type = "O", "", "O", ""
    for line in path.read_text(encoding="utf-8").split("\n")[:-1]:  # perl reads lines; the last ends in \n
        features = line.split(" ")
        while features and features[-1] == "":  # perl's split drops trailing empty fields
            features.pop()
        if not features or features[0] == boundary:
            features = [boundary, "O", "O"]
        guessed, guessed_type = _split(features.pop())
        correct, correct_type = _split(features.pop())
        first_item = features[0]
        if first_item == boundary:
            guessed = "O"
        if in_correct:
            if (end_of_chunk(last_correct, correct, last_correct_type, correct_type)
                    and end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
                    and last_guessed_type == last_correct_type):
                in_correct = False
                correct_chunk += 1
                correct_by_type[last_correct_type] += 1
            elif (end_of_chunk(last_correct, correct, last_correct_type, correct_type)
                  != end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
                  or guessed_type != correct_type):
                in_correct = False
        if (start_of_chunk(last_correct, correct, last_correct_type, correct_type)
                and start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
                and guessed_type == correct_type):
            in_correct = True
        if start_of_chunk(last_correct, correct, last_correct_type, correct_type):
            found_correct += 1
            found_correct_by_type[correct_type] += 1
        if start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type):
            found_guessed += 1
            found_guessed_by_type[guessed_type] += 1
        if first_item != boundary:
            if correct == guessed and guessed_type == correct_type:
                correct_tags += 1
            token_counter += 1
        last_guessed, last_correct, last_guessed_type, last_correct_type = guessed, correct, guessed_type, correct_type
    if in_correct:
        correct_chunk += 1
        correct_by_type[last_correct_type] += 1

    def scores(right, found_c, found_g):
        precision = 100 * right / found_g if found_g > 0 else 0.0
        recall = 100 * right / found_c if found_c > 0 else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}

    report = {"tokens": token_counter, "phrases": found_correct, "found": found_guessed, "correct": correct_chunk,
              "accuracy": 100 * correct_tags / token_counter, **scores(correct_chunk, found_correct, found_guessed)}
    for entity_type in sorted(set(found_correct_by_type) | set(found_guessed_by_type)):
        report[entity_type] = scores(correct_by_type[entity_type], found_correct_by_type[entity_type],
                                     found_guessed_by_type[entity_type])
    return report


def conlleval_pl() -> Path | None:
    """conlleval.pl, when perl is installed and CONLLEVAL_PL names the script."""
    script = os.environ.get("CONLLEVAL_PL")
    if shutil.which("perl") is None or not script or not Path(script).is_file():
        return None
    return Path(script)


_NUMBERS = re.compile(r"(accuracy|precision|recall|FB1): +([\d.]+)")


def run_conlleval_pl(script: Path, path: Path) -> dict:
    """conlleval.pl's report on a file: token count and overall numbers (2 decimals), and per-type numbers."""
    with path.open("rb") as stdin:
        output = subprocess.run(["perl", str(script)], stdin=stdin, capture_output=True, text=True, check=True).stdout
    lines = output.splitlines()
    head = re.match(r"processed (\d+) tokens with (\d+) phrases; found: (\d+) phrases; correct: (\d+)\.", lines[0])
    report = dict(zip(("tokens", "phrases", "found", "correct"), map(int, head.groups())))
    report.update({name: float(value) for name, value in _NUMBERS.findall(lines[1])})
    for line in lines[2:]:
        entity_type, _, rest = line.strip().partition(":")
        report[entity_type] = {name: float(value) for name, value in _NUMBERS.findall(rest)}
    return report


def assert_equals_conlleval(path: Path, metrics: dict, oracle: dict) -> None:
    """eval_conll's metrics (fractions) against conlleval's report (percentages), and against conlleval.pl itself."""
    assert metrics["tokens"] == oracle["tokens"]
    for ours, theirs in (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"), ("f1", "f1")):
        assert 100 * metrics[ours] == pytest.approx(oracle[theirs], abs=1e-9), ours
    types = [key for key, value in oracle.items() if isinstance(value, dict)]
    assert sorted(types) == sorted(key[: -len("_f1")] for key in metrics if key.endswith("_f1") and key != "f1")
    for entity_type in types:
        for name in ("precision", "recall", "f1"):
            assert 100 * metrics[f"{entity_type}_{name}"] == pytest.approx(oracle[entity_type][name], abs=1e-9)
    script = conlleval_pl()
    if script is None:
        return
    real = run_conlleval_pl(script, path)
    assert {k: real[k] for k in ("tokens", "phrases", "found", "correct")} == \
           {k: oracle[k] for k in ("tokens", "phrases", "found", "correct")}
    assert real["accuracy"] == round(oracle["accuracy"], 2) and real["FB1"] == round(oracle["f1"], 2)
    assert real["precision"] == round(oracle["precision"], 2) and real["recall"] == round(oracle["recall"], 2)
    for entity_type in types:
        assert real[entity_type]["FB1"] == round(oracle[entity_type]["f1"], 2), entity_type


def eval_conll(*argv: str) -> dict:
    from eval import eval_conll as cli

    return cli.main(list(argv))


# ----------------------------------------------------------------------------------------------------------------------
# Token accuracy: -DOCSTART- lines are tokens
# ----------------------------------------------------------------------------------------------------------------------
# run_ner's output format; 9 word lines (3 wrong: German, Blackburn, captured) and 2 -DOCSTART- lines
TWO_DOCUMENTS = """\
-DOCSTART- O O

EU B-ORG B-ORG
rejects O O
German B-MISC O
call O O
. O O

Peter B-PER B-PER
Blackburn I-PER B-PER

-DOCSTART- O O

서울 B-LOC B-LOC
captured O B-LOC
"""


@pytest.mark.filterwarnings("ignore:.*ill-defined")  # no MISC predicted: seqeval warns where conlleval writes 0
def test_docstart_lines_count_as_tokens_hand_counted(tmp_path, capsys):
    path = write(tmp_path / "predict_predictions.txt", TWO_DOCUMENTS)
    metrics = eval_conll("--predictions_file", str(path))
    # conlleval.pl: 11 tokens (9 words, 2 -DOCSTART- lines tagged O O), 8 right; entities: gold ORG MISC PER LOC,
    # predicted ORG, PER, PER, LOC, LOC: 2 right
    assert metrics["tokens"] == 11 and metrics["sentences"] == 3
    assert metrics["accuracy"] == pytest.approx(8 / 11)
    assert metrics["precision"] == pytest.approx(2 / 5) and metrics["recall"] == pytest.approx(2 / 4)
    assert "processed 11 tokens in 3 sentences: accuracy 72.73%;" in capsys.readouterr().out
    assert_equals_conlleval(path, metrics, conlleval_file(path))


def test_run_ner_scorer_counts_the_docstart_lines_it_writes(tmp_path):
    """run_ner's own accuracy is the one conlleval.pl gives on the predictions file run_ner writes."""
    labels = ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"]
    sentences = [
        Sentence(["EU", "rejects"], ["B-ORG", "O"], "dev.txt", 3, word_per_line=True, docstart=True),
        Sentence(["Peter", "Blackburn"], ["B-PER", "I-PER"], "dev.txt", 6, word_per_line=True),
        Sentence(["서울", "captured"], ["B-LOC", "O"], "dev.txt", 11, word_per_line=True, docstart=True),
    ]
    split = TokenizedSplit("validation", sentences, dataset=None, labelled_words=[[0, 1]] * 3, words_cut=0,
                           words_empty=0)
    ids = {label: i for i, label in enumerate(labels)}
    gold = np.array([[ids[t] for t in s.tags] for s in sentences])
    guessed = np.array([[ids["B-ORG"], ids["O"]], [ids["B-PER"], ids["B-PER"]], [ids["B-LOC"], ids["B-LOC"]]])
    scorer = NerScorer(split, labels)
    metrics = scorer(SimpleNamespace(predictions=guessed, label_ids=gold))
    assert metrics["accuracy"] == pytest.approx((4 + 2) / (6 + 2))  # 2 -DOCSTART- lines, both right
    path = write_predictions(tmp_path / "eval_predictions.txt", sentences, scorer.predictions)
    assert path.read_text(encoding="utf-8").count("-DOCSTART- O O\n") == 2
    oracle = conlleval_file(path)
    assert 100 * metrics["accuracy"] == pytest.approx(oracle["accuracy"])
    assert 100 * metrics["f1"] == pytest.approx(oracle["f1"])


def test_conlleval_boundaries_and_docstart_lines_in_predictions_files(tmp_path):
    # a line starting with -X- is a sentence boundary for conlleval.pl, not a token
    path = write(tmp_path / "pred.txt", "Anna B-PER B-PER\n-X- O O\nGraf I-PER I-PER\n")
    read = read_conlleval_file(path)
    assert [s.tokens for s in read.sentences] == [["Anna"], ["Graf"]] and read.tokens == 2
    assert_equals_conlleval(path, eval_conll("--predictions_file", str(path)), conlleval_file(path))
    # run_ner never writes a word -X- where conlleval.pl would see a boundary
    sentences = [Sentence(["-X-", "Graf"], ["O", "B-PER"], "x", 1)]
    written = write_predictions(tmp_path / "written.txt", sentences, [["O", "B-PER"]])
    assert written.read_text(encoding="utf-8") == "_-X- O O\nGraf B-PER B-PER\n\n"
    assert read_conlleval_file(written).tokens == 2 == conlleval_file(written)["tokens"]
    # a -DOCSTART- line is a token for conlleval.pl: it must carry the tags O O
    bad = write(tmp_path / "bad.txt", "Anna B-PER B-PER\n\n-DOCSTART- -X- -X- O\n\nGraf B-PER O\n")
    with pytest.raises(ConllFormatError, match=r"bad\.txt: line 3: a -DOCSTART- line must end in .*'O O'"):
        read_conlleval_file(bad)


def synthetic_predictions(path: Path, seed: int, iobes: bool = False) -> Path:
    """Several documents of gold and perturbed tags in run_ner's columns (IOB2, or IOBES when `iobes`)."""
    rng = np.random.default_rng(seed)
    types = ["PER", "LOC", "ORG", "MISC"]
    sentences, predictions = [], []
    for i in range(60):
        tags = []
        while len(tags) < 12:
            if rng.random() < 0.4:
                length, entity_type = int(rng.integers(1, 4)), types[int(rng.integers(4))]
                if iobes:
                    tags += [f"S-{entity_type}"] if length == 1 else (
                        [f"B-{entity_type}"] + [f"I-{entity_type}"] * (length - 2) + [f"E-{entity_type}"])
                else:
                    tags += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (length - 1)
            else:
                tags.append("O")
        sentences.append(Sentence([f"w{j}" for j in range(len(tags))], tags, "x", 1, docstart=i % 7 == 0))
    prefixes = "BIES" if iobes else "BI"
    for sentence in sentences:
        guessed = []
        for tag in sentence.tags:
            r = rng.random()
            if r < 0.1:
                tag = "O"
            elif r < 0.25:
                tag = f"{prefixes[int(rng.integers(len(prefixes)))]}-{types[int(rng.integers(4))]}"
            guessed.append(tag)
        predictions.append(guessed)
    return write_predictions(path, sentences, predictions)


def test_eval_conll_equals_conlleval_on_several_documents(tmp_path):
    path = synthetic_predictions(tmp_path / "predict_predictions.txt", seed=0)
    assert path.read_text(encoding="utf-8").count("-DOCSTART-") == 9
    oracle = conlleval_file(path)
    assert 30 < oracle["f1"] < 90 and oracle["tokens"] == sum(1 for line in path.open() if line.strip())
    assert_equals_conlleval(path, eval_conll("--predictions_file", str(path)), oracle)


@requires_shared_data
def test_eval_conll_equals_conlleval_on_conll2003_test(tmp_path):
    """A run_ner predictions file of the whole of eng.testb (231 documents): conlleval.pl's numbers to the digit."""
    sentences = read_ner_file(shared_data_dir() / "conll2003" / "eng.testb", DataArguments())
    predictions = [to_iob2(tags) for tags in perturb([s.tags for s in sentences], seed=1)]
    path = write_predictions(tmp_path / "predict_predictions.txt", sentences, predictions)
    results, read = score_predictions_file(path)
    assert read.docstart_lines == 231 and read.tokens == 46435 + 231
    oracle = conlleval_file(path)
    assert oracle["tokens"] == 46666 and oracle["phrases"] == 5648
    from hf_models.tasks.conll import flatten_results

    metrics = {**flatten_results(results, entity_level=True), "tokens": read.tokens}
    assert_equals_conlleval(path, metrics, oracle)


# ----------------------------------------------------------------------------------------------------------------------
# Chunk rules: conlleval.pl's (default) or IOBES
# ----------------------------------------------------------------------------------------------------------------------
# conlleval.pl: gold PER(Anna Graf), LOC(New York and Paris), ORG(EU); predicted PER(Anna Graf), LOC(New York and
# Paris), ORG(EU said). IOBES: gold PER, PER, LOC(New York), LOC(and Paris), ORG(EU); predicted PER(Anna Graf),
# LOC(New York), LOC(and), LOC(Paris), ORG(EU), ORG(said).
IOBES_FILE = """\
-DOCSTART- O O

Anna S-PER B-PER
Graf S-PER E-PER
in O O
New B-LOC B-LOC
York E-LOC E-LOC
and B-LOC S-LOC
Paris E-LOC S-LOC

-DOCSTART- O O

EU S-ORG S-ORG
said O B-ORG
"""


def test_to_iob2_reads_s_and_e_by_the_chosen_rules():
    tags = ["S-PER", "S-PER", "O", "B-LOC", "E-LOC", "B-LOC", "E-LOC", "S-ORG", "I-ORG"]
    assert to_iob2(tags) == to_iob2(tags, "conlleval") == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "I-LOC",
                                                             "B-ORG", "I-ORG"]
    assert to_iob2(tags, "iobes") == ["B-PER", "B-PER", "O", "B-LOC", "I-LOC", "B-LOC", "I-LOC", "B-ORG", "B-ORG"]
    iob1 = ["I-PER", "I-PER", "I-LOC", "B-LOC", "O", "I-ORG"]  # no S-/E-: both rule sets agree
    assert to_iob2(iob1) == to_iob2(iob1, "iobes") == ["B-PER", "I-PER", "B-LOC", "B-LOC", "O", "B-ORG"]
    with pytest.raises(ValueError, match="--chunk_rules must be one of conlleval, iobes, got 'bioes'"):
        to_iob2(tags, "bioes")


def test_metric_chunk_rules_conlleval_by_default_or_iobes():
    from seqeval.metrics import classification_report
    from test_conll import conlleval

    from hf_models.metrics import load_metric

    metric = load_metric("seqeval", keep_in_memory=True)
    references = [["S-PER", "S-PER", "O", "B-LOC", "E-LOC", "B-LOC", "E-LOC"], ["S-ORG", "O"]]
    predictions = [["B-PER", "E-PER", "O", "B-LOC", "E-LOC", "S-LOC", "S-LOC"], ["S-ORG", "B-ORG"]]
    default = metric.compute(predictions=predictions, references=references)
    reference = conlleval(references, predictions)
    assert default["overall_f1"] == pytest.approx(reference["overall_f1"]) == pytest.approx(2 / 3)
    for entity_type in ("PER", "LOC", "ORG"):
        assert default[entity_type] == pytest.approx(reference[entity_type]), entity_type
    iobes = metric.compute(predictions=predictions, references=references, chunk_rules="iobes")
    seqeval = classification_report(references, predictions, output_dict=True)["micro avg"]  # seqeval's own rules
    assert iobes["overall_f1"] == pytest.approx(seqeval["f1-score"]) == pytest.approx(4 / 11)
    assert iobes["PER"]["number"] == 2 and default["PER"]["number"] == 1
    assert default["overall_accuracy"] == iobes["overall_accuracy"] == pytest.approx(4 / 9)
    with pytest.raises(ValueError, match="chunk_rules applies to mode=None"):
        metric.compute(predictions=predictions, references=references, mode="strict", scheme="IOBES",
                       chunk_rules="iobes")
    with pytest.raises(ValueError, match="chunk_rules must be one of conlleval, iobes"):
        metric.compute(predictions=predictions, references=references, chunk_rules="IOBES")


@pytest.mark.filterwarnings("ignore:.*ill-defined")
def test_metric_equals_conlleval_on_random_tags_of_every_prefix():
    """Any mix of O, B-, I-, E-, S- (two types): the default rules find conlleval.pl's entities, per type too."""
    from test_conll import assert_same_scores, conlleval

    from hf_models.metrics import load_metric

    rng = np.random.default_rng(0)
    tags = ["O"] + [f"{prefix}-{entity_type}" for prefix in "BIES" for entity_type in ("PER", "LOC")]
    references = [[tags[i] for i in rng.integers(len(tags), size=int(rng.integers(1, 9)))] for _ in range(400)]
    predictions = [[tags[i] if rng.random() < 0.5 else gold for i, gold in zip(rng.integers(len(tags), size=len(s)), s)]
                   for s in references]
    metric = load_metric("seqeval", keep_in_memory=True)
    assert_same_scores(metric.compute(predictions=predictions, references=references),
                       conlleval(references, predictions))
    iobes = metric.compute(predictions=predictions, references=references, chunk_rules="iobes")
    assert iobes["overall_f1"] != pytest.approx(conlleval(references, predictions)["overall_f1"])


def test_eval_conll_chunk_rules_flag(tmp_path, caplog):
    path = write(tmp_path / "iobes.txt", IOBES_FILE)
    with caplog.at_level(logging.WARNING, logger="hf_models.tasks.conll"):
        default = eval_conll("--predictions_file", str(path))
    assert f"{path}: line 4: the tags 'S-PER S-PER' are read as conlleval.pl reads them" in caplog.text
    assert "pass --chunk_rules iobes" in caplog.text
    assert default["precision"] == pytest.approx(2 / 3) and default["recall"] == pytest.approx(2 / 3)
    assert default["tokens"] == 11 and default["accuracy"] == pytest.approx(6 / 11)
    assert_equals_conlleval(path, default, conlleval_file(path))

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_models.tasks.conll"):
        iobes = eval_conll("--predictions_file", str(path), "--chunk_rules", "iobes")
    assert "read as conlleval.pl" not in caplog.text
    assert iobes["precision"] == pytest.approx(2 / 6) and iobes["recall"] == pytest.approx(2 / 5)
    assert iobes["PER_number"] == 2 and default["PER_number"] == 1
    assert iobes["accuracy"] == default["accuracy"]

    with pytest.raises(ValueError, match="--chunk_rules applies to the default mode"):
        eval_conll("--predictions_file", str(path), "--chunk_rules", "iobes", "--mode", "strict", "--scheme", "IOBES")
    with pytest.raises(ValueError, match="--chunk_rules must be one of conlleval, iobes, got 'bio'"):
        eval_conll("--predictions_file", str(path), "--chunk_rules", "bio")


def test_eval_conll_equals_conlleval_on_iobes_tags(tmp_path):
    path = synthetic_predictions(tmp_path / "predict_predictions.txt", seed=1, iobes=True)
    oracle = conlleval_file(path)
    default = eval_conll("--predictions_file", str(path))
    assert_equals_conlleval(path, default, oracle)
    iobes = eval_conll("--predictions_file", str(path), "--chunk_rules", "iobes")
    assert iobes["f1"] != pytest.approx(default["f1"])  # the rules matter on these tags


def test_run_ner_reads_training_tags_by_chunk_rules(tmp_path, caplog):
    from transformers import TrainingArguments

    from hf_models.cli_utils import parse_args
    from hf_models.trainer_utils import ModelArguments, RunArguments

    data = write(tmp_path / "train.txt", "Anna S-PER\nGraf S-PER\nsaid O\n")
    with caplog.at_level(logging.WARNING, logger="hf_models.tasks.conll"):
        assert read_ner_file(data, DataArguments())[0].tags == ["B-PER", "I-PER", "O"]  # conlleval.pl: one PER
    assert f"{data}: line 2: the tags 'S-PER S-PER' are read as conlleval.pl reads them" in caplog.text
    assert read_ner_file(data, DataArguments(chunk_rules="iobes"))[0].tags == ["B-PER", "B-PER", "O"]
    assert read_ner_file(data, DataArguments(tag_scheme="as_is", chunk_rules="iobes"))[0].tags == ["S-PER", "S-PER",
                                                                                                   "O"]
    # training/run_ner.py's command line: the flag reaches the data arguments
    _, data_args, _, _ = parse_args((ModelArguments, DataArguments, RunArguments, TrainingArguments), [
        "--model_name_or_path", "m", "--train_file", str(data), "--do_train", "--output_dir", str(tmp_path / "out"),
        "--chunk_rules", "iobes", "--use_cpu", "--report_to", "none"])
    assert data_args.chunk_rules == "iobes"
    with pytest.raises(ValueError, match="--chunk_rules must be one of conlleval, iobes, got 'IOBES'"):
        DataArguments(chunk_rules="IOBES")

    # run_ner's scorer on a model trained on IOBES tags as they are (--tag_scheme as_is) reads them by the rules too
    labels = ["O", "B-PER", "E-PER", "S-PER"]
    sentence = Sentence(["Anna", "Graf", "said"], ["S-PER", "S-PER", "O"], "dev.txt", 1, word_per_line=True)
    split = TokenizedSplit("validation", [sentence], None, [[0, 1, 2]], 0, 0)
    gold, guessed = np.array([[3, 3, 0]]), np.array([[1, 2, 0]])
    conlleval_rules = NerScorer(split, labels)(SimpleNamespace(predictions=guessed, label_ids=gold))
    iobes_rules = NerScorer(split, labels, chunk_rules="iobes")(SimpleNamespace(predictions=guessed, label_ids=gold))
    assert conlleval_rules["f1"] == 1.0 and iobes_rules["f1"] == 0.0
