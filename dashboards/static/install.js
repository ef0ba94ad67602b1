// The installation check of a site's Install page: asks every 3 seconds whether the site's first
// consented pageview is stored, and says so (no framework, no third party).
(function () {
  "use strict";
  var panel = document.querySelector("[data-status-url]");
  if (!panel) { return; }
  var line = document.getElementById("install-status");
  var problems = document.getElementById("install-problems");
  function explain(refused) {
    if (!problems || !refused || !refused.length) { return; }
    problems.textContent = "";
    refused.forEach(function (item) {
      var entry = document.createElement("li");
      entry.textContent = item.count + (item.count === 1 ? " beacon" : " beacons") +
        " refused (last at " + new Date(item.last_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) +
        "): " + item.explanation + ".";
      problems.appendChild(entry);
    });
    problems.hidden = false;
  }
  function show(status) {
    explain(status.refused);
    if (!status.installed) { return false; }
    var at = new Date(status.first_at);
    var time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    line.textContent = "Installed: first pageview at " + time + " from " + status.first_path +
      " (" + status.pageviews + (status.pageviews === 1 ? " pageview" : " pageviews") + " so far).";
    line.className = "installed";
    return true;
  }
  function check() {
    fetch(panel.getAttribute("data-status-url"), { headers: { accept: "application/json" }, credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : { installed: false }; })
      .then(function (status) { if (!show(status)) { setTimeout(check, 3000); } })
      .catch(function () { setTimeout(check, 3000); });
  }
  check();
})();
