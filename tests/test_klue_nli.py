"""benchmarks/klue_nli.py: the Korean vocabularies keep Hangul syllables whole (the WordPiece pretrain.py trains, through
save and reload, and the BiLSTM's word vocabulary; an accent-stripping normaliser is caught), the pretraining corpus,
the majority baseline, the parameter count, the commands' flags, the table and JSON on a fake run, --help, and a
tiny run of every step on the first 64 KLUE-NLI pairs."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import requires_shared_data, shared_data_dir

from benchmarks import klue_nli

ROOT = Path(__file__).resolve().parents[1]
KOREAN = [
    "힛걸 진심 최고다 그 어떤 히어로보다 멋지다",
    "힛걸 진심 최고로 멋지다.",
    "한국어 자연어 처리는 재미있다.",
    "자연어 추론은 전제와 가설의 관계를 맞히는 문제다.",
    "101빌딩 근처에 나름 즐길거리가 많습니다.",
]


def real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def write_klue(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A file in KLUE-NLI's layout: a JSON list of objects with more columns than the benchmark reads."""
    data = [{"guid": f"klue-nli-v1_x_{i:05d}", "genre": "NSMC", "premise": p, "hypothesis": h, "gold_label": label,
             "author": label, "label2": label} for i, (p, h, label) in enumerate(rows)]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# The vocabularies keep syllables
# ----------------------------------------------------------------------------------------------------------------------
def test_pretrain_wordpiece_keeps_hangul_syllables_through_save_and_reload(tmp_path):
    """The vocabulary pretrain.py trains when given no tokenizer (the mlm_nsp objective's train_tokenizer, lowercasing
    on as by default): its normaliser must not strip accents (NFD would split every syllable into jamo), also after
    save_pretrained + AutoTokenizer.from_pretrained, which rebuilds the normaliser from tokenizer_config.json."""
    from transformers import AutoTokenizer

    from hf_models.tasks.pretraining import PretrainingModelArguments, get_objective

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(KOREAN * 20) + "\n", encoding="utf-8")
    model_args = PretrainingModelArguments(vocab_size=300)
    assert model_args.do_lower_case  # the default: lowercasing must not bring accent stripping with it
    tokenizer = get_objective("mlm_nsp").train_tokenizer([str(corpus)], model_args, 128)
    tokenizer.save_pretrained(tmp_path / "tok")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    for tok in (tokenizer, reloaded):
        check = klue_nli.syllable_check(tok)
        assert check["keeps_syllables"], check
        assert check["normalized"] == klue_nli.SYLLABLE_PROBE
        assert "".join(t.removeprefix("##") for t in check["tokens"]) == klue_nli.SYLLABLE_PROBE.replace(" ", "")
        assert tok.unk_token not in tok.tokenize("한국어 자연어 처리는 재미있다.")
    assert reloaded.tokenize(KOREAN[2]) == tokenizer.tokenize(KOREAN[2])


def test_the_syllable_check_catches_an_accent_stripping_normaliser():
    """The check itself can fail: a BERT normaliser that strips accents (an uncased English BERT's) splits the probe
    into jamo, and the check says so."""
    from tokenizers import normalizers

    from hf_models.tokenization import train_wordpiece_tokenizer

    tokenizer = train_wordpiece_tokenizer(KOREAN * 20, vocab_size=300, input_type="texts")
    tokenizer.backend_tokenizer.normalizer = normalizers.BertNormalizer(strip_accents=True, lowercase=True)
    check = klue_nli.syllable_check(tokenizer)
    assert not check["keeps_syllables"]
    assert klue_nli.has_jamo(check["normalized"]) and "한" not in check["normalized"]
    assert klue_nli.has_jamo("ᄒ") and not klue_nli.has_jamo("한 abc")


def test_the_bilstm_word_vocabulary_keeps_syllables_and_reads_klue_columns(tmp_path):
    """create_rnn_checkpoint's word vocabulary (NFKC, words and punctuation) keeps syllables; on a KLUE-layout file it
    reads the premise and hypothesis columns (not genre, author, ...)."""
    import unicodedata

    from training.create_rnn_checkpoint import main

    rows = [(KOREAN[i % 5], KOREAN[(i + 1) % 5], ["entailment", "neutral", "contradiction"][i % 3]) for i in range(9)]
    train = write_klue(tmp_path / "klue-nli_train.json", rows)
    # a decomposed (NFD) spelling of a word is composed back by NFKC: the same word, not <unk>
    out = tmp_path / "init"
    summary = main(["--train_file", str(train), "--text_column_names", "premise,hypothesis", "--label_column_name",
                    "gold_label", "--hidden_size", "8", "--embedding_size", "8", "--output_dir", str(out)])
    assert summary["texts"] == 18 and summary["unk_rate"] == 0.0
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    assert klue_nli.syllable_check(tokenizer, "한국어 자연어")["keeps_syllables"]
    assert tokenizer.tokenize(unicodedata.normalize("NFD", "한국어")) == ["한국어"]
    vocab = tokenizer.get_vocab()
    assert "NSMC" not in vocab and "entailment" not in vocab and "힛걸" in vocab


# ----------------------------------------------------------------------------------------------------------------------
# The pieces of the benchmark
# ----------------------------------------------------------------------------------------------------------------------
def test_corpus_majority_baseline_and_parameter_count(tmp_path):
    rows = [("전제 하나.", "가설 가.", "entailment"), ("전제 하나.", "가설 나.", "neutral"),
            ("전제 하나.", "가설 가.", "entailment"), ("전제 둘.", "가설 다.", "neutral"),
            ("전제 셋.", "가설 라.", "contradiction")]
    train = write_klue(tmp_path / "train.json", rows)
    dev = write_klue(tmp_path / "dev.json", [("a", "b", "neutral"), ("a", "b", "entailment"), ("a", "b", "neutral"),
                                             ("a", "b", "contradiction")])
    stats = klue_nli.build_corpus(train, tmp_path / "corpus")
    # a document per premise: the premise, then its distinct hypotheses; documents separated by a blank line
    assert (tmp_path / "corpus" / "train.txt").read_text(encoding="utf-8") == (
        "전제 하나.\n가설 가.\n가설 나.\n\n전제 둘.\n가설 다.\n\n전제 셋.\n가설 라.\n")
    assert stats["documents"] == 3 and stats["lines"] == 7 and stats["examples"] == 5
    assert not (tmp_path / "corpus.staging").exists()

    # entailment and neutral tie at 2 in the first 4: the first in sorted order wins
    base = klue_nli.majority_baseline(train, dev, max_train=4, max_eval=None)
    assert base["label"] == "entailment" and base["train_examples"] == 4 and base["dev_examples"] == 4
    assert base["eval_accuracy"] == 0.25
    # F1 of entailment: precision 1/4, recall 1 -> 0.4; the other two labels 0
    assert base["eval_macro_f1"] == pytest.approx(0.4 / 3)
    # the first 3 training examples (entailment 2, neutral 1), the first 3 dev examples
    base = klue_nli.majority_baseline(train, dev, max_train=3, max_eval=3)
    assert base["label"] == "entailment" and base["train_label_counts"] == {"entailment": 2, "neutral": 1}
    assert base["dev_examples"] == 3 and base["eval_accuracy"] == pytest.approx(1 / 3)
    train_neutral = write_klue(tmp_path / "train2.json", [*rows, ("전제 넷.", "가설 마.", "neutral")])
    base = klue_nli.majority_baseline(train_neutral, dev, None, None)
    assert base["label"] == "neutral" and base["eval_accuracy"] == 0.5

    import torch
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(3, 4), "b": torch.zeros(5)}, str(tmp_path / "model.safetensors"))
    assert klue_nli.count_parameters(tmp_path) == 17
    with pytest.raises(FileNotFoundError):
        klue_nli.count_parameters(tmp_path / "corpus")
    with pytest.raises(ValueError, match="fewer than 2 premises"):
        klue_nli.build_corpus(write_klue(tmp_path / "one.json", rows[:1]), tmp_path / "c1")


def fake_report() -> dict:
    args = klue_nli.parse_args([])
    runs = {}
    for variant, acc, params in (("bilstm", 0.52, 15_400_000), ("bert_scratch", 0.55, 6_500_000),
                                 ("bert_pretrained", 0.61, 6_500_000), ("minilm", 0.45, 22_700_000)):
        runs[variant] = {"metrics": {"eval_accuracy": acc, "eval_macro_f1": acc - 0.01, "train_samples": 24998,
                                     "epoch": 2.0}, "wall_seconds": 600.0, "parameters": params,
                         "eval_accuracy": acc, "command": "python training/run_glue.py ..."}
    runs["minilm"]["metrics"].update(train_samples=5000, epoch=1.0)
    return {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "shortened": True, "shortened_by": ["finetune_max_steps"], "non_default_settings": {"finetune_max_steps": 5},
        "majority": {"label": "entailment", "eval_accuracy": 1 / 3, "eval_macro_f1": 1 / 6},
        "pretraining": {"wall_seconds": 1200.0, "steps": 1700,
                        "metrics": {"eval_mlm_accuracy": 0.3, "eval_mlm_perplexity": 80.0, "eval_nsp_accuracy": 0.8}},
        "corpus": {"documents": 8387, "words": 236145},
        "tokenizers": {"bilstm": {"rate": 0.12, "tokens_per_word": 1.0},
                       "bert_pretrained": {"rate": 0.003, "tokens_per_word": 1.87},
                       "bert_scratch": {"rate": 0.003, "tokens_per_word": 1.87},
                       "minilm": {"rate": 0.228, "tokens_per_word": 5.34}},
        "runs": runs, "pretraining_gain_points": 6.0, "missing_runs": [],
        "published": {"accuracy": klue_nli.PUBLISHED, "source": klue_nli.PUBLISHED_SOURCE},
    }


def test_the_table_of_a_fake_run():
    table = klue_nli.markdown_table(fake_report())
    lines = table.splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in lines if line.startswith("| ")}
    assert rows["majority class (entailment)"][1:3] == ["33.3", "16.7"]
    bert = rows[klue_nli.ROW_NAMES["bert_pretrained"]]
    assert bert[1:6] == ["61.0", "60.0", "6.5M", "0.3% / 1.87", "24,998 pairs x 2 epochs"]
    assert bert[6].startswith("10.0 (+ 20.0 pretraining)")
    minilm = rows[klue_nli.ROW_NAMES["minilm"]]
    assert minilm[3:6] == ["22.7M", "22.8% / 5.34", "5,000 pairs x 1 epoch"]
    assert "| KLUE-RoBERTa-large | 89.17 |" in table and "| mBERT-base | 73.20 |" in table
    assert "github.com/KLUE-benchmark/KLUE" in table and "does not name the split" in table
    assert "Pretraining gain (BERT pretrained - from scratch): +6.0 accuracy points." in table
    assert "MLM accuracy 30.0% (perplexity 80), NSP accuracy 80.0% after 1700 steps" in table
    assert "(6.5M-22.7M parameters)" in table
    assert "Shortened run (finetune_max_steps)" in table and "--finetune_max_steps 5" in table

    # a run not finished yet: n/a cells, named in the closing lines
    report = fake_report()
    del report["runs"]["minilm"]
    report["missing_runs"] = ["minilm"]
    table = klue_nli.markdown_table(report)
    assert f"| {klue_nli.ROW_NAMES['minilm']} | n/a | n/a | n/a |" in table and "Not finished yet (n/a above): minilm" in table


def test_shortening_flags_and_defaults():
    assert klue_nli.shortened_flags(klue_nli.parse_args([])) == []
    args = klue_nli.parse_args(["--max_eval_samples", "10", "--bert_epochs", "1", "--variants", "minilm",
                                "--pretrain_epochs", "2"])
    assert klue_nli.shortened_flags(args) == ["max_eval_samples", "bert_epochs", "variants"]
    with pytest.raises(SystemExit):
        klue_nli.parse_args(["--hidden_size", "250", "--num_heads", "4"])
    assert sum(klue_nli.PUBLISHED.values()) > 0 and max(klue_nli.PUBLISHED.values()) < 100


def test_the_estimate_adds_up_the_measured_steps():
    """estimate_minutes: the default run's steps at MEASURED's per-step costs; shortening flags and fewer variants
    shrink it, and only the steps that run are counted."""
    m = klue_nli.MEASURED
    full = klue_nli.estimate_minutes(klue_nli.parse_args([]))
    assert set(full) == {"bilstm", "bilstm_wordpiece", "pretraining", "bert_scratch", "bert_pretrained", "minilm",
                         "total", "basis"}
    assert full["total"] == pytest.approx(sum(v for k, v in full.items() if k not in ("total", "basis")), abs=0.05)
    # BERT: 2 epochs of ceil(24,998 / 32) steps, a dev pass, a process start
    assert full["bert_pretrained"] == round((2 * 782 * m["bert_step"] + m["bert_dev_pass"] + m["process_start"]) / 60, 1)
    assert full["pretraining"] == round((math.ceil(m["pretrain_examples_per_dupe"] * 4 / 32) * m["pretrain_step"]
                                         + m["pretrain_eval_1000"] + 3 * m["process_start"]) / 60, 1)
    short = klue_nli.estimate_minutes(klue_nli.parse_args(["--finetune_max_steps", "10", "--max_eval_samples", "300"]))
    assert short["total"] < full["total"] and short["pretraining"] == full["pretraining"]
    only = klue_nli.estimate_minutes(klue_nli.parse_args(["--variants", "bilstm", "minilm"]))
    assert set(only) == {"bilstm", "minilm", "total", "basis"}


@pytest.mark.slow
def test_help_and_every_flag_of_the_commands_exists():
    """--help of the benchmark; each flag the benchmark passes to a CLI is one that CLI's --help lists (a typo would
    only show when the hour-long run reaches that step)."""
    proc = subprocess.run([sys.executable, "benchmarks/klue_nli.py", "--help"], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert "KLUE-NLI" in proc.stdout and "--minilm_train_samples" in proc.stdout and "--threads" in proc.stdout
    args = klue_nli.parse_args(["--max_train_samples", "10", "--finetune_max_steps", "2", "--max_eval_samples", "5",
                                "--pretrain_max_steps", "3", "--bf16"])
    commands = [klue_nli.bilstm_init_command(Path("/tmp/x"), args),
                klue_nli.bilstm_wordpiece_init_command(Path("/tmp/x"), Path("/tmp/y"), args),
                klue_nli.pretrain_command(Path("/tmp/c.txt"), Path("/tmp/y"), args),
                *(klue_nli.finetune_command(v, "/tmp/m", Path("/tmp/z"), args) for v in klue_nli.VARIANTS)]
    helps = {}
    for cmd in commands:
        script = cmd[1]
        if script not in helps:
            helps[script] = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                                           text=True, check=True).stdout
        for flag in (item for item in cmd[2:] if item.startswith("--")):
            assert re.search(rf"{re.escape(flag)}\b", helps[script]), (script, flag)
    minilm = klue_nli.finetune_command("minilm", "/tmp/m", Path("/tmp/z"), args)
    assert minilm[minilm.index("--max_train_samples") + 1] == "10"  # the smaller of the two limits
    assert "--implementation" in minilm and "--implementation" not in commands[2]


# ----------------------------------------------------------------------------------------------------------------------
# A tiny run of every step on real data
# ----------------------------------------------------------------------------------------------------------------------
TINY = ["--vocab_size", "400", "--hidden_size", "32", "--num_layers", "1", "--num_heads", "2", "--intermediate_size",
        "64", "--bilstm_hidden_size", "16", "--bilstm_embedding_size", "16", "--pretrain_max_steps", "2",
        "--pretrain_max_eval_samples", "16", "--finetune_max_steps", "2", "--batch_size", "16", "--threads", "1"]


@requires_shared_data
@pytest.mark.slow
def test_every_step_on_the_first_64_klue_pairs(tmp_path):
    klue = shared_data_dir() / "klue"
    if not (klue / "klue-nli-v1.1_train.json").is_file():
        pytest.skip("../shared/data/klue (KLUE-NLI v1.1) not found")
    train = tmp_path / "klue-nli-v1.1_train.json"
    dev = tmp_path / "klue-nli-v1.1_dev.json"
    for source, target in ((klue / train.name, train), (klue / dev.name, dev)):
        examples = json.loads(source.read_text(encoding="utf-8"))[:64]
        target.write_text(json.dumps(examples, ensure_ascii=False), encoding="utf-8")
    root, output = tmp_path / "root", tmp_path / "klue_nli.json"
    argv = ["--train_file", str(train), "--validation_file", str(dev), "--output_root", str(root),
            "--output", str(output), *TINY]
    report = klue_nli.main(argv)
    assert json.loads(output.read_text(encoding="utf-8")) == json.loads(json.dumps(report, ensure_ascii=False))

    assert report["majority"]["train_examples"] == 64 and report["majority"]["dev_examples"] == 64
    assert report["corpus"]["examples"] == 64 and report["corpus"]["documents"] >= 16
    assert report["pretraining"]["steps"] == 2 and real(report["pretraining"]["metrics"]["eval_mlm_loss"])
    assert "training/pretrain.py --objective mlm_nsp --train_files" in report["pretraining"]["command"]
    assert report["scratch"]["parameters"] > 0 and report["bilstm_init"]["vocab_size"] > 100
    assert sorted(report["runs"]) == sorted(klue_nli.VARIANTS) and not report["missing_runs"]
    for variant, run in report["runs"].items():
        assert "training/run_glue.py --model_name_or_path" in run["command"], variant
        assert "--text_column_names premise,hypothesis --label_column_name gold_label" in run["command"]
        assert run["metrics"]["eval_samples"] == 64 and real(run["eval_accuracy"]) and real(run["eval_macro_f1"])
        assert run["parameters"] > 0 and real(run["wall_seconds"])
        assert not list((root / "finetune" / variant).glob("checkpoint-*"))
        config = json.loads((root / "finetune" / variant / "config.json").read_text())
        assert sorted(config["id2label"].values()) == ["contradiction", "entailment", "neutral"]
    assert "$MINILM" in report["runs"]["minilm"]["command"]
    assert report["runs"]["minilm"]["parameters"] > 20_000_000

    # the tokenizers on the dev text: ours keep syllables, MiniLM's decomposes them and loses words to [UNK]
    tokenizers = report["tokenizers"]
    for variant in ("bilstm", "bilstm_wordpiece", "bert_pretrained", "bert_scratch"):
        assert tokenizers[variant]["keeps_syllables"], variant
    # the BiLSTM on the WordPiece vocabulary: pretrain.py's vocabulary, read as premise [SEP] hypothesis (no [CLS])
    assert report["bilstm_wordpiece_init"]["vocab_size"] == tokenizers["bert_pretrained"]["vocab_size"]
    assert "--tokenizer_name" in report["bilstm_wordpiece_init"]["command"]
    assert tokenizers["bilstm_wordpiece"]["rate"] == tokenizers["bert_pretrained"]["rate"]
    assert tokenizers["bilstm_wordpiece"]["pair_tokens_mean"] == pytest.approx(
        tokenizers["bert_pretrained"]["pair_tokens_mean"] - 2)
    rnn = json.loads((root / "finetune" / "bilstm_wordpiece" / "config.json").read_text())
    word_rnn = json.loads((root / "finetune" / "bilstm" / "config.json").read_text())
    assert {k: rnn[k] for k in ("hidden_size", "embedding_size", "bidirectional", "num_layers")} == \
        {k: word_rnn[k] for k in ("hidden_size", "embedding_size", "bidirectional", "num_layers")}
    assert rnn["vocab_size"] == tokenizers["bert_pretrained"]["vocab_size"] != word_rnn["vocab_size"]
    assert not tokenizers["minilm"]["keeps_syllables"]
    assert tokenizers["minilm"]["rate"] > 0.1 and tokenizers["minilm"]["tokens_per_word"] > 3
    assert tokenizers["bert_pretrained"]["tokens_per_word"] < tokenizers["minilm"]["tokens_per_word"]
    assert tokenizers["minilm"]["pairs_truncated"] > 0 and tokenizers["bert_pretrained"]["pairs_truncated"] == 0
    assert "| KLUE-RoBERTa-large | 89.17 |" in report["markdown"] and report["shortened"]

    # a rerun does nothing again; other settings are refused
    again = klue_nli.main(argv)
    assert again["runs"]["bert_pretrained"]["metrics"] == report["runs"]["bert_pretrained"]["metrics"]
    assert again["pretraining"]["wall_seconds"] == report["pretraining"]["wall_seconds"]
    with pytest.raises(SystemExit, match="other settings"):
        klue_nli.main([*argv, "--bert_lr", "3e-4"])


# ----------------------------------------------------------------------------------------------------------------------
# The BiLSTM on the WordPiece vocabulary (added after the first full run: its folder must still resume)
# ----------------------------------------------------------------------------------------------------------------------
# settings.json as benchmarks/klue_nli.py wrote it before the bilstm_wordpiece row existed (the full run's
# runs/klue_nli/settings.json, data paths aside): the new row must not change this fingerprint
SETTINGS_BEFORE_THE_WORDPIECE_ROW = {
    "seed": 42, "bilstm_min_frequency": 2, "bilstm_hidden_size": 256, "bilstm_embedding_size": 300,
    "bilstm_lr": 0.001, "bilstm_epochs": 2, "vocab_size": 8000, "hidden_size": 256, "num_layers": 4, "num_heads": 4,
    "intermediate_size": 1024, "pretrain_max_seq_length": 128, "pretrain_dupe_factor": 4, "pretrain_epochs": 1,
    "pretrain_batch_size": 32, "pretrain_lr": 0.0005, "pretrain_warmup_steps": 0.06, "pretrain_max_steps": None,
    "pretrain_max_eval_samples": 1000, "bert_lr": 0.0001, "bert_epochs": 2, "minilm_lr": 5e-05, "minilm_epochs": 1,
    "minilm_train_samples": 5000, "minilm_max_seq_length": 128, "max_seq_length": 128, "batch_size": 32,
    "max_train_samples": None, "finetune_max_steps": None, "max_eval_samples": None, "device": "cpu", "bf16": False,
}


def test_the_wordpiece_bilstm_row_follows_the_word_bilstm_row():
    report = fake_report()
    report["runs"]["bilstm_wordpiece"] = {
        "metrics": {"eval_accuracy": 0.58, "eval_macro_f1": 0.57, "train_samples": 24998, "epoch": 2.0},
        "wall_seconds": 300.0, "parameters": 3_900_000, "eval_accuracy": 0.58}
    report["tokenizers"]["bilstm_wordpiece"] = {"rate": 0.003, "tokens_per_word": 1.87}
    lines = [line for line in klue_nli.markdown_table(report).splitlines() if line.startswith("| ")]
    names = [line.split(" | ")[0].lstrip("| ") for line in lines]
    assert names.index(klue_nli.ROW_NAMES["bilstm_wordpiece"]) == names.index(klue_nli.ROW_NAMES["bilstm"]) + 1
    row = lines[names.index(klue_nli.ROW_NAMES["bilstm_wordpiece"])].split(" | ")
    assert row[1:7] == ["58.0", "57.0", "3.9M", "0.3% / 1.87", "24,998 pairs x 2 epochs", "5.0 |"]
    # a report without the row yet (the run made before it): n/a cells, named as not finished
    report = fake_report()
    report["missing_runs"] = ["bilstm_wordpiece"]
    table = klue_nli.markdown_table(report)
    assert f"| {klue_nli.ROW_NAMES['bilstm_wordpiece']} | n/a | n/a | n/a |" in table
    assert "Not finished yet (n/a above): bilstm_wordpiece" in table


def test_the_wordpiece_bilstm_estimate_and_command():
    """Same BiLSTM sizes, seed and fine-tuning settings as the word BiLSTM; its vocabulary from the pretraining
    folder, so --variants bilstm_wordpiece alone still pretrains."""
    args = klue_nli.parse_args([])
    word = klue_nli.bilstm_init_command(Path("/w"), args)
    wordpiece = klue_nli.bilstm_wordpiece_init_command(Path("/w"), Path("/p"), args)
    assert wordpiece[wordpiece.index("--tokenizer_name") + 1] == "/p" and "--min_frequency" not in wordpiece
    for flag in ("--hidden_size", "--embedding_size", "--num_layers", "--classifier_pooling", "--seed",
                 "--train_file", "--text_column_names", "--label_column_name"):
        assert wordpiece[wordpiece.index(flag) + 1] == word[word.index(flag) + 1], flag
    assert "--bidirectional" in wordpiece
    a = klue_nli.finetune_command("bilstm", "/m", Path("/o"), args)
    b = klue_nli.finetune_command("bilstm_wordpiece", "/m", Path("/o"), args)
    assert a == b
    only = klue_nli.estimate_minutes(klue_nli.parse_args(["--variants", "bilstm_wordpiece"]))
    assert set(only) == {"bilstm_wordpiece", "pretraining", "total", "basis"}
    assert klue_nli.shortened_flags(klue_nli.parse_args(["--variants", *klue_nli.VARIANTS])) == []


@pytest.mark.slow
def test_a_work_folder_made_before_the_wordpiece_row_resumes(tmp_path):
    """A work folder whose settings.json the benchmark wrote before the bilstm_wordpiece row existed: today's default
    arguments give the same fingerprint (not refused, settings.json untouched), its finished steps are reported as
    done, the new row is missing; another setting is still refused."""
    from training.create_rnn_checkpoint import main as create

    rows = [(KOREAN[i % 5], KOREAN[(i + 2) % 5], ["entailment", "neutral", "contradiction"][i % 3]) for i in range(12)]
    train = write_klue(tmp_path / "train.json", rows).resolve()
    dev = write_klue(tmp_path / "dev.json", rows[:6]).resolve()
    root = tmp_path / "root"
    root.mkdir()
    settings = {"train_file": str(train), "validation_file": str(dev), **SETTINGS_BEFORE_THE_WORDPIECE_ROW}
    (root / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    before = (root / "settings.json").read_text()
    # the word BiLSTM's finished steps: its init folder and its fine-tuned folder
    create(["--train_file", str(train), "--text_column_names", "premise,hypothesis", "--label_column_name",
            "gold_label", "--hidden_size", "8", "--embedding_size", "8", "--output_dir", str(root / "bilstm-init")])
    finetuned = root / "finetune" / "bilstm"
    finetuned.mkdir(parents=True)
    (finetuned / "model.safetensors").write_bytes((root / "bilstm-init" / "model.safetensors").read_bytes())
    (finetuned / "all_results.json").write_text(json.dumps({"eval_accuracy": 0.5, "eval_macro_f1": 0.4}))
    argv = ["--train_file", str(train), "--validation_file", str(dev), "--output_root", str(root),
            "--output", str(tmp_path / "klue_nli.json"), "--report_only"]
    report = klue_nli.main(argv)
    assert (root / "settings.json").read_text() == before
    assert report["runs"]["bilstm"]["metrics"]["eval_accuracy"] == 0.5 and report["bilstm_init"]["vocab_size"] > 3
    assert report["missing_runs"] == ["bilstm_wordpiece", "bert_scratch", "bert_pretrained", "minilm"]
    assert "bilstm_wordpiece" not in report["tokenizers"]
    with pytest.raises(SystemExit, match="other settings"):
        klue_nli.main([*argv, "--bilstm_lr", "3e-3"])
