"""The JSON Schema (draft 2020-12) of the spec format: the contract for editors and validation.

The structural part is written here; the per-op argument part is generated from the op
catalogue (``archspec.ops``), which is its single source of truth. ``build_schema()`` returns
the whole document; ``schemas/archspec.schema.json`` is its checked-in copy, and a test fails
when that copy is stale (regenerate with ``archspec schema -o schemas/archspec.schema.json``).
"""

from __future__ import annotations

import json
from typing import Any

from archspec.lang.keys import FORMAT_VERSION

SCHEMA_ID = "https://archspec.dev/schemas/archspec.schema.json"

EXPR = {"type": "string", "pattern": r"^\$\{.+\}$", "description": "a ${...} parameter expression"}
# Python's re (jsonschema's engine) lets '$' match before a final newline, so 'enc1\n' would pass
# '^...$'; the lookahead refuses it there and changes nothing for ECMA-262 (editors), where '$'
# already means the end.
_END = r"$(?!\n)"
NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*" + _END}
SPEC_NAME = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}" + _END,
    "description": "names build/<name> and runs/<name>: one folder name",
}
REF = {"type": "string", "minLength": 1, "description": "a node, input, or block output (node.output)"}
POS_INT = {"type": "integer", "minimum": 1}
NUMBER = {"type": "number"}


def _int_or_expr(minimum: int = 1) -> dict[str, Any]:
    return {"anyOf": [{"type": "integer", "minimum": minimum}, EXPR]}


def _num_or_expr() -> dict[str, Any]:
    return {"anyOf": [NUMBER, EXPR]}


def _closed(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


INIT_SCHEMES = [
    "zeros",
    "ones",
    "constant",
    "normal",
    "uniform",
    "xavier_uniform",
    "xavier_normal",
    "glorot_uniform",
    "glorot_normal",
    "lecun_uniform",
    "lecun_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "he_uniform",
    "he_normal",
    "orthogonal",
    "default",
]

_INIT_ONE = {
    "anyOf": [
        {"enum": INIT_SCHEMES},
        _closed(
            {
                "scheme": {"enum": INIT_SCHEMES},
                "value": NUMBER,
                "mean": NUMBER,
                "std": NUMBER,
                "low": NUMBER,
                "high": NUMBER,
                "gain": NUMBER,
                "nonlinearity": {"enum": ["linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu"]},
                "mode": {"enum": ["fan_in", "fan_out"]},
            },
            ("scheme",),
        ),
    ]
}

INIT = _closed({"weight": _INIT_ONE, "bias": _INIT_ONE})

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"]

INPUT = _closed(
    {
        "shape": {"type": "array", "items": _int_or_expr(1), "description": "per-sample shape (no batch)"},
        "dtype": {"enum": DTYPES, "default": "float32"},
        "doc": {"type": "string"},
    },
    ("shape",),
)

PARAM_TYPES = ["int", "float", "bool", "str", "list", "any"]
BLOCK_PARAM = {
    "anyOf": [
        {"enum": PARAM_TYPES},
        _closed({"type": {"enum": PARAM_TYPES}, "default": {}, "doc": {"type": "string"}}, ("type",)),
    ]
}

NODE = {
    "type": "object",
    "description": "an op (op: name + its arguments) or a block instance (block: name + its parameters)",
    "properties": {
        "op": {"type": "string"},
        "block": {"type": "string"},
        "in": {
            "anyOf": [
                REF,
                {"type": "array", "items": REF},
                {"type": "object", "additionalProperties": REF},
            ]
        },
        "repeat": _int_or_expr(0),
        "if": {
            "anyOf": [{"type": "boolean"}, EXPR],
            "description": "false: the node is left out and its name stands for its (first) input",
        },
        "init": INIT,
        "share": REF,
        "doc": {"type": "string"},
    },
    "oneOf": [{"required": ["op"]}, {"required": ["block"]}],
}

NODES = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": NAME,
    "additionalProperties": {"$ref": "#/$defs/node"},
}

BLOCK = _closed(
    {
        "doc": {"type": "string"},
        "params": {"type": "object", "propertyNames": NAME, "additionalProperties": BLOCK_PARAM},
        "inputs": {"type": "array", "items": NAME, "minItems": 1},
        "nodes": {"$ref": "#/$defs/nodes"},
        "outputs": {"anyOf": [REF, {"type": "object", "propertyNames": NAME, "additionalProperties": REF}]},
    },
    ("nodes",),
)

LIMIT = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}
BOUND = _closed({"min": NUMBER, "max": NUMBER, "equals": NUMBER})

EXPECT = _closed(
    {
        "params": BOUND,
        "macs": BOUND,
        "outputs": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "integer"}},
        },
    }
)

DATASETS = [
    "digits",
    "moons",
    "paired",
    "reverse",
    "shapes",
    "sort",
    "spirals",
    "xor",
]  # a test keeps this equal to archspec.data's
METRIC = {
    "type": "string",
    "pattern": r"^(accuracy(:[0-9.eE+-]+)?|top[0-9]+|topk:[0-9]+|iou|dice|mse|mae)" + _END,
}

AUGMENTS = ["hflip", "vflip", "rotate", "translate", "crop", "noise", "normalize"]
AUGMENT_ITEM = {
    "anyOf": [
        {"enum": AUGMENTS},
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "propertyNames": {"enum": AUGMENTS},
            "additionalProperties": {
                "anyOf": [
                    NUMBER,
                    {"type": "array", "items": NUMBER},
                    {
                        "type": "object",
                        "properties": {
                            "p": NUMBER,
                            "fields": {"type": "array", "items": {"type": "string"}},
                            "degrees": NUMBER,
                            "pixels": {"type": "integer", "minimum": 0},
                            "std": {"anyOf": [NUMBER, {"type": "array", "items": NUMBER}]},
                            "mean": {"anyOf": [NUMBER, {"type": "array", "items": NUMBER}]},
                        },
                        "additionalProperties": False,
                    },
                ]
            },
        },
    ]
}

STREAM = _closed(
    {
        "dataset": {"enum": DATASETS, "description": "a built-in dataset"},
        "csv": {"type": "string"},
        "npz": {"type": "string"},
        "npy": {"type": "object", "additionalProperties": {"type": "string"}},
        "images": {"type": "string"},
        "split": {
            "enum": ["train", "val", "test", "all"],
            "description": "default: the split named by the stream's role; a file read by streams of one role only, with no splits:, is read whole",
        },
        "splits": {
            "type": "object",
            "additionalProperties": NUMBER,
            "description": "fractions of your own file, shared by every stream that reads it (default 0.8/0.1/0.1 train/val/test)",
        },
        "limit": LIMIT,
        "options": {"type": "object"},
        "fields": {
            "type": "object",
            "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "array"}]},
        },
        "batch_size": POS_INT,
        "workers": {
            "type": "integer",
            "minimum": 0,
            "description": "processes that decode an image folder while the model trains (default min(4, CPUs); 0 decodes in the training process); arrays in memory need none",
        },
        "shuffle": {"type": "boolean"},
        "seed": {"type": "integer"},
        "augment": {"type": "array", "items": AUGMENT_ITEM},
        "role": {"enum": ["train", "val", "test"], "default": "train"},
    }
)

LOSSES = [
    "cross_entropy",
    "nll",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse",
    "l1",
    "smooth_l1",
    "huber",
    "kl_div",
    "dice",
]
PENALTIES = ["l1", "l2"]

LOSS = {
    "type": "object",
    "properties": {
        "fn": {
            "enum": [*LOSSES, *(p for p in PENALTIES if p not in LOSSES)],
            "description": "a loss; or l1/l2 with params: for a penalty",
        },
        "stream": {"type": "string"},
        "pred": {"type": "string", "description": "a model output name"},
        "target": {"type": "string", "description": "a stream field, or input:NAME for reconstruction"},
        "weight": {"anyOf": [NUMBER, EXPR]},
        "params": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "options": {"type": "object"},
    },
    "required": ["fn"],
    "additionalProperties": False,
}

OPTIMIZERS = ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax"]
SCHEDULES = ["constant", "step", "cosine", "one_cycle", "plateau"]

OPTIMIZER = {
    "type": "object",
    "properties": {
        "name": {"enum": OPTIMIZERS},
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "momentum": NUMBER,
        "nesterov": {"type": "boolean"},
        "weight_decay": NUMBER,
        "betas": {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2},
        "eps": NUMBER,
        "alpha": NUMBER,
        "rho": NUMBER,
        "groups": {
            "type": "array",
            "items": _closed(
                {
                    "params": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                    "lr": NUMBER,
                    "weight_decay": NUMBER,
                    "momentum": NUMBER,
                },
                ("params",),
            ),
        },
    },
    "required": ["name"],
    "additionalProperties": False,
}

SCHEDULE = {
    "type": "object",
    "properties": {
        "name": {"enum": SCHEDULES},
        "step_size": POS_INT,
        "gamma": NUMBER,
        "warmup": {"type": "integer", "minimum": 0, "description": "warm-up steps"},
        "max_lr": NUMBER,
        "patience": {"type": "integer", "minimum": 0},
        "factor": NUMBER,
        "min_lr": NUMBER,
    },
    "required": ["name"],
    "additionalProperties": False,
}

# A source of weights for ``training.init_from`` (archspec/training/transfer.py checks that it
# has exactly one of ``run`` and ``weights``, and the keys that go with it).
INIT_SOURCE = _closed(
    {
        "weights": {
            "type": "string",
            "description": "a .safetensors file, an artefact directory or a torch.save state_dict "
            "(loaded with weights_only=True), relative to the spec file",
        },
        "map": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "rename the file's tensors: {prefix in the file: prefix in this spec}",
        },
        "run": {"type": "string", "description": "an earlier run directory"},
        "part": {"type": "string", "description": "the earlier run's part"},
    }
)

TRAINING = _closed(
    {
        "solver": {"enum": ["gradient", "closed_form"], "default": "gradient"},
        "ridge": {"type": "number", "minimum": 0},
        "epochs": {"type": "integer", "minimum": 0},
        "max_steps": {"type": "integer", "minimum": 1},
        "batch_size": POS_INT,
        "optimizer": OPTIMIZER,
        "schedule": SCHEDULE,
        "grad_clip": {"type": "number", "exclusiveMinimum": 0},
        "accumulate": POS_INT,
        "precision": {"enum": ["32", "bf16", "fp16", "auto"]},
        "device": {"enum": ["auto", "cpu", "cuda", "mps"]},
        "primary": {"type": "string", "description": "the stream that defines an epoch"},
        "metrics": {
            "anyOf": [
                {"type": "array", "items": METRIC},
                {"type": "object", "additionalProperties": {"type": "array", "items": METRIC}},
            ],
            "description": "metrics per epoch on role: val streams; a list, or {output: [metrics]}",
        },
        "early_stopping": _closed(
            {"metric": {"type": "string"}, "patience": POS_INT, "mode": {"enum": ["min", "max"]}}, ("metric",)
        ),
        "checkpoint_every": POS_INT,
        "checkpoint_seconds": {"type": "number", "minimum": 0},
        "init_from": {
            "type": "object",
            "description": "the whole model from a source, or {part: source}; a source is "
            "{weights: file, map: {prefix in the file: prefix here}} or {run: dir, part: its part}",
            # a mapping with a string value is one source (weights: or run: a path; a misspelt
            # key is then reported against the source's keys); else each value is a part's source
            "if": {"not": {"additionalProperties": {"not": {"type": "string"}}}},
            "then": INIT_SOURCE,
            "else": {"additionalProperties": INIT_SOURCE},
        },
        "freeze": {"type": "array", "items": {"type": "string"}},
        "seed": {"type": "integer"},
    }
)


# ``search:`` is read by ``archspec sweep`` only (archspec/sweep/space.py checks what a schema
# cannot: paths, ranges, conditions); every other command ignores it.
_WHEN = {
    "type": "object",
    "minProperties": 1,
    "description": "sample this entry only when earlier entries took these values (a value or a list of them)",
}
_SEARCH_COMMON = {"when": _WHEN, "doc": {"type": "string"}}
SEARCH_DIM = {
    "anyOf": [
        _closed(
            {
                "int": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                "step": POS_INT,
                "log": {"type": "boolean"},
                **_SEARCH_COMMON,
            },
            ("int",),
        ),
        _closed(
            {
                "float": {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2},
                "step": {"type": "number", "exclusiveMinimum": 0},
                "log": {"type": "boolean"},
                **_SEARCH_COMMON,
            },
            ("float",),
        ),
        _closed({"choice": {"type": "array", "minItems": 1}, **_SEARCH_COMMON}, ("choice",)),
    ],
    "description": "{int: [low, high]}, {float: [low, high]} (with step or log: true), or {choice: [...]}",
}
SEARCH = _closed(
    {
        "space": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"},
            "additionalProperties": SEARCH_DIM,
            "description": "a dotted path into this spec (as --set takes it) -> the values to try",
        },
        "metric": {
            "type": "string",
            "description": "the per-epoch value to optimise (default: the validation metric)",
        },
        "direction": {"enum": ["maximize", "minimize"]},
        "objectives": {"type": "array", "items": {"enum": ["params", "macs"]}, "uniqueItems": True},
        "sampler": {"enum": ["tpe", "random", "grid"]},
        "pruner": {"enum": ["median", "hyperband", "none"]},
        "seed": {"type": "integer"},
    },
    ("space",),
)


REQUIRES = {
    **_closed(
        {
            "plugins": {
                "type": "array",
                "items": {"type": "string", "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"},
                "minItems": 1,
                "uniqueItems": True,
                "description": "plugins whose ops this spec uses: named for people and error messages, never loaded from here (enable one with --plugin NAME or ARCHSPEC_PLUGINS)",
            }
        }
    ),
    "description": "what the spec needs beyond archspec's own ops",
}


def structural_schema() -> dict[str, Any]:
    """The schema without the per-op argument constraints (used before expansion)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "archspec spec",
        "description": "A neural-network architecture, its data, losses and training, for archspec.",
        "type": "object",
        "required": ["archspec", "nodes"],
        "additionalProperties": False,
        "properties": {
            "archspec": {"const": FORMAT_VERSION, "description": "format version"},
            "name": SPEC_NAME,
            "description": {"type": "string"},
            "seed": {"type": "integer"},
            "params": {
                "type": "object",
                "propertyNames": NAME,
                "description": "constants usable in ${...} expressions everywhere",
            },
            "scale": _closed(
                {
                    "width": {"type": "number", "exclusiveMinimum": 0},
                    "depth": {"type": "number", "exclusiveMinimum": 0},
                }
            ),
            "inputs": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": NAME,
                "additionalProperties": INPUT,
            },
            "include": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "spec files (paths relative to this one) whose blocks this spec uses",
            },
            "blocks": {"type": "object", "propertyNames": NAME, "additionalProperties": BLOCK},
            "nodes": {"$ref": "#/$defs/nodes"},
            "outputs": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": NAME,
                "additionalProperties": REF,
            },
            "parts": {
                "type": "object",
                "propertyNames": NAME,
                "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
            "init": INIT,
            "expect": EXPECT,
            "data": {"type": "object", "propertyNames": NAME, "additionalProperties": STREAM},
            "losses": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": NAME,
                "additionalProperties": LOSS,
            },
            "training": TRAINING,
            "search": SEARCH,
            "requires": REQUIRES,
        },
        "$defs": {"node": NODE, "nodes": NODES, "expr": EXPR},
    }


def _items_may_be_expr(schema: Any) -> Any:
    """``schema`` with every list item also allowed to be an expression (``["${k}", "${k}"]``)."""
    if not isinstance(schema, dict):
        return schema
    out = {k: [_items_may_be_expr(s) for s in v] if k == "anyOf" else v for k, v in schema.items()}
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        out["items"] = {"anyOf": [_items_may_be_expr(schema["items"]), {"$ref": "#/$defs/expr"}]}
    return out


def _op_branch(name: str, args_schema: dict[str, Any]) -> dict[str, Any]:
    """``if op == name then the node's other keys are this op's arguments`` (editor completion)."""
    props = {
        k: {"anyOf": [_items_may_be_expr(v), {"$ref": "#/$defs/expr"}]}
        for k, v in args_schema["properties"].items()
    }
    reserved = {k: True for k in NODE["properties"]}
    then = {
        "properties": {**reserved, **props},
        "additionalProperties": False,
    }
    if args_schema.get("required"):
        then["required"] = args_schema["required"]
    return {"if": {"properties": {"op": {"const": name}}, "required": ["op"]}, "then": then}


def build_schema() -> dict[str, Any]:
    """The whole schema, with the op part generated from the catalogue."""
    from archspec.ops import CATALOGUE

    schema = structural_schema()
    ops = sorted(CATALOGUE)
    node = dict(schema["$defs"]["node"])
    node["properties"] = {**node["properties"], "op": {"anyOf": [{"enum": ops}, {"$ref": "#/$defs/expr"}]}}
    node["allOf"] = [_op_branch(name, CATALOGUE[name].args_schema()) for name in ops]
    schema["$defs"] = {**schema["$defs"], "node": node}
    return schema


def schema_text() -> str:
    """The schema as the exact text of ``schemas/archspec.schema.json``."""
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"
