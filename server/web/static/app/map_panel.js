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
    // A link to another case opens it here instead of reloading the map.
    Array.prototype.forEach.call(panel.querySelectorAll("a[data-case]"), function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        showCase(link.getAttribute("data-case"), { center: true });
      });
    });
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

  function caseLink(id, text) {
    return '<a href="/app/map?case=' + encodeURIComponent(id) + '" data-case="' + esc(id) +
           '">' + esc(text) + "</a>";
  }

  /* A need's kind: a service need (welfare, medical...), a report category, or its code. */
  function needName(names, code) {
    if (GW.has("need." + code)) { return t("need." + code); }
    return names[code] ? categoryName(names, code) : code;
  }

  /* The needs (诉求) the family raised at the visits shown, newest first. */
  function needList(visits, names) {
    var items = [];
    visits.forEach(function (v) {
      (v.needs || []).forEach(function (need) {
        items.push("<li><div><strong>" + esc(needName(names, need.category)) + "</strong> · " +
          esc(GW.fmtTime(v.visited_at)) + "</div>" +
          (need.text ? "<div>" + esc(need.text) + "</div>" : "") +
          (need.report_id ? "<div>" + caseLink(need.report_id, t("panel.need_case",
                                                               { id: need.report_id })) +
                            "</div>" : "") + "</li>");
      });
    });
    return "<h3>" + esc(t("panel.needs")) + "</h3>" + (items.length
      ? '<ol class="need-list" id="household-needs">' + items.join("") + "</ol>"
      : "<p>" + esc(t("panel.no_needs")) + "</p>");
  }

  function showHousehold(id, options) {
    var mine = ++current;
    var visits = GW.can("visits.read") ? GW.api("/visits", { household_id: id, limit: 20 })
                                       : Promise.resolve({ items: [] });
    Promise.all([GW.api("/households/" + id), visits, categoryNames()]).then(function (answers) {
      if (mine !== current) { return; }
      var h = answers[0], names = answers[2], items = (answers[1].items || []).slice().sort(function (a, b) {
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
        (GW.can("visits.read") ? needList(items, names) : "") +
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

  function most(items, key) {
    return Math.max.apply(null, (items || []).map(function (item) { return item[key] || 0; }));
  }

  /* The server's doubts about a report (flags), each in words, with its evidence if any. */
  function flagBadge(r, flag) {
    var detail = (r.flag_detail || {})[flag], text = t("flag." + flag);
    if (flag === "location_mismatch" && detail && detail.length) {
      text = t("flag.location_mismatch_m", { m: GW.num(Math.round(most(detail, "distance_m"))) });
    } else if (flag === "stale_photo" && detail && detail.length) {
      text = t("flag.stale_photo_h", { h: GW.num(Math.round(most(detail, "hours_before"))) });
    } else if (flag === "possible_duplicate" && r.possible_duplicate_of) {
      text = t("flag.possible_duplicate_of", { id: r.possible_duplicate_of,
        m: GW.num(Math.round((detail && detail.distance_m) || 0)) });
      return '<span class="badge badge-flag flag-' + esc(flag) + '">' +
             caseLink(r.possible_duplicate_of, text) + "</span>";
    }
    return '<span class="badge badge-flag flag-' + esc(flag) + '">' + esc(text) + "</span>";
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
          row(t("panel.department"),
              esc(r.department_name || feature.department || r.department || "—")) +
          row(t("panel.deadline"), esc(GW.fmtTime(r.deadline_at))) +
          ((r.flags || []).length ? row(t("panel.flags"), (r.flags || []).map(function (f) {
            return flagBadge(r, f); }).join(" ")) : "") + "</dl>" +
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
