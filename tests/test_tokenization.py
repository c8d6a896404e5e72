"""WordPiece tokenizer training (hf_models.tokenization): BERT's special tokens and templates, Korean kept whole,
save/reload through AutoTokenizer, and clear errors for bad input files."""

from __future__ import annotations

import unicodedata

import pytest
from transformers import AutoTokenizer, BertTokenizer

from hf_models.tokenization import SPECIAL_TOKENS, train_wordpiece_tokenizer

ENGLISH = [
    "The European lobster is a species of clawed lobster from the eastern Atlantic Ocean.",
    "It may grow to a length of sixty centimetres and a mass of six kilograms.",
    "Lobsters are blue in life and only become red on cooking.",
    "Mating occurs in the summer, producing eggs which are carried by the females.",
    "The lobster is a highly esteemed food and is widely caught using lobster pots.",
]
KOREAN = [
    "자연어 처리는 재미있다.",
    "자연어 처리는 컴퓨터가 사람의 언어를 이해하도록 돕는 인공지능의 한 분야이다.",
    "처리 과정은 재미있고 어렵지만 재미있는 연구가 많다.",
    "한국어 문장은 조사와 어미가 붙어서 만들어진다.",
]
CORPUS = (ENGLISH + KOREAN) * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece_tokenizer(CORPUS, vocab_size=400, min_frequency=2, max_length=128)


def test_special_tokens_and_ids(tokenizer):
    assert isinstance(tokenizer, BertTokenizer)
    assert tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS) == [0, 1, 2, 3, 4]
    assert (tokenizer.pad_token, tokenizer.unk_token, tokenizer.cls_token, tokenizer.sep_token, tokenizer.mask_token) \
        == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert tokenizer.pad_token_id == 0
    assert tokenizer.model_max_length == 128
    assert 100 < len(tokenizer) <= 400


def test_single_and_pair_templates(tokenizer):
    single = tokenizer("the lobster")
    assert tokenizer.convert_ids_to_tokens(single["input_ids"]) == ["[CLS]", "the", "lobster", "[SEP]"]
    assert single["token_type_ids"] == [0, 0, 0, 0]
    pair = tokenizer("the lobster", "is blue")
    tokens = tokenizer.convert_ids_to_tokens(pair["input_ids"])
    assert tokens == ["[CLS]", "the", "lobster", "[SEP]", "is", "blue", "[SEP]"]
    assert pair["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]
    # special_tokens_mask marks [CLS]/[SEP], as the MLM collator needs
    mask = tokenizer("the lobster", "is blue", return_special_tokens_mask=True)["special_tokens_mask"]
    assert mask == [1, 0, 0, 1, 0, 0, 1]


def test_wordpiece_pieces_and_lowercase(tokenizer):
    tokens = tokenizer.tokenize("LOBSTERS Lobsterpots")
    assert all(t == t.lower() for t in tokens)
    assert "##" in "".join(tokens)  # an unseen compound is split into word-inner pieces
    assert tokenizer.decode(tokenizer("LOBSTERS Lobsterpots")["input_ids"], skip_special_tokens=True) == \
        "lobsters lobsterpots"


def test_korean_is_kept_as_whole_syllables(tokenizer):
    text = "자연어 처리는 재미있다"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokenizer.unk_token_id not in ids
    # no Unicode decomposition into jamo (what strip_accents=True would do)
    assert all(unicodedata.is_normalized("NFC", t.removeprefix("##")) for t in tokens)
    assert not any("\u1100" <= ch <= "\u11ff" for t in tokens for ch in t)  # conjoining jamo block
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text


def test_accents_are_kept_but_cased_model_keeps_case():
    cased = train_wordpiece_tokenizer(["Café Naïve résumé"] * 10, vocab_size=100, min_frequency=1, lowercase=False)
    assert cased.decode(cased("Café Naïve résumé")["input_ids"], skip_special_tokens=True) == "Café Naïve résumé"


def test_save_and_reload_with_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(reloaded, BertTokenizer)
    assert reloaded.get_vocab() == tokenizer.get_vocab()
    assert reloaded.model_max_length == 128
    assert reloaded.all_special_tokens == tokenizer.all_special_tokens
    for text in ENGLISH + KOREAN + ["Unseen WORDS, ünïcode & 漢字 mixed 한국어!"]:
        assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"], text
        assert reloaded(text, "자연어 처리")["token_type_ids"] == tokenizer(text, "자연어 처리")["token_type_ids"]


def test_train_from_files_and_generators(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("\n".join(ENGLISH * 5) + "\n\n", encoding="utf-8")
    second.write_text("\ufeff" + "\n".join(KOREAN * 5), encoding="utf-8")  # a byte-order mark is ignored
    from_files = train_wordpiece_tokenizer([first, str(second)], vocab_size=300, min_frequency=1)
    assert from_files.unk_token_id not in from_files("자연어 처리는 재미있다 lobster")["input_ids"]
    assert "\ufeff" not in "".join(from_files.get_vocab())
    single_file = train_wordpiece_tokenizer(str(first), vocab_size=300, min_frequency=1)
    assert single_file.unk_token_id not in single_file("the lobster")["input_ids"]
    from_generator = train_wordpiece_tokenizer((line for line in CORPUS), vocab_size=300, min_frequency=1)
    assert from_generator.unk_token_id not in from_generator("자연어 lobster")["input_ids"]


def test_missing_empty_and_non_utf8_files_are_named(tmp_path):
    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        train_wordpiece_tokenizer(missing)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        train_wordpiece_tokenizer([str(missing)])
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt is empty"):
        train_wordpiece_tokenizer([empty])
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="blank.txt holds no text"):
        train_wordpiece_tokenizer(blank)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("first line\nsecond line\ncaf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt is not UTF-8 text: line 3"):
        train_wordpiece_tokenizer(latin1)


def test_gzip_training_files_are_read_and_corrupt_ones_named(tmp_path):
    """A valid gzip-compressed UTF-8 file is read as its text (not "not UTF-8"), whatever its name; a truncated or
    corrupt one is one error naming the file."""
    import gzip

    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    def alphabet(tokenizer):  # the single characters (all kept): the merges are not deterministic between runs
        return {piece for piece in tokenizer.get_vocab() if len(piece.removeprefix("##")) == 1}

    reference = alphabet(train_wordpiece_tokenizer(plain, vocab_size=300, min_frequency=1))
    data = gzip.compress(plain.read_bytes())
    for name in ("corpus.txt.gz", "corpus.txt"):
        (tmp_path / name).write_bytes(data)
        tokenizer = train_wordpiece_tokenizer(tmp_path / name, vocab_size=300, min_frequency=1)
        assert alphabet(tokenizer) == reference
        assert tokenizer.unk_token_id not in tokenizer(CORPUS[0])["input_ids"]
    big = gzip.compress(("a line of training text\n" * 20000).encode("utf-8"))
    for name, content in {"truncated.gz": big[: len(big) // 2], "corrupt.gz": big[:10] + b"\x00" * 40 + big[50:],
                          "plain_named.gz": b"not compressed\n"}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}: corrupt or truncated gzip file"):
            train_wordpiece_tokenizer(tmp_path / name, vocab_size=300, min_frequency=1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="no files or texts"):
        train_wordpiece_tokenizer([])
    with pytest.raises(ValueError, match="empty"):
        train_wordpiece_tokenizer(["", "   "])
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece_tokenizer(CORPUS, vocab_size=3)
    with pytest.raises(TypeError, match="text #1"):
        train_wordpiece_tokenizer(["a sentence", 42])
    # an explicit input_type reads a string as text even when it looks like a file name
    tokenizer = train_wordpiece_tokenizer(["notes.txt"] * 3, vocab_size=50, min_frequency=1, input_type="texts")
    assert tokenizer.unk_token_id not in tokenizer("notes.txt", add_special_tokens=False)["input_ids"]
