"""Messages that name arguments as their caller wrote them: Python's (``at_flops``,
``law='chinchilla'``) from the library, the command's flags (``--at-flops``, ``--law chinchilla``)
from ``scalefit``.

A message is written once, as a function of the terms it uses::

    raise argument_error(lambda t: f"{t.name('at_params_tokens')} needs {t.setting('law', 'chinchilla')}")

``str(error)`` reads "at_params_tokens needs law='chinchilla'", and ``error.flags`` "--at-params-tokens
needs --law chinchilla", which the command prints.
"""

from __future__ import annotations

from typing import Callable


def _number(value: float, digits: str) -> str:
    return format(float(value), digits)


class PythonTerms:
    """Arguments as a Python call names them."""

    @staticmethod
    def name(argument: str) -> str:
        """at_flops"""
        return argument

    @staticmethod
    def given(argument: str, value, digits: str = ".6g") -> str:
        """'at_flops 1e+40' for a value given in it; '(N, D)' for a pair."""
        if isinstance(value, tuple):
            return f"{argument} ({', '.join(_number(v, digits) for v in value)})"
        return f"{argument} {_number(value, digits)}"

    @staticmethod
    def setting(argument: str, value: str) -> str:
        """law='chinchilla': what to pass."""
        return f"{argument}={value!r}"


class FlagTerms:
    """Arguments as the command line names them: its flags."""

    @staticmethod
    def name(argument: str) -> str:
        """--at-flops"""
        return "--" + argument.replace("_", "-")

    @staticmethod
    def given(argument: str, value, digits: str = ".6g") -> str:
        """'--at-flops 1e+40'; 'N,D' for a pair, as the flag takes it."""
        if isinstance(value, tuple):
            return f"{FlagTerms.name(argument)} {','.join(_number(v, digits) for v in value)}"
        return f"{FlagTerms.name(argument)} {_number(value, digits)}"

    @staticmethod
    def setting(argument: str, value: str) -> str:
        """--law chinchilla"""
        return f"{FlagTerms.name(argument)} {value}"


Terms = type[PythonTerms] | type[FlagTerms]


class ArgumentError(ValueError):
    """A bad argument: ``str()`` names arguments as Python does, ``flags`` is the same message with
    the command's flags (the message itself when it names no argument)."""

    def __init__(self, message: str, flags: str | None = None):
        super().__init__(message)
        self.flags = message if flags is None else flags


def argument_error(write: Callable[[Terms], str], kind: type[ArgumentError] = ArgumentError) -> ArgumentError:
    """The error ``kind`` whose message is ``write(terms)``: with Python's terms, and with the flags."""
    return kind(write(PythonTerms), write(FlagTerms))
