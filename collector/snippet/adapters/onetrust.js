// OneTrust: the performance cookies group C0002 (or data-vendor) among the active groups.
var group = ',' + (vendor || 'C0002') + ',';
function check() { grant((',' + (w.OnetrustActiveGroups || '') + ',').indexOf(group) >= 0, 'cmp:onetrust'); }
w.addEventListener('OneTrustGroupsUpdated', check);
wait(function () { return w.OneTrust && w.OnetrustActiveGroups; }, check);
