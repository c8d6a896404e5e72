"""The training text of a task file, read as the task's fine-tuning command reads it: what a vocabulary learnt from
scratch (a word-level tokenizer for an RNN, say) must cover.

- a GLUE file (tsv/csv/json/parquet of any of the nine tasks): the text of its text columns, both sentences of a pair;
- a CoNLL column file: its sentences as word lists (each word one token, as the tagger sees them);
- anything else: one text per non-empty line (UTF-8).

Errors name the file and the line, as the task readers do.
"""

from __future__ import annotations

import os


def read_training_texts(path: str | os.PathLike, glue_task: str | None = None,
                        conll: bool = False) -> list[str] | list[list[str]]:
    """The texts of `path`: strings (a GLUE task's text columns, or lines), or word lists (`conll=True`)."""
    if glue_task is not None and conll:
        raise ValueError("give glue_task or conll, not both")
    if not os.path.exists(path):
        raise FileNotFoundError(f"training text not found: {path}")
    if glue_task is not None:
        from .glue import get_task, read_glue_file

        task = get_task(glue_task)
        dataset = read_glue_file(str(path), task)
        return [text for name in task.text_fields for text in dataset[name]]
    if conll:
        from .conll import read_conll_file

        return [sentence.tokens for sentence in read_conll_file(str(path))]
    from .translation import read_lines

    return [line for line in read_lines(path, allow_empty=True) if line.strip()]


__all__ = ["read_training_texts"]
