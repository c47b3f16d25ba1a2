"""Block libraries across files: ``include: [backbone.yaml]`` makes another spec's blocks usable.

Paths are relative to the including file, and an included file is named the way the including
one was (a relative path stays relative), so its errors and tooltips carry no checkout's
absolute path. An included file is a spec in its own right, loaded and validated as one; its
blocks (and, recursively, those it includes) join the including spec's, where a block defined
locally wins. Errors inside an included block are located in its own file
(:attr:`Document.included`) and name the instances they came through. A file that includes
itself, directly or through others, is refused with the chain.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from archspec.errors import LoadError, SpecErrors
from archspec.lang.loader import Document, load_document

__all__ = ["resolve_includes"]


def resolve_includes(
    doc: Document, validate: Callable[[Document], Document], chain: tuple[str, ...] = ()
) -> Document:
    """``doc`` with the blocks of the files it includes (raises SpecErrors, located)."""
    names = doc.data.get("include") or []
    if not names:
        return doc
    chain = chain or (os.path.abspath(doc.file),)
    blocks = dict(doc.data.get("blocks") or {})
    for i, name in enumerate(names):
        path = os.path.normpath(os.path.join(os.path.dirname(doc.file), name))
        if os.path.abspath(path) in chain:
            steps = " -> ".join(os.path.basename(p) for p in [*chain, path])
            raise SpecErrors([LoadError(f"include cycle: {steps}", loc=doc.loc(("include", i)))])
        if not os.path.isfile(path):
            raise SpecErrors(
                [LoadError(f"included file {name!r} does not exist", loc=doc.loc(("include", i)),
                           hint=f"paths are relative to {os.path.dirname(doc.file) or '.'}")]
            )  # fmt: skip
        lib = resolve_includes(validate(load_document(path)), validate, (*chain, os.path.abspath(path)))
        for block, body in (lib.data.get("blocks") or {}).items():
            if block not in blocks:
                blocks[block] = body
                doc.included[block] = lib.included.get(block, lib)
    doc.data["blocks"] = blocks
    return doc
