/* The visit map page: filters, what is in view (bbox + zoom), counts and the detail panel.
 * body[data-map-state] is "loading" while requests are out and "ready" once all are drawn. */
(function () {
  "use strict";
  var GW = window.GW, L = window.L, cfg = GW.cfg, t = GW.t, layers = GW.layers;
  var $ = function (id) { return document.getElementById(id); };
  var form = $("filters");
  var state = { from: GW.addDays(GW.today(), -29), to: GW.today(), worker: "", outcome: "",
                cases: "open", day: GW.today(), track: false, layers: {} };
  var pending = 0, seq = {}, firstReady = true, fitted = false, quiet = false, moving = false;

  var map = L.map("map", { zoomControl: true, minZoom: 3, maxZoom: 20, zoomSnap: 1 });
  if (cfg.tile_url) {
    // Most tile sets stop at zoom 18: closer in, their tiles are enlarged, not asked for.
    L.tileLayer(cfg.tile_url, { maxZoom: 20, maxNativeZoom: 18,
                                attribution: cfg.tile_attribution || "" }).addTo(map);
  } else {
    tileHint().addTo(map);
  }
  map.attributionControl.setPrefix(false);
  // Panes keep the drawing order fixed whichever answer arrives first: grids at the bottom,
  // then households, visits and the track; div icons (clusters, cases) stay in the marker
  // pane (600). The grid labels lie above them (below the tooltips, 650) so that clusters
  // never hide a grid's name; they take no clicks, which go to the marks underneath.
  [["gridPane", 350], ["householdPane", 410], ["visitPane", 420], ["trackPane", 430],
   ["labelPane", 640]].forEach(function (pane) {
    map.createPane(pane[0]).style.zIndex = String(pane[1]);
  });
  var groups = {};
  ["grids", "buildings", "households", "visits", "track", "cases"].forEach(function (name) {
    groups[name] = L.layerGroup().addTo(map);
  });

  /* No base map configured: say so on the map, naming the setting that gives one. */
  function tileHint() {
    var hint = L.control({ position: "topright" });
    hint.onAdd = function () {
      var box = L.DomUtil.create("div", "tile-hint");
      box.id = "tile-hint";
      box.setAttribute("role", "note");
      var text = L.DomUtil.create("p", "", box);
      var parts = t("map.no_tiles", { setting: "\u0001" }).split("\u0001");
      text.appendChild(document.createTextNode(parts[0]));
      L.DomUtil.create("code", "", text).textContent = "GRIDWORK_MAP_TILE_URL";
      text.appendChild(document.createTextNode(parts.slice(1).join("")));
      var close = L.DomUtil.create("button", "link-button tile-hint-close", box);
      close.type = "button";
      close.textContent = t("panel.close");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(close, "click", function () { hint.remove(); });
      return box;
    };
    return hint;
  }

  function setStatus(text) { $("map-status").textContent = text || ""; }
  function setCount(id, value) { $(id).textContent = GW.num(value); }

  function begin() {
    pending += 1;
    document.body.setAttribute("data-map-state", "loading");
    setStatus(t("map.loading"));
  }
  function end() {
    pending -= 1;
    if (pending > 0) { return; }
    document.body.setAttribute("data-map-state", "ready");
    document.body.setAttribute("data-map-loads",
      String(Number(document.body.getAttribute("data-map-loads") || 0) + 1));
    if (firstReady) {
      firstReady = false;
      if (window.performance && performance.mark) { performance.mark("gw-map-ready"); }
    }
  }
  /* Run one layer's request; a newer request of the same layer makes this answer stale. */
  function load(name, request, draw) {
    seq[name] = (seq[name] || 0) + 1;
    var mine = seq[name];
    begin();
    return request().then(function (data) {
      if (mine === seq[name]) { draw(data); setStatus(""); }
    }).catch(function (error) {
      if (mine === seq[name]) { setStatus(t("error.load") + " " + (error.message || "")); }
    }).then(end);
  }

  function period() { return { from: GW.dayStart(state.from), to: GW.dayEnd(state.to) }; }
  function bboxParam() {
    var b = map.getBounds();
    var sw = GW.crs.fromMap(b.getSouth(), b.getWest());
    var ne = GW.crs.fromMap(b.getNorth(), b.getEast());
    return [sw[0], sw[1], ne[0], ne[1]].map(function (v) { return v.toFixed(6); }).join(",");
  }
  function openHousehold(id) { GW.panel.showHousehold(id); }
  function openCase(id, props) { GW.panel.showCase(id, { feature: props }); }

  /* The first view: the box around my grids (from the page), so that the grids and what
   * is in view load side by side. */
  function firstView() {
    var b = cfg.bounds;
    quiet = true;  // the first view is loaded by the caller, not by this moveend
    if (b) {
      var sw = GW.crs.toMap(b[0], b[1]), ne = GW.crs.toMap(b[2], b[3]);
      map.fitBounds([sw, ne], { padding: [10, 10] });
    } else {
      map.setView([35, 105], 4);
    }
    quiet = false;
    fitted = true;
  }

  /* The grids overlapping the view (a city holds 1,200; the view shows a few): asked again
   * after every move, like the other layers. */
  function loadGrids() {
    var params = Object.assign({ bbox: bboxParam() }, period());
    return load("grids", function () { return GW.api("/map/grids", params); },
      function (collection) { layers.drawGrids(groups.grids, collection); });
  }

  function loadHouseholds() {
    if (!GW.can("households.read") || !state.layers.households) {
      groups.households.clearLayers();
      return null;
    }
    var params = Object.assign({ bbox: bboxParam(), zoom: map.getZoom() }, period());
    return load("households", function () { return GW.api("/map/households", params); },
      function (data) {
        layers.drawHouseholds(groups.households, data, openHousehold, map);
        var c = data.counts || {};
        setCount("count-ok", c.ok); setCount("count-due", c.due);
        setCount("count-overdue", c.overdue); setCount("count-ribbon", c.ribbon);
        $("households-in-view").textContent = t("map.households_line", { n: GW.num(c.total) });
      });
  }

  function loadBuildings() {
    if (!state.layers.buildings || map.getZoom() < 15) {
      groups.buildings.clearLayers();
      return null;
    }
    return load("buildings", function () { return GW.api("/map/buildings", { bbox: bboxParam() }); },
      function (data) { layers.drawBuildings(groups.buildings, data.items || []); });
  }

  function loadVisits() {
    if (!GW.can("visits.read") || !state.layers.visits) {
      groups.visits.clearLayers();
      return null;
    }
    // Zoomed out, single visits would bury the map: ask for the counts only.
    var single = map.getZoom() >= 15;
    var params = Object.assign({ bbox: bboxParam(), worker: state.worker,
                                 outcome: state.outcome, limit: single ? 2000 : 0 }, period());
    return load("visits", function () { return GW.api("/map/visits", params); },
      function (data) {
        layers.drawVisits(groups.visits, data.items || [], openHousehold);
        setCount("count-visits", data.total); setCount("count-offsite", data.off_site);
        $("visits-note").textContent = !single && data.total ? t("map.zoom_for_visits")
          : (data.truncated ? t("map.truncated", { n: (data.items || []).length }) : "");
      });
  }

  function caseParams() {
    var params = { bbox: bboxParam() };
    if (state.cases === "open") { params.open = "true"; }
    if (state.cases === "overdue") { params.overdue = "true"; }
    return params;
  }

  function loadCases() {
    if (!GW.can("reports.read") || !state.layers.cases) {
      groups.cases.clearLayers();
      return null;
    }
    return load("cases", function () { return GW.api("/map/cases", caseParams()); },
      function (collection) {
        layers.drawCases(groups.cases, collection, openCase);
        var features = collection.features || [];
        setCount("count-cases", features.length);
        setCount("count-cases-overdue", features.filter(function (f) {
          return f.properties && f.properties.overdue; }).length);
      });
  }

  /* The worker's day: the patrol tracks they recorded (巡查轨迹) and their visits. */
  function loadTrack(fit) {
    if (!state.track || !state.worker || !state.day) {
      groups.track.clearLayers();
      $("track-summary").textContent = "";
      return null;
    }
    var params = { worker: state.worker, day: state.day };
    var none = Promise.resolve(null);
    return load("track", function () {
      return Promise.all([GW.can("tracks.read") ? GW.api("/map/tracks", params) : none,
                          GW.can("visits.read") ? GW.api("/map/visits", params) : none]);
    }, function (answers) {
      var day = answers[0] || { tracks: [], length_m: 0, duration_s: 0 };
      var visits = (answers[1] && answers[1].items) || [];
      var bounds = layers.drawTrack(groups.track, day.tracks, visits, openHousehold);
      var text = t("map.track_none");
      if (day.tracks.length) {
        text = t("map.patrol", { length: GW.fmtLength(day.length_m),
                                 time: GW.fmtDuration(day.duration_s), n: visits.length });
      } else if (visits.length) {
        text = t("map.track", { n: visits.length }) + " " + t("map.track_unrecorded");
      }
      $("track-summary").textContent = text;
      if (fit && bounds) { map.fitBounds(bounds, { padding: [40, 40], maxZoom: 18 }); }
    });
  }

  function loadView() {
    loadHouseholds(); loadBuildings(); loadVisits(); loadCases();
  }

  function loadWorkers() {
    if (!GW.can("visits.read")) { return null; }
    return load("workers", function () { return GW.api("/map/workers"); }, function (data) {
      var select = $("f-worker");
      (data.items || []).forEach(function (w) {
        var option = document.createElement("option");
        option.value = String(w.id);
        option.textContent = w.name + (w.grids && w.grids.length ? " (" + w.grids.join(", ") + ")" : "");
        select.appendChild(option);
      });
    });
  }

  function readForm() {
    state.from = $("f-from").value || state.from;
    state.to = $("f-to").value || state.to;
    if (state.from > state.to) { var x = state.from; state.from = state.to; state.to = x; }
    state.worker = $("f-worker").value;
    state.outcome = $("f-outcome").value;
    state.cases = $("f-cases").value;
    state.day = $("f-day").value;
    Array.prototype.forEach.call(form.querySelectorAll('input[name="layer"]'), function (box) {
      state.layers[box.value] = box.checked;
    });
    if (state.layers.grids) { groups.grids.addTo(map); } else { map.removeLayer(groups.grids); }
  }

  function fillForm() {
    $("f-from").value = state.from; $("f-to").value = state.to; $("f-day").value = state.day;
    $("f-from").max = $("f-to").max = $("f-day").max = GW.today();
  }

  form.addEventListener("change", function (event) {
    var name = event.target.name;
    readForm();
    if (name === "from" || name === "to") { loadGrids(); loadView(); }
    else if (name === "worker") { loadVisits(); loadTrack(false); }
    else if (name === "outcome") { loadVisits(); }
    else if (name === "cases") { loadCases(); }
    else if (name === "day") { loadTrack(true); }
    else if (name === "layer") { loadView(); }
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  $("show-track").addEventListener("click", function () {
    readForm();
    state.track = true;
    loadTrack(true);
  });
  var afterMove = GW.debounce(function () { moving = false; loadGrids(); loadView(); end(); }, 150);
  map.on("moveend", function () {
    if (quiet || !fitted) { return; }
    if (!moving) { moving = true; begin(); }  // "loading" from the move, not from the fetch
    afterMove();
  });

  fillForm();
  readForm();
  begin();  // the first "ready" waits for the grids, the view and the workers
  var workersLoaded = loadWorkers();
  firstView();
  loadView();
  loadGrids().then(function () {
    end();
    var wanted = new URLSearchParams(window.location.search);
    if (wanted.get("worker") && wanted.get("day")) {  // a worker's day, linked from elsewhere
      Promise.resolve(workersLoaded).then(function () {
        $("f-worker").value = wanted.get("worker");
        $("f-day").value = wanted.get("day");
        readForm();
        state.track = true;
        loadVisits(); loadTrack(true);
      });
    }
    if (wanted.get("household")) { GW.panel.showHousehold(wanted.get("household"), { center: true }); }
    if (wanted.get("case")) { GW.panel.showCase(wanted.get("case"), { center: true }); }
  });

  GW.mapPage = { map: map, state: state, groups: groups, reload: function () {
    loadGrids(); loadView(); loadTrack(false);
  } };
}());
