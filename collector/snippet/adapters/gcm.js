// Google Consent Mode v2: analytics_storage from gtag('consent', 'default' | 'update', {...}).
var layer = w.dataLayer = w.dataLayer || [];
function heard(item) {
  if (item && item[0] === 'consent' && item[2] && item[2].analytics_storage) {
    grant(item[2].analytics_storage === 'granted', 'gcm');
  }
}
layer.forEach(heard);
var push = layer.push;
layer.push = function () {
  [].forEach.call(arguments, heard);
  return push.apply(layer, arguments);
};
