// No CMP: the site calls the snippet's manual API itself.
window.__cmp = {set: function (on) { audience.consent(on); }};
