-- The recovery codes of an account that are not used yet.
SELECT digest
FROM audience.recovery_codes FINAL
WHERE email = {email:String}
