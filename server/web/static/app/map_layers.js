/* The visit map's layers: grids by coverage, buildings, households (clusters or points),
 * visits, a worker's day (巡查轨迹) and cases. Each draw* function replaces its layer. */
(function () {
  "use strict";
  var GW = window.GW, L = window.L, t = GW.t, toMap = GW.crs.toMap;
  var STATUS_COLOURS = { ok: "#2e7d32", due: "#f9a825", overdue: "#c62828", moved_out: "#9e9e9e" };

  /* Coverage 0..1 → a fill from red (nobody visited) through amber to green. */
  function coverageColour(value) {
    if (value === null || value === undefined) { return "#cfd8dc"; }
    var stops = [[0, [239, 154, 154]], [0.5, [255, 224, 130]], [1, [165, 214, 167]]];
    var v = Math.max(0, Math.min(1, value)), i = v <= 0.5 ? 0 : 1;
    var a = stops[i], b = stops[i + 1], f = (v - a[0]) / (b[0] - a[0]);
    var rgb = a[1].map(function (c, k) { return Math.round(c + (b[1][k] - c) * f); });
    return "rgb(" + rgb.join(",") + ")";
  }

  function compact(n) {
    if (n >= 10000) { return (n / 1000).toFixed(0) + "k"; }
    if (n >= 1000) { return (n / 1000).toFixed(1) + "k"; }
    return String(n);
  }

  function drawGrids(group, collection) {
    group.clearLayers();
    var bounds = null;
    (collection.features || []).forEach(function (feature) {
      var p = feature.properties || {};
      var polygon = L.polygon(GW.crs.ringsToMap(feature.geometry), {
        color: "#37474f", weight: 2, fillColor: coverageColour(p.coverage), fillOpacity: 0.45,
        pane: "gridPane",
        className: "grid-area grid-" + p.code
      });
      var text = t("map.coverage", { name: p.name, pct: GW.pct(p.coverage),
                                     visited: GW.num(p.visited), total: GW.num(p.households) });
      polygon.bindTooltip(GW.esc(text), { sticky: true });
      polygon.feature = feature;
      group.addLayer(polygon);
      var b = polygon.getBounds();
      bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
      // The label hangs just inside the grid's north edge, clear of the points in the middle,
      // on a light box of its own so that it reads over the grid's colour and the clusters.
      var label = L.marker(L.latLng(b.getNorth(), b.getCenter().lng), {
        interactive: false, keyboard: false, pane: "labelPane",
        icon: L.divIcon({ className: "grid-label", iconSize: [200, 40], iconAnchor: [100, -4],
                          html: '<span class="grid-label-box"><span class="grid-label-name">' +
                                GW.esc(p.name) + '</span><span class="grid-label-cov">' +
                                GW.esc(GW.pct(p.coverage)) + "</span></span>" })
      });
      group.addLayer(label);
    });
    return bounds;
  }

  function drawBuildings(group, items) {
    group.clearLayers();
    items.forEach(function (b) {
      var marker = L.circleMarker(toMap(b.lat, b.lon), {
        radius: 4, color: "#455a64", weight: 1, fillColor: "#eceff1", fillOpacity: 1,
        className: "bldg", pane: "householdPane"
      });
      marker.bindTooltip(GW.esc(t("map.building") + " " + b.name + " · " +
                                t("map.households_line", { n: b.households })));
      group.addLayer(marker);
    });
  }

  function clusterIcon(c) {
    var size = Math.round(Math.min(60, 26 + Math.log(c.count + 1) * 5));
    var kind = c.overdue > c.count / 3 ? "overdue" : (c.overdue + c.due > 0 ? "due" : "ok");
    return L.divIcon({ className: "cluster-wrap", iconSize: [size, size],
                       html: '<div class="cluster cluster-' + kind + '">' +
                             compact(c.count) + "</div>" });
  }

  /* Households of one building share its point: fan them out on a sunflower spiral around
   * it (in screen pixels, so the rosette keeps its size at every zoom) so each shows. */
  function spread(points, map) {
    var byPlace = {};
    points.forEach(function (h) {
      var key = h.lat.toFixed(6) + "," + h.lon.toFixed(6);
      (byPlace[key] = byPlace[key] || []).push(h);
    });
    var places = {};
    Object.keys(byPlace).forEach(function (key) {
      var group = byPlace[key];
      var centre = map.project(toMap(group[0].lat, group[0].lon));
      group.forEach(function (h, i) {
        if (group.length === 1) { places[h.id] = toMap(h.lat, h.lon); return; }
        var angle = i * 2.39996, radius = 9 * Math.sqrt(i + 0.5);
        places[h.id] = map.unproject(centre.add([radius * Math.cos(angle),
                                                 radius * Math.sin(angle)]));
      });
    });
    return places;
  }

  function drawHouseholds(group, data, onOpen, map) {
    group.clearLayers();
    var places = spread(data.points || [], map);
    (data.clusters || []).forEach(function (c) {
      var marker = L.marker(toMap(c.lat, c.lon), { icon: clusterIcon(c), keyboard: false });
      marker.bindTooltip(GW.esc(t("map.cluster", { n: c.count, overdue: c.overdue })));
      marker.on("click", function () { map.setView(marker.getLatLng(), map.getZoom() + 2); });
      group.addLayer(marker);
    });
    (data.points || []).forEach(function (h) {
      var latlng = places[h.id], marker;
      if (h.ribbon) {
        marker = L.marker(latlng, { icon: L.divIcon({
          className: "hh-ribbon hh-id-" + h.id, iconSize: [16, 16], html: '<div class="ribbon-mark"></div>' }),
          zIndexOffset: 500 });
      } else {
        marker = L.circleMarker(latlng, {
          radius: 7, color: "#fff", weight: 1.5, fillColor: STATUS_COLOURS[h.status] || "#999",
          pane: "householdPane",
          fillOpacity: 0.95, className: "hh hh-" + h.status + " hh-id-" + h.id
        });
      }
      var label = [h.label, t("status." + (h.ribbon ? "yellow_ribbon" : h.status))];
      marker.bindTooltip(GW.esc(label.join(" · ")));
      marker.on("click", function () { onOpen(h.id); });
      group.addLayer(marker);
    });
  }

  function visitTooltip(v) {
    var where = t(v.off_site ? "map.off_site" : "map.on_site", { m: Math.round(v.distance_m) });
    return GW.esc(GW.fmtTime(v.visited_at) + " · " + (v.worker || "") + " · " +
                  t("outcome." + v.outcome) + " · " + where);
  }

  function drawVisits(group, items, onOpen) {
    group.clearLayers();
    items.forEach(function (v) {
      var marker = L.circleMarker(toMap(v.lat, v.lon), v.off_site ? {
        radius: 5, color: "#8e24aa", weight: 3, fillColor: "#fff", fillOpacity: 1,
        className: "visit off-site", pane: "visitPane"
      } : {
        radius: 3, color: "#fff", weight: 1, fillColor: "#1565c0", fillOpacity: 1,
        className: "visit", pane: "visitPane"
      });
      marker.bindTooltip(visitTooltip(v));
      marker.on("click", function () { onOpen(v.household_id); });
      group.addLayer(marker);
    });
  }

  /* A worker's day (巡查轨迹): each recorded patrol track a solid line, the day's visits
   * numbered in time order on top. With no track recorded, a dashed line joins the visits. */
  function drawTrack(group, tracks, visits, onOpen) {
    group.clearLayers();
    var all = [], previous = null;
    tracks.forEach(function (track) {
      var line = (track.points || []).map(function (p) { return toMap(p[0], p[1]); });
      // A segment that starts the instant the last ended continues it: no gap drawn.
      if (line.length && previous && previous.ended_at === track.started_at &&
          (previous.points || []).length) {
        var end = previous.points[previous.points.length - 1];
        line.unshift(toMap(end[0], end[1]));
      }
      previous = track;
      if (!line.length) { return; }
      all = all.concat(line);
      var path = L.polyline(line, { color: "#0d47a1", weight: 4, opacity: 0.85,
                                    className: "track-line", pane: "trackPane" });
      path.bindTooltip(GW.esc(t("map.track_tip", {
        from: GW.fmtClock(track.started_at), to: GW.fmtClock(track.ended_at),
        length: GW.fmtLength(track.length_m) })));
      group.addLayer(path);
    });
    var stops = visits.map(function (v) { return toMap(v.lat, v.lon); });
    if (!all.length && stops.length) {
      group.addLayer(L.polyline(stops, { color: "#0d47a1", weight: 3, dashArray: "6 6",
                                         className: "track-joined", pane: "trackPane" }));
    }
    visits.forEach(function (v, i) {
      var marker = L.marker(toMap(v.lat, v.lon), { zIndexOffset: 1000, icon: L.divIcon({
        className: "track-wrap", iconSize: [22, 22],
        html: '<div class="track-mark' + (v.off_site ? " off-site" : "") + '">' + (i + 1) +
              "</div>" }) });
      marker.bindTooltip(visitTooltip(v));
      marker.on("click", function () { onOpen(v.household_id); });
      group.addLayer(marker);
    });
    all = all.concat(stops);
    return all.length ? L.latLngBounds(all) : null;
  }

  function categoryName(p) {
    var zh = (GW.cfg.locale || "zh").indexOf("zh") === 0;
    return (zh ? p.category_zh : p.category_en) || p.category || "";
  }

  function drawCases(group, collection, onOpen) {
    group.clearLayers();
    (collection.features || []).forEach(function (feature) {
      var p = feature.properties || {}, c = feature.geometry.coordinates;
      var classes = "case-mark" + (p.overdue ? " case-overdue" : "") +
                    (p.status === "closed" ? " case-closed" : "");
      var marker = L.marker(toMap(c[1], c[0]), { zIndexOffset: 800, icon: L.divIcon({
        className: "case-wrap case-id-" + (p.id || feature.id), iconSize: [18, 18],
        html: '<div class="' + classes + '">!</div>' }) });
      var text = [categoryName(p), t("case." + p.status)];
      if (p.overdue) { text.push(t("case.overdue")); }
      marker.bindTooltip(GW.esc(text.join(" · ")));
      marker.on("click", function () { onOpen(p.id || feature.id, p); });
      group.addLayer(marker);
    });
  }

  GW.layers = { drawGrids: drawGrids, drawBuildings: drawBuildings,
                drawHouseholds: drawHouseholds, drawVisits: drawVisits, drawTrack: drawTrack,
                drawCases: drawCases, coverageColour: coverageColour };
}());
