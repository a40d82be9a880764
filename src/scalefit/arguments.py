"""Messages that name arguments as their caller wrote them: Python's (``at_flops``,
``law='chinchilla'``) from the library, the command's flags (``--at-flops``, ``--law chinchilla``)
from ``scalefit``.

A message is written once, as a function of the terms it uses::

    raise argument_error(lambda t: f"{t.name('at_params_tokens')} needs {t.setting('law', 'chinchilla')}")

``str(error)`` reads "at_params_tokens needs law='chinchilla'", and ``error.flags`` "--at-params-tokens
needs --law chinchilla", which the command prints. A warning a result returns is written the same
way, ``message(lambda t: ...)``: a :class:`Message`, the string in Python's terms that carries the
command's as ``.flags`` (``FlagTerms.text(warning)``).
"""

from __future__ import annotations

import math
from typing import Callable


def _number(value: float, digits: str) -> str:
    return format(float(value), digits)


# Flags whose names are not their argument's with '-' for '_' (plan_ladder's extra_runs is --extra-run)
FLAG_NAMES = {"extra_runs": "--extra-run"}


class PythonTerms:
    """Arguments as a Python call names them."""

    @staticmethod
    def text(message: str) -> str:
        """A message (a :class:`Message` or a plain string) in these terms."""
        return str.__str__(message)

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

    @staticmethod
    def option(argument: str) -> str:
        """noise=...: an argument to give."""
        return f"{argument}=..."

    @staticmethod
    def law_setting(argument: str, value: float) -> str:
        """ChinchillaLaw(flops_per_param_token=7.2): an option of the L(N, D) law, given to it."""
        return f"ChinchillaLaw({argument}={value:.3g})"

    @staticmethod
    def figure(kind: str) -> str:
        """FIGURES['residuals'](result): how to draw a figure."""
        return f"FIGURES[{kind!r}](result)"

    @staticmethod
    def call(function: str, command: str, argument: str) -> str:
        """analyze(..., at_loss=...): a call and the argument that asks for something."""
        return f"{function}(..., {argument}=...)"

    @staticmethod
    def tool(function: str, command: str) -> str:
        """scalefit.analyze: what does the work (the command ``command`` runs it)."""
        return f"scalefit.{function}"


class FlagTerms:
    """Arguments as the command line names them: its flags."""

    @staticmethod
    def text(message: str) -> str:
        """A message (a :class:`Message`, or a plain string, its own flags) in these terms."""
        return getattr(message, "flags", message)

    @staticmethod
    def name(argument: str) -> str:
        """--at-flops"""
        return FLAG_NAMES.get(argument) or "--" + argument.replace("_", "-")

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

    @staticmethod
    def option(argument: str) -> str:
        """--noise"""
        return FlagTerms.name(argument)

    @staticmethod
    def law_setting(argument: str, value: float) -> str:
        """--flops-per-param-token 7.2"""
        return f"{FlagTerms.name(argument)} {value:.3g}"

    @staticmethod
    def figure(kind: str) -> str:
        """'scalefit plot --kind residuals'"""
        return f"'scalefit plot --kind {kind}'"

    @staticmethod
    def call(function: str, command: str, argument: str) -> str:
        """`scalefit fit --at-loss`"""
        return f"`scalefit {command} {FlagTerms.name(argument)}`"

    @staticmethod
    def tool(function: str, command: str) -> str:
        """scalefit fit: the command that does the work."""
        return f"scalefit {command}"


Terms = type[PythonTerms] | type[FlagTerms]


def terms_of(flags: bool) -> Terms:
    """The command's terms (``flags``) or Python's."""
    return FlagTerms if flags else PythonTerms


class Message(str):
    """A message in Python's terms (the string itself: ``str()``, printing, ``==`` and hashing are
    its) that carries the same message in the command's terms, ``flags``. Immutable and pickled
    with both texts, so results holding messages stay frozen, comparable and picklable.

    Only the Message itself carries ``flags``: what string operations make of it (``m + "."``,
    ``f"{label}: {m}"``, ``m.strip()``, ``"; ".join(...)``) is a plain ``str`` in Python's terms,
    and ``FlagTerms.text`` would then print Python's wording. A message made from another is
    written as a function of the terms too, ``message(lambda t: f"{label}: {t.text(m)}")`` (as
    the report does with the shared comparison's warnings); the library builds none by
    concatenation (its concatenated texts, e.g. a fit's complaint inside a LadderError, name no
    argument)."""

    __slots__ = ("flags",)

    def __new__(cls, text: str, flags: str | None = None) -> "Message":
        self = super().__new__(cls, text)
        object.__setattr__(self, "flags", str.__str__(text) if flags is None else str.__str__(flags))
        return self

    def __setattr__(self, name, value):
        raise AttributeError(f"a Message is immutable (cannot set {name!r})")

    def __reduce__(self):
        return Message, (str.__str__(self), self.flags)


def messages(texts) -> tuple[Message, ...]:
    """``texts`` as Messages: each Message kept, each plain string one whose two wordings are alike
    (it names no argument), so that every warning of a result has ``.flags``."""
    return tuple(t if isinstance(t, Message) else Message(t) for t in texts)


def message(write: Callable[[Terms], str]) -> Message:
    """The message ``write(terms)``: with Python's terms, carrying the flags' (``Message.flags``)."""
    return Message(write(PythonTerms), write(FlagTerms))


def in_flags(result):
    """``result`` (a frozen dataclass with ``warnings``) with its warnings in the command's terms,
    as plain strings: what the command writes to JSON, CSV and tables."""
    from dataclasses import replace
    return replace(result, warnings=tuple(FlagTerms.text(w) for w in result.warnings))


class ArgumentError(ValueError):
    """A bad argument: ``str()`` names arguments as Python does, ``flags`` is the same message with
    the command's flags (the message itself when it names no argument)."""

    def __init__(self, message: str, flags: str | None = None, write: Callable | None = None):
        super().__init__(message)
        self.flags = message if flags is None else flags
        self._write = write

    def in_terms(self, terms) -> str:
        """The message with ``terms`` of a caller of its own (e.g. the backtest's, whose targets are
        held-out runs the user never gave), when it was written as a function of them."""
        return str(self) if self._write is None else self._write(terms)

    def __reduce__(self):
        return type(self), (str(self), self.flags)


def argument_error(write: Callable[[Terms], str], kind: type[ArgumentError] = ArgumentError) -> ArgumentError:
    """The error ``kind`` whose message is ``write(terms)``: with Python's terms, and with the flags."""
    return kind(write(PythonTerms), write(FlagTerms), write)


MAX_XLIM_DECADES = 100        # of a figure's compute axis (xlim, --xlim)
MAX_AXIS_VALUE = 1e100        # of a figure's loss axis (ylim, --ylim)


def axis_limits_fault(name: str, low: float, high: float) -> str:
    """Which rule the limits (low, high) of a figure's axis ``name`` ("xlim" or "ylim") break, as
    the fix to give: "order" (low must be below high), "log" (xlim: 0 < low < high < inf, at most
    10^MAX_XLIM_DECADES apart, compute being on a log axis), "finite" (ylim: within
    +-MAX_AXIS_VALUE); "" when they are limits the axis can take. The command's --xlim and --ylim
    and FigureOptions' xlim and ylim word it each in their own terms."""
    if not low < high:
        return "order"
    if name == "xlim" and not (0 < low and high < math.inf and math.log10(high / low) <= MAX_XLIM_DECADES):
        return "log"
    if name == "ylim" and not max(abs(low), abs(high)) <= MAX_AXIS_VALUE:
        return "finite"
    return ""
