"""Fault injection: kills at the save points, full disks, read-only folders, two runs into one folder, and a run that
fails; each command either does what it says or stops with one clear line (exit status 2), and nothing saved is lost.

The commands run as subprocesses through `tests/fault_injection.py`, which kills the process (SIGKILL: no Python
cleanup) at a chosen call of a writer, or pauses it until a file appears, so that the faults land at exact points,
not after sleeps. A full disk is a tiny tmpfs where the platform lets an unprivileged user namespace mount one, and
a file size limit (RLIMIT_FSIZE: the same "no room" error from the kernel) everywhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAULTS = REPO / "tests" / "fault_injection.py"
TRAIN_RNN_LM = REPO / "training" / "train_rnn_lm.py"
PRETRAIN = REPO / "training" / "pretrain.py"
TRAIN_NGRAM = REPO / "training" / "train_ngram.py"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="kills, locks and file limits as Linux has them")


def run(script: Path, args: list, *, kill: str | None = None, pause: str | None = None, flag: Path | None = None,
        file_size_limit: int | None = None, wrapper: list[str] | None = None, background: bool = False,
        timeout: int = 300):
    """`python SCRIPT ARGS` through the fault injector; the fault as in tests/fault_injection.py."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("HF_MODELS_TRACEBACK", None)
    for name, value in (("HF_MODELS_FAULT_KILL", kill), ("HF_MODELS_FAULT_PAUSE", pause),
                        ("HF_MODELS_FAULT_FLAG", flag)):
        if value is not None:
            env[name] = str(value)

    def limit():
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    command = [*(wrapper or []), sys.executable, str(FAULTS), str(script), *map(str, args)]
    if background:
        return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=limit)
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit, check=False)


def ok(result) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def one_line_error(result, script: Path, *fragments: str) -> str:
    """The run stopped with exit status 2 and one line `SCRIPT: error: ...` holding `fragments`, no traceback."""
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{script.name}: error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def killed(result) -> None:
    assert result.returncode == -9, f"exit {result.returncode} (expected the injected kill)\n{result.stderr[-3000:]}"


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` (but the run's lock) with the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".hf_models.lock"}


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# ----------------------------------------------------------------------------------------------------------------------
# Data and commands
# ----------------------------------------------------------------------------------------------------------------------
SENTENCES = ["the cat sat on the mat", "a dog ran in the park", "나는 학교에 간다 오늘", "the dog sat in the sun",
             "a cat ran on the grass", "그는 집에 간다 내일"]


@pytest.fixture
def lm_files(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(SENTENCES * 12) + "\n", encoding="utf-8")
    valid = tmp_path / "valid.txt"
    valid.write_text("\n".join(SENTENCES[::-1] * 2) + "\n", encoding="utf-8")
    return train, valid


def rnn_args(lm_files, out: Path, *extra) -> list:
    train, valid = lm_files
    return ["--train_file", train, "--validation_file", valid, "--output_dir", out, "--embedding_size", 8,
            "--hidden_size", 8, "--num_layers", 1, "--epochs", 3, "--bptt", 5, "--batch_size", 2,
            "--eval_batch_size", 2, "--lr", 5, "--dropout", 0.1, "--disable_tqdm", "--log_level", "warning", *extra]


def write_corpus(path: Path) -> Path:
    documents = ["\n".join(s + " ." for s in SENTENCES[i:] + SENTENCES[:i]) for i in range(6)] * 3
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


def pretrain_args(corpus: Path, out: Path, *extra) -> list:
    return ["--train_files", corpus, "--output_dir", out, "--vocab_size", 120, "--max_seq_length", 24,
            "--hidden_size", 16, "--num_hidden_layers", 1, "--num_attention_heads", 2, "--intermediate_size", 32,
            "--do_train", "--validation_split_percentage", 20, "--per_device_train_batch_size", 4,
            "--learning_rate", "5e-3", "--max_steps", 6, "--save_steps", 3, "--logging_steps", 3, "--use_cpu",
            "--seed", 0, "--disable_tqdm", "true", "--report_to", "none", *extra]


# ----------------------------------------------------------------------------------------------------------------------
# Kills at the save points
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "kill",
    [
        # the second epoch's weights half-written inside last_epoch.tmp
        r"safetensors.save_file:last_epoch\.tmp/model\.safetensors$:2",
        # between the two renames of the second epoch's swap: last_epoch.old holds epoch 1, last_epoch is missing
        r"os.replace:last_epoch$:2",
    ],
    ids=["during-weights", "between-renames"],
)
def test_rnn_lm_resume_after_a_kill_during_the_epoch_save_equals_the_uninterrupted_run(tmp_path, lm_files, kill):
    reference = tmp_path / "reference"
    ok(run(TRAIN_RNN_LM, rnn_args(lm_files, reference)))
    out = tmp_path / "run"
    killed(run(TRAIN_RNN_LM, rnn_args(lm_files, out), kill=kill))
    resumed = ok(run(TRAIN_RNN_LM, rnn_args(lm_files, out, "--resume")))
    if "replace" in kill:
        assert "resuming from the previous complete one" in resumed.stdout + resumed.stderr
    expected = json.loads((reference / "train_results.json").read_text(encoding="utf-8"))["epochs"]
    history = json.loads((out / "train_results.json").read_text(encoding="utf-8"))["epochs"]
    for row, want in zip(history, expected, strict=True):  # step for step the same training, not a different one
        assert {k: row[k] for k in ("epoch", "lr", "train_loss", "valid_loss")} == \
            {k: want[k] for k in ("epoch", "lr", "train_loss", "valid_loss")}
    assert (out / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    assert not list(out.glob("last_epoch.*")) and not list(out.glob(".hf_models-*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill, reason",
    [
        (r"torch.save:checkpoint-6/optimizer\.pt$", "trainer_state.json, written last, is missing"),
        (r"safetensors.save_file:checkpoint-6/.*model\.safetensors$", "trainer_state.json, written last, is missing"),
    ],
    ids=["during-optimizer", "during-weights"],
)
def test_trainer_rerun_after_a_kill_during_a_checkpoint_resumes_from_the_last_complete_one(tmp_path, kill, reason):
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "run"
    killed(run(PRETRAIN, pretrain_args(corpus, out), kill=kill))
    assert (out / "checkpoint-3" / "trainer_state.json").is_file() and (out / "checkpoint-6").is_dir()
    rerun = ok(run(PRETRAIN, pretrain_args(corpus, out)))
    log = rerun.stdout + rerun.stderr
    assert f"Skipping {out / 'checkpoint-6'}, which is not complete ({reason}" in log
    assert f"resuming training from {out / 'checkpoint-3'}" in log
    assert (out / "incomplete-checkpoint-6").is_dir()  # set aside, out of the Trainer's way
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == 6 and (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_ngram_arpa_is_never_left_truncated_by_a_kill(tmp_path, lm_files):
    out = tmp_path / "ngram"
    args = ["--train_file", lm_files[0], "--order", 3, "--arpa", "--output_dir", out, "--disable_tqdm"]
    killed(run(TRAIN_NGRAM, args, kill=r"os.replace:model\.arpa$"))  # the ARPA file written, about to be renamed
    assert not (out / "model.arpa").exists()  # not there at all rather than cut short
    ok(run(TRAIN_NGRAM, [*args, "--overwrite_output_dir"]))
    assert (out / "model.arpa").read_text(encoding="utf-8").rstrip().endswith("\\end\\")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".hf_models-staging")]


# ----------------------------------------------------------------------------------------------------------------------
# Full disks and read-only folders
# ----------------------------------------------------------------------------------------------------------------------
def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt && echo ok"],
                           capture_output=True, text=True, check=False)
    return probe.stdout.strip() == "ok"


CAN_MOUNT = _can_mount_tmpfs()


def in_tmpfs(folder: Path, options: str) -> list[str]:
    """A wrapper that runs the command in a user namespace where `folder` is a fresh tmpfs mounted with `options`."""
    return ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o {options} tmpfs "{folder}" && exec "$@"', "sh"]


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_no_truncated_file(tmp_path, lm_files):
    """RLIMIT_FSIZE: every write past the limit fails with EFBIG, as a full disk fails with ENOSPC."""
    out = tmp_path / "ngram"
    args = ["--train_file", lm_files[0], "--order", 3, "--arpa", "--output_dir", out, "--disable_tqdm"]
    ok(run(TRAIN_NGRAM, args))
    arpa_size = (out / "model.arpa").stat().st_size
    shutil.rmtree(out)
    result = run(TRAIN_NGRAM, args, file_size_limit=arpa_size - 100)  # room for everything but the ARPA file
    one_line_error(result, TRAIN_NGRAM, "no room left on the device while writing", str(out))
    assert not (out / "model.arpa").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or ".hf_models-staging" in str(p)]


@pytest.mark.slow
@pytest.mark.skipif(not CAN_MOUNT, reason="this platform does not let an unprivileged user namespace mount a tmpfs")
def test_a_full_tmpfs_during_training_is_one_line(tmp_path, lm_files):
    out = tmp_path / "small"
    out.mkdir()
    result = run(TRAIN_RNN_LM, rnn_args(lm_files, out), wrapper=[*in_tmpfs(out, "size=16k")])
    one_line_error(result, TRAIN_RNN_LM, "no room left on the device")


@pytest.mark.slow
def test_a_read_only_output_folder_is_refused_before_any_work(tmp_path, lm_files):
    out = tmp_path / "read-only"
    out.mkdir()
    if CAN_MOUNT:
        wrapper = in_tmpfs(out, "ro,size=64k")
    elif os.geteuid() != 0:
        out.chmod(0o555)
        wrapper = None
    else:
        pytest.skip("root ignores folder permissions and no read-only mount is possible here")
    result = run(TRAIN_RNN_LM, rnn_args(lm_files, out, "--log_level", "info"), wrapper=wrapper)
    one_line_error(result, TRAIN_RNN_LM, str(out), "not writable")
    assert "epoch 1" not in result.stdout  # found at the start, not after training


# ----------------------------------------------------------------------------------------------------------------------
# Two runs into one folder; overwrite; failed runs; evaluation into a training run's folder
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "run"
    flag = tmp_path / "flag"
    first = run(PRETRAIN, pretrain_args(corpus, out), pause=r"torch.save:checkpoint-3/optimizer\.pt$", flag=flag,
                background=True)
    try:
        for _ in range(6000):  # the first run reached its first checkpoint (a file condition; 300 s at most)
            if Path(f"{flag}.paused").exists() or first.poll() is not None:
                break
            __import__("time").sleep(0.05)
        assert Path(f"{flag}.paused").exists(), first.communicate()[1][-3000:]
        before = fingerprint(out)
        for extra in ([], ["--overwrite_output_dir"]):
            second = run(PRETRAIN, pretrain_args(corpus, out, *extra))
            one_line_error(second, PRETRAIN, "is in use by another run", f"pid {first.pid}")
        assert fingerprint(out) == before  # the refused runs touched nothing
    finally:
        Path(f"{flag}.resume").touch()
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    assert json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())["global_step"] == 6


def test_overwrite_leaves_the_new_run_alone_and_a_failed_one_puts_the_old_back(tmp_path, lm_files):
    from training.train_rnn_lm import main

    out = tmp_path / "run"
    main(list(map(str, rnn_args(lm_files, out))))
    (out / "notes.txt").write_text("from before", encoding="utf-8")
    before = fingerprint(out)
    bad = tmp_path / "bad.txt"
    bad.write_text("unseen words here\n", encoding="utf-8")
    args = rnn_args(lm_files, out, "--overwrite_output_dir")
    with pytest.raises(ValueError, match=r"bad\.txt, line 1"):  # fails before saving anything: the old run is back
        main(list(map(str, [*args[:2], "--validation_file", bad, *args[4:]])))
    assert fingerprint(out) == before
    main(list(map(str, [*args, "--epochs", 1])))  # succeeds: the folder holds the new run alone
    assert "notes.txt" not in visible(out) and not list(out.glob(".hf_models-*"))
    assert len(json.loads((out / "train_results.json").read_text(encoding="utf-8"))["epochs"]) == 1


def test_a_failed_run_leaves_its_folder_free_for_the_corrected_rerun(tmp_path, lm_files):
    from training.train_rnn_lm import main

    out = tmp_path / "run"
    args = list(map(str, rnn_args(lm_files, out)))
    with pytest.raises(ValueError):  # the tokenizer is saved, then the streams are too short for the batches
        main([*args, "--batch_size", "100000"])
    assert not out.exists() or visible(out) == []
    main(args)  # the corrected command runs into the same folder, no --overwrite_output_dir needed
    assert (out / "config.json").is_file()


@pytest.mark.parametrize("command", ["eval_ngram_perplexity", "pretrain_eval"])
def test_an_evaluation_into_a_training_folder_is_refused_and_changes_nothing(tmp_path, lm_files, command):
    if command == "eval_ngram_perplexity":
        from eval.eval_ngram_perplexity import main as evaluate
        from training.train_ngram import main as train

        out = tmp_path / "ngram"
        train(["--train_file", str(lm_files[0]), "--order", "2", "--output_dir", str(out)])
        before = fingerprint(out)
        with pytest.raises(ValueError, match="not empty"):
            evaluate(["--model_name_or_path", str(out), "--test_file", str(lm_files[1]), "--output_dir", str(out)])
    else:
        from training.pretrain import main as pretrain

        corpus = write_corpus(tmp_path / "corpus.txt")
        out = tmp_path / "bert"
        pretrain(list(map(str, pretrain_args(corpus, out, "--max_steps", 2, "--save_strategy", "no"))))
        before = fingerprint(out)
        with pytest.raises(ValueError, match="not empty"):
            pretrain(["--validation_files", str(corpus), "--model_name_or_path", str(out), "--do_eval",
                      "--max_seq_length", "24", "--output_dir", str(out), "--use_cpu", "--report_to", "none"])
    assert fingerprint(out) == before


# ----------------------------------------------------------------------------------------------------------------------
# Damaged inputs through the commands: one line naming the file, exit status 2
# ----------------------------------------------------------------------------------------------------------------------
def _damaged_inputs(tmp_path: Path, case: str) -> tuple[str, list[str], str]:
    """(command, arguments, what the error line must name) for one damaged input."""
    import gzip

    from hf_models import NGramConfig, NGramLanguageModel

    text = tmp_path / "train.txt"
    text.write_text("\n".join(SENTENCES * 3) + "\n", encoding="utf-8")
    out = str(tmp_path / "out")
    if case == "arpa-cut-short":
        arpa = tmp_path / "model.arpa"
        NGramLanguageModel.fit([text], NGramConfig(order=2, smoothing="add_k")).save_arpa(arpa)
        arpa.write_bytes(arpa.read_bytes()[: arpa.stat().st_size // 2])
        return "eval.eval_ngram_perplexity", ["--model_name_or_path", str(arpa), "--test_file", str(text),
                                              "--output_dir", out], "model.arpa"
    if case == "word2vec-vectors-garbage":
        vectors = tmp_path / "vectors.txt"
        vectors.write_text("3 4\ncat 0.1 0.2 0.3 0.4\ndog 0.1 nonsense\n", encoding="utf-8")
        return "eval.eval_word2vec", ["--model_name_or_path", str(vectors), "--most_similar", "cat",
                                      "--output_dir", out], "vectors.txt"
    if case == "gzip-cut-short":
        corrupt = tmp_path / "train.txt.gz"
        corrupt.write_bytes(gzip.compress(text.read_bytes())[:-12])
        return "training.train_ngram", ["--train_file", str(corrupt), "--order", "2", "--output_dir", out], \
            "train.txt.gz: corrupt or truncated gzip"
    if case == "squad-latin1":
        data = tmp_path / "dev.json"
        data.write_bytes(json.dumps({"version": "1.1", "data": [{"title": "Café", "paragraphs": [{
            "context": "The café opens at nine.", "qas": [{"id": "q1", "question": "When?", "answers": [
                {"text": "nine", "answer_start": 18}]}]}]}]}, ensure_ascii=False).encode("latin-1"))
        predictions = tmp_path / "predictions.json"
        predictions.write_text('{"q1": "nine"}', encoding="utf-8")
        return "eval.eval_squad", ["--predictions_file", str(predictions), "--data_file", str(data)], \
            "dev.json: line 1: not UTF-8"
    if case == "conll-latin1":
        predictions = tmp_path / "predictions.txt"
        predictions.write_bytes("Peter B-PER B-PER\nMüller I-PER I-PER\n".encode("latin-1"))
        return "eval.eval_conll", ["--predictions_file", str(predictions)], "predictions.txt: line 2: not UTF-8"
    if case == "glue-jsonl-malformed":
        dev = tmp_path / "dev.jsonl"
        dev.write_text('{"sentence": "a fine film", "label": 1}\n{"sentence": "a dull film", label: 0}\n',
                       encoding="utf-8")
        predictions = tmp_path / "predictions.tsv"
        predictions.write_text("index\tprediction\n0\tpositive\n1\tnegative\n", encoding="utf-8")
        return "eval.eval_glue", ["--task_name", "sst2", "--predictions_file", str(predictions),
                                  "--validation_file", str(dev), "--output_dir", out], "dev.jsonl: line 2"
    if case == "unknown-model-type":
        model = tmp_path / "model"
        model.mkdir()
        (model / "config.json").write_text('{"model_type": "nonesuch"}', encoding="utf-8")
        dev = tmp_path / "dev.tsv"
        dev.write_text("sentence\tlabel\na fine film\t1\n", encoding="utf-8")
        return "eval.eval_glue", ["--model_name_or_path", str(model), "--task_name", "sst2", "--validation_file",
                                  str(dev), "--output_dir", out, "--use_cpu", "--report_to", "none"], \
            "model_type 'nonesuch' is neither an hf_models model"
    raise AssertionError(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["arpa-cut-short", "word2vec-vectors-garbage", "gzip-cut-short", "squad-latin1",
                                  "conll-latin1", "glue-jsonl-malformed", "unknown-model-type"])
def test_a_damaged_input_is_one_line_naming_the_file_and_exit_status_2(tmp_path, case):
    module, args, named = _damaged_inputs(tmp_path, case)
    script = REPO / (module.replace(".", "/") + ".py")
    line = one_line_error(run(script, args), script)
    assert named in line
    assert not (tmp_path / "out").exists() or visible(tmp_path / "out") == []  # nothing written, folder free
