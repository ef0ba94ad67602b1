// A CMP speaking IAB TCF v2.2's __tcfapi (addEventListener), as the specification publishes it.
(function () {
  var listeners = [], data = {eventStatus: 'cmpuishown', gdprApplies: true, tcString: '',
    purpose: {consents: {}, legitimateInterests: {1: true, 8: true, 9: true}},
    publisher: {consents: {}, legitimateInterests: {}}};
  window.__tcfapi = function (command, version, callback) {
    if (command === 'addEventListener') {
      var id = listeners.push(callback);
      callback(Object.assign({listenerId: id}, data), true);
    }
  };
  function announce() {
    listeners.forEach(function (cb, i) { cb(Object.assign({listenerId: i + 1}, data), true); });
  }
  window.__cmp = {
    set: function (on) {
      var consents = on ? {1: true, 8: true} : {1: false, 8: false, 9: false};
      data = Object.assign({}, data, {eventStatus: 'useractioncomplete',
        purpose: {consents: consents, legitimateInterests: data.purpose.legitimateInterests}});
      announce();
    },
    // The publisher's own restrictions (publisher.consents) disagree with the global purposes.
    setPublisher: function (on, purposes) {
      data = Object.assign({}, data, {eventStatus: 'useractioncomplete',
        purpose: {consents: {1: purposes, 9: purposes}, legitimateInterests: {}},
        publisher: {consents: {1: on, 9: on}, legitimateInterests: {1: true, 9: true}}});
      announce();
    },
  };
})();
