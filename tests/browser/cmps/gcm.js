// A site using Google Consent Mode v2 through gtag(), as Google documents it.
window.dataLayer = window.dataLayer || [];
function gtag() { dataLayer.push(arguments); }
gtag('consent', 'default', {analytics_storage: 'denied', ad_storage: 'denied'});
window.__cmp = {set: function (on) {
  gtag('consent', 'update', {analytics_storage: on ? 'granted' : 'denied'});
}};
