"""Stage 3: expand blocks, ``repeat`` and ``${...}`` parameters into flat, located nodes.

Every node gets a stable hierarchical id (``enc1.c1``, ``stage2.0.conv1``) and keeps the YAML
position it was written at; nodes that come from a block also remember the chain of block
instances that produced them, so an error inside a block definition points at both.

References (``in:``, ``outputs:``, ``share:``) are resolved lazily once a whole scope is known,
so a node may name a block's output (``enc1.skip``), a copy of a repeated node (``layer.2``),
or a named output of a multi-output op (``halves.left``).

This module is the walk over the scopes; each job it hands off has a module of its own:
``limits`` (how far a spec may expand), ``params`` (``${...}`` values and typed block
parameters), ``binding`` (``in:`` and a block's inputs and outputs), ``namespace`` (what a
reference means), ``sharing`` (``share:``), ``interface`` (the spec's inputs, outputs, parts)
and ``errorlog`` (every error once, with its block instances). Op arguments are evaluated here
but checked by the next pass, :func:`archspec.lang.validate.validate_op_args`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archspec.errors import ExpandError, GraphError, SchemaError, SpecError, SpecErrors, did_you_mean
from archspec.lang.binding import (
    Inputs,
    bind_block_inputs,
    block_input_names,
    default_input,
    instance_entry,
    node_inputs,
    op_entry,
)
from archspec.lang.errorlog import ErrorLog, Reporter
from archspec.lang.interface import spec_inputs, spec_outputs, spec_parts
from archspec.lang.keys import NODE_KEYS, NodeKey
from archspec.lang.limits import (
    MAX_BLOCK_DEPTH,
    MAX_NODES,
    MAX_REPEAT,
    MAX_VISITS,
    overflow,
    repeat_error,
    too_many,
    too_many_visits,
)
from archspec.lang.loader import Document
from archspec.lang.model import InputSpec, Node, OutputSpec, Ref, Scope, Spec
from archspec.lang.namespace import Entry, LazyRef, Namespace, resolve
from archspec.lang.params import block_params, global_env, subst
from archspec.lang.shapeexpr import Deferred, shape_names
from archspec.lang.sharing import Shares
from archspec.lang.validate import op_args_valid
from archspec.ops import OpDef, get_op, suggest_op

__all__ = ["MAX_BLOCK_DEPTH", "MAX_NODES", "MAX_REPEAT", "MAX_VISITS", "ExpansionErrors", "expand"]

Path = tuple[str | int, ...]
# reserved keys as plain strings (an Enum member's .value costs a descriptor call per node)
_BLOCK = NodeKey.BLOCK.value
_DOC = NodeKey.DOC.value
_IF = NodeKey.IF.value
_INIT = NodeKey.INIT.value
_OP = NodeKey.OP.value
_REPEAT = NodeKey.REPEAT.value
_SHARE = NodeKey.SHARE.value
_SECTIONS = ("data", "losses", "training", "expect", "scale", "params")


class ExpansionErrors(SpecErrors):
    """Expansion's errors, with the op nodes that did expand, so a later pass can check them too."""

    def __init__(self, errors: Sequence[SpecError], nodes: dict[str, Node]) -> None:
        super().__init__(errors)
        self.nodes = nodes


def expand(doc: Document) -> Spec:
    """Expand a validated document into a :class:`Spec` of flat nodes (raises ExpansionErrors)."""
    rep = Reporter(doc, ErrorLog())
    walk = _Walk(doc, global_env(doc.data), rep.log)
    inputs = spec_inputs(rep, walk.globals)
    too_big = overflow(doc, walk.globals)
    if too_big is not None:
        rep.fail(too_big)
    if rep.log:
        raise ExpansionErrors(rep.log.errors, {})
    top = Namespace(prefix="", inputs={name: Ref(name) for name in inputs})
    walk.scope(doc.data.get("nodes") or {}, _Ctx(ns=top, env=dict(walk.globals), path=("nodes",), rep=rep))
    walk.built.link(rep.log)
    outputs = spec_outputs(rep, top)
    parts = spec_parts(rep, walk.built.nodes, walk.built.scopes)
    if rep.log:
        raise ExpansionErrors(rep.log.errors, walk.built.nodes)
    return _spec(doc, inputs, walk.built, outputs, parts)


def _spec(
    doc: Document, inputs: dict[str, InputSpec], built: _Built, outputs: dict[str, OutputSpec], parts: dict
) -> Spec:
    data = doc.data
    return Spec(
        doc=doc,
        name=str(data.get("name") or _stem(doc.file)),
        inputs=inputs,
        nodes=built.nodes,
        outputs=outputs,
        parts=parts,
        scopes=built.scopes,
        init=data.get("init"),
        seed=int(data.get("seed", 0)),
        sections={k: data.get(k) for k in _SECTIONS},
    )


def _stem(file: str) -> str:
    """The default spec name: the file's name without its suffix, made one folder name as a
    ``name:`` must be (``my net.yaml`` -> ``my_net``)."""
    from archspec.fileio import path_component

    base = file.replace("\\", "/").rsplit("/", 1)[-1]
    return path_component(base.rsplit(".", 1)[0])


@dataclass
class _Built:
    """What the walk builds: the only state that grows as expansion goes."""

    nodes: dict[str, Node] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)
    links: list[tuple[Node, list[LazyRef]]] = field(default_factory=list)  # each node's in:, unresolved
    shares: Shares = field(default_factory=Shares)
    deferred: list[Deferred] = field(default_factory=list)  # arguments that read inferred shapes
    count: int = 0  # op sites and failed instances visited, valid or not: what MAX_NODES bounds
    visits: int = 0  # op sites and block instances visited at every depth: what MAX_VISITS bounds
    full: bool = False  # MAX_NODES or MAX_VISITS was passed: reported once, expansion stops

    def add(self, node: Node, ins: list[LazyRef], share: LazyRef | None, shared_by: str | None) -> None:
        """Add an op node reading ``ins``, sharing weights with ``share`` or as part of ``shared_by``."""
        self.nodes[node.id] = node
        self.links.append((node, ins))
        if share is not None:
            self.shares.nodes.append((node, share))
        elif shared_by is not None:
            self.shares.members.append((node, shared_by))

    def link(self, log: ErrorLog) -> None:
        """Resolve every node's inputs and shares, now that every scope is known."""
        for node, lazies in self.links:
            node.inputs = [ref for lazy in lazies if (ref := resolve(lazy, log)) is not None]
        self.shares.resolve(self.nodes, self.scopes, log)
        for deferred in self.deferred:
            deferred.refs = {name: resolve(lazy, log) for name, lazy in deferred.refs.items()}


@dataclass(frozen=True)
class _Ctx:
    """Where the walk is: a scope, its parameters, its YAML path and the block instances around it."""

    ns: Namespace
    env: dict[str, Any]
    path: Path
    rep: Reporter
    scopes: tuple[Scope, ...] = ()
    stack: tuple[str, ...] = ()  # the blocks being expanded, outermost first
    shared_by: str | None = None  # the block instance whose share: covers this scope


@dataclass(frozen=True)
class _Site:
    """One node to expand: its id, what was written, where, and what its ``${...}`` see."""

    id: str
    raw: Mapping[str, Any]
    path: Path
    env: dict[str, Any]


@dataclass
class _Walk:
    """The walk over the scopes. Each method expands one kind of entry and returns what its
    name stands for in the scope (None: it failed, reported, and references to it stay silent)."""

    doc: Document
    globals: dict[str, Any]
    log: ErrorLog
    built: _Built = field(default_factory=_Built)
    hints: dict[str, str] = field(default_factory=dict)  # unknown op name -> its hint, found once

    def scope(self, nodes: Mapping[str, Any], ctx: _Ctx) -> None:
        for key, raw in nodes.items():
            if not isinstance(raw, Mapping):
                self.built.count += 1
                self.built.visits += 1
                continue  # the schema already reported it
            if self.built.full:
                return
            before = len(self.log)
            entry = self.entry(key, raw, ctx)
            if entry is None or len(self.log) > before:
                entry = Entry(default=None, failed=True)
            ctx.ns.entries[key] = entry
            ctx.ns.last = key

    def entry(self, key: str, raw: Mapping[str, Any], ctx: _Ctx) -> Entry | None:
        path = ctx.path + (key,)
        if key in ctx.ns.inputs:
            ctx.rep.fail(
                GraphError(
                    f"node {key!r} has the same name as an input",
                    loc=ctx.rep.loc(path, key=True),
                    hint="rename the node",
                )
            )
            return None
        enabled = self.enabled(raw, ctx, path)
        repeat = self.repeat(raw, ctx, path) if enabled else 0
        if enabled is None or repeat is None:
            return None
        ins = node_inputs(ctx.rep, raw, ctx.ns, path)
        if repeat == 0:
            return self.passthrough(raw, ctx, path, ins)
        if not self.fits(repeat if _BLOCK not in raw else 1, path, ctx):
            return None
        if repeat == 1 and _REPEAT not in raw:
            return self.one(_Site(ctx.ns.prefix + key, raw, path, ctx.env), ctx, ins)
        return self.group(key, raw, ctx, ins, repeat)

    def enabled(self, raw: Mapping[str, Any], ctx: _Ctx, path: Path) -> bool | None:
        """The node's ``if:`` (default true; None: not true or false, reported)."""
        if _IF not in raw:
            return True
        value = subst(raw[_IF], ctx.env, path + (_IF,), ctx.rep)
        if isinstance(value, bool):
            return value
        if value is not None:
            ctx.rep.fail(
                ExpandError(
                    f"if must be true or false, got {value!r}",
                    loc=ctx.rep.loc(path + (_IF,)),
                    hint="write a comparison, e.g. if: ${stride == 1}",
                )
            )
        return None

    def passthrough(self, raw: Mapping[str, Any], ctx: _Ctx, path: Path, ins: Inputs | None) -> Entry | None:
        """A node left out (``if:`` false or ``repeat: 0``): its name stands for its first input."""
        if ins is None:
            ins = default_input(ctx.rep, ctx.ns, path, in_block=bool(ctx.scopes))
        if isinstance(ins, dict):
            block = (self.doc.data.get("blocks") or {}).get(raw.get(_BLOCK))
            first = block_input_names(block)[0] if isinstance(block, Mapping) else None
            ins = [ins[first]] if first in ins else list(ins.values())
        if not ins:
            return None
        return Entry(default=ins[0])

    def repeat(self, raw: Mapping[str, Any], ctx: _Ctx, path: Path) -> int | None:
        value = subst(raw.get(_REPEAT, 1), ctx.env, path + (_REPEAT,), ctx.rep)
        error = repeat_error(value, self.doc, path) if value is not None else None
        if error is not None:
            ctx.rep.fail(error)
        return None if value is None or error is not None else value

    def fits(self, more: int, path: Path, ctx: _Ctx) -> bool:
        """Whether ``more`` nodes stay within MAX_NODES and MAX_VISITS; the first time not, reported."""
        built = self.built
        if built.count + more <= MAX_NODES and built.visits + more <= MAX_VISITS:
            return True
        if not built.full:
            built.full = True
            error = too_many if built.count + more > MAX_NODES else too_many_visits
            ctx.rep.fail(error(ctx.rep.loc(path, key=True), ctx.rep.via))
        return False

    def group(self, key: str, raw: Mapping[str, Any], ctx: _Ctx, ins: Inputs | None, n: int) -> Entry | None:
        """``repeat: n``: copies ``key.0`` .. ``key.{n-1}``, each reading the one before it.

        A block with several inputs chains its first; the others (a mask, a conditioning
        vector) go to every copy as written.
        """
        path = ctx.path + (key,)
        group = Entry(default=None)
        for i in range(n):
            if self.built.full:
                return None
            prev = LazyRef(f"{key}.{i - 1}", ctx.ns, ctx.rep.loc(path, key=True))
            copy_in = ins if i == 0 else self.chained(raw, ins, prev)
            entry = self.one(
                _Site(f"{ctx.ns.prefix}{key}.{i}", raw, path, {**ctx.env, "index": i}), ctx, copy_in
            )
            if entry is None:
                return None
            group.named[str(i)] = entry
            group.default, group.last = entry.default, entry
        return group

    def chained(self, raw: Mapping[str, Any], ins: Inputs | None, prev: LazyRef) -> Inputs:
        """A later copy's inputs: the previous copy as the first, the side inputs as written."""
        if isinstance(ins, dict):
            block = (self.doc.data.get("blocks") or {}).get(raw.get(_BLOCK))
            first = block_input_names(block)[0] if isinstance(block, Mapping) else next(iter(ins))
            return {**ins, first: prev}
        return [prev, *(ins or [])[1:]]

    def one(self, site: _Site, ctx: _Ctx, ins: Inputs | None) -> Entry | None:
        self.built.count += 1  # an instance's own 1 gives way to its nodes when it expands
        self.built.visits += 1
        if not self.fits(0, site.path, ctx):
            return None
        if ins is None:
            ins = default_input(ctx.rep, ctx.ns, site.path, in_block=bool(ctx.scopes))
            if ins is None:
                return None
        if _BLOCK in site.raw:
            return self.instance(site, ctx, ins)
        return self.op_node(site, ctx, ins)

    # -- op nodes --------------------------------------------------------------------------

    def op_node(self, site: _Site, ctx: _Ctx, ins: Inputs) -> Entry | None:
        name = subst(site.raw.get(_OP), site.env, site.path + (_OP,), ctx.rep)  # op: "${act}"
        op = _op(name, ctx.rep, site.path, self.hints, self.doc) if name is not None else None
        if op is None:
            return None
        if isinstance(ins, dict):
            message = "an op takes 'in:' as a name or a list, not a mapping"
            ctx.rep.fail(GraphError(message, loc=ctx.rep.loc(site.path + ("in",))))
            return None
        args, complete = _op_args(op, site, ctx.rep)
        complete = self.defer(op, site, ctx, args) and complete
        node = self.new_node(site, op, args, ctx)
        share = LazyRef(str(site.raw[_SHARE]), ctx.ns, node.where(_SHARE)) if _SHARE in site.raw else None
        self.built.add(node, ins, share, ctx.shared_by)
        if not complete:
            return None  # references to it stay silent; the node stays, so its in: is still checked
        return self.op_entry(node, op)

    def defer(self, op: OpDef, site: _Site, ctx: _Ctx, args: dict[str, Any]) -> bool:
        """Keep the arguments that read inferred shapes (``${channels(x)}``) for the shape stage."""
        ok = True
        for key in [k for k in args if k in op.args]:
            names = shape_names(site.raw[key])
            if names is None:
                continue
            loc = ctx.rep.loc(site.path + (key,))
            if op.outputs is not None:
                message = f"{op.name}'s {key} names its outputs, so it cannot read an inferred shape"
                ctx.rep.fail(ExpandError(message, loc=loc, hint="write the sizes as numbers or parameters"))
                ok = False
                continue
            refs = {n: LazyRef(n, ctx.ns, loc) for n in names}
            args[key] = deferred = Deferred(site.raw[key], site.env, loc, refs)
            self.built.deferred.append(deferred)
        return ok

    def new_node(self, site: _Site, op: OpDef, args: dict[str, Any], ctx: _Ctx) -> Node:
        loc, path = ctx.rep.loc, site.path
        return Node(
            id=site.id,
            op=op.name,
            args=args,
            inputs=[],
            loc=loc(path, key=True),
            arg_locs={k: loc(path + (k,)) for k in site.raw},
            via=ctx.rep.via,
            scopes=ctx.scopes,
            init=subst(site.raw.get(_INIT), site.env, path + (_INIT,), ctx.rep),
            doc=site.raw.get(_DOC),
            index=len(self.built.nodes),
        )

    def op_entry(self, node: Node, op: OpDef) -> Entry | None:
        """The node's entry; a multi-output op's outputs depend on its arguments, so they must be valid."""
        if op.outputs is None:
            return op_entry(node.id, None)
        if not op_args_valid(op, node.args):
            return None  # validate_op_args reports why
        return op_entry(node.id, op.outputs(op.with_defaults(node.args)))

    # -- block instances -------------------------------------------------------------------

    def instance(self, site: _Site, ctx: _Ctx, ins: Inputs) -> Entry | None:
        name = subst(site.raw.get(_BLOCK), site.env, site.path + (_BLOCK,), ctx.rep)  # block: "${kind}"
        block = self.block(name, ctx, site.path) if name is not None else None
        if block is None:
            return None
        params = block_params(ctx.rep, name, block, site.raw, site.env, self.globals, site.path)
        bound = bind_block_inputs(ctx.rep, name, block, ins, site.path)
        if params is None or bound is None:
            return None
        inner = self.inner(site, name, ctx, bound, params)
        self.built.count -= 1
        before = self.built.count
        self.scope(block.get("nodes") or {}, inner)
        if self.built.count == before:
            self.built.count += 1  # nothing inside was visited: the instance itself still counts
        return instance_entry(ctx.rep, name, block, inner.ns)

    def block(self, name: Any, ctx: _Ctx, path: Path) -> Mapping[str, Any] | None:
        """The definition of block ``name`` (None: unknown, or it would use itself; reported)."""
        blocks = self.doc.data.get("blocks") or {}
        if not isinstance(name, str) or name not in blocks:  # block: "${[a, b]}" gives a list
            hint = did_you_mean(name, blocks) or (
                f"blocks: {', '.join(blocks)}" if blocks else "define it under 'blocks:'"
            )
            ctx.rep.fail(
                SchemaError(f"unknown block {name!r}", loc=ctx.rep.loc(path + ("block",)), hint=hint)
            )
            return None
        if name in ctx.stack or len(ctx.stack) >= MAX_BLOCK_DEPTH:
            chain = " -> ".join([*ctx.stack, name])
            ctx.rep.fail(
                ExpandError(f"block {name!r} uses itself ({chain})", loc=ctx.rep.loc(path, key=True))
            )
            return None
        return blocks[name]

    def inner(
        self, site: _Site, name: str, ctx: _Ctx, bound: dict[str, LazyRef], params: dict[str, Any]
    ) -> _Ctx:
        """The scope of a block instance: its inputs, parameters and (with share:) its weights' owner."""
        scope = Scope(site.id, name, ctx.rep.loc(site.path, key=True))
        self.built.scopes[site.id] = scope
        rep = ctx.rep.within(scope.loc)
        shared_by = ctx.shared_by
        if _SHARE in site.raw:
            target = LazyRef(str(site.raw[_SHARE]), ctx.ns, ctx.rep.loc(site.path + (_SHARE,)))
            self.built.shares.instances[site.id] = (target, name)
            shared_by = site.id
        return _Ctx(
            ns=Namespace(prefix=site.id + ".", inputs=dict(bound), via=rep.via),
            env={**self.globals, **params},
            path=("blocks", name, "nodes"),
            rep=rep,
            scopes=ctx.scopes + (scope,),
            stack=ctx.stack + (name,),
            shared_by=shared_by,
        )


def _op(name: Any, rep: Reporter, path: Path, hints: dict[str, str], doc: Document) -> OpDef | None:
    """The catalogue entry of ``op: name`` (None: unknown, reported with a suggestion; the
    suggestion is looked for once per name, as an unknown op may be visited 100,000 times)."""
    op = get_op(name) if isinstance(name, str) else None
    if op is None:
        key = repr(name)
        if key not in hints:
            suggested, required = suggest_op(name), _required_hint(doc)
            if suggested and required:  # a typo of a built-in op, or an op of the plugin not enabled
                hints[key] = f"{suggested} If it is an op of a plugin: {required}"
            else:
                hints[key] = suggested or required or _plugin_hint() or "run 'archspec ops' to list the ops"
        hint = hints[key]
        rep.fail(SchemaError(f"unknown op {name!r}", loc=rep.loc(path + (_OP,)), hint=hint))
    return op


def _required_hint(doc: Document) -> str | None:
    """Where the spec names plugins under ``requires.plugins`` that are not enabled, how to
    enable them. Only a hint: a spec never loads code, the user does."""
    from archspec.plugins import loaded_plugins

    requires = doc.data.get("requires")
    named = requires.get("plugins") if isinstance(requires, Mapping) else None
    missing = [n for n in named or () if isinstance(n, str) and n not in loaded_plugins()]
    if not missing:
        return None
    listed = ", ".join(repr(n) for n in missing)
    flags = " ".join(f"--plugin {n}" for n in missing)
    s, it = ("s", "them") if len(missing) > 1 else ("", "it")
    return (
        f"this spec requires the plugin{s} {listed} (requires.plugins), which a spec never loads by itself; "
        f"if you trust {it}, enable {it}: archspec {flags} COMMAND ... or ARCHSPEC_PLUGINS={','.join(missing)}"
    )


def _plugin_hint() -> str | None:
    from archspec.plugins import available_plugins

    names = available_plugins()
    return (
        f"installed plugins that may define it: {', '.join(names)} (enable with --plugin NAME)"
        if names
        else None
    )


def _op_args(op: OpDef, site: _Site, rep: Reporter) -> tuple[dict[str, Any], bool]:
    """The node's arguments with their expressions evaluated, and whether every key written
    on it made it in.

    Keys that are not arguments of ``op`` and arguments whose expression failed (reported) are
    left out; the argument pass reports the former and skips the node's schema check.
    """
    args: dict[str, Any] = {}
    complete = True
    for key, value in site.raw.items():
        if key in NODE_KEYS:
            continue
        if key in op.args and shape_names(value) is not None:
            args[key] = value  # read after shape inference (_Walk.defer)
            continue
        sub = subst(value, site.env, site.path + (key,), rep) if key in op.args else None
        if sub is None and (value is not None or key not in op.args):
            complete = False
            continue
        args[key] = sub
    return args, complete
