"""Where tensors live: one meaning of ``device: auto`` (CUDA, then Apple MPS, then the CPU) for
``train``, ``evaluate``, ``predict`` and the Python API, and one refusal of a device this machine
lacks. torch is imported when a function is called, not when this module is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archspec.errors import RunError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICES", "auto_device", "check_device", "choose_device", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda", "mps")


def auto_device() -> str:
    """What ``auto`` picks here: ``"cuda"``, else ``"mps"``, else ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def choose_device(option: str, spec_device: str | None = None) -> str:
    """An explicit ``--device`` wins; under ``auto``, the spec's ``training.device`` if it names one."""
    return option if option != "auto" else (spec_device or "auto")


def check_device(name: str) -> None:
    """Raise :class:`RunError` for an explicit device (``cuda``, ``cuda:1``, ``mps``) torch cannot see."""
    kind = name.split(":", 1)[0]
    if kind not in ("cuda", "mps"):
        return
    import torch

    if kind == "cuda" and not torch.cuda.is_available():
        raise RunError(
            f"--device {name}: torch {torch.__version__} sees no CUDA device here (hint: use --device cpu, or auto to pick what is there)"
        )
    mps = getattr(torch.backends, "mps", None)
    if kind == "mps" and (mps is None or not mps.is_available()):
        raise RunError(
            f"--device {name}: torch {torch.__version__} sees no Apple MPS device here (hint: use --device cpu, or auto to pick what is there)"
        )


def resolve_device(name: str) -> torch.device:
    """The :class:`torch.device` for ``name`` (``auto``, ``cpu``, ``cuda[:N]`` or ``mps``)."""
    import torch

    if name == "auto":
        return torch.device(auto_device())
    check_device(name)
    return torch.device(name)
