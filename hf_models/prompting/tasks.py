"""The built-in prompting tasks: for each, its reader, its file under `../shared/data`, its prompt (lm-evaluation-harness's
where it has the task, Kojima et al.'s "Q: ...\nA:" otherwise) and how it is answered (ranking options, greedy match of
a continuation, or generation with an answer extractor). The `eval/` command and the benchmarks look tasks up here."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..cli_utils import InputError
from . import data
from .data import Example
from .prompts import PromptTemplate

KOJIMA_QA = "Q: {question}\nA:"
KOJIMA_MC = "Q: {question} {choices}\nA:"


@dataclass(frozen=True)
class PromptingTask:
    """A task: where its examples come from, its prompt, and how it is answered and scored."""

    name: str
    reader: Callable[[str | os.PathLike], list[Example]]
    test_file: str  # relative to the data folder (../shared/data)
    template: PromptTemplate
    output: str  # "multiple_choice" (rank options), "greedy_match" (LAMBADA), "generate" (extract an answer)
    pool_file: str | None = None  # demonstrations' pool (a train split); None: the test file, the query excluded
    extractor: str | None = None  # generation tasks: the answer extractor (hf_models.prompting.generation.EXTRACTORS)
    answer_format: str | None = None  # zero-shot CoT's answer trigger (hf_models.prompting.cot.ANSWER_TRIGGERS)
    stop: tuple[str, ...] = ("\n\n", "\nQ:")  # generation's stop sequences

    def read(self, data_dir: str | os.PathLike, split: str = "test") -> list[Example]:
        """The task's test examples (or its demonstration pool, `split="pool"`) from the data folder."""
        relative = self.test_file if split == "test" else (self.pool_file or self.test_file)
        path = Path(data_dir) / relative
        if not path.is_file():
            raise InputError(f"{path}: no such file (task {self.name} reads {relative} under the data folder)")
        return self.reader(path)


_R = "reasoning/zero_shot_cot/"
TASKS: dict[str, PromptingTask] = {t.name: t for t in [
    # lm-evaluation-harness's sst2 / rte / lambada_openai / gsm8k prompts
    PromptingTask("sst2", partial(data.read_glue_examples, task="sst2"), "glue/SST-2/dev.tsv",
                  PromptTemplate("{sentence}\nQuestion: Is this sentence positive or negative?\nAnswer:"),
                  "multiple_choice", "glue/SST-2/train.tsv"),
    PromptingTask("rte", partial(data.read_glue_examples, task="rte"), "glue/RTE/dev.tsv",
                  PromptTemplate("{sentence1}\nQuestion: {sentence2} True or False?\nAnswer:"),
                  "multiple_choice", "glue/RTE/train.tsv"),
    PromptingTask("lambada", data.read_lambada_examples, "lambada/lambada_test.jsonl",
                  PromptTemplate("{context}", "{target}", target_delimiter=""), "greedy_match"),
    PromptingTask("gsm8k", data.read_gsm8k, "reasoning/gsm8k/test.jsonl",
                  PromptTemplate("Question: {question}\nAnswer:", "{answer}"), "generate",
                  "reasoning/gsm8k/train.jsonl", "last_number", "number",
                  ("Question:", "</s>", "<|im_end|>")),  # lm-eval's gsm8k stop sequences
    # Kojima et al. 2022's evaluation sets and answer formats
    PromptingTask("multiarith", data.read_arithmetic, _R + "MultiArith_MultiArith.json",
                  PromptTemplate(KOJIMA_QA, "{target}"), "generate", None, "last_number", "number"),
    PromptingTask("addsub", data.read_arithmetic, _R + "AddSub_AddSub.json",
                  PromptTemplate(KOJIMA_QA, "{target}"), "generate", None, "last_number", "number"),
    PromptingTask("singleeq", data.read_arithmetic, _R + "SingleEq_questions.json",
                  PromptTemplate(KOJIMA_QA, "{target}"), "generate", None, "last_number", "number"),
    PromptingTask("aqua", data.read_aqua, _R + "AQuA_test.json",
                  PromptTemplate(KOJIMA_MC, "{label}", choice="{letter}"), "multiple_choice", None, "letter", "letter"),
    PromptingTask("commonsenseqa", data.read_commonsenseqa, _R + "CommonsenseQA_dev_rand_split.jsonl",
                  PromptTemplate(KOJIMA_MC, "{label}", choice="{letter}"), "multiple_choice", None, "letter", "letter"),
    PromptingTask("strategyqa", data.read_strategyqa, _R + "StrategyQA_task.json",
                  PromptTemplate(KOJIMA_QA, "{answer}"), "multiple_choice", None, "yes_no", "yes_no"),
    PromptingTask("date", partial(data.read_bigbench, shuffle_seed=0), _R + "Bigbench_Date_task.json",
                  PromptTemplate(KOJIMA_MC, "{label}", choice="{letter}"), "multiple_choice", None, "letter_af", "letter_af"),
    PromptingTask("coin_flip", data.read_symbolic, _R + "coin_flip_coin_flip.json",
                  PromptTemplate(KOJIMA_QA, "{answer}"), "generate", None, "yes_no", "yes_no"),
    PromptingTask("last_letters", data.read_symbolic, _R + "last_letters_last_letters.json",
                  PromptTemplate(KOJIMA_QA, "{answer}"), "generate", None, "word", "text"),
]}


def get_task(name: str) -> PromptingTask:
    """The built-in task called `name` (case-insensitive)."""
    key = name.lower().replace("-", "_")
    if key not in TASKS:
        raise InputError(f"unknown prompting task {name!r}; choose one of {', '.join(TASKS)}, or give a data file "
                         "with its fields")
    return TASKS[key]


__all__ = ["KOJIMA_MC", "KOJIMA_QA", "TASKS", "PromptingTask", "get_task"]
