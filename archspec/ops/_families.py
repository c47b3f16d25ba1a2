"""The modules that hold the built-in ops, in catalogue order."""

from archspec.ops import activation, attention, blocks, conv, dense, norm, pool, recurrent, tensor

MODULES: list = [dense, conv, pool, norm, activation, tensor, recurrent, attention, blocks]
