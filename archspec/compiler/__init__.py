"""Stage 6, the torch side: a checked :class:`~archspec.graph.Graph` becomes modules.

``compile`` builds the fx GraphModule (``compile_model``), ``initializers`` the weight
schemes, ``emit`` standalone PyTorch source, ``artifact`` pickle-free safetensors artefacts,
``export`` TorchScript/ExportedProgram/ONNX, ``diagnostics`` the ``check-init`` statistics.
Importing this package imports torch.
"""

from archspec.compiler.compile import compile_model as compile_model

__all__ = ["compile_model"]
