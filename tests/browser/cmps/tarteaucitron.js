// The real tarteaucitron.js, configured as the README says, with the service declared.
tarteaucitron.init({privacyUrl: '', hashtag: '#tarteaucitron', cookieName: 'tarteaucitron',
  orientation: 'bottom', showAlertSmall: false, cookieslist: false, highPrivacy: true,
  handleBrowserDNTRequest: false, AcceptAllCta: true, DenyAllCta: true, mandatory: false,
  useExternalCss: false, useExternalJs: false});
tarteaucitron.services.kalidoaudience = {
  key: 'kalidoaudience', type: 'analytic', name: 'Kalido Audience', needConsent: true,
  cookies: ['audience'], uri: '/privacy', js: function () {}, fallback: function () {}};
(tarteaucitron.job = tarteaucitron.job || []).push('kalidoaudience');
window.__cmp = {set: function (on) { tarteaucitron.userInterface.respondAll(on); }};
