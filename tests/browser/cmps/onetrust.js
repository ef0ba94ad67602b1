// OneTrust: OnetrustActiveGroups and the OneTrustGroupsUpdated window event.
(function () {
  window.OneTrust = {};
  window.OnetrustActiveGroups = ',C0001,';
  window.__cmp = {set: function (on) {
    window.OnetrustActiveGroups = on ? ',C0001,C0002,' : ',C0001,';
    window.dispatchEvent(new CustomEvent('OneTrustGroupsUpdated', {detail: OnetrustActiveGroups.split(',').filter(Boolean)}));
  }};
})();
