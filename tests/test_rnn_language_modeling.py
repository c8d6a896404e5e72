"""Word-level LSTM language modelling by truncated BPTT (hf_models.rnn.language_modeling, training/train_rnn_lm.py)
and its parity with pytorch/examples' word_language_model (the peer copied into benchmarks/bench_rnn_ptb.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from hf_models.rnn import RnnForCausalLM
from hf_models.rnn.language_modeling import (
    EOS_TOKEN,
    batchify,
    build_tokenizer,
    build_vocab,
    encode_file,
    evaluate_perplexity,
    get_batch,
    init_like_word_language_model,
    repackage_hidden,
    train_epoch,
    train_tbptt,
    word_language_model_config,
)

KOREAN_TRAIN = "나는 학교에 간다\n너는 집에 간다\nthe cat sat\n"


def tiny_model(vocab_size: int, implementation: str = "fused", dropout: float = 0.0, embedding_size: int = 12,
               **overrides) -> RnnForCausalLM:
    config = word_language_model_config(vocab_size, embedding_size=embedding_size, hidden_size=12, num_layers=2,
                                        dropout=dropout, implementation=implementation, **overrides)
    return init_like_word_language_model(RnnForCausalLM(config))


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# Vocabulary, tokenizer, encoding
# ----------------------------------------------------------------------------------------------------------------------
def test_vocab_in_order_of_first_appearance_with_eos(tmp_path):
    train = write(tmp_path / "train.txt", KOREAN_TRAIN)
    vocab = build_vocab(train)
    assert list(vocab) == ["나는", "학교에", "간다", EOS_TOKEN, "너는", "집에", "the", "cat", "sat"]
    assert list(vocab.values()) == list(range(len(vocab)))
    ids = encode_file(train, vocab)
    assert ids.tolist() == [0, 1, 2, 3, 4, 5, 2, 3, 6, 7, 8, 3]
    with_unk = build_vocab(train, unk_token="<unk>")
    assert with_unk["<unk>"] == len(vocab)


def test_unseen_word_is_an_error_naming_file_and_line_unless_unk(tmp_path):
    vocab = build_vocab(write(tmp_path / "train.txt", KOREAN_TRAIN), unk_token=None)
    valid = write(tmp_path / "valid.txt", "나는 집에 간다\n너는 도서관에 간다\n")
    with pytest.raises(ValueError, match=r"valid\.txt, line 2: word '도서관에'"):
        encode_file(valid, vocab)
    vocab_unk = build_vocab(tmp_path / "train.txt", unk_token="<unk>")
    ids = encode_file(valid, vocab_unk, unk_token="<unk>")
    assert ids.tolist()[5] == vocab_unk["<unk>"] and ids.tolist()[4] == vocab_unk["너는"]
    with pytest.raises(ValueError, match="unk_token '<oov>' is not in the vocabulary"):
        encode_file(valid, vocab, unk_token="<oov>")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        build_vocab(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="has no words"):
        build_vocab(write(tmp_path / "empty.txt", ""))
    (tmp_path / "latin1.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt, line 2: not valid UTF-8"):
        build_vocab(tmp_path / "latin1.txt")


def test_tokenizer_saved_and_reloaded_with_autotokenizer(tmp_path):
    from transformers import AutoTokenizer

    vocab = build_vocab(write(tmp_path / "train.txt", KOREAN_TRAIN), unk_token="<unk>")
    tokenizer = build_tokenizer(vocab, unk_token="<unk>")
    tokenizer.save_pretrained(tmp_path / "tok")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert reloaded.get_vocab() == vocab
    assert reloaded("너는 학교에 간다 <eos>")["input_ids"] == [4, 1, 2, 3]
    assert reloaded("너는 도서관에")["input_ids"] == [4, vocab["<unk>"]]
    assert reloaded.eos_token == EOS_TOKEN and reloaded.unk_token == "<unk>"


# ----------------------------------------------------------------------------------------------------------------------
# batchify / get_batch as the example
# ----------------------------------------------------------------------------------------------------------------------
def test_batchify_and_get_batch_match_the_example():
    ids = torch.arange(27)
    source = batchify(ids, 4)  # 27 // 4 = 6 steps, the last 3 tokens dropped
    assert source.shape == (6, 4)
    for stream in range(4):  # stream j is the j-th contiguous sixth of the text
        assert source[:, stream].tolist() == list(range(6 * stream, 6 * stream + 6))
    data, target = get_batch(source, 0, bptt=4)
    assert data.shape == (4, 4) and torch.equal(data, source[0:4])
    assert torch.equal(target, source[1:5].reshape(-1))
    data, target = get_batch(source, 4, bptt=4)  # the last chunk is shorter: min(bptt, len - 1 - i) = 1
    assert data.shape == (1, 4) and target.tolist() == source[5].tolist()
    with pytest.raises(ValueError, match="too few"):
        batchify(torch.arange(3), 4)
    with pytest.raises(ValueError, match="batch_size"):
        batchify(ids, 0)


def test_batchify_and_get_batch_equal_the_peers_copy():
    from benchmarks.bench_rnn_ptb import peer_batchify, peer_get_batch

    ids = torch.randint(0, 100, (1003,))
    for batch_size in (1, 7, 20):
        ours, theirs = batchify(ids, batch_size), peer_batchify(ids, batch_size)
        assert torch.equal(ours, theirs)
        for i in range(0, ours.size(0) - 1, 35):
            for a, b in zip(get_batch(ours, i, 35), peer_get_batch(theirs, i, 35)):
                assert torch.equal(a, b)


def test_repackage_hidden_detaches_the_state():
    model = tiny_model(9)
    out = model(input_ids=torch.tensor([[1, 2, 3]]), use_cache=True)
    state = repackage_hidden(out.past_key_values)
    assert not state.hidden.requires_grad and not state.cell.requires_grad
    assert torch.equal(state.hidden, out.past_key_values.hidden)
    assert all(not t.requires_grad for t in repackage_hidden((out.past_key_values.hidden, out.past_key_values.cell)))


# ----------------------------------------------------------------------------------------------------------------------
# State carrying, perplexity, training
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("implementation", ["fused", "cells"])
def test_carried_state_over_two_chunks_equals_one_pass(implementation):
    model = tiny_model(11, implementation, dropout=0.3, embedding_size=8).eval()  # with a projection
    ids = torch.randint(0, 11, (3, 10))
    with torch.no_grad():
        whole = model(input_ids=ids).logits
        first = model(input_ids=ids[:, :4], use_cache=True)
        second = model(input_ids=ids[:, 4:], past_key_values=repackage_hidden(first.past_key_values))
    torch.testing.assert_close(torch.cat([first.logits, second.logits], dim=1), whole, rtol=1e-5, atol=1e-6)
    fresh = model(input_ids=ids[:, 4:]).logits  # without the state the second chunk differs: the test can fail
    assert not torch.allclose(fresh, whole[:, 4:], atol=1e-4)


def test_evaluate_perplexity_is_exp_of_mean_token_nll():
    torch.manual_seed(1)
    model = tiny_model(13, dropout=0.4)
    ids = torch.randint(0, 13, (61,))
    source = batchify(ids, 3)  # (20, 3)
    with torch.no_grad():
        model.eval()
        logits = model(input_ids=source[:-1].t()).logits  # (3, 19, vocab): one pass over every stream
        nll = F.cross_entropy(logits.reshape(-1, 13), source[1:].t().reshape(-1))
    expected = math.exp(nll.item())
    model.train()
    for bptt in (4, 35):  # chunks with a carried state, or one chunk
        assert evaluate_perplexity(model, ids, batch_size=3, bptt=bptt) == pytest.approx(expected, rel=1e-5)
    assert model.training  # restored
    with pytest.raises(ValueError, match="outside"):
        evaluate_perplexity(model, torch.full((40,), 13), batch_size=3)


def test_training_lowers_valid_perplexity_and_keeps_the_best_model(tmp_path):
    sentence = "나는 학교에 간다 그리고 the cat sat on the mat"
    train = write(tmp_path / "train.txt", "\n".join([sentence] * 60) + "\n")
    valid = write(tmp_path / "valid.txt", "\n".join([sentence] * 8) + "\n")
    vocab = build_vocab(train)
    train_ids, valid_ids = encode_file(train, vocab), encode_file(valid, vocab)
    model = tiny_model(len(vocab), dropout=0.1)
    before = evaluate_perplexity(model, valid_ids, batch_size=2, bptt=8)
    history = train_tbptt(model, train_ids, valid_ids, epochs=4, lr=10.0, clip=0.25, bptt=8, batch_size=2,
                          eval_batch_size=2, save_dir=tmp_path / "best", progress=False)
    after = evaluate_perplexity(model, valid_ids, batch_size=2, bptt=8)
    assert before > 8 and after < 3.0, (before, after)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert {"train_loss", "valid_ppl", "seconds", "tokens_per_second", "lr"} <= set(history[0])
    assert after == pytest.approx(min(row["valid_ppl"] for row in history), rel=1e-5)  # the best model is kept
    reloaded = RnnForCausalLM.from_pretrained(tmp_path / "best")
    assert evaluate_perplexity(reloaded, valid_ids, batch_size=2, bptt=8) == pytest.approx(after, rel=1e-5)


def test_learning_rate_is_divided_by_four_without_improvement():
    torch.manual_seed(0)
    ids = torch.randint(0, 7, (400,))
    model = tiny_model(7)
    history = train_tbptt(model, ids, torch.randint(0, 7, (100,)), epochs=4, lr=200.0, bptt=5, batch_size=4,
                          progress=False)  # a huge lr on random data: validation gets worse
    lrs = [row["lr"] for row in history]
    best, lr = None, 200.0
    for row in history:  # the example's rule, replayed: lr / 4 after every epoch that does not beat the best
        assert row["lr"] == pytest.approx(lr)
        if best is None or row["valid_loss"] < best:
            best = row["valid_loss"]
        else:
            lr /= 4.0
    assert min(lrs) < 200.0


# ----------------------------------------------------------------------------------------------------------------------
# Parity with the peer (pytorch/examples word_language_model) on the same weights
# ----------------------------------------------------------------------------------------------------------------------
def test_peer_and_ours_give_the_same_loss_and_the_same_sgd_step():
    from benchmarks.bench_rnn_ptb import (
        RNNModel,
        peer_evaluate,
        peer_state_dict_to_ours,
        peer_train,
    )

    vocab_size = 17
    peer = RNNModel("LSTM", vocab_size, 12, 12, 2, dropout=0.0)
    ours = tiny_model(vocab_size)
    missing, unexpected = ours.load_state_dict(peer_state_dict_to_ours(peer.state_dict()), strict=False)
    assert not unexpected and not missing
    source = batchify(torch.randint(0, vocab_size, (200,)), 4)

    # evaluation: the same perplexity, chunk by chunk with carried state
    peer_loss = peer_evaluate(peer, source, 4, 7)
    assert evaluate_perplexity(ours, source, batch_size=4, bptt=7) == pytest.approx(math.exp(peer_loss), rel=1e-5)

    # training: the same SGD steps (clipping, lr, carried and detached state) give the same weights
    peer_train(peer, source, 4, 7, lr=20.0, clip=0.25, max_batches=5)
    train_epoch(ours, source, lr=20.0, clip=0.25, bptt=7, max_batches=5, progress=False)
    for name, value in peer_state_dict_to_ours(peer.state_dict()).items():
        torch.testing.assert_close(ours.state_dict()[name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert not torch.allclose(ours.lm_head.weight, tiny_model(vocab_size).lm_head.weight)


def test_init_and_dropout_placement_match_the_example():
    from benchmarks.bench_rnn_ptb import RNNModel

    model = tiny_model(50, dropout=0.2)
    assert model.model.embeddings.padding_idx is None  # every id is a word: no frozen padding row
    assert model.model.embeddings.weight.abs().max() <= 0.1 and model.lm_head.weight.abs().max() <= 0.1
    assert torch.count_nonzero(model.lm_head.bias) == 0
    assert model.model.rnn.weight_hh_l0.abs().max() <= 1 / math.sqrt(12) + 1e-7  # torch's default LSTM init
    assert model.model.rnn.dropout == 0.2 and model.model.dropout.p == 0.2 and model.dropout.p == 0.2
    peer = RNNModel("LSTM", 50, 12, 12, 2, dropout=0.2)
    assert peer.rnn.dropout == model.model.rnn.dropout


# ----------------------------------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------------------------------
def run_cli(*argv):
    from training.train_rnn_lm import main

    return main([str(a) for a in argv])


def test_cli_end_to_end_korean(tmp_path):
    from transformers import AutoTokenizer

    sentence = "나는 학교에 간다 the cat sat"
    train = write(tmp_path / "train.txt", "\n".join([sentence] * 40) + "\n")
    valid = write(tmp_path / "valid.txt", "\n".join([sentence] * 6) + "\n")
    test = write(tmp_path / "test.txt", "\n".join(["the cat sat 나는 학교에 간다"] * 6) + "\n")
    out = tmp_path / "run"
    args = ["--train_file", train, "--validation_file", valid, "--test_file", test, "--output_dir", out,
            "--embedding_size", 16, "--hidden_size", 16, "--epochs", 4, "--bptt", 6, "--batch_size", 2,
            "--eval_batch_size", 2, "--lr", 10, "--dropout", 0.1, "--disable_tqdm", "--log_level", "warning"]
    result = run_cli(*args)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "train_results.json", "eval_results.json",
                 "results.md"):
        assert (out / name).is_file(), name
    eval_results = json.loads((out / "eval_results.json").read_text(encoding="utf-8"))
    assert set(eval_results) >= {"valid_ppl", "test_ppl"} and eval_results["valid_ppl"] < 4
    train_results = json.loads((out / "train_results.json").read_text(encoding="utf-8"))
    assert len(train_results["epochs"]) == 4 and train_results["vocab_size"] == 7
    assert result["eval"] == eval_results

    model = RnnForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    valid_ids = torch.tensor(tokenizer(valid.read_text(encoding="utf-8").replace("\n", " <eos> "))["input_ids"])
    assert evaluate_perplexity(model, valid_ids, 2, 6) == pytest.approx(eval_results["valid_ppl"], rel=1e-5)
    table = (out / "results.md").read_text(encoding="utf-8")
    assert table.count("word_lm") == 2 and "perplexity=" in table

    with pytest.raises(ValueError, match="already exists and is not empty"):
        run_cli(*args)
    bad_valid = write(tmp_path / "bad.txt", "나는 학교에\n너는 간다\n")
    with pytest.raises(ValueError, match=r"bad\.txt, line 2: word '너는'"):
        run_cli(*args[:2], "--validation_file", bad_valid, *args[4:], "--overwrite_output_dir")


def test_cells_and_fused_take_the_same_tbptt_steps():
    fused = tiny_model(15)
    cells = tiny_model(15, "cells")
    cells.load_state_dict(fused.state_dict())
    source = batchify(torch.randint(0, 15, (120,)), 3)
    for model in (fused, cells):
        train_epoch(model, source, lr=20.0, clip=0.25, bptt=6, max_batches=4, progress=False)
    for name, value in fused.state_dict().items():
        torch.testing.assert_close(cells.state_dict()[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_cli_help_and_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("--help")
    assert exit_info.value.code == 0 and "--max_train_tokens" in capsys.readouterr().out
    train = write(tmp_path / "train.txt", KOREAN_TRAIN)
    with pytest.raises(ValueError, match="--bptt must be a positive integer"):
        run_cli("--train_file", train, "--validation_file", train, "--output_dir", tmp_path / "o", "--bptt", 0)
    with pytest.raises(ValueError, match="--validation_file is needed"):
        run_cli("--train_file", train, "--output_dir", tmp_path / "o")


# ----------------------------------------------------------------------------------------------------------------------
# Zaremba et al.'s schedule and initialisation; the interleaved speed measurement
# ----------------------------------------------------------------------------------------------------------------------
def test_zaremba_fixed_schedule_ignores_validation():
    torch.manual_seed(0)
    ids = torch.randint(0, 7, (300,))
    model = tiny_model(7)
    history = train_tbptt(model, ids, torch.randint(0, 7, (80,)), epochs=6, lr=8.0, bptt=5, batch_size=4,
                          progress=False, lr_decay=0.5, constant_lr_epochs=4)
    assert [row["lr"] for row in history] == [8.0, 8.0, 8.0, 8.0, 4.0, 2.0]
    with pytest.raises(ValueError, match="lr_decay"):
        train_tbptt(model, ids, ids, epochs=1, lr_decay=1.5, progress=False)
    with pytest.raises(ValueError, match="constant_lr_epochs"):
        train_tbptt(model, ids, ids, epochs=1, lr_decay=0.5, constant_lr_epochs=-1, progress=False)


def test_init_uniform_draws_every_parameter_in_range():
    from hf_models.rnn.language_modeling import init_uniform

    torch.manual_seed(0)
    model = init_uniform(tiny_model(40), 0.05)
    for name, parameter in model.named_parameters():
        assert parameter.abs().max() <= 0.05, name
        assert parameter.abs().max() > 0.02, name  # really redrawn (biases included), not left at zero
    with pytest.raises(ValueError, match="init_range"):
        init_uniform(model, 0.0)


def test_train_step_is_one_epoch_step():
    from hf_models.rnn.language_modeling import train_step

    torch.manual_seed(0)
    source = batchify(torch.randint(0, 11, (120,)), 3)
    first, second = tiny_model(11), tiny_model(11)
    second.load_state_dict(first.state_dict())
    train_epoch(first, source, lr=5.0, clip=0.25, bptt=6, max_batches=3, progress=False)
    state, params = None, list(second.parameters())
    for i in (0, 6, 12):
        data, targets = get_batch(source, i, 6)
        loss, state = train_step(second, params, data, targets, state, 5.0, 0.25)
        assert isinstance(loss, float)
    for name, value in first.state_dict().items():
        torch.testing.assert_close(second.state_dict()[name], value, msg=name)


def test_interleaved_speed_measurement_smoke(tmp_path):
    from benchmarks.bench_rnn_ptb import parse_args, run_interleaved_speed

    args = parse_args(["--emsize", "8", "--nhid", "8", "--speed_block", "2", "--speed_rounds", "3"])
    splits = {"train": torch.randint(0, 30, (20 * (35 * 6 + 1),))}  # exactly 6 full chunks of 35 steps
    result = run_interleaved_speed(args, 30, splits)
    assert {"peer", "fused", "cells"} <= set(result)
    for name in ("peer", "fused", "cells"):
        assert result[name]["batches"] == 6 and result[name]["tokens"] == 6 * 35 * 20
        assert result[name]["tokens_per_second"] > 0
    # the same initial weights and batches, no dropout difference at the first step: similar losses
    assert result["fused"]["mean_train_loss"] == pytest.approx(result["peer"]["mean_train_loss"], rel=0.05)
    assert result["fused_over_cells"] == pytest.approx(
        result["fused"]["tokens_per_second"] / result["cells"]["tokens_per_second"])


def test_cli_zaremba_flags_are_checked(tmp_path):
    for flag, value, message in (("--lr_decay", "0", "--lr_decay"), ("--constant_lr_epochs", "-1", "constant"),
                                 ("--init_range", "-0.1", "--init_range")):
        with pytest.raises(ValueError, match=message):
            run_cli("--train_file", tmp_path / "x.txt", "--output_dir", tmp_path / "o", flag, value)


def test_cli_device_option(tmp_path, monkeypatch):
    from training.train_rnn_lm import resolve_device

    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="--device cuda: torch sees no CUDA GPU"):
        run_cli("--train_file", tmp_path / "x.txt", "--output_dir", tmp_path / "o", "--device", "cuda")
    with pytest.raises(ValueError, match="--device: 'gpu0' is not a torch device"):
        run_cli("--train_file", tmp_path / "x.txt", "--output_dir", tmp_path / "o", "--device", "gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_same_seed_same_dropout_masks_as_the_peer():
    """With dropout on, hf_models draws the example's dropout masks from the same generator state and computes on
    the same time-major memory as torch's seq-first nn.LSTM, so training follows the peer step for step."""
    from benchmarks.bench_rnn_ptb import (
        RNNModel,
        peer_state_dict_to_ours,
        peer_train_step,
    )
    from hf_models.rnn.language_modeling import train_step

    vocab_size = 40
    source = batchify(torch.randint(0, vocab_size, (1200,), generator=torch.Generator().manual_seed(3)), 4)
    ours = tiny_model(vocab_size, dropout=0.3)
    torch.manual_seed(7)
    peer = RNNModel("LSTM", vocab_size, 12, 12, 2, dropout=0.3)
    ours.load_state_dict(peer_state_dict_to_ours(peer.state_dict()))
    generator_state = torch.get_rng_state()
    peer_losses, hidden = [], peer.init_hidden(4)
    for i in range(0, 150, 10):
        data, targets = get_batch(source, i, 10)
        loss, hidden = peer_train_step(peer, torch.nn.NLLLoss(), data, targets, hidden, 20.0, 0.25)
        peer_losses.append(loss)
    torch.set_rng_state(generator_state)
    our_losses, state, params = [], None, list(ours.parameters())
    for i in range(0, 150, 10):
        data, targets = get_batch(source, i, 10)
        loss, state = train_step(ours, params, data, targets, state, 20.0, 0.25)
        our_losses.append(loss)
    # the same operations on the same memory layouts: equal to the last bit, so long runs cannot drift apart either
    assert our_losses == peer_losses
    for name, value in peer_state_dict_to_ours(peer.state_dict()).items():
        assert torch.equal(ours.state_dict()[name], value), name
    assert len({round(x, 3) for x in peer_losses}) > 5  # really training, with dropout active


# ----------------------------------------------------------------------------------------------------------------------
# Resuming an interrupted run
# ----------------------------------------------------------------------------------------------------------------------
def _timeless(history):
    return [{k: v for k, v in row.items() if "second" not in k} for row in history]


@pytest.mark.parametrize("lr_decay", [None, 0.5])
def test_resumed_run_equals_the_uninterrupted_one(tmp_path, lr_decay):
    torch.manual_seed(3)
    train_ids, valid_ids = torch.randint(0, 11, (400,)), torch.randint(0, 11, (90,))
    kwargs = {"lr": 20.0, "clip": 0.25, "bptt": 6, "batch_size": 4, "eval_batch_size": 3, "progress": False,
              "lr_decay": lr_decay, "constant_lr_epochs": 1}

    torch.manual_seed(0)
    straight = tiny_model(11, dropout=0.3)
    full = train_tbptt(straight, train_ids, valid_ids, epochs=4, save_dir=tmp_path / "straight", **kwargs)

    torch.manual_seed(0)
    first = tiny_model(11, dropout=0.3)
    train_tbptt(first, train_ids, valid_ids, epochs=2, save_dir=tmp_path / "split", **kwargs)
    torch.randn(1000)  # whatever ran in between, the resumed run restores the generator
    resumed = tiny_model(11, dropout=0.3)  # fresh weights: resume loads the last epoch's
    history = train_tbptt(resumed, train_ids, valid_ids, epochs=4, save_dir=tmp_path / "split", resume=True,
                          **kwargs)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert _timeless(history) == _timeless(full)  # dropout masks, lr schedule and losses: the same, bit for bit
    for name, value in straight.state_dict().items():  # both hold their best epoch's weights
        assert torch.equal(resumed.state_dict()[name], value), name
    state = json.loads((tmp_path / "split" / "last_epoch" / "training_state.json").read_text(encoding="utf-8"))
    assert state["epochs_done"] == 4


def test_resume_refuses_other_settings_and_a_missing_checkpoint(tmp_path):
    train_ids, valid_ids = torch.randint(0, 9, (200,)), torch.randint(0, 9, (60,))
    kwargs = {"bptt": 5, "batch_size": 3, "eval_batch_size": 3, "progress": False}
    with pytest.raises(FileNotFoundError, match="no finished epoch to resume from"):
        train_tbptt(tiny_model(9), train_ids, valid_ids, epochs=2, save_dir=tmp_path / "none", resume=True, **kwargs)
    with pytest.raises(ValueError, match="needs the save_dir"):
        train_tbptt(tiny_model(9), train_ids, valid_ids, epochs=2, resume=True, **kwargs)
    train_tbptt(tiny_model(9), train_ids, valid_ids, epochs=1, save_dir=tmp_path / "run", **kwargs)
    with pytest.raises(ValueError, match=r"resume: bptt is 7 but the run in .* used 5"):
        train_tbptt(tiny_model(9), train_ids, valid_ids, epochs=2, save_dir=tmp_path / "run", resume=True,
                    **{**kwargs, "bptt": 7})
    with pytest.raises(ValueError, match="resume: the model's hidden_size is 16"):
        wider = RnnForCausalLM(word_language_model_config(9, embedding_size=12, hidden_size=16, num_layers=2))
        train_tbptt(wider, train_ids, valid_ids, epochs=2, save_dir=tmp_path / "run", resume=True, **kwargs)


def test_cli_resume(tmp_path):
    sentence = "나는 학교에 간다 the cat sat"
    train = write(tmp_path / "train.txt", "\n".join([sentence] * 30) + "\n")
    valid = write(tmp_path / "valid.txt", "\n".join([sentence] * 5) + "\n")
    out = tmp_path / "run"
    args = ["--train_file", train, "--validation_file", valid, "--output_dir", out, "--embedding_size", 8,
            "--hidden_size", 8, "--bptt", 5, "--batch_size", 2, "--eval_batch_size", 2, "--disable_tqdm",
            "--log_level", "warning"]
    with pytest.raises(ValueError, match="--resume: .* holds no finished epoch"):
        run_cli(*args, "--epochs", 2, "--resume")
    straight = run_cli(*args[:5], tmp_path / "straight", *args[6:], "--epochs", 3)
    run_cli(*args, "--epochs", 2)
    resumed = run_cli(*args, "--epochs", 3, "--resume")
    assert [row["epoch"] for row in resumed["train"]["epochs"]] == [1, 2, 3]
    assert _timeless(resumed["train"]["epochs"]) == _timeless(straight["train"]["epochs"])
    assert resumed["eval"] == straight["eval"]


def test_zaremba_benchmark_collects_finished_and_partial_runs(tmp_path):
    from benchmarks.bench_zaremba_ptb import collect, train_command
    from training.train_rnn_lm import main as train_main

    data = tmp_path / "ptb"
    data.mkdir()
    sentences = ["the cat sat on the mat", "a dog ran in the park", "the dog sat on a mat"]
    for name, repeat in (("train", 12), ("valid", 2), ("test", 2)):
        write(data / f"ptb.{name}.txt", "\n".join(sentences * repeat) + "\n")
    small = ["--embedding_size", "8", "--hidden_size", "8", "--log_level", "warning"]

    out = tmp_path / "partial"
    command = train_command("small", data, out, False, [*small, "--epochs", "2"])  # later flags win
    train_main(command[2:])
    (out / "eval_results.json").unlink()  # as if stopped after epoch 2 of 13
    partial = collect("small", data, out, "test", tmp_path / "results")
    assert partial["complete"] is False and partial["epochs_done"] == 2 and partial["epochs_planned"] == 13
    assert "shortened run" in partial["note"]
    best = RnnForCausalLM.from_pretrained(out)
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(out).get_vocab()
    expected = evaluate_perplexity(best, encode_file(data / "ptb.test.txt", vocab), 10, 20)
    assert partial["hf_models"]["test_ppl"] == pytest.approx(expected, rel=1e-6)
    assert partial["command"].startswith("python training/train_rnn_lm.py --train_file")
    assert json.loads((tmp_path / "results" / "rnn_ptb_zaremba_small.json").read_text())["epochs_done"] == 2

    out = tmp_path / "finished"
    train_main(train_command("small", data, out, False, small)[2:])
    finished = collect("small", data, out, "test", tmp_path / "results")
    eval_results = json.loads((out / "eval_results.json").read_text())
    assert finished["complete"] is True and finished["epochs_done"] == 13 and "note" not in finished
    assert finished["hf_models"]["test_ppl"] == eval_results["test_ppl"]
    assert finished["ratio_test_ppl_ours_over_paper"] == pytest.approx(eval_results["test_ppl"] / 114.5)
