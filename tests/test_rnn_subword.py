"""`training/create_rnn_checkpoint.py --tokenizer_name`: a BiLSTM from scratch on a saved subword (WordPiece, BPE)
vocabulary instead of a word vocabulary: the tokenizer as the RNN reads it (pairs joined by the separator, no [CLS],
pad token), a KLUE-style Korean pair file through run_glue, the reload, and the flags that only build a word
vocabulary refused in one line."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
PREMISES = ["힛걸 진심 최고다 그 어떤 히어로보다 멋지다", "한국어 자연어 처리는 재미있다", "자연어 추론은 전제와 가설의 관계를 맞히는 문제다",
            "101빌딩 근처에 나름 즐길거리가 많습니다", "흡연이 가능합니다", "오늘은 날씨가 맑고 바람이 분다"]


def run_create(*argv):
    from training.create_rnn_checkpoint import main

    return main([str(a) for a in argv])


def nli_rows(count: int) -> list[dict]:
    """KLUE-NLI-shaped rows (more columns than the task reads): the same sentence entails, its negation
    contradicts, another premise's sentence is neutral."""
    rows = []
    for i in range(count):
        premise = PREMISES[i % len(PREMISES)]
        kind = i % 3
        hypothesis = (premise if kind == 0 else premise + " 것은 아니다" if kind == 1
                      else PREMISES[(i + 1) % len(PREMISES)])
        rows.append({"guid": f"x_{i}", "genre": "NSMC", "premise": premise, "hypothesis": hypothesis,
                     "gold_label": ["entailment", "contradiction", "neutral"][kind], "author": "a"})
    return rows


@pytest.fixture(scope="module")
def wordpiece(tmp_path_factory):
    """A tiny WordPiece vocabulary trained on the Korean text (hf_models.tokenization, as pretrain.py trains it:
    lowercasing, no accent stripping), saved as transformers' BERT tokenizer."""
    from hf_models.tokenization import train_wordpiece_tokenizer

    path = tmp_path_factory.mktemp("wordpiece")
    texts = [r["premise"] for r in nli_rows(30)] + [r["hypothesis"] for r in nli_rows(30)]
    train_wordpiece_tokenizer(texts * 5, vocab_size=200, min_frequency=2, max_length=128,
                              input_type="texts").save_pretrained(path)
    return path


def test_the_subword_tokenizer_as_the_rnn_reads_it(wordpiece, tmp_path):
    """The saved checkpoint: the WordPiece vocabulary whole (an embedding row per entry, pad id = [PAD]'s), pairs as
    `A [SEP] B` without [CLS] (the word tokenizer's layout), no segment ids, no 512-token limit, syllables whole, and
    the same pieces as the source tokenizer."""
    source = AutoTokenizer.from_pretrained(wordpiece)
    train = tmp_path / "train.json"
    train.write_text(json.dumps(nli_rows(12), ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "init"
    summary = run_create("--tokenizer_name", wordpiece, "--train_file", train, "--text_column_names",
                         "premise,hypothesis", "--label_column_name", "gold_label", "--bidirectional",
                         "--hidden_size", "8", "--embedding_size", "8", "--output_dir", out)
    assert summary["vocab_size"] == len(source) and summary["added_tokens"] == []
    assert summary["texts"] == 24 and summary["unk_rate"] == 0.0 and summary["tokenizer"] == str(wordpiece)
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == len(source) and config["pad_token_id"] == source.pad_token_id == 0
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.get_vocab() == source.get_vocab()
    premise, hypothesis = "한국어 자연어 처리는 재미있다", "흡연이 가능합니다"
    encoded = tokenizer(premise, hypothesis)
    assert set(encoded) == {"input_ids", "attention_mask"}  # no token_type_ids: the RNN has no segments
    a, b = (source(text, add_special_tokens=False)["input_ids"] for text in (premise, hypothesis))
    assert encoded["input_ids"] == [*a, source.sep_token_id, *b]
    assert tokenizer(premise)["input_ids"] == a  # one text: no [CLS] ... [SEP]
    unseen = "자연어가 재미있는 문제"  # inflected forms the training text never spelled out: pieces, not [UNK]
    assert tokenizer.tokenize(unseen) == source.tokenize(unseen) and "##" in "".join(source.tokenize(unseen))
    assert tokenizer.unk_token not in tokenizer.tokenize(unseen)
    mixed = "HANGUL 한국어, Ａ１ 자연어!"  # the source's normaliser (lowercasing, no accent stripping) came along
    assert tokenizer.tokenize(mixed) == source.tokenize(mixed)
    assert tokenizer.pad_token == "[PAD]" and tokenizer.sep_token == "[SEP]" and tokenizer.unk_token == "[UNK]"
    assert tokenizer.model_max_length > 10**6  # no position embeddings, as the word tokenizer
    assert tokenizer(premise * 100, hypothesis, truncation=True, max_length=16)["input_ids"][-1] != source.cls_token_id
    assert len(tokenizer(premise * 100, hypothesis, truncation=True, max_length=16)["input_ids"]) == 16
    model = AutoModelForSequenceClassification.from_pretrained(out, num_labels=3)
    assert model.get_input_embeddings().num_embeddings == len(source)
    assert model.get_input_embeddings().padding_idx == 0


def test_a_bpe_tokenizer_without_pad_or_separator_gets_them_added(tmp_path):
    """A byte-level BPE (GPT-2's kind: no pad, no separator, no [UNK]) gets `<pad>` and `<sep>` as new ids; the
    config's pad id and vocabulary size follow; the pair is `A <sep> B`; without --train_file there is no rate."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(PREMISES * 10, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>",
                            bos_token="<|endoftext|>").save_pretrained(tmp_path / "bpe")
    source = AutoTokenizer.from_pretrained(tmp_path / "bpe")
    assert source.pad_token is None and source.sep_token is None
    summary = run_create("--tokenizer_name", tmp_path / "bpe", "--hidden_size", "8", "--embedding_size", "8",
                         "--output_dir", tmp_path / "init")
    assert summary["added_tokens"] == ["<pad>", "<sep>"] and summary["unk_rate"] is None and summary["texts"] is None
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "init")
    assert len(tokenizer) == len(source) + 2 == summary["vocab_size"]
    config = json.loads((tmp_path / "init" / "config.json").read_text())
    assert config["pad_token_id"] == tokenizer.pad_token_id == tokenizer.convert_tokens_to_ids("<pad>")
    assert config["vocab_size"] == len(tokenizer)
    a, b = (source(text)["input_ids"] for text in PREMISES[:2])
    assert tokenizer(*PREMISES[:2])["input_ids"] == [*a, tokenizer.convert_tokens_to_ids("<sep>"), *b]
    assert tokenizer.decode(tokenizer(PREMISES[0])["input_ids"]) == PREMISES[0]  # bytes back to syllables
    batch = tokenizer(PREMISES[:2], padding=True)
    assert tokenizer.pad_token_id in batch["input_ids"][0] + batch["input_ids"][1]


@pytest.mark.slow
def test_korean_pairs_train_through_run_glue_and_the_saved_model_predicts_the_same(wordpiece, tmp_path):
    """create_rnn_checkpoint --tokenizer_name -> run_glue trains and evaluates on a user's KLUE-style json file
    (premise / hypothesis / gold_label) -> the fine-tuned folder reloads (AutoTokenizer + AutoModel...) and predicts
    the labels that run_glue wrote for the dev set."""
    from training.run_glue import main as run_glue

    train, dev = tmp_path / "klue_train.json", tmp_path / "klue_dev.json"
    train.write_text(json.dumps(nli_rows(48), ensure_ascii=False), encoding="utf-8")
    dev.write_text(json.dumps(nli_rows(12)[3:], ensure_ascii=False), encoding="utf-8")
    columns = ["--text_column_names", "premise,hypothesis", "--label_column_name", "gold_label"]
    run_create("--tokenizer_name", wordpiece, "--train_file", train, *columns, "--bidirectional", "--hidden_size",
               "16", "--embedding_size", "16", "--output_dir", tmp_path / "init")
    out = tmp_path / "run"
    results = run_glue(["--model_name_or_path", str(tmp_path / "init"), "--train_file", str(train),
                        "--validation_file", str(dev), *columns, "--do_train", "--do_eval", "--learning_rate", "1e-2",
                        "--per_device_train_batch_size", "8", "--num_train_epochs", "4", "--max_seq_length", "64",
                        "--output_dir", str(out), "--use_cpu", "--save_strategy", "no", "--report_to", "none",
                        "--disable_tqdm", "true", "--seed", "42"])
    assert results["eval_samples"] == 9 and 0.0 <= results["eval_accuracy"] <= 1.0

    [written] = list(out.glob("eval_predictions_*.tsv"))
    with written.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    expected = [row["prediction"] for row in rows]
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    examples = json.loads(dev.read_text(encoding="utf-8"))
    batch = tokenizer([x["premise"] for x in examples], [x["hypothesis"] for x in examples], padding=True,
                      truncation=True, max_length=64, return_tensors="pt")
    assert tokenizer.sep_token_id in batch["input_ids"][0].tolist()
    assert tokenizer.convert_tokens_to_ids("[CLS]") not in batch["input_ids"].flatten().tolist()
    with torch.no_grad():
        predicted = [model.config.id2label[i] for i in model(**batch).logits.argmax(-1).tolist()]
    assert predicted == expected
    gold = [x["gold_label"] for x in examples]
    assert sum(p == g for p, g in zip(predicted, gold)) / len(gold) == pytest.approx(results["eval_accuracy"])


@pytest.mark.parametrize("flag", [["--min_frequency", "2"], ["--max_vocab_size", "100"], ["--lowercase"],
                                  ["--pre_tokenizer", "whitespace"]])
def test_word_vocabulary_flags_with_a_tokenizer_are_refused(flag, tmp_path):
    from hf_models.cli_utils import InputError

    with pytest.raises(InputError, match=f"{flag[0]} is for building a word vocabulary"):
        run_create("--tokenizer_name", tmp_path / "tok", *flag, "--output_dir", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_flag_conflict_is_one_line_with_exit_status_2(wordpiece, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("HF_MODELS_TRACEBACK", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "training" / "create_rnn_checkpoint.py"), "--tokenizer_name", str(wordpiece),
         "--min_frequency", "2", "--output_dir", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    expected = ("create_rnn_checkpoint.py: error: arguments: --min_frequency is for building a word vocabulary from "
                f"--train_file; with --tokenizer_name the vocabulary is {wordpiece}'s: leave --min_frequency out")
    assert result.stderr.strip().splitlines() == [expected]
    assert not (tmp_path / "out").exists()
    # no tokenizer and no training text: one line too
    result = subprocess.run(
        [sys.executable, str(ROOT / "training" / "create_rnn_checkpoint.py"), "--output_dir", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert "--train_file is needed" in result.stderr
