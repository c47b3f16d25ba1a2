from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from archspec.errors import SpecError, SpecErrors
from archspec.pipeline import analyse, load_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def spec_errors(text: str, *, shapes: bool = True, name: str = "spec.yaml") -> list[str]:
    """Every error message a spec text produces, as the CLI prints them."""
    try:
        analyse(load_text(textwrap.dedent(text), name=name), shapes=shapes)
    except SpecErrors as exc:
        return [str(e) for e in exc.errors]
    except SpecError as exc:
        return [str(exc)]
    return []


def analysed(text: str, name: str = "spec.yaml"):
    return analyse(load_text(textwrap.dedent(text), name=name))


@pytest.fixture
def examples() -> list[Path]:
    return EXAMPLES
