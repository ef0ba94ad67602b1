-- The optional TOTP second factor of a dashboards account. Only a random enrolment nonce is kept
-- (''; no second factor): the secret is derived from it, the e-mail and the server secret, so
-- the store alone cannot produce a code. A new nonce (re-enrolment) makes a new secret.
ALTER TABLE audience.users ADD COLUMN IF NOT EXISTS totp_nonce String DEFAULT '';
