"""Prompt construction for in-context learning as GPT-3 (Brown et al. 2020, section 2) and lm-evaluation-harness build it:
a task description, K demonstrations drawn with a seed from a pool (never the example being asked), then the query.

    description + [text(demo) + target_delimiter + target(demo) + fewshot_delimiter] x K + text(query)

`text` and `target` are templates with `{field}` placeholders filled from an `Example`'s fields. A chat model can get
the same prompt through its tokenizer's chat template (one user turn, or the demonstrations as turns). A prompt longer
than the model's context loses demonstrations (the farthest from the query first), never the query, and says so.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..cli_utils import InputError
from .data import Example


@dataclass
class PromptTemplate:
    """A task's prompt in lm-evaluation-harness's terms: doc_to_text, doc_to_target, description and delimiters."""

    text: str = "{question}"  # the query (and each demonstration's question)
    target: str = "{answer}"  # what a demonstration shows after the question
    description: str = ""  # put before everything, as is (end it with its own separator, e.g. "\n\n")
    target_delimiter: str = " "  # between a question and its answer (and before each option that is scored)
    fewshot_delimiter: str = "\n\n"  # after each demonstration
    choice: str = "{option}"  # each option as it is scored: its text ({option}) or its letter ({letter}: A, B, ...)

    def placeholders(self) -> set[str]:
        """The field names that the templates use."""
        return _placeholders(self.text, "text") | _placeholders(self.target, "target")


def render_choice(template: PromptTemplate, options: Sequence[str]) -> list[str]:
    """The options as they are scored (without the target delimiter): the choice template with {option} / {letter}."""
    from .data import LETTERS

    names = _placeholders(template.choice, "choice")
    if not names <= {"option", "letter"}:
        raise InputError(f"the choice template {template.choice!r} may use only {{option}} and {{letter}}, not "
                         f"{', '.join(sorted(names - {'option', 'letter'}))}")
    return [template.choice.format(option=o, letter=LETTERS[i]) for i, o in enumerate(options)]


def _placeholders(template: str, what: str) -> set[str]:
    names = set()
    try:
        for _, name, _, _ in string.Formatter().parse(template):
            if name is not None:
                if not name.isidentifier():
                    raise InputError(f"the {what} template {template!r} has the placeholder {{{name}}}; a placeholder "
                                     "names one field, like {question} (write {{ and }} for literal braces)")
                names.add(name)
    except ValueError as error:
        raise InputError(f"the {what} template {template!r} is malformed ({error}); write {{ and }} for literal "
                         "braces") from None
    return names


def render(template: str, example: Example, what: str = "text") -> str:
    """The template with each {field} replaced by the example's field; a field the example lacks is an error."""
    for name in _placeholders(template, what):
        if name not in example.fields:
            raise InputError(f"{example.where}: the {what} template {template!r} uses the field {name!r}, which this "
                             f"example lacks (its fields: {', '.join(sorted(example.fields))})")
    return template.format_map(example.fields)


class DemonstrationSampler:
    """K demonstrations drawn from a pool with a seeded `random.Random`, never the query: lm-evaluation-harness's
    ContextSampler (sample K + 1 when the query is in the pool, drop it, keep K), so that one seed and one order of
    queries give lm-eval's demonstrations; `strategy="first_n"` takes the pool's first K (fixed exemplars)."""

    def __init__(self, pool: Sequence[Example], seed: int = 1234, strategy: str = "random"):
        if strategy not in ("random", "first_n"):
            raise InputError(f"the demonstration sampler must be 'random' or 'first_n', got {strategy!r}")
        self.pool = list(pool)
        self.seed, self.strategy = seed, strategy
        self.rnd = random.Random(seed)
        self._keys: dict[tuple, list[int]] = {}
        for index, example in enumerate(self.pool):
            self._keys.setdefault(example.key, []).append(index)

    def sample(self, k: int, query: Example | None = None) -> list[int]:
        """Indices into the pool of K demonstrations for `query`, none of them the query itself."""
        if not isinstance(k, int) or k < 0:
            raise InputError(f"the number of demonstrations must be a non-negative integer, got {k!r}")
        if k == 0:
            return []
        excluded = set(self._keys.get(query.key, ())) if query is not None else set()
        available = len(self.pool) - len(excluded)
        if k > available:
            where = f"{query.where}: " if query is not None else ""
            raise InputError(f"{where}{k} demonstrations asked, but the pool holds only {available} example(s) other "
                             "than the query; ask for fewer shots or give a larger pool")
        if self.strategy == "first_n":
            return [i for i in range(len(self.pool)) if i not in excluded][:k]
        if excluded:  # lm-eval: sample one more, drop the query, keep the first k
            chosen = [i for i in self.rnd.sample(range(len(self.pool)), k + 1) if i not in excluded][:k]
            if len(chosen) < k:  # the query was duplicated in the pool: draw from the rest
                chosen = self.rnd.sample([i for i in range(len(self.pool)) if i not in excluded], k)
            return chosen
        return self.rnd.sample(range(len(self.pool)), k)


@dataclass
class Prompt:
    """A built prompt: its text, which demonstrations it holds, and how many were dropped to fit the context."""

    text: str
    demonstrations: list[int] = field(default_factory=list)  # pool indices, in prompt order
    dropped: int = 0  # demonstrations removed because the prompt was longer than the context
    num_tokens: int | None = None  # the prompt's length in tokens (when a tokenizer was given)

    def to_dict(self) -> dict:
        return {"prompt": self.text, "demonstrations": self.demonstrations, "dropped_demonstrations": self.dropped,
                "prompt_tokens": self.num_tokens}


def format_prompt(query: Example, demonstrations: Sequence[Example], template: PromptTemplate,
                  tokenizer=None, chat: bool = False, fewshot_as_multiturn: bool = False) -> str:
    """The prompt's text (lm-evaluation-harness's fewshot_context); with `chat`, rendered by the tokenizer's chat
    template: the description as the system turn, the rest one user turn (or each demonstration a user/assistant pair
    with `fewshot_as_multiturn`), and the assistant's turn opened."""
    shots = [(render(template.text, d, "text"), render(template.target, d, "target")) for d in demonstrations]
    question = render(template.text, query, "text")
    if not chat:
        return template.description + "".join(q + template.target_delimiter + a + template.fewshot_delimiter
                                              for q, a in shots) + question
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise InputError(f"a chat prompt needs a tokenizer with a chat template; {type(tokenizer).__name__} has none "
                         "(prompt without the chat template)")
    messages = [{"role": "system", "content": template.description}] if template.description else []
    if fewshot_as_multiturn:
        for q, a in shots:
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        messages.append({"role": "user", "content": question})
    else:
        text = "".join(q + template.target_delimiter + a + template.fewshot_delimiter for q, a in shots) + question
        messages.append({"role": "user", "content": text})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prompt_length(tokenizer, text: str) -> int:
    """Tokens of a prompt as the scorer encodes it (lm-evaluation-harness's tok_encode)."""
    from ..tasks.causal_lm import lm_eval_encode

    return len(lm_eval_encode(tokenizer, text))


def build_prompt(query: Example, template: PromptTemplate, pool: Sequence[Example] = (),
                 demonstrations: Sequence[int] = (), tokenizer=None, max_length: int | None = None, reserve: int = 0,
                 chat: bool = False, fewshot_as_multiturn: bool = False) -> Prompt:
    """The prompt for `query` with the pool's `demonstrations`; when `max_length` is given, demonstrations are dropped
    (the first, farthest from the query, first) until the prompt plus `reserve` tokens (the longest option, or the
    tokens to generate) fit. If the query alone does not fit, that is an error naming the example."""
    demos = list(demonstrations)
    dropped = 0
    while True:
        text = format_prompt(query, [pool[i] for i in demos], template, tokenizer, chat, fewshot_as_multiturn)
        if tokenizer is None:
            return Prompt(text, demos, dropped)
        length = prompt_length(tokenizer, text)
        if max_length is None or length + reserve <= max_length:
            return Prompt(text, demos, dropped, length)
        if not demos:
            raise InputError(f"{query.where}: the prompt without demonstrations is {length} tokens, and {reserve} more "
                             f"are needed for the answer, more than the model's context of {max_length}; the query is "
                             "never truncated (shorten the template or the description)")
        demos.pop(0)
        dropped += 1


def build_prompts(examples: Sequence[Example], template: PromptTemplate, num_fewshot: int = 0,
                  pool: Sequence[Example] | None = None, seed: int = 1234, sampler: str = "random", tokenizer=None,
                  max_length: int | None = None, reserve: int | Sequence[int] = 0, chat: bool = False,
                  fewshot_as_multiturn: bool = False) -> list[Prompt]:
    """One prompt per example, each with `num_fewshot` demonstrations drawn (in the order of `examples`, from one
    seeded sampler) from `pool` (default: the examples themselves, the query always excluded)."""
    pool = list(examples) if pool is None else list(pool)
    demo_sampler = DemonstrationSampler(pool, seed, sampler)
    reserves = [reserve] * len(examples) if isinstance(reserve, int) else list(reserve)
    prompts = []
    for example, extra in zip(examples, reserves):
        demos = demo_sampler.sample(num_fewshot, example)
        prompts.append(build_prompt(example, template, pool, demos, tokenizer, max_length, extra, chat,
                                    fewshot_as_multiturn))
    return prompts


__all__ = ["DemonstrationSampler", "Prompt", "PromptTemplate", "build_prompt", "build_prompts", "format_prompt",
           "prompt_length", "render", "render_choice"]
