// Didomi: the custom vendor "c:kalido-audience" (or data-vendor), read when ready and on change.
var key = vendor || 'c:kalido-audience';
function check(api) {
  var status = api.getCurrentUserStatus && api.getCurrentUserStatus().vendors[key];
  grant(!!(status ? status.enabled : api.getUserConsentStatusForVendor(key)), 'cmp:didomi');
}
(w.didomiOnReady = w.didomiOnReady || []).push(check);
(w.didomiEventListeners = w.didomiEventListeners || []).push({
  event: 'consent.changed',
  listener: function () { w.Didomi && check(w.Didomi); },
});
