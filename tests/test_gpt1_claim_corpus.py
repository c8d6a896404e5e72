"""The pretraining corpus of benchmarks/gpt1_pretraining_claim.py: raw cased text, one paragraph / verse / speech per
line, read from NLTK-layout zips, with texts that overlap the GLUE dev sets dropped (tiny zips and GLUE files built
in tmp_path)."""

import json
import zipfile

import pytest

from benchmarks import gpt1_pretraining_claim as claim


def _zip(path, members: dict[str, str]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)


def test_reflow_joins_wrapped_lines_and_splits_paragraphs():
    lines = ["In the beginning God created the heaven and the earth.",
             "And the earth was without form, and void; and darkness was",
             "upon the face of the deep.",
             "And God called the light Day, and the darkness he called",
             "Night. And the evening and the morning were the first day.",
             "",
             "A new   paragraph",
             "after a blank line."]
    assert claim.reflow(lines) == [
        "In the beginning God created the heaven and the earth.",
        "And the earth was without form, and void; and darkness was upon the face of the deep.",
        ("And God called the light Day, and the darkness he called Night. And the evening and the morning were the "
         "first day."),
        "A new paragraph after a blank line.",
    ]


def test_brown_paragraphs_are_detokenized_with_case_and_punctuation():
    raw = ("\n\n\tThe/at-tl jury/nn said/vbd ``/`` no/at evidence/nn ''/'' was/bedz found/vbn ,/, "
           "(/( sadly/rb )/) ./.\n"
           "It/pps ended/vbd ./.\n\n\n\tA/at second/od one/cd !/.\n")
    assert claim.brown_paragraphs(raw) == [
        'The jury said "no evidence" was found, (sadly). It ended.',
        "A second one!",
    ]


def test_shakespeare_speech_is_one_text():
    xml = (b"<PLAY><ACT><SCENE><SPEECH><SPEAKER>HAMLET</SPEAKER><LINE>To be, or not to be:</LINE>"
           b"<LINE>that is the question.</LINE></SPEECH><SPEECH><SPEAKER>X</SPEAKER><LINE>Ay.</LINE></SPEECH>"
           b"</SCENE></ACT></PLAY>")
    assert claim.shakespeare_speeches(xml) == ["To be, or not to be: that is the question.", "Ay."]


def test_ngram_words_match_tokenized_and_raw_text():
    assert claim.ngram_words("it does n't work , it 's fine .") == claim.ngram_words("It doesn't work, it's fine.")


@pytest.fixture
def tiny_data(tmp_path):
    nltk_dir, glue = tmp_path / "nltk_corpora", tmp_path / "glue"
    nltk_dir.mkdir()
    dev_sentence = "a charming and often affecting journey through the lives of two lonely people"
    _zip(nltk_dir / "inaugural.zip", {
        "inaugural/README": "not a text of the corpus\n",
        "inaugural/1789-Washington.txt": "Fellow-Citizens of the Senate:\n\nAmong the vicissitudes incident to life\n"
                                         "no event could have filled me with greater anxieties.\n",
        # shares an 8-gram with the SST-2 dev sentence below: must be dropped
        "inaugural/1793-Adams.txt": f"It was {dev_sentence.title()}, they said.\n",
    })
    _zip(nltk_dir / "genesis.zip", {
        "genesis/english-kjv.txt": "In the beginning God created the heaven and the earth.\n"
                                   "And God said, Let there be light: and there was light.\n",
        "genesis/french.txt": "Au commencement, Dieu crea les cieux et la terre.\n",
    })
    (glue / "SST-2").mkdir(parents=True)
    (glue / "RTE").mkdir()
    (glue / "SST-2" / "dev.tsv").write_text(f"sentence\tlabel\n{dev_sentence} . \t1\nbleak and desperate \t0\n")
    (glue / "RTE" / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n"
                                          "0\tDana Reeve, the widow of the actor Christopher Reeve, has died of lung "
                                          "cancer at age 44.\tChristopher Reeve had an accident.\tnot_entailment\n")
    return nltk_dir, glue


def test_build_corpus_writes_texts_and_stats_and_drops_dev_overlap(tiny_data, tmp_path):
    nltk_dir, glue = tiny_data
    out = tmp_path / "corpus"
    stats = claim.build_corpus(nltk_dir, glue, out, ["inaugural", "genesis"])
    texts = out.joinpath("train.txt").read_text().splitlines() + out.joinpath("valid.txt").read_text().splitlines()
    assert sorted(texts) == sorted([
        "Fellow-Citizens of the Senate:",
        "Among the vicissitudes incident to life no event could have filled me with greater anxieties.",
        "In the beginning God created the heaven and the earth.",
        "And God said, Let there be light: and there was light.",
    ])  # README and the French file are not read; the overlapping address is dropped
    assert stats["sources"]["inaugural"]["texts_dropped_for_dev_overlap"] == {"sst2": 1, "rte": 0}
    assert stats["sources"]["genesis"] == {"texts": 2, "words": 21, "characters": 54 + 54,
                                           "texts_dropped_for_dev_overlap": {"sst2": 0, "rte": 0}}
    assert stats["decontamination"]["sst2"]["n"] == 8  # 5th percentile length (3 words) clamped to 8
    assert stats["total_texts"] == 4
    assert json.loads((out / "stats.json").read_text()) == stats


def test_missing_zip_is_named(tiny_data, tmp_path):
    nltk_dir, glue = tiny_data
    with pytest.raises(FileNotFoundError, match="brown.zip"):
        claim.build_corpus(nltk_dir, glue, tmp_path / "corpus", ["brown"])


def test_scratch_checkpoint_is_the_init_pretraining_starts_from(tmp_path):
    """build_scratch (the pretrained folder's config + tokenizer, set_seed(seed), from_config) gives exactly the
    weights run_clm starts pretraining from: one step at learning rate 0 leaves them in the saved folder."""
    import torch
    from safetensors.torch import load_file

    from hf_models.tasks.causal_lm import run_clm_cli

    words = ["the", "a", "jury", "said", "evidence", "was", "found", "in", "every", "town", "and", "king", "of", "it",
             "by", "her", "light", "day", "night"]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(words[(i * 7 + j) % len(words)] for j in range(5 + i % 9)).capitalize() + "."
                                for i in range(120)) + "\n")
    pretrained = tmp_path / "pretrained"
    run_clm_cli(["--model_type", "gpt", "--architecture", "gpt1", "--config_overrides",
                 "n_embd=16,n_layer=1,n_head=2,n_positions=16", "--train_tokenizer", "--vocab_size", "300",
                 "--train_file", str(corpus), "--block_size", "16", "--do_train", "--max_steps", "1",
                 "--learning_rate", "0", "--per_device_train_batch_size", "2", "--save_strategy", "no",
                 "--output_dir", str(pretrained), "--use_cpu", "--report_to", "none", "--seed", "42",
                 "--disable_tqdm", "true"])
    claim.build_scratch(pretrained, tmp_path / "scratch", 42)
    claim.build_scratch(pretrained, tmp_path / "other_seed", 7)
    start = load_file(pretrained / "model.safetensors")
    scratch = load_file(tmp_path / "scratch" / "model.safetensors")
    other = load_file(tmp_path / "other_seed" / "model.safetensors")
    assert sorted(scratch) == sorted(start)
    assert all(torch.equal(scratch[name], start[name]) for name in start)
    assert not all(torch.equal(other[name], start[name]) for name in start)
    assert json.loads((tmp_path / "scratch" / "config.json").read_text())["n_layer"] == 1
    assert (tmp_path / "scratch" / "tokenizer.json").read_text() == (pretrained / "tokenizer.json").read_text()


def test_output_root_refuses_other_settings(tmp_path, capsys):
    """A rerun continues only with the settings that made the folder (more seeds are fine)."""
    claim.check_fingerprint(tmp_path, claim.parse_args(["--pretrain_epochs", "4", "--seeds", "42"]))
    claim.check_fingerprint(tmp_path, claim.parse_args(["--pretrain_epochs", "4.0", "--seeds", "42", "43"]))
    with pytest.raises(SystemExit, match=r"settings\.json: .*--pretrain_epochs 4\.0 there, 2\.0 now"):
        claim.check_fingerprint(tmp_path, claim.parse_args(["--pretrain_epochs", "2"]))
