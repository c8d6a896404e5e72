"""Checkpoints of transformers' GPT family formats, read into hf_models' GPT and written back.

hf_models' GPT keeps GPT-2's module names with PyTorch's nn.Linear (weights (out, in)). The three formats differ:

- "gpt2" (GPT2LMHeadModel): the same names; its Conv1D weights are stored transposed, (in, out).
- "openai-gpt" (OpenAIGPTLMHeadModel): also Conv1D, and the embeddings are `tokens_embed` / `positions_embed`.
- "llama" (LlamaForCausalLM): `model.layers.N.self_attn.{q,k,v,o}_proj`, `mlp.{gate,up,down}_proj`,
  `input_layernorm`, `post_attention_layernorm`, `model.norm`; hf_models stacks q, k, v into `attn.c_attn` and gate,
  up into `mlp.c_fc`.

`transformers_checkpoint` turns such a checkpoint (a folder, a Hub name, or a GGUF file) into an hf_models folder for
`from_pretrained`; `export_checkpoint` writes an hf_models model in the format of its architecture, which the
transformers class loads.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from .configuration_gpt import TRANSFORMERS_MODEL_TYPES, GPTConfig

CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
LLAMA_NAMES = {  # one-to-one renames within a layer: Llama's name -> hf_models'
    "input_layernorm.weight": "ln_1.weight",
    "post_attention_layernorm.weight": "ln_2.weight",
    "self_attn.o_proj.weight": "attn.c_proj.weight",
    "self_attn.o_proj.bias": "attn.c_proj.bias",
    "mlp.down_proj.weight": "mlp.c_proj.weight",
    "mlp.down_proj.bias": "mlp.c_proj.bias",
}
DROPPED = re.compile(r"(^|\.)(attn\.bias|attn\.masked_bias|position_ids|rotary_emb\.inv_freq)$")
HUB_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")


# ----------------------------------------------------------------------------------------------------------------------
# State dicts
# ----------------------------------------------------------------------------------------------------------------------
def _split_prefix(key: str, prefixes: tuple[str, ...]) -> tuple[str, str]:
    for prefix in prefixes:
        if key.startswith(prefix):
            return prefix, key[len(prefix):]
    return "", key


def from_transformers_state_dict(state_dict: dict, model_type: str, config: GPTConfig) -> dict:
    """A transformers checkpoint's tensors (model_type "openai-gpt", "gpt2" or "llama") under hf_models' names."""
    out: dict[str, torch.Tensor] = {}
    if model_type in ("gpt2", "openai-gpt"):
        for key, tensor in state_dict.items():
            if DROPPED.search(key):
                continue
            prefix, name = _split_prefix(key, ("transformer.",))
            if model_type == "openai-gpt":
                name = re.sub(r"^tokens_embed\.", "wte.", name)
                name = re.sub(r"^positions_embed\.", "wpe.", name)
            if name.endswith(CONV1D_WEIGHTS):
                tensor = tensor.t().contiguous()  # Conv1D (in, out) -> nn.Linear (out, in)
            out[prefix + name] = tensor
        return out
    if model_type != "llama":
        raise ValueError(f"unknown checkpoint format {model_type!r}: expected one of {TRANSFORMERS_MODEL_TYPES}")
    stacked: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        if DROPPED.search(key):
            continue
        prefix, name = _split_prefix(key, ("model.",))
        prefix = "transformer." if prefix else ""
        if name == "embed_tokens.weight":
            out[prefix + "wte.weight"] = tensor
        elif name == "norm.weight":
            out[prefix + "ln_f.weight"] = tensor
        elif name.startswith(("lm_head.", "score.")):
            out[name] = tensor
        elif match := re.match(r"layers\.(\d+)\.(.+)$", name):
            layer, rest = match.groups()
            target = f"{prefix}h.{layer}."
            if rest in LLAMA_NAMES:
                out[target + LLAMA_NAMES[rest]] = tensor
            elif part := re.match(r"self_attn\.([qkv])_proj\.(weight|bias)$", rest):
                stacked.setdefault(f"{target}attn.c_attn.{part.group(2)}", {})[part.group(1)] = tensor
            elif part := re.match(r"mlp\.(gate|up)_proj\.(weight|bias)$", rest):
                stacked.setdefault(f"{target}mlp.c_fc.{part.group(2)}", {})[part.group(1)] = tensor
            else:
                raise ValueError(f"a Llama checkpoint tensor hf_models' GPT has no place for: {key!r}")
        else:
            raise ValueError(f"a Llama checkpoint tensor hf_models' GPT has no place for: {key!r}")
    for name, parts in stacked.items():
        order = "qkv" if ".attn." in name else ("gate", "up")
        missing = [p for p in order if p not in parts]
        if missing:
            raise ValueError(f"the Llama checkpoint lacks the {missing} projection(s) of {name}")
        out[name] = torch.cat([parts[p] for p in order], dim=0)  # stacked along the outputs
    return out


def to_transformers_state_dict(state_dict: dict, model_type: str, config: GPTConfig) -> dict:
    """hf_models' GPT tensors under the names (and layouts) of a transformers checkpoint of `model_type`."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        prefix, name = _split_prefix(key, ("transformer.",))
        if model_type in ("gpt2", "openai-gpt"):
            if name.endswith(CONV1D_WEIGHTS):
                tensor = tensor.t().contiguous()
            if model_type == "openai-gpt":
                name = re.sub(r"^wte\.", "tokens_embed.", name)
                name = re.sub(r"^wpe\.", "positions_embed.", name)
            out[prefix + name] = tensor.contiguous()
            continue
        llama_prefix = "model." if prefix else ""
        if name == "wte.weight":
            out[llama_prefix + "embed_tokens.weight"] = tensor
        elif name == "ln_f.weight":
            out[llama_prefix + "norm.weight"] = tensor
        elif name.startswith(("lm_head.", "score.")):
            out[name] = tensor
        elif match := re.match(r"h\.(\d+)\.(.+)$", name):
            layer, rest = match.groups()
            target = f"{llama_prefix}layers.{layer}."
            renamed = {v: k for k, v in LLAMA_NAMES.items()}
            if rest in renamed:
                out[target + renamed[rest]] = tensor
            elif part := re.match(r"attn\.c_attn\.(weight|bias)$", rest):
                q, k, v = tensor.split([config.n_head * config.head_dim, config.n_kv_head * config.head_dim,
                                        config.n_kv_head * config.head_dim], dim=0)
                for letter, piece in zip("qkv", (q, k, v), strict=True):
                    out[f"{target}self_attn.{letter}_proj.{part.group(1)}"] = piece.contiguous()
            elif part := re.match(r"mlp\.c_fc\.(weight|bias)$", rest):
                gate, up = tensor.chunk(2, dim=0)
                out[f"{target}mlp.gate_proj.{part.group(1)}"] = gate.contiguous()
                out[f"{target}mlp.up_proj.{part.group(1)}"] = up.contiguous()
            else:
                raise ValueError(f"hf_models' GPT tensor {key!r} has no place in a Llama checkpoint")
        else:
            raise ValueError(f"hf_models' GPT tensor {key!r} has no place in a Llama checkpoint")
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Folders
# ----------------------------------------------------------------------------------------------------------------------
def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint folder: model.safetensors, its shards (an index), or pytorch_model.bin."""
    from safetensors.torch import load_file

    if (folder / "model.safetensors").is_file():
        return load_file(folder / "model.safetensors")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        tensors: dict[str, torch.Tensor] = {}
        for shard in shards:
            tensors.update(load_file(folder / shard))
        return tensors
    if (folder / "pytorch_model.bin").is_file():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"{folder}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


def _resolve(name_or_path, kwargs: dict) -> Path | None:
    """The local folder of a checkpoint: itself, or the Hub download of its config and weights (None: no config)."""
    path = Path(os.fspath(name_or_path))
    subfolder = kwargs.get("subfolder") or ""
    if path.is_dir():
        folder = path / subfolder
        return folder if (folder / "config.json").is_file() else None
    from transformers.utils import cached_file

    hub = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
    config_file = cached_file(os.fspath(name_or_path), "config.json", _raise_exceptions_for_missing_entries=False,
                              **hub)
    if config_file is None:
        return None
    model_type = json.loads(Path(config_file).read_text()).get("model_type")
    if model_type not in TRANSFORMERS_MODEL_TYPES:
        return Path(config_file).parent
    for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
        found = cached_file(os.fspath(name_or_path), name, _raise_exceptions_for_missing_entries=False, **hub)
        if found is None:
            continue
        if name.endswith("index.json"):
            for shard in sorted(set(json.loads(Path(found).read_text())["weight_map"].values())):
                cached_file(os.fspath(name_or_path), shard, **hub)
        break
    return Path(config_file).parent


def convert_folder(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """A transformers openai-gpt / gpt2 / llama checkpoint folder -> an hf_models GPT folder (config.json and
    model.safetensors; the tokenizer files stay where they are)."""
    source = Path(source)
    config_dict = json.loads((source / "config.json").read_text())
    return _write_converted(config_dict, _read_weights(source), destination)


def _write_converted(config, state_dict: dict, destination: str | os.PathLike) -> Path:
    """A transformers config (object or config.json dict) and its state dict, written as an hf_models GPT folder."""
    from safetensors.torch import save_file

    model_type = config.get("model_type") if isinstance(config, dict) else config.model_type
    gpt_config = GPTConfig.from_transformers(config)
    tensors = from_transformers_state_dict(state_dict, model_type, gpt_config)
    if gpt_config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    gpt_config.save_pretrained(destination)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, destination / "model.safetensors",
              metadata={"format": "pt"})
    return destination


def transformers_checkpoint(name_or_path, destination, kwargs: dict) -> str | None:
    """For GPT*.from_pretrained: when `name_or_path` (with `kwargs`) is a transformers openai-gpt / gpt2 / llama
    checkpoint, or `gguf_file` is given, convert it into `destination` and return that folder; None for an hf_models
    checkpoint (loaded as it is)."""
    if kwargs.get("gguf_file"):
        from transformers import AutoModelForCausalLM

        hub = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
        # transformers dequantises the GGUF tensors to float on load
        reference = AutoModelForCausalLM.from_pretrained(name_or_path, gguf_file=kwargs["gguf_file"],
                                                         dtype=torch.float32, **hub)
        if reference.config.model_type not in TRANSFORMERS_MODEL_TYPES:
            raise ValueError(f"{kwargs['gguf_file']}: a {reference.config.model_type!r} model, not one of "
                             f"{TRANSFORMERS_MODEL_TYPES}")
        config = reference.config.to_dict()
        config.pop("quantization_config", None)
        return os.fspath(_write_converted(config, reference.state_dict(), destination))
    folder = _resolve(name_or_path, kwargs)
    if folder is None:
        return None
    model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    if model_type not in TRANSFORMERS_MODEL_TYPES:
        return None
    kwargs.pop("subfolder", None)
    return os.fspath(convert_folder(folder, destination))


def export_checkpoint(model, folder: str | os.PathLike, model_type: str | None = None) -> Path:
    """Write an hf_models GPT (any head with `transformer` and optionally `lm_head`) as a transformers checkpoint
    of its architecture ("openai-gpt", "gpt2" or "llama"; `config.checkpoint_format()` when not given): config.json
    and model.safetensors, loadable by OpenAIGPTLMHeadModel, GPT2LMHeadModel or LlamaForCausalLM."""
    config: GPTConfig = model.config
    tensors = {k: v.detach().cpu() for k, v in model.state_dict().items() if not DROPPED.search(k)}
    return _write_exported(config, tensors, folder, model_type)


def export_folder(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """An hf_models GPT folder (any head) -> a transformers checkpoint folder of its architecture."""
    source = Path(source)
    config = GPTConfig.from_pretrained(source)
    return _write_exported(config, _read_weights(source), destination)


def _write_exported(config: GPTConfig, tensors: dict, folder, model_type: str | None = None) -> Path:
    from safetensors.torch import save_file

    fmt = config.checkpoint_format()
    if model_type is not None and model_type != fmt:
        raise ValueError(f"this model's settings are the {fmt!r} architecture, not {model_type!r}")
    if config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    out = to_transformers_state_dict(tensors, fmt, config)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    reference_config = config.to_transformers()
    if any(k.startswith("score.") for k in out):
        reference_config.architectures = [{"openai-gpt": "OpenAIGPTForSequenceClassification",
                                           "gpt2": "GPT2ForSequenceClassification",
                                           "llama": "LlamaForSequenceClassification"}[fmt]]
    else:
        reference_config.architectures = [{"openai-gpt": "OpenAIGPTLMHeadModel", "gpt2": "GPT2LMHeadModel",
                                           "llama": "LlamaForCausalLM"}[fmt]]
    reference_config.save_pretrained(folder)
    save_file({k: v.contiguous() for k, v in out.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


__all__ = ["convert_folder", "export_checkpoint", "export_folder", "from_transformers_state_dict", "to_transformers_state_dict",
           "transformers_checkpoint"]
