/* Coordinates for the base map: the server speaks WGS-84; AMap-style tiles are in GCJ-02.
 * The same transform as server.geo.from_wgs84 (prcoords), so points land on the tiles. */
(function () {
  "use strict";
  var A = 6378245, EE = 0.00669342162296594323;

  function inChina(lat, lon) {
    return lat >= 0.8293 && lat <= 55.8271 && lon >= 72.004 && lon <= 137.8347;
  }

  function wgsToGcj(lat, lon) {
    if (!inChina(lat, lon)) { return [lat, lon]; }
    var x = lon - 105, y = lat - 35, pi = Math.PI;
    var dLat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) +
      (2 * Math.sin(x * 6 * pi) + 2 * Math.sin(x * 2 * pi) + 2 * Math.sin(y * pi) +
       4 * Math.sin(y / 3 * pi) + 16 * Math.sin(y / 12 * pi) + 32 * Math.sin(y / 30 * pi)) * 20 / 3;
    var dLon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) +
      (2 * Math.sin(x * 6 * pi) + 2 * Math.sin(x * 2 * pi) + 2 * Math.sin(x * pi) +
       4 * Math.sin(x / 3 * pi) + 15 * Math.sin(x / 12 * pi) + 30 * Math.sin(x / 30 * pi)) * 20 / 3;
    var rad = lat * pi / 180;
    var magic = 1 - EE * Math.pow(Math.sin(rad), 2);
    var latArc = (A * (1 - EE)) / Math.pow(magic, 1.5) * pi / 180;
    var lonArc = A * Math.cos(rad) / Math.sqrt(magic) * pi / 180;
    return [lat + dLat / latArc, lon + dLon / lonArc];
  }

  /* The inverse by fixed-point iteration: well under a centimetre after a few rounds. */
  function gcjToWgs(lat, lon) {
    var wLat = lat, wLon = lon;
    for (var i = 0; i < 6; i += 1) {
      var g = wgsToGcj(wLat, wLon);
      wLat -= g[0] - lat;
      wLon -= g[1] - lon;
    }
    return [wLat, wLon];
  }

  var gcj = window.GW && window.GW.cfg.tile_crs === "gcj02";
  /* WGS-84 from the server → a Leaflet [lat, lon] on the base map. */
  function toMap(lat, lon) { return gcj ? wgsToGcj(lat, lon) : [lat, lon]; }
  /* A base-map point → WGS-84 for the server (bbox queries). */
  function fromMap(lat, lon) { return gcj ? gcjToWgs(lat, lon) : [lat, lon]; }
  /* GeoJSON rings (lon, lat) → Leaflet lat/lng arrays on the base map. */
  function ringsToMap(geometry) {
    function ring(coords) { return coords.map(function (c) { return toMap(c[1], c[0]); }); }
    if (geometry.type === "Polygon") { return geometry.coordinates.map(ring); }
    if (geometry.type === "MultiPolygon") {
      return geometry.coordinates.map(function (poly) { return poly.map(ring); });
    }
    return [];
  }

  window.GW.crs = { wgsToGcj: wgsToGcj, gcjToWgs: gcjToWgs, toMap: toMap, fromMap: fromMap,
                    ringsToMap: ringsToMap };
}());
