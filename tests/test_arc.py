"""benchmarks/arc.py (issue 18): the row registry, and tiny end-to-end runs of its cheap rows (an n-gram model on a
tiny corpus, bag-of-words logistic regression on the package's SST-2 sample) through the package's own CLIs."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import arc

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "hf_models" / "data"
# the issue's families, by chapter: each must have at least one row on its tasks
EXPECTED = {
    ("ptb", "wikitext2"): ["n-gram", "RNN", "LSTM", "GPT"],
    ("wikitext2",): ["SmolLM2 (prompting)"],
    ("sst2", "rte"): ["bag of words", "word2vec", "LSTM", "LSTM + word2vec", "BERT", "BERT (real weights)", "GPT",
                      "T5", "SmolLM2 (prompting)"],
    ("multi30k",): ["Seq2Seq", "Transformer", "T5"],
    ("conll2003",): ["LSTM", "BERT", "BERT (real weights)"],
}


def all_steps(data: Path, root: Path) -> list[tuple[str, arc.Step]]:
    """Every row's steps (the built-in rows and a user row per task), with the small budget."""
    args = arc.parse_args(["--add_model", str(root / "my-model"), "--add_task", *arc.TASKS])
    out = []
    for row in arc.select_rows(args):
        if row.name.endswith("minilm") and arc.minilm_available() is not None:
            continue
        ctx = arc.Ctx(data, root, arc.row_values(row, args), ["--use_cpu"])
        out += [(row.name, step) for step in row.steps(ctx)]
    return out


def test_registry_has_every_family_of_the_issue():
    names = [row.name for row in arc.ROWS]
    assert len(names) == len(set(names))
    for tasks, families in EXPECTED.items():
        for task in tasks:
            have = {row.family for row in arc.ROWS if row.task == task}
            assert set(families) <= have, (task, set(families) - have)
    for row in arc.ROWS:
        assert row.task in arc.TASKS and row.name.startswith(row.task + "/")
        assert row.family in arc.FAMILIES, row.family
        assert row.score.file and row.score.key
    # each attention type, with and without
    assert {r.name for r in arc.ROWS if r.family == "Seq2Seq"} == {
        f"multi30k/seq2seq-{a}" for a in ("none", "dot", "general", "concat")}
    assert {r.name for r in arc.ROWS if r.family == "n-gram"} >= {"ptb/ngram-addk", "ptb/ngram-kn", "ptb/ngram-mkn"}


@pytest.mark.slow
def test_every_command_runs_an_existing_script_with_flags_it_accepts(tmp_path):
    """Each distinct script's (or arc.py subcommand's) --help is run once; every --flag of every row's commands must
    be one it lists."""
    steps = all_steps(arc.DATA, tmp_path)
    assert len(steps) > 60
    scripts = {}
    for name, step in steps:
        cmd = step.cmd
        assert cmd[0] == sys.executable
        script = Path(cmd[1]) if Path(cmd[1]).is_absolute() else ROOT / cmd[1]
        assert script.is_file(), (name, cmd[1])
        key = (cmd[1], cmd[2]) if script == arc.THIS else (cmd[1],)
        scripts.setdefault(key, []).append((name, [a for a in cmd if re.fullmatch(r"--[a-z][a-z0-9_]*", a)]))
        assert str(step.folder).startswith(str(tmp_path)), (name, step.folder)  # everything under output_root
    for key, uses in scripts.items():
        proc = subprocess.run([sys.executable, *key, "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=300, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, (key, proc.stderr[-2000:])
        accepted = set(re.findall(r"--[a-z][a-z0-9_]*", proc.stdout))
        for name, flags in uses:
            unknown = sorted(set(flags) - accepted)
            assert not unknown, f"{name}: {' '.join(key)} does not accept {unknown}"


def test_budget_values_and_overrides():
    args = arc.parse_args(["--budget", "small", "--set", "sst2/*:max_steps=50", "--set", "*/minilm:train_samples=none"])
    assert arc.row_values(arc.ROW_INDEX["sst2/bilstm"], args)["max_steps"] == 50
    assert arc.row_values(arc.ROW_INDEX["rte/bilstm"], args)["max_steps"] == arc.BUDGETS["small"]["max_steps"]
    assert arc.row_values(arc.ROW_INDEX["sst2/minilm"], args)["train_samples"] is None
    full = arc.parse_args(["--budget", "full"])
    ctx = arc.Ctx(arc.DATA, Path("/tmp/x"), arc.row_values(arc.ROW_INDEX["sst2/bilstm"], full), ["--use_cpu"])
    cmd = arc.ROW_INDEX["sst2/bilstm"].steps(ctx)[-1].cmd
    assert "--max_steps" not in cmd and "--max_train_samples" not in cmd
    with pytest.raises(SystemExit):
        arc.row_values(arc.ROW_INDEX["sst2/bilstm"], arc.parse_args(["--set", "sst2/*:max_stpes=5"]))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A data folder with the shared layout: 'PTB' cut from the WikiText-2 sample, the package's SST-2 sample."""
    data = tmp_path_factory.mktemp("data")
    lines = (SAMPLES / "wikitext2_sample.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    lines = [line for line in lines if line.strip()]
    (data / "ptb").mkdir()
    n = len(lines)
    (data / "ptb" / "ptb.train.txt").write_text("".join(lines[: int(0.7 * n)]), encoding="utf-8")
    (data / "ptb" / "ptb.valid.txt").write_text("".join(lines[int(0.7 * n): int(0.85 * n)]), encoding="utf-8")
    (data / "ptb" / "ptb.test.txt").write_text("".join(lines[int(0.85 * n):]), encoding="utf-8")
    (data / "glue" / "SST-2").mkdir(parents=True)
    shutil.copy(SAMPLES / "sst2_train_sample.tsv", data / "glue" / "SST-2" / "train.tsv")
    shutil.copy(SAMPLES / "sst2_dev.tsv", data / "glue" / "SST-2" / "dev.tsv")
    return data


def _run(data, root, out, *extra):
    return arc.main(["--data_dir", str(data), "--output_root", str(root), "--output", str(out), "--threads", "1",
                     *extra])


ROWS = ["ptb/ngram-addk", "ptb/ngram-kn", "sst2/bow-logreg", "wikitext2/ngram-mkn"]


@pytest.mark.slow
def test_tiny_run_rerun_and_report_only(tiny_data, tmp_path):
    root, out = tmp_path / "root", tmp_path / "results" / "arc.json"
    report = _run(tiny_data, root, out, "--rows", *ROWS)
    rows = {r["row"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == set(ROWS)
    addk, kn, bow = rows["ptb/ngram-addk"], rows["ptb/ngram-kn"], rows["sst2/bow-logreg"]
    for row in (addk, kn, bow):
        assert row["status"] == "done" and math.isfinite(row["score"]), row
        assert row["parameters"] > 0 and row["tokens_per_second"] > 0 and row["train_seconds"] > 0
        assert row["commands"] and all(c.startswith("python ") for c in row["commands"])
    # the numbers are the CLI's own: train_ngram's test perplexity, the classifier's dev accuracy
    written = json.loads((root / "rows" / "ptb__ngram-kn" / "model" / "train_results.json").read_text())
    assert kn["score"] == pytest.approx(written["test_perplexity"])
    assert 1 < kn["score"] < addk["score"]  # Kneser-Ney beats add-0.01 on held-out text
    assert bow["score"] > 60  # majority class: 50.9% of the 872 dev sentences
    assert bow["shortened"] and bow["shortened_by"] == ["train_samples"]
    assert not kn["shortened"]
    # a row without its data: skipped, with the reason
    skipped = rows["wikitext2/ngram-mkn"]
    assert skipped["status"] == "skipped" and "wikitext2" in skipped["reason"]
    table = out.with_suffix(".md").read_text()
    assert f"| ptb/ngram-kn | n-gram | 5-gram, interpolated Kneser-Ney | {kn['score']:.2f} |" in table
    assert "| wikitext2/ngram-mkn |" in table and "skipped" in table
    assert (out.parent / "arc_perplexity.png").is_file() and (out.parent / "arc_accuracy.png").is_file()
    assert report["rows"] == json.loads(out.read_text())["rows"]

    # a rerun runs nothing: the finished rows are read back
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    _run(tiny_data, root, out, "--rows", *ROWS)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == stamps
    assert {r["row"]: r.get("score") for r in json.loads(out.read_text())["rows"]} == {
        r: rows[r].get("score") for r in ROWS}

    # --report_only rebuilds the same table from the row folders
    out2 = tmp_path / "again" / "arc.json"
    _run(tiny_data, root, out2, "--report_only")
    assert out2.with_suffix(".md").read_text() == table
    assert [r["row"] for r in json.loads(out2.read_text())["rows"]] == [r["row"] for r in report["rows"]]


@pytest.mark.slow
def test_user_row_and_cut_row(tiny_data, tmp_path):
    """--add_model: a tiny n-gram model saved by the user is scored on the task's test file by
    eval/eval_ngram_perplexity.py; --max_minutes_per_row cuts a row, and the next run finishes it."""
    from hf_models.ngram import NGramConfig, NGramLanguageModel

    model = NGramLanguageModel.fit([tiny_data / "ptb" / "ptb.train.txt"], NGramConfig(order=2,
                                                                                    smoothing="kneser_ney"))
    folder = tmp_path / "my-bigram"
    model.save_pretrained(folder)
    expected = model.perplexity(tiny_data / "ptb" / "ptb.test.txt")["perplexity"]
    root, out = tmp_path / "root", tmp_path / "arc.json"
    _run(tiny_data, root, out, "--add_model", str(folder), "--add_task", "ptb", "--rows", "none")
    rows = json.loads(out.read_text())["rows"]
    assert [r["row"] for r in rows] == ["ptb/user:my-bigram"]
    assert rows[0]["status"] == "done" and rows[0]["family"] == "your model"
    assert rows[0]["score"] == pytest.approx(expected, rel=1e-6)
    assert rows[0]["parameters"] == sum(model.config.ngram_counts)
    assert "eval/eval_ngram_perplexity.py" in rows[0]["commands"][0]

    # cut after 0.01 s: recorded as cut, then finished by the next run (n-gram training restarts from scratch)
    _run(tiny_data, root, out, "--rows", "ptb/ngram-kn", "--max_minutes_per_row", "0.0002")
    (cut,) = json.loads(out.read_text())["rows"]
    assert cut["status"] == "cut" and "max_minutes_per_row" in cut["reason"]
    assert "| ptb/ngram-kn |" in out.with_suffix(".md").read_text()
    _run(tiny_data, root, out, "--rows", "ptb/ngram-kn")
    (done,) = json.loads(out.read_text())["rows"]
    assert done["status"] == "done" and done["resumed_after_cut"] and math.isfinite(done["score"])


def test_the_t5_rows_vocabulary_spells_every_label_word_they_generate(tmp_path):
    """The T5 rows pretrain on a vocabulary trained with their label words: one trained on the English text alone
    spells RTE's `not_entailment` with <unk>, and run_glue refuses it (the first arc run failed so)."""
    from transformers import AutoTokenizer

    from hf_models.tasks.glue import get_task
    from hf_models.tasks.text_to_text import LabelTargets, label_words

    for task in ("sst2", "rte"):
        assert set(label_words(get_task(task))) <= set(arc.T5_LABEL_WORDS.split()), task
    ctx = arc.Ctx(arc.DATA, tmp_path, arc.row_values(arc.ROW_INDEX["rte/t5-text2text"], arc.parse_args([])),
                  ["--use_cpu"])
    steps = arc.ROW_INDEX["rte/t5-text2text"].steps(ctx)
    names = [step.name for step in steps]
    assert names.index("t5_tokenizer") < names.index("t5_pretrained")
    pretrain = steps[names.index("t5_pretrained")].cmd
    assert pretrain[pretrain.index("--tokenizer_name_or_path") + 1] == str(steps[names.index("t5_tokenizer")].folder)
    # the subcommand on a small English text (no German file): every label word comes back whole
    text = tmp_path / "train.txt"
    text.write_text((SAMPLES / "wikitext2_sample.txt").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "tok"
    arc.cmd_t5_tokenizer(["--train_file", str(text), "--label_words", arc.T5_LABEL_WORDS, "--vocab_size", "600",
                          "--output_dir", str(out)])
    tokenizer = AutoTokenizer.from_pretrained(out)
    for task in ("sst2", "rte"):
        LabelTargets(get_task(task), tokenizer, str(out))  # raises on a word it cannot spell


def test_a_budget_value_equal_to_the_recipe_does_not_shorten_a_row():
    assert arc.capped_by({"pretrain_steps": arc.RECIPE["pretrain_steps"], "max_steps": None}) == []
    assert arc.capped_by({"pretrain_steps": 300, "max_steps": None, "train_samples": 4000}) == [
        "pretrain_steps", "train_samples"]
