"""Zarr layouts beyond one image: HCS plates, prediction outputs, draft v3 stores.

- An OME-Zarr **HCS plate** (``plate`` metadata, NGFF 0.4 at the top of the
  attributes, 0.5 under ``ome``) lists its wells; each well (``well`` metadata)
  lists its fields, each an OME-Zarr image. :func:`plate_fields` returns them in
  plate order, each with its well and field path.
- A **prediction output** of ``predict_to_zarr`` (the ``careamics-dask`` attribute
  with ``kind: "prediction"`` at its root) holds one image per input stack, named
  ``0``, ``1``, ..., as arrays with their axes in the attributes, or as OME-Zarr
  image groups. :func:`prediction_members` lists them in index order.
- A pre-release (**"zarrita" draft**) Zarr v3 store, whose ``zarr.json`` carries
  ``metadata_encoding`` and a protocol URL as ``zarr_format``, is not Zarr v3:
  :func:`draft_v3_error` says so instead of zarr-python's ``TypeError``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from careamics_dask.errors import AxesError, UnsupportedSourceError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import zarr

__all__ = [
    "PREDICTION_ATTRIBUTE",
    "PlateField",
    "check_stored_axes",
    "draft_v3_error",
    "plate_fields",
    "prediction_axes",
    "prediction_members",
]

logger = logging.getLogger(__name__)

PREDICTION_ATTRIBUTE = "careamics-dask"
"""The attribute key ``predict_to_zarr`` writes (``predict.layout.ATTRIBUTE``)."""

_DRAFT_PROTOCOL = "purl.org/zarr/spec/protocol/core/3.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateField:
    """One field of one well of an HCS plate.

    Attributes
    ----------
    well : str
        The well's path in the plate, e.g. ``"A/1"``.
    field : str
        The field's path in the well, e.g. ``"0"``.
    path : str
        The field's image group, relative to the plate.
    """

    well: str
    field: str
    path: str


def _ome_block(attrs: Mapping[str, Any], key: str) -> Any:
    ome = attrs.get("ome")
    if isinstance(ome, dict) and key in ome:
        return ome[key]
    return attrs.get(key)


def plate_fields(group: zarr.Group, *, where: str) -> list[PlateField] | None:
    """List the fields of an HCS plate, well by well; None when not a plate.

    Parameters
    ----------
    group : zarr.Group
        The group that may be a plate.
    where : str
        The plate's location, for messages.

    Returns
    -------
    list of PlateField or None
        Every field of every well, in the plate's well order and each well's
        field order; None when the group has no ``plate`` metadata.

    Raises
    ------
    UnsupportedSourceError
        When the plate lists no wells, or a well has no fields.
    """
    plate = _ome_block(group.attrs.asdict(), "plate")
    if plate is None:
        return None
    wells = plate.get("wells") if isinstance(plate, dict) else None
    if not isinstance(wells, list) or not wells:
        raise UnsupportedSourceError(
            f"Invalid HCS plate metadata in {where!r}: expected a non-empty 'wells' "
            f"list in 'plate', got {wells!r:.200}. Fix the plate metadata "
            "(OME-NGFF 0.4/0.5), or point at one field's image group.",
            source=where,
        )
    fields = []
    for entry in wells:
        well_path = str(entry.get("path", "")).strip("/")
        well_group = group.get(well_path)
        well = (
            _ome_block(well_group.attrs.asdict(), "well")
            if well_group is not None
            else None
        )
        images = well.get("images") if isinstance(well, dict) else None
        if not isinstance(images, list) or not images:
            raise UnsupportedSourceError(
                f"Well {well_path!r} of HCS plate {where!r} lists no fields: "
                f"expected a group with 'well' metadata naming its 'images', got "
                f"{images!r:.200}. Fix the well metadata, or remove the well from "
                "the plate's 'wells'.",
                source=where,
            )
        for image in images:
            field = str(image.get("path", "")).strip("/")
            fields.append(
                PlateField(well=well_path, field=field, path=f"{well_path}/{field}")
            )
    return fields


def prediction_members(group: zarr.Group) -> list[str] | None:
    """List the images of a ``predict_to_zarr`` output root, in index order.

    Parameters
    ----------
    group : zarr.Group
        The group that may be a prediction root.

    Returns
    -------
    list of str or None
        The members named by an index (``"0"``, ``"1"``, ..., ``"10"``), sorted
        by number; None when the group is not a prediction output.
    """
    meta = group.attrs.asdict().get(PREDICTION_ATTRIBUTE)
    if not isinstance(meta, dict) or meta.get("kind") != "prediction":
        return None
    names = [name for name, _ in group.members() if name.isdigit()]
    return sorted(names, key=int)


def prediction_axes(attrs: Mapping[str, Any]) -> str | None:
    """Return the axes a prediction array records, None for other arrays.

    Parameters
    ----------
    attrs : Mapping[str, Any]
        An array's attributes.

    Returns
    -------
    str or None
        The ``axes`` of the ``careamics-dask`` attribute of a prediction array.

    Examples
    --------
    >>> prediction_axes({"careamics-dask": {"kind": "prediction", "axes": "SCYX"}})
    'SCYX'
    >>> prediction_axes({}) is None
    True
    """
    meta = attrs.get(PREDICTION_ATTRIBUTE)
    if not isinstance(meta, dict) or meta.get("kind") != "prediction":
        return None
    axes = meta.get("axes")
    return str(axes) if axes else None


def check_stored_axes(axes: str | None, stored: str, *, where: str) -> str:
    """Reconcile the user's axes with the axes a prediction array records.

    Parameters
    ----------
    axes : str or None
        The axes the user passed (``""`` or None: the stored ones).
    stored : str
        The recorded axes.
    where : str
        The array's location, for messages.

    Returns
    -------
    str
        ``stored``.

    Raises
    ------
    AxesError
        When the user's axes disagree (``S`` and ``T`` count as the same).

    Examples
    --------
    >>> check_stored_axes("", "SCYX", where="p.zarr/0")
    'SCYX'
    """
    if not axes or axes.upper().replace("T", "S") == stored.replace("T", "S"):
        return stored
    raise AxesError(
        f"Axes {axes!r} disagree with the prediction output {where!r}: expected "
        f"{stored!r} (recorded by predict_to_zarr), got {axes.upper()!r}. Pass "
        f"axes={stored!r} or axes=''."
    )


def draft_v3_error(store: str, cause: BaseException) -> UnsupportedSourceError | None:
    """Return the error for a pre-release ("zarrita" draft) v3 store, else None.

    Parameters
    ----------
    store : str
        The store's root (a local folder; remote stores are judged by ``cause``).
    cause : BaseException
        The error opening the store raised.

    Returns
    -------
    UnsupportedSourceError or None
        An error naming the draft format and the fix, when the store's
        ``zarr.json`` (or the failure) shows the draft's ``metadata_encoding``.
    """
    draft = "metadata_encoding" in str(cause) or "metadata_encoding" in str(
        cause.__cause__
    )
    root = Path(store) / "zarr.json"
    if not draft and root.is_file():
        try:
            document = json.loads(root.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        fmt = document.get("zarr_format") if isinstance(document, dict) else None
        draft = isinstance(document, dict) and (
            "metadata_encoding" in document or _DRAFT_PROTOCOL in str(fmt)
        )
    if not draft:
        return None
    return UnsupportedSourceError(
        f"Zarr store {store!r} is an obsolete draft of Zarr v3: expected Zarr v2 "
        "(.zgroup/.zarray) or final Zarr v3 metadata (zarr.json with zarr_format 3), "
        "got the pre-release format (zarr.json with 'metadata_encoding', "
        f"'{_DRAFT_PROTOCOL}', arrays under meta/root/), which zarrita and "
        "zarr-python 2's experimental v3 wrote before the specification was final. "
        "Rewrite the store with zarr-python 2 as Zarr v2, or with zarr-python >= 3, "
        "then open it again.",
        source=store,
    )
