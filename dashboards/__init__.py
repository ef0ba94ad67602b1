"""The dashboards: visitor statistics for the marketing team, behind a login."""
