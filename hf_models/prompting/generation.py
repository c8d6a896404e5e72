"""Answering by generation (lm-evaluation-harness's `generate_until`): the model continues the prompt until a stop
sequence (or its eos, or max_new_tokens), the text is cut at the first stop sequence, and an answer is extracted from
it with the regexes of GSM8K / Kojima et al. 2022 (numbers, option letters, yes/no)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..cli_utils import InputError
from .data import LETTERS, Example, normalize_number

# ----------------------------------------------------------------------------------------------------------------------
# Answer extraction
# ----------------------------------------------------------------------------------------------------------------------
NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")  # on text with commas and $ removed: "1,000" -> "1000"


def extract_numbers(text: str) -> list[str]:
    """Every number in the text, commas and $ dropped (Kojima et al.'s cleansing), as normalised answer strings."""
    return [normalize_number(n) for n in NUMBER_RE.findall(text.replace(",", "").replace("$", ""))]


def extract_number(text: str, which: str = "last") -> str:
    """The last (GSM8K's "flexible extract") or first (Kojima et al.'s zero-shot-CoT second stage) number; "" if none."""
    numbers = extract_numbers(text)
    if not numbers:
        return ""
    return numbers[-1] if which == "last" else numbers[0]


def extract_after(text: str, trigger: str = "The answer is") -> str | None:
    """The text after the last `trigger` (Wei et al.'s "The answer is N."), or None when the trigger is absent."""
    position = text.rfind(trigger)
    return None if position < 0 else text[position + len(trigger):]


def extract_cot_number(text: str, trigger: str = "The answer is") -> str:
    """A chain of thought's answer (Kojima et al.'s few-shot cleansing): the first number after the trigger when it is
    there, else the last number of the text."""
    after = extract_after(text, trigger)
    if after is not None:
        found = extract_number(after, "first")
        if found:
            return found
    return extract_number(text, "last")


def extract_letter(text: str, letters: str = "ABCDE") -> str:
    """The first option letter: "(B)" or "B)" first, else a standalone capital letter among `letters`; "" if none."""
    allowed = re.escape(letters)
    for pattern in (rf"\(([{allowed}])\)", rf"\b([{allowed}])\)", rf"\b([{allowed}])\b"):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return ""


def extract_yes_no(text: str) -> str:
    """The first "yes" or "no" word, lower-cased (Kojima et al.'s StrategyQA / coin flip cleansing); "" if none."""
    match = re.search(r"\b(yes|no)\b", text.lower())
    return match.group(1) if match else ""


def extract_word(text: str) -> str:
    """The first line without quotes, periods and spaces (Kojima et al.'s last-letter cleansing): ' "yajo".' -> yajo."""
    first = text.strip().split("\n")[0]
    return re.sub(r"[\"'.\s]", "", first)


def gsm8k_strict(text: str) -> str:
    """lm-evaluation-harness's gsm8k-cot strict match: the number in "The answer is N." ("" if the phrase is absent)."""
    match = re.search(r"The answer is (\-?[0-9\.\,]+)\.", text)
    return normalize_number(match.group(1)) if match else ""


def gsm8k_hash(text: str) -> str:
    """lm-evaluation-harness's gsm8k strict match: the number after "#### " (GSM8K's own answer line; "" if absent)."""
    match = re.search(r"#### (\-?[0-9\.\,]+)", text)
    return normalize_number(match.group(1)) if match else ""


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "last_number": lambda t: extract_number(t, "last"),
    "first_number": lambda t: extract_number(t, "first"),
    "cot_number": extract_cot_number,
    "gsm8k_strict": gsm8k_strict,
    "gsm8k_hash": gsm8k_hash,
    "letter": extract_letter,
    "letter_af": lambda t: extract_letter(t, "ABCDEF"),
    "yes_no": extract_yes_no,
    "word": extract_word,
}


def answers_match(prediction: str, example: Example) -> bool:
    """Whether an extracted answer is the example's gold: a letter for multiple choice, a number (compared as
    numbers), or text compared case-insensitively."""
    if not prediction:
        return False
    if example.options is not None:
        if len(prediction) == 1 and prediction in LETTERS[:len(example.options)]:
            return LETTERS.index(prediction) == example.gold
        return prediction.strip().lower() == example.answer.strip().lower()
    gold = str(example.gold).strip()
    try:
        return abs(float(normalize_number(prediction)) - float(normalize_number(gold))) < 1e-6
    except ValueError:
        return prediction.strip().lower() == gold.lower()


def get_extractor(name_or_function: str | Callable[[str], str]) -> Callable[[str], str]:
    if callable(name_or_function):
        return name_or_function
    if name_or_function not in EXTRACTORS:
        raise InputError(f"unknown answer extractor {name_or_function!r}; choose one of {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name_or_function]


# ----------------------------------------------------------------------------------------------------------------------
# Generation until a stop sequence
# ----------------------------------------------------------------------------------------------------------------------
def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text up to the first occurrence of any stop sequence (lm-eval cuts the same way)."""
    end = len(text)
    for s in stop:
        if s:
            position = text.find(s)
            if position >= 0:
                end = min(end, position)
    return text[:end]


def _stopping_criteria(tokenizer, stop: Sequence[str], prompt_width: int):
    """A StoppingCriteria that ends each row once its generated text holds a stop sequence."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopOnSequences(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, prompt_width:], skip_special_tokens=True)
            return torch.tensor([any(s in t for s in stop if s) for t in texts], device=input_ids.device)

    return StoppingCriteriaList([StopOnSequences()])


@torch.no_grad()
def generate_until(model, tokenizer, prompts: Sequence[str], stop: Sequence[str] = ("\n\n",),
                   max_new_tokens: int = 256, do_sample: bool = False, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None, num_return_sequences: int = 1,
                   batch_size: int = 8, seed: int | None = None, show_progress: bool = False) -> list[list[str]]:
    """Continuations of each prompt (num_return_sequences of them), cut at the first stop sequence: greedy, or sampled
    with temperature / top-k / top-p (self-consistency). Prompts run in batches of similar length, left-padded where
    the model takes position_ids (one length per batch otherwise: a recurrent state would read the padding)."""
    from tqdm.auto import tqdm

    from ..tasks.causal_lm import lm_eval_encode

    if max_new_tokens < 1:
        raise InputError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    from .scoring import model_device

    device = model_device(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    pad = 0 if pad is None else pad
    left_pad = "position_ids" in inspect.signature(model.forward).parameters
    encoded = [lm_eval_encode(tokenizer, p) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and (left_pad or len(encoded[batches[-1][0]]) == len(encoded[i])):
            batches[-1].append(i)
        else:
            batches.append([i])
    if seed is not None:
        torch.manual_seed(seed)
    outputs: list[list[str] | None] = [None] * len(prompts)
    sampling = {"do_sample": do_sample}
    if do_sample:
        sampling.update(temperature=temperature, top_k=top_k if top_k is not None else 0,
                        top_p=top_p if top_p is not None else 1.0)
    for batch in tqdm(batches, desc="Generating", unit=" batch", disable=not show_progress):
        width = max(len(encoded[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            input_ids[row, width - len(encoded[i]):] = torch.tensor(encoded[i])
            mask[row, width - len(encoded[i]):] = 1
        generated = model.generate(input_ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                                   num_return_sequences=num_return_sequences, pad_token_id=pad,
                                   stopping_criteria=_stopping_criteria(tokenizer, stop, width), **sampling)
        texts = tokenizer.batch_decode(generated[:, width:], skip_special_tokens=True)
        for row, i in enumerate(batch):
            own = texts[row * num_return_sequences: (row + 1) * num_return_sequences]
            outputs[i] = [cut_at_stop(t, stop) for t in own]
    return outputs


def evaluate_generation(model, tokenizer, examples: Sequence[Example], prompts: Sequence, extractor="last_number",
                        stop: Sequence[str] = ("\n\n",), max_new_tokens: int = 256, batch_size: int = 8,
                        confidence: float = 0.95, show_progress: bool = False) -> dict[str, Any]:
    """Greedy generation on built prompts (`build_prompts`), answers extracted and compared with the gold: accuracy
    with a Wilson interval, each example's prompt, raw generation and extracted answer kept."""
    from .metrics import accuracy_with_ci

    extract = get_extractor(extractor)
    texts = [p.text if hasattr(p, "text") else p for p in prompts]
    generations = generate_until(model, tokenizer, texts, stop, max_new_tokens, batch_size=batch_size,
                                 show_progress=show_progress)
    per_example = []
    for example, prompt, (generation,) in zip(examples, prompts, generations):
        answer = extract(generation)
        record = prompt.to_dict() if hasattr(prompt, "to_dict") else {"prompt": prompt}
        record.update(where=example.where, generation=generation, prediction=answer, gold=example.answer,
                      correct=float(answers_match(answer, example)))
        per_example.append(record)
    return {"examples": len(per_example), "acc": accuracy_with_ci([r["correct"] for r in per_example], confidence),
            "per_example": per_example}


__all__ = ["EXTRACTORS", "answers_match", "cut_at_stop", "evaluate_generation", "extract_after", "extract_cot_number",
           "extract_letter", "extract_number", "extract_numbers", "extract_word", "extract_yes_no", "generate_until",
           "get_extractor", "gsm8k_hash", "gsm8k_strict"]
