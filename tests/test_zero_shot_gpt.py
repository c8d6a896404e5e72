"""benchmarks/zero_shot_gpt.py and the local lm-evaluation-harness tasks (benchmarks/lm_eval_tasks): the rolling
windows of hf_models.tasks.causal_lm are lm_eval's own (when a Python with lm_eval is at hand; their brute-force
checks are in tests/test_causal_lm.py); WikiText is split into documents as EleutherAI/wikitext_document_level; the
tasks' copies of the document split, detokenizer and counts (lm_eval imports them without hf_models) equal the
package's on made-up text and the real file; the task YAMLs name lm_eval's prompts and metrics and functions that
exist. Real-data checks skip without ../shared/data."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import requires_shared_data, shared_data_dir

from benchmarks import zero_shot_gpt
from hf_models.tasks import causal_lm

ROOT = Path(__file__).resolve().parents[1]
TASKS_DIR = ROOT / "benchmarks" / "lm_eval_tasks"
LM_EVAL_PYTHON = os.environ.get("LM_EVAL_PYTHON", "/tmp/lmeval/bin/python")
utils = zero_shot_gpt._task_utils()


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
    scores = causal_lm.document_scores([-3.0, -5.0], [" a b ", "cc"])
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


def made_up_wikitext(seed: int, articles: int = 30) -> str:
    """Random WikiText-like text: top-level and section headings, WikiText's tokenisation marks, quotes, brackets,
    degrees, " N ", contractions, Korean, blank and whitespace-only lines, "\\r\\n" line ends."""
    rng = random.Random(seed)
    pieces = ["the", "cat", "@-@", "@,@", "@.@", ",", ".", ":", ";", "!", "?", "(", ")", "[", "]", "{", "}", '"', "'",
              "s '", "'s", "N", chr(176), "1", "000", "한국어", "문장", "=", "= =", "= = = = =", "<unk>", "Alpha", "/' 3/", "é"]
    lines = [" "] if rng.random() < 0.5 else []
    for _ in range(articles):
        lines += [f" = {rng.choice(['Alpha', 'Beta', '한국'])} = ", " "]
        for _ in range(rng.randrange(1, 6)):
            kind = rng.random()
            if kind < 0.2:
                lines.append(f" {'= ' * rng.randrange(2, 5)}Section {'= ' * rng.randrange(2, 5)}")
            elif kind < 0.3:
                lines.append(rng.choice(["", " ", "  \t"]))
            else:
                lines.append(" " + " ".join(rng.choice(pieces) for _ in range(rng.randrange(1, 25))) + " ")
    return "\r\n".join(lines) + rng.choice(["", "\n", " \n \n"])


def assert_task_utils_equal_the_package(path: Path):
    pages = [d["page"] for d in utils.read_wikitext_documents(path)]
    assert pages == causal_lm.read_documents(path, "wikitext")
    for page in pages:
        assert utils.wikitext_detokenizer({"page": page}) == causal_lm.wikitext_detokenizer(page)
        assert utils.count_words(page) == causal_lm.count_words(page)
        assert utils.count_bytes(page) == causal_lm.count_bytes(page)
    ll = [-1.5 - i for i in range(len(pages))]
    per_doc = [utils.process_results({"page": page}, [x]) for page, x in zip(pages, ll)]
    words, num_bytes = sum(r["word_perplexity"][1] for r in per_doc), sum(r["byte_perplexity"][1] for r in per_doc)
    scores = causal_lm.document_scores(ll, pages)
    assert (scores["words"], scores["bytes"]) == (words, num_bytes)
    assert scores["word_perplexity"] == math.exp(-sum(ll) / words)
    return pages


def test_task_utils_equal_the_packages_functions(tmp_path):
    """benchmarks/lm_eval_tasks/utils.py keeps its own copies (lm_eval imports it without hf_models): the documents,
    detokenised pages and counts must be the package's (`--task documents`), on made-up WikiText-like text."""
    text = made_up_wikitext(0) + WIKITEXT
    path = tmp_path / "wiki.txt"
    path.write_bytes(text.encode("utf-8"))
    assert len(assert_task_utils_equal_the_package(path)) > 30
    for seed in range(1, 40):
        text = made_up_wikitext(seed, articles=3)
        assert utils.split_wikitext_documents(text) == causal_lm.split_wikitext_documents(text)
        for page in utils.split_wikitext_documents(text):
            assert utils.wikitext_detokenizer({"page": page}) == causal_lm.wikitext_detokenizer(page)


@requires_shared_data
def test_task_utils_equal_the_packages_functions_on_wikitext2():
    assert len(assert_task_utils_equal_the_package(shared_data_dir() / "wikitext2" / "test.txt")) == 62


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
        assert [list(w) for w in causal_lm.rolling_token_windows(tokens, 7, max_length)] == expected
    assert report["same"]
    if wiki:
        assert report["sizes"] == {"lambada_openai_local": 5153, "wikitext_local": 62}


# ----------------------------------------------------------------------------------------------------------------------
# A cut run continues
# ----------------------------------------------------------------------------------------------------------------------
WORDS = "the a man woman dog saw walked into house big red small with ran".split()


@pytest.fixture(scope="module")
def tiny_zero_shot_inputs(tmp_path_factory):
    """A tiny hf_gpt folder with a word tokenizer, a LAMBADA file of 7 passages, a WikiText file of 3 documents."""
    import random as _random

    import torch

    from hf_models import GPTConfig, GPTForCausalLM
    from hf_models.tasks.causal_lm import train_word_tokenizer

    folder = tmp_path_factory.mktemp("zero_shot")
    tokenizer = train_word_tokenizer([" ".join(WORDS)])
    torch.manual_seed(0)
    GPTForCausalLM(GPTConfig(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=2, n_head=2,
                             bos_token_id=None, eos_token_id=None)).save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    rng = _random.Random(0)
    lambada = folder / "lambada.jsonl"
    lambada.write_text("".join(json.dumps({"text": " ".join(rng.choices(WORDS, k=rng.randint(4, 9)))}) + "\n"
                               for _ in range(7)))
    wiki = folder / "wiki.txt"
    wiki.write_text("".join(f" \n = Title {i} = \n \n {' '.join(rng.choices(WORDS, k=30))} . \n \n" for i in range(3)))
    return folder


def zero_shot_args(inputs, work, *extra):
    return ["--hf_gpt_model", str(inputs / "model"), "--lambada_file", str(inputs / "lambada.jsonl"),
            "--wikitext_file", str(inputs / "wiki.txt"), "--runs", "hf_models", "--max_length", "8",
            "--lambada_slice", "3", "--wikitext_slice", "2", "--work_dir", str(work), "--threads", "1", *extra]


def test_a_cut_run_continues_from_its_saved_slices(tiny_zero_shot_inputs, tmp_path, monkeypatch):
    """The hf_models run scores in slices saved to the work folder: a run cut after its first slices continues
    from them, and gives the results of a run that was never cut (and of one without slices)."""
    inputs = tiny_zero_shot_inputs
    whole = zero_shot_gpt.main(zero_shot_args(inputs, tmp_path / "w0", "--no_resume", "--output",
                                              str(tmp_path / "whole.json")))
    assert not (tmp_path / "w0").exists()
    from hf_models.tasks import causal_lm as module

    real, calls = module.score_lambada, []

    class Cut(Exception):
        """The run is killed."""

    def cut_after_two_slices(*args, **kwargs):
        calls.append(len(args[2]))
        if len(calls) == 3:
            raise Cut
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "score_lambada", cut_after_two_slices)
    with pytest.raises(Cut):
        zero_shot_gpt.main(zero_shot_args(inputs, tmp_path / "w", "--output", str(tmp_path / "cut.json")))
    assert calls == [3, 3, 1] and not (tmp_path / "cut.json").exists()
    (folder,) = (tmp_path / "w").iterdir()
    assert sorted(p.name for p in (folder / "hf_models" / "lambada").iterdir()) == ["00000-00002.json",
                                                                                  "00003-00005.json"]
    calls.clear()
    resumed = zero_shot_gpt.main(zero_shot_args(inputs, tmp_path / "w", "--output", str(tmp_path / "cut.json")))
    assert calls == [1]  # only the slice that was not done
    lam, wiki = resumed["runs"]["hf_models"]["tasks"]["lambada"], resumed["runs"]["hf_models"]["tasks"]["wikitext"]
    assert lam["slices_reused"] == 2 and wiki["slices_reused"] == 0 and wiki["documents"] == 3
    for task in ("lambada", "wikitext"):
        expected = whole["runs"]["hf_models"]["tasks"][task]
        for key, value in expected.items():
            if key in ("seconds", "slices_reused"):
                continue
            if key == "per_example":
                flat = lambda rows: [x for row in rows for x in (row if isinstance(row, list) else [row])]
                assert flat(lam[key] if task == "lambada" else wiki[key]) == pytest.approx(flat(value), rel=1e-5)
            else:
                assert (lam if task == "lambada" else wiki)[key] == pytest.approx(value, rel=1e-5), key
    monkeypatch.undo()
    # one slice of everything: the same as the slices
    single = zero_shot_gpt.main(zero_shot_args(inputs, tmp_path / "w1", "--lambada_slice", "100", "--wikitext_slice",
                                               "100", "--output", str(tmp_path / "single.json")))
    assert single["runs"]["hf_models"]["tasks"]["lambada"]["acc"] == lam["acc"]
    assert single["runs"]["hf_models"]["tasks"]["wikitext"]["word_perplexity"] == pytest.approx(
        wiki["word_perplexity"], rel=1e-5)
    # other settings: another folder, nothing reused
    assert len(list((tmp_path / "w").iterdir())) == 1
    zero_shot_gpt.main(zero_shot_args(inputs, tmp_path / "w", "--max_length", "6", "--tasks", "lambada",
                                      "--output", str(tmp_path / "other.json")))
    assert len(list((tmp_path / "w").iterdir())) == 2


def test_lm_eval_runs_keep_their_answers_in_the_work_folder(tmp_path):
    args = zero_shot_gpt.argparse.Namespace(
        dtype="float32", max_length=2048, lambada_limit=None, wikitext_limit=None, lambada_batch_size=8,
        wikitext_batch_size=1, lm_eval_python="python", device="cpu", llama_model="/m", hf_gpt_model="/g", threads=1,
        lambada_file=str(zero_shot_gpt.DEFAULT_DATA / "lambada" / "lambada_test.jsonl"),
        wikitext_file=str(zero_shot_gpt.DEFAULT_DATA / "wikitext2" / "test.txt"))
    cmd = zero_shot_gpt.lm_eval_command(args, "lambada", "/m", False, "/out", tmp_path / "cache")
    assert cmd[cmd.index("--use_cache") + 1] == str(tmp_path / "cache")
    assert "--use_cache" not in zero_shot_gpt.lm_eval_command(args, "lambada", "/m", False, "/out")
    # a finished task is read back, not run again
    (tmp_path / "lm_eval_llama").mkdir()
    (tmp_path / "lm_eval_llama" / "lambada.json").write_text(json.dumps({"acc": 0.5, "per_example": [[-1.0, True]]}))
    result = zero_shot_gpt.run_lm_eval(args, "lm_eval_llama", ["lambada"], tmp_path)
    assert result["tasks"]["lambada"] == {"acc": 0.5, "per_example": [[-1.0, True]], "reused": True}
