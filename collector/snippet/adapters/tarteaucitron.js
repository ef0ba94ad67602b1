// tarteaucitron.js: the site declares a service (key "kalidoaudience" unless data-vendor says
// otherwise); tarteaucitron announces it with <key>_loaded / _allowed / _disallowed events.
var key = vendor || 'kalidoaudience';
d.addEventListener(key + '_loaded', function () { grant(true, 'cmp:tarteaucitron'); });
d.addEventListener(key + '_allowed', function () { grant(true, 'cmp:tarteaucitron'); });
d.addEventListener(key + '_disallowed', function () { grant(false); });
wait(function () { return w.tarteaucitron && w.tarteaucitron.state; }, function () {
  if (w.tarteaucitron.state[key] === true) grant(true, 'cmp:tarteaucitron');
});
