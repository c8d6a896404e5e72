"""Translation with hf_models' Seq2Seq: the parallel-text readers and their errors (file and line named), tokenizers
trained with the tokenizers library (special-token ids, detokenizing decode, Korean), the local sacreBLEU metric against
sacrebleu itself, BLEU by source length, and the command lines training/run_translation.py and
eval/eval_translation.py end to end on a tiny synthetic reversal task (Korean words included)."""

from __future__ import annotations

import gzip
import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
from compat import group_by_length_args
import sacrebleu
from conftest import requires_shared_data, shared_data_dir

from hf_models.metrics import load_metric
from hf_models.tasks.translation import (
    ParallelDataError,
    TranslationScorer,
    bleu_by_length,
    bucket_names,
    build_tokenizer,
    check_special_tokens,
    corpus_bleu,
    decode_generated,
    load_translation_tokenizer,
    parse_length_buckets,
    read_lines,
    read_parallel,
)

WORDS = ["가", "나", "다", "라", "a", "b"]


def write(path: Path, lines: list[str], gz: bool = False) -> Path:
    text = "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def reversal_corpus(folder: Path, n: int, seed: int = 1) -> tuple[Path, Path]:
    """Source: 1-4 random words; target: the same words in reverse order."""
    rng = random.Random(seed)
    sources = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) for _ in range(n)]
    targets = [" ".join(reversed(s.split())) for s in sources]
    folder.mkdir(parents=True, exist_ok=True)
    return write(folder / "src.txt", sources), write(folder / "tgt.txt", targets)


# ----------------------------------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------------------------------
def test_read_parallel_plain_and_gzip_with_korean(tmp_path):
    source = write(tmp_path / "train.en.gz", ["I go to school.", "Hello, world!"], gz=True)
    target = write(tmp_path / "train.ko", ["나는 학교에 간다.", "안녕, 세상!"])
    (tmp_path / "crlf.ko").write_bytes("나는 학교에 간다.\r\n안녕, 세상!\r\n".encode())
    assert read_parallel(source, target) == (["I go to school.", "Hello, world!"], ["나는 학교에 간다.", "안녕, 세상!"])
    assert read_lines(tmp_path / "crlf.ko") == ["나는 학교에 간다.", "안녕, 세상!"]


def test_read_parallel_errors_name_file_and_line(tmp_path):
    source = write(tmp_path / "a.en", ["one", "two", "three"])
    target = write(tmp_path / "a.de", ["eins", "zwei"])
    with pytest.raises(ParallelDataError, match=r"a\.en has 3 lines but .*a\.de has 2.*line 3"):
        read_parallel(source, target)
    empty = write(tmp_path / "b.de", ["eins", "  ", "drei"])
    with pytest.raises(ParallelDataError, match=r"b\.de, line 2: empty line"):
        read_parallel(source, empty)
    assert read_lines(empty, allow_empty=True)[1] == "  "
    (tmp_path / "bad.de").write_bytes(b"gut\n\xff\xfe\n")
    with pytest.raises(ParallelDataError, match=r"bad\.de, line 2: not valid UTF-8"):
        read_lines(tmp_path / "bad.de")
    (tmp_path / "fake.gz").write_text("not gzip\n")
    with pytest.raises(ParallelDataError, match=r"fake\.gz: cannot be read"):
        read_lines(tmp_path / "fake.gz")
    with pytest.raises(FileNotFoundError, match="missing.en"):
        read_lines(tmp_path / "missing.en")
    (tmp_path / "unnamed.en").write_bytes(gzip.compress("I go.\nHello.\n".encode("utf-8")))
    assert read_lines(tmp_path / "unnamed.en") == ["I go.", "Hello."]  # gzip without .gz: read, not "not UTF-8"
    big = gzip.compress(("a sentence\n" * 20000).encode("utf-8"))
    for name, content in {"truncated.gz": big[: len(big) // 2], "corrupt.gz": big[:10] + b"\x00" * 40 + big[50:]}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ParallelDataError, match=rf"{name}: cannot be read"):
            read_lines(tmp_path / name)


# ----------------------------------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------------------------------
LINES = ["Two young, White males are outside.", "A dog's ball is red.", "나는 학교에 간다.", "나는 집에 간다."] * 4


@pytest.mark.parametrize("model", ["bpe", "wordlevel"])
def test_build_tokenizer_special_ids_and_detokenizing_decode(tmp_path, model):
    tokenizer = build_tokenizer(LINES, model=model, vocab_size=200, min_frequency=1)
    assert [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id] == [0, 1,
                                                                                                             2, 3]
    ids = tokenizer("나는 학교에 간다.")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids
    # decoding gives back the detokenized text: spaces and punctuation as written
    for line in LINES[:3]:
        assert tokenizer.decode(tokenizer(line)["input_ids"], skip_special_tokens=True) == line
    assert decode_generated(tokenizer, [[1] + ids[:-1] + [2, 0, -100]]) == ["나는 학교에 간다."]
    tokenizer.save_pretrained(tmp_path / "tok")
    reloaded = load_translation_tokenizer(tmp_path / "tok", "target")
    assert reloaded("Two young, White males")["input_ids"] == tokenizer("Two young, White males")["input_ids"]


def test_build_tokenizer_options_and_errors():
    lower = build_tokenizer(LINES, model="wordlevel", vocab_size=200, min_frequency=1, lowercase=True)
    assert lower.decode(lower("TWO Young")["input_ids"], skip_special_tokens=True) == "two young"
    small = build_tokenizer(LINES, model="wordlevel", vocab_size=200, min_frequency=9)  # only "." is seen 9+ times
    assert len(small) == 5
    assert small("나는.")["input_ids"] == [3, 4, 2]  # <unk> . </s>
    with pytest.raises(ValueError, match="--tokenizer_model"):
        build_tokenizer(LINES, model="unigram")
    with pytest.raises(ValueError, match="vocab_size"):
        build_tokenizer(LINES, vocab_size=3)
    with pytest.raises(ValueError, match="--min_frequency"):
        build_tokenizer(LINES, min_frequency=0)


def test_check_special_tokens_refuses_other_ids():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"<unk>": 0, "<pad>": 1, "<s>": 2, "</s>": 3}, unk_token="<unk>"))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>",
                                        eos_token="</s>", unk_token="<unk>")
    with pytest.raises(ValueError, match="mine: pad_token_id is 1, expected 0"):
        check_special_tokens(tokenizer, "mine")


# ----------------------------------------------------------------------------------------------------------------------
# BLEU
# ----------------------------------------------------------------------------------------------------------------------
HYPOTHESES = ["The cat sat on the mat.", "나는 학교에 간다.", "It is raining today", "a b c d e f"]
REFERENCES = ["The cat is on the mat.", "나는 학교에 갔다.", "Today it is raining.", "a b c d e f"]
REFERENCES_2 = ["There is a cat on the mat.", "나는 학교로 간다.", "It rains today.", "a b c d f e"]


@pytest.mark.parametrize(("tokenize", "lowercase"), [("13a", False), ("intl", True), ("char", False)])
def test_sacrebleu_metric_equals_sacrebleu(tokenize, lowercase):
    metric = load_metric("sacrebleu")
    ours = metric.compute(predictions=HYPOTHESES, references=[[a, b] for a, b in zip(REFERENCES, REFERENCES_2)],
                          tokenize=tokenize, lowercase=lowercase)
    theirs = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES, REFERENCES_2], tokenize=tokenize, lowercase=lowercase)
    assert ours["score"] == pytest.approx(theirs.score)
    assert 0.0 < ours["score"] < 100.0
    assert ours["counts"] == list(theirs.counts) and ours["totals"] == list(theirs.totals)
    assert ours["precisions"] == pytest.approx(list(theirs.precisions))
    assert (ours["bp"], ours["sys_len"], ours["ref_len"]) == (pytest.approx(theirs.bp), theirs.sys_len, theirs.ref_len)
    single = metric.compute(predictions=HYPOTHESES, references=REFERENCES)  # one reference string per sentence
    assert single["score"] == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score)


def test_sacrebleu_metric_errors():
    metric = load_metric("sacrebleu")
    with pytest.raises(ValueError, match="same number of references.*sentence 1 has 1"):
        metric.compute(predictions=HYPOTHESES[:2], references=[["a", "b"], ["c"]])
    with pytest.raises(ValueError, match="tokenize must be one of"):
        metric.compute(predictions=["a"], references=[["a"]], tokenize="moses")


def test_bleu_by_length_buckets():
    assert parse_length_buckets("10,15,20,25") == (10, 15, 20, 25)
    assert bucket_names((10, 15, 20, 25)) == ["1-10", "11-15", "16-20", "21-25", "26+"]
    for bad in ("10,5", "x", "0,3"):
        with pytest.raises(ValueError, match="--length_buckets"):
            parse_length_buckets(bad)
    sources = ["w " * 3, "w " * 10, "w " * 11, "w " * 30]  # 3, 10, 11 and 30 words
    rows = bleu_by_length(sources, HYPOTHESES, REFERENCES, bounds=(10, 15))
    assert [(r["bucket"], r["sentences"]) for r in rows] == [("1-10", 2), ("11-15", 1), ("16+", 1)]
    assert rows[0]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES[:2], [REFERENCES[:2]]).score)
    assert rows[2]["bleu"] == pytest.approx(100.0)
    assert rows[2]["max_words"] is None and rows[1]["min_words"] == 11
    empty = bleu_by_length(sources, HYPOTHESES, REFERENCES, bounds=(20, 25))
    assert empty[1] == {"bucket": "21-25", "min_words": 21, "max_words": 25, "sentences": 0, "bleu": None}


def test_translation_scorer_decodes_generated_ids():
    from types import SimpleNamespace

    tokenizer = build_tokenizer(LINES, model="wordlevel", vocab_size=200, min_frequency=1)
    references = ["나는 학교에 간다.", "A dog's ball is red."]
    generated = [[1, *tokenizer(r)["input_ids"]] for r in references]
    width = max(map(len, generated))
    generated = [g + [-100] * (width - len(g)) for g in generated]  # Trainer pads across batches with -100
    scorer = TranslationScorer(references, tokenizer)
    metrics = scorer(SimpleNamespace(predictions=generated, label_ids=None))
    assert scorer.predictions == references and metrics["bleu"] == pytest.approx(100.0)
    assert corpus_bleu(["완전히 다른 문장"], [references[0]])["score"] < 10.0


# ----------------------------------------------------------------------------------------------------------------------
# The command lines
# ----------------------------------------------------------------------------------------------------------------------
TINY = ["--tokenizer_model", "wordlevel", "--min_frequency", "1", "--embedding_size", "32", "--hidden_size", "48",
        "--encoder_layers", "1", "--decoder_layers", "1", "--dropout", "0", "--per_device_train_batch_size", "16",
        "--per_device_eval_batch_size", "32", "--learning_rate", "2e-2", "--predict_with_generate",
        "--generation_max_length", "8", "--use_cpu", "--report_to", "none", "--disable_tqdm", "true", "--seed", "0"]


def run_translation_cli(argv):
    from training import run_translation

    return run_translation.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by run_translation.py to reverse 1-4 words (train, eval and predict in one run)."""
    folder = tmp_path_factory.mktemp("translation")
    source, target = reversal_corpus(folder / "data", 96)
    out = folder / "run"
    metrics = run_translation_cli([
        "--train_source_file", source, "--train_target_file", target,
        "--validation_source_file", source, "--validation_target_file", target, "--max_eval_samples", 32,
        "--test_source_file", source, "--test_target_file", target, "--max_predict_samples", 16,
        "--num_train_epochs", 25, "--save_strategy", "no", "--do_train", "--do_eval", "--do_predict",
        "--length_buckets", "2,3",
        "--output_dir", out, *TINY,
    ])
    return source, target, out, metrics


def test_run_translation_trains_evaluates_and_writes_results(trained):
    _, target, out, metrics = trained
    assert metrics["eval_bleu"] > 80.0, metrics  # the reversal is learnt (an untrained model scores about 0)
    assert 0.0 <= metrics["predict_bleu"] <= 100.0 + 1e-9 and metrics["predict_samples"] == 16
    eval_results = json.loads((out / "eval_results.json").read_text(encoding="utf-8"))
    assert eval_results["eval_bleu"] == pytest.approx(metrics["eval_bleu"]) and eval_results["eval_samples"] == 32
    predictions = (out / "eval_generated_predictions.txt").read_text(encoding="utf-8").splitlines()
    references = read_lines(target)[:32]
    assert len(predictions) == 32
    assert sacrebleu.corpus_bleu(predictions, [references]).score == pytest.approx(metrics["eval_bleu"])
    assert len((out / "generated_predictions.txt").read_text(encoding="utf-8").splitlines()) == 16
    by_length = json.loads((out / "eval_bleu_by_length.json").read_text(encoding="utf-8"))
    assert [r["bucket"] for r in by_length] == ["1-2", "3-3", "4+"] and sum(r["sentences"] for r in by_length) == 32
    table = (out / "results.md").read_text(encoding="utf-8")
    assert table.count("translation en-de") == 2 and "bleu=" in table
    # the saved folder reloads: model and both tokenizers (ids 0-3 = <pad> <s> </s> <unk>)
    for side in ("source", "target"):
        tokenizer = load_translation_tokenizer(out / f"{side}_tokenizer", side)
        assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["<pad>", "<s>", "</s>", "<unk>"]
    assert json.loads((out / "config.json").read_text())["model_type"] == "hf_seq2seq"


def test_eval_translation_on_saved_model_and_on_predictions_file(trained, tmp_path):
    from eval import eval_translation

    source, target, out, metrics = trained
    greedy = eval_translation.main(["--model_name_or_path", str(out), "--source_file", str(source),
                                    "--reference_file", str(target), "--max_samples", "32", "--batch_size", "8",
                                    "--max_length", "8", "--use_cpu", "--output_dir", str(tmp_path / "greedy")])
    assert greedy["bleu"] == pytest.approx(metrics["eval_bleu"])  # same greedy search as the Trainer's
    assert greedy["sentences"] == 32 and len(greedy["counts"]) == 4
    reference_bleu = sacrebleu.BLEU()
    reference_bleu.corpus_score(["a"], [["a"]])
    assert greedy["bleu_signature"] == str(reference_bleu.get_signature())  # nrefs:1|case:mixed|...|tok:13a|...
    predictions = tmp_path / "greedy" / "generated_predictions.txt"
    assert len(predictions.read_text(encoding="utf-8").splitlines()) == 32
    beam = eval_translation.main(["--model_name_or_path", str(out), "--source_file", str(source),
                                  "--reference_file", str(target), "--max_samples", "32", "--num_beams", "3",
                                  "--length_penalty", "0.8", "--max_length", "8", "--use_cpu", "--plot",
                                  "--output_dir", str(tmp_path / "beam")])
    assert beam["num_beams"] == 3 and 80.0 < beam["bleu"] <= 100.0 + 1e-9  # beam search finds the reversal too
    assert (tmp_path / "beam" / "bleu_by_length.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "beam" / "translation_results.json").read_text(encoding="utf-8"))
    assert saved["bleu_by_length"][0]["sentences"] == 32 and saved["bleu"] == pytest.approx(beam["bleu"])

    scored = eval_translation.main(["--predictions_file", str(predictions), "--reference_file", str(target),
                                    "--max_samples", "32", "--output_dir", str(tmp_path / "file")])
    assert scored["bleu"] == pytest.approx(greedy["bleu"]) and "bleu_by_length" not in scored
    with_sources = eval_translation.main(["--predictions_file", str(predictions), "--reference_file", str(target),
                                          "--source_file", str(source), "--max_samples", "32",
                                          "--length_buckets", "2,3", "--output_dir", str(tmp_path / "by_length")])
    rows = with_sources["bleu_by_length"]
    assert [r["bucket"] for r in rows] == ["1-2", "3-3", "4+"] and sum(r["sentences"] for r in rows) == 32
    assert "| translation |" in (tmp_path / "file" / "results.md").read_text(encoding="utf-8")

    with pytest.raises(ValueError, match="already exists and is not empty"):
        eval_translation.main(["--predictions_file", str(predictions), "--reference_file", str(target),
                               "--output_dir", str(tmp_path / "file")])
    with pytest.raises(ValueError, match=r"generated_predictions\.txt has 32 lines but .*tgt\.txt has 96"):
        eval_translation.main(["--predictions_file", str(predictions), "--reference_file", str(target),
                               "--output_dir", str(tmp_path / "mismatch")])
    with pytest.raises(ValueError, match="exactly one of"):
        eval_translation.main(["--reference_file", str(target), "--output_dir", str(tmp_path / "none")])


def test_run_translation_resumes_and_refuses_foreign_folder(tmp_path, caplog):
    source, target = reversal_corpus(tmp_path / "data", 32, seed=2)
    out = tmp_path / "run"
    train = ["--do_train", "--train_source_file", source, "--train_target_file", target, "--save_strategy", "epoch",
             *TINY]
    common = [*train, "--output_dir", out]
    run_translation_cli([*common, "--num_train_epochs", 1])
    assert (out / "checkpoint-2").is_dir()
    vocab = (out / "target_tokenizer" / "tokenizer.json").read_text(encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hf_models"):
        # resumes from checkpoint-2 with the saved tokenizers: a new one would keep only 4 tokens at this frequency
        metrics = run_translation_cli([*common, "--num_train_epochs", 2, "--min_frequency", 1000])
    assert any("resuming training from" in r.getMessage() and "checkpoint-2" in r.getMessage()
               for r in caplog.records)
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and metrics["train_samples"] == 32
    assert (out / "target_tokenizer" / "tokenizer.json").read_text(encoding="utf-8") == vocab  # same vocabulary
    # an explicit checkpoint of another run: its run folder's tokenizers go with it into the new folder
    elsewhere = tmp_path / "elsewhere"
    run_translation_cli([*train, "--output_dir", elsewhere, "--num_train_epochs", 2, "--min_frequency", 1000,
                         "--resume_from_checkpoint", out / "checkpoint-2"])
    assert (elsewhere / "target_tokenizer" / "tokenizer.json").read_text(encoding="utf-8") == vocab

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty.*--overwrite_output_dir"):
        run_translation_cli(["--do_train", "--train_source_file", source, "--train_target_file", target,
                             "--output_dir", foreign, *TINY])
    assert (foreign / "notes.txt").read_text() == "mine"


def test_run_translation_argument_errors(tmp_path):
    source, target = reversal_corpus(tmp_path / "data", 8)
    model = ["--model_name_or_path", tmp_path / "model"]  # the errors come before the model is read
    with pytest.raises(ValueError, match="--do_eval needs --validation_target_file"):
        run_translation_cli(["--do_eval", "--validation_source_file", source, "--output_dir", tmp_path / "o", *model,
                             *TINY])
    no_generate = [a for a in TINY if a != "--predict_with_generate"]
    with pytest.raises(ValueError, match="add --predict_with_generate"):
        run_translation_cli(["--do_eval", "--validation_source_file", source, "--validation_target_file", target,
                             "--output_dir", tmp_path / "o", *model, *no_generate])
    short = write(tmp_path / "short.txt", ["가 나"])
    with pytest.raises(ParallelDataError, match=r"src\.txt has 8 lines but .*short\.txt has 1"):
        run_translation_cli(["--do_train", "--train_source_file", source, "--train_target_file", short,
                             "--output_dir", tmp_path / "o", *TINY])
    with pytest.raises(ValueError, match="without --do_train score a trained model: give --model_name_or_path"):
        run_translation_cli(["--do_eval", "--validation_source_file", source, "--validation_target_file", target,
                             "--output_dir", tmp_path / "o", *TINY])
    with pytest.raises(ValueError, match="--length_buckets"):
        run_translation_cli(["--do_train", "--train_source_file", source, "--train_target_file", target,
                             "--output_dir", tmp_path / "o", *TINY, "--length_buckets", "20,10"])
    with pytest.raises(ValueError, match="--tokenizer_model"):
        run_translation_cli(["--do_train", "--train_source_file", source, "--train_target_file", target,
                             "--output_dir", tmp_path / "o", *TINY, "--tokenizer_model", "unigram"])


@requires_shared_data
def test_multi30k_files_read_and_align():
    folder = shared_data_dir() / "multi30k"
    if not folder.is_dir():
        pytest.skip("multi30k not in ../shared/data")
    sources, targets = read_parallel(folder / "val.en.gz", folder / "val.de.gz")
    assert len(sources) == len(targets) > 1000
    tokenizer = build_tokenizer(targets, model="bpe", vocab_size=2000, min_frequency=2)
    assert tokenizer.decode(tokenizer(targets[0])["input_ids"], skip_special_tokens=True) == targets[0]


def test_run_translation_evaluates_a_saved_model(trained, tmp_path):
    source, target, out, metrics = trained
    args = ["--model_name_or_path", out, "--do_eval", "--validation_source_file", source,
            "--validation_target_file", target, "--max_eval_samples", 32, *TINY]
    again = run_translation_cli([*args, "--output_dir", tmp_path / "eval"])
    assert again["eval_bleu"] == pytest.approx(metrics["eval_bleu"])  # the saved model and tokenizers reload
    assert not (tmp_path / "eval" / "source_tokenizer").exists()  # evaluation saves no tokenizers
    with pytest.raises(ValueError, match="not empty"):  # an evaluation never writes into a non-empty folder
        run_translation_cli([*args, "--output_dir", tmp_path / "eval"])
    with pytest.raises(ValueError, match="has no source_tokenizer/ folder"):
        run_translation_cli([*args, "--model_name_or_path", tmp_path / "eval", "--output_dir", tmp_path / "e2"])


def test_translate_with_alignment_reads_the_reversal_off_the_attention(trained, tmp_path):
    """The reversal model's alignment is the anti-diagonal: output word t attends to source word n - t."""
    from hf_models.seq2seq import plot_attention
    from hf_models.tasks.translation import (
        load_saved_translator,
        translate,
        translate_with_alignment,
    )

    _, _, out, _ = trained
    model, source_tokenizer, target_tokenizer = load_saved_translator(str(out))
    sentence = "가 나 a"  # three different words of the corpus
    result = translate_with_alignment(model, source_tokenizer, target_tokenizer, sentence, num_beams=3)
    assert result["translation"] == translate(model, source_tokenizer, target_tokenizer, [sentence], num_beams=3,
                                              show_progress=False)[0]
    weights = result["attentions"]
    assert weights.shape == (len(result["target_tokens"]), len(result["source_tokens"]))
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)  # a distribution over the source per output token
    assert result["target_tokens"][-1] == "</s>"
    words = [i for i, token in enumerate(result["source_tokens"]) if token != "</s>"]
    assert result["translation"] == "a 나 가"  # the learnt reversal
    peaks = weights[: len(words)].argmax(axis=1).tolist()  # each output word looks at its source word
    assert peaks == words[::-1], (peaks, result["source_tokens"], result["target_tokens"])
    assert plot_attention(weights, result["source_tokens"], result["target_tokens"], tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_the_transformer_family_trains_and_scores_through_the_same_commands(tmp_path):
    """`--model_family transformer`: the same run_translation / eval_translation, a Transformer in the folder."""
    from eval import eval_translation

    from hf_models.tasks.translation import load_saved_translator, translate_with_alignment

    source, target = reversal_corpus(tmp_path / "data", 96)
    out = tmp_path / "run"
    tiny = list(TINY)
    del tiny[tiny.index("--embedding_size"):tiny.index("--embedding_size") + 2]  # the Transformer's width is d_model
    tiny[tiny.index("--learning_rate") + 1] = "5e-3"
    metrics = run_translation_cli([
        "--model_family", "transformer", "--num_attention_heads", 4, "--ffn_dim", 64, "--max_position_embeddings", 16,
        "--train_source_file", source, "--train_target_file", target, "--do_train", "--do_eval",
        "--validation_source_file", source, "--validation_target_file", target, "--max_eval_samples", 32,
        "--num_train_epochs", 30, "--save_strategy", "no", "--output_dir", out, *tiny,
        *group_by_length_args(),  # batches grouped by length: the translations still come back in order
    ])
    assert metrics["eval_bleu"] > 80.0, metrics  # the reversal is learnt, and scored against its own references
    assert json.loads((out / "config.json").read_text())["model_type"] == "hf_transformer"
    scored = eval_translation.main(["--model_name_or_path", str(out), "--source_file", str(source),
                                    "--reference_file", str(target), "--max_samples", "32", "--num_beams", "3",
                                    "--max_length", "8", "--use_cpu", "--output_dir", str(tmp_path / "beam")])
    assert scored["bleu"] > 80.0
    model, source_tokenizer, target_tokenizer = load_saved_translator(str(out))
    aligned = translate_with_alignment(model, source_tokenizer, target_tokenizer, "a b c", num_beams=2)
    assert len(aligned["cross_attentions"]) == 1 and aligned["cross_attentions"][0].shape[0] == 4  # layers, heads
    assert aligned["attentions"].shape == (len(aligned["target_tokens"]), len(aligned["source_tokens"]))
    assert len(aligned["encoder_self_attentions"]) == 1


def test_generated_lengths_stop_at_the_first_eos():
    """Beam search fills a finished row with </s>; the Trainer pads rows with -100: neither is a generated token."""
    import numpy as np

    from hf_models.tasks.translation import generated_lengths

    generated = np.array([[1, 5, 6, 2, 2, 2], [1, 7, 2, 0, 0, 0], [1, 8, 9, 10, -100, -100]])
    assert generated_lengths(generated, pad_token_id=0, eos_token_id=2).tolist() == [4, 3, 4]
