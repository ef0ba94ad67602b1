// Klaro: klaro.getManager() with getConsent(), confirmed and watch({update}).
(function () {
  var consents = {}, watchers = [];
  var manager = {confirmed: false,
    getConsent: function (name) { return !!consents[name]; },
    watch: function (w) { watchers.push(w); }};
  window.klaro = {getManager: function () { return manager; }};
  window.__cmp = {toggle: function (on) {  // a switch flipped in the modal, not saved
    consents['kalido-audience'] = on;
    watchers.forEach(function (w) { w.update(manager, 'consents', consents); });
  }, set: function (on) {
    consents['kalido-audience'] = on;
    manager.confirmed = true;
    watchers.forEach(function (w) { w.update(manager, 'consents', consents); });
    watchers.forEach(function (w) { w.update(manager, 'saveConsents', {consents: consents}); });
  }};
})();
