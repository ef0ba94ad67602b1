// Cookiebot: the "statistics" category.
function check() { grant(!!(w.Cookiebot && w.Cookiebot.consent.statistics), 'cmp:cookiebot'); }
['CookiebotOnConsentReady', 'CookiebotOnAccept', 'CookiebotOnDecline'].forEach(function (e) {
  w.addEventListener(e, check);
});
wait(function () { return w.Cookiebot && w.Cookiebot.hasResponse; }, check);
