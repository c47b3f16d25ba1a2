"""Reserved YAML keys, in one place (as Hydra keeps ``_target_`` and friends in one Enum)."""

from __future__ import annotations

from enum import Enum


class NodeKey(str, Enum):
    """Keys of a node entry that are not op arguments or block parameters."""

    OP = "op"
    BLOCK = "block"
    IN = "in"
    REPEAT = "repeat"
    IF = "if"
    INIT = "init"
    SHARE = "share"
    DOC = "doc"


NODE_KEYS = frozenset(k.value for k in NodeKey)

TOP_LEVEL_KEYS = (
    "archspec",
    "name",
    "description",
    "seed",
    "params",
    "scale",
    "include",
    "inputs",
    "blocks",
    "nodes",
    "outputs",
    "parts",
    "init",
    "expect",
    "data",
    "losses",
    "training",
    "search",
    "requires",
)

FORMAT_VERSION = 1

#: Attribute names of ``torch.nn.Module``: a node id segment with one of these names would
#: shadow a method of the compiled module. Kept here (without torch) so ``validate`` catches it;
#: a test checks the list against the installed torch.
MODULE_ATTRS = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule share_memory state_dict to to_empty train training type xpu zero_grad""".split()
)
#: Extra attributes of the compiled root module (a ``torch.fx.GraphModule``).
GRAPH_MODULE_ATTRS = frozenset(
    "add_submodule code delete_all_unused_submodules delete_submodule graph meta print_readable recompile shape_env to_folder".split()
)
