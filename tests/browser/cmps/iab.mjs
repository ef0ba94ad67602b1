// A CMP made of the IAB Tech Lab's own CMP API (@iabtechlabtcf/cmpapi), which takes over the
// IAB stub the page loaded first (and answers the calls queued meanwhile). The TC strings are
// encoded by @iabtechlabtcf/core from the choices a test makes, against a small vendor list.
import {CmpApi} from '@iabtechlabtcf/cmpapi';
import {GVL, TCModel, TCString} from '@iabtechlabtcf/core';

const CMP_ID = 300;
const VENDOR = 755;

function vendorList() {
  const purposes = {};
  for (let id = 1; id <= 11; id++) purposes[id] = {id, name: `Purpose ${id}`, description: '', illustrations: []};
  return {
    gvlSpecificationVersion: 3, vendorListVersion: 1, tcfPolicyVersion: 5,
    lastUpdated: '2026-11-01T00:00:00Z', purposes, specialPurposes: {}, features: {},
    specialFeatures: {}, stacks: {}, dataCategories: {},
    vendors: {[VENDOR]: {id: VENDOR, name: 'A vendor', purposes: [1, 8, 9], legIntPurposes: [],
      flexiblePurposes: [], specialPurposes: [], features: [], specialFeatures: [],
      cookieMaxAgeSeconds: 3600, usesCookies: true, usesNonCookieAccess: false, urls: []}},
  };
}

const gvl = new GVL(vendorList());
const api = new CmpApi(CMP_ID, 1, true);
api.update('', true); // no TC string yet: the banner is shown

// choices: purposes / purposeLI (the global, vendor-level purposes), publisher / publisherLI
// (the publisher's own purposes), vendors / vendorLI.
function encode(choices) {
  const model = new TCModel(gvl);
  model.cmpId = CMP_ID;
  model.cmpVersion = 1;
  model.isServiceSpecific = true;
  model.purposeConsents.set(choices.purposes || []);
  model.purposeLegitimateInterests.set(choices.purposeLI || []);
  model.publisherConsents.set(choices.publisher || []);
  model.publisherLegitimateInterests.set(choices.publisherLI || []);
  model.vendorConsents.set(choices.vendors || []);
  model.vendorLegitimateInterests.set(choices.vendorLI || []);
  return TCString.encode(model);
}

window.__cmp = {
  choose(choices) { api.update(encode(choices), false); },
  outsideGdpr() { api.update(null); },
  set(on) { this.choose(on ? {publisher: [1, 8]} : {}); },
};
