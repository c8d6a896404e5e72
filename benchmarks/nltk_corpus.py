"""Export the NLTK corpora of `../shared/data/nltk_corpora` (plus PTB train) as one training file for word2vec.

One sentence per line, tokens separated by spaces, lowercased, tokens without a letter or digit dropped (punctuation),
as is usual for word2vec training text (text8 style). Corpora whose NLTK reader has no sentence splitter without the
`punkt` model (abc, genesis, reuters, ...) are split after '.', '!' and '?'; Shakespeare's plays are read line by line
from their XML; chat posts and Switchboard turns are one sentence each.

    python benchmarks/nltk_corpus.py --data_dir ../shared/data --output runs/w2v/corpus.txt
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

CORPORA = (
    "abc", "brown", "comparative_sentences", "conll2000", "genesis", "inaugural", "masc_tagged", "movie_reviews",
    "nps_chat", "product_reviews_1", "product_reviews_2", "pros_cons", "reuters", "sentence_polarity", "shakespeare",
    "state_union", "subjectivity", "switchboard", "treebank", "webtext",
)
WORD = re.compile(r"\w", re.UNICODE)
SENTENCE_END = {".", "!", "?"}
GENESIS_ENGLISH = ("english-kjv.txt", "english-web.txt")


def _split_sentences(words):
    """Cut a token stream into sentences after '.', '!' and '?' (no punkt model offline)."""
    sentence = []
    for word in words:
        sentence.append(word)
        if word in SENTENCE_END or len(sentence) >= 1000:
            yield sentence
            sentence = []
    if sentence:
        yield sentence


def _corpus_sentences(name: str):
    """Sentences (token lists, original case) of one NLTK corpus."""
    import nltk.corpus
    from nltk.tokenize import wordpunct_tokenize

    if name == "masc_tagged":
        from nltk.corpus.reader import CategorizedTaggedCorpusReader

        root = nltk.data.find("corpora/masc_tagged.zip/masc_tagged/")
        reader = CategorizedTaggedCorpusReader(root, r"(spoken|written)/.*\.txt", cat_file="categories.txt", sep="_")
        yield from reader.sents()
        return
    corpus = getattr(nltk.corpus, name)
    if name == "shakespeare":
        for fileid in corpus.fileids():
            for line in corpus.xml(fileid).iter("LINE"):
                text = "".join(line.itertext())
                if text.strip():
                    yield wordpunct_tokenize(text)
        return
    if name == "nps_chat":
        yield from corpus.posts()
        return
    if name == "switchboard":
        for turn in corpus.turns():
            yield list(turn)
        return
    fileids = GENESIS_ENGLISH if name == "genesis" else corpus.fileids()
    try:
        yield from corpus.sents(fileids)
    except (ValueError, LookupError):
        for fileid in fileids:
            yield from _split_sentences(corpus.words(fileid))


def _clean(sentence):
    return [token.lower() for token in sentence if WORD.search(token)]


def export(data_dir: Path, output: Path, include_ptb: bool = True) -> dict:
    """Write the corpus file and return word and sentence counts per source."""
    import nltk

    stats = {}
    with tempfile.TemporaryDirectory(prefix="nltk_data_") as nltk_home:
        # NLTK refuses symlinked packages: copy the zips under corpora/ (reuters_rebuilt.zip is NLTK's reuters.zip)
        corpora_dir = Path(nltk_home) / "corpora"
        corpora_dir.mkdir()
        for zip_path in sorted((data_dir / "nltk_corpora").glob("*.zip")):
            target = "reuters.zip" if zip_path.name == "reuters_rebuilt.zip" else zip_path.name
            shutil.copyfile(zip_path, corpora_dir / target)
        nltk.data.path.insert(0, nltk_home)
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as f:
            for name in CORPORA:
                start = time.time()
                words = sentences = 0
                for sentence in _corpus_sentences(name):
                    tokens = _clean(sentence)
                    if tokens:
                        f.write(" ".join(tokens) + "\n")
                        words += len(tokens)
                        sentences += 1
                stats[name] = {"words": words, "sentences": sentences, "seconds": round(time.time() - start, 1)}
                print(f"{name:22s} {words:>10,d} words {sentences:>8,d} sentences")
            if include_ptb:
                words = sentences = 0
                for line in (data_dir / "ptb" / "ptb.train.txt").open(encoding="utf-8"):
                    tokens = line.split()
                    if tokens:
                        f.write(" ".join(tokens) + "\n")
                        words += len(tokens)
                        sentences += 1
                stats["ptb.train"] = {"words": words, "sentences": sentences}
                print(f"{'ptb.train':22s} {words:>10,d} words {sentences:>8,d} sentences")
        nltk.data.path.remove(nltk_home)
    total = sum(s["words"] for s in stats.values())
    print(f"{'total':22s} {total:>10,d} words -> {output}")
    return {"total_words": total, "sources": stats}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--no_ptb", action="store_true", help="Leave PTB train out.")
    args = parser.parse_args(argv)
    stats = export(args.data_dir, args.output, include_ptb=not args.no_ptb)
    args.output.with_suffix(".json").write_text(json.dumps(stats, indent=2) + "\n")


if __name__ == "__main__":
    main()
