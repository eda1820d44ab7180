"""The exception and warning hierarchy of careamics_dask.

Every error also subclasses the builtin a caller would catch (``ValueError``,
``FileNotFoundError``, ...), so code written against the reference's builtin
exceptions keeps working, and every error keeps the offending values as attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "AxesError",
    "CareamicsDaskError",
    "CareamicsDaskWarning",
    "DataPairError",
    "MissingDependencyError",
    "SourceNotFoundError",
    "SourceReadError",
    "TilesLostError",
    "UnsupportedDtypeError",
    "UnsupportedSourceError",
]


def _rebuild(
    cls: type[Exception], args: tuple[object, ...], state: dict[str, object]
) -> Exception:
    """Recreate an error from its message and attributes (for pickling)."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class CareamicsDaskError(Exception):
    """Base class of every error raised by careamics_dask.

    Errors pickle with their attributes, so an error raised in a Dask task on a
    worker reaches the client as the same type with the same ``source``, ``array``
    and ``region``.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class CareamicsDaskWarning(UserWarning):
    """A condition the user can fix, reported without stopping the work."""


class AxesError(CareamicsDaskError, ValueError):
    """An axes string is invalid or does not match the data it describes."""


class SourceNotFoundError(CareamicsDaskError, FileNotFoundError):
    """A data source (file, directory, store, URL) does not exist or is unreachable.

    Parameters
    ----------
    message : str
        What was looked for, where, and how to fix it.
    source : str
        The source as the user gave it.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class UnsupportedSourceError(CareamicsDaskError, ValueError):
    """A source exists but cannot be read as image data (wrong kind, empty group).

    Parameters
    ----------
    message : str
        The rule that failed, what was expected and what was found.
    source : str
        The source as the user gave it.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class UnsupportedDtypeError(CareamicsDaskError, TypeError):
    """Image data has a dtype that cannot become float32 pixels (complex, object...).

    Parameters
    ----------
    message : str
        The offending dtype, the accepted kinds and the fix.
    source : str
        The source holding the data.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class SourceReadError(CareamicsDaskError, OSError):
    """Reading pixels failed (a corrupt or truncated chunk, a vanished file).

    Parameters
    ----------
    message : str
        The full message naming the source, the array and the region.
    source : str
        The file, store or URL that was read.
    array : str
        The array, series or scene inside the source ("" when the source is one
        array).
    region : str
        The region that was being read, as slices in the source's own axes.
    """

    def __init__(self, message: str, *, source: str, array: str, region: str) -> None:
        super().__init__(message)
        self.source = source
        self.array = array
        self.region = region


class MissingDependencyError(CareamicsDaskError, ImportError):
    """An optional dependency is needed for this source kind and is not installed.

    Parameters
    ----------
    message : str
        What needs the package, and the ``pip install`` line that provides it.
    extra : str
        The careamics-dask extra that installs the package.
    """

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class DataPairError(CareamicsDaskError, ValueError):
    """Inputs and targets (or masks) do not agree in kind, count, names or shapes."""


class TilesLostError(CareamicsDaskError, RuntimeError):
    """In-memory tiles that no worker holds any more (their worker died).

    Raised in a batch task on a cluster; the stream sends the lost tiles again from
    the client's copy and runs the batch again.

    Parameters
    ----------
    names : Sequence[str]
        The tiles' keys on the cluster.
    reason : str
        What failed.
    """

    def __init__(self, names: Sequence[str], reason: str) -> None:
        self.names = tuple(names)
        self.reason = reason
        shown = ", ".join(self.names[:3]) + (" ..." if len(self.names) > 3 else "")
        super().__init__(
            f"{len(self.names)} in-memory tile(s) of this batch are lost ({shown}): "
            f"{reason}. The stream sends them again from the client's copy and runs "
            "the batch again; if this persists, check the workers' logs."
        )
