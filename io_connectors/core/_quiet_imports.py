"""Drop one import-time warning of Apache Beam that says nothing to our users.

``import apache_beam`` logs "apitools not found, and bigquery client libraries are not
available" on the root logger when the GCP extras are absent; nothing here uses BigQuery.
"""

import logging


class _DropBeamBigQueryNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_DropBeamBigQueryNotice())
