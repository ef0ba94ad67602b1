-- The visits kept by the filters: those with at least one event matching every event filter
-- (page, city, …) and, with a goal filter, at least one event on a page the goal names (a
-- regular expression made by collector/storage/path_patterns.py). Included where a query says
-- /* include chosen_visits */; with no filter it keeps every visit. A subquery whose filter is
-- not set selects nothing (its condition is false), so it costs nothing.
({filtered:UInt8} = 0 OR (
    ({event_filtered:UInt8} = 0 OR visit IN (
        SELECT visit FROM audience.events
        WHERE site = {site:String}
          AND ts >= {wide_start:DateTime('UTC')} AND ts < {wide_end:DateTime('UTC')}
          AND {event_filtered:UInt8} = 1
          AND ({page:String} = '' OR path = {page:String})
          AND ({city:String} = '' OR city = {city:String})
          AND ({country:String} = '' OR country = {country:String})
          AND ({operator:String} = '' OR operator = {operator:String})
          AND ({browser:String} = '' OR browser = {browser:String})
          AND ({browser_version:String} = '' OR browser_release = {browser_version:String})
          AND ({os:String} = '' OR os = {os:String})
          AND ({device:String} = '' OR device = {device:String})
    ))
    AND ({goal:String} = '' OR visit IN (
        SELECT visit FROM audience.events
        WHERE site = {site:String}
          AND ts >= {wide_start:DateTime('UTC')} AND ts < {wide_end:DateTime('UTC')}
          AND {goal:String} != '' AND match(path, {goal:String})
    ))
))
