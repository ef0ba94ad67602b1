// IAB TCF v2.2: Purpose 1 (store/access) and Purpose 8 or 9 (measurement), publisher consents
// first; legitimate interest is never enough. When the CMP says the GDPR does not apply to the
// visitor, nothing is counted unless the tag says data-outside-gdpr="count" (the site must be
// registered with --count-outside-gdpr too).
var outside = S.getAttribute('data-outside-gdpr') === 'count';
wait(function () { return typeof w.__tcfapi === 'function'; }, function () {
  w.__tcfapi('addEventListener', 2, function (data, ok) {
    if (!ok || !data) return;
    if (data.gdprApplies === false) return outside && grant(true, 'tcf:outside-gdpr');
    if (data.eventStatus !== 'tcloaded' && data.eventStatus !== 'useractioncomplete') return;
    var own = data.publisher && data.publisher.consents || {};
    var all = data.purpose && data.purpose.consents || {};
    var said = own[1] !== undefined ? own : all;
    grant(!!(said[1] && (said[8] || said[9])), 'tcf');
  });
});
