"""Chain-of-thought prompting: few-shot CoT with Wei et al. 2022's eight arithmetic exemplars (their Table 20, the
prompt for GSM8K, SVAMP, ASDiv, MAWPS), zero-shot CoT in Kojima et al. 2022's two stages ("Let's think step by
step." to reason, then an answer-extraction prompt), and self-consistency (Wang et al. 2022: the majority answer of N
sampled chains)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .data import Example
from .generation import answers_match, generate_until, get_extractor
from .metrics import accuracy_with_ci
from .prompts import Prompt, PromptTemplate, build_prompts

# Wei et al. 2022, Table 20 (question, chain of thought, answer); the same text as lm-evaluation-harness's gsm8k-cot
WEI_ARITHMETIC_EXEMPLARS: tuple[tuple[str, str, str], ...] = (
    (
        ("There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are "
         "done, there will be 21 trees. How many trees did the grove workers plant today?"),
        ("There are 15 trees originally. Then there were 21 trees after some more were planted. So there must "
         "have been 21 - 15 = 6."),
        "6"),
    (
        "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
        "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5.",
        "5"),
    (
        ("Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in "
         "total?"),
        ("Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After "
         "eating 35, they had 74 - 35 = 39."),
        "39"),
    (
        ("Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops"
         " did Jason give to Denny?"),
        ("Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12"
         " = 8."),
        "8"),
    (
        ("Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he"
         " have now?"),
        ("Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 +"
         " 4 = 9."),
        "9"),
    (
        ("There were nine computers in the server room. Five more computers were installed each day, from "
         "monday to thursday. How many computers are now in the server room?"),
        ("There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 "
         "computers were added. 9 + 20 is 29."),
        "29"),
    (
        ("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many"
         " golf balls did he have at the end of wednesday?"),
        ("Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 "
         "more, he had 35 - 2 = 33 golf balls."),
        "33"),
    (
        "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
        ("Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 "
         "dollars left. 23 - 15 is 8."),
        "8"),
)

# Wei et al.'s format: "Q: ...\nA: <chain of thought> The answer is N.", demonstrations separated by a blank line
COT_TEMPLATE = PromptTemplate(text="Q: {question}\nA:", target="{rationale} The answer is {target}.")
# the same exemplars without the reasoning (Wei et al.'s "standard prompting" baseline)
STANDARD_TEMPLATE = PromptTemplate(text="Q: {question}\nA:", target="The answer is {target}.")
COT_STOP = ("\n\nQ:", "\nQ:", "Q:")  # the model starts a new question: lm-eval's gsm8k-cot stops at "Q:"

COT_TRIGGER = "Let's think step by step."  # Kojima et al. 2022, Table 4 template 1
# Kojima et al.'s answer-extraction prompts (their code's direct_answer_trigger), by answer format
ANSWER_TRIGGERS = {
    "number": "\nTherefore, the answer (arabic numerals) is",
    "letter": "\nTherefore, among A through E, the answer is",
    "letter_af": "\nTherefore, among A through F, the answer is",
    "yes_no": "\nTherefore, the answer (Yes or No) is",
    "text": "\nTherefore, the answer is",
}
# the extractor Kojima et al. apply to the second stage's output for each answer format (the first candidate)
ZERO_SHOT_COT_EXTRACTORS = {"number": "first_number", "letter": "letter", "letter_af": "letter_af",
                            "yes_no": "yes_no", "text": "word"}


def wei_arithmetic_exemplars() -> list[Example]:
    """Wei et al.'s eight arithmetic exemplars as a demonstration pool for COT_TEMPLATE (sampler "first_n")."""
    return [Example({"question": q, "rationale": r, "target": a, "answer": a}, None, a, f"Wei et al. exemplar {i + 1}")
            for i, (q, r, a) in enumerate(WEI_ARITHMETIC_EXEMPLARS)]


def few_shot_cot_prompts(examples: Sequence[Example], num_fewshot: int = 8, chain_of_thought: bool = True,
                         tokenizer=None, max_length: int | None = None, max_new_tokens: int = 256) -> list[Prompt]:
    """Few-shot (CoT) prompts with Wei et al.'s exemplars in their order: "Q: q\nA: reasoning The answer is N.\n\n" x K,
    then "Q: query\nA:"; without `chain_of_thought`, the standard-prompting exemplars (answers only)."""
    template = COT_TEMPLATE if chain_of_thought else STANDARD_TEMPLATE
    return build_prompts(examples, template, num_fewshot, wei_arithmetic_exemplars(), sampler="first_n",
                         tokenizer=tokenizer, max_length=max_length, reserve=max_new_tokens)


def zero_shot_cot(model, tokenizer, examples: Sequence[Example], answer_format: str = "number",
                  trigger: str = COT_TRIGGER, max_reasoning_tokens: int = 128, max_answer_tokens: int = 32,
                  extractor: str | Callable[[str], str] | None = None, batch_size: int = 8,
                  confidence: float = 0.95, show_progress: bool = False) -> dict[str, Any]:
    """Kojima et al.'s zero-shot CoT: stage 1 "Q: q\nA: Let's think step by step." generates the reasoning (128
    tokens); stage 2 appends it and the answer trigger ("\nTherefore, the answer (arabic numerals) is") and generates
    the answer (32 tokens), whose first candidate is taken. Returns accuracy and both stages' prompts and outputs."""
    from ..cli_utils import InputError

    if answer_format not in ANSWER_TRIGGERS:
        raise InputError(f"unknown answer format {answer_format!r}; choose one of {', '.join(ANSWER_TRIGGERS)}")
    extract = get_extractor(extractor or ZERO_SHOT_COT_EXTRACTORS[answer_format])
    question_template = PromptTemplate(text="Q: {question}\nA:")
    first = [p.text + " " + trigger for p in build_prompts(examples, question_template)]
    # Kojima et al. generate without stop sequences; a new "Q:" means the model moved on to another question
    reasoning = [g[0] for g in generate_until(model, tokenizer, first, ("\nQ:",), max_reasoning_tokens,
                                              batch_size=batch_size, show_progress=show_progress)]
    # Kojima et al.'s code: z2 = x + z + " " + direct_answer_trigger_for_zeroshot_cot (the reasoning as generated)
    second = [prompt + r + " " + ANSWER_TRIGGERS[answer_format] for prompt, r in zip(first, reasoning)]
    answers = [g[0] for g in generate_until(model, tokenizer, second, ("\n\n", "\nQ:"), max_answer_tokens,
                                            batch_size=batch_size, show_progress=show_progress)]
    per_example = []
    for example, p1, r, p2, a in zip(examples, first, reasoning, second, answers):
        prediction = extract(a)
        per_example.append({"where": example.where, "prompt": p1, "reasoning": r, "answer_prompt": p2,
                            "generation": a, "prediction": prediction, "gold": example.answer,
                            "correct": float(answers_match(prediction, example))})
    return {"examples": len(per_example), "method": "zero_shot_cot", "trigger": trigger,
            "answer_trigger": ANSWER_TRIGGERS[answer_format],
            "acc": accuracy_with_ci([r["correct"] for r in per_example], confidence), "per_example": per_example}


def majority_vote(answers: Sequence[str]) -> str:
    """Self-consistency's aggregation (Wang et al. 2022, eq. 1 unweighted): the most frequent non-empty answer, ties
    to the one reached first; "" when no chain gave an answer."""
    counts = Counter(a for a in answers if a)
    if not counts:
        return ""
    best = max(counts.values())
    return next(a for a in answers if a and counts[a] == best)


def self_consistency(model, tokenizer, examples: Sequence[Example], prompts: Sequence[Prompt | str],
                     num_samples: int = 10, temperature: float = 0.7, top_k: int | None = 40,
                     extractor: str | Callable[[str], str] = "cot_number", stop: Sequence[str] = COT_STOP,
                     max_new_tokens: int = 256, batch_size: int = 4, seed: int = 0, confidence: float = 0.95,
                     show_progress: bool = False) -> dict[str, Any]:
    """Wang et al. 2022: sample `num_samples` chains of thought per prompt (temperature 0.7, top-k 40, as their
    GPT-3 / LaMDA runs), extract each chain's answer and take the majority vote. Keeps every chain."""
    extract = get_extractor(extractor)
    texts = [p.text if isinstance(p, Prompt) else p for p in prompts]
    chains = generate_until(model, tokenizer, texts, stop, max_new_tokens, do_sample=True, temperature=temperature,
                            top_k=top_k, num_return_sequences=num_samples, batch_size=batch_size, seed=seed,
                            show_progress=show_progress)
    per_example = []
    for example, text, own in zip(examples, texts, chains):
        answers = [extract(c) for c in own]
        prediction = majority_vote(answers)
        per_example.append({"where": example.where, "prompt": text, "generations": own, "answers": answers,
                            "prediction": prediction, "gold": example.answer,
                            "correct": float(answers_match(prediction, example))})
    return {"examples": len(per_example), "method": "self_consistency", "num_samples": num_samples,
            "temperature": temperature, "top_k": top_k, "seed": seed,
            "acc": accuracy_with_ci([r["correct"] for r in per_example], confidence), "per_example": per_example}


__all__ = ["ANSWER_TRIGGERS", "COT_STOP", "COT_TEMPLATE", "COT_TRIGGER", "STANDARD_TEMPLATE",
           "WEI_ARITHMETIC_EXEMPLARS", "ZERO_SHOT_COT_EXTRACTORS", "few_shot_cot_prompts", "majority_vote",
           "self_consistency", "wei_arithmetic_exemplars", "zero_shot_cot"]
