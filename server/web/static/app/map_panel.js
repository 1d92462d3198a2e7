/* The map's detail panel: a household (as the role may see it) with its visit history and
 * photo thumbnails, or a case with its timeline and before/after photos. */
(function () {
  "use strict";
  var GW = window.GW, t = GW.t, esc = GW.esc;
  var panel = document.getElementById("detail");
  var current = 0;

  function thumbs(ids) {
    if (!ids || !ids.length) { return ""; }
    return '<div class="thumbs">' + ids.map(function (id) {
      var src = GW.cfg.api + "/photos/" + encodeURIComponent(id) + "/thumb";
      return '<a href="' + esc(GW.cfg.api + "/photos/" + encodeURIComponent(id) + "/display") +
             '" target="_blank" rel="noopener"><img loading="lazy" alt="" src="' + esc(src) +
             '"></a>';
    }).join("") + "</div>";
  }

  function row(label, value) {
    return "<dt>" + esc(label) + "</dt><dd>" + value + "</dd>";
  }

  function show(html) {
    panel.innerHTML = html;
    panel.hidden = false;
    var close = panel.querySelector(".panel-close");
    if (close) { close.addEventListener("click", function () { panel.hidden = true; }); }
    panel.scrollIntoView({ block: "nearest" });
  }

  function header(title, id) {
    return '<header><h2 id="' + id + '">' + esc(title) + '</h2><button type="button" ' +
           'class="link-button panel-close">' + esc(t("panel.close")) + "</button></header>";
  }

  function statusBadge(status, ribbon) {
    var html = '<span class="badge badge-' + esc(status) + '">' + esc(t("status." + status)) +
               "</span>";
    if (ribbon) { html += ' <span class="tag">' + esc(t("status.yellow_ribbon")) + "</span>"; }
    return html;
  }

  function visitItem(v) {
    var where = t(v.off_site ? "map.off_site" : "map.on_site", { m: Math.round(v.distance_m || 0) });
    return '<li class="' + (v.off_site ? "off-site" : "") + '">' +
      "<div><strong>" + esc(GW.fmtTime(v.visited_at)) + "</strong> · " +
      esc(t("outcome." + v.outcome)) + (v.worker ? " · " + esc(v.worker) : "") +
      "</div><div>" + (v.off_site ? '<span class="badge badge-offsite">' + esc(where) +
      "</span>" : esc(where)) + "</div>" +
      (v.notes ? "<div>" + esc(v.notes) + "</div>" : "") + thumbs(v.photo_ids) + "</li>";
  }

  function showHousehold(id, options) {
    var mine = ++current;
    var visits = GW.can("visits.read") ? GW.api("/visits", { household_id: id, limit: 20 })
                                       : Promise.resolve({ items: [] });
    Promise.all([GW.api("/households/" + id), visits]).then(function (answers) {
      if (mine !== current) { return; }
      var h = answers[0], items = (answers[1].items || []).slice().sort(function (a, b) {
        return a.visited_at < b.visited_at ? 1 : -1;
      });
      var address = [h.building ? t("map.building") + " " + h.building : "", h.unit, h.door]
        .filter(Boolean).join(" · ");
      var tags = (h.tags || []).map(function (tag) {
        return '<span class="tag">' + esc(t("tag." + tag)) + "</span>";
      }).join("");
      var html = header(t("panel.household") + " " + h.code, "detail-title") + "<dl>" +
        row(t("panel.status"), statusBadge(h.status, h.open_yellow_ribbon)) +
        row(t("panel.address"), esc(address)) +
        row(t("panel.head"), esc(h.head_name)) +
        row(t("panel.phone"), esc(h.phone || "—")) +
        row(t("panel.members"), esc(h.members)) +
        row(t("panel.tags"), tags || "—") +
        row(t("panel.last_visit"), esc(GW.fmtTime(h.last_visit_at))) +
        (h.notes ? row(t("panel.notes"), esc(h.notes)) : "") + "</dl>" +
        "<h3>" + esc(t("panel.visits")) + "</h3>" +
        (items.length ? '<ol class="visit-list" id="visit-history">' +
         items.map(visitItem).join("") + "</ol>" : "<p>" + esc(t("panel.no_visits")) + "</p>");
      show(html);
      if (options && options.center && GW.mapPage && h.location) {
        GW.mapPage.map.setView(GW.crs.toMap(h.location.lat, h.location.lon), 18);
      }
    }).catch(function (error) {
      if (mine === current) { show(header(t("panel.household"), "detail-title") +
                                   '<p class="alert">' + esc(error.message) + "</p>"); }
    });
  }

  function stepItem(step) {
    var who = step.actor ? step.actor.display_name : "";
    return "<li><div><strong>" + esc(t("action." + step.action)) + "</strong> · " +
      esc(GW.fmtTime(step.at)) + "</div>" +
      (who ? "<div>" + esc(t("panel.by", { who: who })) + "</div>" : "") +
      (step.note ? "<div>" + esc(step.note) + "</div>" : "") + thumbs(step.photo_ids) + "</li>";
  }

  var categories = null;
  /* Category names (zh and en) by code, fetched once. */
  function categoryNames() {
    if (!categories) {
      categories = GW.api("/categories", { include_retired: "true" }).then(function (items) {
        var names = {};
        (items || []).forEach(function (c) { names[c.code] = c; });
        return names;
      }).catch(function () { return {}; });
    }
    return categories;
  }
  function categoryName(names, code) {
    var c = names[code];
    if (!c) { return code || ""; }
    return (GW.cfg.locale || "zh").indexOf("zh") === 0 ? c.name_zh : c.name_en;
  }

  function showCase(id, options) {
    var mine = ++current;
    var feature = (options && options.feature) || {};
    Promise.all([GW.api("/reports/" + id), GW.api("/reports/" + id + "/timeline"),
                 categoryNames()])
      .then(function (answers) {
        if (mine !== current) { return; }
        var r = answers[0], timeline = answers[1], names = answers[2];
        var steps = timeline.steps || timeline.items || [];
        var after = [];
        steps.forEach(function (s) { if (s.action === "handle") { after = after.concat(s.photo_ids || []); } });
        var html = header(t("panel.case") + " #" + r.id, "detail-title") + "<dl>" +
          row(t("panel.category"), esc(categoryName(names, r.category))) +
          row(t("panel.status"), '<span class="badge badge-case">' + esc(t("case." + r.status)) +
              "</span>" + (timeline.overdue ? ' <span class="badge badge-overdue">' +
              esc(t("case.overdue")) + "</span>" : "")) +
          row(t("panel.department"), esc(feature.department || r.department || "—")) +
          row(t("panel.deadline"), esc(GW.fmtTime(r.deadline_at))) + "</dl>" +
          (r.description ? "<p>" + esc(r.description) + "</p>" : "") +
          "<h3>" + esc(t("panel.before")) + "</h3>" + (thumbs(r.photo_ids) || "<p>—</p>") +
          "<h3>" + esc(t("panel.after")) + "</h3>" + (thumbs(after) || "<p>—</p>") +
          "<h3>" + esc(t("panel.timeline")) + "</h3>" +
          '<ol class="timeline" id="case-timeline">' + steps.map(stepItem).join("") + "</ol>";
        show(html);
        if (options && options.center && GW.mapPage && r.location) {
          GW.mapPage.map.setView(GW.crs.toMap(r.location.lat, r.location.lon), 18);
        }
      }).catch(function (error) {
        if (mine === current) { show(header(t("panel.case"), "detail-title") +
                                     '<p class="alert">' + esc(error.message) + "</p>"); }
      });
  }

  GW.panel = { showHousehold: showHousehold, showCase: showCase };
}());
