-- What a site does when its TCF consent manager says the GDPR does not apply to the visitor
-- (gdprApplies: false): 0, the default, counts nothing (no consent was asked, none is assumed);
-- 1 counts the visit with the consent marker "tcf:outside-gdpr", which the snippet sends only
-- when its tag says data-outside-gdpr="count".
ALTER TABLE audience.sites
    ADD COLUMN IF NOT EXISTS count_outside_gdpr UInt8 DEFAULT 0 AFTER respect_gpc;
