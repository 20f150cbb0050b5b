(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("chaos-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var GUTTER = 132, LABEL_H = 13, BAR_H = 12, BAR_GAP = 3, TICK_H = 7, MIN_BAR = 4, PAD = 6, AXIS_H = 22;
  var LABEL_ROWS = 4, IDLE_MS = 250;
  var FONT = "10.5px -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
  var measure = document.createElement("canvas").getContext("2d");
  var scaleMode = "compressed";

  function textWidth(text) { measure.font = FONT; return measure.measureText(text).width; }
  function node(tag, attrs, parent, text) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function tip(e, text) { e.setAttribute("data-tip", text); return e; }
  function path(points) {
    return points.map(function (p, i) { return (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1); })
      .join(" ") + " Z";
  }
  function secs(ms) {
    var s = ms / 1000, a = Math.abs(s);
    return (a >= 10 ? s.toFixed(1) : a >= 1 ? s.toFixed(2) : s.toFixed(3)) + " s";
  }
  function dur(ms) { return ms < 1 ? ms.toFixed(2) + " ms" : ms < 1000 ? ms.toFixed(1) + " ms" : secs(ms); }
  function unitText(kind, ordinal, name) {
    return (kind === "tool_call" ? "tool call #" : "model request #") + ordinal + " (" + name + ")";
  }

  // The time scale: linear, or compressed, where each gap between consecutive event times weighs
  // sqrt(ms) (at least a little, at most ~32 plus a log), so that millisecond attempts stay visible
  // next to second-long worker start-ups and retry back-offs; idle gaps are marked on the axis.
  function makeScale(tl, x0, width) {
    var ts = [];
    tl.lanes.forEach(function (l) { ts.push(l.start, l.end); });
    tl.bars.forEach(function (b) { ts.push(b.start, b.end); });
    tl.marks.concat(tl.ticks).forEach(function (m) { ts.push(m.t); });
    ts.sort(function (a, b) { return a - b; });
    var times = ts.filter(function (t, i) { return i === 0 || t !== ts[i - 1]; });
    var lo = times[0], hi = times[times.length - 1];
    if (scaleMode === "linear" || times.length < 2) {
      var span = Math.max(hi - lo, 1);
      return { x: function (t) { return x0 + (t - lo) / span * width; }, gaps: [], lo: lo, hi: hi };
    }
    var cum = [0], gaps = [];
    for (var i = 1; i < times.length; i++) {
      var g = times[i] - times[i - 1];
      var w = g < 0.05 ? 0 : g <= 1000 ? Math.max(Math.sqrt(g), 2.5)
        : Math.sqrt(1000) * (1 + Math.log10(g / 1000));
      cum.push(cum[i - 1] + w);
      if (g >= IDLE_MS) gaps.push([times[i - 1], times[i]]);
    }
    var total = cum[cum.length - 1] || 1;
    function x(t) {
      var a = 0, b = times.length - 1;
      if (t <= times[a]) return x0;
      if (t >= times[b]) return x0 + width;
      while (b - a > 1) { var m = (a + b) >> 1; if (times[m] <= t) a = m; else b = m; }
      var f = (t - times[a]) / (times[b] - times[a]);
      return x0 + (cum[a] + f * (cum[b] - cum[a])) / total * width;
    }
    return { x: x, gaps: gaps, lo: lo, hi: hi };
  }

  // Greedy packing into rows of intervals: the first row where [x1, x2] overlaps nothing, -1 if none.
  function pack(rows, x1, x2, limit) {
    for (var r = 0; r < rows.length; r++) {
      var free = rows[r].every(function (iv) { return x2 <= iv[0] || x1 >= iv[1]; });
      if (free) { rows[r].push([x1, x2]); return r; }
    }
    if (limit !== undefined && rows.length >= limit) return -1;
    rows.push([[x1, x2]]);
    return rows.length - 1;
  }

  function barTip(b) {
    var outcome = {
      ok: "ok" + (b.status ? " (HTTP " + b.status + ")" : ""),
      fail: "failed: " + (b.error || (b.status ? "HTTP " + b.status : "error")),
      killed: "cut short: its process was killed",
      open: "never finished"
    }[b.outcome];
    var lines = [unitText(b.kind, b.ordinal, b.name) + ", attempt " + b.attempt,
      b.role + " \u00b7 pid " + b.pid,
      "invoked at " + secs(b.start) + (b.end !== null ? ", lasted " + dur(b.end - b.start) : ""), outcome];
    if (b.replayed && b.replayed.length) lines.push("replayed inside: " + b.replayed.join(", "));
    if (b.dup) lines.push("DUPLICATE: sent again after its response was checkpointed");
    if (b.fp) lines.push("request fingerprint " + b.fp);
    return lines.join("\n");
  }

  function drawLane(layers, trial, lane, li, S, y, plotW, width) {
    var tl = trial.timeline, ref = !lane.faulted;
    var mine = function (m) { return m.role === lane.role; };
    var bars = tl.bars.filter(mine), marks = tl.marks.filter(mine), ticks = tl.ticks.filter(mine);
    var barRows = [], placed = bars.map(function (b) {
      var x1 = S.x(b.start), x2 = Math.max(S.x(b.end), x1 + MIN_BAR);
      return { b: b, x1: x1, x2: x2, row: pack(barRows, x1 - 1, x2 + 1) };
    });
    // labels: kills first, then faults and duplicates, then attempts that went wrong, then the rest
    var labels = marks.map(function (m) {
      return m.type === "killed" ? { pri: 0, x: S.x(m.t), text: "SIGKILL", cls: "kill-label" }
        : { pri: 1, x: S.x(m.t), text: "\u26A1 " + m.kind + " (" + m.phase + ")", cls: "fault-label" };
    });
    placed.forEach(function (p) {
      var b = p.b, text = b.name + " #" + b.ordinal + (b.attempt > 1 ? " a" + b.attempt : "");
      labels.push({ pri: b.dup ? 1 : b.outcome === "ok" ? 3 : 2, x: p.x1, text: text + (b.dup ? " DUP" : ""),
        cls: b.dup ? "dup-label" : "" });
    });
    labels.sort(function (a, b) { return a.pri - b.pri || a.x - b.x; });
    var labelRows = [];
    labels.forEach(function (l) {
      var w = textWidth(l.text);
      l.x = Math.min(l.x, GUTTER + 8 + plotW - w);
      l.row = pack(labelRows, l.x, l.x + w + 8, LABEL_ROWS);
    });
    var nLabel = Math.max(labelRows.length, 1), nBar = Math.max(barRows.length, 1);
    var top = y + PAD, barsTop = top + nLabel * LABEL_H + 2, spanY = barsTop + nBar * (BAR_H + BAR_GAP) + 2;
    var h = Math.max(PAD + nLabel * LABEL_H + 2 + nBar * (BAR_H + BAR_GAP) + TICK_H + PAD, 50);
    var g = node("g", { "class": "lane", "data-role": lane.role, id: trial.id + "-lane-" + li }, layers.body);
    node("rect", { x: 0, y: y, width: width, height: h,
      "class": "lane-bg" + (ref ? " reference" : li % 2 ? " alt" : "") }, layers.bg);
    node("line", { x1: 0, x2: width, y1: y + h, y2: y + h, "class": "lane-sep" }, layers.bg);

    var pids = "pid " + lane.pids.join(", ");
    var role = lane.role + (lane.role === "golden" ? " (reference)" : "");
    node("text", { x: 10, y: y + 16, "class": "role" }, g, role);
    node("text", { x: 10, y: y + 29, "class": "pid" }, g, pids);
    var note = { killed: "\u2620 killed", completed: "\u2713 completed", failed: "\u2717 failed" };
    var ids = Object.keys(lane.ids || {}).map(function (k) { return "\n" + k + " " + lane.ids[k]; });
    var noteText = note[lane.outcome] || lane.outcome;
    tip(node("text", { x: 10, y: y + 42, "class": "lane-note " + lane.outcome }, g, noteText),
      lane.role + " (" + pids + "): " + lane.outcome + (lane.error ? "\n" + lane.error : "")
      + "\nfrom " + secs(lane.start) + " to " + secs(lane.end) + ids.join(""));
    tip(node("line", { x1: S.x(lane.start), x2: S.x(lane.end), y1: spanY, y2: spanY, "class": "span" }, g),
      lane.role + " process (" + pids + "): " + secs(lane.start) + " \u2192 " + secs(lane.end));

    placed.forEach(function (p, i) {
      var b = p.b, by = barsTop + p.row * (BAR_H + BAR_GAP);
      var cls = "bar " + b.kind + " " + b.outcome + (b.dup ? " dup" : "") + (ref ? " reference" : "");
      tip(node("rect", { x: p.x1, y: by, width: p.x2 - p.x1, height: BAR_H, rx: 2, "class": cls,
        id: trial.id + "-bar-" + li + "-" + i, "data-unit": b.kind + "-" + b.ordinal, "data-kind": b.kind,
        "data-ordinal": b.ordinal, "data-name": b.name, "data-attempt": b.attempt, "data-pid": b.pid }, g),
        barTip(b));
      if (b.outcome === "fail") {
        node("rect", { x: p.x2 - 2.5, y: by, width: 2.5, height: BAR_H, "class": "fail-cap" }, g);
      }
    });
    var tickNames = { checkpoint: "checkpoint", identity: "unit identity", workflow_task: "workflow task",
      replay: "replayed from the engine's record", execute: "tool body ran" };
    ticks.forEach(function (m) {
      var x = S.x(m.t), inBar = m.type === "execute";
      var y1 = inBar ? barsTop - 2 : spanY - 5, y2 = inBar ? barsTop + BAR_H + 2 : spanY + 5;
      tip(node("line", { x1: x, x2: x, y1: y1, y2: y2, "class": "tick " + m.type }, g),
        tickNames[m.type] + " at " + secs(m.t) + (m.label ? "\n" + m.label : ""));
    });
    marks.forEach(function (m) {
      var x = S.x(m.t);
      if (m.type === "killed") {
        var k = node("g", { "class": "kill-marker", "data-role": lane.role }, g);
        node("line", { x1: x, x2: x, y1: barsTop - 3, y2: y + h - 2 }, k);
        node("path", { d: path([[x - 5, y + h - 2], [x + 5, y + h - 2], [x, y + h - 9]]) }, k);
        tip(k, "SIGKILL of " + lane.role + " (" + pids + ") at " + secs(m.t) + "\nexit code " + m.exit
          + ", observed by the harness (pid " + m.by + ")");
      } else {
        var cy = barsTop + BAR_H / 2, r = 5.5;
        var d = path([[x, cy - r], [x + r, cy], [x, cy + r], [x - r, cy]]);
        tip(node("path", { d: d, "class": "fault-marker", "data-kind": m.kind, "data-phase": m.phase }, g),
          "fault #" + ((m.index || 0) + 1) + ": " + m.kind + " (" + m.phase + ") at "
          + unitText(m.unit.kind, m.unit.ordinal, m.unit.name) + ", attempt " + m.attempt
          + "\nat " + secs(m.t));
      }
    });
    labels.forEach(function (l) {
      if (l.row < 0) return;
      node("text", { x: l.x, y: top + l.row * LABEL_H + 10, "class": "label " + l.cls }, g, l.text);
    });
    return h;
  }

  function drawAxis(svg, layers, S, plotW, height) {
    var axis = node("g", { "class": "axis" }, svg), range = S.hi - S.lo;
    var row = [[0, GUTTER], [GUTTER + plotW + 20, Infinity]];
    var steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000];
    var step = steps.find(function (s) { return range / s <= plotW / 70; }) || 600000;
    S.gaps.forEach(function (gp) {
      var mid = (S.x(gp[0]) + S.x(gp[1])) / 2, text = "\u2026 " + dur(gp[1] - gp[0]) + " \u2026";
      var w = textWidth(text);
      node("line", { x1: mid, x2: mid, y1: AXIS_H - 2, y2: height }, layers.grid);
      if (pack([row], mid - w / 2 - 4, mid + w / 2 + 4, 1) === 0) {
        node("text", { x: mid, y: AXIS_H - 8, "text-anchor": "middle" }, layers.grid, text);
      }
    });
    for (var t = Math.ceil(S.lo / step) * step; t <= S.hi; t += step) {
      var x = S.x(t), text = secs(t);
      if (pack([row], x - 2, x + textWidth(text) + 8, 1) !== 0) continue;
      node("line", { x1: x, x2: x, y1: AXIS_H - 5, y2: height, "stroke-opacity": 0.5 }, axis);
      node("text", { x: x + 2, y: AXIS_H - 8 }, axis, text);
    }
    node("text", { x: 10, y: AXIS_H - 8, "class": "pid" }, axis, "time (" + scaleMode + ")");
  }

  function render(container) {
    var trial = DATA.trials[+container.dataset.trial], tl = trial.timeline;
    container.textContent = "";
    if (!tl.lanes.length) {
      var p = document.createElement("p");
      p.className = "empty";
      p.textContent = "No history recorded for this trial.";
      container.appendChild(p);
      return;
    }
    var width = Math.max(container.clientWidth || document.body.clientWidth - 90, 720);
    var plotW = width - GUTTER - 24, S = makeScale(tl, GUTTER + 8, plotW);
    var svg = node("svg", { width: width, "class": "timeline-svg", role: "img" });
    node("title", {}, svg, "Timeline of " + trial.title);
    var layers = { bg: node("g", {}, svg), grid: node("g", { "class": "gap" }, svg) };
    layers.body = node("g", {}, svg);
    var y = AXIS_H;
    tl.lanes.forEach(function (lane, li) { y += drawLane(layers, trial, lane, li, S, y, plotW, width); });
    drawAxis(svg, layers, S, plotW, y);
    svg.setAttribute("height", y + 4);
    container.appendChild(svg);
    container.setAttribute("data-rendered", "true");
  }

  function renderAll() { document.querySelectorAll(".timeline").forEach(render); }

  // Hover: the tooltip, and every attempt of the same unit highlighted.
  var tipBox = document.getElementById("tip");
  document.addEventListener("mousemove", function (ev) {
    var t = ev.target.closest && ev.target.closest("[data-tip]");
    if (!t) { tipBox.style.display = "none"; return; }
    tipBox.textContent = t.getAttribute("data-tip");
    tipBox.style.display = "block";
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tipBox.offsetWidth > window.innerWidth - 8) x = ev.clientX - tipBox.offsetWidth - 14;
    if (y + tipBox.offsetHeight > window.innerHeight - 8) y = ev.clientY - tipBox.offsetHeight - 14;
    tipBox.style.left = x + "px";
    tipBox.style.top = y + "px";
  });
  document.addEventListener("mouseover", function (ev) {
    var svg = ev.target.closest && ev.target.closest("svg"), unit = ev.target.getAttribute("data-unit");
    if (!svg) return;
    svg.querySelectorAll(".bar.hl").forEach(function (e) { e.classList.remove("hl"); });
    svg.querySelectorAll(".bar").forEach(function (e) {
      if (unit && e.getAttribute("data-unit") === unit) e.classList.add("hl");
    });
  });

  // Filters: by verdict and by text.
  var current = "all";
  function applyFilter() {
    var q = document.getElementById("search").value.trim().toLowerCase();
    document.querySelectorAll("tr.trial-row").forEach(function (row, i) {
      var show = (current === "all" || row.dataset.verdict === current) && row.dataset.search.indexOf(q) >= 0;
      row.classList.toggle("hidden", !show);
      document.getElementById("trial-" + i).classList.toggle("hidden", !show);
    });
  }
  document.querySelectorAll("#filters button").forEach(function (btn) {
    btn.addEventListener("click", function () {
      current = btn.dataset.filter;
      document.querySelectorAll("#filters button").forEach(function (b) {
        b.classList.toggle("active", b === btn);
      });
      applyFilter();
    });
  });
  document.getElementById("search").addEventListener("input", applyFilter);
  document.getElementById("scale").addEventListener("change", function (ev) {
    scaleMode = ev.target.value;
    renderAll();
  });
  document.querySelectorAll('a[href^="#trial-"]').forEach(function (a) {
    a.addEventListener("click", function () {
      document.getElementById(a.getAttribute("href").slice(1)).open = true;
    });
  });
  document.querySelectorAll("details.trial").forEach(function (d) {
    d.addEventListener("toggle", function () { if (d.open) render(d.querySelector(".timeline")); });
  });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderAll, 150);
  });
  renderAll();
})();
