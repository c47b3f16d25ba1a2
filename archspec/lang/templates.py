"""``archspec init``: write a commented starter spec from a template."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from archspec.errors import ArchSpecError, did_you_mean

__all__ = ["TEMPLATES", "write_template"]

SCHEMA_FILE = "archspec.schema.json"
_REPO_SCHEMA = "../../schemas/archspec.schema.json"  # from archspec/templates/ in a checkout


def _templates() -> list[str]:
    root = resources.files("archspec") / "templates"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


TEMPLATES = _templates()


class InitError(ArchSpecError):
    exit_code = 1


def write_template(name: str, template: str, *, directory: str | Path = ".", force: bool = False) -> Path:
    """Write ``<directory>/<name>.yaml`` from ``template``; never overwrites unless ``force``."""
    if template not in TEMPLATES:
        hint = did_you_mean(template, TEMPLATES)
        raise InitError(
            f"unknown template {template!r}"
            + (f" ({hint})" if hint else "")
            + f"; templates: {', '.join(TEMPLATES)}"
        )
    stem = Path(name).name.removesuffix(".yaml").removesuffix(".yml")
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", stem):
        raise InitError(f"invalid name {name!r}: use letters, digits, _ and -")
    path = Path(directory) / f"{stem}.yaml"
    if path.exists() and not force:
        raise InitError(f"{path} already exists (use --force to overwrite)")
    text = (resources.files("archspec") / "templates" / f"{template}.yaml").read_text(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A template is itself a plain-YAML spec (editors and check-jsonschema read it in the repo);
    # its schema path and two placeholder words become this file's.
    text = text.replace(_REPO_SCHEMA, SCHEMA_FILE).replace("__name__", stem).replace("__file__", path.name)
    path.write_text(text, encoding="utf-8")
    schema = path.parent / SCHEMA_FILE
    if not schema.exists():  # editors resolve $schema relative to the spec: no network needed
        from archspec.lang.schema import schema_text

        schema.write_text(schema_text(), encoding="utf-8")
    return path
