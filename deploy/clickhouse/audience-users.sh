#!/bin/bash
# The ClickHouse users of the compose deployments (docker-compose.yml, docker-compose.cluster.yml).
#
# The official ClickHouse image runs this file from /docker-entrypoint-initdb.d at the first
# start of an empty server, as $CLICKHOUSE_USER (the bootstrap administrator, allowed to manage
# access), while the server listens on 127.0.0.1 only. It creates the roles of
# docs/clickhouse-users.sql (mounted at /audience/clickhouse-users.sql: the same roles and grants,
# not a copy; the file's example users are left out) and this deployment's users, with the
# passwords given to the container:
#
#   audience_operator   audience_admin + audience_privacy: the one-shot `audience migrate` service
#                       and the operators' commands (sites, users, keys, privacy, retention)
#   audience_collector  audience_ingest + audience_dashboards + audience_privacy: `audience serve`,
#                       which serves the collector and the dashboards with one
#                       AUDIENCE_CLICKHOUSE_URL; no DDL: the migrate service applied the schema
#   audience_reporting  SELECT on the events, the rollups and the sites, readonly = 1: BI tools
#
# The users may connect only from $CLICKHOUSE_CLIENT_NETWORKS (the compose network). On a cluster
# ($CLICKHOUSE_CLUSTER set) every node runs this file, the operator may run ON CLUSTER DDL, and
# every grant on a sharded table (the events and the rollups: collector/storage/cluster.py) also covers
# the shards' local table `<table>_local`, which its Distributed table reads and writes under the
# same user (the cluster's <secret>).
#
# Run it again to apply a changed password or grant:
#   docker compose exec clickhouse /docker-entrypoint-initdb.d/audience-users.sh
(
    set -euo pipefail -o noglob
    roles_sql=${CLICKHOUSE_USERS_SQL:-/audience/clickhouse-users.sql}
    networks=${CLICKHOUSE_CLIENT_NETWORKS:?the networks the product connects from}

    for name in CLICKHOUSE_OPERATOR_PASSWORD CLICKHOUSE_COLLECTOR_PASSWORD \
        CLICKHOUSE_REPORTING_PASSWORD; do
        # URL-safe, so that it goes into AUDIENCE_CLICKHOUSE_URL as it is
        if [[ ! ${!name:-} =~ ^[A-Za-z0-9_-]{24,}$ ]]; then
            echo "audience-users.sh: $name must be at least 24 characters among A-Z a-z 0-9 _ -" \
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" >&2
            exit 1
        fi
    done
    hosts=""
    for network in ${networks//,/ }; do
        if [[ ! $network =~ ^[0-9A-Fa-f.:]+(/[0-9]+)?$ ]]; then
            echo "audience-users.sh: CLICKHOUSE_CLIENT_NETWORKS: not an address: $network" >&2
            exit 1
        fi
        hosts+="${hosts:+, }IP '$network'"
    done

    # The roles and their grants: every statement of the file but its users and what they get.
    roles=$(grep -v '^[[:space:]]*--' "$roles_sql" | awk -v RS=';' '
        { gsub(/[[:space:]]+/, " "); sub(/^ /, ""); sub(/ $/, "") }
        /^CREATE ROLE / || /^GRANT .* TO audience_(ingest|dashboards|privacy|admin)$/ { print $0 ";" }
    ')
    reporting=""
    for table in events visits visit_summaries visit_rollup visit_rollup_daily traffic_hourly traffic_daily sites; do
        reporting+="GRANT SELECT ON audience.$table TO audience_reporting;"$'\n'
    done
    grants="$roles"$'\n'"$reporting"
    grants+="GRANT SELECT ON audience.schema_migrations TO audience_collector;"  # serve checks it
    if [[ -n ${CLICKHOUSE_CLUSTER:-} ]]; then
        sharded='events|visits|traffic_hourly|traffic_daily'
        grants+=$'\n'$(printf "%s\n" "$grants" | grep -E " ON audience\.($sharded) TO " \
            | sed -E "s/ ON audience\.($sharded) TO / ON audience.\\1_local TO /")
        grants+=$'\n'"GRANT CLUSTER ON *.* TO audience_operator;"
    fi

    clickhouse-client --host 127.0.0.1 --user "${CLICKHOUSE_USER:-default}" \
        --password "${CLICKHOUSE_PASSWORD:-}" --multiquery <<SQL
$(printf "%s\n" "$roles" | grep '^CREATE ROLE ')
CREATE USER OR REPLACE audience_operator
    IDENTIFIED WITH sha256_password BY '$CLICKHOUSE_OPERATOR_PASSWORD' HOST $hosts;
CREATE USER OR REPLACE audience_collector
    IDENTIFIED WITH sha256_password BY '$CLICKHOUSE_COLLECTOR_PASSWORD' HOST $hosts;
CREATE USER OR REPLACE audience_reporting
    IDENTIFIED WITH sha256_password BY '$CLICKHOUSE_REPORTING_PASSWORD' HOST $hosts
    SETTINGS readonly = 1;
GRANT audience_admin, audience_privacy TO audience_operator;
GRANT audience_ingest, audience_dashboards, audience_privacy TO audience_collector;
$(printf "%s\n" "$grants" | grep '^GRANT ')
SQL
    echo "audience-users.sh: roles ready; users audience_operator, audience_collector and" \
        "audience_reporting created"
)
