"""hf_models' families and their registration with transformers' Auto classes (done on `import hf_models`).

Each family declares its heads once, in its modeling file: `HEADS = {"AutoModel": XModel, "AutoModelFor...": ...}`.
From that one dict come the family's `register_for_auto_class` calls and the `auto_map` its saved folders carry (in
the modeling file, so a saved folder works on its own), its exports (`__all__`) and, here, its registration with
transformers' Auto classes. A new family is one more name in `FAMILY_NAMES` (a folder `x/` with `configuration_x.py`
and `modeling_x.py`); a new head is one more entry in its `HEADS`.

    >>> from hf_models.auto import FAMILIES
    >>> FAMILIES["bert"].heads["AutoModelForMaskedLM"]
    <class 'hf_models.bert.modeling_bert.BertForMaskedLM'>
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import transformers
from transformers import AutoConfig, PreTrainedConfig, PreTrainedModel

# The families of hf_models, each a folder `hf_models/<name>/` whose `modeling_<name>.py` declares HEADS.
FAMILY_NAMES = ("bert", "word2vec", "ngram", "rnn", "seq2seq", "transformer", "gpt", "t5")


@dataclass(frozen=True)
class Family:
    """One family: its config class and its heads, `{Auto class name: model class}` (a class may serve several)."""

    name: str
    config_class: type[PreTrainedConfig]
    heads: Mapping[str, type[PreTrainedModel]]

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    @property
    def public_classes(self) -> dict[str, type]:
        """The config and every head by class name (what `hf_models` exports of the family)."""
        return {cls.__name__: cls for cls in (self.config_class, *self.heads.values())}


def _load_family(name: str) -> Family:
    """Read a family's HEADS from its modeling file; its config class is the one every head declares."""
    module = importlib.import_module(f"{__package__}.{name}.modeling_{name}")
    heads = getattr(module, "HEADS", None)
    if not isinstance(heads, Mapping) or not heads:
        raise TypeError(f"{module.__name__} must declare HEADS, a dict of Auto class name -> model class")
    for auto_name, model_class in heads.items():
        if not hasattr(transformers, auto_name):
            raise ValueError(f"{module.__name__}.HEADS: transformers has no Auto class {auto_name!r}")
        if not (isinstance(model_class, type) and issubclass(model_class, PreTrainedModel)):
            raise TypeError(f"{module.__name__}.HEADS[{auto_name!r}] is not a PreTrainedModel class: {model_class!r}")
    config_classes = {model_class.config_class for model_class in heads.values()}
    if len(config_classes) != 1:
        raise TypeError(f"{module.__name__}.HEADS: the heads declare different config classes {config_classes}")
    return Family(name, config_classes.pop(), MappingProxyType(dict(heads)))


FAMILIES: Mapping[str, Family] = MappingProxyType({name: _load_family(name) for name in FAMILY_NAMES})


def register_auto_classes() -> None:
    """Make AutoConfig/AutoModel*.from_pretrained understand hf_models' model types (idempotent)."""
    for family in FAMILIES.values():
        AutoConfig.register(family.model_type, family.config_class, exist_ok=True)
        for auto_name, model_class in family.heads.items():
            getattr(transformers, auto_name).register(family.config_class, model_class, exist_ok=True)


# hf_models model_type -> transformers' model_type of the same architecture and checkpoint format: a checkpoint of
# either kind runs through either library's classes (`hf_models.trainer_utils.load_config`).
TRANSFORMERS_MODEL_TYPES = {
    FAMILIES["bert"].model_type: "bert",
    FAMILIES["t5"].model_type: "t5",
}

__all__ = ["FAMILIES", "FAMILY_NAMES", "TRANSFORMERS_MODEL_TYPES", "Family", "register_auto_classes"]
