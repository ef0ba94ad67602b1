SELECT min(hour), count() FROM audience.visits WHERE hour >= {t:DateTime('UTC')}
