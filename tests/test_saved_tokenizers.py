"""A saved hf_models folder's tokenizer loads with plain `transformers.AutoTokenizer.from_pretrained(folder)` in a
fresh process that cannot import hf_models and is not given `trust_remote_code`, and encodes text (Korean included)
exactly as the tokenizer that was saved; the model of the same folder loads there with `trust_remote_code=True`.

transformers' AutoTokenizer reads the folder's config.json first: its `auto_map` names remote code, so transformers
asks whether to run it (a prompt on a terminal; refused at once here, stdin being empty) and falls back to the
tokenizer files. The tests check that the fallback gives the saved tokenizer on the installed transformers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REFUSE_HF_MODELS

TEXTS = ["the cat sat on the mat .", "자연어 처리는 재미있다 .", "an unseen wordpiece zebra"]

CHILD = textwrap.dedent(
    r"""
    import json, sys
    from transformers import AutoModel, AutoTokenizer

    folder, subfolder, texts = sys.argv[1], sys.argv[2] or None, json.loads(sys.argv[3])
    kwargs = {"subfolder": subfolder} if subfolder else {}
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    model = AutoModel.from_pretrained(folder, trust_remote_code=True)
    print("RESULT " + json.dumps({
        "class": type(tokenizer).__name__,
        "ids": [tokenizer(text)["input_ids"] for text in texts],
        "specials": tokenizer.all_special_tokens,
        "model_module": type(model).__module__,
    }))
    """
)


def load_in_fresh_process(folder, subfolder: str = "") -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", REFUSE_HF_MODELS + CHILD, str(folder), subfolder, json.dumps(TEXTS)],
                            capture_output=True, text=True, env=env, cwd=folder, timeout=180,
                            stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    # (transformers' prompt, refused, has no line end: the result may follow it on the same line)
    line = next(line for line in result.stdout.splitlines() if "RESULT " in line)
    return json.loads(line.split("RESULT ", 1)[1])


def expected(tokenizer) -> dict:
    return {"ids": [tokenizer(text)["input_ids"] for text in TEXTS], "specials": tokenizer.all_special_tokens}


def check(loaded: dict, tokenizer) -> None:
    assert loaded["ids"] == expected(tokenizer)["ids"]
    assert loaded["specials"] == expected(tokenizer)["specials"]
    assert not loaded["model_module"].startswith("hf_models")  # the folder's own code, not the package


def test_bert_folder(tmp_path):
    from hf_models import BertConfig, BertForMaskedLM
    from hf_models.tokenization import train_wordpiece_tokenizer

    tokenizer = train_wordpiece_tokenizer(TEXTS * 20, vocab_size=80, input_type="texts")
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertForMaskedLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_in_fresh_process(tmp_path)
    # transformers 5.25 picks BertTokenizer from tokenizer_config.json, 5.0 the generic TokenizersBackend over the same
    # tokenizer.json (it ignores tokenizer_class for a model_type it does not know): the same ids either way
    assert type(tokenizer).__name__ == "BertTokenizer" and loaded["class"] in ("BertTokenizer", "TokenizersBackend")
    check(loaded, tokenizer)


def test_rnn_folder(tmp_path):
    from hf_models.rnn.from_scratch import build_word_tokenizer, create_rnn_checkpoint

    tokenizer = build_word_tokenizer(TEXTS[:2] * 3)
    create_rnn_checkpoint(tmp_path, tokenizer, hidden_size=8, embedding_size=8)
    loaded = load_in_fresh_process(tmp_path)
    check(loaded, tokenizer)
    assert tokenizer.unk_token_id in loaded["ids"][2]  # unseen words are <unk>, as with the saved tokenizer


def test_seq2seq_folder_with_its_two_tokenizers(tmp_path):
    from hf_models import Seq2SeqConfig, Seq2SeqForConditionalGeneration
    from hf_models.tasks.translation import build_tokenizer, save_tokenizers

    source = build_tokenizer(TEXTS * 5, model="bpe", vocab_size=60)
    target = build_tokenizer(TEXTS[::-1] * 5, model="wordlevel", vocab_size=60)
    config = Seq2SeqConfig(source_vocab_size=len(source), target_vocab_size=len(target), embedding_size=8,
                           hidden_size=8)
    torch.manual_seed(0)
    Seq2SeqForConditionalGeneration(config).save_pretrained(tmp_path)
    save_tokenizers(str(tmp_path), source, target)
    check(load_in_fresh_process(tmp_path, "source_tokenizer"), source)
    check(load_in_fresh_process(tmp_path, "target_tokenizer"), target)


@pytest.mark.parametrize("family", ["bert", "rnn"])
def test_the_saved_tokenizer_config_names_a_transformers_class(tmp_path, family):
    """The fallback above works because tokenizer_config.json names a class transformers has (no remote code)."""
    import transformers

    if family == "bert":
        from hf_models.tokenization import train_wordpiece_tokenizer

        tokenizer = train_wordpiece_tokenizer(TEXTS * 20, vocab_size=80, input_type="texts")
    else:
        from hf_models.rnn.from_scratch import build_word_tokenizer

        tokenizer = build_word_tokenizer(TEXTS)
    tokenizer.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert hasattr(transformers, saved["tokenizer_class"]) and "auto_map" not in saved
