"""WordPiece tokenizers trained from scratch (Wu et al. 2016; Devlin et al. 2019, section 3), for any language.

`train_wordpiece_tokenizer` builds BERT's tokenization pipeline with the `tokenizers` library and wraps it as
transformers' own BERT tokenizer, so the result saves with `save_pretrained` and reloads with
`AutoTokenizer.from_pretrained` like any BERT checkpoint's tokenizer:

    normalizer      BertNormalizer: clean control characters, space out CJK ideographs, lowercase. Accents are kept
                    (`strip_accents=False`): stripping them runs Unicode NFD, which would break every Korean Hangul
                    syllable into its jamo ("한" -> "ᄒ ᅡ ᆫ"); here "자연어" stays three syllables.
    pre-tokenizer   BertPreTokenizer: split on whitespace and punctuation.
    model           WordPiece: greedy longest-match-first over the learned vocabulary, "##" marks a word-inner piece.
    post-processor  TemplateProcessing: "[CLS] A [SEP]" (segment 0) and "[CLS] A [SEP] B [SEP]" (segments 0, 1).
    decoder         WordPiece: glue "##" pieces back onto their word.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import BertTokenizer

from .file_utils import GZIP_ERRORS, open_binary

PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
# The order fixes the ids: [PAD]=0 (the embedding padding_idx of BertConfig), [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
SPECIAL_TOKENS = [PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN]

# A string that looks like a file name ("corpus.txt", "data/train.raw") rather than a line of text.
_PATH_LIKE = re.compile(r"^[^\s]+\.[A-Za-z0-9]{1,10}$")
_BATCH_LINES = 1000


def train_wordpiece_tokenizer(
    files_or_texts: str | os.PathLike | Iterable[str | os.PathLike],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    lowercase: bool = True,
    max_length: int = 512,
    limit_alphabet: int | None = None,
    input_type: str = "auto",
    show_progress: bool = False,
) -> BertTokenizer:
    """Learn a WordPiece vocabulary on a corpus and return it as a BERT tokenizer (Wu et al. 2016, section 4.1).

    Args:
        files_or_texts: a text file, a list of text files (read as UTF-8, one line at a time), or an iterable of
            strings (each string a line or a document). See `input_type` for how the two are told apart.
        vocab_size: size of the vocabulary, special tokens and the character alphabet included.
        min_frequency: a pair of pieces must occur at least this often to be merged into a new piece.
        lowercase: lowercase the text before tokenization (an "uncased" model).
        max_length: `model_max_length` of the tokenizer (the longest sequence the model will be given).
        limit_alphabet: keep at most this many distinct characters (the rarest become [UNK]); None keeps all, which
            is what a language with a large script, Korean or Chinese, needs.
        input_type: "files", "texts", or "auto": a `str`/`PathLike`, or an iterable whose first item is a
            `PathLike`, an existing file or a string that looks like a file name ("train.txt"), is read as files;
            anything else as texts.
        show_progress: show the `tokenizers` progress bar while training.

    Returns:
        A `transformers.BertTokenizer` (the `tokenizers`-backed BERT tokenizer of transformers 5) with [PAD]=0,
        [UNK], [CLS], [SEP], [MASK] and the [CLS] A [SEP] B [SEP] template.

    Raises:
        FileNotFoundError: a file does not exist (the message names it).
        ValueError: a file is empty, holds no text or is not UTF-8 (the message names the file and line), or there is
            no text at all.
    """
    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be an integer larger than {len(SPECIAL_TOKENS)}, got {vocab_size!r}")
    if not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an integer >= 2, got {max_length!r}")
    if input_type not in ("auto", "files", "texts"):
        raise ValueError(f"input_type must be 'auto', 'files' or 'texts', got {input_type!r}")

    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK_TOKEN, continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer_kwargs = {} if limit_alphabet is None else {"limit_alphabet": limit_alphabet}
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=show_progress,
        **trainer_kwargs,
    )

    counter = _CountingIterator(_text_batches(files_or_texts, input_type))
    tokenizer.train_from_iterator(counter, trainer=trainer)
    if counter.characters == 0:
        raise ValueError("train_wordpiece_tokenizer: the training text is empty (no non-blank line was given)")

    return wrap_as_bert_tokenizer(tokenizer, lowercase=lowercase, max_length=max_length)


def wrap_as_bert_tokenizer(tokenizer: Tokenizer, lowercase: bool = True, max_length: int = 512) -> BertTokenizer:
    """Wrap a trained WordPiece `tokenizers.Tokenizer` as transformers' BERT tokenizer, with BERT's pair template."""
    vocab = tokenizer.get_vocab()
    for index, token in enumerate(SPECIAL_TOKENS):
        if vocab.get(token) != index:  # the trainer puts the special tokens first, in order
            raise ValueError(f"the WordPiece vocabulary gives {token} id {vocab.get(token)}, expected {index}")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS_TOKEN}:0 $A:0 {SEP_TOKEN}:0",
        pair=f"{CLS_TOKEN}:0 $A:0 {SEP_TOKEN}:0 $B:1 {SEP_TOKEN}:1",
        special_tokens=[(CLS_TOKEN, vocab[CLS_TOKEN]), (SEP_TOKEN, vocab[SEP_TOKEN])],
    )
    # BertTokenizer rebuilds exactly this normalizer/pre-tokenizer/model from (vocab, do_lower_case, strip_accents)
    # when AutoTokenizer reloads the saved folder, so the reloaded tokenizer is the trained one.
    return BertTokenizer(
        vocab=vocab,
        tokenizer_object=tokenizer,
        do_lower_case=lowercase,
        strip_accents=False,
        tokenize_chinese_chars=True,
        unk_token=UNK_TOKEN,
        sep_token=SEP_TOKEN,
        pad_token=PAD_TOKEN,
        cls_token=CLS_TOKEN,
        mask_token=MASK_TOKEN,
        model_max_length=max_length,
    )


class _CountingIterator:
    """Pass batches of lines through while counting their characters (to tell an empty corpus apart)."""

    def __init__(self, batches: Iterator[list[str]]):
        self.batches = batches
        self.characters = 0

    def __iter__(self):
        for batch in self.batches:
            self.characters += sum(len(line.strip()) for line in batch)
            yield batch


def _looks_like_file(item) -> bool:
    if isinstance(item, os.PathLike):
        return True
    return isinstance(item, str) and (os.path.isfile(item) or bool(_PATH_LIKE.match(item)))


def _text_batches(files_or_texts, input_type: str) -> Iterator[list[str]]:
    """Yield the corpus as batches of lines, from files or from an iterable of strings."""
    if isinstance(files_or_texts, (str, os.PathLike)):
        if input_type == "texts":
            yield [str(files_or_texts)]
            return
        items: Iterable = [files_or_texts]
        as_files = True
    else:
        iterator = iter(files_or_texts)
        try:
            first = next(iterator)
        except StopIteration:
            raise ValueError("train_wordpiece_tokenizer: no files or texts were given") from None
        items = itertools.chain([first], iterator)
        as_files = input_type == "files" or (input_type == "auto" and _looks_like_file(first))

    if as_files:
        for path in items:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"expected a file path, got {type(path).__name__}: {path!r}")
            yield from _file_batches(Path(path))
        return

    batch: list[str] = []
    for position, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"text #{position} is a {type(text).__name__}, expected str: {text!r:.80}")
        batch.append(text)
        if len(batch) == _BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


def _file_batches(path: Path) -> Iterator[list[str]]:
    """Yield the lines of one UTF-8 text file (plain or gzip) in batches; errors name the file (and line)."""
    if not path.exists():
        raise FileNotFoundError(f"training file not found: {path}")
    if not path.is_file():
        raise ValueError(f"training file {path} is not a regular file")
    if path.stat().st_size == 0:
        raise ValueError(f"training file {path} is empty")
    batch: list[str] = []
    has_text = False
    with open_binary(path) as handle:
        lines = enumerate(handle, start=1)
        while True:
            try:
                line_number, raw = next(lines)
            except StopIteration:
                break
            except GZIP_ERRORS as error:
                raise ValueError(f"training file {path}: corrupt or truncated gzip file ({error})") from None
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"training file {path} is not UTF-8 text: line {line_number} has invalid byte(s) at position "
                    f"{error.start} ({raw[error.start:error.start + 4]!r})"
                ) from None
            if line_number == 1:
                line = line.removeprefix("\ufeff")  # a UTF-8 byte-order mark is not text
            if line.strip():
                has_text = True
                batch.append(line)
            if len(batch) == _BATCH_LINES:
                yield batch
                batch = []
    if batch:
        yield batch
    if not has_text:
        raise ValueError(f"training file {path} holds no text (only blank lines)")


# ----------------------------------------------------------------------------------------------------------------------
# Does a pretrained tokenizer cover the user's text?
# ----------------------------------------------------------------------------------------------------------------------
# A pretrained tokenizer whose vocabulary lacks the user's script turns many words into its unknown token: the model
# reads "[UNK] [UNK] [UNK]" and can learn nothing from them. The rate is measured on a sample of the data, in words.
UNKNOWN_WORD_WARNING_RATE = 0.05
_HANGUL_SYLLABLES = re.compile("[\uac00-\ud7a3]")
_HANGUL_JAMO = re.compile("[\u1100-\u11ff]")  # the conjoining jamo that Unicode NFD splits a syllable into


def unknown_token_rate(tokenizer, texts: Iterable[str], sample_size: int = 1000) -> dict | None:
    """How much of a sample of `texts` (the first `sample_size` non-empty ones) `tokenizer` maps to its unknown token.

    Returns {"texts", "words", "unknown_words", "rate" (of words), "tokens_per_word", "examples" (up to 5 words that
    became unknown), "cause" (a sentence, or None)}, or None when the tokenizer has no unknown token (byte-level BPE
    such as GPT-2's spells everything) or the sample is empty. A word is a unit of the tokenizer's pre-tokenizer
    (a fast tokenizer's word_ids), or a whitespace-separated word for a slow one.
    """
    unk = getattr(tokenizer, "unk_token", None)
    unk_id = getattr(tokenizer, "unk_token_id", None)
    if unk is None or unk_id is None:
        return None
    sample = [t for t in itertools.islice((t for t in texts if isinstance(t, str) and t.strip()), sample_size)]
    if not sample:
        return None
    words = unknown = tokens = 0
    examples: list[str] = []
    if getattr(tokenizer, "is_fast", False):
        encoding = tokenizer(sample, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        for i, text in enumerate(sample):
            ids, offsets, word_ids = encoding["input_ids"][i], encoding["offset_mapping"][i], encoding.word_ids(i)
            spans: dict[int, list] = {}
            for token_id, (start, end), word in zip(ids, offsets, word_ids):
                if word is None:
                    continue
                span = spans.setdefault(word, [start, end, False])
                span[0], span[1] = min(span[0], start), max(span[1], end)
                span[2] = span[2] or token_id == unk_id
            words += len(spans)
            tokens += sum(w is not None for w in word_ids)
            for start, end, is_unknown in spans.values():
                if is_unknown:
                    unknown += 1
                    if len(examples) < 5 and text[start:end] not in examples:
                        examples.append(text[start:end])
    else:
        for text in sample:
            for word in text.split():
                pieces = tokenizer.tokenize(word)
                words += 1
                tokens += len(pieces)
                if unk in pieces:
                    unknown += 1
                    if len(examples) < 5 and word not in examples:
                        examples.append(word)
    if not words:
        return None
    return {"texts": len(sample), "words": words, "unknown_words": unknown, "rate": unknown / words,
            "tokens_per_word": tokens / words, "examples": examples, "cause": _unknown_cause(tokenizer, sample)}


def _unknown_cause(tokenizer, sample: list[str]) -> str | None:
    """Why a tokenizer may not spell a sample: its normaliser splitting Hangul syllables into jamo (an uncased BERT:
    lowercasing strips accents through Unicode NFD), or characters its vocabulary lacks."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    normalizer = getattr(backend, "normalizer", None) if backend is not None else None
    korean = next((t for t in sample if _HANGUL_SYLLABLES.search(t)), None)
    if korean is not None and normalizer is not None:
        word = next(w for w in korean.split() if _HANGUL_SYLLABLES.search(w))
        normalized = normalizer.normalize_str(word)
        if _HANGUL_JAMO.search(normalized) and not _HANGUL_SYLLABLES.search(normalized):
            jamo = " ".join(f"U+{ord(c):04X}" for c in normalized[:6])
            return (f"its normaliser decomposes Hangul syllables into jamo ({word!r} becomes {len(normalized)} "
                    f"characters, {jamo}{' ...' if len(normalized) > 6 else ''}), as an uncased BERT's does "
                    "(lowercasing strips accents through Unicode NFD), and its vocabulary lacks most jamo sequences: "
                    "use a tokenizer made for Korean (a cased multilingual or Korean checkpoint) or train one on "
                    "your data (hf_models.tokenization.train_wordpiece_tokenizer keeps syllables)")
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    if vocab:
        known = {c for token in vocab for c in token.removeprefix("##")}
        missing: dict[str, int] = {}
        for text in sample:
            for c in text:
                if not c.isspace() and c not in known:
                    missing[c] = missing.get(c, 0) + 1
        if missing:
            top = sorted(missing, key=missing.get, reverse=True)[:8]
            return (f"its vocabulary lacks characters of your text ({' '.join(top)}): use a tokenizer that covers "
                    "your language, or train one on your data")
    return None


def warn_unknown_tokens(tokenizer, texts: Iterable[str], source: str, sample_size: int = 1000,
                        threshold: float = UNKNOWN_WORD_WARNING_RATE) -> dict | None:
    """Log a warning (logger hf_models.tokenization) when `tokenizer` maps more than `threshold` of the words of a
    sample of `texts` to its unknown token, with the rate, examples and the likely cause; an info line otherwise.
    `source` names the tokenizer and data in the message. Returns the measurement (see `unknown_token_rate`)."""
    import logging

    logger = logging.getLogger("hf_models.tokenization")
    report = unknown_token_rate(tokenizer, texts, sample_size)
    if report is None:
        return None
    summary = (f"{source}: {report['rate']:.1%} of the words of a sample of {report['texts']} texts "
               f"({report['unknown_words']} of {report['words']}) become {tokenizer.unk_token}, "
               f"{report['tokens_per_word']:.1f} tokens per word")
    if report["rate"] > threshold:
        examples = ", ".join(repr(w) for w in report["examples"])
        logger.warning(f"{summary} (e.g. {examples}): the model cannot read those words"
                       + (f"; likely cause: {report['cause']}" if report["cause"] else ""))
    else:
        logger.info(summary)
    return report


__all__ = ["SPECIAL_TOKENS", "train_wordpiece_tokenizer", "unknown_token_rate", "warn_unknown_tokens",
           "wrap_as_bert_tokenizer"]
