/* The dashboard: coverage per grid and worker, patrols per worker and day, overdue priority
 * households, the case funnel, the department ranking, the weekly trend (ECharts) and the
 * weekly report download.
 * body[data-dash-state] is "ready" once every section has its data. */
(function () {
  "use strict";
  var GW = window.GW, t = GW.t, esc = GW.esc, num = GW.num;
  var $ = function (id) { return document.getElementById(id); };
  var charts = {}, pending = 0;

  Array.prototype.forEach.call(document.querySelectorAll("[data-needs]"), function (el) {
    if (!GW.can(el.getAttribute("data-needs"))) { el.hidden = true; }
  });

  function mondayOf(day) {
    var d = new Date(day + "T12:00:00Z");
    return GW.addDays(day, -((d.getUTCDay() + 6) % 7));
  }
  function isoWeek(day) {
    var thursday = GW.addDays(mondayOf(day), 3);
    var year = Number(thursday.slice(0, 4));
    var jan4 = year + "-01-04";
    var week = 1 + Math.round((new Date(mondayOf(thursday) + "T12:00:00Z") -
                               new Date(mondayOf(jan4) + "T12:00:00Z")) / (7 * 86400000));
    return year + "-W" + (week < 10 ? "0" : "") + week;
  }
  function weekMonday(week) {
    var m = /^(\d{4})-W(\d{2})$/.exec(week);
    return m ? GW.addDays(mondayOf(m[1] + "-01-04"), 7 * (Number(m[2]) - 1)) : mondayOf(GW.today());
  }
  function monthRange(month) {
    var first = month + "-01";
    var next = new Date(first + "T12:00:00Z");
    next.setUTCMonth(next.getUTCMonth() + 1);
    return { from: first, to: GW.addDays(next.toISOString().slice(0, 10), -1) };
  }

  function track(promise) {
    pending += 1;
    document.body.setAttribute("data-dash-state", "loading");
    return promise.catch(function (error) {
      $("dash-status").textContent = t("error.load") + " " + (error.message || "");
    }).then(function () {
      pending -= 1;
      if (pending === 0) { document.body.setAttribute("data-dash-state", "ready"); }
    });
  }

  function fillRows(tableId, rows, cells) {
    var body = $(tableId).querySelector("tbody");
    body.innerHTML = rows.length ? rows.map(function (row) {
      return "<tr>" + cells(row).map(function (c) {
        return typeof c === "object" ? '<td class="num">' + esc(c.n) + "</td>" : "<td>" + c + "</td>";
      }).join("") + "</tr>";
    }).join("") : '<tr><td colspan="8" class="muted">' + esc(t("dash.none")) + "</td></tr>";
  }
  function pctOf(value) { return value === null || value === undefined ? "—" : value.toFixed(1) + "%"; }

  function loadCoverage(from, to) {
    return GW.api("/stats/coverage", { from: from, to: GW.addDays(to, 1) }).then(function (c) {
      var total = c.total || {};
      $("c-households").textContent = num(total.households);
      $("c-visited").textContent = num(total.households_visited);
      $("c-coverage").textContent = pctOf(total.coverage_pct);
      $("c-visits").textContent = num(total.visits);
      $("c-offsite").textContent = GW.pct(total.off_site_share);
      $("c-overdue").textContent = num(total.overdue_priority);
      fillRows("grid-table", c.grids || [], function (g) {
        return [esc(g.name), { n: num(g.households) }, { n: num(g.households_visited) },
                { n: pctOf(g.coverage_pct) }, { n: num(g.visits) }, { n: GW.pct(g.off_site_share) },
                { n: num(g.overdue_priority) }];
      });
      fillRows("worker-table", c.workers || [], function (w) {
        return [esc(w.display_name), { n: num(w.households) }, { n: num(w.households_visited) },
                { n: pctOf(w.coverage_pct) }, { n: num(w.visits) }, { n: GW.pct(w.off_site_share) }];
      });
    });
  }

  /* Patrol length and time per worker per day (巡查), each day linked to its track. */
  function loadPatrols(from, to) {
    return GW.api("/stats/patrols", { from: from, to: GW.addDays(to, 1) }).then(function (p) {
      fillRows("patrol-table", p.items || [], function (row) {
        var link = '<a href="/app/map' + GW.query({ worker: row.worker_id, day: row.day }) +
                   '">' + esc(t("dash.on_map")) + "</a>";
        return [esc(row.day), esc(row.worker), { n: GW.fmtLength(row.length_m) },
                { n: GW.fmtDuration(row.duration_s) }, { n: num(row.tracks) }, link];
      });
    });
  }

  function reasonText(reason) {
    if (reason.indexOf("tag:") === 0) { return t("tag." + reason.slice(4)); }
    if (reason === "yellow_ribbon_open") { return t("status.yellow_ribbon"); }
    if (reason === "never_visited" || reason === "never_met") { return t("dash.never_visited"); }
    if (reason === "follow_up") { return t("dash.follow_up"); }
    return "";
  }

  function loadOverdue() {
    return GW.api("/me/agenda", { limit: 100 }).then(function (agenda) {
      var rows = (agenda.items || []).filter(function (item) {
        return item.status === "overdue" && (item.household.priority ||
          item.reasons.indexOf("yellow_ribbon_open") >= 0);
      }).slice(0, 30);
      fillRows("overdue-table", rows, function (item) {
        var h = item.household;
        var link = '<a href="/app/map?household=' + encodeURIComponent(h.id) + '">' +
                   esc(h.code) + "</a>";
        var why = item.reasons.map(reasonText).filter(Boolean).map(function (text) {
          return '<span class="tag">' + esc(text) + "</span>";
        }).join("");
        return [link, esc(h.grid || ""), why,
                { n: t("dash.days_overdue", { n: item.days_overdue }) },
                esc(h.last_visit_at ? GW.fmtTime(h.last_visit_at) : t("dash.never_visited"))];
      });
    });
  }

  function chart(id) {
    if (!charts[id]) { charts[id] = window.echarts.init($(id), null, { renderer: "canvas" }); }
    return charts[id];
  }

  function loadCases(month) {
    var range = monthRange(month);
    return GW.api("/stats/cases", range).then(function (s) {
      $("k-reported").textContent = num(s.reported);
      $("k-accepted").textContent = num(s.accepted);
      $("k-dispatched").textContent = num(s.dispatched);
      $("k-closed").textContent = num(s.closed);
      $("k-disposal").textContent = GW.pct(s.disposal_rate);
      $("k-ontime").textContent = GW.pct(s.on_time_rate);
      var labels = [t("dash.reported"), t("dash.accepted"), t("dash.dispatched"), t("dash.closed")];
      chart("funnel-chart").setOption({
        grid: { left: 90, right: 40, top: 10, bottom: 30 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", inverse: true, data: labels },
        series: [{ type: "bar", data: [s.reported, s.accepted, s.dispatched, s.closed],
                   label: { show: true, position: "right" },
                   itemStyle: { color: "#b71c1c" } }]
      }, true);
      fillRows("dept-table", s.departments || [], function (d) {
        return [{ n: d.rank || "—" }, esc(d.name || d.code || ""), { n: num(d.dispatched) },
                { n: num(d.closed) }, { n: GW.pct(d.disposal_rate) }, { n: GW.pct(d.on_time_rate) },
                { n: num(d.overdue_open) }];
      });
    });
  }

  function loadTrend() {
    var monday = mondayOf(GW.today()), weeks = [];
    for (var i = 7; i >= 0; i -= 1) { weeks.push(GW.addDays(monday, -7 * i)); }
    var cases = GW.can("stats.cases") ? Promise.all(weeks.map(function (m) {
      return GW.api("/stats/cases", { from: m, to: GW.addDays(m, 6) });
    })) : Promise.resolve(null);
    var visits = GW.can("stats.coverage") ? Promise.all(weeks.map(function (m) {
      return GW.api("/stats/coverage", { from: m, to: GW.addDays(m, 7) });
    })) : Promise.resolve(null);
    return Promise.all([cases, visits]).then(function (answers) {
      var series = [];
      function line(name, values, axis) {
        series.push({ name: name, type: "line", yAxisIndex: axis || 0, data: values });
      }
      if (answers[0]) {
        line(t("dash.reported"), answers[0].map(function (s) { return s.reported; }));
        line(t("dash.dispatched"), answers[0].map(function (s) { return s.dispatched; }));
        line(t("dash.closed"), answers[0].map(function (s) { return s.closed; }));
      }
      if (answers[1]) {
        line(t("dash.visits"), answers[1].map(function (c) { return c.total.visits; }));
        line(t("dash.coverage"), answers[1].map(function (c) { return c.total.coverage_pct; }), 1);
      }
      chart("trend-chart").setOption({
        tooltip: { trigger: "axis" }, legend: { top: 0 },
        grid: { left: 50, right: 50, top: 40, bottom: 30 },
        xAxis: { type: "category", data: weeks.map(isoWeek) },
        yAxis: [{ type: "value", minInterval: 1 }, { type: "value", max: 100, name: "%" }],
        series: series
      }, true);
    });
  }

  function weeklyLinks(week) {
    ["xlsx", "csv"].forEach(function (format) {
      var link = $("weekly-" + format);
      link.href = GW.cfg.api + "/stats/weekly" + GW.query({ week: week, format: format });
      link.setAttribute("download", "gridwork-weekly-" + week + "." + format);
    });
  }

  function reload(which) {
    var from = $("d-from").value, to = $("d-to").value;
    if (from > to) { var x = from; from = to; to = x; }
    if ((!which || which === "period") && GW.can("stats.coverage")) { track(loadCoverage(from, to)); }
    if ((!which || which === "period") && GW.can("tracks.read")) { track(loadPatrols(from, to)); }
    if (!which && GW.can("households.read")) { track(loadOverdue()); }
    if ((!which || which === "month") && GW.can("stats.cases")) { track(loadCases($("d-month").value)); }
    if (!which) { track(loadTrend()); }
    if (!which || which === "week") { weeklyLinks($("d-week").value); }
  }

  var today = GW.today();
  $("d-to").value = today;
  $("d-from").value = GW.addDays(today, -29);
  $("d-month").value = today.slice(0, 7);
  $("d-week").value = isoWeek(today);
  $("d-from").max = $("d-to").max = today;
  $("dash-filters").addEventListener("change", function (event) {
    var name = event.target.name;
    reload(name === "from" || name === "to" ? "period" : name);
  });
  $("dash-filters").addEventListener("submit", function (event) { event.preventDefault(); });
  window.addEventListener("resize", GW.debounce(function () {
    Object.keys(charts).forEach(function (id) { charts[id].resize(); });
  }, 200));
  reload();
  GW.dashboard = { isoWeek: isoWeek, weekMonday: weekMonday, reload: reload };
}());
