"""benchmarks/zero_shot_gpt.py and the local lm-evaluation-harness tasks (benchmarks/lm_eval_tasks): lm_eval's
rolling-window log-likelihood equals a brute-force, one-forward-per-token sum on a tiny random GPT for a text longer
than the window; the windows are lm_eval's (a hand-derived case, and lm_eval's own functions when a Python with
lm_eval is at hand); WikiText is split into documents as EleutherAI/wikitext_document_level; the task YAMLs name
lm_eval's prompts and metrics and functions that exist. Real-data checks skip without ../shared/data."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from conftest import requires_shared_data, shared_data_dir

from benchmarks import zero_shot_gpt
from hf_models.gpt import GPTConfig, GPTForCausalLM

ROOT = Path(__file__).resolve().parents[1]
TASKS_DIR = ROOT / "benchmarks" / "lm_eval_tasks"
LM_EVAL_PYTHON = os.environ.get("LM_EVAL_PYTHON", "/tmp/lmeval/bin/python")
utils = zero_shot_gpt._task_utils()


def tiny_gpt(vocab_size: int = 50, n_positions: int = 32, seed: int = 0) -> GPTForCausalLM:
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=vocab_size, n_positions=n_positions, n_embd=16, n_layer=2, n_head=2,
                       embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.2,
                       bos_token_id=1, eos_token_id=2)
    return GPTForCausalLM(config).eval()


# ----------------------------------------------------------------------------------------------------------------------
# Rolling windows
# ----------------------------------------------------------------------------------------------------------------------
def test_rolling_windows_are_lm_evals():
    # derived by hand from lm_eval.utils.get_rolling_token_windows(context_len=1) + make_disjoint_window +
    # _loglikelihood_tokens' input (context + continuation)[-(max_length + 1):][:-1]
    assert zero_shot_gpt.rolling_token_windows([11, 12, 13, 14, 15, 16, 17], 0, 3) == [
        ([0, 11, 12], [11, 12, 13]),
        ([13, 14, 15], [14, 15, 16]),
        ([14, 15, 16], [17]),  # the last, short window keeps a full max_length input
    ]
    assert zero_shot_gpt.rolling_token_windows([5, 6], 9, 4) == [([9, 5], [5, 6])]
    assert zero_shot_gpt.rolling_token_windows([], 9, 4) == []
    for n in range(1, 30):
        windows = zero_shot_gpt.rolling_token_windows(list(range(100, 100 + n)), 0, 4)
        assert [t for _, targets in windows for t in targets] == list(range(100, 100 + n))  # each token once
        assert all(len(inputs) <= 4 and len(targets) <= len(inputs) for inputs, targets in windows)


def brute_force_loglikelihood(model, tokens: list[int], prefix: int, max_length: int) -> float:
    """Each token scored by its own forward pass over the context lm_eval's rolling windows give it: tokens
    0..L-1 see [prefix] + every token before them; a later token i, in the window whose targets end at
    end = min(L * (i // L + 1), n), sees tokens[end - L - 1: i]."""
    n, total = len(tokens), 0.0
    for i, token in enumerate(tokens):
        if i < max_length:
            context = [prefix] + tokens[:i]
        else:
            end = min(max_length * (i // max_length + 1), n)
            context = tokens[end - max_length - 1: i]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([context])).logits[0, -1]
        total += torch.log_softmax(logits.double(), dim=-1)[token].item()
    return total


@pytest.mark.parametrize("length,batch_size", [(23, 1), (24, 3), (5, 2)])
def test_rolling_loglikelihood_equals_brute_force(length, batch_size):
    model = tiny_gpt()
    rng = random.Random(length)
    tokens = [rng.randrange(3, 50) for _ in range(length)]
    max_length = 8
    result = zero_shot_gpt.rolling_loglikelihood(model, tokens, max_length, prefix_token_id=1, batch_size=batch_size)
    expected = brute_force_loglikelihood(model, tokens, 1, max_length)
    assert result["tokens"] == length
    assert result["windows"] == math.ceil(length / max_length)
    assert result["loglikelihood"] == pytest.approx(expected, rel=1e-5, abs=1e-5)
    # the prefix comes from the config's bos token when not given
    assert zero_shot_gpt.rolling_loglikelihood(model, tokens, max_length)["loglikelihood"] == \
        pytest.approx(result["loglikelihood"], rel=1e-6)


def test_rolling_loglikelihood_of_a_text_that_fits_is_one_forward_pass():
    model = tiny_gpt()
    tokens = [7, 8, 9, 10, 11, 12]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[1] + tokens[:-1]])).logits[0]
    expected = torch.log_softmax(logits.double(), -1).gather(-1, torch.tensor(tokens)[:, None]).sum().item()
    assert zero_shot_gpt.rolling_loglikelihood(model, tokens, 16, 1)["loglikelihood"] == pytest.approx(expected,
                                                                                                       rel=1e-6)


def test_prefix_token_is_lm_evals():
    class Tok:
        bos_token_id, eos_token_id = None, 2

    assert zero_shot_gpt.lm_eval_prefix_token_id(Tok()) == 2
    Tok.bos_token_id = 1
    assert zero_shot_gpt.lm_eval_prefix_token_id(Tok()) == 1
    Tok.bos_token_id = Tok.eos_token_id = None
    with pytest.raises(ValueError, match="neither a bos nor an eos"):
        zero_shot_gpt.lm_eval_prefix_token_id(Tok())


# ----------------------------------------------------------------------------------------------------------------------
# WikiText documents, detokenizer, counts
# ----------------------------------------------------------------------------------------------------------------------
WIKITEXT = (" \n = Alpha = \n \n Alpha is a test @-@ case , with 1 @,@ 000 words . \n \n = = Early life = = \n \n"
            " It began in 1990 . \n \n = = = Details = = = \n One more line \n \n = Beta = \n \n Beta ( the second ) "
            "is \" short \" . \n \n")


def test_wikitext_split_into_documents():
    documents = utils.split_wikitext_documents(WIKITEXT)
    assert documents == [
        (" = Alpha = \n \n Alpha is a test @-@ case , with 1 @,@ 000 words . \n \n = = Early life = = \n \n"
         " It began in 1990 . \n \n = = = Details = = = \n One more line \n "),  # the leading " " line is dropped
        " = Beta = \n \n Beta ( the second ) is \" short \" . \n \n",  # the last document keeps its final ""
    ]
    assert utils.split_wikitext_documents("") == [""]  # the last document is always kept, as the dataset script
    assert utils.split_wikitext_documents(" = A = \n x \n = B = \n y") == [" = A = \n x ", " = B = \n y"]


def test_wikitext_detokenizer_and_counts():
    beta = {"page": " = Beta = \n \n Beta ( the second ) is \" short \" . \n \n"}
    assert utils.wikitext_detokenizer(beta) == " = Beta =\n\nBeta (the second) is \"short\".\n\n"
    alpha = {"page": " Alpha is a test @-@ case , with 1 @,@ 000 words . \n = = Early = = \n"}
    assert utils.wikitext_detokenizer(alpha) == " Alpha is a test-case, with 1,000 words.\n== Early ==\n"
    # the words and bytes of the page before detokenization, re.split(r"\s+") with its empty ends
    assert utils.count_words(" a b \n c ") == 5
    assert utils.count_bytes("é a") == 4
    assert utils.process_results({"page": " a b "}, [-3.0]) == {"word_perplexity": (-3.0, 4),
                                                                "byte_perplexity": (-3.0, 5),
                                                                "bits_per_byte": (-3.0, 5)}
    scores = zero_shot_gpt.wikitext_scores([-3.0, -5.0], [" a b ", "cc"])
    assert scores["word_perplexity"] == pytest.approx(math.exp(8.0 / 5))
    assert scores["byte_perplexity"] == pytest.approx(math.exp(8.0 / 7))
    assert scores["bits_per_byte"] == pytest.approx(8.0 / 7 / math.log(2))


def test_local_datasets_load_from_files(tmp_path):
    wiki = tmp_path / "wiki.test.tokens"
    wiki.write_text(WIKITEXT, encoding="utf-8")
    dataset = utils.load_wikitext_document_level(data_file=str(wiki), version=2.0)
    assert list(dataset) == ["test"] and dataset["test"]["page"] == utils.split_wikitext_documents(WIKITEXT)
    # lm_eval's --metadata '{"wikitext_file": ...}' wins over the YAML's data_file
    other = tmp_path / "other.txt"
    other.write_text(" = Only = \n text \n", encoding="utf-8")
    assert len(utils.load_wikitext_document_level(data_file=str(wiki), wikitext_file=str(other))["test"]) == 1

    lambada = tmp_path / "lambada.jsonl"
    lambada.write_text(json.dumps({"text": "He said \"hi\" to\nher friend Anna"}) + "\n\n", encoding="utf-8")
    assert utils.load_lambada_openai(data_file=str(lambada))["test"]["text"] == ["He said \"hi\" to\nher friend Anna"]
    lambada.write_text('{"text": "ok"}\n{"txt": "no"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"lambada.jsonl, line 2: no string field 'text'"):
        utils.load_lambada_openai(data_file=str(lambada))
    with pytest.raises(FileNotFoundError, match="missing.jsonl: no such file"):
        utils.load_lambada_openai(data_file=str(tmp_path / "missing.jsonl"))


@requires_shared_data
def test_real_wikitext2_test_documents():
    pages = [d["page"] for d in utils.read_wikitext_documents(shared_data_dir() / "wikitext2" / "test.txt")]
    assert len(pages) == 62  # the number of test rows of EleutherAI/wikitext_document_level (wikitext-2 configs)
    assert pages[0].startswith(" = Robert <unk> = \n") and pages[1].startswith(" = Du Fu = \n")
    assert "".join(p + "\n" for p in pages[:-1]) + pages[-1] == \
        (shared_data_dir() / "wikitext2" / "test.txt").read_text(encoding="utf-8")[len(" \n"):]


# ----------------------------------------------------------------------------------------------------------------------
# The task YAMLs
# ----------------------------------------------------------------------------------------------------------------------
class _TaskLoader(yaml.SafeLoader):
    pass


_TaskLoader.add_constructor("!function", lambda loader, node: ("!function", loader.construct_scalar(node)))


def load_task(name: str) -> dict:
    return yaml.load((TASKS_DIR / f"{name}.yaml").read_text(encoding="utf-8"), Loader=_TaskLoader)


def test_task_yamls_are_lm_evals_tasks_on_local_files():
    lambada = load_task("lambada_openai_local")
    assert lambada["task"] == "lambada_openai_local" and lambada["output_type"] == "loglikelihood"
    assert lambada["doc_to_text"] == "{{text.split(' ')[:-1]|join(' ')}}"
    assert lambada["doc_to_target"] == "{{' '+text.split(' ')[-1]}}"
    assert [m["metric"] for m in lambada["metric_list"]] == ["perplexity", "acc"]
    assert lambada["metric_list"][0]["aggregation"] == "perplexity"
    wikitext = load_task("wikitext_local")
    assert wikitext["task"] == "wikitext_local" and wikitext["output_type"] == "loglikelihood_rolling"
    assert [m["metric"] for m in wikitext["metric_list"]] == ["word_perplexity", "byte_perplexity", "bits_per_byte"]
    for task, loader in ((lambada, "load_lambada_openai"), (wikitext, "load_wikitext_document_level")):
        assert task["custom_dataset"] == ("!function", f"utils.{loader}")
        assert task["test_split"] == "test"
        # the default data file resolves against the repository root
        relative = task["dataset_kwargs"]["data_file"]
        assert (ROOT / relative).resolve() == (shared_data_dir() / Path(relative).relative_to("../shared/data"))\
            .resolve()
    functions = [v[1] for task in (lambada, wikitext) for v in task.values() if isinstance(v, tuple)]
    assert sorted(functions) == ["utils.load_lambada_openai", "utils.load_wikitext_document_level",
                                 "utils.process_results", "utils.wikitext_detokenizer"]
    for function in functions:
        assert callable(getattr(utils, function.split(".")[1]))


# ----------------------------------------------------------------------------------------------------------------------
# Against lm_eval itself (a Python with lm-evaluation-harness: $LM_EVAL_PYTHON, default /tmp/lmeval/bin/python)
# ----------------------------------------------------------------------------------------------------------------------
LM_EVAL_CHECK = r"""
import json, random, sys
sys.path.insert(0, sys.argv[1])
import utils as local
from lm_eval import utils as lm_utils
from lm_eval.tasks.wikitext import preprocess_wikitext as original
from lm_eval.tasks import TaskManager
rng = random.Random(0)
windows = []
for _ in range(200):
    tokens = [rng.randrange(1000) for _ in range(rng.randrange(0, 60))]
    L = rng.randrange(1, 12)
    out = []
    for context, continuation in map(lm_utils.make_disjoint_window,
                                     lm_utils.get_rolling_token_windows(tokens, 7, L, 1)):
        out.append([(context + continuation)[-(L + 1):][:-1], continuation])
    windows.append([tokens, L, out])
docs = local.read_wikitext_documents(sys.argv[2]) if sys.argv[2] else [{"page": sys.argv[3]}]
same = all(local.wikitext_detokenizer(d) == original.wikitext_detokenizer(d) and
           local.process_results(d, [-1.5]) == original.process_results(d, [-1.5]) for d in docs)
manager = TaskManager(include_path=sys.argv[1])
tasks = manager.load_task_or_group(["lambada_openai_local", "wikitext_local"])
sizes = {name: len(list(task.test_docs())) for name, task in tasks.items()} if sys.argv[2] else {}
print(json.dumps({"windows": windows, "same": same, "sizes": sizes}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(LM_EVAL_PYTHON), reason=f"no Python with lm_eval at {LM_EVAL_PYTHON} "
                                                               "(set LM_EVAL_PYTHON)")
def test_against_lm_eval_itself():
    data = shared_data_dir()
    wiki = str(data / "wikitext2" / "test.txt") if data.is_dir() else ""
    proc = subprocess.run([LM_EVAL_PYTHON, "-c", LM_EVAL_CHECK, str(TASKS_DIR), wiki, WIKITEXT], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for tokens, max_length, expected in report["windows"]:
        assert [list(w) for w in zero_shot_gpt.rolling_token_windows(tokens, 7, max_length)] == expected
    assert report["same"]
    if wiki:
        assert report["sizes"] == {"lambada_openai_local": 5153, "wikitext_local": 62}
