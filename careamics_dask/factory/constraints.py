"""Model constraints on channels and spatial sizes, checked when a dataset is built.

:class:`ModelConstraints` is the reference's protocol (``reference_semantics.md``
§6.6); :class:`UNetConstraints` its UNet implementation, with the reference's
messages: the input and target channel counts must equal the model's, and each
spatial size must be a non-zero multiple of ``2**depth``.
:func:`validate_shapes_against_model` applies them to a dataset's shapes. A little
over 400 lines: the protocol, its UNet implementation (both constructors), the
reference's ``get_model_constraints`` and the shape check belong together.

Differences from CAREamics
--------------------------
- :class:`UNetConstraints` takes a model config positionally, as the reference
  (``UNetConstraints(UNetConfig(...))``), or the three numbers it needs (``depth``,
  input and output channels) as keywords.
- The reference checks patch and tile sizes against the model in its
  ``Configuration``, which this project does not have, so
  :func:`validate_shapes_against_model` checks the patch (or tile) size itself for
  every patching but ``whole``; for ``whole`` it checks every image, as the
  reference.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ModelConstraints",
    "SupportsModelDump",
    "UNetConstraints",
    "get_model_constraints",
    "validate_shapes_against_model",
]

logger = logging.getLogger(__name__)

_UNET_DEFAULTS = {"depth": 2, "in_channels": 1, "num_classes": 1}
"""Defaults of the reference's ``UNetConfig`` for the keys read here."""


def _unet_values(
    model_config: Mapping[str, Any] | SupportsModelDump,
) -> tuple[Any, Any, Any]:
    """Return ``(depth, in_channels, num_classes)`` of a UNet model config."""
    if not isinstance(model_config, Mapping):
        model_config = model_config.model_dump()
    architecture = model_config.get("architecture", "UNet")
    if architecture != "UNet":
        raise ValueError(f"Model type {architecture} is not supported.")
    return (
        model_config.get("depth", _UNET_DEFAULTS["depth"]),
        model_config.get("in_channels", _UNET_DEFAULTS["in_channels"]),
        model_config.get("num_classes", _UNET_DEFAULTS["num_classes"]),
    )


@runtime_checkable
class ModelConstraints(Protocol):
    """What a model requires of the data it is trained on or predicts."""

    def validate_input_channels(self, n_channels: int) -> None:
        """Check the number of input channels.

        Parameters
        ----------
        n_channels : int
            Number of channels of an input image.

        Raises
        ------
        ValueError
            When the model cannot take that many channels.
        """

    def validate_target_channels(self, n_channels: int) -> None:
        """Check the number of target channels.

        Parameters
        ----------
        n_channels : int
            Number of channels of a target image.

        Raises
        ------
        ValueError
            When the model cannot output that many channels.
        """

    def validate_spatial_shape(self, shape: Sequence[int]) -> None:
        """Check a spatial shape, ``(Y, X)`` or ``(Z, Y, X)``.

        Parameters
        ----------
        shape : sequence of int
            The spatial sizes.

        Raises
        ------
        ValueError
            When the model cannot take that shape.
        """


@runtime_checkable
class SupportsModelDump(Protocol):
    """A config that dumps itself to a dict (a pydantic model)."""

    def model_dump(self) -> Mapping[str, Any]:
        """Return the fields as a dict.

        Returns
        -------
        mapping of str to Any
            The fields.
        """
        ...


def _positive_int(value: Any, name: str) -> int:
    """Require a positive integer (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"UNet {name} must be a positive integer: expected >= 1, got {value!r}."
        )
    return value


@dataclass(frozen=True, slots=True, init=False)
class UNetConstraints:
    """Constraints of a UNet: channel counts, and sizes multiple of ``2**depth``.

    Built from a UNet model config, positionally as the reference
    (``UNetConstraints(UNetConfig(...))``; a pydantic config or a dict), or from
    keywords.

    Parameters
    ----------
    model_config : mapping or object with ``model_dump()``, optional
        A UNet model config (``architecture``, ``depth``, ``in_channels``,
        ``num_classes``), as :meth:`from_model_config`.
    depth : int, optional
        Number of levels of the UNet (pooling steps); required without a config.
    n_input_channels : int, optional
        Channels the model takes; required without a config.
    n_output_channels : int, optional
        Channels the model outputs; required without a config.

    Attributes
    ----------
    depth : int
        Number of levels of the UNet (pooling steps).
    n_input_channels : int
        Channels the model takes.
    n_output_channels : int
        Channels the model outputs.

    Raises
    ------
    TypeError
        When both a config and keywords are given, or neither.
    ValueError
        As :meth:`from_model_config`, or for a value that is not a positive
        integer.

    Examples
    --------
    >>> constraints = UNetConstraints(depth=2, n_input_channels=1, n_output_channels=1)
    >>> constraints.validate_spatial_shape((64, 64))
    >>> constraints.validate_spatial_shape((64, 30))
    Traceback (most recent call last):
    ...
    ValueError: Input data dimension X (size 30) is not a multiple of 4 (2 to ...
    >>> UNetConstraints({"architecture": "UNet", "depth": 3}) == UNetConstraints(
    ...     depth=3, n_input_channels=1, n_output_channels=1)
    True
    """

    depth: int
    n_input_channels: int
    n_output_channels: int

    def __init__(
        self,
        model_config: Mapping[str, Any] | SupportsModelDump | None = None,
        *,
        depth: int | None = None,
        n_input_channels: int | None = None,
        n_output_channels: int | None = None,
    ) -> None:
        keywords = (depth, n_input_channels, n_output_channels)
        if model_config is not None:
            if any(value is not None for value in keywords):
                raise TypeError(
                    "UNetConstraints takes a model config or keywords, not both: got "
                    "a model config and depth/n_input_channels/n_output_channels. "
                    "Pass one of them."
                )
            values = _unet_values(model_config)
        elif any(value is None for value in keywords):
            raise TypeError(
                "UNetConstraints needs a UNet model config, or all of depth, "
                "n_input_channels and n_output_channels: got "
                f"depth={depth!r}, n_input_channels={n_input_channels!r}, "
                f"n_output_channels={n_output_channels!r}."
            )
        else:
            values = keywords
        for name, value in zip(
            ("depth", "n_input_channels", "n_output_channels"), values, strict=True
        ):
            object.__setattr__(self, name, _positive_int(value, name))

    @classmethod
    def from_model_config(
        cls, model_config: Mapping[str, Any] | SupportsModelDump
    ) -> Self:
        """Read the constraints of a CAREamics UNet model config dict.

        Parameters
        ----------
        model_config : mapping
            A UNet model config (``architecture``, ``depth``, ``in_channels``,
            ``num_classes``); a missing key takes the reference's default (2, 1,
            1). An object with ``model_dump()`` (a pydantic config) is dumped first.

        Returns
        -------
        UNetConstraints
            The constraints.

        Raises
        ------
        ValueError
            ``"Model type {architecture} is not supported."`` for another
            architecture, or a value that is not a positive integer.

        Examples
        --------
        >>> UNetConstraints.from_model_config({"architecture": "UNet", "depth": 3})
        UNetConstraints(depth=3, n_input_channels=1, n_output_channels=1)
        """
        return cls(model_config)

    def validate_input_channels(self, n_channels: int) -> None:
        """Require as many input channels as the model takes.

        Parameters
        ----------
        n_channels : int
            Number of channels of an input image.

        Raises
        ------
        ValueError
            The reference's message, when the counts differ.

        Examples
        --------
        >>> UNetConstraints(depth=2, n_input_channels=2, n_output_channels=1
        ...     ).validate_input_channels(2)
        """
        if n_channels != self.n_input_channels:
            raise ValueError(
                f"Number of channels in input image ({n_channels}) does not match the "
                f"number of input channels expected by the model configuration "
                f"({self.n_input_channels}). Use the `channels` "
                f"parameter to specify a subset of channels, or adjust the number of "
                f"input channels in the configuration to match your data."
            )

    def validate_target_channels(self, n_channels: int) -> None:
        """Require as many target channels as the model outputs.

        Parameters
        ----------
        n_channels : int
            Number of channels of a target image.

        Raises
        ------
        ValueError
            The reference's message, when the counts differ.

        Examples
        --------
        >>> UNetConstraints(depth=2, n_input_channels=1, n_output_channels=3
        ...     ).validate_target_channels(3)
        """
        if n_channels != self.n_output_channels:
            raise ValueError(
                f"Number of channels in target image ({n_channels}) does not match the "
                f"number of output channels expected by the model configuration "
                f"({self.n_output_channels}). Adjust the number of"
                f" output channels in the configuration to match your data."
            )

    def validate_spatial_shape(self, shape: Sequence[int]) -> None:
        """Require 2 or 3 sizes, each a non-zero multiple of ``2**depth``.

        Parameters
        ----------
        shape : sequence of int
            Spatial sizes ``(Y, X)`` or ``(Z, Y, X)``.

        Raises
        ------
        ValueError
            The reference's messages, for a wrong length or size.

        Examples
        --------
        >>> UNetConstraints(depth=3, n_input_channels=1, n_output_channels=1
        ...     ).validate_spatial_shape((8, 16, 16))
        """
        if len(shape) not in (2, 3):
            raise ValueError(
                f"Spatial input shape to model constraints should have length 2 (YX) or"
                f" 3 (ZYX), but got shape {shape}."
            )
        dim_label = "ZYX" if len(shape) == 3 else "YX"
        multiple = 2**self.depth
        for i, dim in enumerate(shape):
            if dim % multiple != 0 or dim == 0:
                raise ValueError(
                    f"Input data dimension {dim_label[i]} (size {dim}) is not a "
                    f"multiple of {multiple} (2 to the power of the model depth). If "
                    f"you are training, adjust `patch_size`. If you are predicting,"
                    f" your input data shape is not compatible, use tiling by passing "
                    f"`tile_size`. If you are already using tiling, adjust `tile_size`."
                )


def get_model_constraints(
    model_config: Mapping[str, Any] | SupportsModelDump,
) -> ModelConstraints:
    """Return the constraints of a model config: the reference's factory.

    Parameters
    ----------
    model_config : mapping or object with ``model_dump()``
        A model config; only ``architecture="UNet"`` is supported.

    Returns
    -------
    ModelConstraints
        A :class:`UNetConstraints`.

    Raises
    ------
    ValueError
        ``"Model type {architecture} is not supported."``.

    Examples
    --------
    >>> get_model_constraints({"architecture": "LVAE"})
    Traceback (most recent call last):
    ...
    ValueError: Model type LVAE is not supported.
    """
    return UNetConstraints(model_config)


def validate_shapes_against_model(
    constraints: ModelConstraints,
    *,
    patching_name: str,
    patch_size: Sequence[int] | None,
    input_shapes: Sequence[Sequence[int]],
    target_shapes: Sequence[Sequence[int]] | None = None,
    channels: Sequence[int] | None = None,
) -> None:
    """Check a dataset's shapes against a model, as the reference's dataset does.

    With ``whole`` patching every input image's spatial shape is checked; with any
    other patching the patch (or tile) size is. Channels are checked only when no
    channel subset is selected (``channels is None``): every input's ``C``, and
    every target's ``C`` when targets exist.

    Parameters
    ----------
    constraints : ModelConstraints
        The model's constraints.
    patching_name : str
        Name of the patching config (``"whole"``, ``"tiled"``, ``"stratified"``...).
    patch_size : sequence of int or None
        Patch or tile size ``([Z,] Y, X)``; unused (may be ``None``) for ``whole``.
    input_shapes : sequence of sequence of int
        Input image-stack shapes, axes ``S C (Z) Y X``.
    target_shapes : sequence of sequence of int or None, optional
        Target image-stack shapes, axes ``S C (Z) Y X``.
    channels : sequence of int or None, optional
        The config's channel selection.

    Raises
    ------
    ValueError
        The constraint's message for the first shape that breaks it, or a missing
        patch size for a patching other than ``whole``.

    Examples
    --------
    >>> unet = UNetConstraints(depth=2, n_input_channels=1, n_output_channels=1)
    >>> validate_shapes_against_model(unet, patching_name="stratified",
    ...     patch_size=[64, 64], input_shapes=[(3, 1, 100, 90)])
    >>> validate_shapes_against_model(unet, patching_name="whole", patch_size=None,
    ...     input_shapes=[(3, 1, 100, 90)])
    Traceback (most recent call last):
    ...
    ValueError: Input data dimension X (size 90) is not a multiple of 4 ...
    """
    if patching_name == "whole":
        for shape in input_shapes:
            constraints.validate_spatial_shape(tuple(shape[2:]))
    elif patch_size is None:
        raise ValueError(
            f"Patching {patching_name!r} needs a patch size to check against the "
            "model: expected a sequence of int, got None. Pass the patching's "
            "`patch_size` (the tile size for tiled patching)."
        )
    else:
        constraints.validate_spatial_shape(tuple(patch_size))
    if channels is None:
        for shape in input_shapes:
            constraints.validate_input_channels(shape[1])
        for shape in target_shapes or ():
            constraints.validate_target_channels(shape[1])
