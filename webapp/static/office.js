// gridledger office dashboard: the chart of accesses per department per day.
// Its data is the canvas's data-chart attribute (JSON): no inline script, which the CSP forbids.
// The table under the chart holds the same figures for screen readers and for printing.
document.addEventListener("DOMContentLoaded", function () {
  var canvas = document.getElementById("access-chart");
  if (!canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(canvas.getAttribute("data-chart"));
  var palette = ["#1f6feb", "#1e7a3c", "#8250df", "#bf8700", "#0a7ea4", "#cf222e", "#57606a", "#953800"];
  var datasets = [];
  data.departments.forEach(function (dept, i) {
    var colour = palette[i % palette.length];
    datasets.push({
      label: dept.name + " · " + data.labels.allowed, data: dept.allowed, stack: "allowed",
      backgroundColor: colour, borderColor: colour
    });
  });
  data.departments.forEach(function (dept, i) {
    var colour = palette[i % palette.length];
    if (dept.refused.some(function (n) { return n > 0; })) {
      datasets.push({
        label: dept.name + " · " + data.labels.refused, data: dept.refused, stack: "refused",
        backgroundColor: "rgba(180, 35, 24, 0.35)", borderColor: colour, borderWidth: 2
      });
    }
  });
  canvas.chart = new Chart(canvas, {
    type: "bar",
    data: { labels: data.days.map(function (d) { return d.slice(5); }), datasets: datasets },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom" }, tooltip: { mode: "index", intersect: false } },
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: data.labels.accesses } }
      }
    }
  });
});
