"""``import --allow-opaque``: a module no catalogue op expresses becomes an op of a plugin.

The module is traced as one call (a leaf) and written as a node whose op comes from a plugin
that import writes beside the spec (``<spec>_plugin.py``): ``OPS = [module_op(...)]``, each op
building the source's own class. The class's constructor arguments are recorded while the
target is built (:class:`Constructions` wraps the ``__init__`` of every ``nn.Module`` class
defined outside torch, for that time only), bound to its signature by name, and kept only when
rebuilding the class from them gives the source module's configuration and weight shapes.

The spec never loads the plugin: it names it under ``requires.plugins``, and the user enables it
(``archspec --plugin NAME``), which runs the code that defines the class.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import re
import sys
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from archspec.errors import ImportModelError
from archspec.importer.mapping import builds_same
from archspec.importer.trace import Traced
from archspec.lang.keys import NODE_KEYS
from archspec.ops import REQUIRED, Arg, OpDef, Recipe

__all__ = ["Constructions", "OpaqueOp", "PLUGIN_MARK", "describe_opaque", "plugin_name", "plugin_source"]

#: The first line of every plugin file import writes; import rewrites only a file that has it.
PLUGIN_MARK = "# Written by `archspec import --allow-opaque`"
FILE_MODULE_PREFIX = "_archspec_import_"  # target.py loads a file.py target under this name
_HINT = "register a plugin op for it by hand (see docs/cookbook.md, 'Your own module as an op')"


class Constructions:
    """The arguments each ``nn.Module`` built while :meth:`recording` was called with."""

    def __init__(self) -> None:
        self._args: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[Any, ...], dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    @contextlib.contextmanager
    def recording(self) -> Iterator[Constructions]:
        """Record constructor calls of the classes defined outside torch (restored on exit)."""
        wrapped = [cls for cls in _module_classes() if "__init__" in vars(cls)]
        originals = {cls: vars(cls)["__init__"] for cls in wrapped}
        for cls, init in originals.items():
            cls.__init__ = self._recorder(init)  # type: ignore[misc]
        try:
            yield self
        finally:
            for cls, init in originals.items():
                cls.__init__ = init  # type: ignore[misc]

    def _recorder(self, init: Any) -> Any:
        def __init__(module: nn.Module, *args: Any, **kwargs: Any) -> None:
            if module not in self._args:  # the outermost call: a super().__init__(...) is not it
                self._args[module] = (args, dict(kwargs))
            init(module, *args, **kwargs)

        return __init__

    def of(self, module: nn.Module) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        return self._args.get(module)


def _module_classes() -> list[type]:
    seen: set[type] = set()
    stack = [nn.Module]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return [c for c in seen if not _in_torch(c.__module__ or "")]


def _in_torch(module: str) -> bool:
    """Whether a module name is torch's own (``torchvision`` or a user's ``torchy`` is not)."""
    return module == "torch" or module.startswith("torch.")


@dataclass
class OpaqueOp:
    """One plugin op: the class it builds, its arguments, and how the plugin imports the class."""

    name: str
    cls: type
    args: dict[str, Arg]
    inputs: int | tuple[int, int]
    probe: str  # "meta", or "cpu" where the forward reads values
    recorded: bool  # False: no constructor call was seen; built with no arguments
    paths: list[str] = field(default_factory=list)

    def opdef(self) -> OpDef:
        from archspec.plugins import module_op

        return module_op(
            self.name, self.cls, args=self.args, inputs=self.inputs, probe=self.probe, doc=self.doc
        )

    @property
    def doc(self) -> str:
        return f"{self.cls.__qualname__} from {_origin(self.cls)} (imported opaque)"


@dataclass
class Opaque:
    """What ``--allow-opaque`` adds: the plugin's ops, and each opaque node's op and arguments."""

    ops: list[OpaqueOp]
    nodes: dict[str, tuple[str, dict[str, Any]]]  # module path -> (op name, its arguments)


def plugin_name(spec_name: str) -> str:
    """``model`` -> ``model_plugin``: the module the spec's plugin is written as."""
    return f"{_snake(spec_name)}_plugin"


def describe_opaque(traced: Traced, constructions: Constructions | None, prefix: str) -> Opaque:
    """The op of each opaque leaf in ``traced`` (one op per class, named ``<prefix>_<class>``)."""
    calls = _calls(traced)
    by_class: dict[type, list[tuple[str, dict[str, Any], int]]] = {}
    for path in traced.probes:
        module = traced.root.get_submodule(path)
        args = _constructor_args(path, module, constructions)
        by_class.setdefault(type(module), []).append((path, args, calls.get(path, 1)))
    ops, nodes, taken = [], {}, set()
    for cls, instances in by_class.items():
        name = _unique(f"{_snake(prefix)}_{_snake(cls.__name__)}", taken)
        counts = sorted({n for _, _, n in instances})
        recorded = all(
            constructions is not None and constructions.of(traced.root.get_submodule(p))
            for p, _, _ in instances
        )
        op = OpaqueOp(
            name=name,
            cls=cls,
            args=_arg_schemas(cls, [a for _, a, _ in instances]),
            inputs=counts[0] if len(counts) == 1 else (counts[0], counts[-1]),
            probe="cpu" if any(traced.probes[p] == "cpu" for p, _, _ in instances) else "meta",
            recorded=recorded or not inspect.signature(cls).parameters,
            paths=[p for p, _, _ in instances],
        )
        ops.append(op)
        for path, args, _ in instances:
            nodes[path] = (name, _non_default(args, op.args))
    return Opaque(ops=ops, nodes=nodes)


def _calls(traced: Traced) -> dict[str, int]:
    """How many tensors each opaque leaf is called with."""
    out = {}
    for node in traced.nodes:
        if node.kind == "call_module" and node.target in traced.probes:
            out[str(node.target)] = len(node.args)
    return out


def _constructor_args(path: str, module: nn.Module, constructions: Constructions | None) -> dict[str, Any]:
    """The module's constructor arguments by name, checked by rebuilding it from them."""
    cls = type(module)
    where = f"{cls.__module__}.{cls.__qualname__}"
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        raise ImportModelError(
            f"{cls.__name__} is defined in {where!r}, where a plugin cannot import it from",
            module=path,
            construct=cls.__name__,
            hint="define the class at the top level of a module or file.py",
        )
    args, kwargs = (constructions.of(module) if constructions else None) or ((), {})
    try:
        bound = inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        raise ImportModelError(
            f"{cls.__name__}'s recorded arguments do not fit its signature: {exc}",
            module=path,
            construct=cls.__name__,
            hint=_HINT,
        ) from None
    out = _by_name(bound, path, cls.__name__)
    if not builds_same(Recipe(cls, out), module):
        got = ", ".join(f"{k}={v!r}" for k, v in out.items())
        raise ImportModelError(
            f"{cls.__name__}({got}) does not rebuild the source module (its configuration or weight "
            "shapes differ): import did not see the arguments it was built with",
            module=path,
            construct=cls.__name__,
            hint="build the model inside the target's factory or class, so import sees each constructor call; or "
            + _HINT,
        )
    return out


def _by_name(bound: inspect.BoundArguments, path: str, cls: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL and value:
            raise ImportModelError(
                f"{cls} is built with extra positional arguments (*{name}), which a spec cannot name",
                module=path,
                construct=cls,
                hint=_HINT,
            )
        items = value.items() if kind is inspect.Parameter.VAR_KEYWORD else [(name, value)]
        for key, item in items:
            if kind is inspect.Parameter.VAR_POSITIONAL:
                continue
            out[key] = _spec_value(key, item, path, cls)
    return out


def _spec_value(key: str, value: Any, path: str, cls: str) -> Any:
    if key in NODE_KEYS:
        raise ImportModelError(
            f"{cls}'s argument {key!r} has the name of a node key a spec reserves",
            module=path,
            construct=cls,
            hint=_HINT,
        )
    plain = _plain(value)
    if plain is _NOT_PLAIN:
        raise ImportModelError(
            f"{cls} is built with {key}={_short(value)}, a {type(value).__name__}, which a spec cannot hold "
            "(numbers, strings, booleans, null and lists of them)",
            module=path,
            construct=cls,
            hint=_HINT,
        )
    return plain


_NOT_PLAIN = object()


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NOT_PLAIN
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _NOT_PLAIN if any(i is _NOT_PLAIN for i in items) else items
    return _NOT_PLAIN


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_SCHEMAS = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def _arg_schemas(cls: type, instances: list[dict[str, Any]]) -> dict[str, Arg]:
    """Each argument's JSON type (from the values seen) and default (the signature's, if plain)."""
    params = inspect.signature(cls).parameters
    names = list(dict.fromkeys(k for args in instances for k in args))
    out = {}
    for name in names:
        types = {_SCHEMAS.get(type(a[name]), "null") for a in instances if name in a}
        if types == {"integer", "number"}:
            types = {"number"}
        schema = {"type": types.pop()} if len(types) == 1 and "null" not in types else {}
        default = params[name].default if name in params else inspect.Parameter.empty
        plain = _plain(default) if default is not inspect.Parameter.empty else _NOT_PLAIN
        out[name] = Arg(schema, REQUIRED if plain is _NOT_PLAIN else plain)
    return out


def _non_default(args: Mapping[str, Any], schemas: Mapping[str, Arg]) -> dict[str, Any]:
    out = {}
    for key, value in args.items():
        default = schemas[key].default
        if default is REQUIRED or type(value) is not type(default) or value != default:
            out[key] = value
    return out


def _snake(name: str) -> str:
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    text = re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_").lower() or "op"
    return f"m_{text}" if text[0].isdigit() else text


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


# -- the plugin file -------------------------------------------------------------------------------


def plugin_source(ops: list[OpaqueOp], *, spec_file: str, folder: str | os.PathLike[str]) -> str:
    """The plugin module's text, for a plugin written into ``folder`` beside ``spec_file``."""
    name = plugin_name(Path(spec_file).stem)
    imports, loads = _class_imports(ops, Path(folder))
    unrecorded = [op.cls.__name__ for op in ops if not op.recorded]
    runs = sorted(
        {
            ("runs " if op.cls.__module__.startswith(FILE_MODULE_PREFIX) else "imports ") + _origin(op.cls)
            for op in ops
        }
    )
    lines = [
        f"{PLUGIN_MARK} for {Path(spec_file).name}; import rewrites this file: edit a copy.",
        f'"""The ops of {Path(spec_file).name} that no archspec op expresses: each builds the source\'s own class.',
        "",
        f"Enabling this plugin runs Python code: it {' and '.join(runs)}.",
        "Enable it only if you trust that code, with this folder on the module path:",
        "",
        f"    PYTHONPATH=. archspec --plugin {name} validate {Path(spec_file).name}",
        "",
        "A node's arguments are the class's constructor arguments, recorded when import built the model.",
    ]
    if unrecorded:
        lines.append(
            f"{', '.join(unrecorded)}: no constructor call was seen; built with no arguments "
            "(its rebuilt configuration and weight shapes matched the source's)."
        )
    lines += ['"""', "", "from __future__ import annotations", "", *imports, ""]
    lines += ["from archspec.ops import Arg", "from archspec.plugins import module_op", "", *loads]
    lines.append("OPS = [")
    for op in ops:
        lines += _op_lines(op)
    lines.append("]")
    return "\n".join(lines) + "\n"


def _origin(cls: type) -> str:
    """``mypkg.layers``, or the file a ``file.py`` target's class came from (``gated.py``)."""
    if cls.__module__.startswith(FILE_MODULE_PREFIX):
        return Path(sys.modules[cls.__module__].__file__ or "").name
    return cls.__module__


def _class_imports(ops: list[OpaqueOp], folder: Path) -> tuple[list[str], list[str]]:
    """``from pkg.mod import Gate`` lines; a class from a ``file.py`` target loads that file."""
    imports: list[str] = []
    loads: list[str] = []
    files: dict[str, str] = {}
    for op in ops:
        module, top = op.cls.__module__, op.cls.__qualname__.split(".")[0]
        if not module.startswith(FILE_MODULE_PREFIX):
            line = f"from {module} import {top}"
            if line not in imports:
                imports.append(line)
            continue
        if module not in files:
            files[module] = f"_file{len(files)}" if files else "_file"
            path = Path(sys.modules[module].__file__ or "").resolve()
            try:
                rel = os.path.relpath(path, folder.resolve())
            except ValueError:  # another drive (Windows): the absolute path
                rel = str(path)
            loads.append(f"{files[module]} = _load({_py(rel.replace(os.sep, '/'))}, {_py(module)})")
        loads.append(f"{top} = {files[module]}.{top}")
    if files:
        imports = ["import importlib.util", "import sys", "from pathlib import Path", *imports]
        loads = [*_LOADER, *loads, ""]
    elif loads:
        loads.append("")
    return imports, loads


_LOADER = [
    "",
    "def _load(path: str, name: str):",
    '    """The model file import ran, run again here (once per process), relative to this file."""',
    "    if name in sys.modules:",
    "        return sys.modules[name]",
    "    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / path)",
    "    module = importlib.util.module_from_spec(spec)",
    "    sys.modules[name] = module",
    "    spec.loader.exec_module(module)",
    "    return module",
    "",
    "",
]


def _op_lines(op: OpaqueOp) -> list[str]:
    lines = ["    module_op(", f"        {_py(op.name)},", f"        {op.cls.__qualname__},"]
    if op.args:
        lines.append("        args={")
        for key, arg in op.args.items():
            default = "" if arg.default is REQUIRED else f", {_py(arg.default)}"
            lines.append(f"            {_py(key)}: Arg({_py(dict(arg.schema))}{default}),")
        lines.append("        },")
    if op.inputs != 1:
        lines.append(f"        inputs={_py(op.inputs)},")
    if op.probe != "meta":
        lines.append(
            f"        probe={_py(op.probe)},  # its forward reads values: shapes from a run on CPU zeros"
        )
    lines += [f"        doc={_py(op.doc)},", "    ),"]
    return lines


def _py(value: Any) -> str:
    """A plain value as Python source, strings double-quoted as a person (and ruff) writes them."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_py(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)
