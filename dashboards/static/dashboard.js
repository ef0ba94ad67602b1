/* Kalido Audience dashboard: draws the time series and the country map from the page's own data
   (#dashboard-data, the same JSON as the page's JSON twin), and lets the KPI cards choose the charted
   figure. The page is complete without this script: every number is already in the HTML tables.
   No inline code or style anywhere (CSP): Chart.js sizes its canvases through the CSSOM. */
(function () {
  "use strict";

  var source = document.getElementById("dashboard-data");
  if (!source) return;
  var data = JSON.parse(source.textContent);

  var KPIS = {
    visitors: "Unique visitors",
    visits: "Visits",
    pageviews: "Pageviews",
    pages_per_visit: "Pages per visit",
    visit_duration: "Visit duration",
    bounce_rate: "Bounce rate",
    engagement_rate: "Engagement rate",
    returning_share: "Returning visitors",
  };
  var RATIOS = {
    bounce_rate: true, engagement_rate: true, exit_rate: true, returning_share: true, share: true,
  };
  var DURATIONS = { visit_duration: true, time_on_page: true, median_time_on_page: true };
  var COUNTS = { visitors: true, visits: true, pageviews: true, entries: true, exits: true };
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // Beside this script, whatever path prefix the product is served under.
  var VENDOR = document.currentScript.src.replace(/[^/]*$/, "") + "vendor/";
  var integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var css = getComputedStyle(document.documentElement);

  function cssColor(name, fallback) {
    return css.getPropertyValue(name).trim() || fallback;
  }

  var COLORS = {
    accent: cssColor("--accent", "#4338ca"),
    previous: cssColor("--previous", "#6b7280"),
    muted: cssColor("--muted", "#4b5563"),
    line: cssColor("--line", "#e5e7eb"),
    text: cssColor("--text", "#111827"),
  };

  /* ---- Formatting: the same rules as the server-rendered page ---- */

  function duration(seconds) {
    var s = Math.round(seconds);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  }

  function format(metric, value) {
    if (value === null || value === undefined) return "—";
    if (RATIOS[metric]) {
      var p = value * 100;
      return (p > 0 && p < 10 ? p.toFixed(1) : p.toFixed(0)) + "%";
    }
    if (DURATIONS[metric]) return duration(value);
    if (metric === "pages_per_visit") return value.toFixed(2);
    return integer.format(value);
  }

  function parseBucket(bucket) {
    var m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?/.exec(String(bucket));
    if (!m) return null;
    return { year: +m[1], month: +m[2], day: +m[3], time: m[4] ? m[4] + ":" + m[5] : null };
  }

  function bucketLabel(bucket, interval, long) {
    var b = parseBucket(bucket);
    if (!b) return String(bucket);
    var day = b.day + " " + MONTHS[b.month - 1];
    if (interval === "month") return MONTHS[b.month - 1] + " " + b.year;
    if (interval === "week") return long ? "Week of " + day + " " + b.year : day;
    if (interval === "hour") return long ? day + " " + b.year + ", " + b.time : b.time || day;
    return long ? day + " " + b.year : day;
  }

  /* ---- The time series ---- */

  var series = data.timeseries || { interval: "day", current: [], previous: [] };
  var interval = series.interval || (data.period && data.period.interval) || "day";
  var metric = KPIS[data.metric] ? data.metric : "visitors";
  var chart = null;

  function values(points, name) {
    return points.map(function (point) {
      var value = point[name];
      return value === undefined ? null : value;
    });
  }

  function ticks(name) {
    return {
      color: COLORS.muted,
      maxTicksLimit: 5,
      precision: COUNTS[name] ? 0 : undefined,
      callback: function (value) {
        return format(name, value);
      },
    };
  }

  function xLabels() {
    var current = series.current;
    var manyDays =
      interval === "hour" &&
      current.length > 0 &&
      String(current[0].bucket).slice(0, 10) !== String(current[current.length - 1].bucket).slice(0, 10);
    return current.map(function (point) {
      var label = bucketLabel(point.bucket, interval, false);
      if (manyDays) label = bucketLabel(point.bucket, "day", false) + " " + label;
      return label;
    });
  }

  /* ---- Annotations: a marker at the bucket of each note (data.annotations), drawn on the
     chart as a dashed line and placed over it as a button, findable by its data-annotation day;
     a click on the chart proposes its bucket's day to the form for a new note ---- */

  var ANNOTATION_COLOR = "#b45309"; // 5:1 on white
  var period = data.period || {};

  function annotationGroups() {
    var at = {};
    series.current.forEach(function (point, index) {
      at[String(point.bucket)] = index;
    });
    var groups = [];
    var byIndex = {};
    (data.annotations || []).forEach(function (note) {
      var index = at[String(note.bucket)];
      if (index === undefined) return;
      if (!byIndex[index]) {
        byIndex[index] = { index: index, notes: [] };
        groups.push(byIndex[index]);
      }
      byIndex[index].notes.push(note);
    });
    return groups;
  }

  var annotationGroupsFound = annotationGroups();

  function showNote(note) {
    var item = note.id
      ? document.getElementById("annotation-" + note.id)
      : document.querySelector('.annotation-list li[data-annotation="' + note.day + '"]');
    if (!item) return;
    item.scrollIntoView({ block: "nearest", behavior: reducedMotion ? "auto" : "smooth" });
    item.focus({ preventScroll: true });
  }

  function placeMarkers(chart) {
    var box = chart.canvas.parentElement;
    var layer = box.querySelector(".annotation-markers");
    if (!layer) {
      layer = document.createElement("div");
      layer.className = "annotation-markers";
      annotationGroupsFound.forEach(function (group) {
        var first = group.notes[0];
        var marker = document.createElement("button");
        marker.type = "button";
        marker.className = "annotation-marker";
        marker.dataset.annotation = first.day;
        marker.dataset.bucket = first.bucket;
        var words = group.notes.map(function (note) {
          return bucketLabel(note.day, "day", true) + ": " + note.text;
        });
        marker.title = words.join("\n");
        marker.setAttribute("aria-label", "Note" + (words.length > 1 ? "s" : "") + " of " + words.join("; "));
        marker.addEventListener("click", function () {
          showNote(first);
        });
        layer.appendChild(marker);
      });
      box.appendChild(layer);
    }
    var area = chart.chartArea;
    var markers = layer.querySelectorAll(".annotation-marker");
    annotationGroupsFound.forEach(function (group, i) {
      markers[i].style.left = chart.scales.x.getPixelForValue(group.index) + "px";
      markers[i].style.top = area.bottom + "px";
    });
  }

  var annotationPlugin = {
    id: "annotations",
    afterDatasetsDraw: function (chart) {
      if (!annotationGroupsFound.length) return;
      var area = chart.chartArea;
      var context = chart.ctx;
      context.save();
      context.strokeStyle = ANNOTATION_COLOR;
      context.lineWidth = 1;
      context.setLineDash([3, 3]);
      annotationGroupsFound.forEach(function (group) {
        var x = Math.round(chart.scales.x.getPixelForValue(group.index)) + 0.5;
        context.beginPath();
        context.moveTo(x, area.top);
        context.lineTo(x, area.bottom);
        context.stroke();
      });
      context.restore();
      placeMarkers(chart);
    },
  };

  function proposeDay(chart, event) {
    var form = document.getElementById("annotation-form");
    var index = chart.scales.x.getValueForPixel(event.x);
    var point = series.current[Math.round(index)];
    if (!form || !point) return;
    var day = String(point.bucket).slice(0, 10);
    if (period.from && day < period.from) day = period.from;
    if (period.to && day > period.to) day = period.to;
    form.elements.day.value = day;
  }

  function drawChart() {
    var canvas = document.getElementById("timeseries");
    if (!canvas || typeof window.Chart !== "function") return;
    var previousLabel = "Previous period";
    chart = new window.Chart(canvas, {
      type: "line",
      plugins: [annotationPlugin],
      data: {
        labels: xLabels(),
        datasets: [
          {
            label: (data.period && data.period.label) || "This period",
            data: values(series.current, metric),
            borderColor: COLORS.accent,
            backgroundColor: "rgba(67, 56, 202, 0.08)",
            fill: "origin",
            borderWidth: 2.5,
            cubicInterpolationMode: "monotone",
            pointRadius: series.current.length > 45 ? 0 : 2.5,
            pointHoverRadius: 5,
            pointBackgroundColor: COLORS.accent,
          },
          {
            label: previousLabel,
            data: values(series.previous.slice(0, series.current.length), metric),
            borderColor: "rgba(107, 114, 128, 0.55)",
            borderDash: [5, 4],
            borderWidth: 1.5,
            cubicInterpolationMode: "monotone",
            pointRadius: 0,
            pointHoverRadius: 4,
            fill: false,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reducedMotion ? false : { duration: 300 },
        interaction: { mode: "index", intersect: false },
        onClick: function (event, elements, chart) {
          proposeDay(chart, event);
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: function (items) {
                var point = items.length ? series.current[items[0].dataIndex] : null;
                return point ? bucketLabel(point.bucket, interval, true) : "";
              },
              label: function (item) {
                var name = metric;
                if (item.datasetIndex === 1) {
                  var before = series.previous[item.dataIndex];
                  var when = before ? " (" + bucketLabel(before.bucket, interval, true) + ")" : "";
                  return previousLabel + when + ": " + format(name, item.raw);
                }
                return KPIS[name] + ": " + format(name, item.raw);
              },
            },
          },
        },
        scales: {
          x: {
            grid: { display: false },
            ticks: { color: COLORS.muted, maxRotation: 0, autoSkip: true, maxTicksLimit: canvas.clientWidth < 500 ? 5 : 8 },
          },
          y: { beginAtZero: true, grid: { color: COLORS.line }, border: { display: false }, ticks: ticks(metric) },
        },
      },
    });
  }

  function updateChart() {
    if (!chart) return;
    chart.data.datasets[0].data = values(series.current, metric);
    chart.data.datasets[1].data = values(series.previous.slice(0, series.current.length), metric);
    chart.options.scales.y.ticks = ticks(metric);
    chart.update();
  }

  function cell(tag, text, className) {
    var element = document.createElement(tag);
    element.textContent = text;
    if (className) element.className = className;
    return element;
  }

  function renderTable() {
    var table = document.getElementById("timeseries-table");
    if (!table || !series.current.length) return;
    var body = document.createElement("tbody");
    series.current.forEach(function (point, index) {
      var before = series.previous[index];
      var row = document.createElement("tr");
      var head = cell("th", bucketLabel(point.bucket, interval, true));
      head.scope = "row";
      row.appendChild(head);
      row.appendChild(cell("td", format(metric, point[metric]), "num"));
      row.appendChild(cell("td", before ? bucketLabel(before.bucket, interval, true) : "—"));
      row.appendChild(cell("td", before ? format(metric, before[metric]) : "—", "num"));
      body.appendChild(row);
    });
    table.replaceChild(body, table.tBodies[0]);
  }

  /* ---- KPI cards choose the charted figure; the URL keeps the choice ---- */

  function keepMetricInLinks() {
    var here = window.location.pathname;
    document.querySelectorAll("a[href]").forEach(function (link) {
      var url = new URL(link.href, window.location.href);
      if (url.origin !== window.location.origin || url.pathname !== here) return;
      url.searchParams.set("metric", metric);
      link.href = url.pathname + url.search + url.hash;
    });
    var form = document.querySelector(".custom-range form");
    if (form) {
      var input = form.querySelector('input[name="metric"]');
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = "metric";
        form.appendChild(input);
      }
      input.value = metric;
    }
  }

  function select(name) {
    if (!KPIS[name] || name === metric) return;
    metric = name;
    document.querySelectorAll(".kpi[data-metric]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.metric === name ? "true" : "false");
    });
    var title = document.getElementById("chart-metric");
    if (title) title.textContent = KPIS[name];
    document.querySelectorAll("[data-chart-metric]").forEach(function (element) {
      element.textContent = KPIS[name];
    });
    var canvas = document.getElementById("timeseries");
    if (canvas) {
      canvas.setAttribute(
        "aria-label",
        KPIS[name] + " per " + interval + ", " + ((data.period && data.period.label) || "this period").toLowerCase() +
          ", with the previous period for comparison. The table below has the same data."
      );
    }
    updateChart();
    renderTable();
    var url = new URL(window.location.href);
    url.searchParams.set("metric", name);
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    keepMetricInLinks();
  }

  document.querySelectorAll(".kpi[data-metric]").forEach(function (button) {
    button.addEventListener("click", function () {
      select(button.dataset.metric);
    });
  });

  /* ---- The country map (chartjs-chart-geo, world-atlas countries-110m) ---- */

  function shade(t) {
    // from #c7d2fe (t = 0) to #312e81 (t = 1)
    var from = [199, 210, 254];
    var to = [49, 46, 129];
    var mix = from.map(function (start, i) {
      return Math.round(start + (to[i] - start) * Math.max(0, Math.min(1, t)));
    });
    return "rgb(" + mix.join(", ") + ")";
  }

  function fetchJson(name) {
    return fetch(VENDOR + name, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(name + ": HTTP " + response.status);
      return response.json();
    });
  }

  function drawMap() {
    var canvas = document.getElementById("country-map");
    var panel = data.breakdowns && data.breakdowns.country;
    var geo = window.ChartGeo;
    if (!canvas || !panel || !geo || typeof window.Chart !== "function") return;
    var column = (panel.columns && panel.columns[0]) || "visitors";
    var box = canvas.parentElement;
    window.Chart.register(geo.ChoroplethController, geo.GeoFeature, geo.ColorScale, geo.ProjectionScale);
    Promise.all([fetchJson("countries-110m.json"), fetchJson("iso3166-numeric.json")])
      .then(function (loaded) {
        var topology = loaded[0];
        var numeric = loaded[1];
        var byId = {};
        (panel.rows || []).forEach(function (row) {
          if (row.other) return;
          var id = numeric[String(row.value).toUpperCase()];
          if (id) byId[id] = { value: (byId[id] ? byId[id].value : 0) + (row[column] || 0), row: row };
        });
        var countries = geo.topojson
          .feature(topology, topology.objects.countries)
          .features.filter(function (feature) {
            return feature.id !== "010"; // Antarctica: no visitors, much space
          });
        box.hidden = false;
        new window.Chart(canvas, {
          type: "choropleth",
          data: {
            labels: countries.map(function (feature) {
              return feature.properties.name;
            }),
            datasets: [
              {
                label: panel.title,
                data: countries.map(function (feature) {
                  var hit = byId[feature.id];
                  return { feature: feature, value: hit ? hit.value : undefined };
                }),
                borderColor: "#ffffff",
                borderWidth: 0.6,
              },
            ],
          },
          options: {
            responsive: true,
            maintainAspectRatio: false,
            animation: false,
            showOutline: false,
            showGraticule: false,
            onHover: function (event, elements) {
              var hit = elements.length ? byId[countries[elements[0].index].id] : null;
              event.native.target.classList.toggle("clickable", Boolean(hit && hit.row.filter_url));
            },
            onClick: function (event, elements) {
              if (!elements.length) return;
              var hit = byId[countries[elements[0].index].id];
              if (hit && hit.row.filter_url) window.location.assign(hit.row.filter_url);
            },
            plugins: {
              legend: { display: false },
              tooltip: {
                callbacks: {
                  label: function (item) {
                    var value = item.raw && item.raw.value;
                    var name = countries[item.dataIndex].properties.name;
                    return name + ": " + (value === undefined ? "no visitors" : format(column, value) + " " + column);
                  },
                },
              },
            },
            scales: {
              projection: { axis: "x", projection: "equalEarth" },
              color: {
                axis: "x",
                interpolate: shade,
                missing: "#e5e7eb",
                legend: { position: "bottom-left", align: "right" },
                ticks: {
                  color: COLORS.muted,
                  maxTicksLimit: 4,
                  callback: function (value) {
                    return format(column, value);
                  },
                },
              },
            },
          },
        });
      })
      .catch(function (error) {
        box.hidden = true;
        if (window.console) window.console.warn("country map not drawn:", error);
      });
  }

  /* ---- Country codes (ISO 3166-1 alpha-2 in the data) shown as names ---- */

  function countryNames() {
    if (!window.Intl || typeof Intl.DisplayNames !== "function") return;
    var names = new Intl.DisplayNames(["en"], { type: "region" });
    function rename(node) {
      var code = node.textContent.trim();
      if (!/^[A-Z]{2}$/.test(code)) return;
      var name = null;
      try {
        name = names.of(code);
      } catch (error) {
        return;
      }
      if (name && name !== code) node.textContent = name;
    }
    document.querySelectorAll("#panel-country tbody tr:not(.other) .label-text").forEach(function (cell) {
      var node = cell.querySelector("a") || cell.firstChild;
      if (node) rename(node);
    });
    document.querySelectorAll('.chip[data-filter="country"] strong').forEach(rename);
  }

  countryNames();
  renderTable();
  drawChart();
  drawMap();
})();
