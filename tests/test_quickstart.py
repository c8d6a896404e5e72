"""The quickstart (`python -m hf_models`): end to end on the shipped samples, reload through the Auto class."""

import json
import subprocess
import sys

import pytest

from hf_models import quickstart
from hf_models.quickstart import read_labeled_tsv, sample_path

SMALL = ["--pretrain_epochs", "0.3", "--finetune_epochs", "0.3", "--dupe_factor", "1", "--vocab_size", "2000"]


def test_shipped_samples_are_there():
    for name in ("wikitext2_sample.txt", "sst2_train_sample.tsv", "sst2_dev.tsv", "README.md"):
        assert sample_path(name).is_file(), name
    dev = read_labeled_tsv(sample_path("sst2_dev.tsv"))
    assert len(dev) == 872 and set(dev["label"]) == {0, 1}


@pytest.mark.threads(2)  # a real training run: both cores
def test_quickstart_small_run_saves_and_reloads(tmp_path):
    out = tmp_path / "qs"
    results = quickstart.main(["--output_dir", str(out)] + SMALL)
    assert results["reload"]["max_abs_logit_diff"] <= 1e-5
    assert results["reload"]["auto_class"].startswith("hf_models.")
    assert results["pretraining"]["mlm_loss_after"] < results["pretraining"]["mlm_loss_before"]
    saved = json.loads((out / "quickstart_results.json").read_text())
    assert saved["sentiment"]["eval_examples"] == 872
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modeling_bert.py", "README.md"):
        assert (out / "model" / name).is_file(), name


def test_quickstart_refuses_to_overwrite(tmp_path):
    out = tmp_path / "qs"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty.*--overwrite_output_dir"):
        quickstart.main(["--output_dir", str(out)] + SMALL)
    assert (out / "precious.txt").read_text() == "keep me"


def test_bad_tsv_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\ngood film\t1\nno label here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv, line 3"):
        read_labeled_tsv(bad)
    bad.write_text("sentence\tlabel\ngood film\tpositive\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: label 'positive'"):
        read_labeled_tsv(bad)


def test_module_help_runs():
    proc = subprocess.run([sys.executable, "-m", "hf_models", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--output_dir" in proc.stdout
