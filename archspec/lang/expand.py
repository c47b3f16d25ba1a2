"""Stage 3: expand blocks, ``repeat`` and ``${...}`` parameters into flat, located nodes.

Every node gets a stable hierarchical id (``enc1.c1``, ``stage2.0.conv1``) and keeps the YAML
position it was written at; nodes that come from a block also remember the chain of block
instances that produced them, so an error inside a block definition points at both.

References (``in:``, ``outputs:``, ``share:``) are resolved lazily once a whole scope is known,
so a node may name a block's output (``enc1.skip``), a copy of a repeated node (``layer.2``),
or a named output of a multi-output op (``halves.left``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archspec.errors import (
    ExpandError,
    GraphError,
    Location,
    SchemaError,
    SpecError,
    SpecErrors,
    did_you_mean,
)
from archspec.lang.expr import ExprError, has_expr, substitute
from archspec.lang.keys import NODE_KEYS, NodeKey
from archspec.lang.loader import Document
from archspec.lang.model import InputSpec, Node, OutputSpec, Ref, Scope, Spec
from archspec.ops import CATALOGUE, OpDef, get_op, suggest_op

__all__ = ["MAX_BLOCK_DEPTH", "MAX_NODES", "expand"]

MAX_NODES = 100_000
MAX_BLOCK_DEPTH = 32
MAX_REPEAT = 10_000

_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "any": (object,),
}


@dataclass
class _Lazy:
    """A reference written in YAML, resolved in its namespace once every scope is known."""

    raw: str
    ns: _Namespace
    loc: Location


@dataclass
class _Entry:
    """What a name in a scope stands for: its default value and its named sub-values."""

    default: Ref | _Lazy | None
    named: dict[str, _Entry] = field(default_factory=dict)
    node_id: str | None = None  # an op node
    inner: _Namespace | None = None  # a block instance: its scope
    last: _Entry | None = None  # a repeat group: its last copy, what the group's name means
    failed: bool = False  # its definition had errors: references to it stay silent


@dataclass
class _Namespace:
    prefix: str
    inputs: dict[str, Ref | _Lazy]
    entries: dict[str, _Entry] = field(default_factory=dict)
    last: str | None = None
    via: tuple[Location, ...] = ()  # the block instances this scope is inside


@dataclass
class _Ctx:
    """Where expansion currently is: scope, parameters and the block-instance chain."""

    ns: _Namespace
    env: dict[str, Any]
    path: tuple[str | int, ...]
    scopes: tuple[Scope, ...] = ()
    via: tuple[Location, ...] = ()
    stack: tuple[str, ...] = ()
    shared_by: str | None = None  # the block instance whose share: covers this scope


def expand(doc: Document) -> Spec:
    """Expand a validated document into a :class:`Spec` of flat nodes (raises SpecErrors)."""
    return _Expander(doc).run()


class _Expander:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.data = doc.data
        self.nodes: dict[str, Node] = {}
        self.scopes: dict[str, Scope] = {}
        self.errors: list[SpecError] = []
        self.pending: list[tuple[Node, list[_Lazy]]] = []
        self.shares: list[tuple[Node, _Lazy]] = []
        self.block_shares: dict[str, tuple[_Lazy, str]] = {}  # instance id -> (target, block)
        self.implicit_shares: list[tuple[Node, str]] = []  # node -> the sharing instance it is in
        self.via: tuple[Location, ...] = ()  # block instances around the node being expanded
        self.seen: set[str] = set()
        self.globals = self._globals()
        self.over_limit = False  # MAX_NODES was passed: reported once, expansion stops

    # -- driver ----------------------------------------------------------------------------

    def run(self) -> Spec:
        inputs = self._inputs()
        top = _Namespace(prefix="", inputs={name: Ref(name) for name in inputs})
        ctx = _Ctx(ns=top, env=dict(self.globals), path=("nodes",))
        self._precount(self.data.get("nodes") or {}, ctx)
        if self.errors:
            raise SpecErrors(self.errors)
        self._expand_nodes(self.data.get("nodes") or {}, ctx)
        self._resolve_pending()
        outputs = self._outputs(top)
        parts = self._parts()
        if self.errors:
            raise SpecErrors(self.errors)
        sections = {k: self.data.get(k) for k in ("data", "losses", "training", "expect", "scale", "params")}
        return Spec(
            doc=self.doc,
            name=str(self.data.get("name") or _stem(self.doc.file)),
            inputs=inputs,
            nodes=self.nodes,
            outputs=outputs,
            parts=parts,
            scopes=self.scopes,
            init=self.data.get("init"),
            seed=int(self.data.get("seed", 0)),
            sections=sections,
        )

    def _globals(self) -> dict[str, Any]:
        scale = self.data.get("scale") or {}
        width, depth = float(scale.get("width", 1.0)), float(scale.get("depth", 1.0))
        env: dict[str, Any] = dict(self.data.get("params") or {})
        env["__fn_width"] = lambda n: max(1, round(n * width))
        env["__fn_depth"] = lambda n: max(1, round(n * depth))
        return env

    def fail(self, err: SpecError) -> None:
        """Record an error once, pointing at the block instances it came through."""
        if not err.via and self.via:
            err = type(err)(err.message, loc=err.loc, hint=err.hint, via=self.via)
        text = str(err)
        if text not in self.seen:  # e.g. the same mistake in every copy of a repeat
            self.seen.add(text)
            self.errors.append(err)

    # -- inputs and outputs ----------------------------------------------------------------

    def _inputs(self) -> dict[str, InputSpec]:
        out: dict[str, InputSpec] = {}
        for name, raw in (self.data.get("inputs") or {}).items():
            path = ("inputs", name)
            shape = self._subst(raw["shape"], self.globals, path + ("shape",))
            if shape is None:
                continue
            if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
                self.fail(
                    SchemaError(
                        f"shape must be positive integers, got {shape!r}", loc=self.doc.loc(path + ("shape",))
                    )
                )
                continue
            out[name] = InputSpec(
                name, tuple(shape), raw.get("dtype", "float32"), self.doc.loc(path, key=True)
            )
        if not out and "inputs" not in self.data:
            self.fail(
                SchemaError(
                    "missing required key 'inputs'",
                    loc=Location(self.doc.file, 1, 1),
                    hint="declare per-sample input shapes, e.g. inputs: {x: {shape: [784]}}",
                )
            )
        return out

    def _outputs(self, top: _Namespace) -> dict[str, OutputSpec]:
        raw_outputs = self.data.get("outputs")
        if raw_outputs is None:
            if top.last is None:
                return {}
            raw_outputs = {"output": top.last}
            loc = self.doc.loc(("nodes", top.last), key=True)
            locs = {"output": loc}
        else:
            locs = {k: self.doc.loc(("outputs", k)) for k in raw_outputs}
        out: dict[str, OutputSpec] = {}
        for name, raw in raw_outputs.items():
            if name in self.data.get("inputs", {}) and raw == name:
                out[name] = OutputSpec(name, Ref(name), locs[name])
                continue
            ref = self._resolve(_Lazy(str(raw), top, locs[name]))
            if ref is not None:
                out[name] = OutputSpec(name, ref, locs[name])
        return out

    def _parts(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, members in (self.data.get("parts") or {}).items():
            chosen: list[str] = []
            for i, pattern in enumerate(members):
                hits = self._part_members(str(pattern))
                if not hits:
                    self.fail(
                        GraphError(
                            f"part {name!r} names unknown node {pattern!r}",
                            loc=self.doc.loc(("parts", name, i)),
                            hint=did_you_mean(pattern, [*self.nodes, *self.scopes]),
                        )
                    )
                chosen += [h for h in hits if h not in chosen]
            out[name] = chosen
        return out

    def _part_members(self, pattern: str) -> list[str]:
        if any(c in pattern for c in "*?["):
            return [n for n in self.nodes if fnmatch.fnmatchcase(n, pattern)]
        return [n for n in self.nodes if n == pattern or n.startswith(pattern + ".")]

    # -- nodes -----------------------------------------------------------------------------

    def _expand_nodes(self, nodes: Mapping[str, Any], ctx: _Ctx) -> None:
        outer, self.via = self.via, ctx.via
        try:
            self._expand_scope(nodes, ctx)
        finally:
            self.via = outer

    def _expand_scope(self, nodes: Mapping[str, Any], ctx: _Ctx) -> None:
        for key, raw in nodes.items():
            path = ctx.path + (key,)
            if not isinstance(raw, Mapping):
                continue  # the schema already reported it
            if self.over_limit:
                return
            before = len(self.errors)
            entry = self._expand_entry(key, raw, ctx, path)
            if entry is None or len(self.errors) > before:
                entry = _Entry(default=None, failed=True)
            ctx.ns.entries[key] = entry
            ctx.ns.last = key

    def _expand_entry(self, key: str, raw: Mapping[str, Any], ctx: _Ctx, path: tuple) -> _Entry | None:
        if key in ctx.ns.inputs:
            self.fail(
                GraphError(
                    f"node {key!r} has the same name as an input",
                    loc=self.doc.loc(path, key=True),
                    hint="rename the node",
                )
            )
            return None
        repeat = self._repeat(raw, ctx, path)
        if repeat is None:
            return None
        if len(self.nodes) + (repeat if NodeKey.BLOCK.value not in raw else 1) > MAX_NODES:
            self._too_many(path, ctx)
            return None
        default_in = self._inputs_of(raw, ctx, path)
        if repeat > 1 and not self._chainable(raw, path):
            return None
        if repeat == 1 and NodeKey.REPEAT.value not in raw:
            return self._expand_one(ctx.ns.prefix + key, raw, ctx, path, default_in, ctx.env)
        group = _Entry(default=None)
        prev_id: str | None = None
        for i in range(repeat):
            if self.over_limit:
                return None
            copy_in = (
                default_in
                if prev_id is None
                else [_Lazy(f"{key}.{i - 1}", ctx.ns, self.doc.loc(path, key=True))]
            )
            env = {**ctx.env, "index": i}
            entry = self._expand_one(f"{ctx.ns.prefix}{key}.{i}", raw, ctx, path, copy_in, env)
            if entry is None:
                return None
            group.named[str(i)] = entry
            group.default = entry.default
            group.last = entry
            prev_id = str(i)
        return group

    def _chainable(self, raw: Mapping[str, Any], path: tuple) -> bool:
        """``repeat`` feeds each copy the previous one: a block must take exactly one input."""
        block = (self.data.get("blocks") or {}).get(raw.get(NodeKey.BLOCK.value))
        names = list(block.get("inputs") or ["x"]) if isinstance(block, Mapping) else ["x"]
        if len(names) == 1:
            return True
        self.fail(
            GraphError(
                f"repeat chains each copy into the next, but block {raw[NodeKey.BLOCK.value]!r} takes {len(names)} inputs ({', '.join(names)})",
                loc=self.doc.loc(path + (NodeKey.REPEAT.value,)),
                hint="repeat a block with one input, or write the copies out",
            )
        )
        return False

    def _precount(self, nodes: Mapping[str, Any], ctx: _Ctx) -> None:
        """Refuse a spec that would expand past MAX_NODES before building any of it.

        Counts literal ``repeat`` values through blocks (an expression counts as 1, and the
        exact limit is enforced again during expansion), so a hostile spec costs milliseconds.
        """
        sizes: dict[str, int] = {}
        total = 0
        for key, raw in nodes.items():
            total += self._size(raw, sizes, ())
            if total > MAX_NODES:
                self._too_many(ctx.path + (key,), ctx)
                return

    def _size(self, raw: Any, sizes: dict[str, int], stack: tuple[str, ...]) -> int:
        if not isinstance(raw, Mapping):
            return 1
        repeat = raw.get(NodeKey.REPEAT.value, 1)
        repeat = repeat if isinstance(repeat, int) and not isinstance(repeat, bool) and repeat > 0 else 1
        name = raw.get(NodeKey.BLOCK.value)
        block = (self.data.get("blocks") or {}).get(name) if isinstance(name, str) else None
        if not isinstance(block, Mapping) or name in stack:
            return repeat
        if name not in sizes:
            inner = block.get("nodes") or {}
            sizes[name] = min(
                sum(self._size(r, sizes, stack + (name,)) for r in inner.values())
                if isinstance(inner, Mapping)
                else 1,
                MAX_NODES + 1,
            )
        return min(repeat * sizes[name], MAX_NODES + 1)

    def _too_many(self, path: tuple, ctx: _Ctx) -> None:
        if not self.over_limit:
            self.over_limit = True
            self.fail(
                ExpandError(
                    f"the spec expands to more than {MAX_NODES} nodes",
                    loc=self.doc.loc(path, key=True),
                    hint="lower a repeat count",
                    via=ctx.via,
                )
            )

    def _repeat(self, raw: Mapping[str, Any], ctx: _Ctx, path: tuple) -> int | None:
        value = self._subst(raw.get(NodeKey.REPEAT.value, 1), ctx.env, path + ("repeat",))
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REPEAT:
            self.fail(
                ExpandError(
                    f"repeat must be an integer from 1 to {MAX_REPEAT}, got {value!r}",
                    loc=self.doc.loc(path + ("repeat",)),
                )
            )
            return None
        return value

    def _inputs_of(
        self, raw: Mapping[str, Any], ctx: _Ctx, path: tuple
    ) -> list[_Lazy] | dict[str, _Lazy] | None:
        """The node's ``in:`` as lazy references (None: the default, decided by the caller)."""
        value = raw.get(NodeKey.IN.value)
        loc = self.doc.loc(path + ("in",))
        if value is None:
            return None
        if isinstance(value, str):
            return [_Lazy(value, ctx.ns, loc)]
        if isinstance(value, list):
            return [_Lazy(str(v), ctx.ns, self.doc.loc(path + ("in", i))) for i, v in enumerate(value)]
        return {k: _Lazy(str(v), ctx.ns, self.doc.loc(path + ("in", k))) for k, v in value.items()}

    def _default_input(self, ctx: _Ctx, path: tuple) -> list[_Lazy] | None:
        ns = ctx.ns
        loc = self.doc.loc(path, key=True)
        if ns.last is not None:
            return [_Lazy(ns.last, ns, loc)]
        if len(ns.inputs) == 1:
            return [_Lazy(next(iter(ns.inputs)), ns, loc)]
        if ns.inputs and ctx.scopes:
            return [_Lazy(next(iter(ns.inputs)), ns, loc)]
        names = ", ".join(ns.inputs) or "none"
        self.fail(
            GraphError(
                f"the first node needs 'in:' (inputs: {names})",
                loc=loc,
                hint="name the input it reads, e.g. in: " + (next(iter(ns.inputs), "x")),
            )
        )
        return None

    def _expand_one(
        self, node_id: str, raw: Mapping[str, Any], ctx: _Ctx, path: tuple, ins: Any, env: dict[str, Any]
    ) -> _Entry | None:
        if ins is None:
            ins = self._default_input(ctx, path)
            if ins is None:
                return None
        if NodeKey.BLOCK.value in raw:
            return self._block_instance(node_id, raw, ctx, path, ins, env)
        return self._op_node(node_id, raw, ctx, path, ins, env)

    # -- op nodes --------------------------------------------------------------------------

    def _op_node(
        self, node_id: str, raw: Mapping[str, Any], ctx: _Ctx, path: tuple, ins: Any, env: dict[str, Any]
    ) -> _Entry | None:
        op = self._lookup_op(raw.get(NodeKey.OP.value), path)
        if op is None:
            return None
        if isinstance(ins, dict):
            self.fail(
                GraphError(
                    "an op takes 'in:' as a name or a list, not a mapping", loc=self.doc.loc(path + ("in",))
                )
            )
            return None
        args = self._op_args(op, raw, env, path, ctx.via)
        if args is None:
            return None
        init = self._subst(raw.get(NodeKey.INIT.value), env, path + ("init",))
        node = Node(
            id=node_id,
            op=op.name,
            args=args,
            inputs=[],
            loc=self.doc.loc(path, key=True),
            arg_locs={k: self.doc.loc(path + (k,)) for k in raw},
            via=ctx.via,
            scopes=ctx.scopes,
            init=init,
            doc=raw.get(NodeKey.DOC.value),
            index=len(self.nodes),
        )
        self.nodes[node_id] = node
        self.pending.append((node, ins))
        if NodeKey.SHARE.value in raw:
            self.shares.append((node, _Lazy(str(raw[NodeKey.SHARE.value]), ctx.ns, node.where("share"))))
        elif ctx.shared_by is not None:
            self.implicit_shares.append((node, ctx.shared_by))
        return self._op_entry(node_id, op, args)

    def _op_entry(self, node_id: str, op: OpDef, args: dict[str, Any]) -> _Entry:
        entry = _Entry(default=Ref(node_id), node_id=node_id)
        if op.outputs is not None:
            names = op.outputs(op.with_defaults(args))
            entry.named = {n: _Entry(default=Ref(node_id, n), node_id=node_id) for n in names}
            entry.default = Ref(node_id, names[0]) if names else Ref(node_id)
        return entry

    def _lookup_op(self, name: Any, path: tuple) -> OpDef | None:
        op = get_op(name) if isinstance(name, str) else None
        if op is None:
            hint = suggest_op(name) or _plugin_hint() or "run 'archspec ops' to list the ops"
            self.fail(SchemaError(f"unknown op {name!r}", loc=self.doc.loc(path + ("op",)), hint=hint))
        return op

    def _op_args(
        self, op: OpDef, raw: Mapping[str, Any], env: dict[str, Any], path: tuple, via: tuple[Location, ...]
    ) -> dict[str, Any] | None:
        args: dict[str, Any] = {}
        ok = True
        for key, value in raw.items():
            if key in NODE_KEYS:
                continue
            if key not in op.args:
                hint = did_you_mean(key, [*op.args, *NODE_KEYS]) or _arg_list_hint(op)
                self.fail(
                    SchemaError(
                        f"{op.name} has no argument {key!r}",
                        loc=self.doc.loc(path + (key,), key=True),
                        hint=hint,
                        via=via,
                    )
                )
                ok = False
                continue
            sub = self._subst(value, env, path + (key,))
            if sub is None and value is not None:
                ok = False
            args[key] = sub
        if not ok:
            return None
        shared = NodeKey.SHARE.value in raw  # a sharing node takes its arguments from its target
        return args if self._check_args(op, args, path, via, shared) else None

    def _check_args(
        self, op: OpDef, args: dict[str, Any], path: tuple, via: tuple[Location, ...], shared: bool
    ) -> bool:
        from archspec.lang.validate import schema_errors

        ok = True
        for err in schema_errors(self.doc, _op_validator(op.name), args, base=path):
            if err.message.startswith("missing required key"):
                if shared:
                    continue
                err = SchemaError(f"{op.name} {err.message}", loc=self.doc.loc(path, key=True), hint=err.hint)
            self.fail(SchemaError(err.message, loc=err.loc, hint=err.hint, via=via))
            ok = False
        return ok

    # -- block instances -------------------------------------------------------------------

    def _block_instance(
        self, node_id: str, raw: Mapping[str, Any], ctx: _Ctx, path: tuple, ins: Any, env: dict[str, Any]
    ) -> _Entry | None:
        name = raw.get(NodeKey.BLOCK.value)
        blocks = self.data.get("blocks") or {}
        if name not in blocks:
            hint = did_you_mean(name, blocks) or (
                f"blocks: {', '.join(blocks)}" if blocks else "define it under 'blocks:'"
            )
            self.fail(SchemaError(f"unknown block {name!r}", loc=self.doc.loc(path + ("block",)), hint=hint))
            return None
        loc = self.doc.loc(path, key=True)
        if name in ctx.stack or len(ctx.stack) >= MAX_BLOCK_DEPTH:
            chain = " -> ".join([*ctx.stack, name])
            self.fail(ExpandError(f"block {name!r} uses itself ({chain})", loc=loc, via=ctx.via))
            return None
        block = blocks[name]
        params = self._block_params(name, block, raw, env, path)
        bound = self._bind_block_inputs(name, block, ins, path)
        if params is None or bound is None:
            return None
        scope = Scope(node_id, name, loc)
        self.scopes[node_id] = scope
        inner_ns = _Namespace(prefix=node_id + ".", inputs=bound, via=ctx.via + (loc,))
        shared_by = ctx.shared_by
        if NodeKey.SHARE.value in raw:
            share_loc = self.doc.loc(path + (NodeKey.SHARE.value,))
            self.block_shares[node_id] = (_Lazy(str(raw[NodeKey.SHARE.value]), ctx.ns, share_loc), name)
            shared_by = node_id
        inner = _Ctx(
            ns=inner_ns,
            env={**self.globals, **params},
            path=("blocks", name, "nodes"),
            scopes=ctx.scopes + (scope,),
            via=ctx.via + (loc,),
            stack=ctx.stack + (name,),
            shared_by=shared_by,
        )
        self._expand_nodes(block.get("nodes") or {}, inner)
        return self._block_entry(name, block, inner_ns)

    def _block_params(
        self, name: str, block: Mapping[str, Any], raw: Mapping[str, Any], env: dict[str, Any], path: tuple
    ) -> dict[str, Any] | None:
        declared: Mapping[str, Any] = block.get("params") or {}
        given = {k: v for k, v in raw.items() if k not in NODE_KEYS}
        values: dict[str, Any] = {}
        ok = True
        for key, value in given.items():
            if key not in declared:
                hint = did_you_mean(key, [*declared, *NODE_KEYS]) or (
                    f"block {name!r} takes: {', '.join(declared)}"
                    if declared
                    else f"block {name!r} takes no parameters"
                )
                self.fail(
                    SchemaError(
                        f"block {name!r} has no parameter {key!r}",
                        loc=self.doc.loc(path + (key,), key=True),
                        hint=hint,
                    )
                )
                ok = False
                continue
            values[key] = self._subst(value, env, path + (key,))
            ok = ok and self._param_type_ok(name, key, declared[key], values[key], path)
        for key, decl in declared.items():
            if key in values:
                continue
            if isinstance(decl, Mapping) and "default" in decl:
                values[key] = self._default(name, key, decl, {**self.globals, **values})
                ok = ok and (values[key] is not None or decl["default"] is None)
            else:
                self.fail(
                    SchemaError(
                        f"block {name!r} needs parameter {key!r}",
                        loc=self.doc.loc(path, key=True),
                        hint=f"add {key}: ... to the node",
                    )
                )
                ok = False
        return values if ok else None

    def _default(self, block: str, key: str, decl: Mapping[str, Any], env: dict[str, Any]) -> Any:
        """A parameter's default: an expression over ``params`` and the parameters given so far."""
        path = ("blocks", block, "params", key, "default")
        value = self._subst(decl["default"], env, path)
        if value is None:
            return None  # null: an optional parameter, or an error already reported
        loc = self.doc.loc(path)
        return value if self._param_type_ok(block, key, decl, value, path[:-1], loc=loc) else None

    def _param_type_ok(
        self, block: str, key: str, decl: Any, value: Any, path: tuple, loc: Location | None = None
    ) -> bool:
        type_name = decl["type"] if isinstance(decl, Mapping) else decl
        types = _PARAM_TYPES.get(type_name, (object,))
        bad_bool = isinstance(value, bool) and type_name in ("int", "float")
        if value is None or bad_bool or not isinstance(value, types):
            self.fail(
                SchemaError(
                    f"parameter {key!r} of block {block!r} must be {type_name}, got {value!r}",
                    loc=loc or self.doc.loc(path + (key,)),
                )
            )
            return False
        return True

    def _bind_block_inputs(
        self, name: str, block: Mapping[str, Any], ins: Any, path: tuple
    ) -> dict[str, _Lazy] | None:
        names: list[str] = list(block.get("inputs") or ["x"])
        loc = self.doc.loc(path + ("in",))
        if isinstance(ins, dict):
            unknown = [k for k in ins if k not in names]
            missing = [k for k in names if k not in ins]
            if unknown or missing:
                what = f"unknown input {unknown[0]!r}" if unknown else f"missing input {missing[0]!r}"
                self.fail(
                    GraphError(
                        f"block {name!r}: {what}",
                        loc=loc,
                        hint=f"block {name!r} takes inputs: {', '.join(names)}",
                    )
                )
                return None
            return dict(ins)
        if len(ins) != len(names):
            hint = (
                f"name them with in: {{{', '.join(f'{n}: ...' for n in names)}}}" if len(names) > 1 else None
            )
            self.fail(
                GraphError(
                    f"block {name!r} takes {len(names)} input(s) ({', '.join(names)}), got {len(ins)}",
                    loc=loc,
                    hint=hint,
                )
            )
            return None
        return dict(zip(names, ins))

    def _block_entry(self, name: str, block: Mapping[str, Any], ns: _Namespace) -> _Entry:
        outputs = block.get("outputs")
        loc = self.doc.loc(("blocks", name, "outputs"))
        entry = _Entry(default=None, inner=ns)
        if isinstance(outputs, str):
            entry.default = _Lazy(outputs, ns, loc)
        elif isinstance(outputs, Mapping):
            for out_name, ref in outputs.items():
                out_loc = self.doc.loc(("blocks", name, "outputs", out_name))
                entry.named[out_name] = _Entry(default=_Lazy(str(ref), ns, out_loc))
            entry.default = next(iter(entry.named.values())).default if entry.named else None
        elif ns.last is not None:
            entry.default = _Lazy(ns.last, ns, loc)
        return entry

    # -- resolution ------------------------------------------------------------------------

    def _resolve_pending(self) -> None:
        for node, lazies in self.pending:
            refs = [self._resolve(lz) for lz in lazies]
            node.inputs = [r for r in refs if r is not None]
        for node, lazy in self.shares:
            self._resolve_share(node, lazy)
        targets = {
            inst: t
            for inst, (lazy, block) in self.block_shares.items()
            if (t := self._share_instance(inst, lazy, block))
        }
        for node, inst in self.implicit_shares:
            if inst in targets:
                self._share_counterpart(node, inst, targets[inst])

    def _resolve_share(self, node: Node, lazy: _Lazy) -> None:
        entry = self._lookup(lazy)
        if entry is None or entry.failed:
            return
        entry = entry.last or entry  # a repeat group's name means its last copy
        if entry.node_id is None:
            self.fail(
                GraphError(
                    f"'share' must name an op node, got {lazy.raw!r}",
                    loc=lazy.loc,
                    hint="to share a whole block, put share: on the block instance",
                    via=lazy.ns.via,
                )
            )
        elif entry.node_id == node.id:
            self.fail(
                GraphError(
                    "a node cannot share weights with itself",
                    loc=lazy.loc,
                    via=lazy.ns.via,
                    hint="name another node of the same op",
                )
            )
        else:
            node.share = entry.node_id

    def _share_instance(self, inst: str, lazy: _Lazy, block: str) -> str | None:
        """The block instance that instance ``inst`` takes its weights from (None: an error)."""
        entry = self._lookup(lazy)
        if entry is None or entry.failed:
            return None
        entry = entry.last or entry
        target = entry.inner.prefix[:-1] if entry.inner is not None else None
        if target is None:
            self.fail(
                GraphError(
                    f"'share' on a block instance must name a block instance, got {lazy.raw!r}",
                    loc=lazy.loc,
                    via=lazy.ns.via,
                    hint="to share one layer, put share: on an op node",
                )
            )
        elif target == inst:
            self.fail(
                GraphError(
                    "a block instance cannot share weights with itself",
                    loc=lazy.loc,
                    via=lazy.ns.via,
                    hint=f"name another instance of block {block!r}",
                )
            )
        elif self.scopes[target].block != block:
            other = self.scopes[target].block
            self.fail(
                GraphError(
                    f"{lazy.raw!r} is an instance of block {other!r}, not {block!r}",
                    loc=lazy.loc,
                    via=lazy.ns.via,
                    hint="instances that share weights must use the same block",
                )
            )
        else:
            return target
        return None

    def _share_counterpart(self, node: Node, inst: str, target: str) -> None:
        """A node inside a sharing instance shares with the same inner node of the target."""
        other = target + node.id[len(inst) :]
        if other not in self.nodes:
            self.fail(
                GraphError(
                    f"{node.id!r} has no counterpart {other!r} in {target!r} to share weights with",
                    loc=node.loc,
                    via=node.via,
                    hint="instances that share weights need the same inner nodes",
                )
            )
            return
        node.share = other
        node.meta["shared_instance"] = inst

    def _resolve(self, lazy: _Lazy, depth: int = 0) -> Ref | None:
        via = lazy.ns.via
        if depth > MAX_BLOCK_DEPTH * 4:
            self.fail(GraphError(f"reference {lazy.raw!r} refers to itself", loc=lazy.loc, via=via))
            return None
        head = lazy.raw.split(".", 1)[0]
        if head in lazy.ns.inputs and head not in lazy.ns.entries:
            if "." in lazy.raw:
                self.fail(GraphError(f"input {head!r} has no outputs to select", loc=lazy.loc, via=via))
                return None
            return self._value(lazy.ns.inputs[head], lazy, depth)
        entry = self._lookup(lazy)
        if entry is None or entry.failed:
            return None
        if entry.default is None:
            self.fail(
                GraphError(
                    f"{lazy.raw!r} has no default output",
                    loc=lazy.loc,
                    via=via,
                    hint="name one of: " + ", ".join(f"{lazy.raw}.{n}" for n in entry.named),
                )
            )
            return None
        return self._value(entry.default, lazy, depth)

    def _value(self, value: Ref | _Lazy, via: _Lazy, depth: int) -> Ref | None:
        return value if isinstance(value, Ref) else self._resolve(value, depth + 1)

    def _lookup(self, lazy: _Lazy) -> _Entry | None:
        parts = lazy.raw.split(".")
        ns = lazy.ns
        entry = ns.entries.get(parts[0])
        if entry is None:
            known = [*ns.entries, *ns.inputs]
            self.fail(
                GraphError(
                    f"unknown node {parts[0]!r}",
                    loc=lazy.loc,
                    via=ns.via,
                    hint=did_you_mean(parts[0], known) or _known_hint(known),
                )
            )
            return None
        for i, part in enumerate(parts[1:], start=1):
            if entry.failed:
                return entry
            nxt = _child(entry, part) or (_child(entry.last, part) if entry.last else None)
            if nxt is None:
                known = [*_children(entry), *(_children(entry.last) if entry.last else [])]
                where = ".".join(parts[:i])
                self.fail(
                    GraphError(
                        f"{where!r} has no output or node {part!r}",
                        loc=lazy.loc,
                        via=ns.via,
                        hint=did_you_mean(part, known) or _known_hint(known),
                    )
                )
                return None
            entry = nxt
        return entry

    # -- helpers ---------------------------------------------------------------------------

    def _subst(self, value: Any, env: Mapping[str, Any], path: tuple) -> Any:
        if not _contains_expr(value):
            return value
        try:
            return substitute(value, env)
        except ExprError as exc:
            self.fail(ExpandError(exc.message, loc=self.doc.loc(path), hint=exc.hint))
            return None


def _child(entry: _Entry, name: str) -> _Entry | None:
    """A named output, a repeat copy or an inner node of ``entry``."""
    return entry.named.get(name) or (entry.inner.entries.get(name) if entry.inner else None)


def _children(entry: _Entry) -> list[str]:
    return [*entry.named, *(entry.inner.entries if entry.inner else {})]


def _contains_expr(value: Any) -> bool:
    if isinstance(value, list):
        return any(_contains_expr(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_expr(v) for v in value.values())
    return has_expr(value)


def _plugin_hint() -> str | None:
    from archspec.plugins import available_plugins

    names = available_plugins()
    return (
        f"installed plugins that may define it: {', '.join(names)} (enable with --plugin NAME)"
        if names
        else None
    )


def _known_hint(known: list[str]) -> str | None:
    return f"known here: {', '.join(known[:12])}" if known else None


def _arg_list_hint(op: OpDef) -> str:
    return f"{op.name} takes: {', '.join(op.args)}" if op.args else f"{op.name} takes no arguments"


def _stem(file: str) -> str:
    """The default spec name: the file's name without its suffix, made one folder name as a
    ``name:`` must be (``my net.yaml`` -> ``my_net``)."""
    from archspec.fileio import path_component

    base = file.replace("\\", "/").rsplit("/", 1)[-1]
    return path_component(base.rsplit(".", 1)[0])


_VALIDATORS: dict[str, Any] = {}


def _op_validator(name: str) -> Any:
    """One compiled jsonschema validator per op (cached: large specs repeat ops)."""
    v = _VALIDATORS.get(name)
    if v is None:
        from jsonschema import Draft202012Validator

        v = _VALIDATORS[name] = Draft202012Validator(CATALOGUE[name].args_schema())
    return v
