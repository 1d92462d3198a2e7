// The position on a base map (report and visit screens), loaded only when the server names a
// tile layer (GRIDWORK_MAP_TILE_URL). Points are WGS-84, as the Geolocation API gives them and
// as they are sent; on GCJ-02 tiles (AMap, Tencent) they are drawn shifted to GCJ-02, the
// same transform as server.geo and the secretary's map, so the dot lands on the street.
import L from "leaflet";
import "leaflet/dist/leaflet.css";

const A = 6378245;
const EE = 0.00669342162296594323;

function inChina(lat, lon) {
  return lat >= 0.8293 && lat <= 55.8271 && lon >= 72.004 && lon <= 137.8347;
}

export function wgsToGcj(lat, lon) {
  if (!inChina(lat, lon)) return [lat, lon];
  const x = lon - 105;
  const y = lat - 35;
  const pi = Math.PI;
  const dLat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x))
    + (2 * Math.sin(x * 6 * pi) + 2 * Math.sin(x * 2 * pi) + 2 * Math.sin(y * pi)
    + 4 * Math.sin(y / 3 * pi) + 16 * Math.sin(y / 12 * pi) + 32 * Math.sin(y / 30 * pi)) * 20 / 3;
  const dLon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x))
    + (2 * Math.sin(x * 6 * pi) + 2 * Math.sin(x * 2 * pi) + 2 * Math.sin(x * pi)
    + 4 * Math.sin(x / 3 * pi) + 15 * Math.sin(x / 12 * pi) + 30 * Math.sin(x / 30 * pi)) * 20 / 3;
  const rad = lat * pi / 180;
  const magic = 1 - EE * Math.sin(rad) ** 2;
  const latArc = (A * (1 - EE)) / magic ** 1.5 * pi / 180;
  const lonArc = A * Math.cos(rad) / Math.sqrt(magic) * pi / 180;
  return [lat + dLat / latArc, lon + dLon / lonArc];
}

/** Draw a map in `element` following the fixes it is given; returns update(fix). */
export function positionMap(element, tiles) {
  const gcj = tiles.crs === "gcj02";
  const toMap = (fix) => (gcj ? wgsToGcj(fix.lat, fix.lon) : [fix.lat, fix.lon]);
  const map = L.map(element, { zoomControl: false, attributionControl: Boolean(tiles.attribution) });
  L.tileLayer(tiles.url, { maxZoom: 19, attribution: tiles.attribution || "" }).addTo(map);
  let dot = null;
  let ring = null;
  return (fix) => {
    if (!fix) return;
    const at = toMap(fix);
    if (!dot) {
      ring = L.circle(at, { radius: fix.accuracy_m || 0, weight: 1, color: "#0d47a1" }).addTo(map);
      dot = L.circleMarker(at, { radius: 7, weight: 2, color: "#fff", fillColor: "#0d47a1",
        fillOpacity: 1 }).addTo(map);
      map.setView(at, 18);
    } else {
      dot.setLatLng(at);
      ring.setLatLng(at).setRadius(fix.accuracy_m || 0);
      map.panTo(at);
    }
    element.dataset.mapCrs = tiles.crs;
    element.dataset.mapLat = at[0].toFixed(6);
    element.dataset.mapLon = at[1].toFixed(6);
  };
}
