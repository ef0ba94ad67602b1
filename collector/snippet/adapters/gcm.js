// Google Consent Mode v2: analytics_storage from gtag('consent', 'default' | 'update', {...}).
// A default scoped to regions may cover this visitor, and we cannot tell: once one is seen, only
// an update (the visitor's own choice) can grant.
var layer = w.dataLayer = w.dataLayer || [], regional = false;
function heard(item) {
  var said = item && item[0] === 'consent' && item[2], storage = said && said.analytics_storage;
  if (!storage) return;
  if (item[1] === 'default' && said.region) regional = true;
  if (item[1] === 'update' || !regional) grant(storage === 'granted', 'gcm');
}
layer.forEach(heard);
var push = layer.push;
layer.push = function () {
  [].forEach.call(arguments, heard);
  return push.apply(layer, arguments);
};
