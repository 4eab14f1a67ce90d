"""Daily: sensor data quality from a configured SQL query (SmartSensor 002 daily log review §4)."""

from opscheck.check import check, configured
from opscheck.rules.database import quality_bounds, quality_bounds_text


@check("daily.sensor-data-quality", severity="high", covers=["002.daily.sensor-data-quality"])
def test_sensor_data_quality(profile, database, evidence):
    """Data quality queries within their bounds (NULL sensor readings and volume over 24 h)

    Look at the last day per sensor:
      SELECT sensor_id, count(*) AS readings, count(*) FILTER (WHERE value IS NULL) AS null_readings
      FROM sensors.sensor_data WHERE timestamp >= now() - interval '24 hours' GROUP BY 1 ORDER BY 3 DESC;
    NULL readings from a few sensors: check those devices and their gateway; from all sensors: check
    the ingestion pipeline (sensor-data-processor logs, the message queue). No readings at all: the
    ingestion rate alert (SensorDataIngestionRate) should be firing too; restart the ingestion service.
    """
    rules = configured(profile.data_quality, profile.required, "data_quality", "no data_quality rules in this profile")
    offenders = []
    for rule in rules:
        table, bad = quality_bounds(rule, database.quality_query(rule))
        evidence.table(table)
        offenders += bad
        evidence.note(quality_bounds_text(rule))
    evidence.expect_none(offenders, "data quality rules out of bounds", table=False)
