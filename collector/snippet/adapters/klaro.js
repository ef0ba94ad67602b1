// Klaro: the service "kalido-audience" (or data-vendor), read from the consent manager and
// watched for changes.
var key = vendor || 'kalido-audience';
wait(function () { return w.klaro && w.klaro.getManager; }, function () {
  var manager = w.klaro.getManager();
  function check() { grant(!!manager.getConsent(key), 'cmp:klaro'); }
  // 'consents' fires on every toggle in the modal; only a saved choice counts.
  manager.watch({update: function (m, type) { if (type === 'saveConsents' && manager.confirmed) check(); }});
  if (manager.confirmed) check();
});
