"""Recurrent models from scratch: the word-level tokenizer learnt from training text, the untrained checkpoint
folder, `training/create_rnn_checkpoint.py`, and a BiLSTM trained through run_glue / run_ner like a BERT model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from hf_models.rnn import RnnForSequenceClassification, RnnForTokenClassification
from hf_models.rnn.from_scratch import (
    build_word_tokenizer,
    create_rnn_checkpoint,
    unknown_word_rate,
)

PACKAGE_DATA = Path(__file__).resolve().parents[1] / "hf_models" / "data"


def test_vocabulary_keeps_frequent_words_specials_first_and_unknowns_map_to_unk():
    texts = ["the cat sat", "the dog sat", "the cat ran", "나는 학교에 간다 , 나는"]
    tokenizer = build_word_tokenizer(texts, min_frequency=2)
    vocab = tokenizer.get_vocab()
    assert [vocab["<pad>"], vocab["<unk>"], vocab["<sep>"]] == [0, 1, 2]
    assert {"the", "cat", "sat", "나는"} <= set(vocab) and "dog" not in vocab and "ran" not in vocab
    assert vocab["the"] == 3  # the most frequent word comes first after the specials
    ids = tokenizer("the dog sat")["input_ids"]
    assert ids == [vocab["the"], tokenizer.unk_token_id, vocab["sat"]]
    assert tokenizer.decode(tokenizer("나는 cat")["input_ids"]) == "나는 cat"
    assert tokenizer.pad_token_id == 0


def test_pairs_are_joined_by_sep_and_punctuation_is_split_off():
    tokenizer = build_word_tokenizer(["hello, world!", "good bye"])
    encoded = tokenizer("hello, world!", "good bye")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens == ["hello", ",", "world", "!", "<sep>", "good", "bye"]
    whitespace = build_word_tokenizer(["hello, world!"], pre_tokenizer="whitespace")
    assert whitespace.convert_ids_to_tokens(whitespace("hello, world!")["input_ids"]) == ["hello,", "world!"]


def test_word_lists_lowercase_max_vocab_and_unk_rate():
    sentences = [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["EU", "says"]]
    tokenizer = build_word_tokenizer(sentences, lowercase=True, max_vocab_size=5)
    assert len(tokenizer) == 5 and "eu" in tokenizer.get_vocab()
    encoding = tokenizer(["EU", "Blackburn"], is_split_into_words=True)
    assert encoding.word_ids() == [0, 1]
    assert encoding["input_ids"][0] == tokenizer.get_vocab()["eu"]
    assert unknown_word_rate(tokenizer, sentences) == pytest.approx(5 / 8)  # 8 words; "eu" (twice) and one more kept


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="pre_tokenizer"):
        build_word_tokenizer(["a"], pre_tokenizer="bpe")
    with pytest.raises(ValueError, match="min_frequency"):
        build_word_tokenizer(["a"], min_frequency=0)
    with pytest.raises(ValueError, match="max_vocab_size"):
        build_word_tokenizer(["a"], max_vocab_size=3)
    with pytest.raises(ValueError, match="no word seen"):
        build_word_tokenizer(["a b c"], min_frequency=2)


def test_checkpoint_loads_into_every_head_and_refuses_a_non_empty_folder(tmp_path):
    tokenizer = build_word_tokenizer(["a good film", "a bad film"])
    torch.manual_seed(0)
    create_rnn_checkpoint(tmp_path / "init", tokenizer, hidden_size=8, embedding_size=6, num_layers=1,
                          bidirectional=True, classifier_pooling="max")
    config = json.loads((tmp_path / "init" / "config.json").read_text())
    assert config["vocab_size"] == len(tokenizer) and config["pad_token_id"] == 0 and config["bidirectional"]
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "init")
    assert reloaded("a good film")["input_ids"] == tokenizer("a good film")["input_ids"]
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path / "init", num_labels=2)
    tagger = AutoModelForTokenClassification.from_pretrained(tmp_path / "init", num_labels=3)
    assert isinstance(classifier, RnnForSequenceClassification) and isinstance(tagger, RnnForTokenClassification)
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "init" / "model.safetensors")
    key = next(k for k in saved if k.endswith("embeddings.weight"))
    torch.testing.assert_close(classifier.model.embeddings.weight, saved[key])
    torch.testing.assert_close(tagger.model.embeddings.weight, saved[key])
    batch = reloaded(["a good film", "bad"], padding=True, return_tensors="pt")
    assert classifier(**batch).logits.shape == (2, 2)
    with pytest.raises(FileExistsError, match="not empty"):
        create_rnn_checkpoint(tmp_path / "init", tokenizer, hidden_size=8)
    with pytest.raises(ValueError, match="vocab_size comes from the tokenizer"):
        create_rnn_checkpoint(tmp_path / "other", tokenizer, vocab_size=10)


def run_create(*argv):
    from training.create_rnn_checkpoint import main

    return main([str(a) for a in argv])


def test_bilstm_from_scratch_learns_sst2_through_run_glue(tmp_path):
    """The package's SST-2 sample: a small BiLSTM trained by run_glue beats the majority class on dev."""
    from training.run_glue import main as run_glue

    summary = run_create("--glue_task", "sst2", "--train_file", PACKAGE_DATA / "sst2_train_sample.tsv",
                         "--pre_tokenizer", "whitespace", "--bidirectional", "--hidden_size", "32",
                         "--embedding_size", "32", "--dropout", "0.2", "--output_dir", tmp_path / "init")
    assert summary["texts"] == 4000 and 3000 < summary["vocab_size"] < 20000
    assert json.loads((tmp_path / "init" / "vocabulary.json").read_text())["unk_rate"] == 0.0  # min_frequency 1
    results = run_glue([
        "--model_name_or_path", str(tmp_path / "init"), "--task_name", "sst2",
        "--train_file", str(PACKAGE_DATA / "sst2_train_sample.tsv"),
        "--validation_file", str(PACKAGE_DATA / "sst2_dev.tsv"), "--do_train", "--do_eval",
        "--learning_rate", "3e-3", "--per_device_train_batch_size", "32", "--num_train_epochs", "3",
        "--output_dir", str(tmp_path / "run"), "--use_cpu", "--save_strategy", "no", "--report_to", "none",
        "--disable_tqdm", "true", "--seed", "42",
    ])
    # majority class of the 872 dev sentences is 50.9%; a bag-of-words-like BiLSTM on 4000 sentences gets ~65-70%
    assert results["eval_accuracy"] > 0.6, results


def test_cli_reads_conll_words_and_refuses_two_formats(tmp_path):
    conll = tmp_path / "train.txt"
    conll.write_text("-DOCSTART- O\n\nEU B-ORG\nrejects O\n\n서울 B-LOC\nrejects O\n", encoding="utf-8")
    summary = run_create("--conll", "--train_file", conll, "--pre_tokenizer", "whitespace", "--hidden_size", "8",
                         "--embedding_size", "8", "--output_dir", tmp_path / "init")
    vocab = AutoTokenizer.from_pretrained(tmp_path / "init").get_vocab()
    assert summary["texts"] == 2 and {"EU", "rejects", "서울"} <= set(vocab) and "B-ORG" not in vocab
    with pytest.raises(ValueError, match="not both"):
        run_create("--conll", "--glue_task", "sst2", "--train_file", conll, "--output_dir", tmp_path / "x")
    with pytest.raises(ValueError, match="not empty"):
        run_create("--conll", "--train_file", conll, "--output_dir", tmp_path / "init")


def test_read_training_texts_reads_each_task_format_as_its_command_does(tmp_path):
    """hf_models.tasks.texts.read_training_texts (the library side of create_rnn_checkpoint): GLUE text columns,
    CoNLL word lists, plain lines; errors name the file."""
    from hf_models.tasks.texts import read_training_texts

    glue = tmp_path / "mrpc.tsv"
    glue.write_text("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tThe cat sat .\t고양이가 앉았다 .\n",
                    encoding="utf-8")
    assert read_training_texts(glue, glue_task="mrpc") == ["The cat sat .", "고양이가 앉았다 ."]
    conll = tmp_path / "train.txt"
    conll.write_text("-DOCSTART- O\n\nEU B-ORG\nrejects O\n\n서울 B-LOC\n", encoding="utf-8")
    assert read_training_texts(conll, conll=True) == [["EU", "rejects"], ["서울"]]
    lines = tmp_path / "lines.txt"
    lines.write_text("first line\n\n  \nsecond line\n", encoding="utf-8")
    assert read_training_texts(lines) == ["first line", "second line"]
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        read_training_texts(tmp_path / "nowhere.txt")
    with pytest.raises(ValueError, match="not both"):
        read_training_texts(conll, glue_task="sst2", conll=True)
    broken = tmp_path / "broken.txt"
    broken.write_text("EU B-ORG\nrejects\n", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.txt"):
        read_training_texts(broken, conll=True)
