"""How the command line reports errors: one line, exit code 2, the same on every path.

Every command runs its body in :func:`clean_errors`. A user error (a
:class:`~careamics_dask.errors.CareamicsDaskError`, ``OSError``, ``ValueError`` or
``TypeError``) becomes one ``error:`` line on stderr naming the source, the rule and
the fix, and exit code 2; ``--verbose`` (:func:`set_verbose`) adds the traceback.
Errors raised in Dask tasks reach the client as the same type with the same message,
so local threads, an embedded cluster and a remote one print the same line, and
:func:`quiet_distributed` keeps distributed's own logs of the failure out of the
output.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from careamics_dask.errors import CareamicsDaskError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["USER_ERRORS", "clean_errors", "quiet_distributed", "set_verbose"]

logger = logging.getLogger(__name__)

USER_ERRORS = (CareamicsDaskError, OSError, ValueError, TypeError)
"""The errors reported as one line: everything else is a bug with a traceback."""


@dataclass(slots=True)
class _Options:
    """The command line's global options (set by :func:`_global_options`)."""

    verbose: bool = False


_OPTIONS = _Options()


def _fail(exc: BaseException) -> typer.Exit:
    """Print one error line (a traceback first with --verbose); return exit 2."""
    if _OPTIONS.verbose:
        Console(stderr=True).print_exception(show_locals=False)
    message = " ".join(str(exc).split()) or type(exc).__name__
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Turn a user error into one ``error:`` line on stderr and exit code 2.

    The same line on every path (local threads, an embedded cluster, a remote
    one): errors raised in Dask tasks reach the client as the same type with the
    same message. The traceback is printed only with ``--verbose``.

    Yields
    ------
    None
        Run the command's body in the ``with`` block.

    Raises
    ------
    typer.Exit
        With code 2, after the error line.
    """
    try:
        yield
    except USER_ERRORS as exc:
        raise _fail(exc) from exc


def quiet_distributed(ctx: typer.Context) -> None:
    """Silence distributed's logs (here and in embedded workers) until the end.

    Worker processes of an embedded cluster inherit the environment, so their
    ``Compute Failed`` dumps and shutdown notices (``Async instruction ... ended
    with CancelledError``) stay out of the command's output; errors reach the
    command through the futures and are printed once by :func:`clean_errors`.

    Parameters
    ----------
    ctx : typer.Context
        The command's context; the levels are restored when it closes.
    """
    logger_ = logging.getLogger("distributed")
    level = logger_.level
    variable = "DASK_LOGGING__DISTRIBUTED"
    before = os.environ.get(variable)
    logger_.setLevel(logging.CRITICAL)
    os.environ[variable] = "critical"

    def restore() -> None:
        logger_.setLevel(level)
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before

    ctx.call_on_close(restore)


def set_verbose(*, verbose: bool) -> None:
    """Print tracebacks with error lines (``--verbose``), or not.

    Parameters
    ----------
    verbose : bool
        Whether tracebacks are printed.
    """
    _OPTIONS.verbose = verbose
