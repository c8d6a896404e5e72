"""GPT (Radford et al. 2018, 2019) and its modern descendants: the decoder-only Transformer language model; loads
transformers' openai-gpt, gpt2 and llama checkpoints."""

from . import modeling_gpt
from .configuration_gpt import GPTConfig
from .convert_gpt import export_checkpoint
from .modeling_gpt import *  # noqa: F403 -- modeling_gpt.__all__: every head of HEADS, its parts

__all__ = ["GPTConfig", "export_checkpoint"]
__all__ += modeling_gpt.__all__
