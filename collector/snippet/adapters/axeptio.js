// Axeptio: the vendor "kalido_audience" (or data-vendor) in the visitor's choices.
var key = vendor || 'kalido_audience';
(w._axcb = w._axcb || []).push(function (sdk) {
  sdk.on('cookies:complete', function (choices) { grant(!!choices[key], 'cmp:axeptio'); });
});
