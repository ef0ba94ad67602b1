// Cookiebot's uc.js: window.Cookiebot.consent and the CookiebotOn* window events.
(function () {
  window.Cookiebot = {hasResponse: false, consent: {necessary: true, preferences: false, statistics: false, marketing: false}};
  window.__cmp = {set: function (on) {
    Cookiebot.hasResponse = true;
    Cookiebot.consent.statistics = on;
    window.dispatchEvent(new Event(on ? 'CookiebotOnAccept' : 'CookiebotOnDecline'));
  }};
})();
