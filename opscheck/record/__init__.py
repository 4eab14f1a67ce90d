"""The audit record, without pytest: results, ledger, waivers, attestations, trace, export."""
