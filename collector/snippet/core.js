// Kalido Audience tracking snippet: the core. The build wraps it, and the consent adapter of the
// served file, in one function, so adapters call grant(on, how) and wait(test, then) directly.
// Default deny: nothing is sent and no cookie is touched before grant(true).
var w = window, d = document, n = navigator, l = location, S = d.currentScript;
var site = S.getAttribute('data-site') || l.hostname;
var vendor = S.getAttribute('data-vendor');
var base = S.src.replace(/\/js\/[^/]*$/, '');
var api = base + '/api/';
var crossSite = new URL(base).host !== l.host;
var gpc = S.getAttribute('data-gpc') !== 'ignore' && n.globalPrivacyControl === true;
var KEPT = 'audience_state'; // cross-site mode only: the signed state the server returned
// A withdrawal, for the site's other pages still open or kept in the back/forward cache with the
// consent they had: a session cookie without any identifier, set only when consent is withdrawn.
var OFF = 'audience_off';
var method = '', path = '', engaged = 0, since = 0;

function active() {
  return d.visibilityState === 'visible';
}

function kept() {
  var m = d.cookie.match(/(?:^|; )audience_state=([^;]*)/);
  return m ? m[1] : '';
}

function forget() {
  d.cookie = KEPT + '=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
}

// The server sends the state to keep, or an expiry of 0 when the visitor was erased.
function keep(r) {
  var state = r.headers.get('audience-state'), until = r.headers.get('audience-state-expires');
  if (until === '0') forget();
  else if (method && state && until) {
    d.cookie = KEPT + '=' + state + '; expires=' + new Date(until * 1000).toUTCString() +
      '; path=/; SameSite=Lax' + (l.protocol === 'https:' ? '; Secure' : '');
  }
}

function post(endpoint, body, leaving) {
  var data = JSON.stringify(body);
  if (leaving && !crossSite && n.sendBeacon && n.sendBeacon(api + endpoint, data)) return;
  fetch(api + endpoint, {method: 'POST', body: data, keepalive: true, credentials: 'include'})
    .then(crossSite ? keep : null, function () {});
}

function withdrawn() {
  return d.cookie.indexOf(OFF + '=1') >= 0;
}

function send(type, ms) {
  if (!method || gpc || withdrawn()) return;
  var body = {site: site, type: type, url: l.origin + path, consent: method};
  if (ms) body.engaged_ms = ms;
  if (crossSite && kept()) body.state = kept();
  post('event', body, type === 'engagement');
}

function pause() {
  if (since) engaged += Date.now() - since;
  since = 0;
}

function resume() {
  if (method && active() && !since) since = Date.now();
}

function flush() {
  pause();
  if (engaged > 0) send('engagement', Math.round(engaged));
  engaged = 0;
}

function pageview() {
  if (l.pathname === path) return;
  if (path) flush();
  path = l.pathname;
  send('pageview');
  resume();
}

// on: the visitor consents (true) or refuses/withdraws (false); how: the consent marker.
function grant(on, how) {
  if (on && !gpc) {
    if (withdrawn()) d.cookie = OFF + '=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
    if (!method) {
      method = how;
      pageview();
    }
  } else if (!on && (method || kept())) {
    // Stop at once: the engaged time not yet sent is dropped, and the opt-out is the last request
    // (a beacon answered after it would set the cookie again).
    post('privacy/optout', {site: site, state: kept() || undefined});
    method = path = '';
    engaged = since = 0;
    forget();
    d.cookie = OFF + '=1; path=/; SameSite=Lax';
  }
}

// Call then() once test() is true: a CMP may load long after us (a slow network, a tag manager)
// or never. Checked as long as the page lives, ever more rarely: from 0.1 s up to every 2 s.
function wait(test, then, delay) {
  if (test()) then();
  else setTimeout(wait, delay || 100, test, then, Math.min((delay || 100) * 1.5, 2000));
}

['pushState', 'replaceState'].forEach(function (name) {
  var original = history[name];
  history[name] = function () {
    var result = original.apply(this, arguments);
    if (method) pageview();
    return result;
  };
});
w.addEventListener('popstate', function () { if (method) pageview(); });
// A page restored from the back/forward cache is shown again: one more pageview, its engaged
// time counted afresh (pagehide sent the rest). A normal load's pageshow is not persisted.
w.addEventListener('pageshow', function (e) {
  if (e.persisted && method) {
    engaged = since = 0;
    path = '';
    pageview();
  }
});
d.addEventListener('visibilitychange', function () { active() ? resume() : flush(); });
w.addEventListener('pagehide', flush);
w.addEventListener('blur', pause);
w.addEventListener('focus', resume);

function privacy(endpoint, options, format) {
  var url = api + 'privacy/' + endpoint + (format ? '?format=' + format : '');
  // The kept state goes in a header, never in a URL that access logs would keep.
  var headers = crossSite && kept() ? {'audience-state': kept()} : {};
  return fetch(url, Object.assign({credentials: 'include', headers: headers}, options))
    .then(function (r) { return r.ok ? r : Promise.reject(r); });
}

w.audience = {
  consent: function (on) { grant(!!on, 'manual'); },
  track: function () {
    if (method) {
      flush();
      path = '';
      pageview();
    }
  },
  privacy: {
    get: function () { return privacy('me').then(function (r) { return r.json(); }); },
    export: function (format) {
      return privacy('me/export', {}, format === 'csv' ? 'csv' : 'json')
        .then(function (r) { return r.blob(); });
    },
    erase: function () {
      return privacy('me/erase', {method: 'POST'}).then(function (r) { forget(); return r.json(); });
    },
  },
};
