// Didomi's web SDK: didomiOnReady callbacks, didomiEventListeners, getCurrentUserStatus().
(function () {
  var enabled = false, listeners = [];
  var Didomi = {getCurrentUserStatus: function () {
    return {vendors: {'c:kalido-audience': {id: 'c:kalido-audience', enabled: enabled}}};
  }};
  setTimeout(function () {
    window.Didomi = Didomi;
    listeners = window.didomiEventListeners || [];
    window.didomiEventListeners = {push: function (l) { listeners.push(l); }};
    (window.didomiOnReady || []).forEach(function (cb) { cb(Didomi); });
    window.didomiOnReady = {push: function (cb) { cb(Didomi); }};
  }, 50);
  window.__cmp = {set: function (on) {
    enabled = on;
    listeners.forEach(function (l) { if (l.event === 'consent.changed') l.listener({}); });
  }};
})();
