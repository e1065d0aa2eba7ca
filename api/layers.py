"""Map layers as GeoJSON FeatureCollections (the same data the map shows)."""
from __future__ import annotations

from flask import jsonify

from api import models
from api.core import ApiError, Parameter, endpoint
from services.i18n import _
from services.layers import layer_names, load_plugins
from services.runtime import current


@endpoint("/layers/<name>", "A map layer as a GeoJSON FeatureCollection, with its freshness",
          parameters=(Parameter("name", "path", "traffic | air | flood | incidents | units", {"type": "string"}),),
          response=models.Layer)
def layer(name: str):
    load_plugins()
    if name not in layer_names():
        raise ApiError(404, "not_found", _("no layer {name}; layers: {choices}",
                                           name=repr(name), choices=', '.join(layer_names())), "name")
    snapshot = current().snapshots().current()
    state = snapshot.layers.get(name)
    features = [] if state is None else [fs.feature for fs in state.features.values()]
    meta = {} if state is None else state.meta()
    return jsonify({"type": "FeatureCollection", "features": features,
                    "properties": {"layer": name, "newest": meta.get("newest"), "stale_after": meta.get("stale_after"),
                                   "snapshot_version": snapshot.version}})
