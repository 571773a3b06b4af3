"""Models: configs and registry, weights (synthetic, BIT2 checkpoints), the float64 reference
forward, and per model x format accounting."""
from .accounting import Accounting, account, model_table
from .bit2 import load_bit2, read_bit2_index, write_bit2
from .config import MambaConfig, TransformerConfig, get_config, list_configs
from .reference import Reference, State, decode_step, greedy_generate
from .transformer_reference import KVCache, TransformerReference
from .weights import (LayerWeights, ModelWeights, TransformerLayerWeights, TransformerWeights, pack_ternary,
                      synthetic_weights)

__all__ = ["Accounting", "account", "model_table", "load_bit2", "read_bit2_index", "write_bit2",
           "MambaConfig", "TransformerConfig", "KVCache", "TransformerReference", "TransformerLayerWeights",
           "TransformerWeights", "get_config", "list_configs", "Reference", "State", "decode_step",
           "greedy_generate", "LayerWeights", "ModelWeights", "pack_ternary", "synthetic_weights"]
