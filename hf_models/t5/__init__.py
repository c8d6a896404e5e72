"""T5 (Raffel et al. 2020): the text-to-text encoder-decoder with relative position biases, RMSNorm and pre-norm
blocks; loads transformers' t5 checkpoints (T5 v1.0, v1.1, flan-t5)."""

from . import modeling_t5
from .configuration_t5 import T5Config
from .modeling_t5 import *  # noqa: F403 -- modeling_t5.__all__: every head of HEADS, its parts

__all__ = ["T5Config"]
__all__ += modeling_t5.__all__
