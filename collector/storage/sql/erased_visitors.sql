-- Every erased visitor, with when it was erased (seconds since the epoch).
SELECT visitor, toUnixTimestamp(max(erased_at)) FROM audience.erased_visitors GROUP BY visitor
