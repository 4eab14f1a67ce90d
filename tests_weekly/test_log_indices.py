"""Weekly: no log index older than the retention remains (SmartSensor 002 주간 최적화:
"Elasticsearch 오래된 인덱스 삭제 (30일 이상)"). Read-only: the check lists, never deletes."""

from opscheck.check import check
from opscheck.rules.log_indices import index_ages, index_rows, past_retention
from opscheck.timeutil import utc_now


@check("weekly.log-index-retention", severity="medium", covers=["002.weekly.log-index-retention"])
def test_log_index_retention(log_index_reader, profile, evidence):
    r"""No log index older than the retention period (30 days) remains in Elasticsearch

    kubectl exec -n monitoring elasticsearch-0 -- curl -s 'localhost:9200/_cat/indices/logstash-*?v&h=index,creation.date.string,docs.count,store.size&s=index'
    The weekly script deletes a single index, the one of the day 30 days ago:
      kubectl exec -n monitoring elasticsearch-0 -- \
        curl -X DELETE "localhost:9200/logstash-$(date -d '30 days ago' '+%Y.%m.%d')"
    so the other days of each week, and any week it did not run, stay behind. Delete each index
    the check names (curl -X DELETE localhost:9200/<index>; a snapshot first if its logs must be
    kept), then let the cluster expire them: an ILM policy (ISM on OpenSearch) with a delete phase
    at min_age 30d attached through the index template, or curator's delete_indices action
    (filtertype: age, source: name, timestring: '%Y.%m.%d', unit: days, unit_count: 30) run daily.
    An index restored from a snapshot keeps its old creation date: delete it when the
    investigation that needed it is over.
    """
    cfg = profile.log_indices
    ages = index_ages(log_index_reader.cat_indices(), cfg, utc_now())
    evidence.examined(
        ages,
        f"{len(ages)} indices matching {', '.join(cfg.patterns)} at {cfg.url}; age from the date in "
        f"the name ({cfg.name_date_format or 'not used'}), else from the creation date",
    )
    evidence.table(index_rows(ages))
    old = past_retention(ages, cfg.retention_days)
    evidence.record(unit="indices")
    evidence.expect_none(old, f"log indices older than {cfg.retention_days:g} days", table=False)
