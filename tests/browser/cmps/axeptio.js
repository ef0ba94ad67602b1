// Axeptio's SDK callbacks: window._axcb functions receive the SDK, which emits cookies:complete.
(function () {
  var handlers = [];
  var sdk = {on: function (event, handler) { if (event === 'cookies:complete') handlers.push(handler); }};
  function boot() { (window._axcb || []).forEach(function (cb) { cb(sdk); }); window._axcb = {push: function (cb) { cb(sdk); }}; }
  setTimeout(boot, 50);
  window.__cmp = {set: function (on) {
    handlers.forEach(function (h) { h({kalido_audience: on, $$completed: true}); });
  }};
})();
